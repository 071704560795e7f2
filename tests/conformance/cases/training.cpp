// Conformance cases for the training forward/backward pairs (spec/training.md). Backward cases take
// independent random "saved" tensors: the contract compared is the backward formula on given inputs.
#include "case_helpers.h"

namespace mojo::conformance {
namespace {

using namespace helpers;

// Gradients accumulate over many terms: a looser tolerance than one rounding.
Tolerance grad_tol(int dt) {
  return dt == MOJO_DT_FP32 ? Tolerance::close(1e-4, 1e-4)
         : dt == MOJO_DT_FP16 ? Tolerance::close(4e-3, 4e-3)
                              : Tolerance::close(3e-2, 3e-2);
}

OpCase make(const std::string &op, const std::string &label, tools::Attrs attrs, std::vector<CaseTensor> in,
            std::vector<CaseTensor> out, std::vector<Tolerance> tol) {
  OpCase c;
  c.op = op;
  c.label = label;
  c.attrs = std::move(attrs);
  c.inputs = std::move(in);
  c.outputs = std::move(out);
  c.tolerances = std::move(tol);
  return c;
}

void elementwise_cases(CaseList &cases, const CaseOptions &opt) {
  const std::vector<std::vector<int64_t>> shapes = opt.quick ? std::vector<std::vector<int64_t>>{{7, 999}}
                                                             : std::vector<std::vector<int64_t>>{{128, 128}, {7, 999}, {3, 5, 1408}};
  for (int dt : kFloat)
    for (const auto &s : shapes) {
      std::string l = dt_name(dt) + " " + shape_label(s);
      cases.push_back(make("silu_fwd", l, {}, {tensor("x", dt, s, Fill::uniform(-6, 6))}, {tensor("y", dt, s)},
                           {float_tol(dt)}));
      cases.push_back(make("silu_bwd", l, {}, {tensor("dy", dt, s), tensor("x", dt, s, Fill::uniform(-6, 6))},
                           {tensor("dx", dt, s)}, {grad_tol(dt)}));
      for (double limit : {0.0, 7.0}) {
        std::string ll = l + " limit=" + std::to_string(limit);
        auto a = tools::Attrs().f("swiglu_limit", limit);
        cases.push_back(make("swiglu_fwd", ll, a,
                             {tensor("gate", dt, s, Fill::uniform(-10, 10)), tensor("up", dt, s, Fill::uniform(-10, 10))},
                             {tensor("y", dt, s)}, {float_tol(dt)}));
        cases.push_back(make("swiglu_bwd", ll, a,
                             {tensor("dy", dt, s), tensor("gate", dt, s, Fill::uniform(-10, 10)),
                              tensor("up", dt, s, Fill::uniform(-10, 10))},
                             {tensor("dgate", dt, s), tensor("dup", dt, s)}, {grad_tol(dt), grad_tol(dt)}));
      }
    }
}

void rope_cases(CaseList &cases, const CaseOptions &opt) {
  struct Cfg {
    std::vector<int64_t> q, k;
    int64_t tokens, dr;
    bool head_first, batched_table;
  };
  std::vector<Cfg> cfgs = {{{37, 32, 128}, {37, 8, 128}, 37, 128, false, false},
                           {{16, 19, 88}, {1, 19, 88}, 19, 88, true, false},
                           {{2, 21, 4, 128}, {2, 21, 1, 128}, 21, 48, false, true},
                           {{2, 8, 13, 64}, {2, 2, 13, 64}, 13, 64, true, false}};
  if (opt.quick) cfgs.resize(2);
  for (int dt : kFloat)
    for (const Cfg &c : cfgs) {
      std::vector<int64_t> table = c.batched_table ? std::vector<int64_t>{c.q[0], c.tokens, c.dr}
                                                   : std::vector<int64_t>{c.tokens, c.dr};
      std::string l = dt_name(dt) + " q=" + shape_label(c.q) + " k=" + shape_label(c.k) + " Dr=" + std::to_string(c.dr) +
                      (c.head_first ? " head_first" : "");
      auto a = tools::Attrs().b("head_first", c.head_first);
      cases.push_back(make("rope_fwd", l, a,
                           {tensor("q", dt, c.q), tensor("k", dt, c.k), tensor("cos", MOJO_DT_FP32, table, Fill::uniform(-1, 1)),
                            tensor("sin", MOJO_DT_FP32, table, Fill::uniform(-1, 1))},
                           {tensor("q_rot", dt, c.q), tensor("k_rot", dt, c.k)}, {float_tol(dt), float_tol(dt)}));
      cases.push_back(make("rope_bwd", l, a,
                           {tensor("dq_rot", dt, c.q), tensor("dk_rot", dt, c.k),
                            tensor("cos", MOJO_DT_FP32, table, Fill::uniform(-1, 1)),
                            tensor("sin", MOJO_DT_FP32, table, Fill::uniform(-1, 1))},
                           {tensor("dq", dt, c.q), tensor("dk", dt, c.k)}, {float_tol(dt), float_tol(dt)}));
    }
}

void rms_norm_cases(CaseList &cases, const CaseOptions &opt) {
  std::vector<std::pair<int64_t, int64_t>> shapes = {{32, 1024}, {77, 489}, {1, 8}, {0, 64}};
  if (opt.quick) shapes.resize(2);
  for (int dt : kFloat)
    for (auto [rows, d] : shapes) {
      std::string l = dt_name(dt) + " rows=" + std::to_string(rows) + " D=" + std::to_string(d);
      auto a = tools::Attrs().f("eps", 1e-6);
      cases.push_back(make("rms_norm_fwd", l, a,
                           {tensor("x", dt, {rows, d}, Fill::normal(2)), tensor("weight", MOJO_DT_FP32, {d}, Fill::uniform(0.5, 1.5))},
                           {tensor("y", dt, {rows, d}), tensor("rstd", MOJO_DT_FP32, {rows})},
                           {float_tol(dt), Tolerance::close(1e-6, 1e-5)}));
      cases.push_back(make("rms_norm_bwd", l, {},
                           {tensor("dy", dt, {rows, d}), tensor("x", dt, {rows, d}),
                            tensor("weight", MOJO_DT_FP32, {d}, Fill::uniform(0.5, 1.5)),
                            tensor("rstd", MOJO_DT_FP32, {rows}, Fill::uniform(0.5, 2))},
                           {tensor("dx", dt, {rows, d}), tensor("dweight", MOJO_DT_FP32, {d})},
                           {grad_tol(dt), Tolerance::close(1e-3, 1e-4)}));
    }
}

void moe_gating_cases(CaseList &cases, const CaseOptions &opt) {
  struct Cfg {
    int64_t e, k, h, n;
  };
  std::vector<Cfg> cfgs = {{16, 4, 256, 64}, {64, 8, 128, 33}, {8, 1, 64, 0}};
  if (opt.quick) cfgs.resize(1);
  for (int dt : kFloat)
    for (const Cfg &c : cfgs) {
      std::string l = dt_name(dt) + " E=" + std::to_string(c.e) + " K=" + std::to_string(c.k) + " H=" +
                      std::to_string(c.h) + " N=" + std::to_string(c.n);
      OpCase f = make("moe_gating_fwd", l, tools::Attrs().i("top_k", c.k),
                      {tensor("x", dt, {c.n, c.h}, Fill::uniform(0, 1)),
                       tensor("gate_weight", MOJO_DT_FP32, {c.h, c.e}, Fill::normal(0.02))},
                      {tensor("top_k_indices", MOJO_DT_INT32, {c.n, c.k}), tensor("top_k_gates", MOJO_DT_FP32, {c.n, c.k}),
                       tensor("probs", MOJO_DT_FP32, {c.n, c.e})},
                      {Tolerance::close(0, 0), Tolerance::close(1e-3, 1e-3), Tolerance::close(1e-5, 1e-3)});
      f.tolerances[0].ptol = 0.999;
      cases.push_back(f);
      // Distinct experts per row: a rotation of 0..E-1.
      std::vector<int64_t> idx;
      for (int64_t r = 0; r < c.n; ++r)
        for (int64_t j = 0; j < c.k; ++j) idx.push_back((r * 3 + j) % c.e);
      OpCase b = make("moe_gating_bwd", l, {},
                      {tensor("dgates", MOJO_DT_FP32, {c.n, c.k}), tensor("x", dt, {c.n, c.h}, Fill::uniform(0, 1)),
                       tensor("gate_weight", MOJO_DT_FP32, {c.h, c.e}, Fill::normal(0.02)),
                       tensor("probs", MOJO_DT_FP32, {c.n, c.e}, Fill::uniform(0.01, 0.2)),
                       ints("top_k_indices", {c.n, c.k}, idx)},
                      {tensor("dx", dt, {c.n, c.h}), tensor("dgate_weight", MOJO_DT_FP32, {c.h, c.e})},
                      {grad_tol(dt), Tolerance::close(1e-4, 1e-3)});
      cases.push_back(b);
      if (c.n > 0 && c.k > 1 && dt == MOJO_DT_BF16) {
        idx[1] = idx[0];
        b.label += " repeated expert";
        b.inputs[4] = ints("top_k_indices", {c.n, c.k}, idx);
        b.expect = MOJO_STATUS_INVALID_ARGUMENT;
        cases.push_back(b);
      }
    }
}

void cross_entropy_cases(CaseList &cases, const CaseOptions &opt) {
  struct Cfg {
    int64_t nt, h, v;
    std::string reduction;
    double eps, lss;
    bool bias, class_weights, softcap;
  };
  std::vector<Cfg> cfgs = {{64, 128, 512, "mean", 0, 0, false, false, false},
                           {37, 64, 1000, "sum", 0.1, 1e-4, true, false, false},
                           {16, 64, 257, "none", 0.05, 1e-3, false, true, false},
                           {16, 32, 300, "mean", 0, 0, true, false, true}};
  if (opt.quick) cfgs.resize(2);
  for (int dt : kFloat)
    for (const Cfg &c : cfgs) {
      std::vector<int64_t> target;
      for (int64_t t = 0; t < c.nt; ++t) target.push_back(t % 5 == 3 ? -100 : (t * 7919) % c.v);
      const bool none = c.reduction == "none";
      std::vector<int64_t> loss_shape = none ? std::vector<int64_t>{c.nt} : std::vector<int64_t>{};
      auto a = tools::Attrs().s("reduction", c.reduction).f("label_smoothing", c.eps).f("lse_square_scale", c.lss)
                   .b("return_z_loss", c.lss > 0);
      if (c.softcap) a.f("softcap", 30.0);
      std::string l = dt_name(dt) + " Nt=" + std::to_string(c.nt) + " H=" + std::to_string(c.h) + " V=" +
                      std::to_string(c.v) + " " + c.reduction + " eps=" + std::to_string(c.eps) +
                      (c.lss > 0 ? " z-loss" : "") + (c.bias ? " bias" : "") + (c.class_weights ? " class-weights" : "") +
                      (c.softcap ? " softcap" : "");
      CaseTensor bias = c.bias ? tensor("bias", dt, {c.v}, Fill::normal(0.1)) : absent("bias");
      CaseTensor cw = c.class_weights ? tensor("ce_weight", MOJO_DT_FP32, {c.v}, Fill::uniform(0.5, 2)) : absent("ce_weight");
      std::vector<CaseTensor> common = {tensor("x", dt, {c.nt, c.h}, Fill::normal(0.5)),
                                        tensor("weight", dt, {c.v, c.h}, Fill::normal(0.1)),
                                        ints("target", {c.nt}, target, MOJO_DT_INT64), bias, cw};
      Tolerance lt = dt == MOJO_DT_FP32 ? Tolerance::close(1e-4, 1e-4) : Tolerance::close(1e-3, 1e-3);
      OpCase f = make("fused_linear_cross_entropy_fwd", l, a, common,
                      {tensor("loss", MOJO_DT_FP32, loss_shape),
                       c.lss > 0 ? tensor("z_loss", MOJO_DT_FP32, {}) : absent("z_loss"),
                       tensor("lse", MOJO_DT_FP32, {c.nt})},
                      {lt, lt, lt});
      cases.push_back(f);
      std::vector<CaseTensor> bin = {tensor("grad_loss", MOJO_DT_FP32, loss_shape, Fill::uniform(0, 1)),
                                     c.lss > 0 ? tensor("grad_z_loss", MOJO_DT_FP32, {}, Fill::uniform(0, 1))
                                               : absent("grad_z_loss")};
      bin.insert(bin.end(), common.begin(), common.end());
      bin.push_back(tensor("lse", MOJO_DT_FP32, {c.nt}, Fill::uniform(6.0, 7.0)));
      cases.push_back(make("fused_linear_cross_entropy_bwd", l, a, bin,
                           {tensor("dx", dt, {c.nt, c.h}), tensor("dweight", dt, {c.v, c.h}),
                            c.bias ? tensor("dbias", dt, {c.v}) : absent("dbias")},
                           {grad_tol(dt), grad_tol(dt), grad_tol(dt)}));
      if (dt == MOJO_DT_FP32 && c.reduction == "mean" && !c.softcap) {
        target[2] = c.v;
        f.label += " target out of range";
        f.inputs[2] = ints("target", {c.nt}, target, MOJO_DT_INT64);
        f.expect = MOJO_STATUS_INVALID_ARGUMENT;
        cases.push_back(f);
      }
    }
}

void attention_cases(CaseList &cases, const CaseOptions &opt) {
  struct Cfg {
    int64_t hq, hkv, d;
    std::vector<int64_t> q_lens, k_lens;
    int64_t pad;
    bool causal;
    int64_t wl, wg;  // -1 = null
    bool abab;
  };
  std::vector<Cfg> cfgs = {{8, 2, 128, {17, 0, 33}, {17, 0, 40}, 3, true, -1, -1, false},
                           {4, 4, 64, {20, 9}, {20, 30}, 0, true, 7, 4, true},
                           {8, 1, 256, {5, 11}, {9, 11}, 2, false, -1, -1, false},
                           {16, 2, 64, {1, 1, 1}, {37, 64, 5}, 1, true, 15, 0, false}};
  if (opt.quick) cfgs.resize(2);
  for (int dt : kFloat)
    for (const Cfg &c : cfgs) {
      std::vector<int64_t> cq = cumsum(c.q_lens), ck = cumsum(c.k_lens);
      const int64_t tq = cq.back() + c.pad, tk = ck.back() + c.pad, b1 = int64_t(cq.size());
      auto a = tools::Attrs().b("is_causal", c.causal).s("gqa_layout", c.abab ? "ABAB" : "AABB");
      if (c.wl >= 0) a.i("local_window_size", c.wl).i("global_window_size", c.wg);
      std::string l = dt_name(dt) + " Hq=" + std::to_string(c.hq) + " Hkv=" + std::to_string(c.hkv) + " D=" +
                      std::to_string(c.d) + " q=" + shape_label(c.q_lens) + " kv=" + shape_label(c.k_lens) +
                      (c.causal ? " causal" : " full") + (c.wl >= 0 ? " Wl=" + std::to_string(c.wl) : "") +
                      (c.abab ? " ABAB" : "");
      std::vector<CaseTensor> qkv = {tensor("q", dt, {tq, c.hq, c.d}), tensor("k", dt, {tk, c.hkv, c.d}),
                                     tensor("v", dt, {tk, c.hkv, c.d})};
      OpCase f = make("flash_attention_fwd", l, tools::Attrs(a).b("output_f32", true),
                      {qkv[0], qkv[1], qkv[2], ints("cu_q_lens", {b1}, cq), ints("cu_total_seq_lens", {b1}, ck)},
                      {tensor("o", dt, {tq, c.hq, c.d}), tensor("lse", MOJO_DT_FP32, {c.hq, tq}),
                       tensor("o_f32", MOJO_DT_FP32, {tq, c.hq, c.d})},
                      {float_tol(dt), Tolerance::close(1e-4, 1e-4), grad_tol(dt)});
      cases.push_back(f);
      // lse around the largest possible score keeps exp(s - lse) bounded for random saved tensors.
      const double smax = std::sqrt(double(c.d));
      cases.push_back(make("flash_attention_bwd", l, a,
                           {tensor("do", dt, {tq, c.hq, c.d}), qkv[0], qkv[1], qkv[2],
                            tensor("o", MOJO_DT_FP32, {tq, c.hq, c.d}),
                            tensor("lse", MOJO_DT_FP32, {c.hq, tq}, Fill::uniform(smax, smax + 2)),
                            ints("cu_q_lens", {b1}, cq), ints("cu_total_seq_lens", {b1}, ck)},
                           {tensor("dq", dt, {tq, c.hq, c.d}), tensor("dk", dt, {tk, c.hkv, c.d}),
                            tensor("dv", dt, {tk, c.hkv, c.d})},
                           {grad_tol(dt), grad_tol(dt), grad_tol(dt)}));
      if (dt == MOJO_DT_BF16 && c.causal && b1 > 2) {
        std::vector<int64_t> bad = cq;
        bad[1] = bad[2] + 1;
        f.label += " cu_q_lens decreasing";
        f.inputs[3] = ints("cu_q_lens", {b1}, bad);
        f.expect = MOJO_STATUS_INVALID_ARGUMENT;
        cases.push_back(f);
      }
    }
}

void gated_delta_rule_cases(CaseList &cases, const CaseOptions &opt) {
  struct Cfg {
    int64_t hq, hk, dk, dv;
    std::vector<int64_t> lens;
    int64_t pad;
    bool l2, init;
  };
  std::vector<Cfg> cfgs = {{4, 2, 64, 64, {17, 0, 20}, 3, true, true},
                           {8, 1, 128, 64, {24}, 0, false, false},
                           {2, 2, 32, 128, {5, 9}, 1, true, false}};
  if (opt.quick) cfgs.resize(1);
  for (int dt : kFloat)
    for (const Cfg &c : cfgs) {
      std::vector<int64_t> cu = cumsum(c.lens);
      const int64_t t = cu.back() + c.pad, n = int64_t(c.lens.size());
      auto a = tools::Attrs().b("use_qk_l2norm", c.l2).b("output_final_state", true);
      std::string l = dt_name(dt) + " Hq=" + std::to_string(c.hq) + " Hk=" + std::to_string(c.hk) + " Dk=" +
                      std::to_string(c.dk) + " Dv=" + std::to_string(c.dv) + " lens=" + shape_label(c.lens) +
                      (c.l2 ? " l2" : "") + (c.init ? " initial_state" : "");
      const double ks = c.l2 ? 1.0 : 1.0 / std::sqrt(double(c.dk));  // without l2, keep |k| about 1
      std::vector<CaseTensor> in = {tensor("q", dt, {1, t, c.hq, c.dk}), tensor("k", dt, {1, t, c.hk, c.dk}, Fill::normal(ks)),
                                    tensor("v", dt, {1, t, c.hk, c.dv}),
                                    tensor("g", MOJO_DT_FP32, {1, t, c.hk}, Fill::uniform(-0.3, 0)),
                                    tensor("beta", MOJO_DT_FP32, {1, t, c.hk}, Fill::uniform(0.1, 0.9)),
                                    ints("cu_seqlens", {n + 1}, cu, MOJO_DT_INT64),
                                    c.init ? tensor("initial_state", MOJO_DT_FP32, {n, c.hk, c.dk, c.dv}, Fill::normal(0.1))
                                           : absent("initial_state")};
      OpCase f = make("gated_delta_rule_fwd", l, a, in,
                      {tensor("o", dt, {1, t, c.hq, c.dv}), tensor("final_state", MOJO_DT_FP32, {n, c.hk, c.dk, c.dv})},
                      {grad_tol(dt), Tolerance::close(1e-4, 1e-4)});
      cases.push_back(f);
      std::vector<CaseTensor> bin = {tensor("do", dt, {1, t, c.hq, c.dv}),
                                     tensor("d_final_state", MOJO_DT_FP32, {n, c.hk, c.dk, c.dv}, Fill::normal(0.1))};
      bin.insert(bin.end(), in.begin(), in.end());
      cases.push_back(make("gated_delta_rule_bwd", l, a, bin,
                           {tensor("dq", dt, {1, t, c.hq, c.dk}), tensor("dk", dt, {1, t, c.hk, c.dk}),
                            tensor("dv", dt, {1, t, c.hk, c.dv}), tensor("dg", MOJO_DT_FP32, {1, t, c.hk}),
                            tensor("dbeta", MOJO_DT_FP32, {1, t, c.hk}),
                            c.init ? tensor("d_initial_state", MOJO_DT_FP32, {n, c.hk, c.dk, c.dv}) : absent("d_initial_state")},
                           {grad_tol(dt), grad_tol(dt), grad_tol(dt), Tolerance::close(1e-3, 1e-3),
                            Tolerance::close(1e-3, 1e-3), Tolerance::close(1e-3, 1e-3)}));
      if (dt == MOJO_DT_BF16 && n > 1) {
        std::vector<int64_t> bad = cu;
        bad.back() = t + 1;
        f.label += " cu_seqlens past T";
        f.inputs[5] = ints("cu_seqlens", {n + 1}, bad, MOJO_DT_INT64);
        f.expect = MOJO_STATUS_INVALID_ARGUMENT;
        cases.push_back(f);
      }
    }
}

}  // namespace

void add_training_cases(CaseList &cases, const CaseOptions &opt) {
  elementwise_cases(cases, opt);
  rope_cases(cases, opt);
  rms_norm_cases(cases, opt);
  moe_gating_cases(cases, opt);
  cross_entropy_cases(cases, opt);
  attention_cases(cases, opt);
  gated_delta_rule_cases(cases, opt);
}

}  // namespace mojo::conformance
