// Reference sampling ops (spec/sampling.md).
#include "kernel.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {

void add_sampling_kernels(std::vector<KernelEntry> &table) { (void)table; }

}  // namespace mojo::cpu
