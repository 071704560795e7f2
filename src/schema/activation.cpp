// Activation ops (spec/activation.md).
#include "schema/schema.h"

namespace mojo::core {

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
}

}  // namespace mojo::core
