// Paged GQA / sliding-window attention (spec/attention.md) against a dense double-precision softmax attention
// computed here from K/V that the test gathers out of the pages itself, plus identities (one key returns its
// value, equal keys give the mean of the values), masking properties and the data-dependent error paths.
#include <algorithm>
#include <numeric>

#include "op_test_support.h"

namespace mojo::tools {
namespace {

constexpr float kSentinel = 7.5f;

// A paged problem: sequences with q_len[b] new tokens and kv_len[b] total keys, caches filled at random,
// physical blocks a random permutation, one spare -1 column per row, `pad` trailing padding query rows.
struct Paged {
  int dt;
  int64_t hq, hkv, d, bs, nb = 0, mb = 0, t = 0;
  std::vector<int64_t> q_lens, kv_lens;
  HostTensor query, kc, vc, cu_q, cu_kv, total, bt, out;

  Paged(int dt_, int64_t hq_, int64_t hkv_, int64_t d_, int64_t bs_, std::vector<int64_t> q, std::vector<int64_t> kv,
        int64_t pad, std::mt19937 &rng, bool decode = false)
      : dt(dt_), hq(hq_), hkv(hkv_), d(d_), bs(bs_), q_lens(std::move(q)), kv_lens(std::move(kv)) {
    const int64_t B = int64_t(kv_lens.size());
    for (int64_t L : kv_lens) {
      int64_t need = L > 0 ? (L + bs - 1) / bs : 0;
      nb += need;
      mb = std::max(mb, need);
    }
    nb += 2;
    mb += 1;
    std::vector<int64_t> perm(static_cast<size_t>(nb));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<int64_t> table(size_t(B * mb), -1);
    size_t next = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t m = 0; kv_lens[size_t(b)] > 0 && m < (kv_lens[size_t(b)] + bs - 1) / bs; ++m)
        table[size_t(b * mb + m)] = perm[next++];
    bt = HostTensor(MOJO_DT_INT32, {B, mb});
    bt.fill_ints(table);
    kc = HostTensor(dt, {nb, hkv, bs, d});
    vc = HostTensor(dt, {nb, hkv, bs, d});
    kc.fill_uniform(rng, -1, 1);
    vc.fill_uniform(rng, -1, 1);
    std::vector<int64_t> cq{0}, ck{0};
    for (int64_t b = 0; b < B; ++b) {
      cq.push_back(cq.back() + (decode ? 0 : q_lens[size_t(b)]));
      ck.push_back(ck.back() + kv_lens[size_t(b)]);
    }
    cu_q = HostTensor(MOJO_DT_INT32, {B + 1});
    cu_q.fill_ints(cq);
    cu_kv = HostTensor(MOJO_DT_INT32, {B + 1});
    cu_kv.fill_ints(ck);
    total = HostTensor(MOJO_DT_INT32, {B});
    total.fill_ints(kv_lens);
    t = decode ? B : cq.back() + pad;
    query = HostTensor(dt, {t, hq, d});
    query.fill_uniform(rng, -1, 1);
    out = HostTensor(dt, {t, hq, d});
    out.fill(kSentinel);
  }

