// Sampling family: top_k_sampling, top_p_sampling, top_p_filter, reject_sampling and
// apply_penalties_temperature through the launchers of kernels/sampling.h. Uniforms, row_top_p, draft ids and
// per-row penalties live on the device and are checked there (deferred errors) before anything is written.
#include <algorithm>

#include "kernels/sampling.h"
#include "op_entry.h"

namespace mojo::cuda {
namespace {

bool is_int64(const mojo_tensor *t) { return common::dtype_id(t->dtype) == MOJO_DT_INT64; }

// Schema order: logits, [row_top_p], uniform, seed_offset -> (next_probs, next_tokens) or (probs, indices).
std::string run_sampling(const Call &c, SampleMode mode) {
  SamplingArgs a{};
  const mojo_tensor *logits = c.input(0);
  a.mode = mode;
  a.dtype = dt_of(logits);
  a.rows = rows_of(logits);
  a.vocab = cols_of(logits);
  a.logits = c.ptr(logits);
  size_t next = 1;
  if (mode == SampleMode::TopK) {
    a.candidates = std::min(std::max(std::min(c.i("top_k"), a.vocab), c.i("min_tokens_to_keep")), a.vocab);
  } else {
    a.candidates = std::min(c.i("rand_top_k"), a.vocab);
    a.top_p = float(c.f("top_p"));
    a.row_top_p = static_cast<const float *>(c.ptr(c.input(next++)));
    a.filter_value = float(c.f("filter_value"));
  }
  a.min_keep = c.i("min_tokens_to_keep");
  if (mode != SampleMode::Filter) {
    a.uniform = static_cast<const float *>(c.ptr(c.input(next++)));
    a.seed_offset = static_cast<const int64_t *>(c.ptr(c.input(next++)));
  }
  a.probs = c.mut_ptr(c.output(0));
  a.tokens = c.mut_ptr(c.output(1));
  a.tokens_int64 = is_int64(c.output(1));
  a.error_word = c.error_word;
  return cuda_message(launch_sampling(a, c.stream));
}

std::string top_k_sampling(const Call &c) { return run_sampling(c, SampleMode::TopK); }
std::string top_p_sampling(const Call &c) { return run_sampling(c, SampleMode::TopP); }
std::string top_p_filter(const Call &c) { return run_sampling(c, SampleMode::Filter); }

// top_p_filter writes its K' candidates sorted, from shared memory.
std::string accept_filter(const mojo_op_sig &sig, int *code) {
  const mojo_tensor *logits = sig.inputs[0];
  const mojo_attr *k = sig_attr(sig, "rand_top_k");
  const int64_t kc = std::min<int64_t>(k && k->count ? k->i : 0, logits->shape[logits->ndim - 1]);
  *code = MOJO_DECLINE_SHAPE;
  if (kc > kSamplingSortCap)
    return "cuda top_p_filter sorts at most " + std::to_string(kSamplingSortCap) + " candidates (min(rand_top_k, V) = " +
           std::to_string(kc) + ")";
  return "";
}

std::string describe_sampling_error(int32_t code) {
  switch (code) {
    case kBadUniform: return "input 'uniform' holds a value outside [0, 1)";
    case kBadTopP: return "input 'row_top_p' holds a value outside (0, 1]";
    case kBadDraftToken: return "input 'draft_tokens' holds an id outside [0, V)";
    case kBadRepetition: return "input 'repetition_penalties' holds a value that is not finite and > 0";
    case kBadTemperature: return "input 'temperatures' holds a value that is not finite and > 0";
  }
  return "unknown sampling error " + std::to_string(code);
}

std::string reject_sampling(const Call &c) {
  RejectArgs a{};
  const mojo_tensor *target = c.input(0), *drafts = c.input(1), *uniform = c.input(3);
  a.batch = target->shape[0];
  a.steps = target->shape[1] - 1;
  a.vocab = target->shape[2];
  a.target = static_cast<const float *>(c.ptr(target));
  a.drafts = c.ptr(drafts);
  a.index_int64 = is_int64(drafts);
  a.draft_probs = static_cast<const float *>(c.ptr(c.input(2)));
  a.uniform = static_cast<const float *>(c.ptr(uniform));
  a.u_cols = uniform ? cols_of(uniform) : a.steps;
  a.seed_offset = static_cast<const int64_t *>(c.ptr(c.input(4)));
  a.next_tokens = c.mut_ptr(c.output(0));
  a.accepted_len = static_cast<int32_t *>(c.mut_ptr(c.output(1)));
  a.error_word = c.error_word;
  return cuda_message(launch_reject_sampling(a, c.stream));
}

std::string apply_penalties_temperature(const Call &c) {
  PenaltyArgs a{};
  const mojo_tensor *logits = c.input(0);
  a.dtype = dt_of(logits);
  a.rows = rows_of(logits);
  a.vocab = cols_of(logits);
  a.logits = c.ptr(logits);
  a.freqs = static_cast<const int32_t *>(c.ptr(c.input(1)));
  a.present = static_cast<const uint8_t *>(c.ptr(c.input(2)));
  a.presence = static_cast<const float *>(c.ptr(c.input(3)));
  a.frequency = static_cast<const float *>(c.ptr(c.input(4)));
  a.repetition = static_cast<const float *>(c.ptr(c.input(5)));
  a.temperature = static_cast<const float *>(c.ptr(c.input(6)));
  a.out = c.mut_ptr(c.output(0));
  a.error_word = c.error_word;
  return cuda_message(launch_penalties(a, c.stream));
}

}  // namespace

std::vector<Entry> sampling_entries() {
  const uint32_t fp32 = 1u << MOJO_DT_FP32;
  return {
      {{"top_k_sampling", kFloatMask, kGraphSafe}, top_k_sampling, nullptr, nullptr, nullptr, nullptr,
       describe_sampling_error},
      {{"top_p_sampling", kFloatMask, kGraphSafe}, top_p_sampling, nullptr, nullptr, nullptr, nullptr,
       describe_sampling_error},
      {{"top_p_filter", kFloatMask, kGraphSafe}, top_p_filter, accept_filter, nullptr, nullptr, nullptr,
       describe_sampling_error},
      {{"reject_sampling", fp32, kGraphSafe}, reject_sampling, nullptr, nullptr, nullptr, nullptr,
       describe_sampling_error},
      {{"apply_penalties_temperature", kFloatMask, kGraphSafe}, apply_penalties_temperature, nullptr, nullptr,
       nullptr, nullptr, describe_sampling_error},
  };
}

}  // namespace mojo::cuda
