// Backend selection through the public API with the toy test plugin (priority 10) beside the reference (0).
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "op_call.h"

namespace mojo::tools {
namespace {

std::string toy_path() { return std::string(TEST_PLUGIN_DIR) + "/libmojo-toy.so"; }

std::vector<std::string> order_of(mojo_context *ctx) {
  std::vector<std::string> order;
  for (size_t i = 0; i < mojo_backend_count(ctx); ++i) {
    mojo_backend_info info{};
    info.struct_size = sizeof info;
    EXPECT_EQ(mojo_backend_get(ctx, i, &info), nullptr);
    // Only the backends these tests control; real plugins of the machine (cuda on a GPU box) are ignored.
    const std::string name = info.name;
    if (info.rank >= 0 && (name == "toy" || name == "cpu")) order.push_back(name);
  }
  return order;
}

struct SiluCall {
  HostTensor x{MOJO_DT_FP32, {3, 6}}, y{MOJO_DT_FP32, {3, 6}};
  SiluCall(int64_t cols = 6) : x(MOJO_DT_FP32, {3, cols}), y(MOJO_DT_FP32, {3, cols}) {
    std::mt19937 rng(3);
    x.fill_uniform(rng, -3, 3);
  }
};

using V = std::vector<std::string>;

TEST(Selection, DefaultOrderFollowsPriority) {
  mojo_context *ctx = make_context(nullptr, toy_path().c_str());
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(order_of(ctx), (V{"toy", "cpu"}));
  mojo_context_destroy(ctx);
}

TEST(Selection, SpecReordersAndDisables) {
  struct Case { const char *spec; V order; };
  for (const Case &c : {Case{"+cpu", {"cpu", "toy"}}, Case{"-toy", {"cpu"}}, Case{"+TOY,-cpu", {"toy"}},
                        Case{"NONE", {}}, Case{"NONE,+cpu", {"cpu"}}}) {
    mojo_context *ctx = make_context(c.spec, toy_path().c_str());
    ASSERT_NE(ctx, nullptr) << c.spec;
    EXPECT_EQ(order_of(ctx), c.order) << c.spec;
    mojo_context_destroy(ctx);
  }
}

TEST(Selection, FirstAcceptingBackendBinds) {
  mojo_context *ctx = make_context(nullptr, toy_path().c_str());
  SiluCall even(6), odd(5);
  std::string bound;
  ASSERT_EQ(run_op(ctx, "silu", Attrs(), {&even.x}, {&even.y}, nullptr, &bound), nullptr);
  EXPECT_EQ(bound, "toy");
  // toy declines odd last dims: the next backend on the same device takes it.
  ASSERT_EQ(run_op(ctx, "silu", Attrs(), {&odd.x}, {&odd.y}, nullptr, &bound), nullptr);
  EXPECT_EQ(bound, "cpu");
  for (int64_t i = 0; i < odd.x.numel(); ++i)
    EXPECT_NEAR(odd.y.get(i), odd.x.get(i) / (1 + std::exp(-odd.x.get(i))), 1e-6);
  // toy has no bf16 silu in its table.
  HostTensor xb(MOJO_DT_BF16, {2, 4}), yb(MOJO_DT_BF16, {2, 4});
  ASSERT_EQ(run_op(ctx, "silu", Attrs(), {&xb}, {&yb}, nullptr, &bound), nullptr);
  EXPECT_EQ(bound, "cpu");
  mojo_context_destroy(ctx);
}

TEST(Selection, NobodyAcceptsListsEveryReason) {
  mojo_context *ctx = make_context("+toy,-cpu", toy_path().c_str());
  SiluCall odd(5);
  odd.y.fill(7.0f);
  Status s = run_op(ctx, "silu", Attrs(), {&odd.x}, {&odd.y});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(mojo_status_code(s.get()), MOJO_STATUS_UNSUPPORTED);
  std::string msg = mojo_status_message(s.get());
  EXPECT_NE(msg.find("silu"), std::string::npos) << msg;
  EXPECT_NE(msg.find("toy needs an even last dim"), std::string::npos) << msg;
  for (float v : odd.y.to_floats()) ASSERT_EQ(v, 7.0f);
  // NONE: the error says no backend is enabled.
  mojo_context *none = make_context("NONE", toy_path().c_str());
  Status n = run_op(none, "silu", Attrs(), {&odd.x}, {&odd.y});
  ASSERT_NE(n, nullptr);
  EXPECT_NE(std::string(mojo_status_message(n.get())).find("no backend is enabled"), std::string::npos);
  mojo_context_destroy(none);
  mojo_context_destroy(ctx);
}

TEST(Selection, PerOpSpecAndPerCallPin) {
  mojo_context_options o;
  mojo_context_options_init(&o);
  o.flags = MOJO_CONTEXT_IGNORE_ENV;
  std::string path = toy_path();
  o.plugin_path = path.c_str();
  o.op_backend_spec = "silu,gelu=+cpu";
  mojo_context *ctx = nullptr;
  ASSERT_EQ(mojo_context_create(&o, &ctx), nullptr);
  SiluCall c;
  std::string bound;
  ASSERT_EQ(run_op(ctx, "silu", Attrs(), {&c.x}, {&c.y}, nullptr, &bound), nullptr);
  EXPECT_EQ(bound, "cpu");
  ASSERT_EQ(run_op(ctx, "silu", Attrs(), {&c.x}, {&c.y}, "+toy", &bound), nullptr);
  EXPECT_EQ(bound, "toy");
  Status missing = run_op(ctx, "silu", Attrs(), {&c.x}, {&c.y}, "+npu");
  ASSERT_NE(missing, nullptr);
  EXPECT_EQ(mojo_status_code(missing.get()), MOJO_STATUS_NOT_FOUND);
  EXPECT_NE(std::string(mojo_status_message(missing.get())).find("npu"), std::string::npos);
  mojo_context_destroy(ctx);
}

TEST(Selection, EnvironmentIsReadUnlessIgnored) {
  setenv("MOJO_BACKEND", "+cpu", 1);
  mojo_context *from_env = make_context(nullptr, toy_path().c_str(), false);
  mojo_context *ignored = make_context(nullptr, toy_path().c_str(), true);
  unsetenv("MOJO_BACKEND");
  ASSERT_NE(from_env, nullptr);
  EXPECT_EQ(order_of(from_env), (V{"cpu", "toy"}));
  EXPECT_EQ(order_of(ignored), (V{"toy", "cpu"}));
  mojo_context_destroy(from_env);
  mojo_context_destroy(ignored);
  setenv("MOJO_BACKEND", "+c$u", 1);
  mojo_context *bad = nullptr;
  mojo_context_options o;
  mojo_context_options_init(&o);
  Status s(mojo_context_create(&o, &bad));
  unsetenv("MOJO_BACKEND");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(mojo_status_code(s.get()), MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mojo_status_message(s.get())).find("MOJO_BACKEND"), std::string::npos);
}

// Last in this file: once loaded, "shy" (priority 5) stays in every later context of the process.
TEST(Selection, PerOpPriorityMovesOnlyThatOp) {
  const std::string path = toy_path() + ":" + std::string(TEST_PLUGIN_DIR) + "/libmojo-shy.so";
  SiluCall c;
  struct Case { const char *spec; const char *op_spec; const char *silu_on; };
  // shy ranks 5 (between toy's 10 and cpu's 0) but declares silu at -1: below cpu for silu alone. Explicit
  // terms still win: "+shy" (context or per op) and "-toy,-cpu" put it first.
  for (const Case &k : {Case{"-toy", nullptr, "cpu"}, Case{"+shy", nullptr, "shy"}, Case{"-toy", "silu=+shy", "shy"},
                        Case{"-toy,-cpu", nullptr, "shy"}, Case{nullptr, nullptr, "toy"}}) {
    mojo_context_options o;
    mojo_context_options_init(&o);
    o.flags = MOJO_CONTEXT_IGNORE_ENV;
    o.plugin_path = path.c_str();
    o.backend_spec = k.spec;
    o.op_backend_spec = k.op_spec;
    mojo_context *ctx = nullptr;
    ASSERT_EQ(mojo_context_create(&o, &ctx), nullptr);
    std::string bound;
    ASSERT_EQ(run_op(ctx, "silu", Attrs(), {&c.x}, {&c.y}, nullptr, &bound), nullptr);
    EXPECT_EQ(bound, k.silu_on) << (k.spec ? k.spec : "default") << " / " << (k.op_spec ? k.op_spec : "-");
    mojo_context_destroy(ctx);
  }
  // The context order is untouched (shy before cpu); the report shows the exception and silu's own order.
  mojo_context *ctx = make_context("-toy", path.c_str());
  ASSERT_NE(ctx, nullptr);
  char *text = nullptr;
  ASSERT_EQ(mojo_context_report_json(ctx, &text), nullptr);
  nlohmann::json report = nlohmann::json::parse(text);
  mojo_string_free(text);
  // Only the backends this test controls (a GPU machine also loads cuda and ttx).
  auto ours = [](const nlohmann::json &names) {
    V out;
    for (const auto &n : names)
      if (n == "shy" || n == "cpu") out.push_back(n);
    return out;
  };
  EXPECT_EQ(ours(report["order"]), (V{"shy", "cpu"}));
  for (const auto &b : report["backends"]) {
    if (b["name"] == "shy") {
      EXPECT_EQ(b["op_priorities"], nlohmann::json({{"silu", -1}}));  // "no_such_op" dropped
    }
  }
  for (const auto &op : report["ops"]) {
    if (op["op"] == "silu") {
      EXPECT_EQ(ours(op["order"]), (V{"cpu", "shy"}));
    } else if (op["op"] == "gelu") {
      EXPECT_EQ(ours(op["order"]), (V{"shy", "cpu"}));
    }
  }
  mojo_context_destroy(ctx);
}

}  // namespace
}  // namespace mojo::tools