  // Element [j, g, e] of sequence b's keys (or values), gathered by the test from the pages.
  float kv_at(const HostTensor &cache, int64_t b, int64_t j, int64_t g, int64_t e) const {
    int64_t blk = bt.get_int(b * mb + j / bs), slot = j % bs;
    return cache.get(((blk * hkv + g) * bs + slot) * d + e);
  }
  int64_t q_start(int64_t b) const { return cu_q.get_int(b); }
};

struct Window {
  bool causal = true;
  int64_t wl = -1, wg = -1;  // -1 = null
  bool interleaved = false;
  bool allowed(int64_t pos, int64_t j) const {
    if (!causal) return true;
    if (j > pos) return false;
    if (wl < 0 && wg < 0) return true;
    return (wl >= 0 && pos - j <= wl) || (wg >= 0 && j < wg);
  }
};

// Dense double attention of one query row against the keys [0, L) of sequence b (getter k/v).
template <typename KV>
std::vector<double> dense_row(const std::vector<float> &q, int64_t d, int64_t L, int64_t pos, const Window &w,
                              double scale, KV &&k_at, KV &&v_at) {
  std::vector<double> s(size_t(L), -INFINITY), o(size_t(d), 0.0);
  double mx = -INFINITY;
  for (int64_t j = 0; j < L; ++j) {
    if (!w.allowed(pos, j)) continue;
    double dot = 0;
    for (int64_t e = 0; e < d; ++e) dot += double(q[size_t(e)]) * k_at(j, e);
    s[size_t(j)] = scale * dot;
    mx = std::max(mx, s[size_t(j)]);
  }
  if (mx == -INFINITY) return o;
  double sum = 0;
  for (int64_t j = 0; j < L; ++j) {
    if (s[size_t(j)] == -INFINITY) continue;
    double p = std::exp(s[size_t(j)] - mx);
    sum += p;
    for (int64_t e = 0; e < d; ++e) o[size_t(e)] += p * v_at(j, e);
  }
  for (auto &x : o) x /= sum;
  return o;
}

// Expected output of the whole problem; rows that must stay untouched expect the sentinel.
std::vector<double> dense_expected(const Paged &p, const Window &w, bool decode) {
  std::vector<double> want(size_t(p.out.numel()), kSentinel);
  const int64_t B = int64_t(p.kv_lens.size()), G = p.hq / p.hkv;
  const double scale = 1.0 / std::sqrt(double(p.d));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = decode ? 1 : p.q_lens[size_t(b)], L = p.kv_lens[size_t(b)];
    if (n == 0 || L <= 0) continue;
    const int64_t row0 = decode ? b : p.q_start(b);
    for (int64_t h = 0; h < p.hq; ++h) {
      const int64_t g = w.interleaved ? h % p.hkv : h / G;
      for (int64_t i = 0; i < n; ++i) {
        std::vector<float> q(static_cast<size_t>(p.d));
        for (int64_t e = 0; e < p.d; ++e) q[size_t(e)] = p.query.get(((row0 + i) * p.hq + h) * p.d + e);
        auto k_at = [&](int64_t j, int64_t e) { return double(p.kv_at(p.kc, b, j, g, e)); };
        auto v_at = [&](int64_t j, int64_t e) { return double(p.kv_at(p.vc, b, j, g, e)); };
        std::vector<double> o = dense_row(q, p.d, L, L - n + i, w, scale, std::function<double(int64_t, int64_t)>(k_at),
                                          std::function<double(int64_t, int64_t)>(v_at));
        for (int64_t e = 0; e < p.d; ++e) want[size_t(((row0 + i) * p.hq + h) * p.d + e)] = o[size_t(e)];
      }
    }
  }
  return want;
}

Attrs window_attrs(const Window &w) {
  Attrs a;
  a.b("is_causal", w.causal).s("gqa_layout", w.interleaved ? "ABAB" : "AABB");
  if (w.wl >= 0) a.i("local_window_size", w.wl);
  if (w.wg >= 0) a.i("global_window_size", w.wg);
  return a;
}

class AttentionTest : public OpTest, public ::testing::WithParamInterface<int> {
 protected:
  void prefill(const std::string &op, Paged &p, const Attrs &a, bool with_cu_kv = true) {
    run(op, a, {&p.query, &p.kc, &p.vc, &p.cu_q, &p.bt, with_cu_kv ? &p.cu_kv : nullptr}, {&p.out});
  }
  void decode(const std::string &op, Paged &p, const Attrs &a) {
    run(op, a, {&p.query, &p.kc, &p.vc, &p.total, &p.bt}, {&p.out});
  }
  double tol() const { return dtype_rtol(GetParam()); }
};

const int kHalfDtypes[] = {MOJO_DT_BF16, MOJO_DT_FP16};

