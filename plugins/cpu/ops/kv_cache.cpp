// Reference kv_cache ops (spec/kv_cache.md): the store plan, the GQA and MLA paged stores (bit-exact copies)
// and whole-block format conversion. Data-dependent contracts are checked before anything is written.
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "kernel.h"
#include "paged_cache.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

struct Chunk {
  int64_t src = 0, block = 0, offset = 0, len = 0;
};

// Lengths of the legacy store path: q lengths from cu_q_lens (null = decode, one token per sequence) and
// context_kv_lens. Returns "" or the contract violation; fills cu (B+1 offsets) and ctx (B entries).
std::string read_lengths(const mojo_tensor *cu_t, const mojo_tensor *ctx_t, int64_t B, int64_t rows,
                         std::vector<int64_t> &cu, std::vector<int64_t> &ctx) {
  cu.assign(size_t(B + 1), 0);
  ctx.assign(size_t(B), 0);
  for (int64_t b = 0; b <= B; ++b) cu[size_t(b)] = cu_t ? load_len(cu_t, b) : b;
  if (cu[0] != 0) return "'cu_q_lens'[0] = " + std::to_string(cu[0]) + ", expected 0";
  for (int64_t b = 1; b <= B; ++b)
    if (cu[size_t(b)] < cu[size_t(b - 1)])
      return "'cu_q_lens' decreases at index " + std::to_string(b) + ", expected non-decreasing offsets";
  if (rows >= 0 && cu[size_t(B)] > rows)
    return "'cu_q_lens'[B] = " + std::to_string(cu[size_t(B)]) + " exceeds the " + std::to_string(rows) +
           " token rows of the states";
  for (int64_t b = 0; b < B; ++b) {
    ctx[size_t(b)] = load_len(ctx_t, b);
    if (ctx[size_t(b)] < -1)
      return "'context_kv_lens'[" + std::to_string(b) + "] = " + std::to_string(ctx[size_t(b)]) +
             ", expected >= 0 or -1 (padding row)";
  }
  return "";
}

// The plan of kv_cache.md §1 (sequence-major, ascending block column). Invalid block ids are skipped.
std::vector<Chunk> build_plan(const BlockTable &bt, bool decode, const std::vector<int64_t> &cu,
                              const std::vector<int64_t> &ctx, int64_t bs) {
  std::vector<Chunk> plan;
  for (int64_t b = 0; b < bt.rows; ++b) {
    const int64_t c0 = ctx[size_t(b)];
    if (c0 < 0) continue;
    if (decode) {
      int64_t m = c0 / bs;
      if (m < bt.cols && bt.id(b, m) >= 0) plan.push_back({b, bt.id(b, m), c0 % bs, 1});
      continue;
    }
    const int64_t n = cu[size_t(b + 1)] - cu[size_t(b)];
    if (n <= 0) continue;
    for (int64_t m = 0; m < bt.cols; ++m) {
      int64_t a = std::max(m * bs, c0), e = std::min((m + 1) * bs, c0 + n);
      if (a >= e || bt.id(b, m) < 0) continue;
      plan.push_back({cu[size_t(b)] + a - c0, bt.id(b, m), a - m * bs, e - a});
    }
  }
  return plan;
}

mojo_status *paged_kv_store_plan(const KernelCall &c) {
  BlockTable bt(c.in(0));
  const bool decode = c.in(1) == nullptr;
  std::vector<int64_t> cu, ctx;
  std::string err = read_lengths(c.in(1), c.in(2), bt.rows, -1, cu, ctx);
  if (!err.empty()) return c.error(MOJO_STATUS_INVALID_ARGUMENT, err);
  std::vector<Chunk> plan = build_plan(bt, decode, cu, ctx, c.attr_int("block_size"));
  // Integers are written directly (the float store helper is exact for int32 only up to 2^24).
  TensorView meta(c.out(0));
  int32_t *base = static_cast<int32_t *>(common::data_ptr(*c.out(0)));
  for (size_t r = 0; r < plan.size(); ++r) {
    int32_t *p = base + meta.row_offset(int64_t(r));
    p[0] = int32_t(plan[r].src);
    p[1] = int32_t(plan[r].block);
    p[2] = int32_t(plan[r].offset);
    p[3] = int32_t(plan[r].len);
  }
  *static_cast<int32_t *>(common::data_ptr(*c.out(1))) = int32_t(plan.size());
  return nullptr;
}

