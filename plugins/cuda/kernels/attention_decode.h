// Host entry points of the paged decode attention kernels (paged_decode_gqa / paged_decode_swa, spec
// attention.md §2 and §6.4): raw pointers, sizes and a stream; no allocation, no device reads on the host.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/launch.h"

namespace mojo::cuda {

// Query tokens per CTA tile of the decode kernel (4 warps × 16 keys).
constexpr int kDecodeTileTokens = 64;

struct DecodeAttnArgs {
  Dt dtype;                   // bf16 or fp16 (query, caches, out)
  const void *q;              // [B, Hq, D]
  const void *k_cache;        // [NB, Hkv, BS, D]
  const void *v_cache;
  const int32_t *lens;        // [B] total_seq_lens
  const int32_t *block_table; // [B, MB]
  void *out;                  // [B, Hq, D]
  int batch, hq, hkv, head_dim, page_size, max_blocks, num_blocks;
  float scale;                // softmax scale (not yet multiplied by log2 e)
  bool grouped;               // AABB: g(h) = h / G; ABAB: g(h) = h % Hkv
  bool has_local, has_global; // the SWA window (already cleared when is_causal = false)
  int64_t local_window, global_window;
  int64_t max_len_hint;       // max_total_seq_len, -1 = none
  int splits;                 // flash-decoding splits per (sequence, KV head); 1 = write `out` directly
  bool merge_in_cluster;      // splits > 1 merge in a thread-block cluster (attention_decode_merges_in_cluster)
  // The workspace of a split run that does not merge in a cluster:
  float *partial_o;           // [splits, B, Hq, D] fp32
  float *partial_lse;         // [splits, B, Hq] fp32, log2 domain
  unsigned *split_tickets;    // [B, Hkv] (the validation pass zeroes them)
  int32_t *error_word;        // deferred metadata errors (codes below)
};

// Deferred error codes raised by the validation pass.
enum DecodeAttnError : int32_t {
  kDecodeLenBeyondTable = 1,  // ceil(L / BS) > MB
  kDecodeBadBlockId = 2,      // an id outside [0, NB) among the needed columns
  kDecodeHintTooSmall = 3,    // L > max_total_seq_len
};

// Whether a run with `splits` splits per (sequence, KV head) merges them inside a thread-block cluster on the
// current device (sm_90+, 2..8 splits whose rows fit rank 0's peer buffer). Such a run needs no workspace.
bool attention_decode_merges_in_cluster(int splits, int group, int head_dim);

// Bytes of workspace for `rows` = sequences × splits partial results and their split tickets (a one-split run
// needs none).
size_t attention_decode_workspace_bytes(int64_t rows, int64_t hq, int64_t hkv, int64_t head_dim);

// Prepares the kernel for (dtype, head_dim) on the current device (shared-memory opt-in) and returns how many
// CTAs fit on one SM and the SM count. head_dim must be 64, 128 or 256.
cudaError_t attention_decode_prepare(Dt dtype, int head_dim, int *ctas_per_sm, int *sm_count);

// Validation pass, then the attention kernel (whose last split per sequence and KV head merges the splits).
cudaError_t launch_attention_decode(const DecodeAttnArgs &a, cudaStream_t stream);

}  // namespace mojo::cuda
