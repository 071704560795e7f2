// Host-side entry points of the cuda kernels: raw pointers, sizes and a stream, no allocation (FlashInfer's
// layering). The plugin maps a validated mojo_op_sig onto these; each returns the launch's cudaError_t.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mojo::cuda {

enum class Dt { F32, F16, BF16 };

enum class Quant { None, Int8, Fp8E4M3 };

// Row-wise norms over [rows, cols] contiguous tensors, optionally followed by per-row dynamic quantization
// (then `out` receives the int8/fp8 codes and `scale_out` one fp32 dequantization scale per row).
struct NormArgs {
  Dt dtype;            // x, residual, out, residual_out
  Dt weight_dtype;     // weight and bias (fp32 or the input dtype)
  int64_t rows, cols;
  const void *x;
  const void *residual;  // nullptr: s = x
  const void *weight;    // nullptr: 1
  const void *bias;      // nullptr: 0
  void *out;
  void *residual_out;    // nullptr for the plain norms
  bool post;             // residual_out = out instead of the sum
  bool layer_norm;       // LayerNorm (mean-centred) instead of RMSNorm
  bool normalize = true; // false: y = x (dynamic_quant)
  float eps;
  Quant quant = Quant::None;
  const void *smooth = nullptr;  // per-channel multiplier before quantizing (dtype smooth_dtype)
  Dt smooth_dtype = Dt::F32;
  float *scale_out = nullptr;
  bool unit_if_tiny = false;     // scale < 1e-6 becomes 1 (dynamic_quant's rule)
};
cudaError_t launch_norm(const NormArgs &a, cudaStream_t stream);

enum class Activation { Silu, GeluErf, GeluTanh, Swiglu };

struct ActivationArgs {
  Dt dtype;
  Activation kind;
  int64_t n;          // elements
  const void *x;      // gate for swiglu
  const void *up;     // swiglu only
  void *out;
  float limit;        // swiglu_limit (0 = off)
};
cudaError_t launch_activation(const ActivationArgs &a, cudaStream_t stream);

// apply_rope on contiguous q/k ([T, N, D] / [N, T, D] / [B, S, N, D] / [B, N, S, D]).
struct RopeTensor {
  const void *src;
  void *dst;
  int rank;              // 3 or 4
  int64_t rows;          // head vectors (all leading dims)
  int64_t heads, tokens; // N and T (or S)
  int64_t dim;           // Dh
};

struct RopeArgs {
  Dt dtype;              // q, k
  Dt table_dtype;        // cos, sin (fp32 or the q dtype)
  RopeTensor q, k;
  const void *cos, *sin; // [T|S, Dr] or [B, S, Dr]
  int64_t rope_dim;      // Dr
  bool table_batched;    // [B, S, Dr]
  bool head_first, interleaved;
};
cudaError_t launch_rope(const RopeArgs &a, cudaStream_t stream);

}  // namespace mojo::cuda
