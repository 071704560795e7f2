// The ttx plugin: Triton kernels compiled ahead of time (aot/generate.py) into embedded cubins, loaded with
// cuModuleLoadData and launched with cuLaunchKernel; no Python at run time. The driver is reached through
// dlopen (driver.h), so the plugin loads anywhere and declines at probe without one. This file is the ABI
// glue only; the ops live in ops/<family>.cpp.
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "choose.h"
#include "ops.h"

namespace mojo::ttx {
namespace {

using common::cat;

common::PluginHost g_host;

struct Device {
  CUdevice handle = 0;
  int arch = 0;            // manifest arch serving it, 0 = none (arch_why says why)
  std::string arch_why;
  std::string name;
  size_t memory = 0;
  int major = 0, minor = 0;
  CUcontext context = nullptr;                // primary context, retained at the first kernel made on it
  std::map<const ManifestRow *, Variant> loaded;  // modules stay loaded for the process lifetime
};

struct State {
  Driver driver;
  std::vector<Device> devices;
  std::mutex mutex;  // guards contexts and the module cache
};

const std::vector<mojo_kernel_decl> &decls() {
  static const std::vector<mojo_kernel_decl> d = [] {
    std::vector<mojo_kernel_decl> v;
    for (const auto &op : all_ops()) v.push_back(op.decl);
    return v;
  }();
  return d;
}

const OpDef *find_op(const char *name) {
  for (const auto &op : all_ops())
    if (std::strcmp(op.decl.op, name) == 0) return &op;
  return nullptr;
}

}  // namespace
}  // namespace mojo::ttx

struct mojo_kernel {
  const mojo::ttx::OpDef *op;
  const mojo_attr *attrs;
  size_t n_attrs;
  mojo::ttx::State *state;
  int device;
  std::vector<mojo::ttx::Variant> variants;  // op->variants(dtype) order
  mojo::ttx::CUdeviceptr error_word;         // deferred metadata errors (OpDef::describe_error), else 0
  size_t workspace_bytes;                    // what create asked the caller for (OpDef::workspace)
};

namespace mojo::ttx {
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
  std::snprintf(out->reason, sizeof out->reason, "CUDA driver found; Triton %s kernels for sm_80/sm_90",
                manifest_triton_version());
  return nullptr;
}

mojo_status *init(void **state) {
  std::unique_ptr<State> s(new (std::nothrow) State);
  if (!s) return g_host.error(MOJO_STATUS_OUT_OF_MEMORY, "cannot allocate plugin state");
  Driver &d = s->driver;
  if (std::string err = d.load(); !err.empty()) return g_host.error(MOJO_STATUS_BACKEND_ERROR, err);
  int count = 0;
  std::string err = d.message(d.cuInit(0), "cuInit");
  if (err.empty()) err = d.message(d.cuDeviceGetCount(&count), "cuDeviceGetCount");
  if (err.empty() && count == 0) err = "the CUDA driver reports no device";
  for (int i = 0; err.empty() && i < count; ++i) {
    Device dev;
    char name[128] = {};
    err = d.message(d.cuDeviceGet(&dev.handle, i), "cuDeviceGet");
    if (err.empty()) err = d.message(d.cuDeviceGetAttribute(&dev.major, kAttrComputeCapabilityMajor, dev.handle), "cuDeviceGetAttribute");
    if (err.empty()) err = d.message(d.cuDeviceGetAttribute(&dev.minor, kAttrComputeCapabilityMinor, dev.handle), "cuDeviceGetAttribute");
    if (err.empty()) err = d.message(d.cuDeviceGetName(name, sizeof name - 1, dev.handle), "cuDeviceGetName");
    if (err.empty()) err = d.message(d.cuDeviceTotalMem(&dev.memory, dev.handle), "cuDeviceTotalMem");
    dev.name = name;
    dev.arch = arch_for(dev.major, dev.minor, &dev.arch_why);
    s->devices.push_back(std::move(dev));
  }
  if (!err.empty()) {
    d.unload();
    return g_host.error(MOJO_STATUS_BACKEND_ERROR, "no usable CUDA device: " + err);
  }
  *state = s.release();
  return nullptr;
}

mojo_status *devices(void *state, mojo_device_desc *out, size_t capacity, size_t *count) {
  const State *s = static_cast<const State *>(state);
  *count = s->devices.size();
  for (size_t i = 0; i < s->devices.size() && i < capacity; ++i) {
    const Device &d = s->devices[i];
    out[i].device = {MOJO_DEVICE_CUDA, int32_t(i)};
    std::snprintf(out[i].name, sizeof out[i].name, "%.127s", d.name.c_str());
    std::snprintf(out[i].arch, sizeof out[i].arch, "sm_%d%d", d.major, d.minor);
    out[i].memory_bytes = d.memory;
  }
  return nullptr;
}

