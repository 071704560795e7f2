// Launchers of the sampling kernels (kernels/sampling.cu): top-k / top-p sampling, top_p_filter, speculative
// acceptance and the penalty/temperature transform. Raw pointers, sizes, a stream; no allocation.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "launch.h"

namespace mojo::cuda {

// Deferred error codes (ops/sampling.cpp describes them).
enum SamplingError : int32_t {
  kBadUniform = 1,
  kBadTopP = 2,
  kBadDraftToken = 3,
  kBadRepetition = 4,
  kBadTemperature = 5,
};

enum class SampleMode { TopK, TopP, Filter };

// top_p_filter writes K' sorted candidates and needs them in shared memory: K' <= this.
constexpr int64_t kSamplingSortCap = 4096;

struct SamplingArgs {
  SampleMode mode;
  Dt dtype;
  int64_t rows, vocab;
  const void *logits;
  int64_t candidates;          // K' (spec: top_k after min_tokens_to_keep, or min(rand_top_k, V))
  float top_p;                 // the attribute; row_top_p overrides it per row
  const float *row_top_p;      // nullptr: none
  int64_t min_keep;
  float filter_value;          // -inf: removed candidates weigh 0
  const float *uniform;        // [rows] or nullptr (then seed_offset)
  const int64_t *seed_offset;  // device int64 [2] = {seed, offset}
  void *probs;                 // fp32 [rows] (sampling) or logits dtype [rows, K'] (filter)
  void *tokens;                // [rows] (sampling) or [rows, K'] (filter)
  bool tokens_int64;
  int32_t *error_word;
};
cudaError_t launch_sampling(const SamplingArgs &a, cudaStream_t stream);

struct RejectArgs {
  int64_t batch, steps, vocab;
  const float *target;       // [B, S+1, V]
  const void *drafts;        // [B, S]
  bool index_int64;          // drafts and next_tokens
  const float *draft_probs;  // [B, S]
  const float *uniform;      // [B, u_cols] or nullptr
  int64_t u_cols;            // S or 1
  const int64_t *seed_offset;
  void *next_tokens;         // [B, S+1]
  int32_t *accepted_len;     // [B]
  int32_t *error_word;
};
cudaError_t launch_reject_sampling(const RejectArgs &a, cudaStream_t stream);

struct PenaltyArgs {
  Dt dtype;
  int64_t rows, vocab;
  const void *logits;
  const int32_t *freqs;       // [B, V] or nullptr
  const uint8_t *present;     // bool [B] or nullptr
  const float *presence, *frequency, *repetition, *temperature;  // [B] each, nullptr = no effect
  void *out;
  int32_t *error_word;
};
cudaError_t launch_penalties(const PenaltyArgs &a, cudaStream_t stream);

}  // namespace mojo::cuda
