// The row normalisation of the reference norms (ops/norm.cpp), shared with the fused norm+rope kernels
// (ops/position.cpp) so that QK-norm is bit-identical to rms_norm.
#pragma once

#include <cstdint>

namespace mojo::cpu {

enum class NormKind { Rms, Layer };

// Normalises row `v` in place over n values: v = norm(v) * w (+ b), fp32/fp64 statistics. Absent
// weight/bias (nullptr) mean 1/0.
void normalize_row(NormKind kind, float *v, int64_t n, const float *w, const float *b, float eps);

}  // namespace mojo::cpu
