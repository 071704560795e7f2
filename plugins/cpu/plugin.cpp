// The cpu plugin: the golden reference behind the same ABI every other backend uses. It is linked into
// libmojo (so it is always present) and registered through mojo_cpu_plugin_entry instead of dlopen.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <thread>
#include <vector>

#include "kernel.h"

namespace mojo::cpu {
namespace {

common::PluginHost g_host;

const std::vector<KernelEntry> &kernel_table() {
  static const std::vector<KernelEntry> table = [] {
    std::vector<KernelEntry> t;
    add_norm_kernels(t);
    add_activation_kernels(t);
    add_position_kernels(t);
    add_linear_kernels(t);
    add_embedding_kernels(t);
    add_attention_kernels(t);
    add_attention_mla_kernels(t);
    add_kv_cache_kernels(t);
    add_moe_kernels(t);
    add_sampling_kernels(t);
    add_quant_kernels(t);
    add_training_kernels(t);
    return t;
  }();
  return table;
}

const std::vector<mojo_kernel_decl> &kernel_decls() {
  static const std::vector<mojo_kernel_decl> decls = [] {
    std::vector<mojo_kernel_decl> d;
    for (const auto &k : kernel_table()) d.push_back({k.op, k.dtype_mask, 0});
    return d;
  }();
  return decls;
}

const KernelEntry *find_kernel(const char *op) {
  for (const auto &k : kernel_table())
    if (std::strcmp(k.op, op) == 0) return &k;
  return nullptr;
}

}  // namespace
}  // namespace mojo::cpu

// The plugin-defined kernel: the table row plus the create-time attributes (valid until destroy).
struct mojo_kernel {
  const mojo::cpu::KernelEntry *entry;
  const mojo_attr *attrs;
  size_t n_attrs;
};

namespace mojo::cpu {
namespace {

mojo_status *probe(mojo_probe_result *out) {
  out->score = 1;
  std::snprintf(out->reason, sizeof out->reason, "host CPU, %u hardware threads",
                std::max(1u, std::thread::hardware_concurrency()));
  return nullptr;
}

mojo_status *init(void **state) {
  *state = nullptr;
  return nullptr;
}

mojo_status *devices(void *, mojo_device_desc *out, size_t capacity, size_t *count) {
  *count = 1;
  if (capacity < 1) return nullptr;
  out[0].device = {MOJO_DEVICE_CPU, 0};
  std::snprintf(out[0].name, sizeof out[0].name, "host CPU");
  std::snprintf(out[0].arch, sizeof out[0].arch, "%s", "generic");
  out[0].memory_bytes = 0;
  return nullptr;
}

mojo_status *query(void *, const mojo_op_sig *sig, mojo_verdict *out) {
  if (find_kernel(sig->op) == nullptr) {
    common::set_verdict(out, false, MOJO_DECLINE_OP_MISSING, "no reference kernel");
    return nullptr;
  }
  common::set_verdict(out, true);
  return nullptr;
}

mojo_status *kernel_create(void *, const mojo_op_sig *sig, mojo_kernel **kernel, size_t *workspace_bytes) {
  const KernelEntry *entry = find_kernel(sig->op);
  if (entry == nullptr) return g_host.error(MOJO_STATUS_UNSUPPORTED, common::cat(sig->op, ": no reference kernel"));
  mojo_kernel *k = new (std::nothrow) mojo_kernel{entry, sig->attrs, sig->n_attrs};
  if (k == nullptr) return g_host.error(MOJO_STATUS_OUT_OF_MEMORY, common::cat(sig->op, ": out of host memory"));
  *kernel = k;
  *workspace_bytes = 0;
  return nullptr;
}

mojo_status *kernel_run(const mojo_kernel *kernel, const mojo_run_args *args) {
  KernelCall call;
  call.op = kernel->entry->op;
  call.inputs = args->inputs;
  call.n_inputs = args->n_inputs;
  call.outputs = args->outputs;
  call.n_outputs = args->n_outputs;
  call.attrs = kernel->attrs;
  call.n_attrs = kernel->n_attrs;
  call.host = &g_host;
  try {
    return kernel->entry->run(call);
  } catch (const std::bad_alloc &) {
    return call.error(MOJO_STATUS_OUT_OF_MEMORY, "out of host memory");
  } catch (const std::exception &e) {
    return call.error(MOJO_STATUS_INTERNAL, common::cat("reference kernel failed: ", e.what()));
  }
}

void kernel_destroy(mojo_kernel *kernel) { delete kernel; }

}  // namespace
}  // namespace mojo::cpu

// Hidden: the core calls it directly; only mojo_* API functions leave libmojo.so.
extern "C" __attribute__((visibility("hidden"))) const mojo_plugin_api *mojo_cpu_plugin_entry(
    const mojo_host_api *host) {
  using namespace mojo::cpu;
  if (host == nullptr || host->abi_major != MOJO_PLUGIN_ABI_MAJOR) return nullptr;
  g_host.api = host;
  g_host.backend = "cpu";
  static mojo_plugin_api api = [] {
    mojo_plugin_api a = mojo::common::plugin_api_v1("cpu", "0.1.0", 0);
    a.probe = probe;
    a.init = init;
    a.devices = devices;
    a.kernels = kernel_decls().data();
    a.n_kernels = kernel_decls().size();
    a.query = query;
    a.kernel_create = kernel_create;
    a.kernel_run = kernel_run;
    a.kernel_destroy = kernel_destroy;
    a.kernel_plan = nullptr;
    return a;
  }();
  return &api;
}
