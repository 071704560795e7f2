// attention ops (spec/attention.md): paged GQA prefill/decode and the sliding-window family.
// MLA/NSA ops are declared in attention_mla.cpp.
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {
namespace {

// Hq must be a multiple of Hkv (ops.md §1.5).
std::string gqa_heads_rule(const OpCall &c) {
  int64_t hq = c.dims.at("Hq"), hkv = c.dims.at("Hkv");
  if (hkv <= 0 || hq % hkv != 0)
    return "query has " + std::to_string(hq) + " heads and the KV side " + std::to_string(hkv) +
           ", expected Hq to be a positive multiple of Hkv";
  return "";
}

// Host hints and window sizes must be non-negative when given.
std::string non_negative_attrs_rule(const OpCall &c) {
  for (const char *name : {"max_q_len", "max_total_seq_len", "local_window_size", "global_window_size"}) {
    if (c.attr(name) == nullptr || c.attr_is_null(name)) continue;
    if (c.attr_int(name) < 0)
      return std::string("attribute '") + name + "' is " + std::to_string(c.attr_int(name)) + ", expected >= 0";
  }
  return "";
}

const char *kCausalDoc = "bottom-right causal mask: query i of a sequence sees keys j <= L - n + i";
const char *kLayoutDoc =
    "GQA head mapping (ops.md §1.5): AABB = MOJO_GQA_GROUPED, g(h) = h / (Hq/Hkv); ABAB = MOJO_GQA_INTERLEAVED, "
    "g(h) = h % Hkv";
const char *kScaleDoc = "score scale; null = 1/sqrt(D)";
const char *kMaskDoc =
    "optional bool mask, true = may attend, element [pos_i, j] (or [b, pos_i, j]); honoured only when is_causal = "
    "false; S_m must be >= every kv length; a capability: backends without custom masks return UNSUPPORTED "
    "when one is passed";

std::vector<AttrSpec> common_attrs(bool swa) {
  std::vector<AttrSpec> a = {{"is_causal", AttrKind::Bool, "true", "", kCausalDoc},
                             {"gqa_layout", AttrKind::String, "AABB", "AABB|ABAB", kLayoutDoc},
                             {"softmax_scale", AttrKind::Float, "null", "", kScaleDoc}};
  if (swa) {
    a.push_back({"local_window_size", AttrKind::Int, "null", "",
                 "Wl: a query at pos also sees keys j with pos - j <= Wl (Wl + 1 local keys); only with is_causal"});
    a.push_back({"global_window_size", AttrKind::Int, "null", "",
                 "Wg: keys j < Wg (attention sinks) are always visible; only with is_causal"});
  }
  return a;
}

OpSchema paged_prefill(const std::string &name, bool swa) {
  std::string doc =
      "Paged " + std::string(swa ? "sliding-window " : "GQA ") +
      "prefill over packed new tokens (store-before-attend: the cache already holds positions [L-n, L)). "
      "Per sequence b: n = cu_q_lens[b+1]-cu_q_lens[b], L = cu_total_seq_lens diff (null: L = n); keys gathered "
      "through block_table. fp32 scores and softmax, output in the query dtype. Sequences with n == 0 or L == 0 "
      "and rows >= cu_q_lens[B] are not written. INVALID_ARGUMENT for decreasing cu-lengths, L < n (causal), "
      "or a negative/out-of-range block id among the ceil(L/BS) needed columns.";
  if (swa) doc += " Window predicate AMB-WIN: allowed = j <= pos && ((Wl && pos-j <= Wl) || (Wg && j < Wg)).";
  std::vector<TensorSpec> in = {
      {"query", "bf16|fp16", "[T, Hq, D]", false, false, "packed new tokens"},
      {"key_cache", "=query", "[NB, Hkv, BS, D]", false, false, "paged keys, already holding the new tokens"},
      {"value_cache", "=query", "[NB, Hkv, BS, D]", false, false, "paged values"},
      {"cu_q_lens", "int32", "[B+1]", false, false, "query offsets, cu[0] = 0, non-decreasing"},
      {"block_table", "int32", "[B, MB]", false, false, "physical block ids, -1 = unused column"},
      {"cu_total_seq_lens", "int32", "[B+1]", true, false, "cumulative total KV lengths; null: L = n"},
  };
  if (!swa) in.push_back({"mask", "bool", "[S_m, S_m] | [B, S_m, S_m]", true, false, kMaskDoc});
  std::vector<AttrSpec> attrs = common_attrs(swa);
  attrs.push_back({"max_q_len", AttrKind::Int, "null", "", "host hint, must be >= every n when given"});
  attrs.push_back({"max_total_seq_len", AttrKind::Int, "null", "", "host hint, must be >= every L when given"});
  return {name, "attention", doc, in, {{"out", "=query", "[T, Hq, D]"}}, attrs,
          {gqa_heads_rule, non_negative_attrs_rule}};
}

OpSchema paged_decode(const std::string &name, bool swa) {
  std::string doc =
      "Paged " + std::string(swa ? "sliding-window " : "GQA ") +
      "decode: one query per sequence at position L-1, L = total_seq_lens[b] (includes the current token, "
      "already stored). fp32 scores and softmax, output in the query dtype. Rows with L <= 0 are not written. "
      "INVALID_ARGUMENT for a negative/out-of-range block id among the ceil(L/BS) needed columns or L > MB*BS.";
  if (swa) doc += " Keys j in [max(0, L-1-Wl), L) plus j < Wg (AMB-WIN).";
  std::vector<TensorSpec> in = {
      {"query", "bf16|fp16", "[B, Hq, D]", false, false, "one token per sequence"},
      {"key_cache", "=query", "[NB, Hkv, BS, D]", false, false, "paged keys, holding the current token"},
      {"value_cache", "=query", "[NB, Hkv, BS, D]", false, false, "paged values"},
      {"total_seq_lens", "int32", "[B]", false, false, "L per sequence, 0 = padding row"},
      {"block_table", "int32", "[B, MB]", false, false, "physical block ids, -1 = unused column"},
  };
  if (!swa) in.push_back({"mask", "bool", "[S_m, S_m] | [B, S_m, S_m]", true, false, kMaskDoc});
  std::vector<AttrSpec> attrs = common_attrs(swa);
  attrs.push_back({"max_total_seq_len", AttrKind::Int, "null", "", "host hint, must be >= every L when given"});
  return {name, "attention", doc, in, {{"out", "=query", "[B, Hq, D]"}}, attrs,
          {gqa_heads_rule, non_negative_attrs_rule}};
}

}  // namespace

void declare_attention_ops(std::vector<OpSchema> &ops) {
  ops.push_back(paged_prefill("paged_prefill_gqa", false));
  ops.push_back(paged_decode("paged_decode_gqa", false));
  ops.push_back({"swa_varlen", "attention",
                 "Sliding-window attention over packed (non-paged) varlen K/V: sequence b has queries "
                 "query[cu_q_lens[b]:cu_q_lens[b+1]] and keys key[cu_total_seq_lens[b]:cu_total_seq_lens[b+1]], "
                 "the new tokens last (bottom-right causal). Window predicate AMB-WIN. fp32 softmax. Sequences with "
                 "n == 0 and rows >= cu_q_lens[B] are not written. INVALID_ARGUMENT for decreasing cu-lengths, "
                 "cu[B] beyond the packed rows, or L < n (causal).",
                 {{"query", "bf16|fp16", "[T, Hq, D]", false, false, "packed new tokens"},
                  {"key", "=query", "[Tk, Hkv, D]", false, false, "packed keys of every sequence"},
                  {"value", "=query", "[Tk, Hkv, D]", false, false, "packed values"},
                  {"cu_q_lens", "int32", "[B+1]", false, false, "query offsets"},
                  {"cu_total_seq_lens", "int32", "[B+1]", false, false, "key offsets (total lengths)"}},
                 {{"out", "=query", "[T, Hq, D]"}},
                 common_attrs(true),
                 {gqa_heads_rule, non_negative_attrs_rule}});
  ops.push_back(paged_prefill("paged_prefill_swa", true));
  ops.push_back(paged_decode("paged_decode_swa", true));
}

}  // namespace mojo::core
