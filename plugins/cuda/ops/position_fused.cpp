// Position family beyond apply_rope: rotary_embedding (cos/sin rows), norm_rope and norm_rope_store_kv
// through kernels/position_fused.h. The store of norm_rope_store_kv shares the addressing and device-side
// checks of store_paged_kv_cache (ops/kv_addressing.h).
#include <cmath>
#include <vector>

#include "kernels/position_fused.h"
#include "kv_addressing.h"

namespace mojo::cuda {
namespace {

// rotary_embedding: inv_freq[k] = 1 / rope_theta^(2k / rope_dim) computed once at create on the host with the
// reference's fp32 formula, so the fp32 angles match it bit for bit (a device powf differs in the last ulp,
// which positions ~32k turn into visible angle errors).
std::string prepare_rotary(State &, const mojo_op_sig &sig, void **impl, size_t *) {
  const mojo_attr *theta = sig_attr(sig, "rope_theta"), *dim = sig_attr(sig, "rope_dim");
  const int64_t dr = dim ? dim->i : 0, half = dr / 2;
  std::vector<float> inv(size_t(std::max<int64_t>(half, 1)), 0.0f);
  for (int64_t k = 0; k < half; ++k)
    inv[size_t(k)] = 1.0f / float(std::pow(float(theta ? theta->f : 0.0), float(2 * k) / float(dr)));
  float *dev = nullptr;
  std::string err = cuda_message(cudaMalloc(&dev, inv.size() * sizeof(float)));
  if (err.empty()) err = cuda_message(cudaMemcpy(dev, inv.data(), inv.size() * sizeof(float), cudaMemcpyHostToDevice));
  if (!err.empty()) {
    cudaFree(dev);
    return err;
  }
  *impl = dev;
  return "";
}

void release_rotary(void *impl) { cudaFree(impl); }

// Inputs: x, cu_q_lens, total_seq_lens, position_ids; outputs: cos, sin.
std::string rotary_embedding(const Call &c) {
  const mojo_tensor *x = c.input(0), *cu = c.input(1), *pos = c.input(3);
  RotaryTableArgs a{};
  a.rope_dim = c.i("rope_dim");
  a.inv_freq = static_cast<const float *>(c.impl);
  a.scaling = float(c.f("attention_scaling"));
  const mojo_attr *max_len = common::find_attr(c.attrs, c.n_attrs, "init_max_length");
  a.max_len = max_len && max_len->count ? max_len->i : -1;
  a.cu_q_lens = static_cast<const int32_t *>(c.ptr(cu));
  a.batch = cu ? cu->shape[0] - 1 : 0;
  a.total_seq_lens = static_cast<const int32_t *>(c.ptr(c.input(2)));
  a.position_ids = static_cast<const int32_t *>(c.ptr(pos));
  a.rows = cu ? x->shape[0] : pos ? common::numel(*pos) : x->shape[1];
  a.cos = static_cast<float *>(c.mut_ptr(c.output(0)));
  a.sin = static_cast<float *>(c.mut_ptr(c.output(1)));
  return cuda_message(launch_rotary_table(a, c.error_word, c.stream));
}

std::string describe_rotary_error(int32_t code) {
  switch (code) {
    case kRotaryCuStart: return "input 'cu_q_lens'[0] is not 0";
    case kRotaryCuDecreasing: return "input 'cu_q_lens' decreases, expected non-decreasing offsets";
    case kRotaryCuBeyondRows: return "input 'cu_q_lens'[B] exceeds the rows of 'x'";
    case kRotaryTotalBelowQ: return "input 'total_seq_lens' holds a length below its sequence's new tokens";
  }
  return "a position is negative or not below init_max_length";
}

HeadRopeTensor head_tensor(const Call &c, const mojo_tensor *src, const mojo_tensor *dst, const mojo_tensor *weight) {
  return {c.ptr(src), c.mut_ptr(dst), src->shape[1], c.ptr(weight), weight ? dt_of(weight) : Dt::F32};
}

// q and k at inputs q_in, q_in + 1; their weights at w_in, w_in + 1; cos and sin at cos_in, cos_in + 1;
// outputs q_out, k_out.
NormRopeArgs norm_rope_args(const Call &c, size_t q_in, size_t w_in, size_t cos_in) {
  const mojo_tensor *q = c.input(q_in), *cos = c.input(cos_in);
  NormRopeArgs a{};
  a.dtype = dt_of(q);
  a.table_dtype = dt_of(cos);
  a.tokens = q->shape[0];
  a.head_dim = q->shape[2];
  a.rope_dim = cos->shape[1];
  a.interleaved = c.b("interleaved");
  a.q = head_tensor(c, q, c.output(0), c.input(w_in));
  a.k = head_tensor(c, c.input(q_in + 1), c.output(1), c.input(w_in + 1));
  a.cos = c.ptr(cos);
  a.sin = c.ptr(c.input(cos_in + 1));
  return a;
}

// Inputs: q, k, q_weight, k_weight, cos, sin; outputs: q_out, k_out.
std::string norm_rope(const Call &c) {
  NormRopeArgs a = norm_rope_args(c, 0, 2, 4);
  a.norm = true;
  a.eps = float(c.f("eps"));
  cudaError_t e = launch_norm_rope(a, nullptr, c.stream);
  return e == cudaErrorNotSupported ? "head vectors are too long for the register path" : cuda_message(e);
}

// Inputs: q, k, v, q_weight, k_weight, cos, sin, key_cache, value_cache, block_table, cu_q_lens,
// context_kv_lens, chunk_metadata, num_chunks; outputs: q_out, k_out (optional).
std::string norm_rope_store_kv(const Call &c) {
  NormRopeArgs a = norm_rope_args(c, 0, 3, 5);
  a.norm = c.b("apply_norm");
  a.eps = a.norm ? float(c.f("eps")) : 0.0f;
  a.store = true;
  a.addr = store_addressing(c, 9, a.tokens, c.input(7));
  a.v = c.ptr(c.input(2));
  a.key_cache = c.mut_ptr(c.input(7));
  a.value_cache = c.mut_ptr(c.input(8));
  cudaError_t e = launch_norm_rope(a, c.error_word, c.stream);
  return e == cudaErrorNotSupported ? "head vectors are too long for the register path" : cuda_message(e);
}

std::string describe_store_kv_error(int32_t code) { return store_error_text(code); }

// Rows of at most 128 16-byte packets (Dh <= 1024 bf16 / 512 fp32) stay in one warp's registers.
std::string accept_head_dim(const mojo_op_sig &sig, int *code) {
  const mojo_tensor *q = sig.inputs[0];
  *code = MOJO_DECLINE_SHAPE;
  if (q->shape[2] * common::dtype_size(common::dtype_id(q->dtype)) > 2048)
    return "cuda norm_rope keeps a head row in one warp's registers: Dh * element size must be <= 2048 bytes";
  return "";
}

}  // namespace

std::vector<Entry> position_fused_entries() {
  const uint32_t any = (1u << MOJO_DT_COUNT) - 1;  // rotary_embedding's x only supplies shapes
  return {
      {{"rotary_embedding", any, kGraphSafe}, rotary_embedding, nullptr, prepare_rotary, release_rotary, nullptr,
       describe_rotary_error},
      {{"norm_rope", kFloatMask, kGraphSafe}, norm_rope, accept_head_dim},
      {{"norm_rope_store_kv", kFloatMask, kGraphSafe}, norm_rope_store_kv, accept_head_dim, nullptr, nullptr, nullptr,
       describe_store_kv_error},
  };
}

}  // namespace mojo::cuda
