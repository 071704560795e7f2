// kv_cache ops (spec/kv_cache.md).
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {

void declare_kv_cache_ops(std::vector<OpSchema> &ops) { (void)ops; }

}  // namespace mojo::core
