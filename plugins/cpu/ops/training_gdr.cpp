// Reference gated delta rule forward/backward (spec/training.md 8): the token-recurrent definition in fp64,
// one task per (sequence, kv head). The backward recomputes and keeps every state of its sequence and runs
// the recurrence's adjoint in reverse time.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernel.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

constexpr double kL2Eps = 1e-6;

struct GdrProblem {
  int64_t t_total = 0, hq = 0, hk = 0, dk = 0, dv = 0, nseq = 0;
  std::vector<int64_t> cu;
  std::vector<float> q, k, v, g, beta, init;
  bool l2 = false;
  double scale = 1;
  int64_t group() const { return hq / hk; }
};

// q/k/v/g/beta/cu_seqlens/initial_state are the inputs at in(first) .. in(first + 6).
mojo_status *gdr_load(const KernelCall &c, size_t first, GdrProblem &p) {
  TensorView qv(c.in(first)), kv(c.in(first + 1)), vv(c.in(first + 2)), cu(c.in(first + 5));
  p.t_total = qv.dim(1);
  p.hq = qv.dim(2);
  p.dk = qv.dim(3);
  p.hk = kv.dim(2);
  p.dv = vv.dim(3);
  p.nseq = cu.numel() - 1;
  p.cu.resize(static_cast<size_t>(p.nseq + 1));
  for (int64_t i = 0; i <= p.nseq; ++i) p.cu[size_t(i)] = cu.load_index(i * cu.stride(0));
  if (p.cu[0] != 0)
    return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'cu_seqlens' must start at 0, got " + std::to_string(p.cu[0]));
  for (int64_t i = 0; i < p.nseq; ++i)
    if (p.cu[size_t(i + 1)] < p.cu[size_t(i)])
      return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'cu_seqlens' must be non-decreasing, entry " +
                                                       std::to_string(i + 1) + " is " +
                                                       std::to_string(p.cu[size_t(i + 1)]));
  if (p.cu[size_t(p.nseq)] > p.t_total)
    return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'cu_seqlens' ends at " +
                                                     std::to_string(p.cu[size_t(p.nseq)]) + ", expected <= T=" +
                                                     std::to_string(p.t_total));
  p.q = qv.to_floats();
  p.k = kv.to_floats();
  p.v = vv.to_floats();
  p.g = TensorView(c.in(first + 3)).to_floats();
  p.beta = TensorView(c.in(first + 4)).to_floats();
  if (c.in(first + 6)) p.init = TensorView(c.in(first + 6)).to_floats();
  p.l2 = c.attr_bool("use_qk_l2norm");
  p.scale = c.attr_is_null("scale") ? 1.0 / std::sqrt(double(p.dk)) : c.attr_float("scale");
  return nullptr;
}

// x / sqrt(|x|^2 + eps) (or x itself) into out; returns the divisor.
double normalize(const float *x, int64_t n, bool l2, double *out) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  double norm = l2 ? std::sqrt(ss + kL2Eps) : 1.0;
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] / norm;
  return norm;
}

// Gradient through normalize: dx = (dxh - xh (xh . dxh)) / norm (identity without l2).
void normalize_bwd(const double *xh, const double *dxh, double norm, int64_t n, bool l2, double *dx) {
  double dot = 0;
  if (l2)
    for (int64_t i = 0; i < n; ++i) dot += xh[i] * dxh[i];
  for (int64_t i = 0; i < n; ++i) dx[i] = l2 ? (dxh[i] - xh[i] * dot) / norm : dxh[i];
}

// Stores a row-major fp64 buffer into a (possibly strided) tensor.
void store_all(const mojo_tensor *t, const std::vector<double> &vals) {
  TensorView view(t);
  std::vector<float> row(static_cast<size_t>(view.cols()));
  for (int64_t r = 0; r < view.rows(); ++r) {
    for (int64_t c = 0; c < view.cols(); ++c) row[size_t(c)] = float(vals[size_t(r * view.cols() + c)]);
    view.store_row(r, row.data());
  }
}

