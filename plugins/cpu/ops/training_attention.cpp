// Reference varlen flash attention forward/backward (spec/training.md 1): plain fp64 softmax over every
// visible key, no tiling; the backward recomputes P from the saved lse exactly as a flash kernel does.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernel.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

struct AttnGeometry {
  int64_t tq, tk, hq, hkv, d, batch;
  std::vector<int64_t> cu_q, cu_k;
  bool causal, abab;
  bool has_wl, has_wg;
  int64_t wl, wg;
  double scale;

  int64_t kv_head(int64_t h) const { return abab ? h % hkv : h / (hq / hkv); }
  // Query row i of a sequence with n new tokens and L keys may see key j.
  bool allowed(int64_t i, int64_t j, int64_t n, int64_t len) const {
    if (!causal) return true;
    int64_t pos = len - n + i;
    if (j > pos) return false;
    if (!has_wl && !has_wg) return true;
    return (has_wl && pos - j <= wl) || (has_wg && j < wg);
  }
};

// Reads shapes, attributes and the two cu-tensors; returns a status (nothing written) on bad lengths.
mojo_status *read_geometry(const KernelCall &c, const mojo_tensor *q, const mojo_tensor *k, const mojo_tensor *cuq_t,
                           const mojo_tensor *cuk_t, AttnGeometry &g) {
  TensorView qv(q), kv(k), cuq(cuq_t), cuk(cuk_t);
  g.tq = qv.dim(0);
  g.hq = qv.dim(1);
  g.d = qv.dim(2);
  g.tk = kv.dim(0);
  g.hkv = kv.dim(1);
  g.batch = cuq.numel() - 1;
  g.causal = c.attr_bool("is_causal");
  g.abab = c.attr_string("gqa_layout") == "ABAB";
  g.has_wl = !c.attr_is_null("local_window_size");
  g.has_wg = !c.attr_is_null("global_window_size");
  g.wl = c.attr_int("local_window_size");
  g.wg = c.attr_int("global_window_size");
  g.scale = c.attr_is_null("softmax_scale") ? 1.0 / std::sqrt(double(g.d)) : c.attr_float("softmax_scale");
  g.cu_q.resize(static_cast<size_t>(g.batch + 1));
  g.cu_k.resize(static_cast<size_t>(g.batch + 1));
  for (int64_t b = 0; b <= g.batch; ++b) {
    g.cu_q[size_t(b)] = cuq.load_index(b);
    g.cu_k[size_t(b)] = cuk.load_index(b);
  }
  const struct {
    const char *name;
    const std::vector<int64_t> &cu;
    int64_t limit;
  } checks[] = {{"cu_q_lens", g.cu_q, g.tq}, {"cu_total_seq_lens", g.cu_k, g.tk}};
  for (const auto &chk : checks) {
    if (chk.cu[0] != 0)
      return c.error(MOJO_STATUS_INVALID_ARGUMENT,
                     std::string("input '") + chk.name + "' must start at 0, got " + std::to_string(chk.cu[0]));
    for (int64_t b = 0; b < g.batch; ++b)
      if (chk.cu[size_t(b + 1)] < chk.cu[size_t(b)])
        return c.error(MOJO_STATUS_INVALID_ARGUMENT, std::string("input '") + chk.name +
                                                         "' must be non-decreasing, entry " + std::to_string(b + 1) +
                                                         " is " + std::to_string(chk.cu[size_t(b + 1)]));
    if (chk.cu[size_t(g.batch)] > chk.limit)
      return c.error(MOJO_STATUS_INVALID_ARGUMENT, std::string("input '") + chk.name + "' ends at " +
                                                       std::to_string(chk.cu[size_t(g.batch)]) +
                                                       ", expected <= " + std::to_string(chk.limit) + " tokens");
  }
  if (g.causal)
    for (int64_t b = 0; b < g.batch; ++b) {
      int64_t n = g.cu_q[size_t(b + 1)] - g.cu_q[size_t(b)], len = g.cu_k[size_t(b + 1)] - g.cu_k[size_t(b)];
      if (n > len)
        return c.error(MOJO_STATUS_INVALID_ARGUMENT,
                       "sequence " + std::to_string(b) + " has " + std::to_string(n) + " queries but " +
                           std::to_string(len) + " keys; causal attention expects the keys to end with the queries");
    }
  return nullptr;
}

