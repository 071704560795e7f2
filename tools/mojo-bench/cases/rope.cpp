#include "../bench_cases.h"

#include "mojo_common/dtype.h"

namespace mojo::bench {

void add_rope_cases(std::vector<BenchCase> &out) {
  const int bf16 = MOJO_DT_BF16, fp32 = MOJO_DT_FP32;
  for (int64_t tokens : {int64_t(16384), int64_t(1), int64_t(64)}) {
    const int64_t d = 128;
    out.push_back({"apply_rope", "bf16 T=" + std::to_string(tokens) + " 32q+8kv x128",
                   tools::Attrs().b("head_first", false),
                   {{bf16, {tokens, 32, d}}, {bf16, {tokens, 8, d}}, {fp32, {tokens, d}}, {fp32, {tokens, d}}},
                   {{bf16, {tokens, 32, d}}, {bf16, {tokens, 8, d}}}, tokens <= 64});
  }
}

}  // namespace mojo::bench
