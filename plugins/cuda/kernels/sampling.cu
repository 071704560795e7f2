// Sorting-free sampling (docs/decisions/cuda_sampling.md). One block per row. Candidates are ranked by a 64-bit
// key (order-preserving value bits, then the inverted vocabulary id: ties toward the lower id, AMB-TIE) and found
// by radix descent: a histogram pass over the row picks the 11-bit bin holding the K'-th key; when everything
// from that bin up fits in shared memory (the usual case: one histogram pass + one gather pass) the few
// candidates are gathered and bitonic-sorted there, otherwise each decision is a weighted radix select over the
// row (three digit passes, then one ordered pass inside the tied value). Every mass is an integer weight
// (mojo_common/sampling_math.h), so block scans in any order reproduce the cpu reference's tokens exactly.
#include <math.h>

#include <algorithm>
#include <type_traits>

#include "common.cuh"
#include "device_caps.h"
#include "device_error.cuh"
#include "mojo_common/philox.h"
#include "mojo_common/sampling_math.h"
#include "sampling.h"

namespace mojo::cuda {
namespace {

// Weight 1 per element: selecting by rank. Its histograms use 32-bit counters.
struct CountWeight {
  __device__ uint64_t operator()(uint64_t, float) const { return 1; }
};

using common::scale_floor;
using common::softmax_weight;
using common::weight_probability;

constexpr int kThreads = 512;
constexpr int kCap = int(kSamplingSortCap);
constexpr int kBins = 2048;  // first and second digit: 11 bits; the third: 10 bits

struct Shared {
  uint64_t keys[kCap];
  union {
    uint64_t hist[kBins];       // mass histograms
    unsigned int counts[kBins];  // count histograms (native 32-bit shared atomics; 64-bit adds are CAS loops)
  };
  uint64_t scan[32];
  uint64_t found_key;
  int64_t found_idx;
  int bin;
  uint64_t bin_excl;
  unsigned int count;
  unsigned int max_key;
};

// Order-preserving map of a float to uint32 (larger value = larger key; -0 counts as +0).
__device__ __forceinline__ uint32_t value_key(float v) {
  const uint32_t u = __float_as_uint(v + 0.0f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float key_value(uint64_t key) {
  const uint32_t k = uint32_t(key >> 32);
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}
__device__ __forceinline__ uint64_t make_key(uint32_t vk, int64_t id) { return (uint64_t(vk) << 32) | uint32_t(~uint32_t(id)); }
__device__ __forceinline__ int64_t key_id(uint64_t key) { return int64_t(uint32_t(~uint32_t(key))); }

// Exclusive block scan of one uint64 per thread; *total receives the block sum (every thread).
__device__ uint64_t block_exclusive_scan(uint64_t v, uint64_t *scratch, uint64_t *total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  uint64_t incl = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const uint64_t t = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += t;
  }
  __syncthreads();  // scratch may still be read by the previous scan
  if (lane == 31) scratch[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    uint64_t s = lane < warps ? scratch[lane] : 0;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const uint64_t t = __shfl_up_sync(0xffffffffu, s, o);
      if (lane >= o) s += t;
    }
    if (lane < warps) scratch[lane] = s;
  }
  __syncthreads();
  *total = scratch[warps - 1];
  return (warp ? scratch[warp - 1] : 0) + incl - v;
}

// Every element of a row once (order unspecified), 16-byte packets when the row is aligned.
template <typename T, typename F>
__device__ __forceinline__ void for_each_element(const T *row, int64_t n, F &&f) {
  constexpr int VEC = 16 / sizeof(T);
  int64_t start = 0;
  if ((reinterpret_cast<uintptr_t>(row) & 15) == 0) {
    const int64_t nv = n / VEC;
    int64_t i = threadIdx.x;
    constexpr int kInFlight = sizeof(T) == 4 ? 4 : 2;  // packets per thread per iteration (registers allow)
    for (; i + (kInFlight - 1) * int64_t(blockDim.x) < nv; i += kInFlight * int64_t(blockDim.x)) {
      float x[kInFlight][VEC];
#pragma unroll
      for (int p = 0; p < kInFlight; ++p) load_floats<T, VEC>(row + (i + p * int64_t(blockDim.x)) * VEC, x[p]);
#pragma unroll
      for (int p = 0; p < kInFlight; ++p)
#pragma unroll
        for (int k = 0; k < VEC; ++k) f((i + p * int64_t(blockDim.x)) * VEC + k, x[p][k]);
    }
    for (; i < nv; i += blockDim.x) {
      float x[VEC];
      load_floats<T, VEC>(row + i * VEC, x);
#pragma unroll
      for (int k = 0; k < VEC; ++k) f(i * VEC + k, x[k]);
    }
    start = nv * VEC;
  }
  for (int64_t i = start + threadIdx.x; i < n; i += blockDim.x) f(i, to_float(row[i]));
}

// The bin (descending order) where base + running mass first exceeds x: S.bin (-1 if none) and S.bin_excl
// (mass of the higher bins of this histogram).
template <bool kCount>
__device__ __forceinline__ uint64_t hist_at(const Shared &S, int b) {
  return kCount ? uint64_t(S.counts[b]) : S.hist[b];
}

template <bool kCount>
__device__ void find_bin(Shared &S, int bins, uint64_t base, uint64_t x) {
  const int per = bins / kThreads;  // 4 or 2
  uint64_t h[kBins / kThreads], local = 0;
  for (int q = 0; q < per; ++q) {
    h[q] = hist_at<kCount>(S, bins - 1 - (int(threadIdx.x) * per + q));
    local += h[q];
  }
  if (threadIdx.x == 0) S.bin = -1;
  uint64_t total;
  uint64_t c = base + block_exclusive_scan(local, S.scan, &total);
  for (int q = 0; q < per; ++q) {
    if (h[q] != 0 && c <= x && c + h[q] > x) {
      S.bin = bins - 1 - (int(threadIdx.x) * per + q);
      S.bin_excl = c - base;
    }
    c += h[q];
  }
  __syncthreads();
}

// Among the elements with key >= lo, the first in descending key order whose inclusive running weight exceeds
// x; 0 when the total weight is <= x. weight(key, value) -> uint64. With fit > 0 (count weights, lo = 0) the
// descent stops as soon as the elements from the crossing's bin up number at most fit, and returns the lowest
// key of that bin instead: gathering every key >= it yields a superset of the first x + 1 elements.
template <typename T, typename W>
__device__ uint64_t select_crossing(Shared &S, const T *row, int64_t n, uint64_t lo, W weight, uint64_t x,
                                    uint64_t fit = 0) {
  constexpr int kShift[3] = {21, 10, 0}, kDigit[3] = {11, 11, 10};
  constexpr bool kCount = std::is_same<W, CountWeight>::value;
  uint64_t base = 0;
  uint32_t prefix = 0;
  for (int pass = 0; pass < 3; ++pass) {
    const int shift = kShift[pass], bins = 1 << kDigit[pass];
    for (int i = threadIdx.x; i < bins; i += blockDim.x) S.hist[i] = 0;
    __syncthreads();
    for_each_element(row, n, [&](int64_t i, float v) {
      const uint32_t vk = value_key(v);
      if (pass > 0 && (vk >> (shift + kDigit[pass])) != prefix) return;
      const uint64_t key = make_key(vk, i);
      if (key < lo) return;
      const int b = int((vk >> shift) & uint32_t(bins - 1));
      if constexpr (kCount) {
        atomicAdd(&S.counts[b], 1u);
      } else {
        const uint64_t w = weight(key, v);
        if (w) atomicAdd(reinterpret_cast<unsigned long long *>(&S.hist[b]), static_cast<unsigned long long>(w));
      }
    });
    __syncthreads();
    find_bin<kCount>(S, bins, base, x);
    if (S.bin < 0) return 0;
    base += S.bin_excl;
    prefix = (prefix << kDigit[pass]) | uint32_t(S.bin);
    const bool fits = base + hist_at<kCount>(S, S.bin) <= fit;
    __syncthreads();  // S.hist is cleared by the next pass
    if (fits) return uint64_t(prefix) << (shift + 32);
  }
  // The crossing lies among the elements whose value key is `prefix`: walk them in id (= key) order.
  if (threadIdx.x == 0) S.found_key = 0;
  for (int64_t c0 = 0; c0 < n; c0 += 4 * kThreads) {
    uint64_t w[4], key[4], local = 0;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int64_t i = c0 + 4 * int64_t(threadIdx.x) + q;
      w[q] = 0;
      key[q] = 0;
      if (i < n) {
        const float v = to_float(row[i]);
        const uint32_t vk = value_key(v);
        key[q] = make_key(vk, i);
        if (vk == prefix && key[q] >= lo) w[q] = weight(key[q], v);
      }
      local += w[q];
    }
    if (!__syncthreads_or(local != 0)) continue;
    uint64_t total;
    uint64_t c = base + block_exclusive_scan(local, S.scan, &total);
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      if (w[q] != 0 && c <= x && c + w[q] > x) S.found_key = key[q];
      c += w[q];
    }
    base += total;
    if (base > x) break;  // uniform: every thread saw the same total
  }
  __syncthreads();
  return S.found_key;
}

