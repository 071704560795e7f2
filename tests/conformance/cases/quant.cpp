// Conformance cases for the quant ops.
#include "case.h"

namespace mojo::conformance {

void add_quant_cases(CaseList &cases, const CaseOptions &opt) {
  (void)cases;
  (void)opt;
}

}  // namespace mojo::conformance
