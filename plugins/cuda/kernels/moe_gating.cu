// Fused MoE router (spec/moe.md §1): logits = x · W (fp32), softmax, top-k (ties to the lower expert) and
// renormalisation in one kernel. Two paths:
//
// * Tensor cores (bf16 x, sm_90). The fp32 weight is read once across the grid: a CTA owns 64 tokens, an
//   expert tile (32/64) and a slice of the hidden dimension; W is split into bf16 hi + lo in registers, so two
//   m16n8k16 MMAs against the exact bf16 x give ~16-bit-mantissa products with fp32 accumulation. The 8 CTAs of
//   a cluster split the hidden dimension and sum their partial logits through distributed shared memory (rank
//   r sums tokens [8r, 8r + 8) in rank order); the cluster partial goes to the workspace and the last of the
//   (hidden clusters x expert tiles) contributors for those 8 tokens, found by a ticket, sums them in cluster
//   order and routes each token with one warp.
// * General (any dtype, any sm): a block owns 8 tokens and a slice of the hidden dimension (split-K, so a
//   decode batch still spreads the gate weight over the whole GPU); it writes its partial logits, and the last
//   block of a tile to finish (an atomic ticket) sums the partials in a fixed order and routes the tile's
//   tokens. With a single split the block routes straight from shared memory.
//
// Both leave their counters zeroed (the last arriver resets its word), so runs replay in CUDA graphs.
#include <math.h>

#include <algorithm>
#include <climits>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#include <cooperative_groups.h>
#endif

#include "common.cuh"
#include "device_caps.h"
#include "mma.cuh"
#include "moe_gating.h"
#include "moe_gating_mma.cuh"
#include "moe_gating_route.cuh"

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

constexpr int kRouteKeys = int(kGatingMaxExperts / 32);  // logits per lane

// Routes one token from its E logits in shared memory.
__device__ void route_token(const float *logits, int experts, int top_k, int32_t *ids, float *gates) {
  const int lane = threadIdx.x & 31;
  uint32_t key[kRouteKeys] = {};
  uint32_t avail = 0;
#pragma unroll
  for (int i = 0; i < kRouteKeys; ++i) {
    const int e = slot_expert<false>(lane, i);
    if (e < experts) {
      key[i] = order_key(logits[e]);
      avail |= 1u << i;
    }
  }
  route_keys<false>(key, avail, experts, top_k, ids, gates);
}

// Threads along the experts (a multiple of 32, EPT experts each); the other threads split the hidden rows.
__host__ __device__ inline int lanes_for(int64_t experts, int ept) {
  const int64_t per_lane = (experts + ept - 1) / ept, lanes = (per_lane + 31) / 32 * 32;
  return int(lanes < kThreads ? lanes : kThreads);
}

