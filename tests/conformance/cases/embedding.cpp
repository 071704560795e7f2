// Conformance cases for the embedding ops.
#include "case.h"

namespace mojo::conformance {

void add_embedding_cases(CaseList &cases, const CaseOptions &opt) {
  (void)cases;
  (void)opt;
}

}  // namespace mojo::conformance