TEST_P(AttentionTest, PagedPrefillGqaMatchesDenseReference) {
  // Ragged lengths with a prefix cache, an empty sequence and padding rows; both head mappings.
  for (bool inter : {false, true}) {
    Paged p(GetParam(), 8, 2, 64, 16, {5, 0, 17, 1}, {5, 9, 40, 33}, 3, rng);
    Window w;
    w.interleaved = inter;
    prefill("paged_prefill_gqa", p, window_attrs(w));
    expect_close(p.out.to_floats(), dense_expected(p, w, false), 2e-3, tol(), inter ? "ABAB" : "AABB");
  }
}

TEST_P(AttentionTest, PagedPrefillWithoutTotalLengthsIsSelfAttention) {
  Paged p(GetParam(), 4, 4, 32, 8, {3, 12}, {3, 12}, 2, rng);
  prefill("paged_prefill_gqa", p, Attrs(), false);
  expect_close(p.out.to_floats(), dense_expected(p, Window(), false), 2e-3, tol());
}

TEST_P(AttentionTest, PagedDecodeGqaMatchesDenseReference) {
  for (bool inter : {false, true}) {
    Paged p(GetParam(), 8, 1, 128, 16, {1, 1, 1, 1}, {1, 0, 37, 64}, 0, rng, true);
    Window w;
    w.interleaved = inter;
    decode("paged_decode_gqa", p, window_attrs(w));
    expect_close(p.out.to_floats(), dense_expected(p, w, true), 2e-3, tol());
  }
}

TEST_P(AttentionTest, SwaFamilyMatchesDenseReference) {
  for (Window w : {Window{true, 5, 2, true}, Window{true, 7, -1, false}, Window{true, -1, 3, false},
                   Window{false, 3, 1, false}}) {
    std::string what = "Wl=" + std::to_string(w.wl) + " Wg=" + std::to_string(w.wg) + (w.causal ? "" : " noncausal");
    Paged p(GetParam(), 4, 2, 32, 4, {9, 0, 6}, {9, 3, 20}, 2, rng);
    prefill("paged_prefill_swa", p, window_attrs(w));
    expect_close(p.out.to_floats(), dense_expected(p, w, false), 2e-3, tol(), "prefill " + what);

    Paged q(GetParam(), 4, 2, 32, 4, {1, 1, 1}, {9, 0, 20}, 0, rng, true);
    decode("paged_decode_swa", q, window_attrs(w));
    expect_close(q.out.to_floats(), dense_expected(q, w, true), 2e-3, tol(), "decode " + what);
  }
}

TEST_P(AttentionTest, SwaVarlenMatchesDenseReference) {
  const int dt = GetParam();
  const std::vector<int64_t> qn = {4, 0, 7}, kn = {10, 2, 7};
  const int64_t hq = 6, hkv = 2, d = 16, T = 13, Tk = 19;
  HostTensor q(dt, {T, hq, d}), k(dt, {Tk, hkv, d}), v(dt, {Tk, hkv, d}), cq(MOJO_DT_INT32, {4}),
      ck(MOJO_DT_INT32, {4}), out(dt, {T, hq, d});
  q.fill_uniform(rng, -1, 1);
  k.fill_uniform(rng, -1, 1);
  v.fill_uniform(rng, -1, 1);
  cq.fill_ints({0, 4, 4, 11});
  ck.fill_ints({0, 10, 12, 19});
  for (Window w : {Window{true, 3, 1, false}, Window{true, -1, -1, true}}) {
    out.fill(kSentinel);
    run("swa_varlen", window_attrs(w), {&q, &k, &v, &cq, &ck}, {&out});
    std::vector<double> want(size_t(out.numel()), kSentinel);
    int64_t qs = 0, ks = 0;
    for (size_t b = 0; b < qn.size(); ++b) {
      for (int64_t h = 0; h < hq; ++h) {
        int64_t g = w.interleaved ? h % hkv : h / (hq / hkv);
        for (int64_t i = 0; i < qn[b]; ++i) {
          std::vector<float> qr(static_cast<size_t>(d));
          for (int64_t e = 0; e < d; ++e) qr[size_t(e)] = q.get(((qs + i) * hq + h) * d + e);
          std::function<double(int64_t, int64_t)> ka = [&](int64_t j, int64_t e) {
            return double(k.get(((ks + j) * hkv + g) * d + e));
          };
          std::function<double(int64_t, int64_t)> va = [&](int64_t j, int64_t e) {
            return double(v.get(((ks + j) * hkv + g) * d + e));
          };
          auto o = dense_row(qr, d, kn[b], kn[b] - qn[b] + i, w, 1.0 / std::sqrt(double(d)), ka, va);
          for (int64_t e = 0; e < d; ++e) want[size_t(((qs + i) * hq + h) * d + e)] = o[size_t(e)];
        }
      }
      qs += qn[b];
      ks += kn[b];
    }
    expect_close(out.to_floats(), want, 2e-3, tol());
  }
}

