#include "gemm/linear.h"

namespace mojo::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // what cuBLASLt recommends on Hopper

std::string lt_error(const char *what, cublasStatus_t s) {
  return std::string(what) + " failed: cuBLAS status " + std::to_string(int(s));
}

#define LT_TRY(expr)                                 \
  do {                                               \
    cublasStatus_t s_ = (expr);                      \
    if (s_ != CUBLAS_STATUS_SUCCESS) return lt_error(#expr, s_); \
  } while (0)

}  // namespace

std::string LinearPlan::create(cublasLtHandle_t handle, cudaDataType_t dtype, int64_t k, int64_t n, bool kn_layout,
                               bool has_bias, LinearPlan **out) {
  LinearPlan *p = new LinearPlan();
  p->handle_ = handle;
  p->dtype_ = dtype;
  p->k_ = k;
  p->n_ = n;
  p->has_bias_ = has_bias;
  auto fail = [&](const std::string &e) {
    delete p;
    return e;
  };
  // Column-major view: y^T[N, M] = op(W)[N, K] · x^T[K, M].
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  cublasStatus_t s = cublasLtMatmulDescCreate(&p->desc_, compute, CUDA_R_32F);
  if (s != CUBLAS_STATUS_SUCCESS) return fail(lt_error("cublasLtMatmulDescCreate", s));
  cublasOperation_t op_w = kn_layout ? CUBLAS_OP_N : CUBLAS_OP_T, op_x = CUBLAS_OP_N;
  cublasLtMatmulDescSetAttribute(p->desc_, CUBLASLT_MATMUL_DESC_TRANSA, &op_w, sizeof op_w);
  cublasLtMatmulDescSetAttribute(p->desc_, CUBLASLT_MATMUL_DESC_TRANSB, &op_x, sizeof op_x);
  if (has_bias) {
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    cublasLtMatmulDescSetAttribute(p->desc_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
    cublasLtMatmulDescSetAttribute(p->desc_, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &dtype, sizeof dtype);
  }
  // W stored row-major [N, K] is column-major [K, N] (ld K), used transposed; [K, N] is column-major [N, K].
  s = kn_layout ? cublasLtMatrixLayoutCreate(&p->w_layout_, dtype, uint64_t(n), uint64_t(k), n)
                : cublasLtMatrixLayoutCreate(&p->w_layout_, dtype, uint64_t(k), uint64_t(n), k);
  if (s != CUBLAS_STATUS_SUCCESS) return fail(lt_error("cublasLtMatrixLayoutCreate", s));
  if (cudaMalloc(&p->workspace_, kWorkspaceBytes) != cudaSuccess) {
    p->workspace_ = nullptr;
    return fail("cannot allocate the 32 MiB cuBLASLt workspace");
  }
  p->workspace_bytes_ = kWorkspaceBytes;
  *out = p;
  return "";
}

LinearPlan::~LinearPlan() {
  if (w_layout_) cublasLtMatrixLayoutDestroy(w_layout_);
  if (desc_) cublasLtMatmulDescDestroy(desc_);
  if (workspace_) cudaFree(workspace_);
}

std::string LinearPlan::algo_for(int64_t m, cublasLtMatmulAlgo_t *algo) {
  if (auto it = algos_.find(m); it != algos_.end()) {
    *algo = it->second;
    return "";
  }
  cublasLtMatrixLayout_t x_layout = nullptr, y_layout = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  LT_TRY(cublasLtMatrixLayoutCreate(&x_layout, dtype_, uint64_t(k_), uint64_t(m), k_));
  LT_TRY(cublasLtMatrixLayoutCreate(&y_layout, dtype_, uint64_t(n_), uint64_t(m), n_));
  LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_,
                                       sizeof workspace_bytes_);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(handle_, desc_, w_layout_, x_layout, y_layout, y_layout, pref, 1,
                                                    &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(x_layout);
  cublasLtMatrixLayoutDestroy(y_layout);
  if (s != CUBLAS_STATUS_SUCCESS || found == 0) return lt_error("cublasLtMatmulAlgoGetHeuristic (no algorithm)", s);
  algos_[m] = result.algo;
  *algo = result.algo;
  return "";
}

std::string LinearPlan::run(const void *x, const void *w, const void *bias, void *y, int64_t m, cudaStream_t stream) {
  if (m == 0) return "";
  // One run at a time per plan: the descriptor's bias pointer and the workspace are shared.
  std::lock_guard<std::mutex> lock(mutex_);
  cublasLtMatmulAlgo_t algo;
  if (std::string e = algo_for(m, &algo); !e.empty()) return e;
  if (has_bias_)
    cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
  cublasLtMatrixLayout_t x_layout = nullptr, y_layout = nullptr;
  LT_TRY(cublasLtMatrixLayoutCreate(&x_layout, dtype_, uint64_t(k_), uint64_t(m), k_));
  LT_TRY(cublasLtMatrixLayoutCreate(&y_layout, dtype_, uint64_t(n_), uint64_t(m), n_));
  const float alpha = 1.0f, beta = 0.0f;
  cublasStatus_t s = cublasLtMatmul(handle_, desc_, &alpha, w, w_layout_, x, x_layout, &beta, y, y_layout, y, y_layout,
                                    &algo, workspace_, workspace_bytes_, stream);
  cublasLtMatrixLayoutDestroy(x_layout);
  cublasLtMatrixLayoutDestroy(y_layout);
  return s == CUBLAS_STATUS_SUCCESS ? "" : lt_error("cublasLtMatmul", s);
}

}  // namespace mojo::cuda
