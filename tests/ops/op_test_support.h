// Shared fixture for the per-op tests: a reference-only context, a seeded generator and tolerance checks.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "mojo_common/dtype.h"
#include "op_call.h"

namespace mojo::tools {

class OpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ctx = make_context("+cpu");
    ASSERT_NE(ctx, nullptr);
  }
  void TearDown() override { mojo_context_destroy(ctx); }

  // Runs and asserts success.
  void run(const std::string &op, const Attrs &attrs, const std::vector<HostTensor *> &in,
           const std::vector<HostTensor *> &out) {
    Status s = run_op(ctx, op, attrs, in, out);
    ASSERT_EQ(s, nullptr) << op << ": " << mojo_status_message(s.get());
    for (auto *t : out) {
      if (t) {
        ASSERT_TRUE(t->guards_intact()) << op << " wrote outside its output";
      }
    }
  }

  // The status of a call expected to fail.
  mojo_code code_of(const std::string &op, const Attrs &attrs, const std::vector<HostTensor *> &in,
                    const std::vector<HostTensor *> &out, std::string *message = nullptr) {
    Status s = run_op(ctx, op, attrs, in, out);
    if (message) *message = s ? mojo_status_message(s.get()) : "";
    return mojo_status_code(s.get());
  }

  mojo_context *ctx = nullptr;
  std::mt19937 rng{1234};
};

// |got - want| <= atol + rtol * |want| elementwise.
inline void expect_close(const std::vector<float> &got, const std::vector<double> &want, double atol, double rtol,
                         const std::string &what = "") {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::fabs(double(got[i]) - want[i]), atol + rtol * std::fabs(want[i]))
        << what << " at " << i << ": got " << got[i] << " want " << want[i];
}

// Tolerance of one rounding to the dtype (relative half-ulp) plus fp32 accumulation noise.
inline double dtype_rtol(int dtype) {
  return dtype == MOJO_DT_BF16 ? 1.0 / 128 : dtype == MOJO_DT_FP16 ? 1.0 / 1024 : 1e-5;
}

inline const int kFloatDtypes[] = {MOJO_DT_FP32, MOJO_DT_FP16, MOJO_DT_BF16};

}  // namespace mojo::tools
