// GEMM family: linear and batch_linear through cuBLASLt GemmPlans made at create; quant_linear (int8 and fp8 e4m3fn
// codes) through cuBLASLt as well — fp8 in one call that applies both scale vectors, int8 (and fp8 where that call
// has no algorithm) as a cuBLASLt product plus a dequantizing epilogue — or one tiled kernel where cuBLASLt does not
// apply (K or N off the 16 grid). cuBLASLt takes K-major operands, so a KN weight is transposed into the workspace.
#include "gemm/gemm_plan.h"
#include "kernels/gemm_support.h"
#include "op_entry.h"

namespace mojo::cuda {
namespace {

constexpr size_t kAlign = 256;
size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

void release_plan(void *impl) { delete static_cast<GemmPlan *>(impl); }

std::string prepare_linear(State &st, const mojo_op_sig &sig, void **impl, size_t *) {
  const mojo_tensor *x = sig.inputs[0], *bias = sig.inputs[2];
  GemmConfig cfg;
  cfg.in_type = cfg.out_type = cuda_type(x);
  cfg.kn_layout = sig_attr_string(sig, "weight_layout") == "KN";
  cfg.has_bias = bias != nullptr;
  GemmPlan *plan = nullptr;
  std::string e = GemmPlan::create(st.lt, cfg, &plan);
  *impl = plan;
  return e;
}

std::string linear(const Call &c) {
  const mojo_tensor *x = c.input(0), *out = c.output(0);
  return static_cast<GemmPlan *>(c.impl)->run(c.ptr(x), c.ptr(c.input(1)), c.ptr(c.input(2)), c.mut_ptr(out),
                                              rows_of(x), cols_of(out), cols_of(x), 1, c.stream);
}

// batch_linear: x [Bt, M, K], weight [Bt, N, K] | [Bt, K, N], bias [Bt, N]. With reduce_batch the per-batch
// products go to an fp32 workspace [Bt, M, N] and one kernel sums them (plus the biases) and rounds once.
struct BatchLinear {
  GemmPlan *plan = nullptr;
  bool reduce = false;
  ~BatchLinear() { delete plan; }
};

std::string prepare_batch_linear(State &st, const mojo_op_sig &sig, void **impl, size_t *workspace_bytes) {
  const mojo_tensor *x = sig.inputs[0], *w = sig.inputs[1], *bias = sig.inputs[2];
  auto *b = new BatchLinear();
  *impl = b;
  const mojo_attr *reduce = sig_attr(sig, "reduce_batch");
  b->reduce = reduce && reduce->count && reduce->i;
  GemmConfig cfg;
  cfg.in_type = cuda_type(x);
  cfg.out_type = b->reduce ? CUDA_R_32F : cfg.in_type;
  cfg.kn_layout = sig_attr_string(sig, "weight_layout") == "KN";
  const int64_t n = cfg.kn_layout ? w->shape[2] : w->shape[1];
  cfg.has_bias = bias != nullptr && !b->reduce;
  if (b->reduce) *workspace_bytes = aligned(size_t(x->shape[0] * x->shape[1] * n) * sizeof(float));
  return GemmPlan::create(st.lt, cfg, &b->plan);
}

void release_batch_linear(void *impl) { delete static_cast<BatchLinear *>(impl); }

std::string batch_linear(const Call &c) {
  const auto *b = static_cast<const BatchLinear *>(c.impl);
  const mojo_tensor *x = c.input(0), *out = c.output(0);
  const int64_t batch = x->shape[0], m = x->shape[1], n = cols_of(out), k = x->shape[2];
  if (!b->reduce)
    return b->plan->run(c.ptr(x), c.ptr(c.input(1)), c.ptr(c.input(2)), c.mut_ptr(out), m, n, k, batch, c.stream);
  const size_t need = size_t(batch * m * n) * sizeof(float);
  if (need > c.workspace_bytes)
    return "this run's Bt*M*N needs " + std::to_string(need) + " bytes of workspace; the op was created for " +
           std::to_string(c.workspace_bytes) + " (create it with the largest shape it will run)";
  auto *partial = static_cast<float *>(c.workspace);
  if (std::string e = b->plan->run(c.ptr(x), c.ptr(c.input(1)), nullptr, partial, m, n, k, batch, c.stream); !e.empty())
    return e;
  BatchReduceArgs r{dt_of(out), batch, m, n, partial, c.ptr(c.input(2)), c.mut_ptr(out)};
  return cuda_message(launch_batch_reduce(r, c.stream));
}

// quant_linear: inputs x [M, K] int8 | fp8_e4m3fn, x_scale [M] | [M, 1] fp32, weight (x's codes), weight_scale [N];
// output out [M, N]. The way is chosen at create (the heuristic is asked for the create-time sizes):
//  * scaled (fp8): one cuBLASLt call, A = W and B = x in the TN form, both scale vectors applied by cuBLASLt
//    (A/B_SCALE_MODE = OUTER_VEC_32F: weight_scale has N entries, x_scale M), out written in its own dtype;
//  * product: cuBLASLt's product (int8: exact int32; fp8: fp32) into the workspace, then the dequant epilogue;
//  * tiled: one kernel for everything (no cuBLASLt algorithm, K or N off the 16 grid, or a run that its workspace or
//    its buffers' alignment do not fit).
// Workspace, in order: the product [M, N] (product way), weight_scale as fp32 [N] (scaled way with bf16 scales),
// the transposed weight [N, K] (KN layout).
struct QuantLinear {
  GemmPlan *plan = nullptr;  // nullptr: the tiled kernel
  bool scaled = false;
  size_t acc_bytes = 0, scale_bytes = 0, weight_bytes = 0;
  ~QuantLinear() { delete plan; }
};

bool is_fp8(const mojo_tensor *t) { return common::dtype_id(t->dtype) == MOJO_DT_FP8_E4M3FN; }

std::string accept_quant_linear(const mojo_op_sig &sig, int *code) {
  *code = MOJO_DECLINE_ATTR;
  for (const char *attr : {"quant_dtype", "weight_dtype"}) {
    const std::string v = sig_attr_string(sig, attr);  // "" (not given) or, checked by the core, the tensor's dtype
    if (!v.empty() && v != "int8" && v != "fp8_e4m3fn")
      return std::string(attr) + " " + v + " (cuda: int8, fp8_e4m3fn)";
  }
  if (!is_fp8(sig.inputs[0])) return "";
  int major = 0, minor = 0;
  cudaError_t e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, sig.device.device_id);
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, sig.device.device_id);
  if (e != cudaSuccess) {
    *code = MOJO_DECLINE_OTHER;
    return cuda_message(e);
  }
  if (major * 10 + minor < 89) {
    *code = MOJO_DECLINE_ARCH;
    return "fp8 GEMM needs sm_89+ (device is sm_" + std::to_string(major) + std::to_string(minor) + ")";
  }
  return "";
}

