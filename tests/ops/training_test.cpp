// Training forward/backward pairs (spec/training.md): forwards against closed forms computed here in double
// precision, backwards against central finite differences of the forward with a random projection of every
// output as the scalar loss.
#include <algorithm>
#include <functional>
#include <limits>
#include <numeric>

#include "op_test_support.h"

namespace mojo::tools {
namespace {

class TrainingTest : public OpTest {
 protected:
  std::vector<float> random_vec(size_t n) {
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(n);
    for (float &x : v) x = d(rng);
    return v;
  }
  static double dot(const std::vector<float> &a, const std::vector<float> &b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
    return s;
  }
  // Central differences of loss() w.r.t. every element of p against grad.
  static void check_grad(HostTensor &p, const std::function<double()> &loss, const std::vector<float> &grad,
                         const std::string &what, double h = 2e-3, double atol = 2e-3, double rtol = 2e-2) {
    ASSERT_EQ(static_cast<size_t>(p.numel()), grad.size()) << what;
    for (int64_t i = 0; i < p.numel(); ++i) {
      const float x0 = p.get(i);
      p.set(i, float(x0 + h));
      const double xp = p.get(i), lp = loss();
      p.set(i, float(x0 - h));
      const double xm = p.get(i), lm = loss();
      p.set(i, x0);
      const double fd = (lp - lm) / (xp - xm);
      ASSERT_NEAR(grad[size_t(i)], fd, atol + rtol * std::fabs(fd)) << what << " element " << i;
    }
  }
};

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// ---- silu / swiglu ----------------------------------------------------------------------------------------

TEST_F(TrainingTest, SiluForwardClosedFormAndBackwardFiniteDifference) {
  for (int dt : kFloatDtypes) {
    HostTensor x(dt, {3, 17}), y(dt, {3, 17});
    x.fill_uniform(rng, -4, 4);
    run("silu_fwd", Attrs(), {&x}, {&y});
    std::vector<double> want;
    for (float v : x.to_floats()) want.push_back(v * sigmoid(v));
    expect_close(y.to_floats(), want, 1e-6, dtype_rtol(dt), "silu_fwd");
  }
  HostTensor x(MOJO_DT_FP32, {2, 9}), y(MOJO_DT_FP32, {2, 9}), dy(MOJO_DT_FP32, {2, 9}), dx(MOJO_DT_FP32, {2, 9});
  x.fill_uniform(rng, -4, 4);
  std::vector<float> r = random_vec(18);
  dy.fill_from(r);
  run("silu_bwd", Attrs(), {&dy, &x}, {&dx});
  check_grad(x, [&] { run("silu_fwd", Attrs(), {&x}, {&y}); return dot(r, y.to_floats()); }, dx.to_floats(), "dx");
}

TEST_F(TrainingTest, SwigluForwardAndBackwardWithAndWithoutLimit) {
  for (double limit : {0.0, 1.5}) {
    HostTensor gate(MOJO_DT_FP32, {4, 6}), up(MOJO_DT_FP32, {4, 6}), y(MOJO_DT_FP32, {4, 6});
    gate.fill_uniform(rng, -3, 3);
    up.fill_uniform(rng, -3, 3);
    // Keep the values away from the clamp kinks so the central difference is well defined.
    for (HostTensor *t : {&gate, &up})
      for (int64_t i = 0; i < t->numel(); ++i)
        if (limit > 0 && std::fabs(std::fabs(t->get(i)) - limit) < 0.05) t->set(i, t->get(i) * 0.8f);
    Attrs a = Attrs().f("swiglu_limit", limit);
    run("swiglu_fwd", a, {&gate, &up}, {&y});
    std::vector<double> want;
    for (int64_t i = 0; i < gate.numel(); ++i) {
      double g = gate.get(i), u = up.get(i);
      if (limit > 0) {
        g = std::min(g, limit);
        u = std::clamp(u, -limit, limit);
      }
      want.push_back(g * sigmoid(g) * u);
    }
    expect_close(y.to_floats(), want, 1e-6, 1e-5, "swiglu_fwd");
    HostTensor dy(MOJO_DT_FP32, {4, 6}), dg(MOJO_DT_FP32, {4, 6}), du(MOJO_DT_FP32, {4, 6});
    std::vector<float> r = random_vec(24);
    dy.fill_from(r);
    run("swiglu_bwd", a, {&dy, &gate, &up}, {&dg, &du});
    auto loss = [&] { run("swiglu_fwd", a, {&gate, &up}, {&y}); return dot(r, y.to_floats()); };
    check_grad(gate, loss, dg.to_floats(), "dgate");
    check_grad(up, loss, du.to_floats(), "dup");
  }
}

// ---- rope -------------------------------------------------------------------------------------------------

TEST_F(TrainingTest, RopeForwardRotatesTrailingChannelsAndBackwardIsTheTranspose) {
  struct Layout {
    std::vector<int64_t> q, k;
    bool head_first;
    int64_t tokens;
  };
  const int64_t dh = 10, dr = 6;
  for (const Layout &l : {Layout{{5, 3, dh}, {5, 1, dh}, false, 5}, Layout{{2, 3, 4, dh}, {2, 2, 4, dh}, true, 4}}) {
    HostTensor q(MOJO_DT_FP32, l.q), k(MOJO_DT_FP32, l.k), cos(MOJO_DT_FP32, {l.tokens, dr}),
        sin(MOJO_DT_FP32, {l.tokens, dr}), qr(MOJO_DT_FP32, l.q), kr(MOJO_DT_FP32, l.k);
    q.fill_normal(rng, 1);
    k.fill_normal(rng, 1);
    for (int64_t t = 0; t < l.tokens; ++t)
      for (int64_t j = 0; j < dr / 2; ++j) {
        double ang = (t + 1) * std::pow(100.0, -2.0 * j / dr);
        for (int64_t half : {int64_t(0), dr / 2}) {
          cos.set(t * dr + j + half, float(std::cos(ang)));
          sin.set(t * dr + j + half, float(std::sin(ang)));
        }
      }
    Attrs a = Attrs().b("head_first", l.head_first);
    run("rope_fwd", a, {&q, &k, &cos, &sin}, {&qr, &kr});
    // Closed form on q: token index of every head vector from the layout.
    std::vector<double> want(static_cast<size_t>(q.numel()));
    const int64_t vecs = q.numel() / dh;
    for (int64_t r = 0; r < vecs; ++r) {
      int64_t tok = l.q.size() == 3 ? r / l.q[1] : r % l.q[2];
      for (int64_t c = 0; c < dh - dr; ++c) want[size_t(r * dh + c)] = q.get(r * dh + c);
      for (int64_t j = 0; j < dr / 2; ++j) {
        double x1 = q.get(r * dh + dh - dr + j), x2 = q.get(r * dh + dh - dr / 2 + j);
        double cs = cos.get(tok * dr + j), sn = sin.get(tok * dr + j);
        want[size_t(r * dh + dh - dr + j)] = x1 * cs - x2 * sn;
        want[size_t(r * dh + dh - dr / 2 + j)] = x2 * cs + x1 * sn;
      }
    }
    expect_close(qr.to_floats(), want, 1e-6, 1e-5, "rope_fwd q");
    HostTensor gq(MOJO_DT_FP32, l.q), gk(MOJO_DT_FP32, l.k), dq(MOJO_DT_FP32, l.q), dk(MOJO_DT_FP32, l.k);
    std::vector<float> rq = random_vec(static_cast<size_t>(q.numel())), rk = random_vec(static_cast<size_t>(k.numel()));
    gq.fill_from(rq);
    gk.fill_from(rk);
    run("rope_bwd", a, {&gq, &gk, &cos, &sin}, {&dq, &dk});
    auto loss = [&] {
      run("rope_fwd", a, {&q, &k, &cos, &sin}, {&qr, &kr});
      return dot(rq, qr.to_floats()) + dot(rk, kr.to_floats());
    };
    check_grad(q, loss, dq.to_floats(), "dq");
    check_grad(k, loss, dk.to_floats(), "dk");
  }
}

// ---- rms norm ---------------------------------------------------------------------------------------------

TEST_F(TrainingTest, RmsNormForwardSavesRstdAndBackwardMatchesFiniteDifferences) {
  const int64_t rows = 5, d = 12;
  for (int dt : kFloatDtypes) {
    HostTensor x(dt, {rows, d}), w(MOJO_DT_FP32, {d}), y(dt, {rows, d}), rstd(MOJO_DT_FP32, {rows});
    x.fill_normal(rng, 2);
    w.fill_uniform(rng, 0.5, 1.5);
    run("rms_norm_fwd", Attrs().f("eps", 1e-6), {&x, &w}, {&y, &rstd});
    std::vector<double> want_y, want_r;
    for (int64_t r = 0; r < rows; ++r) {
      double ms = 0;
      for (int64_t i = 0; i < d; ++i) ms += double(x.get(r * d + i)) * x.get(r * d + i);
      double inv = 1.0 / std::sqrt(ms / d + 1e-6);
      want_r.push_back(inv);
      for (int64_t i = 0; i < d; ++i) want_y.push_back(x.get(r * d + i) * inv * w.get(i));
    }
    expect_close(y.to_floats(), want_y, 1e-5, dtype_rtol(dt), "rms_norm_fwd y");
    expect_close(rstd.to_floats(), want_r, 0, 1e-5, "rms_norm_fwd rstd");
  }
  HostTensor x(MOJO_DT_FP32, {rows, d}), w(MOJO_DT_FP32, {d}), y(MOJO_DT_FP32, {rows, d}), rstd(MOJO_DT_FP32, {rows});
  x.fill_normal(rng, 1);
  w.fill_uniform(rng, 0.5, 1.5);
  std::vector<float> r = random_vec(static_cast<size_t>(rows * d));
  auto loss = [&] { run("rms_norm_fwd", Attrs().f("eps", 1e-6), {&x, &w}, {&y, &rstd}); return dot(r, y.to_floats()); };
  loss();
  HostTensor dy(MOJO_DT_FP32, {rows, d}), dx(MOJO_DT_FP32, {rows, d}), dw(MOJO_DT_FP32, {d});
  dy.fill_from(r);
  run("rms_norm_bwd", Attrs(), {&dy, &x, &w, &rstd}, {&dx, &dw});
  check_grad(x, loss, dx.to_floats(), "dx");
  check_grad(w, loss, dw.to_floats(), "dw");
}

// ---- moe gating -------------------------------------------------------------------------------------------

TEST_F(TrainingTest, MoeGatingForwardTopKAndBackwardThroughRenormalisedSoftmax) {
  const int64_t n = 4, h = 5, e = 6, top_k = 3;
  HostTensor x(MOJO_DT_FP32, {n, h}), wg(MOJO_DT_FP32, {h, e}), idx(MOJO_DT_INT32, {n, top_k}),
      gates(MOJO_DT_FP32, {n, top_k}), probs(MOJO_DT_FP32, {n, e});
  x.fill_normal(rng, 1);
  wg.fill_normal(rng, 1);
  Attrs a = Attrs().i("top_k", top_k);
  run("moe_gating_fwd", a, {&x, &wg}, {&idx, &gates, &probs});
  for (int64_t r = 0; r < n; ++r) {
    std::vector<double> p(static_cast<size_t>(e));
    double m = -1e300, s = 0;
    for (int64_t j = 0; j < e; ++j) {
      for (int64_t i = 0; i < h; ++i) p[size_t(j)] += double(x.get(r * h + i)) * wg.get(i * e + j);
      m = std::max(m, p[size_t(j)]);
    }
    for (double &v : p) s += (v = std::exp(v - m));
    for (double &v : p) v /= s;
    std::vector<int64_t> order(static_cast<size_t>(e));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t a_, int64_t b_) { return p[size_t(a_)] > p[size_t(b_)]; });
    double sel = 0;
    for (int64_t k = 0; k < top_k; ++k) sel += p[size_t(order[size_t(k)])];
    for (int64_t k = 0; k < top_k; ++k) {
      EXPECT_EQ(idx.get_int(r * top_k + k), order[size_t(k)]);
      EXPECT_NEAR(gates.get(r * top_k + k), p[size_t(order[size_t(k)])] / sel, 1e-6);
    }
    for (int64_t j = 0; j < e; ++j) EXPECT_NEAR(probs.get(r * e + j), p[size_t(j)], 1e-6);
  }
  std::vector<float> r = random_vec(static_cast<size_t>(n * top_k));
  HostTensor dg(MOJO_DT_FP32, {n, top_k}), dx(MOJO_DT_FP32, {n, h}), dwg(MOJO_DT_FP32, {h, e});
  dg.fill_from(r);
  run("moe_gating_bwd", Attrs(), {&dg, &x, &wg, &probs, &idx}, {&dx, &dwg});
  HostTensor idx2(MOJO_DT_INT32, {n, top_k}), gates2(MOJO_DT_FP32, {n, top_k}), probs2(MOJO_DT_FP32, {n, e});
  auto loss = [&] {
    run("moe_gating_fwd", a, {&x, &wg}, {&idx2, &gates2, &probs2});
    EXPECT_TRUE(idx2.same_bytes(idx)) << "a finite-difference step changed the expert choice";
    return dot(r, gates2.to_floats());
  };
  check_grad(x, loss, dx.to_floats(), "dx", 1e-3);
  check_grad(wg, loss, dwg.to_floats(), "dgate_weight", 1e-3);
  // Out-of-range and repeated experts are rejected before anything is written.
  idx2 = idx;
  idx2.set_int(1, e);
  EXPECT_EQ(code_of("moe_gating_bwd", Attrs(), {&dg, &x, &wg, &probs, &idx2}, {&dx, &dwg}),
            MOJO_STATUS_INVALID_ARGUMENT);
  idx2 = idx;
  idx2.set_int(1, idx.get_int(0));
  EXPECT_EQ(code_of("moe_gating_bwd", Attrs(), {&dg, &x, &wg, &probs, &idx2}, {&dx, &dwg}),
            MOJO_STATUS_INVALID_ARGUMENT);
}

