// Reference fused linear cross-entropy and MoE gating forward/backward (spec/training.md 4 and 6). Logits are
// materialised in fp64 per token (no vocabulary chunking); weight gradients sum tokens in index order.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "kernel.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

// ---- fused linear cross entropy ---------------------------------------------------------------------------

struct CeSetup {
  int64_t nt = 0, h = 0, vocab = 0;
  std::vector<float> x, w, bias, cw;
  std::vector<int64_t> target;
  int64_t ignore_index = -100;
  double eps = 0, lss = 0, cap = 0;
  bool has_cap = false;
  std::string reduction;
  double cw_total = 0;   // sum_c w_c (smoothing term)
  double denom = 0;      // sum over valid tokens of w_{y_t}
  int64_t n_valid = 0;

  double class_weight(int64_t cls) const { return cw.empty() ? 1.0 : cw[size_t(cls)]; }
  bool valid(int64_t t) const { return target[size_t(t)] != ignore_index; }

  // Raw logits of token t (before softcap) into raw[V], capped logits into z[V].
  void logits(int64_t t, std::vector<double> &raw, std::vector<double> &z) const {
    const float *xt = &x[size_t(t * h)];
    for (int64_t cls = 0; cls < vocab; ++cls) {
      const float *wc = &w[size_t(cls * h)];
      double acc = bias.empty() ? 0.0 : bias[size_t(cls)];
      for (int64_t e = 0; e < h; ++e) acc += double(xt[e]) * wc[e];
      raw[size_t(cls)] = acc;
      z[size_t(cls)] = has_cap ? cap * std::tanh(acc / cap) : acc;
    }
  }
};

// Loads every input and checks the targets; nothing is written on failure.
mojo_status *ce_setup(const KernelCall &c, const mojo_tensor *x, const mojo_tensor *w, const mojo_tensor *target,
                      const mojo_tensor *bias, const mojo_tensor *cw, CeSetup &s) {
  TensorView xv(x), tv(target);
  s.nt = xv.dim(0);
  s.h = xv.dim(1);
  s.vocab = TensorView(w).dim(0);
  s.x = xv.to_floats();
  s.w = TensorView(w).to_floats();
  if (bias) s.bias = TensorView(bias).to_floats();
  if (cw) s.cw = TensorView(cw).to_floats();
  s.ignore_index = c.attr_int("ignore_index");
  s.eps = c.attr_float("label_smoothing");
  s.lss = c.attr_float("lse_square_scale");
  s.has_cap = !c.attr_is_null("softcap");
  s.cap = c.attr_float("softcap");
  s.reduction = c.attr_string("reduction");
  s.target.resize(static_cast<size_t>(s.nt));
  for (int64_t t = 0; t < s.nt; ++t) {
    int64_t y = tv.load_index(tv.row_offset(0) + t * tv.stride(0));
    if (y != s.ignore_index && (y < 0 || y >= s.vocab))
      return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'target' has " + std::to_string(y) + " at token " +
                                                       std::to_string(t) + ", expected [0, " +
                                                       std::to_string(s.vocab) + ") or ignore_index");
    s.target[size_t(t)] = y;
  }
  for (int64_t cls = 0; cls < s.vocab; ++cls) s.cw_total += s.class_weight(cls);
  for (int64_t t = 0; t < s.nt; ++t)
    if (s.valid(t)) {
      ++s.n_valid;
      s.denom += s.class_weight(s.target[size_t(t)]);
    }
  return nullptr;
}

double logsumexp(const std::vector<double> &z) {
  double m = -std::numeric_limits<double>::infinity();
  for (double v : z) m = std::max(m, v);
  if (!std::isfinite(m)) return m;
  double sum = 0;
  for (double v : z) sum += std::exp(v - m);
  return m + std::log(sum);
}

