// apply_rope: kernels/rope.py's rope_kernel, one launch for q and one for k, one program per head vector.
#include <climits>

#include "../choose.h"
#include "../ops.h"

namespace mojo::ttx {
namespace {

bool attr_bool(const mojo_attr *attrs, size_t n, const char *name) {
  const mojo_attr *a = common::find_attr(attrs, n, name);
  return a && a->count && a->i != 0;
}

// Rotates one tensor (q or k) into its output.
std::string rope_one(const Call &c, const mojo_tensor *x, const mojo_tensor *out, const Variant &v) {
  const mojo_tensor *cos = c.input(2), *sin = c.input(3);
  const bool head_first = attr_bool(c.attrs, c.n_attrs, "head_first");
  // The leading dims as (d0, d1, d2): a 3-D [A0, A1, Dh] is [1, A0, A1, Dh].
  const bool four = x->ndim == 4;
  const int64_t d0 = four ? x->shape[0] : 1, d1 = x->shape[four ? 1 : 0], d2 = x->shape[four ? 2 : 1];
  const int32_t tok_axis = (head_first ? 1 : 0) + 1;
  const int32_t table_kind = param_kind(cos, x);
  ArgPack a;
  a.ptr(data_of(x));
  a.ptr(data_of(out));
  push_param(a, table_kind, cos, x);
  push_param(a, table_kind, sin, x);
  a.i64(d1);
  a.i64(d2);
  a.i32(int32_t(last_dim(x)));
  a.i32(int32_t(last_dim(cos)));
  a.i32(tok_axis);
  a.i64(cos->ndim == 3 ? cos->shape[1] : 0);
  a.i32(table_kind);
  a.i32(attr_bool(c.attrs, c.n_attrs, "interleaved") ? 1 : 0);
  return launch(*c.driver, v, d0 * d1 * d2, a, c.stream);
}

std::string apply_rope(const Call &c) {
  const Variant &v = c.variants[rope_half_for(last_dim(c.input(2)))];
  std::string err = rope_one(c, c.input(0), c.output(0), v);
  return err.empty() ? rope_one(c, c.input(1), c.output(1), v) : err;
}

std::vector<VariantRef> rope_variants(const char *dtype) {
  std::vector<std::string> keys;
  for (int h = 0; h < kRopeHalfCount; ++h) keys.push_back(rope_key(dtype, h));
  return of_kernel("rope_kernel", keys);
}

std::string accept_rope(const mojo_op_sig &sig, int *code) {
  *code = MOJO_DECLINE_SHAPE;
  if (rope_half_for(last_dim(sig.inputs[2])) < 0)
    return "ttx apply_rope takes a rope dim of at most " + std::to_string(2 * kRopeHalves[kRopeHalfCount - 1]);
  if (last_dim(sig.inputs[0]) > INT32_MAX) return "ttx apply_rope takes head dims below 2^31";
  return "";
}

}  // namespace

std::vector<OpDef> rope_ops() {
  return {{{"apply_rope", kFloatMask, MOJO_KERNEL_GRAPH_SAFE}, rope_variants, apply_rope, accept_rope}};
}

}  // namespace mojo::ttx
