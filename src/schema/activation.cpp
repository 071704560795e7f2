// Activation ops (spec/activation.md).
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {
namespace {

const AttrSpec kQuantDtype{"quant_dtype", AttrKind::DType, "int8", "",
                           "int8 (qmax 127) or fp8_e4m3fn (qmax 448); other dtypes are UNSUPPORTED"};
const TensorSpec kSmooth{"smooth_scale", "float", "[N] | [E, N]", true, false,
                         "per-channel multiplier; [E, N] picks row group_index[row] (per-expert smoothing)"};
const TensorSpec kGroupIndex{"group_index", "int32", "[...]", true, false,
                             "expert of each row, in [0, E); given exactly when smooth_scale is [E, N]"};
const TensorSpec kScale{"scale", "fp32", "[..., 1]", false, false, "dequantization scale per row"};

const char *const kDqDoc =
    " a_s = a * smooth_scale[row's group] (if given); scale = max(amax|a_s|, 1e-12) / qmax, replaced by 1.0 "
    "when < 1e-6; q = clamp(round_half_even(a_s / scale)) (fp8_e4m3fn: clamp to +-448, RNE).";

std::string group_rule(const OpCall &c) {
  const mojo_tensor *s = c.tensor("smooth_scale");
  bool grouped = s && s->ndim == 2;
  if (grouped != (c.tensor("group_index") != nullptr))
    return std::string("input 'group_index' must be ") + (grouped ? "given" : "null") + " when 'smooth_scale' is " +
           (grouped ? "[E, N]" : "[N] or null");
  return "";
}

// swiglu_quant: with 'up' given, q has x's last dim; without, x is [gate || up] (gate_first) and q has half.
std::string swiglu_width_rule(const OpCall &c) {
  const mojo_tensor *x = c.tensor("x"), *q = c.tensor("q");
  const int64_t cx = x->shape[x->ndim - 1], cq = q->shape[q->ndim - 1];
  const bool split = c.tensor("up") != nullptr;
  if (!split && cx % 2 != 0) return "input 'x' has last dim " + std::to_string(cx) + ", expected an even 2*N";
  const int64_t n = split ? cx : cx / 2;
  if (cq != n) return "output 'q' has last dim " + std::to_string(cq) + ", expected N=" + std::to_string(n);
  const mojo_tensor *s = c.tensor("smooth_scale");
  if (s && s->shape[s->ndim - 1] != n)
    return "input 'smooth_scale' has shape " + shape_string(*s) + ", expected last dim N=" + std::to_string(n);
  return "";
}

}  // namespace

void declare_activation_ops(std::vector<OpSchema> &ops) {
  ops.push_back({"silu", "activation", "out = x * sigmoid(x), fp32 math, one rounding.",
                 {{"x", "float", "[...]"}},
                 {{"out", "=x", "[...]"}},
                 {}});
  ops.push_back({"gelu", "activation",
                 "GELU: exact erf form (approximate=none) or the tanh approximation (approximate=tanh).",
                 {{"x", "float", "[...]"}},
                 {{"out", "=x", "[...]"}},
                 {{"approximate", AttrKind::String, "none", "none|tanh", "which GELU formula"}}});
  ops.push_back({"swiglu", "activation",
                 "out = silu(gate') * up'; with swiglu_limit > 0, up' = clamp(up, -limit, limit) and "
                 "gate' = min(gate, limit).",
                 {{"gate", "float", "[...]"}, {"up", "=gate", "[...]"}},
                 {{"out", "=gate", "[...]"}},
                 {{"swiglu_limit", AttrKind::Float, "0", "", "clamp limit, 0 disables"}}});
  ops.push_back({"silu_quant", "activation",
                 std::string("a = silu(x) in fp32 (not rounded to the input dtype), then per-row dynamic quant:") +
                     kDqDoc,
                 {{"x", "float", "[..., N]"}, kSmooth, kGroupIndex},
                 {{"q", "@quant_dtype", "[..., N]"}, kScale},
                 {kQuantDtype},
                 {group_rule}});
  ops.push_back({"gelu_quant", "activation",
                 std::string("a = gelu(x) in fp32 (erf or tanh form), then per-row dynamic quant:") + kDqDoc,
                 {{"x", "float", "[..., N]"}, kSmooth, kGroupIndex},
                 {{"q", "@quant_dtype", "[..., N]"}, kScale},
                 {kQuantDtype, {"approximate", AttrKind::String, "none", "none|tanh", "which GELU formula"}},
                 {group_rule}});
  ops.push_back({"swiglu_quant", "activation",
                 std::string("a = silu(gate') * up' in fp32 (swiglu_limit clamps as in swiglu). With 'up' given, "
                             "x is the gate; with 'up' null, x is [gate || up] (gate_first) or [up || gate] along the "
                             "last dim and q has half its width. Then per-row dynamic quant:") + kDqDoc,
                 {{"x", "float", "[..., C]", false, false, "gate, or gate and up concatenated when 'up' is null"},
                  {"up", "=x", "[..., C]", true},
                  {"smooth_scale", "float", "[_] | [E, _]", true, false,
                   "per-channel multiplier ([N] or per-expert [E, N])"},
                  kGroupIndex},
                 {{"q", "@quant_dtype", "[..., _]"}, kScale},
                 {kQuantDtype,
                  {"swiglu_limit", AttrKind::Float, "0", "", "clamp limit, 0 disables"},
                  {"gate_first", AttrKind::Bool, "true", "", "concatenated form: the first half is the gate"}},
                 {group_rule, swiglu_width_rule}});
}

}  // namespace mojo::core