// The device a signature runs on, or nullptr with the decline reason.
const Device *device_of(const State &s, const mojo_device &dev, std::string *why) {
  if (dev.device_type != MOJO_DEVICE_CUDA || dev.device_id < 0 || size_t(dev.device_id) >= s.devices.size()) {
    *why = "not a CUDA device of this process";
    return nullptr;
  }
  const Device &d = s.devices[size_t(dev.device_id)];
  if (d.arch == 0) *why = d.arch_why;
  return d.arch ? &d : nullptr;
}

mojo_status *query(void *state, const mojo_op_sig *sig, mojo_verdict *v) {
  const OpDef *op = find_op(sig->op);
  if (op == nullptr) {
    common::set_verdict(v, false, MOJO_DECLINE_OP_MISSING, "no ttx kernel");
    return nullptr;
  }
  std::string why;
  if (device_of(*static_cast<const State *>(state), sig->device, &why) == nullptr) {
    common::set_verdict(v, false, MOJO_DECLINE_ARCH, why);
    return nullptr;
  }
  for (size_t i = 0; i < sig->n_inputs + sig->n_outputs; ++i) {
    const mojo_tensor *t = i < sig->n_inputs ? sig->inputs[i] : sig->outputs[i - sig->n_inputs];
    if (t && !common::is_contiguous(*t)) {
      common::set_verdict(v, false, MOJO_DECLINE_LAYOUT, "ttx kernels need contiguous tensors");
      return nullptr;
    }
  }
  if (op->accept) {
    int code = MOJO_DECLINE_OTHER;
    why = op->accept(*sig, &code);
    if (!why.empty()) {
      common::set_verdict(v, false, code, why);
      return nullptr;
    }
  }
  common::set_verdict(v, true);
  return nullptr;
}

// Loads (once per device) the module of `row` and finds its function. Caller holds the state mutex and has
// the device's context current.
std::string load_variant(const Driver &d, Device &dev, const ManifestRow *row, Variant *out) {
  auto it = dev.loaded.find(row);
  if (it != dev.loaded.end()) {
    *out = it->second;
    return "";
  }
  CUmodule module = nullptr;
  Variant v{row, nullptr};
  std::string err = d.message(d.cuModuleLoadData(&module, row->cubin), "cuModuleLoadData");
  if (err.empty()) err = d.message(d.cuModuleGetFunction(&v.fn, module, row->symbol), "cuModuleGetFunction");
  // Triton hands its shared memory as dynamic shared memory; above 48 KiB the function must opt in.
  if (err.empty() && row->shared_bytes > 48 * 1024)
    err = d.message(d.cuFuncSetAttribute(v.fn, kFuncAttrMaxDynamicSharedBytes, row->shared_bytes), "cuFuncSetAttribute");
  if (!err.empty()) {
    if (module) d.cuModuleUnload(module);
    return err;
  }
  dev.loaded[row] = v;
  *out = v;
  return "";
}

mojo_status *kernel_create(void *state, const mojo_op_sig *sig, mojo_kernel **kernel, size_t *ws) {
  State &s = *static_cast<State *>(state);
  const OpDef *op = find_op(sig->op);
  std::string why;
  if (op == nullptr) return g_host.error(MOJO_STATUS_UNSUPPORTED, cat(sig->op, ": no ttx kernel"));
  if (device_of(s, sig->device, &why) == nullptr) return g_host.error(MOJO_STATUS_UNSUPPORTED, cat(sig->op, ": ", why));
  const char *dtype = dtype_name(sig->inputs[0]);
  if (dtype == nullptr) return g_host.error(MOJO_STATUS_UNSUPPORTED, cat(sig->op, ": ttx kernels take float inputs"));
  std::unique_ptr<mojo_kernel> k(new (std::nothrow) mojo_kernel{op, sig->attrs, sig->n_attrs, &s, sig->device.device_id, {}, 0,
                                                                 op->workspace ? op->workspace(*sig) : 0});
  if (!k) return g_host.error(MOJO_STATUS_OUT_OF_MEMORY, cat(sig->op, ": out of host memory"));
  std::lock_guard<std::mutex> lock(s.mutex);
  Device &dev = s.devices[size_t(sig->device.device_id)];
  const Driver &d = s.driver;
  std::string err;
  if (dev.context == nullptr) err = d.message(d.cuDevicePrimaryCtxRetain(&dev.context, dev.handle), "cuDevicePrimaryCtxRetain");
  if (!err.empty()) return backend_error(sig->op, err);
  ContextScope scope(d, dev.context);
  if (!scope.error().empty()) return backend_error(sig->op, scope.error());
  for (const VariantRef &ref : op->variants(dtype)) {
    const ManifestRow *row = find_row(ref.kernel.c_str(), dev.arch, ref.key);
    if (row == nullptr)
      return backend_error(sig->op, cat("the embedded manifest lacks ", ref.kernel, " sm_", dev.arch, " ", ref.key));
    Variant v;
    if (err = load_variant(d, dev, row, &v); !err.empty()) return backend_error(sig->op, err);
    k->variants.push_back(v);
  }
  if (op->describe_error) {  // allocation belongs to create, never to run
    err = d.message(d.cuMemAlloc(&k->error_word, sizeof(int32_t)), "cuMemAlloc");
    if (err.empty()) err = d.message(d.cuMemsetD32(k->error_word, 0, 1), "cuMemsetD32");
    if (!err.empty()) {
      if (k->error_word) d.cuMemFree(k->error_word);
      return backend_error(sig->op, err);
    }
  }
  *ws = k->workspace_bytes;
  *kernel = k.release();
  return nullptr;
}

