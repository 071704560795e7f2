// MoE routing ops (spec/moe.md) against double-precision closed forms, hand-built routes and the
// gating -> dispatch -> combine identity.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "op_test_support.h"

namespace mojo::tools {
namespace {

class MoeTest : public OpTest {};

// Router in double: softmax of x . w, top-k by descending p (stable: lower expert first), renormalised.
void gating_reference(const std::vector<float> &x, const std::vector<float> &w, int64_t n, int64_t h, int64_t e,
                      int64_t k, std::vector<int64_t> &ids, std::vector<double> &gates) {
  ids.assign(size_t(n * k), 0);
  gates.assign(size_t(n * k), 0.0);
  for (int64_t t = 0; t < n; ++t) {
    std::vector<double> p(size_t(e), 0.0);
    for (int64_t j = 0; j < e; ++j)
      for (int64_t i = 0; i < h; ++i) p[size_t(j)] += double(x[size_t(t * h + i)]) * w[size_t(i * e + j)];
    const double m = *std::max_element(p.begin(), p.end());
    double z = 0;
    for (double &v : p) z += (v = std::exp(v - m));
    for (double &v : p) v /= z;
    std::vector<int64_t> order(static_cast<size_t>(e));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[size_t(a)] > p[size_t(b)]; });
    double kept = 0;
    for (int64_t j = 0; j < k; ++j) kept += p[size_t(order[size_t(j)])];
    for (int64_t j = 0; j < k; ++j) {
      ids[size_t(t * k + j)] = order[size_t(j)];
      gates[size_t(t * k + j)] = p[size_t(order[size_t(j)])] / kept;
    }
  }
}

TEST_F(MoeTest, GatingMatchesClosedFormAndGatesSumToOne) {
  for (int dt : kFloatDtypes) {
    const int64_t n = 24, h = 96, e = 16, k = 4;
    HostTensor x(dt, {n, h}), w(MOJO_DT_FP32, {h, e});
    x.fill_uniform(rng, 0.0f, 1.0f);
    w.fill_normal(rng, 0.2f);
    HostTensor ids(MOJO_DT_INT32, {n, k}), gates(MOJO_DT_FP32, {n, k});
    run("moe_gating", Attrs().i("top_k", k), {&x, &w}, {&ids, &gates});
    std::vector<int64_t> want_ids;
    std::vector<double> want_gates;
    gating_reference(x.to_floats(), w.to_floats(), n, h, e, k, want_ids, want_gates);
    for (int64_t i = 0; i < n * k; ++i) EXPECT_EQ(ids.get_int(i), want_ids[size_t(i)]) << "dtype " << dt << " at " << i;
    expect_close(gates.to_floats(), want_gates, 1e-6, 1e-5, "gates");
    for (int64_t t = 0; t < n; ++t) {
      double sum = 0;
      for (int64_t j = 0; j < k; ++j) {
        sum += gates.get(t * k + j);
        if (j > 0) {
          EXPECT_LE(gates.get(t * k + j), gates.get(t * k + j - 1)) << "row " << t << " not descending";
        }
      }
      EXPECT_NEAR(sum, 1.0, 1e-6) << "row " << t;
    }
  }
}

