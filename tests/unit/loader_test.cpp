// Plugin discovery: every broken plugin is skipped with a load record saying why, and the process goes on.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "op_call.h"

#ifndef TEST_PLUGIN_DIR
#error TEST_PLUGIN_DIR must point at the build directory of tests/plugins
#endif

namespace mojo::tools {
namespace {

std::string plugin(const std::string &file) { return std::string(TEST_PLUGIN_DIR) + "/libmojo-" + file + ".so"; }

std::string all_test_plugins() {
  std::string path;
  for (const char *f : {"toy", "badabi", "tiny", "failinit", "throwinit", "nullfn", "probezero", "misnamed", "nosym",
                        "badprio", "cpu"})
    path += (path.empty() ? "" : ":") + plugin(f);
  return path + ":/nonexistent/dir:" + std::string(TEST_PLUGIN_DIR) + "/libmojo-missing.so";
}

std::map<std::string, mojo_plugin_record> records_by_path() {
  std::map<std::string, mojo_plugin_record> out;
  for (size_t i = 0; i < mojo_plugin_record_count(); ++i) {
    mojo_plugin_record r{};
    r.struct_size = sizeof r;
    EXPECT_EQ(mojo_plugin_record_get(i, &r), nullptr);
    out[r.path] = r;
  }
  return out;
}

class Loader : public ::testing::Test {
 protected:
  void SetUp() override {
    ctx = make_context(nullptr, all_test_plugins().c_str());
    ASSERT_NE(ctx, nullptr) << "a broken plugin must never stop context creation";
    records = records_by_path();
  }
  void TearDown() override { mojo_context_destroy(ctx); }

  void expect_record(const std::string &file, const char *stage, const char *outcome, const char *reason_part) {
    auto it = records.find(plugin(file));
    ASSERT_NE(it, records.end()) << "no load record for " << file;
    EXPECT_STREQ(it->second.stage, stage) << file << ": " << it->second.reason;
    EXPECT_STREQ(it->second.outcome, outcome) << file << ": " << it->second.reason;
    EXPECT_NE(std::string(it->second.reason).find(reason_part), std::string::npos)
        << file << " reason: " << it->second.reason;
  }

  mojo_context *ctx = nullptr;
  std::map<std::string, mojo_plugin_record> records;
};

TEST_F(Loader, WorkingPluginLoads) { expect_record("toy", "ready", "loaded", ""); }
TEST_F(Loader, MissingEntrySymbol) { expect_record("nosym", "symbol", "failed", "mojo_plugin_entry_v1"); }
TEST_F(Loader, WrongAbiMajor) { expect_record("badabi", "abi", "failed", "ABI major 2"); }
TEST_F(Loader, StructTooSmall) { expect_record("tiny", "abi", "failed", "struct_size 4"); }
TEST_F(Loader, NullRequiredFunction) { expect_record("nullfn", "abi", "failed", "kernel_run"); }
TEST_F(Loader, NameMustMatchFile) { expect_record("misnamed", "abi", "failed", "calls itself 'other'"); }
TEST_F(Loader, NullOpPriorityTable) { expect_record("badprio", "abi", "failed", "op priority table is NULL"); }
TEST_F(Loader, FailingInit) { expect_record("failinit", "init", "failed", "driver refused to start"); }
TEST_F(Loader, ThrowingInit) { expect_record("throwinit", "init", "failed", "threw"); }
TEST_F(Loader, ProbeSaysNoDevice) { expect_record("probezero", "probe", "skipped", "no test device present"); }
TEST_F(Loader, SecondCpuIsShadowedByTheReference) { expect_record("cpu", "probe", "shadowed", "already loaded"); }

TEST_F(Loader, UnreadableFileLeavesAnOpenRecord) {
  std::string missing = std::string(TEST_PLUGIN_DIR) + "/libmojo-missing.so";
  EXPECT_EQ(records.count(missing), 0u) << "a path that does not exist is not a load attempt";
}

TEST_F(Loader, ExplicitRequestForABrokenPluginQuotesItsRecord) {
  mojo_context_options o;
  mojo_context_options_init(&o);
  o.flags = MOJO_CONTEXT_IGNORE_ENV;
  o.plugin_path = all_test_plugins().c_str();
  std::string path = all_test_plugins();
  o.plugin_path = path.c_str();
  o.backend_spec = "+failinit";
  mojo_context *c = nullptr;
  Status s(mojo_context_create(&o, &c));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(mojo_status_code(s.get()), MOJO_STATUS_NOT_FOUND);
  std::string msg = mojo_status_message(s.get());
  EXPECT_NE(msg.find("failinit"), std::string::npos) << msg;
  EXPECT_NE(msg.find("driver refused to start"), std::string::npos) << msg;
  EXPECT_EQ(c, nullptr);
}

TEST_F(Loader, ReportListsEveryRecord) {
  char *text = nullptr;
  ASSERT_EQ(mojo_context_report_json(ctx, &text), nullptr);
  std::string report = text;
  mojo_string_free(text);
  for (const char *f : {"badabi", "nosym", "failinit", "probezero"})
    EXPECT_NE(report.find(plugin(f)), std::string::npos) << f;
}

}  // namespace
}  // namespace mojo::tools
