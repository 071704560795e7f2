#include "../bench_cases.h"

#include "mojo_common/dtype.h"

namespace mojo::bench {

void add_quant_cases(std::vector<BenchCase> &out) {
  const int bf16 = MOJO_DT_BF16, fp32 = MOJO_DT_FP32;
  for (const char *qd : {"int8", "fp8_e4m3fn"}) {
    const int64_t t = 16384, h = 4096;
    const int qid = std::string(qd) == "int8" ? MOJO_DT_INT8 : MOJO_DT_FP8_E4M3FN;
    out.push_back({"dynamic_quant", std::string("bf16->") + qd + " 16384x4096", tools::Attrs().dtype("quant_dtype", qd),
                   {{bf16, {t, h}}, {bf16, {h}, false}}, {{qid, {t, h}}, {fp32, {t, 1}}}, false});
    out.push_back({"rms_norm_quant", std::string("bf16->") + qd + " 16384x4096",
                   tools::Attrs().f("eps", 1e-6).dtype("quant_dtype", qd),
                   {{bf16, {t, h}}, {bf16, {h}}, {bf16, {h}, false}}, {{qid, {t, h}}, {fp32, {t, 1}}}, false});
  }
}

}  // namespace mojo::bench
