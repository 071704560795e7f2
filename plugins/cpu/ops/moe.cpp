// Reference MoE routing (spec/moe.md): gating, dispatch (plain and quantizing) and combine.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "kernel.h"
#include "parallel.h"
#include "quantize.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

// Element `off` of an int32 tensor (the routing outputs are int32 by schema).
int32_t &int32_at(const mojo_tensor *t, int64_t off) { return static_cast<int32_t *>(common::data_ptr(*t))[off]; }

// Descending value, ties toward the lower index (AMB-TIE); NaN ranks last so the order stays total.
bool ranks_before(float a, int32_t ia, float b, int32_t ib) {
  const bool na = std::isnan(a), nb = std::isnan(b);
  if (na != nb) return nb;
  if (!na && a != b) return a > b;
  return ia < ib;
}

// Expert ids of every route r = n*K + k, checked against [0, E) before anything is written.
mojo_status *load_routes(const KernelCall &c, const TensorView &ids, int64_t experts, std::vector<int32_t> &route) {
  const int64_t n = ids.rows(), k = ids.cols();
  route.resize(size_t(n * k));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = ids.load_index(ids.row_offset(t) + j);
      if (e < 0 || e >= experts)
        return c.error(MOJO_STATUS_INVALID_ARGUMENT,
                       "input 'top_k_indices' holds " + std::to_string(e) + " at [" + std::to_string(t) + ", " +
                           std::to_string(j) + "], expected an expert id in [0, " + std::to_string(experts) + ")");
      route[size_t(t * k + j)] = int32_t(e);
    }
  return nullptr;
}

// Stable counting sort of the routes by expert: order[i] = route placed at row i; counts per expert.
void sort_routes(const std::vector<int32_t> &route, int64_t experts, std::vector<int64_t> &order,
                 std::vector<int64_t> &counts) {
  counts.assign(size_t(experts), 0);
  for (int32_t e : route) ++counts[size_t(e)];
  std::vector<int64_t> next(size_t(experts), 0);
  for (int64_t e = 1; e < experts; ++e) next[size_t(e)] = next[size_t(e - 1)] + counts[size_t(e - 1)];
  order.resize(route.size());
  for (size_t r = 0; r < route.size(); ++r) order[size_t(next[size_t(route[r])]++)] = int64_t(r);
}

mojo_status *moe_gating(const KernelCall &c) {
  TensorView x(c.in(0)), w(c.in(1)), ids(c.out(0)), gates(c.out(1));
  const int64_t n = x.rows(), h = x.cols(), e = w.cols(), k = c.attr_int("top_k");
  const std::vector<float> wf = w.to_floats();  // [H, E]
  parallel_for(n, 2 * h * e, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(h)), p(static_cast<size_t>(e));
    std::vector<double> acc(static_cast<size_t>(e));
    std::vector<int32_t> order(static_cast<size_t>(e));
    for (int64_t t = begin; t < end; ++t) {
      x.load_row(t, row.data());
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t i = 0; i < h; ++i) {
        const double xi = row[size_t(i)];
        const float *wr = wf.data() + i * e;
        for (int64_t j = 0; j < e; ++j) acc[size_t(j)] += xi * double(wr[j]);
      }
      // fp32 logits, softmax with max subtraction.
      float m = -INFINITY;
      for (int64_t j = 0; j < e; ++j) m = std::max(m, float(acc[size_t(j)]));
      double sum = 0.0;
      for (int64_t j = 0; j < e; ++j) sum += std::exp(double(float(acc[size_t(j)]) - m));
      for (int64_t j = 0; j < e; ++j) p[size_t(j)] = float(std::exp(double(float(acc[size_t(j)]) - m)) / sum);
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [&](int32_t a, int32_t b) { return ranks_before(p[size_t(a)], a, p[size_t(b)], b); });
      double kept = 0.0;
      for (int64_t j = 0; j < k; ++j) kept += p[size_t(order[size_t(j)])];
      const int64_t io = ids.row_offset(t), go = gates.row_offset(t);
      for (int64_t j = 0; j < k; ++j) {
        int32_at(c.out(0), io + j) = order[size_t(j)];
        gates.store(go + j, float(double(p[size_t(order[size_t(j)])]) / kept));
      }
    }
  });
  return nullptr;
}

mojo_status *moe_dispatch(const KernelCall &c) {
  TensorView x(c.in(0)), g(c.in(1)), ids(c.in(2));
  TensorView xs(c.out(0)), gs(c.out(2));
  const int64_t experts = c.attr_int("num_experts"), k = ids.cols();
  std::vector<int32_t> route;
  if (mojo_status *s = load_routes(c, ids, experts, route)) return s;
  std::vector<int64_t> order, counts;
  sort_routes(route, experts, order, counts);
  for (int64_t e = 0; e < experts; ++e) int32_at(c.out(1), e) = int32_t(counts[size_t(e)]);
  const int64_t m = int64_t(order.size());
  parallel_for(m, 2 * x.cols(), [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(x.cols()));
    for (int64_t i = begin; i < end; ++i) {
      const int64_t r = order[size_t(i)], t = r / k, j = r % k;
      x.load_row(t, row.data());
      xs.store_row(i, row.data());
      gs.store(gs.row_offset(i), g.load(g.row_offset(t) + j));
      int32_at(c.out(3), i) = int32_t(t);
    }
  });
  return nullptr;
}

