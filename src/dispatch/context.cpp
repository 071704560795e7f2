#include "dispatch/context.h"

#include <cstring>
#include <algorithm>
#include <cstdlib>
#include <memory>

#include "api/status.h"
#include "log/log.h"

namespace mojo::core {
namespace {

std::string pick(const char *option, const char *env_name, bool ignore_env) {
  if (option) return option;
  if (ignore_env) return "";
  const char *env = std::getenv(env_name);
  return env ? env : "";
}

std::vector<std::string> names_of(const std::vector<Backend *> &bs) {
  std::vector<std::string> out;
  for (auto *b : bs) out.push_back(b->name);
  return out;
}

}  // namespace

std::vector<Backend *> ranked(std::vector<Backend *> backends, const std::string &op) {
  std::stable_sort(backends.begin(), backends.end(), [&op](const Backend *a, const Backend *b) {
    int32_t pa = a->priority_for(op), pb = b->priority_for(op);
    if (pa != pb) return pa > pb;
    if (a->score != b->score) return a->score > b->score;
    return a->name < b->name;
  });
  return backends;
}

mojo_status *create_context(const mojo_context_options *options, mojo_context **out) {
  if (out == nullptr) return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_context_create: out is null");
  *out = nullptr;
  mojo_context_options opts{};
  mojo_context_options_init(&opts);
  if (options) {
    if (options->struct_size == 0)
      return core_error(MOJO_STATUS_INVALID_ARGUMENT,
                        "mojo_context_create: options->struct_size is 0 (call mojo_context_options_init)");
    std::memcpy(&opts, options, std::min(options->struct_size, sizeof opts));
  }
  bool ignore_env = opts.flags & MOJO_CONTEXT_IGNORE_ENV;
  auto ctx = std::make_unique<mojo_context>();
  std::string level_text = pick(opts.log_level, "MOJO_LOG_LEVEL", ignore_env);
  if (!level_text.empty()) {
    LogLevel level;
    if (!parse_log_level(level_text, level))
      return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_context_create: log level '" + level_text +
                                                          "' (expected trace, debug, info, warn, error or off)");
    set_log_level(level);
  }
  ctx->plugin_path = pick(opts.plugin_path, "MOJO_PLUGIN_PATH", ignore_env);
  ctx->backend_spec_text = pick(opts.backend_spec, "MOJO_BACKEND", ignore_env);
  ctx->op_backend_spec_text = pick(opts.op_backend_spec, "MOJO_OP_BACKEND", ignore_env);
  const std::string spec_source = opts.backend_spec ? "backend_spec" : "MOJO_BACKEND";
  const std::string op_source = opts.op_backend_spec ? "op_backend_spec" : "MOJO_OP_BACKEND";

  BackendSpec &spec = ctx->spec;
  std::string err = parse_backend_spec(ctx->backend_spec_text, spec_source, spec);
  if (err.empty()) err = parse_op_backend_spec(ctx->op_backend_spec_text, op_source, ctx->per_op);
  if (!err.empty()) return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_context_create: " + err);

  Registry &reg = Registry::instance();
  reg.discover(ctx->plugin_path);
  std::vector<Backend *> all = ranked(reg.backends());
  BackendResolution r = resolve_backend_spec(spec, names_of(all), names_of(all));
  if (!r.requested_missing.empty()) {
    const std::string &name = r.requested_missing.front();
    return core_error(MOJO_STATUS_NOT_FOUND, "mojo_context_create: " + spec_source + " requests backend '" + name +
                                                 "', which did not load (" + reg.record_for(name) + ")");
  }
  for (const auto &name : r.disabled_unknown)
    log_message(LogLevel::Warn, "core", spec_source + " disables unknown backend '" + name + "'");
  for (const auto &name : r.order) ctx->order.push_back(reg.find(name));
  for (auto *b : all)
    if (std::find(ctx->order.begin(), ctx->order.end(), b) == ctx->order.end()) ctx->disabled.push_back(b);
  for (const auto &[op, s] : ctx->per_op) {
    BackendResolution pr = resolve_backend_spec(s, r.order, names_of(all));
    if (!pr.requested_missing.empty())
      return core_error(MOJO_STATUS_NOT_FOUND, "mojo_context_create: " + op_source + " requests backend '" +
                                                   pr.requested_missing.front() + "' for op '" + op +
                                                   "', which did not load (" +
                                                   reg.record_for(pr.requested_missing.front()) + ")");
  }
  *out = ctx.release();
  return nullptr;
}

namespace {

// The context's order for one op: when some loaded backend declared a priority for `op`, the context's spec
// re-applied to the backends ranked for that op (explicit '+x' terms stay first, '-x' stays off).
std::vector<Backend *> default_order_for_op(const mojo_context &ctx, const std::string &op) {
  std::vector<Backend *> all = ctx.order;
  all.insert(all.end(), ctx.disabled.begin(), ctx.disabled.end());
  bool any = std::any_of(all.begin(), all.end(), [&op](const Backend *b) { return b->op_priorities.count(op); });
  if (!any) return ctx.order;
  std::vector<std::string> names = names_of(ranked(all, op));
  std::vector<Backend *> out;
  for (const auto &name : resolve_backend_spec(ctx.spec, names, names).order)
    out.push_back(Registry::instance().find(name));
  return out;
}

}  // namespace

mojo_status *order_for_op(const mojo_context &ctx, const std::string &op, const char *desc_spec,
                          std::vector<Backend *> &out) {
  std::vector<Backend *> op_order = default_order_for_op(ctx, op);
  std::vector<std::string> base = names_of(op_order);
  std::vector<std::string> available = base;
  for (auto *b : ctx.disabled) available.push_back(b->name);
  BackendSpec spec;
  std::string source;
  if (desc_spec) {
    source = "mojo_op_desc.backend_spec";
    std::string err = parse_backend_spec(desc_spec, source, spec);
    if (!err.empty()) return core_error(MOJO_STATUS_INVALID_ARGUMENT, op + ": " + err);
  } else if (auto it = ctx.per_op.find(op); it != ctx.per_op.end()) {
    spec = it->second;
    source = "MOJO_OP_BACKEND";
  } else {
    out = std::move(op_order);
    return nullptr;
  }
  BackendResolution r = resolve_backend_spec(spec, base, available);
  if (!r.requested_missing.empty())
    return core_error(MOJO_STATUS_NOT_FOUND, op + ": " + source + " requests backend '" + r.requested_missing.front() +
                                                 "', which did not load (" +
                                                 Registry::instance().record_for(r.requested_missing.front()) + ")");
  out.clear();
  for (const auto &name : r.order) out.push_back(Registry::instance().find(name));
  return nullptr;
}

}  // namespace mojo::core