// Reads a caller plan and checks every row against the states and the cache.
std::string read_plan(const mojo_tensor *meta_t, const mojo_tensor *count_t, int64_t n_rows, const PagedCache &cache,
                      std::vector<Chunk> &plan) {
  TensorView meta(meta_t);
  int64_t count = meta.dim(0);
  if (count_t) {
    count = load_len(count_t, 0);
    if (count < 0 || count > meta.dim(0))
      return "'num_chunks' = " + std::to_string(count) + ", expected a count in [0, " +
             std::to_string(meta.dim(0)) + "]";
  }
  for (int64_t r = 0; r < count; ++r) {
    int64_t off = meta.row_offset(r);
    Chunk ch{meta.load_index(off), meta.load_index(off + 1), meta.load_index(off + 2), meta.load_index(off + 3)};
    if (ch.len < 0 || ch.src < 0 || ch.src + ch.len > n_rows || ch.block < 0 || ch.block >= cache.num_blocks ||
        ch.offset < 0 || ch.offset + ch.len > cache.block_size)
      return "'chunk_metadata' row " + std::to_string(r) + " = (" + std::to_string(ch.src) + ", " +
             std::to_string(ch.block) + ", " + std::to_string(ch.offset) + ", " + std::to_string(ch.len) +
             ") is out of range (states rows " + std::to_string(n_rows) + ", blocks " +
             std::to_string(cache.num_blocks) + ", block size " + std::to_string(cache.block_size) + ")";
    plan.push_back(ch);
  }
  return "";
}

// Copies states[src + t, h, :] into cache[block, h, offset + t, :] for every chunk (bit-exact).
void apply_plan(const std::vector<Chunk> &plan, const mojo_tensor *states_t, const PagedCache &cache) {
  TensorView st(states_t);
  const int64_t heads = cache.heads;
  const int elem = common::dtype_size(st.dtype());
  const char *base = static_cast<const char *>(common::data_ptr(*states_t));
  parallel_for(int64_t(plan.size()), 64 * heads * cache.head_dim, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const Chunk &ch = plan[size_t(r)];
      for (int64_t t = 0; t < ch.len; ++t)
        for (int64_t h = 0; h < heads; ++h)
          cache.copy_row_in(ch.block, h, ch.offset + t, base + st.row_offset((ch.src + t) * heads + h) * elem);
    }
  });
}

// Legacy-path plan with validated lengths; invalid block targets are dropped (kv_cache.md §2).
mojo_status *legacy_plan(const KernelCall &c, const mojo_tensor *bt_t, const mojo_tensor *cu_t,
                         const mojo_tensor *ctx_t, int64_t n_rows, const PagedCache &cache, std::vector<Chunk> &plan) {
  BlockTable bt(bt_t);
  std::vector<int64_t> cu, ctx;
  std::string err = read_lengths(cu_t, ctx_t, bt.rows, n_rows, cu, ctx);
  if (!err.empty()) return c.error(MOJO_STATUS_INVALID_ARGUMENT, err);
  plan = build_plan(bt, cu_t == nullptr, cu, ctx, cache.block_size);
  std::vector<Chunk> kept;
  for (const auto &ch : plan)
    if (ch.block < cache.num_blocks) kept.push_back(ch);  // ids >= NB cannot be written: skipped like -1
  plan.swap(kept);
  return nullptr;
}

// Inputs: key_states, value_states, key_cache, value_cache, block_table, cu_q_lens, context_kv_lens,
// chunk_metadata, num_chunks.
mojo_status *store_paged_kv_cache(const KernelCall &c) {
  PagedCache kc(c.in(2)), vc(c.in(3));
  const int64_t n_rows = c.in(0)->shape[0];
  std::vector<Chunk> plan;
  if (c.in(7)) {
    std::string err = read_plan(c.in(7), c.in(8), n_rows, kc, plan);
    if (!err.empty()) return c.error(MOJO_STATUS_INVALID_ARGUMENT, err);
  } else if (mojo_status *s = legacy_plan(c, c.in(4), c.in(5), c.in(6), n_rows, kc, plan)) {
    return s;
  }
  apply_plan(plan, c.in(0), kc);
  apply_plan(plan, c.in(1), vc);
  return nullptr;
}

