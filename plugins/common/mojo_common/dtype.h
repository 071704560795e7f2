// Dtype ids, names, sizes and scalar conversions shared by every plugin, the tools and the tests.
// Header-only and dependency-free so a plugin can include it without linking anything.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "mojo/mojo_plugin.h"

namespace mojo::common {

// Maps a DLPack dtype to a MOJO_DT_* id; -1 when libmojo has no such dtype.
inline int dtype_id(mojo_dtype t) {
  if (t.lanes != 1) return -1;
  switch (t.code) {
    case MOJO_DTYPE_CODE_BFLOAT: return t.bits == 16 ? MOJO_DT_BF16 : -1;
    case MOJO_DTYPE_CODE_FLOAT: return t.bits == 16 ? MOJO_DT_FP16 : t.bits == 32 ? MOJO_DT_FP32 : -1;
    case MOJO_DTYPE_CODE_INT:
      return t.bits == 8 ? MOJO_DT_INT8 : t.bits == 32 ? MOJO_DT_INT32 : t.bits == 64 ? MOJO_DT_INT64 : -1;
    case MOJO_DTYPE_CODE_UINT: return t.bits == 8 ? MOJO_DT_UINT8 : -1;
    case MOJO_DTYPE_CODE_BOOL: return t.bits == 8 ? MOJO_DT_BOOL : -1;
    case MOJO_DTYPE_CODE_FLOAT8_E4M3FN: return t.bits == 8 ? MOJO_DT_FP8_E4M3FN : -1;
    case MOJO_DTYPE_CODE_FLOAT8_E5M2: return t.bits == 8 ? MOJO_DT_FP8_E5M2 : -1;
    default: return -1;
  }
}

inline mojo_dtype dtype_of_id(int id) {
  switch (id) {
    case MOJO_DT_BF16: return {MOJO_DTYPE_CODE_BFLOAT, 16, 1};
    case MOJO_DT_FP16: return {MOJO_DTYPE_CODE_FLOAT, 16, 1};
    case MOJO_DT_FP32: return {MOJO_DTYPE_CODE_FLOAT, 32, 1};
    case MOJO_DT_INT8: return {MOJO_DTYPE_CODE_INT, 8, 1};
    case MOJO_DT_UINT8: return {MOJO_DTYPE_CODE_UINT, 8, 1};
    case MOJO_DT_INT32: return {MOJO_DTYPE_CODE_INT, 32, 1};
    case MOJO_DT_INT64: return {MOJO_DTYPE_CODE_INT, 64, 1};
    case MOJO_DT_BOOL: return {MOJO_DTYPE_CODE_BOOL, 8, 1};
    case MOJO_DT_FP8_E4M3FN: return {MOJO_DTYPE_CODE_FLOAT8_E4M3FN, 8, 1};
    case MOJO_DT_FP8_E5M2: return {MOJO_DTYPE_CODE_FLOAT8_E5M2, 8, 1};
    default: return {0, 0, 0};
  }
}

inline const char *dtype_name(int id) {
  static const char *const names[MOJO_DT_COUNT] = {"bf16", "fp16", "fp32",  "int8",       "uint8",
                                                  "int32", "int64", "bool", "fp8_e4m3fn", "fp8_e5m2"};
  return id >= 0 && id < MOJO_DT_COUNT ? names[id] : "unknown";
}

inline int dtype_id_from_name(const char *name) {
  if (name == nullptr) return -1;
  for (int id = 0; id < MOJO_DT_COUNT; ++id)
    if (std::strcmp(dtype_name(id), name) == 0) return id;
  return -1;
}

inline int dtype_size(int id) {
  static const int sizes[MOJO_DT_COUNT] = {2, 2, 4, 1, 1, 4, 8, 1, 1, 1};
  return id >= 0 && id < MOJO_DT_COUNT ? sizes[id] : 0;
}

inline bool dtype_is_float(int id) {
  return id == MOJO_DT_BF16 || id == MOJO_DT_FP16 || id == MOJO_DT_FP32 || id == MOJO_DT_FP8_E4M3FN ||
         id == MOJO_DT_FP8_E5M2;
}

// ---- scalar conversions (round-to-nearest-even on the way down) --------------------------------------

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float bf16_to_float(uint16_t h) { return bits_float(uint32_t(h) << 16); }
inline uint16_t float_to_bf16(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline float fp16_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (man << 13));
  if (exp == 0) {
    float v = std::ldexp(float(man), -24);
    return sign ? -v : v;
  }
  return bits_float(sign | ((exp + 112) << 23) | (man << 13));
}
inline uint16_t float_to_fp16(float f) {
  uint32_t u = float_bits(f);
  uint16_t sign = uint16_t((u >> 16) & 0x8000);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00);
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00);  // rounds to >= 65520 -> inf
  if (a < 0x38800000u) {                                  // subnormal or zero: quantum 2^-24
    float v = bits_float(a);
    float q = std::nearbyint(v * 16777216.0f);             // default rounding mode is nearest-even
    return uint16_t(sign | uint16_t(q));
  }
  uint32_t rounded = a + 0xfffu + ((a >> 13) & 1u);
  return uint16_t(sign | uint16_t((rounded - 0x38000000u) >> 13));
}

