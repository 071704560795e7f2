// Sampling ops (spec/sampling.md, extra.md §G) against hand-built distributions, double-precision closed forms
// and the published Philox4x32-10 known-answer vectors.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

#include "mojo_common/philox.h"
#include "mojo_common/sampling_math.h"
#include "op_test_support.h"

namespace mojo::tools {
namespace {

constexpr float kAlmostOne = 1.0f - 1.0f / 16777216.0f;  // the largest uniform the Philox stream can produce

// Random123 kat_vectors, philox4x32 R=10.
TEST(Philox, KnownAnswerVectors) {
  struct Kat {
    uint32_t ctr[4], key[2], out[4];
  } kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat &k : kats) {
    common::Philox4x32 c{{k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3]}};
    common::Philox4x32 r = common::philox4x32_10(c, k.key[0], k.key[1]);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r.v[i], k.out[i]) << "word " << i;
  }
}

// The (seed, offset, n) -> (key, counter) layout of spec/sampling.md §0.2, pinned with the same vectors.
// The integer softmax weight follows exp(l - m) * 2^40 to the documented 3e-7, with the exact edge values.
TEST(SamplingMath, WeightsFollowExp) {
  EXPECT_EQ(common::softmax_weight(2.5f, 2.5f), uint64_t(1) << 40);
  EXPECT_EQ(common::softmax_weight(INFINITY, INFINITY), uint64_t(1) << 40);
  EXPECT_EQ(common::softmax_weight(-INFINITY, 1.0f), 0u);
  EXPECT_EQ(common::softmax_weight(-30.0f, 0.0f), 0u);
  for (int i = 1; i < 200000; ++i) {
    const float l = -27.9f * float(i) / 200000.0f, m = 0.0f;
    const double want = std::exp(double(l)) * 1099511627776.0;
    const double got = double(common::softmax_weight(l, m));
    EXPECT_LE(std::fabs(got - want), 3e-7 * want + 1.0) << "l " << l;
  }
}

// floor(t * z) against 128-bit integer arithmetic on the float's exact mantissa.
TEST(SamplingMath, ScaleFloorIsExact) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 100000; ++i) {
    const float t = i == 0 ? 1.0f : i == 1 ? 0.0f : float(rng() >> 40) / 16777216.0f;
    const uint64_t z = rng() >> (rng() % 40);
    const uint32_t bits = common::float_bits(t);
    const uint32_t biased = bits >> 23;
    const unsigned __int128 mant = biased ? (bits & 0x7fffffu) | 0x800000u : (bits & 0x7fffffu);
    const int shift = biased ? 150 - int(biased) : 149;
    const uint64_t want = t == 0.0f ? 0 : uint64_t((mant * z) >> shift);
    EXPECT_EQ(common::scale_floor(t, z), want) << "t " << t << " z " << z;
  }
}

TEST(Philox, UniformStreamLayout) {
  EXPECT_EQ(common::philox_uniform(0, 0, 0), float(0x6627e8d5u >> 8) / 16777216.0f);
  EXPECT_EQ(common::philox_uniform(~0ull, ~0ull, ~0ull), float(0x408f276du >> 8) / 16777216.0f);
  EXPECT_EQ(common::philox_uniform(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull),
            float(0xd16cfe09u >> 8) / 16777216.0f);
  for (uint64_t n = 0; n < 1000; ++n) {
    const float u = common::philox_uniform(42, 7, n);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
  }
}

class SamplingTest : public OpTest {
 protected:
  // [rows, V] logits with log(p) of the given distribution in every row, ids permuted by `perm`.
  static HostTensor log_prob_logits(int dtype, int64_t rows, const std::vector<double> &p) {
    HostTensor t(dtype, {rows, int64_t(p.size())});
    for (int64_t r = 0; r < rows; ++r)
      for (size_t i = 0; i < p.size(); ++i) t.set(r * int64_t(p.size()) + int64_t(i), float(std::log(p[i])));
    return t;
  }
  static HostTensor seed_offset(uint64_t seed, uint64_t offset) {
    HostTensor t(MOJO_DT_INT64, {2});
    t.set_int(0, int64_t(seed));
    t.set_int(1, int64_t(offset));
    return t;
  }
  static HostTensor uniforms(const std::vector<float> &u) {
    HostTensor t(MOJO_DT_FP32, {int64_t(u.size())});
    t.fill_from(u);
    return t;
  }
};

