// Quantization ops (spec/linear_quant.md §5-7).
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {
namespace {

const char *const kAnyRank = "[] | [_] | [_, _] | [_, _, _] | [_, _, _, _] | [_, _, _, _, _] | [_, _, _, _, _, _]";

// static_quant: the trailing dims of x equal scale's shape (and input_size when given).
std::string static_scale_rule(const OpCall &c) {
  const mojo_tensor *x = c.tensor("x"), *s = c.tensor("scale");
  bool ok = s->ndim >= 1 && s->ndim <= x->ndim;
  for (int d = 0; ok && d < s->ndim; ++d) ok = s->shape[d] == x->shape[x->ndim - s->ndim + d];
  if (!ok)
    return "input 'scale' has shape " + shape_string(*s) + ", expected the trailing dims of 'x' " + shape_string(*x);
  const mojo_attr *size = c.attr("input_size");
  if (size && size->count > 0) {
    bool same = size->count == s->ndim;
    for (int d = 0; same && d < s->ndim; ++d) same = size->ints[d] == s->shape[d];
    if (!same) return "attribute 'input_size' does not match the shape of input 'scale' " + shape_string(*s);
  }
  return "";
}

// dequant: scale broadcasts to q (numpy rules, rank <= rank of q).
std::string broadcast_rule(const OpCall &c) {
  const mojo_tensor *q = c.tensor("q"), *s = c.tensor("scale");
  bool ok = s->ndim <= q->ndim;
  for (int d = 0; ok && d < s->ndim; ++d) {
    int64_t sd = s->shape[s->ndim - 1 - d], qd = q->shape[q->ndim - 1 - d];
    ok = sd == 1 || sd == qd;
  }
  if (!ok) return "input 'scale' has shape " + shape_string(*s) + ", expected a shape broadcastable to 'q' " +
                  shape_string(*q);
  return "";
}

std::string input_size_rule(const OpCall &c) {
  if (!c.attr_is_null("input_size") && c.attr_int("input_size") != c.dims.at("K"))
    return "attribute 'input_size' is " + std::to_string(c.attr_int("input_size")) + ", expected K=" +
           std::to_string(c.dims.at("K"));
  return "";
}

}  // namespace

void declare_quant_ops(std::vector<OpSchema> &ops) {
  ops.push_back({"static_quant", "quant",
                 "q = clamp(round_half_even(float32(x) / float32(scale))) with the scale broadcast over the leading "
                 "dims of x (int8: [-128, 127]; fp8_e4m3fn: clamp to +-448 then RNE). Zero scales are the caller's "
                 "error (inf/NaN before the clamp).",
                 {{"x", "float", "[...]"}, {"scale", "fp32|=x", kAnyRank}},
                 {{"q", "@quant_dtype", "[...]"}},
                 {{"input_size", AttrKind::IntArray, "null", "", "the shape S of scale (checked when given)"},
                  {"quant_dtype", AttrKind::DType, "int8", "", "int8 or fp8_e4m3fn; others UNSUPPORTED"}},
                 {static_scale_rule}});
  ops.push_back({"dynamic_quant", "quant",
                 "Per-row dynamic int8 quantization: xs = float32(x) * inv_smooth_scale (if given); scale = "
                 "max(amax|xs|, 1e-12) / 127, replaced by 1.0 when < 1e-6; q = clamp(round_half_even(xs / scale), "
                 "-128, 127).",
                 {{"x", "float", "[..., K]"},
                  {"inv_smooth_scale", "float", "[K]", true, false, "a multiplier (reciprocal of the smooth divisor)"}},
                 {{"q", "@quant_dtype", "[..., K]"},
                  {"scale", "fp32", "[..., 1]", false, false, "dequantization scale per row"}},
                 {{"input_size", AttrKind::Int, "null", "", "K (checked when given)"},
                  {"quant_dtype", AttrKind::DType, "int8", "", "int8 only; others UNSUPPORTED"}},
                 {input_size_rule}});
  ops.push_back({"dequant", "quant",
                 "out = cast(output_dtype, float32(q) * float32(scale)); scale broadcasts to q (per-tensor, per-row "
                 "[..., 1], per-column [K] or a grouped trailing shape).",
                 {{"q", "int8|fp8_e4m3fn|int32", "[...]"}, {"scale", "float", kAnyRank}},
                 {{"out", "@output_dtype", "[...]"}},
                 {{"output_dtype", AttrKind::DType, "bf16", "fp16|bf16|fp32", "dtype of 'out'"}},
                 {broadcast_rule}});
}

}  // namespace mojo::core
