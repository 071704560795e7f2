// linear through cuBLASLt: row-major y[M, N] = x[M, K] · W^T (+ bias) with fp32 accumulation, bias fused as a
// cuBLASLt epilogue. A LinearPlan is made at kernel_create (layouts, descriptors, its own workspace); the
// algorithm heuristic is cached per M because M (tokens) changes between runs of one op.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace mojo::cuda {

class LinearPlan {
 public:
  // dtype: CUDA_R_16BF / CUDA_R_16F / CUDA_R_32F for x, W, bias and y. kn_layout: W is [K, N].
  static std::string create(cublasLtHandle_t handle, cudaDataType_t dtype, int64_t k, int64_t n, bool kn_layout,
                            bool has_bias, LinearPlan **out);
  ~LinearPlan();
  // Runs on `stream`; the plan's workspace is shared by every run of this plan, so runs of one op must not
  // overlap on different streams (docs/decisions/cuda.md).
  std::string run(const void *x, const void *w, const void *bias, void *y, int64_t m, cudaStream_t stream);

 private:
  LinearPlan() = default;
  std::string algo_for(int64_t m, cublasLtMatmulAlgo_t *algo);  // mutex_ held
  cublasLtHandle_t handle_ = nullptr;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t w_layout_ = nullptr;
  cudaDataType_t dtype_{};
  int64_t k_ = 0, n_ = 0;
  bool has_bias_ = false;
  void *workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::mutex mutex_;
  std::map<int64_t, cublasLtMatmulAlgo_t> algos_;
};

}  // namespace mojo::cuda