mojo_status *gated_delta_rule_fwd(const KernelCall &c) {
  GdrProblem p;
  if (mojo_status *s = gdr_load(c, 0, p)) return s;
  TensorView o(c.out(0)), fin(c.out(1));
  const int64_t dk = p.dk, dv = p.dv;
  parallel_for(p.nseq * p.hk, (p.t_total / std::max<int64_t>(p.nseq, 1) + 1) * dk * dv * (3 + p.group()),
               [&](int64_t begin, int64_t end) {
                 std::vector<double> S(static_cast<size_t>(dk * dv)), kh(static_cast<size_t>(dk)), qh(static_cast<size_t>(dk)), u(static_cast<size_t>(dv));
                 std::vector<float> orow(static_cast<size_t>(dv));
                 for (int64_t task = begin; task < end; ++task) {
                   const int64_t b = task / p.hk, h = task % p.hk;
                   for (int64_t i = 0; i < dk * dv; ++i)
                     S[size_t(i)] = p.init.empty() ? 0.0 : p.init[size_t((b * p.hk + h) * dk * dv + i)];
                   for (int64_t t = p.cu[size_t(b)]; t < p.cu[size_t(b + 1)]; ++t) {
                     const double alpha = std::exp(double(p.g[size_t(t * p.hk + h)]));
                     const double beta = p.beta[size_t(t * p.hk + h)];
                     normalize(&p.k[size_t((t * p.hk + h) * dk)], dk, p.l2, kh.data());
                     const float *vt = &p.v[size_t((t * p.hk + h) * dv)];
                     for (double &s : S) s *= alpha;
                     for (int64_t j = 0; j < dv; ++j) {
                       double pred = 0;
                       for (int64_t a = 0; a < dk; ++a) pred += S[size_t(a * dv + j)] * kh[size_t(a)];
                       u[size_t(j)] = beta * (vt[j] - pred);
                     }
                     for (int64_t a = 0; a < dk; ++a)
                       for (int64_t j = 0; j < dv; ++j) S[size_t(a * dv + j)] += kh[size_t(a)] * u[size_t(j)];
                     for (int64_t hh = h * p.group(); hh < (h + 1) * p.group(); ++hh) {
                       normalize(&p.q[size_t((t * p.hq + hh) * dk)], dk, p.l2, qh.data());
                       for (int64_t j = 0; j < dv; ++j) {
                         double acc = 0;
                         for (int64_t a = 0; a < dk; ++a) acc += S[size_t(a * dv + j)] * qh[size_t(a)];
                         orow[size_t(j)] = float(p.scale * acc);
                       }
                       o.store_row(t * p.hq + hh, orow.data());
                     }
                   }
                   if (fin.present()) {
                     std::vector<float> srow(static_cast<size_t>(dv));
                     for (int64_t a = 0; a < dk; ++a) {
                       for (int64_t j = 0; j < dv; ++j) srow[size_t(j)] = float(S[size_t(a * dv + j)]);
                       fin.store_row((b * p.hk + h) * dk + a, srow.data());
                     }
                   }
                 }
               });
  return nullptr;
}

