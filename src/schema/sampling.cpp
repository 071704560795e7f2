// Sampling ops (spec/sampling.md, extra.md §G).
#include <algorithm>

#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {
namespace {

const char *const kRandomnessDoc =
    " Randomness (spec AMB-RNG): exactly one of 'uniform' (fp32 values in [0, 1), bit-exact across backends) "
    "or 'seed_offset' = int64 [seed, offset] (the n-th uniform, row-major over the shape 'uniform' would have, is "
    "Philox4x32-10(key = seed, counter = (n, offset)) word 0, top 24 bits times 2^-24). Callers advance offset "
    "between calls. Draws are inverse-CDF over exact integer masses w = floor(exp(l - max) * 2^40): the first "
    "candidate whose running sum of w exceeds floor(u * sum w) (docs/decisions/moe_sampling.md).";

TensorSpec uniform_spec(const char *shape) {
  return {"uniform", "fp32", shape, true, false, "explicit uniforms in [0, 1) (checked by the kernel)"};
}
const TensorSpec kSeedOffset{
    "seed_offset", "int64", "[2]",
    true,          false,   "[seed, offset] as uint64 bit patterns: the Philox stream used instead of 'uniform'"};

std::string one_randomness_rule(const OpCall &c) {
  const bool u = c.tensor("uniform") != nullptr, s = c.tensor("seed_offset") != nullptr;
  if (u == s)
    return std::string("inputs 'uniform' and 'seed_offset' are ") + (u ? "both given" : "both null") +
           ", expected exactly one of them";
  return "";
}

std::string min_attr_rule(const OpCall &c, const char *name, int64_t min) {
  if (c.attr_int(name) < min)
    return std::string("attribute '") + name + "' is " + std::to_string(c.attr_int(name)) +
           ", expected >= " + std::to_string(min);
  return "";
}

std::string vocab_rule(const OpCall &c) {
  if (c.dims.at("V") < 1) return "input 'logits' has an empty vocabulary (V = 0), expected V >= 1";
  return "";
}

std::string top_k_rule(const OpCall &c) {
  std::string why = vocab_rule(c);
  if (why.empty()) why = min_attr_rule(c, "top_k", 1);
  return why.empty() ? min_attr_rule(c, "min_tokens_to_keep", 0) : why;
}

std::string top_p_rule(const OpCall &c) {
  const double p = c.attr_float("top_p");
  if (!(p > 0.0 && p <= 1.0)) return "attribute 'top_p' is " + std::to_string(p) + ", expected a value in (0, 1]";
  std::string why = vocab_rule(c);
  if (why.empty()) why = min_attr_rule(c, "rand_top_k", 1);
  return why.empty() ? min_attr_rule(c, "min_tokens_to_keep", 0) : why;
}

// top_p_filter: the candidate axis is min(rand_top_k, V).
std::string filter_width_rule(const OpCall &c) {
  const int64_t v = c.dims.at("V"), k = std::min<int64_t>(c.attr_int("rand_top_k"), v);
  for (const char *name : {"probs", "indices"}) {
    const mojo_tensor *t = c.tensor(name);
    if (t->shape[t->ndim - 1] != k)
      return std::string("output '") + name + "' has shape " + shape_string(*t) +
             ", expected last dim min(rand_top_k, V) = " + std::to_string(k);
  }
  return "";
}

const AttrSpec kMinTokens{"min_tokens_to_keep", AttrKind::Int, "1", "", "never keep fewer candidates than this"};
const AttrSpec kFilterValue{"filter_value", AttrKind::Float, "-inf", "",
                            "logit given to removed candidates; the default -inf removes them (a finite value "
                            "keeps them with a small probability)"};
const AttrSpec kIndexDtype{"index_dtype", AttrKind::DType, "int64", "int32|int64", "dtype of 'next_tokens'"};
const AttrSpec kTopP{"top_p", AttrKind::Float, "0.75", "",
                     "nucleus mass, 0 < top_p <= 1 (used when 'row_top_p' is null)"};
const AttrSpec kRandTopK{"rand_top_k", AttrKind::Int, "1000", "",
                         "candidates considered before the nucleus cut (pass V for exact nucleus sampling)"};
const TensorSpec kRowTopP{
    "row_top_p", "fp32", "[...]",
    true,        false,  "per-row top_p overriding the attribute; values in (0, 1] (checked by the kernel)"};

const char *const kNucleusDoc =
    "K' = min(rand_top_k, V) candidates = the K' largest fp32 logits sorted descending (ties: lower vocabulary "
    "index); pi = softmax over them; candidate j is removed iff its exclusive prefix mass (exact integer masses) "
    "exceeds top_p and j >= min_tokens_to_keep (the token crossing top_p is kept); removed logits become "
    "filter_value and p = softmax of the result. top_p outside (0, 1] and NaN logits are INVALID_ARGUMENT.";

}  // namespace

