// paged_prefill_gqa: kernels/attention_prefill.py. A validation launch (one program per sequence) checks the
// cu-lengths, hints and needed block ids and raises into the op's error word; then one attention launch over
// (T / BLOCK_M + B tile slots, Hq) for the whole batch: each program finds its sequence on the device, so the
// host never loops over sequences nor reads lengths back (graph-safe).
#include <algorithm>
#include <climits>
#include <cmath>

#include "../choose.h"
#include "../ops.h"

namespace mojo::ttx {
namespace {

// aot/specs.py PREFILL_TILES: the head-dim pads and each one's BLOCK_M in the aligned and the plain form.
struct PrefillTile {
  int32_t d_pad, bm_aligned, bm_plain;
};
constexpr PrefillTile kPrefillTiles[] = {{64, 128, 128}, {128, 128, 64}, {256, 64, 32}};
constexpr int kPrefillTileCount = sizeof kPrefillTiles / sizeof kPrefillTiles[0];

// Codes prefill_validate_kernel raises (the cuda plugin's, kernels/attention_prefill.h).
enum PrefillError : int32_t {
  kBadCuQ = 1,
  kBadCuKv = 2,
  kShortKv = 3,
  kTableTooNarrow = 4,
  kBadBlockId = 5,
  kMaxQHint = 6,
  kMaxKvHint = 7,
};

int prefill_tile_index(int64_t head_dim) {
  for (int i = 0; i < kPrefillTileCount; ++i)
    if (head_dim <= kPrefillTiles[i].d_pad) return i;
  return -1;
}

int32_t block_m(int tile, bool aligned) {
  return aligned ? kPrefillTiles[tile].bm_aligned : kPrefillTiles[tile].bm_plain;
}

std::string prefill_key(const char *dtype, int tile, bool aligned) {
  return std::string("dtype=") + dtype + " d=" + std::to_string(kPrefillTiles[tile].d_pad) +
         " bm=" + std::to_string(block_m(tile, aligned)) + " aligned=" + (aligned ? "1" : "0");
}

bool is_causal(const mojo_attr *attrs, size_t n_attrs) {
  const mojo_attr *a = common::find_attr(attrs, n_attrs, "is_causal");
  return !(a && a->count) || a->i != 0;  // schema default: true
}

// An optional Int hint, -1 when null (>= 0 by schema rule), clamped to the kernel's int32.
int32_t hint_of(const Call &c, const char *name) {
  const mojo_attr *a = common::find_attr(c.attrs, c.n_attrs, name);
  return a && a->count ? int32_t(std::min<int64_t>(a->i, INT32_MAX)) : -1;
}

// Inputs: query, key_cache, value_cache, cu_q_lens, block_table, cu_total_seq_lens, mask. Variants: validate,
// then per head-dim pad the plain and the aligned attention kernel.
std::string paged_prefill_gqa(const Call &c) {
  const mojo_tensor *q = c.input(0), *kc = c.input(1), *vc = c.input(2), *cu_q = c.input(3), *bt = c.input(4),
                    *cu_kv = c.input(5), *out = c.output(0);
  const int64_t T = q->shape[0], hq = q->shape[1], D = q->shape[2], hkv = kc->shape[1];
  const int64_t B = bt->shape[0], n_blocks = kc->shape[0], block_size = kc->shape[2], max_blocks = bt->shape[1];
  if (B == 0) return "";  // cu_q_lens = [0]: nothing to check or write
  const mojo_attr *scale_attr = common::find_attr(c.attrs, c.n_attrs, "softmax_scale");
  const float scale = scale_attr && scale_attr->count ? float(scale_attr->f) : float(1.0 / std::sqrt(double(D)));
  const bool causal = is_causal(c.attrs, c.n_attrs);
  // Without cu_total_seq_lens (L = n) the kernels never read it; cu_q_lens stands in as a valid address.
  const void *cu_kv_ptr = cu_kv ? data_of(cu_kv) : data_of(cu_q);
  const void *err = reinterpret_cast<const void *>(c.error_word);
  ArgPack v;
  v.ptr(data_of(cu_q));
  v.ptr(cu_kv_ptr);
  v.ptr(data_of(bt));
  v.ptr(err);
  v.i32(int32_t(B));
  v.i32(int32_t(T));
  v.i32(cu_kv ? 1 : 0);
  v.i32(causal ? 1 : 0);
  v.i32(int32_t(max_blocks));
  v.i32(int32_t(n_blocks));
  v.i32(int32_t(block_size));
  v.i32(hint_of(c, "max_q_len"));
  v.i32(hint_of(c, "max_total_seq_len"));
  if (std::string e = launch_grid(*c.driver, c.variants[0], B, 1, v, c.stream); !e.empty()) return e;
  if (T == 0) return "";
  const int tile = prefill_tile_index(D);
  const bool aligned = D % 16 == 0 && aligned16(data_of(q)) && aligned16(data_of(kc)) && aligned16(data_of(vc)) &&
                       aligned16(data_of(out));
  ArgPack a;
  for (const mojo_tensor *t : {q, kc, vc, out}) a.ptr(data_of(t));
  a.i32(int32_t(D));
  a.ptr(data_of(cu_q));
  a.ptr(cu_kv_ptr);
  a.ptr(data_of(bt));
  a.ptr(err);
  a.i32(int32_t(B));
  a.i32(int32_t(hq));
  a.i32(int32_t(hkv));
  a.i32(int32_t(max_blocks));
  a.i32(int32_t(block_size));
  a.f32(scale);
  a.i32(causal ? 1 : 0);
  a.i32(c.s("gqa_layout") == "ABAB" ? 0 : 1);
  a.i32(cu_kv ? 1 : 0);
  // Sequence b owns cu_q[b+1] / BM - cu_q[b] / BM + 1 >= ceil(n / BM) slots: T / BM + B in all.
  const int64_t slots = T / block_m(tile, aligned) + B;
  return launch_grid(*c.driver, c.variants[1 + 2 * tile + (aligned ? 1 : 0)], slots, hq, a, c.stream);
}

std::vector<VariantRef> prefill_variants(const char *dtype) {
  std::vector<VariantRef> v = {{"prefill_validate_kernel", "one"}};
  for (int t = 0; t < kPrefillTileCount; ++t)
    for (bool aligned : {false, true}) v.push_back({"prefill_kernel", prefill_key(dtype, t, aligned)});
  return v;
}

std::string accept_prefill(const mojo_op_sig &sig, int *code) {
  const mojo_tensor *q = sig.inputs[0], *kc = sig.inputs[1], *bt = sig.inputs[4];
  const mojo_tensor *mask = sig.n_inputs > 6 ? sig.inputs[6] : nullptr;
  *code = MOJO_DECLINE_OTHER;
  if (mask && !is_causal(sig.attrs, sig.n_attrs)) return "ttx paged_prefill_gqa takes no custom mask";
  *code = MOJO_DECLINE_SHAPE;
  if (prefill_tile_index(q->shape[2]) < 0)
    return "ttx paged_prefill_gqa takes head dims up to 256 (a 256-wide tile is the most shared memory allows)";
  if (q->shape[1] > 65535) return "ttx paged_prefill_gqa takes at most 65535 query heads (the grid's y extent)";
  if (q->shape[0] > INT32_MAX || kc->shape[0] > INT32_MAX || bt->shape[1] > INT32_MAX)
    return "ttx paged_prefill_gqa: query rows, cache blocks and block-table columns must fit in int32";
  return "";
}

std::string describe_prefill_error(int32_t code) {
  switch (code) {
    case kBadCuQ: return "'cu_q_lens' must start at 0, be non-decreasing and end at most at the query rows";
    case kBadCuKv: return "'cu_total_seq_lens' must start at 0 and be non-decreasing";
    case kShortKv: return "a causal sequence has more new tokens than total KV tokens (expected L >= n)";
    case kTableTooNarrow: return "a sequence needs more block-table columns than 'block_table' has";
    case kBadBlockId: return "'block_table' has a negative or out-of-range block id inside a sequence's needed range";
    case kMaxQHint: return "attribute 'max_q_len' is smaller than a sequence's q length";
    case kMaxKvHint: return "attribute 'max_total_seq_len' is smaller than a sequence's kv length";
    default: return "metadata error code " + std::to_string(code);
  }
}

}  // namespace

std::vector<OpDef> attention_prefill_ops() {
  const uint32_t half = (1u << MOJO_DT_BF16) | (1u << MOJO_DT_FP16);
  return {{{"paged_prefill_gqa", half, MOJO_KERNEL_GRAPH_SAFE}, prefill_variants, paged_prefill_gqa,
           accept_prefill, describe_prefill_error}};
}

}  // namespace mojo::ttx
