// The sampling arithmetic every backend computes bit for bit (docs/decisions/moe_sampling.md, "Exact sampling
// arithmetic"): a candidate's softmax mass is an integer weight w = floor(exp(l - m) * 2^40) with exp evaluated
// by one fixed sequence of correctly rounded fp32 operations, and every cumulative decision (nucleus cut,
// inverse-CDF draw) compares integer sums, which no summation order can change. A parallel GPU reduction and
// the sequential cpu reference therefore pick the same tokens. Header-only, callable from device code.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "host_device.h"

namespace mojo {
namespace common {

constexpr int kWeightBits = 40;  // w(max) = 2^40: weights of up to 2^23 candidates sum below 2^64

// Correctly rounded fp32 operations that no compiler may contract into an FMA (nvcc does so by default).
MOJO_HOST_DEVICE inline float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
MOJO_HOST_DEVICE inline float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
MOJO_HOST_DEVICE inline float fma_rn(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return fmaf(a, b, c);
#endif
}

MOJO_HOST_DEVICE inline float pow2_float(int e) {  // 2^e for -126 <= e <= 127, exact
  const uint32_t bits = uint32_t(e + 127) << 23;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

// floor(exp(l - m) * 2^40) for l <= m: the unnormalised softmax mass of logit l under the row maximum m.
// l == m (including equal infinities) is exactly 2^40; anything below 2^-40 of the maximum (l - m < -28,
// -inf, NaN) is 0. exp uses Cody-Waite reduction and a degree-7 Taylor polynomial (relative error < 3e-7).
MOJO_HOST_DEVICE inline uint64_t softmax_weight(float l, float m) {
  if (l == m) return uint64_t(1) << kWeightBits;
  const float x = sub_rn(l, m);
  if (!(x > -28.0f)) return 0;
  const float n = rintf(mul_rn(x, 1.44269502f));  // x * log2(e), rounded to an integer in [-41, 0]
  float r = fma_rn(n, -0.693145751953125f, x);     // ln 2, high part
  r = fma_rn(n, -1.42860677e-06f, r);              // ln 2, low part
  float p = 1.98412701e-04f;                       // 1/7!
  p = fma_rn(p, r, 1.38888892e-03f);
  p = fma_rn(p, r, 8.33333377e-03f);
  p = fma_rn(p, r, 4.16666679e-02f);
  p = fma_rn(p, r, 1.66666672e-01f);
  p = fma_rn(p, r, 0.5f);
  p = fma_rn(p, r, 1.0f);
  p = fma_rn(p, r, 1.0f);
  const int e = int(n) + kWeightBits;  // >= -1
  if (e < 0) return 0;
  return uint64_t(mul_rn(p, pow2_float(e)));  // exact scaling, then truncation
}

// floor(t * z) for t in [0, 1] (fp32) and any z: exact (t = mantissa * 2^exponent, 24 x 64-bit product).
MOJO_HOST_DEVICE inline uint64_t scale_floor(float t, uint64_t z) {
  uint32_t bits;
  memcpy(&bits, &t, sizeof bits);
  if ((bits & 0x7fffffffu) == 0 || (bits >> 31) != 0) return 0;
  const uint32_t biased = bits >> 23;
  const uint64_t mant = biased ? (bits & 0x7fffffu) | 0x800000u : (bits & 0x7fffffu);
  const int shift = biased ? 150 - int(biased) : 149;  // t = mant * 2^-shift, shift >= 23 for t <= 1
  const uint64_t lo = (z & 0xffffffffu) * mant, hi = (z >> 32) * mant;  // z * mant = hi * 2^32 + lo
  const uint64_t mid = hi + (lo >> 32);                                   // z * mant = mid * 2^32 + (lo mod 2^32)
  if (shift >= 32) return shift - 32 >= 64 ? 0 : mid >> (shift - 32);
  return (mid << (32 - shift)) | ((lo & 0xffffffffu) >> shift);
}

// The probability a weight stands for: w / z, one rounding to double, one to float.
MOJO_HOST_DEVICE inline float weight_probability(uint64_t w, uint64_t z) { return float(double(w) / double(z)); }

}  // namespace common
}  // namespace mojo
