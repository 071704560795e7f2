// Reference moe ops (spec/moe.md).
#include "kernel.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {

void add_moe_kernels(std::vector<KernelEntry> &table) { (void)table; }

}  // namespace mojo::cpu