// ---- fused linear cross entropy ---------------------------------------------------------------------------

struct CeConfig {
  std::string reduction;
  double eps, lss;
  bool bias, class_weights, softcap;
};

TEST_F(TrainingTest, FusedLinearCrossEntropyForwardClosedFormAndBackwardFiniteDifferences) {
  const int64_t nt = 5, h = 4, vocab = 7;
  const std::vector<int64_t> targets = {3, -100, 0, 6, 3};
  for (const CeConfig &cfg : {CeConfig{"mean", 0, 0, false, false, false}, CeConfig{"sum", 0.1, 0.01, true, false, false},
                              CeConfig{"none", 0.2, 0.05, true, true, false},
                              CeConfig{"mean", 0.1, 0.02, false, true, true}}) {
    SCOPED_TRACE(cfg.reduction + " eps=" + std::to_string(cfg.eps) + " z=" + std::to_string(cfg.lss));
    HostTensor x(MOJO_DT_FP32, {nt, h}), w(MOJO_DT_FP32, {vocab, h}), tgt(MOJO_DT_INT64, {nt}), b(MOJO_DT_FP32, {vocab}),
        cw(MOJO_DT_FP32, {vocab});
    x.fill_normal(rng, 1);
    w.fill_normal(rng, 1);
    b.fill_normal(rng, 0.5);
    cw.fill_uniform(rng, 0.5, 2);
    tgt.fill_ints(targets);
    const bool none = cfg.reduction == "none";
    const std::vector<int64_t> loss_shape = none ? std::vector<int64_t>{nt} : std::vector<int64_t>{};
    HostTensor loss(MOJO_DT_FP32, loss_shape), zl(MOJO_DT_FP32, {}), lse(MOJO_DT_FP32, {nt});
    Attrs a = Attrs().s("reduction", cfg.reduction).f("label_smoothing", cfg.eps).f("lse_square_scale", cfg.lss)
                  .b("return_z_loss", true);
    if (cfg.softcap) a.f("softcap", 3.0);
    HostTensor *bp = cfg.bias ? &b : nullptr, *cwp = cfg.class_weights ? &cw : nullptr;
    run("fused_linear_cross_entropy_fwd", a, {&x, &w, &tgt, bp, cwp}, {&loss, &zl, &lse});
    // Closed form.
    std::vector<double> ell(static_cast<size_t>(nt), 0.0), lses(static_cast<size_t>(nt));
    double denom = 0, zsum = 0;
    int valid = 0;
    for (int64_t t = 0; t < nt; ++t) {
      std::vector<double> z(static_cast<size_t>(vocab));
      double m = -1e300, s = 0;
      for (int64_t c = 0; c < vocab; ++c) {
        double acc = cfg.bias ? b.get(c) : 0.0;
        for (int64_t i = 0; i < h; ++i) acc += double(x.get(t * h + i)) * w.get(c * h + i);
        z[size_t(c)] = cfg.softcap ? 3.0 * std::tanh(acc / 3.0) : acc;
        m = std::max(m, z[size_t(c)]);
      }
      for (double v : z) s += std::exp(v - m);
      double l = m + std::log(s);
      lses[size_t(t)] = l;
      int64_t y = targets[size_t(t)];
      if (y == -100) continue;
      auto wc = [&](int64_t c) { return cfg.class_weights ? double(cw.get(c)) : 1.0; };
      double smooth = 0;
      for (int64_t c = 0; c < vocab; ++c) smooth += wc(c) * (l - z[size_t(c)]);
      ell[size_t(t)] = (1 - cfg.eps) * wc(y) * (l - z[size_t(y)]) + cfg.eps / vocab * smooth;
      denom += wc(y);
      zsum += l * l;
      ++valid;
    }
    const double zloss = cfg.lss * zsum / valid;
    expect_close(lse.to_floats(), lses, 1e-5, 1e-5, "lse");
    expect_close(zl.to_floats(), {zloss}, 1e-6, 1e-5, "z_loss");
    if (none) {
      std::vector<double> want(ell);
      for (double &v : want) v += zloss;
      expect_close(loss.to_floats(), want, 1e-5, 1e-5, "loss none");
    } else {
      double total = std::accumulate(ell.begin(), ell.end(), 0.0);
      expect_close(loss.to_floats(), {(cfg.reduction == "sum" ? total : total / denom) + zloss}, 1e-5, 1e-5, "loss");
    }
    // Backward: loss' = <r, loss> + rz * z_loss.
    std::vector<float> r = random_vec(static_cast<size_t>(loss.numel()));
    const float rz = 0.7f;
    HostTensor gl(MOJO_DT_FP32, loss_shape), gz(MOJO_DT_FP32, {}), dx(MOJO_DT_FP32, {nt, h}),
        dw(MOJO_DT_FP32, {vocab, h}), db(MOJO_DT_FP32, {vocab});
    gl.fill_from(r);
    gz.fill(rz);
    run("fused_linear_cross_entropy_bwd", a, {&gl, &gz, &x, &w, &tgt, bp, cwp, &lse},
        {&dx, &dw, cfg.bias ? &db : nullptr});
    auto scalar = [&] {
      run("fused_linear_cross_entropy_fwd", a, {&x, &w, &tgt, bp, cwp}, {&loss, &zl, &lse});
      return dot(r, loss.to_floats()) + double(rz) * zl.get(0);
    };
    check_grad(x, scalar, dx.to_floats(), "dx");
    check_grad(w, scalar, dw.to_floats(), "dweight");
    if (cfg.bias) check_grad(b, scalar, db.to_floats(), "dbias");
  }
}

