// Conformance cases for the GEMM ops (spec/linear_quant.md §1-4): decode and prefill row counts, model-sized
// K/N kept small enough for the reference, both weight layouts, W8A8 with large K, batched and grouped forms
// with empty groups.
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
