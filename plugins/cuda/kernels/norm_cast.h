// Host entry point of residual_add_norm_cast (spec/norm.md): a mixed-precision residual stream where x, the
// residual, the weights and the output each have their own dtype (fp8 e4m3 output: y / out_scale saturated).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "launch.h"

namespace mojo::cuda {

struct NormCastArgs {
  Dt x_dtype, residual_dtype, weight_dtype, bias_dtype;
  Dt out_dtype;          // when !out_fp8
  bool out_fp8;
  int64_t rows, cols;
  const void *x, *residual, *weight, *bias;  // bias: nullptr = 0 (LayerNorm only)
  void *out, *residual_out;
  bool post, layer_norm;
  float eps, out_scale;
};
// cudaErrorNotSupported: rows longer than 16384.
cudaError_t launch_norm_cast(const NormCastArgs &a, cudaStream_t stream);

}  // namespace mojo::cuda
