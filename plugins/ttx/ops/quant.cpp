// dynamic_quant: kernels/quant.py's dynamic_quant_kernel, one program per row; tile and alignment class
// chosen as for the norms (choose.h).
#include "../choose.h"
#include "../ops.h"

namespace mojo::ttx {
namespace {

std::string dynamic_quant(const Call &c) {
  const mojo_tensor *x = c.input(0), *smooth = c.input(1), *q = c.output(0), *scale = c.output(1);
  const int64_t cols = last_dim(x);
  if (cols == 0) return "";
  const int64_t rows = common::numel(*x) / cols;
  bool aligned = cols % 16 == 0;
  for (const mojo_tensor *t : {x, smooth, q, scale})
    if (t) aligned = aligned && aligned16(data_of(t));
  const int32_t s_kind = param_kind(smooth, x);
  ArgPack a;
  a.ptr(data_of(x));
  push_param(a, s_kind, smooth, x);
  a.ptr(data_of(q));
  a.ptr(data_of(scale));
  a.i32(int32_t(cols));
  a.i32(s_kind);
  return launch(*c.driver, c.variants[row_variant(cols, aligned)], rows, a, c.stream);
}

std::vector<VariantRef> quant_variants(const char *dtype) {
  return of_kernel("dynamic_quant_kernel", row_keys(dtype));
}

std::string accept_dynamic_quant(const mojo_op_sig &sig, int *code) {
  *code = MOJO_DECLINE_ATTR;
  const mojo_attr *qd = common::find_attr(sig.attrs, sig.n_attrs, "quant_dtype");
  const std::string qname = qd && qd->count && qd->s ? qd->s : "";
  if (qname != "int8") return "quant_dtype " + qname + " (dynamic_quant is int8 only)";
  const mojo_tensor *x = sig.inputs[0], *smooth = sig.n_inputs > 1 ? sig.inputs[1] : nullptr;
  *code = MOJO_DECLINE_DTYPE;
  if (smooth && common::dtype_id(smooth->dtype) != common::dtype_id(x->dtype) && common::dtype_id(smooth->dtype) != MOJO_DT_FP32)
    return "ttx takes inv_smooth_scale in fp32 or x's dtype";
  *code = MOJO_DECLINE_SHAPE;
  return row_kernel_limits(x);
}

}  // namespace

std::vector<OpDef> quant_ops() {
  return {{{"dynamic_quant", kFloatMask, MOJO_KERNEL_GRAPH_SAFE}, quant_variants, dynamic_quant,
           accept_dynamic_quant}};
}

}  // namespace mojo::ttx
