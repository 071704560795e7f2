// Reference norms (spec/norm.md): fp32 statistics, one rounding to the output dtype.
#include <cmath>
#include <vector>

#include "kernel.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

enum class NormKind { Rms, Layer };

// Normalises row `v` in place: v = norm(v) * w (+ b). Absent weight/bias mean 1/0.
void normalize_row(NormKind kind, float *v, int64_t n, const float *w, const float *b, float eps) {
  double mean = 0.0;
  if (kind == NormKind::Layer) {
    for (int64_t i = 0; i < n; ++i) mean += v[i];
    mean /= double(n);
  }
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double c = v[i] - mean;
    sq += c * c;
  }
  float inv = 1.0f / std::sqrt(float(sq / double(n)) + eps);
  for (int64_t i = 0; i < n; ++i) {
    float y = (v[i] - float(mean)) * inv;
    if (w) y *= w[i];
    if (b) y += b[i];
    v[i] = y;
  }
}

std::vector<float> load_vector(const mojo_tensor *t) {
  return t ? TensorView(t).to_floats() : std::vector<float>();
}

// Shared body of the four norm ops. residual/residual_out are null for the plain norms.
mojo_status *run_norm(const KernelCall &c, NormKind kind, const mojo_tensor *x_t, const mojo_tensor *res_t,
                      const mojo_tensor *w_t, const mojo_tensor *b_t, const mojo_tensor *out_t,
                      const mojo_tensor *res_out_t, bool post) {
  TensorView x(x_t), res(res_t), out(out_t), res_out(res_out_t);
  const std::vector<float> w = load_vector(w_t), b = load_vector(b_t);
  const float eps = float(c.attr_float("eps"));
  const int64_t n = x.cols();
  parallel_for(x.rows(), 8 * n, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(n)), other(static_cast<size_t>(n));
    for (int64_t r = begin; r < end; ++r) {
      x.load_row(r, row.data());
      if (res.present()) {
        res.load_row(r, other.data());
        // The sum is rounded to the input dtype before it is normalised (and it is what "pre" returns).
        for (int64_t i = 0; i < n; ++i) row[i] = common::round_to_dtype(row[i] + other[i], x.dtype());
      }
      if (res_out.present() && !post) res_out.store_row(r, row.data());
      normalize_row(kind, row.data(), n, w.empty() ? nullptr : w.data(), b.empty() ? nullptr : b.data(), eps);
      out.store_row(r, row.data());
      if (res_out.present() && post) res_out.store_row(r, row.data());
    }
  });
  return nullptr;
}

mojo_status *rms_norm(const KernelCall &c) {
  return run_norm(c, NormKind::Rms, c.in(0), nullptr, c.in(1), nullptr, c.out(0), nullptr, false);
}

mojo_status *layer_norm(const KernelCall &c) {
  return run_norm(c, NormKind::Layer, c.in(0), nullptr, c.in(1), c.in(2), c.out(0), nullptr, false);
}

mojo_status *residual_add_rms_norm(const KernelCall &c) {
  return run_norm(c, NormKind::Rms, c.in(0), c.in(1), c.in(2), nullptr, c.out(0), c.out(1),
                  c.attr_string("norm_pos") == "post");
}

mojo_status *residual_add_layer_norm(const KernelCall &c) {
  return run_norm(c, NormKind::Layer, c.in(0), c.in(1), c.in(2), c.in(3), c.out(0), c.out(1),
                  c.attr_string("norm_pos") == "post");
}

}  // namespace

void add_norm_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"rms_norm", kFloatMask, rms_norm});
  table.push_back({"layer_norm", kFloatMask, layer_norm});
  table.push_back({"residual_add_rms_norm", kFloatMask, residual_add_rms_norm});
  table.push_back({"residual_add_layer_norm", kFloatMask, residual_add_layer_norm});
}

}  // namespace mojo::cpu
