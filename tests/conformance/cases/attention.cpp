// Conformance cases for the paged GQA and sliding-window attention ops (spec/attention.md §1, §2, §6): head dims
// 64/96/128/256, GQA ratios 1/4/8, page sizes 16/24/64/128, ragged lengths with prefix caches, empty sequences and
// padding rows, both head mappings, the window parameter sets of the repo tests scaled down, and the
// data-dependent error paths (negative block ids, decreasing cu-lengths, lengths beyond the table).
// MLA/NSA cases live in attention_mla.cpp.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "case_helpers.h"

namespace mojo::conformance {
namespace {

using namespace helpers;

struct PagedLayout {
  int64_t NB = 0, MB = 0;
  std::vector<int64_t> table;
};

// Block table for total lengths `kv` (<= 0: no blocks): seeded permutation of physical ids, one spare -1 column.
PagedLayout paged_layout(const std::vector<int64_t> &kv, int64_t bs, uint32_t seed) {
  PagedLayout l;
  int64_t total = 0;
  for (int64_t L : kv) {
    const int64_t need = L > 0 ? (L + bs - 1) / bs : 0;
    l.MB = std::max(l.MB, need + 1);
    total += need;
  }
  l.NB = total + 2;
  std::vector<int64_t> perm(size_t(l.NB));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(seed));
  size_t next = 0;
  for (int64_t L : kv) {
    const int64_t need = L > 0 ? (L + bs - 1) / bs : 0;
    for (int64_t m = 0; m < l.MB; ++m) l.table.push_back(m < need ? perm[next++] : -1);
  }
  return l;
}

Tolerance attn_tol(int dt) { return dt == MOJO_DT_FP16 ? Tolerance::close(5e-3, 5e-3) : Tolerance::close(2e-2, 2e-2); }

struct Shape {
  int64_t hq, hkv, d, bs;
};

std::string shape_text(const Shape &s) {
  return " Hq=" + std::to_string(s.hq) + " Hkv=" + std::to_string(s.hkv) + " D=" + std::to_string(s.d) +
         " BS=" + std::to_string(s.bs);
}

struct Win {
  int64_t wl = -1, wg = -1;  // -1 = null
  bool causal = true;
  bool interleaved = false;
};

tools::Attrs attn_attrs(const Win &w, bool swa) {
  tools::Attrs a;
  a.b("is_causal", w.causal).s("gqa_layout", w.interleaved ? "ABAB" : "AABB");
  if (swa && w.wl >= 0) a.i("local_window_size", w.wl);
  if (swa && w.wg >= 0) a.i("global_window_size", w.wg);
  return a;
}

std::string win_text(const Win &w, bool swa) {
  std::string s = w.interleaved ? " ABAB" : " AABB";
  if (!w.causal) s += " non-causal";
  if (swa) s += " Wl=" + (w.wl < 0 ? std::string("null") : std::to_string(w.wl)) +
                " Wg=" + (w.wg < 0 ? std::string("null") : std::to_string(w.wg));
  return s;
}

// Prefill case: q_lens and prefix lengths per sequence (kv = prefix + q), `pad` padding query rows.
OpCase prefill_case(const std::string &op, int dt, const Shape &s, const std::vector<int64_t> &q,
                    const std::vector<int64_t> &prefix, int64_t pad, const Win &w, bool with_cu_kv, uint32_t seed) {
  const bool swa = op == "paged_prefill_swa";
  std::vector<int64_t> kv;
  for (size_t b = 0; b < q.size(); ++b) kv.push_back(q[b] == 0 ? 0 : q[b] + prefix[b]);
  PagedLayout l = paged_layout(kv, s.bs, seed);
  const std::vector<int64_t> cuq = cumsum(q), cuk = cumsum(kv);
  const int64_t B = int64_t(q.size()), T = cuq.back() + pad;
  OpCase c;
  c.op = op;
  c.label = dt_name(dt) + shape_text(s) + " B=" + std::to_string(B) + " T=" + std::to_string(T) +
            (pad ? " pad=" + std::to_string(pad) : "") + (with_cu_kv ? "" : " no-prefix") + win_text(w, swa);
  c.attrs = attn_attrs(w, swa);
  c.inputs = {tensor("query", dt, {T, s.hq, s.d}, Fill::uniform(-1, 1)),
              tensor("key_cache", dt, {l.NB, s.hkv, s.bs, s.d}, Fill::uniform(-1, 1)),
              tensor("value_cache", dt, {l.NB, s.hkv, s.bs, s.d}, Fill::uniform(-1, 1)),
              ints("cu_q_lens", {B + 1}, cuq), ints("block_table", {B, l.MB}, l.table),
              with_cu_kv ? ints("cu_total_seq_lens", {B + 1}, cuk) : absent("cu_total_seq_lens")};
  if (!swa) c.inputs.push_back(absent("mask"));
  c.outputs = {tensor("out", dt, {T, s.hq, s.d})};
  c.tolerances = {attn_tol(dt)};
  return c;
}

OpCase decode_case(const std::string &op, int dt, const Shape &s, const std::vector<int64_t> &kv, const Win &w,
                   uint32_t seed) {
  const bool swa = op == "paged_decode_swa";
  PagedLayout l = paged_layout(kv, s.bs, seed);
  const int64_t B = int64_t(kv.size());
  OpCase c;
  c.op = op;
  int64_t mx = 0;
  for (int64_t L : kv) mx = std::max(mx, L);
  c.label = dt_name(dt) + shape_text(s) + " B=" + std::to_string(B) + " maxL=" + std::to_string(mx) + win_text(w, swa);
  c.attrs = attn_attrs(w, swa);
  c.inputs = {tensor("query", dt, {B, s.hq, s.d}, Fill::uniform(-1, 1)),
              tensor("key_cache", dt, {l.NB, s.hkv, s.bs, s.d}, Fill::uniform(-1, 1)),
              tensor("value_cache", dt, {l.NB, s.hkv, s.bs, s.d}, Fill::uniform(-1, 1)),
              ints("total_seq_lens", {B}, kv), ints("block_table", {B, l.MB}, l.table)};
  if (!swa) c.inputs.push_back(absent("mask"));
  c.outputs = {tensor("out", dt, {B, s.hq, s.d})};
  c.tolerances = {attn_tol(dt)};
  return c;
}

OpCase swa_varlen_case(int dt, const Shape &s, const std::vector<int64_t> &q, const std::vector<int64_t> &prefix,
                       int64_t pad, const Win &w) {
  std::vector<int64_t> kv;
  for (size_t b = 0; b < q.size(); ++b) kv.push_back(q[b] + prefix[b]);
  const std::vector<int64_t> cuq = cumsum(q), cuk = cumsum(kv);
  const int64_t B = int64_t(q.size()), T = cuq.back() + pad, Tk = cuk.back() + 1;  // one unused key row
  OpCase c;
  c.op = "swa_varlen";
  c.label = dt_name(dt) + " Hq=" + std::to_string(s.hq) + " Hkv=" + std::to_string(s.hkv) + " D=" +
            std::to_string(s.d) + " B=" + std::to_string(B) + " T=" + std::to_string(T) + win_text(w, true);
  c.attrs = attn_attrs(w, true);
  c.inputs = {tensor("query", dt, {T, s.hq, s.d}, Fill::uniform(-1, 1)),
              tensor("key", dt, {Tk, s.hkv, s.d}, Fill::uniform(-1, 1)),
              tensor("value", dt, {Tk, s.hkv, s.d}, Fill::uniform(-1, 1)), ints("cu_q_lens", {B + 1}, cuq),
              ints("cu_total_seq_lens", {B + 1}, cuk)};
  c.outputs = {tensor("out", dt, {T, s.hq, s.d})};
  c.tolerances = {attn_tol(dt)};
  return c;
}

// Replaces the values of integer input `name`.
void set_ints(OpCase &c, const std::string &name, const std::vector<int64_t> &v) {
  for (auto &t : c.inputs)
    if (t.name == name) t.fill = Fill::ints(v);
}
std::vector<int64_t> ints_of(const OpCase &c, const std::string &name) {
  for (const auto &t : c.inputs)
    if (t.name == name) return std::vector<int64_t>(t.fill.values.begin(), t.fill.values.end());
  return {};
}

// Replaces the caches of prefill case `c` by seeded values in every slot a sequence owns and NaN everywhere
// else (slots >= L of a last block, spare blocks): spec §0.2 says those slots are never read, so a kernel
// that loads them and multiplies by a masked probability (0 * NaN = NaN) fails here.
void poison_unowned_slots(OpCase &c, uint32_t seed) {
  const std::vector<int64_t> cuq = ints_of(c, "cu_q_lens"), cuk = ints_of(c, "cu_total_seq_lens"),
                             table = ints_of(c, "block_table");
  std::vector<int64_t> shape;
  for (const auto &t : c.inputs)
    if (t.name == "key_cache") shape = t.shape;
  const int64_t hkv = shape[1], bs = shape[2], d = shape[3], B = int64_t(cuq.size()) - 1, mb = int64_t(table.size()) / B;
  std::vector<double> k(size_t(shape[0] * hkv * bs * d), std::nan("")), v = k;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = cuq[size_t(b + 1)] - cuq[size_t(b)];
    const int64_t L = cuk.empty() ? n : cuk[size_t(b + 1)] - cuk[size_t(b)];
    if (n <= 0) continue;
    for (int64_t p = 0; p < L; ++p)
      for (int64_t g = 0; g < hkv; ++g)
        for (int64_t e = 0; e < d; ++e) {
          const size_t at = size_t(((table[size_t(b * mb + p / bs)] * hkv + g) * bs + p % bs) * d + e);
          k[at] = u(rng);
          v[at] = u(rng);
        }
  }
  for (auto &t : c.inputs) {
    if (t.name == "key_cache") t.fill = Fill::of(k);
    if (t.name == "value_cache") t.fill = Fill::of(v);
  }
  c.label += " NaN in unowned cache slots";
}

}  // namespace

