// training ops (spec/training.md).
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {

void declare_training_ops(std::vector<OpSchema> &ops) { (void)ops; }

}  // namespace mojo::core