// Inputs: compressed_kv_states, k_pe_states, compressed_kv_cache, k_pe_cache, block_table, cu_q_lens,
// context_kv_lens.
mojo_status *store_paged_mla_kv_cache(const KernelCall &c) {
  PagedCache cc(c.in(2)), pc(c.in(3));
  std::vector<Chunk> plan;
  if (mojo_status *s = legacy_plan(c, c.in(4), c.in(5), c.in(6), c.in(0)->shape[0], cc, plan)) return s;
  apply_plan(plan, c.in(0), cc);
  apply_plan(plan, c.in(1), pc);
  return nullptr;
}

bool is_quant(int id) { return id == MOJO_DT_INT8 || id == MOJO_DT_FP8_E4M3FN; }

// Byte range [first, last) a tensor's elements occupy.
std::pair<const char *, const char *> byte_extent(const mojo_tensor *t) {
  TensorView v(t);
  int64_t last = 0;
  for (int32_t d = 0; d < v.ndim(); ++d) {
    if (v.dim(d) == 0) return {nullptr, nullptr};
    last += (v.dim(d) - 1) * v.stride(d);
  }
  const char *base = static_cast<const char *>(common::data_ptr(*t));
  return {base, base + (last + 1) * common::dtype_size(v.dtype())};
}

// Inputs: src_cache, dst_cache (mutated), block_ids, scale.
mojo_status *kv_cache_cast(const KernelCall &c) {
  PagedCache src(c.in(0)), dst(c.in(1));
  if (common::dtype_size(src.dtype()) != common::dtype_size(dst.dtype())) {
    auto a = byte_extent(c.in(0)), b = byte_extent(c.in(1));
    if (a.first && b.first && a.first < b.second && b.first < a.second)
      return c.error(MOJO_STATUS_INVALID_ARGUMENT,
                     "'dst_cache' overlaps 'src_cache' in memory, allowed only when both dtypes have the same width");
  }
  std::vector<int64_t> ids;
  if (c.in(2)) {
    const int64_t n = c.in(2)->shape[0];
    for (int64_t i = 0; i < n; ++i) {
      int64_t id = load_len(c.in(2), i);
      if (id < 0 || id >= src.num_blocks || id >= dst.num_blocks)
        return c.error(MOJO_STATUS_INVALID_ARGUMENT,
                       "'block_ids'[" + std::to_string(i) + "] = " + std::to_string(id) +
                           ", expected a block id in [0, " +
                           std::to_string(std::min(src.num_blocks, dst.num_blocks)) + ")");
      ids.push_back(id);
    }
  } else {
    for (int64_t k = 0; k < src.num_blocks; ++k) ids.push_back(k);
  }
  const int sd = src.dtype(), dd = dst.dtype();
  const bool quantize = !is_quant(sd) && is_quant(dd), dequantize = is_quant(sd) && !is_quant(dd);
  std::vector<float> scale = c.in(3) ? TensorView(c.in(3)).to_floats() : std::vector<float>();
  const int64_t H = src.heads, BS = src.block_size, D = src.head_dim;
  parallel_for(int64_t(ids.size()), H * BS * D * 4, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(D));
    for (int64_t k = begin; k < end; ++k) {
      const int64_t blk = ids[size_t(k)];
      for (int64_t h = 0; h < H; ++h)
        for (int64_t s = 0; s < BS; ++s) {
          src.read_row(blk, h, s, row.data());
          for (int64_t d = 0; d < D; ++d) {
            float x = row[size_t(d)];
            if (quantize) {
              x = x / scale[size_t(h * D + d)];
              if (dd == MOJO_DT_FP8_E4M3FN) x = std::min(448.0f, std::max(-448.0f, x));
            } else if (dequantize) {
              x = x * scale[size_t(h * D + d)];
            }
            row[size_t(d)] = x;  // int8: store_from_float rounds half-to-even and saturates to [-128, 127]
          }
          dst.write_row(blk, h, s, row.data());
        }
    }
  });
  return nullptr;
}

}  // namespace

void add_kv_cache_kernels(std::vector<KernelEntry> &table) {
  const uint32_t quant = dt_bit(MOJO_DT_INT8) | dt_bit(MOJO_DT_FP8_E4M3FN);
  table.push_back({"paged_kv_store_plan", dt_bit(MOJO_DT_INT32), paged_kv_store_plan});
  table.push_back({"store_paged_kv_cache", kFloatMask, store_paged_kv_cache});
  table.push_back({"store_paged_mla_kv_cache", dt_bit(MOJO_DT_BF16) | dt_bit(MOJO_DT_FP16), store_paged_mla_kv_cache});
  table.push_back({"kv_cache_cast", kFloatMask | quant, kv_cache_cast});
}

}  // namespace mojo::cpu
