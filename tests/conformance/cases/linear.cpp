// Conformance cases for the linear ops.
#include "case.h"

namespace mojo::conformance {

void add_linear_cases(CaseList &cases, const CaseOptions &opt) {
  (void)cases;
  (void)opt;
}

}  // namespace mojo::conformance
