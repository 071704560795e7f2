// MoE bench cases: dispatch / combine at prefill scale (16384 tokens, top-8 of 128 experts, hidden 4096) and
// the grouped expert GEMM (8 groups x 2048 rows, K 4096, N 14336), with exact routing data.
#include <algorithm>
#include <numeric>
#include <random>

#include "../bench_cases.h"

#include "mojo_common/dtype.h"

namespace mojo::bench {
namespace {

// K distinct experts per token (a random top-k), deterministic.
std::vector<int32_t> random_routes(int64_t tokens, int64_t k, int64_t experts, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids, all(static_cast<size_t>(experts));
  std::iota(all.begin(), all.end(), 0);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t j = 0; j < k; ++j) std::swap(all[size_t(j)], all[size_t(j + int64_t(rng() % uint32_t(experts - j)))]);
    ids.insert(ids.end(), all.begin(), all.begin() + k);
  }
  return ids;
}

}  // namespace

void add_moe_cases(std::vector<BenchCase> &out) {
  const int bf16 = MOJO_DT_BF16, fp32 = MOJO_DT_FP32, i32 = MOJO_DT_INT32;
  const int64_t n = 16384, k = 8, e = 128, h = 4096, m = n * k;
  const std::string shape = "bf16 N=16384 K=8 E=128 H=4096";
  {
    BenchCase c{"moe_dispatch", shape, tools::Attrs().i("num_experts", e),
                {{bf16, {n, h}}, {fp32, {n, k}, true, true}, {i32, {n, k}}},
                {{bf16, {m, h}}, {i32, {e}}, {fp32, {m, 1}}, {i32, {m}}}};
    c.inputs[2].data = bytes_of(random_routes(n, k, e, 11));
    c.params = {{"experts", e}, {"top_k", k}};
    out.push_back(c);
  }
  {
    // Rows arrive in expert order: token_indices of a dispatch of the same routes (ascending route per bucket).
    const std::vector<int32_t> ids = random_routes(n, k, e, 11);
    std::vector<int32_t> order(static_cast<size_t>(m));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return ids[size_t(a)] < ids[size_t(b)]; });
    std::vector<int32_t> tok(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) tok[size_t(i)] = order[size_t(i)] / int32_t(k);
    BenchCase c{"moe_combine", "bf16 M=131072 N=16384 H=4096", tools::Attrs(),
                {{bf16, {m, h}}, {fp32, {m, 1}, true, true}, {i32, {m}}}, {{bf16, {n, h}}}};
    c.inputs[2].data = bytes_of(tok);
    c.params = {{"tokens", n}};
    out.push_back(c);
  }
  for (const char *layout : {"NK", "KN"}) {
    const int64_t g = 8, rows = 2048, kk = 4096, nn = 14336;
    const std::vector<int64_t> w = layout[0] == 'N' ? std::vector<int64_t>{g, nn, kk} : std::vector<int64_t>{g, kk, nn};
    BenchCase c{"group_linear", std::string("bf16 G=8x2048 K=4096 N=14336 ") + layout,
                tools::Attrs().s("weight_layout", layout),
                {{bf16, {g * rows, kk}}, {i32, {g}}, {bf16, w}, {bf16, {g, nn}, false}}, {{bf16, {g * rows, nn}}}};
    c.inputs[1].data = bytes_of(std::vector<int32_t>(size_t(g), int32_t(rows)));
    c.flops = 2.0 * double(g * rows) * double(kk) * double(nn);
    c.params = {{"counts", std::vector<int64_t>(size_t(g), rows)}, {"layout", layout}};
    out.push_back(c);
  }
}

}  // namespace mojo::bench
