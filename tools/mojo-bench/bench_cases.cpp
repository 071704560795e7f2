#include "bench_cases.h"

#include "mojo_common/dtype.h"

namespace mojo::bench {

std::vector<BenchCase> bench_cases() {
  std::vector<BenchCase> out;
  for (auto family : {
           add_norm_cases,
           add_activation_cases,
           add_rope_cases,
           add_quant_cases,
           add_linear_cases,
           add_attention_prefill_cases,
           add_attention_decode_cases,
           add_moe_cases,
           add_sampling_cases,
           add_moe_gating_cases,
           add_memops_cases,
       })
    family(out);
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
          {"outputs", tensors(c.outputs)}, {"latency", c.latency}, {"flops", c.flops},
          {"params", c.params}};
}

}  // namespace mojo::bench
