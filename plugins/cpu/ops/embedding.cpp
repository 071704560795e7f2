// Reference embedding lookup (spec/embedding.md).
#include <cmath>
#include <set>
#include <vector>

#include "kernel.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

mojo_status *embedding(const KernelCall &c) {
  TensorView ids(c.in(0)), weight(c.in(1)), out(c.out(0));
  const int64_t vocab = weight.dim(0), h = weight.cols();
  const int64_t n_ids = ids.numel();
  std::vector<int64_t> flat(static_cast<size_t>(n_ids));
  // Every id is checked before anything is written, so a bad id leaves the output untouched.
  for (int64_t i = 0; i < n_ids; ++i) {
    const int64_t v = ids.load_index(ids.row_offset(i / ids.cols()) + i % ids.cols());
    if (v < 0 || v >= vocab)
      return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'ids' holds " + std::to_string(v) + " at flat index " +
                                                       std::to_string(i) + ", expected a value in [0, " +
                                                       std::to_string(vocab) + ")");
    flat[size_t(i)] = v;
  }
  std::vector<float> row(static_cast<size_t>(h));
  if (!c.attr_is_null("max_norm")) {
    // torch semantics: referenced rows whose p-norm exceeds max_norm are rescaled in place first.
    const double max_norm = c.attr_float("max_norm"), p = c.attr_float("norm_type");
    for (int64_t v : std::set<int64_t>(flat.begin(), flat.end())) {
      weight.load_row(v, row.data());
      double norm = 0.0;
      for (float e : row) norm += std::pow(std::fabs(double(e)), p);
      norm = std::pow(norm, 1.0 / p);
      if (norm > max_norm) {
        const float scale = float(max_norm / (norm + 1e-7));
        for (float &e : row) e *= scale;
        weight.store_row(v, row.data());
      }
    }
  }
  for (int64_t i = 0; i < n_ids; ++i) {
    weight.load_row(flat[size_t(i)], row.data());
    out.store_row(i, row.data());
  }
  return nullptr;
}

}  // namespace

void add_embedding_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"embedding", kIndexMask, embedding});  // mask: dtype of the first input, the ids
}

}  // namespace mojo::cpu
