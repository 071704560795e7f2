// Conformance cases for the position ops.
#include "case.h"

namespace mojo::conformance {

void add_position_cases(CaseList &cases, const CaseOptions &opt) {
  (void)cases;
  (void)opt;
}

}  // namespace mojo::conformance