// Sum over the row of weight(key, value) for keys >= lo.
template <typename T, typename W>
__device__ uint64_t row_total(Shared &S, const T *row, int64_t n, uint64_t lo, W weight) {
  uint64_t local = 0;
  for_each_element(row, n, [&](int64_t i, float v) {
    const uint64_t key = make_key(value_key(v), i);
    if (key >= lo) local += weight(key, v);
  });
  uint64_t total;
  block_exclusive_scan(local, S.scan, &total);
  return total;
}

// Over the sorted candidates S.keys[0, count): thread t owns the slice [t*per, (t+1)*per).
template <typename W>
__device__ uint64_t sorted_total(Shared &S, int count, W weight) {
  const int per = (count + kThreads - 1) / kThreads, begin = int(threadIdx.x) * per;
  uint64_t local = 0;
  for (int j = begin; j < begin + per && j < count; ++j) local += weight(j);
  uint64_t total;
  block_exclusive_scan(local, S.scan, &total);
  return total;
}

// First j < count whose inclusive running weight exceeds x (count when none).
template <typename W>
__device__ int sorted_crossing(Shared &S, int count, W weight, uint64_t x) {
  const int per = (count + kThreads - 1) / kThreads, begin = int(threadIdx.x) * per;
  uint64_t local = 0;
  for (int j = begin; j < begin + per && j < count; ++j) local += weight(j);
  if (threadIdx.x == 0) S.found_idx = count;
  uint64_t total;
  uint64_t c = block_exclusive_scan(local, S.scan, &total);
  for (int j = begin; j < begin + per && j < count; ++j) {
    const uint64_t w = weight(j);
    if (w != 0 && c <= x && c + w > x) S.found_idx = j;
    c += w;
  }
  __syncthreads();
  return int(S.found_idx);
}

