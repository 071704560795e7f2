// Conformance cases for the MLA and NSA paged attention ops (spec/attention.md §3-§5).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "case.h"

namespace mojo::conformance {
namespace {

// A paged layout for per-sequence KV lengths: physical ids are a seeded permutation (plus two spare blocks),
// unused columns -1.
struct Paged {
  int64_t NB = 0, MB = 0;
  std::vector<int64_t> table;  // [B, MB] row-major
};

Paged paged(const std::vector<int64_t> &lens, int64_t BS, uint32_t seed) {
  Paged p;
  int64_t total = 0;
  for (int64_t L : lens) {
    const int64_t need = L > 0 ? (L + BS - 1) / BS : 0;
    p.MB = std::max(p.MB, need + 1);
    total += need;
  }
  p.NB = total + 2;
  std::vector<int64_t> perm(size_t(p.NB));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(seed));
  size_t next = 0;
  for (int64_t L : lens) {
    const int64_t need = L > 0 ? (L + BS - 1) / BS : 0;
    for (int64_t m = 0; m < p.MB; ++m) p.table.push_back(m < need ? perm[next++] : -1);
  }
  return p;
}

std::vector<int64_t> cumsum(const std::vector<int64_t> &v) {
  std::vector<int64_t> c{0};
  for (int64_t x : v) c.push_back(c.back() + x);
  return c;
}

CaseTensor tensor(const std::string &name, int dt, std::vector<int64_t> shape, Fill fill = Fill::normal(1.0)) {
  CaseTensor t;
  t.name = name;
  t.dtype = dt;
  t.shape = std::move(shape);
  t.fill = std::move(fill);
  return t;
}

CaseTensor index_tensor(const std::string &name, std::vector<int64_t> shape, const std::vector<int64_t> &v) {
  return tensor(name, MOJO_DT_INT32, std::move(shape), Fill::ints(v));
}

Tolerance tol(int dt) {
  return dt == MOJO_DT_FP32 ? Tolerance::close(1e-4, 1e-4) : dt == MOJO_DT_FP16 ? Tolerance::close(5e-3, 5e-3)
                                                                               : Tolerance::close(1e-2, 1e-2);
}

std::string dt_name(int dt) { return common::dtype_name(dt); }

std::string lens_str(const std::vector<int64_t> &v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return "[" + s + "]";
}

const int kDtypes[] = {MOJO_DT_BF16, MOJO_DT_FP16, MOJO_DT_FP32};

// ---- MLA ----------------------------------------------------------------------------------------------

struct MlaShape {
  int64_t H, Dn, Dr, Dv, R, BS;
};

tools::Attrs mla_attrs(const MlaShape &m, bool sink) {
  return tools::Attrs()
      .i("num_heads", m.H)
      .i("qk_nope_head_dim", m.Dn)
      .i("qk_rope_head_dim", m.Dr)
      .i("v_head_dim", m.Dv)
      .i("kv_lora_rank", m.R)
      .b("use_attn_sink", sink);
}

// Weights and caches: normalised latent ~ N(0, 1), kv_b_proj ~ N(0, 1/R) so decompressed K/V are O(1).
void mla_common_inputs(OpCase &c, const MlaShape &m, int dt, const Paged &p) {
  c.inputs.push_back(tensor("compressed_kv_cache", dt, {p.NB, 1, m.BS, m.R}));
  c.inputs.push_back(tensor("k_pe_cache", dt, {p.NB, 1, m.BS, m.Dr}));
}

void mla_weights(OpCase &c, const MlaShape &m, int dt, bool sink) {
  c.inputs.push_back(tensor("kv_b_proj", dt, {m.H * (m.Dn + m.Dv), m.R}, Fill::normal(1.0 / std::sqrt(double(m.R)))));
  c.inputs.push_back(sink ? tensor("attn_sink", MOJO_DT_FP32, {m.H}, Fill::normal(1.0)) : CaseTensor::absent("attn_sink"));
}

OpCase mla_prefill(const MlaShape &m, int dt, const std::vector<int64_t> &n, const std::vector<int64_t> &L,
                   bool with_total, int64_t pad_rows, bool causal, bool sink, uint32_t seed) {
  OpCase c;
  c.op = "paged_prefill_mla";
  const int64_t B = int64_t(n.size()), T = cumsum(n).back() + pad_rows;
  const Paged p = paged(L, m.BS, seed);
  c.label = dt_name(dt) + " H=" + std::to_string(m.H) + " Dn=" + std::to_string(m.Dn) + " Dr=" + std::to_string(m.Dr) +
            " Dv=" + std::to_string(m.Dv) + " R=" + std::to_string(m.R) + " page=" + std::to_string(m.BS) +
            " q=" + lens_str(n) + (with_total ? " kv=" + lens_str(L) : "") + " pad=" + std::to_string(pad_rows) +
            (causal ? "" : " non-causal") + (sink ? " sink" : "");
  c.attrs = mla_attrs(m, sink).b("is_causal", causal);
  c.inputs.push_back(tensor("query", dt, {T, m.H, m.Dn + m.Dr}));
  mla_common_inputs(c, m, dt, p);
  c.inputs.push_back(index_tensor("cu_q_lens", {B + 1}, cumsum(n)));
  c.inputs.push_back(index_tensor("block_table", {B, p.MB}, p.table));
  c.inputs.push_back(with_total ? index_tensor("cu_total_seq_lens", {B + 1}, cumsum(L))
                                : CaseTensor::absent("cu_total_seq_lens"));
  mla_weights(c, m, dt, sink);
  c.outputs.push_back(tensor("out", dt, {T, m.H, m.Dv}));
  c.tolerances.push_back(tol(dt));
  return c;
}

OpCase mla_decode(const MlaShape &m, int dt, const std::vector<int64_t> &L, bool sink, uint32_t seed) {
  OpCase c;
  c.op = "paged_decode_mla";
  const int64_t B = int64_t(L.size());
  const Paged p = paged(L, m.BS, seed);
  c.label = dt_name(dt) + " H=" + std::to_string(m.H) + " Dn=" + std::to_string(m.Dn) + " Dr=" + std::to_string(m.Dr) +
            " Dv=" + std::to_string(m.Dv) + " R=" + std::to_string(m.R) + " page=" + std::to_string(m.BS) +
            " kv=" + lens_str(L) + (sink ? " sink" : "");
  c.attrs = mla_attrs(m, sink);
  c.inputs.push_back(tensor("query", dt, {B, m.H, m.Dn + m.Dr}));
  mla_common_inputs(c, m, dt, p);
  c.inputs.push_back(index_tensor("total_seq_lens", {B}, L));
  c.inputs.push_back(index_tensor("block_table", {B, p.MB}, p.table));
  mla_weights(c, m, dt, sink);
  c.outputs.push_back(tensor("out", dt, {B, m.H, m.Dv}));
  c.tolerances.push_back(tol(dt));
  return c;
}

// Replaces the block id of sequence b, column col, in a case's block_table (an AMB-BT violation).
OpCase with_bad_block(OpCase c, int64_t b, int64_t col, int64_t id, const std::string &why) {
  for (auto &t : c.inputs)
    if (t.name == "block_table") t.fill.values[size_t(b * t.shape[1] + col)] = double(id);
  c.label += " " + why;
  c.expect = MOJO_STATUS_INVALID_ARGUMENT;
  return c;
}

void add_mla(CaseList &cases, const CaseOptions &opt) {
  const MlaShape repo{8, 64, 32, 64, 32, 32}, repo_dec{16, 96, 32, 128, 64, 64}, dsv2{8, 128, 64, 128, 512, 64},
      odd{3, 24, 8, 40, 48, 16};
  for (int dt : kDtypes) {
    const bool main_dt = dt == MOJO_DT_BF16;
    // Repo prefill configs (L = n), q lens in [24, 48) and a permutation of 0..2.
    cases.push_back(mla_prefill(repo, dt, {37, 29}, {37, 29}, false, 0, true, false, 11));
    cases.push_back(mla_decode(repo, dt, {2, 0, 1}, false, 16));
    if (opt.quick && !main_dt) continue;
    // Prefix cache, empty sequence, padding rows, sink.
    cases.push_back(mla_prefill(odd, dt, {6, 3, 0}, {6, 13, 0}, true, 2, false, true, 14));
    if (opt.quick) continue;
    cases.push_back(mla_prefill(repo, dt, {1, 0, 2}, {1, 0, 2}, false, 0, true, false, 12));
    // DeepSeek-V2 dims (R = 512, 8 heads per rank).
    cases.push_back(mla_prefill(dsv2, dt, {5, 0, 17, 1}, {40, 9, 17, 70}, true, 3, true, false, 13));
    // Repo decode configs.
    cases.push_back(mla_decode(repo_dec, dt, {201, 139, 255, 170}, false, 15));
    cases.push_back(mla_decode(dsv2, dt, {64, 0, 1, 65, -1}, true, 17));
    cases.push_back(mla_decode(odd, dt, {7, 16, 33}, true, 18));
  }
  // Data-dependent contract violations (AMB-BT and causal L < n).
  cases.push_back(with_bad_block(mla_decode(repo, MOJO_DT_BF16, {40, 70}, false, 19), 1, 2, -1, "block id -1 needed"));
  cases.push_back(with_bad_block(mla_decode(repo, MOJO_DT_BF16, {40, 70}, false, 20), 0, 0, 1000, "block id >= NB"));
  cases.push_back(with_bad_block(mla_prefill(repo, MOJO_DT_BF16, {3, 4}, {3, 40}, true, 0, true, false, 21), 1, 1, -1,
                                 "block id -1 needed"));
  OpCase short_kv = mla_prefill(repo, MOJO_DT_BF16, {3, 4}, {3, 4}, true, 0, true, false, 22);
  for (auto &t : short_kv.inputs)
    if (t.name == "cu_total_seq_lens") t.fill = Fill::ints({0, 3, 6});
  short_kv.label += " causal kv len 3 < q len 4";
  short_kv.expect = MOJO_STATUS_INVALID_ARGUMENT;
  cases.push_back(short_kv);
}

// ---- NSA ----------------------------------------------------------------------------------------------

struct NsaShape {
  int64_t H, D, BS, cr, nsel, bsel, W;
};

tools::Attrs nsa_attrs(const NsaShape &s) {
  return tools::Attrs()
      .i("num_heads", s.H)
      .i("head_dim", s.D)
      .i("compress_ratio", s.cr)
      .i("num_selected_blocks", s.nsel)
      .i("block_size", s.bsel)
      .i("window_size", s.W);
}

std::string nsa_label(const NsaShape &s, int dt) {
  return dt_name(dt) + " H=" + std::to_string(s.H) + " D=" + std::to_string(s.D) + " page=" + std::to_string(s.BS) +
         " cr=" + std::to_string(s.cr) + " nsel=" + std::to_string(s.nsel) + " bsel=" + std::to_string(s.bsel) +
         " W=" + std::to_string(s.W);
}

OpCase nsa_prefill(const NsaShape &s, int dt, const std::vector<int64_t> &n, const std::vector<int64_t> &L,
                   bool with_total, int64_t pad_rows, bool causal, uint32_t seed) {
  OpCase c;
  c.op = "paged_prefill_nsa";
  const int64_t B = int64_t(n.size()), T = cumsum(n).back() + pad_rows;
  const Paged p = paged(L, s.BS, seed);
  c.label = nsa_label(s, dt) + " q=" + lens_str(n) + (with_total ? " kv=" + lens_str(L) : "") +
            " pad=" + std::to_string(pad_rows) + (causal ? "" : " non-causal");
  c.attrs = nsa_attrs(s).b("is_causal", causal);
  c.inputs.push_back(tensor("query", dt, {T, s.H, s.D}));
  c.inputs.push_back(tensor("key_cache", dt, {p.NB, s.H, s.BS, s.D}));
  c.inputs.push_back(tensor("value_cache", dt, {p.NB, s.H, s.BS, s.D}));
  c.inputs.push_back(index_tensor("cu_q_lens", {B + 1}, cumsum(n)));
  c.inputs.push_back(index_tensor("block_table", {B, p.MB}, p.table));
  c.inputs.push_back(with_total ? index_tensor("cu_total_seq_lens", {B + 1}, cumsum(L))
                                : CaseTensor::absent("cu_total_seq_lens"));
  c.inputs.push_back(tensor("gate_proj", dt, {s.H, s.D, 3}));
  c.outputs.push_back(tensor("out", dt, {T, s.H, s.D}));
  c.tolerances.push_back(tol(dt));
  return c;
}

OpCase nsa_decode(const NsaShape &s, int dt, const std::vector<int64_t> &L, uint32_t seed) {
  OpCase c;
  c.op = "paged_decode_nsa";
  const int64_t B = int64_t(L.size());
  const Paged p = paged(L, s.BS, seed);
  c.label = nsa_label(s, dt) + " kv=" + lens_str(L);
  c.attrs = nsa_attrs(s);
  c.inputs.push_back(tensor("query", dt, {B, s.H, s.D}));
  c.inputs.push_back(tensor("key_cache", dt, {p.NB, s.H, s.BS, s.D}));
  c.inputs.push_back(tensor("value_cache", dt, {p.NB, s.H, s.BS, s.D}));
  c.inputs.push_back(index_tensor("total_seq_lens", {B}, L));
  c.inputs.push_back(index_tensor("block_table", {B, p.MB}, p.table));
  c.inputs.push_back(tensor("gate_proj", dt, {s.H, s.D, 3}));
  c.outputs.push_back(tensor("out", dt, {B, s.H, s.D}));
  c.tolerances.push_back(tol(dt));
  return c;
}

void add_nsa(CaseList &cases, const CaseOptions &opt) {
  const NsaShape repo_dec{8, 64, 64, 4, 4, 64, 64}, repo_pre{4, 64, 32, 4, 2, 64, 16},
      wide{4, 128, 16, 4, 3, 32, 128}, small_pages{2, 256, 128, 8, 2, 16, 40};
  for (int dt : kDtypes) {
    const bool main_dt = dt == MOJO_DT_BF16;
    cases.push_back(nsa_decode(repo_dec, dt, {183, 2, 97, 255}, 31));
    cases.push_back(nsa_prefill(repo_pre, dt, {29, 18}, {29, 18}, false, 0, true, 32));
    if (opt.quick && !main_dt) continue;
    // Prefix cache, an empty sequence, short contexts (Lc < compress_ratio), padding rows.
    cases.push_back(nsa_prefill(wide, dt, {7, 0, 3, 20}, {300, 5, 3, 150}, true, 2, true, 33));
    if (opt.quick) continue;
    cases.push_back(nsa_prefill(small_pages, dt, {9, 1}, {40, 130}, true, 1, false, 34));
    cases.push_back(nsa_decode(wide, dt, {1, 0, 3, 517, 64, -1}, 35));
    cases.push_back(nsa_decode(small_pages, dt, {129, 7, 300}, 36));
  }
  cases.push_back(with_bad_block(nsa_decode(repo_dec, MOJO_DT_BF16, {100, 200}, 37), 1, 3, -1, "block id -1 needed"));
  cases.push_back(
      with_bad_block(nsa_prefill(repo_pre, MOJO_DT_BF16, {4, 5}, {40, 5}, true, 0, true, 38), 0, 1, 99, "block id >= NB"));
}

}  // namespace

void add_attention_mla_cases(CaseList &cases, const CaseOptions &opt) {
  add_mla(cases, opt);
  add_nsa(cases, opt);
}

}  // namespace mojo::conformance
