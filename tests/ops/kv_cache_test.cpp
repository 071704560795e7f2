// KV-cache ops (spec/kv_cache.md): stores read back exactly through the test's own block-table arithmetic,
// every other slot unchanged; hand-checked store plans; kv_cache_cast against independent casts/quantization.
#include <cstring>
#include <numeric>

#include "op_test_support.h"

namespace mojo::tools {
namespace {

// Expected cache after storing: the test places token t of sequence b at position ctx[b] + t itself.
void place(HostTensor &cache, const HostTensor &states, const std::vector<int64_t> &table, int64_t mb,
           const std::vector<int64_t> &cu, const std::vector<int64_t> &ctx, int64_t heads, int64_t bs, int64_t d) {
  const int64_t nb = cache.shape()[0];
  for (size_t b = 0; b < ctx.size(); ++b) {
    if (ctx[b] < 0) continue;
    for (int64_t t = 0; t < cu[b + 1] - cu[b]; ++t) {
      int64_t p = ctx[b] + t, m = p / bs;
      if (m >= mb) continue;
      int64_t blk = table[b * size_t(mb) + size_t(m)];
      if (blk < 0 || blk >= nb) continue;
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t e = 0; e < d; ++e)
          cache.set(((blk * heads + h) * bs + p % bs) * d + e, states.get(((cu[b] + t) * heads + h) * d + e));
    }
  }
}

class KvCacheTest : public OpTest, public ::testing::WithParamInterface<int> {};

struct StoreCase {
  std::vector<int64_t> ctx, q;
  bool decode;
};

TEST_P(KvCacheTest, StoreThenReadBackExactly) {
  const int dt = GetParam();
  const int64_t hkv = 2, d = 16, bs = 8;
  for (const StoreCase &sc : {StoreCase{{0, 0}, {13, 3}, false}, StoreCase{{0, -1, 5}, {4, 0, 2}, false},
                              StoreCase{{6, 17}, {5, 9}, false}, StoreCase{{7, -1, 16}, {1, 1, 1}, true}}) {
    const int64_t B = int64_t(sc.ctx.size());
    std::vector<int64_t> cu{0};
    for (int64_t n : sc.q) cu.push_back(cu.back() + n);
    // Consecutive blocks per sequence, two spare -1 columns.
    int64_t need = 0;
    for (int64_t b = 0; b < B; ++b) need = std::max(need, (std::max<int64_t>(sc.ctx[b], 0) + sc.q[b] + bs - 1) / bs);
    const int64_t mb = need + 2, nb = B * need + 1;
    std::vector<int64_t> table(size_t(B * mb), -1);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t m = 0; m < need; ++m) table[size_t(b * mb + m)] = b * need + m;
    const int64_t n = cu.back();
    HostTensor k(dt, {n, hkv, d}), v(dt, {n, hkv, d}), kc(dt, {nb, hkv, bs, d}), vc(dt, {nb, hkv, bs, d}),
        bt(MOJO_DT_INT32, {B, mb}), cuq(MOJO_DT_INT32, {B + 1}), ctx(MOJO_DT_INT32, {B});
    k.fill_uniform(rng, -2, 2);
    v.fill_uniform(rng, -2, 2);
    kc.fill_uniform(rng, -1, 1);
    vc.fill_uniform(rng, -1, 1);
    bt.fill_ints(table);
    cuq.fill_ints(cu);
    ctx.fill_ints(sc.ctx);
    HostTensor kwant = kc, vwant = vc;
    place(kwant, k, table, mb, cu, sc.ctx, hkv, bs, d);
    place(vwant, v, table, mb, cu, sc.ctx, hkv, bs, d);
    HostTensor kc2 = kc, vc2 = vc;
    run("store_paged_kv_cache", Attrs(), {&k, &v, &kc, &vc, &bt, sc.decode ? nullptr : &cuq, &ctx}, {});
    EXPECT_TRUE(kc.same_bytes(kwant));
    EXPECT_TRUE(vc.same_bytes(vwant));
    EXPECT_TRUE(kc.guards_intact() && vc.guards_intact());
    // The plan path writes the same bytes.
    HostTensor meta(MOJO_DT_INT32, {B * mb, 4}), count(MOJO_DT_INT32, {1});
    run("paged_kv_store_plan", Attrs().i("block_size", bs), {&bt, sc.decode ? nullptr : &cuq, &ctx}, {&meta, &count});
    run("store_paged_kv_cache", Attrs(), {&k, &v, &kc2, &vc2, nullptr, nullptr, nullptr, &meta, &count}, {});
    EXPECT_TRUE(kc2.same_bytes(kwant));
    EXPECT_TRUE(vc2.same_bytes(vwant));
  }
}

