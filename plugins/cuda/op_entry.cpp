#include "op_entry.h"

namespace mojo::cuda {

using common::find_attr;

double Call::f(const char *name) const {
  auto a = find_attr(attrs, n_attrs, name);
  return a && a->count ? a->f : 0.0;
}
int64_t Call::i(const char *name) const {
  auto a = find_attr(attrs, n_attrs, name);
  return a && a->count ? a->i : 0;
}
bool Call::b(const char *name) const { return i(name) != 0; }
std::string Call::s(const char *name) const {
  auto a = find_attr(attrs, n_attrs, name);
  return a && a->count && a->s ? a->s : "";
}

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

cudaDataType_t cuda_type(const mojo_tensor *t) {
  switch (common::dtype_id(t->dtype)) {
    case MOJO_DT_BF16: return CUDA_R_16BF;
    case MOJO_DT_FP16: return CUDA_R_16F;
    default: return CUDA_R_32F;
  }
}

int64_t cols_of(const mojo_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }
int64_t rows_of(const mojo_tensor *t) { return cols_of(t) ? common::numel(*t) / cols_of(t) : 0; }

const mojo_attr *sig_attr(const mojo_op_sig &sig, const char *name) { return find_attr(sig.attrs, sig.n_attrs, name); }

std::string sig_attr_string(const mojo_op_sig &sig, const char *name) {
  const mojo_attr *a = sig_attr(sig, name);
  return a && a->count && a->s ? a->s : "";
}

}  // namespace mojo::cuda