TEST_F(MoeTest, GatingTiesPickLowerExpertsAndTopKIsChecked) {
  const int64_t n = 3, h = 8, e = 6;
  HostTensor x(MOJO_DT_BF16, {n, h}), w(MOJO_DT_FP32, {h, e});
  x.fill_uniform(rng, -1.0f, 1.0f);
  w.fill(0.0f);  // every logit 0: all experts tie
  HostTensor ids(MOJO_DT_INT32, {n, 3}), gates(MOJO_DT_FP32, {n, 3});
  run("moe_gating", Attrs().i("top_k", 3), {&x, &w}, {&ids, &gates});
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < 3; ++j) {
      EXPECT_EQ(ids.get_int(t * 3 + j), j);
      EXPECT_NEAR(gates.get(t * 3 + j), 1.0 / 3.0, 1e-7);
    }
  HostTensor ids7(MOJO_DT_INT32, {n, 7}), gates7(MOJO_DT_FP32, {n, 7});
  EXPECT_EQ(code_of("moe_gating", Attrs().i("top_k", 7), {&x, &w}, {&ids7, &gates7}), MOJO_STATUS_INVALID_ARGUMENT);
  // No tokens: nothing to do.
  HostTensor x0(MOJO_DT_BF16, {0, h}), ids0(MOJO_DT_INT32, {0, 3}), gates0(MOJO_DT_FP32, {0, 3});
  run("moe_gating", Attrs().i("top_k", 3), {&x0, &w}, {&ids0, &gates0});
}

