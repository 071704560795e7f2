// apply_rope: kernels/rope.py's rope_kernel, one launch for q and k, ROWS head vectors per program.
#include <climits>

#include "../choose.h"
#include "../ops.h"

namespace mojo::ttx {
namespace {

bool attr_bool(const mojo_attr *attrs, size_t n, const char *name) {
  const mojo_attr *a = common::find_attr(attrs, n, name);
  return a && a->count && a->i != 0;
}

// A tensor's head vectors as (d0, d1, d2) leading dims: a 3-D [A0, A1, Dh] is [1, A0, A1, Dh].
struct Leading {
  int64_t d0, d1, d2;
  int64_t rows() const { return d0 * d1 * d2; }
};
Leading leading_dims(const mojo_tensor *x) {
  const bool four = x->ndim == 4;
  return {four ? x->shape[0] : 1, x->shape[four ? 1 : 0], x->shape[four ? 2 : 1]};
}

// One launch: the first cdiv(q rows, ROWS) programs rotate q, the rest k.
std::string apply_rope(const Call &c) {
  const mojo_tensor *q = c.input(0), *k = c.input(1), *cos = c.input(2), *sin = c.input(3);
  const int tile = rope_tile_for(last_dim(cos));
  const Variant &v = c.variants[tile];
  const Leading lq = leading_dims(q), lk = leading_dims(k);
  const int64_t rows = kRopeTiles[tile].rows;
  const int64_t programs = (lq.rows() + rows - 1) / rows + (lk.rows() + rows - 1) / rows;
  const int32_t tok_axis = (attr_bool(c.attrs, c.n_attrs, "head_first") ? 1 : 0) + 1;
  const int32_t table_kind = common::dtype_id(cos->dtype) == common::dtype_id(q->dtype) ? 1 : 2;
  ArgPack a;
  a.ptr(data_of(q));
  a.ptr(data_of(c.output(0)));
  a.ptr(data_of(k));
  a.ptr(data_of(c.output(1)));
  a.ptr(table_kind == 1 ? data_of(cos) : data_of(q));
  a.ptr(table_kind == 2 ? data_of(cos) : data_of(q));
  a.ptr(table_kind == 1 ? data_of(sin) : data_of(q));
  a.ptr(table_kind == 2 ? data_of(sin) : data_of(q));
  a.i64(lq.d1);
  a.i64(lq.d2);
  a.i64(lq.rows());
  a.i64(lk.d1);
  a.i64(lk.d2);
  a.i64(lk.rows());
  a.i32(int32_t(last_dim(q)));
  a.i32(int32_t(last_dim(cos)));
  a.i32(tok_axis);
  a.i64(cos->ndim == 3 ? cos->shape[1] : 0);
  a.i32(table_kind);
  a.i32(attr_bool(c.attrs, c.n_attrs, "interleaved") ? 1 : 0);
  return launch_grid(*c.driver, v, programs, 1, a, c.stream);
}

std::vector<VariantRef> rope_variants(const char *dtype) {
  std::vector<std::string> keys;
  for (int t = 0; t < kRopeTileCount; ++t) keys.push_back(rope_key(dtype, t));
  return of_kernel("rope_kernel", keys);
}

std::string accept_rope(const mojo_op_sig &sig, int *code) {
  *code = MOJO_DECLINE_SHAPE;
  if (rope_tile_for(last_dim(sig.inputs[2])) < 0)
    return "ttx apply_rope takes a rope dim of at most " + std::to_string(2 * kRopeTiles[kRopeTileCount - 1].half);
  if (last_dim(sig.inputs[0]) > INT32_MAX) return "ttx apply_rope takes head dims below 2^31";
  return "";
}

}  // namespace

std::vector<OpDef> rope_ops() {
  return {{{"apply_rope", kFloatMask, MOJO_KERNEL_GRAPH_SAFE}, rope_variants, apply_rope, accept_rope}};
}

}  // namespace mojo::ttx