void declare_sampling_ops(std::vector<OpSchema> &ops) {
  ops.push_back({"top_k_sampling",
                 "sampling",
                 std::string("K' = min(max(min(top_k, V), min_tokens_to_keep), V) candidates = the K' largest fp32 "
                             "logits sorted descending (ties: lower vocabulary index); p = softmax over them; "
                             "c = DRAW(p, u); next_tokens = id of c, next_probs = p[c]. NaN logits are "
                             "INVALID_ARGUMENT.") +
                     kRandomnessDoc,
                 {{"logits", "float", "[..., V]"}, uniform_spec("[...]"), kSeedOffset},
                 {{"next_probs", "fp32", "[..., 1]", false, false, "probability of the chosen token under p"},
                  {"next_tokens", "@index_dtype", "[..., 1]", false, false, "chosen vocabulary id"}},
                 {{"top_k", AttrKind::Int, "50", "", "candidates (>= 1)"},
                  kMinTokens,
                  {"filter_value", AttrKind::Float, "-inf", "", "accepted for API symmetry; unused"},
                  kIndexDtype},
                 {one_randomness_rule, top_k_rule}});
  ops.push_back(
      {"top_p_sampling",
       "sampling",
       std::string(kNucleusDoc) + " c = DRAW(p, u); next_tokens = id of c, next_probs = p[c]." + kRandomnessDoc,
       {{"logits", "float", "[..., V]"}, kRowTopP, uniform_spec("[...]"), kSeedOffset},
       {{"next_probs", "fp32", "[..., 1]", false, false, "probability of the chosen token under p"},
        {"next_tokens", "@index_dtype", "[..., 1]", false, false, "chosen vocabulary id"}},
       {kTopP, kMinTokens, kRandTopK, kFilterValue, kIndexDtype},
       {one_randomness_rule, top_p_rule}});
  ops.push_back({"top_p_filter",
                 "sampling",
                 std::string("The deterministic part of top_p_sampling. ") + kNucleusDoc +
                     " Outputs p (in the logits dtype) and the candidate ids, both in candidate order.",
                 {{"logits", "float", "[..., V]"}, kRowTopP},
                 {{"probs", "=logits", "[..., Kc]", false, false, "Kc = min(rand_top_k, V) renormalised probabilities"},
                  {"indices", "index", "[..., Kc]", false, false, "vocabulary ids of the sorted candidates"}},
                 {kTopP, kMinTokens, kRandTopK, kFilterValue},
                 {top_p_rule, filter_width_rule}});
  ops.push_back({"reject_sampling",
                 "sampling",
                 std::string("Speculative acceptance: t_i = target_probs[b, i, draft_tokens[b, i]]; step i is "
                             "accepted iff draft_probs[b, i] > 0 and t_i / draft_probs[b, i] >= u[b, i] (u [B, 1] "
                             "broadcasts over the steps); accepted_len[b] = the first rejected step (S if none); "
                             "next_tokens[b, i] = draft_tokens[b, i] for i < accepted_len[b], else 0 (slot "
                             "accepted_len[b] is a placeholder the caller fills). Draft ids outside [0, V) are "
                             "INVALID_ARGUMENT. With seed_offset the stream has shape [B, S].") +
                     kRandomnessDoc,
                 {{"target_probs", "fp32", "[B, S+1, V]", false, false, "not renormalised by the op"},
                  {"draft_tokens", "index", "[B, S]"},
                  {"draft_probs", "fp32", "[B, S]", false, false, "probability the draft gave its own token"},
                  uniform_spec("[B, S] | [B, 1]"),
                  kSeedOffset},
                 {{"next_tokens", "=draft_tokens", "[B, S+1]"}, {"accepted_len", "int32", "[B]"}},
                 {},
                 {one_randomness_rule, vocab_rule}});
  ops.push_back({"apply_penalties_temperature",
                 "sampling",
                 "Per row b, in fp32: where token_freqs is given for the row (freqs_present[b], null = every row), "
                 "logit -= frequency_penalties[b] * f; logit -= presence_penalties[b] * (f > 0); then with "
                 "rho = repetition_penalties[b] != 1 and c = logit * f: c < 0 -> logit * rho, c > 0 -> logit / rho; "
                 "finally logit /= temperatures[b] when given. Zero penalties (1 for repetition) are skipped; null "
                 "penalty tensors mean 0 (1). Repetition penalties and temperatures must be finite and > 0 "
                 "(INVALID_ARGUMENT otherwise). One rounding to the logits dtype.",
                 {{"logits", "float", "[B, V]"},
                  {"token_freqs", "int32", "[B, V]", true, false, "occurrence counts; null = no penalties"},
                  {"freqs_present", "bool", "[B]", true, false, "rows that have a frequency vector (null = all)"},
                  {"presence_penalties", "fp32", "[B]", true},
                  {"frequency_penalties", "fp32", "[B]", true},
                  {"repetition_penalties", "fp32", "[B]", true},
                  {"temperatures", "fp32", "[B]", true, false, "null = no temperature"}},
                 {{"out", "=logits", "[B, V]"}},
                 {},
                 {[](const OpCall &c) -> std::string {
                   if (c.tensor("freqs_present") && !c.tensor("token_freqs"))
                     return "input 'freqs_present' is given but 'token_freqs' is null, expected both or neither";
                   return "";
                 }}});
}

}  // namespace mojo::core
