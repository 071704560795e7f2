// The MOJO_BACKEND grammar and its resolution, tested white-box on the parser (docs/selection.md).
#include <gtest/gtest.h>

#include "select/backend_spec.h"

namespace mojo::core {
namespace {

std::vector<std::string> resolve(const std::string &text, const std::vector<std::string> &base = {"cuda", "ttx", "cpu"},
                                 BackendResolution *full = nullptr) {
  BackendSpec spec;
  std::string err = parse_backend_spec(text, "MOJO_BACKEND", spec);
  EXPECT_EQ(err, "") << text;
  BackendResolution r = resolve_backend_spec(spec, base, base);
  if (full) *full = r;
  return r.order;
}

using V = std::vector<std::string>;

TEST(BackendSpec, EmptyAndAllKeepDefaultRank) {
  EXPECT_EQ(resolve(""), (V{"cuda", "ttx", "cpu"}));
  EXPECT_EQ(resolve("+ALL"), (V{"cuda", "ttx", "cpu"}));
  EXPECT_EQ(resolve("all"), (V{"cuda", "ttx", "cpu"}));
}

TEST(BackendSpec, ExplicitPlusGoesFirstInWrittenOrder) {
  EXPECT_EQ(resolve("+ttx"), (V{"ttx", "cuda", "cpu"}));
  EXPECT_EQ(resolve("+cpu,+ttx"), (V{"cpu", "ttx", "cuda"}));
  EXPECT_EQ(resolve("+TTX,+Cuda"), (V{"ttx", "cuda", "cpu"}));
}

TEST(BackendSpec, MinusIsSticky) {
  EXPECT_EQ(resolve("-cuda"), (V{"ttx", "cpu"}));
  EXPECT_EQ(resolve("-cuda,+ALL"), (V{"ttx", "cpu"}));
  EXPECT_EQ(resolve("+ttx,-ttx"), (V{"cuda", "cpu"}));
}

TEST(BackendSpec, NoneClearsThenPlusAdds) {
  EXPECT_EQ(resolve("NONE"), V{});
  EXPECT_EQ(resolve("NONE,+cpu"), (V{"cpu"}));
  EXPECT_EQ(resolve("-ALL,+ttx,+cpu"), (V{"ttx", "cpu"}));
}

TEST(BackendSpec, UnknownNamesAreReported) {
  BackendResolution r;
  resolve("+npu,-ilu", {"cuda", "cpu"}, &r);
  EXPECT_EQ(r.requested_missing, (V{"npu"}));
  EXPECT_EQ(r.disabled_unknown, (V{"ilu"}));
}

TEST(BackendSpec, SyntaxErrorsNameTheSource) {
  BackendSpec spec;
  for (const char *bad : {"+", "-", "++cuda", "+c$da", "cu/da"}) {
    std::string err = parse_backend_spec(bad, "MOJO_BACKEND", spec);
    EXPECT_NE(err.find("MOJO_BACKEND"), std::string::npos) << bad << " -> " << err;
  }
}

TEST(BackendSpec, WhitespaceAndEmptyTermsAreIgnored) {
  EXPECT_EQ(resolve(" +ttx , , -cuda,"), (V{"ttx", "cpu"}));
}

TEST(OpBackendSpec, ParsesListsOfOps) {
  std::map<std::string, BackendSpec> per_op;
  ASSERT_EQ(parse_op_backend_spec("rms_norm,silu=+cpu;linear=-cuda", "MOJO_OP_BACKEND", per_op), "");
  ASSERT_EQ(per_op.size(), 3u);
  EXPECT_EQ(per_op["silu"].terms.at(0).target, "cpu");
  EXPECT_FALSE(per_op["linear"].terms.at(0).enable);
  EXPECT_NE(parse_op_backend_spec("rms_norm", "MOJO_OP_BACKEND", per_op), "");
  EXPECT_NE(parse_op_backend_spec("=+cpu", "MOJO_OP_BACKEND", per_op), "");
}

}  // namespace
}  // namespace mojo::core
