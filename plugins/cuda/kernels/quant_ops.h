// Host entry points of the quantizing kernels beyond the norms (spec/linear_quant.md §5-7, activation.md):
// static_quant, dequant and the activation + per-row dynamic quant fusions (silu/gelu/swiglu_quant).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "launch.h"

namespace mojo::cuda {

// q = code(x / scale) with scale broadcast over the leading dims (scale has x's trailing scale_n elements).
struct StaticQuantArgs {
  Dt dtype, scale_dtype;
  Quant quant;
  int64_t n, scale_n;
  const void *x, *scale;
  void *q;
};
cudaError_t launch_static_quant(const StaticQuantArgs &a, cudaStream_t stream);

// out = cast(float(q) * float(scale)), scale broadcast numpy-style (stride 0 on broadcast dims).
enum class Code { Int8, Fp8, Int32 };
struct DequantArgs {
  Code code;
  Dt out_dtype, scale_dtype;
  int rank;
  int64_t shape[8];         // q's shape
  int64_t scale_stride[8];  // element stride of scale along each of q's dims (0 = broadcast)
  int64_t n;
  const void *q, *scale;
  void *out;
};
cudaError_t launch_dequant(const DequantArgs &a, cudaStream_t stream);

// a = act(gate[, up]) in fp32, times smooth (per channel, or per expert row group[row]), then one dynamic
// scale per row: max(amax, 1e-12) / qmax, 1 when < 1e-6; q = code(a / scale).
struct ActQuantArgs {
  Dt dtype;
  Activation kind;
  Quant quant;
  int64_t rows, n;            // q is [rows, n]
  const void *gate;           // x, or its gate half
  int64_t gate_stride;        // elements between rows
  const void *up;             // swiglu: separate tensor or the other half of x
  int64_t up_stride;
  const void *smooth;         // [N] or [E, N] (nullptr: none)
  Dt smooth_dtype;
  int64_t experts;            // E when smooth is [E, N] (then group holds each row's expert), else 0
  const int32_t *group;
  float limit;                // swiglu_limit
  void *q;
  float *scale;
};
enum ActQuantError : int32_t { kActQuantGroup = 1 };
// cudaErrorNotSupported: rows longer than the register path holds.
cudaError_t launch_act_quant(const ActQuantArgs &a, int32_t *error_word, cudaStream_t stream);

}  // namespace mojo::cuda
