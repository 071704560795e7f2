#include "launch.h"

#include <cstring>

namespace mojo::ttx {

void ArgPack::put(char code, const void *v, size_t n) {
  if (count_ >= kMax) {
    overflow_ = true;
    return;
  }
  std::memcpy(&slots_[count_], v, n);
  ptrs_[count_] = &slots_[count_];
  codes_[count_++] = code;
}

std::string ArgPack::finish(const ManifestRow &row) {
  const size_t user = std::strlen(codes_);
  if (overflow_ || std::strncmp(codes_, row.params, user) != 0)
    return std::string("argument pack '") + codes_ + "' does not match " + row.kernel + "'s parameters '" + row.params + "'";
  for (const char *c = row.params + user; *c; ++c) {
    if (*c != 'p') return std::string(row.kernel) + " has an unexpected trailing parameter";
    ptr(nullptr);
  }
  return overflow_ ? std::string("too many kernel parameters") : std::string();
}

std::string launch_grid(const Driver &d, const Variant &v, int64_t grid_x, int64_t grid_y, ArgPack &args,
                        CUstream stream) {
  if (grid_x <= 0 || grid_y <= 0) return "";
  if (v.fn == nullptr) return "no loaded kernel for this call";
  if (std::string err = args.finish(*v.row); !err.empty()) return err;
  if (grid_x > 0x7fffffff || grid_y > 65535) return "grid too large for one launch";
  const unsigned threads = unsigned(32 * v.row->num_warps);
  return d.message(d.cuLaunchKernel(v.fn, unsigned(grid_x), unsigned(grid_y), 1, threads, 1, 1,
                                    unsigned(v.row->shared_bytes), stream, args.params(), nullptr),
                   "cuLaunchKernel");
}

std::string launch(const Driver &d, const Variant &v, int64_t n, ArgPack &args, CUstream stream) {
  if (v.row && v.row->grid_rule == kGridCustom) return "a custom-grid kernel needs launch_grid";
  const int64_t grid = v.row && v.row->grid_rule == kGridBlocks ? (n + v.row->grid_block - 1) / v.row->grid_block : n;
  return launch_grid(d, v, grid, 1, args, stream);
}

}  // namespace mojo::ttx
