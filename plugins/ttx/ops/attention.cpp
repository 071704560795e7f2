// paged_decode_gqa: kernels/attention.py. A validation launch (one program per sequence) checks the block ids
// and lengths and raises into the op's error word; the attention launch, one program per (sequence, KV
// head), writes nothing once it is set.
#include <climits>
#include <cmath>

#include "../ops.h"

namespace mojo::ttx {
namespace {

constexpr int32_t kDecodePads[] = {64, 128, 256};  // aot/specs.py DECODE_TILES
constexpr int64_t kDecodeGroup = 16;

int decode_pad_index(int64_t head_dim) {
  for (int i = 0; i < 3; ++i)
    if (head_dim <= kDecodePads[i]) return i;
  return -1;
}

// Inputs: query, key_cache, value_cache, total_seq_lens, block_table, mask. Variants: validate, then one
// attention kernel per head-dim pad.
std::string paged_decode_gqa(const Call &c) {
  const mojo_tensor *q = c.input(0), *kc = c.input(1), *vc = c.input(2), *lens = c.input(3), *bt = c.input(4);
  const int64_t B = q->shape[0], hq = q->shape[1], D = q->shape[2], hkv = kc->shape[1];
  const int64_t n_blocks = kc->shape[0], block_size = kc->shape[2], max_blocks = bt->shape[1];
  const mojo_attr *scale_attr = common::find_attr(c.attrs, c.n_attrs, "softmax_scale");
  const float scale = scale_attr && scale_attr->count ? float(scale_attr->f) : float(1.0 / std::sqrt(double(D)));
  const mojo_attr *hint_attr = common::find_attr(c.attrs, c.n_attrs, "max_total_seq_len");
  const int64_t hint = hint_attr && hint_attr->count ? std::min<int64_t>(hint_attr->i, INT32_MAX) : -1;
  const void *err = reinterpret_cast<const void *>(c.error_word);
  ArgPack v;
  v.ptr(data_of(lens));
  v.ptr(data_of(bt));
  v.ptr(err);
  v.i32(int32_t(max_blocks));
  v.i32(int32_t(n_blocks));
  v.i32(int32_t(block_size));
  v.i32(int32_t(hint));
  if (std::string e = launch_grid(*c.driver, c.variants[0], B, 1, v, c.stream); !e.empty()) return e;
  ArgPack a;
  for (const mojo_tensor *t : {q, kc, vc, lens, bt}) a.ptr(data_of(t));
  a.ptr(data_of(c.output(0)));
  a.ptr(err);
  a.i32(int32_t(hq));
  a.i32(int32_t(hkv));
  a.i32(int32_t(D));
  a.i32(int32_t(max_blocks));
  a.i32(int32_t(block_size));
  a.f32(scale);
  a.i32(c.s("gqa_layout") == "ABAB" ? 0 : 1);
  return launch_grid(*c.driver, c.variants[1 + decode_pad_index(D)], B, hkv, a, c.stream);
}

std::vector<VariantRef> decode_variants(const char *dtype) {
  std::vector<VariantRef> v = {{"decode_validate_kernel", "one"}};
  for (int32_t pad : kDecodePads) v.push_back({"decode_kernel", std::string("dtype=") + dtype + " d=" + std::to_string(pad)});
  return v;
}

std::string accept_decode(const mojo_op_sig &sig, int *code) {
  const mojo_tensor *q = sig.inputs[0], *kc = sig.inputs[1], *mask = sig.n_inputs > 5 ? sig.inputs[5] : nullptr;
  const mojo_attr *causal = common::find_attr(sig.attrs, sig.n_attrs, "is_causal");
  *code = MOJO_DECLINE_OTHER;
  if (mask && causal && causal->count && !causal->i) return "ttx paged_decode_gqa takes no custom mask";
  *code = MOJO_DECLINE_SHAPE;
  if (decode_pad_index(q->shape[2]) < 0) return "ttx paged_decode_gqa takes head dims up to 256";
  if (q->shape[1] / kc->shape[1] > kDecodeGroup) return "ttx paged_decode_gqa takes at most 16 query heads per KV head";
  if (kc->shape[1] > 65535) return "ttx paged_decode_gqa takes at most 65535 KV heads";
  if (common::numel(*kc) > INT32_MAX * int64_t(64) || sig.inputs[4]->shape[1] > INT32_MAX)
    return "ttx paged_decode_gqa: cache or block table too large";
  return "";
}

std::string describe_decode_error(int32_t code) {
  switch (code) {
    case 1: return "'block_table' has a negative or out-of-range block id among a sequence's ceil(L/BS) needed columns";
    case 2: return "'total_seq_lens' has a length beyond the block table's MB * BS";
    case 3: return "'total_seq_lens' has a length above the max_total_seq_len hint";
    default: return "metadata error code " + std::to_string(code);
  }
}

}  // namespace

std::vector<OpDef> attention_ops() {
  const uint32_t half = (1u << MOJO_DT_BF16) | (1u << MOJO_DT_FP16);
  return {{{"paged_decode_gqa", half, MOJO_KERNEL_GRAPH_SAFE}, decode_variants, paged_decode_gqa, accept_decode,
           describe_decode_error}};
}

}  // namespace mojo::ttx
