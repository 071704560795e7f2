// residual_add_norm_cast: one block per row, the row held in registers between the statistics and the output,
// so HBM sees one read of x and residual and one write of residual_out and out per element (weight and bias
// are re-read per row from L2). The dtypes are uniform runtime branches, one per group of 8 elements: x,
// residual and out (+ fp8) as template axes would be 100+ kernels, and a branch per element lets the compiler
// clone the unrolled row loops for every dtype path (tens of thousands of instructions).
// Thread t holds NV groups of 8 elements. Packed (row length a multiple of 8, every base address 16-byte
// aligned): group j is the packet t + j * blockDim.x, one 16-byte access per bf16/fp16 tensor, two per fp32,
// 8 bytes of fp8 codes. Otherwise element k of group j is t + (8 j + k) * blockDim.x: scalar, still coalesced.
// Rounding follows the cpu reference: the sum rounded to the residual dtype before the statistics, y in fp32,
// fp8 codes of y / out_scale (IEEE division, saturating RNE).
#include <algorithm>

#include "common.cuh"
#include "element.cuh"
#include "norm_cast.h"
#include "quantize.cuh"

namespace mojo::cuda {
namespace {

constexpr int kGroup = 8;

// Elements first + k * stride of p; those past the row (index >= n) read as 0 and are not written.
template <typename T>
__device__ __forceinline__ void load_strided(const T *p, int64_t first, int64_t stride, int64_t n,
                                             float (&v)[kGroup]) {
#pragma unroll
  for (int k = 0; k < kGroup; ++k) {
    const int64_t e = first + k * stride;
    v[k] = e < n ? to_float(p[e]) : 0.0f;
  }
}

template <typename T>
__device__ __forceinline__ void store_strided(T *p, int64_t first, int64_t stride, int64_t n,
                                              const float (&v)[kGroup]) {
#pragma unroll
  for (int k = 0; k < kGroup; ++k) {
    const int64_t e = first + k * stride;
    if (e < n) p[e] = from_float<T>(v[k]);
  }
}

// One group of a row starting at element `row` of p (packed: the 16-byte-aligned packet at first).
template <bool kPacked>
__device__ __forceinline__ void load_group(const void *p, Dt dt, int64_t row, int64_t first, int64_t stride,
                                           int64_t n, float (&v)[kGroup]) {
  if constexpr (kPacked) {
    load_elements<kGroup>(p, dt, row + first, v);
  } else {
    switch (dt) {
      case Dt::F16: return load_strided(static_cast<const __half *>(p) + row, first, stride, n, v);
      case Dt::BF16: return load_strided(static_cast<const __nv_bfloat16 *>(p) + row, first, stride, n, v);
      default: return load_strided(static_cast<const float *>(p) + row, first, stride, n, v);
    }
  }
}

template <bool kPacked>
__device__ __forceinline__ void store_group(void *p, Dt dt, int64_t row, int64_t first, int64_t stride, int64_t n,
                                            const float (&v)[kGroup]) {
  if constexpr (kPacked) {
    store_elements<kGroup>(p, dt, row + first, v);
  } else {
    switch (dt) {
      case Dt::F16: return store_strided(static_cast<__half *>(p) + row, first, stride, n, v);
      case Dt::BF16: return store_strided(static_cast<__nv_bfloat16 *>(p) + row, first, stride, n, v);
      default: return store_strided(static_cast<float *>(p) + row, first, stride, n, v);
    }
  }
}

template <bool kPacked>
__device__ __forceinline__ void store_fp8_group(void *p, int64_t row, int64_t first, int64_t stride, int64_t n,
                                                const float (&v)[kGroup]) {
  __nv_fp8_e4m3 *q = static_cast<__nv_fp8_e4m3 *>(p) + row;
  if constexpr (kPacked) store_floats<__nv_fp8_e4m3, kGroup>(q + first, v);
  else store_strided(q, first, stride, n, v);
}

template <bool kPacked, int NV>
__global__ void __launch_bounds__(1024) norm_cast_kernel(NormCastArgs a) {
  __shared__ float scratch[32];
  const int64_t n = a.cols, row = int64_t(blockIdx.x) * n;
  const int64_t stride = kPacked ? 1 : blockDim.x;
  auto first = [&](int j) {
    return kPacked ? (threadIdx.x + int64_t(j) * blockDim.x) * kGroup : threadIdx.x + int64_t(j) * kGroup * blockDim.x;
  };
  float s[NV][kGroup];
  float sum = 0.0f;
#pragma unroll
  for (int j = 0; j < NV; ++j) {
    const int64_t f = first(j);
    if (f < n) {
      float r[kGroup];
      load_group<kPacked>(a.x, a.x_dtype, row, f, stride, n, s[j]);
      load_group<kPacked>(a.residual, a.residual_dtype, row, f, stride, n, r);
#pragma unroll
      for (int k = 0; k < kGroup; ++k) {
        s[j][k] = round_to(a.residual_dtype, s[j][k] + r[k]);  // 0 past the row
        sum += a.layer_norm ? s[j][k] : s[j][k] * s[j][k];
      }
      if (!a.post) store_group<kPacked>(a.residual_out, a.residual_dtype, row, f, stride, n, s[j]);
    }
  }
  float mean = 0.0f, var;
  if (a.layer_norm) {
    mean = block_sum(sum, scratch) / float(n);
    float c2 = 0.0f;
#pragma unroll
    for (int j = 0; j < NV; ++j)
#pragma unroll
      for (int k = 0; k < kGroup; ++k)
        if (first(j) + k * stride < n) c2 += (s[j][k] - mean) * (s[j][k] - mean);
    var = block_sum(c2, scratch) / float(n);
  } else {
    var = block_sum(sum, scratch) / float(n);
  }
  // Once per row: the reference's correctly rounded 1 / sqrt rather than rsqrtf's 2 ulp.
  const float inv = __frcp_rn(__fsqrt_rn(var + a.eps));
#pragma unroll
  for (int j = 0; j < NV; ++j) {
    const int64_t f = first(j);
    if (f >= n) continue;
    float w[kGroup], b[kGroup] = {};
    load_group<kPacked>(a.weight, a.weight_dtype, 0, f, stride, n, w);
    if (a.bias) load_group<kPacked>(a.bias, a.bias_dtype, 0, f, stride, n, b);
#pragma unroll
    for (int k = 0; k < kGroup; ++k) {
      s[j][k] = (s[j][k] - mean) * inv * w[k];
      if (a.bias) s[j][k] += b[k];
    }
    if (a.post) store_group<kPacked>(a.residual_out, a.residual_dtype, row, f, stride, n, s[j]);
    if (a.out_fp8) {
#pragma unroll
      for (int k = 0; k < kGroup; ++k) s[j][k] = __fdiv_rn(s[j][k], a.out_scale);
      store_fp8_group<kPacked>(a.out, row, f, stride, n, s[j]);
    } else {
      store_group<kPacked>(a.out, a.out_dtype, row, f, stride, n, s[j]);
    }
  }
}

template <bool kPacked, int NV>
cudaError_t launch_rows(const NormCastArgs &a, cudaStream_t stream) {
  const int64_t groups = (a.cols + kGroup - 1) / kGroup;
  const int threads = int(std::max<int64_t>(32, ((groups + NV - 1) / NV + 31) / 32 * 32));
  norm_cast_kernel<kPacked, NV><<<dim3(unsigned(a.rows)), threads, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_norm_cast(const NormCastArgs &a, cudaStream_t stream) {
  if (a.rows == 0 || a.cols == 0) return cudaSuccess;
  if (a.cols > kNormCastMaxCols || a.rows > kNormCastMaxRows) return cudaErrorNotSupported;
  auto aligned = [](const void *p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  // As the plain norms (norm.cu): 2 groups per thread for many rows, the widest block for few.
  const bool two = a.rows >= 1024 || a.cols > 1024 * kGroup;
  if (a.cols % kGroup == 0 && aligned(a.x) && aligned(a.residual) && aligned(a.weight) && aligned(a.bias) &&
      aligned(a.out) && aligned(a.residual_out))
    return two ? launch_rows<true, 2>(a, stream) : launch_rows<true, 1>(a, stream);
  return two ? launch_rows<false, 2>(a, stream) : launch_rows<false, 1>(a, stream);
}

}  // namespace mojo::cuda
