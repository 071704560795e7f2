// MoE routing family: moe_dispatch, moe_dispatch_quant and moe_combine through kernels/moe_route.cu. Expert
// and token ids live on the device, so they are checked there (deferred INVALID_ARGUMENT, the error word).
// The workspace is sized at create for the signature's N and M; a later run with more routes or tokens
// fails with a message instead of overrunning it.
#include "kernels/moe_route.h"
#include "op_entry.h"

namespace mojo::cuda {
namespace {

constexpr int64_t kMaxExperts = 12288;  // one warp's expert counters fit in 48 KiB of shared memory

std::string describe_route_error(int32_t code) {
  if (code == kMoeBadExpert) return "input 'top_k_indices' holds an expert id outside [0, num_experts)";
  if (code == kMoeBadToken) return "input 'token_indices' holds a token outside [0, N) (N = rows of 'combined')";
  return "routing error code " + std::to_string(code);
}

bool is_int64(const mojo_tensor *t) { return common::dtype_id(t->dtype) == MOJO_DT_INT64; }

std::string workspace_message(int64_t routes) {
  return "the workspace was sized at create for fewer routes than this call's " + std::to_string(routes) +
         "; create the op with the largest shapes it will run";
}

std::string accept_routes(const mojo_op_sig &sig, int *code) {
  *code = MOJO_DECLINE_SHAPE;
  const mojo_attr *e = sig_attr(sig, "num_experts");
  if (e && e->i > kMaxExperts) return "cuda moe dispatch handles at most 12288 experts";
  const mojo_tensor *ids = sig.inputs[2];
  if (ids->shape[0] * ids->shape[1] >= (int64_t(1) << 31)) return "cuda moe dispatch needs N*K < 2^31 routes";
  return "";
}

std::string prepare_dispatch(State &, const mojo_op_sig &sig, void **, size_t *workspace_bytes) {
  const mojo_tensor *ids = sig.inputs[2];
  *workspace_bytes = dispatch_workspace_bytes(sig_attr(sig, "num_experts")->i, ids->shape[0] * ids->shape[1]);
  return "";
}

DispatchArgs dispatch_args(const Call &c) {
  DispatchArgs a{};
  const mojo_tensor *x = c.input(0), *ids = c.input(2);
  a.dtype = dt_of(x);
  a.tokens = x->shape[0];
  a.hidden = x->shape[1];
  a.top_k = ids->shape[1];
  a.experts = c.i("num_experts");
  a.x = c.ptr(x);
  a.gates = static_cast<const float *>(c.ptr(c.input(1)));
  a.ids = c.ptr(ids);
  a.ids_int64 = is_int64(ids);
  a.error_word = c.error_word;
  return a;
}

std::string finish(cudaError_t e, int64_t routes) {
  if (e == cudaErrorInvalidValue) return workspace_message(routes);
  return cuda_message(e);
}

std::string moe_dispatch(const Call &c) {
  DispatchArgs a = dispatch_args(c);
  a.out = c.mut_ptr(c.output(0));
  a.counts = static_cast<int32_t *>(c.mut_ptr(c.output(1)));
  a.sorted_gates = static_cast<float *>(c.mut_ptr(c.output(2)));
  a.token_indices = static_cast<int32_t *>(c.mut_ptr(c.output(3)));
  return finish(launch_moe_dispatch(a, c.workspace, c.workspace_bytes, c.stream), a.tokens * a.top_k);
}

std::string moe_dispatch_quant(const Call &c) {
  DispatchArgs a = dispatch_args(c);
  const mojo_tensor *smooth = c.input(3);
  a.smooth = c.ptr(smooth);
  a.smooth_dtype = smooth ? dt_of(smooth) : Dt::F32;
  a.quant_block = c.i("quant_block_size");
  a.out = c.mut_ptr(c.output(0));
  a.sorted_gates = static_cast<float *>(c.mut_ptr(c.output(1)));
  a.token_indices = static_cast<int32_t *>(c.mut_ptr(c.output(2)));
  a.counts = static_cast<int32_t *>(c.mut_ptr(c.output(3)));
  a.scale = static_cast<float *>(c.mut_ptr(c.output(4)));
  cudaError_t e = launch_moe_dispatch(a, c.workspace, c.workspace_bytes, c.stream);
  if (e == cudaErrorMisalignedAddress) return "hidden_states, smooth_scale and quantized must be 16-byte aligned";
  return finish(e, a.tokens * a.top_k);
}

// int8 block quantization with the default (reserved) expert range and quant_mode; block sizes the
// lane-group kernel covers; smooth_scale fp32 or the input dtype.
std::string accept_dispatch_quant(const mojo_op_sig &sig, int *code) {
  *code = MOJO_DECLINE_ATTR;
  if (sig_attr_string(sig, "quant_dtype") != "int8") return "quant_dtype other than int8 is unsupported";
  const int64_t experts = sig_attr(sig, "num_experts")->i;
  const mojo_attr *start = sig_attr(sig, "start_expert_id"), *end = sig_attr(sig, "end_expert_id");
  const mojo_attr *mode = sig_attr(sig, "quant_mode");
  if ((start && start->count && start->i != 0) || (end && end->count && end->i != experts))
    return "expert-range filtering (start_expert_id != 0 or end_expert_id != num_experts) is reserved";
  if (mode && mode->count && mode->i != 0) return "quant_mode = 1 is reserved";
  const mojo_tensor *x = sig.inputs[0], *smooth = sig.inputs[3];
  if (smooth && dt_of(smooth) != Dt::F32 && dt_of(smooth) != dt_of(x))
    return "cuda moe_dispatch_quant takes smooth_scale in fp32 or the dtype of hidden_states";
  const mojo_attr *qb = sig_attr(sig, "quant_block_size");
  *code = MOJO_DECLINE_SHAPE;
  if (std::string why = dispatch_quant_unsupported(dt_of(x), x->shape[1], qb ? qb->i : 8); !why.empty()) return why;
  return accept_routes(sig, code);
}

std::string prepare_combine(State &, const mojo_op_sig &sig, void **, size_t *workspace_bytes) {
  *workspace_bytes = combine_workspace_bytes(sig.outputs[0]->shape[0], sig.inputs[0]->shape[0]);
  return "";
}

std::string accept_combine(const mojo_op_sig &sig, int *code) {
  *code = MOJO_DECLINE_SHAPE;
  if (sig.inputs[0]->shape[0] >= (int64_t(1) << 31)) return "cuda moe_combine needs M < 2^31 rows";
  return "";
}

std::string moe_combine(const Call &c) {
  CombineArgs a{};
  const mojo_tensor *y = c.input(0), *tok = c.input(2), *out = c.output(0);
  a.dtype = dt_of(y);
  a.rows = y->shape[0];
  a.hidden = y->shape[1];
  a.tokens = out->shape[0];
  a.y = c.ptr(y);
  a.gates = c.b("multiply_by_gates") ? static_cast<const float *>(c.ptr(c.input(1))) : nullptr;
  a.token_indices = c.ptr(tok);
  a.indices_int64 = is_int64(tok);
  a.out = c.mut_ptr(out);
  a.error_word = c.error_word;
  cudaError_t e = launch_moe_combine(a, c.workspace, c.workspace_bytes, c.stream);
  if (e == cudaErrorInvalidValue)
    return "the workspace was sized at create for fewer tokens or rows than this call's N=" +
           std::to_string(a.tokens) + ", M=" + std::to_string(a.rows) + "; create the op with the largest shapes";
  return cuda_message(e);
}

}  // namespace

std::vector<Entry> moe_route_entries() {
  return {
      {{"moe_dispatch", kFloatMask, kGraphSafe}, moe_dispatch, accept_routes, prepare_dispatch, nullptr, nullptr,
       describe_route_error},
      {{"moe_dispatch_quant", kFloatMask, kGraphSafe}, moe_dispatch_quant, accept_dispatch_quant, prepare_dispatch,
       nullptr, nullptr, describe_route_error},
      {{"moe_combine", kFloatMask, kGraphSafe}, moe_combine, accept_combine, prepare_combine, nullptr, nullptr,
       describe_route_error},
  };
}

}  // namespace mojo::cuda
