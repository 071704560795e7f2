// The activation functions in fp32 (spec/activation.md), shared by the elementwise activations and the
// activation + quant fusions. silu uses the fast exponential (well within the spec's tolerances).
#pragma once

#include "launch.h"

namespace mojo::cuda {

__device__ __forceinline__ float silu_f(float x) { return x / (1.0f + __expf(-x)); }

template <Activation K>
__device__ __forceinline__ float activate(float x, float up, float limit) {
  if constexpr (K == Activation::Silu) return silu_f(x);
  if constexpr (K == Activation::GeluErf) return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
  if constexpr (K == Activation::GeluTanh)
    return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
  if constexpr (K == Activation::Swiglu) {
    if (limit > 0.0f) {
      up = fminf(fmaxf(up, -limit), limit);
      x = fminf(x, limit);
    }
    return silu_f(x) * up;
  }
  return 0.0f;
}

}  // namespace mojo::cuda
