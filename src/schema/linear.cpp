// Linear / GEMM ops (spec/linear_quant.md).
#include "schema/schema.h"

namespace mojo::core {

void declare_linear_ops(std::vector<OpSchema> &ops) {
  ops.push_back({"linear", "linear", "out = x @ W^T + bias (weight_layout NK = [N, K]; KN = [K, N]); fp32 accumulation.",
                 {{"x", "float", "[..., K]"},
                  {"weight", "=x", "[N, K] if weight_layout=NK else [K, N]"},
                  {"bias", "=x", "[N]", true}},
                 {{"out", "=x", "[..., N]"}},
                 {{"weight_layout", AttrKind::String, "NK", "NK|KN", "NK: torch nn.Linear [out, in]; KN: [in, out]"}}});
}

}  // namespace mojo::core
