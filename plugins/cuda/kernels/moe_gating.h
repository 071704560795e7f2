// Launcher of the fused MoE router (kernels/moe_gating.cu): GEMM, softmax, top-k and renormalisation in one
// kernel. Raw pointers, sizes, a stream; the split-K partials live in the caller's workspace.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "launch.h"

namespace mojo::cuda {

constexpr int64_t kGatingMaxExperts = 512;
constexpr int64_t kGatingCounters = 4096;  // token tiles that may split K (8 tokens each)

// How the hidden dimension is split across blocks: `splits` blocks per 8-token tile, `chunk` rows of the
// gate weight each. workspace_floats is what the partial sums need (0 when splits == 1).
struct GatingSplit {
  int64_t splits, chunk;
  size_t workspace_floats;
};
GatingSplit plan_moe_gating(int64_t tokens, int64_t hidden, int64_t experts, int block_slots, size_t workspace_floats);

struct GatingArgs {
  Dt dtype;
  int64_t tokens, hidden, experts, top_k;
  const void *x;          // [N, H]
  const float *weight;    // [H, E]
  int32_t *ids;           // [N, K]
  float *gates;           // [N, K]
  float *partial;         // [splits, N, E] workspace (splits > 1)
  unsigned int *counters; // kGatingCounters zeroed words, left zeroed (splits > 1)
  GatingSplit split;
};
cudaError_t launch_moe_gating(const GatingArgs &a, cudaStream_t stream);

}  // namespace mojo::cuda
