// Conformance cases for the norm ops.
#include "case.h"

namespace mojo::conformance {

void add_norm_cases(CaseList &cases, const CaseOptions &opt) {
  (void)cases;
  (void)opt;
}

}  // namespace mojo::conformance
