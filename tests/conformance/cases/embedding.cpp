// Conformance cases for embedding (spec/embedding.md): vocab-sized tables kept small enough for the reference,
// int32/int64 ids of several ranks, exact gathers, max_norm renormalisation (mutates the table), ids out of
// range.
#include <cmath>

#include "case_helpers.h"

namespace mojo::conformance {

using namespace helpers;

void add_embedding_cases(CaseList &cases, const CaseOptions &opt) {
  struct Emb {
    int64_t V, H;
    std::vector<int64_t> ids_shape;
  };
  std::vector<Emb> embs = {{32000, 128, {37}}, {1024, 4096, {2, 5}}};
  if (!opt.quick) embs.insert(embs.end(), {{151936, 64, {3, 4, 2}}, {128, 256, {0}}, {7, 33, {16}}});
  for (const auto &e : embs) {
    int64_t n = 1;
    for (int64_t d : e.ids_shape) n *= d;
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < n; ++i) ids.push_back((i * 7919 + 3) % e.V);
    if (n > 1) ids[1] = e.V - 1;
    if (n > 2) ids[2] = 0;
    std::vector<int64_t> out_shape = e.ids_shape;
    out_shape.push_back(e.H);
    for (int dt : kFloat) {
      for (int idt : {MOJO_DT_INT32, MOJO_DT_INT64}) {
        if (opt.quick && idt == MOJO_DT_INT64) continue;
        OpCase c;
        c.op = "embedding";
        c.label = dt_name(dt) + " V=" + std::to_string(e.V) + " H=" + std::to_string(e.H) + " ids=" +
                  shape_label(e.ids_shape) + " " + dt_name(idt);
        c.inputs = {ints("ids", e.ids_shape, ids, idt), tensor("weight", dt, {e.V, e.H})};
        c.outputs = {tensor("out", dt, out_shape)};
        c.tolerances = {Tolerance::bitwise()};
        cases.push_back(c);
        if (n > 0 && idt == MOJO_DT_INT32 && e.V <= 32000) {
          OpCase inv = c;
          std::vector<int64_t> bad = ids;
          bad[size_t(n - 1)] = e.V;
          inv.label = c.label + " id == V";
          inv.inputs[0] = ints("ids", e.ids_shape, bad, idt);
          inv.expect = MOJO_STATUS_INVALID_ARGUMENT;
          cases.push_back(inv);
          bad[size_t(n - 1)] = -1;
          inv.label = c.label + " negative id";
          inv.inputs[0] = ints("ids", e.ids_shape, bad, idt);
          cases.push_back(inv);
        }
        if (!opt.quick && e.V <= 1024 && idt == MOJO_DT_INT64) {
          // max_norm below the typical row norm (sqrt(H) for N(0, 1)): referenced rows are rescaled in place.
          OpCase m = c;
          m.label = c.label + " max_norm";
          m.attrs = tools::Attrs().f("max_norm", std::sqrt(double(e.H)) * 0.9);
          m.mutated = {"weight"};
          m.mutated_tolerance = float_tol(dt);
          m.tolerances = {float_tol(dt)};
          cases.push_back(m);
        }
      }
    }
  }
}

}  // namespace mojo::conformance