mojo_status *flash_attention_fwd(const KernelCall &c) {
  AttnGeometry g;
  if (mojo_status *s = read_geometry(c, c.in(0), c.in(1), c.in(3), c.in(4), g)) return s;
  const std::vector<float> q = TensorView(c.in(0)).to_floats(), k = TensorView(c.in(1)).to_floats(),
                           v = TensorView(c.in(2)).to_floats();
  TensorView o(c.out(0)), lse(c.out(1)), o32(c.out(2));
  std::vector<int64_t> row_seq(static_cast<size_t>(g.tq), -1);
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t t = g.cu_q[size_t(b)]; t < g.cu_q[size_t(b + 1)]; ++t) row_seq[size_t(t)] = b;
  const int64_t d = g.d;
  parallel_for(g.tq, g.hq * (g.tk / std::max<int64_t>(g.batch, 1) + 1) * 2 * d, [&](int64_t begin, int64_t end) {
    std::vector<double> s, acc(static_cast<size_t>(d));
    std::vector<float> row(static_cast<size_t>(d));
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = row_seq[size_t(t)];
      if (b < 0) continue;
      const int64_t n = g.cu_q[size_t(b + 1)] - g.cu_q[size_t(b)], i = t - g.cu_q[size_t(b)];
      const int64_t k0 = g.cu_k[size_t(b)], len = g.cu_k[size_t(b + 1)] - k0;
      s.assign(static_cast<size_t>(len), 0.0);
      for (int64_t h = 0; h < g.hq; ++h) {
        const int64_t kh = g.kv_head(h);
        const float *qi = &q[size_t((t * g.hq + h) * d)];
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < len; ++j) {
          if (!g.allowed(i, j, n, len)) continue;
          const float *kj = &k[size_t(((k0 + j) * g.hkv + kh) * d)];
          double dot = 0;
          for (int64_t e = 0; e < d; ++e) dot += double(qi[e]) * kj[e];
          s[size_t(j)] = g.scale * dot;
          m = std::max(m, s[size_t(j)]);
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        double lse_v = m, sum = 0;
        if (std::isfinite(m)) {
          for (int64_t j = 0; j < len; ++j) {
            if (!g.allowed(i, j, n, len)) continue;
            double p = std::exp(s[size_t(j)] - m);
            sum += p;
            const float *vj = &v[size_t(((k0 + j) * g.hkv + kh) * d)];
            for (int64_t e = 0; e < d; ++e) acc[size_t(e)] += p * vj[e];
          }
          lse_v = m + std::log(sum);
        }
        for (int64_t e = 0; e < d; ++e) row[size_t(e)] = sum > 0 ? float(acc[size_t(e)] / sum) : 0.0f;
        o.store_row(t * g.hq + h, row.data());
        if (o32.present()) o32.store_row(t * g.hq + h, row.data());
        lse.store(lse.row_offset(h) + t, float(lse_v));
      }
    }
  });
  return nullptr;
}

mojo_status *flash_attention_bwd(const KernelCall &c) {
  AttnGeometry g;
  if (mojo_status *s = read_geometry(c, c.in(1), c.in(2), c.in(6), c.in(7), g)) return s;
  const std::vector<float> dout = TensorView(c.in(0)).to_floats(), q = TensorView(c.in(1)).to_floats(),
                           k = TensorView(c.in(2)).to_floats(), v = TensorView(c.in(3)).to_floats(),
                           o = TensorView(c.in(4)).to_floats(), lse = TensorView(c.in(5)).to_floats();
  const int64_t d = g.d, group = g.hq / g.hkv;
  std::vector<double> dq(q.size(), 0.0), dk(k.size(), 0.0), dv(v.size(), 0.0);
  // One task per (sequence, kv head): it owns the dk/dv rows of its keys and the dq rows of its query heads.
  parallel_for(g.batch * g.hkv, (g.tq / std::max<int64_t>(g.batch, 1) + 1) * (g.tk / std::max<int64_t>(g.batch, 1) + 1) *
                                    group * 4 * d,
               [&](int64_t begin, int64_t end) {
                 for (int64_t task = begin; task < end; ++task) {
                   const int64_t b = task / g.hkv, kh = task % g.hkv;
                   const int64_t q0 = g.cu_q[size_t(b)], n = g.cu_q[size_t(b + 1)] - q0;
                   const int64_t k0 = g.cu_k[size_t(b)], len = g.cu_k[size_t(b + 1)] - k0;
                   for (int64_t h = 0; h < g.hq; ++h) {
                     if (g.kv_head(h) != kh) continue;
                     for (int64_t i = 0; i < n; ++i) {
                       const size_t qi = size_t(((q0 + i) * g.hq + h) * d);
                       const double l = lse[size_t(h * g.tq + q0 + i)];
                       if (!std::isfinite(l)) continue;
                       double delta = 0;
                       for (int64_t e = 0; e < d; ++e) delta += double(o[qi + size_t(e)]) * dout[qi + size_t(e)];
                       for (int64_t j = 0; j < len; ++j) {
                         if (!g.allowed(i, j, n, len)) continue;
                         const size_t kj = size_t(((k0 + j) * g.hkv + kh) * d);
                         double sdot = 0, dp = 0;
                         for (int64_t e = 0; e < d; ++e) {
                           sdot += double(q[qi + size_t(e)]) * k[kj + size_t(e)];
                           dp += double(dout[qi + size_t(e)]) * v[kj + size_t(e)];
                         }
                         const double p = std::exp(g.scale * sdot - l);
                         const double ds = p * (dp - delta) * g.scale;
                         for (int64_t e = 0; e < d; ++e) {
                           dq[qi + size_t(e)] += ds * k[kj + size_t(e)];
                           dk[kj + size_t(e)] += ds * q[qi + size_t(e)];
                           dv[kj + size_t(e)] += p * dout[qi + size_t(e)];
                         }
                       }
                     }
                   }
                 }
               });
  const struct {
    const mojo_tensor *t;
    const std::vector<double> &vals;
  } outs[] = {{c.out(0), dq}, {c.out(1), dk}, {c.out(2), dv}};
  for (const auto &out : outs) {
    TensorView view(out.t);
    std::vector<float> row(static_cast<size_t>(d));
    for (int64_t r = 0; r < view.rows(); ++r) {
      for (int64_t e = 0; e < d; ++e) row[size_t(e)] = float(out.vals[size_t(r * d + e)]);
      view.store_row(r, row.data());
    }
  }
  return nullptr;
}

}  // namespace

void add_training_attention_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"flash_attention_fwd", kFloatMask, flash_attention_fwd});
  table.push_back({"flash_attention_bwd", kFloatMask, flash_attention_bwd});
}

}  // namespace mojo::cpu
