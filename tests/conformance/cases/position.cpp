// Conformance cases for the position ops (spec/position.md): head dims 64/128/256, GQA ratios 1/4/8, partial
// rope, both layouts, the three rotary-table modes with ragged lengths (empty sequences, padding rows), and
// norm+rope+store into paged caches with page sizes 16/64/128.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "case_helpers.h"

namespace mojo::conformance {
namespace {

using namespace helpers;

// cos/sin tables of a real RoPE (so the fused ops see unit-magnitude rotations): rows for positions `pos`.
void rope_tables(OpCase &c, const std::vector<int64_t> &pos, int64_t dr, const char *cos_name = "cos",
                 const char *sin_name = "sin") {
  std::vector<double> cv, sv;
  for (int64_t p : pos)
    for (int64_t k = 0; k < dr; ++k) {
      const double ang = double(p) * std::pow(10000.0, -2.0 * double(k % (dr / 2)) / double(dr));
      cv.push_back(std::cos(ang));
      sv.push_back(std::sin(ang));
    }
  const int64_t t = int64_t(pos.size());
  c.inputs.push_back(tensor(cos_name, MOJO_DT_FP32, {t, dr}, Fill::of(cv)));
  c.inputs.push_back(tensor(sin_name, MOJO_DT_FP32, {t, dr}, Fill::of(sv)));
}

struct StoreLayout {
  int64_t NB = 0, MB = 0;
  std::vector<int64_t> table, cu, ctx, pos;  // pos: the position of every token row (padding rows 0)
};

// Ragged prefill over ctx (-1 = padding row) and q_lens; blocks are a seeded permutation with spare columns -1.
StoreLayout layout(const std::vector<int64_t> &ctx, const std::vector<int64_t> &q_lens, int64_t bs, int64_t pad_rows,
                   uint32_t seed) {
  StoreLayout l;
  l.ctx = ctx;
  l.cu = cumsum(q_lens);
  int64_t total = 0;
  for (size_t b = 0; b < ctx.size(); ++b) {
    const int64_t L = std::max<int64_t>(ctx[b], 0) + q_lens[b];
    const int64_t need = (L + bs - 1) / bs;
    l.MB = std::max(l.MB, need + 1);
    total += need;
  }
  l.NB = total + 2;
  std::vector<int64_t> perm(size_t(l.NB));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(seed));
  size_t next = 0;
  for (size_t b = 0; b < ctx.size(); ++b) {
    const int64_t L = std::max<int64_t>(ctx[b], 0) + q_lens[b];
    const int64_t need = (L + bs - 1) / bs;
    for (int64_t m = 0; m < l.MB; ++m) l.table.push_back(m < need && ctx[b] >= 0 ? perm[next++] : -1);
    if (ctx[b] < 0) next += size_t(need);
    for (int64_t i = 0; i < q_lens[b]; ++i) l.pos.push_back(std::max<int64_t>(ctx[b], 0) + i);
  }
  for (int64_t i = 0; i < pad_rows; ++i) l.pos.push_back(0);
  return l;
}

}  // namespace

