// Norm + quant and residual-add + norm + cast against fp64 closed forms computed here (spec/norm.md §4-6).
#include "quant_check.h"

namespace mojo::tools {
namespace {

// Row-wise RMSNorm (ln = false) or LayerNorm in fp64 of fp32 values.
std::vector<double> norm_rows(const std::vector<float> &x, const std::vector<float> &w, const std::vector<float> &b,
                              int64_t d, double eps, bool ln) {
  std::vector<double> out(x.size());
  for (size_t r = 0; r < x.size() / size_t(d); ++r) {
    double mean = 0, var = 0;
    if (ln) {
      for (int64_t i = 0; i < d; ++i) mean += x[r * d + i];
      mean /= double(d);
    }
    for (int64_t i = 0; i < d; ++i) var += (x[r * d + i] - mean) * (x[r * d + i] - mean);
    const double inv = 1.0 / std::sqrt(var / double(d) + eps);
    for (int64_t i = 0; i < d; ++i)
      out[r * d + i] = (x[r * d + i] - mean) * inv * (w.empty() ? 1.0 : w[i]) + (b.empty() ? 0.0 : b[i]);
  }
  return out;
}

std::vector<double> smoothed(std::vector<double> y, const std::vector<float> &s) {
  for (size_t i = 0; i < y.size(); ++i) y[i] *= s[i % s.size()];
  return y;
}

struct Case {
  int dtype;
  int quant;
};

class NormQuantTest : public OpTest, public ::testing::WithParamInterface<Case> {};

TEST_P(NormQuantTest, RmsAndLayerNormQuantRoundTrip) {
  const auto [dt, qd] = GetParam();
  const std::string qname = common::dtype_name(qd);
  const int64_t D = 72;
  HostTensor x(dt, {2, 3, D}), w(MOJO_DT_FP32, {D}), b(MOJO_DT_FP32, {D}), s(MOJO_DT_FP32, {D});
  HostTensor q(qd, {2, 3, D}), scale(MOJO_DT_FP32, {2, 3, 1});
  x.fill_normal(rng, 2);
  w.fill_uniform(rng, 0.5f, 1.5f);
  b.fill_uniform(rng, -0.5f, 0.5f);
  s.fill_uniform(rng, 0.5f, 2.0f);
  const Attrs a = Attrs().dtype("quant_dtype", qname).f("eps", 1e-6);
  run("rms_norm_quant", a, {&x, &w, nullptr}, {&q, &scale});
  expect_dynamic_quant(q, scale, norm_rows(x.to_floats(), w.to_floats(), {}, D, 1e-6, false), D, false, "rms");
  run("rms_norm_quant", a, {&x, &w, &s}, {&q, &scale});
  expect_dynamic_quant(q, scale, smoothed(norm_rows(x.to_floats(), w.to_floats(), {}, D, 1e-6, false), s.to_floats()),
                       D, false, "rms smooth");
  run("layer_norm_quant", a, {&x, &w, &b, &s}, {&q, &scale});
  expect_dynamic_quant(q, scale,
                       smoothed(norm_rows(x.to_floats(), w.to_floats(), b.to_floats(), D, 1e-6, true), s.to_floats()),
                       D, false, "layer");
  run("layer_norm_quant", Attrs().dtype("quant_dtype", qname).b("elementwise_affine", false),
      {&x, nullptr, nullptr, nullptr}, {&q, &scale});
  expect_dynamic_quant(q, scale, norm_rows(x.to_floats(), {}, {}, D, 1e-5, true), D, false, "layer no affine");
}

TEST_P(NormQuantTest, ResidualAddNormQuantPreAndPost) {
  const auto [dt, qd] = GetParam();
  const int64_t D = 40, R = 5;
  HostTensor x(dt, {R, D}), r(dt, {R, D}), w(MOJO_DT_FP32, {D}), b(MOJO_DT_FP32, {D}), s(MOJO_DT_FP32, {D});
  x.fill_normal(rng, 1);
  r.fill_normal(rng, 1);
  w.fill_uniform(rng, 0.5f, 1.5f);
  b.fill_uniform(rng, -0.5f, 0.5f);
  s.fill_uniform(rng, 0.5f, 2.0f);
  std::vector<float> sum(size_t(R * D));
  for (int64_t i = 0; i < R * D; ++i) sum[size_t(i)] = common::round_to_dtype(x.get(i) + r.get(i), dt);
  for (bool ln : {false, true}) {
    const std::vector<double> y = norm_rows(sum, w.to_floats(), ln ? b.to_floats() : std::vector<float>(), D, 1e-5, ln);
    for (const char *pos : {"pre", "post"}) {
      HostTensor q(qd, {R, D}), res_out(dt, {R, D}), scale(MOJO_DT_FP32, {R, 1});
      const Attrs a = Attrs().s("norm_pos", pos).dtype("quant_dtype", common::dtype_name(qd));
      if (ln)
        run("residual_add_layer_norm_quant", a, {&x, &r, &w, &b, &s}, {&q, &res_out, &scale});
      else
        run("residual_add_rms_norm_quant", a, {&x, &r, &w, &s}, {&q, &res_out, &scale});
      const std::string what = std::string(ln ? "layer " : "rms ") + pos;
      expect_dynamic_quant(q, scale, smoothed(y, s.to_floats()), D, false, what);
      if (pos[1] == 'r') {
        EXPECT_EQ(res_out.to_floats(), sum) << what;
      } else {
        expect_close(res_out.to_floats(), y, 1e-5, dtype_rtol(dt), what + " residual_out");  // never smoothed
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, NormQuantTest,
                         ::testing::Values(Case{MOJO_DT_FP32, MOJO_DT_INT8}, Case{MOJO_DT_FP16, MOJO_DT_INT8},
                                           Case{MOJO_DT_BF16, MOJO_DT_INT8}, Case{MOJO_DT_BF16, MOJO_DT_FP8_E4M3FN},
                                           Case{MOJO_DT_FP32, MOJO_DT_FP8_E4M3FN}));

TEST_F(OpTest, NormQuantZeroRowHasTinyScale) {
  HostTensor x(MOJO_DT_BF16, {2, 16}), w(MOJO_DT_FP32, {16}), q(MOJO_DT_INT8, {2, 16}), scale(MOJO_DT_FP32, {2, 1});
  x.fill(0);
  x.set(16, 1.0f);
  w.fill(1);
  run("rms_norm_quant", Attrs(), {&x, &w, nullptr}, {&q, &scale});
  EXPECT_FLOAT_EQ(scale.get(0), float(1e-12 / 127));  // no "scale < 1e-6 -> 1" substitution here
  for (int i = 0; i < 16; ++i) EXPECT_EQ(q.get(i), 0.0f);
  EXPECT_EQ(q.get(16), 127.0f);
}

TEST_F(OpTest, NormQuantRejectsAsymmetricAndOtherDtypesWithoutWriting) {
  HostTensor x(MOJO_DT_FP16, {2, 16}), w(MOJO_DT_FP32, {16}), q(MOJO_DT_INT8, {2, 16}), scale(MOJO_DT_FP32, {2, 1});
  HostTensor q32(MOJO_DT_INT32, {2, 16});
  x.fill_normal(rng, 1);
  w.fill(1);
  q.fill(7);
  EXPECT_EQ(code_of("rms_norm_quant", Attrs().b("symmetric", false), {&x, &w, nullptr}, {&q, &scale}),
            MOJO_STATUS_UNSUPPORTED);
  for (float v : q.to_floats()) EXPECT_EQ(v, 7.0f);
  EXPECT_EQ(code_of("rms_norm_quant", Attrs().dtype("quant_dtype", "int32"), {&x, &w, nullptr}, {&q32, &scale}),
            MOJO_STATUS_UNSUPPORTED);
  // q must have the dtype named by quant_dtype.
  EXPECT_EQ(code_of("rms_norm_quant", Attrs().dtype("quant_dtype", "fp8_e4m3fn"), {&x, &w, nullptr}, {&q, &scale}),
            MOJO_STATUS_INVALID_ARGUMENT);
}

TEST_F(OpTest, ResidualAddNormCastMixedPrecision) {
  const int64_t D = 64, R = 4;
  for (bool ln : {false, true}) {
    for (const char *pos : {"pre", "post"}) {
      // bf16 hidden state, fp32 residual stream, fp8 output with a scale.
      HostTensor x(MOJO_DT_BF16, {R, D}), r(MOJO_DT_FP32, {R, D}), w(MOJO_DT_FP32, {D}), b(MOJO_DT_FP32, {D});
      HostTensor out(MOJO_DT_FP8_E4M3FN, {R, D}), res_out(MOJO_DT_FP32, {R, D});
      x.fill_normal(rng, 1);
      r.fill_normal(rng, 1);
      w.fill_uniform(rng, 0.5f, 1.5f);
      b.fill_uniform(rng, -0.5f, 0.5f);
      std::vector<float> sum(size_t(R * D));
      for (int64_t i = 0; i < R * D; ++i) sum[size_t(i)] = x.get(i) + r.get(i);  // formed and kept in fp32
      const std::vector<double> y = norm_rows(sum, w.to_floats(), ln ? b.to_floats() : std::vector<float>(), D, 1e-5, ln);
      const double out_scale = 0.0078125;  // pushes |y| / out_scale past 448 for large y: saturation is exercised
      run("residual_add_norm_cast",
          Attrs().s("norm_type", ln ? "layer" : "rms").s("norm_pos", pos).dtype("out_dtype", "fp8_e4m3fn").f("out_scale", out_scale),
          {&x, &r, &w, ln ? &b : nullptr}, {&out, &res_out});
      for (int64_t i = 0; i < R * D; ++i) {
        const double want = std::clamp(y[size_t(i)] / out_scale, -448.0, 448.0);
        ASSERT_LE(std::fabs(out.get(i) - want), std::fabs(want) / 16 + 1e-3) << i;
      }
      if (pos[1] == 'r')
        EXPECT_EQ(res_out.to_floats(), sum);
      else
        expect_close(res_out.to_floats(), y, 1e-5, 1e-5, "post residual_out");
    }
  }
  // fp16 stream, bf16 output: one rounding of the fp32 result.
  HostTensor x(MOJO_DT_FP16, {3, 24}), r(MOJO_DT_FP16, {3, 24}), w(MOJO_DT_FP16, {24}), out(MOJO_DT_BF16, {3, 24}),
      res_out(MOJO_DT_FP16, {3, 24});
  x.fill_normal(rng, 1);
  r.fill_normal(rng, 1);
  w.fill_uniform(rng, 0.5f, 1.5f);
  run("residual_add_norm_cast", Attrs().dtype("out_dtype", "bf16"), {&x, &r, &w, nullptr}, {&out, &res_out});
  std::vector<float> sum(72);
  for (int64_t i = 0; i < 72; ++i) sum[size_t(i)] = common::round_to_dtype(x.get(i) + r.get(i), MOJO_DT_FP16);
  expect_close(out.to_floats(), norm_rows(sum, w.to_floats(), {}, 24, 1e-5, false), 1e-5, dtype_rtol(MOJO_DT_BF16));
  EXPECT_EQ(res_out.to_floats(), sum);
  EXPECT_EQ(code_of("residual_add_norm_cast", Attrs().dtype("out_dtype", "bf16"), {&x, &r, &w, &w}, {&out, &res_out}),
            MOJO_STATUS_INVALID_ARGUMENT);  // bias with norm_type rms
}

}  // namespace
}  // namespace mojo::tools
