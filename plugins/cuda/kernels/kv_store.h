// Host entry points of the paged KV-cache kernels (spec/kv_cache.md): the store plan, the GQA / MLA paged
// stores (legacy block-table addressing or a chunk plan) and whole-block format conversion. Metadata lives
// on the device and is checked there (device_error.cuh): a validation pass raises a StoreError into the op's
// error word before any writer runs; the writers return at once when it is set.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "launch.h"

namespace mojo::cuda {

// Where the new token rows of a paged store go: the legacy arguments (block_table set) or a chunk plan.
struct StoreAddressing {
  int64_t rows = 0;          // N, token rows of the states
  int64_t num_blocks = 0;    // NB of the caches
  int64_t block_size = 0;    // BS
  // legacy path
  const int32_t *block_table = nullptr;  // [B, MB]
  int64_t batch = 0, max_blocks = 0;     // B, MB
  const int32_t *cu_q_lens = nullptr;    // [B+1]; nullptr = decode (token b belongs to sequence b)
  const int32_t *context_lens = nullptr; // [B], -1 = padding row
  // plan path
  const int32_t *chunks = nullptr;       // [C, 4] (src_token, block, offset, len)
  int64_t chunk_capacity = 0;            // C
  const int32_t *num_chunks = nullptr;   // [1] or nullptr = C rows
};

// Error codes raised by the store validation (the Entry's describe_error turns them into messages).
enum StoreError : int32_t {
  kStoreCuStart = 1,     // cu_q_lens[0] != 0
  kStoreCuDecreasing,    // cu_q_lens decreases
  kStoreCuBeyondRows,    // cu_q_lens[B] (decode: B) exceeds the states' rows
  kStoreCtxBelowMinus1,  // context_kv_lens < -1
  kStoreNumChunks,       // num_chunks outside [0, C]
  kStoreChunkRange,      // a chunk row outside the states or the cache
};
const char *store_error_text(int32_t code);

// The validation pass of a store (one small block); raises into error_word.
cudaError_t launch_store_validate(const StoreAddressing &a, int32_t *error_word, cudaStream_t stream);

// Rows copied by a store: `heads` rows of `row_bytes` per token, src [N, heads, row] contiguous, dst
// [NB, heads, BS, row] contiguous.
struct StoreTensor {
  const void *src;
  void *dst;
  int64_t heads, row_bytes;
};

// store_paged_kv_cache / store_paged_mla_kv_cache: validation, then one warp per token copying both tensors.
cudaError_t launch_paged_store(const StoreAddressing &a, const StoreTensor &first, const StoreTensor &second,
                               int32_t *error_word, cudaStream_t stream);

// paged_kv_store_plan: validation and the plan in one single-block kernel.
struct StorePlanArgs {
  StoreAddressing addr;   // legacy fields (rows unused: 0)
  int32_t *chunks;        // [C, 4]
  int64_t capacity;       // C
  int32_t *num_chunks;    // [1]
};
cudaError_t launch_store_plan(const StorePlanArgs &a, int32_t *error_word, cudaStream_t stream);

// kv_cache_cast: element kinds of the two caches.
enum class Elem { F32, F16, BF16, I8, F8 };

struct CacheCastArgs {
  Elem src_elem, dst_elem;
  const void *src;
  void *dst;
  int64_t block_elems;        // Hkv * BS * D
  int64_t slot_dim;           // D
  int64_t block_size;         // BS
  const int32_t *block_ids;   // nullptr = every block
  int64_t num_selected;       // NBsel (or NB when block_ids is null)
  int64_t src_blocks, dst_blocks;
  const float *scale;         // [Hkv, D] or nullptr
  bool overlap;               // caches overlap with different element widths (raised as an error)
};
enum CastError : int32_t { kCastBlockId = 1, kCastOverlap };
cudaError_t launch_cache_cast(const CacheCastArgs &a, int32_t *error_word, cudaStream_t stream);

}  // namespace mojo::cuda
