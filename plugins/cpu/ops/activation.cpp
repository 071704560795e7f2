// Reference activations (spec/activation.md): fp32 math, one rounding.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernel.h"
#include "parallel.h"
#include "quantize.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

float silu_f(float x) { return x / (1.0f + std::exp(-x)); }

float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * float(M_SQRT1_2))); }

float gelu_tanh(float x) {
  const float k = std::sqrt(2.0f / float(M_PI));
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}

// silu(gate') * up' with the swiglu_limit clamps (limit <= 0 disables them).
float swiglu_f(float gate, float up, float limit) {
  if (limit > 0) {
    up = std::clamp(up, -limit, limit);
    gate = std::min(gate, limit);
  }
  return silu_f(gate) * up;
}

// Applies f row by row from the views in `ins` to `out`.
template <typename F>
void map_rows(const std::vector<TensorView> &ins, const TensorView &out, F f) {
  const int64_t n = out.cols();
  parallel_for(out.rows(), 16 * n, [&](int64_t begin, int64_t end) {
    std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    for (int64_t r = begin; r < end; ++r) {
      ins[0].load_row(r, a.data());
      if (ins.size() > 1) ins[1].load_row(r, b.data());
      for (int64_t i = 0; i < n; ++i) a[i] = f(a[i], b[i]);
      out.store_row(r, a.data());
    }
  });
}

mojo_status *silu(const KernelCall &c) {
  map_rows({TensorView(c.in(0))}, TensorView(c.out(0)), [](float x, float) { return silu_f(x); });
  return nullptr;
}

mojo_status *gelu(const KernelCall &c) {
  if (c.attr_string("approximate") == "tanh")
    map_rows({TensorView(c.in(0))}, TensorView(c.out(0)), [](float x, float) { return gelu_tanh(x); });
  else
    map_rows({TensorView(c.in(0))}, TensorView(c.out(0)), [](float x, float) { return gelu_erf(x); });
  return nullptr;
}

mojo_status *swiglu(const KernelCall &c) {
  const float limit = float(c.attr_float("swiglu_limit"));
  map_rows({TensorView(c.in(0)), TensorView(c.in(1))}, TensorView(c.out(0)),
           [limit](float gate, float up) { return swiglu_f(gate, up, limit); });
  return nullptr;
}

// Shared body of the activation+quant ops: act(r, a) fills a[N] with the fp32 activation of row r, then
// optional (per-expert) smoothing and per-row dynamic quantization with the scale < 1e-6 -> 1 rule.
template <typename Act>
mojo_status *run_act_quant(const KernelCall &c, const mojo_tensor *smooth_t, const mojo_tensor *group_t,
                           const TensorView &q, const TensorView &scale, Act act) {
  if (mojo_status *st = check_quant_attrs(c, false)) return st;
  const int qd = quant_dtype_of(c);
  TensorView smooth(smooth_t), group(group_t);
  const std::vector<float> sm = smooth.present() ? smooth.to_floats() : std::vector<float>();
  const int64_t n = q.cols(), rows = q.rows();
  std::vector<int64_t> expert(static_cast<size_t>(group.present() ? rows : 0));
  for (int64_t r = 0; r < int64_t(expert.size()); ++r) {
    const int64_t e = group.load_index(group.row_offset(r / group.cols()) + r % group.cols());
    if (e < 0 || e >= smooth.dim(0))
      return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'group_index' holds " + std::to_string(e) + " at row " +
                                                       std::to_string(r) + ", expected a value in [0, " +
                                                       std::to_string(smooth.dim(0)) + ")");
    expert[size_t(r)] = e;
  }
  parallel_for(rows, 24 * n, [&](int64_t begin, int64_t end) {
    std::vector<float> a(static_cast<size_t>(n));
    for (int64_t r = begin; r < end; ++r) {
      act(r, a.data());
      if (!sm.empty()) {
        const float *s = sm.data() + (expert.empty() ? 0 : expert[size_t(r)] * n);
        for (int64_t i = 0; i < n; ++i) a[i] *= s[i];
      }
      const float s = dynamic_scale(a.data(), n, qd, true);
      quantize_row(a.data(), n, s, qd);
      q.store_row(r, a.data());
      scale.store(scale.row_offset(r), s);
    }
  });
  return nullptr;
}

// inputs: x, smooth_scale, group_index; outputs: q, scale.
template <typename F>
mojo_status *unary_quant(const KernelCall &c, F f) {
  TensorView x(c.in(0));
  return run_act_quant(c, c.in(1), c.in(2), TensorView(c.out(0)), TensorView(c.out(1)), [&](int64_t r, float *a) {
    x.load_row(r, a);
    for (int64_t i = 0; i < x.cols(); ++i) a[i] = f(a[i]);
  });
}

mojo_status *silu_quant(const KernelCall &c) { return unary_quant(c, silu_f); }

mojo_status *gelu_quant(const KernelCall &c) {
  return c.attr_string("approximate") == "tanh" ? unary_quant(c, gelu_tanh) : unary_quant(c, gelu_erf);
}

// inputs: x (gate, or [gate || up]), up, smooth_scale, group_index; outputs: q, scale.
mojo_status *swiglu_quant(const KernelCall &c) {
  TensorView x(c.in(0)), up(c.in(1));
  const float limit = float(c.attr_float("swiglu_limit"));
  const bool gate_first = c.attr_bool("gate_first");
  const int64_t n = TensorView(c.out(0)).cols();
  return run_act_quant(c, c.in(2), c.in(3), TensorView(c.out(0)), TensorView(c.out(1)), [&](int64_t r, float *a) {
    thread_local std::vector<float> xr, ur;  // row scratch, reused across the rows of a worker
    xr.resize(static_cast<size_t>(x.cols()));
    ur.resize(static_cast<size_t>(n));
    x.load_row(r, xr.data());
    const float *g = xr.data(), *u = ur.data();
    if (up.present()) {
      up.load_row(r, ur.data());
    } else {
      g = xr.data() + (gate_first ? 0 : n);
      u = xr.data() + (gate_first ? n : 0);
    }
    for (int64_t i = 0; i < n; ++i) a[i] = swiglu_f(g[i], u[i], limit);
  });
}

}  // namespace

void add_activation_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"silu", kFloatMask, silu});
  table.push_back({"gelu", kFloatMask, gelu});
  table.push_back({"swiglu", kFloatMask, swiglu});
  table.push_back({"silu_quant", kFloatMask, silu_quant});
  table.push_back({"gelu_quant", kFloatMask, gelu_quant});
  table.push_back({"swiglu_quant", kFloatMask, swiglu_quant});
}

}  // namespace mojo::cpu
