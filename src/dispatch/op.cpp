#include "dispatch/op.h"

#include <algorithm>
#include <cstring>

#include "api/status.h"
#include "log/log.h"
#include "mojo_common/dtype.h"

namespace mojo::core {
namespace {

bool host_accessible(mojo_device_type t) { return t == MOJO_DEVICE_CPU || t == MOJO_DEVICE_CUDA_HOST; }

// Does the backend drive the device the tensors are on?
bool serves_device(const Backend &b, mojo_device d) {
  for (const auto &dev : b.devices) {
    if (dev.device.device_type == d.device_type && dev.device.device_id == d.device_id) return true;
    if (dev.device.device_type == MOJO_DEVICE_CPU && host_accessible(d.device_type)) return true;
  }
  return false;
}

const mojo_kernel_decl *kernel_row(const Backend &b, const std::string &op) {
  for (size_t i = 0; i < b.api->n_kernels; ++i)
    if (op == b.api->kernels[i].op) return &b.api->kernels[i];
  return nullptr;
}

int primary_dtype(const OpCall &call) {
  for (auto *t : call.inputs)
    if (t) return common::dtype_id(t->dtype);
  for (auto *t : call.outputs)
    if (t) return common::dtype_id(t->dtype);
  return -1;
}

std::string take_message(mojo_status *s) {
  std::string m = s->message;
  if (!is_static_status(s)) delete s;
  return m;
}

}  // namespace

mojo_status *create_op(mojo_context *ctx, const mojo_op_desc *desc, mojo_op **out, bool explain_only,
                       std::vector<Verdict> *verdicts) {
  if (ctx == nullptr) return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_op_create: context is null");
  if (desc == nullptr) return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_op_create: desc is null");
  if (!explain_only && out == nullptr) return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_op_create: out is null");
  if (out) *out = nullptr;
  if (desc->struct_size < offsetof(mojo_op_desc, backend_spec))
    return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_op_create: desc->struct_size " +
                                                        std::to_string(desc->struct_size) + " is too small");
  if (desc->op == nullptr) return core_error(MOJO_STATUS_INVALID_ARGUMENT, "mojo_op_create: desc->op is null");
  const OpSchema *schema = find_op(desc->op);
  if (schema == nullptr)
    return core_error(MOJO_STATUS_NOT_FOUND, std::string("mojo_op_create: unknown op '") + desc->op + "' (" +
                                                 std::to_string(all_ops().size()) + " ops known; mojo-info lists them)");
  auto op = std::make_unique<mojo_op>();
  op->schema = schema;
  std::string err = normalize_attrs(*schema, desc->attrs, desc->n_attrs, op->attrs);
  OpCall call;
  call.schema = schema;
  call.attrs = &op->attrs;
  if (err.empty()) err = bind_tensors(call, desc->inputs, desc->n_inputs, desc->outputs, desc->n_outputs);
  if (err.empty()) err = validate_call(call, false);
  if (!err.empty()) return core_error(MOJO_STATUS_INVALID_ARGUMENT, err);
  op->device = call_device(call);

  const char *desc_spec = desc->struct_size >= offsetof(mojo_op_desc, backend_spec) + sizeof(desc->backend_spec)
                              ? desc->backend_spec
                              : nullptr;
  std::vector<Backend *> order;
  if (mojo_status *s = order_for_op(*ctx, schema->name, desc_spec, order)) return s;

  mojo_op_sig sig{};
  sig.struct_size = sizeof sig;
  sig.op = schema->name.c_str();
  sig.inputs = call.inputs.data();
  sig.n_inputs = call.inputs.size();
  sig.outputs = call.outputs.data();
  sig.n_outputs = call.outputs.size();
  sig.attrs = op->attrs.values.data();
  sig.n_attrs = op->attrs.values.size();
  sig.device = op->device;

