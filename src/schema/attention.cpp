// attention ops (spec/attention.md).
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {

void declare_attention_ops(std::vector<OpSchema> &ops) { (void)ops; }

}  // namespace mojo::core
