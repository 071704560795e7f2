// quant_linear (int8: exact int32 accumulation; fp8 e4m3fn: exact sums of exact products), batch_linear and
// group_linear against products computed here (spec/linear_quant.md §2-4).
#include "op_test_support.h"

namespace mojo::tools {
namespace {

// want[m, n] = sum_k x[m, k] * w[n, k] + bias[n] in fp64, w given as [N, K].
std::vector<double> matmul_nk(const HostTensor &x, int64_t x_off, const HostTensor &w, int64_t w_off,
                              const HostTensor *bias, int64_t b_off, int64_t M, int64_t K, int64_t N) {
  std::vector<double> out;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = bias ? bias->get(b_off + n) : 0.0;
      for (int64_t k = 0; k < K; ++k) acc += double(x.get(x_off + m * K + k)) * w.get(w_off + n * K + k);
      out.push_back(acc);
    }
  return out;
}

// dst [G, K, N] from src [G, N, K].
void transpose_last2(const HostTensor &src, HostTensor &dst, int64_t G, int64_t N, int64_t K) {
  for (int64_t g = 0; g < G; ++g)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) dst.set(g * K * N + k * N + n, src.get(g * N * K + n * K + k));
}

TEST_F(OpTest, QuantLinearIsExactInInt32ThenScaled) {
  const int64_t M = 4, K = 4099, N = 6;
  HostTensor x(MOJO_DT_INT8, {M, K}), w_kn(MOJO_DT_INT8, {K, N}), w_nk(MOJO_DT_INT8, {N, K});
  HostTensor xs(MOJO_DT_FP32, {M, 1}), ws(MOJO_DT_BF16, {N}), one_x(MOJO_DT_FP32, {M}), one_w(MOJO_DT_FP32, {N});
  std::uniform_int_distribution<int> code(-128, 127);
  for (int64_t i = 0; i < M * K; ++i) x.set(i, float(code(rng)));
  x.set(0, -128);
  for (int64_t i = 1; i < K; ++i) x.set(i, 127);  // row 0: |acc| far above 2^24
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const float v = n == 0 ? 127.0f : float(code(rng));
      w_nk.set(n * K + k, v);
      w_kn.set(k * N + n, v);
    }
  xs.fill_uniform(rng, 0.001f, 0.01f);
  ws.fill_uniform(rng, 0.001f, 0.01f);
  one_x.fill(1);
  one_w.fill(1);
  std::vector<int64_t> acc;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      int64_t a = 0;
      for (int64_t k = 0; k < K; ++k) a += int64_t(x.get(m * K + k)) * int64_t(w_nk.get(n * K + k));
      acc.push_back(a);
    }
  // Unit scales + fp32 output: the exact integer, rounded once to fp32.
  HostTensor y(MOJO_DT_FP32, {M, N});
  run("quant_linear", Attrs().dtype("output_dtype", "fp32"), {&x, &one_x, &w_kn, &one_w}, {&y});
  for (int64_t i = 0; i < M * N; ++i) ASSERT_EQ(y.get(i), float(acc[size_t(i)])) << i;
  EXPECT_GT(std::fabs(double(acc[0])), double(1 << 24));
  for (int odt : kFloatDtypes) {
    HostTensor out(odt, {M, N}), out_nk(odt, {M, N});
    const Attrs a = Attrs().dtype("output_dtype", common::dtype_name(odt)).i("in_features", K);
    run("quant_linear", a, {&x, &xs, &w_kn, &ws}, {&out});
    run("quant_linear", Attrs(a).s("weight_layout", "NK"), {&x, &xs, &w_nk, &ws}, {&out_nk});
    std::vector<double> want;
    for (int64_t i = 0; i < M * N; ++i) want.push_back(double(acc[size_t(i)]) * xs.get(i / N) * ws.get(i % N));
    expect_close(out.to_floats(), want, 1e-6, dtype_rtol(odt) + 1e-6, common::dtype_name(odt));
    EXPECT_TRUE(out.same_bytes(out_nk));
  }
  EXPECT_EQ(code_of("quant_linear", Attrs().i("out_features", N + 1), {&x, &xs, &w_kn, &ws}, {&y}),
            MOJO_STATUS_INVALID_ARGUMENT);
}

