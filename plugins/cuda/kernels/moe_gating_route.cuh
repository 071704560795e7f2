// Routing pieces shared by the MoE routers (kernels/moe_gating.cu, kernels/moe_gating_cluster.cu): order keys of
// logits, the unique routing keys of the tensor-core paths, and the warp routers that rank one token's logits
// held in registers: route_sorted on exact order keys (any E and K), route_warp on unique keys (E <= 256,
// K <= 32), and route_logits, the tensor-core paths' choice between them.
#pragma once

#include <climits>
#include <cstdint>

#include "common.cuh"

namespace mojo::cuda {

// Order-preserving bits of a logit (-0 folded into +0, so equal logits tie and go to the lower expert).
__device__ __forceinline__ uint32_t order_key(float v) {
  const uint32_t u = __float_as_uint(v + 0.0f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float key_value(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// The expert of a lane's register slot i: lane + 32 i, or with kQuads 4 (lane + 32 (i / 4)) + i % 4 (float4 rows).
// Either way a lane's experts ascend with i.
template <bool kQuads> __device__ __forceinline__ int slot_expert(int lane, int i) {
  return kQuads ? 4 * (lane + 32 * (i >> 2)) + (i & 3) : lane + 32 * i;
}

// ceil(log2 E) low bits (at least one).
__device__ __forceinline__ uint32_t index_mask_for(int experts) {
  return (2u << (31 - __clz(unsigned(experts - 1) | 1u))) - 1u;
}

// Routing keys of the tensor-core paths: the order-preserving bits of the logit with the low bits (index_mask)
// replaced by index_mask - e, so every key is unique, a larger key is a larger logit, and logits equal to within
// 2^-(23 - bits) relative (up to 2^-15 for E <= 256: finer than the ~2^-16 of the hi + lo products) rank the lower
// expert first, the spec's tie rule. The expert comes back from the key alone.
__device__ __forceinline__ uint32_t route_key(float v, int e, uint32_t index_mask) {
  return (order_key(v) & ~index_mask) | (index_mask - uint32_t(e));
}

constexpr int kWarpRouteMaxExperts = 256;  // 8 index bits at most (the tie window above)
constexpr int kWarpRouteMaxK = 32;         // lane j keeps round j

// One warp routes one token whose logits it holds, S per lane (the first S of v) (slot i of lane l: expert slot_expert(l, i); slots
// at or past E are empty), for E <= kWarpRouteMaxExperts and top_k <= kWarpRouteMaxK. Each lane sorts its keys
// (an odd-even transposition network on bare keys: the expert is inside the key), then every round is one warp
// max of the lane heads; the unique keys make its holder the only lane whose head equals it, which pops it. Lane j
// keeps round j's key; at the end it fetches that expert's exact logit from its owner lane (a shuffle per slot),
// and the lanes write the ids and gates exp(l - top) / sum together. Empty slots hold 0 and are never popped
// (`left` counts the real ones; top_k <= E is checked before launch). Measured on H100 (one token per warp, K=8,
// the hidden-split sums from shared memory included): E=128 1,497 cycles against 2,556 for rank counting over a
// CTA, E=256 1,828 against 5,091; a bitonic merge of 8-key lists over 5 xor levels (K <= 8 only) measured
// 1,295 and 1,910, so it was not kept.
template <bool kQuads, int S, int N>
__device__ __forceinline__ void route_warp(const float (&v)[N], int experts, int top_k, int32_t *ids,
                                           float *gates) {
  static_assert(S <= N, "the slots are the first S of the lane's logits");
  const int lane = int(threadIdx.x) & 31;
  const uint32_t mask = index_mask_for(experts);
  uint32_t k[S];
  int left = 0;
#pragma unroll
  for (int i = 0; i < S; ++i) {
    const int e = slot_expert<kQuads>(lane, i);
    k[i] = e < experts ? route_key(v[i], e, mask) : 0u;
    left += e < experts;
  }
#pragma unroll
  for (int pass = 0; pass < S; ++pass)
#pragma unroll
    for (int i = pass & 1; i + 1 < S; i += 2) {
      const uint32_t hi = max(k[i], k[i + 1]), lo = min(k[i], k[i + 1]);
      k[i] = hi;
      k[i + 1] = lo;
    }
  uint32_t mine = 0u;
  for (int j = 0; j < top_k; ++j) {
    const uint32_t top = __reduce_max_sync(0xffffffffu, left > 0 ? k[0] : 0u);
    if (left > 0 && k[0] == top) {
#pragma unroll
      for (int i = 0; i + 1 < S; ++i) k[i] = k[i + 1];
      k[S - 1] = 0u;
      --left;
    }
    if (lane == j) mine = top;
  }
  const int e = int(mask - (mine & mask));
  const int owner = kQuads ? (e >> 2) & 31 : e & 31, slot = kQuads ? ((e >> 7) << 2) | (e & 3) : e >> 5;
  float logit = 0.0f;
#pragma unroll
  for (int i = 0; i < S; ++i) {
    const float x = __shfl_sync(0xffffffffu, v[i], owner);
    if (i == slot) logit = x;
  }
  const float top = __shfl_sync(0xffffffffu, logit, 0);
  const float ev = lane < top_k ? expf(logit - top) : 0.0f;
  float sum = ev;  // over the aligned group of lanes that holds the K rounds (lanes past K add 0)
  for (int o = 1; o < top_k; o <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  if (lane < top_k) {
    ids[lane] = int32_t(e);
    gates[lane] = ev / sum;
  }
}


// One warp routes one token from its logits as order keys (bit i of avail: slot i holds an expert; the held
// slots are a prefix): descending logit (= descending softmax probability), ties toward the lower expert;
// gates = exp(l - max) of the chosen experts over their sum. Each lane first sorts its S slots (a stable
// odd-even transposition network: equal keys keep their ascending experts, empty slots stay last), so a round
// is one warp max of the lane heads and one ballot of the lanes holding it; only a tie across lanes pays a warp
// min of their experts. The winner pops its head. Measured on H100 (top-8, one warp per token): 2,554 against
// 4,671 cycles per token for E=128 and 3,519 against 5,917 for E=256 with the earlier per-round scan of every
// slot and two redux per round, with identical ids and gates (docs/decisions/cuda_sampling.md).
template <bool kQuads, int S, int N>
__device__ void route_sorted(const uint32_t (&key)[N], uint32_t avail, int top_k, int32_t *ids, float *gates) {
  static_assert(S <= N, "the slots are the first S of the lane's keys");
  const int lane = threadIdx.x & 31;
  uint32_t k[S], e[S];
#pragma unroll
  for (int i = 0; i < S; ++i) {
    k[i] = (avail >> i) & 1u ? key[i] : 0u;
    e[i] = uint32_t(slot_expert<kQuads>(lane, i));
  }
  int left = __popc(avail & ((1u << S) - 1u));  // slots not yet taken
#pragma unroll
  for (int pass = 0; pass < S; ++pass)
#pragma unroll
    for (int i = pass & 1; i + 1 < S; i += 2)
      if (k[i + 1] > k[i]) {
        const uint32_t tk = k[i], te = e[i];
        k[i] = k[i + 1];
        e[i] = e[i + 1];
        k[i + 1] = tk;
        e[i + 1] = te;
      }
  float mx = 0.0f, sum = 0.0f;
  float held = 0.0f;  // lane l keeps round l's gate (l < 32): no global round trip for the normalisation
  for (int j = 0; j < top_k; ++j) {
    const uint32_t top = __reduce_max_sync(0xffffffffu, left > 0 ? k[0] : 0u);
    const unsigned holders = __ballot_sync(0xffffffffu, left > 0 && k[0] == top);
    int winner = __ffs(holders) - 1;
    if (holders & (holders - 1u)) {  // equal logits in several lanes: the lowest expert
      const uint32_t low = __reduce_min_sync(0xffffffffu, (holders >> lane) & 1u ? e[0] : UINT_MAX);
      winner = __ffs(__ballot_sync(0xffffffffu, ((holders >> lane) & 1u) && e[0] == low)) - 1;
    }
    if (lane == winner) {
      ids[j] = int32_t(e[0]);
#pragma unroll
      for (int i = 0; i + 1 < S; ++i) {
        k[i] = k[i + 1];
        e[i] = e[i + 1];
      }
      k[S - 1] = 0u;
      --left;
    }
    if (holders == 0u && lane == 0) ids[j] = -1;  // no expert left: top_k > E, refused before launch
    const float v = key_value(top);
    if (j == 0) mx = v;
    const float ev = expf(v - mx);
    sum += ev;
    if (j < 32) {
      if (lane == j) held = ev;
    } else if (lane == 0) {
      gates[j] = ev;
    }
  }
  __syncwarp();
  for (int j = lane; j < top_k; j += 32) gates[j] = (j < 32 ? held : gates[j]) / sum;
}

// The sort's size from E: the slots a lane can hold (4 up to 128 experts, 8 up to 256, else N). Out of line: inlined
// into the tensor-core kernel next to route_warp, this rarely taken fallback left it 80 registers with a spill
// (H100: E=256, H=7168 0.2-0.3 µs slower).
template <bool kQuads, int N>
__device__ __noinline__ void route_keys(const uint32_t (&key)[N], uint32_t avail, int experts, int top_k, int32_t *ids,
                           float *gates) {
  if (experts <= 128 || N == 4) route_sorted<kQuads, 4>(key, avail, top_k, ids, gates);
  else if (experts <= 256 || N == 8) route_sorted<kQuads, (N < 8 ? N : 8)>(key, avail, top_k, ids, gates);
  else route_sorted<kQuads, N>(key, avail, top_k, ids, gates);
}

// The tensor-core paths' router: v holds the token's logits N per lane (slot_expert's layout; E <= 32 N; N = 4,
// 8 or 16). The warp router on unique keys where it applies (their products carry ~2^-16 relative error, so its
// tie window changes nothing), else exact order keys and route_sorted.
template <bool kQuads, int N>
__device__ __forceinline__ void route_logits(const float (&v)[N], int experts, int top_k, int32_t *ids,
                                             float *gates) {
  if (experts <= kWarpRouteMaxExperts && top_k <= kWarpRouteMaxK) {
    if constexpr (N >= 8) {
      if (experts > 128) {
        route_warp<kQuads, 8>(v, experts, top_k, ids, gates);
        return;
      }
    }
    route_warp<kQuads, 4>(v, experts, top_k, ids, gates);
    return;
  }
  const int lane = int(threadIdx.x) & 31;
  uint32_t key[N];
  uint32_t avail = 0;
#pragma unroll
  for (int i = 0; i < N; ++i) {
    const bool held = slot_expert<kQuads>(lane, i) < experts;
    key[i] = held ? order_key(v[i]) : 0u;
    avail |= uint32_t(held) << i;
  }
  route_keys<kQuads>(key, avail, experts, top_k, ids, gates);
}

}  // namespace mojo::cuda
