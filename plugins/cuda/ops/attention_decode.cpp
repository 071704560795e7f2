// Paged decode attention family: paged_decode_gqa and paged_decode_swa through launch_attention_decode.
// The flash-decoding split count is a pure function of the shapes and attributes (never of device lengths),
// computed on the host at run, so a run needs no sync and can be captured in a CUDA graph; the workspace that
// holds the partial results is sized at create for the signature's shapes.
#include <algorithm>
#include <cmath>

#include "kernels/attention_decode.h"
#include "op_entry.h"

namespace mojo::cuda {
namespace {

// Inputs (src/schema/attention.cpp): query, key_cache, value_cache, total_seq_lens, block_table, [mask].
enum { kQuery = 0, kKeyCache, kValueCache, kLens, kBlockTable, kMask };

struct DecodeImpl {
  int ctas_per_sm = 1, sm_count = 1;
  int64_t ws_rows = 0;  // sequences × splits the workspace holds (0: one split only)
};

struct Shape {
  int64_t batch, hq, hkv, d, bs, mb;
  int group() const { return int(hq / std::max<int64_t>(1, hkv)); }
};

Shape shape_of(const mojo_tensor *const *in) {
  const mojo_tensor *q = in[kQuery], *kc = in[kKeyCache], *bt = in[kBlockTable];
  return {q->shape[0], q->shape[1], kc->shape[1], q->shape[2], kc->shape[2], bt->shape[1]};
}

struct Window {
  bool has_local = false, has_global = false;
  int64_t local = 0, global = 0;
};

// The SWA window of the attributes; ignored without is_causal (spec §6.1) and for paged_decode_gqa.
Window window_of(const mojo_attr *attrs, size_t n, bool swa) {
  Window w;
  auto find = [&](const char *name) { return common::find_attr(attrs, n, name); };
  const mojo_attr *causal = find("is_causal");
  if (!swa || (causal && causal->count && !causal->i)) return w;
  const mojo_attr *wl = find("local_window_size"), *wg = find("global_window_size");
  w.has_local = wl && wl->count;
  w.has_global = wg && wg->count;
  w.local = w.has_local ? wl->i : 0;
  w.global = w.has_global ? wg->i : 0;
  return w;
}

// Upper bound of the keys one sequence visits, from shapes and attributes only.
int64_t max_visited(const Shape &s, const Window &w) {
  const int64_t table = s.mb * s.bs;
  if (!w.has_local && !w.has_global) return table;
  const int64_t win = (w.has_local ? w.local + 1 : 0) + (w.has_global ? w.global : 0);
  return std::min(table, win);
}

// Splits per (sequence, KV head). The kernel streams memory, so where the work can fill kDecodeMinWaves waves
// of resident CTAs the count is the fewest that do (a partial last wave costs little, while each split adds a
// CTA prologue, a pipeline fill and merge traffic): on H100 (B=64 x 4k, 32q/8kv, d128) 3 splits took 398 us
// against 413 us for 17 and 406 us for 2; B=256 x 1k took 394 us unsplit against 425 us with 5. Where it
// cannot (few sequences: latency-bound), the count that fills whole waves best: B=1 x 32k ran 70.7 us per
// call with 49 splits (one wave) against 77.8 us with 64 (1.3 waves). At least two 64-key tiles per split,
// at most 64 splits (docs/decisions/cuda_attention_decode.md).
constexpr int64_t kDecodeMinWaves = 3;

int choose_splits(const DecodeImpl &impl, int64_t batch, int64_t hkv, int64_t visited) {
  const int64_t base = std::max<int64_t>(1, batch * hkv), slots = int64_t(impl.ctas_per_sm) * impl.sm_count;
  const int64_t tiles = (visited + kDecodeTileTokens - 1) / kDecodeTileTokens;
  const int64_t max_splits = std::min<int64_t>(64, std::max<int64_t>(1, tiles / 2));
  const int64_t streaming = (kDecodeMinWaves * slots + base - 1) / base;
  if (streaming <= max_splits) return int(std::max<int64_t>(1, streaming));
  int best = 1;
  double best_cost = 1e300;
  for (int64_t s = 1; s <= max_splits; ++s) {
    const double cost = double((base * s + slots - 1) / slots) / double(s);  // waves per unit of work
    if (cost < best_cost - 1e-9) {
      best_cost = cost;
      best = int(s);
    }
  }
  return best;
}

std::string prepare_decode(State &, const mojo_op_sig &sig, void **impl, size_t *workspace_bytes) {
  const Shape s = shape_of(sig.inputs);
  auto *d = new DecodeImpl;
  cudaError_t e = attention_decode_prepare(dt_of(sig.inputs[kQuery]), int(s.d), &d->ctas_per_sm, &d->sm_count);
  if (e != cudaSuccess) {
    delete d;
    return cuda_message(e);
  }
  d->ctas_per_sm = std::max(1, d->ctas_per_sm);
  const bool swa = std::string(sig.op) == "paged_decode_swa";
  const int64_t visited = max_visited(s, window_of(sig.attrs, sig.n_attrs, swa));
  for (int64_t b = 1; b <= s.batch; ++b) {
    const int splits = choose_splits(*d, b, s.hkv, visited);
    if (splits > 1 && !attention_decode_merges_in_cluster(splits, s.group(), int(s.d)))
      d->ws_rows = std::max(d->ws_rows, b * splits);
  }
  *workspace_bytes = attention_decode_workspace_bytes(d->ws_rows, s.hq, s.hkv, s.d);
  *impl = d;
  return "";
}

void release_decode(void *impl) { delete static_cast<DecodeImpl *>(impl); }

bool aligned(const void *p, size_t n) { return reinterpret_cast<uintptr_t>(p) % n == 0; }

std::string run_decode(const Call &c, bool swa) {
  const auto &impl = *static_cast<const DecodeImpl *>(c.impl);
  const Shape s = shape_of(c.in);
  const mojo_tensor *q = c.input(kQuery);
  DecodeAttnArgs a{};
  a.dtype = dt_of(q);
  a.q = c.ptr(q);
  a.k_cache = c.ptr(c.input(kKeyCache));
  a.v_cache = c.ptr(c.input(kValueCache));
  a.lens = static_cast<const int32_t *>(c.ptr(c.input(kLens)));
  a.block_table = static_cast<const int32_t *>(c.ptr(c.input(kBlockTable)));
  a.out = c.mut_ptr(c.output(0));
  if (!aligned(a.k_cache, 16) || !aligned(a.v_cache, 16) || !aligned(a.q, 4) || !aligned(a.out, 4))
    return "paged decode attention needs 16-byte aligned caches and 4-byte aligned query/out";
  a.batch = int(s.batch);
  a.hq = int(s.hq);
  a.hkv = int(s.hkv);
  a.head_dim = int(s.d);
  a.page_size = int(s.bs);
  a.max_blocks = int(s.mb);
  a.num_blocks = int(c.input(kKeyCache)->shape[0]);
  const mojo_attr *scale = common::find_attr(c.attrs, c.n_attrs, "softmax_scale");
  a.scale = scale && scale->count ? float(scale->f) : float(1.0 / std::sqrt(double(s.d)));
  a.grouped = c.s("gqa_layout") != "ABAB";
  const Window w = window_of(c.attrs, c.n_attrs, swa);
  a.has_local = w.has_local;
  a.has_global = w.has_global;
  a.local_window = w.local;
  a.global_window = w.global;
  const mojo_attr *hint = common::find_attr(c.attrs, c.n_attrs, "max_total_seq_len");
  a.max_len_hint = hint && hint->count ? hint->i : -1;
  int splits = choose_splits(impl, s.batch, s.hkv, max_visited(s, w));
  bool in_cluster = attention_decode_merges_in_cluster(splits, s.group(), int(s.d));
  // A run larger than the create-time signature gets fewer splits (one needs no workspace, nor does a merge in
  // a cluster).
  if (!in_cluster) {
    if (c.workspace == nullptr || s.batch == 0) splits = 1;
    else splits = int(std::min<int64_t>(splits, std::max<int64_t>(1, impl.ws_rows / s.batch)));
    in_cluster = attention_decode_merges_in_cluster(splits, s.group(), int(s.d));
  }
  a.splits = splits;
  a.merge_in_cluster = in_cluster;
  if (splits > 1 && !in_cluster) {
    a.partial_o = static_cast<float *>(c.workspace);
    a.partial_lse = a.partial_o + int64_t(splits) * s.batch * s.hq * s.d;
    a.split_tickets = reinterpret_cast<unsigned *>(a.partial_lse + int64_t(splits) * s.batch * s.hq);
  }
  a.error_word = c.error_word;
  return cuda_message(launch_attention_decode(a, c.stream));
}

std::string paged_decode_gqa(const Call &c) { return run_decode(c, false); }
std::string paged_decode_swa(const Call &c) { return run_decode(c, true); }

std::string accept_decode(const mojo_op_sig &sig, int *code) {
  const Shape s = shape_of(sig.inputs);
  *code = MOJO_DECLINE_SHAPE;
  if (s.d != 64 && s.d != 128 && s.d != 256) return "cuda paged decode supports head dims 64, 128 and 256";
  if (s.hkv <= 0 || s.hq / s.hkv > 16) return "cuda paged decode supports up to 16 query heads per KV head";
  if (s.batch > (int64_t(1) << 24) || s.hq * s.batch > (int64_t(1) << 30) || s.mb * s.bs > (int64_t(1) << 30))
    return "cuda paged decode needs batch <= 2^24 and contexts below 2^30 tokens";
  const mojo_tensor *nb = sig.inputs[kKeyCache];
  if (nb->shape[0] > INT32_MAX) return "cuda paged decode needs fewer than 2^31 cache blocks";
  if (sig.n_inputs > kMask && sig.inputs[kMask]) {
    *code = MOJO_DECLINE_OTHER;
    return "cuda paged decode has no custom-mask capability";
  }
  return "";
}

std::string describe_decode_error(int32_t code) {
  switch (code) {
    case kDecodeLenBeyondTable:
      return "a sequence's total_seq_lens needs more block_table columns than block_table has (L > MB * BS)";
    case kDecodeBadBlockId:
      return "block_table has a negative or out-of-range block id inside a sequence's needed columns "
             "0 .. ceil(L / BS) - 1";
    case kDecodeHintTooSmall:
      return "attribute 'max_total_seq_len' is smaller than a sequence's total_seq_lens (hints must be upper bounds)";
    default: return "invalid metadata (code " + std::to_string(code) + ")";
  }
}

}  // namespace

std::vector<Entry> attention_decode_entries() {
  return {
      {{"paged_decode_gqa", kHalfMask, kGraphSafe}, paged_decode_gqa, accept_decode, prepare_decode, release_decode,
       nullptr, describe_decode_error},
      {{"paged_decode_swa", kHalfMask, kGraphSafe}, paged_decode_swa, accept_decode, prepare_decode, release_decode,
       nullptr, describe_decode_error},
  };
}

}  // namespace mojo::cuda
