// Every create and run is checked against the op schema before a backend sees it; a rejected call names the
// op and the argument, returns INVALID_ARGUMENT and leaves every output byte untouched.
#include <gtest/gtest.h>

#include <cstring>

#include "mojo_common/dtype.h"
#include "op_call.h"

namespace mojo::tools {
namespace {

constexpr float kSentinel = 12288.0f;  // exact in bf16 and fp16

class Validation : public ::testing::Test {
 protected:
  void SetUp() override {
    ctx = make_context();
    ASSERT_NE(ctx, nullptr);
    std::mt19937 rng(1);
    x = HostTensor(MOJO_DT_BF16, {4, 64});
    w = HostTensor(MOJO_DT_BF16, {64});
    out = HostTensor(MOJO_DT_BF16, {4, 64});
    x.fill_uniform(rng, -1, 1);
    w.fill_uniform(rng, -1, 1);
    out.fill(kSentinel);
  }
  void TearDown() override { mojo_context_destroy(ctx); }

  // An rms_norm op created for (x, w) -> out; nullptr when creation fails.
  mojo_op *create_rms_norm() {
    const Attrs none;
    const std::string name = "rms_norm";
    const std::vector<const mojo_tensor *> in{x.view(), w.view()}, outs{out.view()};
    mojo_op_desc desc = make_desc(name, none, in, outs);  // points into the named objects above
    mojo_op *op = nullptr;
    Status s(mojo_op_create(ctx, &desc, &op));
    return s ? nullptr : op;
  }

  // Expects INVALID_ARGUMENT whose message mentions every word, and an untouched output.
  void expect_rejected(Status s, std::initializer_list<const char *> words, const HostTensor &o) {
    ASSERT_NE(s, nullptr) << "call was accepted";
    EXPECT_EQ(mojo_status_code(s.get()), MOJO_STATUS_INVALID_ARGUMENT) << mojo_status_message(s.get());
    std::string msg = mojo_status_message(s.get());
    for (const char *w : words) EXPECT_NE(msg.find(w), std::string::npos) << "'" << w << "' missing in: " << msg;
    for (float v : o.to_floats()) ASSERT_EQ(v, kSentinel) << "output was written: " << msg;
    EXPECT_TRUE(o.guards_intact());
  }

