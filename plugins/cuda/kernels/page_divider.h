// Token position -> (page, slot) for paged KV caches without a hardware divide, for any page size: CUTLASS's
// FastDivmod. With l = ceil(log2 size), mul = ceil(2^(31+l) / size) and shr = l - 1,
// umulhi(pos, mul) >> shr = pos / size for every 0 <= pos < 2^31 (size 1: mul = 0, the position itself).
// Built on the host once per launch; a row then costs a multiply-high, a shift and a multiply-add, where an
// integer division costs ~20 instructions per row and tile. Against the shift-and-mask the wgmma prefill used
// for power-of-two pages, it measured 0.5-0.8% slower at D128 on H100 (A/B, same machine; D64 within noise);
// a power-of-two fast path here is the open follow-up (docs/decisions/cuda_attention_prefill.md).
#pragma once

#include <cstdint>

namespace mojo::cuda {

struct PageDivider {
  int size = 1;
  uint32_t mul = 0;
  int shr = 0;

  static PageDivider of(int page_size) {
    PageDivider d;
    d.size = page_size;
    if (page_size > 1) {
      int l = 0;
      while ((int64_t(1) << l) < page_size) ++l;
      d.mul = uint32_t(((uint64_t(1) << (31 + l)) + uint64_t(page_size) - 1) / uint64_t(page_size));
      d.shr = l - 1;
    }
    return d;
  }

#ifdef __CUDACC__
  __device__ __forceinline__ int page(int pos) const {
    return mul ? int(__umulhi(uint32_t(pos), mul) >> shr) : pos;
  }
  __device__ __forceinline__ int slot(int pos) const { return pos - page(pos) * size; }
#endif
};

}  // namespace mojo::cuda
