// Reference training ops (spec/training.md), elementwise and row-wise pairs: silu, swiglu, rope, rms_norm.
// The attention, cross-entropy/MoE-gating and gated-delta-rule pairs live in training_<name>.cpp.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernel.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {

void add_training_attention_kernels(std::vector<KernelEntry> &table);
void add_training_loss_kernels(std::vector<KernelEntry> &table);
void add_training_gdr_kernels(std::vector<KernelEntry> &table);

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Element offset of logical (row-major) flat index i.
int64_t flat_offset(const TensorView &t, int64_t i) { return t.row_offset(i / t.cols()) + i % t.cols(); }

// Applies f(values of every input at flat index i) -> values of every output, elementwise in fp32.
template <int NIn, int NOut, typename F>
void elementwise(const KernelCall &c, F f) {
  std::vector<TensorView> in, out;
  for (int k = 0; k < NIn; ++k) in.emplace_back(c.in(static_cast<size_t>(k)));
  for (int k = 0; k < NOut; ++k) out.emplace_back(c.out(static_cast<size_t>(k)));
  parallel_for(in[0].numel(), 32, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      double a[NIn], r[NOut];
      for (int k = 0; k < NIn; ++k) a[k] = in[k].load(flat_offset(in[k], i));
      f(a, r);
      for (int k = 0; k < NOut; ++k) out[k].store(flat_offset(out[k], i), float(r[k]));
    }
  });
}

mojo_status *silu_fwd(const KernelCall &c) {
  elementwise<1, 1>(c, [](const double *a, double *r) { r[0] = a[0] * sigmoid(a[0]); });
  return nullptr;
}

mojo_status *silu_bwd(const KernelCall &c) {
  elementwise<2, 1>(c, [](const double *a, double *r) {
    double s = sigmoid(a[1]);
    r[0] = a[0] * s * (1.0 + a[1] * (1.0 - s));
  });
  return nullptr;
}

mojo_status *swiglu_fwd(const KernelCall &c) {
  const double limit = c.attr_float("swiglu_limit");
  elementwise<2, 1>(c, [limit](const double *a, double *r) {
    double gate = a[0], up = a[1];
    if (limit > 0) {
      gate = std::min(gate, limit);
      up = std::max(-limit, std::min(up, limit));
    }
    r[0] = gate * sigmoid(gate) * up;
  });
  return nullptr;
}

mojo_status *swiglu_bwd(const KernelCall &c) {
  const double limit = c.attr_float("swiglu_limit");
  elementwise<3, 2>(c, [limit](const double *a, double *r) {
    double dy = a[0], gate = a[1], up = a[2];
    double gate_pass = 1.0, up_pass = 1.0;
    if (limit > 0) {
      if (gate > limit) gate_pass = 0.0;
      if (up > limit || up < -limit) up_pass = 0.0;
      gate = std::min(gate, limit);
      up = std::max(-limit, std::min(up, limit));
    }
    double s = sigmoid(gate);
    r[0] = gate_pass * dy * up * s * (1.0 + gate * (1.0 - s));
    r[1] = up_pass * dy * gate * s;
  });
  return nullptr;
}

// Rotates the trailing Dr channels of every head vector of `x` into `out`: the forward rotation
// out = x cos_row + rotate_half(x) sin_row, or its transpose for the backward.
void rope_apply(const TensorView &x, const TensorView &out, const TensorView &cos, const TensorView &sin,
                bool head_first, bool transpose) {
  const int64_t dh = x.cols(), dr = cos.cols(), nope = dh - dr, half = dr / 2;
  const int32_t nd = x.ndim();
  parallel_for(x.rows(), 8 * dh, [&](int64_t begin, int64_t end) {
    std::vector<float> v(static_cast<size_t>(dh)), cr(static_cast<size_t>(dr)), sr(static_cast<size_t>(dr)), o(static_cast<size_t>(dh));
    for (int64_t r = begin; r < end; ++r) {
      // Leading indices of row r (row-major over the non-last dims).
      int64_t idx[3] = {0, 0, 0}, rem = r;
      for (int32_t d = nd - 2; d >= 0; --d) {
        idx[d] = rem % x.dim(d);
        rem /= x.dim(d);
      }
      int64_t token = nd == 3 ? idx[head_first ? 1 : 0] : idx[head_first ? 2 : 1];
      int64_t table_row = cos.ndim() == 3 ? idx[0] * cos.dim(1) + token : token;
      x.load_row(r, v.data());
      cos.load_row(table_row, cr.data());
      sin.load_row(table_row, sr.data());
      for (int64_t j = 0; j < nope; ++j) o[size_t(j)] = v[size_t(j)];
      const float *a = v.data() + nope;
      float *b = o.data() + nope;
      for (int64_t j = 0; j < half; ++j) {
        double x1 = a[j], x2 = a[j + half];
        if (!transpose) {
          b[j] = float(x1 * cr[size_t(j)] - x2 * sr[size_t(j)]);
          b[j + half] = float(x2 * cr[size_t(j + half)] + x1 * sr[size_t(j + half)]);
        } else {
          b[j] = float(x1 * cr[size_t(j)] + x2 * sr[size_t(j + half)]);
          b[j + half] = float(x2 * cr[size_t(j + half)] - x1 * sr[size_t(j)]);
        }
      }
      out.store_row(r, o.data());
    }
  });
}

