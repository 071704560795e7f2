// Reference GEMMs (spec/linear_quant.md): operands converted to fp32, fp32 accumulation, one rounding.
#include <vector>

#include "kernel.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

// Dot product with eight independent partial sums so the compiler can vectorise it without fast-math.
float dot(const float *a, const float *b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Weight as fp32 [N, K] whatever its layout, so every output element is one contiguous dot product.
std::vector<float> weight_nk(const TensorView &w, bool kn_layout) {
  const int64_t rows = w.dim(0), cols = w.dim(1);
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < cols; ++k) {
      float v = w.load(r * w.stride(0) + k);
      if (kn_layout)
        out[size_t(k * rows + r)] = v;
      else
        out[size_t(r * cols + k)] = v;
    }
  return out;
}

mojo_status *linear(const KernelCall &c) {
  TensorView x(c.in(0)), w(c.in(1)), bias(c.in(2)), out(c.out(0));
  const bool kn = c.attr_string("weight_layout") == "KN";
  const std::vector<float> wt = weight_nk(w, kn);
  const std::vector<float> b = bias.present() ? bias.to_floats() : std::vector<float>();
  const int64_t k = x.cols(), n = out.cols();
  parallel_for(x.rows(), 2 * k * n, [&](int64_t begin, int64_t end) {
    std::vector<float> xr(static_cast<size_t>(k)), yr(static_cast<size_t>(n));
    for (int64_t m = begin; m < end; ++m) {
      x.load_row(m, xr.data());
      for (int64_t j = 0; j < n; ++j) yr[j] = dot(xr.data(), wt.data() + j * k, k) + (b.empty() ? 0.0f : b[j]);
      out.store_row(m, yr.data());
    }
  });
  return nullptr;
}

}  // namespace

void add_linear_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"linear", kFloatMask, linear});
}

}  // namespace mojo::cpu