TEST_P(AttentionTest, SingleKeyReturnsItsValue) {
  Paged p(GetParam(), 4, 2, 64, 16, {1, 1}, {1, 1}, 0, rng, true);
  decode("paged_decode_gqa", p, Attrs());
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t e = 0; e < 64; ++e)
        ASSERT_EQ(p.out.get((b * 4 + h) * 64 + e), p.kv_at(p.vc, b, 0, h / 2, e));
}

TEST_P(AttentionTest, EqualKeysGiveTheMeanOfValues) {
  Paged p(GetParam(), 2, 1, 16, 4, {1}, {11}, 0, rng, true);
  p.kc.fill(0.25f);  // every score equal → uniform softmax
  decode("paged_decode_gqa", p, Attrs());
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t e = 0; e < 16; ++e) {
      double mean = 0;
      for (int64_t j = 0; j < 11; ++j) mean += p.kv_at(p.vc, 0, j, 0, e);
      EXPECT_NEAR(p.out.get(h * 16 + e), mean / 11, 1e-3 + tol() * std::fabs(mean / 11));
    }
}

TEST_P(AttentionTest, ChangingAFutureKeyChangesNothingBefore) {
  Paged p(GetParam(), 2, 2, 32, 8, {20}, {20}, 0, rng);
  prefill("paged_prefill_gqa", p, Attrs());
  HostTensor first = p.out;
  // Overwrite keys and values of positions >= 12 in the pages.
  for (int64_t j = 12; j < 20; ++j) {
    int64_t blk = p.bt.get_int(j / 8), slot = j % 8;
    for (int64_t g = 0; g < 2; ++g)
      for (int64_t e = 0; e < 32; ++e) {
        p.kc.set(((blk * 2 + g) * 8 + slot) * 32 + e, 3.0f);
        p.vc.set(((blk * 2 + g) * 8 + slot) * 32 + e, -3.0f);
      }
  }
  prefill("paged_prefill_gqa", p, Attrs());
  const int64_t row = 2 * 32;
  for (int64_t i = 0; i < 12 * row; ++i) {
    ASSERT_EQ(p.out.get(i), first.get(i)) << "row " << i / row << " saw a future key";
  }
  bool changed = false;
  for (int64_t i = 12 * row; i < 20 * row; ++i) changed |= p.out.get(i) != first.get(i);
  EXPECT_TRUE(changed);
}

TEST_P(AttentionTest, PaddingRowsAndEmptySequencesUntouched) {
  // Bucket-padded launch: cu_q_lens = [0,1,2,3,4,4,4], eight query rows.
  Paged p(GetParam(), 4, 2, 128, 16, {1, 1, 1, 1, 0, 0}, {1, 1, 1, 1, 0, 0}, 4, rng);
  prefill("paged_prefill_gqa", p, Attrs());
  for (int64_t i = 4 * 4 * 128; i < 8 * 4 * 128; ++i) ASSERT_EQ(p.out.get(i), kSentinel);
  expect_close(p.out.to_floats(), dense_expected(p, Window(), false), 2e-3, tol());
  Paged dq(GetParam(), 4, 2, 16, 16, {1, 1, 1}, {3, 0, -1}, 0, rng, true);
  decode("paged_decode_gqa", dq, Attrs());
  for (int64_t i = 4 * 16; i < 3 * 4 * 16; ++i) ASSERT_EQ(dq.out.get(i), kSentinel);
}

