// The introspection side of the C API: version, statuses, schema and report JSON, op handles.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "op_call.h"

namespace mojo::tools {
namespace {

using nlohmann::json;

TEST(Api, VersionAndCodes) {
  EXPECT_EQ(mojo_api_version(), uint32_t(MOJO_API_VERSION));
  EXPECT_STREQ(mojo_version(), "0.1.0");
  EXPECT_STREQ(mojo_code_name(MOJO_STATUS_INVALID_ARGUMENT), "INVALID_ARGUMENT");
  EXPECT_STREQ(mojo_status_message(nullptr), "");
  mojo_status_free(nullptr);
}

TEST(Api, SchemaJsonDescribesEveryOp) {
  json schema = json::parse(mojo_schema_json());
  std::set<std::string> names;
  for (const auto &op : schema["ops"]) {
    names.insert(op["name"].get<std::string>());
    EXPECT_FALSE(op["doc"].get<std::string>().empty()) << op["name"];
    for (const auto &t : op["inputs"]) EXPECT_FALSE(t["dtype_list"].empty()) << op["name"] << "." << t["name"];
  }
  for (const char *n : {"rms_norm", "layer_norm", "residual_add_rms_norm", "residual_add_layer_norm", "silu", "gelu",
                        "swiglu", "apply_rope", "linear", "embedding"})
    EXPECT_EQ(names.count(n), 1u) << n;
  const auto &rope = *std::find_if(schema["ops"].begin(), schema["ops"].end(),
                                   [](const json &o) { return o["name"] == "apply_rope"; });
  EXPECT_TRUE(rope["attrs"][0]["required"].get<bool>()) << "head_first has no default";
}

TEST(Api, ReportShowsReferenceImplementingEveryOp) {
  mojo_context *ctx = make_context();
  char *text = nullptr;
  ASSERT_EQ(mojo_context_report_json(ctx, &text), nullptr);
  json r = json::parse(text);
  mojo_string_free(text);
  EXPECT_EQ(r["order"].back(), "cpu");
  for (const auto &op : r["ops"]) EXPECT_TRUE(op["backends"].contains("cpu")) << op["op"];
  mojo_context_destroy(ctx);
}

TEST(Api, OpHandleReportsBindingAndWorkspace) {
  mojo_context *ctx = make_context();
  HostTensor x(MOJO_DT_FP32, {2, 8}), y(MOJO_DT_FP32, {2, 8});
  const Attrs none;
  const std::string name = "silu";
  const std::vector<const mojo_tensor *> in{x.view()}, out{y.view()};
  mojo_op_desc d = make_desc(name, none, in, out);  // points into the named lists above
  mojo_op *op = nullptr;
  ASSERT_EQ(mojo_op_create(ctx, &d, &op), nullptr);
  EXPECT_STREQ(mojo_op_name(op), "silu");
  EXPECT_STREQ(mojo_op_backend(op), "cpu");
  size_t ws = 99;
  ASSERT_EQ(mojo_op_workspace_size(op, &ws), nullptr);
  EXPECT_EQ(ws, 0u);
  EXPECT_EQ(mojo_op_check(op, nullptr), nullptr);  // cpu checks eagerly: never a deferred error
  char *explain = nullptr;
  ASSERT_EQ(mojo_op_explain_json(ctx, &d, &explain), nullptr);
  json e = json::parse(explain);
  mojo_string_free(explain);
  bool cpu_chosen = false;
  for (const auto &v : e["verdicts"]) cpu_chosen = cpu_chosen || (v["backend"] == "cpu" && v["chosen"].get<bool>());
  EXPECT_TRUE(cpu_chosen) << e.dump();
  mojo_op_destroy(op);
  mojo_context_destroy(ctx);
}

// mojo_op_check on a NULL op is rejected by name.
TEST(Api, OpCheckRejectsNullOp) {
  Status s(mojo_op_check(nullptr, nullptr));
  EXPECT_EQ(mojo_status_code(s.get()), MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mojo_status_message(s.get())).find("mojo_op_check"), std::string::npos);
}

TEST(Api, OlderCallerStructsAreAccepted) {
  // A caller compiled against a header whose desc ended before backend_spec.
  mojo_context *ctx = make_context();
  HostTensor x(MOJO_DT_FP32, {4}), y(MOJO_DT_FP32, {4});
  const mojo_tensor *in[] = {x.view()}, *out[] = {y.view()};
  mojo_op_desc d{};
  d.struct_size = offsetof(mojo_op_desc, backend_spec);
  d.op = "silu";
  d.inputs = in;
  d.n_inputs = 1;
  d.outputs = out;
  d.n_outputs = 1;
  d.backend_spec = "+nonexistent";  // beyond struct_size: must be ignored
  mojo_op *op = nullptr;
  Status s(mojo_op_create(ctx, &d, &op));
  EXPECT_EQ(s, nullptr) << mojo_status_message(s.get());
  mojo_op_destroy(op);
  mojo_context_destroy(ctx);
}

}  // namespace
}  // namespace mojo::tools