mojo_status *rope_pair(const KernelCall &c, bool transpose) {
  TensorView cos(c.in(2)), sin(c.in(3));
  bool head_first = c.attr_bool("head_first");
  rope_apply(TensorView(c.in(0)), TensorView(c.out(0)), cos, sin, head_first, transpose);
  rope_apply(TensorView(c.in(1)), TensorView(c.out(1)), cos, sin, head_first, transpose);
  return nullptr;
}

mojo_status *rope_fwd(const KernelCall &c) { return rope_pair(c, false); }
mojo_status *rope_bwd(const KernelCall &c) { return rope_pair(c, true); }

mojo_status *rms_norm_fwd(const KernelCall &c) {
  TensorView x(c.in(0)), y(c.out(0)), rstd(c.out(1));
  const std::vector<float> w = TensorView(c.in(1)).to_floats();
  const double eps = c.attr_float("eps");
  const int64_t n = x.cols();
  parallel_for(x.rows(), 4 * n, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(n));
    for (int64_t r = begin; r < end; ++r) {
      x.load_row(r, row.data());
      double sq = 0;
      for (float v : row) sq += double(v) * v;
      float inv = float(1.0 / std::sqrt(sq / double(n) + eps));
      for (int64_t i = 0; i < n; ++i) row[size_t(i)] = row[size_t(i)] * inv * w[size_t(i)];
      y.store_row(r, row.data());
      rstd.store(flat_offset(rstd, r), inv);
    }
  });
  return nullptr;
}

mojo_status *rms_norm_bwd(const KernelCall &c) {
  TensorView dy(c.in(0)), x(c.in(1)), rstd_v(c.in(3)), dx(c.out(0)), dw(c.out(1));
  const std::vector<float> w = TensorView(c.in(2)).to_floats();
  const int64_t n = x.cols(), rows = x.rows();
  std::vector<float> rstd(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) rstd[size_t(r)] = rstd_v.load(flat_offset(rstd_v, r));
  parallel_for(rows, 6 * n, [&](int64_t begin, int64_t end) {
    std::vector<float> g(static_cast<size_t>(n)), v(static_cast<size_t>(n)), o(static_cast<size_t>(n));
    for (int64_t r = begin; r < end; ++r) {
      dy.load_row(r, g.data());
      x.load_row(r, v.data());
      double rs = rstd[size_t(r)], dot = 0;
      for (int64_t i = 0; i < n; ++i) dot += double(g[size_t(i)]) * w[size_t(i)] * v[size_t(i)] * rs;
      double mean = dot / double(n);
      for (int64_t i = 0; i < n; ++i)
        o[size_t(i)] = float(rs * (double(g[size_t(i)]) * w[size_t(i)] - v[size_t(i)] * rs * mean));
      dx.store_row(r, o.data());
    }
  });
  // dw: each column sums its rows in row order, so the result does not depend on the thread count.
  parallel_for(n, 4 * rows, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      double acc = 0;
      for (int64_t r = 0; r < rows; ++r)
        acc += double(dy.load(dy.row_offset(r) + i)) * x.load(x.row_offset(r) + i) * rstd[size_t(r)];
      dw.store(i, float(acc));
    }
  });
  return nullptr;
}

}  // namespace

void add_training_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"silu_fwd", kFloatMask, silu_fwd});
  table.push_back({"silu_bwd", kFloatMask, silu_bwd});
  table.push_back({"swiglu_fwd", kFloatMask, swiglu_fwd});
  table.push_back({"swiglu_bwd", kFloatMask, swiglu_bwd});
  table.push_back({"rope_fwd", kFloatMask, rope_fwd});
  table.push_back({"rope_bwd", kFloatMask, rope_bwd});
  table.push_back({"rms_norm_fwd", kFloatMask, rms_norm_fwd});
  table.push_back({"rms_norm_bwd", kFloatMask, rms_norm_bwd});
  add_training_attention_kernels(table);
  add_training_loss_kernels(table);
  add_training_gdr_kernels(table);
}

}  // namespace mojo::cpu