// Pearson statistic of observed counts against expected probabilities.
double chi_square(const std::vector<int64_t> &counts, const std::vector<double> &p, int64_t draws) {
  double x2 = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double e = p[i] * double(draws);
    if (e == 0.0) {
      EXPECT_EQ(counts[i], 0) << "outcome " << i << " has probability 0";
      continue;
    }
    x2 += (double(counts[i]) - e) * (double(counts[i]) - e) / e;
  }
  return x2;
}

// p = {0.1, 0.4, 0.05, 0.3, 0.15}: candidate order is ids 1, 3, 4, 0, 2.
const std::vector<double> kP = {0.1, 0.4, 0.05, 0.3, 0.15};

TEST_F(SamplingTest, TopKHandBuiltDraws) {
  for (int dt : kFloatDtypes) {
    // 4 rows, top_k = 4: candidates 1, 3, 4, 0 with renormalised p = {.4, .3, .15, .1} / .95.
    HostTensor logits = log_prob_logits(dt, 4, kP);
    HostTensor u = uniforms({0.0f, 0.5f, 0.8f, kAlmostOne});
    HostTensor probs(MOJO_DT_FP32, {4, 1}), tokens(MOJO_DT_INT64, {4, 1});
    run("top_k_sampling", Attrs().i("top_k", 4), {&logits, &u, nullptr}, {&probs, &tokens});
    // Cumulative .421, .737, .895, 1: u = 0 -> first, .5 -> second, .8 -> third, ~1 -> last of the set.
    const int64_t want[4] = {1, 3, 4, 0};
    const double z = 0.95;
    for (int r = 0; r < 4; ++r) {
      EXPECT_EQ(tokens.get_int(r), want[r]) << "dtype " << dt << " row " << r;
      // bf16/fp16 logits of log(p) are themselves rounded: compare with the tolerance of that rounding.
      EXPECT_NEAR(probs.get(r), kP[size_t(want[r])] / z, dt == MOJO_DT_FP32 ? 1e-6 : 2e-2) << "row " << r;
    }
  }
}

TEST_F(SamplingTest, TopKOneIsArgmaxAndZeroUniformPicksTheTopToken) {
  HostTensor logits(MOJO_DT_FP32, {16, 300});
  logits.fill_normal(rng, 3.0f);
  std::vector<float> x = logits.to_floats();
  HostTensor u(MOJO_DT_FP32, {16});
  u.fill_uniform(rng, 0.0f, 1.0f);
  HostTensor zeros(MOJO_DT_FP32, {16});
  zeros.fill(0.0f);
  HostTensor probs(MOJO_DT_FP32, {16, 1}), tokens(MOJO_DT_INT32, {16, 1});
  for (int64_t top_k : {1, 20}) {
    HostTensor *uniform = top_k == 1 ? &u : &zeros;
    run("top_k_sampling", Attrs().i("top_k", top_k).dtype("index_dtype", "int32"), {&logits, uniform, nullptr},
        {&probs, &tokens});
    for (int r = 0; r < 16; ++r) {
      const int64_t argmax = std::max_element(x.begin() + r * 300, x.begin() + (r + 1) * 300) - (x.begin() + r * 300);
      EXPECT_EQ(tokens.get_int(r), argmax) << "top_k " << top_k << " row " << r;
      if (top_k == 1) {
        EXPECT_EQ(probs.get(r), 1.0f);
      }
    }
  }
}

