// Elements of a tensor whose float dtype is only known at run time (weights, scales, cos/sin tables that may
// be fp32 or the activation dtype, the mixed-precision residual stream): a uniform branch, cheaper than
// another template axis.
#pragma once

#include "common.cuh"
#include "launch.h"

namespace mojo::cuda {

__device__ __forceinline__ float load_element(const void *p, Dt dt, int64_t i) {
  switch (dt) {
    case Dt::F16: return __half2float(static_cast<const __half *>(p)[i]);
    case Dt::BF16: return __bfloat162float(static_cast<const __nv_bfloat16 *>(p)[i]);
    default: return static_cast<const float *>(p)[i];
  }
}

// Elements i .. i + VEC - 1 as one packet (load_floats / store_floats: p + i must be aligned to the packet).
template <int VEC>
__device__ __forceinline__ void load_elements(const void *p, Dt dt, int64_t i, float (&out)[VEC]) {
  switch (dt) {
    case Dt::F16: load_floats<__half, VEC>(static_cast<const __half *>(p) + i, out); break;
    case Dt::BF16: load_floats<__nv_bfloat16, VEC>(static_cast<const __nv_bfloat16 *>(p) + i, out); break;
    default: load_floats<float, VEC>(static_cast<const float *>(p) + i, out); break;
  }
}

template <int VEC>
__device__ __forceinline__ void store_elements(void *p, Dt dt, int64_t i, const float (&in)[VEC]) {
  switch (dt) {
    case Dt::F16: store_floats<__half, VEC>(static_cast<__half *>(p) + i, in); break;
    case Dt::BF16: store_floats<__nv_bfloat16, VEC>(static_cast<__nv_bfloat16 *>(p) + i, in); break;
    default: store_floats<float, VEC>(static_cast<float *>(p) + i, in); break;
  }
}

// The value v rounded to dt, back in fp32.
__device__ __forceinline__ float round_to(Dt dt, float v) {
  switch (dt) {
    case Dt::F16: return __half2float(__float2half_rn(v));
    case Dt::BF16: return __bfloat162float(__float2bfloat16_rn(v));
    default: return v;
  }
}

}  // namespace mojo::cuda
