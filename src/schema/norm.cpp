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
}

}  // namespace mojo::core
