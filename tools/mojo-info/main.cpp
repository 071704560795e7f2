// mojo-info: what libmojo sees on this machine — backends and devices, why a plugin did not load, the
// resolved backend order and which backend implements each op. A thin main over the public C API.
#include <cstdio>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "mojo/mojo.h"

namespace {

using nlohmann::json;

void usage() {
  std::printf(
      "usage: mojo-info [--json] [--schema] [--ops] [--backend SPEC] [--plugin-path PATH]\n"
      "  (default)         version, plugin search path, load records, backends, devices, order, op summary\n"
      "  --ops             the full support matrix: every op with its dtypes and implementing backends\n"
      "  --json            the same report as JSON (mojo_context_report_json)\n"
      "  --schema          the op schema as JSON (mojo_schema_json)\n"
      "  --backend SPEC    override MOJO_BACKEND for this report, e.g. '+cuda,-ttx'\n"
      "  --plugin-path P   override MOJO_PLUGIN_PATH\n");
}

std::string join(const json &list) {
  std::string out;
  for (const auto &v : list) out += (out.empty() ? "" : ",") + v.get<std::string>();
  return out;
}

void print_text(const json &r, bool full_matrix) {
  std::printf("libmojo %s (C API %u, plugin ABI %s)\n", r["version"].get<std::string>().c_str(),
              r["api_version"].get<unsigned>(), r["plugin_abi"].get<std::string>().c_str());
  std::printf("\nplugin search path:\n");
  for (const auto &p : r["search_path"]) std::printf("  %s\n", p.get<std::string>().c_str());
  std::printf("\nload records:\n");
  for (const auto &rec : r["load_records"]) {
    std::string reason = rec["reason"];
    std::printf("  %-9s %-8s %s%s%s\n", rec["outcome"].get<std::string>().c_str(),
                rec["stage"].get<std::string>().c_str(), rec["path"].get<std::string>().c_str(),
                reason.empty() ? "" : "\n            reason: ", reason.c_str());
  }
  std::string spec = r["backend_spec"];
  std::printf("\nbackends (MOJO_BACKEND=\"%s\"):\n", spec.empty() ? "+ALL (default)" : spec.c_str());
  for (const auto &b : r["backends"]) {
    int rank = b["rank"];
    std::printf("  %s %-6s v%s abi %s priority %d score %d kernels %zu  [%s]\n",
                rank < 0 ? "  -" : ("#" + std::to_string(rank + 1)).c_str(), b["name"].get<std::string>().c_str(),
                b["version"].get<std::string>().c_str(), b["abi"].get<std::string>().c_str(),
                b["default_priority"].get<int>(), b["probe_score"].get<int>(), b["n_kernels"].get<size_t>(),
                b["path"].get<std::string>().c_str());
    std::printf("        probe: %s\n", b["probe_reason"].get<std::string>().c_str());
    for (const auto &d : b["devices"])
      std::printf("        device %s: %s (%s)\n", d["device"].get<std::string>().c_str(),
                  d["name"].get<std::string>().c_str(), d["arch"].get<std::string>().c_str());
  }
  std::printf("\nresolved order: %s\n", join(r["order"]).c_str());
  size_t total = r["ops"].size(), training = 0, covered = 0;
  for (const auto &op : r["ops"]) {
    training += op["training"].get<bool>() ? 1 : 0;
    covered += op["backends"].empty() ? 0 : 1;
  }
  std::printf("\nops: %zu (%zu inference, %zu training entry points), %zu with at least one backend\n", total,
              total - training, training, covered);
  if (!full_matrix) {
    std::printf("(mojo-info --ops prints the support matrix)\n");
    return;
  }
  std::printf("\n%-32s %-12s %-26s %s\n", "op", "category", "dtypes", "backends");
  for (const auto &op : r["ops"]) {
    std::string backends;
    for (auto it = op["backends"].begin(); it != op["backends"].end(); ++it)
      backends += (backends.empty() ? "" : " ") + it.key() + "(" + join(it.value()) + ")";
    std::printf("%-32s %-12s %-26s %s\n", op["op"].get<std::string>().c_str(),
                op["category"].get<std::string>().c_str(), join(op["dtypes"]).c_str(),
                backends.empty() ? "-" : backends.c_str());
  }
}

}  // namespace

int main(int argc, char **argv) {
  bool as_json = false, schema = false, ops = false;
  const char *backend = nullptr, *plugin_path = nullptr;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") as_json = true;
    else if (a == "--schema") schema = true;
    else if (a == "--ops") ops = true;
    else if (a == "--backend" && i + 1 < argc) backend = argv[++i];
    else if (a == "--plugin-path" && i + 1 < argc) plugin_path = argv[++i];
    else if (a == "-h" || a == "--help") { usage(); return 0; }
    else { std::fprintf(stderr, "mojo-info: unknown argument '%s'\n", a.c_str()); usage(); return 2; }
  }
  if (schema) {
    std::printf("%s\n", mojo_schema_json());
    return 0;
  }
  mojo_context_options options;
  mojo_context_options_init(&options);
  options.backend_spec = backend;
  options.plugin_path = plugin_path;
  mojo_context *ctx = nullptr;
  if (mojo_status *s = mojo_context_create(&options, &ctx)) {
    std::fprintf(stderr, "mojo-info: %s: %s\n", mojo_code_name(mojo_status_code(s)), mojo_status_message(s));
    mojo_status_free(s);
    return 1;
  }
  char *text = nullptr;
  mojo_status *s = mojo_context_report_json(ctx, &text);
  if (s) {
    std::fprintf(stderr, "mojo-info: %s\n", mojo_status_message(s));
    mojo_status_free(s);
    mojo_context_destroy(ctx);
    return 1;
  }
  if (as_json) std::printf("%s\n", json::parse(text).dump(2).c_str());
  else print_text(json::parse(text), ops);
  mojo_string_free(text);
  mojo_context_destroy(ctx);
  return 0;
}
