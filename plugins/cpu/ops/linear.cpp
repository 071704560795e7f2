// Reference GEMMs (spec/linear_quant.md): operands converted to fp32, fp32 accumulation, one rounding; the
// quantized GEMM sums exactly (int8 in int32, fp8 in fp64).
#include <algorithm>
#include <cstdint>
#include <string>
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

// Exact int8 dot product in int32 (|sum| < 2^31 for K < 2^17).
int32_t dot_i8(const int8_t *a, const int8_t *b, int64_t n) {
  int32_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += int32_t(a[i + j]) * int32_t(b[i + j]);
  int32_t s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += int32_t(a[i]) * int32_t(b[i]);
  return s;
}

// Exact fp8 e4m3fn dot product: each product of two e4m3 values (4-bit significands, magnitudes in [2^-9, 448])
// is exact in fp32 and a multiple of 2^-18 below 2^18, so the fp64 partial sums stay exact for n <= 2^17 and their
// order does not matter (beyond that the one fp64 rounding per add is still far below the fp32 rounding after).
double dot_fp8(const float *a, const float *b, int64_t n) {
  double acc[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) acc[j] += double(a[i + j] * b[i + j]);
  double s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  for (; i < n; ++i) s += double(a[i] * b[i]);
  return s;
}

// One 2-D weight matrix (dims row_dim, row_dim + 1 of w, starting at element `base`) as [N, K] whatever its
// layout, so every output element is one contiguous dot product. T = float, or int8_t for exact int8 GEMMs.
template <typename T = float>
std::vector<T> weight_nk(const TensorView &w, bool kn_layout, int32_t row_dim = 0, int64_t base = 0) {
  const int64_t rows = w.dim(row_dim), cols = w.dim(row_dim + 1), stride = w.stride(row_dim);
  std::vector<T> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < cols; ++k) {
      T v = T(w.load(base + r * stride + k));
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

// y[m, n] = (float(acc) * x_scale[m]) * w_scale[n], acc = dot(x row m, W row n) computed exactly. Code holds
// the rows: int8_t for int8 codes, float for fp8 codes (decoded once, exactly).
template <typename Code, typename Dot>
mojo_status *quant_gemm(const KernelCall &c, Dot dot) {
  TensorView x(c.in(0)), xs(c.in(1)), w(c.in(2)), ws(c.in(3)), out(c.out(0));
  const std::vector<Code> wt = weight_nk<Code>(w, c.attr_string("weight_layout") == "KN");
  const std::vector<float> x_scale = xs.to_floats(), w_scale = ws.to_floats();
  const int64_t k = x.cols(), n = out.cols();
  parallel_for(x.rows(), 2 * k * n, [&](int64_t begin, int64_t end) {
    std::vector<float> xf(static_cast<size_t>(k)), yr(static_cast<size_t>(n));
    std::vector<Code> xr(static_cast<size_t>(k));
    for (int64_t m = begin; m < end; ++m) {
      x.load_row(m, xf.data());
      std::copy(xf.begin(), xf.end(), xr.begin());
      for (int64_t j = 0; j < n; ++j)
        yr[j] = (float(dot(xr.data(), wt.data() + j * k, k)) * x_scale[size_t(m)]) * w_scale[size_t(j)];
      out.store_row(m, yr.data());
    }
  });
  return nullptr;
}

// inputs: x [M, K] int8 | fp8_e4m3fn, x_scale [M] | [M, 1], weight (x's dtype), weight_scale [N]; output y [M, N].
// The core checked that quant_dtype / weight_dtype, when given as int8 or fp8_e4m3fn, agree with the tensors.
mojo_status *quant_linear(const KernelCall &c) {
  for (const char *attr : {"quant_dtype", "weight_dtype"}) {
    const std::string v = c.attr_string(attr);
    if (!v.empty() && v != "int8" && v != "fp8_e4m3fn")
      return c.error(MOJO_STATUS_UNSUPPORTED,
                     std::string("attribute '") + attr + "' is '" + v + "', supported: int8, fp8_e4m3fn");
  }
  if (TensorView(c.in(0)).dtype() == MOJO_DT_INT8) return quant_gemm<int8_t>(c, dot_i8);
  return quant_gemm<float>(c, dot_fp8);
}

// inputs: x [Bt, M, K], weight [Bt, N, K] | [Bt, K, N], bias [Bt, N]; output [Bt, M, N] or, with
// reduce_batch, [M, N] = sum over the batch of the fp32 results (one rounding).
mojo_status *batch_linear(const KernelCall &c) {
  TensorView x(c.in(0)), w(c.in(1)), bias(c.in(2)), out(c.out(0));
  const bool kn = c.attr_string("weight_layout") == "KN", reduce = c.attr_bool("reduce_batch");
  const int64_t bt = x.dim(0), m_rows = x.dim(1), k = x.cols(), n = out.cols();
  std::vector<std::vector<float>> wt;
  for (int64_t b = 0; b < bt; ++b) wt.push_back(weight_nk(w, kn, 1, b * w.stride(0)));
  const std::vector<float> bv = bias.present() ? bias.to_floats() : std::vector<float>();
  parallel_for(m_rows, 2 * k * n * (bt > 0 ? bt : 1), [&](int64_t begin, int64_t end) {
    std::vector<float> xr(static_cast<size_t>(k)), yr(static_cast<size_t>(n)), acc(static_cast<size_t>(n));
    for (int64_t m = begin; m < end; ++m) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t b = 0; b < bt; ++b) {
        x.load_row(b * m_rows + m, xr.data());
        for (int64_t j = 0; j < n; ++j)
          yr[j] = dot(xr.data(), wt[size_t(b)].data() + j * k, k) + (bv.empty() ? 0.0f : bv[size_t(b * n + j)]);
        if (reduce)
          for (int64_t j = 0; j < n; ++j) acc[j] += yr[j];
        else
          out.store_row(b * m_rows + m, yr.data());
      }
      if (reduce) out.store_row(m, acc.data());
    }
  });
  return nullptr;
}

