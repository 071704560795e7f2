// static_quant and dequant (elementwise, VEC elements per thread) and the activation + dynamic quant
// fusions (one block per row, the fp32 activations stay in registers until the row's amax is known: the
// norm-quant design of norm.cu). Codes come from quantize.cuh, bit-exact with the cpu reference.
#include <algorithm>

#include "activation_math.cuh"
#include "common.cuh"
#include "device_error.cuh"
#include "element.cuh"
#include "quant_ops.h"
#include "quantize.cuh"

namespace mojo::cuda {
namespace {

bool aligned(const void *p, size_t bytes) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % bytes == 0; }

unsigned grid_for(int64_t items, int threads) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((items + threads - 1) / threads, 132 * 16)));
}

// ---- static_quant ----

template <typename T, Quant Q, int VEC>
__global__ void static_quant_kernel(StaticQuantArgs a) {
  const T *x = static_cast<const T *>(a.x);
  uint8_t *q = static_cast<uint8_t *>(a.q);
  const int64_t groups = a.n / VEC;
  for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += int64_t(gridDim.x) * blockDim.x) {
    float v[VEC];
    load_floats<T, VEC>(x + g * VEC, v);
    int64_t s = (g * VEC) % a.scale_n;
    Packet<uint8_t, VEC> pk;
#pragma unroll
    for (int e = 0; e < VEC; ++e) {
      pk.v[e] = quantize<Q>(__fdiv_rn(v[e], load_element(a.scale, a.scale_dtype, s)));
      if (++s == a.scale_n) s = 0;
    }
    *reinterpret_cast<Packet<uint8_t, VEC> *>(q + g * VEC) = pk;
  }
}

template <typename T, Quant Q>
cudaError_t launch_static_typed(const StaticQuantArgs &a, cudaStream_t stream) {
  constexpr int kVec = 16 / sizeof(T);
  const bool vec = a.n % kVec == 0 && aligned(a.x, 16) && aligned(a.q, kVec);
  if (vec) static_quant_kernel<T, Q, kVec><<<grid_for(a.n / kVec, 256), 256, 0, stream>>>(a);
  else static_quant_kernel<T, Q, 1><<<grid_for(a.n, 256), 256, 0, stream>>>(a);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_static_quant_dtype(const StaticQuantArgs &a, cudaStream_t stream) {
  return a.quant == Quant::Fp8E4M3 ? launch_static_typed<T, Quant::Fp8E4M3>(a, stream)
                                   : launch_static_typed<T, Quant::Int8>(a, stream);
}

// ---- dequant ----

template <typename C, typename T, int VEC>
__global__ void dequant_kernel(DequantArgs a) {
  const C *q = static_cast<const C *>(a.q);
  T *out = static_cast<T *>(a.out);
  const int64_t groups = a.n / VEC;
  const int last = a.rank - 1;
  for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += int64_t(gridDim.x) * blockDim.x) {
    int64_t rest = g * VEC, soff = 0;
    for (int d = last; d >= 0; --d) {
      const int64_t idx = rest % a.shape[d];
      rest /= a.shape[d];
      soff += idx * a.scale_stride[d];
    }
    float v[VEC];
    load_floats<C, VEC>(q + g * VEC, v);
    const int64_t step = a.rank > 0 ? a.scale_stride[last] : 0;
#pragma unroll
    for (int e = 0; e < VEC; ++e) v[e] *= load_element(a.scale, a.scale_dtype, soff + e * step);
    store_floats<T, VEC>(out + g * VEC, v);
  }
}

template <typename C, typename T>
cudaError_t launch_dequant_typed(const DequantArgs &a, cudaStream_t stream) {
  constexpr int kVec = 4;
  const bool vec = a.rank > 0 && a.shape[a.rank - 1] % kVec == 0 && aligned(a.q, sizeof(C) * kVec) &&
                   aligned(a.out, sizeof(T) * kVec);
  if (vec) dequant_kernel<C, T, kVec><<<grid_for(a.n / kVec, 256), 256, 0, stream>>>(a);
  else dequant_kernel<C, T, 1><<<grid_for(a.n, 256), 256, 0, stream>>>(a);
  return cudaGetLastError();
}

template <typename C>
cudaError_t launch_dequant_code(const DequantArgs &a, cudaStream_t stream) {
  switch (a.out_dtype) {
    case Dt::F32: return launch_dequant_typed<C, float>(a, stream);
    case Dt::F16: return launch_dequant_typed<C, __half>(a, stream);
    case Dt::BF16: return launch_dequant_typed<C, __nv_bfloat16>(a, stream);
  }
  return cudaErrorInvalidValue;
}

// ---- activation + dynamic quant ----

__global__ void group_validate(ActQuantArgs a, int32_t *error_word) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < a.rows; r += int64_t(gridDim.x) * blockDim.x)
    if (a.group[r] < 0 || a.group[r] >= a.experts) raise_error(error_word, kActQuantGroup);
}

