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
      "  --markdown        docs/ops.md: the op reference generated from the schema\n"
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
    for (auto it = b["op_priorities"].begin(); it != b["op_priorities"].end(); ++it)
      std::printf("        priority %d for %s (measured choice)\n", it.value().get<int>(), it.key().c_str());
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
    // In the order the context tries them for this op, then the disabled ones.
    std::string backends;
    json rest = op["backends"];
    for (const auto &name : op["order"])
      if (rest.contains(name)) {
        backends += (backends.empty() ? "" : " ") + name.get<std::string>() + "(" + join(rest[name]) + ")";
        rest.erase(name.get<std::string>());
      }
    for (auto it = rest.begin(); it != rest.end(); ++it)
      backends += (backends.empty() ? "" : " ") + it.key() + "(" + join(it.value()) + ", disabled)";
    std::printf("%-32s %-12s %-26s %s\n", op["op"].get<std::string>().c_str(),
                op["category"].get<std::string>().c_str(), join(op["dtypes"]).c_str(),
                backends.empty() ? "-" : backends.c_str());
  }
}

// A Markdown table cell: '|' would end the cell.
std::string cell(std::string text) {
  for (size_t at = text.find('|'); at != std::string::npos; at = text.find('|', at + 2)) text.replace(at, 1, "\\|");
  return text;
}

// docs/ops.md: every op of the schema with its signature and the backends of this context implementing it.
void print_markdown(const json &schema, const json &report) {
  std::printf("# Op reference\n\nGenerated by `mojo-info --markdown` from the op schema (src/schema/) and the kernel tables of the built "
              "plugins; do not edit.\n"
              "The contract behind each op is in the spec (`shared/spec/<category>.md`); the schema language is in "
              "docs/schema.md.\n\n");
  std::printf("| op | category | dtypes (first input) | backends |\n| --- | --- | --- | --- |\n");
  for (const auto &op : report["ops"]) {
    std::string backends;
    for (auto it = op["built_backends"].begin(); it != op["built_backends"].end(); ++it)
      backends += (backends.empty() ? "" : ", ") + it.key();
    std::printf("| [`%s`](#%s) | %s%s | %s | %s |\n", op["op"].get<std::string>().c_str(),
                op["op"].get<std::string>().c_str(), op["category"].get<std::string>().c_str(),
                op["training"].get<bool>() ? " (training)" : "", join(op["dtypes"]).c_str(),
                backends.empty() ? "-" : backends.c_str());
  }
  for (const auto &op : schema["ops"]) {
    std::printf("\n## %s\n\n%s\n\n", op["name"].get<std::string>().c_str(), op["doc"].get<std::string>().c_str());
    for (const char *side : {"inputs", "outputs"}) {
      if (op[side].empty()) continue;
      std::printf("| %s | dtypes | shape | notes |\n| --- | --- | --- | --- |\n", side);
      for (const auto &t : op[side]) {
        std::string notes = t["doc"].get<std::string>();
        if (t["optional"].get<bool>()) notes = "optional. " + notes;
        if (t["mutated"].get<bool>()) notes = "mutated in place. " + notes;
        std::printf("| `%s` | %s | `%s` | %s |\n", t["name"].get<std::string>().c_str(),
                    cell(t["dtypes"].get<std::string>()).c_str(), cell(t["shape"].get<std::string>()).c_str(),
                    cell(notes).c_str());
      }
      std::printf("\n");
    }
    if (!op["attrs"].empty()) {
      std::printf("| attribute | kind | default | notes |\n| --- | --- | --- | --- |\n");
      for (const auto &a : op["attrs"]) {
        std::string def = a["required"].get<bool>() ? "required" : a["default"].is_null() ? "null" : a["default"].get<std::string>();
        std::string notes = a["doc"].get<std::string>();
        if (!a["choices"].get<std::string>().empty()) notes = "one of " + a["choices"].get<std::string>() + ". " + notes;
        std::printf("| `%s` | %s | %s | %s |\n", a["name"].get<std::string>().c_str(),
                    a["kind"].get<std::string>().c_str(), cell(def).c_str(), cell(notes).c_str());
      }
      std::printf("\n");
    }
  }
}

}  // namespace

int main(int argc, char **argv) {
  bool as_json = false, schema = false, ops = false, markdown = false;
  const char *backend = nullptr, *plugin_path = nullptr;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") as_json = true;
    else if (a == "--schema") schema = true;
    else if (a == "--ops") ops = true;
    else if (a == "--markdown") markdown = true;
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
  if (markdown) print_markdown(json::parse(mojo_schema_json()), json::parse(text));
  else if (as_json) std::printf("%s\n", json::parse(text).dump(2).c_str());
  else print_text(json::parse(text), ops);
  mojo_string_free(text);
  mojo_context_destroy(ctx);
  return 0;
}
