// Reference attention ops (spec/attention.md).
#include "kernel.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {

void add_attention_kernels(std::vector<KernelEntry> &table) { (void)table; }

}  // namespace mojo::cpu
