// Elementwise activations: grid-stride loops over 16-byte packets, fp32 math, one rounding.
#include <algorithm>

#include "activation_math.cuh"
#include "common.cuh"
#include "launch.h"

namespace mojo::cuda {
namespace {

template <typename T, Activation K, int VEC>
__global__ void activation_kernel(ActivationArgs a) {
  const T *x = static_cast<const T *>(a.x), *up = static_cast<const T *>(a.up);
  T *out = static_cast<T *>(a.out);
  const int64_t nvec = a.n / VEC, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < nvec; i += stride) {
    float v[VEC], u[VEC] = {};
    load_floats<T, VEC>(x + i * VEC, v);
    if constexpr (K == Activation::Swiglu) load_floats<T, VEC>(up + i * VEC, u);
#pragma unroll
    for (int k = 0; k < VEC; ++k) v[k] = activate<K>(v[k], u[k], a.limit);
    store_floats<T, VEC>(out + i * VEC, v);
  }
  // Tail elements when n is not a multiple of VEC.
  for (int64_t i = nvec * VEC + int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < a.n; i += stride)
    out[i] = from_float<T>(activate<K>(to_float(x[i]), K == Activation::Swiglu ? to_float(up[i]) : 0.0f, a.limit));
}

template <typename T, Activation K>
cudaError_t launch_kind(const ActivationArgs &a, cudaStream_t stream) {
  if (a.n == 0) return cudaSuccess;
  constexpr int kVec = 16 / sizeof(T);
  auto aligned = [](const void *p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  const bool vec_ok = aligned(a.x) && aligned(a.up) && aligned(a.out);
  const int threads = 256;
  const int64_t items = vec_ok ? (a.n + kVec - 1) / kVec : a.n;
  const unsigned blocks = unsigned(std::min<int64_t>((items + threads - 1) / threads, 65535 * 8));
  if (vec_ok)
    activation_kernel<T, K, kVec><<<blocks, threads, 0, stream>>>(a);
  else
    activation_kernel<T, K, 1><<<blocks, threads, 0, stream>>>(a);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_dtype(const ActivationArgs &a, cudaStream_t stream) {
  switch (a.kind) {
    case Activation::Silu: return launch_kind<T, Activation::Silu>(a, stream);
    case Activation::GeluErf: return launch_kind<T, Activation::GeluErf>(a, stream);
    case Activation::GeluTanh: return launch_kind<T, Activation::GeluTanh>(a, stream);
    case Activation::Swiglu: return launch_kind<T, Activation::Swiglu>(a, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t launch_activation(const ActivationArgs &a, cudaStream_t stream) {
  switch (a.dtype) {
    case Dt::F32: return launch_dtype<float>(a, stream);
    case Dt::F16: return launch_dtype<__half>(a, stream);
    case Dt::BF16: return launch_dtype<__nv_bfloat16>(a, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace mojo::cuda
