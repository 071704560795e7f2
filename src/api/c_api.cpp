// The C boundary: argument checks, exception -> status, nothing else.
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>

#include "api/status.h"
#include "dispatch/context.h"
#include "dispatch/op.h"
#include "report/report.h"

using namespace mojo::core;

namespace {

// Runs body; any escaping exception becomes a status (nothing crosses the C boundary).
template <typename F>
mojo_status *guarded(const char *fn, F &&body) {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return core_error(MOJO_STATUS_OUT_OF_MEMORY, std::string(fn) + ": out of host memory");
  } catch (const std::exception &e) {
    return core_error(MOJO_STATUS_INTERNAL, std::string(fn) + ": " + e.what());
  } catch (...) {
    return core_error(MOJO_STATUS_INTERNAL, std::string(fn) + ": unknown exception");
  }
}

char *copy_string(const std::string &s) {
  char *out = static_cast<char *>(std::malloc(s.size() + 1));
  if (out) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

}  // namespace

extern "C" {

const char *mojo_version(void) { return "0.1.0"; }
uint32_t mojo_api_version(void) { return MOJO_API_VERSION; }

mojo_code mojo_status_code(const mojo_status *s) { return s ? s->code : MOJO_STATUS_SUCCESS; }
const char *mojo_status_message(const mojo_status *s) { return s ? s->message.c_str() : ""; }
const char *mojo_status_backend(const mojo_status *s) { return s ? s->backend.c_str() : ""; }
void mojo_status_free(mojo_status *s) {
  if (s && !is_static_status(s)) delete s;
}

const char *mojo_code_name(mojo_code code) {
  switch (code) {
    case MOJO_STATUS_SUCCESS: return "SUCCESS";
    case MOJO_STATUS_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case MOJO_STATUS_UNSUPPORTED: return "UNSUPPORTED";
    case MOJO_STATUS_NOT_FOUND: return "NOT_FOUND";
    case MOJO_STATUS_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
    case MOJO_STATUS_BACKEND_ERROR: return "BACKEND_ERROR";
    case MOJO_STATUS_ABI_MISMATCH: return "ABI_MISMATCH";
    case MOJO_STATUS_INTERNAL: return "INTERNAL";
    default: return "UNKNOWN";
  }
}

void mojo_context_options_init(mojo_context_options *options) {
  if (!options) return;
  std::memset(options, 0, sizeof *options);
  options->struct_size = sizeof *options;
}

mojo_status *mojo_context_create(const mojo_context_options *options, mojo_context **out) {
  return guarded("mojo_context_create", [&] { return create_context(options, out); });
}

void mojo_context_destroy(mojo_context *context) { delete context; }

size_t mojo_backend_count(const mojo_context *context) {
  return context ? context->order.size() + context->disabled.size() : 0;
}

static const Backend *backend_at(const mojo_context *ctx, size_t i, int32_t *rank) {
  if (i < ctx->order.size()) { *rank = int32_t(i); return ctx->order[i]; }
  i -= ctx->order.size();
  *rank = -1;
  return i < ctx->disabled.size() ? ctx->disabled[i] : nullptr;
}

mojo_status *mojo_backend_get(const mojo_context *context, size_t index, mojo_backend_info *out) {
  return guarded("mojo_backend_get", [&]() -> mojo_status * {
    if (!context || !out) return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_backend_get: context or out is null");
    if (out->struct_size < sizeof(size_t))
      return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_backend_get: out->struct_size is not set");
    int32_t rank;
    const Backend *b = backend_at(context, index, &rank);
    if (!b) return core_error(MOJO_STATUS_NOT_FOUND, "mojo_backend_get: no backend #" + std::to_string(index));
    mojo_backend_info info{};
    info.struct_size = sizeof info;
    info.name = b->name.c_str();
    info.version = b->version.c_str();
    info.path = b->path.c_str();
    info.default_priority = b->default_priority;
    info.probe_score = b->score;
    info.probe_reason = b->probe_reason.c_str();
    info.rank = rank;
    info.n_devices = int32_t(b->devices.size());
    info.abi_major = b->api->abi_major;
    info.abi_minor = b->api->abi_minor;
    size_t n = std::min(out->struct_size, sizeof info);
    std::memcpy(out, &info, n);
    out->struct_size = n;
    return nullptr;
  });
}

mojo_status *mojo_device_get(const mojo_context *context, size_t backend_index, size_t device_index,
                             mojo_device_info *out) {
  return guarded("mojo_device_get", [&]() -> mojo_status * {
    if (!context || !out) return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_device_get: context or out is null");
    int32_t rank;
    const Backend *b = backend_at(context, backend_index, &rank);
    if (!b) return core_error(MOJO_STATUS_NOT_FOUND, "mojo_device_get: no backend #" + std::to_string(backend_index));
    if (device_index >= b->devices.size())
      return core_error(MOJO_STATUS_NOT_FOUND, "mojo_device_get: backend '" + b->name + "' has no device #" +
                                                   std::to_string(device_index));
    const mojo_device_desc &d = b->devices[device_index];
    mojo_device_info info{sizeof info, d.device, d.name, d.arch, d.memory_bytes};
    size_t n = std::min(out->struct_size ? out->struct_size : sizeof info, sizeof info);
    std::memcpy(out, &info, n);
    out->struct_size = n;
    return nullptr;
  });
}

size_t mojo_plugin_record_count(void) {
  try {
    return Registry::instance().records().size();
  } catch (...) {
    return 0;
  }
}

mojo_status *mojo_plugin_record_get(size_t index, mojo_plugin_record *out) {
  return guarded("mojo_plugin_record_get", [&]() -> mojo_status * {
    if (!out) return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_plugin_record_get: out is null");
    // Records are append-only and never freed, so pointers into the registry's copy stay valid: keep one
    // interned copy per index.
    static std::mutex mutex;
    static std::vector<std::unique_ptr<LoadRecord>> interned;
    std::lock_guard<std::mutex> lock(mutex);
    auto records = Registry::instance().records();
    if (index >= records.size())
      return core_error(MOJO_STATUS_NOT_FOUND, "mojo_plugin_record_get: no record #" + std::to_string(index));
    while (interned.size() < records.size()) interned.push_back(std::make_unique<LoadRecord>(records[interned.size()]));
    const LoadRecord &r = *interned[index];
    mojo_plugin_record rec{sizeof rec, r.path.c_str(), r.stage.c_str(), r.outcome.c_str(), r.reason.c_str()};
    size_t n = std::min(out->struct_size ? out->struct_size : sizeof rec, sizeof rec);
    std::memcpy(out, &rec, n);
    out->struct_size = n;
    return nullptr;
  });
}

const char *mojo_schema_json(void) {
  try {
    return schema_json().c_str();
  } catch (...) {
    return "{}";
  }
}

mojo_status *mojo_context_report_json(const mojo_context *context, char **out) {
  return guarded("mojo_context_report_json", [&]() -> mojo_status * {
    if (!context || !out) return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_context_report_json: null argument");
    *out = copy_string(context_report_json(*context));
    return *out ? nullptr : core_error(MOJO_STATUS_OUT_OF_MEMORY, "mojo_context_report_json: out of memory");
  });
}

mojo_status *mojo_op_explain_json(mojo_context *context, const mojo_op_desc *desc, char **out) {
  return guarded("mojo_op_explain_json", [&]() -> mojo_status * {
    if (!out) return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_op_explain_json: out is null");
    *out = nullptr;
    std::vector<Verdict> verdicts;
    if (mojo_status *s = create_op(context, desc, nullptr, true, &verdicts)) return s;
    *out = copy_string(explain_json(desc->op, verdicts));
    return *out ? nullptr : core_error(MOJO_STATUS_OUT_OF_MEMORY, "mojo_op_explain_json: out of memory");
  });
}

void mojo_string_free(char *string) { std::free(string); }

mojo_status *mojo_op_create(mojo_context *context, const mojo_op_desc *desc, mojo_op **out) {
  return guarded("mojo_op_create", [&] { return create_op(context, desc, out, false, nullptr); });
}

mojo_status *mojo_op_workspace_size(const mojo_op *op, size_t *bytes) {
  if (!op || !bytes) return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_op_workspace_size: op or bytes is null");
  *bytes = op->workspace_bytes;
  return nullptr;
}

mojo_status *mojo_op_run(const mojo_op *op, const mojo_tensor *const *inputs, size_t n_inputs,
                         const mojo_tensor *const *outputs, size_t n_outputs, const mojo_tensor *workspace,
                         void *stream) {
  return guarded("mojo_op_run",
                 [&] { return run_op(op, inputs, n_inputs, outputs, n_outputs, workspace, stream, false); });
}

mojo_status *mojo_op_plan(const mojo_op *op, const mojo_tensor *const *inputs, size_t n_inputs,
                          const mojo_tensor *workspace, void *stream) {
  return guarded("mojo_op_plan", [&] { return run_op(op, inputs, n_inputs, nullptr, 0, workspace, stream, true); });
}

mojo_status *mojo_op_check(const mojo_op *op, void *stream) {
  return guarded("mojo_op_check", [&]() -> mojo_status * {
    if (op == nullptr) return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_op_check: op is NULL");
    if (op->kernel == nullptr || !op->backend->has_check()) return nullptr;
    return op->backend->api->kernel_check(op->kernel, stream);
  });
}

const char *mojo_op_backend(const mojo_op *op) { return op && op->backend ? op->backend->name.c_str() : ""; }
const char *mojo_op_name(const mojo_op *op) { return op ? op->schema->name.c_str() : ""; }

void mojo_op_destroy(mojo_op *op) {
  if (!op) return;
  try {
    if (op->kernel) op->backend->api->kernel_destroy(op->kernel);
  } catch (...) {
  }
  delete op;
}

}  // extern "C"
