// The run metadata of the cuDNN SDPA fast path (cudnn/sdpa_paged.cpp): cuDNN takes per-sequence lengths, ragged
// element offsets and a page table of its graph's create-time size; this kernel derives them from the op's
// cu-lengths and block table on the device (no host sync: graph-capturable).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mojo::cuda {

struct CudnnPrefillMetadataArgs {
  const int32_t *cu_q;         // [run_batch + 1]
  const int32_t *cu_kv;        // [run_batch + 1]; nullptr: L = n
  const int32_t *block_table;  // [run_batch, run_max_blocks]
  const int32_t *error_word;   // the op's deferred-error word (set by the validation pass), or nullptr
  int64_t run_batch, run_max_blocks;
  int64_t num_blocks;  // NB: ids outside [0, NB) become 0 in the copy
  int64_t graph_batch, graph_max_blocks;
  int64_t row_elems;        // Hq * D: elements per query row
  int32_t *seq_q, *seq_kv;  // [graph_batch]
  int32_t *ragged;          // [graph_batch + 1]
  int32_t *page_table;      // [graph_batch, graph_max_blocks]
};

// Sequence b < run_batch gets n and L and the element offset cu_q[b] * Hq * D; a skipped one (n = 0 or L = 0),
// the rows past run_batch, and every row when the validation pass raised an error get n = 0 (cuDNN writes
// none of their rows: nothing is written for a bad call, as the op's contract requires) and L = 1. The page
// table is the block table with unused or invalid entries replaced by block 0 (never read past L).
cudaError_t launch_cudnn_prefill_metadata(const CudnnPrefillMetadataArgs &a, cudaStream_t stream);

}  // namespace mojo::cuda
