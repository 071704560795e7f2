// sampling ops (spec/sampling.md).
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {

void declare_sampling_ops(std::vector<OpSchema> &ops) { (void)ops; }

}  // namespace mojo::core