mojo_status *moe_combine(const KernelCall &c) {
  TensorView y(c.in(0)), g(c.in(1)), tok(c.in(2)), out(c.out(0));
  const int64_t m = y.rows(), h = y.cols(), n = out.rows();
  const bool gated = c.attr_bool("multiply_by_gates");
  std::vector<int64_t> dest(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) {
    const int64_t t = tok.load_index(i);
    if (t < 0 || t >= n)
      return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'token_indices' holds " + std::to_string(t) + " at " +
                                                       std::to_string(i) + ", expected a token in [0, " +
                                                       std::to_string(n) + ")");
    dest[size_t(i)] = t;
  }
  // Rows grouped by destination so each output row is summed by one thread (ascending m within a row).
  std::vector<int64_t> start(size_t(n + 1), 0), rows(static_cast<size_t>(m));
  for (int64_t t : dest) ++start[size_t(t + 1)];
  for (int64_t t = 0; t < n; ++t) start[size_t(t + 1)] += start[size_t(t)];
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t i = 0; i < m; ++i) rows[size_t(fill[size_t(dest[size_t(i)])]++)] = i;
  parallel_for(n, 2 * h * std::max<int64_t>(1, m / std::max<int64_t>(n, 1)), [&](int64_t begin, int64_t end) {
    std::vector<float> acc(static_cast<size_t>(h)), row(static_cast<size_t>(h));
    for (int64_t t = begin; t < end; ++t) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t q = start[size_t(t)]; q < start[size_t(t + 1)]; ++q) {
        const int64_t i = rows[size_t(q)];
        const float w = gated ? g.load(g.row_offset(i)) : 1.0f;
        y.load_row(i, row.data());
        for (int64_t d = 0; d < h; ++d) acc[size_t(d)] += w * row[size_t(d)];
      }
      out.store_row(t, acc.data());
    }
  });
  return nullptr;
}

mojo_status *moe_dispatch_quant(const KernelCall &c) {
  TensorView x(c.in(0)), g(c.in(1)), ids(c.in(2)), smooth(c.in(3));
  TensorView q(c.out(0)), gs(c.out(1)), tok(c.out(2)), scale(c.out(4));
  const int64_t experts = c.attr_int("num_experts"), k = ids.cols(), h = x.cols();
  const int64_t qb = c.attr_int("quant_block_size");
  if (common::dtype_id_from_name(c.attr_string("quant_dtype").c_str()) != MOJO_DT_INT8)
    return c.error(MOJO_STATUS_UNSUPPORTED,
                   "attribute 'quant_dtype' is '" + c.attr_string("quant_dtype") + "', supported: int8");
  if (c.attr_int("start_expert_id") != 0 ||
      (!c.attr_is_null("end_expert_id") && c.attr_int("end_expert_id") != experts))
    return c.error(MOJO_STATUS_UNSUPPORTED,
                   "expert-range filtering (start_expert_id != 0 or end_expert_id != "
                   "num_experts) is reserved and unsupported");
  if (c.attr_int("quant_mode") != 0)
    return c.error(MOJO_STATUS_UNSUPPORTED, "attribute 'quant_mode' = 1 is reserved and unsupported");
  std::vector<int32_t> route;
  if (mojo_status *s = load_routes(c, ids, experts, route)) return s;
  std::vector<int64_t> order, counts;
  sort_routes(route, experts, order, counts);
  for (int64_t e = 0; e < experts; ++e) int32_at(c.out(3), e) = int32_t(counts[size_t(e)]);
  const int64_t m = int64_t(order.size());
  parallel_for(m, 6 * h, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(h)), sm(static_cast<size_t>(h));
    for (int64_t i = begin; i < end; ++i) {
      const int64_t r = order[size_t(i)], t = r / k, j = r % k;
      x.load_row(t, row.data());
      if (smooth.present()) {
        smooth.load_row(route[size_t(r)], sm.data());
        for (int64_t d = 0; d < h; ++d) row[size_t(d)] *= sm[size_t(d)];
      }
      const int64_t so = scale.row_offset(i);
      for (int64_t b = 0; b < h / qb; ++b) {
        float *blk = row.data() + b * qb;
        const float s = dynamic_scale(blk, qb, MOJO_DT_INT8, false);
        quantize_row(blk, qb, s, MOJO_DT_INT8);
        scale.store(so + b, s);
      }
      q.store_row(i, row.data());
      gs.store(gs.row_offset(i), g.load(g.row_offset(t) + j));
      int32_at(c.out(2), tok.row_offset(i)) = int32_t(t);
    }
  });
  return nullptr;
}

}  // namespace

void add_moe_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"moe_gating", kFloatMask, moe_gating});
  table.push_back({"moe_dispatch", kFloatMask, moe_dispatch});
  table.push_back({"moe_combine", kFloatMask, moe_combine});
  table.push_back({"moe_dispatch_quant", kFloatMask, moe_dispatch_quant});
}

}  // namespace mojo::cpu
