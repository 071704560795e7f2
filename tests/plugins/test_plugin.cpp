// One source, several deliberately broken or minimal plugins (selected by TEST_PLUGIN_KIND at compile time),
// used by the loader and selection tests. None of them is a real backend: "toy" serves the CPU device so the
// tests can watch ordering, declines and fallback, and computes silu correctly so results can be checked.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "mojo/mojo_plugin.h"
#include "mojo_common/dtype.h"
#include "mojo_common/plugin_support.h"

#define KIND_TOY 1          /* working: silu (fp32 only, declines odd last dims), rms_norm in table but declines */
#define KIND_BAD_ABI 2      /* abi_major = 2 */
#define KIND_TINY 3         /* struct_size = 4 */
#define KIND_FAIL_INIT 4    /* init returns an error status */
#define KIND_THROW_INIT 5   /* init throws */
#define KIND_NULL_FN 6      /* kernel_run is NULL */
#define KIND_PROBE_ZERO 7   /* probe says "no device" */
#define KIND_MISNAMED 8     /* file libmojo-misnamed.so, calls itself "other" */
#define KIND_NO_SYMBOL 9    /* exports the entry under an older ABI name only */
#define KIND_SHY 10         /* toy at priority 5, but silu at -1 (ABI minor 2 per-op priority: below cpu); also
                               a priority for an op the schema lacks (dropped with a warning) */
#define KIND_BAD_PRIORITY 11 /* n_op_priorities = 1 with a NULL table */

#ifndef TEST_PLUGIN_NAME
#error TEST_PLUGIN_NAME must be defined
#endif

namespace {

mojo::common::PluginHost g_host;

struct ToyKernel {
  int unused;
};

mojo_status *probe(mojo_probe_result *out) {
#if TEST_PLUGIN_KIND == KIND_PROBE_ZERO
  out->score = 0;
  std::snprintf(out->reason, sizeof out->reason, "no test device present");
#else
  out->score = 5;
  std::snprintf(out->reason, sizeof out->reason, "test plugin");
#endif
  return nullptr;
}

mojo_status *init(void **state) {
  *state = nullptr;
#if TEST_PLUGIN_KIND == KIND_FAIL_INIT
  return g_host.error(MOJO_STATUS_BACKEND_ERROR, "driver refused to start (test)");
#elif TEST_PLUGIN_KIND == KIND_THROW_INIT
  throw std::runtime_error("init throws (test)");
#else
  return nullptr;
#endif
}

mojo_status *devices(void *, mojo_device_desc *out, size_t capacity, size_t *count) {
  *count = 1;
  if (capacity > 0) {
    out[0].device = {MOJO_DEVICE_CPU, 0};
    std::snprintf(out[0].name, sizeof out[0].name, "toy cpu");
    std::snprintf(out[0].arch, sizeof out[0].arch, "toy");
  }
  return nullptr;
}

const mojo_kernel_decl kKernels[] = {
    {"silu", 1u << MOJO_DT_FP32, 0},
    {"rms_norm", (1u << MOJO_DT_FP32) | (1u << MOJO_DT_BF16), 0},
};

mojo_status *query(void *, const mojo_op_sig *sig, mojo_verdict *out) {
  if (std::strcmp(sig->op, "rms_norm") == 0) {
    mojo::common::set_verdict(out, false, MOJO_DECLINE_SHAPE, "toy declines every rms_norm");
    return nullptr;
  }
  const mojo_tensor *x = sig->inputs[0];
  if (x->ndim > 0 && x->shape[x->ndim - 1] % 2 != 0) {
    mojo::common::set_verdict(out, false, MOJO_DECLINE_SHAPE, "toy needs an even last dim");
    return nullptr;
  }
  mojo::common::set_verdict(out, true);
  return nullptr;
}

mojo_status *kernel_create(void *, const mojo_op_sig *, mojo_kernel **kernel, size_t *ws) {
  *kernel = reinterpret_cast<mojo_kernel *>(new ToyKernel{0});
  *ws = 0;
  return nullptr;
}

mojo_status *kernel_run(const mojo_kernel *, const mojo_run_args *args) {
  const mojo_tensor *x = args->inputs[0], *y = args->outputs[0];
  const float *in = static_cast<const float *>(mojo::common::data_ptr(*x));
  float *out = static_cast<float *>(mojo::common::data_ptr(*y));
  for (int64_t i = 0; i < mojo::common::numel(*x); ++i) out[i] = in[i] / (1.0f + std::exp(-in[i]));
  return nullptr;
}

void kernel_destroy(mojo_kernel *k) { delete reinterpret_cast<ToyKernel *>(k); }

}  // namespace

#if TEST_PLUGIN_KIND == KIND_NO_SYMBOL
#define ENTRY_SYMBOL mojo_plugin_entry_v0
#else
#define ENTRY_SYMBOL mojo_plugin_entry_v1
#endif
extern "C" __attribute__((visibility("default"))) const mojo_plugin_api *ENTRY_SYMBOL(
    const mojo_host_api *host) {
  g_host.api = host;
  g_host.backend = TEST_PLUGIN_NAME;
#if TEST_PLUGIN_KIND == KIND_SHY
  static const mojo_op_priority op_priorities[] = {{"silu", -1}, {"no_such_op", 7}};  // the second is dropped
  const int32_t priority = 5;
#else
  const int32_t priority = 10;
#endif
  static mojo_plugin_api api = [priority] {
    mojo_plugin_api a = mojo::common::plugin_api_v1(TEST_PLUGIN_NAME, "0.0.1-test", priority);
    a.probe = probe;
    a.init = init;
    a.devices = devices;
    a.kernels = kKernels;
    a.n_kernels = sizeof kKernels / sizeof kKernels[0];
    a.query = query;
    a.kernel_create = kernel_create;
    a.kernel_run = kernel_run;
    a.kernel_destroy = kernel_destroy;
#if TEST_PLUGIN_KIND == KIND_BAD_ABI
    a.abi_major = 2;
#elif TEST_PLUGIN_KIND == KIND_TINY
    a.struct_size = 4;
#elif TEST_PLUGIN_KIND == KIND_NULL_FN
    a.kernel_run = nullptr;
#elif TEST_PLUGIN_KIND == KIND_SHY
    a.op_priorities = op_priorities;
    a.n_op_priorities = 2;
#elif TEST_PLUGIN_KIND == KIND_BAD_PRIORITY
    a.n_op_priorities = 1;
#endif
    return a;
  }();
  return &api;
}
