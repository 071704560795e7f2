// Device helpers shared by every cuda kernel: dtype conversion, vectorised row access, warp/block reductions.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace mojo::cuda {

template <typename T> __device__ __forceinline__ float to_float(T v);
template <> __device__ __forceinline__ float to_float<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// VEC elements moved with aligned accesses: one 16-byte access when VEC * sizeof(T) == 16; a wider packet
// (fp32 weights beside bf16 data) is only assumed 16-byte aligned and moves as several 16-byte accesses.
template <typename T, int VEC>
struct alignas(sizeof(T) * VEC < 16 ? sizeof(T) * VEC : 16) Packet {
  T v[VEC];
};

template <typename T, int VEC>
__device__ __forceinline__ void load_floats(const T *p, float (&out)[VEC]) {
  Packet<T, VEC> pk = *reinterpret_cast<const Packet<T, VEC> *>(p);
#pragma unroll
  for (int i = 0; i < VEC; ++i) out[i] = to_float(pk.v[i]);
}

template <typename T, int VEC>
__device__ __forceinline__ void store_floats(T *p, const float (&in)[VEC]) {
  Packet<T, VEC> pk;
#pragma unroll
  for (int i = 0; i < VEC; ++i) pk.v[i] = from_float<T>(in[i]);
  *reinterpret_cast<Packet<T, VEC> *>(p) = pk;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block; every thread gets the result. `scratch` holds 32 floats of shared memory.
__device__ __forceinline__ float block_sum(float v, float *scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.0f;
  return warp_sum(v);
}

// atomicAdd(ticket, 1) at GPU scope with release (the CTA's writes, ordered before it by a __syncthreads, are
// published: the barrier makes them part of this thread's release) and acquire (writes published by earlier
// arrivals are visible after it, to the whole CTA after the next barrier). One thread per CTA calls it; a
// __threadfence pair costs a fence.sc in every thread instead.
__device__ __forceinline__ unsigned ticket_acq_rel(unsigned *ticket) {
  unsigned old;
  asm volatile("atom.acq_rel.gpu.global.add.u32 %0, [%1], 1;\n" : "=r"(old) : "l"(ticket) : "memory");
  return old;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ __forceinline__ float block_max(float v, float *scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.0f;
  return warp_max(v);
}

// Sum and max (of non-negative values, like block_max) over the block with one pair of barriers for both
// statistics; every thread gets both. `scratch` holds 64 floats of shared memory.
__device__ __forceinline__ void block_sum_max(float &sum, float &mx, float *scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  sum = warp_sum(sum);
  mx = warp_max(mx);
  __syncthreads();
  if (lane == 0) {
    scratch[warp] = sum;
    scratch[32 + warp] = mx;
  }
  __syncthreads();
  sum = warp_sum(lane < warps ? scratch[lane] : 0.0f);
  mx = warp_max(lane < warps ? scratch[32 + lane] : 0.0f);
}

}  // namespace mojo::cuda
