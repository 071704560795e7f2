// Prefill attention family: paged_prefill_gqa, paged_prefill_swa and swa_varlen through one FlashAttention-2
// style kernel (kernels/attention_prefill.cuh); the paged ops take cuDNN's SDPA instead where it computes the
// signature exactly (cudnn/sdpa_paged.h, decided per op handle at create). Metadata (cu-lengths, block ids,
// hints) is checked on the device before anything is written (deferred errors), on both paths.
#include <cmath>

#include "cudnn/sdpa_paged.h"
#include "kernels/attention_prefill.h"
#include "op_entry.h"

namespace mojo::cuda {
namespace {

// An optional Int attribute, -1 when null (windows and hints are >= 0 by schema rule).
int64_t optional_int(const Call &c, const char *name) {
  const mojo_attr *a = common::find_attr(c.attrs, c.n_attrs, name);
  return a && a->count ? a->i : -1;
}

PrefillArgs common_args(const Call &c, const mojo_tensor *kv, int64_t hkv, bool swa) {
  PrefillArgs a{};
  const mojo_tensor *q = c.input(0);
  a.dtype = dt_of(q);
  a.q = c.ptr(q);
  a.out = c.mut_ptr(c.output(0));
  a.k = c.ptr(c.input(1));
  a.v = c.ptr(c.input(2));
  a.q_rows = q->shape[0];
  a.hq = int(q->shape[1]);
  a.head_dim = int(q->shape[2]);
  a.hkv = int(hkv);
  a.kv_rows = kv->shape[0];
  const mojo_attr *scale = common::find_attr(c.attrs, c.n_attrs, "softmax_scale");
  a.scale = scale && scale->count ? float(scale->f) : float(1.0 / std::sqrt(double(a.head_dim)));
  a.causal = c.b("is_causal");
  a.grouped = c.s("gqa_layout") != "ABAB";
  a.local_window = swa && a.causal ? optional_int(c, "local_window_size") : -1;
  a.global_window = swa && a.causal ? optional_int(c, "global_window_size") : -1;
  a.max_q_hint = optional_int(c, "max_q_len");
  a.max_kv_hint = optional_int(c, "max_total_seq_len");
  a.error_word = c.error_word;
  return a;
}

// Inputs: query, key_cache, value_cache, cu_q_lens, block_table, cu_total_seq_lens, [mask].
std::string run_paged(const Call &c, bool swa) {
  const mojo_tensor *kc = c.input(1), *table = c.input(4);
  PrefillArgs a = common_args(c, kc, kc->shape[1], swa);
  a.pages = PageDivider::of(int(kc->shape[2]));
  a.cu_q = static_cast<const int32_t *>(c.ptr(c.input(3)));
  a.block_table = static_cast<const int32_t *>(c.ptr(table));
  a.cu_kv = static_cast<const int32_t *>(c.ptr(c.input(5)));
  a.batch = int(table->shape[0]);
  a.max_blocks = table->shape[1];
  std::string error;
  if (c.impl && cudnn_sdpa::run(*static_cast<const cudnn_sdpa::PagedPrefill *>(c.impl), a, c.workspace,
                                c.workspace_bytes, c.stream, &error))
    return error;
  return cuda_message(launch_attention_prefill(a, c.stream));
}

// The cuDNN graph of the signature, or none (impl stays nullptr: every run takes the kernel above).
std::string prepare_paged(State &, const mojo_op_sig &sig, void **impl, size_t *workspace_bytes) {
  *impl = cudnn_sdpa::create(sig, workspace_bytes);
  return "";
}

void release_paged(void *impl) { cudnn_sdpa::destroy(static_cast<cudnn_sdpa::PagedPrefill *>(impl)); }

std::string paged_prefill_gqa(const Call &c) { return run_paged(c, false); }
std::string paged_prefill_swa(const Call &c) { return run_paged(c, true); }

// Inputs: query, key, value, cu_q_lens, cu_total_seq_lens.
std::string swa_varlen(const Call &c) {
  const mojo_tensor *k = c.input(1);
  PrefillArgs a = common_args(c, k, k->shape[1], true);
  a.cu_q = static_cast<const int32_t *>(c.ptr(c.input(3)));
  a.cu_kv = static_cast<const int32_t *>(c.ptr(c.input(4)));
  a.batch = int(c.input(3)->shape[0] - 1);
  return cuda_message(launch_attention_prefill(a, c.stream));
}

std::string accept_prefill(const mojo_op_sig &sig, int *code) {
  const mojo_tensor *q = sig.inputs[0];
  *code = MOJO_DECLINE_SHAPE;
  if (!prefill_head_dim_supported(int(q->shape[2])))
    return "head dim " + std::to_string(q->shape[2]) + " (cuda prefill attention supports 64, 96, 128, 256)";
  // The grid's y extent holds T/BM + B tile slots (BM >= 64) and is limited to 65535.
  const int64_t batch = sig.inputs[3]->shape[0] - 1;  // cu_q_lens [B+1] in all three ops
  if (q->shape[0] / 64 + batch > 65535)
    return "cuda prefill attention takes at most 65535 tile slots (query rows / 64 + sequences)";
  if (sig.n_inputs > 6 && sig.inputs[6] != nullptr) {
    *code = MOJO_DECLINE_ATTR;
    return "custom attention masks (MOJO_CAP_ATTN_CUSTOM_MASK) are not supported by the cuda plugin";
  }
  return "";
}

std::string describe_prefill_error(int32_t code) {
  switch (code) {
    case kPrefillBadCuQ:
      return "'cu_q_lens' must start at 0, be non-decreasing and end at most at the query rows";
    case kPrefillBadCuKv:
      return "'cu_total_seq_lens' must start at 0, be non-decreasing (and, for packed keys, end at most at the "
             "key rows)";
    case kPrefillShortKv: return "a causal sequence has more new tokens than total KV tokens (expected L >= n)";
    case kPrefillTableTooNarrow: return "a sequence needs more block-table columns than 'block_table' has";
    case kPrefillBadBlockId:
      return "'block_table' has a negative or out-of-range block id inside a sequence's needed range";
    case kPrefillMaxQHint: return "attribute 'max_q_len' is smaller than a sequence's q length";
    case kPrefillMaxKvHint: return "attribute 'max_total_seq_len' is smaller than a sequence's kv length";
    default: return "invalid metadata (code " + std::to_string(code) + ")";
  }
}

}  // namespace

std::vector<Entry> attention_prefill_entries() {
  return {
      {{"paged_prefill_gqa", kHalfMask, kGraphSafe}, paged_prefill_gqa, accept_prefill, prepare_paged, release_paged,
       nullptr, describe_prefill_error},
      {{"paged_prefill_swa", kHalfMask, kGraphSafe}, paged_prefill_swa, accept_prefill, prepare_paged, release_paged,
       nullptr, describe_prefill_error},
      {{"swa_varlen", kHalfMask, kGraphSafe}, swa_varlen, accept_prefill, nullptr, nullptr, nullptr,
       describe_prefill_error},
  };
}

}  // namespace mojo::cuda
