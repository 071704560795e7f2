// Paged decode attention (issue 5 targets): 32 query / 8 KV heads, head dim 128, page 16, bf16. Block tables are
// exact (a seeded permutation of the physical pages, so pages are scattered as in a real cache); `bytes` is the
// KV actually read plus q and out. The SWA case has a 32k context whose window (1024 keys + 4 sinks) is the
// only part backed by distinct pages; the masked columns all name page 0, which the kernel never reads.
#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <random>

#include "../bench_cases.h"

#include "mojo_common/dtype.h"

namespace mojo::bench {
namespace {

struct DecodeShape {
  int64_t batch, ctx;
  int64_t wl = -1, wg = -1;  // SWA window, -1 = null (paged_decode_gqa when both are null)
};

BenchCase decode_case(const DecodeShape &s) {
  const int bf16 = MOJO_DT_BF16, i32 = MOJO_DT_INT32;
  const int64_t hq = 32, hkv = 8, d = 128, bs = 16;
  const bool swa = s.wl >= 0 || s.wg >= 0;
  const int64_t mb = (s.ctx + bs - 1) / bs;
  // Pages each sequence reads: all of them, or (SWA) the sink pages and the window's pages.
  std::vector<int64_t> needed;
  int64_t visited = s.ctx;
  if (!swa) {
    for (int64_t m = 0; m < mb; ++m) needed.push_back(m);
  } else {
    const int64_t sink_end = s.wg >= 0 ? std::min(s.wg, s.ctx) : 0;
    const int64_t win_start = std::max(sink_end, s.wl >= 0 ? std::max<int64_t>(0, s.ctx - 1 - s.wl) : s.ctx);
    visited = sink_end + (s.ctx - win_start);
    for (int64_t m = 0; m < mb; ++m)
      if (m * bs < sink_end || (m + 1) * bs > win_start) needed.push_back(m);
  }
  const int64_t pages = int64_t(needed.size()) * s.batch, nb = pages + 1;  // block 0: the masked columns
  std::vector<int32_t> perm(static_cast<size_t>(pages));
  std::iota(perm.begin(), perm.end(), 1);
  // MOJO_BENCH_SEQUENTIAL_PAGES=1 keeps the pages in order (each sequence's cache contiguous per KV head run), to
  // measure what scattering costs against the contiguous caches torch's SDPA reads.
  const char *sequential = std::getenv("MOJO_BENCH_SEQUENTIAL_PAGES");
  if (!(sequential && std::string(sequential) == "1")) std::shuffle(perm.begin(), perm.end(), std::mt19937(1234));
  std::vector<int32_t> table(size_t(s.batch * mb), 0), lens(size_t(s.batch), int32_t(s.ctx));
  size_t next = 0;
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t m : needed) table[size_t(b * mb + m)] = perm[next++];

  BenchCase c;
  c.op = swa ? "paged_decode_swa" : "paged_decode_gqa";
  c.label = "bf16 B=" + std::to_string(s.batch) + " ctx=" + std::to_string(s.ctx) + " 32q/8kv d128 page16";
  if (swa) c.label += " Wl=" + std::to_string(s.wl) + " Wg=" + std::to_string(s.wg);
  if (swa && s.wl >= 0) c.attrs.i("local_window_size", s.wl);
  if (swa && s.wg >= 0) c.attrs.i("global_window_size", s.wg);
  c.inputs = {{bf16, {s.batch, hq, d}},
              {bf16, {nb, hkv, bs, d}},
              {bf16, {nb, hkv, bs, d}},
              {i32, {s.batch}, true, false, bytes_of(lens)},
              {i32, {s.batch, mb}, true, false, bytes_of(table)}};
  if (!swa) c.inputs.push_back({MOJO_DT_BOOL, {1, 1}, false});
  c.outputs = {{bf16, {s.batch, hq, d}}};
  c.latency = s.batch == 1;
  c.bytes = double(s.batch) * double(visited) * double(hkv * d * 2 * 2) + 2.0 * double(s.batch * hq * d * 2);
  c.params = {{"batch", s.batch}, {"ctx", s.ctx}, {"hq", hq}, {"hkv", hkv}, {"d", d}, {"page", bs},
              {"wl", s.wl}, {"wg", s.wg}, {"visited", visited}};
  return c;
}

}  // namespace

void add_attention_decode_cases(std::vector<BenchCase> &out) {
  for (const DecodeShape &s : {DecodeShape{64, 4096}, DecodeShape{1, 32768}, DecodeShape{256, 1024},
                               DecodeShape{64, 1024}, DecodeShape{64, 32768, 1023, 4}})
    out.push_back(decode_case(s));
}

}  // namespace mojo::bench
