#include "gemm/gemm_plan.h"

#include <initializer_list>

namespace mojo::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // what cuBLASLt recommends on Hopper

std::string lt_error(const char *what, cublasStatus_t s) {
  return std::string(what) + " failed: cuBLAS status " + std::to_string(int(s));
}

#define LT_TRY(expr)                                             \
  do {                                                           \
    cublasStatus_t s_ = (expr);                                  \
    if (s_ != CUBLAS_STATUS_SUCCESS) return lt_error(#expr, s_); \
  } while (0)

// Column-major layout of `rows` × `cols` with leading dimension `ld`, strided over `batch` entries.
std::string make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                        cublasLtMatrixLayout_t *out) {
  LT_TRY(cublasLtMatrixLayoutCreate(out, type, uint64_t(rows), uint64_t(cols), ld));
  if (batch > 1) {
    const int32_t count = int32_t(batch);
    const int64_t stride = rows * cols;
    cublasLtMatrixLayoutSetAttribute(*out, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count);
    cublasLtMatrixLayoutSetAttribute(*out, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride);
  }
  return "";
}

// The three layouts of one run, destroyed together.
struct RunLayouts {
  cublasLtMatrixLayout_t w = nullptr, x = nullptr, y = nullptr;
  ~RunLayouts() {
    for (auto l : {w, x, y})
      if (l) cublasLtMatrixLayoutDestroy(l);
  }
};

// W stored row-major [N, K] is column-major [K, N] (ld K), used transposed; [K, N] is column-major [N, K].
std::string make_layouts(const GemmConfig &c, int64_t m, int64_t n, int64_t k, int64_t batch, RunLayouts &l) {
  std::string e = c.kn_layout ? make_layout(c.in_type, n, k, n, batch, &l.w)
                              : make_layout(c.in_type, k, n, k, batch, &l.w);
  if (e.empty()) e = make_layout(c.in_type, k, m, k, batch, &l.x);
  if (e.empty()) e = make_layout(c.out_type, n, m, n, batch, &l.y);
  return e;
}

// Largest power of two, at most 256, dividing every given address (null ones do not count).
int64_t common_alignment(std::initializer_list<const void *> ptrs) {
  uintptr_t bits = 256;
  for (const void *p : ptrs) bits |= reinterpret_cast<uintptr_t>(p);
  return int64_t(bits & (~bits + 1));
}

bool scaled(const GemmConfig &c) {
  return c.w_scale_mode != CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F ||
         c.x_scale_mode != CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F;
}

}  // namespace

