// Conformance cases for the GEMM ops (spec/linear_quant.md §1-4): decode and prefill row counts, model-sized
// K/N kept small enough for the reference, both weight layouts, W8A8 with large K, FP8 (e4m3fn) at the spec's
// shapes and at K / N off the 16-element grid, batched and grouped forms with empty groups.
#include <cmath>

#include "case_helpers.h"

namespace mojo::conformance {

using namespace helpers;

namespace {

// K grows the accumulation error: fp32 sums of O(1) products need a K-scaled absolute tolerance.
Tolerance gemm_tol(int dt, int64_t K) {
  Tolerance t = float_tol(dt);
  t.atol += 1e-6 * double(K);
  return t;
}

// FP8 quant_linear: the reference sums the exact fp32 products exactly; a backend sums them in its own order and
// precision (Hopper's fp8 MMA keeps about 13 bits below the largest addend between promotions to its fp32
// accumulator). Relative to the outputs' rms that error does not grow with K: a simulation of that model (32
// products per MMA step truncated to 13 bits, promotion every 128, K = 4096, 4000 outputs) gives rms 1.2e-4 and
// worst 6.4e-4; any fp32 order is ~1e-6. 2^-7 of the rms leaves a 12x margin and still fails any indexing, layout or
// scale error (each off by O(1) of the rms); without promotion (cuBLASLt's FAST_ACCUM) the worst was 8.9e-3 and
// would fail, as it should. Then one rounding to the output dtype.
Tolerance fp8_gemm_tol(int out_dt, double y_rms) {
  Tolerance t = float_tol(out_dt);
  t.atol += y_rms / 128;
  return t;
}

// FP8 data as a per-token / per-channel quantizer makes it: unit-normal values over a scale of amax / 448
// (amax of a row of 4096 is about 3.7), i.e. codes ~ N(0, 120^2) saturating at +-448 and scales around 3.7 / 448;
// the weight scale carries 1 / sqrt(K) so outputs have an rms near 1 at every K.
OpCase fp8_quant_linear_case(int64_t M, int64_t K, int64_t N, int out_dt, const char *layout) {
  constexpr double kCodeStd = 120, kScaleLo = 3.5 / 448, kScaleHi = 4.0 / 448;
  const double w_div = std::sqrt(double(K));
  OpCase c;
  c.op = "quant_linear";
  c.label = "fp8_e4m3fn -> " + dt_name(out_dt) + " M=" + std::to_string(M) + " K=" + std::to_string(K) + " N=" +
            std::to_string(N) + " " + layout;
  c.attrs = tools::Attrs().s("weight_layout", layout).dtype("output_dtype", dt_name(out_dt));
  const std::vector<int64_t> wshape = layout[0] == 'N' ? std::vector<int64_t>{N, K} : std::vector<int64_t>{K, N};
  c.inputs = {tensor("x", MOJO_DT_FP8_E4M3FN, {M, K}, Fill::normal(kCodeStd)),
              tensor("x_scale", MOJO_DT_FP32, {M, 1}, Fill::uniform(kScaleLo, kScaleHi)),
              tensor("weight", MOJO_DT_FP8_E4M3FN, wshape, Fill::normal(kCodeStd)),
              tensor("weight_scale", out_dt == MOJO_DT_FP32 ? MOJO_DT_FP32 : MOJO_DT_BF16, {N},
                     Fill::uniform(kScaleLo / w_div, kScaleHi / w_div))};
  c.outputs = {tensor("out", out_dt, {M, N})};
  const double y_rms = std::sqrt(double(K)) * (kCodeStd * kScaleHi) * (kCodeStd * kScaleHi / w_div);
  c.tolerances = {fp8_gemm_tol(out_dt, y_rms)};
  return c;
}

}  // namespace

void add_linear_cases(CaseList &cases, const CaseOptions &opt) {
  struct Mkn {
    int64_t M, K, N;
  };
  std::vector<Mkn> mkn = {{1, 4096, 512}, {37, 1024, 384}};
  if (!opt.quick) mkn.insert(mkn.end(), {{0, 256, 128}, {5, 4095, 129}, {64, 512, 1024}});
  for (const auto &s : mkn) {
    const std::string sl = " M=" + std::to_string(s.M) + " K=" + std::to_string(s.K) + " N=" + std::to_string(s.N);
    const double w_std = 1.0 / std::sqrt(double(s.K));
    for (int dt : kFloat) {
      for (const char *layout : {"NK", "KN"}) {
        for (bool bias : {false, true}) {
          if (opt.quick && (bias || layout[0] == 'K')) continue;
          OpCase c;
          c.op = "linear";
          c.label = dt_name(dt) + sl + " " + layout + (bias ? " bias" : "");
          c.attrs = tools::Attrs().s("weight_layout", layout);
          const std::vector<int64_t> wshape = layout[0] == 'N' ? std::vector<int64_t>{s.N, s.K} : std::vector<int64_t>{s.K, s.N};
          c.inputs = {tensor("x", dt, {s.M, s.K}), tensor("weight", dt, wshape, Fill::normal(w_std)),
                      bias ? tensor("bias", dt, {s.N}) : absent("bias")};
          c.outputs = {tensor("out", dt, {s.M, s.N})};
          c.tolerances = {gemm_tol(dt, s.K)};
          cases.push_back(c);
        }
      }
      // W8A8: int8 codes, per-token and per-channel scales ~ amax/127 of unit data.
      for (const char *layout : {"KN", "NK"}) {
        if (opt.quick && layout[0] == 'N') continue;
        OpCase c;
        c.op = "quant_linear";
        c.label = dt_name(dt) + " out" + sl + " " + layout;
        c.attrs = tools::Attrs().s("weight_layout", layout).dtype("output_dtype", dt_name(dt));
        const std::vector<int64_t> wshape = layout[0] == 'N' ? std::vector<int64_t>{s.N, s.K} : std::vector<int64_t>{s.K, s.N};
        c.inputs = {tensor("x", MOJO_DT_INT8, {s.M, s.K}, Fill::uniform(-128, 127)),
                    tensor("x_scale", MOJO_DT_FP32, {s.M, 1}, Fill::uniform(0.01, 0.03)),
                    tensor("weight", MOJO_DT_INT8, wshape, Fill::uniform(-128, 127)),
                    tensor("weight_scale", dt == MOJO_DT_FP32 ? MOJO_DT_FP32 : MOJO_DT_BF16, {s.N},
                           Fill::uniform(0.001, 0.003))};
        c.outputs = {tensor("out", dt, {s.M, s.N})};
        c.tolerances = {Tolerance::close(1e-3, dt == MOJO_DT_FP32 ? 1e-5 : float_tol(dt).rtol)};
        cases.push_back(c);
      }
    }
  }

  // FP8 quant_linear: the spec's shapes (full runs), decode and small prefill rows, K and N off the 16-element grid
  // (cuBLASLt's fp8 path needs multiples of 16) and M = 0.
  std::vector<Mkn> fp8 = {{1, 4096, 512}, {37, 1024, 384}, {3, 136, 40}};
  if (!opt.quick)
    fp8.insert(fp8.end(), {{0, 256, 128}, {5, 4095, 129}, {17, 1000, 200}, {1, 4096, 4096}, {32, 4096, 11008},
                           {128, 2048, 4096}, {64, 4096, 4096}});
  for (const auto &s : fp8)
    for (int dt : kFloat)
      for (const char *layout : {"NK", "KN"}) {
        if (opt.quick && layout[0] == 'K' && dt != MOJO_DT_BF16) continue;
        cases.push_back(fp8_quant_linear_case(s.M, s.K, s.N, dt, layout));
      }
  {  // Contract errors (the core's, so every backend): weight dtype differing from x, quant_dtype naming the other.
    OpCase bad = fp8_quant_linear_case(3, 64, 32, MOJO_DT_BF16, "NK");
    bad.expect = MOJO_STATUS_INVALID_ARGUMENT;
    OpCase mixed = bad;
    mixed.label += " int8 weight";
    mixed.inputs[2].dtype = MOJO_DT_INT8;
    mixed.inputs[2].fill = Fill::uniform(-128, 127);
    cases.push_back(mixed);
    OpCase named = bad;
    named.label += " quant_dtype=int8";
    named.attrs = tools::Attrs(bad.attrs).dtype("quant_dtype", "int8");
    cases.push_back(named);
  }

  // batch_linear: Bt x [M, K] x [N, K], per-batch and reduced.
  struct Batch {
    int64_t B, M, K, N;
  };
  std::vector<Batch> batches = {{4, 8, 512, 256}};
  if (!opt.quick) batches.insert(batches.end(), {{1, 1, 128, 64}, {3, 0, 64, 32}, {2, 17, 129, 65}});
  for (const auto &b : batches) {
    for (int dt : kFloat) {
      for (const char *layout : {"NK", "KN"}) {
        for (bool reduce : {false, true}) {
          if (opt.quick && (reduce || layout[0] == 'K') && dt != MOJO_DT_BF16) continue;
          OpCase c;
          c.op = "batch_linear";
          c.label = dt_name(dt) + " Bt=" + std::to_string(b.B) + " M=" + std::to_string(b.M) + " K=" +
                    std::to_string(b.K) + " N=" + std::to_string(b.N) + " " + layout + (reduce ? " reduce" : "");
          c.attrs = tools::Attrs().s("weight_layout", layout).b("reduce_batch", reduce);
          const std::vector<int64_t> wshape =
              layout[0] == 'N' ? std::vector<int64_t>{b.B, b.N, b.K} : std::vector<int64_t>{b.B, b.K, b.N};
          c.inputs = {tensor("x", dt, {b.B, b.M, b.K}), tensor("weight", dt, wshape, Fill::normal(1.0 / std::sqrt(double(b.K)))),
                      tensor("bias", dt, {b.B, b.N})};
          c.outputs = {tensor("out", dt, reduce ? std::vector<int64_t>{b.M, b.N} : std::vector<int64_t>{b.B, b.M, b.N})};
          c.tolerances = {gemm_tol(dt, b.K * (reduce ? b.B : 1))};
          cases.push_back(c);
        }
      }
    }
  }

  // group_linear: MoE-style uneven row counts with empty groups.
  struct Group {
    std::vector<int64_t> counts;
    int64_t K, N;
  };
  std::vector<Group> groups = {{{3, 0, 17, 1, 0, 9, 2, 4}, 256, 384}};
  if (!opt.quick) groups.insert(groups.end(), {{{16, 64, 32, 80}, 64, 96}, {{0}, 64, 32}, {{40}, 128, 64}});
  for (const auto &g : groups) {
    const int64_t G = int64_t(g.counts.size());
    int64_t M = 0;
    for (int64_t n : g.counts) M += n;
    for (int dt : kFloat) {
      for (const char *layout : {"KN", "NK"}) {
        for (int idt : {MOJO_DT_INT32, MOJO_DT_INT64}) {
          if (opt.quick && (idt == MOJO_DT_INT64 || layout[0] == 'N')) continue;
          OpCase c;
          c.op = "group_linear";
          c.label = dt_name(dt) + " G=" + std::to_string(G) + " Mtot=" + std::to_string(M) + " K=" + std::to_string(g.K) +
                    " N=" + std::to_string(g.N) + " " + layout + " " + dt_name(idt);
          c.attrs = tools::Attrs().s("weight_layout", layout);
          const std::vector<int64_t> wshape =
              layout[0] == 'K' ? std::vector<int64_t>{G, g.K, g.N} : std::vector<int64_t>{G, g.N, g.K};
          c.inputs = {tensor("x", dt, {M, g.K}), ints("group_list", {G}, g.counts, idt),
                      tensor("weight", dt, wshape, Fill::normal(1.0 / std::sqrt(double(g.K)))),
                      layout[0] == 'K' ? tensor("bias", dt, {G, g.N}) : absent("bias")};
          c.outputs = {tensor("out", dt, {M, g.N})};
          c.tolerances = {gemm_tol(dt, g.K)};
          cases.push_back(c);
          if (G > 1 && idt == MOJO_DT_INT32 && layout[0] == 'K' && dt == MOJO_DT_BF16) {
            std::vector<int64_t> bad = g.counts;
            bad[0] += 1;  // sums past Mtot
            OpCase inv = c;
            inv.label = c.label + " counts sum past Mtot";
            inv.inputs[1] = ints("group_list", {G}, bad, idt);
            inv.expect = MOJO_STATUS_INVALID_ARGUMENT;
            cases.push_back(inv);
            bad = g.counts;
            bad[1] -= 1;
            bad[0] += 1;
            if (bad[1] < 0) {
              inv.label = c.label + " negative count";
              inv.inputs[1] = ints("group_list", {G}, bad, idt);
              cases.push_back(inv);
            }
            bad = g.counts;
            bad.back() -= 1;  // sums below Mtot
            inv.label = c.label + " counts sum below Mtot";
            inv.inputs[1] = ints("group_list", {G}, bad, idt);
            cases.push_back(inv);
          }
        }
      }
    }
  }
}

}  // namespace mojo::conformance
