// Kernels around the cuBLASLt GEMMs: the fp32 batch reduction of batch_linear(reduce_batch) and the pieces of
// quant_linear (int8 and fp8 e4m3fn codes): the dequantizing epilogue of a cuBLASLt product, the byte transpose of
// a KN weight, the fp32 copy of a bf16 scale vector, and a tiled kernel for the shapes cuBLASLt does not take.
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

// quant_linear: y[m, n] = cast((float(acc[m, n]) * x_scale[m]) * w_scale[n]), acc the sum of the code products
// (int8: int32, exact; fp8 e4m3fn: fp32).
struct QuantGemmArgs {
  Quant codes;             // Int8 or Fp8E4M3 (x and w)
  Dt out_dtype;
  Dt w_scale_dtype;        // bf16 or fp32
  int64_t m, n, k;
  const void *x;           // [M, K] codes
  const void *w;           // [N, K] (kn_layout false) or [K, N] codes
  bool kn_layout;
  const float *x_scale;    // [M]
  const void *w_scale;     // [N]
  void *out;               // [M, N]
};
// Dequantizing epilogue over a cuBLASLt product acc[M, N]: int32 for int8 codes, fp32 for fp8 codes.
cudaError_t launch_quant_dequant(const QuantGemmArgs &a, const void *acc, cudaStream_t stream);
// w [K, N] → wt [N, K] of one-byte codes, so a KN weight can take cuBLASLt's K-major int8 / fp8 paths.
cudaError_t launch_transpose_bytes(const uint8_t *w, uint8_t *wt, int64_t k, int64_t n, cudaStream_t stream);
// dst[i] = float(src[i]), i < n: a bf16 (or fp32) scale vector as the fp32 vector cuBLASLt's scale modes read.
cudaError_t launch_scale_to_f32(const void *src, Dt src_dtype, float *dst, int64_t n, cudaStream_t stream);
// The whole op in one tiled kernel, any M, N, K and both layouts: int8 with dp4a (exact int32), fp8 with fp32 FMAs.
cudaError_t launch_quant_gemm(const QuantGemmArgs &a, cudaStream_t stream);

}  // namespace mojo::cuda
