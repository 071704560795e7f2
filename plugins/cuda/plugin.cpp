// The cuda plugin: native CUDA C++ kernels behind the plugin ABI. It loads on a machine without a GPU
// (static cudart; the driver is only looked for in probe) and then reports why it cannot run. This file is
// the ABI glue only; the ops live in ops/<family>.cpp (op_entry.h).
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "mojo_common/dtype.h"
#include "mojo_common/plugin_support.h"
#include "op_entry.h"

namespace mojo::cuda {
namespace {

using common::cat;

common::PluginHost g_host;

const std::vector<mojo_kernel_decl> &decls() {
  static const std::vector<mojo_kernel_decl> d = [] {
    std::vector<mojo_kernel_decl> v;
    for (const auto &e : all_entries()) v.push_back(e.decl);
    return v;
  }();
  return d;
}

const Entry *find_entry(const char *op) {
  for (const auto &e : all_entries())
    if (std::strcmp(e.decl.op, op) == 0) return &e;
  return nullptr;
}

}  // namespace

void log_message(int32_t level, const std::string &message) { g_host.log(level, message); }

}  // namespace mojo::cuda

struct mojo_kernel {
  const mojo::cuda::Entry *entry;
  const mojo_attr *attrs;
  size_t n_attrs;
  int device;
  void *impl;
  size_t workspace_bytes;
  int32_t *error_word;  // device word for deferred metadata errors (Entry::describe_error), else nullptr
};

namespace mojo::cuda {
namespace {

mojo_status *backend_error(const char *op, const std::string &message) {
  return g_host.error(MOJO_STATUS_BACKEND_ERROR, cat(op, ": ", message));
}

// Cheap: looks for the driver library without initialising it.
mojo_status *probe(mojo_probe_result *out) {
  void *driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (driver == nullptr) {
    out->score = 0;
    const char *err = dlerror();
    std::snprintf(out->reason, sizeof out->reason, "no CUDA driver (libcuda.so.1: %s)", err ? err : "not found");
    return nullptr;
  }
  dlclose(driver);
  out->score = 10;
  std::snprintf(out->reason, sizeof out->reason, "CUDA driver found; kernels built for %s", MOJO_CUDA_ARCHS);
  return nullptr;
}

mojo_status *init(void **state) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return g_host.error(MOJO_STATUS_BACKEND_ERROR, cat("no usable CUDA device: ", cudaGetErrorString(e)));
  if (count == 0) return g_host.error(MOJO_STATUS_BACKEND_ERROR, "the CUDA driver reports no device");
  State *s = new (std::nothrow) State{count, nullptr};
  if (s == nullptr) return g_host.error(MOJO_STATUS_OUT_OF_MEMORY, "cannot allocate plugin state");
  if (cublasStatus_t ls = cublasLtCreate(&s->lt); ls != CUBLAS_STATUS_SUCCESS) {
    delete s;
    return g_host.error(MOJO_STATUS_BACKEND_ERROR, cat("cublasLtCreate failed: cuBLAS status ", int(ls)));
  }
  *state = s;
  return nullptr;
}

mojo_status *devices(void *state, mojo_device_desc *out, size_t capacity, size_t *count) {
  const State *s = static_cast<const State *>(state);
  *count = size_t(s->device_count);
  for (int d = 0; d < s->device_count && size_t(d) < capacity; ++d) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) continue;
    out[d].device = {MOJO_DEVICE_CUDA, d};
    std::snprintf(out[d].name, sizeof out[d].name, "%.127s", prop.name);
    std::snprintf(out[d].arch, sizeof out[d].arch, "sm_%d%d", prop.major, prop.minor);
    out[d].memory_bytes = prop.totalGlobalMem;
  }
  return nullptr;
}

mojo_status *query(void *, const mojo_op_sig *sig, mojo_verdict *v) {
  const Entry *e = find_entry(sig->op);
  if (e == nullptr) {
    common::set_verdict(v, false, MOJO_DECLINE_OP_MISSING, "no cuda kernel");
    return nullptr;
  }
  for (size_t i = 0; i < sig->n_inputs + sig->n_outputs; ++i) {
    const mojo_tensor *t = i < sig->n_inputs ? sig->inputs[i] : sig->outputs[i - sig->n_inputs];
    if (t && !common::is_contiguous(*t)) {
      common::set_verdict(v, false, MOJO_DECLINE_LAYOUT, "cuda kernels need contiguous tensors");
      return nullptr;
    }
  }
  if (e->accept) {
    int code = MOJO_DECLINE_OTHER;
    std::string why = e->accept(*sig, &code);
    if (!why.empty()) {
      common::set_verdict(v, false, code, why);
      return nullptr;
    }
  }
  common::set_verdict(v, true);
  return nullptr;
}

// Switches to `device` for its lifetime and back to the caller's device after.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    cudaGetDevice(&caller_);
    if (caller_ != device) status_ = cudaSetDevice(device);
  }
  ~DeviceScope() {
    int now = -1;
    cudaGetDevice(&now);
    if (caller_ >= 0 && now != caller_) cudaSetDevice(caller_);
  }
  cudaError_t status() const { return status_; }

 private:
  int caller_ = -1;
  cudaError_t status_ = cudaSuccess;
};

void release_parts(const Entry *e, void *impl, int32_t *error_word) {
  if (impl && e->release) e->release(impl);
  if (error_word) cudaFree(error_word);
}

