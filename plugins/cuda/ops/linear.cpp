// GEMM family: linear and batch_linear through cuBLASLt GemmPlans made at create; quant_linear (W8A8) through
// cuBLASLt's exact int32 product plus a dequantizing epilogue (a KN weight is first transposed into the
// workspace: cuBLASLt's int8 path takes K-major operands), or one tiled dp4a kernel for unaligned K / N.
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

// quant_linear: inputs x [M, K] int8, x_scale [M] | [M, 1], weight int8, weight_scale [N]; output out [M, N].
struct QuantLinear {
  GemmPlan *plan = nullptr;  // cuBLASLt int8 → int32 product; nullptr: the tiled kernel does everything
  size_t acc_bytes = 0;      // workspace: int32 product [M, N], then (KN weights) the transposed weight [N, K]
  size_t weight_bytes = 0;
  ~QuantLinear() { delete plan; }
};

std::string accept_quant_linear(const mojo_op_sig &sig, int *code) {
  *code = MOJO_DECLINE_ATTR;
  for (const char *attr : {"quant_dtype", "weight_dtype"}) {
    const std::string v = sig_attr_string(sig, attr);  // "" (not given): the dtype of the tensor, int8 here
    if (!v.empty() && v != "int8") return std::string(attr) + " " + v + " (cuda: int8)";
  }
  return "";
}

std::string prepare_quant_linear(State &st, const mojo_op_sig &sig, void **impl, size_t *workspace_bytes) {
  const mojo_tensor *x = sig.inputs[0], *w = sig.inputs[2];
  auto *q = new QuantLinear();
  *impl = q;
  GemmConfig cfg;
  cfg.in_type = CUDA_R_8I;
  cfg.out_type = CUDA_R_32I;
  cfg.compute = CUBLAS_COMPUTE_32I;
  cfg.scale_type = CUDA_R_32I;
  const bool kn = sig_attr_string(sig, "weight_layout") == "KN";
  const int64_t k = cols_of(x), n = kn ? w->shape[1] : w->shape[0];
  // cuBLASLt's int8 tensor-core path takes K-major operands (weight [N, K]) with 16-byte aligned rows.
  if (k % 16 != 0 || n % 16 != 0) return "";
  q->acc_bytes = aligned(size_t(rows_of(x) * n) * sizeof(int32_t));
  q->weight_bytes = kn ? aligned(size_t(k * n)) : 0;
  *workspace_bytes = q->acc_bytes + q->weight_bytes;
  std::string e = GemmPlan::create(st.lt, cfg, &q->plan);
  if (!e.empty()) q->plan = nullptr;  // the tiled kernel serves this signature
  return "";
}

void release_quant_linear(void *impl) { delete static_cast<QuantLinear *>(impl); }

std::string quant_linear(const Call &c) {
  const auto *q = static_cast<const QuantLinear *>(c.impl);
  const mojo_tensor *x = c.input(0), *w = c.input(2), *ws = c.input(3), *out = c.output(0);
  Int8GemmArgs a{};
  a.out_dtype = dt_of(out);
  a.w_scale_dtype = dt_of(ws);
  a.m = rows_of(x);
  a.k = cols_of(x);
  a.n = cols_of(out);
  a.x = static_cast<const int8_t *>(c.ptr(x));
  a.w = static_cast<const int8_t *>(c.ptr(w));
  a.kn_layout = c.s("weight_layout") == "KN";
  a.x_scale = static_cast<const float *>(c.ptr(c.input(1)));
  a.w_scale = c.ptr(ws);
  a.out = c.mut_ptr(out);
  // The cuBLASLt path when this run's sizes are aligned and fit the create-time workspace.
  const bool fits = size_t(a.m * a.n) * sizeof(int32_t) <= q->acc_bytes &&
                    (!a.kn_layout || size_t(a.k * a.n) <= q->weight_bytes) && a.k % 16 == 0 && a.n % 16 == 0;
  if (q->plan && fits) {
    auto *acc = static_cast<int32_t *>(c.workspace);
    const int8_t *w_nk = a.w;
    if (a.kn_layout) {
      int8_t *wt = static_cast<int8_t *>(c.workspace) + q->acc_bytes;
      if (cudaError_t t = launch_transpose_int8(a.w, wt, a.k, a.n, c.stream); t != cudaSuccess) return cuda_message(t);
      w_nk = wt;
    }
    std::string e = q->plan->run(a.x, w_nk, nullptr, acc, a.m, a.n, a.k, 1, c.stream);
    if (e.empty()) return cuda_message(launch_int8_dequant(a, acc, c.stream));
  }
  return cuda_message(launch_int8_gemm(a, c.stream));
}

}  // namespace

std::vector<Entry> linear_entries() {
  return {
      {{"linear", kFloatMask, kGraphSafe}, linear, nullptr, prepare_linear, release_plan},
      {{"batch_linear", kFloatMask, kGraphSafe}, batch_linear, nullptr, prepare_batch_linear, release_batch_linear},
      {{"quant_linear", 1u << MOJO_DT_INT8, kGraphSafe}, quant_linear, accept_quant_linear, prepare_quant_linear,
       release_quant_linear},
  };
}

}  // namespace mojo::cuda
