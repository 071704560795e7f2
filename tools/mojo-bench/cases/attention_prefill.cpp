// paged_prefill_gqa bench cases (issue 5): causal, 32 query / 8 KV heads, bf16, page 16, head dims 128 and 64;
// single 4k/8k/16k sequences and a ragged batch of ~16k tokens. Block tables are a seeded permutation of the
// pages (exact bytes), so the kernel gathers scattered pages as in serving. FLOPs count only the causal half.
#include <algorithm>
#include <numeric>
#include <random>

#include "../bench_cases.h"

#include "mojo_common/dtype.h"

namespace mojo::bench {
namespace {

BenchCase prefill_case(const std::vector<int64_t> &q_lens, int64_t d, const std::string &what) {
  const int bf16 = MOJO_DT_BF16, i32 = MOJO_DT_INT32;
  const int64_t hq = 32, hkv = 8, bs = 16, B = int64_t(q_lens.size());
  std::vector<int32_t> cu = {0};
  int64_t mb = 0;
  double pairs = 0;  // (query, key) pairs the causal mask allows
  for (int64_t n : q_lens) {
    cu.push_back(cu.back() + int32_t(n));
    mb = std::max(mb, (n + bs - 1) / bs);
    pairs += double(n) * double(n + 1) / 2;
  }
  const int64_t T = cu.back();
  std::vector<int32_t> pages(size_t(B * mb));
  std::iota(pages.begin(), pages.end(), 0);
  std::shuffle(pages.begin(), pages.end(), std::mt19937(5));
  const int64_t nb = B * mb;
  TensorSpec cu_t{i32, {B + 1}}, table{i32, {B, mb}};
  cu_t.data = bytes_of(cu);
  table.data = bytes_of(pages);
  BenchCase c{"paged_prefill_gqa",
              "bf16 causal " + what + " T=" + std::to_string(T) + " 32q/8kv D=" + std::to_string(d) + " page 16",
              tools::Attrs().b("is_causal", true).s("gqa_layout", "AABB"),
              {{bf16, {T, hq, d}}, {bf16, {nb, hkv, bs, d}}, {bf16, {nb, hkv, bs, d}}, cu_t, table, cu_t,
               {i32, {0}, false}},
              {{bf16, {T, hq, d}}},
              false};
  c.flops = 4.0 * double(hq) * double(d) * pairs;
  c.params = {{"q_lens", q_lens}, {"hq", hq}, {"hkv", hkv}, {"d", d}};
  return c;
}

}  // namespace

void add_attention_prefill_cases(std::vector<BenchCase> &out) {
  for (int64_t d : {int64_t(128), int64_t(64)}) {
    for (int64_t n : {int64_t(4096), int64_t(8192), int64_t(16384)}) out.push_back(prefill_case({n}, d, "1 seq"));
    out.push_back(prefill_case({3000, 512, 6000, 1200, 4000, 1672}, d, "ragged 6 seqs"));
  }
}

}  // namespace mojo::bench