template <typename T, Activation K, Quant Q, int VEC, int NV>
__global__ void act_quant_kernel(ActQuantArgs a, const int32_t *error_word) {
  __shared__ float scratch[32];
  if (a.group && error_raised(error_word)) return;
  const int64_t row = blockIdx.x, nvec = a.n / VEC;
  const T *g = static_cast<const T *>(a.gate) + row * a.gate_stride;
  const T *u = a.up ? static_cast<const T *>(a.up) + row * a.up_stride : nullptr;
  int64_t smooth_base = 0;
  if (a.group) {
    const int64_t e = a.group[row];
    if (e < 0 || e >= a.experts) return;  // unreachable after the validation pass; never read out of bounds
    smooth_base = e * a.n;
  }
  float v[NV][VEC];
  float amax = 0.0f;
#pragma unroll
  for (int j = 0; j < NV; ++j) {
    const int64_t i = threadIdx.x + int64_t(j) * blockDim.x;
    if (i < nvec) {
      float uv[VEC] = {};
      load_floats<T, VEC>(g + i * VEC, v[j]);
      if (u) load_floats<T, VEC>(u + i * VEC, uv);
#pragma unroll
      for (int e = 0; e < VEC; ++e) {
        float y = activate<K>(v[j][e], uv[e], a.limit);
        if (a.smooth) y *= load_element(a.smooth, a.smooth_dtype, smooth_base + i * VEC + e);
        v[j][e] = y;
        amax = fmaxf(amax, fabsf(y));
      }
    }
  }
  quantize_row<Q, VEC, NV>(v, amax, true, nvec, static_cast<uint8_t *>(a.q) + row * a.n, a.scale + row, scratch);
}

template <typename T, Activation K, Quant Q, int VEC, int NV>
void launch_rows(const ActQuantArgs &a, const int32_t *error_word, cudaStream_t stream) {
  const int64_t nvec = a.n / VEC;
  const int threads = int(std::max<int64_t>(32, ((nvec + NV - 1) / NV + 31) / 32 * 32));
  act_quant_kernel<T, K, Q, VEC, NV><<<unsigned(a.rows), threads, 0, stream>>>(a, error_word);
}

template <typename T, Activation K, Quant Q>
cudaError_t launch_act_typed(const ActQuantArgs &a, const int32_t *error_word, cudaStream_t stream) {
  constexpr int kVec = 16 / sizeof(T);
  const bool vec = a.n % kVec == 0 && a.gate_stride % kVec == 0 && a.up_stride % kVec == 0 && aligned(a.gate, 16) &&
                   aligned(a.up, 16) && aligned(a.q, kVec);
  if (vec && a.n / kVec <= 2048) launch_rows<T, K, Q, kVec, 2>(a, error_word, stream);
  else if (vec && a.n / kVec <= 8192) launch_rows<T, K, Q, kVec, 8>(a, error_word, stream);
  else if (a.n <= 8192) launch_rows<T, K, Q, 1, 8>(a, error_word, stream);
  else return cudaErrorNotSupported;
  return cudaGetLastError();
}

template <typename T, Activation K>
cudaError_t launch_act_kind(const ActQuantArgs &a, const int32_t *error_word, cudaStream_t stream) {
  return a.quant == Quant::Fp8E4M3 ? launch_act_typed<T, K, Quant::Fp8E4M3>(a, error_word, stream)
                                   : launch_act_typed<T, K, Quant::Int8>(a, error_word, stream);
}

template <typename T>
cudaError_t launch_act_dtype(const ActQuantArgs &a, const int32_t *error_word, cudaStream_t stream) {
  switch (a.kind) {
    case Activation::Silu: return launch_act_kind<T, Activation::Silu>(a, error_word, stream);
    case Activation::GeluErf: return launch_act_kind<T, Activation::GeluErf>(a, error_word, stream);
    case Activation::GeluTanh: return launch_act_kind<T, Activation::GeluTanh>(a, error_word, stream);
    case Activation::Swiglu: return launch_act_kind<T, Activation::Swiglu>(a, error_word, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t launch_static_quant(const StaticQuantArgs &a, cudaStream_t stream) {
  if (a.n == 0) return cudaSuccess;
  switch (a.dtype) {
    case Dt::F32: return launch_static_quant_dtype<float>(a, stream);
    case Dt::F16: return launch_static_quant_dtype<__half>(a, stream);
    case Dt::BF16: return launch_static_quant_dtype<__nv_bfloat16>(a, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_dequant(const DequantArgs &a, cudaStream_t stream) {
  if (a.n == 0) return cudaSuccess;
  switch (a.code) {
    case Code::Int8: return launch_dequant_code<int8_t>(a, stream);
    case Code::Fp8: return launch_dequant_code<__nv_fp8_e4m3>(a, stream);
    case Code::Int32: return launch_dequant_code<int32_t>(a, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_act_quant(const ActQuantArgs &a, int32_t *error_word, cudaStream_t stream) {
  if (a.group) {
    group_validate<<<grid_for(a.rows, 256), 256, 0, stream>>>(a, error_word);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
  }
  if (a.rows == 0 || a.n == 0) return cudaSuccess;
  switch (a.dtype) {
    case Dt::F32: return launch_act_dtype<float>(a, error_word, stream);
    case Dt::F16: return launch_act_dtype<__half>(a, error_word, stream);
    case Dt::BF16: return launch_act_dtype<__nv_bfloat16>(a, error_word, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace mojo::cuda
