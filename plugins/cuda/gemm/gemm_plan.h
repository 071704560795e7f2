// Row-major GEMMs through cuBLASLt: y[b] = x[b][M, K] · W[b]^T (+ bias[b]) for b < batch (strided batches,
// batch 1 for linear), with the accumulation and output types of a GemmConfig, and for fp8 optionally per-row
// scale vectors of W and x applied by cuBLASLt itself. A GemmPlan is made at kernel_create (descriptor, its own
// workspace); every size (M, N, K, batch) comes with the run — one op serves weights of any shape, as the C API
// allows — so layouts are made per run and the heuristic's algorithm is cached per (M, N, K, batch, alignment of
// the run's buffers). prepare() asks the heuristic for the create-time sizes, so create already knows whether
// cuBLASLt has an algorithm for them.
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
  // How the scale pointers given to run() apply (CUBLASLT_MATMUL_DESC_A/B_SCALE_MODE; cuBLASLt's A is W, its B is
  // x). SCALAR_32F and no pointers: unscaled. OUTER_VEC_32F (fp8, both or neither): y[m, n] = x_scale[m] *
  // w_scale[n] * acc before the one rounding to out_type, the vectors fp32 with N (W) and M (x) entries.
  cublasLtMatmulMatrixScale_t w_scale_mode = CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F;
  cublasLtMatmulMatrixScale_t x_scale_mode = CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F;
};

class GemmPlan {
 public:
  static std::string create(cublasLtHandle_t handle, const GemmConfig &config, GemmPlan **out);
  ~GemmPlan();
  // The heuristic's algorithm for these sizes with 256-byte aligned buffers (what workspaces and allocators give),
  // cached for the runs; "" or why cuBLASLt has none. Host only: call it at create.
  std::string prepare(int64_t m, int64_t n, int64_t k, int64_t batch);
  // Runs on `stream`; the plan's workspace is shared by every run of this plan, so runs of one op must not
  // overlap on different streams (docs/decisions/cuda.md). w_scale / x_scale: device fp32 vectors, required
  // exactly when the config has scale modes.
  std::string run(const void *x, const void *w, const void *bias, void *y, int64_t m, int64_t n, int64_t k,
                  int64_t batch, cudaStream_t stream, const float *w_scale = nullptr, const float *x_scale = nullptr);

 private:
  GemmPlan() = default;
  using Sizes = std::array<int64_t, 5>;  // M, N, K, batch, alignment of the buffers in bytes (<= 256)
  std::string algo_for(const Sizes &sizes, cublasLtMatmulAlgo_t *algo);  // mutex_ held
  cublasLtHandle_t handle_ = nullptr;
  cublasLtMatmulDesc_t desc_ = nullptr;
  GemmConfig config_{};
  void *workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::mutex mutex_;
  std::map<Sizes, cublasLtMatmulAlgo_t> algos_;
};

}  // namespace mojo::cuda