  int dtype = primary_dtype(call);
  std::vector<Verdict> local;
  std::vector<Verdict> &seen = verdicts ? *verdicts : local;
  for (Backend *b : order) {
    Verdict v;
    v.backend = b->name;
    if (!serves_device(*b, op->device)) {
      v.reason = "not eligible (no device for tensors on " + device_name(op->device) + ")";
      seen.push_back(v);
      continue;
    }
    const mojo_kernel_decl *row = kernel_row(*b, schema->name);
    if (row == nullptr) {
      v.reason = "has no kernel for this op";
      seen.push_back(v);
      continue;
    }
    if (dtype >= 0 && !(row->dtype_mask & (1u << dtype))) {
      v.reason = std::string("has no ") + common::dtype_name(dtype) + " kernel";
      seen.push_back(v);
      continue;
    }
    v.eligible = true;
    mojo_verdict verdict{};
    verdict.struct_size = sizeof verdict;
    try {
      if (mojo_status *s = b->api->query(b->state, &sig, &verdict)) {
        v.reason = "query failed: " + take_message(s);
        seen.push_back(v);
        continue;
      }
    } catch (...) {
      v.reason = "query threw a C++ exception";
      seen.push_back(v);
      continue;
    }
    verdict.message[sizeof verdict.message - 1] = '\0';
    if (!verdict.accept) {
      v.reason = std::string("declined (") + verdict.message + ")";
      seen.push_back(v);
      continue;
    }
    v.accept = true;
    v.reason = "accepts";
    seen.push_back(v);
    if (explain_only) continue;
    mojo_kernel *kernel = nullptr;
    size_t ws = 0;
    mojo_status *s = nullptr;
    try {
      s = b->api->kernel_create(b->state, &sig, &kernel, &ws);
    } catch (...) {
      s = make_status(MOJO_STATUS_BACKEND_ERROR, b->name, "kernel_create threw a C++ exception");
    }
    if (s && s->code == MOJO_STATUS_UNSUPPORTED) {
      seen.back().accept = false;
      seen.back().reason = "declined at create (" + take_message(s) + ")";
      continue;
    }
    if (s) return s;
    op->backend = b;
    op->kernel = kernel;
    op->workspace_bytes = ws;
    if (const mojo_kernel_decl *r = kernel_row(*b, schema->name)) op->flags = r->flags;
    if (op->flags & MOJO_KERNEL_NOT_REENTRANT) op->serial = std::make_unique<std::mutex>();
    for (auto *list : {&call.inputs, &call.outputs})
      for (const mojo_tensor *t : *list) {
        op->dtypes.push_back(t ? common::dtype_id(t->dtype) : -1);
        op->ranks.push_back(t ? t->ndim : -1);
      }
    log_message(LogLevel::Info, "core", schema->name + " bound to backend '" + b->name + "'");
    *out = op.release();
    return nullptr;
  }
  if (explain_only) return nullptr;
  std::string reasons;
  for (const auto &v : seen) reasons += (reasons.empty() ? "" : "; ") + v.backend + " " + v.reason;
  if (reasons.empty()) reasons = "no backend is enabled (check MOJO_BACKEND)";
  return core_error(MOJO_STATUS_UNSUPPORTED, schema->name + ": no backend accepted this signature: " + reasons);
}

