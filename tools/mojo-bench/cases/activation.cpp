#include "../bench_cases.h"

#include "mojo_common/dtype.h"

namespace mojo::bench {

void add_activation_cases(std::vector<BenchCase> &out) {
  const int bf16 = MOJO_DT_BF16;
  for (int64_t tokens : {int64_t(16384), int64_t(1), int64_t(16), int64_t(64)}) {
    const bool lat = tokens <= 64;
    const int64_t inter = 14336;
    const std::string label = "bf16 " + std::to_string(tokens) + "x" + std::to_string(inter);
    out.push_back({"swiglu", label + " (gate+up)", tools::Attrs(), {{bf16, {tokens, inter}}, {bf16, {tokens, inter}}},
                   {{bf16, {tokens, inter}}}, lat});
    if (!lat) {
      out.push_back({"silu", label, tools::Attrs(), {{bf16, {tokens, inter}}}, {{bf16, {tokens, inter}}}, false});
      out.push_back({"gelu", label, tools::Attrs(), {{bf16, {tokens, inter}}}, {{bf16, {tokens, inter}}}, false});
    }
  }
}

}  // namespace mojo::bench