// A plan of this config with an algorithm for the create-time sizes; false when cuBLASLt has none.
bool make_plan(State &st, const GemmConfig &cfg, int64_t m, int64_t n, int64_t k, GemmPlan **plan) {
  GemmPlan *p = nullptr;
  if (!GemmPlan::create(st.lt, cfg, &p).empty()) return false;
  if (!p->prepare(m, n, k, 1).empty()) {
    delete p;
    return false;
  }
  *plan = p;
  return true;
}

std::string prepare_quant_linear(State &st, const mojo_op_sig &sig, void **impl, size_t *workspace_bytes) {
  const mojo_tensor *x = sig.inputs[0], *w = sig.inputs[2], *ws = sig.inputs[3], *out = sig.outputs[0];
  auto *q = new QuantLinear();
  *impl = q;
  const bool kn = sig_attr_string(sig, "weight_layout") == "KN";
  const int64_t m = rows_of(x), k = cols_of(x), n = kn ? w->shape[1] : w->shape[0];
  // cuBLASLt's int8 and fp8 tensor-core paths take K-major operands (weight [N, K]) with 16-byte aligned rows.
  if (k % 16 != 0 || n % 16 != 0) return "";
  const size_t product_bytes = aligned(size_t(m * n) * sizeof(int32_t));  // int32 or fp32
  GemmConfig cfg;
  if (is_fp8(x)) {
    cfg.in_type = CUDA_R_8F_E4M3;  // CUBLAS_COMPUTE_32F with CUDA_R_32F alpha / beta: the config's defaults
    cfg.out_type = cuda_type(out);
    cfg.w_scale_mode = cfg.x_scale_mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    q->scaled = make_plan(st, cfg, m, n, k, &q->plan);
    if (q->scaled && common::dtype_id(ws->dtype) != MOJO_DT_FP32) q->scale_bytes = aligned(size_t(n) * sizeof(float));
    if (!q->scaled) {  // e.g. a cuBLASLt or device without outer-vector scaling: fp32 product + epilogue
      cfg.out_type = CUDA_R_32F;
      cfg.w_scale_mode = cfg.x_scale_mode = CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F;
      if (make_plan(st, cfg, m, n, k, &q->plan)) q->acc_bytes = product_bytes;
    }
  } else {
    cfg.in_type = CUDA_R_8I;
    cfg.out_type = CUDA_R_32I;
    cfg.compute = CUBLAS_COMPUTE_32I;
    cfg.scale_type = CUDA_R_32I;
    if (make_plan(st, cfg, m, n, k, &q->plan)) q->acc_bytes = product_bytes;
  }
  if (q->plan && kn) q->weight_bytes = aligned(size_t(k * n));
  *workspace_bytes = q->acc_bytes + q->scale_bytes + q->weight_bytes;
  return "";
}

