// static_quant, dynamic_quant and dequant against scales computed here and hand-checked rounding
// (spec/linear_quant.md §5-7, ops.md §1.7).
#include "quant_check.h"

namespace mojo::tools {
namespace {

class QuantTest : public OpTest, public ::testing::WithParamInterface<int> {};

TEST_P(QuantTest, DynamicQuantRoundTripsWithinOneStep) {
  const int dt = GetParam();
  for (bool smooth : {false, true}) {
    const int64_t rows = 6, K = 37;
    HostTensor x(dt, {2, 3, K}), s(MOJO_DT_FP32, {K}), q(MOJO_DT_INT8, {2, 3, K}), scale(MOJO_DT_FP32, {2, 3, 1});
    x.fill_normal(rng, 3.0f);
    s.fill_uniform(rng, 0.5f, 2.0f);
    std::vector<double> want;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < K; ++i) want.push_back(double(x.get(r * K + i)) * (smooth ? s.get(i) : 1.0));
    run("dynamic_quant", Attrs(), {&x, smooth ? &s : nullptr}, {&q, &scale});
    expect_dynamic_quant(q, scale, want, K, true, "dynamic_quant");
    // The row's largest magnitude maps to +-127 exactly.
    for (int64_t r = 0; r < rows; ++r) {
      float m = 0;
      for (int64_t i = 0; i < K; ++i) m = std::max(m, std::fabs(q.get(r * K + i)));
      EXPECT_EQ(m, 127.0f);
    }
  }
}

TEST_P(QuantTest, DynamicQuantTinyAndZeroRowsUseUnitScale) {
  const int dt = GetParam();
  HostTensor x(dt, {2, 8}), q(MOJO_DT_INT8, {2, 8}), scale(MOJO_DT_FP32, {2, 1});
  x.fill(0);
  x.set(8 + 3, 1e-5f);  // amax / 127 < 1e-6
  run("dynamic_quant", Attrs(), {&x, nullptr}, {&q, &scale});
  EXPECT_EQ(scale.get(0), 1.0f);
  EXPECT_EQ(scale.get(1), 1.0f);
  for (float v : q.to_floats()) EXPECT_EQ(v, 0.0f);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, QuantTest, ::testing::ValuesIn(kFloatDtypes));

TEST_F(OpTest, DynamicQuantRejectsFp8AndWrongInputSize) {
  HostTensor x(MOJO_DT_FP32, {2, 8}), q8(MOJO_DT_FP8_E4M3FN, {2, 8}), q(MOJO_DT_INT8, {2, 8}), scale(MOJO_DT_FP32, {2, 1});
  x.fill_normal(rng, 1);
  EXPECT_EQ(code_of("dynamic_quant", Attrs().dtype("quant_dtype", "fp8_e4m3fn"), {&x, nullptr}, {&q8, &scale}),
            MOJO_STATUS_UNSUPPORTED);
  EXPECT_EQ(code_of("dynamic_quant", Attrs().i("input_size", 9), {&x, nullptr}, {&q, &scale}),
            MOJO_STATUS_INVALID_ARGUMENT);
}

TEST_F(OpTest, StaticQuantRoundsHalfToEvenAndClamps) {
  // One scale per column: x / scale lands on exact halves, so round-half-to-even is visible.
  HostTensor x(MOJO_DT_FP32, {1, 8}), scale(MOJO_DT_FP32, {8}), q(MOJO_DT_INT8, {1, 8});
  x.fill_from({2.5f, 3.5f, -2.5f, -3.5f, 0.5f, 1000.0f, -1000.0f, 1.49f});
  scale.fill_from({1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.5f, 0.5f, 1.0f});
  run("static_quant", Attrs(), {&x, &scale}, {&q});
  EXPECT_EQ(q.to_floats(), (std::vector<float>{2, 4, -2, -4, 0, 127, -128, 1}));
}

TEST_F(OpTest, StaticQuantGroupedScaleRoundTripsAndFp8Saturates) {
  for (int dt : kFloatDtypes) {
    HostTensor x(dt, {3, 4, 16}), scale(MOJO_DT_FP32, {4, 16}), q(MOJO_DT_INT8, {3, 4, 16}), back(MOJO_DT_FP32, {3, 4, 16});
    x.fill_normal(rng, 2);
    // Per-(row, column) scale amax / 127 over the leading dim, computed here.
    for (int64_t j = 0; j < 64; ++j) {
      double amax = 0;
      for (int64_t b = 0; b < 3; ++b) amax = std::max(amax, std::fabs(double(x.get(b * 64 + j))));
      scale.set(j, float(std::max(amax, 1e-10) / 127));
    }
    run("static_quant", Attrs().ints("input_size", {4, 16}), {&x, &scale}, {&q});
    run("dequant", Attrs().dtype("output_dtype", "fp32"), {&q, &scale}, {&back});
    for (int64_t i = 0; i < 3 * 64; ++i)
      ASSERT_LE(std::fabs(back.get(i) - x.get(i)), 0.5001 * scale.get(i % 64)) << "element " << i;
  }
  HostTensor x(MOJO_DT_BF16, {1, 4}), scale(MOJO_DT_FP32, {4}), q(MOJO_DT_FP8_E4M3FN, {1, 4});
  x.fill_from({500.0f, -1000.0f, 17.0f, 0.01f});
  scale.fill(1.0f);
  run("static_quant", Attrs().dtype("quant_dtype", "fp8_e4m3fn"), {&x, &scale}, {&q});
  // 17 lies between the fp8 codes 16 and 18 (spacing 2 above 16): a tie, even mantissa -> 16.
  EXPECT_EQ(q.to_floats(), (std::vector<float>{448, -448, 16, 0.009765625f}));
}

TEST_F(OpTest, StaticQuantRejectsMismatchedScale) {
  HostTensor x(MOJO_DT_FP32, {2, 8}), scale(MOJO_DT_FP32, {4}), q(MOJO_DT_INT8, {2, 8});
  x.fill(1);
  scale.fill(1);
  EXPECT_EQ(code_of("static_quant", Attrs(), {&x, &scale}, {&q}), MOJO_STATUS_INVALID_ARGUMENT);
}

TEST_F(OpTest, DequantBroadcastsScalesExactly) {
  HostTensor q(MOJO_DT_INT8, {3, 5}), q32(MOJO_DT_INT32, {3, 5});
  for (int64_t i = 0; i < 15; ++i) {
    q.set(i, float(int(i * 17 % 255) - 127));
    q32.set_int(i, (i - 7) * 100000);
  }
  HostTensor per_row(MOJO_DT_FP32, {3, 1}), per_col(MOJO_DT_FP32, {5}), per_tensor(MOJO_DT_FP32, {});
  per_row.fill_from({0.5f, 0.25f, 3.0f});
  per_col.fill_from({1, 2, 4, 8, 0.125f});
  per_tensor.fill(0.75f);
  for (int odt : kFloatDtypes) {
    const std::string name = common::dtype_name(odt);
    HostTensor out(odt, {3, 5});
    run("dequant", Attrs().dtype("output_dtype", name), {&q, &per_row}, {&out});
    for (int64_t i = 0; i < 15; ++i) EXPECT_EQ(out.get(i), common::round_to_dtype(q.get(i) * per_row.get(i / 5), odt));
    run("dequant", Attrs().dtype("output_dtype", name), {&q, &per_col}, {&out});
    for (int64_t i = 0; i < 15; ++i) EXPECT_EQ(out.get(i), common::round_to_dtype(q.get(i) * per_col.get(i % 5), odt));
    run("dequant", Attrs().dtype("output_dtype", name), {&q32, &per_tensor}, {&out});
    for (int64_t i = 0; i < 15; ++i)
      EXPECT_EQ(out.get(i), common::round_to_dtype(float(double(q32.get_int(i)) * 0.75), odt));
  }
  HostTensor bad(MOJO_DT_FP32, {3, 2}), out(MOJO_DT_BF16, {3, 5});
  bad.fill(1);
  EXPECT_EQ(code_of("dequant", Attrs(), {&q, &bad}, {&out}), MOJO_STATUS_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace mojo::tools