TEST_F(TrainingTest, FusedLinearCrossEntropyEdgeCases) {
  HostTensor x(MOJO_DT_BF16, {3, 4}), w(MOJO_DT_BF16, {5, 4}), tgt(MOJO_DT_INT32, {3}), loss(MOJO_DT_FP32, {}),
      lse(MOJO_DT_FP32, {3});
  x.fill_normal(rng, 1);
  w.fill_normal(rng, 1);
  // Every token ignored: mean is 0/0 = NaN, sum is 0.
  tgt.fill_ints({-100, -100, -100});
  run("fused_linear_cross_entropy_fwd", Attrs(), {&x, &w, &tgt, nullptr, nullptr}, {&loss, nullptr, &lse});
  EXPECT_TRUE(std::isnan(loss.get(0)));
  run("fused_linear_cross_entropy_fwd", Attrs().s("reduction", "sum"), {&x, &w, &tgt, nullptr, nullptr},
      {&loss, nullptr, &lse});
  EXPECT_EQ(loss.get(0), 0.0f);
  // A custom ignore_index; a target out of range is rejected with nothing written.
  tgt.fill_ints({7, 2, 7});
  run("fused_linear_cross_entropy_fwd", Attrs().i("ignore_index", 7).s("reduction", "sum"),
      {&x, &w, &tgt, nullptr, nullptr}, {&loss, nullptr, &lse});
  double m = -1e300, s = 0;
  std::vector<double> z(5);
  for (int c = 0; c < 5; ++c) {
    for (int i = 0; i < 4; ++i) z[size_t(c)] += double(x.get(4 + i)) * w.get(c * 4 + i);
    m = std::max(m, z[size_t(c)]);
  }
  for (double v : z) s += std::exp(v - m);
  EXPECT_NEAR(loss.get(0), m + std::log(s) - z[2], 1e-4);
  loss.fill(42);
  EXPECT_EQ(code_of("fused_linear_cross_entropy_fwd", Attrs(), {&x, &w, &tgt, nullptr, nullptr}, {&loss, nullptr, &lse}),
            MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(loss.get(0), 42.0f);
  // z_loss must be given exactly when return_z_loss is set.
  tgt.fill_ints({1, 2, 3});
  EXPECT_EQ(code_of("fused_linear_cross_entropy_fwd", Attrs().b("return_z_loss", true),
                    {&x, &w, &tgt, nullptr, nullptr}, {&loss, nullptr, &lse}),
            MOJO_STATUS_INVALID_ARGUMENT);
}

// ---- flash attention --------------------------------------------------------------------------------------

struct AttnCase {
  bool causal;
  int64_t wl, wg;  // -1 = null
  bool abab;
};

TEST_F(TrainingTest, FlashAttentionForwardMatchesNaiveSoftmaxAndBackwardMatchesFiniteDifferences) {
  const int64_t hq = 4, hkv = 2, d = 8, tq = 6, tk = 10;
  const std::vector<int64_t> cu_q = {0, 3, 3, 5}, cu_k = {0, 5, 7, 9};  // one empty sequence, padding rows/keys
  for (const AttnCase &ac : {AttnCase{true, -1, -1, false}, AttnCase{true, 1, 1, true}, AttnCase{false, -1, -1, false}}) {
    SCOPED_TRACE("causal=" + std::to_string(ac.causal) + " wl=" + std::to_string(ac.wl));
    HostTensor q(MOJO_DT_FP32, {tq, hq, d}), k(MOJO_DT_FP32, {tk, hkv, d}), v(MOJO_DT_FP32, {tk, hkv, d}),
        cq(MOJO_DT_INT32, {4}), ck(MOJO_DT_INT32, {4}), o(MOJO_DT_FP32, {tq, hq, d}), lse(MOJO_DT_FP32, {hq, tq}),
        o32(MOJO_DT_FP32, {tq, hq, d});
    q.fill_normal(rng, 1);
    k.fill_normal(rng, 1);
    v.fill_normal(rng, 1);
    cq.fill_ints(cu_q);
    ck.fill_ints(cu_k);
    o.fill(7);
    lse.fill(7);
    Attrs a = Attrs().b("is_causal", ac.causal).s("gqa_layout", ac.abab ? "ABAB" : "AABB").f("softmax_scale", 0.4);
    if (ac.wl >= 0) a.i("local_window_size", ac.wl).i("global_window_size", ac.wg);
    run("flash_attention_fwd", a, {&q, &k, &v, &cq, &ck}, {&o, &lse, nullptr});
    std::vector<double> want_o(static_cast<size_t>(q.numel()), 7.0), want_lse(static_cast<size_t>(hq * tq), 7.0);
    for (size_t b = 0; b + 1 < cu_q.size(); ++b) {
      int64_t n = cu_q[b + 1] - cu_q[b], len = cu_k[b + 1] - cu_k[b];
      for (int64_t i = 0; i < n; ++i)
        for (int64_t h = 0; h < hq; ++h) {
          int64_t g = ac.abab ? h % hkv : h / (hq / hkv), t = cu_q[b] + i, pos = len - n + i;
          std::vector<double> p;
          std::vector<int64_t> keys;
          for (int64_t j = 0; j < len; ++j) {
            bool ok = !ac.causal || (j <= pos && (ac.wl < 0 || pos - j <= ac.wl || j < ac.wg));
            if (!ok) continue;
            double s = 0;
            for (int64_t e = 0; e < d; ++e) s += double(q.get((t * hq + h) * d + e)) * k.get(((cu_k[b] + j) * hkv + g) * d + e);
            p.push_back(0.4 * s);
            keys.push_back(cu_k[b] + j);
          }
          double m = *std::max_element(p.begin(), p.end()), sum = 0;
          for (double &x : p) sum += (x = std::exp(x - m));
          want_lse[size_t(h * tq + t)] = m + std::log(sum);
          for (int64_t e = 0; e < d; ++e) {
            double acc = 0;
            for (size_t j = 0; j < keys.size(); ++j) acc += p[j] / sum * v.get((keys[j] * hkv + g) * d + e);
            want_o[size_t((t * hq + h) * d + e)] = acc;
          }
        }
    }
    expect_close(o.to_floats(), want_o, 1e-5, 1e-5, "o");
    expect_close(lse.to_floats(), want_lse, 1e-5, 1e-5, "lse");
    // Backward from the fp32 output (output_f32) against finite differences of <r, o>.
    run("flash_attention_fwd", a.b("output_f32", true), {&q, &k, &v, &cq, &ck}, {&o, &lse, &o32});
    std::vector<float> r = random_vec(static_cast<size_t>(o.numel()));
    for (int64_t e = 0; e < hq * d; ++e) r[size_t(5 * hq * d + e)] = 0;  // the padding row is not an output
    HostTensor dout(MOJO_DT_FP32, {tq, hq, d}), dq(MOJO_DT_FP32, {tq, hq, d}), dk(MOJO_DT_FP32, {tk, hkv, d}),
        dv(MOJO_DT_FP32, {tk, hkv, d});
    dout.fill_from(r);
    run("flash_attention_bwd", a, {&dout, &q, &k, &v, &o32, &lse, &cq, &ck}, {&dq, &dk, &dv});
    HostTensor o2(MOJO_DT_FP32, {tq, hq, d}), lse2(MOJO_DT_FP32, {hq, tq}), o32b(MOJO_DT_FP32, {tq, hq, d});
    o2.fill(0);
    auto loss = [&] {
      run("flash_attention_fwd", a, {&q, &k, &v, &cq, &ck}, {&o2, &lse2, &o32b});
      return dot(r, o2.to_floats());
    };
    check_grad(q, loss, dq.to_floats(), "dq");
    check_grad(k, loss, dk.to_floats(), "dk");
    check_grad(v, loss, dv.to_floats(), "dv");
  }
}

TEST_F(TrainingTest, FlashAttentionRejectsBadLengths) {
  HostTensor q(MOJO_DT_BF16, {4, 2, 8}), k(MOJO_DT_BF16, {4, 1, 8}), v(MOJO_DT_BF16, {4, 1, 8}), cq(MOJO_DT_INT32, {3}),
      ck(MOJO_DT_INT32, {3}), o(MOJO_DT_BF16, {4, 2, 8}), lse(MOJO_DT_FP32, {2, 4});
  q.fill_normal(rng, 1);
  k.fill_normal(rng, 1);
  v.fill_normal(rng, 1);
  for (auto lens : {std::pair<std::vector<int64_t>, std::vector<int64_t>>{{0, 3, 2}, {0, 3, 4}},
                    {{0, 2, 4}, {0, 1, 4}}, {{0, 2, 4}, {0, 2, 5}}}) {
    cq.fill_ints(lens.first);
    ck.fill_ints(lens.second);
    o.fill(3);
    EXPECT_EQ(code_of("flash_attention_fwd", Attrs(), {&q, &k, &v, &cq, &ck}, {&o, &lse, nullptr}),
              MOJO_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(o.get(0), 3.0f);
  }
}

// ---- gated delta rule -------------------------------------------------------------------------------------

TEST_F(TrainingTest, GatedDeltaRuleForwardMatchesRecurrenceAndBackwardMatchesFiniteDifferences) {
  const int64_t t_total = 8, hq = 4, hk = 2, dk = 4, dv = 3, nseq = 2;
  const std::vector<int64_t> cu = {0, 3, 7};  // token 7 is padding
  for (bool l2 : {false, true}) {
    SCOPED_TRACE(l2 ? "l2" : "no l2");
    HostTensor q(MOJO_DT_FP32, {1, t_total, hq, dk}), k(MOJO_DT_FP32, {1, t_total, hk, dk}),
        v(MOJO_DT_FP32, {1, t_total, hk, dv}), g(MOJO_DT_FP32, {1, t_total, hk}), beta(MOJO_DT_FP32, {1, t_total, hk}),
        cus(MOJO_DT_INT64, {nseq + 1}), s0(MOJO_DT_FP32, {nseq, hk, dk, dv}), o(MOJO_DT_FP32, {1, t_total, hq, dv}),
        fin(MOJO_DT_FP32, {nseq, hk, dk, dv});
    q.fill_normal(rng, 1);
    k.fill_normal(rng, l2 ? 1.0f : 0.5f);
    v.fill_normal(rng, 1);
    g.fill_uniform(rng, -0.5, 0);
    beta.fill_uniform(rng, 0.2, 0.9);
    s0.fill_normal(rng, 0.5);
    cus.fill_ints(cu);
    o.fill(9);
    Attrs a = Attrs().b("use_qk_l2norm", l2).b("output_final_state", true).f("scale", 0.6);
    run("gated_delta_rule_fwd", a, {&q, &k, &v, &g, &beta, &cus, &s0}, {&o, &fin});
    std::vector<double> want_o(static_cast<size_t>(o.numel()), 9.0), want_fin(static_cast<size_t>(fin.numel()));
    auto unit = [&](const HostTensor &t, int64_t off) {
      std::vector<double> x(static_cast<size_t>(dk));
      double ss = 0;
      for (int64_t i = 0; i < dk; ++i) ss += double(t.get(off + i)) * t.get(off + i);
      for (int64_t i = 0; i < dk; ++i) x[size_t(i)] = t.get(off + i) / (l2 ? std::sqrt(ss + 1e-6) : 1.0);
      return x;
    };
    for (int64_t b = 0; b < nseq; ++b)
      for (int64_t hh = 0; hh < hk; ++hh) {
        std::vector<std::vector<double>> S(static_cast<size_t>(dk), std::vector<double>(size_t(dv)));
        for (int64_t i = 0; i < dk; ++i)
          for (int64_t j = 0; j < dv; ++j) S[size_t(i)][size_t(j)] = s0.get(((b * hk + hh) * dk + i) * dv + j);
        for (int64_t t = cu[size_t(b)]; t < cu[size_t(b + 1)]; ++t) {
          std::vector<double> kt = unit(k, (t * hk + hh) * dk);
          double decay = std::exp(double(g.get(t * hk + hh))), bt = beta.get(t * hk + hh);
          for (auto &row : S)
            for (double &x : row) x *= decay;
          for (int64_t j = 0; j < dv; ++j) {
            double pred = 0;
            for (int64_t i = 0; i < dk; ++i) pred += S[size_t(i)][size_t(j)] * kt[size_t(i)];
            double u = bt * (v.get((t * hk + hh) * dv + j) - pred);
            for (int64_t i = 0; i < dk; ++i) S[size_t(i)][size_t(j)] += kt[size_t(i)] * u;
          }
          for (int64_t h = hh * (hq / hk); h < (hh + 1) * (hq / hk); ++h) {
            std::vector<double> qt = unit(q, (t * hq + h) * dk);
            for (int64_t j = 0; j < dv; ++j) {
              double acc = 0;
              for (int64_t i = 0; i < dk; ++i) acc += S[size_t(i)][size_t(j)] * qt[size_t(i)];
              want_o[size_t((t * hq + h) * dv + j)] = 0.6 * acc;
            }
          }
        }
        for (int64_t i = 0; i < dk; ++i)
          for (int64_t j = 0; j < dv; ++j) want_fin[size_t(((b * hk + hh) * dk + i) * dv + j)] = S[size_t(i)][size_t(j)];
      }
    expect_close(o.to_floats(), want_o, 1e-5, 1e-5, "o");
    expect_close(fin.to_floats(), want_fin, 1e-5, 1e-5, "final_state");
    // Backward.
    std::vector<float> r = random_vec(static_cast<size_t>(o.numel())), rf = random_vec(static_cast<size_t>(fin.numel()));
    for (int64_t e = 0; e < hq * dv; ++e) r[size_t(7 * hq * dv + e)] = 0;  // padding token
    HostTensor dout(MOJO_DT_FP32, {1, t_total, hq, dv}), dfin(MOJO_DT_FP32, {nseq, hk, dk, dv}),
        dq(MOJO_DT_FP32, {1, t_total, hq, dk}), dkk(MOJO_DT_FP32, {1, t_total, hk, dk}),
        dvv(MOJO_DT_FP32, {1, t_total, hk, dv}), dg(MOJO_DT_FP32, {1, t_total, hk}), db(MOJO_DT_FP32, {1, t_total, hk}),
        ds0(MOJO_DT_FP32, {nseq, hk, dk, dv});
    dout.fill_from(r);
    dfin.fill_from(rf);
    run("gated_delta_rule_bwd", a, {&dout, &dfin, &q, &k, &v, &g, &beta, &cus, &s0}, {&dq, &dkk, &dvv, &dg, &db, &ds0});
    o.fill(0);
    auto loss = [&] {
      run("gated_delta_rule_fwd", a, {&q, &k, &v, &g, &beta, &cus, &s0}, {&o, &fin});
      return dot(r, o.to_floats()) + dot(rf, fin.to_floats());
    };
    check_grad(q, loss, dq.to_floats(), "dq");
    check_grad(k, loss, dkk.to_floats(), "dk");
    check_grad(v, loss, dvv.to_floats(), "dv");
    check_grad(g, loss, dg.to_floats(), "dg");
    check_grad(beta, loss, db.to_floats(), "dbeta");
    check_grad(s0, loss, ds0.to_floats(), "d_initial_state");
  }
}

TEST_F(TrainingTest, GatedDeltaRuleRejectsBadSeqlensAndHeadFirst) {
  HostTensor q(MOJO_DT_BF16, {1, 4, 2, 4}), k(MOJO_DT_BF16, {1, 4, 1, 4}), v(MOJO_DT_BF16, {1, 4, 1, 4}),
      g(MOJO_DT_FP32, {1, 4, 1}), beta(MOJO_DT_FP32, {1, 4, 1}), cus(MOJO_DT_INT32, {3}), o(MOJO_DT_BF16, {1, 4, 2, 4});
  q.fill_normal(rng, 1);
  k.fill_normal(rng, 1);
  v.fill_normal(rng, 1);
  g.fill(0);
  beta.fill(0.5);
  cus.fill_ints({0, 3, 2});
  Attrs a = Attrs().b("use_qk_l2norm", true);
  EXPECT_EQ(code_of("gated_delta_rule_fwd", a, {&q, &k, &v, &g, &beta, &cus, nullptr}, {&o, nullptr}),
            MOJO_STATUS_INVALID_ARGUMENT);
  cus.fill_ints({0, 3, 5});
  EXPECT_EQ(code_of("gated_delta_rule_fwd", a, {&q, &k, &v, &g, &beta, &cus, nullptr}, {&o, nullptr}),
            MOJO_STATUS_INVALID_ARGUMENT);
  cus.fill_ints({0, 3, 4});
  EXPECT_EQ(code_of("gated_delta_rule_fwd", Attrs(a).b("head_first", true), {&q, &k, &v, &g, &beta, &cus, nullptr},
                    {&o, nullptr}),
            MOJO_STATUS_INVALID_ARGUMENT);
  run("gated_delta_rule_fwd", a, {&q, &k, &v, &g, &beta, &cus, nullptr}, {&o, nullptr});
}

// bf16/fp16 entry points compute in fp32 from the same (rounded) values as the fp32 ones and round once.
TEST_F(TrainingTest, HalfPrecisionBackwardsMatchFp32OnRoundedInputs) {
  for (int dt : {MOJO_DT_BF16, MOJO_DT_FP16}) {
    // A low-precision tensor and its exact fp32 copy.
    auto pair = [&](std::vector<int64_t> shape, float stddev) {
      std::pair<HostTensor, HostTensor> p{HostTensor(dt, shape), HostTensor(MOJO_DT_FP32, shape)};
      p.first.fill_normal(rng, stddev);
      p.second.fill_from(p.first.to_floats());
      return p;
    };
    auto tol = [&](const HostTensor &lo, const HostTensor &hi, const std::string &what) {
      std::vector<float> ref = hi.to_floats();
      double scale = 0;
      for (float v : ref) scale = std::max(scale, double(std::fabs(v)));
      expect_close(lo.to_floats(), std::vector<double>(ref.begin(), ref.end()), 1e-3 * scale, 2 * dtype_rtol(dt), what);
    };
    {  // flash attention
      auto q = pair({5, 4, 16}, 1), k = pair({5, 2, 16}, 1), v = pair({5, 2, 16}, 1), dout = pair({5, 4, 16}, 1);
      HostTensor cq(MOJO_DT_INT32, {3}), ck(MOJO_DT_INT32, {3}), lse(MOJO_DT_FP32, {4, 5}), o32(MOJO_DT_FP32, {5, 4, 16});
      cq.fill_ints({0, 2, 5});
      ck.fill_ints({0, 2, 5});
      HostTensor o_lo(dt, {5, 4, 16});
      Attrs a = Attrs().b("output_f32", true);
      HostTensor o_ref(MOJO_DT_FP32, {5, 4, 16}), lse_lo(MOJO_DT_FP32, {4, 5});
      run("flash_attention_fwd", a, {&q.second, &k.second, &v.second, &cq, &ck}, {&o_ref, &lse, &o32});
      run("flash_attention_fwd", a, {&q.first, &k.first, &v.first, &cq, &ck}, {&o_lo, &lse_lo, &o32});
      tol(o_lo, o_ref, "flash o");
      HostTensor dq(dt, {5, 4, 16}), dk(dt, {5, 2, 16}), dv(dt, {5, 2, 16}), dq32(MOJO_DT_FP32, {5, 4, 16}),
          dk32(MOJO_DT_FP32, {5, 2, 16}), dv32(MOJO_DT_FP32, {5, 2, 16});
      run("flash_attention_bwd", a, {&dout.first, &q.first, &k.first, &v.first, &o_ref, &lse, &cq, &ck}, {&dq, &dk, &dv});
      run("flash_attention_bwd", a, {&dout.second, &q.second, &k.second, &v.second, &o_ref, &lse, &cq, &ck},
          {&dq32, &dk32, &dv32});
      tol(dq, dq32, "flash dq");
      tol(dk, dk32, "flash dk");
      tol(dv, dv32, "flash dv");
    }
    {  // gated delta rule
      auto q = pair({1, 6, 2, 8}, 1), k = pair({1, 6, 1, 8}, 1), v = pair({1, 6, 1, 4}, 1), dout = pair({1, 6, 2, 4}, 1);
      HostTensor g(MOJO_DT_FP32, {1, 6, 1}), beta(MOJO_DT_FP32, {1, 6, 1}), cu(MOJO_DT_INT32, {2});
      g.fill_uniform(rng, -0.5, 0);
      beta.fill_uniform(rng, 0.2, 0.9);
      cu.fill_ints({0, 6});
      Attrs a = Attrs().b("use_qk_l2norm", true);
      HostTensor o_lo(dt, {1, 6, 2, 4}), o32(MOJO_DT_FP32, {1, 6, 2, 4});
      run("gated_delta_rule_fwd", a, {&q.first, &k.first, &v.first, &g, &beta, &cu, nullptr}, {&o_lo, nullptr});
      run("gated_delta_rule_fwd", a, {&q.second, &k.second, &v.second, &g, &beta, &cu, nullptr}, {&o32, nullptr});
      tol(o_lo, o32, "gdr o");
      HostTensor dq(dt, {1, 6, 2, 8}), dk(dt, {1, 6, 1, 8}), dv(dt, {1, 6, 1, 4}), dg(MOJO_DT_FP32, {1, 6, 1}),
          db(MOJO_DT_FP32, {1, 6, 1}), dq32(MOJO_DT_FP32, {1, 6, 2, 8}), dk32(MOJO_DT_FP32, {1, 6, 1, 8}),
          dv32(MOJO_DT_FP32, {1, 6, 1, 4}), dg32(MOJO_DT_FP32, {1, 6, 1}), db32(MOJO_DT_FP32, {1, 6, 1});
      run("gated_delta_rule_bwd", a, {&dout.first, nullptr, &q.first, &k.first, &v.first, &g, &beta, &cu, nullptr},
          {&dq, &dk, &dv, &dg, &db, nullptr});
      run("gated_delta_rule_bwd", a, {&dout.second, nullptr, &q.second, &k.second, &v.second, &g, &beta, &cu, nullptr},
          {&dq32, &dk32, &dv32, &dg32, &db32, nullptr});
      tol(dq, dq32, "gdr dq");
      tol(dk, dk32, "gdr dk");
      tol(dv, dv32, "gdr dv");
      tol(dg, dg32, "gdr dg");
      tol(db, db32, "gdr dbeta");
    }
    {  // rms norm and fused CE backward
      auto x = pair({3, 24}, 1), dy = pair({3, 24}, 1);
      HostTensor w(MOJO_DT_FP32, {24}), rstd(MOJO_DT_FP32, {3}), dx(dt, {3, 24}), dx32(MOJO_DT_FP32, {3, 24}),
          dw(MOJO_DT_FP32, {24}), dw32(MOJO_DT_FP32, {24});
      w.fill_uniform(rng, 0.5, 1.5);
      rstd.fill_uniform(rng, 0.5, 2);
      run("rms_norm_bwd", Attrs(), {&dy.first, &x.first, &w, &rstd}, {&dx, &dw});
      run("rms_norm_bwd", Attrs(), {&dy.second, &x.second, &w, &rstd}, {&dx32, &dw32});
      tol(dx, dx32, "rms dx");
      const std::vector<float> dw_ref = dw32.to_floats();
      expect_close(dw.to_floats(), std::vector<double>(dw_ref.begin(), dw_ref.end()), 1e-6, 1e-6, "rms dw (fp32 output)");
      auto cx = pair({4, 8}, 1), cw = pair({11, 8}, 1);
      HostTensor tgt(MOJO_DT_INT64, {4}), gl(MOJO_DT_FP32, {}), lse(MOJO_DT_FP32, {4}), loss(MOJO_DT_FP32, {}),
          cdx(dt, {4, 8}), cdw(dt, {11, 8}), cdx32(MOJO_DT_FP32, {4, 8}), cdw32(MOJO_DT_FP32, {11, 8});
      tgt.fill_ints({1, 10, -100, 3});
      gl.fill(1);
      run("fused_linear_cross_entropy_fwd", Attrs(), {&cx.second, &cw.second, &tgt, nullptr, nullptr},
          {&loss, nullptr, &lse});
      run("fused_linear_cross_entropy_bwd", Attrs(), {&gl, nullptr, &cx.first, &cw.first, &tgt, nullptr, nullptr, &lse},
          {&cdx, &cdw, nullptr});
      run("fused_linear_cross_entropy_bwd", Attrs(),
          {&gl, nullptr, &cx.second, &cw.second, &tgt, nullptr, nullptr, &lse}, {&cdx32, &cdw32, nullptr});
      tol(cdx, cdx32, "ce dx");
      tol(cdw, cdw32, "ce dweight");
    }
  }
}

}  // namespace
}  // namespace mojo::tools