void release_quant_linear(void *impl) { delete static_cast<QuantLinear *>(impl); }

// Whether this run can take the create-time cuBLASLt way: K and N on the 16 grid, the workspace large enough for
// its sizes, and every buffer cuBLASLt reads or writes 16-byte aligned.
bool takes_plan(const QuantLinear &q, const QuantGemmArgs &a) {
  auto aligned16 = [](const void *p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  bool ok = q.plan && a.k % 16 == 0 && a.n % 16 == 0 && aligned16(a.x) && aligned16(a.w) && aligned16(a.out) &&
            (!a.kn_layout || size_t(a.k * a.n) <= q.weight_bytes);
  if (q.scaled)  // a bf16 weight_scale is converted into the workspace; an fp32 one is read in place
    ok = ok && aligned16(a.x_scale) &&
         (q.scale_bytes ? size_t(a.n) * sizeof(float) <= q.scale_bytes : aligned16(a.w_scale));
  else
    ok = ok && size_t(a.m * a.n) * sizeof(int32_t) <= q.acc_bytes;
  return ok;
}

std::string quant_linear(const Call &c) {
  const auto *q = static_cast<const QuantLinear *>(c.impl);
  const mojo_tensor *x = c.input(0), *w = c.input(2), *ws = c.input(3), *out = c.output(0);
  QuantGemmArgs a{};
  a.codes = is_fp8(x) ? Quant::Fp8E4M3 : Quant::Int8;
  a.out_dtype = dt_of(out);
  a.w_scale_dtype = dt_of(ws);
  a.m = rows_of(x);
  a.k = cols_of(x);
  a.n = cols_of(out);
  a.x = c.ptr(x);
  a.w = c.ptr(w);
  a.kn_layout = c.s("weight_layout") == "KN";
  a.x_scale = static_cast<const float *>(c.ptr(c.input(1)));
  a.w_scale = c.ptr(ws);
  a.out = c.mut_ptr(out);
  if (takes_plan(*q, a)) {
    auto *base = static_cast<uint8_t *>(c.workspace);
    const void *w_nk = a.w;
    if (a.kn_layout) {
      uint8_t *wt = base + q->acc_bytes + q->scale_bytes;
      if (cudaError_t t = launch_transpose_bytes(static_cast<const uint8_t *>(a.w), wt, a.k, a.n, c.stream);
          t != cudaSuccess)
        return cuda_message(t);
      w_nk = wt;
    }
    if (q->scaled) {
      auto *w_scale = static_cast<const float *>(a.w_scale);
      if (q->scale_bytes) {
        auto *converted = reinterpret_cast<float *>(base + q->acc_bytes);
        if (cudaError_t t = launch_scale_to_f32(a.w_scale, a.w_scale_dtype, converted, a.n, c.stream); t != cudaSuccess)
          return cuda_message(t);
        w_scale = converted;
      }
      if (q->plan->run(a.x, w_nk, nullptr, a.out, a.m, a.n, a.k, 1, c.stream, w_scale, a.x_scale).empty()) return "";
    } else if (q->plan->run(a.x, w_nk, nullptr, base, a.m, a.n, a.k, 1, c.stream).empty()) {
      return cuda_message(launch_quant_dequant(a, base, c.stream));
    }
  }
  return cuda_message(launch_quant_gemm(a, c.stream));
}

}  // namespace

std::vector<Entry> linear_entries() {
  return {
      {{"linear", kFloatMask, kGraphSafe}, linear, nullptr, prepare_linear, release_plan},
      {{"batch_linear", kFloatMask, kGraphSafe}, batch_linear, nullptr, prepare_batch_linear, release_batch_linear},
      {{"quant_linear", (1u << MOJO_DT_INT8) | (1u << MOJO_DT_FP8_E4M3FN), kGraphSafe}, quant_linear,
       accept_quant_linear, prepare_quant_linear, release_quant_linear},
  };
}

}  // namespace mojo::cuda