mojo_status *fused_linear_cross_entropy_fwd(const KernelCall &c) {
  CeSetup s;
  if (mojo_status *st = ce_setup(c, c.in(0), c.in(1), c.in(2), c.in(3), c.in(4), s)) return st;
  std::vector<double> lse(static_cast<size_t>(s.nt)), ell(static_cast<size_t>(s.nt), 0.0);
  parallel_for(s.nt, 2 * s.vocab * s.h, [&](int64_t begin, int64_t end) {
    std::vector<double> raw(static_cast<size_t>(s.vocab)), z(static_cast<size_t>(s.vocab));
    for (int64_t t = begin; t < end; ++t) {
      s.logits(t, raw, z);
      const double l = logsumexp(z);
      lse[size_t(t)] = l;
      if (!s.valid(t)) continue;
      const int64_t y = s.target[size_t(t)];
      double smooth = 0;
      if (s.eps != 0)
        for (int64_t cls = 0; cls < s.vocab; ++cls) smooth += s.class_weight(cls) * (l - z[size_t(cls)]);
      ell[size_t(t)] = (1 - s.eps) * s.class_weight(y) * (l - z[size_t(y)]) + s.eps / double(s.vocab) * smooth;
    }
  });
  double zl = 0, total = 0;
  for (int64_t t = 0; t < s.nt; ++t)
    if (s.valid(t)) {
      zl += lse[size_t(t)] * lse[size_t(t)];
      total += ell[size_t(t)];
    }
  zl = s.n_valid > 0 ? s.lss * zl / double(s.n_valid) : 0.0;
  TensorView loss(c.out(0)), zlv(c.out(1)), lsev(c.out(2));
  if (s.reduction == "none") {
    for (int64_t t = 0; t < s.nt; ++t) loss.store(t * loss.stride(0), float(ell[size_t(t)] + zl));
  } else {
    double v = s.reduction == "sum" ? total : total / s.denom;  // mean with no valid token: 0/0 = NaN
    if (s.reduction == "mean" && s.n_valid == 0) v = std::numeric_limits<double>::quiet_NaN();
    loss.store(0, float(v + zl));
  }
  if (zlv.present()) zlv.store(0, float(zl));
  for (int64_t t = 0; t < s.nt; ++t) lsev.store(t * lsev.stride(0), float(lse[size_t(t)]));
  return nullptr;
}

