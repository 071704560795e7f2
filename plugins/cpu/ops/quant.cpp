// Reference quant ops (spec/linear_quant.md).
#include "kernel.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {

void add_quant_kernels(std::vector<KernelEntry> &table) { (void)table; }

}  // namespace mojo::cpu
