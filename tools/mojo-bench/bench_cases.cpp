#include "bench_cases.h"

#include "mojo_common/dtype.h"

namespace mojo::bench {

std::vector<BenchCase> bench_cases() {
  std::vector<BenchCase> out;
  const int bf16 = MOJO_DT_BF16, fp32 = MOJO_DT_FP32;
  auto label = [](int64_t t, int64_t d) { return "bf16 " + std::to_string(t) + "x" + std::to_string(d); };
  for (int64_t tokens : {int64_t(16384), int64_t(1), int64_t(16), int64_t(64)}) {
    const bool lat = tokens <= 64;
    const int64_t h = 4096, inter = 14336;
    out.push_back({"rms_norm", label(tokens, h), tools::Attrs().f("eps", 1e-6),
                   {{bf16, {tokens, h}}, {bf16, {h}}}, {{bf16, {tokens, h}}}, lat});
    out.push_back({"residual_add_rms_norm", label(tokens, h), tools::Attrs().f("eps", 1e-6),
                   {{bf16, {tokens, h}}, {bf16, {tokens, h}}, {bf16, {h}}}, {{bf16, {tokens, h}}, {bf16, {tokens, h}}},
                   lat});
    out.push_back({"swiglu", label(tokens, inter) + " (gate+up)", tools::Attrs(),
                   {{bf16, {tokens, inter}}, {bf16, {tokens, inter}}}, {{bf16, {tokens, inter}}}, lat});
    if (!lat) {
      out.push_back({"layer_norm", label(tokens, h), tools::Attrs(),
                     {{bf16, {tokens, h}}, {fp32, {h}}, {fp32, {h}}}, {{bf16, {tokens, h}}}, false});
      out.push_back({"silu", label(tokens, inter), tools::Attrs(), {{bf16, {tokens, inter}}}, {{bf16, {tokens, inter}}},
                     false});
      out.push_back({"gelu", label(tokens, inter), tools::Attrs(), {{bf16, {tokens, inter}}}, {{bf16, {tokens, inter}}},
                     false});
    }
  }
  for (int64_t tokens : {int64_t(16384), int64_t(1), int64_t(64)}) {
    const int64_t d = 128;
    out.push_back({"apply_rope", "bf16 T=" + std::to_string(tokens) + " 32q+8kv x128", tools::Attrs().b("head_first", false),
                   {{bf16, {tokens, 32, d}}, {bf16, {tokens, 8, d}}, {fp32, {tokens, d}}, {fp32, {tokens, d}}},
                   {{bf16, {tokens, 32, d}}, {bf16, {tokens, 8, d}}}, tokens <= 64});
  }
  for (const char *qd : {"int8", "fp8_e4m3fn"}) {
    const int64_t t = 16384, h = 4096;
    const int qid = std::string(qd) == "int8" ? MOJO_DT_INT8 : MOJO_DT_FP8_E4M3FN;
    out.push_back({"dynamic_quant", std::string("bf16->") + qd + " 16384x4096", tools::Attrs().dtype("quant_dtype", qd),
                   {{bf16, {t, h}}, {bf16, {h}, false}}, {{qid, {t, h}}, {fp32, {t, 1}}}, false});
    out.push_back({"rms_norm_quant", std::string("bf16->") + qd + " 16384x4096",
                   tools::Attrs().f("eps", 1e-6).dtype("quant_dtype", qd),
                   {{bf16, {t, h}}, {bf16, {h}}, {bf16, {h}, false}}, {{qid, {t, h}}, {fp32, {t, 1}}}, false});
  }
  for (int64_t m : {int64_t(8192), int64_t(1), int64_t(16), int64_t(64)}) {
    const int64_t k = m == 8192 ? 8192 : 4096, n = m == 8192 ? 8192 : 28672;
    BenchCase c{"linear", "bf16 M=" + std::to_string(m) + " N=" + std::to_string(n) + " K=" + std::to_string(k),
                tools::Attrs(), {{bf16, {m, k}}, {bf16, {n, k}}, {bf16, {n}, false}}, {{bf16, {m, n}}}, false};
    c.flops = 2.0 * double(m) * double(n) * double(k);
    out.push_back(c);
  }
  return out;
}

nlohmann::json to_json(const BenchCase &c) {
  auto tensors = [](const std::vector<TensorSpec> &ts) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto &t : ts)
      a.push_back(t.present ? nlohmann::json{{"dtype", common::dtype_name(t.dtype)}, {"shape", t.shape}}
                            : nlohmann::json(nullptr));
    return a;
  };
  return {{"op", c.op}, {"case", c.label}, {"attrs", c.attrs.describe()}, {"inputs", tensors(c.inputs)},
          {"outputs", tensors(c.outputs)}, {"latency", c.latency}, {"flops", c.flops}};
}

}  // namespace mojo::bench