mojo_status *fused_linear_cross_entropy_bwd(const KernelCall &c) {
  CeSetup s;
  if (mojo_status *st = ce_setup(c, c.in(2), c.in(3), c.in(4), c.in(5), c.in(6), s)) return st;
  TensorView gl(c.in(0)), gz(c.in(1)), lsev(c.in(7));
  const bool none = s.reduction == "none";
  std::vector<double> grad(static_cast<size_t>(s.nt), 0.0);
  double grad_sum = 0;  // d(total)/d(zl): the z-loss is broadcast into every loss element for 'none'
  if (none) {
    for (int64_t t = 0; t < s.nt; ++t) grad_sum += (grad[size_t(t)] = gl.load(t * gl.stride(0)));
  } else {
    grad_sum = gl.load(0);
    std::fill(grad.begin(), grad.end(), grad_sum / (s.reduction == "mean" ? s.denom : 1.0));
  }
  const double gzl = gz.present() ? gz.load(0) : 0.0;
  const double zcoef = s.n_valid > 0 ? (grad_sum + gzl) * s.lss * 2.0 / double(s.n_valid) : 0.0;
  std::vector<double> dz(static_cast<size_t>(s.nt * s.vocab), 0.0);
  parallel_for(s.nt, 4 * s.vocab * s.h, [&](int64_t begin, int64_t end) {
    std::vector<double> raw(static_cast<size_t>(s.vocab)), z(static_cast<size_t>(s.vocab));
    for (int64_t t = begin; t < end; ++t) {
      if (!s.valid(t)) continue;
      s.logits(t, raw, z);
      const double l = lsev.load(t * lsev.stride(0));
      const int64_t y = s.target[size_t(t)];
      double *d = &dz[size_t(t * s.vocab)];
      for (int64_t cls = 0; cls < s.vocab; ++cls) {
        const double p = std::exp(z[size_t(cls)] - l);
        double g_ce = (1 - s.eps) * s.class_weight(y) * (p - (cls == y ? 1.0 : 0.0)) +
                      s.eps / double(s.vocab) * (s.cw_total * p - s.class_weight(cls));
        double v = grad[size_t(t)] * g_ce + zcoef * l * p;
        if (s.has_cap) {
          double th = std::tanh(raw[size_t(cls)] / s.cap);
          v *= 1.0 - th * th;
        }
        d[cls] = v;
      }
    }
  });
  TensorView dx(c.out(0)), dw(c.out(1)), db(c.out(2));
  parallel_for(s.nt, 2 * s.vocab * s.h, [&](int64_t begin, int64_t end) {
    std::vector<double> acc(static_cast<size_t>(s.h));
    std::vector<float> row(static_cast<size_t>(s.h));
    for (int64_t t = begin; t < end; ++t) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t cls = 0; cls < s.vocab; ++cls) {
        const double d = dz[size_t(t * s.vocab + cls)];
        if (d == 0) continue;
        for (int64_t e = 0; e < s.h; ++e) acc[size_t(e)] += d * s.w[size_t(cls * s.h + e)];
      }
      for (int64_t e = 0; e < s.h; ++e) row[size_t(e)] = float(acc[size_t(e)]);
      dx.store_row(t, row.data());
    }
  });
  parallel_for(s.vocab, 2 * s.nt * s.h, [&](int64_t begin, int64_t end) {
    std::vector<double> acc(static_cast<size_t>(s.h));
    std::vector<float> row(static_cast<size_t>(s.h));
    for (int64_t cls = begin; cls < end; ++cls) {
      std::fill(acc.begin(), acc.end(), 0.0);
      double bsum = 0;
      for (int64_t t = 0; t < s.nt; ++t) {
        const double d = dz[size_t(t * s.vocab + cls)];
        bsum += d;
        if (d == 0) continue;
        for (int64_t e = 0; e < s.h; ++e) acc[size_t(e)] += d * s.x[size_t(t * s.h + e)];
      }
      for (int64_t e = 0; e < s.h; ++e) row[size_t(e)] = float(acc[size_t(e)]);
      dw.store_row(cls, row.data());
      if (db.present()) db.store(cls * db.stride(0), float(bsum));
    }
  });
  return nullptr;
}

// ---- MoE gating -------------------------------------------------------------------------------------------

mojo_status *moe_gating_fwd(const KernelCall &c) {
  TensorView xv(c.in(0)), idx(c.out(0)), gates(c.out(1)), probs(c.out(2));
  const std::vector<float> wg = TensorView(c.in(1)).to_floats();
  const int64_t n = xv.dim(0), h = xv.dim(1), e = probs.dim(1), top_k = c.attr_int("top_k");
  auto *idx_data = static_cast<int32_t *>(common::data_ptr(*c.out(0)));
  parallel_for(n, 2 * h * e, [&](int64_t begin, int64_t end) {
    std::vector<float> x(static_cast<size_t>(h));
    std::vector<double> p(static_cast<size_t>(e));
    std::vector<int64_t> order(static_cast<size_t>(e));
    for (int64_t r = begin; r < end; ++r) {
      xv.load_row(r, x.data());
      for (int64_t j = 0; j < e; ++j) {
        double acc = 0;
        for (int64_t i = 0; i < h; ++i) acc += double(x[size_t(i)]) * wg[size_t(i * e + j)];
        p[size_t(j)] = acc;
      }
      double m = *std::max_element(p.begin(), p.end()), sum = 0;
      for (double &v : p) sum += (v = std::exp(v - m));
      for (double &v : p) v /= sum;
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[size_t(a)] > p[size_t(b)]; });
      double sel = 0;
      for (int64_t k = 0; k < top_k; ++k) sel += p[size_t(order[size_t(k)])];
      for (int64_t k = 0; k < top_k; ++k) {
        idx_data[idx.row_offset(r) + k] = int32_t(order[size_t(k)]);
        gates.store(gates.row_offset(r) + k, float(p[size_t(order[size_t(k)])] / sel));
      }
      for (int64_t j = 0; j < e; ++j) probs.store(probs.row_offset(r) + j, float(p[size_t(j)]));
    }
  });
  return nullptr;
}

