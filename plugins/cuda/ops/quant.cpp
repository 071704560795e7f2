// Quant family: static_quant, dequant and the activation + dynamic quant fusions (silu_quant, gelu_quant,
// swiglu_quant) through kernels/quant_ops.h. dynamic_quant and the norm-quant ops live in ops/norm.cpp.
#include "kernels/quant_ops.h"
#include "op_entry.h"

namespace mojo::cuda {
namespace {

Quant quant_of(const Call &c) { return c.s("quant_dtype") == "fp8_e4m3fn" ? Quant::Fp8E4M3 : Quant::Int8; }

int64_t elem_size(const mojo_tensor *t) { return common::dtype_size(common::dtype_id(t->dtype)); }

// Inputs: x, scale; output: q.
std::string static_quant(const Call &c) {
  const mojo_tensor *x = c.input(0), *s = c.input(1);
  StaticQuantArgs a{};
  a.dtype = dt_of(x);
  a.scale_dtype = dt_of(s);
  a.quant = quant_of(c);
  a.n = common::numel(*x);
  a.scale_n = common::numel(*s);
  a.x = c.ptr(x);
  a.scale = c.ptr(s);
  a.q = c.mut_ptr(c.output(0));
  return cuda_message(launch_static_quant(a, c.stream));
}

// Inputs: q, scale; output: out (output_dtype).
std::string dequant(const Call &c) {
  const mojo_tensor *q = c.input(0), *s = c.input(1), *out = c.output(0);
  DequantArgs a{};
  const int qid = common::dtype_id(q->dtype);
  a.code = qid == MOJO_DT_INT8 ? Code::Int8 : qid == MOJO_DT_INT32 ? Code::Int32 : Code::Fp8;
  a.out_dtype = dt_of(out);
  a.scale_dtype = dt_of(s);
  a.rank = q->ndim;
  a.n = common::numel(*q);
  // numpy broadcasting: scale's dims align with q's trailing dims; size-1 and missing dims get stride 0.
  int64_t stride = 1;
  for (int d = q->ndim - 1; d >= 0; --d) {
    a.shape[d] = q->shape[d];
    const int sd = d - (q->ndim - s->ndim);
    a.scale_stride[d] = sd >= 0 && s->shape[sd] != 1 ? stride : 0;
    if (sd >= 0) stride *= s->shape[sd];
  }
  a.q = c.ptr(q);
  a.scale = c.ptr(s);
  a.out = c.mut_ptr(out);
  return cuda_message(launch_dequant(a, c.stream));
}

std::string act_quant_result(cudaError_t e) {
  return e == cudaErrorNotSupported ? "rows longer than the cuda register path (8192 elements unaligned, 8192 packets)"
                                    : cuda_message(e);
}

// Common part: q/scale outputs, smoothing and grouping (inputs smooth_at, smooth_at + 1).
ActQuantArgs act_quant_args(const Call &c, Activation kind, size_t smooth_at) {
  ActQuantArgs a{};
  const mojo_tensor *x = c.input(0), *q = c.output(0), *smooth = c.input(smooth_at), *group = c.input(smooth_at + 1);
  a.dtype = dt_of(x);
  a.kind = kind;
  a.quant = quant_of(c);
  a.n = cols_of(q);
  a.rows = rows_of(q);
  a.gate = c.ptr(x);
  a.gate_stride = cols_of(x);
  a.smooth = c.ptr(smooth);
  a.smooth_dtype = smooth ? dt_of(smooth) : Dt::F32;
  a.experts = smooth && smooth->ndim == 2 ? smooth->shape[0] : 0;
  a.group = static_cast<const int32_t *>(c.ptr(group));
  a.q = c.mut_ptr(q);
  a.scale = static_cast<float *>(c.mut_ptr(c.output(1)));
  return a;
}

// Inputs: x, smooth_scale, group_index; outputs: q, scale.
std::string silu_quant(const Call &c) {
  return act_quant_result(launch_act_quant(act_quant_args(c, Activation::Silu, 1), c.error_word, c.stream));
}

std::string gelu_quant(const Call &c) {
  const Activation kind = c.s("approximate") == "tanh" ? Activation::GeluTanh : Activation::GeluErf;
  return act_quant_result(launch_act_quant(act_quant_args(c, kind, 1), c.error_word, c.stream));
}

// Inputs: x (gate, or [gate || up] / [up || gate]), up, smooth_scale, group_index; outputs: q, scale.
std::string swiglu_quant(const Call &c) {
  ActQuantArgs a = act_quant_args(c, Activation::Swiglu, 2);
  a.limit = float(c.f("swiglu_limit"));
  const mojo_tensor *x = c.input(0), *up = c.input(1);
  if (up) {
    a.up = c.ptr(up);
    a.up_stride = a.n;
  } else {
    const char *base = static_cast<const char *>(c.ptr(x));
    const int64_t half_bytes = a.n * elem_size(x);
    const bool gate_first = c.b("gate_first");
    a.gate = base + (gate_first ? 0 : half_bytes);
    a.up = base + (gate_first ? half_bytes : 0);
    a.up_stride = a.gate_stride;
  }
  return act_quant_result(launch_act_quant(a, c.error_word, c.stream));
}

std::string describe_act_quant_error(int32_t) { return "input 'group_index' holds an expert id outside [0, E)"; }

std::string accept_quant_dtype(const mojo_op_sig &sig, int *code) {
  const std::string q = sig_attr_string(sig, "quant_dtype");
  *code = MOJO_DECLINE_ATTR;
  if (q != "int8" && q != "fp8_e4m3fn") return "quant_dtype " + q + " (cuda quantizes to int8 or fp8_e4m3fn)";
  return "";
}

// The row stays in one block's registers: <= 8192 16-byte packets, or <= 8192 elements when the row is not
// a whole number of packets.
std::string accept_act_quant(const mojo_op_sig &sig, int *code) {
  std::string why = accept_quant_dtype(sig, code);
  if (!why.empty()) return why;
  const mojo_tensor *x = sig.inputs[0], *q = sig.outputs[0];
  const int64_t n = q->shape[q->ndim - 1], elem = common::dtype_size(common::dtype_id(x->dtype));
  const bool packets = (n * elem) % 16 == 0;
  *code = MOJO_DECLINE_SHAPE;
  if ((packets && n * elem / 16 > 8192) || (!packets && n > 8192))
    return "cuda activation-quant rows must fit the register path (8192 packets, or 8192 elements when unaligned)";
  return "";
}

}  // namespace

std::vector<Entry> quant_entries() {
  const uint32_t codes = (1u << MOJO_DT_INT8) | (1u << MOJO_DT_FP8_E4M3FN) | (1u << MOJO_DT_INT32);
  return {
      {{"static_quant", kFloatMask, kGraphSafe}, static_quant, accept_quant_dtype},
      {{"dequant", codes, kGraphSafe}, dequant},
      {{"silu_quant", kFloatMask, kGraphSafe}, silu_quant, accept_act_quant, nullptr, nullptr, nullptr,
       describe_act_quant_error},
      {{"gelu_quant", kFloatMask, kGraphSafe}, gelu_quant, accept_act_quant, nullptr, nullptr, nullptr,
       describe_act_quant_error},
      {{"swiglu_quant", kFloatMask, kGraphSafe}, swiglu_quant, accept_act_quant, nullptr, nullptr, nullptr,
       describe_act_quant_error},
  };
}

}  // namespace mojo::cuda
