// Host entry points of the MoE routing kernels (moe_dispatch, moe_dispatch_quant, moe_combine): raw pointers,
// sizes, a caller workspace and the op's device error word; no allocation.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "launch.h"

namespace mojo::cuda {

// Device error codes of the routing ops (ops/moe_route.cpp turns them into messages).
constexpr int32_t kMoeBadExpert = 1;  // an expert id outside [0, num_experts)
constexpr int32_t kMoeBadToken = 2;   // a token index outside [0, N)

// Stable dispatch: routes r = n*K + k sorted by expert, ascending r inside a bucket (a counting sort over
// chunks of routes). Without quantization `out` gets the rows in the input dtype; with it, int8 codes of
// blocks of `quant_block` values and one fp32 scale per block.
struct DispatchArgs {
  Dt dtype;                  // hidden_states
  int64_t tokens, hidden;    // N, H
  int64_t top_k;             // K
  int64_t experts;           // E
  const void *x;             // [N, H]
  const float *gates;        // [N, K]
  const void *ids;           // [N, K] expert ids
  bool ids_int64;
  void *out;                 // [M, H] rows (dtype) or int8 codes
  int32_t *counts;           // [E] routes per expert
  float *sorted_gates;       // [M]
  int32_t *token_indices;    // [M]
  // Quantizing form (moe_dispatch_quant): quant_block > 0.
  int64_t quant_block = 0;
  const void *smooth = nullptr;  // [E, H] or nullptr
  Dt smooth_dtype = Dt::F32;
  float *scale = nullptr;        // [M, H / quant_block]
  int32_t *error_word;
};

// Workspace of a dispatch over at most `max_routes` routes and `experts` experts.
size_t dispatch_workspace_bytes(int64_t experts, int64_t max_routes);
// "" when the quantizing copy covers (dtype, H, quant_block); otherwise why not.
const char *dispatch_quant_unsupported(Dt dtype, int64_t hidden, int64_t quant_block);
// cudaErrorInvalidValue: the workspace (sized at create for N*K routes) is too small for this call's routes.
cudaError_t launch_moe_dispatch(const DispatchArgs &a, void *workspace, size_t workspace_bytes, cudaStream_t stream);

struct CombineArgs {
  Dt dtype;                  // expert_outputs and combined
  int64_t rows, hidden;      // M, H
  int64_t tokens;            // N
  const void *y;             // [M, H]
  const float *gates;        // [M] or nullptr (multiply_by_gates = false)
  const void *token_indices; // [M]
  bool indices_int64;
  void *out;                 // [N, H]
  int32_t *error_word;
};

size_t combine_workspace_bytes(int64_t tokens, int64_t rows);
// cudaErrorInvalidValue: the workspace (sized at create) is too small for this call's N and M.
cudaError_t launch_moe_combine(const CombineArgs &a, void *workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace mojo::cuda
