// Reference quant ops (spec/linear_quant.md §5-7).
#include <vector>

#include "kernel.h"
#include "parallel.h"
#include "quantize.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

// Element offset into a tensor of shape `shape` (strided view `v`) broadcast against a logical index of
// a larger tensor of rank `rank` (numpy alignment on the trailing dims; size-1 dims repeat).
int64_t broadcast_offset(const TensorView &v, const int64_t *idx, int32_t rank) {
  int64_t off = 0;
  for (int32_t d = 0; d < v.ndim(); ++d) {
    const int32_t src = rank - v.ndim() + d;
    if (v.dim(d) != 1) off += idx[src] * v.stride(d);
  }
  return off;
}

// Calls f(row, col, broadcast_offset) for every element of `shape`-shaped `x`, parallel over rows.
template <typename F>
void for_each_broadcast(const TensorView &x, const TensorView &s, F f) {
  const int32_t nd = x.ndim();
  parallel_for(x.rows(), 4 * x.cols(), [&](int64_t begin, int64_t end) {
    std::vector<int64_t> idx(static_cast<size_t>(nd > 0 ? nd : 1), 0);
    for (int64_t r = begin; r < end; ++r) {
      int64_t rest = r;
      for (int32_t d = nd - 2; d >= 0; --d) {
        idx[size_t(d)] = rest % x.dim(d);
        rest /= x.dim(d);
      }
      for (int64_t col = 0; col < x.cols(); ++col) {
        if (nd > 0) idx[size_t(nd - 1)] = col;
        f(r, col, broadcast_offset(s, idx.data(), nd));
      }
    }
  });
}

mojo_status *static_quant(const KernelCall &c) {
  if (mojo_status *st = check_quant_attrs(c, false)) return st;
  const int qd = quant_dtype_of(c);
  TensorView x(c.in(0)), scale(c.in(1)), q(c.out(0));
  for_each_broadcast(x, scale, [&](int64_t r, int64_t col, int64_t s_off) {
    const float v = x.load(x.row_offset(r) + col) / scale.load(s_off);
    q.store(q.row_offset(r) + col, quantize_value(v, qd));
  });
  return nullptr;
}

mojo_status *dynamic_quant(const KernelCall &c) {
  if (common::dtype_id_from_name(c.attr_string("quant_dtype").c_str()) != MOJO_DT_INT8)
    return c.error(MOJO_STATUS_UNSUPPORTED,
                   "attribute 'quant_dtype' is '" + c.attr_string("quant_dtype") + "', supported: int8");
  TensorView x(c.in(0)), q(c.out(0)), scale(c.out(1));
  const std::vector<float> smooth = c.in(1) ? TensorView(c.in(1)).to_floats() : std::vector<float>();
  const int64_t n = x.cols();
  parallel_for(x.rows(), 4 * n, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(n));
    for (int64_t r = begin; r < end; ++r) {
      x.load_row(r, row.data());
      if (!smooth.empty())
        for (int64_t i = 0; i < n; ++i) row[i] *= smooth[i];
      const float s = dynamic_scale(row.data(), n, MOJO_DT_INT8, true);
      quantize_row(row.data(), n, s, MOJO_DT_INT8);
      q.store_row(r, row.data());
      scale.store(scale.row_offset(r), s);
    }
  });
  return nullptr;
}

mojo_status *dequant(const KernelCall &c) {
  TensorView q(c.in(0)), scale(c.in(1)), out(c.out(0));
  for_each_broadcast(q, scale, [&](int64_t r, int64_t col, int64_t s_off) {
    // int32 codes beyond 2^24 lose precision in fp32 (the spec's float32(q)).
    out.store(out.row_offset(r) + col, q.load(q.row_offset(r) + col) * scale.load(s_off));
  });
  return nullptr;
}

}  // namespace

void add_quant_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"static_quant", kFloatMask, static_quant});
  table.push_back({"dynamic_quant", kFloatMask, dynamic_quant});
  table.push_back({"dequant", dt_bit(MOJO_DT_INT8) | dt_bit(MOJO_DT_FP8_E4M3FN) | dt_bit(MOJO_DT_INT32), dequant});
}

}  // namespace mojo::cpu