// Gathers every key >= lo into S.keys (the caller guarantees at most kCap) and sorts them descending.
template <typename T>
__device__ int gather_sorted(Shared &S, const T *row, int64_t n, uint64_t lo) {
  if (threadIdx.x == 0) S.count = 0;
  __syncthreads();
  for_each_element(row, n, [&](int64_t i, float v) {
    const uint64_t key = make_key(value_key(v), i);
    if (key >= lo) S.keys[atomicAdd(&S.count, 1u)] = key;
  });
  __syncthreads();
  const int count = int(S.count);
  int size = 2;
  while (size < count) size <<= 1;
  for (int i = count + threadIdx.x; i < size; i += blockDim.x) S.keys[i] = 0;  // padding sorts last
  __syncthreads();
  for (int k = 2; k <= size; k <<= 1)
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = threadIdx.x; i < size; i += blockDim.x) {
        const int p = i ^ j;
        if (p > i) {
          const uint64_t a = S.keys[i], b = S.keys[p];
          if ((i & k) == 0 ? a < b : a > b) {
            S.keys[i] = b;
            S.keys[p] = a;
          }
        }
      }
      __syncthreads();
    }
  return count;
}

__device__ __forceinline__ void store_index(void *base, bool int64, int64_t at, int64_t id) {
  if (int64)
    static_cast<int64_t *>(base)[at] = id;
  else
    static_cast<int32_t *>(base)[at] = int32_t(id);
}

