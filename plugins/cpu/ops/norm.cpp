// Reference norms (spec/norm.md): fp32 statistics, one rounding to the output dtype (or one quantization).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernel.h"
#include "norm_row.h"
#include "parallel.h"
#include "quantize.h"
#include "tensor_view.h"

namespace mojo::cpu {

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

namespace {

std::vector<float> load_vector(const mojo_tensor *t) {
  return t ? TensorView(t).to_floats() : std::vector<float>();
}

// Where a normalised row goes: `out` rounded once (fp8 outputs divided by out_scale first), or dynamic
// per-token quantization into q + scale (norm.md §0 DQ, optionally smoothed).
struct NormSink {
  const mojo_tensor *out = nullptr;
  float out_scale = 1.0f;
  const mojo_tensor *q = nullptr, *scale = nullptr, *smooth = nullptr;
  int quant_dtype = -1;
};

// Shared body of every norm op. residual/residual_out are null for the plain norms. The residual sum is
// rounded to the dtype of residual_out (the residual stream's dtype).
mojo_status *run_norm(const KernelCall &c, NormKind kind, const mojo_tensor *x_t, const mojo_tensor *res_t,
                      const mojo_tensor *w_t, const mojo_tensor *b_t, const NormSink &sink,
                      const mojo_tensor *res_out_t, bool post) {
  TensorView x(x_t), res(res_t), out(sink.out), res_out(res_out_t), q(sink.q), scale(sink.scale);
  const std::vector<float> w = load_vector(w_t), b = load_vector(b_t), smooth = load_vector(sink.smooth);
  const float eps = float(c.attr_float("eps"));
  const int stream_dtype = res_out.present() ? res_out.dtype() : x.dtype();
  const bool fp8_out = out.present() && out.dtype() == MOJO_DT_FP8_E4M3FN;
  const int64_t n = x.cols();
  parallel_for(x.rows(), 8 * n, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(n)), other(static_cast<size_t>(n));
    for (int64_t r = begin; r < end; ++r) {
      x.load_row(r, row.data());
      if (res.present()) {
        res.load_row(r, other.data());
        // The sum is rounded to the stream dtype before it is normalised (and it is what "pre" returns).
        for (int64_t i = 0; i < n; ++i) row[i] = common::round_to_dtype(row[i] + other[i], stream_dtype);
      }
      if (res_out.present() && !post) res_out.store_row(r, row.data());
      normalize_row(kind, row.data(), n, w.empty() ? nullptr : w.data(), b.empty() ? nullptr : b.data(), eps);
      if (res_out.present() && post) res_out.store_row(r, row.data());
      if (q.present()) {
        if (!smooth.empty())
          for (int64_t i = 0; i < n; ++i) row[i] *= smooth[i];
        const float s = dynamic_scale(row.data(), n, sink.quant_dtype, false);
        quantize_row(row.data(), n, s, sink.quant_dtype);
        q.store_row(r, row.data());
        scale.store(scale.row_offset(r), s);
      } else {
        if (fp8_out)
          for (int64_t i = 0; i < n; ++i) row[i] = std::clamp(row[i] / sink.out_scale, -448.0f, 448.0f);
        out.store_row(r, row.data());
      }
    }
  });
  return nullptr;
}

bool is_post(const KernelCall &c) { return c.attr_string("norm_pos") == "post"; }

NormSink plain(const mojo_tensor *out) {
  NormSink s;
  s.out = out;
  return s;
}

NormSink quant_sink(const KernelCall &c, const mojo_tensor *q, const mojo_tensor *scale, const mojo_tensor *smooth) {
  NormSink s;
  s.q = q;
  s.scale = scale;
  s.smooth = smooth;
  s.quant_dtype = quant_dtype_of(c);
  return s;
}

mojo_status *rms_norm(const KernelCall &c) {
  return run_norm(c, NormKind::Rms, c.in(0), nullptr, c.in(1), nullptr, plain(c.out(0)), nullptr, false);
}