mojo_status *run_op(const mojo_op *op, const mojo_tensor *const *inputs, size_t n_inputs,
                    const mojo_tensor *const *outputs, size_t n_outputs, const mojo_tensor *workspace, void *stream,
                    bool plan) {
  const char *fn = plan ? "mojo_op_plan" : "mojo_op_run";
  if (op == nullptr) return core_error(MOJO_STATUS_INVALID_ARGUMENT, std::string(fn) + ": op is null");
  const std::string &name = op->schema->name;
  OpCall call;
  call.schema = op->schema;
  call.attrs = &op->attrs;
  std::string err = bind_tensors(call, inputs, n_inputs, plan ? nullptr : outputs, plan ? 0 : n_outputs);
  if (!err.empty() && plan && err.find("output") != std::string::npos) err.clear();
  if (!err.empty()) return core_error(MOJO_STATUS_INVALID_ARGUMENT, err);
  // The signature the kernel was created for must still hold.
  size_t slot = 0;
  for (auto *list : {&call.inputs, &call.outputs}) {
    bool is_input = list == &call.inputs;
    const auto &specs = is_input ? op->schema->inputs : op->schema->outputs;
    for (size_t i = 0; i < list->size(); ++i, ++slot) {
      const mojo_tensor *t = (*list)[i];
      if (plan && !is_input) continue;
      int dt = t ? common::dtype_id(t->dtype) : -1;
      int rank = t ? t->ndim : -1;
      const std::string label = std::string(is_input ? "input '" : "output '") + specs[i].name + "'";
      if ((t == nullptr) != (op->dtypes[slot] < 0))
        return core_error(MOJO_STATUS_INVALID_ARGUMENT, name + ": " + label + " is " + (t ? "given" : "absent") +
                                                            " but was " + (t ? "absent" : "given") +
                                                            " when the op was created");
      if (!t) continue;
      if (dt != op->dtypes[slot] || rank != op->ranks[slot])
        return core_error(MOJO_STATUS_INVALID_ARGUMENT,
                          name + ": " + label + " is " + common::dtype_name(dt) + " rank " + std::to_string(rank) +
                              ", expected " + common::dtype_name(op->dtypes[slot]) + " rank " +
                              std::to_string(op->ranks[slot]) + " as when the op was created");
      if (t->device.device_type != op->device.device_type || t->device.device_id != op->device.device_id)
        return core_error(MOJO_STATUS_INVALID_ARGUMENT, name + ": " + label + " is on " + device_name(t->device) +
                                                            ", expected " + device_name(op->device) +
                                                            " as when the op was created");
    }
  }
  if (!plan) {
    std::vector<int64_t> layout = structure_key(call);
    bool known;
    {
      std::lock_guard<std::mutex> lock(op->validated_mutex);
      known = layout == op->validated_layout;
    }
    err = validate_call(call, true, known);
    if (!err.empty()) return core_error(MOJO_STATUS_INVALID_ARGUMENT, err);
    if (!known) {
      std::lock_guard<std::mutex> lock(op->validated_mutex);
      op->validated_layout = std::move(layout);
    }
  }
  if (op->workspace_bytes > 0) {
    if (workspace == nullptr || workspace->data == nullptr)
      return core_error(MOJO_STATUS_INVALID_ARGUMENT, name + ": workspace of " + std::to_string(op->workspace_bytes) +
                                                          " bytes is required (mojo_op_workspace_size)");
    int64_t bytes = common::dtype_size(common::dtype_id(workspace->dtype));
    for (int32_t d = 0; d < workspace->ndim; ++d) bytes *= workspace->shape[d];
    if (bytes < int64_t(op->workspace_bytes))
      return core_error(MOJO_STATUS_INVALID_ARGUMENT, name + ": workspace has " + std::to_string(bytes) +
                                                          " bytes, expected at least " +
                                                          std::to_string(op->workspace_bytes));
  }
  mojo_run_args args{};
  args.struct_size = sizeof args;
  args.inputs = call.inputs.data();
  args.n_inputs = call.inputs.size();
  args.outputs = call.outputs.data();
  args.n_outputs = plan ? 0 : call.outputs.size();
  args.workspace = op->workspace_bytes > 0 ? workspace : nullptr;
  args.stream = stream;
  const Backend &b = *op->backend;
  if (plan && !b.has_plan()) return nullptr;
  std::unique_lock<std::mutex> lock;
  if (op->serial) lock = std::unique_lock<std::mutex>(*op->serial);
  try {
    return plan ? b.api->kernel_plan(op->kernel, &args) : b.api->kernel_run(op->kernel, &args);
  } catch (...) {
    return make_status(MOJO_STATUS_BACKEND_ERROR, b.name, name + ": kernel threw a C++ exception");
  }
}

}  // namespace mojo::core