// The final distribution of top-p: kept weights under max m2, removed ones wfv (0 when filter_value = -inf).
struct NucleusWeights {
  float m2;
  uint64_t wfv;
};
__device__ __forceinline__ NucleusWeights nucleus_weights(float m, float fv, bool removes_some) {
  const bool removes_all = isinf(fv) && fv < 0.0f;
  NucleusWeights n{m, 0};
  if (removes_some && !removes_all) {
    n.m2 = fmaxf(m, fv);
    n.wfv = softmax_weight(fv, n.m2);
  }
  return n;
}

template <typename T, SampleMode MODE>
__global__ void __launch_bounds__(kThreads, 2) sampling_kernel(SamplingArgs a) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  Shared &S = *reinterpret_cast<Shared *>(smem_raw);
  if (error_raised(a.error_word)) return;
  const int64_t r = blockIdx.x, n = a.vocab, kc = a.candidates;
  const T *row = static_cast<const T *>(a.logits) + r * n;
  float u = 0.0f;
  if constexpr (MODE != SampleMode::Filter)
    u = a.uniform ? a.uniform[r]
                  : common::philox_uniform(uint64_t(a.seed_offset[0]), uint64_t(a.seed_offset[1]), uint64_t(r));
  const float top_p = a.row_top_p ? a.row_top_p[r] : a.top_p;
  const CountWeight count_weight;

  if (kc <= kCap) {
    // Radix descent until the candidates from the K'-th one's bin up fit in shared memory (usually one
    // histogram pass), then one gather pass and a bitonic sort of those few keys.
    const uint64_t lo = select_crossing(S, row, n, 0, count_weight, uint64_t(kc - 1), uint64_t(kCap));
    gather_sorted(S, row, n, lo);
    const int k = int(kc);
    const float m = key_value(S.keys[0]);
    const auto w = [&](int j) { return softmax_weight(key_value(S.keys[j]), m); };
    const uint64_t z = sorted_total(S, k, w);
    if constexpr (MODE == SampleMode::TopK) {
      const int c = sorted_crossing(S, k, w, scale_floor(u, z));
      if (threadIdx.x == 0) {
        static_cast<float *>(a.probs)[r] = weight_probability(w(c), z);
        store_index(a.tokens, a.tokens_int64, r, key_id(S.keys[c]));
      }
      return;
    } else {
      const int cross = sorted_crossing(S, k, w, scale_floor(top_p, z));
      int kept = cross < k ? cross + 1 : k;
      kept = max(kept, int(min(a.min_keep, kc)));
      const NucleusWeights nw = nucleus_weights(m, a.filter_value, kept < k);
      const auto w2 = [&](int j) { return j < kept ? softmax_weight(key_value(S.keys[j]), nw.m2) : nw.wfv; };
      const uint64_t z2 = sorted_total(S, k, w2);
      if constexpr (MODE == SampleMode::Filter) {
        T *probs = static_cast<T *>(a.probs) + r * kc;
        for (int j = threadIdx.x; j < k; j += blockDim.x) {
          probs[j] = from_float<T>(weight_probability(w2(j), z2));
          store_index(a.tokens, a.tokens_int64, r * kc + j, key_id(S.keys[j]));
        }
      } else {
        const int c = sorted_crossing(S, k, w2, scale_floor(u, z2));
        if (threadIdx.x == 0) {
          static_cast<float *>(a.probs)[r] = weight_probability(w2(c), z2);
          store_index(a.tokens, a.tokens_int64, r, key_id(S.keys[c]));
        }
      }
      return;
    }
  }

  if constexpr (MODE != SampleMode::Filter) {
    // More candidates than shared memory holds: every decision is a weighted radix select over the row.
    unsigned int local_max = 0;
    for_each_element(row, n, [&](int64_t, float v) { local_max = max(local_max, value_key(v)); });
    local_max = __reduce_max_sync(0xffffffffu, local_max);
    if (threadIdx.x == 0) S.max_key = 0;
    __syncthreads();
    if ((threadIdx.x & 31) == 0) atomicMax(&S.max_key, local_max);
    __syncthreads();
    const float m = key_value(uint64_t(S.max_key) << 32);
    const uint64_t lo = kc < n ? select_crossing(S, row, n, 0, count_weight, uint64_t(kc - 1)) : 0;
    const auto w = [m](uint64_t, float v) { return softmax_weight(v, m); };
    const uint64_t z = row_total(S, row, n, lo, w);
    uint64_t chosen;
    float p;
    if constexpr (MODE == SampleMode::TopK) {
      chosen = select_crossing(S, row, n, lo, w, scale_floor(u, z));
      p = weight_probability(softmax_weight(key_value(chosen), m), z);
    } else {
      uint64_t cut = select_crossing(S, row, n, lo, w, scale_floor(top_p, z));
      if (cut == 0) cut = lo;  // the mass never exceeds top_p: every candidate stays
      const int64_t keep = min(a.min_keep, kc);
      if (keep > 1) cut = min(cut, select_crossing(S, row, n, lo, count_weight, uint64_t(keep - 1)));
      const NucleusWeights nw = nucleus_weights(m, a.filter_value, cut > lo);
      const auto w2 = [cut, nw](uint64_t key, float v) { return key >= cut ? softmax_weight(v, nw.m2) : nw.wfv; };
      const uint64_t z2 = row_total(S, row, n, lo, w2);
      chosen = select_crossing(S, row, n, lo, w2, scale_floor(u, z2));
      p = weight_probability(w2(chosen, key_value(chosen)), z2);
    }
    if (threadIdx.x == 0) {
      static_cast<float *>(a.probs)[r] = p;
      store_index(a.tokens, a.tokens_int64, r, key_id(chosen));
    }
  }
}

