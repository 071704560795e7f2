// Training ops (spec/training.md): forward/backward pairs whose saved tensors are explicit outputs of the
// forward and explicit inputs of the backward, so the C API needs no autograd context.
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {
namespace {

std::string presence_rule(const OpCall &c, const char *tensor, bool want, const std::string &why) {
  if ((c.tensor(tensor) != nullptr) != want)
    return std::string("'") + tensor + "' must be " + (want ? "given" : "null") + " when " + why;
  return "";
}

// ---- flash attention --------------------------------------------------------------------------------------

const std::vector<AttrSpec> kAttnAttrs = {
    {"is_causal", AttrKind::Bool, "true", "", "bottom-right causal mask per sequence; false = full attention"},
    {"local_window_size", AttrKind::Int, "null", "",
     "Wl: a query also sees the Wl previous keys (causal only; spec attention.md 6.1)"},
    {"global_window_size", AttrKind::Int, "null", "", "Wg: the first Wg keys stay visible (causal only)"},
    {"softmax_scale", AttrKind::Float, "null", "", "score scale, null = 1/sqrt(D)"},
    {"gqa_layout", AttrKind::String, "AABB", "AABB|ABAB",
     "AABB: query head h uses kv head h / (Hq/Hkv); ABAB: h % Hkv"},
    {"output_f32", AttrKind::Bool, "false", "", "the forward also returns o_f32 (unrounded output)"},
};

std::string attn_rule(const OpCall &c) {
  int64_t hq = c.dims.at("Hq"), hkv = c.dims.at("Hkv");
  if (hkv == 0 || hq % hkv != 0)
    return "input 'k' has " + std::to_string(hkv) + " heads, expected a divisor of Hq=" + std::to_string(hq);
  for (const char *w : {"local_window_size", "global_window_size"})
    if (!c.attr_is_null(w) && c.attr_int(w) < 0) return std::string("attribute '") + w + "' must be >= 0";
  return "";
}

// ---- rope -------------------------------------------------------------------------------------------------

// cos/sin rows match the tokens of `a` (3-D: [T, Dr]; 4-D: [S, Dr] or [B, S, Dr]); `b` has a's shape except
// the head axis; Dr even, in [2, Dh].
std::string rope_rule(const OpCall &c, const char *a_name, const char *b_name) {
  const mojo_tensor *a = c.tensor(a_name), *b = c.tensor(b_name), *cos = c.tensor("cos"), *sin = c.tensor("sin");
  if (b->ndim != a->ndim)
    return std::string("input '") + b_name + "' has rank " + std::to_string(b->ndim) + ", expected the rank of '" +
           a_name + "'";
  bool head_first = c.attr_bool("head_first");
  int tok_axis = a->ndim == 3 ? (head_first ? 1 : 0) : (head_first ? 2 : 1);
  int head_axis = a->ndim == 3 ? (head_first ? 0 : 1) : (head_first ? 1 : 2);
  for (int d = 0; d < a->ndim; ++d)
    if (d != head_axis && b->shape[d] != a->shape[d])
      return std::string("input '") + b_name + "' has shape " + shape_string(*b) + ", expected the shape of '" +
             a_name + "' " + shape_string(*a) + " except the head axis " + std::to_string(head_axis);
  int64_t tokens = a->shape[tok_axis], dh = a->shape[a->ndim - 1], dr = cos->shape[cos->ndim - 1];
  if (sin->ndim != cos->ndim || shape_string(*sin) != shape_string(*cos))
    return "input 'sin' has shape " + shape_string(*sin) + ", expected the shape of 'cos' " + shape_string(*cos);
  bool ok = a->ndim == 3 ? (cos->ndim == 2 && cos->shape[0] == tokens)
                         : ((cos->ndim == 2 && cos->shape[0] == tokens) ||
                            (cos->ndim == 3 && cos->shape[0] == a->shape[0] && cos->shape[1] == tokens));
  if (!ok)
    return "input 'cos' has shape " + shape_string(*cos) + ", expected [" + std::to_string(tokens) + ", Dr]" +
           (a->ndim == 4 ? " or [B, S, Dr] with B=" + std::to_string(a->shape[0]) : std::string());
  if (dr % 2 != 0 || dr > dh || dr == 0)
    return "input 'cos' has rope dim " + std::to_string(dr) + ", expected an even number in [2, Dh=" +
           std::to_string(dh) + "]";
  return "";
}

// Outputs of the rope pair have exactly the shapes of the matching inputs.
std::string same_shape_rule(const OpCall &c, const char *in, const char *out) {
  const mojo_tensor *i = c.tensor(in), *o = c.tensor(out);
  if (shape_string(*i) != shape_string(*o))
    return std::string("output '") + out + "' has shape " + shape_string(*o) + ", expected " + shape_string(*i);
  return "";
}

const AttrSpec kHeadFirst{"head_first", AttrKind::Bool, "", "",
                          "true: heads before tokens ([N, T, D] / [B, N, S, D]); false: token-major"};

// ---- cross entropy ----------------------------------------------------------------------------------------

const std::vector<AttrSpec> kCeAttrs = {
    {"ignore_index", AttrKind::Int, "-100", "", "targets equal to it contribute nothing"},
    {"lse_square_scale", AttrKind::Float, "0", "", "z-loss coefficient"},
    {"label_smoothing", AttrKind::Float, "0", "", "epsilon in [0, 1]"},
    {"reduction", AttrKind::String, "mean", "mean|sum|none", "mean divides by the summed target class weights"},
    {"softcap", AttrKind::Float, "null", "", "logits become softcap * tanh(z / softcap) when set"},
    {"return_z_loss", AttrKind::Bool, "false", "", "also return the z-loss (it is added to the loss either way)"},
    {"accum_dtype", AttrKind::DType, "null", "",
     "dtype of the dW/db accumulation buffers of fast kernels; the reference accumulates in fp64"},
};

std::string ce_rule(const OpCall &c) {
  double eps = c.attr_float("label_smoothing");
  if (!(eps >= 0.0 && eps <= 1.0)) return "attribute 'label_smoothing' is " + std::to_string(eps) + ", expected [0, 1]";
  if (!c.attr_is_null("softcap") && !(c.attr_float("softcap") > 0.0))
    return "attribute 'softcap' must be > 0 when given";
  return "";
}

// ---- gated delta rule -------------------------------------------------------------------------------------

const std::vector<AttrSpec> kGdrAttrs = {
    {"scale", AttrKind::Float, "null", "", "output scale, null = Dk^-0.5"},
    {"use_qk_l2norm", AttrKind::Bool, "", "", "L2-normalise q and k per head vector (sqrt(|x|^2 + 1e-6))"},
    {"output_final_state", AttrKind::Bool, "false", "", "the forward returns final_state"},
    {"head_first", AttrKind::Bool, "false", "", "only false (token-major) is supported"},
};

std::string gdr_rule(const OpCall &c) {
  if (c.attr_bool("head_first")) return "attribute 'head_first' must be false (only token-major layout exists)";
  int64_t hq = c.dims.at("Hq"), hk = c.dims.at("Hk");
  if (hk == 0 || hq % hk != 0)
    return "input 'k' has " + std::to_string(hk) + " heads, expected a divisor of Hq=" + std::to_string(hq);
  return "";
}

}  // namespace

void declare_training_ops(std::vector<OpSchema> &ops) {
  // flash attention
  ops.push_back({"flash_attention_fwd", "training",
                 "Varlen flash attention forward (attention.md 0.1 with the window predicate of 6.1) per sequence: "
                 "q rows cu_q_lens[b]..cu_q_lens[b+1], keys cu_total_seq_lens[b]..[b+1], bottom-right causal. "
                 "Saves lse[h, t] = natural-log logsumexp of the masked scaled scores (-inf for a row with no "
                 "visible key, whose o is 0). Padding rows are not written.",
                 {{"q", "float", "[Tq, Hq, D]"},
                  {"k", "=q", "[Tk, Hkv, D]"},
                  {"v", "=q", "[Tk, Hkv, D]"},
                  {"cu_q_lens", "int32", "[B+1]"},
                  {"cu_total_seq_lens", "int32", "[B+1]"}},
                 {{"o", "=q", "[Tq, Hq, D]"},
                  {"lse", "fp32", "[Hq, Tq]"},
                  {"o_f32", "fp32", "[Tq, Hq, D]", true, false, "given exactly when output_f32"}},
                 kAttnAttrs,
                 {attn_rule,
                  [](const OpCall &c) { return presence_rule(c, "o_f32", c.attr_bool("output_f32"), "output_f32 is set"); }},
                 true});
  ops.push_back({"flash_attention_bwd", "training",
                 "Backward of flash_attention_fwd from the saved o (or o_f32) and lse: delta = rowsum(o * do), "
                 "P = exp(scale s - lse), dS = P (do v^T - delta) scale; dq = dS k, dk = dS^T q, dv = P^T do "
                 "summed over the query heads of each kv head; fp32 math. Rows and keys outside every sequence "
                 "get zero gradient.",
                 {{"do", "float", "[Tq, Hq, D]"},
                  {"q", "=do", "[Tq, Hq, D]"},
                  {"k", "=do", "[Tk, Hkv, D]"},
                  {"v", "=do", "[Tk, Hkv, D]"},
                  {"o", "fp32|=do", "[Tq, Hq, D]", false, false, "o of the forward, or o_f32 when output_f32"},
                  {"lse", "fp32", "[Hq, Tq]"},
                  {"cu_q_lens", "int32", "[B+1]"},
                  {"cu_total_seq_lens", "int32", "[B+1]"}},
                 {{"dq", "=q", "[Tq, Hq, D]"}, {"dk", "=k", "[Tk, Hkv, D]"}, {"dv", "=v", "[Tk, Hkv, D]"}},
                 kAttnAttrs,
                 {attn_rule},
                 true});

  // rope
  ops.push_back({"rope_fwd", "training",
                 "apply_rope (position.md 2, rotate-half, trailing Dr channels rotated) as a training forward; "
                 "cos/sin are the saved tensors (inputs of rope_bwd).",
                 {{"q", "float", "[_, _, Dh] | [_, _, _, Dh]"},
                  {"k", "=q", "[_, _, Dh] | [_, _, _, Dh]"},
                  {"cos", "fp32|=q", "[_, Dr] | [_, _, Dr]"},
                  {"sin", "=cos", "[_, Dr] | [_, _, Dr]"}},
                 {{"q_rot", "=q", "[_, _, Dh] | [_, _, _, Dh]"}, {"k_rot", "=q", "[_, _, Dh] | [_, _, _, Dh]"}},
                 {kHeadFirst},
                 {[](const OpCall &c) { return rope_rule(c, "q", "k"); },
                  [](const OpCall &c) {
                    std::string m = same_shape_rule(c, "q", "q_rot");
                    return m.empty() ? same_shape_rule(c, "k", "k_rot") : m;
                  }},
                 true});
  ops.push_back({"rope_bwd", "training",
                 "Transpose of the rotation: dx1 = g1 cos + g2 sin, dx2 = g2 cos - g1 sin on the rotated "
                 "channels, the nope channels pass through. fp32 math, one rounding.",
                 {{"dq_rot", "float", "[_, _, Dh] | [_, _, _, Dh]"},
                  {"dk_rot", "=dq_rot", "[_, _, Dh] | [_, _, _, Dh]"},
                  {"cos", "fp32|=dq_rot", "[_, Dr] | [_, _, Dr]"},
                  {"sin", "=cos", "[_, Dr] | [_, _, Dr]"}},
                 {{"dq", "=dq_rot", "[_, _, Dh] | [_, _, _, Dh]"}, {"dk", "=dq_rot", "[_, _, Dh] | [_, _, _, Dh]"}},
                 {kHeadFirst},
                 {[](const OpCall &c) { return rope_rule(c, "dq_rot", "dk_rot"); },
                  [](const OpCall &c) {
                    std::string m = same_shape_rule(c, "dq_rot", "dq");
                    return m.empty() ? same_shape_rule(c, "dk_rot", "dk") : m;
                  }},
                 true});

  // swiglu
  const AttrSpec limit{"swiglu_limit", AttrKind::Float, "0", "", "clamp limit, 0 disables"};
  ops.push_back({"swiglu_fwd", "training",
                 "y = silu(gate') * up' with gate' = min(gate, limit), up' = clamp(up, -limit, limit) when "
                 "swiglu_limit > 0; gate and up are the saved tensors.",
                 {{"gate", "float", "[...]"}, {"up", "=gate", "[...]"}},
                 {{"y", "=gate", "[...]"}},
                 {limit},
                 {},
                 true});
  ops.push_back({"swiglu_bwd", "training",
                 "dgate = dy up' s (1 + gate' (1 - s)) [gate <= limit], dup = dy gate' s [|up| <= limit], "
                 "s = sigmoid(gate'); fp32 math.",
                 {{"dy", "float", "[...]"}, {"gate", "=dy", "[...]"}, {"up", "=dy", "[...]"}},
                 {{"dgate", "=dy", "[...]"}, {"dup", "=dy", "[...]"}},
                 {limit},
                 {},
                 true});

  // moe gating
  ops.push_back({"moe_gating_fwd", "training",
                 "moe_gating (moe.md 1): p = softmax(float32(x) gate_weight), top-K by descending p (ties to the "
                 "lower expert), gates renormalised over the K. Saves probs = p.",
                 {{"x", "float", "[N, H]"}, {"gate_weight", "fp32", "[H, E]"}},
                 {{"top_k_indices", "int32", "[N, top_k]"}, {"top_k_gates", "fp32", "[N, top_k]"},
                  {"probs", "fp32", "[N, E]"}},
                 {{"top_k", AttrKind::Int, "", "", "experts per token, 1 <= K <= E"}},
                 {[](const OpCall &c) -> std::string {
                   if (c.attr_int("top_k") < 1 || c.attr_int("top_k") > c.dims.at("E"))
                     return "attribute 'top_k' is " + std::to_string(c.attr_int("top_k")) + ", expected [1, E=" +
                            std::to_string(c.dims.at("E")) + "]";
                   return "";
                 }},
                 true});
  ops.push_back({"moe_gating_bwd", "training",
                 "Backward of moe_gating_fwd through the renormalisation and the softmax (the top-K choice is "
                 "constant): dx = dz gate_weight^T (dtype of x), dgate_weight = float32(x)^T dz (fp32).",
                 {{"dgates", "fp32", "[N, K]"},
                  {"x", "float", "[N, H]"},
                  {"gate_weight", "fp32", "[H, E]"},
                  {"probs", "fp32", "[N, E]"},
                  {"top_k_indices", "int32", "[N, K]"}},
                 {{"dx", "=x", "[N, H]"}, {"dgate_weight", "fp32", "[H, E]"}},
                 {},
                 {[](const OpCall &c) -> std::string {
                   if (c.dims.at("K") > c.dims.at("E"))
                     return "input 'top_k_indices' has K=" + std::to_string(c.dims.at("K")) + ", expected <= E";
                   return "";
                 }},
                 true});

  // rms norm
  ops.push_back({"rms_norm_fwd", "training",
                 "rms_norm with the saved rstd = 1/sqrt(mean(x^2) + eps) per row (fp32); y has the dtype of x.",
                 {{"x", "float", "[..., D]"}, {"weight", "fp32|=x", "[D]"}},
                 {{"y", "=x", "[..., D]"}, {"rstd", "fp32", "[...]"}},
                 {{"eps", AttrKind::Float, "", "", "added to the mean square (required)"}},
                 {},
                 true});
  ops.push_back({"rms_norm_bwd", "training",
                 "dx = rstd (a - xh mean(a xh)) with xh = x rstd, a = dy w; dw = sum over rows of dy xh in a fixed "
                 "order (deterministic), fp64 accumulation.",
                 {{"dy", "float", "[..., D]"}, {"x", "=dy", "[..., D]"}, {"weight", "fp32|=x", "[D]"},
                  {"rstd", "fp32", "[...]"}},
                 {{"dx", "=x", "[..., D]"}, {"dweight", "=weight", "[D]"}},
                 {},
                 {},
                 true});

  // fused linear cross entropy
  ops.push_back({"fused_linear_cross_entropy_fwd", "training",
                 "z = float32(x W^T + b) (optionally softcapped), lse = logsumexp(z); per valid token (target != "
                 "ignore_index) l = (1-eps) w_y (lse - z_y) + eps/V sum_c w_c (lse - z_c); reduction mean (divided "
                 "by sum of w_y over valid tokens; NaN when none), sum or none; z_loss = lse_square_scale * "
                 "mean_valid lse^2 is added to the loss (broadcast for none). Saves lse per token.",
                 {{"x", "float", "[Nt, H]"},
                  {"weight", "=x", "[V, H]"},
                  {"target", "index", "[Nt]"},
                  {"bias", "=x", "[V]", true},
                  {"ce_weight", "fp32", "[V]", true}},
                 {{"loss", "fp32", "[Nt] if reduction=none else []"},
                  {"z_loss", "fp32", "[]", true, false, "given exactly when return_z_loss"},
                  {"lse", "fp32", "[Nt]"}},
                 kCeAttrs,
                 {ce_rule,
                  [](const OpCall &c) {
                    return presence_rule(c, "z_loss", c.attr_bool("return_z_loss"), "return_z_loss is set");
                  }},
                 true});
  ops.push_back({"fused_linear_cross_entropy_bwd", "training",
                 "dz_t = grad_loss(_t) (G_t + Z_t) + grad_z_loss Z_t with G the CE gradient and Z the z-loss "
                 "gradient w.r.t. the logits (chain rule through softcap); dx = dz W, dweight = dz^T x, "
                 "dbias = sum_t dz_t, fp64 accumulation, one rounding.",
                 {{"grad_loss", "fp32", "[Nt] if reduction=none else []"},
                  {"grad_z_loss", "fp32", "[]", true},
                  {"x", "float", "[Nt, H]"},
                  {"weight", "=x", "[V, H]"},
                  {"target", "index", "[Nt]"},
                  {"bias", "=x", "[V]", true},
                  {"ce_weight", "fp32", "[V]", true},
                  {"lse", "fp32", "[Nt]"}},
                 {{"dx", "=x", "[Nt, H]"}, {"dweight", "=x", "[V, H]"},
                  {"dbias", "=x", "[V]", true, false, "given exactly when bias is"}},
                 kCeAttrs,
                 {ce_rule,
                  [](const OpCall &c) { return presence_rule(c, "dbias", c.tensor("bias") != nullptr, "bias is given"); }},
                 true});

  // silu
  ops.push_back({"silu_fwd", "training", "y = x sigmoid(x), fp32 math, one rounding; x is the saved tensor.",
                 {{"x", "float", "[...]"}},
                 {{"y", "=x", "[...]"}},
                 {},
                 {},
                 true});
  ops.push_back({"silu_bwd", "training", "dx = dy s (1 + x (1 - s)), s = sigmoid(x); fp32 math.",
                 {{"dy", "float", "[...]"}, {"x", "=dy", "[...]"}},
                 {{"dx", "=dy", "[...]"}},
                 {},
                 {},
                 true});

  // gated delta rule
  ops.push_back({"gated_delta_rule_fwd", "training",
                 "Token-recurrent gated delta rule per sequence (cu_seqlens) and kv head, fp32 state S[Dk, Dv] "
                 "from initial_state or 0: S = exp(g) S; u = beta (v - S^T k); S += k u^T; o[h] = scale S^T q[h] "
                 "for the query heads of the group (AABB). Optional L2 normalisation of q and k with 1e-6 inside "
                 "the square root. Tokens after cu_seqlens[N] are not written.",
                 {{"q", "float", "[1, T, Hq, Dk]"},
                  {"k", "=q", "[1, T, Hk, Dk]"},
                  {"v", "=q", "[1, T, Hk, Dv]"},
                  {"g", "float", "[1, T, Hk]"},
                  {"beta", "float", "[1, T, Hk]"},
                  {"cu_seqlens", "index", "[N+1]"},
                  {"initial_state", "fp32", "[N, Hk, Dk, Dv]", true}},
                 {{"o", "=q", "[1, T, Hq, Dv]"},
                  {"final_state", "fp32", "[N, Hk, Dk, Dv]", true, false, "given exactly when output_final_state"}},
                 kGdrAttrs,
                 {gdr_rule,
                  [](const OpCall &c) {
                    return presence_rule(c, "final_state", c.attr_bool("output_final_state"),
                                         "output_final_state is set");
                  }},
                 true});
  ops.push_back({"gated_delta_rule_bwd", "training",
                 "Exact gradient of gated_delta_rule_fwd (through the L2 normalisation) by reverse-time "
                 "recurrence over the recomputed fp32 states; d_final_state seeds the state gradient. Tokens "
                 "outside every sequence get zero gradient.",
                 {{"do", "float", "[1, T, Hq, Dv]"},
                  {"d_final_state", "fp32", "[N, Hk, Dk, Dv]", true},
                  {"q", "=do", "[1, T, Hq, Dk]"},
                  {"k", "=do", "[1, T, Hk, Dk]"},
                  {"v", "=do", "[1, T, Hk, Dv]"},
                  {"g", "float", "[1, T, Hk]"},
                  {"beta", "float", "[1, T, Hk]"},
                  {"cu_seqlens", "index", "[N+1]"},
                  {"initial_state", "fp32", "[N, Hk, Dk, Dv]", true}},
                 {{"dq", "=q", "[1, T, Hq, Dk]"},
                  {"dk", "=k", "[1, T, Hk, Dk]"},
                  {"dv", "=v", "[1, T, Hk, Dv]"},
                  {"dg", "=g", "[1, T, Hk]"},
                  {"dbeta", "=beta", "[1, T, Hk]"},
                  {"d_initial_state", "fp32", "[N, Hk, Dk, Dv]", true}},
                 kGdrAttrs,
                 {gdr_rule},
                 true});
}

}  // namespace mojo::core
