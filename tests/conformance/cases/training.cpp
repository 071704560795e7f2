// Conformance cases for the training ops.
#include "case.h"

namespace mojo::conformance {

void add_training_cases(CaseList &cases, const CaseOptions &opt) {
  (void)cases;
  (void)opt;
}

}  // namespace mojo::conformance