TEST_P(KvCacheTest, InvalidTargetsAreSkippedSilently) {
  const int dt = GetParam();
  // BS = 4, sequence 0 stores positions 2..9 but column 1 is -1 and column 2 lies beyond MB.
  HostTensor k(dt, {8, 1, 4}), v(dt, {8, 1, 4}), kc(dt, {3, 1, 4, 4}), vc(dt, {3, 1, 4, 4}), bt(MOJO_DT_INT32, {1, 2}),
      cuq(MOJO_DT_INT32, {2}), ctx(MOJO_DT_INT32, {1});
  k.fill_uniform(rng, -1, 1);
  v.fill_uniform(rng, -1, 1);
  kc.fill(0);
  vc.fill(0);
  bt.fill_ints({2, -1});
  cuq.fill_ints({0, 8});
  ctx.fill_ints({2});
  run("store_paged_kv_cache", Attrs(), {&k, &v, &kc, &vc, &bt, &cuq, &ctx}, {});
  for (int64_t i = 0; i < kc.numel(); ++i) {
    int64_t blk = i / 16, slot = (i / 4) % 4;
    float want = blk == 2 && slot >= 2 ? k.get((slot - 2) * 4 + i % 4) : 0.0f;
    ASSERT_EQ(kc.get(i), want) << "element " << i;
  }
}

TEST_P(KvCacheTest, MlaStoreReadsBack) {
  const int dt = GetParam();
  const int64_t R = 32, Dr = 8, bs = 16;
  if (dt == MOJO_DT_FP32) {
    // The op takes bf16/fp16 caches only: fp32 is rejected by the schema, nothing written.
    HostTensor c(dt, {1, R}), pe(dt, {1, Dr}), cc(dt, {1, 1, bs, R}), pc(dt, {1, 1, bs, Dr}), bt(MOJO_DT_INT32, {1, 1}),
        ctx(MOJO_DT_INT32, {1});
    cc.fill(7.0f);
    EXPECT_EQ(code_of("store_paged_mla_kv_cache", Attrs(), {&c, &pe, &cc, &pc, &bt, nullptr, &ctx}, {}),
              MOJO_STATUS_INVALID_ARGUMENT);
    for (float v : cc.to_floats()) ASSERT_EQ(v, 7.0f);
    return;
  }
  for (bool decode : {false, true}) {
    std::vector<int64_t> ctxv = decode ? std::vector<int64_t>{31, -1, 0} : std::vector<int64_t>{0, 20, -1};
    std::vector<int64_t> qv = decode ? std::vector<int64_t>{1, 1, 1} : std::vector<int64_t>{17, 5, 3};
    std::vector<int64_t> cu{0};
    for (int64_t n : qv) cu.push_back(cu.back() + n);
    std::vector<int64_t> table = {0, 1, -1, 2, 3, -1, 4, 5, -1};
    HostTensor c(dt, {cu.back(), R}), pe(dt, {cu.back(), Dr}), cc(dt, {6, 1, bs, R}), pc(dt, {6, 1, bs, Dr}),
        bt(MOJO_DT_INT32, {3, 3}), cuq(MOJO_DT_INT32, {4}), ctx(MOJO_DT_INT32, {3});
    c.fill_uniform(rng, -1, 1);
    pe.fill_uniform(rng, -1, 1);
    cc.fill_uniform(rng, -1, 1);
    pc.fill_uniform(rng, -1, 1);
    bt.fill_ints(table);
    cuq.fill_ints(cu);
    ctx.fill_ints(ctxv);
    HostTensor cw = cc, pw = pc;
    place(cw, c, table, 3, cu, ctxv, 1, bs, R);
    place(pw, pe, table, 3, cu, ctxv, 1, bs, Dr);
    run("store_paged_mla_kv_cache", Attrs(), {&c, &pe, &cc, &pc, &bt, decode ? nullptr : &cuq, &ctx}, {});
    EXPECT_TRUE(cc.same_bytes(cw));
    EXPECT_TRUE(pc.same_bytes(pw));
  }
}

