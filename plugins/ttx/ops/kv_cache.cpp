// store_paged_kv_cache: kernels/kv_cache.py. A one-program validation launch checks the device-resident
// lengths or plan and raises into the op's error word; the store launch then writes all or nothing.
#include <algorithm>
#include <climits>

#include "../ops.h"

namespace mojo::ttx {
namespace {

// Inputs: key_states, value_states, key_cache, value_cache, block_table, cu_q_lens, context_kv_lens,
// chunk_metadata, num_chunks. Variants: validate, legacy store, plan store.
enum { kValidate = 0, kLegacy = 1, kPlan = 2 };

std::string store_paged_kv_cache(const Call &c) {
  const mojo_tensor *ks = c.input(0), *vs = c.input(1), *kc = c.input(2), *vc = c.input(3);
  const mojo_tensor *bt = c.input(4), *cu = c.input(5), *ctx = c.input(6), *meta = c.input(7), *count = c.input(8);
  const int64_t n_rows = ks->shape[0], heads = ks->shape[1], head_dim = ks->shape[2];
  const int64_t n_blocks = kc->shape[0], block_size = kc->shape[2];
  const void *err = reinterpret_cast<const void *>(c.error_word);
  const void *any = data_of(ks);  // stands in for absent metadata; the kernels never read it then
  auto or_any = [&](const mojo_tensor *t) { return t ? data_of(t) : any; };
  const int64_t n_seqs = bt ? bt->shape[0] : 0, n_chunks = meta ? meta->shape[0] : 0;
  ArgPack v;
  v.ptr(or_any(cu));
  v.ptr(or_any(ctx));
  v.ptr(or_any(meta));
  v.ptr(or_any(count));
  v.ptr(err);
  v.i32(int32_t(n_seqs));
  v.i32(int32_t(n_rows));
  v.i32(int32_t(n_chunks));
  v.i32(int32_t(n_blocks));
  v.i32(int32_t(block_size));
  v.i32(meta ? 2 : cu ? 1 : 0);
  v.i32(count ? 1 : 0);
  if (std::string e = launch_grid(*c.driver, c.variants[kValidate], 1, 1, v, c.stream); !e.empty()) return e;
  ArgPack a;
  for (const mojo_tensor *t : {ks, vs, kc, vc}) a.ptr(data_of(t));
  if (meta) {
    const int64_t stride = std::min<int64_t>(block_size, 64);  // a chunk never spans more than one block
    a.ptr(data_of(meta));
    a.ptr(or_any(count));
    a.ptr(err);
    a.i32(int32_t(n_chunks));
    a.i32(count ? 1 : 0);
    a.i32(int32_t(heads * head_dim));
    a.i32(int32_t(head_dim));
    a.i32(int32_t(block_size));
    a.i32(int32_t(stride));
    return launch_grid(*c.driver, c.variants[kPlan], n_chunks, stride, a, c.stream);
  }
  // Token s of a sequence goes to program (b, s % stride): enough programs for long prefills.
  const int64_t stride = cu ? std::max<int64_t>(1, std::min<int64_t>(n_rows, 256)) : 1;
  a.ptr(data_of(bt));
  a.ptr(or_any(cu));
  a.ptr(data_of(ctx));
  a.ptr(err);
  a.i32(int32_t(n_rows));
  a.i32(int32_t(bt->shape[1]));
  a.i32(int32_t(n_blocks));
  a.i32(int32_t(block_size));
  a.i32(int32_t(heads * head_dim));
  a.i32(int32_t(head_dim));
  a.i32(cu ? 0 : 1);
  a.i32(int32_t(stride));
  return launch_grid(*c.driver, c.variants[kLegacy], n_seqs, stride, a, c.stream);
}

std::vector<VariantRef> kv_variants(const char *dtype) {
  const std::string width = std::string(dtype) == "fp32" ? "elem=4" : "elem=2";
  return {{"kv_validate_kernel", "one"}, {"kv_store_legacy_kernel", width}, {"kv_store_plan_kernel", width}};
}

std::string accept_store(const mojo_op_sig &sig, int *code) {
  *code = MOJO_DECLINE_SHAPE;
  const mojo_tensor *ks = sig.inputs[0], *kc = sig.inputs[2];
  if (common::numel(*ks) > INT32_MAX || common::numel(*kc) / kc->shape[0] > INT32_MAX || kc->shape[0] > INT32_MAX)
    return "ttx store_paged_kv_cache takes states below 2^31 elements and blocks below 2^31 elements";
  return "";
}

// Codes of kernels/kv_cache.py.
std::string describe_store_error(int32_t code) {
  switch (code) {
    case 1: return "'cu_q_lens'[0] is not 0";
    case 2: return "'cu_q_lens' decreases, expected non-decreasing offsets";
    case 3: return "'cu_q_lens'[B] exceeds the token rows of the states";
    case 4: return "'context_kv_lens' has an entry below -1 (expected >= 0 or -1 for a padding row)";
    case 5: return "'num_chunks' is outside [0, rows of 'chunk_metadata']";
    case 6: return "'chunk_metadata' has a row out of range (states rows, blocks or block size)";
    default: return "metadata error code " + std::to_string(code);
  }
}

}  // namespace

std::vector<OpDef> kv_cache_ops() {
  return {{{"store_paged_kv_cache", kFloatMask, MOJO_KERNEL_GRAPH_SAFE}, kv_variants, store_paged_kv_cache,
           accept_store, describe_store_error}};
}

}  // namespace mojo::ttx