mojo_status *gated_delta_rule_bwd(const KernelCall &c) {
  GdrProblem p;
  if (mojo_status *s = gdr_load(c, 2, p)) return s;
  const std::vector<float> dout = TensorView(c.in(0)).to_floats();
  std::vector<float> dfin;
  if (c.in(1)) dfin = TensorView(c.in(1)).to_floats();
  const int64_t dk = p.dk, dv = p.dv, grp = p.group();
  std::vector<double> dq(p.q.size(), 0.0), dkk(p.k.size(), 0.0), dvv(p.v.size(), 0.0), dg(p.g.size(), 0.0),
      dbeta(p.beta.size(), 0.0), dinit(static_cast<size_t>(p.nseq * p.hk * dk * dv), 0.0);
  parallel_for(
      p.nseq * p.hk, (p.t_total / std::max<int64_t>(p.nseq, 1) + 1) * dk * dv * (8 + 2 * grp),
      [&](int64_t begin, int64_t end) {
        const size_t ss = size_t(dk * dv);
        std::vector<double> dS(ss), dA(ss), kh(static_cast<size_t>(dk)), qh(static_cast<size_t>(dk)), u(static_cast<size_t>(dv)), pred(static_cast<size_t>(dv)),
            du(static_cast<size_t>(dv)), dkh(static_cast<size_t>(dk)), dqh(static_cast<size_t>(dk)), tmp(static_cast<size_t>(dk));
        for (int64_t task = begin; task < end; ++task) {
          const int64_t b = task / p.hk, h = task % p.hk, t0 = p.cu[size_t(b)], n = p.cu[size_t(b + 1)] - t0;
          // states[i] is the state after i tokens of this sequence.
          std::vector<double> states(static_cast<size_t>(n + 1) * ss);
          for (size_t i = 0; i < ss; ++i) states[i] = p.init.empty() ? 0.0 : p.init[size_t(task) * ss + i];
          for (int64_t i = 0; i < n; ++i) {
            const int64_t t = t0 + i;
            const double alpha = std::exp(double(p.g[size_t(t * p.hk + h)]));
            const double beta = p.beta[size_t(t * p.hk + h)];
            normalize(&p.k[size_t((t * p.hk + h) * dk)], dk, p.l2, kh.data());
            const float *vt = &p.v[size_t((t * p.hk + h) * dv)];
            const double *prev = &states[size_t(i) * ss];
            double *cur = &states[size_t(i + 1) * ss];
            for (size_t e = 0; e < ss; ++e) cur[e] = alpha * prev[e];
            for (int64_t j = 0; j < dv; ++j) {
              double pr = 0;
              for (int64_t a = 0; a < dk; ++a) pr += cur[a * dv + j] * kh[size_t(a)];
              u[size_t(j)] = beta * (vt[j] - pr);
            }
            for (int64_t a = 0; a < dk; ++a)
              for (int64_t j = 0; j < dv; ++j) cur[a * dv + j] += kh[size_t(a)] * u[size_t(j)];
          }
          for (size_t e = 0; e < ss; ++e) dS[e] = dfin.empty() ? 0.0 : dfin[size_t(task) * ss + e];
          for (int64_t i = n - 1; i >= 0; --i) {
            const int64_t t = t0 + i;
            const double alpha = std::exp(double(p.g[size_t(t * p.hk + h)]));
            const double beta = p.beta[size_t(t * p.hk + h)];
            const float *kt = &p.k[size_t((t * p.hk + h) * dk)];
            const double knorm = normalize(kt, dk, p.l2, kh.data());
            const float *vt = &p.v[size_t((t * p.hk + h) * dv)];
            const double *prev = &states[size_t(i) * ss], *cur = &states[size_t(i + 1) * ss];
            // o[hh] = scale S_t^T qh[hh]
            for (int64_t hh = h * grp; hh < (h + 1) * grp; ++hh) {
              const float *qt = &p.q[size_t((t * p.hq + hh) * dk)];
              const double qnorm = normalize(qt, dk, p.l2, qh.data());
              const float *dot = &dout[size_t((t * p.hq + hh) * dv)];
              for (int64_t a = 0; a < dk; ++a) {
                double acc = 0;
                for (int64_t j = 0; j < dv; ++j) {
                  dS[size_t(a * dv + j)] += p.scale * qh[size_t(a)] * dot[j];
                  acc += cur[a * dv + j] * dot[j];
                }
                dqh[size_t(a)] = p.scale * acc;
              }
              normalize_bwd(qh.data(), dqh.data(), qnorm, dk, p.l2, tmp.data());
              for (int64_t a = 0; a < dk; ++a) dq[size_t((t * p.hq + hh) * dk + a)] = tmp[size_t(a)];
            }
            // S_t = A + kh u^T, A = alpha S_{t-1}, u = beta (v - A^T kh)
            for (int64_t j = 0; j < dv; ++j) {
              double pr = 0;
              for (int64_t a = 0; a < dk; ++a) pr += alpha * prev[a * dv + j] * kh[size_t(a)];
              pred[size_t(j)] = pr;
              u[size_t(j)] = beta * (vt[j] - pr);
            }
            double dbeta_acc = 0;
            for (int64_t j = 0; j < dv; ++j) {
              double acc = 0;
              for (int64_t a = 0; a < dk; ++a) acc += dS[size_t(a * dv + j)] * kh[size_t(a)];
              du[size_t(j)] = acc;
              dbeta_acc += acc * (vt[j] - pred[size_t(j)]);
              dvv[size_t((t * p.hk + h) * dv + j)] = beta * acc;
            }
            for (int64_t a = 0; a < dk; ++a) {
              double acc = 0, acc2 = 0;
              for (int64_t j = 0; j < dv; ++j) {
                acc += dS[size_t(a * dv + j)] * u[size_t(j)];
                acc2 += alpha * prev[a * dv + j] * (-beta * du[size_t(j)]);  // A dpred
              }
              dkh[size_t(a)] = acc + acc2;
            }
            double dalpha = 0;
            for (int64_t a = 0; a < dk; ++a)
              for (int64_t j = 0; j < dv; ++j) {
                const size_t e = size_t(a * dv + j);
                dA[e] = dS[e] + kh[size_t(a)] * (-beta * du[size_t(j)]);
                dalpha += dA[e] * prev[e];
                dS[e] = alpha * dA[e];
              }
            dg[size_t(t * p.hk + h)] = alpha * dalpha;
            dbeta[size_t(t * p.hk + h)] = dbeta_acc;
            normalize_bwd(kh.data(), dkh.data(), knorm, dk, p.l2, tmp.data());
            for (int64_t a = 0; a < dk; ++a) dkk[size_t((t * p.hk + h) * dk + a)] = tmp[size_t(a)];
          }
          for (size_t e = 0; e < ss; ++e) dinit[size_t(task) * ss + e] = dS[e];
        }
      });
  store_all(c.out(0), dq);
  store_all(c.out(1), dkk);
  store_all(c.out(2), dvv);
  store_all(c.out(3), dg);
  store_all(c.out(4), dbeta);
  if (c.out(5)) store_all(c.out(5), dinit);
  return nullptr;
}

}  // namespace

void add_training_gdr_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"gated_delta_rule_fwd", kFloatMask, gated_delta_rule_fwd});
  table.push_back({"gated_delta_rule_bwd", kFloatMask, gated_delta_rule_bwd});
}

}  // namespace mojo::cpu