TEST_F(SamplingTest, TiesGoToTheLowerIndexAndMinTokensWidensTheSet) {
  HostTensor logits(MOJO_DT_FP32, {1, 6});
  logits.fill(0.5f);
  HostTensor probs(MOJO_DT_FP32, {1, 1}), tokens(MOJO_DT_INT64, {1, 1});
  // Six equal logits, top_k = 2: candidates are ids 0 and 1, each 1/2.
  for (auto [u, want] : {std::pair<float, int64_t>{0.0f, 0}, {0.49f, 0}, {0.51f, 1}, {kAlmostOne, 1}}) {
    HostTensor uniform = uniforms({u});
    run("top_k_sampling", Attrs().i("top_k", 2), {&logits, &uniform, nullptr}, {&probs, &tokens});
    EXPECT_EQ(tokens.get_int(0), want) << "u " << u;
    EXPECT_FLOAT_EQ(probs.get(0), 0.5f);
  }
  // min_tokens_to_keep = 3 overrides top_k = 2: the last candidate is id 2, p = 1/3.
  HostTensor uniform = uniforms({kAlmostOne});
  run("top_k_sampling", Attrs().i("top_k", 2).i("min_tokens_to_keep", 3), {&logits, &uniform, nullptr},
      {&probs, &tokens});
  EXPECT_EQ(tokens.get_int(0), 2);
  EXPECT_NEAR(probs.get(0), 1.0 / 3.0, 1e-7);
}

TEST_F(SamplingTest, OneDimensionalLogitsTakeARankZeroUniform) {
  HostTensor logits = log_prob_logits(MOJO_DT_FP32, 1, kP);
  HostTensor flat(MOJO_DT_FP32, {int64_t(kP.size())});
  flat.fill_from(logits.to_floats());
  HostTensor u(MOJO_DT_FP32, {});
  u.fill(0.5f);
  HostTensor probs(MOJO_DT_FP32, {1}), tokens(MOJO_DT_INT64, {1});
  // Full support: cumulative .4, .7 -> u = .5 picks the second candidate, id 3.
  run("top_p_sampling", Attrs().f("top_p", 1.0), {&flat, nullptr, &u, nullptr}, {&probs, &tokens});
  EXPECT_EQ(tokens.get_int(0), 3);
  EXPECT_NEAR(probs.get(0), 0.3, 1e-6);
}

TEST_F(SamplingTest, TopPKeepsTheCrossingTokenAndNoMore) {
  for (int dt : kFloatDtypes) {
    HostTensor logits = log_prob_logits(dt, 2, kP);
    HostTensor probs(MOJO_DT_FP32, {2, 1}), tokens(MOJO_DT_INT64, {2, 1});
    // top_p = .75: exclusive masses 0, .4, .7, .85 -> nucleus {1, 3, 4} (mass .85); u ~ 1 picks id 4.
    HostTensor u = uniforms({0.0f, kAlmostOne});
    run("top_p_sampling", Attrs().f("top_p", 0.75), {&logits, nullptr, &u, nullptr}, {&probs, &tokens});
    const double tol = dt == MOJO_DT_FP32 ? 1e-6 : 2e-2;
    EXPECT_EQ(tokens.get_int(0), 1);
    EXPECT_NEAR(probs.get(0), 0.4 / 0.85, tol);
    EXPECT_EQ(tokens.get_int(1), 4);
    EXPECT_NEAR(probs.get(1), 0.15 / 0.85, tol);
    // min_tokens_to_keep = 4 keeps id 0 as well.
    run("top_p_sampling", Attrs().f("top_p", 0.75).i("min_tokens_to_keep", 4), {&logits, nullptr, &u, nullptr},
        {&probs, &tokens});
    EXPECT_EQ(tokens.get_int(1), 0);
    EXPECT_NEAR(probs.get(1), 0.1 / 0.95, tol);
    // rand_top_k = 2 measures mass within {1, 3} only: pi = {4/7, 3/7}; top_p = .5 keeps id 1 alone.
    run("top_p_sampling", Attrs().f("top_p", 0.5).i("rand_top_k", 2), {&logits, nullptr, &u, nullptr},
        {&probs, &tokens});
    EXPECT_EQ(tokens.get_int(1), 1);
    EXPECT_EQ(probs.get(1), 1.0f);
  }
}