TEST_P(KvCacheTest, StoreRejectsBadMetadataWithoutWriting) {
  const int dt = GetParam();
  HostTensor k(dt, {4, 1, 4}), v(dt, {4, 1, 4}), kc(dt, {2, 1, 4, 4}), vc(dt, {2, 1, 4, 4}), bt(MOJO_DT_INT32, {2, 2}),
      cuq(MOJO_DT_INT32, {3}), ctx(MOJO_DT_INT32, {2}), meta(MOJO_DT_INT32, {1, 4});
  k.fill(1);
  v.fill(1);
  kc.fill(0);
  vc.fill(0);
  bt.fill_ints({0, -1, 1, -1});
  ctx.fill_ints({0, 0});
  cuq.fill_ints({0, 3, 2});  // decreasing
  EXPECT_EQ(code_of("store_paged_kv_cache", Attrs(), {&k, &v, &kc, &vc, &bt, &cuq, &ctx}, {}),
            MOJO_STATUS_INVALID_ARGUMENT);
  cuq.fill_ints({0, 3, 6});  // beyond the 4 token rows
  EXPECT_EQ(code_of("store_paged_kv_cache", Attrs(), {&k, &v, &kc, &vc, &bt, &cuq, &ctx}, {}),
            MOJO_STATUS_INVALID_ARGUMENT);
  meta.fill_ints({0, 1, 2, 3});  // slots 2..4 of a 4-slot block
  EXPECT_EQ(code_of("store_paged_kv_cache", Attrs(), {&k, &v, &kc, &vc, nullptr, nullptr, nullptr, &meta}, {}),
            MOJO_STATUS_INVALID_ARGUMENT);
  meta.fill_ints({0, 1, 0, 3});
  EXPECT_EQ(code_of("store_paged_kv_cache", Attrs(), {&k, &v, &kc, &vc, &bt, nullptr, &ctx, &meta}, {}),
            MOJO_STATUS_INVALID_ARGUMENT);  // plan mixed with the legacy arguments
  for (float x : kc.to_floats()) ASSERT_EQ(x, 0.0f);
  HostTensor kc32(dt == MOJO_DT_FP32 ? MOJO_DT_BF16 : MOJO_DT_FP32, {2, 1, 4, 4});
  EXPECT_EQ(code_of("store_paged_kv_cache", Attrs(), {&k, &v, &kc32, &vc, nullptr, nullptr, nullptr, &meta}, {}),
            MOJO_STATUS_INVALID_ARGUMENT);  // no dtype conversion on store
}

TEST_P(KvCacheTest, CastFloatToFloatIsAPlainCast) {
  const int dt = GetParam();
  HostTensor src(dt, {3, 2, 4, 8});
  src.fill_normal(rng, 3.0f);
  for (int dst_dt : kFloatDtypes) {
    HostTensor dst(dst_dt, {3, 2, 4, 8});
    dst.fill(0);
    run("kv_cache_cast", Attrs(), {&src, &dst}, {});
    for (int64_t i = 0; i < src.numel(); ++i) ASSERT_EQ(dst.get(i), common::round_to_dtype(src.get(i), dst_dt));
  }
}

