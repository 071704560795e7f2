// Conformance cases for the activation ops.
#include "case.h"

namespace mojo::conformance {

void add_activation_cases(CaseList &cases, const CaseOptions &opt) {
  (void)cases;
  (void)opt;
}

}  // namespace mojo::conformance
