// Reference activations (spec/activation.md): fp32 math, one rounding.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernel.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

float silu_f(float x) { return x / (1.0f + std::exp(-x)); }

float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * float(M_SQRT1_2))); }

float gelu_tanh(float x) {
  const float k = std::sqrt(2.0f / float(M_PI));
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
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
  map_rows({TensorView(c.in(0)), TensorView(c.in(1))}, TensorView(c.out(0)), [limit](float gate, float up) {
    if (limit > 0) {
      up = std::clamp(up, -limit, limit);
      gate = std::min(gate, limit);
    }
    return silu_f(gate) * up;
  });
  return nullptr;
}

}  // namespace

void add_activation_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"silu", kFloatMask, silu});
  table.push_back({"gelu", kFloatMask, gelu});
  table.push_back({"swiglu", kFloatMask, swiglu});
}

}  // namespace mojo::cpu
