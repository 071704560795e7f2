// Host entry point of residual_add_norm_cast (spec/norm.md §6) over [rows, cols] contiguous tensors: a
// mixed-precision residual stream where x, the residual (and residual_out), the weight, the bias and out each
// have their own dtype.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "launch.h"

namespace mojo::cuda {

struct NormCastArgs {
  Dt x_dtype, residual_dtype, weight_dtype, bias_dtype;
  Dt out_dtype;  // when !out_fp8
  bool out_fp8;  // out holds fp8 e4m3fn codes of y / out_scale (saturated, RNE)
  int64_t rows, cols;
  const void *x, *residual, *weight;
  const void *bias;  // nullptr: 0 (LayerNorm only)
  void *out, *residual_out;
  bool post;        // residual_out = round(y) instead of the sum
  bool layer_norm;  // LayerNorm (mean-centred) instead of RMSNorm
  float eps, out_scale;
};

// The row is held in one block's registers.
constexpr int64_t kNormCastMaxCols = 16384;
constexpr int64_t kNormCastMaxRows = 0x7fffffff;  // one block per row

// cudaErrorNotSupported: rows longer than kNormCastMaxCols or more than kNormCastMaxRows of them.
cudaError_t launch_norm_cast(const NormCastArgs &a, cudaStream_t stream);

}  // namespace mojo::cuda
