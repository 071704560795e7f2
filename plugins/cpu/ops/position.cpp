// Reference rotary position embedding (spec/position.md).
#include <vector>

#include "kernel.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

// Rotates the trailing Dr channels of v (the leading Dh - Dr pass through), rotate-half or GPT-J pairs.
void rotate(float *v, int64_t dh, const float *cos, const float *sin, int64_t dr, bool interleaved) {
  float *x = v + (dh - dr);
  std::vector<float> in(x, x + dr);
  if (interleaved) {
    // Pair k uses cos/sin of its angle k; the full-width rows repeat each half, so entry k is angle k.
    for (int64_t k = 0; k < dr / 2; ++k) {
      x[2 * k] = in[2 * k] * cos[k] - in[2 * k + 1] * sin[k];
      x[2 * k + 1] = in[2 * k + 1] * cos[k] + in[2 * k] * sin[k];
    }
    return;
  }
  const int64_t half = dr / 2;
  for (int64_t i = 0; i < half; ++i) {
    x[i] = in[i] * cos[i] - in[i + half] * sin[i];
    x[i + half] = in[i + half] * cos[i + half] + in[i] * sin[i + half];
  }
}

// Applies RoPE to every head vector of one tensor (q or k).
void rope_tensor(const TensorView &src, const TensorView &dst, const TensorView &cos, const TensorView &sin,
                 bool head_first, bool interleaved) {
  const int32_t nd = src.ndim();
  const int64_t dh = src.cols(), dr = cos.cols();
  const int tok_axis = nd == 3 ? (head_first ? 1 : 0) : (head_first ? 2 : 1);
  parallel_for(src.rows(), 8 * dh, [&](int64_t begin, int64_t end) {
    std::vector<float> v(static_cast<size_t>(dh)), c(static_cast<size_t>(dr)), s(static_cast<size_t>(dr));
    int64_t idx[4] = {0, 0, 0, 0};
    for (int64_t r = begin; r < end; ++r) {
      int64_t rest = r;
      for (int32_t d = nd - 2; d >= 0; --d) {
        idx[d] = rest % src.dim(d);
        rest /= src.dim(d);
      }
      // cos/sin row: [T, Dr] / [S, Dr] by token, or [B, S, Dr] by (batch, token).
      int64_t table_row = cos.ndim() == 3 ? idx[0] * cos.dim(1) + idx[tok_axis] : idx[tok_axis];
      cos.load_row(table_row, c.data());
      sin.load_row(table_row, s.data());
      src.load_row(r, v.data());
      rotate(v.data(), dh, c.data(), s.data(), dr, interleaved);
      dst.store_row(r, v.data());
    }
  });
}

mojo_status *apply_rope(const KernelCall &c) {
  const bool head_first = c.attr_bool("head_first"), interleaved = c.attr_bool("interleaved");
  TensorView cos(c.in(2)), sin(c.in(3));
  rope_tensor(TensorView(c.in(0)), TensorView(c.out(0)), cos, sin, head_first, interleaved);
  rope_tensor(TensorView(c.in(1)), TensorView(c.out(1)), cos, sin, head_first, interleaved);
  return nullptr;
}

}  // namespace

void add_position_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"apply_rope", kFloatMask, apply_rope});
}

}  // namespace mojo::cpu
