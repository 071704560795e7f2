// Conformance cases for the attention ops.
#include "case.h"

namespace mojo::conformance {

void add_attention_cases(CaseList &cases, const CaseOptions &opt) {
  (void)cases;
  (void)opt;
}

}  // namespace mojo::conformance
