// Kernels around the cuBLASLt GEMMs: the fp32 batch reduction of batch_linear(reduce_batch) and the W8A8
// pieces of quant_linear (the dequantizing epilogue of the int32 cuBLASLt product, and a tiled int8 kernel
// for the shapes and layouts cuBLASLt's int8 path does not take).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/launch.h"

namespace mojo::cuda {

// out[m, n] = cast(sum_b (partial[b, m, n] + bias[b, n])) with the sum in fp32; batch 0 writes zeros.
struct BatchReduceArgs {
  Dt dtype;             // out and bias
  int64_t batch, rows, cols;
  const float *partial; // [batch, rows, cols]
  const void *bias;     // [batch, cols] or nullptr
  void *out;            // [rows, cols]
};
cudaError_t launch_batch_reduce(const BatchReduceArgs &a, cudaStream_t stream);

// W8A8: y[m, n] = cast((float(acc[m, n]) * x_scale[m]) * w_scale[n]).
struct Int8GemmArgs {
  Dt out_dtype;
  Dt w_scale_dtype;        // bf16 or fp32
  int64_t m, n, k;
  const int8_t *x;         // [M, K]
  const int8_t *w;         // [N, K] (kn_layout false) or [K, N]
  bool kn_layout;
  const float *x_scale;    // [M]
  const void *w_scale;     // [N]
  void *out;               // [M, N]
};
// Dequantizing epilogue over an exact int32 product acc[M, N] (from cuBLASLt).
cudaError_t launch_int8_dequant(const Int8GemmArgs &a, const int32_t *acc, cudaStream_t stream);
// w [K, N] → wt [N, K] (int8), so a KN weight can take cuBLASLt's K-major int8 path.
cudaError_t launch_transpose_int8(const int8_t *w, int8_t *wt, int64_t k, int64_t n, cudaStream_t stream);
// The whole op in one tiled kernel (dp4a, int32 accumulation): any M, N, K and both layouts.
cudaError_t launch_int8_gemm(const Int8GemmArgs &a, cudaStream_t stream);

}  // namespace mojo::cuda