TEST_P(AttentionTest, PrefixCachedPrefillEqualsFullPrefillOnNewRows) {
  Paged p(GetParam(), 4, 1, 64, 16, {37}, {37}, 0, rng);
  prefill("paged_prefill_gqa", p, Attrs());
  HostTensor full = p.out;
  // Same cache; only the last 9 tokens are new.
  const int64_t n = 9, row = 4 * 64;
  HostTensor q2(p.dt, {n, 4, 64}), out2(p.dt, {n, 4, 64}), cq(MOJO_DT_INT32, {2});
  for (int64_t i = 0; i < n * row; ++i) q2.set(i, p.query.get((37 - n) * row + i));
  cq.fill_ints({0, n});
  run("paged_prefill_gqa", Attrs(), {&q2, &p.kc, &p.vc, &cq, &p.bt, &p.cu_kv}, {&out2});
  for (int64_t i = 0; i < n * row; ++i) ASSERT_EQ(out2.get(i), full.get((37 - n) * row + i));
}

TEST_P(AttentionTest, GroupedAndInterleavedHeadMapping) {
  Paged p(GetParam(), 4, 2, 8, 4, {1}, {6}, 0, rng, true);
  // KV head 0 values are all +1, head 1 values all -1: each query head's output names its KV head.
  for (int64_t i = 0; i < p.vc.numel(); ++i) p.vc.set(i, (i / (4 * 8)) % 2 == 0 ? 1.0f : -1.0f);
  decode("paged_decode_gqa", p, Attrs().s("gqa_layout", "AABB"));
  const float aabb[] = {1, 1, -1, -1}, abab[] = {1, -1, 1, -1};
  for (int64_t h = 0; h < 4; ++h) EXPECT_EQ(p.out.get(h * 8), aabb[h]) << "AABB head " << h;
  decode("paged_decode_gqa", p, Attrs().s("gqa_layout", "ABAB"));
  for (int64_t h = 0; h < 4; ++h) EXPECT_EQ(p.out.get(h * 8), abab[h]) << "ABAB head " << h;
}

TEST_P(AttentionTest, SlidingWindowSeesExactlyTheWindow) {
  // Equal keys make the softmax uniform over the allowed keys; value j is the constant j, so the output is
  // the mean of the allowed positions. L = 10, pos = 9.
  Paged p(GetParam(), 1, 1, 4, 4, {1}, {10}, 0, rng, true);
  p.kc.fill(0.0f);
  for (int64_t j = 0; j < 10; ++j) {
    int64_t blk = p.bt.get_int(j / 4);
    for (int64_t e = 0; e < 4; ++e) p.vc.set((blk * 4 + j % 4) * 4 + e, float(j));
  }
  struct Case { Window w; double mean; };
  for (Case c : {Case{{true, 2, 1, false}, (0 + 7 + 8 + 9) / 4.0},  // Wl=2: 7,8,9 plus sink 0
                 Case{{true, 0, -1, false}, 9.0},                   // only the current token
                 Case{{true, -1, 2, false}, 0.5},                   // only the sinks 0, 1
                 Case{{true, 20, -1, false}, 4.5},                  // window wider than the sequence
                 Case{{false, 2, 1, false}, 4.5}}) {                // non-causal ignores windows
    decode("paged_decode_swa", p, window_attrs(c.w));
    EXPECT_NEAR(p.out.get(0), c.mean, 1e-6 + c.mean * tol()) << "Wl=" << c.w.wl << " Wg=" << c.w.wg;
  }
  // The same window in prefill: query i of a 10-token prompt sees j in [i-2, i] plus j = 0.
  Paged q(GetParam(), 1, 1, 4, 4, {10}, {10}, 0, rng);
  q.kc.fill(0.0f);
  for (int64_t j = 0; j < 10; ++j) {
    int64_t blk = q.bt.get_int(j / 4);
    for (int64_t e = 0; e < 4; ++e) q.vc.set((blk * 4 + j % 4) * 4 + e, float(j));
  }
  prefill("paged_prefill_swa", q, window_attrs(Window{true, 2, 1, false}));
  for (int64_t i = 0; i < 10; ++i) {
    double s = 0;
    int cnt = 0;
    for (int64_t j = 0; j <= i; ++j) {
      if (i - j <= 2 || j < 1) {
        s += double(j);
        ++cnt;
      }
    }
    EXPECT_NEAR(q.out.get(i * 4), s / cnt, 1e-6 + tol() * s / cnt) << "query " << i;
  }
}

