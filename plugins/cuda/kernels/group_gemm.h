// Host entry point of the grouped GEMM (group_linear): rows sorted by group, row counts on the device, no
// host read of them and no per-group host loop.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "launch.h"

namespace mojo::cuda {

constexpr int32_t kGroupBadCounts = 1;  // a negative count, or counts not summing to Mtot

struct GroupGemmArgs {
  Dt dtype;                // x, weight, bias, out
  int64_t rows, k, n;      // Mtot, K, N
  int64_t groups;          // G
  const void *x;           // [Mtot, K]
  const void *counts;      // [G] row counts (int32 or int64)
  bool counts_int64;
  const void *weight;      // [G, K, N] (weight_kn) or [G, N, K]
  bool weight_kn;
  const void *bias;        // [G, N] or nullptr
  void *out;               // [Mtot, N]
  int32_t *error_word;
};

size_t group_gemm_workspace_bytes(int64_t groups);
// cudaErrorInvalidValue: the workspace is smaller than group_gemm_workspace_bytes(groups).
cudaError_t launch_group_gemm(const GroupGemmArgs &a, void *workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace mojo::cuda
