// Conformance cases for the sampling ops.
#include "case.h"

namespace mojo::conformance {

void add_sampling_cases(CaseList &cases, const CaseOptions &opt) {
  (void)cases;
  (void)opt;
}

}  // namespace mojo::conformance
