// Host entry points of the position kernels beyond apply_rope (spec/position.md, docs/decisions/fused.md):
// the rotary cos/sin table and the fused per-head RMSNorm + RoPE (+ paged K/V store).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kv_store.h"
#include "launch.h"

namespace mojo::cuda {

// rotary_embedding. Exactly one mode: varlen (cu_q_lens), explicit (position_ids) or padded (neither).
struct RotaryTableArgs {
  int64_t rows;                 // varlen: rows of x; explicit: numel(position_ids); padded: S
  int64_t rope_dim;
  const float *inv_freq;        // [rope_dim / 2], computed on the host at create exactly as the reference does
  float scaling;
  int64_t max_len;              // init_max_length, -1 = none
  const int32_t *cu_q_lens;     // [B+1] (varlen)
  int64_t batch;
  const int32_t *total_seq_lens;  // [B] or nullptr (varlen)
  const int32_t *position_ids;  // explicit mode
  float *cos, *sin;             // [rows, rope_dim]
};
enum RotaryError : int32_t {
  kRotaryCuStart = 1,
  kRotaryCuDecreasing,
  kRotaryCuBeyondRows,
  kRotaryTotalBelowQ,
  kRotaryPosition,
};
cudaError_t launch_rotary_table(const RotaryTableArgs &a, int32_t *error_word, cudaStream_t stream);

// One [Tok, H, Dh] tensor of norm_rope: source, destination (nullptr: not written) and its norm weight.
struct HeadRopeTensor {
  const void *src;
  void *dst;
  int64_t heads;
  const void *weight;   // [Dh] or nullptr (apply_norm = false)
  Dt weight_dtype;
};

// norm_rope / norm_rope_store_kv: per (token, head) row RMSNorm over Dh (rounded to the dtype), then RoPE on
// the trailing rope_dim channels; with `store`, the rotated keys and v also go into the paged caches.
struct NormRopeArgs {
  Dt dtype;                  // q, k, v, outputs, caches
  Dt table_dtype;            // cos, sin
  int64_t tokens, head_dim, rope_dim;
  HeadRopeTensor q, k;
  const void *cos, *sin;     // [Tok, rope_dim]
  bool norm;
  float eps;
  bool interleaved;
  bool store = false;        // norm_rope_store_kv
  StoreAddressing addr;      // legacy or plan path
  bool chunk_pass = false;   // internal: the plan path's second pass (cache rows only)
  const void *v = nullptr;
  void *key_cache = nullptr, *value_cache = nullptr;
};
cudaError_t launch_norm_rope(const NormRopeArgs &a, int32_t *error_word, cudaStream_t stream);

}  // namespace mojo::cuda
