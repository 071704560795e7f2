// Conformance cases for the activation ops (spec/activation.md): MLP intermediate sizes (odd ones too), every
// float dtype, the gelu forms, swiglu limits, and the quantizing fusions (int8 / fp8, smoothing, per-expert
// smoothing, both concatenation orders).
#include "case_helpers.h"

namespace mojo::conformance {

using namespace helpers;

void add_activation_cases(CaseList &cases, const CaseOptions &opt) {
  const std::vector<std::vector<int64_t>> shapes =
      opt.quick ? std::vector<std::vector<int64_t>>{{5, 1408}} : std::vector<std::vector<int64_t>>{{5, 1408}, {3, 11008}, {2, 3, 999}, {1, 14336}, {0, 64}};
  for (const auto &shape : shapes) {
    const int64_t N = shape.back();
    std::vector<int64_t> scale_shape(shape.begin(), shape.end() - 1);
    scale_shape.push_back(1);
    std::vector<int64_t> cat_shape = shape;
    cat_shape.back() = 2 * N;
    for (int dt : kFloat) {
      const std::string base = dt_name(dt) + " " + shape_label(shape);
      auto x = [&](const char *n) { return tensor(n, dt, shape, Fill::normal(2.0)); };
      OpCase c;
      c.op = "silu";
      c.label = base;
      c.inputs = {x("x")};
      c.outputs = {tensor("out", dt, shape)};
      c.tolerances = {float_tol(dt)};
      cases.push_back(c);
      for (const char *approx : {"none", "tanh"}) {
        c.op = "gelu";
        c.label = base + " " + approx;
        c.attrs = tools::Attrs().s("approximate", approx);
        cases.push_back(c);
      }
      for (double limit : {0.0, 7.0}) {
        c = OpCase();
        c.op = "swiglu";
        c.label = base + " limit=" + std::to_string(int(limit));
        c.attrs = tools::Attrs().f("swiglu_limit", limit);
        c.inputs = {tensor("gate", dt, shape, Fill::normal(4.0)), tensor("up", dt, shape, Fill::normal(4.0))};
        c.outputs = {tensor("out", dt, shape)};
        c.tolerances = {float_tol(dt)};
        cases.push_back(c);
      }

      for (int qd : kQuant) {
        if (opt.quick && dt == MOJO_DT_FP16) continue;
        const std::string ql = base + " " + dt_name(qd);
        const tools::Attrs qa = tools::Attrs().dtype("quant_dtype", dt_name(qd));
        auto outs = [&]() {
          return std::vector<CaseTensor>{tensor("q", qd, shape), tensor("scale", MOJO_DT_FP32, scale_shape)};
        };
        for (bool smooth : {false, true}) {
          auto sm = smooth ? tensor("smooth_scale", MOJO_DT_FP32, {N}, Fill::uniform(0.5, 2.0)) : absent("smooth_scale");
          c = OpCase();
          c.op = "silu_quant";
          c.label = ql + (smooth ? " smooth" : "");
          c.attrs = qa;
          c.inputs = {x("x"), sm, absent("group_index")};
          c.outputs = outs();
          c.tolerances = {code_tol(qd), scale_tol()};
          cases.push_back(c);
          for (const char *approx : {"none", "tanh"}) {
            c.op = "gelu_quant";
            c.label = ql + (smooth ? " smooth " : " ") + approx;
            c.attrs = tools::Attrs(qa).s("approximate", approx);
            cases.push_back(c);
          }
          c = OpCase();
          c.op = "swiglu_quant";
          c.label = ql + " split" + (smooth ? " smooth" : "") + " limit=7";
          c.attrs = tools::Attrs(qa).f("swiglu_limit", 7.0);
          c.inputs = {x("x"), x("up"), sm, absent("group_index")};
          c.outputs = outs();
          c.tolerances = {code_tol(qd), scale_tol()};
          cases.push_back(c);
          for (bool gate_first : {true, false}) {
            c.label = ql + " concat" + (gate_first ? " gate-first" : " up-first") + (smooth ? " smooth" : "");
            c.attrs = tools::Attrs(qa).b("gate_first", gate_first);
            c.inputs = {tensor("x", dt, cat_shape, Fill::normal(2.0)), absent("up"), sm, absent("group_index")};
            cases.push_back(c);
          }
        }
      }
    }
  }

  // Per-expert smoothing over MoE-dispatched rows (E = 8 experts, rows in expert order, one expert unused),
  // and an expert id out of range.
  const int64_t T = 12, N = 768, E = 8;
  const std::vector<int64_t> experts = {0, 0, 1, 2, 2, 2, 4, 5, 5, 6, 7, 7};
  for (int dt : kFloat) {
    for (int qd : kQuant) {
      OpCase c;
      c.op = "silu_quant";
      c.label = dt_name(dt) + " " + dt_name(qd) + " per-expert smooth T=12 E=8";
      c.attrs = tools::Attrs().dtype("quant_dtype", dt_name(qd));
      c.inputs = {tensor("x", dt, {T, N}, Fill::normal(2.0)),
                  tensor("smooth_scale", MOJO_DT_FP32, {E, N}, Fill::uniform(0.25, 4.0)), ints("group_index", {T}, experts)};
      c.outputs = {tensor("q", qd, {T, N}), tensor("scale", MOJO_DT_FP32, {T, 1})};
      c.tolerances = {code_tol(qd), scale_tol()};
      cases.push_back(c);
      c.op = "swiglu_quant";
      c.inputs = {tensor("x", dt, {T, 2 * N}, Fill::normal(2.0)), absent("up"),
                  tensor("smooth_scale", MOJO_DT_FP32, {E, N}, Fill::uniform(0.25, 4.0)), ints("group_index", {T}, experts)};
      cases.push_back(c);
      if (qd == MOJO_DT_INT8) {
        std::vector<int64_t> bad = experts;
        bad[5] = E;
        c.label = dt_name(dt) + " group_index out of range";
        c.inputs[3] = ints("group_index", {T}, bad);
        c.expect = MOJO_STATUS_INVALID_ARGUMENT;
        cases.push_back(c);
        c.op = "gelu_quant";
        c.inputs = {tensor("x", dt, {T, N}, Fill::normal(2.0)), tensor("smooth_scale", MOJO_DT_FP32, {E, N}),
                    ints("group_index", {T}, std::vector<int64_t>(size_t(T), -1))};
        c.label = dt_name(dt) + " group_index negative";
        cases.push_back(c);
      }
    }
  }
}

}  // namespace mojo::conformance