TEST_P(KvCacheTest, CastQuantRoundTripOnSelectedBlocks) {
  const int dt = GetParam();
  const int64_t nb = 4, h = 2, bs = 4, d = 8;
  HostTensor src(dt, {nb, h, bs, d}), scale(MOJO_DT_FP32, {h, d}), ids(MOJO_DT_INT32, {2});
  src.fill_uniform(rng, -3, 3);
  scale.fill_uniform(rng, 0.01f, 0.03f);
  ids.fill_ints({3, 1});
  for (int qdt : {MOJO_DT_INT8, MOJO_DT_FP8_E4M3FN}) {
    HostTensor q(qdt, {nb, h, bs, d}), back(dt, {nb, h, bs, d});
    q.fill(0);
    back.fill(0);
    run("kv_cache_cast", Attrs(), {&src, &q, &ids, &scale}, {});
    run("kv_cache_cast", Attrs(), {&q, &back, &ids, &scale}, {});
    for (int64_t i = 0; i < src.numel(); ++i) {
      int64_t blk = i / (h * bs * d), ch = ((i / (bs * d)) % h) * d + i % d;
      const float s = scale.get(ch);
      const double x = double(src.get(i) / s);  // the division in fp32, as the spec's formula
      double code;
      if (qdt == MOJO_DT_INT8) {
        code = std::min(127.0, std::max(-128.0, std::nearbyint(x)));  // round half to even
      } else {
        code = common::round_to_dtype(float(std::min(448.0, std::max(-448.0, x))), MOJO_DT_FP8_E4M3FN);
      }
      bool selected = blk == 1 || blk == 3;
      ASSERT_EQ(q.get(i), selected ? float(code) : 0.0f) << "code " << i;
      ASSERT_EQ(back.get(i), selected ? common::round_to_dtype(float(code) * float(s), dt) : 0.0f) << "back " << i;
    }
  }
  HostTensor q(MOJO_DT_INT8, {nb, h, bs, d});
  ids.fill_ints({1, 4});
  EXPECT_EQ(code_of("kv_cache_cast", Attrs(), {&src, &q, &ids, &scale}, {}), MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(code_of("kv_cache_cast", Attrs(), {&src, &q, nullptr, nullptr}, {}), MOJO_STATUS_INVALID_ARGUMENT);
}

class KvCastTest : public OpTest {};

TEST_F(KvCastTest, InPlaceOnlyWithEqualWidth) {
  // bf16 -> fp16 in the same buffer is legal: every element is the fp16 rounding of the bf16 value.
  HostTensor buf(MOJO_DT_BF16, {2, 1, 4, 8}), alias(MOJO_DT_FP16, {2, 1, 4, 8});
  buf.fill_uniform(rng, -3, 3);
  const std::vector<float> before = buf.to_floats();
  alias.mutable_view()->data = buf.data();
  run("kv_cache_cast", Attrs(), {&buf, &alias}, {});
  HostTensor after(MOJO_DT_FP16, {2, 1, 4, 8});
  std::memcpy(after.data(), buf.data(), after.bytes());
  for (size_t i = 0; i < before.size(); ++i)
    ASSERT_EQ(after.get(int64_t(i)), common::round_to_dtype(before[i], MOJO_DT_FP16));
  // fp32 -> bf16 over the same bytes is rejected and writes nothing.
  HostTensor wide(MOJO_DT_FP32, {2, 1, 4, 8}), narrow(MOJO_DT_BF16, {2, 1, 4, 8});
  wide.fill_uniform(rng, -3, 3);
  HostTensor copy = wide;
  narrow.mutable_view()->data = wide.data();
  EXPECT_EQ(code_of("kv_cache_cast", Attrs(), {&wide, &narrow}, {}), MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_TRUE(wide.same_bytes(copy));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, KvCacheTest, ::testing::ValuesIn(kFloatDtypes),
                         [](const auto &info) { return std::string(common::dtype_name(info.param)); });

class KvPlanTest : public OpTest {};

TEST_F(KvPlanTest, HandCheckedPrefillAndDecodePlans) {
  // BS = 4. Sequence 0: 3 new tokens after 3 cached → positions 3..5: (0, 5, 3, 1) and (1, 2, 0, 2).
  // Sequence 1: 1 token at position 0 → (3, 7, 0, 1). Sequence 2: padding (-1).
  HostTensor bt(MOJO_DT_INT32, {3, 3}), cu(MOJO_DT_INT32, {4}), ctx(MOJO_DT_INT32, {3}), meta(MOJO_DT_INT32, {9, 4}),
      count(MOJO_DT_INT32, {1});
  bt.fill_ints({5, 2, -1, 7, -1, -1, 1, -1, -1});
  cu.fill_ints({0, 3, 4, 6});
  ctx.fill_ints({3, 0, -1});
  meta.fill_ints(std::vector<int64_t>(36, -9));
  run("paged_kv_store_plan", Attrs().i("block_size", 4), {&bt, &cu, &ctx}, {&meta, &count});
  ASSERT_EQ(count.get_int(0), 3);
  std::vector<int64_t> want = {0, 5, 3, 1, 1, 2, 0, 2, 3, 7, 0, 1};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(meta.get_int(int64_t(i)), want[i]) << i;
  for (int64_t i = 12; i < 36; ++i) ASSERT_EQ(meta.get_int(i), -9) << "row beyond the count written";
  // Decode: one token at ctx. Sequence 0 at position 5 → column 1 (block 2), slot 1; sequence 1 at position
  // 4 → column 1 is -1, skipped; sequence 2 is padding.
  ctx.fill_ints({5, 4, -1});
  run("paged_kv_store_plan", Attrs().i("block_size", 4), {&bt, nullptr, &ctx}, {&meta, &count});
  ASSERT_EQ(count.get_int(0), 1);
  std::vector<int64_t> want_dec = {0, 2, 1, 1};
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(meta.get_int(int64_t(i)), want_dec[i]) << i;
  // Capacity below B*MB is rejected at validation; decreasing cu at run time.
  HostTensor small(MOJO_DT_INT32, {8, 4});
  EXPECT_EQ(code_of("paged_kv_store_plan", Attrs().i("block_size", 4), {&bt, &cu, &ctx}, {&small, &count}),
            MOJO_STATUS_INVALID_ARGUMENT);
  cu.fill_ints({0, 3, 2, 6});
  EXPECT_EQ(code_of("paged_kv_store_plan", Attrs().i("block_size", 4), {&bt, &cu, &ctx}, {&meta, &count}),
            MOJO_STATUS_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace mojo::tools
