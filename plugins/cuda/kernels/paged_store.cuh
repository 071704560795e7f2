// Device side of the paged stores, shared by store_paged_kv_cache / store_paged_mla_kv_cache (kv_store.cu)
// and the fused norm_rope_store_kv (position_fused.cu): where a token row goes on the legacy path, and a
// warp-wide copy of one token's rows in U-sized units (16 bytes where sizes and alignment allow).
#pragma once

#include "kv_store.h"

namespace mojo::cuda {

// Cache block and slot of token row i on the legacy path; false when the token is skipped (padding row
// ctx = -1, token beyond cu_q_lens[B], block column >= MB, block id < 0 or >= NB: kv_cache.md §2).
// Assumes the validation pass accepted the lengths.
__device__ __forceinline__ bool locate_token(const StoreAddressing &a, int64_t i, int64_t *block, int64_t *slot) {
  int64_t b = i, t = 0;
  if (a.cu_q_lens) {
    if (i >= a.cu_q_lens[a.batch]) return false;
    int64_t lo = 0, hi = a.batch;  // cu[lo] <= i < cu[hi]
    while (hi - lo > 1) {
      const int64_t mid = (lo + hi) / 2;
      if (a.cu_q_lens[mid] <= i) lo = mid;
      else hi = mid;
    }
    b = lo;
    t = i - a.cu_q_lens[b];
  } else if (i >= a.batch) {
    return false;
  }
  const int64_t ctx = a.context_lens[b];
  if (ctx < 0) return false;
  const int64_t p = ctx + t, col = p / a.block_size;
  if (col >= a.max_blocks) return false;
  const int64_t id = a.block_table[b * a.max_blocks + col];
  if (id < 0 || id >= a.num_blocks) return false;
  *block = id;
  *slot = p % a.block_size;
  return true;
}

// Copies token `token`'s rows of t (heads rows of row_bytes) into cache slot (block, slot); called by all 32
// lanes of a warp. Loads are batched ahead of the stores so each lane keeps several accesses in flight.
template <typename U>
__device__ __forceinline__ void copy_token_rows(const StoreTensor &t, int64_t token, int64_t block, int64_t slot,
                                                int64_t block_size, int lane) {
  const int units = int(t.row_bytes / int64_t(sizeof(U))), total = int(t.heads) * units;  // 32-bit index math
  const U *src = static_cast<const U *>(t.src) + token * total;
  U *dst = static_cast<U *>(t.dst);
  constexpr int kBatch = 4;
  for (int j0 = lane; j0 < total; j0 += 32 * kBatch) {
    U v[kBatch];
#pragma unroll
    for (int k = 0; k < kBatch; ++k)
      if (j0 + 32 * k < total) v[k] = src[j0 + 32 * k];
#pragma unroll
    for (int k = 0; k < kBatch; ++k) {
      const int j = j0 + 32 * k;
      if (j < total) {
        const int h = j / units, u = j - h * units;
        dst[((block * t.heads + h) * block_size + slot) * units + u] = v[k];
      }
    }
  }
}

}  // namespace mojo::cuda