  mojo_context *ctx = nullptr;
  HostTensor x, w, out;
};

TEST_F(Validation, WrongDtype) {
  HostTensor x32(MOJO_DT_INT32, {4, 64});
  expect_rejected(run_op(ctx, "rms_norm", Attrs(), {&x32, &w}, {&out}), {"rms_norm", "'x'", "int32"}, out);
  HostTensor out16(MOJO_DT_FP16, {4, 64});
  out16.fill(kSentinel);
  expect_rejected(run_op(ctx, "rms_norm", Attrs(), {&x, &w}, {&out16}), {"rms_norm", "'out'", "bf16"}, out16);
}

TEST_F(Validation, WrongShape) {
  HostTensor w_bad(MOJO_DT_BF16, {63});
  expect_rejected(run_op(ctx, "rms_norm", Attrs(), {&x, &w_bad}, {&out}), {"rms_norm", "'weight'", "[63]"}, out);
  HostTensor out_bad(MOJO_DT_BF16, {5, 64});
  out_bad.fill(kSentinel);
  expect_rejected(run_op(ctx, "rms_norm", Attrs(), {&x, &w}, {&out_bad}), {"rms_norm", "'out'"}, out_bad);
}

TEST_F(Validation, AttributeChecks) {
  expect_rejected(run_op(ctx, "rms_norm", Attrs().f("epsilon", 1e-6), {&x, &w}, {&out}), {"rms_norm", "epsilon"}, out);
  expect_rejected(run_op(ctx, "rms_norm", Attrs().s("eps", "small"), {&x, &w}, {&out}), {"rms_norm", "eps", "float"},
                  out);
  HostTensor r(MOJO_DT_BF16, {4, 64}), ro(MOJO_DT_BF16, {4, 64});
  ro.fill(kSentinel);
  expect_rejected(run_op(ctx, "residual_add_rms_norm", Attrs().s("norm_pos", "middle"), {&x, &r, &w}, {&out, &ro}),
                  {"residual_add_rms_norm", "norm_pos", "pre", "post"}, out);
  // apply_rope's head_first has no default: it must be given.
  HostTensor q(MOJO_DT_FP32, {2, 1, 4}), c(MOJO_DT_FP32, {2, 4}), qo(MOJO_DT_FP32, {2, 1, 4}), ko(MOJO_DT_FP32, {2, 1, 4});
  qo.fill(kSentinel);
  expect_rejected(run_op(ctx, "apply_rope", Attrs(), {&q, &q, &c, &c}, {&qo, &ko}), {"apply_rope", "head_first"}, qo);
}

TEST_F(Validation, MissingAndExtraTensors) {
  expect_rejected(run_op(ctx, "rms_norm", Attrs(), {&x, nullptr}, {&out}), {"rms_norm", "weight"}, out);
  expect_rejected(run_op(ctx, "rms_norm", Attrs(), {&x, &w, &w}, {&out}), {"rms_norm", "input"}, out);
  // layer_norm: weight and bias present exactly when elementwise_affine.
  expect_rejected(run_op(ctx, "layer_norm", Attrs().b("elementwise_affine", false), {&x, &w, nullptr}, {&out}),
                  {"layer_norm", "weight", "elementwise_affine"}, out);
}

TEST_F(Validation, NullDataAndAliasing) {
  HostTensor x_null = x;
  x_null.mutable_view()->data = nullptr;
  expect_rejected(run_op(ctx, "rms_norm", Attrs(), {&x_null, &w}, {&out}), {"rms_norm", "'x'"}, out);
  // The output may not overlap an input it is computed from.
  HostTensor alias = out;
  alias.mutable_view()->data = x.mutable_view()->data;
  HostTensor x_copy = x;
  Status s = run_op(ctx, "rms_norm", Attrs(), {&x, &w}, {&alias});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(mojo_status_code(s.get()), MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mojo_status_message(s.get())).find("overlap"), std::string::npos) << mojo_status_message(s.get());
  EXPECT_TRUE(x.same_bytes(x_copy));
}

TEST_F(Validation, LastDimMustBeUnitStride) {
  int64_t strides[2] = {1, 4};
  HostTensor xt = x;
  xt.mutable_view()->strides = strides;
  expect_rejected(run_op(ctx, "rms_norm", Attrs(), {&xt, &w}, {&out}), {"rms_norm", "'x'", "stride"}, out);
}

TEST_F(Validation, DevicesMustAgree) {
  HostTensor w_gpu = w;
  w_gpu.mutable_view()->device = {MOJO_DEVICE_CUDA, 0};
  expect_rejected(run_op(ctx, "rms_norm", Attrs(), {&x, &w_gpu}, {&out}), {"rms_norm", "'weight'", "cuda"}, out);
}

TEST_F(Validation, RunMustMatchCreate) {
  mojo_op *op = create_rms_norm();
  ASSERT_NE(op, nullptr);
  HostTensor x16(MOJO_DT_FP16, {4, 64}), out16(MOJO_DT_FP16, {4, 64});
  out16.fill(kSentinel);
  const mojo_tensor *in16[] = {x16.view(), w.view()};
  const mojo_tensor *outs16[] = {out16.view()};
  Status s(mojo_op_run(op, in16, 2, outs16, 1, nullptr, nullptr));
  expect_rejected(std::move(s), {"rms_norm", "'x'", "fp16", "bf16"}, out16);
  // Sizes may change between runs (more rows), dtypes and ranks may not.
  HostTensor x8(MOJO_DT_BF16, {8, 64}), out8(MOJO_DT_BF16, {8, 64});
  const mojo_tensor *in8[] = {x8.view(), w.view()};
  const mojo_tensor *outs8[] = {out8.view()};
  EXPECT_EQ(Status(mojo_op_run(op, in8, 2, outs8, 1, nullptr, nullptr)), nullptr);
  mojo_op_destroy(op);
}

TEST_F(Validation, RepeatedLayoutsSkipOnlyTheStructuralChecks) {
  // The per-op fast path: a run with the last validated layout skips shape checks, never data checks, and a
  // new layout is validated in full again.
  const mojo_tensor *in[] = {x.view(), w.view()};
  const mojo_tensor *outs[] = {out.view()};
  mojo_op *op = create_rms_norm();
  ASSERT_NE(op, nullptr);
  ASSERT_EQ(Status(mojo_op_run(op, in, 2, outs, 1, nullptr, nullptr)), nullptr);
  ASSERT_EQ(Status(mojo_op_run(op, in, 2, outs, 1, nullptr, nullptr)), nullptr);
  HostTensor x_null = x;
  x_null.mutable_view()->data = nullptr;
  const mojo_tensor *in_null[] = {x_null.view(), w.view()};
  Status s1(mojo_op_run(op, in_null, 2, outs, 1, nullptr, nullptr));
  EXPECT_EQ(mojo_status_code(s1.get()), MOJO_STATUS_INVALID_ARGUMENT) << "null data after a good run";
  HostTensor bad_out(MOJO_DT_BF16, {4, 63});
  bad_out.fill(kSentinel);
  const mojo_tensor *outs_bad[] = {bad_out.view()};
  Status s2(mojo_op_run(op, in, 2, outs_bad, 1, nullptr, nullptr));
  expect_rejected(std::move(s2), {"rms_norm", "'out'"}, bad_out);
  mojo_op_destroy(op);
}

TEST_F(Validation, DataDependentErrorsLeaveOutputsUntouched) {
  HostTensor ids(MOJO_DT_INT64, {3}), table(MOJO_DT_FP32, {10, 4}), emb(MOJO_DT_FP32, {3, 4});
  ids.fill_ints({1, 10, 2});
  emb.fill(kSentinel);
  expect_rejected(run_op(ctx, "embedding", Attrs(), {&ids, &table}, {&emb}), {"embedding", "'ids'", "10", "[0, 10)"},
                  emb);
}

TEST(ValidationApi, NullArgumentsAreErrorsNotCrashes) {
  EXPECT_EQ(mojo_status_code(nullptr), MOJO_STATUS_SUCCESS);
  mojo_op *op = nullptr;
  Status s(mojo_op_create(nullptr, nullptr, &op));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(mojo_status_code(s.get()), MOJO_STATUS_INVALID_ARGUMENT);
  Status r(mojo_op_run(nullptr, nullptr, 0, nullptr, 0, nullptr, nullptr));
  EXPECT_EQ(mojo_status_code(r.get()), MOJO_STATUS_INVALID_ARGUMENT);
  mojo_context *ctx = make_context();
  mojo_op_desc desc{};
  desc.struct_size = sizeof desc;
  desc.op = "no_such_op";
  Status nf(mojo_op_create(ctx, &desc, &op));
  EXPECT_EQ(mojo_status_code(nf.get()), MOJO_STATUS_NOT_FOUND);
  EXPECT_NE(std::string(mojo_status_message(nf.get())).find("no_such_op"), std::string::npos);
  mojo_context_destroy(ctx);
}

}  // namespace
}  // namespace mojo::tools
