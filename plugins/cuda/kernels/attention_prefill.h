// Host entry of the varlen prefill attention kernels (paged_prefill_gqa, paged_prefill_swa, swa_varlen):
// raw pointers, sizes and a stream, no allocation, nothing read back on the host (graph-capturable).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "launch.h"
#include "page_divider.h"

namespace mojo::cuda {

// Codes the validation pass raises into the op's error word (ops/attention_prefill.cpp describes them).
enum PrefillError : int32_t {
  kPrefillBadCuQ = 1,        // cu_q_lens[0] != 0, decreasing, or cu_q_lens[B] > query rows
  kPrefillBadCuKv = 2,       // the same for cu_total_seq_lens (row bound only for packed keys)
  kPrefillShortKv = 3,       // causal sequence with L < n
  kPrefillTableTooNarrow = 4,// ceil(L / BS) > MB
  kPrefillBadBlockId = 5,    // a needed block id outside [0, NB)
  kPrefillMaxQHint = 6,      // max_q_len < some n
  kPrefillMaxKvHint = 7,     // max_total_seq_len < some L
};

struct PrefillArgs {
  Dt dtype;                      // bf16 or fp16 (query, keys, values, out)
  const void *q;                 // [T, Hq, D]
  void *out;                     // [T, Hq, D]
  const void *k, *v;             // paged [NB, Hkv, BS, D] (block_table set) or packed [Tk, Hkv, D]
  const int32_t *cu_q;           // [B+1]
  const int32_t *cu_kv;          // [B+1]; nullptr: L = n (paged only)
  const int32_t *block_table;    // [B, MB]; nullptr: packed keys
  int64_t q_rows;                // T
  int64_t kv_rows;               // Tk (packed) or NB (paged)
  int64_t max_blocks;            // MB
  int batch, hq, hkv, head_dim;
  PageDivider pages;             // of the page size BS (paged)
  float scale;
  bool causal, grouped;          // grouped: AABB (h / G), else ABAB (h % Hkv)
  int64_t local_window;          // Wl, -1 = none (only with causal)
  int64_t global_window;         // Wg, -1 = none (only with causal)
  int64_t max_q_hint, max_kv_hint;  // -1 = not given
  int32_t *error_word;
};

// True for the head dims the kernel is instantiated for.
bool prefill_head_dim_supported(int head_dim);
// The metadata validation pass (raises PrefillError codes into a.error_word), then the attention kernel.
cudaError_t launch_attention_prefill(const PrefillArgs &a, cudaStream_t stream);
// The validation pass alone, for another writer that returns when the word is set (cudnn/sdpa_paged.cpp).
cudaError_t launch_prefill_validation(const PrefillArgs &a, cudaStream_t stream);

}  // namespace mojo::cuda
