// Checks shared by the quantizing-op tests: a per-row dynamic quantization (q, scale) against the fp64
// values it should encode, with the scale recomputed here as amax/qmax (spec ops.md §1.7).
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "op_test_support.h"

namespace mojo::tools {

inline double qmax_of(int qd) { return qd == MOJO_DT_FP8_E4M3FN ? 448.0 : 127.0; }

// want: fp64 values (after smoothing) of `rows` rows of n; unit_if_tiny: the scale < 1e-6 -> 1 rule.
// Quant -> dequant must land within one quantization step: half a code for int8, half an fp8 ulp for fp8.
inline void expect_dynamic_quant(const HostTensor &q, const HostTensor &scale, const std::vector<double> &want,
                                 int64_t n, bool unit_if_tiny, const std::string &what) {
  const int qd = q.dtype();
  const int64_t rows = int64_t(want.size()) / n;
  ASSERT_EQ(scale.numel(), rows) << what;
  const std::vector<float> qv = q.to_floats(), sv = scale.to_floats();
  for (int64_t r = 0; r < rows; ++r) {
    double amax = 0;
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(want[size_t(r * n + i)]));
    double s = std::max(amax, 1e-12) / qmax_of(qd);
    if (unit_if_tiny && s < 1e-6) s = 1.0;
    ASSERT_NEAR(sv[size_t(r)], s, 2e-5 * s) << what << " scale of row " << r;
    for (int64_t i = 0; i < n; ++i) {
      const double exact = want[size_t(r * n + i)] / s, code = qv[size_t(r * n + i)];
      // int8: half a code plus fp32 noise; fp8: half an ulp (3 mantissa bits), subnormal step 2^-9.
      const double step = qd == MOJO_DT_FP8_E4M3FN ? std::max(std::fabs(exact) / 16.0, 1.0 / 1024) : 0.5;
      ASSERT_LE(std::fabs(code - exact), step + 2e-3 + 1e-4 * std::fabs(exact))
          << what << " row " << r << " col " << i << ": code " << code << " for " << exact;
      ASSERT_LE(std::fabs(code), qmax_of(qd)) << what;
    }
  }
}

}  // namespace mojo::tools
