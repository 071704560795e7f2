// Memory-bound ops of issue 4: paged KV store (legacy addressing and a chunk plan), embedding gather, the
// fused QK-norm + RoPE (+ store), the rotary table and swiglu + dynamic quant. `bytes` counts what the op
// must move (rows read and written), not the whole cache or embedding table.
#include <algorithm>
#include <numeric>
#include <random>

#include "../bench_cases.h"

#include "mojo_common/dtype.h"

namespace mojo::bench {
namespace {

// B sequences of `len` new tokens each (no prefix), block ids a seeded permutation of NB = B * MB + 1.
struct Paged {
  int64_t B, len, bs, MB, NB;
  std::vector<int32_t> table, cu, ctx;
};

Paged paged(int64_t B, int64_t len, int64_t bs, int64_t ctx0) {
  Paged p{B, len, bs, (ctx0 + len + bs - 1) / bs, 0, {}, {}, {}};
  p.NB = B * p.MB + 1;
  std::vector<int32_t> perm(size_t(p.NB));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(11));
  p.table.assign(perm.begin(), perm.begin() + B * p.MB);
  for (int64_t b = 0; b <= B; ++b) p.cu.push_back(int32_t(b * len));
  p.ctx.assign(size_t(B), int32_t(ctx0));
  return p;
}

// The chunk plan of kv_cache.md §1 for the layout (what paged_kv_store_plan would write).
std::vector<int32_t> plan_of(const Paged &p) {
  std::vector<int32_t> rows;
  for (int64_t b = 0; b < p.B; ++b) {
    const int64_t c0 = p.ctx[size_t(b)];
    for (int64_t m = 0; m < p.MB; ++m) {
      const int64_t a = std::max(m * p.bs, c0), e = std::min((m + 1) * p.bs, c0 + p.len);
      if (a >= e) continue;
      rows.insert(rows.end(), {int32_t(p.cu[size_t(b)] + a - c0), p.table[size_t(b * p.MB + m)], int32_t(a - m * p.bs),
                               int32_t(e - a)});
    }
  }
  return rows;
}

nlohmann::json paged_params(const Paged &p) {
  return {{"block_table", p.table}, {"cu_q_lens", p.cu}, {"context_kv_lens", p.ctx}, {"block_size", p.bs},
          {"max_blocks", p.MB}};
}

}  // namespace