// Explicit uniforms in [0, 1) and row_top_p in (0, 1], checked before any row is sampled.
__global__ void check_sampling_inputs(const float *uniform, const float *row_top_p, int64_t rows, int32_t *error_word) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x) {
    if (uniform && !(uniform[r] >= 0.0f && uniform[r] < 1.0f)) raise_error(error_word, kBadUniform);
    if (row_top_p && !(row_top_p[r] > 0.0f && row_top_p[r] <= 1.0f)) raise_error(error_word, kBadTopP);
  }
}

template <typename T, SampleMode MODE>
cudaError_t launch_mode(const SamplingArgs &a, cudaStream_t stream) {
  const auto kernel = sampling_kernel<T, MODE>;
  if (cudaError_t e = allow_dynamic_smem(kernel, sizeof(Shared)); e != cudaSuccess) return e;
  kernel<<<unsigned(a.rows), kThreads, sizeof(Shared), stream>>>(a);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_dtype(const SamplingArgs &a, cudaStream_t stream) {
  switch (a.mode) {
    case SampleMode::TopK: return launch_mode<T, SampleMode::TopK>(a, stream);
    case SampleMode::TopP: return launch_mode<T, SampleMode::TopP>(a, stream);
    case SampleMode::Filter: return launch_mode<T, SampleMode::Filter>(a, stream);
  }
  return cudaErrorInvalidValue;
}

// ---- reject_sampling ----

template <typename I>
__global__ void check_reject_inputs(RejectArgs a) {
  const I *drafts = static_cast<const I *>(a.drafts);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x, start = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t i = start; i < a.batch * a.steps; i += stride)
    if (drafts[i] < 0 || int64_t(drafts[i]) >= a.vocab) raise_error(a.error_word, kBadDraftToken);
  if (a.uniform)
    for (int64_t i = start; i < a.batch * a.u_cols; i += stride)
      if (!(a.uniform[i] >= 0.0f && a.uniform[i] < 1.0f)) raise_error(a.error_word, kBadUniform);
}

template <typename I>
__global__ void reject_kernel(RejectArgs a) {
  const int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= a.batch || error_raised(a.error_word)) return;
  const I *drafts = static_cast<const I *>(a.drafts) + b * a.steps;
  I *next = static_cast<I *>(a.next_tokens) + b * (a.steps + 1);
  int64_t accepted = a.steps;
  for (int64_t i = 0; i < a.steps; ++i) {
    const float t = a.target[(b * (a.steps + 1) + i) * a.vocab + int64_t(drafts[i])];
    const float d = a.draft_probs[b * a.steps + i];
    const float u = a.uniform ? a.uniform[b * a.u_cols + (a.u_cols == 1 ? 0 : i)]
                              : common::philox_uniform(uint64_t(a.seed_offset[0]), uint64_t(a.seed_offset[1]),
                                                       uint64_t(b * a.steps + i));
    if (!(d > 0.0f && t / d >= u)) {
      accepted = i;
      break;
    }
  }
  for (int64_t i = 0; i <= a.steps; ++i) next[i] = i < accepted ? drafts[i] : I(0);
  a.accepted_len[b] = int32_t(accepted);
}

