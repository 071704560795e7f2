// How an op family plugs into the cuda plugin: each file under ops/ returns its Entry rows (the op's kernel
// declaration plus host functions that map a validated call onto the launchers in kernels/ and gemm/).
// plugin.cpp owns the ABI glue and knows no op; ops/families.cpp lists the families.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <vector>

#include "kernels/launch.h"
#include "mojo/mojo_plugin.h"
#include "mojo_common/plugin_support.h"

namespace mojo::cuda {

struct State {
  int device_count = 0;
  cublasLtHandle_t lt = nullptr;
};

// One concrete call: the run's tensors (schema order, NULL = absent), the op's attrs and the caller's stream.
struct Call {
  void *impl;  // per-kernel object made by Entry::prepare (nullptr for stateless kernels)
  const mojo_tensor *const *in;
  size_t n_in;
  const mojo_tensor *const *out;  // empty for plan
  size_t n_out;
  const mojo_attr *attrs;
  size_t n_attrs;
  void *workspace;        // caller's workspace (nullptr when the kernel asked for none)
  size_t workspace_bytes;
  cudaStream_t stream;
  int32_t *error_word;    // device word for deferred metadata errors (Entry::describe_error set), else nullptr

  const mojo_tensor *input(size_t i) const { return i < n_in ? in[i] : nullptr; }
  const mojo_tensor *output(size_t i) const { return i < n_out ? out[i] : nullptr; }
  const void *ptr(const mojo_tensor *t) const { return t ? common::data_ptr(*t) : nullptr; }
  void *mut_ptr(const mojo_tensor *t) const { return t ? common::data_ptr(*t) : nullptr; }
  double f(const char *name) const;
  int64_t i(const char *name) const;
  bool b(const char *name) const;
  std::string s(const char *name) const;
};

// A kernel returns "" or an error message (a BACKEND_ERROR status naming the op).
using RunFn = std::string (*)(const Call &);
// Optional acceptance test beyond the dtype mask: "" accepts, otherwise the decline message; *code is a
// MOJO_DECLINE_* value.
using AcceptFn = std::string (*)(const mojo_op_sig &, int *code);
// Optional per-signature preparation at create (descriptors, workspace size); returns "" or an error.
// *workspace_bytes starts at 0; a kernel that sets it receives a caller workspace of that size in run/plan.
using PrepareFn = std::string (*)(State &, const mojo_op_sig &, void **impl, size_t *workspace_bytes);
using ReleaseFn = void (*)(void *impl);
// Text for a non-zero code a kernel raised into Call::error_word (kernels/device_error.cuh); the plugin
// reports it as INVALID_ARGUMENT "<op>: <text>" from mojo_op_check.
using DescribeErrorFn = std::string (*)(int32_t code);

struct Entry {
  mojo_kernel_decl decl;
  RunFn run;
  AcceptFn accept = nullptr;
  PrepareFn prepare = nullptr;
  ReleaseFn release = nullptr;
  RunFn plan = nullptr;  // mojo_op_plan; Call::out is empty
  DescribeErrorFn describe_error = nullptr;  // set: the kernel gets a device error word (checks metadata on device)
};

constexpr uint32_t kFloatMask = (1u << MOJO_DT_BF16) | (1u << MOJO_DT_FP16) | (1u << MOJO_DT_FP32);
constexpr uint32_t kHalfMask = (1u << MOJO_DT_BF16) | (1u << MOJO_DT_FP16);
constexpr uint32_t kGraphSafe = MOJO_KERNEL_GRAPH_SAFE;

// Helpers shared by the families (op_entry.cpp).
std::string cuda_message(cudaError_t e);
// Through the host's logger (MOJO_LOG_LEVEL); level is a MOJO_LOG_* value (plugin.cpp).
void log_message(int32_t level, const std::string &message);
Dt dt_of(const mojo_tensor *t);            // fp16 / bf16 / fp32 (anything else reads as fp32)
cudaDataType_t cuda_type(const mojo_tensor *t);
int64_t cols_of(const mojo_tensor *t);     // last dimension
int64_t rows_of(const mojo_tensor *t);     // product of the leading dimensions
const mojo_attr *sig_attr(const mojo_op_sig &sig, const char *name);
std::string sig_attr_string(const mojo_op_sig &sig, const char *name);  // "" when absent or null

// The families (ops/<family>.cpp). Add a line here and in ops/families.cpp for a new one.
std::vector<Entry> norm_entries();
std::vector<Entry> activation_entries();
std::vector<Entry> rope_entries();
std::vector<Entry> linear_entries();
std::vector<Entry> attention_prefill_entries();
std::vector<Entry> attention_decode_entries();
std::vector<Entry> moe_route_entries();
std::vector<Entry> group_linear_entries();
std::vector<Entry> sampling_entries();
std::vector<Entry> moe_gating_entries();
std::vector<Entry> kv_cache_entries();
std::vector<Entry> embedding_entries();
std::vector<Entry> position_fused_entries();
std::vector<Entry> quant_entries();

const std::vector<Entry> &all_entries();

}  // namespace mojo::cuda