mojo_status *moe_gating_bwd(const KernelCall &c) {
  TensorView dg(c.in(0)), xv(c.in(1)), probs(c.in(3)), idx(c.in(4)), dx(c.out(0)), dwg(c.out(1));
  const std::vector<float> wg = TensorView(c.in(2)).to_floats(), x = xv.to_floats();
  const int64_t n = xv.dim(0), h = xv.dim(1), e = probs.dim(1), top_k = idx.dim(1);
  std::vector<int64_t> sel(static_cast<size_t>(n * top_k));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t k = 0; k < top_k; ++k) {
      int64_t ex = idx.load_index(idx.row_offset(r) + k);
      if (ex < 0 || ex >= e)
        return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'top_k_indices' has " + std::to_string(ex) + " at row " +
                                                         std::to_string(r) + ", expected [0, " + std::to_string(e) + ")");
      for (int64_t j = 0; j < k; ++j)
        if (sel[size_t(r * top_k + j)] == ex)
          return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'top_k_indices' repeats expert " + std::to_string(ex) +
                                                           " in row " + std::to_string(r) + ", expected distinct experts");
      sel[size_t(r * top_k + k)] = ex;
    }
  std::vector<double> dz(static_cast<size_t>(n * e), 0.0);
  parallel_for(n, 4 * h * e, [&](int64_t begin, int64_t end) {
    std::vector<double> p(static_cast<size_t>(e)), dp(static_cast<size_t>(e));
    std::vector<float> row(static_cast<size_t>(h));
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t j = 0; j < e; ++j) p[size_t(j)] = probs.load(probs.row_offset(r) + j);
      const int64_t *ex = &sel[size_t(r * top_k)];
      double sv = 0, dot = 0;
      for (int64_t k = 0; k < top_k; ++k) sv += p[size_t(ex[k])];
      for (int64_t k = 0; k < top_k; ++k) dot += dg.load(dg.row_offset(r) + k) * p[size_t(ex[k])] / sv;
      std::fill(dp.begin(), dp.end(), 0.0);
      for (int64_t k = 0; k < top_k; ++k) dp[size_t(ex[k])] += (dg.load(dg.row_offset(r) + k) - dot) / sv;
      double pdp = 0;
      for (int64_t j = 0; j < e; ++j) pdp += p[size_t(j)] * dp[size_t(j)];
      double *d = &dz[size_t(r * e)];
      for (int64_t j = 0; j < e; ++j) d[j] = p[size_t(j)] * (dp[size_t(j)] - pdp);
      for (int64_t i = 0; i < h; ++i) {
        double acc = 0;
        for (int64_t j = 0; j < e; ++j) acc += d[j] * wg[size_t(i * e + j)];
        row[size_t(i)] = float(acc);
      }
      dx.store_row(r, row.data());
    }
  });
  parallel_for(h, 2 * n * e, [&](int64_t begin, int64_t end) {
    std::vector<double> acc(static_cast<size_t>(e));
    std::vector<float> row(static_cast<size_t>(e));
    for (int64_t i = begin; i < end; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t r = 0; r < n; ++r) {
        const double xi = x[size_t(r * h + i)];
        for (int64_t j = 0; j < e; ++j) acc[size_t(j)] += xi * dz[size_t(r * e + j)];
      }
      for (int64_t j = 0; j < e; ++j) row[size_t(j)] = float(acc[size_t(j)]);
      dwg.store_row(i, row.data());
    }
  });
  return nullptr;
}

}  // namespace

void add_training_loss_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"fused_linear_cross_entropy_fwd", kFloatMask, fused_linear_cross_entropy_fwd});
  table.push_back({"fused_linear_cross_entropy_bwd", dt_bit(MOJO_DT_FP32), fused_linear_cross_entropy_bwd});
  table.push_back({"moe_gating_fwd", kFloatMask, moe_gating_fwd});
  table.push_back({"moe_gating_bwd", dt_bit(MOJO_DT_FP32), moe_gating_bwd});
}

}  // namespace mojo::cpu
