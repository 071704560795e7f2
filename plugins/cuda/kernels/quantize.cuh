// Quantized codes on the device, shared by every kernel that writes or reads int8 / fp8 e4m3fn: the code of a
// value already divided by its scale (int8: rintf = round half to even, then clamp, NaN -> 0; fp8 e4m3: RNE
// with saturation to +-448), matching the cpu reference bit for bit. Also to_float/from_float for the code
// types, so the templated row helpers of common.cuh (load_floats/store_floats) move codes too.
#pragma once

#include <cuda_fp8.h>

#include "common.cuh"
#include "launch.h"

namespace mojo::cuda {

// int8: one cvt.rni.sat.s8.f32 is round-half-even, clamp to [-128, 127] and NaN -> 0 (PTX float-to-integer
// conversion), the same code as rint + clamp + NaN test in a quarter of the instructions.
__device__ __forceinline__ uint32_t int8_code(float v) {
  uint32_t r;
  asm("cvt.rni.sat.s8.f32 %0, %1;" : "=r"(r) : "f"(v));
  return r & 0xffu;
}

template <Quant Q>
__device__ __forceinline__ uint8_t quantize(float v) {
  if constexpr (Q == Quant::Int8) {
    return uint8_t(int8_code(v));
  } else {
    return uint8_t(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3));
  }
}

// A row's dynamic scale from its amax: max(amax, 1e-12) / qmax, and 1 when that is below 1e-6 with
// unit_if_tiny (dynamic_quant's rule). The one definition for every per-row quantizer.
template <Quant Q>
__device__ __forceinline__ float dynamic_scale(float amax, bool unit_if_tiny) {
  const float qmax = Q == Quant::Int8 ? 127.0f : 448.0f;
  const float scale = fmaxf(amax, 1e-12f) / qmax;
  return unit_if_tiny && scale < 1e-6f ? 1.0f : scale;
}

// The codes of VEC values each multiplied by `mul` (a row's 1 / scale, possibly folded with other per-row
// factors); fp8 converts pairs (one cvt.rn.satfinite.e4m3x2 per two values). Every dynamic quantizer codes
// this way: one multiply instead of a division per value. A code may differ from the reference's v / scale by
// one at a rounding boundary (a few ulps of the quotient), inside the spec's quantized tolerance; an infinite
// scale gives mul = 0 like the division (finite values code to 0).
template <Quant Q, int VEC>
__device__ __forceinline__ Packet<uint8_t, VEC> quantize_scaled(const float (&v)[VEC], float mul) {
  Packet<uint8_t, VEC> pk;
#pragma unroll
  for (int k = 0; k + 1 < VEC; k += 2) {
    if constexpr (Q == Quant::Int8) {
      pk.v[k] = uint8_t(int8_code(v[k] * mul));
      pk.v[k + 1] = uint8_t(int8_code(v[k + 1] * mul));
    } else {
      const __nv_fp8x2_storage_t two = __nv_cvt_float2_to_fp8x2(make_float2(v[k] * mul, v[k + 1] * mul),
                                                                 __NV_SATFINITE, __NV_E4M3);
      pk.v[k] = uint8_t(two & 0xffu);
      pk.v[k + 1] = uint8_t(two >> 8);
    }
  }
  if constexpr (VEC % 2 != 0) pk.v[VEC - 1] = quantize<Q>(v[VEC - 1] * mul);
  return pk;
}

// The tail of the block-per-row activation quantizers (silu/gelu/swiglu_quant): the row's scale from the
// block-wide amax, written by thread 0, then the codes of the fp32 values each thread holds in registers
// (packet i = threadIdx.x + j * blockDim.x).
template <Quant Q, int VEC, int NV>
__device__ __forceinline__ void quantize_row(const float (&v)[NV][VEC], float amax, bool unit_if_tiny, int64_t nvec,
                                             uint8_t *q, float *scale_out, float *scratch) {
  const float scale = dynamic_scale<Q>(block_max(amax, scratch), unit_if_tiny);
  if (threadIdx.x == 0) *scale_out = scale;
  const float inv = __fdiv_rn(1.0f, scale);
#pragma unroll
  for (int j = 0; j < NV; ++j) {
    const int64_t i = threadIdx.x + int64_t(j) * blockDim.x;
    if (i < nvec) *reinterpret_cast<Packet<uint8_t, VEC> *>(q + i * VEC) = quantize_scaled<Q, VEC>(v[j], inv);
  }
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
