// Conformance cases for the kv_cache ops (spec/kv_cache.md): the store plan, the GQA and MLA paged stores
// (legacy and plan paths; ragged prefill with prefixes, decode with padding rows, invalid columns skipped),
// and kv_cache_cast between float and quantized formats on all or selected blocks. Stores are bit-exact copies.
#include <algorithm>
#include <numeric>
#include <random>

#include "case_helpers.h"

namespace mojo::conformance {
namespace {

using namespace helpers;

struct StoreLayout {
  int64_t NB = 0, MB = 0;
  std::vector<int64_t> table, cu;
};

// ctx (-1 = padding) and q lengths; seeded permutation of physical blocks, `spare` trailing -1 columns. With
// drop_last, the last needed column of sequence 0 is -1 (its tokens must be skipped silently).
StoreLayout store_layout(const std::vector<int64_t> &ctx, const std::vector<int64_t> &q, int64_t bs, int64_t spare,
                         uint32_t seed, bool drop_last = false) {
  StoreLayout l;
  l.cu = cumsum(q);
  int64_t total = 0;
  std::vector<int64_t> need;
  for (size_t b = 0; b < ctx.size(); ++b) {
    need.push_back(ctx[b] < 0 ? 0 : (ctx[b] + q[b] + bs - 1) / bs);
    l.MB = std::max(l.MB, need.back() + spare);
    total += need.back();
  }
  l.NB = total + 1;
  std::vector<int64_t> perm(size_t(l.NB));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(seed));
  size_t next = 0;
  for (size_t b = 0; b < ctx.size(); ++b)
    for (int64_t m = 0; m < l.MB; ++m) {
      int64_t id = m < need[b] ? perm[next++] : -1;
      if (drop_last && b == 0 && m == need[b] - 1) id = -1;
      l.table.push_back(id);
    }
  return l;
}

struct StoreCfg {
  std::vector<int64_t> ctx, q;
  bool decode;
  std::string what;
};

}  // namespace

