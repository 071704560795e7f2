// Row-major GEMMs through cuBLASLt: y[b] = x[b][M, K] · W[b]^T (+ bias[b]) for b < batch (strided batches,
// batch 1 for linear), with the accumulation and output types of a GemmConfig. A GemmPlan is made at
// kernel_create (descriptor, its own workspace); every size (M, N, K, batch) comes with the run — one op
// serves weights of any shape, as the C API allows — so layouts are made per run and the heuristic's
// algorithm is cached per (M, N, K, batch).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace mojo::cuda {

struct GemmConfig {
  cudaDataType_t in_type;                          // x and W
  cudaDataType_t out_type;                         // y (and bias)
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  cudaDataType_t scale_type = CUDA_R_32F;          // alpha / beta
  bool kn_layout = false;                          // W is [K, N] instead of [N, K]
  bool has_bias = false;                           // bias [N] per batch entry, fused as an epilogue
};

class GemmPlan {
 public:
  static std::string create(cublasLtHandle_t handle, const GemmConfig &config, GemmPlan **out);
  ~GemmPlan();
  // Runs on `stream`; the plan's workspace is shared by every run of this plan, so runs of one op must not
  // overlap on different streams (docs/decisions/cuda.md).
  std::string run(const void *x, const void *w, const void *bias, void *y, int64_t m, int64_t n, int64_t k,
                  int64_t batch, cudaStream_t stream);

 private:
  GemmPlan() = default;
  using Sizes = std::array<int64_t, 4>;  // M, N, K, batch
  std::string algo_for(const Sizes &sizes, cublasLtMatrixLayout_t w, cublasLtMatrixLayout_t x,
                       cublasLtMatrixLayout_t y, cublasLtMatmulAlgo_t *algo);  // mutex_ held
  cublasLtHandle_t handle_ = nullptr;
  cublasLtMatmulDesc_t desc_ = nullptr;
  GemmConfig config_{};
  void *workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::mutex mutex_;
  std::map<Sizes, cublasLtMatmulAlgo_t> algos_;
};

}  // namespace mojo::cuda
