#include "case.h"

namespace mojo::conformance {

CaseList all_cases(const CaseOptions &opt) {
  CaseList cases;
  add_norm_cases(cases, opt);
  add_activation_cases(cases, opt);
  add_position_cases(cases, opt);
  add_linear_cases(cases, opt);
  add_quant_cases(cases, opt);
  add_embedding_cases(cases, opt);
  add_attention_cases(cases, opt);
  add_attention_mla_cases(cases, opt);
  add_kv_cache_cases(cases, opt);
  add_moe_cases(cases, opt);
  add_sampling_cases(cases, opt);
  add_training_cases(cases, opt);
  return cases;
}

}  // namespace mojo::conformance
