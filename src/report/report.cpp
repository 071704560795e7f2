#include "report/report.h"

#include <nlohmann/json.hpp>

#include "mojo_common/dtype.h"

namespace mojo::core {
namespace {

using nlohmann::json;

json dtype_list(int mask) {
  json out = json::array();
  for (int id = 0; id < MOJO_DT_COUNT; ++id)
    if (mask & (1 << id)) out.push_back(common::dtype_name(id));
  return out;
}

json tensor_json(const OpSchema &op, const TensorSpec &t) {
  return {{"name", t.name},         {"dtypes", t.dtypes}, {"dtype_list", dtype_list(dtype_mask_of_spec(op, t))},
          {"shape", t.shape},       {"optional", t.optional}, {"mutated", t.mutated},
          {"doc", t.doc}};
}

// dtypes of the op's first input the backend's kernel table covers (the support matrix cell).
json kernel_dtypes(const mojo_plugin_api &api, const OpSchema &op) {
  for (size_t i = 0; i < api.n_kernels; ++i)
    if (op.name == api.kernels[i].op) {
      int schema_mask = op.inputs.empty() ? ~0 : dtype_mask_of_spec(op, op.inputs.front());
      return dtype_list(int(api.kernels[i].dtype_mask) & schema_mask);
    }
  return nullptr;
}

json backend_dtypes(const Backend &b, const OpSchema &op) { return kernel_dtypes(*b.api, op); }

json backend_json(const Backend &b, int rank) {
  json devices = json::array();
  for (const auto &d : b.devices)
    devices.push_back({{"device", device_name(d.device)}, {"name", d.name}, {"arch", d.arch},
                       {"memory_bytes", d.memory_bytes}});
  return {{"name", b.name},
          {"version", b.version},
          {"path", b.path},
          {"abi", std::to_string(b.api->abi_major) + "." + std::to_string(b.api->abi_minor)},
          {"default_priority", b.default_priority},
          {"op_priorities", b.op_priorities},
          {"probe_score", b.score},
          {"probe_reason", b.probe_reason},
          {"rank", rank},
          {"devices", devices},
          {"n_kernels", b.api->n_kernels}};
}

}  // namespace

const std::string &schema_json() {
  static const std::string text = [] {
    json ops = json::array();
    for (const auto &op : all_ops()) {
      json inputs = json::array(), outputs = json::array(), attrs = json::array();
      for (const auto &t : op.inputs) inputs.push_back(tensor_json(op, t));
      for (const auto &t : op.outputs) outputs.push_back(tensor_json(op, t));
      for (const auto &a : op.attrs)
        attrs.push_back({{"name", a.name},
                         {"kind", attr_kind_name(a.kind)},
                         {"required", a.default_value.empty()},
                         {"default", a.default_value.empty() || a.default_value == "null" ? json(nullptr)
                                                                                          : json(a.default_value)},
                         {"choices", a.choices},
                         {"doc", a.doc}});
      ops.push_back({{"name", op.name},     {"category", op.category}, {"doc", op.doc},
                     {"training", op.training}, {"inputs", inputs},   {"outputs", outputs},
                     {"attrs", attrs}});
    }
    json root = {{"version", mojo_version()}, {"ops", ops}};
    return root.dump();
  }();
  return text;
}

std::string context_report_json(const mojo_context &ctx) {
  Registry &reg = Registry::instance();
  json records = json::array();
  for (const auto &r : reg.records())
    records.push_back({{"path", r.path}, {"stage", r.stage}, {"outcome", r.outcome}, {"reason", r.reason}});
  json backends = json::array(), order = json::array();
  for (size_t i = 0; i < ctx.order.size(); ++i) {
    backends.push_back(backend_json(*ctx.order[i], int(i)));
    order.push_back(ctx.order[i]->name);
  }
  for (auto *b : ctx.disabled) backends.push_back(backend_json(*b, -1));
  json matrix = json::array();
  for (const auto &op : all_ops()) {
    json cells = json::object();
    for (auto *list : {&ctx.order, &ctx.disabled})
      for (auto *b : *list)
        if (json d = backend_dtypes(*b, op); !d.is_null()) cells[b->name] = d;
    // Also backends that are built but cannot run here (probe/init failed): what they would implement.
    json built = cells;
    for (const auto &r : reg.records())
      if (r.api && !built.contains(r.api->name))
        if (json d = kernel_dtypes(*r.api, op); !d.is_null()) built[r.api->name] = d;
    // The order this context tries for the op (per-op priorities and MOJO_OP_BACKEND applied).
    json op_order = json::array();
    std::vector<Backend *> tried;
    if (mojo_status *st = order_for_op(ctx, op.name, nullptr, tried)) {
      mojo_status_free(st);
    } else {
      for (auto *b : tried) op_order.push_back(b->name);
    }
    matrix.push_back({{"op", op.name},
                      {"order", op_order},
                      {"category", op.category},
                      {"training", op.training},
                      {"built_backends", built},
                      {"dtypes", op.inputs.empty() ? json::array() : dtype_list(dtype_mask_of_spec(op, op.inputs.front()))},
                      {"backends", cells}});
  }
  json per_op = json::object();
  for (const auto &[op, spec] : ctx.per_op) {
    json terms = json::array();
    for (const auto &t : spec.terms) terms.push_back(std::string(t.enable ? "+" : "-") + t.target);
    per_op[op] = terms;
  }
  json root = {{"version", mojo_version()},
               {"api_version", mojo_api_version()},
               {"plugin_abi", std::to_string(MOJO_PLUGIN_ABI_MAJOR) + "." + std::to_string(MOJO_PLUGIN_ABI_MINOR)},
               {"search_path", reg.search_path(ctx.plugin_path)},
               {"backend_spec", ctx.backend_spec_text},
               {"op_backend_spec", ctx.op_backend_spec_text},
               {"per_op_order", per_op},
               {"load_records", records},
               {"backends", backends},
               {"order", order},
               {"ops", matrix}};
  return root.dump();
}

std::string explain_json(const std::string &op, const std::vector<Verdict> &verdicts) {
  json list = json::array();
  bool chosen = false;
  for (const auto &v : verdicts) {
    list.push_back({{"backend", v.backend}, {"eligible", v.eligible}, {"accept", v.accept}, {"reason", v.reason},
                    {"chosen", v.accept && !chosen}});
    chosen = chosen || v.accept;
  }
  return json{{"op", op}, {"verdicts", list}}.dump();
}

}  // namespace mojo::core