// e4m3fn decoded from its bits, independently of mojo_common: sign, 4 exponent bits (bias 7), 3 mantissa bits,
// subnormals at exponent 0 (0x7f / 0xff are NaN and not used here).
double e4m3_value(uint8_t b) {
  const int e = (b >> 3) & 15, m = b & 7;
  const double mag = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
  return (b & 0x80) ? -mag : mag;
}

void set_bytes(HostTensor &t, const std::vector<uint8_t> &bytes) {
  ASSERT_EQ(size_t(t.numel()), bytes.size());
  std::copy(bytes.begin(), bytes.end(), static_cast<uint8_t *>(t.data()));
}

TEST_F(OpTest, QuantLinearFp8SumsExactlyThenScales) {
  const int fp8 = MOJO_DT_FP8_E4M3FN;
  // The codes the test relies on: 1.0, 448 (largest finite), 2^-9 (smallest subnormal), -1.5.
  for (auto [byte, value] : {std::pair{0x38, 1.0}, std::pair{0x7e, 448.0}, std::pair{0x01, 0.001953125},
                             std::pair{0xbc, -1.5}}) {
    HostTensor one(fp8, {1});
    set_bytes(one, {uint8_t(byte)});
    EXPECT_EQ(e4m3_value(uint8_t(byte)), value);
    EXPECT_EQ(double(one.get(0)), value);
  }

  // Row 0: 448 * 448 + 1024 * (2^-9 * 1) = 200706 exactly; fp32 running sums would stall at 200704 (ulp 2^-6).
  const int64_t K = 1025, N = 2;
  std::vector<uint8_t> xb(size_t(2 * K), 0x00), wb(size_t(N * K), 0x00);
  xb[0] = 0x7e;
  wb[0] = 0x7e;
  for (int64_t k = 1; k < K; ++k) {
    xb[size_t(k)] = 0x01;
    wb[size_t(k)] = 0x38;
  }
  // Row 1 against weight row 1: 448 * 448 - 448 * 448 + 2^-9 * 2^-9 = 2^-18 (exact cancellation).
  xb[size_t(K)] = 0x7e;
  xb[size_t(K + 1)] = 0xfe;
  xb[size_t(K + 2)] = 0x01;
  wb[size_t(K)] = 0x7e;
  wb[size_t(K + 1)] = 0x7e;
  wb[size_t(K + 2)] = 0x01;
  HostTensor x(fp8, {2, K}), w(fp8, {N, K}), y(MOJO_DT_FP32, {2, N});
  HostTensor one_x(MOJO_DT_FP32, {2}), one_w(MOJO_DT_FP32, {N});
  set_bytes(x, xb);
  set_bytes(w, wb);
  one_x.fill(1);
  one_w.fill(1);
  run("quant_linear", Attrs().s("weight_layout", "NK").dtype("output_dtype", "fp32"), {&x, &one_x, &w, &one_w}, {&y});
  EXPECT_EQ(y.get(0), 200706.0f);
  EXPECT_EQ(y.get(3), float(std::ldexp(1.0, -18)));
  float naive = 0;
  for (int64_t k = 0; k < K; ++k) naive += float(e4m3_value(xb[size_t(k)]) * e4m3_value(wb[size_t(k)]));
  EXPECT_NE(naive, 200706.0f);  // the check above tells an exact sum from an fp32 one

  // Random codes (all finite values, subnormals included), both layouts, every output dtype: the exact sum in fp64,
  // rounded once to fp32, then (acc * x_scale[m]) * w_scale[n] in fp32 and one rounding to the output dtype.
  const int64_t M = 3, K2 = 37, N2 = 5;
  std::uniform_int_distribution<int> byte(0, 255);
  auto finite_code = [&] {
    int b;
    do b = byte(rng);
    while ((b & 0x7f) == 0x7f);
    return uint8_t(b);
  };
  std::vector<uint8_t> xr(size_t(M * K2)), wr(size_t(N2 * K2)), wr_kn(size_t(K2 * N2));
  for (auto &b : xr) b = finite_code();
  for (int64_t n = 0; n < N2; ++n)
    for (int64_t k = 0; k < K2; ++k) wr[size_t(n * K2 + k)] = wr_kn[size_t(k * N2 + n)] = finite_code();
  HostTensor xq(fp8, {M, K2}), w_nk(fp8, {N2, K2}), w_kn(fp8, {K2, N2});
  HostTensor xs(MOJO_DT_FP32, {M, 1}), ws(MOJO_DT_BF16, {N2});
  set_bytes(xq, xr);
  set_bytes(w_nk, wr);
  set_bytes(w_kn, wr_kn);
  xs.fill_uniform(rng, 0.001f, 0.01f);
  ws.fill_uniform(rng, 0.001f, 0.01f);
  for (int odt : kFloatDtypes) {
    HostTensor out(odt, {M, N2}), out_nk(odt, {M, N2}), want(odt, {M, N2});
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N2; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < K2; ++k) acc += e4m3_value(xr[size_t(m * K2 + k)]) * e4m3_value(wr[size_t(n * K2 + k)]);
        want.set(m * N2 + n, (float(acc) * xs.get(m)) * ws.get(n));
      }
    const Attrs a = Attrs().dtype("output_dtype", common::dtype_name(odt)).dtype("quant_dtype", "fp8_e4m3fn");
    run("quant_linear", a, {&xq, &xs, &w_kn, &ws}, {&out});
    run("quant_linear", Attrs(a).s("weight_layout", "NK").dtype("weight_dtype", "fp8_e4m3fn"), {&xq, &xs, &w_nk, &ws},
        {&out_nk});
    EXPECT_TRUE(out.same_bytes(want)) << common::dtype_name(odt);
    EXPECT_TRUE(out_nk.same_bytes(want)) << common::dtype_name(odt);
  }
}

