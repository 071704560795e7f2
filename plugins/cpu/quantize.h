// float -> int8 / fp8_e4m3fn quantization shared by every quantizing reference kernel (spec ops.md §1.7,
// norm.md §0 "DQ", linear_quant.md §5-7): round-half-to-even, clamp, and the per-token dynamic scale.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "kernel.h"
#include "mojo_common/dtype.h"

namespace mojo::cpu {

// Code range of a quant dtype: int8 [-128, 127], fp8_e4m3fn [-448, 448].
inline float quant_qmax(int dtype) { return dtype == MOJO_DT_FP8_E4M3FN ? 448.0f : 127.0f; }
inline float quant_qmin(int dtype) { return dtype == MOJO_DT_FP8_E4M3FN ? -448.0f : -128.0f; }

// The quantized value of v (already divided by its scale) as the fp32 value the code represents:
// int8 rounds half to even then clamps; fp8 clamps to +-448 then rounds to nearest even in fp8.
inline float quantize_value(float v, int dtype) {
  if (dtype == MOJO_DT_FP8_E4M3FN) return common::round_to_dtype(std::clamp(v, -448.0f, 448.0f), dtype);
  if (std::isnan(v)) return 0.0f;
  return std::clamp(std::nearbyint(v), quant_qmin(dtype), quant_qmax(dtype));
}

// Dynamic per-row dequantization scale: max(amax|v|, 1e-12) / qmax; with unit_if_tiny, a scale below 1e-6
// becomes 1.0 (the dynamic_quant / activation-quant rule; the norm-quant ops do not substitute).
inline float dynamic_scale(const float *v, int64_t n, int dtype, bool unit_if_tiny) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(v[i]));
  float scale = std::max(amax, 1e-12f) / quant_qmax(dtype);
  if (unit_if_tiny && scale < 1e-6f) scale = 1.0f;
  return scale;
}

// In place: v[i] = quantize_value(v[i] / scale) for a whole row; returns the scale used.
inline void quantize_row(float *v, int64_t n, float scale, int dtype) {
  for (int64_t i = 0; i < n; ++i) v[i] = quantize_value(v[i] / scale, dtype);
}

// The quant_dtype attribute as a dtype id, or -1 when it is not int8 / fp8_e4m3fn.
inline int quant_dtype_of(const KernelCall &c, const char *attr = "quant_dtype") {
  const int id = common::dtype_id_from_name(c.attr_string(attr).c_str());
  return id == MOJO_DT_INT8 || id == MOJO_DT_FP8_E4M3FN ? id : -1;
}

// UNSUPPORTED status for quant settings libmojo does not define (other quant dtypes, symmetric = false),
// or nullptr when the call's quant settings are supported. has_symmetric: the op has the attribute.
inline mojo_status *check_quant_attrs(const KernelCall &c, bool has_symmetric) {
  if (quant_dtype_of(c) < 0)
    return c.error(MOJO_STATUS_UNSUPPORTED,
                   "attribute 'quant_dtype' is '" + c.attr_string("quant_dtype") + "', supported: int8, fp8_e4m3fn");
  if (has_symmetric && !c.attr_bool("symmetric"))
    return c.error(MOJO_STATUS_UNSUPPORTED,
                   "attribute 'symmetric' = false (asymmetric quantization without a zero point) is unsupported");
  return nullptr;
}

}  // namespace mojo::cpu
