// Norm ops against closed forms computed here in double precision (spec/norm.md).
#include "op_test_support.h"

namespace mojo::tools {
namespace {

std::vector<double> rms_rows(const std::vector<float> &x, const std::vector<float> &w, int64_t d, double eps) {
  std::vector<double> out(x.size());
  for (size_t r = 0; r < x.size() / size_t(d); ++r) {
    double ms = 0;
    for (int64_t i = 0; i < d; ++i) ms += double(x[r * d + i]) * x[r * d + i];
    double inv = 1.0 / std::sqrt(ms / double(d) + eps);
    for (int64_t i = 0; i < d; ++i) out[r * d + i] = x[r * d + i] * inv * w[i];
  }
  return out;
}

std::vector<double> ln_rows(const std::vector<float> &x, const std::vector<float> &w, const std::vector<float> &b,
                            int64_t d, double eps) {
  std::vector<double> out(x.size());
  for (size_t r = 0; r < x.size() / size_t(d); ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < d; ++i) mean += x[r * d + i];
    mean /= double(d);
    for (int64_t i = 0; i < d; ++i) var += (x[r * d + i] - mean) * (x[r * d + i] - mean);
    double inv = 1.0 / std::sqrt(var / double(d) + eps);
    for (int64_t i = 0; i < d; ++i)
      out[r * d + i] = (x[r * d + i] - mean) * inv * (w.empty() ? 1.0 : w[i]) + (b.empty() ? 0.0 : b[i]);
  }
  return out;
}

class NormTest : public OpTest, public ::testing::WithParamInterface<int> {};

TEST_P(NormTest, RmsNormMatchesClosedForm) {
  const int dt = GetParam();
  for (int64_t d : {7, 64, 1000}) {
    HostTensor x(dt, {3, 5, d}), w(MOJO_DT_FP32, {d}), out(dt, {3, 5, d});
    x.fill_normal(rng, 2.0f);
    w.fill_uniform(rng, 0.5f, 1.5f);
    run("rms_norm", Attrs().f("eps", 1e-6), {&x, &w}, {&out});
    expect_close(out.to_floats(), rms_rows(x.to_floats(), w.to_floats(), d, 1e-6), 1e-5, dtype_rtol(dt),
                 "rms_norm D=" + std::to_string(d));
  }
}

TEST_P(NormTest, RmsNormOfZerosIsZero) {
  const int dt = GetParam();
  HostTensor x(dt, {2, 16}), w(dt, {16}), out(dt, {2, 16});
  x.fill(0);
  w.fill(1);
  out.fill(5);
  run("rms_norm", Attrs(), {&x, &w}, {&out});
  for (float v : out.to_floats()) EXPECT_EQ(v, 0.0f);
}

TEST_P(NormTest, LayerNormMatchesClosedFormWithAndWithoutAffine) {
  const int dt = GetParam();
  HostTensor x(dt, {4, 96}), w(dt, {96}), b(dt, {96}), out(dt, {4, 96});
  x.fill_normal(rng, 3.0f);
  w.fill_uniform(rng, 0.5f, 1.5f);
  b.fill_uniform(rng, -1, 1);
  run("layer_norm", Attrs(), {&x, &w, &b}, {&out});
  expect_close(out.to_floats(), ln_rows(x.to_floats(), w.to_floats(), b.to_floats(), 96, 1e-5), 1e-5,
               2 * dtype_rtol(dt));
  run("layer_norm", Attrs().b("elementwise_affine", false), {&x, nullptr, nullptr}, {&out});
  std::vector<float> y = out.to_floats();
  // Without affine every row has mean 0 and (biased) variance 1.
  for (int r = 0; r < 4; ++r) {
    double mean = 0, var = 0;
    for (int i = 0; i < 96; ++i) mean += y[r * 96 + i];
    mean /= 96;
    for (int i = 0; i < 96; ++i) var += (y[r * 96 + i] - mean) * (y[r * 96 + i] - mean);
    EXPECT_NEAR(mean, 0.0, 2 * dtype_rtol(dt));
    EXPECT_NEAR(var / 96, 1.0, 4 * dtype_rtol(dt) + 1e-4);
  }
}

TEST_P(NormTest, ResidualAddRmsNormPreAndPost) {
  const int dt = GetParam();
  const int64_t d = 48;
  HostTensor x(dt, {6, d}), r(dt, {6, d}), w(MOJO_DT_FP32, {d}), out(dt, {6, d}), res_out(dt, {6, d});
  x.fill_normal(rng, 1);
  r.fill_normal(rng, 1);
  w.fill_uniform(rng, 0.5f, 1.5f);
  // The sum is rounded to the input dtype before it is normalised.
  std::vector<float> s(size_t(6 * d));
  for (int64_t i = 0; i < 6 * d; ++i) s[size_t(i)] = common::round_to_dtype(x.get(i) + r.get(i), dt);
  std::vector<double> want = rms_rows(s, w.to_floats(), d, 1e-5);
  run("residual_add_rms_norm", Attrs(), {&x, &r, &w}, {&out, &res_out});
  expect_close(out.to_floats(), want, 1e-5, dtype_rtol(dt), "out (pre)");
  expect_close(res_out.to_floats(), std::vector<double>(s.begin(), s.end()), 0, 0, "residual_out (pre) is the sum");
  run("residual_add_rms_norm", Attrs().s("norm_pos", "post"), {&x, &r, &w}, {&out, &res_out});
  std::vector<float> o = out.to_floats();
  expect_close(res_out.to_floats(), std::vector<double>(o.begin(), o.end()), 0, 0, "residual_out (post) is out");
  // A null residual is x itself.
  run("residual_add_rms_norm", Attrs(), {&x, nullptr, &w}, {&out, &res_out});
  const std::vector<float> xs = x.to_floats();
  expect_close(res_out.to_floats(), std::vector<double>(xs.begin(), xs.end()), 0, 0, "null residual");
}

TEST_P(NormTest, ResidualAddLayerNorm) {
  const int dt = GetParam();
  const int64_t d = 40;
  HostTensor x(dt, {5, d}), r(dt, {5, d}), w(dt, {d}), b(dt, {d}), out(dt, {5, d}), res_out(dt, {5, d});
  x.fill_normal(rng, 1);
  r.fill_normal(rng, 1);
  w.fill_uniform(rng, 0.5f, 1.5f);
  b.fill_uniform(rng, -1, 1);
  std::vector<float> s(size_t(5 * d));
  for (int64_t i = 0; i < 5 * d; ++i) s[size_t(i)] = common::round_to_dtype(x.get(i) + r.get(i), dt);
  run("residual_add_layer_norm", Attrs().f("eps", 1e-6), {&x, &r, &w, &b}, {&out, &res_out});
  expect_close(out.to_floats(), ln_rows(s, w.to_floats(), b.to_floats(), d, 1e-6), 1e-5, 2 * dtype_rtol(dt));
  expect_close(res_out.to_floats(), std::vector<double>(s.begin(), s.end()), 0, 0);
}

TEST_F(OpTest, NormsHonourStridedRows) {
  // Rows 0 and 2 of a [4, 8] buffer viewed as a [2, 8] tensor with row stride 16.
  HostTensor base(MOJO_DT_FP32, {4, 8}), w(MOJO_DT_FP32, {8}), out(MOJO_DT_FP32, {2, 8});
  base.fill_normal(rng, 1);
  w.fill(1);
  HostTensor view = base;
  int64_t shape[2] = {2, 8}, strides[2] = {16, 1};
  view.mutable_view()->shape = shape;
  view.mutable_view()->strides = strides;
  run("rms_norm", Attrs(), {&view, &w}, {&out});
  std::vector<float> rows;
  for (int i : {0, 1, 2, 3, 4, 5, 6, 7}) rows.push_back(base.get(i));
  for (int i : {16, 17, 18, 19, 20, 21, 22, 23}) rows.push_back(base.get(i));
  expect_close(out.to_floats(), rms_rows(rows, w.to_floats(), 8, 1e-5), 1e-6, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, NormTest, ::testing::ValuesIn(kFloatDtypes),
                         [](const auto &info) { return std::string(common::dtype_name(info.param)); });

}  // namespace
}  // namespace mojo::tools