void add_kv_cache_cases(CaseList &cases, const CaseOptions &opt) {
  const std::vector<StoreCfg> cfgs = {
      {{0, 0}, {130, 33}, false, "prefill"},
      {{0, -1, 5}, {4, 0, 2}, false, "ragged with padding row"},
      {{224, 0, 34, 41}, {43, 84, 97, 9}, false, "prefixes"},
      {{32, -1, 35}, {1, 1, 1}, true, "decode with padding row"},
      {{127, 0, 64}, {1, 1, 1}, true, "decode at page boundaries"},
  };
  struct Heads {
    int64_t hkv, d, bs;
  };
  const std::vector<Heads> heads = opt.quick ? std::vector<Heads>{{2, 128, 16}}
                                             : std::vector<Heads>{{2, 128, 16}, {8, 64, 64}, {1, 256, 128},
                                                                  {4, 96, 16}};
  uint32_t seed = 5;

  // paged_kv_store_plan
  for (const auto &cfg : cfgs)
    for (int64_t bs : {16, 64}) {
      StoreLayout l = store_layout(cfg.ctx, cfg.q, bs, 2, seed++);
      const int64_t B = int64_t(cfg.ctx.size());
      OpCase c;
      c.op = "paged_kv_store_plan";
      c.label = cfg.what + " BS=" + std::to_string(bs) + " B=" + std::to_string(B);
      c.attrs.i("block_size", bs);
      c.inputs = {ints("block_table", {B, l.MB}, l.table),
                  cfg.decode ? absent("cu_q_lens") : ints("cu_q_lens", {B + 1}, l.cu),
                  ints("context_kv_lens", {B}, cfg.ctx)};
      c.outputs = {tensor("chunk_metadata", MOJO_DT_INT32, {B * l.MB, 4}), tensor("num_chunks", MOJO_DT_INT32, {1})};
      c.tolerances = {Tolerance::bitwise(), Tolerance::bitwise()};
      cases.push_back(c);
      if (opt.quick) break;
    }
  {
    OpCase c;
    c.op = "paged_kv_store_plan";
    c.label = "decreasing cu_q_lens";
    c.attrs.i("block_size", 16);
    c.inputs = {ints("block_table", {2, 2}, {0, 1, 2, 3}), ints("cu_q_lens", {3}, {0, 5, 4}),
                ints("context_kv_lens", {2}, {0, 0})};
    c.outputs = {tensor("chunk_metadata", MOJO_DT_INT32, {4, 4}), tensor("num_chunks", MOJO_DT_INT32, {1})};
    c.expect = MOJO_STATUS_INVALID_ARGUMENT;
    cases.push_back(c);
  }

  // store_paged_kv_cache: legacy path, plan path, skipped invalid column.
  for (const auto &h : heads)
    for (int dt : kFloat)
      for (size_t k = 0; k < cfgs.size(); ++k) {
        const auto &cfg = cfgs[k];
        const bool drop = k == 2;
        StoreLayout l = store_layout(cfg.ctx, cfg.q, h.bs, 2, seed++, drop);
        const int64_t B = int64_t(cfg.ctx.size()), N = cfg.decode ? B : l.cu.back();
        auto base = [&](const std::string &path) {
          OpCase c;
          c.op = "store_paged_kv_cache";
          c.label = dt_name(dt) + " Hkv=" + std::to_string(h.hkv) + " D=" + std::to_string(h.d) + " BS=" +
                    std::to_string(h.bs) + " " + cfg.what + (drop ? " (a -1 column skipped)" : "") + " " + path;
          c.inputs = {tensor("key_states", dt, {N, h.hkv, h.d}), tensor("value_states", dt, {N, h.hkv, h.d}),
                      tensor("key_cache", dt, {l.NB, h.hkv, h.bs, h.d}),
                      tensor("value_cache", dt, {l.NB, h.hkv, h.bs, h.d})};
          c.mutated = {"key_cache", "value_cache"};
          c.mutated_tolerance = Tolerance::bitwise();
          return c;
        };
        OpCase legacy = base("legacy");
        legacy.inputs.push_back(ints("block_table", {B, l.MB}, l.table));
        legacy.inputs.push_back(cfg.decode ? absent("cu_q_lens") : ints("cu_q_lens", {B + 1}, l.cu));
        legacy.inputs.push_back(ints("context_kv_lens", {B}, cfg.ctx));
        cases.push_back(legacy);
        if (opt.quick && k > 0) continue;
        // The plan of kv_cache.md §1, computed here.
        std::vector<int64_t> plan;
        int64_t rows = 0;
        for (int64_t b = 0; b < B; ++b) {
          const int64_t c0 = cfg.ctx[size_t(b)], n = cfg.decode ? 1 : cfg.q[size_t(b)];
          if (c0 < 0 || n == 0) continue;
          const int64_t src0 = cfg.decode ? b : l.cu[size_t(b)];
          for (int64_t m = 0; m < l.MB; ++m) {
            const int64_t a = std::max(m * h.bs, c0), e = std::min((m + 1) * h.bs, c0 + n);
            const int64_t id = l.table[size_t(b * l.MB + m)];
            if (a >= e || id < 0) continue;
            plan.insert(plan.end(), {src0 + a - c0, id, a - m * h.bs, e - a});
            ++rows;
          }
        }
        OpCase withplan = base("plan");
        withplan.inputs.push_back(absent("block_table"));
        withplan.inputs.push_back(absent("cu_q_lens"));
        withplan.inputs.push_back(absent("context_kv_lens"));
        // Two spare rows beyond num_chunks hold garbage that must be ignored.
        plan.insert(plan.end(), {-5, 999, 999, 999, 0, -1, 0, 1});
        withplan.inputs.push_back(ints("chunk_metadata", {rows + 2, 4}, plan));
        withplan.inputs.push_back(ints("num_chunks", {1}, {rows}));
        cases.push_back(withplan);
      }
  {
    OpCase c;
    c.op = "store_paged_kv_cache";
    c.label = "bf16 chunk_metadata row beyond the block";
    c.inputs = {tensor("key_states", MOJO_DT_BF16, {4, 2, 64}), tensor("value_states", MOJO_DT_BF16, {4, 2, 64}),
                tensor("key_cache", MOJO_DT_BF16, {2, 2, 16, 64}), tensor("value_cache", MOJO_DT_BF16, {2, 2, 16, 64}),
                absent("block_table"), absent("cu_q_lens"), absent("context_kv_lens"),
                ints("chunk_metadata", {1, 4}, {0, 1, 14, 4})};
    c.mutated = {"key_cache", "value_cache"};
    c.expect = MOJO_STATUS_INVALID_ARGUMENT;
    cases.push_back(c);
    OpCase d = c;
    d.label = "bf16 decreasing cu_q_lens";
    d.inputs = {tensor("key_states", MOJO_DT_BF16, {4, 2, 64}), tensor("value_states", MOJO_DT_BF16, {4, 2, 64}),
                tensor("key_cache", MOJO_DT_BF16, {2, 2, 16, 64}), tensor("value_cache", MOJO_DT_BF16, {2, 2, 16, 64}),
                ints("block_table", {2, 1}, {0, 1}), ints("cu_q_lens", {3}, {0, 3, 2}),
                ints("context_kv_lens", {2}, {0, 0})};
    cases.push_back(d);
  }

  // store_paged_mla_kv_cache
  struct Mla {
    int64_t r, dr, bs;
  };
  const std::vector<Mla> mlas = opt.quick ? std::vector<Mla>{{64, 32, 128}}
                                          : std::vector<Mla>{{64, 32, 128}, {128, 64, 16}, {512, 64, 64}};
  for (const auto &m : mlas)
    for (int dt : {MOJO_DT_BF16, MOJO_DT_FP16})
      for (size_t k = 0; k < cfgs.size(); ++k) {
        const auto &cfg = cfgs[k];
        StoreLayout l = store_layout(cfg.ctx, cfg.q, m.bs, 1, seed++, k == 2);
        const int64_t B = int64_t(cfg.ctx.size()), N = cfg.decode ? B : l.cu.back();
        OpCase c;
        c.op = "store_paged_mla_kv_cache";
        c.label = dt_name(dt) + " R=" + std::to_string(m.r) + " Dr=" + std::to_string(m.dr) + " BS=" +
                  std::to_string(m.bs) + " " + cfg.what;
        c.inputs = {tensor("compressed_kv_states", dt, {N, m.r}), tensor("k_pe_states", dt, {N, m.dr}),
                    tensor("compressed_kv_cache", dt, {l.NB, 1, m.bs, m.r}),
                    tensor("k_pe_cache", dt, {l.NB, 1, m.bs, m.dr}), ints("block_table", {B, l.MB}, l.table),
                    cfg.decode ? absent("cu_q_lens") : ints("cu_q_lens", {B + 1}, l.cu),
                    ints("context_kv_lens", {B}, cfg.ctx)};
        c.mutated = {"compressed_kv_cache", "k_pe_cache"};
        cases.push_back(c);
        if (opt.quick && k > 1) break;
      }
  {
    OpCase c;
    c.op = "store_paged_mla_kv_cache";
    c.label = "bf16 context_kv_lens below -1";
    c.inputs = {tensor("compressed_kv_states", MOJO_DT_BF16, {2, 64}), tensor("k_pe_states", MOJO_DT_BF16, {2, 32}),
                tensor("compressed_kv_cache", MOJO_DT_BF16, {2, 1, 16, 64}),
                tensor("k_pe_cache", MOJO_DT_BF16, {2, 1, 16, 32}), ints("block_table", {2, 1}, {0, 1}),
                absent("cu_q_lens"), ints("context_kv_lens", {2}, {3, -2})};
    c.mutated = {"compressed_kv_cache", "k_pe_cache"};
    c.expect = MOJO_STATUS_INVALID_ARGUMENT;
    cases.push_back(c);
  }

  // kv_cache_cast: float <-> float, float -> quant, quant -> float; all blocks or a selection.
  struct CastShape {
    int64_t nb, hkv, bs, d;
  };
  const std::vector<CastShape> cshapes = opt.quick ? std::vector<CastShape>{{4, 2, 16, 128}}
                                                   : std::vector<CastShape>{{4, 2, 16, 128}, {3, 8, 64, 64},
                                                                            {2, 1, 128, 256}};
  std::vector<int> all = {MOJO_DT_BF16, MOJO_DT_FP16, MOJO_DT_FP32, MOJO_DT_INT8, MOJO_DT_FP8_E4M3FN};
  auto quant = [](int dt) { return dt == MOJO_DT_INT8 || dt == MOJO_DT_FP8_E4M3FN; };
  for (const auto &s : cshapes)
    for (int src : all)
      for (int dst : all) {
        if (quant(src) && quant(dst)) continue;
        for (bool select : {false, true}) {
          OpCase c;
          c.op = "kv_cache_cast";
          c.label = dt_name(src) + "->" + dt_name(dst) + " " + shape_label({s.nb, s.hkv, s.bs, s.d}) +
                    (select ? " selected blocks" : " all blocks");
          const bool one = quant(src) != quant(dst);
          Fill fill = src == MOJO_DT_INT8 ? Fill::uniform(-128, 127) : Fill::uniform(-4, 4);
          c.inputs = {tensor("src_cache", src, {s.nb, s.hkv, s.bs, s.d}, fill),
                      tensor("dst_cache", dst, {s.nb + 1, s.hkv, s.bs, s.d}),
                      select ? ints("block_ids", {2}, {s.nb - 1, 0}) : absent("block_ids"),
                      one ? tensor("scale", MOJO_DT_FP32, {s.hkv, s.d}, Fill::uniform(0.01, 0.05)) : absent("scale")};
          c.mutated = {"dst_cache"};
          // Quantizing: codes may differ by one step where x/scale lands on a rounding boundary in another
          // backend's arithmetic; everything else is an exact cast.
          c.mutated_tolerance = quant(dst) ? code_tol(dst) : Tolerance::bitwise();
          cases.push_back(c);
          if (opt.quick) break;
        }
      }
  {
    OpCase c;
    c.op = "kv_cache_cast";
    c.label = "bf16->int8 block id out of range";
    c.inputs = {tensor("src_cache", MOJO_DT_BF16, {2, 1, 16, 64}), tensor("dst_cache", MOJO_DT_INT8, {2, 1, 16, 64}),
                ints("block_ids", {2}, {1, 2}), tensor("scale", MOJO_DT_FP32, {1, 64}, Fill::uniform(0.01, 0.05))};
    c.mutated = {"dst_cache"};
    c.expect = MOJO_STATUS_INVALID_ARGUMENT;
    cases.push_back(c);
  }
}

}  // namespace mojo::conformance