TEST_F(MoeTest, DispatchGroupsRoutesByExpertInTokenOrder) {
  for (int dt : kFloatDtypes) {
    const int64_t n = 5, k = 3, e = 5, h = 8, m = n * k;
    HostTensor x(dt, {n, h}), gates(MOJO_DT_FP32, {n, k}), ids(MOJO_DT_INT32, {n, k});
    x.fill_normal(rng, 1.0f);
    gates.fill_uniform(rng, 0.0f, 1.0f);
    // Expert 2 gets nothing; token 2 routes to expert 1 twice.
    const std::vector<int64_t> route = {3, 0, 1, /**/ 1, 4, 0, /**/ 1, 1, 3, /**/ 0, 3, 4, /**/ 4, 1, 0};
    ids.fill_ints(route);
    HostTensor xs(dt, {m, h}), counts(MOJO_DT_INT32, {e}), gs(MOJO_DT_FP32, {m, 1}), tok(MOJO_DT_INT32, {m});
    run("moe_dispatch", Attrs().i("num_experts", e), {&x, &gates, &ids}, {&xs, &counts, &gs, &tok});
    int64_t row = 0;
    for (int64_t ex = 0; ex < e; ++ex) {
      int64_t count = 0;
      for (int64_t r = 0; r < m; ++r) {
        if (route[size_t(r)] != ex) continue;
        ++count;
        const int64_t t = r / k;
        EXPECT_EQ(tok.get_int(row), t) << "row " << row;
        EXPECT_EQ(gs.get(row), gates.get(r)) << "row " << row;
        for (int64_t d = 0; d < h; ++d) ASSERT_EQ(xs.get(row * h + d), x.get(t * h + d)) << "row " << row;
        ++row;
      }
      EXPECT_EQ(counts.get_int(ex), count) << "expert " << ex;
    }
    EXPECT_EQ(row, m);
    // An expert id outside [0, E) fails before anything is written.
    ids.set_int(7, e);
    counts.fill(-1.0f);
    tok.fill(-1.0f);
    std::string msg;
    EXPECT_EQ(code_of("moe_dispatch", Attrs().i("num_experts", e), {&x, &gates, &ids}, {&xs, &counts, &gs, &tok}, &msg),
              MOJO_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(msg.find("top_k_indices"), std::string::npos) << msg;
    for (int64_t i = 0; i < e; ++i) EXPECT_EQ(counts.get_int(i), -1);
    for (int64_t i = 0; i < m; ++i) EXPECT_EQ(tok.get_int(i), -1);
    // M must be N*K.
    HostTensor xs_bad(dt, {m - 1, h}), gs_bad(MOJO_DT_FP32, {m - 1, 1}), tok_bad(MOJO_DT_INT32, {m - 1});
    ids.set_int(7, 0);
    EXPECT_EQ(
        code_of("moe_dispatch", Attrs().i("num_experts", e), {&x, &gates, &ids}, {&xs_bad, &counts, &gs_bad, &tok_bad}),
        MOJO_STATUS_INVALID_ARGUMENT);
  }
}

// gating -> dispatch -> identity experts -> combine returns the input (the gates of a token sum to 1).
TEST_F(MoeTest, DispatchThenCombineWithIdentityExpertsIsTheIdentity) {
  for (int dt : kFloatDtypes) {
    const int64_t n = 33, h = 64, e = 8, k = 3, m = n * k;
    HostTensor x(dt, {n, h}), w(MOJO_DT_FP32, {h, e});
    x.fill_normal(rng, 1.0f);
    w.fill_normal(rng, 0.5f);
    HostTensor ids(MOJO_DT_INT32, {n, k}), gates(MOJO_DT_FP32, {n, k});
    run("moe_gating", Attrs().i("top_k", k), {&x, &w}, {&ids, &gates});
    HostTensor xs(dt, {m, h}), counts(MOJO_DT_INT32, {e}), gs(MOJO_DT_FP32, {m, 1}), tok(MOJO_DT_INT32, {m});
    run("moe_dispatch", Attrs().i("num_experts", e), {&x, &gates, &ids}, {&xs, &counts, &gs, &tok});
    HostTensor out(dt, {n, h});
    out.fill(123.0f);  // prior contents are overwritten, not accumulated into
    run("moe_combine", Attrs(), {&xs, &gs, &tok}, {&out});
    const std::vector<float> xf = x.to_floats();
    expect_close(out.to_floats(), std::vector<double>(xf.begin(), xf.end()), 1e-6, 1e-6,
                 "combine(dispatch(x)) dtype " + std::to_string(dt));
  }
}

TEST_F(MoeTest, CombineSumsRowsPerTokenAndZeroesUnroutedTokens) {
  for (int dt : kFloatDtypes) {
    const int64_t m = 10, n = 4, h = 16;
    HostTensor y(dt, {m, h}), g(MOJO_DT_FP32, {m, 1}), tok(MOJO_DT_INT64, {m}), out(dt, {n, h});
    y.fill_normal(rng, 1.0f);
    g.fill_uniform(rng, 0.0f, 1.0f);
    const std::vector<int64_t> dest = {2, 0, 1, 2, 0, 0, 1, 2, 2, 0};  // token 3 receives nothing
    tok.fill_ints(dest);
    const std::vector<float> yf = y.to_floats(), gf = g.to_floats();
    for (bool gated : {true, false}) {
      out.fill(5.0f);
      run("moe_combine", Attrs().b("multiply_by_gates", gated), {&y, &g, &tok}, {&out});
      std::vector<double> want(size_t(n * h), 0.0);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t d = 0; d < h; ++d)
          want[size_t(dest[size_t(i)] * h + d)] += (gated ? gf[size_t(i)] : 1.0) * yf[size_t(i * h + d)];
      expect_close(out.to_floats(), want, 1e-5, dtype_rtol(dt) + 1e-5, gated ? "gated" : "ungated");
    }
    tok.set_int(4, n);
    out.fill(5.0f);
    EXPECT_EQ(code_of("moe_combine", Attrs(), {&y, &g, &tok}, {&out}), MOJO_STATUS_INVALID_ARGUMENT);
    for (float v : out.to_floats()) ASSERT_EQ(v, 5.0f);
  }
}