TEST_F(SamplingTest, TopPPerRowValuesAndTopPOfOneKeepsEverything) {
  HostTensor logits = log_prob_logits(MOJO_DT_FP32, 4, kP);
  HostTensor top_p(MOJO_DT_FP32, {4});
  // Nucleus sizes: .3 -> {1}, .5 -> {1, 3}, .75 -> {1, 3, 4}, 1 -> all five.
  top_p.fill_from({0.3f, 0.5f, 0.75f, 1.0f});
  HostTensor u = uniforms({kAlmostOne, kAlmostOne, kAlmostOne, kAlmostOne});
  HostTensor probs(MOJO_DT_FP32, {4, 1}), tokens(MOJO_DT_INT64, {4, 1});
  run("top_p_sampling", Attrs().f("top_p", 0.01), {&logits, &top_p, &u, nullptr}, {&probs, &tokens});
  const int64_t want[4] = {1, 3, 4, 2};
  const double mass[4] = {0.4, 0.7, 0.85, 1.0};
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(tokens.get_int(r), want[r]) << "row " << r;
    EXPECT_NEAR(probs.get(r), kP[size_t(want[r])] / mass[r], 1e-6) << "row " << r;
  }
}

TEST_F(SamplingTest, TopPFilterMatchesClosedForm) {
  for (int dt : kFloatDtypes) {
    const int64_t rows = 3, v = 50, kc = 20;
    HostTensor logits(dt, {rows, v});
    logits.fill_normal(rng, 2.0f);
    const std::vector<float> x = logits.to_floats();
    for (double filter : {double(-INFINITY), -3.0}) {
      HostTensor probs(dt, {rows, kc}), ids(MOJO_DT_INT64, {rows, kc});
      Attrs attrs = Attrs().f("top_p", 0.6).i("rand_top_k", kc).i("min_tokens_to_keep", 2);
      if (std::isfinite(filter)) attrs.f("filter_value", filter);
      run("top_p_filter", attrs, {&logits, nullptr}, {&probs, &ids});
      for (int64_t r = 0; r < rows; ++r) {
        std::vector<int64_t> order(static_cast<size_t>(v));
        std::iota(order.begin(), order.end(), 0);
        const float *row = x.data() + r * v;
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return row[a] > row[b]; });
        double z = 0;
        for (int64_t j = 0; j < kc; ++j) z += std::exp(double(row[order[size_t(j)]]));
        std::vector<double> l(static_cast<size_t>(kc));
        double excl = 0;
        for (int64_t j = 0; j < kc; ++j) {
          const double lj = row[order[size_t(j)]];
          l[size_t(j)] = excl > 0.6 && j >= 2 ? filter : lj;
          excl += std::exp(lj) / z;
        }
        double z2 = 0;
        for (double lj : l) z2 += std::exp(lj);
        for (int64_t j = 0; j < kc; ++j) {
          EXPECT_EQ(ids.get_int(r * kc + j), order[size_t(j)]) << "dtype " << dt << " row " << r << " j " << j;
          EXPECT_NEAR(probs.get(r * kc + j), std::exp(l[size_t(j)]) / z2,
                      1e-6 + dtype_rtol(dt) * std::exp(l[size_t(j)]) / z2)
              << "dtype " << dt << " row " << r << " j " << j << " filter " << filter;
        }
      }
    }
  }
}

// Draws over many Philox offsets follow the renormalised distribution (deterministic seed, loose bound).
TEST_F(SamplingTest, PhiloxDrawsFollowTheRenormalisedDistribution) {
  const int64_t rows = 500, offsets = 20, draws = rows * offsets;
  HostTensor logits = log_prob_logits(MOJO_DT_FP32, rows, kP);
  HostTensor probs(MOJO_DT_FP32, {rows, 1}), tokens(MOJO_DT_INT64, {rows, 1});
  struct Setting {
    const char *op;
    Attrs attrs;
    std::vector<double> want;
  } settings[] = {
      {"top_k_sampling", Attrs().i("top_k", 3), {0, 0.4 / 0.85, 0, 0.3 / 0.85, 0.15 / 0.85}},
      {"top_p_sampling", Attrs().f("top_p", 0.45), {0, 0.4 / 0.7, 0, 0.3 / 0.7, 0}},
      {"top_p_sampling", Attrs().f("top_p", 1.0), kP},
  };
  for (const Setting &s : settings) {
    std::vector<int64_t> counts(kP.size(), 0);
    for (int64_t off = 0; off < offsets; ++off) {
      HostTensor so = seed_offset(0x5eed, uint64_t(off));
      if (std::string(s.op) == "top_k_sampling")
        run(s.op, s.attrs, {&logits, nullptr, &so}, {&probs, &tokens});
      else
        run(s.op, s.attrs, {&logits, nullptr, nullptr, &so}, {&probs, &tokens});
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t t = tokens.get_int(r);
        ASSERT_GE(t, 0);
        ASSERT_LT(t, int64_t(kP.size()));
        ++counts[size_t(t)];
        ASSERT_NEAR(probs.get(r), s.want[size_t(t)], 1e-6);
      }
    }
    // Chi-square with at most 4 degrees of freedom: 40 is far beyond the 1e-6 quantile (~33).
    EXPECT_LT(chi_square(counts, s.want, draws), 40.0) << s.op << " " << s.attrs.describe();
  }
}

