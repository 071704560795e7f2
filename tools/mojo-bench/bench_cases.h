// The benchmark cases: the shapes the issues set targets on (LLM-sized), plus small-token latency shapes.
#pragma once

#include <cstdint>
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
  std::vector<uint8_t> data;  // exact host bytes (index tensors: block tables, lengths); empty = random fill
};

struct BenchCase {
  std::string op, label;
  tools::Attrs attrs;
  std::vector<TensorSpec> inputs, outputs;
  bool latency = false;  // also measure per-call cost (eager loop and CUDA graph replay)
  double flops = 0;      // > 0: compute-bound, report TFLOP/s against the tensor-core peak
  double bytes = 0;      // > 0: the bytes the op must move (e.g. the KV actually read), instead of every tensor's size
  nlohmann::json params = nlohmann::json::object();  // what torch_bench.py needs to rebuild the case's data
};

// Exact bytes for TensorSpec::data from a vector of int32/int64/float values.
template <typename T>
std::vector<uint8_t> bytes_of(const std::vector<T> &v) {
  const auto *p = reinterpret_cast<const uint8_t *>(v.data());
  return std::vector<uint8_t>(p, p + v.size() * sizeof(T));
}

// One function per op family (cases/<family>.cpp); bench_cases() concatenates them.
void add_norm_cases(std::vector<BenchCase> &out);
void add_activation_cases(std::vector<BenchCase> &out);
void add_rope_cases(std::vector<BenchCase> &out);
void add_quant_cases(std::vector<BenchCase> &out);
void add_linear_cases(std::vector<BenchCase> &out);
void add_attention_prefill_cases(std::vector<BenchCase> &out);
void add_attention_decode_cases(std::vector<BenchCase> &out);
void add_moe_cases(std::vector<BenchCase> &out);
void add_sampling_cases(std::vector<BenchCase> &out);
void add_moe_gating_cases(std::vector<BenchCase> &out);
void add_memops_cases(std::vector<BenchCase> &out);

std::vector<BenchCase> bench_cases();
nlohmann::json to_json(const BenchCase &c);

}  // namespace mojo::bench
