#include "cudnn/sdpa_paged_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "mojo_common/dtype.h"
#include "mojo_common/plugin_support.h"

namespace mojo::cuda::cudnn_sdpa {
namespace {

using common::cat;

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// An optional Int attribute, -1 when null (windows and hints are >= 0 by schema rule).
int64_t optional_int(const mojo_op_sig &sig, const char *name) {
  const mojo_attr *a = common::find_attr(sig.attrs, sig.n_attrs, name);
  return a && a->count ? a->i : -1;
}

Tensor4 tensor4(int64_t d0, int64_t d1, int64_t d2, int64_t d3, int64_t s0, int64_t s1, int64_t s2, int64_t s3) {
  return {{d0, d1, d2, d3}, {s0, s1, s2, s3}};
}

bool aligned16(const void *p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

}  // namespace

std::string plan_paged_prefill(const mojo_op_sig &sig, PagedPlan *out) {
  if (sig.n_inputs < 6) return "unexpected signature";
  const mojo_tensor *q = sig.inputs[0], *kc = sig.inputs[1], *table = sig.inputs[4];
  if (sig.n_inputs > 6 && sig.inputs[6] != nullptr) return "custom attention masks";
  PagedPlan p;
  const int dt = common::dtype_id(q->dtype);
  if (dt != MOJO_DT_BF16 && dt != MOJO_DT_FP16) return "dtypes other than bf16 and fp16";
  p.bf16 = dt == MOJO_DT_BF16;
  p.rows = q->shape[0];
  p.hq = q->shape[1];
  p.head_dim = q->shape[2];
  p.num_blocks = kc->shape[0];
  p.hkv = kc->shape[1];
  p.page_size = kc->shape[2];
  p.batch = table->shape[0];
  p.max_blocks = table->shape[1];
  if (p.rows <= 0 || p.batch <= 0 || p.max_blocks <= 0 || p.num_blocks <= 0)
    return "an empty query, batch, block table or cache (nothing for cuDNN to compute)";

  // cuDNN maps query head h to KV head h / (Hq/Hkv) (AABB). ABAB (h % Hkv) is the same map only when one of
  // the two has a single element; no stride over the head axis expresses it otherwise.
  const mojo_attr *layout = common::find_attr(sig.attrs, sig.n_attrs, "gqa_layout");
  const bool interleaved = layout && layout->count && layout->s && std::strcmp(layout->s, "ABAB") == 0;
  if (interleaved && p.hkv > 1 && p.hq / p.hkv > 1)
    return "interleaved GQA (ABAB) with several KV heads and query heads per KV head";

  const mojo_attr *causal = common::find_attr(sig.attrs, sig.n_attrs, "is_causal");
  p.causal = causal == nullptr || causal->count == 0 || causal->i != 0;
  const mojo_attr *scale = common::find_attr(sig.attrs, sig.n_attrs, "softmax_scale");
  p.scale = scale && scale->count ? float(scale->f) : float(1.0 / std::sqrt(double(p.head_dim)));

  p.max_kv = p.max_blocks * p.page_size;
  const int64_t kv_hint = optional_int(sig, "max_total_seq_len");
  if (kv_hint >= 0) p.max_kv = std::min(p.max_kv, kv_hint);
  if (p.max_kv <= 0) return "max_total_seq_len = 0 (nothing for cuDNN to compute)";
  if (p.max_kv > kInt32Max) return "a block table spanning more than 2^31 - 1 tokens";

  // Every n is at most T, the max_q_len hint (checked on the device) and, when causal, L <= MB*BS (L >= n is
  // checked on the device too). The smallest bound is cuDNN's s_q: its grid covers s_q rows per sequence.
  p.max_q = p.rows;
  if (p.causal) p.max_q = std::min(p.max_q, p.max_kv);
  p.max_q_hint = optional_int(sig, "max_q_len");
  if (p.max_q_hint >= 0) p.max_q = std::min(p.max_q, p.max_q_hint);
  if (p.max_q <= 0) return "max_q_len = 0 (nothing for cuDNN to compute)";
  if (p.rows * p.hq * p.head_dim > kInt32Max) return "more than 2^31 - 1 query elements (int32 ragged offsets)";

  // Sliding windows (paged_prefill_swa, causal only): keys j with pos - j <= Wl are cuDNN's left diagonal
  // band with bound Wl + 1. Attention sinks (Wg > 0) have no cuDNN equivalent; Wg = 0 alone masks every key.
  const int64_t wl = p.causal ? optional_int(sig, "local_window_size") : -1;
  const int64_t wg = p.causal ? optional_int(sig, "global_window_size") : -1;
  if (wg > 0) return "attention sinks (global_window_size > 0)";
  if (wg == 0 && wl < 0) return "global_window_size = 0 without a local window (every key masked)";
  if (wl >= 0 && wl + 1 < p.max_kv) p.left_bound = wl + 1;  // a wider window masks nothing

  const int64_t B = p.batch, Hq = p.hq, D = p.head_dim;
  // Q and O: token-major packed rows, each sequence placed by its ragged offset (the batch stride is unused).
  p.q = tensor4(B, Hq, p.max_q, D, Hq * D, D, Hq * D, 1);
  p.o = p.q;
  p.k = tensor4(p.num_blocks, p.hkv, p.page_size, D, p.hkv * p.page_size * D, p.page_size * D, D, 1);
  p.v = p.k;
  p.page_table = tensor4(B, 1, p.max_blocks, 1, p.max_blocks, p.max_blocks, 1, 1);
  p.seq_len = tensor4(B, 1, 1, 1, 1, 1, 1, 1);
  p.ragged = tensor4(B + 1, 1, 1, 1, 1, 1, 1, 1);
  *out = p;
  return "";
}

std::string fit_run(const PagedPlan &p, const RunShape &r) {
  if (r.rows <= 0 || r.batch <= 0) return "an empty query or batch";
  if (r.hq != p.hq || r.hkv != p.hkv || r.head_dim != p.head_dim || r.page_size != p.page_size)
    return "heads, head dim or page size differ from the create-time signature";
  if (r.num_blocks != p.num_blocks) return "the caches have another number of blocks than at create";
  if (r.batch > p.batch) return cat("B = ", r.batch, " > ", p.batch, " at create");
  if (r.max_blocks > p.max_blocks) return cat("MB = ", r.max_blocks, " > ", p.max_blocks, " at create");
  if (r.rows * r.hq * r.head_dim > kInt32Max) return "more than 2^31 - 1 query elements (int32 ragged offsets)";
  int64_t q_bound = r.rows;
  if (p.causal) q_bound = std::min(q_bound, r.max_blocks * r.page_size);
  if (p.max_q_hint >= 0) q_bound = std::min(q_bound, p.max_q_hint);
  if (q_bound > p.max_q) return cat("a sequence may have ", q_bound, " query rows, the graph's s_q is ", p.max_q);
  if (!aligned16(r.q) || !aligned16(r.out) || !aligned16(r.k) || !aligned16(r.v))
    return "a query, output or cache pointer not 16-byte aligned";
  return "";
}

WorkspaceLayout workspace_layout(const PagedPlan &p, size_t cudnn_bytes) {
  WorkspaceLayout w;
  const size_t i32 = sizeof(int32_t), B = size_t(p.batch);
  w.seq_q = align256(cudnn_bytes);
  w.seq_kv = w.seq_q + align256(B * i32);
  w.ragged = w.seq_kv + align256(B * i32);
  w.page_table = w.ragged + align256((B + 1) * i32);
  w.bytes = w.page_table + align256(B * size_t(p.max_blocks) * i32);
  return w;
}

bool enabled_by_env() {
  const char *v = std::getenv("MOJO_CUDA_CUDNN_SDPA");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace mojo::cuda::cudnn_sdpa
