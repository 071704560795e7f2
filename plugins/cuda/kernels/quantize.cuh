// Quantized codes on the device, shared by every kernel that writes or reads int8 / fp8 e4m3fn: the code of a
// value already divided by its scale (int8: rintf = round half to even, then clamp, NaN -> 0; fp8 e4m3: RNE
// with saturation to +-448), matching the cpu reference bit for bit. Also to_float/from_float for the code
// types, so the templated row helpers of common.cuh (load_floats/store_floats) move codes too.
#pragma once

#include <cuda_fp8.h>

#include "common.cuh"
#include "launch.h"

namespace mojo::cuda {

template <Quant Q>
__device__ __forceinline__ uint8_t quantize(float v) {
  if constexpr (Q == Quant::Int8) {
    const float r = fminf(fmaxf(rintf(v), -128.0f), 127.0f);
    return uint8_t(int8_t(r != r ? 0.0f : r));
  } else {
    return uint8_t(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3));
  }
}

// v / scale correctly rounded, from the reciprocal of a per-row scale (Markstein's correction: q0 = v * inv,
// r = v - q0 * scale exactly by FMA, q = q0 + r * inv). Equals __fdiv_rn(v, scale) while the quotient stays
// finite and above the subnormal range, which dynamic scales guarantee (|v / scale| <= qmax); three
// instructions instead of a full IEEE division per element.
__device__ __forceinline__ float divide_by_scale(float v, float scale, float inv) {
  const float q0 = v * inv;
  return fmaf(fmaf(-q0, scale, v), inv, q0);
}

template <> __device__ __forceinline__ float to_float<int8_t>(int8_t v) { return float(v); }
template <> __device__ __forceinline__ float to_float<int32_t>(int32_t v) { return float(v); }
template <> __device__ __forceinline__ float to_float<__nv_fp8_e4m3>(__nv_fp8_e4m3 v) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(v.__x, __NV_E4M3)));
}

template <> __device__ __forceinline__ int8_t from_float<int8_t>(float v) { return int8_t(quantize<Quant::Int8>(v)); }
template <> __device__ __forceinline__ __nv_fp8_e4m3 from_float<__nv_fp8_e4m3>(float v) {
  __nv_fp8_e4m3 r;
  r.__x = quantize<Quant::Fp8E4M3>(v);
  return r;
}

}  // namespace mojo::cuda
