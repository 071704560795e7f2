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

// Copies token `token`'s rows of both tensors (heads rows of row_bytes each; t1.heads may be 0) into cache
// slot (block, slot); called by all 32 lanes of a warp. The K and V units form one index space and each lane
// issues kBatch loads before its stores, so a token's whole K and V rows are in flight at once.
template <typename U>
__device__ __forceinline__ void copy_token_rows(const StoreTensor &t0, const StoreTensor &t1, int64_t token,
                                                int64_t block, int64_t slot, int64_t block_size, int lane) {
  const int units0 = int(t0.row_bytes / int64_t(sizeof(U))), units1 = int(t1.row_bytes / int64_t(sizeof(U)));
  const int total0 = int(t0.heads) * units0, total = total0 + int(t1.heads) * units1;  // 32-bit index math
  const U *src0 = static_cast<const U *>(t0.src) + token * total0;
  const U *src1 = t1.heads ? static_cast<const U *>(t1.src) + token * (total - total0) : nullptr;
  constexpr int kBatch = 8;
  for (int j0 = lane; j0 < total; j0 += 32 * kBatch) {
    U v[kBatch];
#pragma unroll
    for (int k = 0; k < kBatch; ++k) {
      const int j = j0 + 32 * k;
      if (j < total0) v[k] = src0[j];
      else if (j < total) v[k] = src1[j - total0];
    }
#pragma unroll
    for (int k = 0; k < kBatch; ++k) {
      const int j = j0 + 32 * k;
      if (j >= total) continue;
      const bool first = j < total0;
      const int jj = first ? j : j - total0, units = first ? units0 : units1;
      const int64_t heads = first ? t0.heads : t1.heads;
      const int h = jj / units, u = jj - h * units;
      U *dst = static_cast<U *>(first ? t0.dst : t1.dst);
      dst[((block * heads + h) * block_size + slot) * units + u] = v[k];
    }
  }
}

}  // namespace mojo::cuda
