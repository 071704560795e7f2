// group_linear through kernels/group_gemm.cu: the row counts stay on the device (checked there, deferred
// INVALID_ARGUMENT through the error word); the workspace holds each group's first row and first tile.
#include "kernels/group_gemm.h"
#include "op_entry.h"

namespace mojo::cuda {
namespace {

std::string describe_group_error(int32_t code) {
  if (code == kGroupBadCounts)
    return "input 'group_list' holds a negative row count or its counts do not sum to Mtot (rows of 'x')";
  return "group_linear error code " + std::to_string(code);
}

std::string prepare_group_linear(State &, const mojo_op_sig &sig, void **, size_t *workspace_bytes) {
  *workspace_bytes = group_gemm_workspace_bytes(sig.inputs[1]->shape[0]);
  return "";
}

std::string group_linear(const Call &c) {
  GroupGemmArgs a{};
  const mojo_tensor *x = c.input(0), *counts = c.input(1), *out = c.output(0);
  a.dtype = dt_of(x);
  a.rows = x->shape[0];
  a.k = x->shape[1];
  a.n = out->shape[1];
  a.groups = counts->shape[0];
  a.x = c.ptr(x);
  a.counts = c.ptr(counts);
  a.counts_int64 = common::dtype_id(counts->dtype) == MOJO_DT_INT64;
  a.weight = c.ptr(c.input(2));
  a.weight_kn = c.s("weight_layout") != "NK";
  a.bias = c.ptr(c.input(3));
  a.out = c.mut_ptr(out);
  a.error_word = c.error_word;
  cudaError_t e = launch_group_gemm(a, c.workspace, c.workspace_bytes, c.stream);
  if (e == cudaErrorInvalidValue)
    return "the workspace was sized at create for fewer groups than this call's G=" + std::to_string(a.groups);
  if (e == cudaErrorInvalidConfiguration) return "too many output tiles for one grid (Mtot and N too large)";
  return cuda_message(e);
}

}  // namespace

std::vector<Entry> group_linear_entries() {
  return {
      {{"group_linear", kFloatMask, kGraphSafe}, group_linear, nullptr, prepare_group_linear, nullptr, nullptr,
       describe_group_error},
  };
}

}  // namespace mojo::cuda
