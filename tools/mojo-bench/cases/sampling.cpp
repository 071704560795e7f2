#include <random>

#include "../bench_cases.h"

#include "mojo_common/dtype.h"

namespace mojo::bench {
namespace {

// LLM-like logits (normal, sigma 3; the default U(-1, 1) fill is far narrower than real logits) and uniforms.
std::vector<uint8_t> normal_logits(int64_t rows, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> v(static_cast<size_t>(rows * vocab));
  for (float &x : v) x = dist(rng);
  return bytes_of(v);
}

std::vector<uint8_t> uniforms(int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(0.0f, 0.999f);
  std::vector<float> v(static_cast<size_t>(rows));
  for (float &x : v) x = dist(rng);
  return bytes_of(v);
}

}  // namespace

void add_sampling_cases(std::vector<BenchCase> &out) {
  const int fp32 = MOJO_DT_FP32, i64 = MOJO_DT_INT64;
  const int64_t vocab = 152064;
  // The target: top-k 50 + top-p 0.9 (top_p_sampling with rand_top_k = 50) at batch 64 and 256.
  for (int64_t rows : {int64_t(64), int64_t(256)}) {
    BenchCase c{"top_p_sampling", "fp32 [" + std::to_string(rows) + "x152064] top_k=50 top_p=0.9",
                tools::Attrs().f("top_p", 0.9).i("rand_top_k", 50),
                {{fp32, {rows, vocab}, true, false, normal_logits(rows, vocab, 7)},
                 {fp32, {rows}, false},
                 {fp32, {rows}, true, false, uniforms(rows, 8)},
                 {i64, {2}, false}},
                {{fp32, {rows, 1}}, {i64, {rows, 1}}}, rows == 64};
    c.params = {{"top_k", 50}, {"top_p", 0.9}};
    out.push_back(c);
  }
  BenchCase k{"top_k_sampling", "fp32 [64x152064] top_k=50", tools::Attrs().i("top_k", 50),
              {{fp32, {64, vocab}, true, false, normal_logits(64, vocab, 9)},
               {fp32, {64}, true, false, uniforms(64, 10)},
               {i64, {2}, false}},
              {{fp32, {64, 1}}, {i64, {64, 1}}}, true};
  k.params = {{"top_k", 50}};
  out.push_back(k);
}

void add_moe_gating_cases(std::vector<BenchCase> &out) {
  const int bf16 = MOJO_DT_BF16, fp32 = MOJO_DT_FP32, i32 = MOJO_DT_INT32;
  // Qwen3-30B-A3B (H 2048, 128 experts) and DeepSeek-V3 (H 7168, 256 experts) routers, 64 decode tokens, top-8.
  for (auto [h, e] : {std::pair<int64_t, int64_t>{2048, 128}, {7168, 256}}) {
    const int64_t n = 64, k = 8;
    BenchCase c{"moe_gating", "bf16 N=64 H=" + std::to_string(h) + " E=" + std::to_string(e) + " top-8",
                tools::Attrs().i("top_k", k), {{bf16, {n, h}}, {fp32, {h, e}}}, {{i32, {n, k}}, {fp32, {n, k}}}, true};
    c.params = {{"top_k", k}};
    out.push_back(c);
  }
}

}  // namespace mojo::bench
