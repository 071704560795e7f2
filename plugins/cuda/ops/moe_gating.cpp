// moe_gating: the fused router of kernels/moe_gating.h. create sizes the workspace (split-K or cluster partials,
// whichever path the signature takes; the larger) and allocates the zeroed completion counters (the kernels
// leave them zeroed). A run takes the whole-weight cluster path where the gate weight fits one cluster, else the
// tensor-core path where it applies and the workspace holds its partials, else the general path.
#include <algorithm>
#include <cstdint>

#include "kernels/moe_gating.h"
#include "op_entry.h"

namespace mojo::cuda {
namespace {

struct GatingPlan {
  unsigned int *counters = nullptr;
  int block_slots = 0;  // blocks the GPU runs at once (2 per SM)
  int sms = 0;
  bool fast = false;     // the cluster kernel runs on this device (sm_90)
  int cluster = 0;       // whole-weight cluster path: its cluster size for the create-time sizes (0: none)
  size_t cluster_smem = 0;  // ... and the shared memory that size was checked with
};

constexpr size_t kUnboundedWorkspace = size_t(1) << 40;

std::string prepare_gating(State &, const mojo_op_sig &sig, void **impl, size_t *workspace_bytes) {
  const mojo_tensor *x = sig.inputs[0], *w = sig.inputs[1];
  auto *plan = new (std::nothrow) GatingPlan;
  if (plan == nullptr) return "out of host memory";
  *impl = plan;
  int sms = 0;
  std::string e = cuda_message(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, sig.device.device_id));
  if (e.empty()) e = cuda_message(cudaMalloc(&plan->counters, kGatingCounters * sizeof(unsigned int)));
  if (e.empty()) e = cuda_message(cudaMemset(plan->counters, 0, kGatingCounters * sizeof(unsigned int)));
  plan->fast = e.empty() && moe_gating_fast_available();
  if (plan->fast) {
    const mojo_attr *k = sig_attr(sig, "top_k");  // required by the schema
    const int64_t top_k = k ? k->i : 0;
    const GatingCluster cl = plan_moe_gating_cluster_for_device(dt_of(x), cols_of(x), w->shape[1], top_k);
    plan->cluster = cl.cluster;
    plan->cluster_smem = cl.smem_bytes;
  }
  plan->block_slots = 2 * sms;
  plan->sms = sms;
  const GatingSplit split =
      plan_moe_gating(rows_of(x), cols_of(x), w->shape[1], plan->block_slots, kUnboundedWorkspace);
  const GatingFast fast =
      plan->fast ? plan_moe_gating_fast(dt_of(x), rows_of(x), cols_of(x), w->shape[1], sms, kUnboundedWorkspace)
                 : GatingFast{};
  *workspace_bytes = std::max(split.workspace_floats, fast.workspace_floats) * sizeof(float);
  return e;
}

void release_gating(void *impl) {
  auto *plan = static_cast<GatingPlan *>(impl);
  if (plan == nullptr) return;
  if (plan->counters) cudaFree(plan->counters);
  delete plan;
}

std::string moe_gating(const Call &c) {
  const auto *plan = static_cast<const GatingPlan *>(c.impl);
  const mojo_tensor *x = c.input(0), *w = c.input(1);
  GatingArgs a{};
  a.dtype = dt_of(x);
  a.tokens = rows_of(x);
  a.hidden = cols_of(x);
  a.experts = w->shape[1];
  a.top_k = c.i("top_k");
  a.x = c.ptr(x);
  a.weight = static_cast<const float *>(c.ptr(w));
  a.ids = static_cast<int32_t *>(c.mut_ptr(c.output(0)));
  a.gates = static_cast<float *>(c.mut_ptr(c.output(1)));
  a.partial = static_cast<float *>(c.workspace);
  a.counters = plan->counters;
  // A run with more tokens than the signature at create splits less (the workspace bounds the partials).
  const size_t ws_floats = c.workspace_bytes / sizeof(float);
  const bool operands_aligned =
      ((reinterpret_cast<uintptr_t>(a.x) | reinterpret_cast<uintptr_t>(a.weight)) & 15) == 0;
  const bool aligned = operands_aligned && (reinterpret_cast<uintptr_t>(a.partial) & 15) == 0;
  if (plan->cluster && operands_aligned) {
    a.cl = plan_moe_gating_cluster(a.dtype, a.tokens, a.hidden, a.experts, a.top_k, plan->cluster);
    if (a.cl.smem_bytes > plan->cluster_smem) a.cl = GatingCluster{};  // sizes the create-time check did not cover
  }
  if (plan->fast && aligned && a.cl.cluster == 0)
    a.fast = plan_moe_gating_fast(a.dtype, a.tokens, a.hidden, a.experts, plan->sms, ws_floats);
  if (a.cl.cluster == 0 && a.fast.expert_tile == 0)
    a.split = plan_moe_gating(a.tokens, a.hidden, a.experts, plan->block_slots, ws_floats);
  return cuda_message(launch_moe_gating(a, c.stream));
}

std::string accept_gating(const mojo_op_sig &sig, int *code) {
  const mojo_tensor *w = sig.inputs[1];
  *code = MOJO_DECLINE_SHAPE;
  if (w->shape[1] > kGatingMaxExperts)
    return "cuda moe_gating routes at most " + std::to_string(kGatingMaxExperts) + " experts (E = " +
           std::to_string(w->shape[1]) + ")";
  return "";
}

}  // namespace

std::vector<Entry> moe_gating_entries() {
  return {
      {{"moe_gating", kFloatMask, kGraphSafe}, moe_gating, accept_gating, prepare_gating, release_gating},
  };
}

}  // namespace mojo::cuda
