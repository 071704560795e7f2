#include "../bench_cases.h"

#include "mojo_common/dtype.h"

namespace mojo::bench {

void add_linear_cases(std::vector<BenchCase> &out) {
  const int bf16 = MOJO_DT_BF16;
  for (int64_t m : {int64_t(8192), int64_t(1), int64_t(16), int64_t(64)}) {
    const int64_t k = m == 8192 ? 8192 : 4096, n = m == 8192 ? 8192 : 28672;
    BenchCase c{"linear", "bf16 M=" + std::to_string(m) + " N=" + std::to_string(n) + " K=" + std::to_string(k),
                tools::Attrs(), {{bf16, {m, k}}, {bf16, {n, k}}, {bf16, {n}, false}}, {{bf16, {m, n}}}, false};
    c.flops = 2.0 * double(m) * double(n) * double(k);
    out.push_back(c);
  }
}

}  // namespace mojo::bench
