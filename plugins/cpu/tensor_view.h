// Strided access for the reference kernels. The core guarantees a unit-stride last dimension; the other
// dimensions may be strided, so kernels address "rows" (all leading indices flattened) through a view.
#pragma once

#include <cstdint>
#include <vector>

#include "mojo_common/dtype.h"
#include "mojo_common/plugin_support.h"

namespace mojo::cpu {

class TensorView {
 public:
  explicit TensorView(const mojo_tensor *t) : t_(t) {
    if (t_ == nullptr) return;
    dtype_ = common::dtype_id(t->dtype);
    base_ = static_cast<char *>(common::data_ptr(*t));
    cols_ = t->ndim > 0 ? t->shape[t->ndim - 1] : 1;
    rows_ = 1;
    for (int32_t d = 0; d + 1 < t->ndim; ++d) rows_ *= t->shape[d];
  }

  bool present() const { return t_ != nullptr; }
  int dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int32_t ndim() const { return t_->ndim; }
  int64_t dim(int32_t d) const { return t_->shape[d < 0 ? d + t_->ndim : d]; }
  int64_t numel() const { return rows_ * cols_; }

  // Element stride of dimension d (row-major when the descriptor has no strides).
  int64_t stride(int32_t d) const {
    if (t_->strides) return t_->strides[d];
    int64_t s = 1;
    for (int32_t k = t_->ndim - 1; k > d; --k) s *= t_->shape[k];
    return s;
  }

  // Element offset of the first element of row r (leading indices in row-major order).
  int64_t row_offset(int64_t r) const {
    int64_t off = 0;
    for (int32_t d = t_->ndim - 2; d >= 0; --d) {
      off += (r % t_->shape[d]) * stride(d);
      r /= t_->shape[d];
    }
    return off;
  }

  // Element offset of a full index (idx has ndim entries).
  int64_t offset(const int64_t *idx) const {
    int64_t off = 0;
    for (int32_t d = 0; d < t_->ndim; ++d) off += idx[d] * stride(d);
    return off;
  }

  float load(int64_t element_offset) const { return common::load_as_float(base_, dtype_, element_offset); }
  void store(int64_t element_offset, float v) const { common::store_from_float(base_, dtype_, element_offset, v); }

  // Row r converted to fp32 into dst[cols].
  void load_row(int64_t r, float *dst) const {
    int64_t off = row_offset(r);
    for (int64_t c = 0; c < cols_; ++c) dst[c] = load(off + c);
  }
  void store_row(int64_t r, const float *src) const {
    int64_t off = row_offset(r);
    for (int64_t c = 0; c < cols_; ++c) store(off + c, src[c]);
  }

  // Integer element (index tensors: int32/int64).
  int64_t load_index(int64_t element_offset) const {
    if (dtype_ == MOJO_DT_INT64) return reinterpret_cast<const int64_t *>(base_)[element_offset];
    return reinterpret_cast<const int32_t *>(base_)[element_offset];
  }

  // Whole tensor as fp32 in logical row-major order.
  std::vector<float> to_floats() const {
    std::vector<float> v(static_cast<size_t>(numel()));
    for (int64_t r = 0; r < rows_; ++r) load_row(r, v.data() + r * cols_);
    return v;
  }

 private:
  const mojo_tensor *t_;
  int dtype_ = -1;
  char *base_ = nullptr;
  int64_t rows_ = 0, cols_ = 0;
};

}  // namespace mojo::cpu
