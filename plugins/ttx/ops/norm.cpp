// rms_norm, layer_norm and the residual-add forms: all four run kernels/norm.py's norm_kernel, told which
// op it is by runtime flags; the tile comes from the row length, the alignment class from the pointers.
#include "../choose.h"
#include "../ops.h"

namespace mojo::ttx {
namespace {

struct NormForm {
  bool layer;
  bool residual;  // the residual-add forms: inputs x, residual?, ...; outputs out, residual_out
};

std::string run_norm(const Call &c, NormForm form) {
  const mojo_tensor *x = c.input(0);
  size_t next = 1;
  const mojo_tensor *res = form.residual ? c.input(next++) : nullptr;
  const mojo_tensor *w = c.input(next++);
  const mojo_tensor *b = form.layer ? c.input(next++) : nullptr;
  const mojo_tensor *out = c.output(0), *res_out = form.residual ? c.output(1) : nullptr;
  const int64_t cols = last_dim(x);
  if (cols == 0) return "";
  const int64_t rows = common::numel(*x) / cols;
  bool aligned = cols % 16 == 0;
  for (const mojo_tensor *t : {x, res, w, b, out, res_out})
    if (t) aligned = aligned && aligned16(data_of(t));
  const Variant &v = c.variants[row_variant(cols, aligned)];
  // Absent tensors are passed as x: the kernel masks every access to them off.
  auto or_x = [&](const mojo_tensor *t) { return t ? data_of(t) : data_of(x); };
  const int32_t w_kind = param_kind(w, x), b_kind = param_kind(b, x);
  ArgPack a;
  a.ptr(data_of(x));
  a.ptr(or_x(res));
  push_param(a, w_kind, w, x);
  push_param(a, b_kind, b, x);
  a.ptr(data_of(out));
  a.ptr(res_out ? data_of(res_out) : data_of(out));
  a.i32(int32_t(cols));
  a.f32(float(c.f("eps")));
  a.f32(form.layer ? 1.0f : 0.0f);
  a.i32(w_kind);
  a.i32(b_kind);
  a.i32(res ? 1 : 0);
  a.i32(res_out == nullptr ? 0 : c.s("norm_pos") == "post" ? 2 : 1);
  return launch(*c.driver, v, rows, a, c.stream);
}

std::string rms_norm(const Call &c) { return run_norm(c, {false, false}); }
std::string layer_norm(const Call &c) { return run_norm(c, {true, false}); }
std::string residual_add_rms_norm(const Call &c) { return run_norm(c, {false, true}); }
std::string residual_add_layer_norm(const Call &c) { return run_norm(c, {true, true}); }

std::vector<VariantRef> norm_variants(const char *dtype) { return of_kernel("norm_kernel", row_keys(dtype)); }

std::string accept_norm(const mojo_op_sig &sig, int *code) {
  *code = MOJO_DECLINE_SHAPE;
  return row_kernel_limits(sig.inputs[0]);
}

}  // namespace

std::vector<OpDef> norm_ops() {
  const uint32_t flags = MOJO_KERNEL_GRAPH_SAFE;
  return {
      {{"rms_norm", kFloatMask, flags}, norm_variants, rms_norm, accept_norm},
      {{"layer_norm", kFloatMask, flags}, norm_variants, layer_norm, accept_norm},
      {{"residual_add_rms_norm", kFloatMask, flags}, norm_variants, residual_add_rms_norm, accept_norm},
      {{"residual_add_layer_norm", kFloatMask, flags}, norm_variants, residual_add_layer_norm, accept_norm},
  };
}

}  // namespace mojo::ttx