TEST_P(AttentionTest, CustomMaskWhenNotCausal) {
  // A lower-triangular mask with is_causal=false reproduces the causal result; with is_causal=true the mask
  // is ignored.
  Paged p(GetParam(), 2, 1, 16, 4, {6}, {6}, 0, rng);
  prefill("paged_prefill_gqa", p, Attrs());
  HostTensor causal = p.out;
  HostTensor mask(MOJO_DT_BOOL, {8, 8});
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t j = 0; j < 8; ++j) mask.set_int(i * 8 + j, j <= i);
  run("paged_prefill_gqa", Attrs().b("is_causal", false), {&p.query, &p.kc, &p.vc, &p.cu_q, &p.bt, &p.cu_kv, &mask},
      {&p.out});
  EXPECT_TRUE(p.out.same_bytes(causal));
  mask.fill(0);  // nothing allowed: ignored when causal
  run("paged_prefill_gqa", Attrs(), {&p.query, &p.kc, &p.vc, &p.cu_q, &p.bt, &p.cu_kv, &mask}, {&p.out});
  EXPECT_TRUE(p.out.same_bytes(causal));
  // Fully masked rows (non-causal, all false) output zeros.
  run("paged_prefill_gqa", Attrs().b("is_causal", false), {&p.query, &p.kc, &p.vc, &p.cu_q, &p.bt, &p.cu_kv, &mask},
      {&p.out});
  for (float v : p.out.to_floats()) ASSERT_EQ(v, 0.0f);

  // Decode reads mask row L-1 of its sequence ([B, S_m, S_m] form): allowing only key 2 returns value 2.
  Paged dq(GetParam(), 2, 1, 16, 4, {1, 1}, {5, 7}, 0, rng, true);
  HostTensor m3(MOJO_DT_BOOL, {2, 8, 8});
  m3.fill(1);
  for (int64_t b = 0; b < 2; ++b) {
    const int64_t row = dq.kv_lens[size_t(b)] - 1;
    for (int64_t j = 0; j < 8; ++j) m3.set_int((b * 8 + row) * 8 + j, j == 2);
  }
  run("paged_decode_gqa", Attrs().b("is_causal", false), {&dq.query, &dq.kc, &dq.vc, &dq.total, &dq.bt, &m3},
      {&dq.out});
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t e = 0; e < 16; ++e) ASSERT_EQ(dq.out.get((b * 2 + h) * 16 + e), dq.kv_at(dq.vc, b, 2, 0, e));
  // A mask smaller than a kv length is rejected.
  HostTensor small(MOJO_DT_BOOL, {2, 6, 6});
  small.fill(1);
  EXPECT_EQ(code_of("paged_decode_gqa", Attrs().b("is_causal", false),
                    {&dq.query, &dq.kc, &dq.vc, &dq.total, &dq.bt, &small}, {&dq.out}),
            MOJO_STATUS_INVALID_ARGUMENT);
}

