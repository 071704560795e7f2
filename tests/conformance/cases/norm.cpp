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
    for (const auto &cb : combos) {
      for (const char *pos : {"pre", "post"}) {
        for (bool ln : {false, true}) {
          if (opt.quick && (ln || pos[1] == 'o')) continue;
          const bool fp8 = cb[2] == MOJO_DT_FP8_E4M3FN;
          OpCase c = make("residual_add_norm_cast",
                          dt_name(cb[0]) + "+" + dt_name(cb[1]) + "->" + dt_name(cb[2]) + " x=" + shape_label(s.x) + " " +
                              pos + (ln ? " layer" : " rms"),
                          tools::Attrs()
                              .s("norm_type", ln ? "layer" : "rms")
                              .s("norm_pos", pos)
                              .dtype("out_dtype", dt_name(cb[2]))
                              .f("out_scale", fp8 ? 0.015625 : 1.0));
          c.inputs = {tensor("x", cb[0], s.x), tensor("residual", cb[1], s.x),
                      tensor("weight", MOJO_DT_FP32, {D}, Fill::uniform(0.5, 1.5)),
                      ln ? tensor("bias", MOJO_DT_FP32, {D}, Fill::uniform(-0.5, 0.5)) : absent("bias")};
          c.outputs = {tensor("out", cb[2], s.x), tensor("residual_out", cb[1], s.x)};
          c.tolerances = {fp8 ? code_tol(cb[2]) : float_tol(cb[2]), float_tol(cb[1])};
          cases.push_back(c);
        }
      }
    }
  }
}

}  // namespace mojo::conformance