mojo_status *layer_norm(const KernelCall &c) {
  return run_norm(c, NormKind::Layer, c.in(0), nullptr, c.in(1), c.in(2), plain(c.out(0)), nullptr, false);
}

mojo_status *residual_add_rms_norm(const KernelCall &c) {
  return run_norm(c, NormKind::Rms, c.in(0), c.in(1), c.in(2), nullptr, plain(c.out(0)), c.out(1), is_post(c));
}

mojo_status *residual_add_layer_norm(const KernelCall &c) {
  return run_norm(c, NormKind::Layer, c.in(0), c.in(1), c.in(2), c.in(3), plain(c.out(0)), c.out(1), is_post(c));
}

// inputs: x, weight, smooth_scale; outputs: q, scale.
mojo_status *rms_norm_quant(const KernelCall &c) {
  if (mojo_status *st = check_quant_attrs(c, true)) return st;
  return run_norm(c, NormKind::Rms, c.in(0), nullptr, c.in(1), nullptr, quant_sink(c, c.out(0), c.out(1), c.in(2)),
                  nullptr, false);
}

// inputs: x, weight, bias, smooth_scale; outputs: q, scale.
mojo_status *layer_norm_quant(const KernelCall &c) {
  if (mojo_status *st = check_quant_attrs(c, true)) return st;
  return run_norm(c, NormKind::Layer, c.in(0), nullptr, c.in(1), c.in(2), quant_sink(c, c.out(0), c.out(1), c.in(3)),
                  nullptr, false);
}

// inputs: x, residual, weight, smooth_scale; outputs: q, residual_out, scale.
mojo_status *residual_add_rms_norm_quant(const KernelCall &c) {
  if (mojo_status *st = check_quant_attrs(c, true)) return st;
  return run_norm(c, NormKind::Rms, c.in(0), c.in(1), c.in(2), nullptr, quant_sink(c, c.out(0), c.out(2), c.in(3)),
                  c.out(1), is_post(c));
}

// inputs: x, residual, weight, bias, smooth_scale; outputs: q, residual_out, scale.
mojo_status *residual_add_layer_norm_quant(const KernelCall &c) {
  if (mojo_status *st = check_quant_attrs(c, true)) return st;
  return run_norm(c, NormKind::Layer, c.in(0), c.in(1), c.in(2), c.in(3), quant_sink(c, c.out(0), c.out(2), c.in(4)),
                  c.out(1), is_post(c));
}

// inputs: x, residual, weight, bias; outputs: out (out_dtype), residual_out (residual's dtype).
mojo_status *residual_add_norm_cast(const KernelCall &c) {
  NormSink sink = plain(c.out(0));
  sink.out_scale = float(c.attr_float("out_scale"));
  const NormKind kind = c.attr_string("norm_type") == "layer" ? NormKind::Layer : NormKind::Rms;
  return run_norm(c, kind, c.in(0), c.in(1), c.in(2), c.in(3), sink, c.out(1), is_post(c));
}

}  // namespace

void add_norm_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"rms_norm", kFloatMask, rms_norm});
  table.push_back({"layer_norm", kFloatMask, layer_norm});
  table.push_back({"residual_add_rms_norm", kFloatMask, residual_add_rms_norm});
  table.push_back({"residual_add_layer_norm", kFloatMask, residual_add_layer_norm});
  table.push_back({"rms_norm_quant", kFloatMask, rms_norm_quant});
  table.push_back({"layer_norm_quant", kFloatMask, layer_norm_quant});
  table.push_back({"residual_add_rms_norm_quant", kFloatMask, residual_add_rms_norm_quant});
  table.push_back({"residual_add_layer_norm_quant", kFloatMask, residual_add_layer_norm_quant});
  table.push_back({"residual_add_norm_cast", kFloatMask, residual_add_norm_cast});
}

}  // namespace mojo::cpu
