// How an op plugs into the ttx plugin: an OpDef row names the Triton kernel, the specialisation keys a
// kernel object loads at create (for the signature's dtype, in the order its run function indexes them)
// and the run function that picks one and packs the arguments. plugin.cpp owns the ABI glue.
#pragma once

#include <string>
#include <vector>

#include "launch.h"
#include "mojo/mojo_plugin.h"
#include "mojo_common/plugin_support.h"

namespace mojo::ttx {

// One concrete run: tensors in schema order (NULL = absent), the op's attributes, the caller's stream and
// the specialisations loaded at create.
struct Call {
  const mojo_tensor *const *in;
  size_t n_in;
  const mojo_tensor *const *out;
  size_t n_out;
  const mojo_attr *attrs;
  size_t n_attrs;
  CUstream stream;
  const Driver *driver;
  const Variant *variants;
  CUdeviceptr error_word;  // the op's deferred-error word (OpDef::describe_error set), else 0
  void *workspace;         // the caller's workspace of OpDef::workspace bytes, else nullptr
  size_t workspace_bytes;

  const mojo_tensor *input(size_t i) const { return i < n_in ? in[i] : nullptr; }
  const mojo_tensor *output(size_t i) const { return i < n_out ? out[i] : nullptr; }
  int64_t i(const char *name) const;
  double f(const char *name) const;
  std::string s(const char *name) const;
};

using RunFn = std::string (*)(const Call &);
// "" accepts, otherwise the decline message; *code is a MOJO_DECLINE_* value.
using AcceptFn = std::string (*)(const mojo_op_sig &, int *code);
// One specialisation an op loads at create: the Triton function and its key in the manifest.
struct VariantRef {
  std::string kernel;
  std::string key;
};
using VariantsFn = std::vector<VariantRef> (*)(const char *dtype);
// Every variant of `kernel` among `keys`, in order.
std::vector<VariantRef> of_kernel(const char *kernel, const std::vector<std::string> &keys);
// Text for a non-zero code a kernel raised into Call::error_word; reported as INVALID_ARGUMENT by
// mojo_op_check.
using DescribeErrorFn = std::string (*)(int32_t code);
// Device workspace bytes an op needs for a signature (sized at create; the caller passes it to every run).
using WorkspaceFn = size_t (*)(const mojo_op_sig &);

struct OpDef {
  mojo_kernel_decl decl;
  VariantsFn variants;  // what create loads for the signature's dtype, in the order run indexes them
  RunFn run;
  AcceptFn accept = nullptr;
  DescribeErrorFn describe_error = nullptr;  // set: the op gets a device error word (checks metadata on device)
  WorkspaceFn workspace = nullptr;           // set: the op asks the caller for a device workspace
};

constexpr uint32_t kFloatMask = (1u << MOJO_DT_BF16) | (1u << MOJO_DT_FP16) | (1u << MOJO_DT_FP32);

// "bf16" / "fp16" / "fp32" for a float tensor, nullptr otherwise.
const char *dtype_name(const mojo_tensor *t);
int64_t last_dim(const mojo_tensor *t);
const void *data_of(const mojo_tensor *t);  // nullptr for an absent tensor
// A per-channel parameter (weight, bias, smooth scale, rope table) goes to the kernels in two pointer slots,
// one per storage (kernels/norm.py _load_param): kind 0 absent, 1 x's dtype, 2 fp32. push_param puts `p` in
// the slot of `kind` and x in the other (never read: the kernel masks it off).
int32_t param_kind(const mojo_tensor *p, const mojo_tensor *x);
void push_param(ArgPack &a, int32_t kind, const mojo_tensor *p, const mojo_tensor *x);
// Row kernels index a row with a 32-bit length and launch one program per row: "" when x fits, else why.
std::string row_kernel_limits(const mojo_tensor *x);

// The families (ops/<family>.cpp) and the whole table (ops/all.cpp).
std::vector<OpDef> norm_ops();
std::vector<OpDef> activation_ops();
std::vector<OpDef> quant_ops();
std::vector<OpDef> rope_ops();
std::vector<OpDef> kv_cache_ops();
std::vector<OpDef> attention_ops();
std::vector<OpDef> attention_prefill_ops();
std::vector<OpDef> sampling_ops();
const std::vector<OpDef> &all_ops();

}  // namespace mojo::ttx
