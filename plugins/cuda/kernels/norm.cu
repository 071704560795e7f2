// RMSNorm / LayerNorm with optional fused residual add. One block per row; each thread keeps its slice of the
// row in registers (up to kMaxVecs 16-byte packets), so the row is read from HBM once and written once;
// fp32 statistics (LayerNorm: centred variance from the register copy, no E[x^2] - mean^2 cancellation).
// Rows too long for the register path, or not 16-byte aligned, take a generic strided loop.
#include <algorithm>
#include <type_traits>

#include "common.cuh"
#include "launch.h"
#include "quantize.cuh"

namespace mojo::cuda {
namespace {

constexpr int kMaxVecs = 8;

// At most 1024 threads: the register budget (64) every launch shape here fits.
template <typename T, typename W, int VEC, int NV, Quant Q, typename S>
__global__ void __launch_bounds__(1024) norm_registers(NormArgs a) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x, n = a.cols, nvec = n / VEC;
  const T *x = static_cast<const T *>(a.x) + row * n;
  const T *r = a.residual ? static_cast<const T *>(a.residual) + row * n : nullptr;
  T *out = static_cast<T *>(a.out) + row * n;  // only used when Q == None
  T *res_out = a.residual_out ? static_cast<T *>(a.residual_out) + row * n : nullptr;
  const W *w = static_cast<const W *>(a.weight);
  const W *b = static_cast<const W *>(a.bias);

  float v[NV][VEC];
  float sum = 0.0f;
#pragma unroll
  for (int j = 0; j < NV; ++j) {
    const int64_t i = threadIdx.x + int64_t(j) * blockDim.x;
    if (i < nvec) {
      load_floats<T, VEC>(x + i * VEC, v[j]);
      if (r) {
        float rv[VEC];
        load_floats<T, VEC>(r + i * VEC, rv);
#pragma unroll
        for (int k = 0; k < VEC; ++k) v[j][k] = to_float(from_float<T>(v[j][k] + rv[k]));  // sum rounded to T
      }
      if (res_out && !a.post) store_floats<T, VEC>(res_out + i * VEC, v[j]);
#pragma unroll
      for (int k = 0; k < VEC; ++k) sum += a.layer_norm ? v[j][k] : v[j][k] * v[j][k];
    }
  }
  float mean = 0.0f, var = 0.0f;
  if (!a.normalize) {
    // dynamic_quant: no statistics.
  } else if (a.layer_norm) {
    mean = block_sum(sum, scratch) / float(n);
    float c2 = 0.0f;
#pragma unroll
    for (int j = 0; j < NV; ++j)
      if (threadIdx.x + int64_t(j) * blockDim.x < nvec)
#pragma unroll
        for (int k = 0; k < VEC; ++k) c2 += (v[j][k] - mean) * (v[j][k] - mean);
    var = block_sum(c2, scratch) / float(n);
  } else {
    var = block_sum(sum, scratch) / float(n);
  }
  const float inv = a.normalize ? rsqrtf(var + a.eps) : 1.0f;
  if (!a.normalize) mean = 0.0f;
  float amax = 0.0f;
#pragma unroll
  for (int j = 0; j < NV; ++j) {
    const int64_t i = threadIdx.x + int64_t(j) * blockDim.x;
    if (i < nvec) {
      float wv[VEC], bv[VEC];
      if (w) load_floats<W, VEC>(w + i * VEC, wv);
      if (b) load_floats<W, VEC>(b + i * VEC, bv);
#pragma unroll
      for (int k = 0; k < VEC; ++k) {
        float y = (v[j][k] - mean) * inv;
        if (w) y *= wv[k];
        if (b) y += bv[k];
        v[j][k] = y;
      }
      if (res_out && a.post) store_floats<T, VEC>(res_out + i * VEC, v[j]);
      if constexpr (Q == Quant::None) {
        store_floats<T, VEC>(out + i * VEC, v[j]);
      } else {
        if (a.smooth) {
          float sv[VEC];
          load_floats<S, VEC>(static_cast<const S *>(a.smooth) + i * VEC, sv);
#pragma unroll
          for (int k = 0; k < VEC; ++k) v[j][k] *= sv[k];
        }
#pragma unroll
        for (int k = 0; k < VEC; ++k) amax = fmaxf(amax, fabsf(v[j][k]));
      }
    }
  }
  if constexpr (Q != Quant::None) {
    // The fp32 value y (never rounded to T) is quantized with one scale per row.
    quantize_row<Q, VEC, NV>(v, amax, a.unit_if_tiny, nvec, static_cast<uint8_t *>(a.out) + row * n, a.scale_out + row,
                             scratch);
  }
}

// Generic path: any length, any alignment. The rounded sum is parked in an output buffer between passes.
template <typename T, typename W>
__global__ void norm_generic(NormArgs a) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x, n = a.cols;
  const T *x = static_cast<const T *>(a.x) + row * n;
  const T *r = a.residual ? static_cast<const T *>(a.residual) + row * n : nullptr;
  T *out = static_cast<T *>(a.out) + row * n;
  T *res_out = a.residual_out ? static_cast<T *>(a.residual_out) + row * n : nullptr;
  const W *w = static_cast<const W *>(a.weight);
  const W *b = static_cast<const W *>(a.bias);
  T *s_buf = r ? (res_out && !a.post ? res_out : out) : nullptr;
  const T *src = r ? s_buf : x;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    float v = to_float(x[i]);
    if (r) {
      v = to_float(from_float<T>(v + to_float(r[i])));
      s_buf[i] = from_float<T>(v);
    } else if (res_out && !a.post) {
      res_out[i] = x[i];
    }
    sum += a.layer_norm ? v : v * v;
  }
  __syncthreads();
  float mean = 0.0f, var;
  if (a.layer_norm) {
    mean = block_sum(sum, scratch) / float(n);
    float c2 = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float d = to_float(src[i]) - mean;
      c2 += d * d;
    }
    var = block_sum(c2, scratch) / float(n);
  } else {
    var = block_sum(sum, scratch) / float(n);
  }
  const float inv = rsqrtf(var + a.eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    float y = (to_float(src[i]) - mean) * inv;
    if (w) y *= to_float(w[i]);
    if (b) y += to_float(b[i]);
    out[i] = from_float<T>(y);
    if (res_out && a.post) res_out[i] = out[i];
  }
}

