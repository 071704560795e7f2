// residual_add_norm_cast: one block per row, NV elements per thread in registers (strided by blockDim so
// every access is coalesced whatever the four dtypes are; the dtypes are runtime branches, uniform per
// launch). s = round_to(residual dtype, x + residual) stays in registers for the statistics (LayerNorm:
// centred variance) and the output; residual_out is s (pre) or round_to(residual dtype, y) (post).
#include <algorithm>

#include "common.cuh"
#include "element.cuh"
#include "norm_cast.h"
#include "quantize.cuh"

namespace mojo::cuda {
namespace {

__device__ __forceinline__ float round_to(Dt dt, float v) {
  switch (dt) {
    case Dt::F16: return __half2float(__float2half_rn(v));
    case Dt::BF16: return __bfloat162float(__float2bfloat16_rn(v));
    default: return v;
  }
}

__device__ __forceinline__ void store_element(void *p, Dt dt, int64_t i, float v) {
  switch (dt) {
    case Dt::F16: static_cast<__half *>(p)[i] = __float2half_rn(v); break;
    case Dt::BF16: static_cast<__nv_bfloat16 *>(p)[i] = __float2bfloat16_rn(v); break;
    default: static_cast<float *>(p)[i] = v; break;
  }
}

template <int NV>
__global__ void norm_cast_kernel(NormCastArgs a) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x, n = a.cols, base = row * n;
  float s[NV];
  float sum = 0.0f;
#pragma unroll
  for (int j = 0; j < NV; ++j) {
    const int64_t i = threadIdx.x + int64_t(j) * blockDim.x;
    s[j] = 0.0f;
    if (i < n) {
      s[j] = round_to(a.residual_dtype, load_element(a.x, a.x_dtype, base + i) + load_element(a.residual, a.residual_dtype, base + i));
      if (!a.post) store_element(a.residual_out, a.residual_dtype, base + i, s[j]);
      sum += a.layer_norm ? s[j] : s[j] * s[j];
    }
  }
  float mean = 0.0f, var;
  if (a.layer_norm) {
    mean = block_sum(sum, scratch) / float(n);
    float c2 = 0.0f;
#pragma unroll
    for (int j = 0; j < NV; ++j)
      if (threadIdx.x + int64_t(j) * blockDim.x < n) c2 += (s[j] - mean) * (s[j] - mean);
    var = block_sum(c2, scratch) / float(n);
  } else {
    var = block_sum(sum, scratch) / float(n);
  }
  const float inv = rsqrtf(var + a.eps);
#pragma unroll
  for (int j = 0; j < NV; ++j) {
    const int64_t i = threadIdx.x + int64_t(j) * blockDim.x;
    if (i >= n) continue;
    float y = (s[j] - mean) * inv * load_element(a.weight, a.weight_dtype, i);
    if (a.bias) y += load_element(a.bias, a.bias_dtype, i);
    if (a.post) store_element(a.residual_out, a.residual_dtype, base + i, y);
    if (a.out_fp8) static_cast<uint8_t *>(a.out)[base + i] = quantize<Quant::Fp8E4M3>(__fdiv_rn(y, a.out_scale));
    else store_element(a.out, a.out_dtype, base + i, y);
  }
}

}  // namespace

cudaError_t launch_norm_cast(const NormCastArgs &a, cudaStream_t stream) {
  if (a.rows == 0 || a.cols == 0) return cudaSuccess;
  const int threads = int(std::min<int64_t>(1024, std::max<int64_t>(32, (a.cols + 31) / 32 * 32)));
  const int64_t per_thread = (a.cols + threads - 1) / threads;
  if (per_thread <= 4) norm_cast_kernel<4><<<unsigned(a.rows), threads, 0, stream>>>(a);
  else if (per_thread <= 16) norm_cast_kernel<16><<<unsigned(a.rows), threads, 0, stream>>>(a);
  else return cudaErrorNotSupported;
  return cudaGetLastError();
}

}  // namespace mojo::cuda
