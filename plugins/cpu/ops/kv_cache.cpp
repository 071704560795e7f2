// Reference kv_cache ops (spec/kv_cache.md).
#include "kernel.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {

void add_kv_cache_kernels(std::vector<KernelEntry> &table) { (void)table; }

}  // namespace mojo::cpu