mojo_status *kernel_create(void *state, const mojo_op_sig *sig, mojo_kernel **kernel, size_t *ws) {
  const Entry *e = find_entry(sig->op);
  if (e == nullptr) return g_host.error(MOJO_STATUS_UNSUPPORTED, cat(sig->op, ": no cuda kernel"));
  DeviceScope scope(sig->device.device_id);
  if (scope.status() != cudaSuccess) return backend_error(sig->op, cuda_message(scope.status()));
  void *impl = nullptr;
  size_t workspace_bytes = 0;
  int32_t *error_word = nullptr;
  std::string err;
  if (e->prepare) err = e->prepare(*static_cast<State *>(state), *sig, &impl, &workspace_bytes);
  if (err.empty() && e->describe_error) {  // allocation belongs to create, never to run
    err = cuda_message(cudaMalloc(&error_word, sizeof(int32_t)));
    if (err.empty()) err = cuda_message(cudaMemset(error_word, 0, sizeof(int32_t)));
  }
  if (!err.empty()) {
    release_parts(e, impl, error_word);
    return backend_error(sig->op, err);
  }
  mojo_kernel *k = new (std::nothrow)
      mojo_kernel{e, sig->attrs, sig->n_attrs, sig->device.device_id, impl, workspace_bytes, error_word};
  if (k == nullptr) {
    release_parts(e, impl, error_word);
    return g_host.error(MOJO_STATUS_OUT_OF_MEMORY, cat(sig->op, ": out of host memory"));
  }
  *kernel = k;
  *ws = workspace_bytes;
  return nullptr;
}

// run and plan: switch to the kernel's device, call the entry's function, switch back.
mojo_status *invoke(const mojo_kernel *k, const mojo_run_args *args, bool plan) {
  DeviceScope scope(k->device);
  if (scope.status() != cudaSuccess) return backend_error(k->entry->decl.op, cuda_message(scope.status()));
  // A run may have other sizes than the create-time signature: the kernel's own limits (accept) are checked
  // again, so a size it cannot take is an UNSUPPORTED status naming the limit, never a bad launch.
  if (k->entry->accept && !plan) {
    const mojo_op_sig sig{sizeof(mojo_op_sig), k->entry->decl.op, args->inputs, args->n_inputs, args->outputs,
                          args->n_outputs, k->attrs, k->n_attrs, {MOJO_DEVICE_CUDA, k->device}};
    int code = 0;
    if (std::string why = k->entry->accept(sig, &code); !why.empty())
      return g_host.error(MOJO_STATUS_UNSUPPORTED,
                          cat(k->entry->decl.op, ": this run's sizes are outside the bound cuda kernel's range (", why,
                              "); create an op for them"));
  }
  void *ws = args->workspace ? common::data_ptr(*args->workspace) : nullptr;
  Call c{k->impl, args->inputs, args->n_inputs, plan ? nullptr : args->outputs, plan ? 0 : args->n_outputs,
         k->attrs, k->n_attrs, ws, ws ? k->workspace_bytes : 0, static_cast<cudaStream_t>(args->stream),
         k->error_word};
  std::string err = plan ? k->entry->plan(c) : k->entry->run(c);
  return err.empty() ? nullptr : backend_error(k->entry->decl.op, err);
}

mojo_status *kernel_run(const mojo_kernel *k, const mojo_run_args *args) { return invoke(k, args, false); }

// Reads the deferred-error word after the kernel's runs on `stream`, then clears it.
mojo_status *kernel_check(const mojo_kernel *k, void *stream) {
  if (k->error_word == nullptr) return nullptr;
  const char *op = k->entry->decl.op;
  DeviceScope scope(k->device);
  auto s = static_cast<cudaStream_t>(stream);
  int32_t code = 0;
  std::string err = cuda_message(cudaMemcpyAsync(&code, k->error_word, sizeof code, cudaMemcpyDeviceToHost, s));
  if (err.empty()) err = cuda_message(cudaStreamSynchronize(s));
  if (err.empty() && code != 0) err = cuda_message(cudaMemsetAsync(k->error_word, 0, sizeof(int32_t), s));
  if (err.empty()) err = cuda_message(cudaStreamSynchronize(s));
  if (!err.empty()) return backend_error(op, err);
  if (code == 0) return nullptr;
  return g_host.error(MOJO_STATUS_INVALID_ARGUMENT, cat(op, ": ", k->entry->describe_error(code)));
}

// Kernels without a plan step accept mojo_op_plan as a no-op (nothing to schedule).
mojo_status *kernel_plan(const mojo_kernel *k, const mojo_run_args *args) {
  return k->entry->plan ? invoke(k, args, true) : nullptr;
}

void kernel_destroy(mojo_kernel *k) {
  if (k) release_parts(k->entry, k->impl, k->error_word);
  delete k;
}

}  // namespace
}  // namespace mojo::cuda

extern "C" __attribute__((visibility("default"))) const mojo_plugin_api *mojo_plugin_entry_v1(const mojo_host_api *host) {
  using namespace mojo::cuda;
  if (host == nullptr || host->abi_major != MOJO_PLUGIN_ABI_MAJOR) return nullptr;
  g_host.api = host;
  g_host.backend = "cuda";
  static mojo_plugin_api api = [] {
    mojo_plugin_api a = mojo::common::plugin_api_v1("cuda", "0.1.0", 100);
    a.probe = probe;
    a.init = init;
    a.devices = devices;
    a.kernels = decls().data();
    a.n_kernels = decls().size();
    a.query = query;
    a.kernel_create = kernel_create;
    a.kernel_run = kernel_run;
    a.kernel_destroy = kernel_destroy;
    a.kernel_plan = kernel_plan;
    a.kernel_check = kernel_check;
    return a;
  }();
  return &api;
}
