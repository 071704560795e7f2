#include "ops.h"

#include <climits>

namespace mojo::ttx {

int64_t Call::i(const char *name) const {
  const mojo_attr *a = common::find_attr(attrs, n_attrs, name);
  return a && a->count ? a->i : 0;
}

double Call::f(const char *name) const {
  const mojo_attr *a = common::find_attr(attrs, n_attrs, name);
  return a && a->count ? a->f : 0.0;
}

std::string Call::s(const char *name) const {
  const mojo_attr *a = common::find_attr(attrs, n_attrs, name);
  return a && a->count && a->s ? a->s : "";
}

const char *dtype_name(const mojo_tensor *t) {
  switch (common::dtype_id(t->dtype)) {
    case MOJO_DT_BF16: return "bf16";
    case MOJO_DT_FP16: return "fp16";
    case MOJO_DT_FP32: return "fp32";
    default: return nullptr;
  }
}

int64_t last_dim(const mojo_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }

const void *data_of(const mojo_tensor *t) { return t ? common::data_ptr(*t) : nullptr; }

int32_t param_kind(const mojo_tensor *p, const mojo_tensor *x) {
  if (p == nullptr) return 0;
  return common::dtype_id(p->dtype) == common::dtype_id(x->dtype) ? 1 : 2;
}

void push_param(ArgPack &a, int32_t kind, const mojo_tensor *p, const mojo_tensor *x) {
  a.ptr(kind == 1 ? data_of(p) : data_of(x));
  a.ptr(kind == 2 ? data_of(p) : data_of(x));
}

std::vector<VariantRef> of_kernel(const char *kernel, const std::vector<std::string> &keys) {
  std::vector<VariantRef> out;
  for (const std::string &k : keys) out.push_back({kernel, k});
  return out;
}

std::string row_kernel_limits(const mojo_tensor *x) {
  const int64_t cols = last_dim(x);
  if (cols > INT32_MAX) return "ttx row kernels take rows of at most 2^31-1 elements";
  if (cols && common::numel(*x) / cols > INT32_MAX) return "ttx row kernels take at most 2^31-1 rows";
  return "";
}

const std::vector<OpDef> &all_ops() {
  static const std::vector<OpDef> ops = [] {
    std::vector<OpDef> v;
    for (auto family :
         {norm_ops, activation_ops, quant_ops, rope_ops, kv_cache_ops, attention_ops, attention_prefill_ops,
          sampling_ops})
      for (auto &op : family()) v.push_back(op);
    return v;
  }();
  return ops;
}

}  // namespace mojo::ttx
