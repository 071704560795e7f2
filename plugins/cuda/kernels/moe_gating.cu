// Fused MoE router (spec/moe.md §1): logits = x · W (fp32), softmax, top-k (ties to the lower expert) and
// renormalisation in one kernel. A block owns 8 tokens and a slice of the hidden dimension (split-K, so a
// decode batch still spreads the gate weight over the whole GPU); it writes its partial logits, and the last
// block of a tile to finish (an atomic ticket) sums the partials in a fixed order and routes the tile's tokens,
// one warp per token. With a single split the block routes straight from shared memory.
#include <math.h>

#include <algorithm>
#include <climits>

#include "common.cuh"
#include "moe_gating.h"

namespace mojo::cuda {
namespace {

constexpr int kTok = 8;        // tokens per block = warps per block
constexpr int kThreads = 256;
constexpr int kStageFloats = 8192;  // gate-weight floats staged in shared memory per step (32 KiB)
constexpr int kMaxRows = 256;       // hidden rows staged per step (x tile [kTok][kMaxRows])

__host__ __device__ inline int rows_per_stage(int64_t experts) {
  const int64_t r = kStageFloats / experts;
  return int(r < 1 ? 1 : r > kMaxRows ? kMaxRows : r);
}

// One warp routes one token from its E logits: descending logit (= descending softmax probability), ties toward
// the lower expert; gates = exp(l - max) of the chosen experts over their sum.
__device__ void route_token(const float *logits, int experts, int top_k, int32_t *ids, float *gates) {
  constexpr int kPer = int(kGatingMaxExperts / 32);
  const int lane = threadIdx.x & 31;
  float l[kPer];
  float mx = -INFINITY;
#pragma unroll
  for (int q = 0; q < kPer; ++q) {
    const int e = lane + 32 * q;
    l[q] = e < experts ? logits[e] : -INFINITY;
    mx = fmaxf(mx, l[q]);
  }
  mx = warp_max(mx);
  uint32_t taken = 0;
  float sum = 0.0f;
  for (int j = 0; j < top_k; ++j) {
    float bv = -INFINITY;
    int bi = INT_MAX;
#pragma unroll
    for (int q = 0; q < kPer; ++q) {
      const int e = lane + 32 * q;
      if (e < experts && !((taken >> q) & 1u) && (bi == INT_MAX || l[q] > bv)) {
        bv = l[q];
        bi = e;
      }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
      const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (oi != INT_MAX && (bi == INT_MAX || ov > bv || (ov == bv && oi < bi))) {
        bv = ov;
        bi = oi;
      }
    }
    if (lane == (bi & 31)) taken |= 1u << (bi >> 5);
    const float ev = expf(bv - mx);
    sum += ev;
    if (lane == 0) {
      ids[j] = bi;
      gates[j] = ev;
    }
  }
  __syncwarp();
  for (int j = lane; j < top_k; j += 32) gates[j] = gates[j] / sum;
}

// Threads along the experts (a multiple of 32, EPT experts each); the other threads split the hidden rows.
__host__ __device__ inline int lanes_for(int64_t experts, int ept) {
  const int64_t per_lane = (experts + ept - 1) / ept, lanes = (per_lane + 31) / 32 * 32;
  return int(lanes < kThreads ? lanes : kThreads);
}

template <typename T, int EPT>
__global__ void __launch_bounds__(kThreads) gating_kernel(GatingArgs a) {
  extern __shared__ __align__(16) float smem[];
  const int experts = int(a.experts);
  const int lanes = lanes_for(experts, EPT), groups = kThreads / lanes;
  float *ws = smem;                        // [rows][E] staged gate-weight rows
  float *xs = ws + kStageFloats;           // [kTok][kMaxRows]
  float *red = xs + kTok * kMaxRows;       // [groups][kTok][E]
  float *logits = red + groups * kTok * experts;  // [kTok][E]
  __shared__ bool last;

  const int64_t t0 = int64_t(blockIdx.x) * kTok;
  const int ntok = int(min(int64_t(kTok), a.tokens - t0));
  const int64_t h_begin = int64_t(blockIdx.y) * a.split.chunk, h_end = min(a.hidden, h_begin + a.split.chunk);
  const T *x = static_cast<const T *>(a.x);
  const int el = int(threadIdx.x) % lanes, g = int(threadIdx.x) / lanes;

  float acc[kTok][EPT];
#pragma unroll
  for (int t = 0; t < kTok; ++t)
#pragma unroll
    for (int q = 0; q < EPT; ++q) acc[t][q] = 0.0f;
  const int rows = rows_per_stage(experts);
  for (int64_t c0 = h_begin; c0 < h_end; c0 += rows) {
    const int hc = int(min(int64_t(rows), h_end - c0));
    __syncthreads();  // the previous stage is consumed
    // Rows [c0, c0 + hc) of W are one contiguous block: every thread has several 16-byte loads in flight.
    const float *src = a.weight + c0 * experts;
    const int nw = hc * experts;
    if ((reinterpret_cast<uintptr_t>(src) & 15) == 0 && nw % 4 == 0) {
#pragma unroll 8
      for (int i = threadIdx.x; i < nw / 4; i += kThreads)
        reinterpret_cast<float4 *>(ws)[i] = __ldg(reinterpret_cast<const float4 *>(src) + i);
    } else {
      for (int i = threadIdx.x; i < nw; i += kThreads) ws[i] = src[i];
    }
    for (int i = threadIdx.x; i < kTok * hc; i += kThreads) {
      const int t = i / hc, h = i % hc;
      xs[t * kMaxRows + h] = t < ntok ? to_float(x[(t0 + t) * a.hidden + c0 + h]) : 0.0f;
    }
    __syncthreads();
    for (int h = g; g < groups && h < hc; h += groups) {
      const float *wr = ws + h * experts;
      float wv[EPT];
#pragma unroll
      for (int q = 0; q < EPT; ++q) {
        const int e = el + q * lanes;
        wv[q] = e < experts ? wr[e] : 0.0f;
      }
#pragma unroll
      for (int t = 0; t < kTok; ++t) {
        const float xv = xs[t * kMaxRows + h];
#pragma unroll
        for (int q = 0; q < EPT; ++q) acc[t][q] = fmaf(xv, wv[q], acc[t][q]);
      }
    }
  }
#pragma unroll
  for (int t = 0; t < kTok; ++t)
#pragma unroll
    for (int q = 0; q < EPT; ++q) {
      const int e = el + q * lanes;
      if (g < groups && e < experts) red[(g * kTok + t) * experts + e] = acc[t][q];
    }
  __syncthreads();
  const int splits = int(gridDim.y);
  for (int i = threadIdx.x; i < kTok * experts; i += kThreads) {
    float s = 0.0f;
    for (int gg = 0; gg < groups; ++gg) s += red[gg * kTok * experts + i];
    const int t = i / experts;
    if (splits == 1)
      logits[i] = s;
    else if (t < ntok)
      a.partial[(int64_t(blockIdx.y) * a.tokens + t0) * experts + i] = s;
  }
  if (splits > 1) {
    // The last block of this tile to finish sums the partials (fixed split order: deterministic).
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
      const unsigned int ticket = atomicAdd(&a.counters[blockIdx.x], 1u);
      last = ticket == unsigned(splits - 1);
      if (last) a.counters[blockIdx.x] = 0;  // ready for the next run
    }
    __syncthreads();
    if (!last) return;
    __threadfence();
    if (experts % 4 == 0 && (reinterpret_cast<uintptr_t>(a.partial) & 15) == 0) {  // 16-byte partials
      for (int i = threadIdx.x; i < ntok * experts / 4; i += kThreads) {
        float4 s = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll 16
        for (int sp = 0; sp < splits; ++sp) {
          const float4 v = __ldcg(reinterpret_cast<const float4 *>(a.partial + (int64_t(sp) * a.tokens + t0) * experts) + i);
          s.x += v.x;
          s.y += v.y;
          s.z += v.z;
          s.w += v.w;
        }
        reinterpret_cast<float4 *>(logits)[i] = s;
      }
    } else {
      for (int i = threadIdx.x; i < ntok * experts; i += kThreads) {
        float s = 0.0f;
#pragma unroll 8
        for (int sp = 0; sp < splits; ++sp) s += __ldcg(a.partial + (int64_t(sp) * a.tokens + t0) * experts + i);
        logits[i] = s;
      }
    }
  }
  __syncthreads();
  const int warp = int(threadIdx.x) >> 5;
  if (warp < ntok)
    route_token(logits + warp * experts, experts, int(a.top_k), a.ids + (t0 + warp) * a.top_k,
                a.gates + (t0 + warp) * a.top_k);
}

template <typename T, int EPT>
cudaError_t launch_ept(const GatingArgs &a, cudaStream_t stream) {
  const int lanes = lanes_for(a.experts, EPT), groups = kThreads / lanes;
  const size_t smem = sizeof(float) * size_t(kStageFloats + kTok * kMaxRows + (groups + 1) * kTok * a.experts);
  const auto kernel = gating_kernel<T, EPT>;
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
  if (e != cudaSuccess) return e;
  const dim3 grid(unsigned((a.tokens + kTok - 1) / kTok), unsigned(a.split.splits));
  kernel<<<grid, kThreads, smem, stream>>>(a);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_dtype(const GatingArgs &a, cudaStream_t stream) {
  return a.experts <= kThreads ? launch_ept<T, 1>(a, stream) : launch_ept<T, 2>(a, stream);
}

}  // namespace

GatingSplit plan_moe_gating(int64_t tokens, int64_t hidden, int64_t experts, int block_slots, size_t workspace_floats) {
  const int64_t tiles = (tokens + kTok - 1) / kTok;
  int64_t splits = 1;
  if (tiles > 0 && tiles <= kGatingCounters) {
    splits = std::max<int64_t>(1, (block_slots + tiles - 1) / tiles);
    splits = std::min<int64_t>(splits, std::max<int64_t>(1, hidden / 64));  // at least 64 rows per block
    const size_t per_split = size_t(tokens * experts);
    if (per_split > 0) splits = std::min<int64_t>(splits, std::max<int64_t>(1, int64_t(workspace_floats / per_split)));
  }
  int64_t chunk = (hidden + splits - 1) / splits;
  chunk = std::max<int64_t>(8, (chunk + 7) / 8 * 8);
  splits = std::max<int64_t>(1, (hidden + chunk - 1) / chunk);
  return {splits, chunk, splits > 1 ? size_t(splits * tokens * experts) : 0};
}

cudaError_t launch_moe_gating(const GatingArgs &a, cudaStream_t stream) {
  if (a.tokens == 0) return cudaSuccess;
  switch (a.dtype) {
    case Dt::F32: return launch_dtype<float>(a, stream);
    case Dt::F16: return launch_dtype<__half>(a, stream);
    case Dt::BF16: return launch_dtype<__nv_bfloat16>(a, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace mojo::cuda
