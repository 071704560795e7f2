// moe ops (spec/moe.md).
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {

void declare_moe_ops(std::vector<OpSchema> &ops) { (void)ops; }

}  // namespace mojo::core