TEST_F(MoeTest, DispatchQuantHandBuiltExample) {
  // Two tokens, two experts, H = 4 in blocks of 2. Routes: (t0, e1), (t0, e0), (t1, e1), (t1, e1).
  HostTensor x(MOJO_DT_FP32, {2, 4}), gates(MOJO_DT_FP32, {2, 2}), ids(MOJO_DT_INT64, {2, 2});
  x.fill_from({127.0f, 50.0f, -2.54f, 1.0f, /**/ 0.0f, 0.0f, 12.7f, -6.0f});
  gates.fill_from({0.6f, 0.4f, 0.7f, 0.3f});
  ids.fill_ints({1, 0, 1, 1});
  HostTensor smooth(MOJO_DT_FP32, {2, 4});
  smooth.fill_from({1.0f, 1.0f, 1.0f, 1.0f, /**/ 0.5f, 0.5f, 0.5f, 0.5f});
  HostTensor q(MOJO_DT_INT8, {2, 2, 4}), gs(MOJO_DT_FP32, {2, 2, 1}), tok(MOJO_DT_INT32, {2, 2, 1}),
      counts(MOJO_DT_INT32, {2}), scale(MOJO_DT_FP32, {2, 2, 2});
  for (bool with_smooth : {false, true}) {
    run("moe_dispatch_quant", Attrs().i("num_experts", 2).i("top_k", 2).i("quant_block_size", 2),
        {&x, &gates, &ids, with_smooth ? &smooth : nullptr}, {&q, &gs, &tok, &counts, &scale});
    // Stable order: expert 0 gets r1; expert 1 gets r0, r2, r3.
    EXPECT_EQ(counts.get_int(0), 1);
    EXPECT_EQ(counts.get_int(1), 3);
    const int64_t want_tok[4] = {0, 0, 1, 1};
    const float want_gate[4] = {0.4f, 0.6f, 0.7f, 0.3f};
    // Token 0 codes {127, 50 | -127, 50}; token 1 {0, 0 | 127, -60}: the smooth scale halves the scales only.
    const std::vector<int64_t> codes0 = {127, 50, -127, 50}, codes1 = {0, 0, 127, -60};
    const double s0[2] = {1.0, 0.02}, s1[2] = {1e-12 / 127, 0.1};
    for (int64_t row = 0; row < 4; ++row) {
      EXPECT_EQ(tok.get_int(row), want_tok[row]);
      EXPECT_EQ(gs.get(row), want_gate[row]);
      const bool expert1 = row > 0;
      const double mul = with_smooth && expert1 ? 0.5 : 1.0;
      const auto &codes = want_tok[row] == 0 ? codes0 : codes1;
      const double *s = want_tok[row] == 0 ? s0 : s1;
      for (int64_t d = 0; d < 4; ++d)
        EXPECT_EQ(q.get_int(row * 4 + d), codes[size_t(d)]) << "row " << row << " d " << d;
      for (int64_t b = 0; b < 2; ++b) {
        const double want = (want_tok[row] == 1 && b == 0) ? s[b] : s[b] * mul;  // the 1e-12 floor is not scaled
        EXPECT_NEAR(scale.get(row * 2 + b), want, want * 1e-6) << "row " << row << " block " << b;
      }
    }
  }
}

TEST_F(MoeTest, DispatchQuantRoundTripsWithinHalfAStep) {
  const int64_t n = 9, k = 2, e = 4, h = 64, qb = 16;
  HostTensor x(MOJO_DT_BF16, {n, h}), gates(MOJO_DT_FP32, {n, k}), ids(MOJO_DT_INT32, {n, k}), sm(MOJO_DT_BF16, {e, h});
  x.fill_normal(rng, 2.0f);
  gates.fill_uniform(rng, 0.0f, 1.0f);
  sm.fill_uniform(rng, 0.1f, 1.0f);
  for (int64_t i = 0; i < n * k; ++i) ids.set_int(i, (i * 3 + 1) % e);
  HostTensor q(MOJO_DT_INT8, {n, k, h}), gs(MOJO_DT_FP32, {n, k, 1}), tok(MOJO_DT_INT32, {n, k, 1}),
      counts(MOJO_DT_INT32, {e}), scale(MOJO_DT_FP32, {n, k, h / qb});
  const Attrs attrs = Attrs().i("num_experts", e).i("top_k", k).i("quant_block_size", qb);
  run("moe_dispatch_quant", attrs, {&x, &gates, &ids, &sm}, {&q, &gs, &tok, &counts, &scale});
  const std::vector<float> xf = x.to_floats(), sf = sm.to_floats();
  // Rebuild the stable order independently and check every block.
  int64_t row = 0;
  for (int64_t ex = 0; ex < e; ++ex)
    for (int64_t r = 0; r < n * k; ++r) {
      if (ids.get_int(r) != ex) continue;
      const int64_t t = r / k;
      ASSERT_EQ(tok.get_int(row), t);
      for (int64_t b = 0; b < h / qb; ++b) {
        const double s = scale.get(row * (h / qb) + b);
        double amax = 0;
        int64_t qmax = 0;
        for (int64_t j = 0; j < qb; ++j) {
          const int64_t d = b * qb + j;
          const double v = double(xf[size_t(t * h + d)]) * sf[size_t(ex * h + d)];
          amax = std::max(amax, std::fabs(v));
          const int64_t code = q.get_int(row * h + d);
          qmax = std::max<int64_t>(qmax, std::llabs(code));
          EXPECT_LE(std::fabs(double(code) * s - v), 0.5 * s * (1 + 1e-4) + 1e-7) << "row " << row << " d " << d;
        }
        EXPECT_NEAR(s, amax / 127.0, amax / 127.0 * 1e-6);
        EXPECT_EQ(qmax, 127);
      }
      ++row;
    }
  EXPECT_EQ(row, n * k);
}