void add_position_cases(CaseList &cases, const CaseOptions &opt) {
  struct Heads {
    int64_t nq, nk, dh, dr;
  };
  const std::vector<Heads> heads = opt.quick ? std::vector<Heads>{{8, 2, 128, 128}}
                                             : std::vector<Heads>{{8, 2, 128, 128}, {4, 4, 64, 64}, {16, 2, 256, 64},
                                                                  {8, 1, 128, 48}, {6, 2, 96, 96}};
  const std::vector<int64_t> pos = {0, 1, 2, 17, 1000, 4095, 32767};
  const int64_t T = int64_t(pos.size());
  for (const auto &h : heads) {
    const std::string hl = " Nq=" + std::to_string(h.nq) + " Nk=" + std::to_string(h.nk) + " Dh=" +
                           std::to_string(h.dh) + " Dr=" + std::to_string(h.dr);
    for (int dt : kFloat) {
      // apply_rope, token-major 3-D and head-first 4-D.
      for (bool interleaved : {false, true}) {
        OpCase c;
        c.op = "apply_rope";
        c.label = dt_name(dt) + " token-major" + hl + (interleaved ? " interleaved" : "");
        c.attrs = tools::Attrs().b("head_first", false).b("interleaved", interleaved);
        c.inputs = {tensor("q", dt, {T, h.nq, h.dh}), tensor("k", dt, {T, h.nk, h.dh})};
        rope_tables(c, pos, h.dr);
        c.outputs = {tensor("q_out", dt, {T, h.nq, h.dh}), tensor("k_out", dt, {T, h.nk, h.dh})};
        c.tolerances = {float_tol(dt)};
        cases.push_back(c);
      }
      if (!opt.quick) {
        OpCase c;
        c.op = "apply_rope";
        c.label = dt_name(dt) + " head-first B=2 S=4" + hl;
        c.attrs = tools::Attrs().b("head_first", true);
        c.inputs = {tensor("q", dt, {2, h.nq, 4, h.dh}), tensor("k", dt, {2, h.nk, 4, h.dh})};
        rope_tables(c, {3, 4, 5, 6}, h.dr);
        c.outputs = {tensor("q_out", dt, {2, h.nq, 4, h.dh}), tensor("k_out", dt, {2, h.nk, 4, h.dh})};
        c.tolerances = {float_tol(dt)};
        cases.push_back(c);
      }
      {
        OpCase c;
        c.op = "norm_rope";
        c.label = dt_name(dt) + hl;
        c.attrs = tools::Attrs().f("eps", 1e-6);
        c.inputs = {tensor("q", dt, {T, h.nq, h.dh}, Fill::normal(3.0)), tensor("k", dt, {T, h.nk, h.dh}, Fill::normal(3.0)),
                    tensor("q_weight", MOJO_DT_FP32, {h.dh}, Fill::uniform(0.5, 1.5)),
                    tensor("k_weight", dt, {h.dh}, Fill::uniform(0.5, 1.5))};
        rope_tables(c, pos, h.dr);
        c.outputs = {tensor("q_out", dt, {T, h.nq, h.dh}), tensor("k_out", dt, {T, h.nk, h.dh})};
        c.tolerances = {Tolerance::close(2e-2, 2e-2)};  // spec: fused kernels may skip the intermediate rounding
        cases.push_back(c);
      }
    }
  }

  // rotary_embedding: padded, varlen (with an empty sequence, total lengths and two padding rows), decode.
  for (int64_t dr : {64, 128, 88}) {
    if (opt.quick && dr != 128) continue;
    const tools::Attrs a = tools::Attrs().f("rope_theta", 1e6).i("rope_dim", dr);
    OpCase c;
    c.op = "rotary_embedding";
    c.label = "padded B=2 S=37 Dr=" + std::to_string(dr);
    c.attrs = a;
    c.inputs = {tensor("x", MOJO_DT_BF16, {2, 37, 8}), absent("cu_q_lens"), absent("total_seq_lens"), absent("position_ids")};
    c.outputs = {tensor("cos", MOJO_DT_FP32, {37, dr}), tensor("sin", MOJO_DT_FP32, {37, dr})};
    c.tolerances = {Tolerance::close(1e-5, 1e-5)};
    cases.push_back(c);
    c.label = "varlen q=[5,0,9,1] ctx=[100,0,3000,32000] +2 padding rows Dr=" + std::to_string(dr);
    c.inputs = {tensor("x", MOJO_DT_FP16, {17, 8}), ints("cu_q_lens", {5}, cumsum({5, 0, 9, 1})),
                ints("total_seq_lens", {4}, {105, 0, 3009, 32001}), absent("position_ids")};
    c.outputs = {tensor("cos", MOJO_DT_FP32, {17, dr}), tensor("sin", MOJO_DT_FP32, {17, dr})};
    cases.push_back(c);
    OpCase inv = c;
    inv.label = "varlen total_seq_lens below q_len";
    inv.inputs[2] = ints("total_seq_lens", {4}, {105, 0, 8, 32001});
    inv.expect = MOJO_STATUS_INVALID_ARGUMENT;
    cases.push_back(inv);
    c.label = "decode B=6 Dr=" + std::to_string(dr) + " init_max_length=32768";
    c.attrs = tools::Attrs(a).i("init_max_length", 32768);
    c.inputs = {tensor("x", MOJO_DT_BF16, {6, 8}), absent("cu_q_lens"), absent("total_seq_lens"),
                ints("position_ids", {6}, {0, 1, 511, 4096, 20000, 32767})};
    c.outputs = {tensor("cos", MOJO_DT_FP32, {6, dr}), tensor("sin", MOJO_DT_FP32, {6, dr})};
    cases.push_back(c);
    inv = c;
    inv.label = "decode position beyond init_max_length";
    inv.inputs[3] = ints("position_ids", {6}, {0, 1, 511, 4096, 20000, 32768});
    inv.expect = MOJO_STATUS_INVALID_ARGUMENT;
    cases.push_back(inv);
  }

  // norm_rope_store_kv: ragged prefill (empty sequence, padding row ctx=-1, padding token rows) and decode.
  struct Store {
    int64_t nq, nk, dh, bs;
    std::vector<int64_t> ctx, q;
    int64_t pad_rows;
    bool decode;
  };
  std::vector<Store> stores;
  stores.push_back({8, 2, 128, 16, {0, 5, -1, 17}, {9, 0, 3, 20}, 2, false});
  if (!opt.quick) {
    stores.push_back({4, 4, 64, 64, {60, 0}, {7, 70}, 0, false});
    stores.push_back({16, 2, 256, 128, {127, 300, -1}, {1, 1, 1}, 0, true});
    stores.push_back({8, 1, 128, 16, {31, 0, 5, 47}, {1, 1, 1, 1}, 0, true});
  }
  uint32_t seed = 7;
  for (const auto &s : stores) {
    const StoreLayout l = layout(s.ctx, s.q, s.bs, s.pad_rows, seed++);
    const int64_t T = int64_t(l.pos.size()), B = int64_t(s.ctx.size());
    for (int dt : kFloat) {
      for (bool apply_norm : {true, false}) {
        if (opt.quick && (!apply_norm || dt == MOJO_DT_FP16)) continue;
        OpCase c;
        c.op = "norm_rope_store_kv";
        c.label = dt_name(dt) + (s.decode ? " decode" : " prefill") + " Nq=" + std::to_string(s.nq) + " Nk=" +
                  std::to_string(s.nk) + " Dh=" + std::to_string(s.dh) + " page=" + std::to_string(s.bs) +
                  (apply_norm ? "" : " no-norm");
        c.attrs = tools::Attrs().f("eps", 1e-6).b("apply_norm", apply_norm);
        c.inputs = {tensor("q", dt, {T, s.nq, s.dh}, Fill::normal(3.0)), tensor("k", dt, {T, s.nk, s.dh}, Fill::normal(3.0)),
                    tensor("v", dt, {T, s.nk, s.dh}),
                    apply_norm ? tensor("q_weight", MOJO_DT_FP32, {s.dh}, Fill::uniform(0.5, 1.5)) : absent("q_weight"),
                    apply_norm ? tensor("k_weight", MOJO_DT_FP32, {s.dh}, Fill::uniform(0.5, 1.5)) : absent("k_weight")};
        rope_tables(c, l.pos, s.dh);
        c.inputs.push_back(tensor("key_cache", dt, {l.NB, s.nk, s.bs, s.dh}));
        c.inputs.push_back(tensor("value_cache", dt, {l.NB, s.nk, s.bs, s.dh}));
        c.inputs.push_back(ints("block_table", {B, l.MB}, l.table));
        c.inputs.push_back(s.decode ? absent("cu_q_lens") : ints("cu_q_lens", {B + 1}, l.cu));
        c.inputs.push_back(ints("context_kv_lens", {B}, l.ctx));
        c.inputs.push_back(absent("chunk_metadata"));
        c.inputs.push_back(absent("num_chunks"));
        c.outputs = {tensor("q_out", dt, {T, s.nq, s.dh}), tensor("k_out", dt, {T, s.nk, s.dh})};
        c.tolerances = {Tolerance::close(2e-2, 2e-2)};
        c.mutated = {"key_cache", "value_cache"};
        // The caches hold the rounded rotated keys: a fused kernel that skips the intermediate rounding may differ
        // by the norm_rope tolerance, values are copied bit-exactly.
        c.mutated_tolerance = Tolerance::close(2e-2, 2e-2);
        cases.push_back(c);
        if (s.decode && apply_norm && !opt.quick) {
          // Plan path: the decode plan of kv_cache.md §1, one row (b, block, ctx % BS, 1) per stored token.
          std::vector<int64_t> plan;
          for (int64_t b = 0; b < B; ++b) {
            const int64_t p = l.ctx[size_t(b)], m = p / s.bs;
            if (p >= 0 && m < l.MB && l.table[size_t(b * l.MB + m)] >= 0)
              plan.insert(plan.end(), {b, l.table[size_t(b * l.MB + m)], p % s.bs, 1});
          }
          OpCase pc = c;
          pc.label = c.label + " chunk_metadata";
          const int64_t rows = int64_t(plan.size()) / 4;
          pc.inputs[9] = absent("block_table");
          pc.inputs[11] = absent("context_kv_lens");
          pc.inputs[12] = ints("chunk_metadata", {rows, 4}, plan);
          pc.inputs[13] = ints("num_chunks", {1}, {rows});
          cases.push_back(pc);
        }
        if (!s.decode && apply_norm && dt == MOJO_DT_BF16) {
          std::vector<int64_t> bad_cu = l.cu;
          bad_cu[1] = bad_cu[2] + 1;
          {
            OpCase inv = c;
            inv.label = c.label + " decreasing cu_q_lens";
            inv.inputs[10] = ints("cu_q_lens", {B + 1}, bad_cu);
            inv.expect = MOJO_STATUS_INVALID_ARGUMENT;
            cases.push_back(inv);
          }
        }
      }
    }
  }
}

}  // namespace mojo::conformance
