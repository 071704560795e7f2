#include "../bench_cases.h"

#include "mojo_common/dtype.h"

namespace mojo::bench {

void add_norm_cases(std::vector<BenchCase> &out) {
  const int bf16 = MOJO_DT_BF16, fp32 = MOJO_DT_FP32, fp8 = MOJO_DT_FP8_E4M3FN;
  for (int64_t tokens : {int64_t(16384), int64_t(1), int64_t(16), int64_t(64)}) {
    const bool lat = tokens <= 64;
    const int64_t h = 4096;
    const std::string label = "bf16 " + std::to_string(tokens) + "x" + std::to_string(h);
    out.push_back({"rms_norm", label, tools::Attrs().f("eps", 1e-6), {{bf16, {tokens, h}}, {bf16, {h}}},
                   {{bf16, {tokens, h}}}, lat});
    out.push_back({"residual_add_rms_norm", label, tools::Attrs().f("eps", 1e-6),
                   {{bf16, {tokens, h}}, {bf16, {tokens, h}}, {bf16, {h}}}, {{bf16, {tokens, h}}, {bf16, {tokens, h}}},
                   lat});
    if (!lat)
      out.push_back({"layer_norm", label, tools::Attrs(), {{bf16, {tokens, h}}, {fp32, {h}}, {fp32, {h}}},
                     {{bf16, {tokens, h}}}, false});
    // The mixed-precision residual stream: bf16 x, fp32 residual (12 bytes per element moved), bf16 out.
    out.push_back({"residual_add_norm_cast", label + " + fp32 residual -> bf16",
                   tools::Attrs().f("eps", 1e-6).dtype("out_dtype", "bf16"),
                   {{bf16, {tokens, h}}, {fp32, {tokens, h}}, {fp32, {h}}, {fp32, {h}, false}},
                   {{bf16, {tokens, h}}, {fp32, {tokens, h}}}, lat});
    // bf16 stream into an fp8 GEMM (7 bytes per element).
    if (!lat)
      out.push_back({"residual_add_norm_cast", label + " + bf16 residual -> fp8_e4m3fn",
                     tools::Attrs().f("eps", 1e-6).dtype("out_dtype", "fp8_e4m3fn"),
                     {{bf16, {tokens, h}}, {bf16, {tokens, h}}, {fp32, {h}}, {fp32, {h}, false}},
                     {{fp8, {tokens, h}}, {bf16, {tokens, h}}}, false});
  }
}

}  // namespace mojo::bench
