// The cuda plugin: native CUDA C++ kernels behind the plugin ABI. It loads on a machine without a GPU
// (static cudart; the driver is only looked for in probe) and then reports why it cannot run.
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "gemm/linear.h"
#include "kernels/launch.h"
#include "mojo_common/dtype.h"
#include "mojo_common/plugin_support.h"

namespace mojo::cuda {
namespace {

using common::cat;
using common::find_attr;

common::PluginHost g_host;

struct State {
  int device_count = 0;
  cublasLtHandle_t lt = nullptr;
};

struct Call {
  void *impl;  // per-kernel object made at create (e.g. a LinearPlan), nullptr for stateless kernels
  const mojo_tensor *const *in;
  const mojo_tensor *const *out;
  const mojo_attr *attrs;
  size_t n_attrs;
  cudaStream_t stream;

  const mojo_tensor *input(size_t i) const { return in[i]; }
  const mojo_tensor *output(size_t i) const { return out[i]; }
  const void *ptr(const mojo_tensor *t) const { return t ? common::data_ptr(*t) : nullptr; }
  void *mut_ptr(const mojo_tensor *t) const { return t ? common::data_ptr(*t) : nullptr; }
  double f(const char *name) const { auto a = find_attr(attrs, n_attrs, name); return a && a->count ? a->f : 0.0; }
  bool b(const char *name) const { auto a = find_attr(attrs, n_attrs, name); return a && a->count && a->i; }
  std::string s(const char *name) const {
    auto a = find_attr(attrs, n_attrs, name);
    return a && a->count && a->s ? a->s : "";
  }
};

// A kernel returns "" or an error message; stateless kernels wrap a cudaError_t.
using RunFn = std::string (*)(const Call &);
// Optional per-signature preparation at create (descriptors, workspace); returns "" or an error.
using PrepareFn = std::string (*)(State &, const mojo_op_sig &, void **impl);
using ReleaseFn = void (*)(void *impl);

std::string cuda_message(cudaError_t e) {
  return e == cudaSuccess ? "" : std::string("CUDA error ") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e);
}

Dt dt_of(const mojo_tensor *t) {
  switch (common::dtype_id(t->dtype)) {
    case MOJO_DT_FP16: return Dt::F16;
    case MOJO_DT_BF16: return Dt::BF16;
    default: return Dt::F32;
  }
}

int64_t cols_of(const mojo_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }
int64_t rows_of(const mojo_tensor *t) { return cols_of(t) ? common::numel(*t) / cols_of(t) : 0; }

cudaError_t run_norm(const Call &c, bool layer, bool residual_variant) {
  NormArgs a{};
  const mojo_tensor *x = c.input(0);
  a.dtype = dt_of(x);
  a.rows = rows_of(x);
  a.cols = cols_of(x);
  a.x = c.ptr(x);
  size_t next = 1;
  if (residual_variant) a.residual = c.ptr(c.input(next++));
  const mojo_tensor *w = c.input(next++);
  const mojo_tensor *b = layer ? c.input(next++) : nullptr;
  a.weight = c.ptr(w);
  a.bias = c.ptr(b);
  a.weight_dtype = w ? dt_of(w) : Dt::F32;
  a.out = c.mut_ptr(c.output(0));
  a.residual_out = residual_variant ? c.mut_ptr(c.output(1)) : nullptr;
  a.post = residual_variant && c.s("norm_pos") == "post";
  a.layer_norm = layer;
  a.eps = float(c.f("eps"));
  return launch_norm(a, c.stream);
}

Quant quant_of(const Call &c) {
  return c.s("quant_dtype") == "fp8_e4m3fn" ? Quant::Fp8E4M3 : Quant::Int8;
}

// The *_norm_quant ops and dynamic_quant: inputs x, [residual], [weight], [bias], smooth; outputs q,
// [residual_out], scale (schema order, src/schema/norm.cpp and quant.cpp).
std::string run_norm_quant(const Call &c, bool layer, bool residual_variant, bool normalize) {
  NormArgs a{};
  const mojo_tensor *x = c.input(0);
  a.dtype = dt_of(x);
  a.rows = rows_of(x);
  a.cols = cols_of(x);
  a.x = c.ptr(x);
  size_t in = 1, out = 0;
  if (residual_variant) a.residual = c.ptr(c.input(in++));
  if (normalize) {
    const mojo_tensor *w = c.input(in++);
    a.weight = c.ptr(w);
    a.weight_dtype = w ? dt_of(w) : Dt::F32;
    if (layer) a.bias = c.ptr(c.input(in++));
  }
  const mojo_tensor *smooth = c.input(in++);
  a.smooth = c.ptr(smooth);
  a.smooth_dtype = smooth ? dt_of(smooth) : Dt::F32;
  a.out = c.mut_ptr(c.output(out++));
  if (residual_variant) a.residual_out = c.mut_ptr(c.output(out++));
  a.scale_out = static_cast<float *>(c.mut_ptr(c.output(out++)));
  a.post = residual_variant && c.s("norm_pos") == "post";
  a.layer_norm = layer;
  a.normalize = normalize;
  a.eps = float(c.f("eps"));
  a.quant = quant_of(c);
  a.unit_if_tiny = !normalize;
  cudaError_t e = launch_norm(a, c.stream);
  if (e == cudaErrorNotSupported) return "quantizing norms need 16-byte aligned rows whose length is a multiple of 16 bytes";
  return cuda_message(e);
}

std::string rms_norm_quant(const Call &c) { return run_norm_quant(c, false, false, true); }
std::string layer_norm_quant(const Call &c) { return run_norm_quant(c, true, false, true); }
std::string residual_add_rms_norm_quant(const Call &c) { return run_norm_quant(c, false, true, true); }
std::string residual_add_layer_norm_quant(const Call &c) { return run_norm_quant(c, true, true, true); }
std::string dynamic_quant(const Call &c) { return run_norm_quant(c, false, false, false); }

std::string rms_norm(const Call &c) { return cuda_message(run_norm(c, false, false)); }
std::string layer_norm(const Call &c) { return cuda_message(run_norm(c, true, false)); }
std::string residual_add_rms_norm(const Call &c) { return cuda_message(run_norm(c, false, true)); }
std::string residual_add_layer_norm(const Call &c) { return cuda_message(run_norm(c, true, true)); }

cudaError_t run_activation(const Call &c, Activation kind) {
  ActivationArgs a{};
  a.dtype = dt_of(c.input(0));
  a.kind = kind;
  a.n = common::numel(*c.input(0));
  a.x = c.ptr(c.input(0));
  a.up = kind == Activation::Swiglu ? c.ptr(c.input(1)) : nullptr;
  a.out = c.mut_ptr(c.output(0));
  a.limit = kind == Activation::Swiglu ? float(c.f("swiglu_limit")) : 0.0f;
  return launch_activation(a, c.stream);
}

std::string silu(const Call &c) { return cuda_message(run_activation(c, Activation::Silu)); }
std::string gelu(const Call &c) {
  return cuda_message(run_activation(c, c.s("approximate") == "tanh" ? Activation::GeluTanh : Activation::GeluErf));
}
std::string swiglu(const Call &c) { return cuda_message(run_activation(c, Activation::Swiglu)); }

RopeTensor rope_tensor(const mojo_tensor *in, const mojo_tensor *out, bool head_first) {
  RopeTensor t{};
  t.src = common::data_ptr(*in);
  t.dst = common::data_ptr(*out);
  t.rank = in->ndim;
  t.dim = in->shape[in->ndim - 1];
  t.rows = rows_of(in);
  const int head_axis = in->ndim == 3 ? (head_first ? 0 : 1) : (head_first ? 1 : 2);
  const int tok_axis = in->ndim == 3 ? (head_first ? 1 : 0) : (head_first ? 2 : 1);
  t.heads = in->shape[head_axis];
  t.tokens = in->shape[tok_axis];
  return t;
}

std::string apply_rope(const Call &c) {
  RopeArgs a{};
  const bool head_first = c.b("head_first");
  a.dtype = dt_of(c.input(0));
  a.table_dtype = dt_of(c.input(2));
  a.q = rope_tensor(c.input(0), c.output(0), head_first);
  a.k = rope_tensor(c.input(1), c.output(1), head_first);
  a.cos = c.ptr(c.input(2));
  a.sin = c.ptr(c.input(3));
  a.rope_dim = cols_of(c.input(2));
  a.table_batched = c.input(2)->ndim == 3;
  a.head_first = head_first;
  a.interleaved = c.b("interleaved");
  return cuda_message(launch_rope(a, c.stream));
}

cudaDataType_t cuda_type(const mojo_tensor *t) {
  switch (common::dtype_id(t->dtype)) {
    case MOJO_DT_BF16: return CUDA_R_16BF;
    case MOJO_DT_FP16: return CUDA_R_16F;
    default: return CUDA_R_32F;
  }
}

std::string prepare_linear(State &st, const mojo_op_sig &sig, void **impl) {
  const mojo_tensor *x = sig.inputs[0], *w = sig.inputs[1], *bias = sig.inputs[2];
  const mojo_attr *layout = find_attr(sig.attrs, sig.n_attrs, "weight_layout");
  const bool kn = layout && layout->s && std::string(layout->s) == "KN";
  const int64_t k = x->shape[x->ndim - 1], n = kn ? w->shape[1] : w->shape[0];
  LinearPlan *plan = nullptr;
  std::string e = LinearPlan::create(st.lt, cuda_type(x), k, n, kn, bias != nullptr, &plan);
  *impl = plan;
  return e;
}

void release_linear(void *impl) { delete static_cast<LinearPlan *>(impl); }

std::string linear(const Call &c) {
  const mojo_tensor *x = c.input(0);
  return static_cast<LinearPlan *>(c.impl)->run(c.ptr(x), c.ptr(c.input(1)), c.ptr(c.input(2)),
                                                c.mut_ptr(c.output(0)), rows_of(x), c.stream);
}

constexpr uint32_t kFloatMask = (1u << MOJO_DT_BF16) | (1u << MOJO_DT_FP16) | (1u << MOJO_DT_FP32);
constexpr uint32_t kGraphSafe = MOJO_KERNEL_GRAPH_SAFE;

struct Entry {
  mojo_kernel_decl decl;
  RunFn run;
  PrepareFn prepare = nullptr;
  ReleaseFn release = nullptr;
};

const Entry kTable[] = {
    {{"rms_norm", kFloatMask, kGraphSafe}, rms_norm},
    {{"layer_norm", kFloatMask, kGraphSafe}, layer_norm},
    {{"residual_add_rms_norm", kFloatMask, kGraphSafe}, residual_add_rms_norm},
    {{"residual_add_layer_norm", kFloatMask, kGraphSafe}, residual_add_layer_norm},
    {{"silu", kFloatMask, kGraphSafe}, silu},
    {{"gelu", kFloatMask, kGraphSafe}, gelu},
    {{"swiglu", kFloatMask, kGraphSafe}, swiglu},
    {{"apply_rope", kFloatMask, kGraphSafe}, apply_rope},
    {{"rms_norm_quant", kFloatMask, kGraphSafe}, rms_norm_quant},
    {{"layer_norm_quant", kFloatMask, kGraphSafe}, layer_norm_quant},
    {{"residual_add_rms_norm_quant", kFloatMask, kGraphSafe}, residual_add_rms_norm_quant},
    {{"residual_add_layer_norm_quant", kFloatMask, kGraphSafe}, residual_add_layer_norm_quant},
    {{"dynamic_quant", kFloatMask, kGraphSafe}, dynamic_quant},
    {{"linear", kFloatMask, kGraphSafe}, linear, prepare_linear, release_linear},
};
constexpr size_t kTableSize = sizeof kTable / sizeof kTable[0];

const std::vector<mojo_kernel_decl> &decls() {
  static const std::vector<mojo_kernel_decl> d = [] {
    std::vector<mojo_kernel_decl> v;
    for (const auto &e : kTable) v.push_back(e.decl);
    return v;
  }();
  return d;
}

const Entry *find_entry(const char *op) {
  for (const auto &e : kTable)
    if (std::strcmp(e.decl.op, op) == 0) return &e;
  return nullptr;
}

}  // namespace
}  // namespace mojo::cuda