void add_attention_cases(CaseList &cases, const CaseOptions &opt) {
  const int kHalf[] = {MOJO_DT_BF16, MOJO_DT_FP16};
  const std::vector<Shape> shapes = opt.quick ? std::vector<Shape>{{8, 2, 128, 16}}
                                              : std::vector<Shape>{{8, 2, 128, 16}, {4, 4, 64, 64}, {8, 1, 256, 128},
                                                                   {16, 2, 96, 16}, {8, 1, 128, 64}};
  const Win grouped, inter{-1, -1, true, true};
  uint32_t seed = 11;

  // paged_prefill_gqa / paged_prefill_swa
  for (const Shape &s : shapes)
    for (int dt : kHalf) {
      for (const Win &w : {grouped, inter}) {
        // ragged with a prefix cache, an empty sequence and padding rows
        cases.push_back(prefill_case("paged_prefill_gqa", dt, s, {37, 0, 5, 70}, {0, 9, 100, 31}, 3, w, true, seed++));
        if (opt.quick) break;
      }
      if (opt.quick) continue;
      // no cu_total_seq_lens (L = n); bucket-padded decode-like prefill (one token per real sequence)
      cases.push_back(prefill_case("paged_prefill_gqa", dt, s, {17, 1, 33}, {0, 0, 0}, 0, grouped, false, seed++));
      cases.push_back(prefill_case("paged_prefill_gqa", dt, s, {1, 1, 1, 1, 0, 0}, {0, 3, 20, 0, 0, 0}, 2, grouped,
                                   true, seed++));
      // non-causal, no mask: full bidirectional attention over [0, L)
      cases.push_back(prefill_case("paged_prefill_gqa", dt, s, {12, 7}, {0, 0}, 1, Win{-1, -1, false, false}, true,
                                   seed++));
    }
  const std::vector<Win> swa_params = {{15, 4, true, true}, {31, 4, true, false}, {7, -1, true, false},
                                       {-1, 3, true, false}, {5, 2, false, false}};
  for (const Shape &s : shapes)
    for (int dt : kHalf)
      for (const Win &w : swa_params) {
        cases.push_back(prefill_case("paged_prefill_swa", dt, s, {45, 0, 9}, {0, 20, 60}, 2, w, true, seed++));
        if (opt.quick) break;
      }

  // paged_decode_gqa / paged_decode_swa: lengths include an empty row and one exactly at a page boundary.
  for (const Shape &s : shapes)
    for (int dt : kHalf) {
      const std::vector<int64_t> kv = {1, 0, s.bs, 3 * s.bs + 5, 200, 17};
      for (const Win &w : {grouped, inter}) {
        cases.push_back(decode_case("paged_decode_gqa", dt, s, kv, w, seed++));
        if (opt.quick) break;
      }
      for (const Win &w : swa_params) {
        cases.push_back(decode_case("paged_decode_swa", dt, s, kv, w, seed++));
        if (opt.quick) break;
      }
    }

  // Longer contexts (prefix caching over many pages) on the first shape.
  if (!opt.quick)
    for (int dt : kHalf) {
      const Shape &s = shapes[0];
      cases.push_back(prefill_case("paged_prefill_gqa", dt, s, {96, 31}, {900, 0}, 1, grouped, true, seed++));
      cases.push_back(prefill_case("paged_prefill_swa", dt, s, {96, 31}, {900, 0}, 1, swa_params[1], true, seed++));
      for (const char *op : {"paged_prefill_gqa", "paged_prefill_swa"}) {
        OpCase c = prefill_case(op, dt, s, {37, 0, 5, 70}, {0, 9, 100, 31}, 3, swa_params[2], true, seed);
        poison_unowned_slots(c, seed++);
        cases.push_back(c);
      }
      // Pages of 24 tokens: not a power of two, so the kernels take their division path for page and slot
      // (every shape above has power-of-two pages, which use a shift and a mask).
      for (int64_t d : {64, 128})
        cases.push_back(prefill_case("paged_prefill_gqa", dt, Shape{8, 2, d, 24}, {37, 0, 5, 70}, {0, 9, 100, 31}, 3,
                                     grouped, true, seed++));
      // Query heads per KV head that leave padding rows in the sm_90 kernel's packed tiles (G = 3: 42 tokens x
      // 3 heads of 128 rows at D 128, 64 x 3 of 192 rows at D 64) and the largest group, G = 16.
      for (const Shape &g : {Shape{6, 2, 128, 16}, Shape{6, 2, 64, 16}, Shape{16, 1, 128, 16}, Shape{16, 1, 64, 32}})
        for (const Win &w : {grouped, inter})
          cases.push_back(prefill_case("paged_prefill_gqa", dt, g, {150, 0, 37}, {300, 5, 0}, 2, w, true, seed++));
      cases.push_back(decode_case("paged_decode_gqa", dt, s, {1500, 777, 0, 2048}, inter, seed++));
      cases.push_back(decode_case("paged_decode_swa", dt, s, {1500, 777, 0, 2048}, swa_params[0], seed++));
      // Five splits per (sequence, KV head) in the cuda kernel: merged inside a thread-block cluster at G = 4,
      // through the workspace at G = 16 (whose rows do not fit the cluster's peer buffer).
      for (const Shape &g : {s, Shape{16, 1, 128, 16}})
        cases.push_back(decode_case("paged_decode_gqa", dt, g, {700, 333, 0, 511}, grouped, seed++));
      cases.push_back(decode_case("paged_decode_swa", dt, s, {700, 333, 0, 511}, swa_params[1], seed++));
    }

  // swa_varlen
  for (const Shape &s : shapes)
    for (int dt : kHalf)
      for (const Win &w : swa_params) {
        cases.push_back(swa_varlen_case(dt, s, {30, 0, 1, 13}, {0, 4, 50, 0}, 2, w));
        if (opt.quick) break;
      }

  // Error paths (data-dependent contracts): every backend must answer INVALID_ARGUMENT and write nothing.
  const Shape es{8, 2, 64, 16};
  for (int dt : kHalf) {
    for (const char *op : {"paged_prefill_gqa", "paged_prefill_swa"}) {
      OpCase c = prefill_case(op, dt, es, {20, 4}, {10, 0}, 0, grouped, true, 99);
      auto table = ints_of(c, "block_table");
      table[1] = -1;  // second needed column of sequence 0 (L = 30, BS = 16)
      set_ints(c, "block_table", table);
      c.label += " negative block id in the needed range";
      c.expect = MOJO_STATUS_INVALID_ARGUMENT;
      cases.push_back(c);
      OpCase d = prefill_case(op, dt, es, {20, 4}, {10, 0}, 0, grouped, true, 98);
      set_ints(d, "cu_q_lens", {0, 20, 19});
      d.label += " decreasing cu_q_lens";
      d.expect = MOJO_STATUS_INVALID_ARGUMENT;
      cases.push_back(d);
      OpCase e = prefill_case(op, dt, es, {20, 4}, {10, 0}, 0, grouped, true, 97);
      set_ints(e, "cu_total_seq_lens", {0, 30, 29});
      e.label += " decreasing cu_total_seq_lens";
      e.expect = MOJO_STATUS_INVALID_ARGUMENT;
      cases.push_back(e);
    }
    for (const char *op : {"paged_decode_gqa", "paged_decode_swa"}) {
      OpCase c = decode_case(op, dt, es, {5, 40}, grouped, 96);
      auto table = ints_of(c, "block_table");
      const int64_t mb = int64_t(table.size()) / 2;
      table[size_t(mb + 2)] = -1;  // third column of sequence 1 (L = 40)
      set_ints(c, "block_table", table);
      c.label += " negative block id in the needed range";
      c.expect = MOJO_STATUS_INVALID_ARGUMENT;
      cases.push_back(c);
      OpCase d = decode_case(op, dt, es, {5, 40}, grouped, 95);
      set_ints(d, "total_seq_lens", {5, mb * 16 + 1});
      d.label += " length beyond MB*BS";
      d.expect = MOJO_STATUS_INVALID_ARGUMENT;
      cases.push_back(d);
      OpCase h = decode_case(op, dt, es, {5, 40}, grouped, 94);
      h.attrs.i("max_total_seq_len", 39);  // a hint below sequence 1's length (the hint must be an upper bound)
      h.label += " max_total_seq_len below a length";
      h.expect = MOJO_STATUS_INVALID_ARGUMENT;
      cases.push_back(h);
      // Long enough for five splits per (sequence, KV head) in the cuda kernel, so the error must also stop its
      // split merges: inside a thread-block cluster at G = 4, through the workspace at G = 16.
      for (const Shape &g : {es, Shape{16, 1, 128, 16}}) {
        OpCase m = decode_case(op, dt, g, {700, 333}, grouped, 93);
        auto ids = ints_of(m, "block_table");
        ids[30] = -1;  // column 30 of sequence 0 (L = 700)
        set_ints(m, "block_table", ids);
        m.label += " negative block id, split run";
        m.expect = MOJO_STATUS_INVALID_ARGUMENT;
        cases.push_back(m);
      }
    }
    OpCase v = swa_varlen_case(dt, es, {6, 3}, {2, 0}, 0, Win{});
    set_ints(v, "cu_total_seq_lens", {0, 8, 7});
    v.label += " decreasing cu_total_seq_lens";
    v.expect = MOJO_STATUS_INVALID_ARGUMENT;
    cases.push_back(v);
  }
}

}  // namespace mojo::conformance