// inputs: x [Mtot, K], group_list [G] row counts, weight [G, K, N] | [G, N, K], bias [G, N]; output [Mtot, N].
mojo_status *group_linear(const KernelCall &c) {
  TensorView x(c.in(0)), groups(c.in(1)), w(c.in(2)), bias(c.in(3)), out(c.out(0));
  const int64_t g_count = groups.numel(), k = x.cols(), n = out.cols();
  // Row -> group, checked in full before anything is written.
  std::vector<int64_t> group_of(static_cast<size_t>(x.rows()));
  int64_t start = 0;
  for (int64_t g = 0; g < g_count; ++g) {
    const int64_t len = groups.load_index(g * groups.stride(0));
    if (len < 0 || start + len > x.rows())
      return c.error(MOJO_STATUS_INVALID_ARGUMENT,
                     "input 'group_list'[" + std::to_string(g) + "] = " + std::to_string(len) +
                         ", expected non-negative row counts summing to Mtot=" + std::to_string(x.rows()));
    std::fill(group_of.begin() + start, group_of.begin() + start + len, g);
    start += len;
  }
  if (start != x.rows())
    return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'group_list' sums to " + std::to_string(start) +
                                                     ", expected Mtot=" + std::to_string(x.rows()));
  const bool kn = c.attr_string("weight_layout") == "KN";
  std::vector<std::vector<float>> wt;
  for (int64_t g = 0; g < g_count; ++g) wt.push_back(weight_nk(w, kn, 1, g * w.stride(0)));
  const std::vector<float> bv = bias.present() ? bias.to_floats() : std::vector<float>();
  parallel_for(x.rows(), 2 * k * n, [&](int64_t begin, int64_t end) {
    std::vector<float> xr(static_cast<size_t>(k)), yr(static_cast<size_t>(n));
    for (int64_t m = begin; m < end; ++m) {
      const int64_t g = group_of[size_t(m)];
      x.load_row(m, xr.data());
      for (int64_t j = 0; j < n; ++j)
        yr[j] = dot(xr.data(), wt[size_t(g)].data() + j * k, k) + (bv.empty() ? 0.0f : bv[size_t(g * n + j)]);
      out.store_row(m, yr.data());
    }
  });
  return nullptr;
}

}  // namespace

void add_linear_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"linear", kFloatMask, linear});
  table.push_back({"quant_linear", dt_bit(MOJO_DT_INT8) | dt_bit(MOJO_DT_FP8_E4M3FN), quant_linear});
  table.push_back({"batch_linear", kFloatMask, batch_linear});
  table.push_back({"group_linear", kFloatMask, group_linear});
}

}  // namespace mojo::cpu
