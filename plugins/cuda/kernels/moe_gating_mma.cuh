// Device pieces shared by the tensor-core MoE routers (kernels/moe_gating.cu, kernels/moe_gating_cluster.cu): the
// k-step that multiplies an fp32 weight tile, split into bf16 hi + lo, against bf16 tokens on m16n8k16 tensor
// cores. (Their routing pieces are in moe_gating_route.cuh.)
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "mma.cuh"

namespace mojo::cuda {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

constexpr int kGatingStages = 8;  // cp.async groups a thread keeps in flight (cp_async_wait_pending counts to 7)

__device__ __forceinline__ void cp_async_wait_pending(int n) {
  switch (n) {
    case 0: cp_async_wait<0>(); break;
    case 1: cp_async_wait<1>(); break;
    case 2: cp_async_wait<2>(); break;
    case 3: cp_async_wait<3>(); break;
    case 4: cp_async_wait<4>(); break;
    case 5: cp_async_wait<5>(); break;
    case 6: cp_async_wait<6>(); break;
    default: cp_async_wait<7>(); break;
  }
}

// Two fp32 weights of consecutive k as one bf16x2 register each of hi = bf16(w) and lo = bf16(w - hi).
__device__ __forceinline__ void split_pair(float w0, float w1, uint32_t &hi, uint32_t &lo) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(w0, w1);
  const float2 hf = __bfloat1622float2(h);
  const __nv_bfloat162 l = __floats2bfloat162_rn(w0 - hf.x, w1 - hf.y);
  hi = *reinterpret_cast<const uint32_t *>(&h);
  lo = *reinterpret_cast<const uint32_t *>(&l);
}

// One k-step (16 hidden rows at k0) of a warp's m16 tile (experts 16 wm ..) x NT n8 tiles (tokens tok0 ..).
// The MMA's A operand is the weight with row g (g = lane / 4) = expert 16 wm + 2g and row g + 8 = expert
// 16 wm + 2g + 1, so a lane's A values for one k are the float2 at column 16 wm + 2g; the hi and lo halves are
// two MMAs into the same accumulators. B is x, straight from [token][h] shared memory by ldmatrix.
template <int ET, int NT>
__device__ __forceinline__ void gating_kstep(const float *ws, const __nv_bfloat16 *xs, int xstride, int k0, int wm,
                                           int tok0, float (&acc)[NT][4]) {
  constexpr int kWS = ET + 4;
  const int lane = int(threadIdx.x) & 31, g = lane >> 2, q = lane & 3, mi = lane >> 3;
  const float *wp = ws + (k0 + 2 * q) * kWS + 16 * wm + 2 * g;
  const float2 w0 = *reinterpret_cast<const float2 *>(wp);             // k = 2q
  const float2 w1 = *reinterpret_cast<const float2 *>(wp + kWS);       // k = 2q + 1
  const float2 w8 = *reinterpret_cast<const float2 *>(wp + 8 * kWS);   // k = 2q + 8
  const float2 w9 = *reinterpret_cast<const float2 *>(wp + 9 * kWS);   // k = 2q + 9
  uint32_t hi[4], lo[4];  // a0..a3: (row g, k 2q), (row g + 8, k 2q), (g, 2q + 8), (g + 8, 2q + 8)
  split_pair(w0.x, w1.x, hi[0], lo[0]);
  split_pair(w0.y, w1.y, hi[1], lo[1]);
  split_pair(w8.x, w9.x, hi[2], lo[2]);
  split_pair(w8.y, w9.y, hi[3], lo[3]);
#pragma unroll
  for (int n2 = 0; n2 < NT / 2; ++n2) {
    uint32_t b[4];  // n-tiles 2 n2 (b0, b1) and 2 n2 + 1 (b2, b3)
    ldmatrix_x4(b, xs + (tok0 + n2 * 16 + (mi >> 1) * 8 + (lane & 7)) * xstride + k0 + (mi & 1) * 8);
    Mma<__nv_bfloat16>::run(acc[2 * n2], hi, b[0], b[1]);
    Mma<__nv_bfloat16>::run(acc[2 * n2 + 1], hi, b[2], b[3]);
    Mma<__nv_bfloat16>::run(acc[2 * n2], lo, b[0], b[1]);
    Mma<__nv_bfloat16>::run(acc[2 * n2 + 1], lo, b[2], b[3]);
  }
}

#endif

}  // namespace mojo::cuda
