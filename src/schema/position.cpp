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
}

}  // namespace mojo::core
