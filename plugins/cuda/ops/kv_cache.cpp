// KV-cache family: paged_kv_store_plan, store_paged_kv_cache (legacy and plan paths),
// store_paged_mla_kv_cache and kv_cache_cast, through kernels/kv_store.h. Device metadata (lengths, block
// ids, plan rows) is checked on the device; a bad call raises the op's error word and writes nothing.
#include <algorithm>

#include "kv_addressing.h"

namespace mojo::cuda {

StoreAddressing store_addressing(const Call &c, size_t first_addressing_input, int64_t rows, const mojo_tensor *cache) {
  StoreAddressing a;
  a.rows = rows;
  a.num_blocks = cache->shape[0];
  a.block_size = cache->shape[2];
  const mojo_tensor *bt = c.input(first_addressing_input), *cu = c.input(first_addressing_input + 1),
                    *ctx = c.input(first_addressing_input + 2), *chunks = c.input(first_addressing_input + 3),
                    *count = c.input(first_addressing_input + 4);
  if (chunks) {
    a.chunks = static_cast<const int32_t *>(c.ptr(chunks));
    a.chunk_capacity = chunks->shape[0];
    a.num_chunks = static_cast<const int32_t *>(c.ptr(count));
    return a;
  }
  a.block_table = static_cast<const int32_t *>(c.ptr(bt));
  a.batch = bt->shape[0];
  a.max_blocks = bt->shape[1];
  a.cu_q_lens = static_cast<const int32_t *>(c.ptr(cu));
  a.context_lens = static_cast<const int32_t *>(c.ptr(ctx));
  return a;
}

namespace {

int64_t elem_bytes(const mojo_tensor *t) { return common::dtype_size(common::dtype_id(t->dtype)); }

// A [N, H, D] (or [N, D]: H = 1) states tensor and its [NB, H, BS, D] cache.
StoreTensor store_tensor(const Call &c, const mojo_tensor *states, const mojo_tensor *cache) {
  return {c.ptr(states), c.mut_ptr(cache), cache->shape[1], cache->shape[3] * elem_bytes(cache)};
}

std::string describe_store_error(int32_t code) { return store_error_text(code); }

// Inputs: key_states, value_states, key_cache, value_cache, block_table, cu_q_lens, context_kv_lens,
// chunk_metadata, num_chunks.
std::string store_paged_kv_cache(const Call &c) {
  const StoreAddressing a = store_addressing(c, 4, c.input(0)->shape[0], c.input(2));
  return cuda_message(launch_paged_store(a, store_tensor(c, c.input(0), c.input(2)),
                                         store_tensor(c, c.input(1), c.input(3)), c.error_word, c.stream));
}

// Inputs: compressed_kv_states, k_pe_states, compressed_kv_cache, k_pe_cache, block_table, cu_q_lens,
// context_kv_lens (no plan path in the schema).
std::string store_paged_mla_kv_cache(const Call &c) {
  StoreAddressing a;
  a.rows = c.input(0)->shape[0];
  a.num_blocks = c.input(2)->shape[0];
  a.block_size = c.input(2)->shape[2];
  a.block_table = static_cast<const int32_t *>(c.ptr(c.input(4)));
  a.batch = c.input(4)->shape[0];
  a.max_blocks = c.input(4)->shape[1];
  a.cu_q_lens = static_cast<const int32_t *>(c.ptr(c.input(5)));
  a.context_lens = static_cast<const int32_t *>(c.ptr(c.input(6)));
  return cuda_message(launch_paged_store(a, store_tensor(c, c.input(0), c.input(2)),
                                         store_tensor(c, c.input(1), c.input(3)), c.error_word, c.stream));
}

// Inputs: block_table, cu_q_lens, context_kv_lens; outputs: chunk_metadata, num_chunks.
std::string paged_kv_store_plan(const Call &c) {
  StorePlanArgs p{};
  const mojo_tensor *bt = c.input(0);
  p.addr.block_size = c.i("block_size");
  p.addr.block_table = static_cast<const int32_t *>(c.ptr(bt));
  p.addr.batch = bt->shape[0];
  p.addr.max_blocks = bt->shape[1];
  p.addr.cu_q_lens = static_cast<const int32_t *>(c.ptr(c.input(1)));
  p.addr.context_lens = static_cast<const int32_t *>(c.ptr(c.input(2)));
  p.chunks = static_cast<int32_t *>(c.mut_ptr(c.output(0)));
  p.capacity = c.output(0)->shape[0];
  p.num_chunks = static_cast<int32_t *>(c.mut_ptr(c.output(1)));
  return cuda_message(launch_store_plan(p, c.error_word, c.stream));
}

Elem elem_of(const mojo_tensor *t) {
  switch (common::dtype_id(t->dtype)) {
    case MOJO_DT_FP16: return Elem::F16;
    case MOJO_DT_BF16: return Elem::BF16;
    case MOJO_DT_INT8: return Elem::I8;
    case MOJO_DT_FP8_E4M3FN: return Elem::F8;
    default: return Elem::F32;
  }
}

// Inputs: src_cache, dst_cache (mutated), block_ids, scale.
std::string kv_cache_cast(const Call &c) {
  const mojo_tensor *src = c.input(0), *dst = c.input(1), *ids = c.input(2);
  CacheCastArgs a{};
  a.src_elem = elem_of(src);
  a.dst_elem = elem_of(dst);
  a.src = c.ptr(src);
  a.dst = c.mut_ptr(dst);
  a.block_size = src->shape[2];
  a.slot_dim = src->shape[3];
  a.block_elems = src->shape[1] * a.block_size * a.slot_dim;
  a.block_ids = static_cast<const int32_t *>(c.ptr(ids));
  a.num_selected = ids ? ids->shape[0] : src->shape[0];
  a.src_blocks = src->shape[0];
  a.dst_blocks = dst->shape[0];
  a.scale = static_cast<const float *>(c.ptr(c.input(3)));
  if (elem_bytes(src) != elem_bytes(dst)) {  // in place only with equal widths (host-visible, reported on device)
    const char *s0 = static_cast<const char *>(a.src), *d0 = static_cast<const char *>(a.dst);
    const char *s1 = s0 + common::numel(*src) * elem_bytes(src), *d1 = d0 + common::numel(*dst) * elem_bytes(dst);
    a.overlap = s0 < d1 && d0 < s1;
  }
  return cuda_message(launch_cache_cast(a, c.error_word, c.stream));
}

std::string describe_cast_error(int32_t code) {
  return code == kCastOverlap ? "'dst_cache' overlaps 'src_cache' in memory, allowed only when both dtypes have the same width"
                              : "'block_ids' holds an id outside [0, min(source blocks, destination blocks))";
}

}  // namespace

std::vector<Entry> kv_cache_entries() {
  const uint32_t i32 = 1u << MOJO_DT_INT32;
  const uint32_t quant = (1u << MOJO_DT_INT8) | (1u << MOJO_DT_FP8_E4M3FN);
  return {
      {{"paged_kv_store_plan", i32, kGraphSafe}, paged_kv_store_plan, nullptr, nullptr, nullptr, nullptr,
       describe_store_error},
      {{"store_paged_kv_cache", kFloatMask, kGraphSafe}, store_paged_kv_cache, nullptr, nullptr, nullptr, nullptr,
       describe_store_error},
      {{"store_paged_mla_kv_cache", kHalfMask, kGraphSafe}, store_paged_mla_kv_cache, nullptr, nullptr, nullptr,
       nullptr, describe_store_error},
      {{"kv_cache_cast", kFloatMask | quant, kGraphSafe}, kv_cache_cast, nullptr, nullptr, nullptr, nullptr,
       describe_cast_error},
  };
}

}  // namespace mojo::cuda