TEST_F(SamplingTest, SeededDrawsAreReproducibleAndMatchTheExplicitStream) {
  const int64_t rows = 64, v = 1000;
  HostTensor logits(MOJO_DT_BF16, {rows, v});
  logits.fill_normal(rng, 1.0f);
  HostTensor probs(MOJO_DT_FP32, {rows, 1}), tokens(MOJO_DT_INT64, {rows, 1});
  HostTensor probs2 = probs, tokens2 = tokens;
  for (const char *op : {"top_k_sampling", "top_p_sampling"}) {
    auto inputs = [&](HostTensor *u, HostTensor *so) {
      return std::string(op) == "top_k_sampling" ? std::vector<HostTensor *>{&logits, u, so}
                                                 : std::vector<HostTensor *>{&logits, nullptr, u, so};
    };
    Attrs attrs = std::string(op) == "top_k_sampling" ? Attrs().i("top_k", 200) : Attrs().f("top_p", 0.9);
    HostTensor so = seed_offset(0xfeedbeefcafe1234ull, 99);
    run(op, attrs, inputs(nullptr, &so), {&probs, &tokens});
    run(op, attrs, inputs(nullptr, &so), {&probs2, &tokens2});
    EXPECT_TRUE(tokens.same_bytes(tokens2)) << op;
    EXPECT_TRUE(probs.same_bytes(probs2)) << op;
    // The seeded stream is uniform n = row of Philox(seed, offset): the same draws as explicit uniforms.
    std::vector<float> u(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) u[size_t(r)] = common::philox_uniform(0xfeedbeefcafe1234ull, 99, uint64_t(r));
    HostTensor ut = uniforms(u);
    run(op, attrs, inputs(&ut, nullptr), {&probs2, &tokens2});
    EXPECT_TRUE(tokens.same_bytes(tokens2)) << op;
    // Another offset is another stream.
    HostTensor so2 = seed_offset(0xfeedbeefcafe1234ull, 100);
    run(op, attrs, inputs(nullptr, &so2), {&probs2, &tokens2});
    EXPECT_FALSE(tokens.same_bytes(tokens2)) << op;
  }
}

