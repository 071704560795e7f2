// How a paged_prefill_gqa / paged_prefill_swa signature maps onto cuDNN's SDPA with paged K/V caches and a
// ragged (packed) query, and which calls decline to the cuda kernel. Host-only and free of cuDNN and CUDA
// headers, so tests/cuda checks it without a GPU; cudnn/sdpa_paged.cpp builds the graph from a PagedPlan.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "mojo/mojo_plugin.h"

namespace mojo::cuda::cudnn_sdpa {

// One cuDNN tensor: dims and strides in elements, cuDNN's 4-D order.
struct Tensor4 {
  int64_t dim[4];
  int64_t stride[4];
};

// The graph of one op handle, fixed at create from the signature's shapes (the create-time maxima).
struct PagedPlan {
  bool bf16 = false;  // else fp16
  int64_t batch = 0;  // B: seq_len / page-table rows
  int64_t rows = 0;   // T: packed query rows
  int64_t hq = 0, hkv = 0, head_dim = 0;
  int64_t num_blocks = 0;   // NB
  int64_t page_size = 0;    // BS
  int64_t max_blocks = 0;   // MB: page-table columns
  int64_t max_q = 0;        // cuDNN's s_q: a bound on every sequence's n (T, MB*BS if causal, max_q_len)
  int64_t max_kv = 0;       // cuDNN's s_kv: MB*BS, or max_total_seq_len when smaller
  int64_t max_q_hint = -1;  // the max_q_len attribute (-1: null)
  float scale = 0;
  bool causal = false;     // bottom-right diagonal, right bound 0
  int64_t left_bound = 0;  // > 0: cuDNN keeps key j of query position pos when pos - j < left_bound (Wl + 1)
  Tensor4 q, o;            // [B, Hq, s_q, D] over the packed [T, Hq, D] rows, placed by ragged offsets
  Tensor4 k, v;            // the caches as cuDNN's paged containers [NB, Hkv, BS, D]
  Tensor4 page_table;      // [B, 1, MB, 1] int32 (a sanitised copy in the workspace)
  Tensor4 seq_len;         // [B, 1, 1, 1] int32, for seq_len_q and seq_len_kv
  Tensor4 ragged;          // [B+1, 1, 1, 1] int32 element offsets of each sequence's first row (Q and O)
};

// "" and *out filled when the signature maps exactly onto cuDNN's paged SDPA; otherwise why not (the cuda
// kernel serves the op). Inputs in schema order: query, key_cache, value_cache, cu_q_lens, block_table,
// cu_total_seq_lens, [mask].
std::string plan_paged_prefill(const mojo_op_sig &sig, PagedPlan *out);

// The sizes and pointers of one run (a view of PrefillArgs, kept free of CUDA types).
struct RunShape {
  int64_t batch, rows, hq, hkv, head_dim, num_blocks, page_size, max_blocks;
  const void *q, *out, *k, *v;
};

// "" when a run fits the graph built for `p`, else why not (the cuda kernel runs that call): nothing to
// compute, sizes past the create-time ones, a bound on n above the graph's s_q, int32 offset overflow, or a
// pointer cuDNN's 16-byte loads cannot take.
std::string fit_run(const PagedPlan &p, const RunShape &r);

// Byte offsets of the run metadata placed after cuDNN's own workspace (each 256-byte aligned).
struct WorkspaceLayout {
  size_t seq_q = 0, seq_kv = 0, ragged = 0, page_table = 0;
  size_t bytes = 0;  // the op's whole workspace
};
WorkspaceLayout workspace_layout(const PagedPlan &p, size_t cudnn_bytes);

// True only when MOJO_CUDA_CUDNN_SDPA is "1": the path is opt-in (H100, page 16: 7-11% faster than the cuda kernel
// on one sequence, 1.5-1.6x slower on ragged batches; docs/decisions/cuda_attention_prefill.md).
bool enabled_by_env();

}  // namespace mojo::cuda::cudnn_sdpa
