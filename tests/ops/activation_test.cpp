// Activations against their formulas in double precision (spec/activation.md).
#include "op_test_support.h"

namespace mojo::tools {
namespace {

class ActivationTest : public OpTest, public ::testing::WithParamInterface<int> {};

std::vector<double> map(const std::vector<float> &x, double (*f)(double)) {
  std::vector<double> out;
  for (float v : x) out.push_back(f(v));
  return out;
}

double silu_d(double x) { return x / (1 + std::exp(-x)); }
double gelu_erf_d(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh_d(double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

TEST_P(ActivationTest, Silu) {
  const int dt = GetParam();
  HostTensor x(dt, {7, 33}), y(dt, {7, 33});
  x.fill_uniform(rng, -8, 8);
  run("silu", Attrs(), {&x}, {&y});
  expect_close(y.to_floats(), map(x.to_floats(), silu_d), 1e-6, dtype_rtol(dt));
}

TEST_P(ActivationTest, GeluBothFormsAndTheyDiffer) {
  const int dt = GetParam();
  HostTensor x(dt, {999}), y_erf(dt, {999}), y_tanh(dt, {999});
  x.fill_uniform(rng, -4, 4);
  run("gelu", Attrs(), {&x}, {&y_erf});
  run("gelu", Attrs().s("approximate", "tanh"), {&x}, {&y_tanh});
  expect_close(y_erf.to_floats(), map(x.to_floats(), gelu_erf_d), 1e-6, dtype_rtol(dt), "erf");
  expect_close(y_tanh.to_floats(), map(x.to_floats(), gelu_tanh_d), 1e-6, dtype_rtol(dt), "tanh");
  if (dt == MOJO_DT_FP32) {
    EXPECT_FALSE(y_erf.same_bytes(y_tanh)) << "tanh must not stand in for erf";
  }
}

TEST_P(ActivationTest, SwigluWithAndWithoutLimit) {
  const int dt = GetParam();
  HostTensor g(dt, {4, 50}), u(dt, {4, 50}), y(dt, {4, 50});
  g.fill_uniform(rng, -6, 6);
  u.fill_uniform(rng, -6, 6);
  std::vector<float> gf = g.to_floats(), uf = u.to_floats();
  std::vector<double> plain, limited;
  for (size_t i = 0; i < gf.size(); ++i) {
    plain.push_back(silu_d(gf[i]) * uf[i]);
    double gl = std::min<double>(gf[i], 2.0), ul = std::clamp<double>(uf[i], -2.0, 2.0);
    limited.push_back(silu_d(gl) * ul);
  }
  run("swiglu", Attrs(), {&g, &u}, {&y});
  expect_close(y.to_floats(), plain, 1e-5, dtype_rtol(dt), "no limit");
  run("swiglu", Attrs().f("swiglu_limit", 2.0), {&g, &u}, {&y});
  expect_close(y.to_floats(), limited, 1e-5, dtype_rtol(dt), "limit 2");
}

TEST_F(OpTest, ElementwiseOpsTakeAnyRankIncludingEmpty) {
  HostTensor x(MOJO_DT_FP32, {2, 0, 3}), y(MOJO_DT_FP32, {2, 0, 3});
  run("silu", Attrs(), {&x}, {&y});
  HostTensor s(MOJO_DT_FP32, {}), t(MOJO_DT_FP32, {});
  s.fill(1.0f);
  run("silu", Attrs(), {&s}, {&t});
  EXPECT_NEAR(t.get(0), silu_d(1.0), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ActivationTest, ::testing::ValuesIn(kFloatDtypes),
                         [](const auto &info) { return std::string(common::dtype_name(info.param)); });

}  // namespace
}  // namespace mojo::tools
