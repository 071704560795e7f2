// The conformance case model shared by mojo-test-ops and the per-category case generators
// (tests/conformance/cases/<category>.cpp). A case is data: the runner materialises it twice (backend under
// test and the cpu reference) from the same seed, runs both and compares every output with the case's
// tolerance, plus guard bytes, untouched padding and unchanged non-mutated inputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "op_call.h"

namespace mojo::conformance {

// How a tensor's contents are produced. Float tensors usually draw Uniform/Normal from the case's seed;
// index/metadata tensors (block tables, cu-lengths, ids) give exact Values.
struct Fill {
  enum Kind { Uniform, Normal, Values, Constant } kind = Uniform;
  double lo = -1.0, hi = 1.0;   // Uniform range; Normal uses hi as the standard deviation
  std::vector<double> values;   // Values: row-major, converted to the tensor's dtype (ints exactly)
  double constant = 0.0;        // Constant

  static Fill uniform(double lo, double hi) { Fill f; f.kind = Uniform; f.lo = lo; f.hi = hi; return f; }
  static Fill normal(double stddev) { Fill f; f.kind = Normal; f.hi = stddev; return f; }
  static Fill of(std::vector<double> v) { Fill f; f.kind = Values; f.values = std::move(v); return f; }
  static Fill ints(const std::vector<int64_t> &v) { return of(std::vector<double>(v.begin(), v.end())); }
  static Fill constant_value(double c) { Fill f; f.kind = Constant; f.constant = c; return f; }
};

// One input or output slot. An absent optional tensor has present = false. Outputs ignore `fill` (the
// runner pre-fills them with a sentinel so untouched padding rows compare equal on both backends), except
// that an output's `fill` of kind Values/Constant is used as its initial contents when given.
struct CaseTensor {
  std::string name;
  int dtype = MOJO_DT_FP32;
  std::vector<int64_t> shape;
  Fill fill;
  bool present = true;
  bool initial_given = false;  // outputs: use `fill` as the initial contents instead of the sentinel

  static CaseTensor absent(const std::string &name) { CaseTensor t; t.name = name; t.present = false; return t; }
};

// Per-output comparison (ops.md §1.10): |a - b| <= atol + rtol * |b| for at least a fraction ptol of the
// elements; exact = bitwise-equal values (indices, sampled tokens, quantized codes where the spec says so).
struct Tolerance {
  double atol = 0.0, rtol = 0.0;
  double ptol = 1.0;
  bool exact = false;
  // Integer outputs ranked by a float output (router ids by their gates): an element that differs still
  // matches where output `tie_output` agrees at the same index within tie_rtol (relative), i.e. the two
  // choices were tied to within rounding.
  int tie_output = -1;
  double tie_rtol = 0.0;

  static Tolerance close(double atol, double rtol) { Tolerance t; t.atol = atol; t.rtol = rtol; return t; }
  static Tolerance bitwise() { Tolerance t; t.exact = true; return t; }
};

struct OpCase {
  std::string op;
  std::string label;                 // shapes, dtypes, notable settings: "bf16 T=37 D=128 page=16 ragged"
  tools::Attrs attrs;
  std::vector<CaseTensor> inputs;    // schema order
  std::vector<CaseTensor> outputs;   // schema order
  std::vector<Tolerance> tolerances; // one per output (missing entries default to the first)
  // Inputs the op mutates in place (caches): compared after the run like outputs, with this tolerance.
  std::vector<std::string> mutated;
  Tolerance mutated_tolerance = Tolerance::bitwise();
  // Expected status on every backend (INVALID_ARGUMENT cases check the error path and untouched outputs).
  mojo_code expect = MOJO_STATUS_SUCCESS;
};

struct CaseOptions {
  bool quick = false;  // a reduced set (CI self-check, compute-sanitizer runs)
};

using CaseList = std::vector<OpCase>;

// One generator per category file; each appends its ops' cases.
void add_norm_cases(CaseList &cases, const CaseOptions &opt);
void add_activation_cases(CaseList &cases, const CaseOptions &opt);
void add_position_cases(CaseList &cases, const CaseOptions &opt);
void add_linear_cases(CaseList &cases, const CaseOptions &opt);
void add_quant_cases(CaseList &cases, const CaseOptions &opt);
void add_embedding_cases(CaseList &cases, const CaseOptions &opt);
void add_attention_cases(CaseList &cases, const CaseOptions &opt);
void add_attention_mla_cases(CaseList &cases, const CaseOptions &opt);
void add_kv_cache_cases(CaseList &cases, const CaseOptions &opt);
void add_moe_cases(CaseList &cases, const CaseOptions &opt);
void add_sampling_cases(CaseList &cases, const CaseOptions &opt);
void add_training_cases(CaseList &cases, const CaseOptions &opt);

// Every case of every category, in a stable order.
CaseList all_cases(const CaseOptions &opt);

}  // namespace mojo::conformance