struct mojo_kernel {
  const mojo::cuda::Entry *entry;
  const mojo_attr *attrs;
  size_t n_attrs;
  int device;
  void *impl;
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
  if (find_entry(sig->op) == nullptr) {
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
  if (const mojo_attr *qd = find_attr(sig->attrs, sig->n_attrs, "quant_dtype")) {
    const std::string q = qd->count && qd->s ? qd->s : "";
    if (q != "int8" && q != "fp8_e4m3fn") {
      common::set_verdict(v, false, MOJO_DECLINE_ATTR, "quant_dtype " + q + " (cuda quantizes to int8 or fp8_e4m3fn)");
      return nullptr;
    }
    const mojo_attr *sym = find_attr(sig->attrs, sig->n_attrs, "symmetric");
    if (sym && sym->count && !sym->i) {
      common::set_verdict(v, false, MOJO_DECLINE_ATTR, "symmetric = false is not defined by libmojo");
      return nullptr;
    }
    const mojo_tensor *x = sig->inputs[0];
    const int64_t row_bytes = x->shape[x->ndim - 1] * common::dtype_size(common::dtype_id(x->dtype));
    if (row_bytes % 16 != 0 || row_bytes / 16 > 8 * 1024) {
      common::set_verdict(v, false, MOJO_DECLINE_SHAPE,
                          "cuda quantizing kernels need rows of a multiple of 16 bytes, at most 128 KiB");
      return nullptr;
    }
  }
  common::set_verdict(v, true);
  return nullptr;
}

mojo_status *kernel_create(void *state, const mojo_op_sig *sig, mojo_kernel **kernel, size_t *ws) {
  const Entry *e = find_entry(sig->op);
  if (e == nullptr) return g_host.error(MOJO_STATUS_UNSUPPORTED, cat(sig->op, ": no cuda kernel"));
  void *impl = nullptr;
  if (e->prepare) {
    int current = -1;
    cudaGetDevice(&current);
    cudaSetDevice(sig->device.device_id);
    std::string err = e->prepare(*static_cast<State *>(state), *sig, &impl);
    if (current >= 0) cudaSetDevice(current);
    if (!err.empty()) {
      if (impl && e->release) e->release(impl);
      return backend_error(sig->op, err);
    }
  }
  mojo_kernel *k = new (std::nothrow) mojo_kernel{e, sig->attrs, sig->n_attrs, sig->device.device_id, impl};
  if (k == nullptr) {
    if (impl && e->release) e->release(impl);
    return g_host.error(MOJO_STATUS_OUT_OF_MEMORY, cat(sig->op, ": out of host memory"));
  }
  *kernel = k;
  *ws = 0;
  return nullptr;
}

mojo_status *kernel_run(const mojo_kernel *k, const mojo_run_args *args) {
  int current = -1;
  cudaGetDevice(&current);
  if (current != k->device) {
    if (cudaError_t e = cudaSetDevice(k->device); e != cudaSuccess) return backend_error(k->entry->decl.op, cuda_message(e));
  }
  Call c{k->impl, args->inputs, args->outputs, k->attrs, k->n_attrs, static_cast<cudaStream_t>(args->stream)};
  std::string err = k->entry->run(c);
  if (current >= 0 && current != k->device) cudaSetDevice(current);
  return err.empty() ? nullptr : backend_error(k->entry->decl.op, err);
}

void kernel_destroy(mojo_kernel *k) {
  if (k && k->impl && k->entry->release) k->entry->release(k->impl);
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
    return a;
  }();
  return &api;
}
