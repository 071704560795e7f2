// Conformance cases for the MoE routing ops (spec/moe.md): the repo's (E, K, H, N) test grid, Qwen/DeepSeek
// style expert counts (60, 128, 384), odd hidden sizes, empty experts, duplicate routes, tokens receiving no
// rows, every float dtype, and INVALID_ARGUMENT cases for out-of-range expert / token ids.
//
// moe_dispatch and moe_dispatch_quant outputs are compared positionally, i.e. in the recommended stable
// (ascending route) bucket order of AMB-DISPATCH, which every libmojo backend is expected to produce.
#include <algorithm>
#include <random>

#include "case_helpers.h"

namespace mojo::conformance {

using namespace helpers;

namespace {

// Expert ids for N tokens x K routes, deterministic per (n, k, e, seed). distinct: no expert twice per token.
std::vector<int64_t> routes(int64_t n, int64_t k, int64_t e, uint32_t seed, bool distinct = true) {
  std::mt19937 rng(seed);
  std::vector<int64_t> out;
  out.reserve(size_t(n * k));
  for (int64_t t = 0; t < n; ++t) {
    std::vector<int64_t> row;
    while (int64_t(row.size()) < k) {
      int64_t x = int64_t(rng() % uint32_t(e));
      if (distinct && std::find(row.begin(), row.end(), x) != row.end()) continue;
      row.push_back(x);
    }
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

// The destination token of each of M = N*K rows: every token K times, shuffled (rows arrive in expert order).
std::vector<int64_t> shuffled_tokens(int64_t n, int64_t k, uint32_t seed, int64_t skip_every = 0) {
  std::vector<int64_t> out;
  for (int64_t t = 0; t < n; ++t) {
    // With skip_every, every skip_every-th token receives nothing (its rows go to the next token).
    const int64_t dest = skip_every > 0 && t % skip_every == 0 ? (t + 1) % n : t;
    for (int64_t j = 0; j < k; ++j) out.push_back(dest);
  }
  std::mt19937 rng(seed);
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

Tolerance mixed_tol() { return Tolerance::close(1.0 / 64, 1.0 / 64); }

struct Grid {
  int64_t e, k, h, n;
};

}  // namespace

void add_moe_cases(CaseList &cases, const CaseOptions &opt) {
  // moe_gating: the repo grid (bf16 U[0,1) input, fp32 N(0, 0.02^2) weight), the benchmark's Qwen3-30B-A3B and
  // DeepSeek-V3 routers, a ragged bf16 shape (E not a multiple of 64, N not of 64, H not of 128), odd shapes,
  // other dtypes and decode-sized routers.
  {
    std::vector<std::pair<Grid, int>> grid = {
        {{16, 4, 1024, 64}, MOJO_DT_BF16}, {{128, 8, 2048, 64}, MOJO_DT_BF16}, {{60, 4, 2048, 7}, MOJO_DT_FP32}};
    if (!opt.quick) {
      for (Grid g : {Grid{32, 8, 1024, 128}, Grid{64, 8, 1024, 256}, Grid{64, 8, 1024, 1024}, Grid{256, 8, 7168, 64},
                     Grid{96, 6, 1040, 70}})
        grid.push_back({g, MOJO_DT_BF16});
      grid.push_back({{128, 8, 1000, 33}, MOJO_DT_FP16});
      grid.push_back({{8, 1, 257, 5}, MOJO_DT_FP32});
      grid.push_back({{8, 8, 64, 3}, MOJO_DT_BF16});  // K = E
      // Decode-sized bf16 routers: one token, four full 64-token blocks, a ragged last block with H = 1040.
      for (Grid g : {Grid{256, 8, 4096, 1}, Grid{128, 6, 2048, 256}, Grid{128, 8, 1040, 200}})
        grid.push_back({g, MOJO_DT_BF16});
      // Routers whose weight does not fit one cluster: a ragged last 64-token block, 512 experts, K > 32.
      for (Grid g : {Grid{256, 8, 7168, 200}, Grid{512, 8, 4096, 64}, Grid{256, 40, 2048, 70}})
        grid.push_back({g, MOJO_DT_BF16});
      grid.push_back({{16, 4, 1024, 0}, MOJO_DT_BF16});
    }
    for (auto [g, dt] : grid) {
      OpCase c;
      c.op = "moe_gating";
      c.label = dt_name(dt) + " E=" + std::to_string(g.e) + " K=" + std::to_string(g.k) + " H=" + std::to_string(g.h) +
                " N=" + std::to_string(g.n);
      c.attrs = tools::Attrs().i("top_k", g.k);
      c.inputs = {tensor("hidden_states", dt, {g.n, g.h}, Fill::uniform(0.0, 1.0)),
                  tensor("gate_weight", MOJO_DT_FP32, {g.h, g.e}, Fill::normal(0.02))};
      c.outputs = {tensor("top_k_indices", MOJO_DT_INT32, {g.n, g.k}), tensor("top_k_gates", MOJO_DT_FP32, {g.n, g.k})};
      // Near-equal router probabilities may swap places across accumulation orders (the fp32 reference's
      // own rounding is ~1e-5 of a logit at H=7168): an id may differ where the gates at that position agree to
      // 1e-4 relative (a tie to within rounding); beyond that, 99.9% of the ids must match.
      Tolerance ids = Tolerance::close(0.0, 0.0);
      ids.ptol = 0.999;
      ids.tie_output = 1;
      ids.tie_rtol = 1e-4;
      c.tolerances = {ids, Tolerance::close(1e-2, 1e-2)};
      cases.push_back(c);
    }
  }

  // moe_dispatch: the repo grid, DeepSeek's 384 experts (mostly empty buckets), duplicates within a token.
  {
    std::vector<std::pair<Grid, int>> grid = {{{16, 4, 1024, 64}, MOJO_DT_BF16}, {{8, 2, 96, 5}, MOJO_DT_FP32}};
    if (!opt.quick) {
      for (Grid g : {Grid{32, 8, 1024, 128}, Grid{64, 8, 1024, 256}, Grid{384, 8, 3584, 128}})
        grid.push_back({g, MOJO_DT_BF16});
      grid.push_back({{60, 4, 1000, 17}, MOJO_DT_FP16});
      grid.push_back({{16, 4, 1024, 0}, MOJO_DT_BF16});
    }
    uint32_t seed = 100;
    for (auto [g, dt] : grid) {
      const bool duplicates = g.n == 5;
      OpCase c;
      c.op = "moe_dispatch";
      c.label = dt_name(dt) + " E=" + std::to_string(g.e) + " K=" + std::to_string(g.k) + " H=" + std::to_string(g.h) +
                " N=" + std::to_string(g.n) + (duplicates ? " duplicate routes" : "");
      c.attrs = tools::Attrs().i("num_experts", g.e);
      const int64_t m = g.n * g.k;
      c.inputs = {tensor("hidden_states", dt, {g.n, g.h}, Fill::normal(1.0)),
                  tensor("top_k_gates", MOJO_DT_FP32, {g.n, g.k}, Fill::uniform(0.0, 1.0)),
                  ints("top_k_indices", {g.n, g.k}, routes(g.n, g.k, g.e, ++seed, !duplicates))};
      c.outputs = {tensor("sorted_hidden_states", dt, {m, g.h}), tensor("tokens_per_expert", MOJO_DT_INT32, {g.e}),
                   tensor("sorted_gates", MOJO_DT_FP32, {m, 1}), tensor("token_indices", MOJO_DT_INT32, {m})};
      c.tolerances = {Tolerance::bitwise()};
      cases.push_back(c);
      if (g.n == 5) {
        c.label = dt_name(dt) + " expert id = E";
        std::vector<int64_t> bad = routes(g.n, g.k, g.e, seed, false);
        bad[3] = g.e;
        c.inputs[2] = ints("top_k_indices", {g.n, g.k}, bad);
        c.expect = MOJO_STATUS_INVALID_ARGUMENT;
        cases.push_back(c);
      }
    }
  }

  // moe_combine: the repo grid (bf16 expert outputs, fp32 gates, shuffled rows), tokens without rows, fp32/fp16.
  {
    struct CombineCase {
      int64_t n, k, h;
      int dt;
      bool gated;
      int64_t skip_every;
    };
    std::vector<CombineCase> grid = {{64, 4, 1024, MOJO_DT_BF16, true, 0}, {9, 2, 96, MOJO_DT_FP32, false, 3}};
    if (!opt.quick) {
      grid.push_back({128, 8, 1024, MOJO_DT_BF16, true, 0});
      grid.push_back({256, 8, 1024, MOJO_DT_BF16, true, 0});
      grid.push_back({128, 8, 3584, MOJO_DT_BF16, true, 0});
      grid.push_back({33, 4, 2048, MOJO_DT_FP16, true, 5});
      grid.push_back({0, 4, 1024, MOJO_DT_BF16, true, 0});
    }
    uint32_t seed = 200;
    for (const CombineCase &g : grid) {
      const int64_t m = g.n * g.k;
      OpCase c;
      c.op = "moe_combine";
      c.label = dt_name(g.dt) + " N=" + std::to_string(g.n) + " K=" + std::to_string(g.k) +
                " H=" + std::to_string(g.h) + (g.gated ? "" : " ungated") +
                (g.skip_every ? " tokens without rows" : "");
      c.attrs = tools::Attrs().b("multiply_by_gates", g.gated);
      std::vector<int64_t> dest = shuffled_tokens(g.n, g.k, ++seed, g.skip_every);
      c.inputs = {tensor("expert_outputs", g.dt, {m, g.h}, Fill::normal(1.0)),
                  tensor("sorted_gates", MOJO_DT_FP32, {m, 1}, Fill::uniform(0.0, 1.0)),
                  ints("token_indices", {m}, dest)};
      c.outputs = {tensor("combined", g.dt, {g.n, g.h})};
      c.tolerances = {g.dt == MOJO_DT_FP32 ? Tolerance::close(1e-5, 1e-5) : mixed_tol()};
      cases.push_back(c);
      if (g.n == 9) {
        dest[4] = g.n;
        c.label = dt_name(g.dt) + " token index = N";
        c.inputs[2] = ints("token_indices", {m}, dest, MOJO_DT_INT64);
        c.expect = MOJO_STATUS_INVALID_ARGUMENT;
        cases.push_back(c);
      }
    }
  }

  // moe_dispatch_quant: bf16 input with fp32 smooth scales U[0,1) (the repo's backend test), block sizes 8/128.
  {
    struct QuantCase {
      Grid g;
      int dt;
      int64_t qb;
      bool smooth;
    };
    std::vector<QuantCase> grid = {{{16, 4, 1024, 64}, MOJO_DT_BF16, 8, true},
                                   {{4, 2, 64, 5}, MOJO_DT_FP32, 16, false}};
    if (!opt.quick) {
      grid.push_back({{32, 8, 1024, 128}, MOJO_DT_BF16, 8, true});
      grid.push_back({{384, 8, 3584, 64}, MOJO_DT_BF16, 128, true});
      grid.push_back({{60, 4, 2048, 17}, MOJO_DT_FP16, 128, false});
      grid.push_back({{16, 4, 1024, 0}, MOJO_DT_BF16, 8, true});
    }
    uint32_t seed = 300;
    for (const QuantCase &q : grid) {
      const Grid &g = q.g;
      OpCase c;
      c.op = "moe_dispatch_quant";
      c.label = dt_name(q.dt) + " E=" + std::to_string(g.e) + " K=" + std::to_string(g.k) +
                " H=" + std::to_string(g.h) + " N=" + std::to_string(g.n) + " Qb=" + std::to_string(q.qb) +
                (q.smooth ? " smooth" : "");
      c.attrs = tools::Attrs().i("num_experts", g.e).i("top_k", g.k).i("quant_block_size", q.qb);
      std::vector<int64_t> ids = routes(g.n, g.k, g.e, ++seed);
      c.inputs = {tensor("hidden_states", q.dt, {g.n, g.h}, Fill::normal(1.0)),
                  tensor("top_k_gates", MOJO_DT_FP32, {g.n, g.k}, Fill::uniform(0.0, 1.0)),
                  ints("top_k_indices", {g.n, g.k}, ids, g.n == 5 ? MOJO_DT_INT64 : MOJO_DT_INT32),
                  q.smooth ? tensor("smooth_scale", MOJO_DT_FP32, {g.e, g.h}, Fill::uniform(0.0, 1.0))
                           : absent("smooth_scale")};
      c.outputs = {tensor("quantized", MOJO_DT_INT8, {g.n, g.k, g.h}),
                   tensor("sorted_gates", MOJO_DT_FP32, {g.n, g.k, 1}),
                   tensor("sorted_token_indices", MOJO_DT_INT32, {g.n, g.k, 1}),
                   tensor("token_count", MOJO_DT_INT32, {g.e}), tensor("scale", MOJO_DT_FP32, {g.n, g.k, g.h / q.qb})};
      c.tolerances = {Tolerance::close(1.0, 0.0), Tolerance::close(0.0, 1e-4), Tolerance::bitwise(),
                      Tolerance::bitwise(), Tolerance::close(0.0, 1e-4)};
      cases.push_back(c);
      if (g.n == 5) {
        ids[6] = -1;
        c.label += " expert id = -1";
        c.inputs[2] = ints("top_k_indices", {g.n, g.k}, ids, MOJO_DT_INT64);
        c.expect = MOJO_STATUS_INVALID_ARGUMENT;
        cases.push_back(c);
      }
    }
  }
}

}  // namespace mojo::conformance