template <typename T, int EPT>
__global__ void __launch_bounds__(kThreads) gating_kernel(GatingArgs a) {
  extern __shared__ __align__(128) float smem[];  // 128: the static flag below must not misalign it
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
    __syncthreads();
    if (threadIdx.x == 0) {
      last = ticket_acq_rel(&a.counters[blockIdx.x]) == unsigned(splits - 1);
      if (last) a.counters[blockIdx.x] = 0;  // ready for the next run
    }
    __syncthreads();
    if (!last) return;
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
  if (cudaError_t e = allow_dynamic_smem(kernel, smem); e != cudaSuccess) return e;
  const dim3 grid(unsigned((a.tokens + kTok - 1) / kTok), unsigned(a.split.splits));
  kernel<<<grid, kThreads, smem, stream>>>(a);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_dtype(const GatingArgs &a, cudaStream_t stream) {
  return a.experts <= kThreads ? launch_ept<T, 1>(a, stream) : launch_ept<T, 2>(a, stream);
}

// ---- Tensor-core path -------------------------------------------------------------------------------------

constexpr int kFastTok = 64;        // tokens per CTA: the 8 n8-tiles of the MMAs
constexpr int kCluster = 8;         // CTAs per cluster, along the hidden dimension; rank r routes 8 tokens
constexpr int kFastThreads = 256;   // 8 warps: ET / 16 along the experts (one m16 tile each) x the rest on tokens
constexpr size_t kFastSmemLimit = 200 * 1024;

// Shared memory: the weight slice [rows][ET + 4] fp32 (row stride = 4 mod 16 words: a k-step's float2 reads hit
// distinct banks) and x [64][rows + 8] bf16 (odd 16-byte stride: ldmatrix without conflicts); after the GEMM
// the same bytes hold the CTA's partial logits [64][ET + 4].
__host__ __device__ inline size_t fast_smem_bytes(int et, int64_t rows) {
  const size_t staging = size_t(rows) * size_t(et + 4) * 4 + size_t(kFastTok) * size_t(rows + 8) * 2;
  const size_t partial = size_t(kFastTok) * size_t(et + 4) * 4;
  return staging > partial ? staging : partial;
}


// Grid (8 x h_clusters, E / ET, token blocks), clusters of 8 along x. ET = experts per CTA (32 or 64).
template <int ET>
__global__ void __launch_bounds__(kFastThreads) gating_fast_kernel(GatingArgs a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  namespace cg = cooperative_groups;
  constexpr int kWm = ET / 16, kWn = 8 / kWm, kNT = 8 / kWn, kWS = ET + 4, kC4 = ET / 4;
  extern __shared__ __align__(128) unsigned char smem_raw[];  // 128: the static flag must not misalign it
  __shared__ bool last;
  const cg::cluster_group cluster = cg::this_cluster();
  const int rows = int(a.fast.rows), xstride = rows + 8;
  float *ws = reinterpret_cast<float *>(smem_raw);
  __nv_bfloat16 *xs = reinterpret_cast<__nv_bfloat16 *>(smem_raw + size_t(rows) * kWS * 4);
  float *part = reinterpret_cast<float *>(smem_raw);  // [64][kWS], after the GEMM

  const int tid = int(threadIdx.x), warp = tid >> 5, lane = tid & 31;
  const int rank = int(cluster.block_rank()), hc = int(blockIdx.x) / kCluster;
  const int64_t experts = a.experts, hidden = a.hidden;
  const int64_t e0 = int64_t(blockIdx.y) * ET, t0 = int64_t(blockIdx.z) * kFastTok;
  const int64_t h0 = (int64_t(hc) * kCluster + rank) * rows;
  const int hn = int(max(int64_t(0), min(int64_t(rows), hidden - h0)));  // a multiple of 16
  const int ksteps = hn / 16;
  const int per_stage = max(2, (ksteps + kGatingStages - 1) / kGatingStages);  // k-steps per cp.async group
  const int stages = (ksteps + per_stage - 1) / per_stage;
  const auto *x = static_cast<const __nv_bfloat16 *>(a.x);

  // Issue every load at once, one group per stage; tokens past N read as zeros.
  for (int s = 0; s < stages; ++s) {
    const int kb = s * per_stage * 16, kn = min(per_stage * 16, hn - kb);
    for (int i = tid; i < kn * kC4; i += kFastThreads) {
      const int r = kb + i / kC4, c = i % kC4;
      cp_async_16(ws + r * kWS + 4 * c, a.weight + (h0 + r) * experts + e0 + 4 * c, true);
    }
    const int cpr = kn / 8;
    for (int i = tid; i < kFastTok * cpr; i += kFastThreads) {
      const int t = i / cpr, c = i % cpr;
      const bool valid = t0 + t < a.tokens;
      cp_async_16(xs + t * xstride + kb + 8 * c, valid ? x + (t0 + t) * hidden + h0 + kb + 8 * c : x, valid);
    }
    cp_async_commit();
  }

  const int wm = warp % kWm, tok0 = (warp / kWm) * 8 * kNT;
  float acc[kNT][4];
#pragma unroll
  for (int n = 0; n < kNT; ++n)
#pragma unroll
    for (int r = 0; r < 4; ++r) acc[n][r] = 0.0f;
  for (int s = 0; s < stages; ++s) {
    cp_async_wait_pending(stages - 1 - s);
    __syncthreads();
    const int kend = min(ksteps, (s + 1) * per_stage);
    for (int k = s * per_stage; k < kend; ++k) gating_kstep<ET, kNT>(ws, xs, xstride, 16 * k, wm, tok0, acc);
  }
  __syncthreads();  // the staging is consumed: the partial logits reuse it

  // C fragment: c0/c1 = row g, tokens 2q and 2q + 1 of the n-tile; c2/c3 = row g + 8. Rows g and g + 8 are the
  // adjacent experts 16 wm + 2g and + 1 (the A mapping above).
  {
    const int g = lane >> 2, q = lane & 3;
    float *mine = part + 16 * wm + 2 * g;
#pragma unroll
    for (int n = 0; n < kNT; ++n) {
      const int t = tok0 + 8 * n + 2 * q;
      *reinterpret_cast<float2 *>(mine + t * kWS) = make_float2(acc[n][0], acc[n][2]);
      *reinterpret_cast<float2 *>(mine + (t + 1) * kWS) = make_float2(acc[n][1], acc[n][3]);
    }
  }
  cluster.sync();  // every CTA's partial [64][ET] is complete and visible to the cluster

  // Rank r sums tokens [8r, 8r + 8) over the cluster in rank order and writes the cluster's partial.
  const int64_t block = blockIdx.z, clusters = a.fast.h_clusters;
  if (tid < 8 * kC4) {
    const int t = 8 * rank + tid / kC4, c = tid % kC4, off = t * kWS + 4 * c;
    float4 s = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
    for (int src = 0; src < kCluster; ++src) {
      const float4 v = *reinterpret_cast<const float4 *>(cluster.map_shared_rank(part + off, src));
      s.x += v.x;
      s.y += v.y;
      s.z += v.z;
      s.w += v.w;
    }
    *reinterpret_cast<float4 *>(a.partial + ((block * clusters + hc) * kFastTok + t) * experts + e0 + 4 * c) = s;
  }
  cluster.barrier_arrive();  // done reading the peers' shared memory (waited for before exit)

  // The last of the (hidden clusters x expert tiles) contributors to these 8 tokens routes them.
  __syncthreads();
  if (tid == 0) {
    unsigned int *counter = a.counters + block * kCluster + rank;
    const unsigned int contributors = unsigned(clusters * gridDim.y);
    last = ticket_acq_rel(counter) == contributors - 1;
    if (last) *counter = 0;  // ready for the next run
  }
  __syncthreads();
  const int64_t t = t0 + 8 * rank + warp;
  if (last && t < a.tokens) {
    // Warp w sums token 8r + w over the hidden clusters in order; lane l holds experts 4 (l + 32 j) + u.
    float v[kRouteKeys] = {};
    const float *p = a.partial + (block * clusters * kFastTok + 8 * rank + warp) * experts;
    // Unrolled by 4 (the usual cluster count), so the loads of four clusters are in flight together; the sums
    // stay in cluster order.
#pragma unroll 4
    for (int64_t h = 0; h < clusters; ++h, p += kFastTok * experts) {
#pragma unroll
      for (int j = 0; j < kRouteKeys / 4; ++j) {
        const int e = slot_expert<true>(lane, 4 * j);
        if (e < experts) {
          const float4 w = __ldcg(reinterpret_cast<const float4 *>(p + e));
          v[4 * j] += w.x;
          v[4 * j + 1] += w.y;
          v[4 * j + 2] += w.z;
          v[4 * j + 3] += w.w;
        }
      }
    }
    route_logits<true>(v, int(experts), int(a.top_k), a.ids + t * a.top_k, a.gates + t * a.top_k);
  }
  cluster.barrier_wait();
#else
  (void)a;
  __trap();  // launched only where moe_gating_fast_available() found the sm_90 code
#endif
}

template <int ET>
cudaError_t launch_fast(const GatingArgs &a, cudaStream_t stream) {
  const auto kernel = gating_fast_kernel<ET>;
  if (cudaError_t e = allow_dynamic_smem(kernel, a.fast.smem_bytes); e != cudaSuccess) return e;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = kCluster;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(unsigned(kCluster * a.fast.h_clusters), unsigned(a.experts / ET),
                     unsigned((a.tokens + kFastTok - 1) / kFastTok));
  cfg.blockDim = dim3(kFastThreads);
  cfg.dynamicSmemBytes = a.fast.smem_bytes;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return cudaLaunchKernelEx(&cfg, kernel, a);
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

GatingFast plan_moe_gating_fast(Dt dtype, int64_t tokens, int64_t hidden, int64_t experts, int sms,
                                size_t workspace_floats) {
  GatingFast f{};
  if (dtype != Dt::BF16 || tokens <= 0 || hidden <= 0 || hidden % 16 != 0 || experts % 32 != 0 ||
      experts > kGatingMaxExperts)
    return f;
  const int64_t blocks = (tokens + kFastTok - 1) / kFastTok;
  if (blocks * kCluster > kGatingCounters) return f;
  const int et = experts % 64 == 0 ? 64 : 32;
  const int64_t ksteps = hidden / 16, tiles = experts / et;
  auto rows_for = [&](int64_t cn) { return (ksteps + kCluster * cn - 1) / (kCluster * cn) * 16; };
  auto fits = [&](int64_t cn) { return fast_smem_bytes(et, rows_for(cn)) <= kFastSmemLimit; };
  // About one CTA per SM, but at least 4 k-steps per CTA; more clusters where the slice would not fit.
  int64_t cn = std::max<int64_t>(1, sms / (blocks * tiles * kCluster));
  cn = std::min<int64_t>(cn, std::max<int64_t>(1, ksteps / (4 * kCluster)));
  while (!fits(cn)) ++cn;  // ends: rows_for(ksteps) = 16 fits
  const size_t per_cluster = size_t(blocks * kFastTok * experts);
  if (workspace_floats < per_cluster * size_t(cn)) {  // a handle created for fewer tokens
    cn = int64_t(workspace_floats / per_cluster);
    if (cn < 1 || !fits(cn)) return f;
  }
  f.expert_tile = et;
  f.h_clusters = cn;
  f.rows = rows_for(cn);
  f.workspace_floats = per_cluster * size_t(cn);
  f.smem_bytes = fast_smem_bytes(et, f.rows);
  return f;
}

bool moe_gating_fast_available() {
  cudaFuncAttributes attr{};
  if (cudaFuncGetAttributes(&attr, gating_fast_kernel<64>) != cudaSuccess) {
    (void)cudaGetLastError();  // no image for this device: not an error of the op, and not left for a later check
    return false;
  }
  return attr.binaryVersion >= 90;
}

cudaError_t launch_moe_gating(const GatingArgs &a, cudaStream_t stream) {
  if (a.tokens == 0) return cudaSuccess;
  if (a.cl.cluster != 0) return launch_moe_gating_cluster(a, stream);
  if (a.fast.expert_tile == 64) return launch_fast<64>(a, stream);
  if (a.fast.expert_tile == 32) return launch_fast<32>(a, stream);
  switch (a.dtype) {
    case Dt::F32: return launch_dtype<float>(a, stream);
    case Dt::F16: return launch_dtype<__half>(a, stream);
    case Dt::BF16: return launch_dtype<__nv_bfloat16>(a, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace mojo::cuda