TEST_P(AttentionTest, InvalidMetadataIsRejectedBeforeWriting) {
  auto untouched = [](const HostTensor &o) {
    for (float v : o.to_floats())
      if (v != kSentinel) return false;
    return true;
  };
  {  // negative block id inside the needed range (second column of a 20-token sequence, BS = 16)
    Paged p(GetParam(), 2, 1, 16, 16, {4, 20}, {4, 20}, 0, rng);
    p.bt.set_int(1 * p.mb + 1, -1);
    std::string msg;
    EXPECT_EQ(code_of("paged_prefill_gqa", Attrs(), {&p.query, &p.kc, &p.vc, &p.cu_q, &p.bt, &p.cu_kv}, {&p.out}, &msg),
              MOJO_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(msg.find("block_table"), std::string::npos) << msg;
    EXPECT_TRUE(untouched(p.out));
    // A -1 beyond the needed range is fine.
    p.bt.set_int(1 * p.mb + 1, p.nb - 1);
    p.bt.set_int(0 * p.mb + 1, -1);
    prefill("paged_prefill_gqa", p, Attrs());
  }
  {  // decreasing cu lengths
    Paged p(GetParam(), 2, 1, 16, 16, {4, 5}, {4, 5}, 0, rng);
    p.cu_q.fill_ints({0, 6, 5});
    EXPECT_EQ(code_of("paged_prefill_gqa", Attrs(), {&p.query, &p.kc, &p.vc, &p.cu_q, &p.bt, &p.cu_kv}, {&p.out}),
              MOJO_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(untouched(p.out));
    p.cu_q.fill_ints({0, 4, 9});
    p.cu_kv.fill_ints({0, 4, 3});
    EXPECT_EQ(code_of("paged_prefill_swa", Attrs(), {&p.query, &p.kc, &p.vc, &p.cu_q, &p.bt, &p.cu_kv}, {&p.out}),
              MOJO_STATUS_INVALID_ARGUMENT);
    // kv length shorter than q length under the causal mask
    p.cu_kv.fill_ints({0, 4, 7});
    EXPECT_EQ(code_of("paged_prefill_gqa", Attrs(), {&p.query, &p.kc, &p.vc, &p.cu_q, &p.bt, &p.cu_kv}, {&p.out}),
              MOJO_STATUS_INVALID_ARGUMENT);
    // a host hint below the true maximum
    p.cu_kv.fill_ints({0, 4, 9});
    EXPECT_EQ(code_of("paged_prefill_gqa", Attrs().i("max_q_len", 4),
                      {&p.query, &p.kc, &p.vc, &p.cu_q, &p.bt, &p.cu_kv}, {&p.out}),
              MOJO_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(untouched(p.out));
  }
  {  // decode: a length beyond MB * BS, and a negative id
    Paged p(GetParam(), 2, 1, 16, 4, {1, 1}, {5, 3}, 0, rng, true);
    p.total.fill_ints({5, 4 * p.mb + 1});
    EXPECT_EQ(code_of("paged_decode_gqa", Attrs(), {&p.query, &p.kc, &p.vc, &p.total, &p.bt}, {&p.out}),
              MOJO_STATUS_INVALID_ARGUMENT);
    p.total.fill_ints({5, 3});
    p.bt.set_int(0, -1);
    EXPECT_EQ(code_of("paged_decode_swa", Attrs(), {&p.query, &p.kc, &p.vc, &p.total, &p.bt}, {&p.out}),
              MOJO_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(untouched(p.out));
  }
  {  // swa_varlen offsets past the packed keys
    HostTensor q(GetParam(), {4, 2, 8}), k(GetParam(), {4, 1, 8}), v(GetParam(), {4, 1, 8}), cq(MOJO_DT_INT32, {2}),
        ck(MOJO_DT_INT32, {2}), out(GetParam(), {4, 2, 8});
    out.fill(kSentinel);
    cq.fill_ints({0, 4});
    ck.fill_ints({0, 5});
    EXPECT_EQ(code_of("swa_varlen", Attrs(), {&q, &k, &v, &cq, &ck}, {&out}), MOJO_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(untouched(out));
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, AttentionTest, ::testing::ValuesIn(kHalfDtypes),
                         [](const auto &info) { return std::string(common::dtype_name(info.param)); });

}  // namespace
}  // namespace mojo::tools
