// Norm family: rms/layer norm, the residual-add variants, their per-token quantizing forms and
// dynamic_quant (a norm-less row quantizer sharing the same kernel), all through launch_norm; and
// residual_add_norm_cast (mixed dtypes, fp8 output) through launch_norm_cast.
#include "kernels/norm_cast.h"
#include "op_entry.h"

namespace mojo::cuda {
namespace {

cudaError_t run_norm(const Call &c, bool layer, bool residual_variant) {
  NormArgs a{};
  const mojo_tensor *x = c.input(0);
  a.dtype = dt_of(x);
  a.rows = rows_of(x);
  a.cols = cols_of(x);
  a.x = c.ptr(x);
  size_t next = 1;
  if (residual_variant) a.residual = c.ptr(c.input(next++));
  const mojo_tensor *w = c.input(next++);
  const mojo_tensor *b = layer ? c.input(next++) : nullptr;
  a.weight = c.ptr(w);
  a.bias = c.ptr(b);
  a.weight_dtype = w ? dt_of(w) : Dt::F32;
  a.out = c.mut_ptr(c.output(0));
  a.residual_out = residual_variant ? c.mut_ptr(c.output(1)) : nullptr;
  a.post = residual_variant && c.s("norm_pos") == "post";
  a.layer_norm = layer;
  a.eps = float(c.f("eps"));
  return launch_norm(a, c.stream);
}

Quant quant_of(const Call &c) { return c.s("quant_dtype") == "fp8_e4m3fn" ? Quant::Fp8E4M3 : Quant::Int8; }

// The *_norm_quant ops and dynamic_quant: inputs x, [residual], [weight], [bias], smooth; outputs q,
// [residual_out], scale (schema order, src/schema/norm.cpp and quant.cpp).
std::string run_norm_quant(const Call &c, bool layer, bool residual_variant, bool normalize) {
  NormArgs a{};
  const mojo_tensor *x = c.input(0);
  a.dtype = dt_of(x);
  a.rows = rows_of(x);
  a.cols = cols_of(x);
  a.x = c.ptr(x);
  size_t in = 1, out = 0;
  if (residual_variant) a.residual = c.ptr(c.input(in++));
  if (normalize) {
    const mojo_tensor *w = c.input(in++);
    a.weight = c.ptr(w);
    a.weight_dtype = w ? dt_of(w) : Dt::F32;
    if (layer) a.bias = c.ptr(c.input(in++));
  }
  const mojo_tensor *smooth = c.input(in++);
  a.smooth = c.ptr(smooth);
  a.smooth_dtype = smooth ? dt_of(smooth) : Dt::F32;
  a.out = c.mut_ptr(c.output(out++));
  if (residual_variant) a.residual_out = c.mut_ptr(c.output(out++));
  a.scale_out = static_cast<float *>(c.mut_ptr(c.output(out++)));
  a.post = residual_variant && c.s("norm_pos") == "post";
  a.layer_norm = layer;
  a.normalize = normalize;
  a.eps = float(c.f("eps"));
  a.quant = quant_of(c);
  a.unit_if_tiny = !normalize;
  cudaError_t e = launch_norm(a, c.stream);
  if (e == cudaErrorNotSupported) return "quantizing norms need 16-byte aligned rows whose length is a multiple of 16 bytes";
  return cuda_message(e);
}

std::string rms_norm_quant(const Call &c) { return run_norm_quant(c, false, false, true); }
std::string layer_norm_quant(const Call &c) { return run_norm_quant(c, true, false, true); }
std::string residual_add_rms_norm_quant(const Call &c) { return run_norm_quant(c, false, true, true); }
std::string residual_add_layer_norm_quant(const Call &c) { return run_norm_quant(c, true, true, true); }
std::string dynamic_quant(const Call &c) { return run_norm_quant(c, false, false, false); }

std::string rms_norm(const Call &c) { return cuda_message(run_norm(c, false, false)); }
std::string layer_norm(const Call &c) { return cuda_message(run_norm(c, true, false)); }
std::string residual_add_rms_norm(const Call &c) { return cuda_message(run_norm(c, false, true)); }
std::string residual_add_layer_norm(const Call &c) { return cuda_message(run_norm(c, true, true)); }

// The quantizing kernels: int8 or fp8 e4m3fn, symmetric, rows of whole 16-byte packets.
std::string accept_quant(const mojo_op_sig &sig, int *code) {
  *code = MOJO_DECLINE_ATTR;
  const std::string q = sig_attr_string(sig, "quant_dtype");
  if (q != "int8" && q != "fp8_e4m3fn") return "quant_dtype " + q + " (cuda quantizes to int8 or fp8_e4m3fn)";
  const mojo_attr *sym = sig_attr(sig, "symmetric");
  if (sym && sym->count && !sym->i) return "symmetric = false is not defined by libmojo";
  const mojo_tensor *x = sig.inputs[0];
  const int64_t row_bytes = x->shape[x->ndim - 1] * common::dtype_size(common::dtype_id(x->dtype));
  *code = MOJO_DECLINE_SHAPE;
  if (row_bytes % 16 != 0 || row_bytes / 16 > 8 * 1024)
    return "cuda quantizing kernels need rows of a multiple of 16 bytes, at most 128 KiB";
  return "";
}

// Inputs: x, residual, weight, bias; outputs: out (out_dtype), residual_out (residual's dtype).
std::string residual_add_norm_cast(const Call &c) {
  const mojo_tensor *x = c.input(0), *res = c.input(1), *w = c.input(2), *b = c.input(3), *out = c.output(0);
  NormCastArgs a{};
  a.x_dtype = dt_of(x);
  a.residual_dtype = dt_of(res);
  a.weight_dtype = dt_of(w);
  a.bias_dtype = b ? dt_of(b) : Dt::F32;
  a.out_fp8 = common::dtype_id(out->dtype) == MOJO_DT_FP8_E4M3FN;
  a.out_dtype = dt_of(out);
  a.rows = rows_of(x);
  a.cols = cols_of(x);
  a.x = c.ptr(x);
  a.residual = c.ptr(res);
  a.weight = c.ptr(w);
  a.bias = c.ptr(b);
  a.out = c.mut_ptr(out);
  a.residual_out = c.mut_ptr(c.output(1));
  a.post = c.s("norm_pos") == "post";
  a.layer_norm = c.s("norm_type") == "layer";
  a.eps = float(c.f("eps"));
  a.out_scale = float(c.f("out_scale"));
  return cuda_message(launch_norm_cast(a, c.stream));
}

std::string accept_norm_cast(const mojo_op_sig &sig, int *code) {
  const mojo_tensor *x = sig.inputs[0];
  *code = MOJO_DECLINE_SHAPE;
  if (x->shape[x->ndim - 1] > kNormCastMaxCols)
    return "cuda residual_add_norm_cast keeps a row in one block's registers: at most " +
           std::to_string(kNormCastMaxCols) + " elements";
  if (rows_of(x) > kNormCastMaxRows)
    return "cuda residual_add_norm_cast runs one block per row: at most " + std::to_string(kNormCastMaxRows) + " rows";
  return "";
}

}  // namespace

std::vector<Entry> norm_entries() {
  return {
      {{"rms_norm", kFloatMask, kGraphSafe}, rms_norm},
      {{"layer_norm", kFloatMask, kGraphSafe}, layer_norm},
      {{"residual_add_rms_norm", kFloatMask, kGraphSafe}, residual_add_rms_norm},
      {{"residual_add_layer_norm", kFloatMask, kGraphSafe}, residual_add_layer_norm},
      {{"rms_norm_quant", kFloatMask, kGraphSafe}, rms_norm_quant, accept_quant},
      {{"layer_norm_quant", kFloatMask, kGraphSafe}, layer_norm_quant, accept_quant},
      {{"residual_add_rms_norm_quant", kFloatMask, kGraphSafe}, residual_add_rms_norm_quant, accept_quant},
      {{"residual_add_layer_norm_quant", kFloatMask, kGraphSafe}, residual_add_layer_norm_quant, accept_quant},
      {{"dynamic_quant", kFloatMask, kGraphSafe}, dynamic_quant, accept_quant},
      {{"residual_add_norm_cast", kFloatMask, kGraphSafe}, residual_add_norm_cast, accept_norm_cast},
  };
}

}  // namespace mojo::cuda