std::string GemmPlan::create(cublasLtHandle_t handle, const GemmConfig &config, GemmPlan **out) {
  GemmPlan *p = new GemmPlan();
  p->handle_ = handle;
  p->config_ = config;
  auto fail = [&](const std::string &e) {
    delete p;
    return e;
  };
  // Column-major view: y^T[N, M] = op(W)[N, K] · x^T[K, M].
  cublasStatus_t s = cublasLtMatmulDescCreate(&p->desc_, config.compute, config.scale_type);
  if (s != CUBLAS_STATUS_SUCCESS) return fail(lt_error("cublasLtMatmulDescCreate", s));
  cublasOperation_t op_w = config.kn_layout ? CUBLAS_OP_N : CUBLAS_OP_T, op_x = CUBLAS_OP_N;
  cublasLtMatmulDescSetAttribute(p->desc_, CUBLASLT_MATMUL_DESC_TRANSA, &op_w, sizeof op_w);
  cublasLtMatmulDescSetAttribute(p->desc_, CUBLASLT_MATMUL_DESC_TRANSB, &op_x, sizeof op_x);
  if (scaled(config)) {  // cuBLASLt's A is W, its B is x (run() passes them in that order)
    const int32_t w_mode = config.w_scale_mode, x_mode = config.x_scale_mode;
    s = cublasLtMatmulDescSetAttribute(p->desc_, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &w_mode, sizeof w_mode);
    if (s == CUBLAS_STATUS_SUCCESS)
      s = cublasLtMatmulDescSetAttribute(p->desc_, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &x_mode, sizeof x_mode);
    if (s != CUBLAS_STATUS_SUCCESS) return fail(lt_error("setting CUBLASLT_MATMUL_DESC_A/B_SCALE_MODE", s));
  }
  if (config.has_bias) {
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    cublasLtMatmulDescSetAttribute(p->desc_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
    cublasLtMatmulDescSetAttribute(p->desc_, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &config.out_type,
                                   sizeof config.out_type);
  }
  if (cudaMalloc(&p->workspace_, kWorkspaceBytes) != cudaSuccess) {
    p->workspace_ = nullptr;
    return fail("cannot allocate the 32 MiB cuBLASLt workspace");
  }
  p->workspace_bytes_ = kWorkspaceBytes;
  *out = p;
  return "";
}

GemmPlan::~GemmPlan() {
  if (desc_) cublasLtMatmulDescDestroy(desc_);
  if (workspace_) cudaFree(workspace_);
}

std::string GemmPlan::algo_for(const Sizes &sizes, cublasLtMatmulAlgo_t *algo) {
  if (auto it = algos_.find(sizes); it != algos_.end()) {
    *algo = it->second;
    return "";
  }
  RunLayouts l;
  if (std::string e = make_layouts(config_, sizes[0], sizes[1], sizes[2], sizes[3], l); !e.empty()) return e;
  cublasLtMatmulPreference_t pref = nullptr;
  LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_,
                                       sizeof workspace_bytes_);
  const uint32_t align = uint32_t(sizes[4]);  // 256 is cuBLASLt's default assumption; less excludes algorithms
  for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    cublasLtMatmulPreferenceSetAttribute(pref, attr, &align, sizeof align);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(handle_, desc_, l.w, l.x, l.y, l.y, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (s != CUBLAS_STATUS_SUCCESS || found == 0) return lt_error("cublasLtMatmulAlgoGetHeuristic (no algorithm)", s);
  algos_[sizes] = result.algo;
  *algo = result.algo;
  return "";
}

std::string GemmPlan::prepare(int64_t m, int64_t n, int64_t k, int64_t batch) {
  if (m == 0 || n == 0 || batch == 0) return "";
  std::lock_guard<std::mutex> lock(mutex_);
  if (scaled(config_)) {  // the heuristic sees the descriptor runs use: scale pointers set (runs replace them)
    const void *placeholder = workspace_;
    cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &placeholder, sizeof placeholder);
    cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &placeholder, sizeof placeholder);
  }
  cublasLtMatmulAlgo_t algo;
  return algo_for({m, n, k, batch, 256}, &algo);
}

std::string GemmPlan::run(const void *x, const void *w, const void *bias, void *y, int64_t m, int64_t n, int64_t k,
                          int64_t batch, cudaStream_t stream, const float *w_scale, const float *x_scale) {
  if (m == 0 || n == 0 || batch == 0) return "";
  const GemmConfig &c = config_;
  if (scaled(c) != (w_scale != nullptr && x_scale != nullptr))
    return "GemmPlan::run: scale vectors given without scale modes, or scale modes without both vectors";
  // One run at a time per plan: the descriptor's bias and scale pointers and the workspace are shared.
  std::lock_guard<std::mutex> lock(mutex_);
  RunLayouts l;
  if (std::string e = make_layouts(c, m, n, k, batch, l); !e.empty()) return e;
  if (c.has_bias) {
    const int64_t bias_stride = n;  // bias [batch, N]
    cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
    cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, &bias_stride, sizeof bias_stride);
  }
  if (scaled(c)) {
    LT_TRY(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &w_scale, sizeof w_scale));
    LT_TRY(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &x_scale, sizeof x_scale));
  }
  cublasLtMatmulAlgo_t algo;
  if (std::string a = algo_for({m, n, k, batch, common_alignment({x, w, y})}, &algo); !a.empty()) return a;
  const float alpha_f = 1.0f, beta_f = 0.0f;
  const int32_t alpha_i = 1, beta_i = 0;
  const bool int_scale = c.scale_type == CUDA_R_32I;
  const void *alpha = int_scale ? static_cast<const void *>(&alpha_i) : &alpha_f;
  const void *beta = int_scale ? static_cast<const void *>(&beta_i) : &beta_f;
  cublasStatus_t s = cublasLtMatmul(handle_, desc_, alpha, w, l.w, x, l.x, beta, y, l.y, y, l.y, &algo, workspace_,
                                    workspace_bytes_, stream);
  return s == CUBLAS_STATUS_SUCCESS ? "" : lt_error("cublasLtMatmul", s);
}

}  // namespace mojo::cuda
