// rotary_embedding against fp64 cos/sin; norm_rope and norm_rope_store_kv against the unfused sequence
// rms_norm -> apply_rope -> store_paged_kv_cache (spec/position.md §1, §3, §4).
#include "op_test_support.h"

namespace mojo::tools {
namespace {

// fp64 cos/sin row of position p (full-width: each half repeated), times scaling.
void rope_row(double p, int64_t dr, double theta, double scaling, std::vector<double> &c, std::vector<double> &s) {
  for (int64_t k = 0; k < dr; ++k) {
    const double ang = p * std::pow(theta, -2.0 * double(k % (dr / 2)) / double(dr));
    c.push_back(std::cos(ang) * scaling);
    s.push_back(std::sin(ang) * scaling);
  }
}

TEST_F(OpTest, RotaryEmbeddingModesMatchClosedForm) {
  const int64_t dr = 48;
  const double theta = 10000.0;
  // Padded mode: x [B, S, *] -> [S, Dr], p = s.
  {
    HostTensor x(MOJO_DT_BF16, {2, 7, 64}), cos(MOJO_DT_FP32, {7, dr}), sin(MOJO_DT_FP32, {7, dr});
    run("rotary_embedding", Attrs().f("rope_theta", theta).i("rope_dim", dr).f("attention_scaling", 0.5), {&x, nullptr, nullptr, nullptr},
        {&cos, &sin});
    std::vector<double> wc, ws;
    for (int64_t p = 0; p < 7; ++p) rope_row(double(p), dr, theta, 0.5, wc, ws);
    expect_close(cos.to_floats(), wc, 2e-6, 0, "padded cos");
    expect_close(sin.to_floats(), ws, 2e-6, 0, "padded sin");
  }
  // Varlen with total lengths: p = total - q_len + i; rows past cu[B] untouched.
  {
    HostTensor x(MOJO_DT_FP16, {8, 32}), cu(MOJO_DT_INT32, {4}), tot(MOJO_DT_INT32, {3});
    HostTensor cos(MOJO_DT_FP32, {8, dr}), sin(MOJO_DT_FP32, {8, dr});
    cu.fill_ints({0, 3, 3, 6});
    tot.fill_ints({10, 4, 3});
    cos.fill(9);
    sin.fill(9);
    run("rotary_embedding", Attrs().f("rope_theta", theta).i("rope_dim", dr).i("init_max_length", 64),
        {&x, &cu, &tot, nullptr}, {&cos, &sin});
    std::vector<double> wc, ws;
    for (double p : {7, 8, 9, 0, 1, 2}) rope_row(p, dr, theta, 1.0, wc, ws);
    for (int64_t i = 0; i < 2 * dr; ++i) {
      wc.push_back(9);
      ws.push_back(9);
    }
    expect_close(cos.to_floats(), wc, 1e-5, 0, "varlen cos");
    expect_close(sin.to_floats(), ws, 1e-5, 0, "varlen sin");
    tot.fill_ints({2, 4, 3});  // fewer total tokens than new tokens
    EXPECT_EQ(code_of("rotary_embedding", Attrs().f("rope_theta", theta).i("rope_dim", dr), {&x, &cu, &tot, nullptr},
                      {&cos, &sin}),
              MOJO_STATUS_INVALID_ARGUMENT);
  }
  // Explicit positions [B, S].
  {
    HostTensor x(MOJO_DT_FP32, {2, 2, 16}), pos(MOJO_DT_INT32, {2, 2}), cos(MOJO_DT_FP32, {2, 2, dr}),
        sin(MOJO_DT_FP32, {2, 2, dr});
    pos.fill_ints({5, 0, 33, 100});
    const Attrs a = Attrs().f("rope_theta", theta).i("rope_dim", dr);
    run("rotary_embedding", a, {&x, nullptr, nullptr, &pos}, {&cos, &sin});
    std::vector<double> wc, ws;
    for (double p : {5, 0, 33, 100}) rope_row(p, dr, theta, 1.0, wc, ws);
    expect_close(cos.to_floats(), wc, 2e-5, 0, "positions cos");
    expect_close(sin.to_floats(), ws, 2e-5, 0, "positions sin");
    EXPECT_EQ(code_of("rotary_embedding", Attrs(a).i("init_max_length", 100), {&x, nullptr, nullptr, &pos}, {&cos, &sin}),
              MOJO_STATUS_INVALID_ARGUMENT);
    HostTensor cu(MOJO_DT_INT32, {2});
    cu.fill_ints({0, 2});
    EXPECT_EQ(code_of("rotary_embedding", a, {&x, &cu, nullptr, &pos}, {&cos, &sin}), MOJO_STATUS_INVALID_ARGUMENT);
  }
}

class NormRopeTest : public OpTest, public ::testing::WithParamInterface<int> {};

// QK-norm rounded to the dtype, then apply_rope: exactly the unfused ops.
TEST_P(NormRopeTest, EqualsRmsNormThenApplyRope) {
  const int dt = GetParam();
  const int64_t T = 5, Nq = 4, Nk = 2, Dh = 64, Dr = 32;
  HostTensor q(dt, {T, Nq, Dh}), k(dt, {T, Nk, Dh}), qw(MOJO_DT_FP32, {Dh}), kw(MOJO_DT_FP32, {Dh});
  HostTensor cos(MOJO_DT_FP32, {T, Dr}), sin(MOJO_DT_FP32, {T, Dr}), x(dt, {T, 1});
  q.fill_normal(rng, 2);
  k.fill_normal(rng, 2);
  qw.fill_uniform(rng, 0.5f, 1.5f);
  kw.fill_uniform(rng, 0.5f, 1.5f);
  HostTensor pos(MOJO_DT_INT32, {T});
  pos.fill_ints({0, 3, 7, 100, 4000});
  run("rotary_embedding", Attrs().f("rope_theta", 1e6).i("rope_dim", Dr), {&x, nullptr, nullptr, &pos}, {&cos, &sin});
  for (bool interleaved : {false, true}) {
    HostTensor qo(dt, {T, Nq, Dh}), ko(dt, {T, Nk, Dh}), qn(dt, {T, Nq, Dh}), kn(dt, {T, Nk, Dh});
    HostTensor qr(dt, {T, Nq, Dh}), kr(dt, {T, Nk, Dh});
    run("norm_rope", Attrs().f("eps", 1e-6).b("interleaved", interleaved), {&q, &k, &qw, &kw, &cos, &sin}, {&qo, &ko});
    run("rms_norm", Attrs().f("eps", 1e-6), {&q, &qw}, {&qn});
    run("rms_norm", Attrs().f("eps", 1e-6), {&k, &kw}, {&kn});
    run("apply_rope", Attrs().b("head_first", false).b("interleaved", interleaved), {&qn, &kn, &cos, &sin}, {&qr, &kr});
    EXPECT_TRUE(qo.same_bytes(qr));
    EXPECT_TRUE(ko.same_bytes(kr));
  }
  // A rotation preserves the norm of the rotated part: |q_out| per head = |rms_norm(q)| per head.
  HostTensor qo(dt, {T, Nq, Dh}), ko(dt, {T, Nk, Dh}), qn(dt, {T, Nq, Dh});
  run("norm_rope", Attrs().f("eps", 1e-6), {&q, &k, &qw, &kw, &cos, &sin}, {&qo, &ko});
  run("rms_norm", Attrs().f("eps", 1e-6), {&q, &qw}, {&qn});
  for (int64_t r = 0; r < T * Nq; ++r) {
    double a = 0, b = 0;
    for (int64_t i = 0; i < Dh; ++i) {
      a += double(qo.get(r * Dh + i)) * qo.get(r * Dh + i);
      b += double(qn.get(r * Dh + i)) * qn.get(r * Dh + i);
    }
    EXPECT_NEAR(std::sqrt(a), std::sqrt(b), 4 * dtype_rtol(dt) * std::sqrt(b));
  }
}

TEST_P(NormRopeTest, StoreKvEqualsUnfusedSequence) {
  const int dt = GetParam();
  const int64_t T = 7, Nq = 4, Nk = 2, Dh = 32, Dr = 32, NB = 6, BS = 4, B = 3, MB = 3;
  HostTensor q(dt, {T, Nq, Dh}), k(dt, {T, Nk, Dh}), v(dt, {T, Nk, Dh}), qw(dt, {Dh}), kw(dt, {Dh});
  HostTensor cos(MOJO_DT_FP32, {T, Dr}), sin(MOJO_DT_FP32, {T, Dr}), x(dt, {T, 1});
  HostTensor bt(MOJO_DT_INT32, {B, MB}), cu(MOJO_DT_INT32, {B + 1}), ctx(MOJO_DT_INT32, {B}), pos(MOJO_DT_INT32, {T});
  q.fill_normal(rng, 1);
  k.fill_normal(rng, 1);
  v.fill_normal(rng, 1);
  qw.fill_uniform(rng, 0.5f, 1.5f);
  kw.fill_uniform(rng, 0.5f, 1.5f);
  // seq 0: 3 new tokens after 2 cached (crosses a block); seq 1: padding (-1); seq 2: 4 new after 5 cached.
  bt.fill_ints({4, 1, -1, 0, 2, -1, 3, 5, -1});
  cu.fill_ints({0, 3, 3, 7});
  ctx.fill_ints({2, -1, 5});
  pos.fill_ints({2, 3, 4, 5, 6, 7, 8});
  run("rotary_embedding", Attrs().f("rope_theta", 10000).i("rope_dim", Dr), {&x, nullptr, nullptr, &pos}, {&cos, &sin});
  for (bool apply_norm : {true, false}) {
    HostTensor kc(dt, {NB, Nk, BS, Dh}), vc(dt, {NB, Nk, BS, Dh});
    kc.fill_normal(rng, 1);
    vc.fill_normal(rng, 1);
    HostTensor kc2 = kc, vc2 = vc;
    HostTensor qo(dt, {T, Nq, Dh}), ko(dt, {T, Nk, Dh}), qr(dt, {T, Nq, Dh}), kr(dt, {T, Nk, Dh});
    const Attrs a = Attrs().f("eps", 1e-6).b("apply_norm", apply_norm);
    run("norm_rope_store_kv", a,
        {&q, &k, &v, apply_norm ? &qw : nullptr, apply_norm ? &kw : nullptr, &cos, &sin, &kc, &vc, &bt, &cu, &ctx,
         nullptr, nullptr},
        {&qo, &ko});
    if (apply_norm)
      run("norm_rope", Attrs().f("eps", 1e-6), {&q, &k, &qw, &kw, &cos, &sin}, {&qr, &kr});
    else
      run("apply_rope", Attrs().b("head_first", false), {&q, &k, &cos, &sin}, {&qr, &kr});
    run("store_paged_kv_cache", Attrs(), {&kr, &v, &kc2, &vc2, &bt, &cu, &ctx, nullptr, nullptr}, {});
    EXPECT_TRUE(qo.same_bytes(qr));
    EXPECT_TRUE(ko.same_bytes(kr));
    EXPECT_TRUE(kc.same_bytes(kc2));
    EXPECT_TRUE(vc.same_bytes(vc2));
    // Hand-placed: token 3 is seq 2's first new token, position 5 -> column 1 (block 5), slot 1.
    for (int64_t i = 0; i < Dh; ++i) ASSERT_EQ(kc.get(((5 * Nk + 1) * BS + 1) * Dh + i), kr.get((3 * Nk + 1) * Dh + i));
  }
  // Decreasing cu_q_lens: INVALID_ARGUMENT, caches and q_out untouched.
  HostTensor kc(dt, {NB, Nk, BS, Dh}), vc(dt, {NB, Nk, BS, Dh}), qo(dt, {T, Nq, Dh});
  kc.fill(1);
  vc.fill(1);
  qo.fill(2);
  HostTensor kc0 = kc, qo0 = qo;
  cu.fill_ints({0, 3, 2, 7});
  EXPECT_EQ(code_of("norm_rope_store_kv", Attrs().f("eps", 1e-6),
                    {&q, &k, &v, &qw, &kw, &cos, &sin, &kc, &vc, &bt, &cu, &ctx, nullptr, nullptr}, {&qo, nullptr}),
            MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_TRUE(kc.same_bytes(kc0));
  EXPECT_TRUE(qo.same_bytes(qo0));
  // Weights without apply_norm, or no addressing at all, are schema errors.
  cu.fill_ints({0, 3, 3, 7});
  EXPECT_EQ(code_of("norm_rope_store_kv", Attrs().b("apply_norm", false),
                    {&q, &k, &v, &qw, &kw, &cos, &sin, &kc, &vc, &bt, &cu, &ctx, nullptr, nullptr}, {&qo, nullptr}),
            MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(code_of("norm_rope_store_kv", Attrs().f("eps", 1e-6),
                    {&q, &k, &v, &qw, &kw, &cos, &sin, &kc, &vc, nullptr, &cu, nullptr, nullptr, nullptr}, {&qo, nullptr}),
            MOJO_STATUS_INVALID_ARGUMENT);
}

// The plan path (chunk_metadata from paged_kv_store_plan) stores exactly what the legacy path stores, in
// decode mode with a padding row (ctx = -1) and a sequence whose block id is -1 (skipped).
TEST_F(OpTest, NormRopeStoreKvPlanPathEqualsLegacyPath) {
  const int dt = MOJO_DT_BF16;
  const int64_t B = 4, Nq = 2, Nk = 1, Dh = 64, NB = 5, BS = 16, MB = 2;
  HostTensor q(dt, {B, Nq, Dh}), k(dt, {B, Nk, Dh}), v(dt, {B, Nk, Dh}), qw(dt, {Dh}), kw(dt, {Dh});
  HostTensor cos(MOJO_DT_FP32, {B, Dh}), sin(MOJO_DT_FP32, {B, Dh});
  HostTensor bt(MOJO_DT_INT32, {B, MB}), ctx(MOJO_DT_INT32, {B}), meta(MOJO_DT_INT32, {B, 4}), count(MOJO_DT_INT32, {1});
  q.fill_normal(rng, 1);
  k.fill_normal(rng, 1);
  v.fill_normal(rng, 1);
  qw.fill_uniform(rng, 0.5f, 1.5f);
  kw.fill_uniform(rng, 0.5f, 1.5f);
  cos.fill_uniform(rng, -1, 1);
  sin.fill_uniform(rng, -1, 1);
  bt.fill_ints({3, 1, 0, -1, 4, 2, -1, -1});
  ctx.fill_ints({17, 15, -1, 3});
  run("paged_kv_store_plan", Attrs().i("block_size", BS), {&bt, nullptr, &ctx}, {&meta, &count});
  HostTensor kc(dt, {NB, Nk, BS, Dh}), vc(dt, {NB, Nk, BS, Dh});
  kc.fill_normal(rng, 1);
  vc.fill_normal(rng, 1);
  HostTensor kc2 = kc, vc2 = vc, kc_before = kc;
  HostTensor qo(dt, {B, Nq, Dh}), qo2(dt, {B, Nq, Dh});
  const Attrs a = Attrs().f("eps", 1e-5);
  run("norm_rope_store_kv", a, {&q, &k, &v, &qw, &kw, &cos, &sin, &kc, &vc, &bt, nullptr, &ctx, nullptr, nullptr},
      {&qo, nullptr});
  run("norm_rope_store_kv", a, {&q, &k, &v, &qw, &kw, &cos, &sin, &kc2, &vc2, nullptr, nullptr, nullptr, &meta, &count},
      {&qo2, nullptr});
  EXPECT_TRUE(kc.same_bytes(kc2));
  EXPECT_TRUE(vc.same_bytes(vc2));
  EXPECT_TRUE(qo.same_bytes(qo2));
  EXPECT_FALSE(kc.same_bytes(kc_before));
  // Token 0: position 17 -> column 1 -> block 1, slot 1 holds v[0] bit-exactly.
  for (int64_t i = 0; i < Dh; ++i) ASSERT_EQ(vc.get((1 * BS + 1) * Dh + i), v.get(i));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, NormRopeTest, ::testing::Values(MOJO_DT_BF16, MOJO_DT_FP16, MOJO_DT_FP32));

}  // namespace
}  // namespace mojo::tools
