// silu_quant, gelu_quant, swiglu_quant: the fp64 activation, smoothed, quantized per row with the scale
// recomputed here (spec/activation.md §4).
#include "quant_check.h"

namespace mojo::tools {
namespace {

double silu(double x) { return x / (1 + std::exp(-x)); }
double gelu_erf(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
double swiglu(double g, double u, double limit) {
  if (limit > 0) {
    u = std::clamp(u, -limit, limit);
    g = std::min(g, limit);
  }
  return silu(g) * u;
}

struct Case {
  int dtype;
  int quant;
};

class ActQuantTest : public OpTest, public ::testing::WithParamInterface<Case> {};

TEST_P(ActQuantTest, UnaryActivationsQuantizeRoundTrip) {
  const auto [dt, qd] = GetParam();
  const int64_t R = 6, N = 45;
  HostTensor x(dt, {2, 3, N}), s(MOJO_DT_FP32, {N}), q(qd, {2, 3, N}), scale(MOJO_DT_FP32, {2, 3, 1});
  x.fill_normal(rng, 2);
  s.fill_uniform(rng, 0.5f, 2);
  const Attrs a = Attrs().dtype("quant_dtype", common::dtype_name(qd));
  for (int which = 0; which < 3; ++which) {
    for (bool smooth : {false, true}) {
      std::vector<double> want;
      for (int64_t i = 0; i < R * N; ++i) {
        const double v = x.get(i);
        want.push_back((which == 0 ? silu(v) : which == 1 ? gelu_erf(v) : gelu_tanh(v)) *
                       (smooth ? s.get(i % N) : 1.0));
      }
      if (which == 0)
        run("silu_quant", a, {&x, smooth ? &s : nullptr, nullptr}, {&q, &scale});
      else
        run("gelu_quant", Attrs(a).s("approximate", which == 1 ? "none" : "tanh"), {&x, smooth ? &s : nullptr, nullptr},
            {&q, &scale});
      expect_dynamic_quant(q, scale, want, N, true, "activation " + std::to_string(which));
    }
  }
}

TEST_P(ActQuantTest, SwigluQuantSplitAndConcatenatedForms) {
  const auto [dt, qd] = GetParam();
  const int64_t R = 4, N = 33;
  HostTensor g(dt, {R, N}), u(dt, {R, N}), cat(dt, {R, 2 * N}), q(qd, {R, N}), scale(MOJO_DT_FP32, {R, 1});
  g.fill_normal(rng, 2);
  u.fill_normal(rng, 2);
  for (double limit : {0.0, 1.5}) {
    std::vector<double> want;
    for (int64_t i = 0; i < R * N; ++i) want.push_back(swiglu(g.get(i), u.get(i), limit));
    const Attrs a = Attrs().dtype("quant_dtype", common::dtype_name(qd)).f("swiglu_limit", limit);
    run("swiglu_quant", a, {&g, &u, nullptr, nullptr}, {&q, &scale});
    expect_dynamic_quant(q, scale, want, N, true, "split");
    for (bool gate_first : {true, false}) {
      for (int64_t r = 0; r < R; ++r)
        for (int64_t i = 0; i < N; ++i) {
          cat.set(r * 2 * N + i + (gate_first ? 0 : N), g.get(r * N + i));
          cat.set(r * 2 * N + i + (gate_first ? N : 0), u.get(r * N + i));
        }
      run("swiglu_quant", Attrs(a).b("gate_first", gate_first), {&cat, nullptr, nullptr, nullptr}, {&q, &scale});
      expect_dynamic_quant(q, scale, want, N, true, gate_first ? "gate first" : "up first");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ActQuantTest,
                         ::testing::Values(Case{MOJO_DT_FP32, MOJO_DT_INT8}, Case{MOJO_DT_BF16, MOJO_DT_INT8},
                                           Case{MOJO_DT_FP16, MOJO_DT_FP8_E4M3FN}));

TEST_F(OpTest, ActivationQuantPerExpertSmoothing) {
  const int64_t T = 5, N = 16, E = 3;
  HostTensor x(MOJO_DT_BF16, {T, N}), s(MOJO_DT_FP32, {E, N}), gi(MOJO_DT_INT32, {T}), q(MOJO_DT_INT8, {T, N}),
      scale(MOJO_DT_FP32, {T, 1});
  x.fill_normal(rng, 1);
  s.fill_uniform(rng, 0.25f, 4);
  gi.fill_ints({2, 0, 0, 1, 2});
  std::vector<double> want;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < N; ++i) want.push_back(silu(x.get(t * N + i)) * s.get(gi.get_int(t) * N + i));
  run("silu_quant", Attrs(), {&x, &s, &gi}, {&q, &scale});
  expect_dynamic_quant(q, scale, want, N, true, "per expert");
  // An expert id out of range is rejected before anything is written.
  gi.fill_ints({2, 0, 3, 1, 2});
  q.fill(5);
  EXPECT_EQ(code_of("silu_quant", Attrs(), {&x, &s, &gi}, {&q, &scale}), MOJO_STATUS_INVALID_ARGUMENT);
  for (float v : q.to_floats()) EXPECT_EQ(v, 5.0f);
  // group_index only with a per-expert smooth scale.
  HostTensor s1(MOJO_DT_FP32, {N});
  s1.fill(1);
  EXPECT_EQ(code_of("silu_quant", Attrs(), {&x, &s1, &gi}, {&q, &scale}), MOJO_STATUS_INVALID_ARGUMENT);
}

TEST_F(OpTest, ActivationQuantZeroRowsHaveUnitScale) {
  HostTensor x(MOJO_DT_FP16, {2, 8}), q(MOJO_DT_INT8, {2, 8}), scale(MOJO_DT_FP32, {2, 1});
  x.fill(0);
  run("gelu_quant", Attrs(), {&x, nullptr, nullptr}, {&q, &scale});
  EXPECT_EQ(scale.get(0), 1.0f);
  for (float v : q.to_floats()) EXPECT_EQ(v, 0.0f);
  HostTensor odd(MOJO_DT_FP16, {2, 9}), q4(MOJO_DT_INT8, {2, 4});
  odd.fill(1);
  EXPECT_EQ(code_of("swiglu_quant", Attrs(), {&odd, nullptr, nullptr, nullptr}, {&q4, &scale}),
            MOJO_STATUS_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace mojo::tools
