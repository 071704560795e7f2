// Small builders shared by the case generators of the norm, activation, position, linear, quant and embedding
// categories: tensors with fills, per-dtype tolerances, labels.
#pragma once

#include <string>
#include <vector>

#include "case.h"

namespace mojo::conformance::helpers {

inline CaseTensor tensor(const std::string &name, int dt, std::vector<int64_t> shape, Fill fill = Fill::normal(1.0)) {
  CaseTensor t;
  t.name = name;
  t.dtype = dt;
  t.shape = std::move(shape);
  t.fill = std::move(fill);
  return t;
}

inline CaseTensor ints(const std::string &name, std::vector<int64_t> shape, const std::vector<int64_t> &v,
                       int dt = MOJO_DT_INT32) {
  return tensor(name, dt, std::move(shape), Fill::ints(v));
}

inline CaseTensor absent(const std::string &name) { return CaseTensor::absent(name); }

// One rounding to the dtype plus fp32 accumulation-order noise.
inline Tolerance float_tol(int dt) {
  return dt == MOJO_DT_FP32 ? Tolerance::close(1e-5, 1e-5)
         : dt == MOJO_DT_FP16 ? Tolerance::close(1e-3, 2e-3)
                              : Tolerance::close(1e-2, 1.6e-2);
}

// Quantized codes: int8 within one code, fp8 within one ulp (3 mantissa bits); scales within rtol 1e-3.
inline Tolerance code_tol(int qd) {
  return qd == MOJO_DT_FP8_E4M3FN ? Tolerance::close(1.0 / 256, 0.126) : Tolerance::close(1.0, 0.0);
}
inline Tolerance scale_tol() { return Tolerance::close(0.0, 1e-3); }

inline std::string dt_name(int dt) { return common::dtype_name(dt); }

inline std::string shape_label(const std::vector<int64_t> &s) {
  std::string out;
  for (int64_t d : s) out += (out.empty() ? "" : "x") + std::to_string(d);
  return "[" + out + "]";
}

inline std::vector<int64_t> cumsum(const std::vector<int64_t> &v) {
  std::vector<int64_t> c{0};
  for (int64_t x : v) c.push_back(c.back() + x);
  return c;
}

inline const int kFloat[] = {MOJO_DT_BF16, MOJO_DT_FP16, MOJO_DT_FP32};
inline const int kQuant[] = {MOJO_DT_INT8, MOJO_DT_FP8_E4M3FN};

}  // namespace mojo::conformance::helpers