TEST_F(OpTest, QuantLinearRejectsDisagreeingDtypesWithoutWriting) {
  const int64_t M = 2, K = 32, N = 16;
  HostTensor x8(MOJO_DT_FP8_E4M3FN, {M, K}), xi(MOJO_DT_INT8, {M, K}), xh(MOJO_DT_FP16, {M, K});
  HostTensor w8(MOJO_DT_FP8_E4M3FN, {K, N}), wi(MOJO_DT_INT8, {K, N}), wh(MOJO_DT_FP16, {K, N});
  HostTensor xs(MOJO_DT_FP32, {M}), ws(MOJO_DT_FP32, {N}), y(MOJO_DT_BF16, {M, N});
  for (HostTensor *t : {&x8, &xi, &xh, &w8, &wi, &wh}) t->fill_uniform(rng, -4, 4);
  xs.fill(0.5f);
  ws.fill(0.5f);
  y.fill(3);
  struct Bad {
    HostTensor *x, *w;
    Attrs attrs;
    mojo_code code;
    const char *names;  // what the message must name
  };
  const std::vector<Bad> bad = {
      {&x8, &wi, Attrs(), MOJO_STATUS_INVALID_ARGUMENT, "'weight'"},
      {&xi, &w8, Attrs(), MOJO_STATUS_INVALID_ARGUMENT, "'weight'"},
      {&xh, &wh, Attrs(), MOJO_STATUS_INVALID_ARGUMENT, "'x'"},
      {&x8, &w8, Attrs().dtype("quant_dtype", "int8"), MOJO_STATUS_INVALID_ARGUMENT, "'quant_dtype'"},
      {&x8, &w8, Attrs().dtype("weight_dtype", "int8"), MOJO_STATUS_INVALID_ARGUMENT, "'weight_dtype'"},
      {&xi, &wi, Attrs().dtype("quant_dtype", "fp8_e4m3fn"), MOJO_STATUS_INVALID_ARGUMENT, "'quant_dtype'"},
      {&xi, &wi, Attrs().dtype("weight_dtype", "fp8_e5m2"), MOJO_STATUS_UNSUPPORTED, "'weight_dtype'"},
      {&x8, &w8, Attrs().dtype("quant_dtype", "int4x2"), MOJO_STATUS_INVALID_ARGUMENT, "'quant_dtype'"},
  };
  for (const Bad &b : bad) {
    std::string message;
    EXPECT_EQ(code_of("quant_linear", b.attrs, {b.x, &xs, b.w, &ws}, {&y}, &message), b.code) << message;
    EXPECT_NE(message.find("quant_linear"), std::string::npos) << message;
    EXPECT_NE(message.find(b.names), std::string::npos) << message;
  }
  for (float v : y.to_floats()) EXPECT_EQ(v, 3.0f);
  // Attributes that agree are accepted.
  const Attrs agree = Attrs().dtype("quant_dtype", "fp8_e4m3fn").dtype("weight_dtype", "fp8_e4m3fn");
  run("quant_linear", agree, {&x8, &xs, &w8, &ws}, {&y});
}

