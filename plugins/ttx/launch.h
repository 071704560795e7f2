// Launching an embedded Triton kernel through the driver: the argument pack in Triton's kernel ABI (the
// signature's non-constexpr parameters in order, then the scratch pointers this Triton version appends,
// passed as null since the manifest only holds kernels that need no scratch) and the grid from the
// manifest's rule.
#pragma once

#include <cstdint>
#include <string>

#include "driver.h"
#include "manifest.h"

namespace mojo::ttx {

// A loaded specialisation: its manifest row and the function in the device's context.
struct Variant {
  const ManifestRow *row = nullptr;
  CUfunction fn = nullptr;
};

class ArgPack {
 public:
  void ptr(const void *p) { put('p', &p, sizeof p); }
  void i32(int32_t v) { put('i', &v, sizeof v); }
  void i64(int64_t v) { put('l', &v, sizeof v); }
  void f32(float v) { put('f', &v, sizeof v); }
  // Checks the pack against the row's parameter codes and appends the trailing scratch pointers.
  std::string finish(const ManifestRow &row);
  void **params() { return ptrs_; }

 private:
  static constexpr int kMax = 32;
  void put(char code, const void *v, size_t n);
  uint64_t slots_[kMax] = {};
  void *ptrs_[kMax] = {};
  char codes_[kMax + 1] = {};
  int count_ = 0;
  bool overflow_ = false;
};

// Launches over `n` (rows for kGridRows, elements for kGridBlocks); n == 0 launches nothing.
std::string launch(const Driver &d, const Variant &v, int64_t n, ArgPack &args, CUstream stream);
// Launches an explicit grid (kGridCustom kernels); an empty grid launches nothing.
std::string launch_grid(const Driver &d, const Variant &v, int64_t grid_x, int64_t grid_y, ArgPack &args,
                        CUstream stream);

}  // namespace mojo::ttx
