// The cpu reference's internal kernel interface: every op is one function over a KernelCall, registered by
// its category file (ops/<category>.cpp) in a table the plugin turns into the ABI's static kernel list.
#pragma once

#include <string>
#include <vector>

#include "mojo/mojo_plugin.h"
#include "mojo_common/plugin_support.h"

namespace mojo::cpu {

// One validated run: tensors in schema order (nullptr = absent optional), attributes complete.
struct KernelCall {
  const char *op = "";
  const mojo_tensor *const *inputs = nullptr;
  size_t n_inputs = 0;
  const mojo_tensor *const *outputs = nullptr;
  size_t n_outputs = 0;
  const mojo_attr *attrs = nullptr;
  size_t n_attrs = 0;
  const common::PluginHost *host = nullptr;

  const mojo_tensor *in(size_t i) const { return i < n_inputs ? inputs[i] : nullptr; }
  const mojo_tensor *out(size_t i) const { return i < n_outputs ? outputs[i] : nullptr; }
  const mojo_attr *attr(const char *name) const { return common::find_attr(attrs, n_attrs, name); }
  bool attr_is_null(const char *name) const { auto a = attr(name); return a == nullptr || a->count == 0; }
  double attr_float(const char *name) const { auto a = attr(name); return a && a->count ? a->f : 0.0; }
  int64_t attr_int(const char *name) const { auto a = attr(name); return a && a->count ? a->i : 0; }
  bool attr_bool(const char *name) const { return attr_int(name) != 0; }
  std::string attr_string(const char *name) const { auto a = attr(name); return a && a->count && a->s ? a->s : ""; }

  // A status naming this op; for data-dependent contract violations (ids out of range, bad block ids).
  mojo_status *error(mojo_code code, const std::string &message) const {
    return host->error(code, std::string(op) + ": " + message);
  }
};

using KernelFn = mojo_status *(*)(const KernelCall &call);

struct KernelEntry {
  const char *op;
  uint32_t dtype_mask;  // dtypes of the first input the kernel takes (1 << MOJO_DT_*)
  KernelFn run;
};

constexpr uint32_t dt_bit(int id) { return 1u << id; }
constexpr uint32_t kFloatMask = dt_bit(MOJO_DT_BF16) | dt_bit(MOJO_DT_FP16) | dt_bit(MOJO_DT_FP32);
constexpr uint32_t kIndexMask = dt_bit(MOJO_DT_INT32) | dt_bit(MOJO_DT_INT64);

// Category tables (one per ops/<category>.cpp).
void add_norm_kernels(std::vector<KernelEntry> &table);
void add_activation_kernels(std::vector<KernelEntry> &table);
void add_position_kernels(std::vector<KernelEntry> &table);
void add_linear_kernels(std::vector<KernelEntry> &table);
void add_embedding_kernels(std::vector<KernelEntry> &table);
void add_attention_kernels(std::vector<KernelEntry> &table);
void add_attention_mla_kernels(std::vector<KernelEntry> &table);
void add_kv_cache_kernels(std::vector<KernelEntry> &table);
void add_moe_kernels(std::vector<KernelEntry> &table);
void add_sampling_kernels(std::vector<KernelEntry> &table);
void add_quant_kernels(std::vector<KernelEntry> &table);
void add_training_kernels(std::vector<KernelEntry> &table);

}  // namespace mojo::cpu
