// Conformance cases for the norm ops (spec/norm.md): model hidden sizes, odd sizes, every float dtype, both
// residual positions, int8 and fp8 quantization with and without smoothing.
#include "case_helpers.h"

namespace mojo::conformance {
namespace {

using namespace helpers;

struct Shape {
  std::vector<int64_t> x;
  bool quick;
};

std::vector<Shape> shapes(const CaseOptions &opt) {
  std::vector<Shape> all = {{{7, 4096}, true}, {{2, 3, 1000}, false}, {{1, 7168}, false}, {{33, 128}, true}, {{0, 256}, false}};
  std::vector<Shape> out;
  for (const auto &s : all)
    if (!opt.quick || s.quick) out.push_back(s);
  return out;
}

OpCase make(const std::string &op, const std::string &label, tools::Attrs attrs) {
  OpCase c;
  c.op = op;
  c.label = label;
  c.attrs = std::move(attrs);
  return c;
}

// residual_add_norm_cast: x + residual (own dtypes) -> out (out_dt, fp8 with a scale); weight and bias in w_dt.
OpCase cast_case(int x_dt, int res_dt, int out_dt, int w_dt, const std::vector<int64_t> &x, const char *pos, bool ln) {
  const int64_t D = x.back();
  const bool fp8 = out_dt == MOJO_DT_FP8_E4M3FN;
  std::string label = dt_name(x_dt) + "+" + dt_name(res_dt) + "->" + dt_name(out_dt);
  if (w_dt != MOJO_DT_FP32) label += " w=" + dt_name(w_dt);
  OpCase c = make("residual_add_norm_cast", label + " x=" + shape_label(x) + " " + pos + (ln ? " layer" : " rms"),
                  tools::Attrs()
                      .s("norm_type", ln ? "layer" : "rms")
                      .s("norm_pos", pos)
                      .dtype("out_dtype", dt_name(out_dt))
                      .f("out_scale", fp8 ? 0.015625 : 1.0));
  c.inputs = {tensor("x", x_dt, x), tensor("residual", res_dt, x), tensor("weight", w_dt, {D}, Fill::uniform(0.5, 1.5)),
              ln ? tensor("bias", w_dt, {D}, Fill::uniform(-0.5, 0.5)) : absent("bias")};
  c.outputs = {tensor("out", out_dt, x), tensor("residual_out", res_dt, x)};
  c.tolerances = {fp8 ? code_tol(out_dt) : float_tol(out_dt), float_tol(res_dt)};
  return c;
}

}  // namespace

void add_norm_cases(CaseList &cases, const CaseOptions &opt) {
  for (const auto &s : shapes(opt)) {
    const int64_t D = s.x.back();
    const std::vector<int64_t> row_shape(s.x.begin(), s.x.end() - 1);
    std::vector<int64_t> scale_shape = row_shape;
    scale_shape.push_back(1);
    for (int dt : kFloat) {
      if (opt.quick && dt == MOJO_DT_FP16) continue;
      const std::string base = dt_name(dt) + " x=" + shape_label(s.x);
      const int wdt = dt == MOJO_DT_BF16 ? MOJO_DT_FP32 : dt;  // both weight dtypes the schema takes
      auto w = [&](const char *n) { return tensor(n, wdt, {D}, Fill::uniform(0.5, 1.5)); };
      auto x = [&](const char *n) { return tensor(n, dt, s.x, Fill::normal(2.0)); };

      OpCase c = make("rms_norm", base, tools::Attrs().f("eps", 1e-6));
      c.inputs = {x("x"), w("weight")};
      c.outputs = {tensor("out", dt, s.x)};
      c.tolerances = {float_tol(dt)};
      cases.push_back(c);

      for (bool affine : {true, false}) {
        c = make("layer_norm", base + (affine ? "" : " no-affine"), tools::Attrs().b("elementwise_affine", affine));
        c.inputs = {x("x"), affine ? w("weight") : absent("weight"), affine ? w("bias") : absent("bias")};
        c.outputs = {tensor("out", dt, s.x)};
        c.tolerances = {float_tol(dt)};
        cases.push_back(c);
      }

      for (const char *pos : {"pre", "post"}) {
        for (bool ln : {false, true}) {
          c = make(ln ? "residual_add_layer_norm" : "residual_add_rms_norm", base + " " + pos,
                   tools::Attrs().s("norm_pos", pos));
          c.inputs = {x("x"), x("residual"), w("weight")};
          if (ln) c.inputs.push_back(w("bias"));
          c.outputs = {tensor("out", dt, s.x), tensor("residual_out", dt, s.x)};
          c.tolerances = {float_tol(dt)};
          cases.push_back(c);
        }
        // Null residual: s = x.
        c = make("residual_add_rms_norm", base + " " + pos + " no-residual", tools::Attrs().s("norm_pos", pos));
        c.inputs = {x("x"), absent("residual"), w("weight")};
        c.outputs = {tensor("out", dt, s.x), tensor("residual_out", dt, s.x)};
        c.tolerances = {float_tol(dt)};
        if (!opt.quick) cases.push_back(c);
      }

      for (int qd : kQuant) {
        for (bool smooth : {false, true}) {
          const std::string ql = base + " " + dt_name(qd) + (smooth ? " smooth" : "");
          const tools::Attrs qa = tools::Attrs().dtype("quant_dtype", dt_name(qd)).f("eps", 1e-6);
          auto sm = [&]() { return smooth ? tensor("smooth_scale", MOJO_DT_FP32, {D}, Fill::uniform(0.5, 2.0)) : absent("smooth_scale"); };
          c = make("rms_norm_quant", ql, qa);
          c.inputs = {x("x"), w("weight"), sm()};
          c.outputs = {tensor("q", qd, s.x), tensor("scale", MOJO_DT_FP32, scale_shape)};
          c.tolerances = {code_tol(qd), scale_tol()};
          cases.push_back(c);

          c = make("layer_norm_quant", ql, qa);
          c.inputs = {x("x"), w("weight"), w("bias"), sm()};
          c.outputs = {tensor("q", qd, s.x), tensor("scale", MOJO_DT_FP32, scale_shape)};
          c.tolerances = {code_tol(qd), scale_tol()};
          cases.push_back(c);

          for (const char *pos : {"pre", "post"}) {
            if (opt.quick && smooth) continue;
            for (bool ln : {false, true}) {
              c = make(ln ? "residual_add_layer_norm_quant" : "residual_add_rms_norm_quant", ql + " " + pos,
                       tools::Attrs(qa).s("norm_pos", pos));
              c.inputs = {x("x"), x("residual"), w("weight")};
              if (ln) c.inputs.push_back(w("bias"));
              c.inputs.push_back(sm());
              c.outputs = {tensor("q", qd, s.x), tensor("residual_out", dt, s.x),
                           tensor("scale", MOJO_DT_FP32, scale_shape)};
              c.tolerances = {code_tol(qd), float_tol(dt), scale_tol()};
              cases.push_back(c);
            }
          }
        }
      }
      // Asymmetric int8 is rejected (AMB-QSYM).
      c = make("rms_norm_quant", base + " symmetric=false", tools::Attrs().b("symmetric", false));
      c.inputs = {x("x"), w("weight"), absent("smooth_scale")};
      c.outputs = {tensor("q", MOJO_DT_INT8, s.x), tensor("scale", MOJO_DT_FP32, scale_shape)};
      c.expect = MOJO_STATUS_UNSUPPORTED;
      if (!opt.quick) cases.push_back(c);
    }

    // Mixed-precision residual streams: (x dtype, residual dtype, out dtype).
    const int combos[][3] = {{MOJO_DT_BF16, MOJO_DT_FP32, MOJO_DT_BF16},
                             {MOJO_DT_BF16, MOJO_DT_FP32, MOJO_DT_FP8_E4M3FN},
                             {MOJO_DT_FP16, MOJO_DT_FP16, MOJO_DT_FP8_E4M3FN},
                             {MOJO_DT_FP32, MOJO_DT_BF16, MOJO_DT_FP16}};
    for (const auto &cb : combos)
      for (const char *pos : {"pre", "post"})
        for (bool ln : {false, true})
          if (!opt.quick || (!ln && pos[1] == 'r')) cases.push_back(cast_case(cb[0], cb[1], cb[2], MOJO_DT_FP32, s.x, pos, ln));
  }

  // rms_norm_quant over many rows, each width filling the cuda kernel's block exactly (its lean Norm form).
  // Row counts are not multiples of 4, for a kernel that takes several rows per block.
  for (const auto &[dt, cols] : {std::pair<int, int64_t>{MOJO_DT_BF16, 512}, {MOJO_DT_FP16, 1024}, {MOJO_DT_FP32, 256}}) {
    for (int qd : kQuant) {
      for (bool smooth : {false, true}) {
        const int64_t rows = smooth ? 4098 : 4099;
        if (opt.quick && (dt != MOJO_DT_BF16 || smooth)) continue;
        const std::vector<int64_t> x = {rows, cols};
        OpCase c = make("rms_norm_quant", dt_name(dt) + " x=" + shape_label(x) + " " + dt_name(qd) +
                                              (smooth ? " smooth" : "") + " many rows",
                        tools::Attrs().dtype("quant_dtype", dt_name(qd)).f("eps", 1e-6));
        c.inputs = {tensor("x", dt, x, Fill::normal(2.0)), tensor("weight", dt, {cols}, Fill::uniform(0.5, 1.5)),
                    smooth ? tensor("smooth_scale", MOJO_DT_FP32, {cols}, Fill::uniform(0.5, 2.0))
                           : absent("smooth_scale")};
        c.outputs = {tensor("q", qd, x), tensor("scale", MOJO_DT_FP32, {rows, 1})};
        c.tolerances = {code_tol(qd), scale_tol()};
        cases.push_back(c);
      }
    }
  }

  // residual_add_norm_cast shapes and dtypes for the device kernels' other paths: many rows, long rows (a multiple
  // of 16 bytes or not), half-precision weight and bias, fp32 out, and a row past the cuda kernel's 16384.
  if (opt.quick) return;
  struct Extra {
    std::vector<int64_t> x;
    int x_dt, res_dt, out_dt, w_dt;
  };
  const Extra extras[] = {{{1100, 512}, MOJO_DT_BF16, MOJO_DT_BF16, MOJO_DT_FP32, MOJO_DT_BF16},
                          {{2, 16384}, MOJO_DT_FP16, MOJO_DT_FP32, MOJO_DT_BF16, MOJO_DT_FP16},
                          {{3, 12345}, MOJO_DT_BF16, MOJO_DT_FP32, MOJO_DT_FP8_E4M3FN, MOJO_DT_FP32},
                          {{2, 16392}, MOJO_DT_BF16, MOJO_DT_BF16, MOJO_DT_BF16, MOJO_DT_FP32}};
  for (const auto &e : extras)
    for (const char *pos : {"pre", "post"})
      for (bool ln : {false, true}) cases.push_back(cast_case(e.x_dt, e.res_dt, e.out_dt, e.w_dt, e.x, pos, ln));
}

}  // namespace mojo::conformance
