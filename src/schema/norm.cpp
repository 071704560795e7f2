// Normalization ops (spec/norm.md).
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {
namespace {

const AttrSpec kEps{"eps", AttrKind::Float, "1e-5", "", "added to the variance / mean square (spec: pass it explicitly)"};
const AttrSpec kNormPos{"norm_pos", AttrKind::String, "pre", "pre|post",
                        "pre: residual_out = x + residual; post: residual_out = the normalised output"};
const AttrSpec kAffine{"elementwise_affine", AttrKind::Bool, "true", "", "LayerNorm has weight and bias"};

// weight/bias are present exactly when elementwise_affine is true.
std::string affine_rule(const OpCall &c) {
  bool affine = c.attr_bool("elementwise_affine");
  for (const char *name : {"weight", "bias"}) {
    bool present = c.tensor(name) != nullptr;
    if (present != affine)
      return std::string("input '") + name + "' must be " + (affine ? "given" : "null") +
             " when elementwise_affine is " + (affine ? "true" : "false");
  }
  return "";
}

const AttrSpec kQuantDtype{"quant_dtype", AttrKind::DType, "int8", "",
                           "int8 (qmax 127) or fp8_e4m3fn (qmax 448); other dtypes are UNSUPPORTED"};
const AttrSpec kSymmetric{"symmetric", AttrKind::Bool, "true", "",
                          "must be true: false (clip negatives, no zero point) is UNSUPPORTED"};
const TensorSpec kSmooth{"smooth_scale", "float", "[D]", true, false, "per-channel multiplier applied before quantizing"};
const TensorSpec kQ{"q", "@quant_dtype", "[..., D]"};
const TensorSpec kScale{"scale", "fp32", "[..., 1]", false, false, "dequantization scale per row: x ~ q * scale"};

const char *const kDqDoc =
    " Then per-row dynamic quantization of the fp32 normalised value y (never rounded to the input dtype): "
    "y_s = y * smooth_scale (if given), scale = max(amax|y_s|, 1e-12) / qmax, "
    "q = clamp(round_half_even(y_s / scale)) (fp8: clamp to +-448, RNE).";

// residual_add_norm_cast: bias only for norm_type=layer.
std::string cast_bias_rule(const OpCall &c) {
  if (c.tensor("bias") && c.attr_string("norm_type") != "layer")
    return "input 'bias' must be null when norm_type is 'rms'";
  if (!(c.attr_float("out_scale") > 0)) return "attribute 'out_scale' must be > 0";
  return "";
}

}  // namespace

void declare_norm_ops(std::vector<OpSchema> &ops) {
  ops.push_back({"rms_norm", "norm",
                 "RMSNorm over the last dim: out = x * rsqrt(mean(x^2) + eps) * weight, fp32 math, one rounding.",
                 {{"x", "float", "[..., D]"}, {"weight", "fp32|=x", "[D]"}},
                 {{"out", "=x", "[..., D]"}},
                 {kEps}});
  ops.push_back({"layer_norm", "norm",
                 "LayerNorm over the last dim with biased variance: (x - mean) * rsqrt(var + eps) * weight + bias.",
                 {{"x", "float", "[..., D]"}, {"weight", "fp32|=x", "[D]", true}, {"bias", "fp32|=x", "[D]", true}},
                 {{"out", "=x", "[..., D]"}},
                 {kEps, kAffine},
                 {affine_rule}});
  ops.push_back({"residual_add_rms_norm", "norm",
                 "s = round(x + residual); out = RMSNorm(s); residual_out = s (pre) or out (post). "
                 "A null residual means s = x.",
                 {{"x", "float", "[..., D]"}, {"residual", "=x", "[..., D]", true}, {"weight", "fp32|=x", "[D]"}},
                 {{"out", "=x", "[..., D]"}, {"residual_out", "=x", "[..., D]"}},
                 {kEps, kNormPos}});
  ops.push_back({"residual_add_layer_norm", "norm",
                 "s = round(x + residual); out = LayerNorm(s); residual_out = s (pre) or out (post).",
                 {{"x", "float", "[..., D]"},
                  {"residual", "=x", "[..., D]", true},
                  {"weight", "fp32|=x", "[D]", true},
                  {"bias", "fp32|=x", "[D]", true}},
                 {{"out", "=x", "[..., D]"}, {"residual_out", "=x", "[..., D]"}},
                 {kEps, kNormPos, kAffine},
                 {affine_rule}});
  ops.push_back({"rms_norm_quant", "norm",
                 std::string("y = RMSNorm(float32(x)) in fp32.") + kDqDoc,
                 {{"x", "float", "[..., D]"}, {"weight", "fp32|=x", "[D]"}, kSmooth},
                 {kQ, kScale},
                 {kEps, kQuantDtype, kSymmetric}});
  ops.push_back({"layer_norm_quant", "norm",
                 std::string("y = LayerNorm(float32(x)) in fp32 (biased variance).") + kDqDoc,
                 {{"x", "float", "[..., D]"}, {"weight", "fp32|=x", "[D]", true}, {"bias", "fp32|=x", "[D]", true}, kSmooth},
                 {kQ, kScale},
                 {kEps, kQuantDtype, kSymmetric, kAffine},
                 {affine_rule}});
  ops.push_back({"residual_add_rms_norm_quant", "norm",
                 std::string("s = round(x + residual); y = RMSNorm(s) in fp32; residual_out = s (pre) or round(y) "
                             "(post, smoothing never applies to it).") + kDqDoc,
                 {{"x", "float", "[..., D]"}, {"residual", "=x", "[..., D]", true}, {"weight", "fp32|=x", "[D]"}, kSmooth},
                 {kQ, {"residual_out", "=x", "[..., D]"}, kScale},
                 {kEps, kNormPos, kQuantDtype, kSymmetric}});
  ops.push_back({"residual_add_layer_norm_quant", "norm",
                 std::string("s = round(x + residual); y = LayerNorm(s) in fp32; residual_out = s (pre) or round(y) "
                             "(post).") + kDqDoc,
                 {{"x", "float", "[..., D]"},
                  {"residual", "=x", "[..., D]", true},
                  {"weight", "fp32|=x", "[D]", true},
                  {"bias", "fp32|=x", "[D]", true},
                  kSmooth},
                 {kQ, {"residual_out", "=x", "[..., D]"}, kScale},
                 {kEps, kNormPos, kQuantDtype, kSymmetric, kAffine},
                 {affine_rule}});
  ops.push_back({"residual_add_norm_cast", "norm",
                 "Mixed-precision residual stream: s = round_to(residual dtype, float32(x) + float32(residual)); "
                 "y = RMSNorm or LayerNorm of s in fp32; out = cast(out_dtype, y) (fp8_e4m3fn: y / out_scale "
                 "saturated to +-448, RNE); residual_out = s (pre) or round_to(residual dtype, y) (post).",
                 {{"x", "float", "[..., D]"},
                  {"residual", "float", "[..., D]"},
                  {"weight", "float", "[D]"},
                  {"bias", "float", "[D]", true, false, "LayerNorm only"}},
                 {{"out", "@out_dtype", "[..., D]"}, {"residual_out", "=residual", "[..., D]"}},
                 {{"norm_type", AttrKind::String, "rms", "rms|layer", "which normalisation"},
                  kEps,
                  kNormPos,
                  {"out_dtype", AttrKind::DType, "", "bf16|fp16|fp32|fp8_e4m3fn", "dtype of 'out'"},
                  {"out_scale", AttrKind::Float, "1.0", "", "fp8 output only: out = fp8(clamp(y / out_scale, +-448))"}},
                 {cast_bias_rule}});
}

}  // namespace mojo::core
