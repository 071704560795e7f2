// MLA and NSA paged attention against naive dense double-precision implementations written here from unpaged
// copies of the caches, plus closed forms (one key, hand-checked sink, isolated NSA branches).
#include <algorithm>
#include <numeric>

#include "op_test_support.h"

namespace mojo::tools {
namespace {

using Mat = std::vector<std::vector<double>>;  // [rows][cols]

// A shuffled paged layout: sequence b's logical block m lives in physical block blocks[b][m]; two spare
// blocks hold garbage; unused block-table columns are -1.
struct Layout {
  int64_t BS = 0, NB = 0, MB = 0;
  std::vector<std::vector<int64_t>> blocks;
  HostTensor table;
};

Layout make_layout(const std::vector<int64_t> &lens, int64_t BS, std::mt19937 &rng) {
  Layout l;
  l.BS = BS;
  int64_t total = 0;
  for (int64_t L : lens) {
    int64_t need = L > 0 ? (L + BS - 1) / BS : 0;
    l.MB = std::max(l.MB, need + 1);
    total += need;
  }
  l.NB = total + 2;
  std::vector<int64_t> perm(static_cast<size_t>(l.NB));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  size_t next = 0;
  l.table = HostTensor(MOJO_DT_INT32, {int64_t(lens.size()), l.MB});
  std::vector<int64_t> ids;
  for (int64_t L : lens) {
    std::vector<int64_t> mine;
    int64_t need = L > 0 ? (L + BS - 1) / BS : 0;
    for (int64_t m = 0; m < l.MB; ++m) {
      if (m < need) mine.push_back(perm[next++]);
      ids.push_back(m < need ? mine.back() : -1);
    }
    l.blocks.push_back(mine);
  }
  l.table.fill_ints(ids);
  return l;
}

// Element index of cache[blk, head, slot, d] for a contiguous [NB, H, BS, D] cache.
int64_t cache_index(const HostTensor &c, int64_t blk, int64_t head, int64_t slot, int64_t d) {
  return ((blk * c.shape()[1] + head) * c.shape()[2] + slot) * c.shape()[3] + d;
}

// Poisons (NaN) every cache slot no sequence owns (spare blocks, slots >= L of a last block) and the query
// rows from `first_pad_row` on: the ops must never read them.
void poison_unused(HostTensor &cache, const Layout &l, const std::vector<int64_t> &lens) {
  std::vector<char> used(size_t(l.NB * l.BS), 0);
  for (size_t b = 0; b < lens.size(); ++b)
    for (int64_t p = 0; p < lens[b]; ++p) used[size_t(l.blocks[b][size_t(p / l.BS)] * l.BS + p % l.BS)] = 1;
  for (int64_t blk = 0; blk < l.NB; ++blk)
    for (int64_t slot = 0; slot < l.BS; ++slot)
      if (!used[size_t(blk * l.BS + slot)])
        for (int64_t h = 0; h < cache.shape()[1]; ++h)
          for (int64_t d = 0; d < cache.shape()[3]; ++d) cache.set(cache_index(cache, blk, h, slot, d), NAN);
}

void poison_rows(HostTensor &q, int64_t first_pad_row) {
  const int64_t per_row = q.numel() / q.shape()[0];
  for (int64_t i = first_pad_row * per_row; i < q.numel(); ++i) q.set(i, NAN);
}

// Dense [L][D] copy of head `head` of sequence b, read back from the (already filled) paged cache.
Mat dense(const HostTensor &cache, const Layout &l, int64_t b, int64_t head, int64_t L) {
  Mat m(size_t(L), std::vector<double>(size_t(cache.shape()[3])));
  for (int64_t p = 0; p < L; ++p)
    for (int64_t d = 0; d < cache.shape()[3]; ++d)
      m[size_t(p)][size_t(d)] = cache.get(cache_index(cache, l.blocks[size_t(b)][size_t(p / l.BS)], head, p % l.BS, d));
  return m;
}

double dotd(const std::vector<double> &a, const std::vector<double> &b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// softmax(scores over keys in `keys`) . V in double; sink joins the denominator; no keys -> zeros.
std::vector<double> attend(const std::vector<double> &q, const Mat &K, const Mat &V, const std::vector<int64_t> &keys,
                           double scale, const double *sink = nullptr) {
  std::vector<double> o(V.empty() ? 0 : V[0].size(), 0.0);
  if (keys.empty()) return o;
  std::vector<double> s;
  double m = -1e300;
  for (int64_t j : keys) {
    s.push_back(scale * dotd(q, K[size_t(j)]));
    m = std::max(m, s.back());
  }
  if (sink) m = std::max(m, *sink);
  double z = sink ? std::exp(*sink - m) : 0.0;
  for (double &x : s) z += (x = std::exp(x - m));
  for (size_t k = 0; k < keys.size(); ++k)
    for (size_t d = 0; d < o.size(); ++d) o[d] += s[k] / z * V[size_t(keys[k])][d];
  return o;
}

std::vector<int64_t> range(int64_t lo, int64_t hi) {
  std::vector<int64_t> r;
  for (int64_t j = std::max<int64_t>(lo, 0); j < hi; ++j) r.push_back(j);
  return r;
}

std::vector<double> row_of(const HostTensor &t, int64_t row, int64_t cols) {
  std::vector<double> r(static_cast<size_t>(cols));
  for (int64_t d = 0; d < cols; ++d) r[size_t(d)] = t.get(row * cols + d);
  return r;
}

HostTensor ints(const std::vector<int64_t> &v) {
  HostTensor t(MOJO_DT_INT32, {int64_t(v.size())});
  t.fill_ints(v);
  return t;
}

std::vector<int64_t> cumsum(const std::vector<int64_t> &v) {
  std::vector<int64_t> c{0};
  for (int64_t x : v) c.push_back(c.back() + x);
  return c;
}

// Checks the rows in `rows` against want (rows x cols) and that every other row still holds `sentinel`.
void check_rows(const HostTensor &out, int64_t cols, const std::vector<std::pair<int64_t, std::vector<double>>> &want,
                float sentinel, double atol, double rtol, const std::string &what) {
  std::vector<float> got = out.to_floats();
  std::vector<char> seen(got.size() / size_t(cols), 0);
  for (const auto &w : want) {
    seen[size_t(w.first)] = 1;
    std::vector<float> g(got.begin() + w.first * cols, got.begin() + (w.first + 1) * cols);
    expect_close(g, w.second, atol, rtol, what + " row " + std::to_string(w.first));
  }
  for (size_t r = 0; r < seen.size(); ++r)
    if (!seen[r]) {
      for (int64_t d = 0; d < cols; ++d) {
        ASSERT_EQ(got[r * size_t(cols) + size_t(d)], sentinel) << what << ": padding row " << r << " was written";
      }
    }
}

double tol_for(int dt) { return dt == MOJO_DT_FP32 ? 2e-5 : dt == MOJO_DT_FP16 ? 4e-3 : 3e-2; }

// ---- MLA ----------------------------------------------------------------------------------------------

struct MlaDims {
  int64_t H = 4, Dn = 16, Dr = 8, Dv = 12, R = 20, BS = 4;
};

Attrs mla_attrs(const MlaDims &m, bool sink) {
  return Attrs()
      .i("num_heads", m.H)
      .i("qk_nope_head_dim", m.Dn)
      .i("qk_rope_head_dim", m.Dr)
      .i("v_head_dim", m.Dv)
      .i("kv_lora_rank", m.R)
      .b("use_attn_sink", sink);
}

// Dense MLA of one sequence per spec §3: KV = C W^T rounded to dt, k = [k_nope | P], causal bottom-right.
std::vector<std::pair<int64_t, std::vector<double>>> mla_reference(
    const MlaDims &m, int dt, const HostTensor &q, const HostTensor &ckv, const HostTensor &kpe, const HostTensor &w,
    const HostTensor *sink, const Layout &l, int64_t b, int64_t row0, int64_t n, int64_t L, bool causal) {
  std::vector<std::pair<int64_t, std::vector<double>>> rows;
  Mat C = dense(ckv, l, b, 0, L), P = dense(kpe, l, b, 0, L);
  const double scale = 1.0 / std::sqrt(double(m.Dn + m.Dr));
  for (int64_t h = 0; h < m.H; ++h) {
    Mat K(static_cast<size_t>(L)), V(static_cast<size_t>(L));
    for (int64_t j = 0; j < L; ++j) {
      for (int64_t d = 0; d < m.Dn + m.Dv; ++d) {
        double kv = 0;
        for (int64_t r = 0; r < m.R; ++r) kv += C[size_t(j)][size_t(r)] * w.get((h * (m.Dn + m.Dv) + d) * m.R + r);
        kv = common::round_to_dtype(float(kv), dt);
        (d < m.Dn ? K : V)[size_t(j)].push_back(kv);
      }
      for (int64_t d = 0; d < m.Dr; ++d) K[size_t(j)].push_back(P[size_t(j)][size_t(d)]);
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = (row0 + i) * m.H + h;
      double s = sink ? sink->get(h) : 0.0;
      rows.push_back({row, attend(row_of(q, row, m.Dn + m.Dr), K, V, range(0, causal ? L - n + i + 1 : L), scale,
                                  sink ? &s : nullptr)});
    }
  }
  return rows;
}

class MlaTest : public OpTest, public ::testing::WithParamInterface<int> {};

TEST_P(MlaTest, PrefillMatchesDenseWithPrefixPaddingAndSink) {
  const int dt = GetParam();
  MlaDims m;
  // b0: 3 new of 7 (prefix 4); b1: empty query (skipped); b2: 5 of 5; b3: 1 of 9; two padding rows.
  const std::vector<int64_t> n = {3, 0, 5, 1}, L = {7, 2, 5, 9};
  const int64_t T = 11;
  Layout l = make_layout(L, m.BS, rng);
  HostTensor q(dt, {T, m.H, m.Dn + m.Dr}), ckv(dt, {l.NB, 1, m.BS, m.R}), kpe(dt, {l.NB, 1, m.BS, m.Dr}),
      w(dt, {m.H * (m.Dn + m.Dv), m.R}), sink(MOJO_DT_FP32, {m.H}), out(dt, {T, m.H, m.Dv});
  q.fill_uniform(rng, -1, 1);
  ckv.fill_uniform(rng, -1, 1);
  kpe.fill_uniform(rng, -1, 1);
  w.fill_uniform(rng, -0.4f, 0.4f);
  sink.fill_uniform(rng, -1, 2);
  poison_unused(ckv, l, L);
  poison_unused(kpe, l, L);
  poison_rows(q, cumsum(n).back());
  HostTensor cu_q = ints(cumsum(n)), cu_t = ints(cumsum(L));
  for (bool causal : {true, false})
    for (bool use_sink : {false, true}) {
      out.fill(7.0f);
      run("paged_prefill_mla", mla_attrs(m, use_sink).b("is_causal", causal),
          {&q, &ckv, &kpe, &cu_q, &l.table, &cu_t, &w, use_sink ? &sink : nullptr}, {&out});
      std::vector<std::pair<int64_t, std::vector<double>>> want;
      int64_t row0 = 0;
      for (size_t b = 0; b < n.size(); ++b) {
        if (n[b] > 0) {
          auto r = mla_reference(m, dt, q, ckv, kpe, w, use_sink ? &sink : nullptr, l, int64_t(b), row0, n[b], L[b],
                                 causal);
          want.insert(want.end(), r.begin(), r.end());
        }
        row0 += n[b];
      }
      check_rows(out, m.Dv, want, 7.0f, tol_for(dt), tol_for(dt),
                 std::string("prefill causal=") + (causal ? "1" : "0") + " sink=" + (use_sink ? "1" : "0"));
    }
}

TEST_P(MlaTest, PrefillWithoutTotalLengthsMeansNoPrefix) {
  const int dt = GetParam();
  MlaDims m;
  const std::vector<int64_t> n = {4, 6};
  Layout l = make_layout(n, m.BS, rng);
  HostTensor q(dt, {10, m.H, m.Dn + m.Dr}), ckv(dt, {l.NB, 1, m.BS, m.R}), kpe(dt, {l.NB, 1, m.BS, m.Dr}),
      w(dt, {m.H * (m.Dn + m.Dv), m.R}), out(dt, {10, m.H, m.Dv});
  q.fill_uniform(rng, -1, 1);
  ckv.fill_uniform(rng, -1, 1);
  kpe.fill_uniform(rng, -1, 1);
  w.fill_uniform(rng, -0.4f, 0.4f);
  HostTensor cu_q = ints(cumsum(n));
  run("paged_prefill_mla", mla_attrs(m, false), {&q, &ckv, &kpe, &cu_q, &l.table, nullptr, &w, nullptr}, {&out});
  auto want = mla_reference(m, dt, q, ckv, kpe, w, nullptr, l, 0, 0, 4, 4, true);
  auto more = mla_reference(m, dt, q, ckv, kpe, w, nullptr, l, 1, 4, 6, 6, true);
  want.insert(want.end(), more.begin(), more.end());
  check_rows(out, m.Dv, want, 0.0f, tol_for(dt), tol_for(dt), "prefill no prefix");
}

TEST_P(MlaTest, DecodeMatchesDenseAndLeavesPaddingRows) {
  const int dt = GetParam();
  MlaDims m;
  m.BS = 8;
  const std::vector<int64_t> L = {5, 0, 1, 23, 8, -1};
  const int64_t B = int64_t(L.size());
  Layout l = make_layout(L, m.BS, rng);
  HostTensor q(dt, {B, m.H, m.Dn + m.Dr}), ckv(dt, {l.NB, 1, m.BS, m.R}), kpe(dt, {l.NB, 1, m.BS, m.Dr}),
      w(dt, {m.H * (m.Dn + m.Dv), m.R}), sink(MOJO_DT_FP32, {m.H}), out(dt, {B, m.H, m.Dv});
  q.fill_uniform(rng, -1, 1);
  ckv.fill_uniform(rng, -1, 1);
  kpe.fill_uniform(rng, -1, 1);
  w.fill_uniform(rng, -0.4f, 0.4f);
  sink.fill_uniform(rng, -1, 2);
  poison_unused(ckv, l, L);
  poison_unused(kpe, l, L);
  HostTensor lens = ints(L);
  for (bool use_sink : {false, true}) {
    out.fill(-3.0f);
    run("paged_decode_mla", mla_attrs(m, use_sink), {&q, &ckv, &kpe, &lens, &l.table, &w, use_sink ? &sink : nullptr},
        {&out});
    std::vector<std::pair<int64_t, std::vector<double>>> want;
    for (int64_t b = 0; b < B; ++b)
      if (L[size_t(b)] > 0) {
        auto r = mla_reference(m, dt, q, ckv, kpe, w, use_sink ? &sink : nullptr, l, b, b, 1, L[size_t(b)], true);
        want.insert(want.end(), r.begin(), r.end());
      }
    check_rows(out, m.Dv, want, -3.0f, tol_for(dt), tol_for(dt), std::string("decode sink=") + (use_sink ? "1" : "0"));
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MlaTest, ::testing::ValuesIn(kFloatDtypes));

TEST_F(OpTest, MlaOneKeyReturnsItsDecompressedValue) {
  MlaDims m;
  Layout l = make_layout({1}, m.BS, rng);
  HostTensor q(MOJO_DT_FP32, {1, m.H, m.Dn + m.Dr}), ckv(MOJO_DT_FP32, {l.NB, 1, m.BS, m.R}),
      kpe(MOJO_DT_FP32, {l.NB, 1, m.BS, m.Dr}), w(MOJO_DT_FP32, {m.H * (m.Dn + m.Dv), m.R}),
      out(MOJO_DT_FP32, {1, m.H, m.Dv});
  q.fill_uniform(rng, -3, 3);
  ckv.fill_uniform(rng, -1, 1);
  kpe.fill_uniform(rng, -1, 1);
  w.fill_normal(rng, 1.0f);
  HostTensor cu = ints({0, 1});
  run("paged_prefill_mla", mla_attrs(m, false), {&q, &ckv, &kpe, &cu, &l.table, nullptr, &w, nullptr}, {&out});
  const int64_t blk = l.blocks[0][0];
  std::vector<double> want;
  for (int64_t h = 0; h < m.H; ++h)
    for (int64_t d = 0; d < m.Dv; ++d) {
      double v = 0;
      for (int64_t r = 0; r < m.R; ++r)
        v += double(ckv.get(cache_index(ckv, blk, 0, 0, r))) * w.get((h * (m.Dn + m.Dv) + m.Dn + d) * m.R + r);
      want.push_back(v);
    }
  expect_close(out.to_floats(), want, 1e-5, 1e-5, "one key");
}

// spec: scores [1, 0] with sink 1 give weights softmax([1, 0, 1])[0:2].
TEST_F(OpTest, MlaDecodeSinkArithmetic) {
  // H=1, Dn=Dr=Dv=1, R=2: C[0] = [1,0], C[1] = [0,1]; W k-row [1,0] (k_nope = 1, 0), v-row [2,5]; P = 0.
  Layout l = make_layout({2}, 2, rng);
  HostTensor q(MOJO_DT_FP32, {1, 1, 2}), ckv(MOJO_DT_FP32, {l.NB, 1, 2, 2}), kpe(MOJO_DT_FP32, {l.NB, 1, 2, 1}),
      w(MOJO_DT_FP32, {2, 2}), sink(MOJO_DT_FP32, {1}), out(MOJO_DT_FP32, {1, 1, 1});
  ckv.fill(9.0f);
  kpe.fill(0.0f);
  const int64_t blk = l.blocks[0][0];
  for (int r = 0; r < 2; ++r) {
    ckv.set(cache_index(ckv, blk, 0, 0, r), r == 0 ? 1.0f : 0.0f);
    ckv.set(cache_index(ckv, blk, 0, 1, r), r == 1 ? 1.0f : 0.0f);
  }
  w.fill_from({1, 0, 2, 5});
  q.fill_from({1, 0});
  sink.fill_from({1});
  HostTensor lens = ints({2});
  Attrs a = Attrs()
                .i("num_heads", 1)
                .i("qk_nope_head_dim", 1)
                .i("qk_rope_head_dim", 1)
                .i("v_head_dim", 1)
                .i("kv_lora_rank", 2)
                .f("softmax_scale", 1.0);
  run("paged_decode_mla", Attrs(a).b("use_attn_sink", true), {&q, &ckv, &kpe, &lens, &l.table, &w, &sink}, {&out});
  const double e = std::exp(1.0);
  expect_close(out.to_floats(), {(2 * e + 5) / (2 * e + 1)}, 1e-6, 1e-6, "sink");
  run("paged_decode_mla", a, {&q, &ckv, &kpe, &lens, &l.table, &w, nullptr}, {&out});
  expect_close(out.to_floats(), {(2 * e + 5) / (e + 1)}, 1e-6, 1e-6, "no sink");
}

TEST_F(OpTest, MlaRejectsBadMetadataWithoutWriting) {
  MlaDims m;
  const std::vector<int64_t> L = {6, 3};
  Layout l = make_layout(L, m.BS, rng);
  HostTensor q(MOJO_DT_BF16, {2, m.H, m.Dn + m.Dr}), ckv(MOJO_DT_BF16, {l.NB, 1, m.BS, m.R}),
      kpe(MOJO_DT_BF16, {l.NB, 1, m.BS, m.Dr}), w(MOJO_DT_BF16, {m.H * (m.Dn + m.Dv), m.R}),
      out(MOJO_DT_BF16, {2, m.H, m.Dv});
  q.fill_uniform(rng, -1, 1);
  ckv.fill_uniform(rng, -1, 1);
  kpe.fill_uniform(rng, -1, 1);
  w.fill_uniform(rng, -1, 1);
  out.fill(1.5f);
  const HostTensor before = out;
  HostTensor lens = ints(L);
  auto expect_invalid = [&](HostTensor &table, HostTensor &lengths, const std::string &what) {
    std::string msg;
    EXPECT_EQ(code_of("paged_decode_mla", mla_attrs(m, false), {&q, &ckv, &kpe, &lengths, &table, &w, nullptr}, {&out},
                      &msg),
              MOJO_STATUS_INVALID_ARGUMENT)
        << what;
    EXPECT_NE(msg.find("paged_decode_mla"), std::string::npos) << msg;
    EXPECT_TRUE(out.same_bytes(before)) << what << ": output written on failure";
  };
  // Sequence 0 needs columns 0 and 1; a -1 in column 1 (sequence 1 is fine and must not be written either).
  HostTensor t1 = l.table;
  t1.set_int(1, -1);
  expect_invalid(t1, lens, "negative block id");
  HostTensor t2 = l.table;
  t2.set_int(l.MB + 0, l.NB);
  expect_invalid(t2, lens, "block id == NB");
  HostTensor too_long = ints({l.MB * m.BS + 1, 3});
  expect_invalid(l.table, too_long, "L > MB * BS");
  // -1 (and any other garbage) beyond the needed columns is fine.
  HostTensor t3 = l.table;
  t3.set_int(2 * l.MB - 1, -7);
  run("paged_decode_mla", mla_attrs(m, false), {&q, &ckv, &kpe, &lens, &t3, &w, nullptr}, {&out});

  // Schema-level: sink presence must match use_attn_sink; kv_b_proj rows must be H*(Dn+Dv).
  HostTensor sink(MOJO_DT_FP32, {m.H});
  EXPECT_EQ(code_of("paged_decode_mla", mla_attrs(m, false), {&q, &ckv, &kpe, &lens, &l.table, &w, &sink}, {&out}),
            MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(code_of("paged_decode_mla", mla_attrs(m, true), {&q, &ckv, &kpe, &lens, &l.table, &w, nullptr}, {&out}),
            MOJO_STATUS_INVALID_ARGUMENT);
  HostTensor w_bad(MOJO_DT_BF16, {m.H * (m.Dn + m.Dv) - 1, m.R});
  EXPECT_EQ(code_of("paged_decode_mla", mla_attrs(m, false), {&q, &ckv, &kpe, &lens, &l.table, &w_bad, nullptr}, {&out}),
            MOJO_STATUS_INVALID_ARGUMENT);
}

TEST_F(OpTest, MlaPrefillRejectsBadLengths) {
  MlaDims m;
  Layout l = make_layout({4, 4}, m.BS, rng);
  HostTensor q(MOJO_DT_FP16, {6, m.H, m.Dn + m.Dr}), ckv(MOJO_DT_FP16, {l.NB, 1, m.BS, m.R}),
      kpe(MOJO_DT_FP16, {l.NB, 1, m.BS, m.Dr}), w(MOJO_DT_FP16, {m.H * (m.Dn + m.Dv), m.R}),
      out(MOJO_DT_FP16, {6, m.H, m.Dv});
  q.fill_uniform(rng, -1, 1);
  ckv.fill_uniform(rng, -1, 1);
  kpe.fill_uniform(rng, -1, 1);
  w.fill_uniform(rng, -1, 1);
  out.fill(2.0f);
  const HostTensor before = out;
  auto code = [&](HostTensor cu_q, HostTensor *cu_t, bool causal) {
    mojo_code c = code_of("paged_prefill_mla", mla_attrs(m, false).b("is_causal", causal),
                          {&q, &ckv, &kpe, &cu_q, &l.table, cu_t, &w, nullptr}, {&out});
    if (c != MOJO_STATUS_SUCCESS) {
      EXPECT_TRUE(out.same_bytes(before)) << "output written on failure";
    }
    return c;
  };
  HostTensor total = ints({0, 4, 6});
  EXPECT_EQ(code(ints({0, 3, 2}), &total, true), MOJO_STATUS_INVALID_ARGUMENT);  // decreasing cu_q_lens
  EXPECT_EQ(code(ints({0, 3, 7}), &total, true), MOJO_STATUS_INVALID_ARGUMENT);  // cu_q_lens[B] > T
  EXPECT_EQ(code(ints({1, 3, 5}), &total, true), MOJO_STATUS_INVALID_ARGUMENT);  // cu_q_lens[0] != 0
  EXPECT_EQ(code(ints({0, 3, 6}), &total, true), MOJO_STATUS_INVALID_ARGUMENT);  // causal: L = 2 < n = 3
  EXPECT_EQ(code(ints({0, 3, 6}), &total, false), MOJO_STATUS_SUCCESS);          // non-causal: fine
}

// ---- NSA ----------------------------------------------------------------------------------------------

struct NsaCfg {
  int64_t H = 2, D = 16, BS = 8, cr = 2, nsel = 2, bsel = 4, W = 5;
};

Attrs nsa_attrs(const NsaCfg &c) {
  return Attrs()
      .i("num_heads", c.H)
      .i("head_dim", c.D)
      .i("compress_ratio", c.cr)
      .i("num_selected_blocks", c.nsel)
      .i("block_size", c.bsel)
      .i("window_size", c.W);
}

// spec §5 for one query vector with context Lc over dense K/V of one head.
std::vector<double> nsa_reference(const NsaCfg &c, const std::vector<double> &q, const Mat &K, const Mat &V,
                                  const std::vector<double> &gate, int64_t Lc) {
  const double scale = 1.0 / std::sqrt(double(c.D));
  Mat Kc, Vc;
  if (Lc < c.cr) {
    Kc.assign(K.begin(), K.begin() + Lc);
    Vc.assign(V.begin(), V.begin() + Lc);
  } else {
    for (int64_t t = 0; t + c.cr <= Lc; t += c.cr) {
      std::vector<double> mk(size_t(c.D), 0.0), mv(size_t(c.D), 0.0);
      for (int64_t u = t; u < t + c.cr; ++u)
        for (int64_t d = 0; d < c.D; ++d) {
          mk[size_t(d)] += K[size_t(u)][size_t(d)] / double(c.cr);
          mv[size_t(d)] += V[size_t(u)][size_t(d)] / double(c.cr);
        }
      Kc.push_back(mk);
      Vc.push_back(mv);
    }
  }
  const int64_t C = int64_t(Kc.size());
  std::vector<double> o_cmp = attend(q, Kc, Vc, range(0, C), scale);
  std::vector<double> pi(static_cast<size_t>(C));
  double z = 0;
  for (int64_t k = 0; k < C; ++k) z += (pi[size_t(k)] = std::exp(scale * dotd(q, Kc[size_t(k)])));
  const int64_t tpb = c.bsel / c.cr, nblk = (Lc + c.bsel - 1) / c.bsel;
  std::vector<std::pair<double, int64_t>> score;
  for (int64_t m = 0; m < nblk; ++m) {
    double s = 0;
    for (int64_t k = m * tpb; k < std::min((m + 1) * tpb, C); ++k) s += pi[size_t(k)] / z;
    score.push_back({-s, m});
  }
  std::sort(score.begin(), score.end());
  std::vector<int64_t> sel;
  for (int64_t k = 0; k < std::min(c.nsel, nblk); ++k)
    for (int64_t j : range(score[size_t(k)].second * c.bsel, std::min((score[size_t(k)].second + 1) * c.bsel, Lc)))
      sel.push_back(j);
  std::sort(sel.begin(), sel.end());
  std::vector<double> o_sel = attend(q, K, V, sel, scale), o_win = attend(q, K, V, range(Lc - c.W, Lc), scale);
  std::vector<double> out(size_t(c.D));
  double g[3];
  for (int k = 0; k < 3; ++k) {
    double s = 0;
    for (int64_t d = 0; d < c.D; ++d) s += q[size_t(d)] * gate[size_t(d * 3 + k)];
    g[k] = 1.0 / (1.0 + std::exp(-s));
  }
  for (int64_t d = 0; d < c.D; ++d)
    out[size_t(d)] = g[0] * o_cmp[size_t(d)] + g[1] * o_sel[size_t(d)] + g[2] * o_win[size_t(d)];
  return out;
}

std::vector<double> gate_of(const HostTensor &gate, int64_t h, int64_t D) {
  std::vector<double> g(size_t(D * 3));
  for (int64_t i = 0; i < D * 3; ++i) g[size_t(i)] = gate.get(h * D * 3 + i);
  return g;
}

class NsaTest : public OpTest, public ::testing::WithParamInterface<int> {};

TEST_P(NsaTest, PrefillMatchesDense) {
  const int dt = GetParam();
  NsaCfg c;
  // b0: 6 new of 13; b1: empty; b2: 3 of 3 (first queries have Lc < cr); b3: 1 of 20; one padding row.
  const std::vector<int64_t> n = {6, 0, 3, 1}, L = {13, 4, 3, 20};
  const int64_t T = 11;
  Layout l = make_layout(L, c.BS, rng);
  HostTensor q(dt, {T, c.H, c.D}), kc(dt, {l.NB, c.H, c.BS, c.D}), vc(dt, {l.NB, c.H, c.BS, c.D}),
      gate(dt, {c.H, c.D, 3}), out(dt, {T, c.H, c.D});
  q.fill_uniform(rng, -1.5f, 1.5f);
  kc.fill_uniform(rng, -1.5f, 1.5f);
  vc.fill_uniform(rng, -1, 1);
  gate.fill_uniform(rng, -0.5f, 0.5f);
  poison_unused(kc, l, L);
  poison_unused(vc, l, L);
  poison_rows(q, cumsum(n).back());
  HostTensor cu_q = ints(cumsum(n)), cu_t = ints(cumsum(L));
  for (bool causal : {true, false}) {
    out.fill(4.0f);
    run("paged_prefill_nsa", nsa_attrs(c).b("is_causal", causal), {&q, &kc, &vc, &cu_q, &l.table, &cu_t, &gate}, {&out});
    std::vector<std::pair<int64_t, std::vector<double>>> want;
    int64_t row0 = 0;
    for (size_t b = 0; b < n.size(); ++b) {
      for (int64_t h = 0; h < c.H && n[b] > 0; ++h) {
        Mat K = dense(kc, l, int64_t(b), h, L[b]), V = dense(vc, l, int64_t(b), h, L[b]);
        for (int64_t i = 0; i < n[b]; ++i) {
          const int64_t row = (row0 + i) * c.H + h;
          want.push_back({row, nsa_reference(c, row_of(q, row, c.D), K, V, gate_of(gate, h, c.D),
                                             causal ? L[b] - n[b] + i + 1 : L[b])});
        }
      }
      row0 += n[b];
    }
    check_rows(out, c.D, want, 4.0f, tol_for(dt), tol_for(dt), std::string("nsa prefill causal=") + (causal ? "1" : "0"));
  }
}

TEST_P(NsaTest, DecodeMatchesDense) {
  const int dt = GetParam();
  NsaCfg c;
  c.BS = 4;
  const std::vector<int64_t> L = {1, 0, 3, 17, 20};
  const int64_t B = int64_t(L.size());
  Layout l = make_layout(L, c.BS, rng);
  HostTensor q(dt, {B, c.H, c.D}), kc(dt, {l.NB, c.H, c.BS, c.D}), vc(dt, {l.NB, c.H, c.BS, c.D}),
      gate(dt, {c.H, c.D, 3}), out(dt, {B, c.H, c.D});
  q.fill_uniform(rng, -1.5f, 1.5f);
  kc.fill_uniform(rng, -1.5f, 1.5f);
  vc.fill_uniform(rng, -1, 1);
  gate.fill_uniform(rng, -0.5f, 0.5f);
  poison_unused(kc, l, L);
  poison_unused(vc, l, L);
  HostTensor lens = ints(L);
  out.fill(-2.0f);
  run("paged_decode_nsa", nsa_attrs(c), {&q, &kc, &vc, &lens, &l.table, &gate}, {&out});
  std::vector<std::pair<int64_t, std::vector<double>>> want;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < c.H && L[size_t(b)] > 0; ++h) {
      Mat K = dense(kc, l, b, h, L[size_t(b)]), V = dense(vc, l, b, h, L[size_t(b)]);
      want.push_back({b * c.H + h, nsa_reference(c, row_of(q, b * c.H + h, c.D), K, V, gate_of(gate, h, c.D),
                                                 L[size_t(b)])});
    }
  check_rows(out, c.D, want, -2.0f, tol_for(dt), tol_for(dt), "nsa decode");
}

INSTANTIATE_TEST_SUITE_P(Dtypes, NsaTest, ::testing::ValuesIn(kFloatDtypes));

// Fixture for the branch-isolation tests: positive queries, so gate_proj = +6 / -6 on a branch drives its
// sigmoid to 1 / 0 (|logit| >= 6 * D * 0.5 = 48).
struct NsaBranch {
  NsaCfg c;
  Layout l;
  HostTensor q, kc, vc, gate, out, lens;
  NsaBranch(const NsaCfg &cfg, int64_t L, int branch, std::mt19937 &rng) : c(cfg) {
    l = make_layout({L}, c.BS, rng);
    q = HostTensor(MOJO_DT_FP32, {1, c.H, c.D});
    kc = HostTensor(MOJO_DT_FP32, {l.NB, c.H, c.BS, c.D});
    vc = kc;
    gate = HostTensor(MOJO_DT_FP32, {c.H, c.D, 3});
    out = HostTensor(MOJO_DT_FP32, {1, c.H, c.D});
    q.fill_uniform(rng, 0.5f, 1.0f);
    kc.fill_uniform(rng, -1, 1);
    vc.fill_uniform(rng, -1, 1);
    std::vector<float> g;
    for (int64_t i = 0; i < c.H * c.D; ++i)
      for (int k = 0; k < 3; ++k) g.push_back(k == branch ? 6.0f : -6.0f);
    gate.fill_from(g);
    lens = ints({L});
  }
};

TEST_F(OpTest, NsaOneKeyReturnsGateSumTimesValue) {
  NsaCfg c;
  Layout l = make_layout({1}, c.BS, rng);
  HostTensor q(MOJO_DT_FP32, {1, c.H, c.D}), kc(MOJO_DT_FP32, {l.NB, c.H, c.BS, c.D}), vc = kc,
      gate(MOJO_DT_FP32, {c.H, c.D, 3}), out(MOJO_DT_FP32, {1, c.H, c.D});
  q.fill_uniform(rng, -1, 1);
  kc.fill_uniform(rng, -1, 1);
  vc.fill_uniform(rng, -1, 1);
  gate.fill_uniform(rng, -1, 1);
  HostTensor cu = ints({0, 1});
  run("paged_prefill_nsa", nsa_attrs(c), {&q, &kc, &vc, &cu, &l.table, nullptr, &gate}, {&out});
  std::vector<double> want;
  for (int64_t h = 0; h < c.H; ++h) {
    double gsum = 0;
    for (int k = 0; k < 3; ++k) {
      double s = 0;
      for (int64_t d = 0; d < c.D; ++d) s += double(q.get(h * c.D + d)) * gate.get((h * c.D + d) * 3 + k);
      gsum += 1.0 / (1.0 + std::exp(-s));
    }
    for (int64_t d = 0; d < c.D; ++d) want.push_back(gsum * vc.get(cache_index(vc, l.blocks[0][0], h, 0, d)));
  }
  expect_close(out.to_floats(), want, 1e-5, 1e-5, "one key");
}

TEST_F(OpTest, NsaWindowBranchOfOneKeyIsTheLastValue) {
  NsaCfg c;
  c.W = 1;
  NsaBranch t(c, 11, 2, rng);
  run("paged_decode_nsa", nsa_attrs(c), {&t.q, &t.kc, &t.vc, &t.lens, &t.l.table, &t.gate}, {&t.out});
  std::vector<double> want;
  for (int64_t h = 0; h < c.H; ++h)
    for (int64_t d = 0; d < c.D; ++d) want.push_back(t.vc.get(cache_index(t.vc, t.l.blocks[0][10 / c.BS], h, 10 % c.BS, d)));
  expect_close(t.out.to_floats(), want, 1e-5, 1e-5, "window W=1");
}

// AMB-NSA: with L < compress_ratio, decode compresses nothing and attends the raw keys.
TEST_F(OpTest, NsaDecodeCompressionUsesRawKeysBelowCompressRatio) {
  NsaCfg c;
  c.cr = 4;
  c.bsel = 8;
  NsaBranch t(c, 3, 0, rng);
  run("paged_decode_nsa", nsa_attrs(c), {&t.q, &t.kc, &t.vc, &t.lens, &t.l.table, &t.gate}, {&t.out});
  std::vector<double> want;
  for (int64_t h = 0; h < c.H; ++h) {
    Mat K = dense(t.kc, t.l, 0, h, 3), V = dense(t.vc, t.l, 0, h, 3);
    auto o = attend(row_of(t.q, h, c.D), K, V, range(0, 3), 1.0 / std::sqrt(double(c.D)));
    want.insert(want.end(), o.begin(), o.end());
  }
  expect_close(t.out.to_floats(), want, 1e-5, 1e-5, "raw-token compression");
}

TEST_F(OpTest, NsaCompressionBranchAttendsMeanPooledBlocks) {
  NsaCfg c;
  c.cr = 3;
  c.bsel = 6;
  NsaBranch t(c, 11, 0, rng);  // 3 compressed tokens, 2 trailing keys dropped
  run("paged_decode_nsa", nsa_attrs(c), {&t.q, &t.kc, &t.vc, &t.lens, &t.l.table, &t.gate}, {&t.out});
  std::vector<double> want;
  for (int64_t h = 0; h < c.H; ++h) {
    Mat K = dense(t.kc, t.l, 0, h, 11), V = dense(t.vc, t.l, 0, h, 11), Kc(3), Vc(3);
    for (int k = 0; k < 3; ++k)
      for (int64_t d = 0; d < c.D; ++d) {
        Kc[k].push_back((K[3 * k][d] + K[3 * k + 1][d] + K[3 * k + 2][d]) / 3);
        Vc[k].push_back((V[3 * k][d] + V[3 * k + 1][d] + V[3 * k + 2][d]) / 3);
      }
    auto o = attend(row_of(t.q, h, c.D), Kc, Vc, range(0, 3), 1.0 / std::sqrt(double(c.D)));
    want.insert(want.end(), o.begin(), o.end());
  }
  expect_close(t.out.to_floats(), want, 1e-5, 1e-5, "mean-pooled compression");
}

TEST_F(OpTest, NsaSelectionBranchKeepsTheDominantBlock) {
  NsaCfg c;
  c.nsel = 1;
  c.bsel = 4;
  c.cr = 2;
  NsaBranch t(c, 16, 1, rng);
  // Keys of block 2 (tokens 8..11) are 2q (dominant compressed scores); every other key is -q.
  for (int64_t p = 0; p < 16; ++p)
    for (int64_t h = 0; h < c.H; ++h)
      for (int64_t d = 0; d < c.D; ++d)
        t.kc.set(cache_index(t.kc, t.l.blocks[0][size_t(p / c.BS)], h, p % c.BS, d),
                 (p >= 8 && p < 12 ? 2.0f : -1.0f) * t.q.get(h * c.D + d));
  run("paged_decode_nsa", nsa_attrs(c), {&t.q, &t.kc, &t.vc, &t.lens, &t.l.table, &t.gate}, {&t.out});
  std::vector<double> want;
  for (int64_t h = 0; h < c.H; ++h) {
    Mat V = dense(t.vc, t.l, 0, h, 16);
    for (int64_t d = 0; d < c.D; ++d) want.push_back((V[8][d] + V[9][d] + V[10][d] + V[11][d]) / 4);
  }
  expect_close(t.out.to_floats(), want, 1e-5, 1e-5, "selected block 2");
}

TEST_F(OpTest, NsaRejectsBadBlockIdsAndBlockSize) {
  NsaCfg c;
  NsaBranch t(c, 12, 2, rng);
  t.out.fill(3.0f);
  const HostTensor before = t.out;
  HostTensor bad = t.l.table;
  bad.set_int(1, -1);  // L = 12, BS = 8: column 1 is needed
  EXPECT_EQ(code_of("paged_decode_nsa", nsa_attrs(c), {&t.q, &t.kc, &t.vc, &t.lens, &bad, &t.gate}, {&t.out}),
            MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_TRUE(t.out.same_bytes(before));
  HostTensor cu = ints({0, 1}), total = ints({0, 12});
  EXPECT_EQ(code_of("paged_prefill_nsa", nsa_attrs(c), {&t.q, &t.kc, &t.vc, &cu, &bad, &total, &t.gate}, {&t.out}),
            MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_TRUE(t.out.same_bytes(before));
  NsaCfg odd = c;
  odd.bsel = 5;  // not a multiple of compress_ratio = 2
  EXPECT_EQ(code_of("paged_decode_nsa", nsa_attrs(odd), {&t.q, &t.kc, &t.vc, &t.lens, &t.l.table, &t.gate}, {&t.out}),
            MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_TRUE(t.out.same_bytes(before));
}

}  // namespace
}  // namespace mojo::tools
