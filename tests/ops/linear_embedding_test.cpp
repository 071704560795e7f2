// linear against a double-precision product; embedding is an exact gather (spec/linear_quant.md, embedding.md).
#include "op_test_support.h"

namespace mojo::tools {
namespace {

class LinearTest : public OpTest, public ::testing::WithParamInterface<int> {};

TEST_P(LinearTest, MatchesDoubleProductInBothLayouts) {
  const int dt = GetParam();
  const int64_t M = 5, K = 37, N = 11;
  HostTensor x(dt, {M, K}), w_nk(dt, {N, K}), w_kn(dt, {K, N}), b(dt, {N}), y(dt, {M, N}), y_kn(dt, {M, N});
  x.fill_uniform(rng, -1, 1);
  w_nk.fill_uniform(rng, -1, 1);
  b.fill_uniform(rng, -1, 1);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) w_kn.set(k * N + n, w_nk.get(n * K + k));
  std::vector<double> want;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = b.get(n);
      for (int64_t k = 0; k < K; ++k) acc += double(x.get(m * K + k)) * w_nk.get(n * K + k);
      want.push_back(acc);
    }
  run("linear", Attrs(), {&x, &w_nk, &b}, {&y});
  expect_close(y.to_floats(), want, 1e-4, dtype_rtol(dt));
  run("linear", Attrs().s("weight_layout", "KN"), {&x, &w_kn, &b}, {&y_kn});
  EXPECT_TRUE(y.same_bytes(y_kn));
}

TEST_F(OpTest, LinearWithIdentityWeightCopiesRows) {
  HostTensor x(MOJO_DT_BF16, {2, 3, 16}), w(MOJO_DT_BF16, {16, 16}), y(MOJO_DT_BF16, {2, 3, 16});
  x.fill_normal(rng, 1);
  for (int64_t i = 0; i < 16; ++i) w.set(i * 16 + i, 1.0f);
  run("linear", Attrs(), {&x, &w, nullptr}, {&y});
  EXPECT_TRUE(y.same_bytes(x));
}

TEST_F(OpTest, EmbeddingGathersRowsExactly) {
  for (int id_dt : {MOJO_DT_INT32, MOJO_DT_INT64}) {
    HostTensor table(MOJO_DT_BF16, {10, 8}), ids(id_dt, {2, 3}), out(MOJO_DT_BF16, {2, 3, 8});
    table.fill_normal(rng, 1);
    std::vector<int64_t> idv = {0, 9, 3, 3, 5, 0};
    ids.fill_ints(idv);
    run("embedding", Attrs().i("padding_idx", 0), {&ids, &table}, {&out});
    for (size_t i = 0; i < idv.size(); ++i)
      for (int64_t h = 0; h < 8; ++h) ASSERT_EQ(out.get(int64_t(i) * 8 + h), table.get(idv[i] * 8 + h));
  }
}

TEST_F(OpTest, EmbeddingMaxNormRenormalisesReferencedRowsInPlace) {
  HostTensor table(MOJO_DT_FP32, {4, 2}), ids(MOJO_DT_INT32, {2}), out(MOJO_DT_FP32, {2, 2});
  table.fill_from({3, 4, 0.3f, 0.4f, 6, 8, 1, 0});
  ids.fill_ints({0, 1});
  run("embedding", Attrs().f("max_norm", 1.0), {&ids, &table}, {&out});
  EXPECT_NEAR(out.get(0), 0.6, 1e-6);  // row 0 had norm 5
  EXPECT_NEAR(out.get(1), 0.8, 1e-6);
  EXPECT_EQ(out.get(2), 0.3f);         // row 1 is within the limit
  EXPECT_NEAR(table.get(0), 0.6, 1e-6) << "referenced rows are rescaled in the table";
  EXPECT_EQ(table.get(4), 6.0f) << "unreferenced rows stay";
}

TEST_F(OpTest, EmbeddingRejectsOutOfRangeIds) {
  HostTensor table(MOJO_DT_FP32, {4, 2}), ids(MOJO_DT_INT32, {2}), out(MOJO_DT_FP32, {2, 2});
  for (int64_t bad : {-1, 4}) {
    ids.fill_ints({0, bad});
    EXPECT_EQ(code_of("embedding", Attrs(), {&ids, &table}, {&out}), MOJO_STATUS_INVALID_ARGUMENT) << bad;
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, LinearTest, ::testing::ValuesIn(kFloatDtypes),
                         [](const auto &info) { return std::string(common::dtype_name(info.param)); });

}  // namespace
}  // namespace mojo::tools