// Generic fp8 with `man` mantissa bits and bias, saturating at `max_finite` (spec §1.7: clamp then RNE).
inline float fp8_decode(uint8_t v, int man_bits, int bias, bool e4m3fn) {
  int sign = v >> 7, exp = (v >> man_bits) & ((1 << (7 - man_bits)) - 1), man = v & ((1 << man_bits) - 1);
  float r;
  if (e4m3fn && exp == 15 && man == 7) return NAN;
  if (!e4m3fn && exp == 31) r = man ? NAN : INFINITY;
  else if (exp == 0) r = std::ldexp(float(man), 1 - bias - man_bits);
  else r = std::ldexp(float(man + (1 << man_bits)), exp - bias - man_bits);
  return sign ? -r : r;
}
inline uint8_t fp8_encode(float f, int man_bits, int bias, float max_finite, bool e4m3fn) {
  if (std::isnan(f)) return e4m3fn ? 0x7f : 0x7e;
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (a > max_finite) a = max_finite;
  int min_exp = 1 - bias;  // exponent of the smallest normal
  int e;
  std::frexp(a, &e);       // a = m * 2^e, m in [0.5,1)
  int exp_unbiased = e - 1;
  if (exp_unbiased < min_exp) exp_unbiased = min_exp;
  float quantum = std::ldexp(1.0f, exp_unbiased - man_bits);
  float q = std::nearbyint(a / quantum) * quantum;
  if (q > max_finite) q = max_finite;
  if (q == 0.0f) return sign;
  std::frexp(q, &e);
  exp_unbiased = e - 1;
  uint8_t bits;
  if (exp_unbiased < min_exp) {  // subnormal
    bits = uint8_t(q / std::ldexp(1.0f, min_exp - man_bits));
  } else {
    int mant = int(q / std::ldexp(1.0f, exp_unbiased - man_bits)) - (1 << man_bits);
    bits = uint8_t(((exp_unbiased + bias) << man_bits) | mant);
  }
  return uint8_t(sign | bits);
}
inline float fp8e4m3_to_float(uint8_t v) { return fp8_decode(v, 3, 7, true); }
inline uint8_t float_to_fp8e4m3(float f) { return fp8_encode(f, 3, 7, 448.0f, true); }
inline float fp8e5m2_to_float(uint8_t v) { return fp8_decode(v, 2, 15, false); }
inline uint8_t float_to_fp8e5m2(float f) { return fp8_encode(f, 2, 15, 57344.0f, false); }

// Reads element i of a buffer of dtype `id` as float (ints converted exactly where they fit).
inline float load_as_float(const void *base, int id, int64_t i) {
  switch (id) {
    case MOJO_DT_BF16: return bf16_to_float(static_cast<const uint16_t *>(base)[i]);
    case MOJO_DT_FP16: return fp16_to_float(static_cast<const uint16_t *>(base)[i]);
    case MOJO_DT_FP32: return static_cast<const float *>(base)[i];
    case MOJO_DT_INT8: return float(static_cast<const int8_t *>(base)[i]);
    case MOJO_DT_UINT8: return float(static_cast<const uint8_t *>(base)[i]);
    case MOJO_DT_INT32: return float(static_cast<const int32_t *>(base)[i]);
    case MOJO_DT_INT64: return float(static_cast<const int64_t *>(base)[i]);
    case MOJO_DT_BOOL: return static_cast<const uint8_t *>(base)[i] ? 1.0f : 0.0f;
    case MOJO_DT_FP8_E4M3FN: return fp8e4m3_to_float(static_cast<const uint8_t *>(base)[i]);
    case MOJO_DT_FP8_E5M2: return fp8e5m2_to_float(static_cast<const uint8_t *>(base)[i]);
    default: return NAN;
  }
}

// Rounds v once to dtype `id` and stores it (ints: round-half-even then saturate).
inline void store_from_float(void *base, int id, int64_t i, float v) {
  auto sat_round = [](float x, float lo, float hi) {
    if (std::isnan(x)) return 0.0f;
    float r = std::nearbyint(x);
    return r < lo ? lo : r > hi ? hi : r;
  };
  switch (id) {
    case MOJO_DT_BF16: static_cast<uint16_t *>(base)[i] = float_to_bf16(v); break;
    case MOJO_DT_FP16: static_cast<uint16_t *>(base)[i] = float_to_fp16(v); break;
    case MOJO_DT_FP32: static_cast<float *>(base)[i] = v; break;
    case MOJO_DT_INT8: static_cast<int8_t *>(base)[i] = int8_t(sat_round(v, -128.f, 127.f)); break;
    case MOJO_DT_UINT8: static_cast<uint8_t *>(base)[i] = uint8_t(sat_round(v, 0.f, 255.f)); break;
    case MOJO_DT_INT32: static_cast<int32_t *>(base)[i] = int32_t(sat_round(v, -2147483648.f, 2147483520.f)); break;
    case MOJO_DT_INT64: static_cast<int64_t *>(base)[i] = int64_t(std::nearbyint(v)); break;
    case MOJO_DT_BOOL: static_cast<uint8_t *>(base)[i] = v != 0.0f; break;
    case MOJO_DT_FP8_E4M3FN: static_cast<uint8_t *>(base)[i] = float_to_fp8e4m3(v); break;
    case MOJO_DT_FP8_E5M2: static_cast<uint8_t *>(base)[i] = float_to_fp8e5m2(v); break;
    default: break;
  }
}

// Rounds v to dtype `id` and back: the value a store then load would give.
inline float round_to_dtype(float v, int id) {
  unsigned char tmp[8];
  store_from_float(tmp, id, 0, v);
  return load_as_float(tmp, id, 0);
}

}  // namespace mojo::common
