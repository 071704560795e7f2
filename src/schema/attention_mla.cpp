// Latent (MLA) and native-sparse (NSA) paged attention ops (spec/attention.md §3-§5).
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {
namespace {

const AttrSpec kNumHeads{"num_heads", AttrKind::Int, "", "", "H: attention heads (query and, for NSA, KV heads)"};
const AttrSpec kIsCausal{"is_causal", AttrKind::Bool, "true", "",
                         "bottom-right causal: query i of a sequence sees keys j <= L - n + i"};

std::string positive_attrs_rule(const OpCall &c, std::initializer_list<const char *> names) {
  for (const char *name : names)
    if (c.attr_int(name) <= 0)
      return std::string("attribute '") + name + "' is " + std::to_string(c.attr_int(name)) +
             ", expected a positive integer";
  return "";
}

// ---- MLA ----------------------------------------------------------------------------------------------

const AttrSpec kMlaAttrs[] = {
    kNumHeads,
    {"qk_nope_head_dim", AttrKind::Int, "", "", "Dn: non-rotary part of q/k per head"},
    {"qk_rope_head_dim", AttrKind::Int, "", "", "Dr: rotary part of q/k (one rope key shared by all heads)"},
    {"v_head_dim", AttrKind::Int, "", "", "Dv: value head dim"},
    {"kv_lora_rank", AttrKind::Int, "", "", "R: latent width of compressed_kv_cache"},
    {"use_attn_sink", AttrKind::Bool, "false", "",
     "add exp(attn_sink[h]) to each softmax denominator (an extra logit with no value)"},
    {"softmax_scale", AttrKind::Float, "null", "", "score scale; null = 1/sqrt(Dn + Dr)"},
};

std::string mla_rule(const OpCall &c) {
  std::string err = positive_attrs_rule(c, {"num_heads", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
                                            "kv_lora_rank"});
  if (!err.empty()) return err;
  const int64_t h = c.attr_int("num_heads"), dn = c.attr_int("qk_nope_head_dim"),
                dr = c.attr_int("qk_rope_head_dim"), dv = c.attr_int("v_head_dim");
  const mojo_tensor *q = c.tensor("query"), *w = c.tensor("kv_b_proj");
  if (q->shape[2] != dn + dr)
    return "input 'query' has shape " + shape_string(*q) + ", expected last dim qk_nope_head_dim + qk_rope_head_dim = " +
           std::to_string(dn + dr);
  if (w->shape[0] != h * (dn + dv))
    return "input 'kv_b_proj' has shape " + shape_string(*w) + ", expected " + std::to_string(h * (dn + dv)) +
           " rows (num_heads * (qk_nope_head_dim + v_head_dim))";
  if ((c.tensor("attn_sink") != nullptr) != c.attr_bool("use_attn_sink"))
    return std::string("input 'attn_sink' must be ") + (c.attr_bool("use_attn_sink") ? "given" : "null") +
           " when use_attn_sink is " + (c.attr_bool("use_attn_sink") ? "true" : "false");
  return "";
}

const char *kMlaMath =
    "KV = C . kv_b_proj^T per key (rounded to the query dtype), split per head into k_nope[Dn] | v[Dv]; "
    "k = [k_nope | k_pe]; s = scale * <q, k> (fp32); p = exp(s) / (sum exp(s) + (use_attn_sink ? "
    "exp(attn_sink[h]) : 0)); out = sum p v. C and k_pe are gathered from the paged caches with block_table "
    "(ids of the needed columns must be in [0, NB), else INVALID_ARGUMENT before anything is written). "
    "A row with no visible key is 0.";

std::vector<TensorSpec> mla_weight_inputs() {
  return {{"kv_b_proj", "float", "[_, kv_lora_rank]", false, false,
           "up-projection [H*(Dn+Dv), R]; per head Dn k_nope rows then Dv v rows"},
          {"attn_sink", "fp32", "[num_heads]", true, false, "per-head sink logit; given iff use_attn_sink"}};
}

// ---- NSA ----------------------------------------------------------------------------------------------

const AttrSpec kNsaAttrs[] = {
    kNumHeads,
    {"head_dim", AttrKind::Int, "", "", "D"},
    {"compress_ratio", AttrKind::Int, "4", "", "cr: tokens mean-pooled into one compressed token"},
    {"num_selected_blocks", AttrKind::Int, "16", "", "nsel: top blocks kept by the selection branch (>= 0)"},
    {"block_size", AttrKind::Int, "64", "",
     "bsel: selection block length in tokens (not the cache page size); a multiple of compress_ratio"},
    {"window_size", AttrKind::Int, "512", "", "W: keys of the sliding-window branch (>= 0)"},
    {"softmax_scale", AttrKind::Float, "null", "", "score scale of every branch; null = 1/sqrt(D)"},
};

std::string nsa_rule(const OpCall &c) {
  std::string err = positive_attrs_rule(c, {"num_heads", "head_dim", "compress_ratio", "block_size"});
  if (!err.empty()) return err;
  if (c.attr_int("block_size") % c.attr_int("compress_ratio") != 0)
    return "attribute 'block_size' is " + std::to_string(c.attr_int("block_size")) +
           ", expected a multiple of compress_ratio = " + std::to_string(c.attr_int("compress_ratio"));
  for (const char *name : {"num_selected_blocks", "window_size"})
    if (c.attr_int(name) < 0)
      return std::string("attribute '") + name + "' is " + std::to_string(c.attr_int(name)) +
             ", expected >= 0";
  return "";
}

const char *kNsaMath =
    "Per query (visible context Lc) and head: o_cmp = attention over mean-pooled blocks of compress_ratio keys "
    "(raw keys when Lc < compress_ratio); o_sel = attention over the num_selected_blocks selection blocks of "
    "block_size tokens with the largest summed compressed-softmax mass (ties -> lower block); o_win = attention "
    "over the last window_size keys; g = sigmoid(q . gate_proj[h]); out = g0 o_cmp + g1 o_sel + g2 o_win. "
    "fp32 math, one rounding. Block ids of the needed columns must be in [0, NB), else INVALID_ARGUMENT "
    "before anything is written.";

}  // namespace

void declare_attention_mla_ops(std::vector<OpSchema> &ops) {
  std::vector<AttrSpec> mla_prefill_attrs(std::begin(kMlaAttrs), std::end(kMlaAttrs));
  mla_prefill_attrs.insert(mla_prefill_attrs.begin() + 5, kIsCausal);
  std::vector<AttrSpec> mla_decode_attrs(std::begin(kMlaAttrs), std::end(kMlaAttrs));

  std::vector<TensorSpec> in = {
      {"query", "bf16|fp16|fp32", "[T, num_heads, _]", false, false,
       "packed new tokens [T, H, Dn+Dr], channels q_nope then q_rope (rope applied); rows >= cu_q_lens[B] are padding"},
      {"compressed_kv_cache", "=query", "[NB, 1, BS, kv_lora_rank]", false, false,
       "paged normalised latent c_kv (already layer-normed)"},
      {"k_pe_cache", "=query", "[NB, 1, BS, qk_rope_head_dim]", false, false, "paged rotary key (rope applied)"},
      {"cu_q_lens", "int32", "[B+1]", false, false, "query offsets: cu[0] = 0, non-decreasing, cu[B] <= T"},
      {"block_table", "int32", "[B, MB]", false, false, "physical block ids, -1 padded; shared by both caches"},
      {"cu_total_seq_lens", "int32", "[B+1]", true, false,
       "cumulative total KV lengths (new tokens included); null = no prefix (L = n)"}};
  for (auto &t : mla_weight_inputs()) in.push_back(t);
  ops.push_back({"paged_prefill_mla", "attention",
                 std::string("Multi-head latent attention over a paged latent cache, prefill (varlen, prefix "
                             "cache). For sequence b: n = cu_q_lens[b+1]-cu_q_lens[b], L = total length; n == 0 or "
                             "L <= 0 leaves its rows untouched; causal requires L >= n. ") + kMlaMath,
                 in,
                 {{"out", "=query", "[T, num_heads, v_head_dim]"}},
                 mla_prefill_attrs,
                 {mla_rule}});

  std::vector<TensorSpec> din = {
      {"query", "bf16|fp16|fp32", "[B, num_heads, _]", false, false, "one token per sequence [B, H, Dn+Dr]"},
      {"compressed_kv_cache", "=query", "[NB, 1, BS, kv_lora_rank]", false, false, "paged normalised latent c_kv"},
      {"k_pe_cache", "=query", "[NB, 1, BS, qk_rope_head_dim]", false, false, "paged rotary key (rope applied)"},
      {"total_seq_lens", "int32", "[B]", false, false, "L[b] including the current token; <= 0 = padding row"},
      {"block_table", "int32", "[B, MB]", false, false, "physical block ids, -1 padded; shared by both caches"}};
  for (auto &t : mla_weight_inputs()) din.push_back(t);
  ops.push_back({"paged_decode_mla", "attention",
                 std::string("Multi-head latent attention over a paged latent cache, one query per sequence "
                             "attending keys [0, L). Rows with L <= 0 are untouched. ") + kMlaMath,
                 din,
                 {{"out", "=query", "[B, num_heads, v_head_dim]"}},
                 mla_decode_attrs,
                 {mla_rule}});

  std::vector<AttrSpec> nsa_prefill_attrs(std::begin(kNsaAttrs), std::end(kNsaAttrs));
  nsa_prefill_attrs.insert(nsa_prefill_attrs.end() - 1, kIsCausal);
  std::vector<AttrSpec> nsa_decode_attrs(std::begin(kNsaAttrs), std::end(kNsaAttrs));
  const TensorSpec gate{"gate_proj", "=query", "[num_heads, head_dim, 3]", false, false,
                        "branch gate weights: g[h, k] = sigmoid(sum_d q[h, d] gate_proj[h, d, k]), k = 0 cmp, 1 sel, 2 win"};
  ops.push_back({"paged_prefill_nsa", "attention",
                 std::string("Native sparse attention over a paged KV cache, prefill. Causal: query i sees "
                             "Lc = L - n + i + 1 keys (requires L >= n); non-causal: Lc = L. n == 0 or L <= 0 "
                             "leaves its rows untouched. ") + kNsaMath,
                 {{"query", "bf16|fp16|fp32", "[T, num_heads, head_dim]", false, false,
                   "packed new tokens; rows >= cu_q_lens[B] are padding"},
                  {"key_cache", "=query", "[NB, num_heads, BS, head_dim]"},
                  {"value_cache", "=query", "[NB, num_heads, BS, head_dim]"},
                  {"cu_q_lens", "int32", "[B+1]", false, false, "query offsets: cu[0] = 0, non-decreasing, cu[B] <= T"},
                  {"block_table", "int32", "[B, MB]", false, false, "physical block ids, -1 padded"},
                  {"cu_total_seq_lens", "int32", "[B+1]", true, false,
                   "cumulative total KV lengths (new tokens included); null = no prefix (L = n)"},
                  gate},
                 {{"out", "=query", "[T, num_heads, head_dim]"}},
                 nsa_prefill_attrs,
                 {nsa_rule}});
  ops.push_back({"paged_decode_nsa", "attention",
                 std::string("Native sparse attention over a paged KV cache, one query per sequence with Lc = L. "
                             "Rows with L <= 0 are untouched. ") + kNsaMath,
                 {{"query", "bf16|fp16|fp32", "[B, num_heads, head_dim]"},
                  {"key_cache", "=query", "[NB, num_heads, BS, head_dim]"},
                  {"value_cache", "=query", "[NB, num_heads, BS, head_dim]"},
                  {"total_seq_lens", "int32", "[B]", false, false, "L[b] including the current token; <= 0 = padding row"},
                  {"block_table", "int32", "[B, MB]", false, false, "physical block ids, -1 padded"},
                  gate},
                 {{"out", "=query", "[B, num_heads, head_dim]"}},
                 nsa_decode_attrs,
                 {nsa_rule}});
}

}  // namespace mojo::core
