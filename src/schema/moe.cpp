// Mixture-of-experts routing ops (spec/moe.md).
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {
namespace {

std::string top_k_range_rule(const OpCall &c) {
  const int64_t k = c.attr_int("top_k"), e = c.dims.at("E");
  if (k < 1 || k > e)
    return "attribute 'top_k' is " + std::to_string(k) + ", expected a value in [1, E=" + std::to_string(e) + "]";
  return "";
}

std::string num_experts_rule(const OpCall &c) {
  if (c.attr_int("num_experts") < 1)
    return "attribute 'num_experts' is " + std::to_string(c.attr_int("num_experts")) + ", expected >= 1";
  return "";
}

// moe_dispatch: the M routed rows are the N*K routes.
std::string routed_rows_rule(const OpCall &c) {
  const int64_t n = c.dims.at("N"), k = c.dims.at("K"), m = c.dims.at("M");
  if (m != n * k)
    return "output 'sorted_hidden_states' has " + std::to_string(m) + " rows, expected N*K = " + std::to_string(n) +
           "*" + std::to_string(k) + " = " + std::to_string(n * k);
  return "";
}

// moe_dispatch_quant: block size, the scale's block count and the reserved attributes' ranges.
std::string dispatch_quant_rule(const OpCall &c) {
  const int64_t h = c.dims.at("H"), qb = c.attr_int("quant_block_size"), e = c.attr_int("num_experts");
  if (qb < 1 || h % qb != 0)
    return "attribute 'quant_block_size' is " + std::to_string(qb) +
           ", expected a positive divisor of H=" + std::to_string(h);
  const mojo_tensor *scale = c.tensor("scale");
  if (scale->shape[2] != h / qb)
    return "output 'scale' has shape " + shape_string(*scale) +
           ", expected last dim H/quant_block_size = " + std::to_string(h / qb);
  const int64_t mode = c.attr_int("quant_mode");
  if (mode != 0 && mode != 1) return "attribute 'quant_mode' is " + std::to_string(mode) + ", expected 0 or 1";
  const int64_t start = c.attr_int("start_expert_id");
  const int64_t end = c.attr_is_null("end_expert_id") ? e : c.attr_int("end_expert_id");
  if (start < 0 || start > end || end > e)
    return "attributes 'start_expert_id'/'end_expert_id' are " + std::to_string(start) + "/" + std::to_string(end) +
           ", expected 0 <= start <= end <= num_experts=" + std::to_string(e);
  return "";
}

}  // namespace

void declare_moe_ops(std::vector<OpSchema> &ops) {
  ops.push_back(
      {"moe_gating",
       "moe",
       "Softmax router: logits = float32(hidden_states) . gate_weight (fp32), p = softmax over the E "
       "experts, the top_k largest p per row sorted by descending value (ties: lower expert index), "
       "gates = those p renormalised to sum to 1. NaN logits give an undefined selection.",
       {{"hidden_states", "float", "[N, H]"}, {"gate_weight", "fp32", "[H, E]", false, false, "[in, out] layout"}},
       {{"top_k_indices", "int32", "[N, top_k]", false, false, "expert ids, descending gate"},
        {"top_k_gates", "fp32", "[N, top_k]", false, false, "renormalised gates, sum 1 per row"}},
       {{"top_k", AttrKind::Int, "", "", "experts per token, 1 <= top_k <= E"}},
       {top_k_range_rule}});
  ops.push_back({"moe_dispatch",
                 "moe",
                 "Groups the N*K routes r = n*K + k by expert id (expert 0 first): routed row i copies "
                 "hidden_states[n], its gate top_k_gates[n, k] and its token n. Inside a bucket the order is "
                 "unspecified (the reference uses ascending r). Expert ids outside [0, num_experts) are "
                 "INVALID_ARGUMENT (checked before anything is written).",
                 {{"hidden_states", "float", "[N, H]"},
                  {"top_k_gates", "fp32", "[N, K]"},
                  {"top_k_indices", "int32", "[N, K]", false, false, "expert ids in [0, num_experts)"}},
                 {{"sorted_hidden_states", "=hidden_states", "[M, H]", false, false, "M = N*K rows, by expert"},
                  {"tokens_per_expert", "int32", "[num_experts]"},
                  {"sorted_gates", "fp32", "[M, 1]"},
                  {"token_indices", "int32", "[M]", false, false, "source token of each routed row"}},
                 {{"num_experts", AttrKind::Int, "", "", "E (global expert count)"}},
                 {num_experts_rule, routed_rows_rule}});
  ops.push_back({"moe_combine",
                 "moe",
                 "combined[n] = sum over routed rows m with token_indices[m] = n of "
                 "(multiply_by_gates ? sorted_gates[m] : 1) * float32(expert_outputs[m]), accumulated in fp32 "
                 "(order unspecified) and rounded once; tokens receiving no row get zeros. 'combined' is the "
                 "repo's output_buffer: every row is overwritten, nothing is accumulated into its old contents. "
                 "Token indices outside [0, N) are INVALID_ARGUMENT.",
                 {{"expert_outputs", "float", "[M, H]"},
                  {"sorted_gates", "fp32", "[M, 1]"},
                  {"token_indices", "index", "[M]", false, false, "destination token of each row, in [0, N)"}},
                 {{"combined", "=expert_outputs", "[N, H]"}},
                 {{"multiply_by_gates", AttrKind::Bool, "true", "", "scale each row by its gate"}}});
  ops.push_back({"moe_dispatch_quant",
                 "moe",
                 "Stable dispatch (bucket order ascending route r = n*K + k) fused with block-dynamic int8 "
                 "quantization: h = float32(hidden_states[n]) (* smooth_scale[expert]); per block of "
                 "quant_block_size values scale = max(amax|h|, 1e-12) / 127, q = clamp(round_half_even(h / scale), "
                 "-128, 127). The M = N*K sorted rows are written as an [N, top_k] view. start_expert_id, "
                 "end_expert_id and quant_mode are reserved: values other than 0 / num_experts (or null) / 0 are "
                 "UNSUPPORTED. Expert ids outside [0, num_experts) are INVALID_ARGUMENT.",
                 {{"hidden_states", "float", "[N, H]"},
                  {"top_k_gates", "fp32", "[N, top_k]"},
                  {"top_k_indices", "index", "[N, top_k]", false, false, "expert ids in [0, num_experts)"},
                  {"smooth_scale", "float", "[num_experts, H]", true, false, "per-expert smooth-quant multiplier"}},
                 {{"quantized", "@quant_dtype", "[N, top_k, H]"},
                  {"sorted_gates", "fp32", "[N, top_k, 1]"},
                  {"sorted_token_indices", "int32", "[N, top_k, 1]"},
                  {"token_count", "int32", "[num_experts]"},
                  {"scale", "fp32", "[N, top_k, _]", false, false, "[N, top_k, H/quant_block_size] dequant scales"}},
                 {{"num_experts", AttrKind::Int, "", "", "E (global expert count)"},
                  {"top_k", AttrKind::Int, "", "", "K (routes per token)"},
                  {"quant_block_size", AttrKind::Int, "8", "", "values per scale along H; must divide H"},
                  {"quant_dtype", AttrKind::DType, "int8", "", "int8 only; others UNSUPPORTED"},
                  {"start_expert_id", AttrKind::Int, "0", "", "reserved (expert-range filtering): only 0"},
                  {"end_expert_id", AttrKind::Int, "null", "", "reserved: only null or num_experts"},
                  {"quant_mode", AttrKind::Int, "0", "", "0 or 1; reserved: only 0"}},
                 {num_experts_rule, dispatch_quant_rule}});
}

}  // namespace mojo::core
