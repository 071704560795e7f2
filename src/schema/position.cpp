// Position-embedding ops (spec/position.md).
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {
namespace {

// cos/sin rows must match q's tokens: [T, Dr] for 3-D q; [S, Dr] or [B, S, Dr] for 4-D q. Dr even, <= Dh.
std::string rope_table_rule(const OpCall &c) {
  const mojo_tensor *q = c.tensor("q"), *k = c.tensor("k"), *cos = c.tensor("cos"), *sin = c.tensor("sin");
  if (k->ndim != q->ndim) return "input 'k' has rank " + std::to_string(k->ndim) + ", expected the rank of 'q'";
  bool head_first = c.attr_bool("head_first");
  int tok_axis = q->ndim == 3 ? (head_first ? 1 : 0) : (head_first ? 2 : 1);
  int head_axis = q->ndim == 3 ? (head_first ? 0 : 1) : (head_first ? 1 : 2);
  for (int d = 0; d < q->ndim; ++d)
    if (d != head_axis && k->shape[d] != q->shape[d])
      return "input 'k' has shape " + shape_string(*k) + ", expected the shape of 'q' " + shape_string(*q) +
             " except the head axis " + std::to_string(head_axis);
  int64_t tokens = q->shape[tok_axis], dh = q->shape[q->ndim - 1];
  int64_t dr = cos->shape[cos->ndim - 1];
  if (sin->ndim != cos->ndim || sin->shape[0] != cos->shape[0] || sin->shape[sin->ndim - 1] != dr ||
      (cos->ndim == 3 && sin->shape[1] != cos->shape[1]))
    return "input 'sin' has shape " + shape_string(*sin) + ", expected the shape of 'cos' " + shape_string(*cos);
  if (q->ndim == 3 && !(cos->ndim == 2 && cos->shape[0] == tokens))
    return "input 'cos' has shape " + shape_string(*cos) + ", expected [" + std::to_string(tokens) + ", Dr] for 3-D q";
  if (q->ndim == 4) {
    bool ok = (cos->ndim == 2 && cos->shape[0] == tokens) ||
              (cos->ndim == 3 && cos->shape[0] == q->shape[0] && cos->shape[1] == tokens);
    if (!ok)
      return "input 'cos' has shape " + shape_string(*cos) + ", expected [S, Dr] or [B, S, Dr] with B=" +
             std::to_string(q->shape[0]) + ", S=" + std::to_string(tokens);
  }
  if (dr % 2 != 0 || dr > dh || dr == 0)
    return "input 'cos' has rope dim " + std::to_string(dr) + ", expected an even number in [2, Dh=" +
           std::to_string(dh) + "]";
  return "";
}

// rotary_embedding: exactly one addressing mode and the matching cos/sin shapes.
std::string rotary_mode_rule(const OpCall &c) {
  const mojo_tensor *x = c.tensor("x"), *cu = c.tensor("cu_q_lens"), *pos = c.tensor("position_ids");
  const int64_t dr = c.attr_int("rope_dim");
  if (dr <= 0 || dr % 2 != 0) return "attribute 'rope_dim' is " + std::to_string(dr) + ", expected an even number > 0";
  if (cu && pos) return "inputs 'cu_q_lens' and 'position_ids' are mutually exclusive";
  if (c.tensor("total_seq_lens") && !cu) return "input 'total_seq_lens' needs 'cu_q_lens' (varlen mode)";
  if (!c.attr_is_null("init_max_length") && c.attr_int("init_max_length") <= 0)
    return "attribute 'init_max_length' must be > 0";
  std::vector<int64_t> want;
  if (cu) {
    if (x->ndim != 2) return "input 'x' has shape " + shape_string(*x) + ", expected [T, *] in varlen mode";
    want = {x->shape[0], dr};
  } else if (pos) {
    want.assign(x->shape, x->shape + x->ndim - 1);
    want.push_back(dr);
  } else {
    if (x->ndim != 3) return "input 'x' has shape " + shape_string(*x) + ", expected [B, S, *] in padded mode";
    want = {x->shape[1], dr};
  }
  for (const char *name : {"cos", "sin"}) {
    const mojo_tensor *t = c.tensor(name);
    bool ok = t->ndim == int32_t(want.size());
    for (size_t d = 0; ok && d < want.size(); ++d) ok = t->shape[d] == want[d];
    if (!ok) {
      std::string w = "[";
      for (size_t d = 0; d < want.size(); ++d) w += (d ? ", " : "") + std::to_string(want[d]);
      return std::string("output '") + name + "' has shape " + shape_string(*t) + ", expected " + w + "]";
    }
  }
  return "";
}

// norm_rope / norm_rope_store_kv: rope dim even and within the head.
std::string head_rope_rule(const OpCall &c) {
  const int64_t dr = c.dims.at("Dr"), dh = c.dims.at("Dh");
  if (dr % 2 != 0 || dr == 0 || dr > dh)
    return "input 'cos' has rope dim " + std::to_string(dr) + ", expected an even number in [2, Dh=" +
           std::to_string(dh) + "]";
  return "";
}

// norm_rope_store_kv: weights and eps exactly when apply_norm; the store addressing of store_paged_kv_cache.
std::string store_kv_rule(const OpCall &c) {
  const bool norm = c.attr_bool("apply_norm");
  for (const char *name : {"q_weight", "k_weight"})
    if ((c.tensor(name) != nullptr) != norm)
      return std::string("input '") + name + "' must be " + (norm ? "given" : "null") + " when apply_norm is " +
             (norm ? "true" : "false");
  if (norm && c.attr_is_null("eps")) return "attribute 'eps' is required when apply_norm is true";
  const bool plan = c.tensor("chunk_metadata") != nullptr;
  const bool any_legacy = c.tensor("block_table") || c.tensor("cu_q_lens") || c.tensor("context_kv_lens");
  if (plan && any_legacy) return "input 'chunk_metadata' excludes 'block_table', 'cu_q_lens' and 'context_kv_lens'";
  if (!plan && c.tensor("num_chunks")) return "input 'num_chunks' is only meaningful with 'chunk_metadata'";
  if (!plan && (!c.tensor("block_table") || !c.tensor("context_kv_lens")))
    return "inputs 'block_table' and 'context_kv_lens' are required unless 'chunk_metadata' is given";
  return "";
}

}  // namespace

void declare_position_ops(std::vector<OpSchema> &ops) {
  ops.push_back({"apply_rope", "position",
                 "Rotate-half RoPE on q and k with per-token cos/sin rows; partial rope rotates the trailing Dr "
                 "channels. fp32 math, one rounding.",
                 {{"q", "float", "[_, _, Dh] | [_, _, _, Dh]"},
                  {"k", "=q", "[_, _, Dh] | [_, _, _, Dh]"},
                  {"cos", "fp32|=q", "[_, Dr] | [_, _, Dr]"},
                  {"sin", "=cos", "[_, Dr] | [_, _, Dr]"}},
                 {{"q_out", "=q", "[_, _, Dh] | [_, _, _, Dh]"}, {"k_out", "=q", "[_, _, Dh] | [_, _, _, Dh]"}},
                 {{"head_first", AttrKind::Bool, "", "",
                   "true: heads before tokens ([N, T, D] / [B, N, S, D]); false: token-major"},
                  {"interleaved", AttrKind::Bool, "false", "", "GPT-J pairs (2k, 2k+1) instead of rotate-half"}},
                 {rope_table_rule,
                  [](const OpCall &c) -> std::string {
                    const mojo_tensor *q = c.tensor("q"), *k = c.tensor("k");
                    for (const char *name : {"q_out", "k_out"}) {
                      const mojo_tensor *o = c.tensor(name), *ref = name[0] == 'q' ? q : k;
                      if (o->ndim != ref->ndim) return std::string("output '") + name + "' must have the shape of its input";
                      for (int d = 0; d < o->ndim; ++d)
                        if (o->shape[d] != ref->shape[d])
                          return std::string("output '") + name + "' has shape " + shape_string(*o) +
                                 ", expected " + shape_string(*ref);
                    }
                    return "";
                  }}});
  ops.push_back({"rotary_embedding", "position",
                 "cos/sin rows for the tokens of this call: inv_freq[k] = rope_theta^(-2k/rope_dim) (fp32), "
                 "ang = p * inv_freq, rows [cos(ang) || cos(ang)] and [sin(ang) || sin(ang)] times "
                 "attention_scaling. Modes: varlen (cu_q_lens [+ total_seq_lens]: token i of sequence b has "
                 "p = total_seq_lens[b] - q_len_b + i, or i; rows >= cu_q_lens[B] are not written), explicit "
                 "position_ids (shape x.shape[:-1]), padded (neither: x [B, S, *], output [S, rope_dim], p = s). "
                 "x only supplies shapes. INVALID_ARGUMENT for bad cu_q_lens, total_seq_lens < q_len, negative "
                 "positions or positions >= init_max_length.",
                 {{"x", "any", "[..., _]", false, false, "shape only; contents are not read"},
                  {"cu_q_lens", "int32", "[B+1]", true, false, "varlen mode"},
                  {"total_seq_lens", "int32", "[B]", true, false, "varlen mode: context + new tokens"},
                  {"position_ids", "int32", "[...]", true, false, "explicit positions, shape x.shape[:-1]"}},
                 {{"cos", "fp32", "[..., rope_dim] | [_, rope_dim]"}, {"sin", "fp32", "[..., rope_dim] | [_, rope_dim]"}},
                 {{"rope_theta", AttrKind::Float, "", "", "base"},
                  {"rope_dim", AttrKind::Int, "", "", "rotated channels Dr (even)"},
                  {"attention_scaling", AttrKind::Float, "1.0", "", "multiplies cos and sin"},
                  {"init_max_length", AttrKind::Int, "null", "",
                   "precomputed table length; positions must be below it (results identical)"}},
                 {rotary_mode_rule}});
  ops.push_back({"norm_rope", "position",
                 "QK-norm then RoPE (Qwen3): qn = RMSNorm over Dh of every (token, head) of q with q_weight, rounded "
                 "to q's dtype (part of the contract); kn likewise with k_weight; then apply_rope(qn, kn, cos, sin, "
                 "head_first = false).",
                 {{"q", "float", "[Tok, Nq, Dh]"},
                  {"k", "=q", "[Tok, Nk, Dh]"},
                  {"q_weight", "float", "[Dh]"},
                  {"k_weight", "float", "[Dh]"},
                  {"cos", "fp32|=q", "[Tok, Dr]"},
                  {"sin", "=cos", "[Tok, Dr]"}},
                 {{"q_out", "=q", "[Tok, Nq, Dh]"}, {"k_out", "=q", "[Tok, Nk, Dh]"}},
                 {{"eps", AttrKind::Float, "", "", "RMSNorm epsilon (1e-6 for Qwen3; no default)"},
                  {"interleaved", AttrKind::Bool, "false", "", "GPT-J pairs (2k, 2k+1) instead of rotate-half"}},
                 {head_rope_rule}});
  ops.push_back({"norm_rope_store_kv", "position",
                 "norm_rope (or apply_rope alone when apply_norm = false) on q and k, then the rotated keys and the "
                 "unchanged v are stored into the paged caches exactly as store_paged_kv_cache(k_out, v, ...) "
                 "would (same addressing inputs, same skips and checks). Returns q_out, and k_out when given. "
                 "Nothing is written when the store addressing is invalid.",
                 {{"q", "float", "[Tok, Nq, Dh]"},
                  {"k", "=q", "[Tok, Nk, Dh]"},
                  {"v", "=q", "[Tok, Nk, Dh]"},
                  {"q_weight", "float", "[Dh]", true},
                  {"k_weight", "float", "[Dh]", true},
                  {"cos", "fp32|=q", "[Tok, Dr]"},
                  {"sin", "=cos", "[Tok, Dr]"},
                  {"key_cache", "=q", "[NB, Nk, BS, Dh]", false, true, "paged key cache (mutated)"},
                  {"value_cache", "=q", "[NB, Nk, BS, Dh]", false, true, "paged value cache (mutated)"},
                  {"block_table", "int32", "[B, MB]", true, false, "legacy path"},
                  {"cu_q_lens", "int32", "[B+1]", true, false, "legacy path; null = decode (token b = sequence b)"},
                  {"context_kv_lens", "int32", "[B]", true, false, "legacy path; -1 = padding row"},
                  {"chunk_metadata", "int32", "[C, 4]", true, false, "plan path (paged_kv_store_plan)"},
                  {"num_chunks", "int32", "[1]", true, false, "plan path: rows of chunk_metadata to use"}},
                 {{"q_out", "=q", "[Tok, Nq, Dh]"}, {"k_out", "=q", "[Tok, Nk, Dh]", true}},
                 {{"eps", AttrKind::Float, "null", "", "RMSNorm epsilon, required when apply_norm"},
                  {"interleaved", AttrKind::Bool, "false", "", "GPT-J pairs (2k, 2k+1) instead of rotate-half"},
                  {"apply_norm", AttrKind::Bool, "true", "", "false: rope_store_kv (no QK-norm)"}},
                 {head_rope_rule, store_kv_rule}});
}

}  // namespace mojo::core
