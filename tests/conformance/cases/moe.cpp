// Conformance cases for the moe ops.
#include "case.h"

namespace mojo::conformance {

void add_moe_cases(CaseList &cases, const CaseOptions &opt) {
  (void)cases;
  (void)opt;
}

}  // namespace mojo::conformance
