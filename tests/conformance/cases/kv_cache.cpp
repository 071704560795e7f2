// Conformance cases for the kv_cache ops.
#include "case.h"

namespace mojo::conformance {

void add_kv_cache_cases(CaseList &cases, const CaseOptions &opt) {
  (void)cases;
  (void)opt;
}

}  // namespace mojo::conformance
