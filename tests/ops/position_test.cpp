// apply_rope against rotation identities (spec/position.md): norms are preserved, position 0 is identity,
// rotating by a then b equals rotating by a + b, and the nope channels pass through.
#include "op_test_support.h"

namespace mojo::tools {
namespace {

// Full-width rows for positions pos: [cos(ang) || cos(ang)], ang[k] = p * theta^(-2k/Dr).
void rope_table(const std::vector<int> &pos, int64_t dr, HostTensor &cos, HostTensor &sin) {
  for (size_t t = 0; t < pos.size(); ++t)
    for (int64_t k = 0; k < dr / 2; ++k) {
      double ang = pos[t] * std::pow(10000.0, -2.0 * double(k) / double(dr));
      for (int64_t half : {int64_t(0), dr / 2}) {
        cos.set(int64_t(t) * dr + k + half, float(std::cos(ang)));
        sin.set(int64_t(t) * dr + k + half, float(std::sin(ang)));
      }
    }
}

TEST_F(OpTest, RopeMatchesRotateHalfFormulaTokenMajor) {
  const int64_t T = 5, Nq = 4, Nk = 2, Dh = 16, Dr = 12;
  HostTensor q(MOJO_DT_FP32, {T, Nq, Dh}), k(MOJO_DT_FP32, {T, Nk, Dh}), cos(MOJO_DT_FP32, {T, Dr}),
      sin(MOJO_DT_FP32, {T, Dr}), qo(MOJO_DT_FP32, {T, Nq, Dh}), ko(MOJO_DT_FP32, {T, Nk, Dh});
  q.fill_normal(rng, 1);
  k.fill_normal(rng, 1);
  rope_table({0, 1, 7, 100, 4095}, Dr, cos, sin);
  run("apply_rope", Attrs().b("head_first", false), {&q, &k, &cos, &sin}, {&qo, &ko});
  for (auto [in, out, heads] : {std::make_tuple(&q, &qo, Nq), std::make_tuple(&k, &ko, Nk)}) {
    std::vector<double> want;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < heads; ++h) {
        int64_t base = (t * heads + h) * Dh;
        for (int64_t i = 0; i < Dh - Dr; ++i) want.push_back(in->get(base + i));
        const int64_t off = base + Dh - Dr, half = Dr / 2;
        for (int64_t i = 0; i < Dr; ++i) {
          double c = cos.get(t * Dr + i), s = sin.get(t * Dr + i);
          double rot = i < half ? -in->get(off + i + half) : in->get(off + i - half);
          want.push_back(in->get(off + i) * c + rot * s);
        }
      }
    expect_close(out->to_floats(), want, 1e-5, 1e-5);
  }
}

TEST_F(OpTest, RopePreservesNormsAndComposes) {
  const int64_t Dh = 64;
  for (bool interleaved : {false, true}) {
    HostTensor q(MOJO_DT_FP32, {1, 1, Dh}), cos_a(MOJO_DT_FP32, {1, Dh}), sin_a(MOJO_DT_FP32, {1, Dh}),
        cos_b(MOJO_DT_FP32, {1, Dh}), sin_b(MOJO_DT_FP32, {1, Dh}), cos_ab(MOJO_DT_FP32, {1, Dh}),
        sin_ab(MOJO_DT_FP32, {1, Dh});
    q.fill_normal(rng, 1);
    rope_table({3}, Dh, cos_a, sin_a);
    rope_table({11}, Dh, cos_b, sin_b);
    rope_table({14}, Dh, cos_ab, sin_ab);
    HostTensor once(q), twice(q), direct(q), ko(q);
    Attrs a = Attrs().b("head_first", true).b("interleaved", interleaved);
    run("apply_rope", a, {&q, &q, &cos_a, &sin_a}, {&once, &ko});
    run("apply_rope", a, {&once, &once, &cos_b, &sin_b}, {&twice, &ko});
    run("apply_rope", a, {&q, &q, &cos_ab, &sin_ab}, {&direct, &ko});
    double n0 = 0, n1 = 0;
    for (int64_t i = 0; i < Dh; ++i) {
      n0 += double(q.get(i)) * q.get(i);
      n1 += double(once.get(i)) * once.get(i);
    }
    EXPECT_NEAR(n1, n0, 1e-4 * n0) << "interleaved=" << interleaved;
    std::vector<float> d = direct.to_floats();
    expect_close(twice.to_floats(), std::vector<double>(d.begin(), d.end()), 1e-4, 1e-4, "a then b == a + b");
  }
}

TEST_F(OpTest, RopeAtPositionZeroIsIdentityForEveryLayout) {
  struct L { std::vector<int64_t> q; bool head_first; std::vector<int64_t> table; };
  for (const L &l : {L{{3, 2, 8}, true, {2, 8}}, L{{2, 3, 2, 8}, false, {3, 8}}, L{{2, 2, 3, 8}, true, {2, 3, 8}}}) {
    HostTensor q(MOJO_DT_BF16, l.q), cos(MOJO_DT_FP32, l.table), sin(MOJO_DT_FP32, l.table), qo(MOJO_DT_BF16, l.q),
        ko(MOJO_DT_BF16, l.q);
    q.fill_normal(rng, 1);
    cos.fill(1);
    sin.fill(0);
    run("apply_rope", Attrs().b("head_first", l.head_first), {&q, &q, &cos, &sin}, {&qo, &ko});
    EXPECT_TRUE(qo.same_bytes(q)) << shape_str(l.q);
  }
}

TEST_F(OpTest, RopeRejectsOddOrTooWideTables) {
  HostTensor q(MOJO_DT_FP32, {2, 1, 8}), c(MOJO_DT_FP32, {2, 7}), wide(MOJO_DT_FP32, {2, 10}), qo(q), ko(q);
  std::string msg;
  EXPECT_EQ(code_of("apply_rope", Attrs().b("head_first", false), {&q, &q, &c, &c}, {&qo, &ko}, &msg),
            MOJO_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(msg.find("even"), std::string::npos) << msg;
  EXPECT_EQ(code_of("apply_rope", Attrs().b("head_first", false), {&q, &q, &wide, &wide}, {&qo, &ko}),
            MOJO_STATUS_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace mojo::tools