TEST_F(MoeTest, DispatchQuantReservedAttributesAndBadIds) {
  const int64_t n = 2, k = 2, e = 2, h = 4;
  HostTensor x(MOJO_DT_FP32, {n, h}), gates(MOJO_DT_FP32, {n, k}), ids(MOJO_DT_INT32, {n, k});
  x.fill_normal(rng, 1.0f);
  gates.fill(0.5f);
  ids.fill_ints({0, 1, 1, 0});
  HostTensor q(MOJO_DT_INT8, {n, k, h}), gs(MOJO_DT_FP32, {n, k, 1}), tok(MOJO_DT_INT32, {n, k, 1}),
      counts(MOJO_DT_INT32, {e}), scale(MOJO_DT_FP32, {n, k, h / 2});
  auto code = [&](Attrs a) {
    return code_of("moe_dispatch_quant", a.i("num_experts", e).i("top_k", k).i("quant_block_size", 2),
                   {&x, &gates, &ids, nullptr}, {&q, &gs, &tok, &counts, &scale});
  };
  EXPECT_EQ(code(Attrs()), MOJO_STATUS_SUCCESS);
  EXPECT_EQ(code(Attrs().i("end_expert_id", e)), MOJO_STATUS_SUCCESS);
  EXPECT_EQ(code(Attrs().i("quant_mode", 1)), MOJO_STATUS_UNSUPPORTED);
  EXPECT_EQ(code(Attrs().i("start_expert_id", 1)), MOJO_STATUS_UNSUPPORTED);
  EXPECT_EQ(code(Attrs().i("end_expert_id", 1)), MOJO_STATUS_UNSUPPORTED);
  EXPECT_EQ(code(Attrs().dtype("quant_dtype", "fp8_e4m3fn")), MOJO_STATUS_INVALID_ARGUMENT);  // q is int8
  EXPECT_EQ(code(Attrs().i("quant_mode", 2)), MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(code(Attrs().i("end_expert_id", 3)), MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(code_of("moe_dispatch_quant", Attrs().i("num_experts", e).i("top_k", k).i("quant_block_size", 3),
                    {&x, &gates, &ids, nullptr}, {&q, &gs, &tok, &counts, &scale}),
            MOJO_STATUS_INVALID_ARGUMENT);
  ids.set_int(3, -1);
  counts.fill(-9.0f);
  EXPECT_EQ(code(Attrs()), MOJO_STATUS_INVALID_ARGUMENT);
  for (int64_t i = 0; i < e; ++i) EXPECT_EQ(counts.get_int(i), -9);
}

}  // namespace
}  // namespace mojo::tools