class LinearFamilyTest : public OpTest, public ::testing::WithParamInterface<int> {};

TEST_P(LinearFamilyTest, BatchLinearPerBatchAndReduced) {
  const int dt = GetParam();
  const int64_t B = 3, M = 5, K = 19, N = 7;
  HostTensor x(dt, {B, M, K}), w(dt, {B, N, K}), w_kn(dt, {B, K, N}), bias(dt, {B, N});
  HostTensor y(dt, {B, M, N}), y_kn(dt, {B, M, N}), red(dt, {M, N});
  x.fill_uniform(rng, -1, 1);
  w.fill_uniform(rng, -1, 1);
  bias.fill_uniform(rng, -1, 1);
  transpose_last2(w, w_kn, B, N, K);
  std::vector<double> want, sum(size_t(M * N), 0.0);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> part = matmul_nk(x, b * M * K, w, b * N * K, &bias, b * N, M, K, N);
    for (size_t i = 0; i < part.size(); ++i) sum[i] += part[i];
    want.insert(want.end(), part.begin(), part.end());
  }
  run("batch_linear", Attrs(), {&x, &w, &bias}, {&y});
  expect_close(y.to_floats(), want, 1e-4, dtype_rtol(dt));
  run("batch_linear", Attrs().s("weight_layout", "KN"), {&x, &w_kn, &bias}, {&y_kn});
  EXPECT_TRUE(y.same_bytes(y_kn));
  run("batch_linear", Attrs().b("reduce_batch", true), {&x, &w, &bias}, {&red});
  expect_close(red.to_floats(), sum, 1e-4, dtype_rtol(dt));
}

TEST_P(LinearFamilyTest, GroupLinearUsesEachGroupsWeight) {
  const int dt = GetParam();
  const int64_t G = 4, K = 24, N = 10, M = 9;
  const std::vector<int64_t> counts = {2, 0, 4, 3};
  HostTensor x(dt, {M, K}), w_nk(dt, {G, N, K}), w_kn(dt, {G, K, N}), bias(dt, {G, N}), gl(MOJO_DT_INT64, {G});
  HostTensor y(dt, {M, N}), y_nk(dt, {M, N});
  x.fill_uniform(rng, -1, 1);
  w_nk.fill_uniform(rng, -1, 1);
  bias.fill_uniform(rng, -1, 1);
  transpose_last2(w_nk, w_kn, G, N, K);
  gl.fill_ints(counts);
  std::vector<double> want;
  int64_t start = 0;
  for (int64_t g = 0; g < G; ++g) {
    std::vector<double> part = matmul_nk(x, start * K, w_nk, g * N * K, &bias, g * N, counts[size_t(g)], K, N);
    want.insert(want.end(), part.begin(), part.end());
    start += counts[size_t(g)];
  }
  run("group_linear", Attrs(), {&x, &gl, &w_kn, &bias}, {&y});
  expect_close(y.to_floats(), want, 1e-4, dtype_rtol(dt));
  run("group_linear", Attrs().s("weight_layout", "NK"), {&x, &gl, &w_nk, &bias}, {&y_nk});
  EXPECT_TRUE(y.same_bytes(y_nk));
  // Counts must be non-negative and sum to Mtot; nothing is written otherwise.
  y.fill(3);
  for (const std::vector<int64_t> &bad : {std::vector<int64_t>{2, 0, 4, 2}, std::vector<int64_t>{2, -1, 5, 3},
                                          std::vector<int64_t>{9, 1, 0, 0}}) {
    gl.fill_ints(bad);
    EXPECT_EQ(code_of("group_linear", Attrs(), {&x, &gl, &w_kn, nullptr}, {&y}), MOJO_STATUS_INVALID_ARGUMENT);
  }
  for (float v : y.to_floats()) EXPECT_EQ(v, 3.0f);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, LinearFamilyTest, ::testing::ValuesIn(kFloatDtypes));

}  // namespace
}  // namespace mojo::tools
