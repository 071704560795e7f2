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
  // W8A8 and FP8 (per-token x per-channel scales) with weight [N, K] (cuBLASLt) and the default [K, N] (int8: the
  // tiled dp4a kernel; fp8: a transpose into the workspace, then cuBLASLt). FP8 at the shapes: NK at 8192^3
  // and M = 1/16/64 x N=28672 K=4096, KN at 8192^3.
  for (int codes : {MOJO_DT_INT8, MOJO_DT_FP8_E4M3FN}) {
    const bool fp8 = codes == MOJO_DT_FP8_E4M3FN;
    for (int64_t m : {int64_t(8192), int64_t(1), int64_t(16), int64_t(64)}) {
      if (!fp8 && m == 16) continue;
      const int64_t k = m == 8192 ? 8192 : 4096, n = m == 8192 ? 8192 : 28672;
      for (const char *layout : {"NK", "KN"}) {
        if (fp8 && layout[0] == 'K' && m != 8192) continue;
        const std::vector<int64_t> wshape = layout[0] == 'N' ? std::vector<int64_t>{n, k} : std::vector<int64_t>{k, n};
        BenchCase c{"quant_linear", std::string(common::dtype_name(codes)) + "->bf16 " + layout + " M=" +
                        std::to_string(m) + " N=" + std::to_string(n) + " K=" + std::to_string(k),
                    tools::Attrs().s("weight_layout", layout),
                    {{codes, {m, k}}, {MOJO_DT_FP32, {m, 1}, true, true}, {codes, wshape},
                     {MOJO_DT_FP32, {n}, true, true}},
                    {{bf16, {m, n}}}, false};
        c.flops = 2.0 * double(m) * double(n) * double(k);
        c.params = {{"layout", layout}};
        out.push_back(c);
      }
    }
  }
  // batch_linear: 8 × [2048, 4096] × [4096, 4096]^T, per batch and reduced.
  for (bool reduce : {false, true}) {
    const int64_t bt = 8, m = 2048, k = 4096, n = 4096;
    BenchCase c{"batch_linear", std::string("bf16 Bt=8 M=2048 N=K=4096") + (reduce ? " reduce" : ""),
                tools::Attrs().b("reduce_batch", reduce), {{bf16, {bt, m, k}}, {bf16, {bt, n, k}}, {bf16, {bt, n}, false}},
                {{bf16, reduce ? std::vector<int64_t>{m, n} : std::vector<int64_t>{bt, m, n}}}, false};
    c.flops = 2.0 * double(bt) * double(m) * double(n) * double(k);
    c.params = {{"reduce", reduce}};
    out.push_back(c);
  }
}

}  // namespace mojo::bench
