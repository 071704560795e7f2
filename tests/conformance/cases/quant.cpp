// Conformance cases for the quant ops (spec/linear_quant.md §5-7): per-column and grouped static scales,
// dynamic per-token int8 with and without smoothing (odd K), dequant with every broadcast form.
#include "case_helpers.h"

namespace mojo::conformance {

using namespace helpers;

void add_quant_cases(CaseList &cases, const CaseOptions &opt) {
  struct Static {
    std::vector<int64_t> x, s;
  };
  std::vector<Static> statics = {{{32, 1024}, {1024}}, {{2, 4, 128}, {4, 128}}};
  if (!opt.quick) statics.insert(statics.end(), {{{57, 7338}, {7338}}, {{5, 2, 16, 32}, {16, 32}}, {{0, 64}, {64}}});
  for (const auto &s : statics) {
    for (int dt : kFloat) {
      for (int qd : kQuant) {
        OpCase c;
        c.op = "static_quant";
        c.label = dt_name(dt) + "->" + dt_name(qd) + " x=" + shape_label(s.x) + " scale=" + shape_label(s.s);
        c.attrs = tools::Attrs().dtype("quant_dtype", dt_name(qd)).ints("input_size", s.s);
        // Scales near amax/qmax of N(0, 2) data, so codes span the range and some saturate.
        const double q = qd == MOJO_DT_INT8 ? 127.0 : 448.0;
        c.inputs = {tensor("x", dt, s.x, Fill::normal(2.0)), tensor("scale", MOJO_DT_FP32, s.s, Fill::uniform(4.0 / q, 8.0 / q))};
        c.outputs = {tensor("q", qd, s.x)};
        c.tolerances = {code_tol(qd)};
        cases.push_back(c);
      }
    }
  }

  std::vector<std::vector<int64_t>> dyn = {{16, 4096}, {3, 129}};
  if (!opt.quick) dyn.insert(dyn.end(), {{257, 2047}, {1, 4097}, {2, 3, 511}, {0, 128}});
  for (const auto &shape : dyn) {
    std::vector<int64_t> scale_shape(shape.begin(), shape.end() - 1);
    scale_shape.push_back(1);
    for (int dt : kFloat) {
      for (bool smooth : {false, true}) {
        OpCase c;
        c.op = "dynamic_quant";
        c.label = dt_name(dt) + " x=" + shape_label(shape) + (smooth ? " smooth" : "");
        c.inputs = {tensor("x", dt, shape, Fill::normal(2.0)),
                    smooth ? tensor("inv_smooth_scale", MOJO_DT_FP32, {shape.back()}, Fill::uniform(0.9, 10.0))
                           : absent("inv_smooth_scale")};
        c.outputs = {tensor("q", MOJO_DT_INT8, shape), tensor("scale", MOJO_DT_FP32, scale_shape)};
        c.tolerances = {code_tol(MOJO_DT_INT8), scale_tol()};
        cases.push_back(c);
      }
    }
  }

  struct Deq {
    int qd;
    std::vector<int64_t> q, s;
    const char *what;
  };
  std::vector<Deq> deqs = {{MOJO_DT_INT8, {64, 4096}, {64, 1}, "per-row"}, {MOJO_DT_INT8, {64, 4096}, {4096}, "per-column"}};
  if (!opt.quick)
    deqs.insert(deqs.end(), {{MOJO_DT_FP8_E4M3FN, {33, 1000}, {}, "per-tensor"},
                             {MOJO_DT_INT32, {7, 384}, {7, 1}, "int32 accumulators per-row"},
                             {MOJO_DT_INT8, {3, 8, 64}, {8, 64}, "grouped"},
                             {MOJO_DT_FP8_E4M3FN, {2, 5, 128}, {2, 5, 1}, "per-token 3-D"}});
  for (const auto &d : deqs) {
    for (int odt : kFloat) {
      OpCase c;
      c.op = "dequant";
      c.label = dt_name(d.qd) + "->" + dt_name(odt) + " " + d.what + " q=" + shape_label(d.q);
      c.attrs = tools::Attrs().dtype("output_dtype", dt_name(odt));
      const double lim = d.qd == MOJO_DT_INT8 ? 127 : d.qd == MOJO_DT_FP8_E4M3FN ? 448 : 1e6;
      c.inputs = {tensor("q", d.qd, d.q, Fill::uniform(-lim, lim)), tensor("scale", MOJO_DT_FP32, d.s, Fill::uniform(1e-4, 1e-2))};
      c.outputs = {tensor("out", odt, d.q)};
      c.tolerances = {Tolerance::close(0, odt == MOJO_DT_FP32 ? 1e-6 : float_tol(odt).rtol)};
      cases.push_back(c);
    }
  }
}

}  // namespace mojo::conformance
