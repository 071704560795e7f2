// rms_norm, layer_norm and the residual-add forms: all four run kernels/norm.py's norm_kernel, told which
// op it is by runtime flags; the tile comes from the row length, the alignment class from the pointers.
#include <climits>

#include "../choose.h"
#include "../ops.h"

namespace mojo::ttx {
namespace {

struct NormForm {
  bool layer;
  bool residual;  // the residual-add forms: inputs x, residual?, ...; outputs out, residual_out
};

// 0 absent, 1 stored as x's dtype, 2 fp32 (kernels/norm.py _load_param).
int32_t param_kind(const mojo_tensor *p, const mojo_tensor *x) {
  if (p == nullptr) return 0;
  return common::dtype_id(p->dtype) == common::dtype_id(x->dtype) ? 1 : 2;
}

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
  const int tile = norm_tile_for(cols);
  const Variant &v = c.variants[2 * tile + (aligned ? 1 : 0)];
  // Absent tensors are passed as x: the kernel masks every access to them off.
  auto or_x = [&](const mojo_tensor *t) { return t ? data_of(t) : data_of(x); };
  const int32_t w_kind = param_kind(w, x), b_kind = param_kind(b, x);
  ArgPack a;
  a.ptr(data_of(x));
  a.ptr(or_x(res));
  a.ptr(w_kind == 1 ? data_of(w) : data_of(x));
  a.ptr(w_kind == 2 ? data_of(w) : data_of(x));
  a.ptr(b_kind == 1 ? data_of(b) : data_of(x));
  a.ptr(b_kind == 2 ? data_of(b) : data_of(x));
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

// Every tile, unaligned then aligned: run indexes them as 2 * tile + aligned.
std::vector<std::string> norm_keys(const char *dtype) {
  std::vector<std::string> keys;
  for (int t = 0; t < kNormTileCount; ++t)
    for (bool aligned : {false, true}) keys.push_back(norm_key(dtype, t, aligned));
  return keys;
}

// The kernel indexes rows with a 32-bit length and launches one program per row.
std::string accept_norm(const mojo_op_sig &sig, int *code) {
  const mojo_tensor *x = sig.inputs[0];
  const int64_t cols = last_dim(x);
  *code = MOJO_DECLINE_SHAPE;
  if (cols > INT32_MAX) return "ttx norms take rows of at most 2^31-1 elements";
  if (cols && common::numel(*x) / cols > INT32_MAX) return "ttx norms take at most 2^31-1 rows";
  return "";
}

}  // namespace

std::vector<OpDef> norm_ops() {
  const uint32_t flags = MOJO_KERNEL_GRAPH_SAFE;
  return {
      {{"rms_norm", kFloatMask, flags}, "norm_kernel", norm_keys, rms_norm, accept_norm},
      {{"layer_norm", kFloatMask, flags}, "norm_kernel", norm_keys, layer_norm, accept_norm},
      {{"residual_add_rms_norm", kFloatMask, flags}, "norm_kernel", norm_keys, residual_add_rms_norm, accept_norm},
      {{"residual_add_layer_norm", kFloatMask, flags}, "norm_kernel", norm_keys, residual_add_layer_norm, accept_norm},
  };
}

}  // namespace mojo::ttx
