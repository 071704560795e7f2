// quant ops (spec/linear_quant.md).
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {

void declare_quant_ops(std::vector<OpSchema> &ops) { (void)ops; }

}  // namespace mojo::core
