// The paged-store addressing of a call, shared by store_paged_kv_cache (ops/kv_cache.cpp) and
// norm_rope_store_kv (ops/position_fused.cpp), whose addressing inputs have the same schema order.
#pragma once

#include "kernels/kv_store.h"
#include "op_entry.h"

namespace mojo::cuda {

// Inputs first_addressing_input .. +4: block_table, cu_q_lens, context_kv_lens, chunk_metadata, num_chunks.
// `rows` is the number of token rows, `cache` one of the [NB, H, BS, D] caches.
StoreAddressing store_addressing(const Call &c, size_t first_addressing_input, int64_t rows, const mojo_tensor *cache);

}  // namespace mojo::cuda