void add_memops_cases(std::vector<BenchCase> &out) {
  const int bf16 = MOJO_DT_BF16, fp32 = MOJO_DT_FP32, i32 = MOJO_DT_INT32;
  const int64_t H = 8, D = 128, BS = 16;

  // store_paged_kv_cache: prefill 16 x 1024 tokens (legacy and plan), decode 256 sequences (latency).
  for (const auto &shape : {std::pair<int64_t, int64_t>{16, 1024}, std::pair<int64_t, int64_t>{256, 1}}) {
    const bool decode = shape.second == 1;
    const Paged p = paged(shape.first, shape.second, BS, decode ? 1000 : 0);
    const int64_t N = p.B * p.len;
    const double row_bytes = double(N * H * D * 2);
    BenchCase c{"store_paged_kv_cache", "bf16 N=" + std::to_string(N) + " 8kv x128 page 16" + (decode ? " decode" : " prefill"),
                tools::Attrs(),
                {{bf16, {N, H, D}}, {bf16, {N, H, D}}, {bf16, {p.NB, H, BS, D}}, {bf16, {p.NB, H, BS, D}},
                 {i32, {p.B, p.MB}, true, false, bytes_of(p.table)},
                 decode ? TensorSpec{i32, {p.B + 1}, false} : TensorSpec{i32, {p.B + 1}, true, false, bytes_of(p.cu)},
                 {i32, {p.B}, true, false, bytes_of(p.ctx)}, {i32, {1, 4}, false}, {i32, {1}, false}},
                {}, decode};
    c.bytes = 4 * row_bytes;  // k and v rows read once, written once
    c.params = paged_params(p);
    c.params["decode"] = decode;
    out.push_back(c);
    if (!decode) {
      const std::vector<int32_t> plan = plan_of(p);
      const int64_t rows = int64_t(plan.size() / 4);
      c.label = "bf16 N=" + std::to_string(N) + " 8kv x128 page 16 plan";
      for (int k = 4; k < 7; ++k) c.inputs[size_t(k)] = TensorSpec{i32, {1}, false};
      c.inputs[7] = {i32, {rows, 4}, true, false, bytes_of(plan)};
      c.inputs[8] = {i32, {1}, true, false, bytes_of(std::vector<int32_t>{int32_t(rows)})};
      out.push_back(c);
    }
  }

  // embedding: 16384 ids over a 152064 x 4096 bf16 table (Qwen2-sized vocab), and 64 ids (decode latency).
  for (int64_t n : {int64_t(16384), int64_t(64)}) {
    const int64_t V = 152064, Hd = 4096;
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 7919 + 13) % V);
    BenchCase c{"embedding", "bf16 " + std::to_string(n) + " ids, V=152064 x4096", tools::Attrs(),
                {{i32, {n}, true, false, bytes_of(ids)}, {bf16, {V, Hd}}}, {{bf16, {n, Hd}}}, n <= 64};
    c.bytes = double(n * 4 + 2 * n * Hd * 2);
    out.push_back(c);
  }

  // norm_rope (Qwen3 QK-norm + RoPE) and the fused store.
  for (int64_t t : {int64_t(16384), int64_t(64)}) {
    out.push_back({"norm_rope", "bf16 T=" + std::to_string(t) + " 32q+8kv x128", tools::Attrs().f("eps", 1e-6),
                   {{bf16, {t, 32, D}}, {bf16, {t, 8, D}}, {fp32, {D}}, {fp32, {D}}, {fp32, {t, D}}, {fp32, {t, D}}},
                   {{bf16, {t, 32, D}}, {bf16, {t, 8, D}}}, t <= 64});
    out.back().bytes = double(2 * t * 40 * D * 2 + 2 * t * D * 4);
  }
  {
    const Paged p = paged(16, 1024, BS, 0);
    const int64_t t = p.B * p.len;
    BenchCase c{"norm_rope_store_kv", "bf16 T=16384 32q+8kv x128 page 16", tools::Attrs().f("eps", 1e-6),
                {{bf16, {t, 32, D}}, {bf16, {t, 8, D}}, {bf16, {t, 8, D}}, {fp32, {D}}, {fp32, {D}}, {fp32, {t, D}},
                 {fp32, {t, D}}, {bf16, {p.NB, 8, BS, D}}, {bf16, {p.NB, 8, BS, D}},
                 {i32, {p.B, p.MB}, true, false, bytes_of(p.table)}, {i32, {p.B + 1}, true, false, bytes_of(p.cu)},
                 {i32, {p.B}, true, false, bytes_of(p.ctx)}, {i32, {1, 4}, false}, {i32, {1}, false}},
                {{bf16, {t, 32, D}}, {bf16, {t, 8, D}}}};
    // q, k, v read; q_out, k_out and the k, v cache rows written; the cos/sin rows read.
    c.bytes = double(t * D * 2 * (40 + 8) + t * D * 2 * (40 + 16) + 2 * t * D * 4);
    c.params = paged_params(p);
    out.push_back(c);
  }

  // rotary_embedding: varlen 16 x 1024 new tokens after 3000 cached ones (rows written), decode 64.
  for (int64_t b : {int64_t(16), int64_t(64)}) {
    const int64_t q = b == 16 ? 1024 : 1, t = b * q;
    std::vector<int32_t> cu, total;
    for (int64_t i = 0; i <= b; ++i) cu.push_back(int32_t(i * q));
    total.assign(size_t(b), int32_t(3000 + q));
    out.push_back({"rotary_embedding", "varlen T=" + std::to_string(t) + " Dr=128",
                   tools::Attrs().f("rope_theta", 1e6).i("rope_dim", 128),
                   {{bf16, {t, 128}}, {i32, {b + 1}, true, false, bytes_of(cu)}, {i32, {b}, true, false, bytes_of(total)},
                    {i32, {t}, false}},
                   {{fp32, {t, 128}}, {fp32, {t, 128}}}, q == 1});
    out.back().bytes = double(2 * t * 128 * 4);
    out.back().params = {{"tokens", t}, {"ctx", 3000}, {"q", q}};
  }

  // swiglu_quant on [gate || up] rows of a Llama-3-8B MLP (14336 wide).
  for (const char *qd : {"fp8_e4m3fn", "int8"}) {
    const int64_t t = 16384, n = 14336;
    const int qid = std::string(qd) == "int8" ? MOJO_DT_INT8 : MOJO_DT_FP8_E4M3FN;
    out.push_back({"swiglu_quant", std::string("bf16->") + qd + " 16384x(2x14336)", tools::Attrs().dtype("quant_dtype", qd),
                   {{bf16, {t, 2 * n}}, {bf16, {t, n}, false}, {fp32, {n}, false}, {i32, {t}, false}},
                   {{qid, {t, n}}, {fp32, {t, 1}}}});
  }
}

}  // namespace mojo::bench