TEST_F(SamplingTest, BadArgumentsAreRejectedBeforeAnythingIsWritten) {
  HostTensor logits = log_prob_logits(MOJO_DT_FP32, 2, kP);
  HostTensor probs(MOJO_DT_FP32, {2, 1}), tokens(MOJO_DT_INT64, {2, 1});
  probs.fill(-7.0f);
  tokens.fill(-7.0f);
  HostTensor good_u = uniforms({0.1f, 0.2f});
  HostTensor so = seed_offset(1, 2);
  auto untouched = [&] {
    for (int r = 0; r < 2; ++r) {
      EXPECT_EQ(probs.get(r), -7.0f);
      EXPECT_EQ(tokens.get_int(r), -7);
    }
  };
  const Attrs top_p = Attrs().f("top_p", 0.75);
  EXPECT_EQ(code_of("top_p_sampling", top_p, {&logits, nullptr, &good_u, &so}, {&probs, &tokens}),
            MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(code_of("top_p_sampling", top_p, {&logits, nullptr, nullptr, nullptr}, {&probs, &tokens}),
            MOJO_STATUS_INVALID_ARGUMENT);
  for (double p : {0.0, 1.5, -0.2})
    EXPECT_EQ(code_of("top_p_sampling", Attrs().f("top_p", p), {&logits, nullptr, &good_u, nullptr}, {&probs, &tokens}),
              MOJO_STATUS_INVALID_ARGUMENT)
        << p;
  for (float p : {0.0f, 1.0001f, NAN, -1.0f}) {
    HostTensor row_p(MOJO_DT_FP32, {2});
    row_p.fill_from({0.5f, p});
    std::string msg;
    EXPECT_EQ(code_of("top_p_sampling", top_p, {&logits, &row_p, &good_u, nullptr}, {&probs, &tokens}, &msg),
              MOJO_STATUS_INVALID_ARGUMENT)
        << p;
    EXPECT_NE(msg.find("row_top_p"), std::string::npos) << msg;
    HostTensor fp(MOJO_DT_FP32, {2, 5}), fi(MOJO_DT_INT64, {2, 5});
    fp.fill(-7.0f);
    EXPECT_EQ(code_of("top_p_filter", top_p, {&logits, &row_p}, {&fp, &fi}), MOJO_STATUS_INVALID_ARGUMENT);
    for (float f : fp.to_floats()) EXPECT_EQ(f, -7.0f);
  }
  for (float bad : {1.0f, -0.25f, NAN}) {
    HostTensor u = uniforms({0.5f, bad});
    EXPECT_EQ(code_of("top_k_sampling", Attrs(), {&logits, &u, nullptr}, {&probs, &tokens}),
              MOJO_STATUS_INVALID_ARGUMENT)
        << bad;
  }
  HostTensor nan_logits = logits;
  nan_logits.set(7, NAN);
  EXPECT_EQ(code_of("top_k_sampling", Attrs(), {&nan_logits, &good_u, nullptr}, {&probs, &tokens}),
            MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(code_of("top_k_sampling", Attrs().i("top_k", 0), {&logits, &good_u, nullptr}, {&probs, &tokens}),
            MOJO_STATUS_INVALID_ARGUMENT);
  untouched();
}

// Speculative acceptance on hand-built cases (AMB-REJ).
TEST_F(SamplingTest, RejectSamplingAcceptsTheRightPrefix) {
  for (int idt : {MOJO_DT_INT64, MOJO_DT_INT32}) {
    const int64_t b = 4, s = 3, v = 5;
    HostTensor target(MOJO_DT_FP32, {b, s + 1, v}), drafts(idt, {b, s}), dprobs(MOJO_DT_FP32, {b, s});
    target.fill(0.1f);
    drafts.fill_ints({1, 2, 3, /**/ 4, 0, 1, /**/ 2, 2, 2, /**/ 0, 1, 2});
    dprobs.fill(0.5f);
    // Row 0: ratios .8, .6, 1.0 vs u .7, .6 (equal: accepted), .9 -> all accepted.
    target.set((0 * 4 + 0) * v + 1, 0.4f);
    target.set((0 * 4 + 1) * v + 2, 0.3f);
    target.set((0 * 4 + 2) * v + 3, 0.5f);
    // Row 1: step 0 ratio 1.6 accepted; step 1 ratio .2 < u .5 rejected -> length 1.
    target.set((1 * 4 + 0) * v + 4, 0.8f);
    // Row 2: draft prob 0 at step 0 -> rejected at once even though u = 0.
    dprobs.set(2 * s + 0, 0.0f);
    target.set((2 * 4 + 0) * v + 2, 0.9f);
    // Row 3: ratios .2 everywhere, u .1, .1, .3 -> length 2.
    HostTensor u(MOJO_DT_FP32, {b, s});
    u.fill_from({0.7f, 0.6f, 0.9f, 0.5f, 0.5f, 0.5f, 0.0f, 0.0f, 0.0f, 0.1f, 0.1f, 0.3f});
    HostTensor next(idt, {b, s + 1}), len(MOJO_DT_INT32, {b});
    next.fill(-1.0f);
    run("reject_sampling", Attrs(), {&target, &drafts, &dprobs, &u, nullptr}, {&next, &len});
    const int64_t want_len[4] = {3, 1, 0, 2};
    const std::vector<int64_t> want_next = {1, 2, 3, 0, /**/ 4, 0, 0, 0, /**/ 0, 0, 0, 0, /**/ 0, 1, 0, 0};
    for (int64_t r = 0; r < b; ++r) EXPECT_EQ(len.get_int(r), want_len[r]) << "row " << r;
    for (int64_t i = 0; i < b * (s + 1); ++i) EXPECT_EQ(next.get_int(i), want_next[size_t(i)]) << "slot " << i;
    // One uniform per request ([B, 1]) is reused by every step: u = .55 rejects row 1 at step 1 and row 3 at 0.
    HostTensor u1(MOJO_DT_FP32, {b, 1});
    u1.fill_from({0.55f, 0.55f, 0.55f, 0.55f});
    run("reject_sampling", Attrs(), {&target, &drafts, &dprobs, &u1, nullptr}, {&next, &len});
    const int64_t want_len1[4] = {3, 1, 0, 0};
    for (int64_t r = 0; r < b; ++r) EXPECT_EQ(len.get_int(r), want_len1[r]) << "row " << r;
  }
}

TEST_F(SamplingTest, RejectSamplingSeededStreamAndBadDraftIds) {
  const int64_t b = 8, s = 4, v = 16;
  HostTensor target(MOJO_DT_FP32, {b, s + 1, v}), drafts(MOJO_DT_INT64, {b, s}), dprobs(MOJO_DT_FP32, {b, s});
  target.fill_uniform(rng, 0.0f, 0.2f);
  dprobs.fill_uniform(rng, 0.05f, 0.3f);
  for (int64_t i = 0; i < b * s; ++i) drafts.set_int(i, (i * 7) % v);
  HostTensor next(MOJO_DT_INT64, {b, s + 1}), len(MOJO_DT_INT32, {b}), next2 = next, len2 = len;
  HostTensor so = seed_offset(7, 3);
  run("reject_sampling", Attrs(), {&target, &drafts, &dprobs, nullptr, &so}, {&next, &len});
  // The stream has the [B, S] shape of the uniform tensor: n = b * S + i.
  HostTensor u(MOJO_DT_FP32, {b, s});
  for (int64_t n = 0; n < b * s; ++n) u.set(n, common::philox_uniform(7, 3, uint64_t(n)));
  run("reject_sampling", Attrs(), {&target, &drafts, &dprobs, &u, nullptr}, {&next2, &len2});
  EXPECT_TRUE(next.same_bytes(next2));
  EXPECT_TRUE(len.same_bytes(len2));
  // Independent acceptance rule on the same uniforms.
  std::vector<float> t = target.to_floats(), d = dprobs.to_floats(), uf = u.to_floats();
  for (int64_t r = 0; r < b; ++r) {
    int64_t want = s;
    for (int64_t i = 0; i < s; ++i) {
      const int64_t tok = drafts.get_int(r * s + i);
      if (!(t[size_t((r * (s + 1) + i) * v + tok)] / d[size_t(r * s + i)] >= uf[size_t(r * s + i)])) {
        want = i;
        break;
      }
    }
    EXPECT_EQ(len.get_int(r), want) << "row " << r;
  }
  drafts.set_int(5, v);
  len.fill(-3.0f);
  EXPECT_EQ(code_of("reject_sampling", Attrs(), {&target, &drafts, &dprobs, nullptr, &so}, {&next, &len}),
            MOJO_STATUS_INVALID_ARGUMENT);
  for (int64_t r = 0; r < b; ++r) EXPECT_EQ(len.get_int(r), -3);
}

TEST_F(SamplingTest, PenaltiesAndTemperatureMatchClosedForm) {
  for (int dt : kFloatDtypes) {
    const int64_t b = 4, v = 64;
    HostTensor logits(dt, {b, v}), freqs(MOJO_DT_INT32, {b, v}), present(MOJO_DT_BOOL, {b});
    HostTensor pres(MOJO_DT_FP32, {b}), freq(MOJO_DT_FP32, {b}), rep(MOJO_DT_FP32, {b}), temp(MOJO_DT_FP32, {b});
    logits.fill_normal(rng, 2.0f);
    for (int64_t i = 0; i < b * v; ++i) freqs.set_int(i, i % 5 == 0 ? int64_t((i / 5) % 4) : 0);
    present.fill_ints({1, 1, 0, 1});
    pres.fill_from({0.3f, 0.0f, 0.5f, -0.2f});
    freq.fill_from({0.1f, 0.25f, 0.5f, 0.0f});
    rep.fill_from({1.5f, 1.0f, 2.0f, 0.7f});
    temp.fill_from({0.7f, 1.0f, 2.0f, 1.3f});
    HostTensor out(dt, {b, v});
    run("apply_penalties_temperature", Attrs(), {&logits, &freqs, &present, &pres, &freq, &rep, &temp}, {&out});
    const std::vector<float> x = logits.to_floats(), pv = pres.to_floats(), fv = freq.to_floats(), rv = rep.to_floats(),
                             tv = temp.to_floats();
    std::vector<double> want(x.size());
    for (int64_t r = 0; r < b; ++r)
      for (int64_t i = 0; i < v; ++i) {
        double l = x[size_t(r * v + i)];
        const double f = double(freqs.get_int(r * v + i));
        if (present.get_int(r)) {
          l -= fv[size_t(r)] * f;
          l -= pv[size_t(r)] * (f > 0 ? 1.0 : 0.0);
          if (l * f < 0)
            l *= rv[size_t(r)];
          else if (l * f > 0)
            l /= rv[size_t(r)];
        }
        want[size_t(r * v + i)] = l / tv[size_t(r)];
      }
    expect_close(out.to_floats(), want, 1e-5, 2 * dtype_rtol(dt), "penalties dtype " + std::to_string(dt));
    // Without frequencies only the temperature applies; without anything the logits pass through.
    run("apply_penalties_temperature", Attrs(), {&logits, nullptr, nullptr, &pres, &freq, &rep, &temp}, {&out});
    for (int64_t i = 0; i < b * v; ++i) want[size_t(i)] = double(x[size_t(i)]) / tv[size_t(i / v)];
    expect_close(out.to_floats(), want, 1e-5, 2 * dtype_rtol(dt));
    run("apply_penalties_temperature", Attrs(), {&logits, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr},
        {&out});
    EXPECT_TRUE(out.same_bytes(logits));
    // A zero temperature is rejected before anything is written.
    temp.set(2, 0.0f);
    out.fill(9.0f);
    EXPECT_EQ(
        code_of("apply_penalties_temperature", Attrs(), {&logits, &freqs, &present, &pres, &freq, &rep, &temp}, {&out}),
        MOJO_STATUS_INVALID_ARGUMENT);
    for (float f : out.to_floats()) ASSERT_EQ(f, 9.0f);
  }
}

// A full-vocabulary batch (Qwen2 vocab 152064, batch 64) samples correctly and quickly.
TEST_F(SamplingTest, LargeVocabularyBatch) {
  const int64_t rows = 64, v = 152064;
  HostTensor logits(MOJO_DT_BF16, {rows, v});
  logits.fill_normal(rng, 2.0f);
  const std::vector<float> x = logits.to_floats();
  HostTensor zeros(MOJO_DT_FP32, {rows});
  zeros.fill(0.0f);
  HostTensor so = seed_offset(123, 0);
  HostTensor probs(MOJO_DT_FP32, {rows, 1}), tokens(MOJO_DT_INT64, {rows, 1});
  auto timed = [&](auto fn) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  double t_k = timed([&] {
    run("top_k_sampling", Attrs().i("top_k", 50), {&logits, &zeros, nullptr}, {&probs, &tokens});
  });
  for (int64_t r = 0; r < rows; ++r) {
    const auto first = x.begin() + r * v;
    ASSERT_EQ(tokens.get_int(r), std::max_element(first, first + v) - first) << "row " << r;
  }
  double t_p = timed([&] {
    run("top_p_sampling", Attrs().f("top_p", 0.9), {&logits, nullptr, nullptr, &so}, {&probs, &tokens});
  });
  double t_full = timed([&] {
    run("top_p_sampling", Attrs().f("top_p", 0.9).i("rand_top_k", v), {&logits, nullptr, nullptr, &so},
        {&probs, &tokens});
  });
  // The bound only catches pathological slowdowns on a loaded machine; typical times are printed.
  std::printf("[ timing ] B=64 V=152064: top_k %.3fs, top_p %.3fs, exact nucleus %.3fs\n", t_k, t_p, t_full);
  EXPECT_LT(t_k + t_p + t_full, 10.0);
}

}  // namespace
}  // namespace mojo::tools