mojo_status *kernel_run(const mojo_kernel *k, const mojo_run_args *args) {
  const Driver &d = k->state->driver;
  ContextScope scope(d, k->state->devices[size_t(k->device)].context);
  if (!scope.error().empty()) return backend_error(k->op->decl.op, scope.error());
  void *ws = args->workspace ? common::data_ptr(*args->workspace) : nullptr;
  Call c{args->inputs, args->n_inputs, args->outputs, args->n_outputs, k->attrs, k->n_attrs,
         static_cast<CUstream>(args->stream), &d, k->variants.data(), k->error_word, ws, ws ? k->workspace_bytes : 0};
  std::string err = k->op->run(c);
  return err.empty() ? nullptr : backend_error(k->op->decl.op, err);
}

// Reads the deferred-error word after the kernel's runs on `stream`, then clears it.
mojo_status *kernel_check(const mojo_kernel *k, void *stream) {
  if (k->error_word == 0) return nullptr;
  const Driver &d = k->state->driver;
  const char *op = k->op->decl.op;
  ContextScope scope(d, k->state->devices[size_t(k->device)].context);
  if (!scope.error().empty()) return backend_error(op, scope.error());
  auto s = static_cast<CUstream>(stream);
  int32_t code = 0;
  std::string err = d.message(d.cuMemcpyDtoHAsync(&code, k->error_word, sizeof code, s), "cuMemcpyDtoHAsync");
  if (err.empty()) err = d.message(d.cuStreamSynchronize(s), "cuStreamSynchronize");
  if (err.empty() && code != 0) err = d.message(d.cuMemsetD32Async(k->error_word, 0, 1, s), "cuMemsetD32Async");
  if (err.empty()) err = d.message(d.cuStreamSynchronize(s), "cuStreamSynchronize");
  if (!err.empty()) return backend_error(op, err);
  if (code == 0) return nullptr;
  return g_host.error(MOJO_STATUS_INVALID_ARGUMENT, cat(op, ": ", k->op->describe_error(code)));
}

void kernel_destroy(mojo_kernel *k) {
  if (k && k->error_word) {
    const Driver &d = k->state->driver;
    ContextScope scope(d, k->state->devices[size_t(k->device)].context);
    d.cuMemFree(k->error_word);
  }
  delete k;
}

}  // namespace
}  // namespace mojo::ttx

extern "C" __attribute__((visibility("default"))) const mojo_plugin_api *mojo_plugin_entry_v1(const mojo_host_api *host) {
  using namespace mojo::ttx;
  if (host == nullptr || host->abi_major != MOJO_PLUGIN_ABI_MAJOR) return nullptr;
  g_host.api = host;
  g_host.backend = "ttx";
  // Below cuda (100) for every op (docs/decisions/ttx.md): paged_prefill_gqa ranked above cuda through a per-op
  // priority until the cuda plugin's warp-specialised wgmma kernel measured faster at every bench shape.
  static mojo_plugin_api api = [] {
    mojo_plugin_api a = mojo::common::plugin_api_v1("ttx", "0.1.0", 50);
    a.probe = probe;
    a.init = init;
    a.devices = devices;
    a.kernels = decls().data();
    a.n_kernels = decls().size();
    a.query = query;
    a.kernel_create = kernel_create;
    a.kernel_run = kernel_run;
    a.kernel_destroy = kernel_destroy;
    a.kernel_check = kernel_check;
    return a;
  }();
  return &api;
}
