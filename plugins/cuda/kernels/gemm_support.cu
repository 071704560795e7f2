#include "kernels/common.cuh"
#include "kernels/gemm_support.h"

namespace mojo::cuda {
namespace {

template <typename T>
__global__ void batch_reduce_kernel(BatchReduceArgs a) {
  const int64_t total = a.rows * a.cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t col = i % a.cols;
    float acc = 0.0f;
    for (int64_t b = 0; b < a.batch; ++b) {
      acc += a.partial[b * total + i];
      if (a.bias) acc += to_float(static_cast<const T *>(a.bias)[b * a.cols + col]);
    }
    static_cast<T *>(a.out)[i] = from_float<T>(acc);
  }
}

template <typename S>
__device__ __forceinline__ float scale_at(const void *p, int64_t i) {
  return to_float(static_cast<const S *>(p)[i]);
}

// The reference's order: (float(acc) * x_scale[m]) * w_scale[n], each product rounded (no contraction).
template <typename T, typename S>
__device__ __forceinline__ void store_dequant(const Int8GemmArgs &a, int64_t m, int64_t n, int32_t acc) {
  const float v = __fmul_rn(__fmul_rn(float(acc), a.x_scale[m]), scale_at<S>(a.w_scale, n));
  static_cast<T *>(a.out)[m * a.n + n] = from_float<T>(v);
}

template <typename T, typename S>
__global__ void int8_dequant_kernel(Int8GemmArgs a, const int32_t *acc) {
  const int64_t total = a.m * a.n;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    store_dequant<T, S>(a, i / a.n, i % a.n, acc[i]);
}

// 64×64 output tile per 256 threads (4×4 each), K in steps of 32 staged in shared memory as k-contiguous
// rows so four codes pack into one dp4a operand.
constexpr int kTile = 64, kStep = 32;

template <typename T, typename S>
__global__ void __launch_bounds__(256) int8_gemm_kernel(Int8GemmArgs a) {
  __shared__ __align__(16) int8_t xs[kTile][kStep + 4];
  __shared__ __align__(16) int8_t ws[kTile][kStep + 4];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t m0 = int64_t(blockIdx.y) * kTile, n0 = int64_t(blockIdx.x) * kTile;
  int32_t acc[4][4] = {};
  for (int64_t k0 = 0; k0 < a.k; k0 += kStep) {
    for (int i = threadIdx.x; i < kTile * kStep; i += blockDim.x) {
      const int r = i / kStep, kk = i % kStep;
      const int64_t m = m0 + r, n = n0 + r, k = k0 + kk;
      xs[r][kk] = (m < a.m && k < a.k) ? a.x[m * a.k + k] : int8_t(0);
      int8_t wv = 0;
      if (n < a.n && k < a.k) wv = a.kn_layout ? a.w[k * a.n + n] : a.w[n * a.k + k];
      ws[r][kk] = wv;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kStep; kk += 4) {
      int xv[4], wv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        xv[i] = *reinterpret_cast<const int *>(&xs[ty + 16 * i][kk]);
        wv[i] = *reinterpret_cast<const int *>(&ws[tx + 16 * i][kk]);
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = __dp4a(xv[i], wv[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m < a.m && n < a.n) store_dequant<T, S>(a, m, n, acc[i][j]);
    }
}

// 32x32 tiles through shared memory (padded row: no bank conflicts on the transposed read).
__global__ void transpose_int8_kernel(const int8_t *w, int8_t *wt, int64_t k, int64_t n) {
  __shared__ int8_t tile[32][33];
  const int64_t k0 = int64_t(blockIdx.y) * 32, n0 = int64_t(blockIdx.x) * 32;
  for (int r = threadIdx.y; r < 32; r += blockDim.y) {
    const int64_t kk = k0 + r, nn = n0 + threadIdx.x;
    if (kk < k && nn < n) tile[r][threadIdx.x] = w[kk * n + nn];
  }
  __syncthreads();
  for (int r = threadIdx.y; r < 32; r += blockDim.y) {
    const int64_t nn = n0 + r, kk = k0 + threadIdx.x;
    if (nn < n && kk < k) wt[nn * k + kk] = tile[threadIdx.x][r];
  }
}

unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return unsigned(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

// Calls f.template operator()<T, S>() for the output and weight-scale dtypes.
template <typename F>
cudaError_t with_out_and_scale(Dt out, Dt scale, F &&f) {
  auto with_scale = [&](auto out_tag) {
    using T = decltype(out_tag);
    return scale == Dt::BF16 ? f(T{}, __nv_bfloat16{}) : f(T{}, float{});
  };
  switch (out) {
    case Dt::BF16: return with_scale(__nv_bfloat16{});
    case Dt::F16: return with_scale(__half{});
    default: return with_scale(float{});
  }
}

}  // namespace

cudaError_t launch_batch_reduce(const BatchReduceArgs &a, cudaStream_t stream) {
  const int64_t total = a.rows * a.cols;
  if (total == 0) return cudaSuccess;
  const unsigned grid = grid_for(total, 256);
  switch (a.dtype) {
    case Dt::BF16: batch_reduce_kernel<__nv_bfloat16><<<grid, 256, 0, stream>>>(a); break;
    case Dt::F16: batch_reduce_kernel<__half><<<grid, 256, 0, stream>>>(a); break;
    default: batch_reduce_kernel<float><<<grid, 256, 0, stream>>>(a); break;
  }
  return cudaGetLastError();
}

cudaError_t launch_int8_dequant(const Int8GemmArgs &a, const int32_t *acc, cudaStream_t stream) {
  if (a.m * a.n == 0) return cudaSuccess;
  const unsigned grid = grid_for(a.m * a.n, 256);
  return with_out_and_scale(a.out_dtype, a.w_scale_dtype, [&](auto t, auto s) {
    int8_dequant_kernel<decltype(t), decltype(s)><<<grid, 256, 0, stream>>>(a, acc);
    return cudaGetLastError();
  });
}

cudaError_t launch_transpose_int8(const int8_t *w, int8_t *wt, int64_t k, int64_t n, cudaStream_t stream) {
  if (k * n == 0) return cudaSuccess;
  const dim3 grid(unsigned((n + 31) / 32), unsigned((k + 31) / 32));
  if (grid.y > 65535) return cudaErrorInvalidConfiguration;
  transpose_int8_kernel<<<grid, dim3(32, 8), 0, stream>>>(w, wt, k, n);
  return cudaGetLastError();
}

cudaError_t launch_int8_gemm(const Int8GemmArgs &a, cudaStream_t stream) {
  if (a.m * a.n == 0) return cudaSuccess;
  const dim3 grid(unsigned((a.n + kTile - 1) / kTile), unsigned((a.m + kTile - 1) / kTile));
  if (grid.y > 65535) return cudaErrorInvalidConfiguration;
  return with_out_and_scale(a.out_dtype, a.w_scale_dtype, [&](auto t, auto s) {
    int8_gemm_kernel<decltype(t), decltype(s)><<<grid, 256, 0, stream>>>(a);
    return cudaGetLastError();
  });
}

}  // namespace mojo::cuda
