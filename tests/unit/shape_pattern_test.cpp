// The shape DSL of the op schema (docs/schema.md), tested through validation of real schema entries.
#include <gtest/gtest.h>

#include "op_call.h"

namespace mojo::tools {
namespace {

class ShapeRules : public ::testing::Test {
 protected:
  void SetUp() override { ctx = make_context(); ASSERT_NE(ctx, nullptr); }
  void TearDown() override { mojo_context_destroy(ctx); }
  mojo_context *ctx = nullptr;
};

TEST_F(ShapeRules, EllipsisMatchesAnyLeadingDims) {
  for (auto shape : std::vector<std::vector<int64_t>>{{8}, {3, 8}, {2, 3, 8}, {1, 1, 1, 8}}) {
    HostTensor x(MOJO_DT_FP32, shape), w(MOJO_DT_FP32, {8}), out(MOJO_DT_FP32, shape);
    x.fill(1.0f);
    w.fill(1.0f);
    EXPECT_EQ(run_op(ctx, "rms_norm", Attrs(), {&x, &w}, {&out}), nullptr) << shape_str(shape);
  }
}

TEST_F(ShapeRules, ConditionalPatternFollowsTheAttribute) {
  HostTensor x(MOJO_DT_FP32, {2, 4}), w_nk(MOJO_DT_FP32, {3, 4}), w_kn(MOJO_DT_FP32, {4, 3}), out(MOJO_DT_FP32, {2, 3});
  x.fill(1.0f);
  w_nk.fill(1.0f);
  w_kn.fill(1.0f);
  EXPECT_EQ(run_op(ctx, "linear", Attrs(), {&x, &w_nk, nullptr}, {&out}), nullptr);
  EXPECT_EQ(run_op(ctx, "linear", Attrs().s("weight_layout", "KN"), {&x, &w_kn, nullptr}, {&out}), nullptr);
  Status s = run_op(ctx, "linear", Attrs().s("weight_layout", "KN"), {&x, &w_nk, nullptr}, {&out});
  ASSERT_NE(s, nullptr);
  EXPECT_NE(std::string(mojo_status_message(s.get())).find("weight"), std::string::npos) << mojo_status_message(s.get());
}

TEST_F(ShapeRules, AlternativesAcceptEitherRank) {
  std::vector<std::vector<int64_t>> q_shapes = {{5, 4, 8}, {2, 5, 4, 8}};
  for (auto qs : q_shapes) {
    auto ks = qs;
    ks[ks.size() - 2] = 2;
    int64_t tokens = qs.size() == 3 ? 5 : 5;
    HostTensor q(MOJO_DT_FP32, qs), k(MOJO_DT_FP32, ks), c(MOJO_DT_FP32, {tokens, 8}), s(MOJO_DT_FP32, {tokens, 8});
    HostTensor qo(MOJO_DT_FP32, qs), ko(MOJO_DT_FP32, ks);
    q.fill(1);
    k.fill(1);
    c.fill(1);
    s.fill(0);
    EXPECT_EQ(run_op(ctx, "apply_rope", Attrs().b("head_first", false), {&q, &k, &c, &s}, {&qo, &ko}), nullptr)
        << shape_str(qs);
  }
}

}  // namespace
}  // namespace mojo::tools
