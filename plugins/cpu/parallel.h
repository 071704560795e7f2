// Splits independent work items over the machine's cores. The reference favours clarity, but the demo and
// the conformance runner must finish in seconds, so large loops run on plain std::threads.
#pragma once

#include <cstdint>
#include <functional>

namespace mojo::cpu {

// Calls body(begin, end) over disjoint chunks of [0, n). cost_per_item is a rough count of scalar
// operations per item; small loops stay on the calling thread.
void parallel_for(int64_t n, int64_t cost_per_item, const std::function<void(int64_t, int64_t)> &body);

}  // namespace mojo::cpu
