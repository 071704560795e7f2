// The benchmark cases: the shapes the issues set targets on (LLM-sized), plus small-token latency shapes.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "op_call.h"

namespace mojo::bench {

struct TensorSpec {
  int dtype;
  std::vector<int64_t> shape;
  bool present = true;
  bool positive = false;  // values in (0, 1] (e.g. scales)
};

struct BenchCase {
  std::string op, label;
  tools::Attrs attrs;
  std::vector<TensorSpec> inputs, outputs;
  bool latency = false;  // also measure per-call cost (eager loop and CUDA graph replay)
  double flops = 0;      // > 0: compute-bound, report TFLOP/s against the tensor-core peak
};

std::vector<BenchCase> bench_cases();
nlohmann::json to_json(const BenchCase &c);

}  // namespace mojo::bench