template <typename T, typename W, int VEC, int NV, Quant Q>
cudaError_t launch_smooth(const NormArgs &a, int threads, cudaStream_t stream) {
  if (a.smooth && a.smooth_dtype != Dt::F32) {
    if constexpr (std::is_same_v<T, float>) return cudaErrorInvalidValue;  // fp32 x takes fp32 smooth only
    else norm_registers<T, W, VEC, NV, Q, T><<<dim3(unsigned(a.rows)), threads, 0, stream>>>(a);
  } else {
    norm_registers<T, W, VEC, NV, Q, float><<<dim3(unsigned(a.rows)), threads, 0, stream>>>(a);
  }
  return cudaGetLastError();
}

template <typename T, typename W, int VEC, int NV>
cudaError_t launch_registers(const NormArgs &a, int threads, cudaStream_t stream) {
  switch (a.quant) {
    case Quant::None: return launch_smooth<T, W, VEC, NV, Quant::None>(a, threads, stream);
    case Quant::Int8: return launch_smooth<T, W, VEC, NV, Quant::Int8>(a, threads, stream);
    case Quant::Fp8E4M3: return launch_smooth<T, W, VEC, NV, Quant::Fp8E4M3>(a, threads, stream);
  }
  return cudaErrorInvalidValue;
}

template <typename T, typename W>
cudaError_t launch_typed(const NormArgs &a, cudaStream_t stream) {
  if (a.rows == 0) return cudaSuccess;
  constexpr int kVec = 16 / sizeof(T);
  auto aligned = [](const void *p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  const int64_t nvec = a.cols / kVec;
  // Weights are read as packets too: their packet is 16 / sizeof(T) elements of W.
  const bool vec_ok = a.cols % kVec == 0 && aligned(a.x) && aligned(a.residual) && aligned(a.out) &&
                      aligned(a.residual_out) && aligned(a.weight) && aligned(a.bias) && aligned(a.smooth);
  if (vec_ok && nvec <= 1024 * kMaxVecs) {
    // Measured on H100 (bf16 4096-wide rows): 2 packets per thread is fastest for many rows (2.83 TB/s,
    // memcpy reaches 2.87), 1 packet per thread (the widest block) for few rows (lowest latency).
    int nv = a.rows >= 1024 ? 2 : 1;
    while (nv < kMaxVecs && (nvec + nv - 1) / nv > 1024) nv *= 2;
    const int threads = int(std::max<int64_t>(32, ((nvec + nv - 1) / nv + 31) / 32 * 32));
    switch (nv) {
      case 1: return launch_registers<T, W, kVec, 1>(a, threads, stream);
      case 2: return launch_registers<T, W, kVec, 2>(a, threads, stream);
      case 4: return launch_registers<T, W, kVec, 4>(a, threads, stream);
      default: return launch_registers<T, W, kVec, 8>(a, threads, stream);
    }
  }
  // Quantizing variants need the register path (the row must stay in fp32 until its amax is known).
  if (a.quant != Quant::None) return cudaErrorNotSupported;
  const int threads = int(std::min<int64_t>(1024, std::max<int64_t>(32, (a.cols + 31) / 32 * 32)));
  norm_generic<T, W><<<dim3(unsigned(a.rows)), threads, 0, stream>>>(a);
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
