// Launcher of the fused MoE router (kernels/moe_gating.cu): GEMM, softmax, top-k and renormalisation in one
// kernel. Raw pointers, sizes, a stream; the partial sums live in the caller's workspace.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "launch.h"

namespace mojo::cuda {

constexpr int64_t kGatingMaxExperts = 512;
constexpr int64_t kGatingCounters = 4096;  // completion counters (general path: 8-token tiles; fast path: 8 per 64 tokens)

// General path: how the hidden dimension is split across blocks: `splits` blocks per 8-token tile, `chunk`
// rows of the gate weight each. workspace_floats is what the partial sums need (0 when splits == 1).
struct GatingSplit {
  int64_t splits, chunk;
  size_t workspace_floats;
};
GatingSplit plan_moe_gating(int64_t tokens, int64_t hidden, int64_t experts, int block_slots, size_t workspace_floats);

// Tensor-core path (bf16 input, sm_90 thread-block clusters): 64-token blocks, `expert_tile` experts per CTA,
// clusters of 8 CTAs along the hidden dimension, `h_clusters` clusters per (token block, expert tile), `rows`
// hidden rows per CTA. expert_tile == 0: the path does not apply (dtype, sizes, alignment or workspace).
struct GatingFast {
  int expert_tile;
  int64_t h_clusters, rows;
  size_t workspace_floats, smem_bytes;
};
GatingFast plan_moe_gating_fast(Dt dtype, int64_t tokens, int64_t hidden, int64_t experts, int sms,
                                size_t workspace_floats);
// Whether the current device runs the cluster kernel (compiled for sm_90 only).
bool moe_gating_fast_available();

// Whole-weight cluster path (bf16 input, sm_90, kernels/moe_gating_cluster.cu): clusters of `cluster` CTAs own
// 16 tokens and the whole gate weight, `expert_groups` x (cluster / expert_groups) hidden splits, `experts_per_cta`
// (32 or 64) experts per CTA, at most `kmax` k-steps of 16 hidden rows each. cluster == 0: the path does not
// apply (dtype, sizes or shared memory). No workspace, no counters.
struct GatingCluster {
  int cluster, expert_groups, experts_per_cta;
  int64_t kmax;
  size_t smem_bytes;
};
GatingCluster plan_moe_gating_cluster(Dt dtype, int64_t tokens, int64_t hidden, int64_t experts, int64_t top_k,
                                      int cluster);
// The plan (for any token count) with the largest cluster the current device schedules for these sizes: 16
// (non-portable) where it fits, else 8; cluster == 0 where there is no sm_90 code or neither fits.
GatingCluster plan_moe_gating_cluster_for_device(Dt dtype, int64_t hidden, int64_t experts, int64_t top_k);

struct GatingArgs {
  Dt dtype;
  int64_t tokens, hidden, experts, top_k;
  const void *x;          // [N, H]
  const float *weight;    // [H, E]
  int32_t *ids;           // [N, K]
  float *gates;           // [N, K]
  float *partial;         // workspace: [splits, N, E] (general) or [N / 64, h_clusters, 64, E] (fast)
  unsigned int *counters; // kGatingCounters zeroed words, left zeroed
  GatingSplit split;      // used when fast.expert_tile == 0
  GatingFast fast;
  GatingCluster cl;       // taken first when cl.cluster != 0
};
cudaError_t launch_moe_gating(const GatingArgs &a, cudaStream_t stream);
cudaError_t launch_moe_gating_cluster(const GatingArgs &a, cudaStream_t stream);

}  // namespace mojo::cuda