template <typename I>
cudaError_t launch_reject(const RejectArgs &a, cudaStream_t stream) {
  check_reject_inputs<I><<<unsigned(std::min<int64_t>((a.batch * a.steps + 255) / 256 + 1, 1024)), 256, 0, stream>>>(a);
  reject_kernel<I><<<unsigned((a.batch + 127) / 128), 128, 0, stream>>>(a);
  return cudaGetLastError();
}

// ---- apply_penalties_temperature ----

__global__ void check_penalty_inputs(PenaltyArgs a) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < a.rows; r += int64_t(gridDim.x) * blockDim.x) {
    if (a.repetition && !(isfinite(a.repetition[r]) && a.repetition[r] > 0.0f))
      raise_error(a.error_word, kBadRepetition);
    if (a.temperature && !(isfinite(a.temperature[r]) && a.temperature[r] > 0.0f))
      raise_error(a.error_word, kBadTemperature);
  }
}

// The cpu reference's operation sequence with every product rounded on its own (no contraction).
template <typename T>
__global__ void penalty_kernel(PenaltyArgs a) {
  if (error_raised(a.error_word)) return;
  const int64_t r = blockIdx.y;
  const bool penalised = a.freqs && (!a.present || a.present[r] != 0);
  const float fp = a.frequency ? a.frequency[r] : 0.0f, pp = a.presence ? a.presence[r] : 0.0f;
  const float rho = a.repetition ? a.repetition[r] : 1.0f;
  const T *x = static_cast<const T *>(a.logits) + r * a.vocab;
  T *out = static_cast<T *>(a.out) + r * a.vocab;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < a.vocab; i += int64_t(gridDim.x) * blockDim.x) {
    float l = to_float(x[i]);
    if (penalised) {
      const float f = float(a.freqs[r * a.vocab + i]);
      if (fp != 0.0f) l = common::sub_rn(l, common::mul_rn(fp, f));
      if (pp != 0.0f) l = common::sub_rn(l, common::mul_rn(pp, f > 0.0f ? 1.0f : 0.0f));
      if (rho != 1.0f) {
        const float cond = common::mul_rn(l, f);
        if (cond < 0.0f)
          l = common::mul_rn(l, rho);
        else if (cond > 0.0f)
          l = l / rho;
      }
    }
    if (a.temperature) l = l / a.temperature[r];
    out[i] = from_float<T>(l);
  }
}

template <typename T>
cudaError_t launch_penalty_dtype(const PenaltyArgs &a, cudaStream_t stream) {
  check_penalty_inputs<<<unsigned(std::min<int64_t>((a.rows + 255) / 256, 1024)), 256, 0, stream>>>(a);
  const dim3 grid(unsigned(std::min<int64_t>((a.vocab + 255) / 256, 64)), unsigned(a.rows));
  penalty_kernel<T><<<grid, 256, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_sampling(const SamplingArgs &a, cudaStream_t stream) {
  if (a.rows == 0) return cudaSuccess;
  if (a.uniform || a.row_top_p)
    check_sampling_inputs<<<unsigned(std::min<int64_t>((a.rows + 255) / 256, 1024)), 256, 0, stream>>>(
        a.uniform, a.row_top_p, a.rows, a.error_word);
  switch (a.dtype) {
    case Dt::F32: return launch_dtype<float>(a, stream);
    case Dt::F16: return launch_dtype<__half>(a, stream);
    case Dt::BF16: return launch_dtype<__nv_bfloat16>(a, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_reject_sampling(const RejectArgs &a, cudaStream_t stream) {
  if (a.batch == 0) return cudaSuccess;
  return a.index_int64 ? launch_reject<int64_t>(a, stream) : launch_reject<int32_t>(a, stream);
}

cudaError_t launch_penalties(const PenaltyArgs &a, cudaStream_t stream) {
  if (a.rows == 0) return cudaSuccess;
  switch (a.dtype) {
    case Dt::F32: return launch_penalty_dtype<float>(a, stream);
    case Dt::F16: return launch_penalty_dtype<__half>(a, stream);
    case Dt::BF16: return launch_penalty_dtype<__nv_bfloat16>(a, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace mojo::cuda
