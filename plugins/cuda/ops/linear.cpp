// GEMM family: linear through a cuBLASLt LinearPlan made at create.
#include "gemm/linear.h"
#include "op_entry.h"

namespace mojo::cuda {
namespace {

std::string prepare_linear(State &st, const mojo_op_sig &sig, void **impl, size_t *) {
  const mojo_tensor *x = sig.inputs[0], *w = sig.inputs[1], *bias = sig.inputs[2];
  const bool kn = sig_attr_string(sig, "weight_layout") == "KN";
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

}  // namespace

std::vector<Entry> linear_entries() {
  return {
      {{"linear", kFloatMask, kGraphSafe}, linear, nullptr, prepare_linear, release_linear},
  };
}

}  // namespace mojo::cuda
