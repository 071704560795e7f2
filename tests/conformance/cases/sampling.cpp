// Conformance cases for the sampling ops (spec/sampling.md, extra.md §G): the repo's [20, 151936] / [60, 155136]
// vocabularies, Llama/Qwen vocabulary sizes, both randomness modes (explicit uniforms and Philox seed/offset),
// per-row top_p, exact nucleus (rand_top_k = V), finite filter values, greedy top_k = 1, empty batches,
// speculative acceptance with per-step and per-request uniforms, penalties, and INVALID_ARGUMENT cases for
// every data-dependent contract (uniforms outside [0, 1), top_p outside (0, 1], draft ids >= V, temperature 0).
//
// Sampled tokens compare exactly; a draw whose uniform sits within 1e-6 of a cumulative boundary may land on
// the neighbouring candidate on another backend (spec/sampling.md §0.3), which the runner reports separately.
#include <algorithm>
#include <random>

#include "case_helpers.h"

namespace mojo::conformance {

using namespace helpers;

namespace {

// Explicit uniforms stay clear of 1 after rounding to fp32.
Fill uniforms() { return Fill::uniform(0.0, 0.999); }

CaseTensor seed_offset(int64_t seed, int64_t offset) { return ints("seed_offset", {2}, {seed, offset}, MOJO_DT_INT64); }

std::vector<int64_t> random_ids(int64_t count, int64_t bound, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int64_t> out(static_cast<size_t>(count));
  for (auto &v : out) v = int64_t(rng() % uint32_t(bound));
  return out;
}

// [rows] values with one replaced: builds INVALID_ARGUMENT inputs.
std::vector<double> with_bad(int64_t rows, double good, double bad) {
  std::vector<double> v(static_cast<size_t>(rows), good);
  v[v.size() / 2] = bad;
  return v;
}

std::string shape_of(const std::vector<int64_t> &s) { return shape_label(s); }

// next_probs within 1e-5 relative, next_tokens exact.
std::vector<Tolerance> draw_tolerances() { return {Tolerance::close(0.0, 1e-5), Tolerance::bitwise()}; }

}  // namespace

void add_sampling_cases(CaseList &cases, const CaseOptions &opt) {
  // top_k_sampling.
  {
    struct TopK {
      std::vector<int64_t> shape;
      int dt;
      int64_t top_k, min_keep;
      bool seeded;
      const char *index_dtype;
    };
    std::vector<TopK> grid = {{{20, 151936}, MOJO_DT_FP32, 10, 1, false, "int64"},
                              {{8, 32000}, MOJO_DT_BF16, 50, 1, true, "int64"}};
    if (!opt.quick) {
      grid.push_back({{64, 152064}, MOJO_DT_BF16, 50, 1, false, "int32"});
      grid.push_back({{5, 128256}, MOJO_DT_FP16, 1, 1, false, "int64"});
      grid.push_back({{2, 3, 4099}, MOJO_DT_FP32, 2000, 1, true, "int32"});
      grid.push_back({{7, 1001}, MOJO_DT_BF16, 10, 64, false, "int64"});
      grid.push_back({{0, 32000}, MOJO_DT_BF16, 50, 1, false, "int64"});
    }
    for (const TopK &g : grid) {
      std::vector<int64_t> lead(g.shape.begin(), g.shape.end() - 1), one = lead;
      one.push_back(1);
      OpCase c;
      c.op = "top_k_sampling";
      c.label = dt_name(g.dt) + " " + shape_of(g.shape) + " top_k=" + std::to_string(g.top_k) +
                (g.min_keep > 1 ? " min_keep=" + std::to_string(g.min_keep) : "") +
                (g.seeded ? " philox" : " uniform") + " " + g.index_dtype;
      c.attrs =
          tools::Attrs().i("top_k", g.top_k).i("min_tokens_to_keep", g.min_keep).dtype("index_dtype", g.index_dtype);
      c.inputs = {tensor("logits", g.dt, g.shape, Fill::normal(3.0)),
                  g.seeded ? absent("uniform") : tensor("uniform", MOJO_DT_FP32, lead, uniforms()),
                  g.seeded ? seed_offset(1234, 5) : absent("seed_offset")};
      c.outputs = {tensor("next_probs", MOJO_DT_FP32, one),
                   tensor("next_tokens", common::dtype_id_from_name(g.index_dtype), one)};
      c.tolerances = draw_tolerances();
      cases.push_back(c);
    }
    OpCase bad;
    bad.op = "top_k_sampling";
    bad.label = "fp32 [4x1000] uniform = 1.0";
    bad.inputs = {tensor("logits", MOJO_DT_FP32, {4, 1000}, Fill::normal(1.0)),
                  tensor("uniform", MOJO_DT_FP32, {4}, Fill::of(with_bad(4, 0.5, 1.0))), absent("seed_offset")};
    bad.outputs = {tensor("next_probs", MOJO_DT_FP32, {4, 1}), tensor("next_tokens", MOJO_DT_INT64, {4, 1})};
    bad.tolerances = draw_tolerances();
    bad.expect = MOJO_STATUS_INVALID_ARGUMENT;
    cases.push_back(bad);
  }

  // top_p_sampling.
  {
    struct TopP {
      std::vector<int64_t> shape;
      int dt;
      double top_p;
      int64_t rand_top_k, min_keep;
      bool row_top_p, seeded;
      double filter_value;  // 0 = default (-inf)
    };
    std::vector<TopP> grid = {{{20, 151936}, MOJO_DT_FP32, 0.75, 1000, 1, false, false, 0},
                              {{8, 32000}, MOJO_DT_BF16, 0.9, 32000, 1, false, true, 0}};
    if (!opt.quick) {
      grid.push_back({{16, 155136}, MOJO_DT_BF16, 0.7, 100, 1, false, false, 0});
      grid.push_back({{64, 152064}, MOJO_DT_BF16, 0.95, 152064, 1, true, true, 0});
      grid.push_back({{6, 128256}, MOJO_DT_FP16, 0.5, 1000, 5, false, false, 0});
      grid.push_back({{2, 5, 4097}, MOJO_DT_FP32, 1.0, 4097, 1, true, false, 0});
      grid.push_back({{9, 2000}, MOJO_DT_FP32, 0.6, 300, 3, false, true, -20.0});
      grid.push_back({{0, 32000}, MOJO_DT_BF16, 0.9, 1000, 1, false, false, 0});
    }
    for (const TopP &g : grid) {
      std::vector<int64_t> lead(g.shape.begin(), g.shape.end() - 1), one = lead;
      one.push_back(1);
      OpCase c;
      c.op = "top_p_sampling";
      c.label = dt_name(g.dt) + " " + shape_of(g.shape) + " top_p=" + std::to_string(g.top_p).substr(0, 4) +
                " rand_top_k=" + std::to_string(g.rand_top_k) +
                (g.min_keep > 1 ? " min_keep=" + std::to_string(g.min_keep) : "") +
                (g.row_top_p ? " per-row top_p" : "") + (g.filter_value != 0 ? " finite filter" : "") +
                (g.seeded ? " philox" : " uniform");
      c.attrs = tools::Attrs().f("top_p", g.top_p).i("rand_top_k", g.rand_top_k).i("min_tokens_to_keep", g.min_keep);
      if (g.filter_value != 0) c.attrs.f("filter_value", g.filter_value);
      c.inputs = {tensor("logits", g.dt, g.shape, Fill::normal(3.0)),
                  g.row_top_p ? tensor("row_top_p", MOJO_DT_FP32, lead, Fill::uniform(0.05, 1.0)) : absent("row_top_p"),
                  g.seeded ? absent("uniform") : tensor("uniform", MOJO_DT_FP32, lead, uniforms()),
                  g.seeded ? seed_offset(987654321, 77) : absent("seed_offset")};
      c.outputs = {tensor("next_probs", MOJO_DT_FP32, one), tensor("next_tokens", MOJO_DT_INT64, one)};
      c.tolerances = draw_tolerances();
      cases.push_back(c);
    }
    OpCase bad;
    bad.op = "top_p_sampling";
    bad.label = "fp32 [4x1000] row_top_p = 0";
    bad.inputs = {tensor("logits", MOJO_DT_FP32, {4, 1000}, Fill::normal(1.0)),
                  tensor("row_top_p", MOJO_DT_FP32, {4}, Fill::of(with_bad(4, 0.8, 0.0))),
                  tensor("uniform", MOJO_DT_FP32, {4}, uniforms()), absent("seed_offset")};
    bad.outputs = {tensor("next_probs", MOJO_DT_FP32, {4, 1}), tensor("next_tokens", MOJO_DT_INT64, {4, 1})};
    bad.tolerances = draw_tolerances();
    bad.expect = MOJO_STATUS_INVALID_ARGUMENT;
    cases.push_back(bad);
  }

  // top_p_filter: the repo's two configurations plus per-row top_p and a finite filter value.
  {
    struct Filter {
      std::vector<int64_t> shape;
      int dt;
      double top_p;
      int64_t rand_top_k, min_keep;
      bool row_top_p;
      double filter_value;
    };
    std::vector<Filter> grid = {{{20, 151936}, MOJO_DT_FP32, 0.75, 1000, 1, false, 0},
                                {{4, 32000}, MOJO_DT_BF16, 0.7, 100, 1, true, 0}};
    if (!opt.quick) {
      grid.push_back({{60, 155136}, MOJO_DT_BF16, 0.7, 100, 1, false, 0});
      grid.push_back({{5, 2048}, MOJO_DT_FP16, 0.9, 4096, 4, false, 0});  // rand_top_k > V
      grid.push_back({{3, 3000}, MOJO_DT_FP32, 0.5, 500, 1, true, -15.0});
    }
    for (const Filter &g : grid) {
      std::vector<int64_t> lead(g.shape.begin(), g.shape.end() - 1), out = lead;
      out.push_back(std::min(g.rand_top_k, g.shape.back()));
      OpCase c;
      c.op = "top_p_filter";
      c.label = dt_name(g.dt) + " " + shape_of(g.shape) + " top_p=" + std::to_string(g.top_p).substr(0, 4) +
                " rand_top_k=" + std::to_string(g.rand_top_k) + (g.row_top_p ? " per-row top_p" : "") +
                (g.filter_value != 0 ? " finite filter" : "");
      c.attrs = tools::Attrs().f("top_p", g.top_p).i("rand_top_k", g.rand_top_k).i("min_tokens_to_keep", g.min_keep);
      if (g.filter_value != 0) c.attrs.f("filter_value", g.filter_value);
      c.inputs = {
          tensor("logits", g.dt, g.shape, Fill::normal(3.0)),
          g.row_top_p ? tensor("row_top_p", MOJO_DT_FP32, lead, Fill::uniform(0.05, 1.0)) : absent("row_top_p")};
      c.outputs = {tensor("probs", g.dt, out), tensor("indices", MOJO_DT_INT64, out)};
      c.tolerances = {float_tol(g.dt), Tolerance::bitwise()};
      cases.push_back(c);
    }
    OpCase bad;
    bad.op = "top_p_filter";
    bad.label = "fp32 [4x1000] row_top_p = 1.5";
    bad.attrs = tools::Attrs().i("rand_top_k", 100);
    bad.inputs = {tensor("logits", MOJO_DT_FP32, {4, 1000}, Fill::normal(1.0)),
                  tensor("row_top_p", MOJO_DT_FP32, {4}, Fill::of(with_bad(4, 0.8, 1.5)))};
    bad.outputs = {tensor("probs", MOJO_DT_FP32, {4, 100}), tensor("indices", MOJO_DT_INT64, {4, 100})};
    bad.tolerances = {float_tol(MOJO_DT_FP32), Tolerance::bitwise()};
    bad.expect = MOJO_STATUS_INVALID_ARGUMENT;
    cases.push_back(bad);
  }

  // reject_sampling: the repo test (B=15, V=155136, S=3, randn target, draft probs 1, seed 42) and
  // per-step / per-request explicit uniforms with realistic probabilities.
  {
    struct Reject {
      int64_t b, s, v;
      int idt;
      const char *mode;  // "seed", "steps" ([B, S] uniforms), "request" ([B, 1])
      bool repo;         // randn target, draft probs 1
    };
    std::vector<Reject> grid = {{15, 3, 155136, MOJO_DT_INT64, "seed", true},
                                {8, 4, 32000, MOJO_DT_INT32, "steps", false}};
    if (!opt.quick) {
      grid.push_back({15, 3, 155136, MOJO_DT_INT64, "request", true});
      grid.push_back({64, 1, 4096, MOJO_DT_INT64, "steps", false});
      grid.push_back({5, 7, 1000, MOJO_DT_INT32, "request", false});
      grid.push_back({0, 3, 1000, MOJO_DT_INT64, "steps", false});
    }
    uint32_t seed = 500;
    for (const Reject &g : grid) {
      const std::string mode = g.mode;
      OpCase c;
      c.op = "reject_sampling";
      c.label = "B=" + std::to_string(g.b) + " S=" + std::to_string(g.s) + " V=" + std::to_string(g.v) + " " +
                dt_name(g.idt) + " " + mode + (g.repo ? " repo (randn target, draft probs 1)" : "");
      const std::vector<int64_t> drafts = random_ids(g.b * g.s, g.v, ++seed);
      // Realistic probabilities: small target values so acceptance varies (ratio t / d around 0.5-2).
      c.inputs = {tensor("target_probs", MOJO_DT_FP32, {g.b, g.s + 1, g.v},
                         g.repo ? Fill::normal(1.0) : Fill::uniform(0.0, 0.02)),
                  ints("draft_tokens", {g.b, g.s}, drafts, g.idt),
                  tensor("draft_probs", MOJO_DT_FP32, {g.b, g.s},
                         g.repo ? Fill::constant_value(1.0) : Fill::uniform(0.005, 0.02)),
                  mode == "seed" ? absent("uniform")
                                 : tensor("uniform", MOJO_DT_FP32, {g.b, mode == "steps" ? g.s : 1}, uniforms()),
                  mode == "seed" ? seed_offset(42, 0) : absent("seed_offset")};
      c.outputs = {tensor("next_tokens", g.idt, {g.b, g.s + 1}), tensor("accepted_len", MOJO_DT_INT32, {g.b})};
      c.tolerances = {Tolerance::bitwise(), Tolerance::bitwise()};
      cases.push_back(c);
      if (g.b == 8) {
        std::vector<int64_t> bad = drafts;
        bad[5] = g.v;
        c.label = "draft id = V";
        c.inputs[1] = ints("draft_tokens", {g.b, g.s}, bad, g.idt);
        c.expect = MOJO_STATUS_INVALID_ARGUMENT;
        cases.push_back(c);
      }
    }
  }

  // apply_penalties_temperature: the repo's ranges (frequencies in [0, 5) on 5% of the tokens).
  {
    struct Pen {
      int64_t b, v;
      int dt;
      bool freqs, mask, temps;
    };
    std::vector<Pen> grid = {{8, 151936, MOJO_DT_FP32, true, false, true}, {4, 32000, MOJO_DT_BF16, true, true, true}};
    if (!opt.quick) {
      grid.push_back({20, 151936, MOJO_DT_FP32, true, true, true});
      grid.push_back({3, 128256, MOJO_DT_FP16, true, false, false});
      grid.push_back({5, 4099, MOJO_DT_BF16, false, false, true});
      grid.push_back({0, 32000, MOJO_DT_FP32, true, false, true});
    }
    uint32_t seed = 600;
    for (const Pen &g : grid) {
      std::mt19937 rng(++seed);
      std::vector<int64_t> f(static_cast<size_t>(g.b * g.v), 0);
      for (auto &x : f)
        if (rng() % 20 == 0) x = 1 + int64_t(rng() % 4);
      std::vector<int64_t> mask(static_cast<size_t>(g.b));
      for (size_t i = 0; i < mask.size(); ++i) mask[i] = i % 3 != 1;
      OpCase c;
      c.op = "apply_penalties_temperature";
      c.label = dt_name(g.dt) + " B=" + std::to_string(g.b) + " V=" + std::to_string(g.v) + (g.freqs ? " freqs" : "") +
                (g.mask ? " row mask" : "") + (g.temps ? " temperature" : "");
      c.inputs = {
          tensor("logits", g.dt, {g.b, g.v}, Fill::normal(3.0)),
          g.freqs ? ints("token_freqs", {g.b, g.v}, f) : absent("token_freqs"),
          g.mask ? ints("freqs_present", {g.b}, mask, MOJO_DT_BOOL) : absent("freqs_present"),
          tensor("presence_penalties", MOJO_DT_FP32, {g.b}, Fill::uniform(-0.5, 0.5)),
          tensor("frequency_penalties", MOJO_DT_FP32, {g.b}, Fill::uniform(-0.5, 0.5)),
          tensor("repetition_penalties", MOJO_DT_FP32, {g.b}, Fill::uniform(0.5, 3.0)),
          g.temps ? tensor("temperatures", MOJO_DT_FP32, {g.b}, Fill::uniform(0.1, 2.0)) : absent("temperatures")};
      c.outputs = {tensor("out", g.dt, {g.b, g.v})};
      c.tolerances = {float_tol(g.dt)};
      cases.push_back(c);
      if (g.b == 4) {
        c.label = dt_name(g.dt) + " temperature = 0";
        c.inputs[6] = tensor("temperatures", MOJO_DT_FP32, {g.b}, Fill::of(with_bad(g.b, 0.7, 0.0)));
        c.expect = MOJO_STATUS_INVALID_ARGUMENT;
        cases.push_back(c);
      }
    }
  }
}

}  // namespace mojo::conformance
