// top_k_sampling and top_p_sampling: kernels/sampling.py. A validation launch checks explicit uniforms and
// row_top_p into the op's error word; the sampling launch writes nothing once it is set. P programs stride over
// the rows, each with a workspace slot of kTileCap keys (the tile it sorts); P is the slot count the workspace
// was sized for at create (the create-time rows, at most kMaxPrograms), so a run may have more rows than that.
#include <algorithm>
#include <climits>
#include <cmath>

#include "../ops.h"

namespace mojo::ttx {
namespace {

constexpr int64_t kTileCap = 4096;     // aot/specs.py SAMPLING_CAP
constexpr int64_t kMaxPrograms = 256;  // an SM holds one 16-warp program: more would only queue
constexpr size_t kSlotBytes = kTileCap * sizeof(uint64_t);
constexpr int64_t kMaxVocab = (int64_t(1) << 23) - 1;  // V weights of at most 2^40 sum below 2^63 (int64 sums)

enum { kValidate = 0, kSample = 1 };

// Schema order: logits, [row_top_p], uniform, seed_offset -> next_probs, next_tokens.
std::string run_sampling(const Call &c, bool top_p) {
  const mojo_tensor *logits = c.input(0);
  size_t next = 1;
  const mojo_tensor *row_top_p = top_p ? c.input(next++) : nullptr;
  const mojo_tensor *uniform = c.input(next++), *seed_offset = c.input(next++);
  const mojo_tensor *tokens = c.output(1);
  const int64_t vocab = last_dim(logits), rows = vocab ? common::numel(*logits) / vocab : 0;
  if (rows == 0) return "";
  const int64_t programs = std::min<int64_t>(rows, int64_t(c.workspace_bytes / kSlotBytes));
  if (programs == 0) return "no workspace (mojo_op_workspace_size) was passed to the run";
  const int64_t min_keep = std::max<int64_t>(c.i("min_tokens_to_keep"), 0);
  const int64_t n_cand = top_p ? std::min(c.i("rand_top_k"), vocab)
                               : std::min(std::max(std::min(c.i("top_k"), vocab), min_keep), vocab);
  const float filter_value = float(c.f("filter_value"));
  const void *err = reinterpret_cast<const void *>(c.error_word);
  const void *any = data_of(logits);  // stands in for absent tensors; the kernels never read it then
  auto or_any = [&](const mojo_tensor *t) { return t ? data_of(t) : any; };
  if (uniform || row_top_p) {
    ArgPack v;
    v.ptr(or_any(uniform));
    v.ptr(or_any(row_top_p));
    v.ptr(err);
    v.i32(int32_t(rows));
    v.i32(uniform ? 1 : 0);
    v.i32(row_top_p ? 1 : 0);
    if (std::string e = launch_grid(*c.driver, c.variants[kValidate], 1, 1, v, c.stream); !e.empty()) return e;
  }
  ArgPack a;
  a.ptr(data_of(logits));
  a.ptr(or_any(uniform));
  a.ptr(or_any(seed_offset));
  a.ptr(or_any(row_top_p));
  a.ptr(data_of(c.output(0)));
  a.ptr(data_of(tokens));  // as int64 and as int32: the kernel stores through the one index_dtype names
  a.ptr(data_of(tokens));
  a.ptr(c.workspace);
  a.ptr(err);
  a.i32(int32_t(rows));
  a.i32(int32_t(vocab));
  a.i32(int32_t(n_cand));
  a.i32(int32_t(std::min(min_keep, n_cand)));
  a.f32(top_p ? float(c.f("top_p")) : 1.0f);
  a.f32(filter_value);
  a.i32(top_p ? 1 : 0);
  a.i32(std::isinf(filter_value) && filter_value < 0 ? 0 : 1);
  a.i32(uniform ? 1 : 0);
  a.i32(row_top_p ? 1 : 0);
  a.i32(common::dtype_id(tokens->dtype) == MOJO_DT_INT64 ? 1 : 0);
  return launch_grid(*c.driver, c.variants[kSample], programs, 1, a, c.stream);
}

std::string top_k_sampling(const Call &c) { return run_sampling(c, false); }
std::string top_p_sampling(const Call &c) { return run_sampling(c, true); }

std::vector<VariantRef> sampling_variants(const char *dtype) {
  return {{"sampling_validate_kernel", "one"}, {"sampling_kernel", std::string("dtype=") + dtype}};
}

// One slot per create-time row, at most kMaxPrograms (runs with more rows stride over them).
size_t sampling_workspace(const mojo_op_sig &sig) {
  const mojo_tensor *logits = sig.inputs[0];
  const int64_t vocab = last_dim(logits), rows = vocab ? common::numel(*logits) / vocab : 0;
  return size_t(std::clamp<int64_t>(rows, 1, kMaxPrograms)) * kSlotBytes;
}

std::string accept_sampling(const mojo_op_sig &sig, int *code) {
  *code = MOJO_DECLINE_SHAPE;
  if (std::string why = row_kernel_limits(sig.inputs[0]); !why.empty()) return why;
  if (last_dim(sig.inputs[0]) > kMaxVocab)
    return std::string("ttx ") + sig.op + " takes vocabularies below 2^23 (int64 sums of 2^40-scaled weights)";
  return "";
}

std::string describe_sampling_error(int32_t code) {
  switch (code) {
    case 1: return "input 'uniform' holds a value outside [0, 1)";
    case 2: return "input 'row_top_p' holds a value outside (0, 1]";
    default: return "sampling input error code " + std::to_string(code);
  }
}

}  // namespace

std::vector<OpDef> sampling_ops() {
  const uint32_t flags = MOJO_KERNEL_GRAPH_SAFE;
  return {
      {{"top_k_sampling", kFloatMask, flags}, sampling_variants, top_k_sampling, accept_sampling,
       describe_sampling_error, sampling_workspace},
      {{"top_p_sampling", kFloatMask, flags}, sampling_variants, top_p_sampling, accept_sampling,
       describe_sampling_error, sampling_workspace},
  };
}

}  // namespace mojo::ttx
