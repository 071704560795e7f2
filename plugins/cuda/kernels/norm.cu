// RMSNorm / LayerNorm with optional fused residual add: one block per row, fp32 statistics, 16-byte accesses
// when the row allows. The row is read once for the statistics and again (from L2) for the output.
#include <algorithm>

#include "common.cuh"
#include "launch.h"

namespace mojo::cuda {
namespace {

template <typename T, typename W, int VEC>
__global__ void norm_kernel(NormArgs a) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x, n = a.cols, nvec = n / VEC;
  const T *x = static_cast<const T *>(a.x) + row * n;
  const T *r = a.residual ? static_cast<const T *>(a.residual) + row * n : nullptr;
  T *out = static_cast<T *>(a.out) + row * n;
  T *res_out = a.residual_out ? static_cast<T *>(a.residual_out) + row * n : nullptr;
  const W *w = static_cast<const W *>(a.weight);
  const W *b = static_cast<const W *>(a.bias);
  // Where the rounded sum s lives between the passes: residual_out (pre), else out (post / plain with residual).
  T *s_buf = r ? (res_out && !a.post ? res_out : out) : nullptr;
  const T *src = r ? s_buf : x;

  float sum = 0.0f, sq = 0.0f;
  for (int64_t i = threadIdx.x; i < nvec; i += blockDim.x) {
    float v[VEC];
    load_floats<T, VEC>(x + i * VEC, v);
    if (r) {
      float rv[VEC];
      load_floats<T, VEC>(r + i * VEC, rv);
#pragma unroll
      for (int k = 0; k < VEC; ++k) v[k] = to_float(from_float<T>(v[k] + rv[k]));  // round the sum to T
      store_floats<T, VEC>(s_buf + i * VEC, v);
    } else if (res_out && !a.post) {
      store_floats<T, VEC>(res_out + i * VEC, v);  // null residual: the "sum" is x itself
    }
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      sum += v[k];
      sq += v[k] * v[k];
    }
  }
  float mean = 0.0f, var;
  if (a.layer_norm) {
    mean = block_sum(sum, scratch) / float(n);
    // Second pass for the centred variance (no E[x^2] - mean^2 cancellation).
    float c2 = 0.0f;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < nvec; i += blockDim.x) {
      float v[VEC];
      load_floats<T, VEC>(src + i * VEC, v);
#pragma unroll
      for (int k = 0; k < VEC; ++k) c2 += (v[k] - mean) * (v[k] - mean);
    }
    var = block_sum(c2, scratch) / float(n);
  } else {
    var = block_sum(sq, scratch) / float(n);
  }
  const float inv = rsqrtf(var + a.eps);
  __syncthreads();  // s_buf writes of other threads must be visible before the second pass
  for (int64_t i = threadIdx.x; i < nvec; i += blockDim.x) {
    float v[VEC];
    load_floats<T, VEC>(src + i * VEC, v);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      const int64_t c = i * VEC + k;
      float y = (v[k] - mean) * inv;
      if (w) y *= to_float(w[c]);
      if (b) y += to_float(b[c]);
      v[k] = y;
    }
    store_floats<T, VEC>(out + i * VEC, v);
    if (res_out && a.post) store_floats<T, VEC>(res_out + i * VEC, v);
  }
}

template <typename T, typename W>
cudaError_t launch_typed(const NormArgs &a, cudaStream_t stream) {
  if (a.rows == 0) return cudaSuccess;
  constexpr int kVec = 16 / sizeof(T);
  auto aligned = [](const void *p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  const bool vec_ok = a.cols % kVec == 0 && aligned(a.x) && aligned(a.residual) && aligned(a.out) &&
                      aligned(a.residual_out);
  const int64_t per_thread = vec_ok ? kVec : 1;
  int threads = int(std::min<int64_t>(1024, std::max<int64_t>(32, (a.cols / per_thread + 31) / 32 * 32)));
  if (vec_ok)
    norm_kernel<T, W, kVec><<<dim3(unsigned(a.rows)), threads, 0, stream>>>(a);
  else
    norm_kernel<T, W, 1><<<dim3(unsigned(a.rows)), threads, 0, stream>>>(a);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_weight(const NormArgs &a, cudaStream_t stream) {
  return a.weight_dtype == Dt::F32 ? launch_typed<T, float>(a, stream) : launch_typed<T, T>(a, stream);
}

}  // namespace

cudaError_t launch_norm(const NormArgs &a, cudaStream_t stream) {
  switch (a.dtype) {
    case Dt::F32: return launch_typed<float, float>(a, stream);
    case Dt::F16: return launch_weight<__half>(a, stream);
    case Dt::BF16: return launch_weight<__nv_bfloat16>(a, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace mojo::cuda
