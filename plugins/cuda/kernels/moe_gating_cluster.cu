// The MoE router for gate weights that fit one thread-block cluster (bf16 x, sm_90): one exchange, no
// workspace, no ticket. A cluster of 16 CTAs (8 where 16 cannot be scheduled) owns 16 tokens and the whole
// gate weight: CTA (expert group g, hidden split s) holds experts [EPC g, EPC (g + 1)) over its share of the
// hidden dimension, so the weight streams once per cluster at 1/16 of it per SM. Each warp loads and multiplies
// its own k-steps (W split into bf16 hi + lo, as in kernels/moe_gating.cu), the CTA sums its warps, and every
// (token, expert) partial goes straight into the shared memory of the rank that routes the token. After one
// cluster barrier, one warp of that rank per token sums the hidden splits in order into registers and routes
// them (route_logits, kernels/moe_gating_route.cuh).
// Deterministic: fixed summation orders.
#include <math.h>

#include <algorithm>

#include "cluster.cuh"
#include "common.cuh"
#include "device_caps.h"
#include "moe_gating.h"
#include "moe_gating_mma.cuh"
#include "moe_gating_route.cuh"

namespace mojo::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kTokenTiles = 2;  // n8 tiles of tokens per cluster: 16 tokens
constexpr size_t kSmemLimit = 200 * 1024;

// Shared memory of one CTA (byte offsets): the staged weight [kmax * 16][EPC + 4] fp32 and tokens
// [TG][kmax * 16 + 8] bf16 (the gating_kstep layouts), the warps' partials [warps][TG][EPC + 4], what the peers
// send for the tokens this rank routes [TG / cluster][hidden splits][E].
struct Layout {
  size_t xs, red, recv, total;
};
__host__ __device__ inline size_t align16(size_t v) { return (v + 15) / 16 * 16; }
__host__ __device__ inline Layout layout(int epc, int tg, int64_t kmax, int cluster, int splits, int64_t experts) {
  Layout l{};
  size_t o = size_t(kmax) * 16 * size_t(epc + 4) * 4;
  l.xs = o;
  o = align16(o + size_t(tg) * size_t(kmax * 16 + 8) * 2);
  l.red = o;
  o += size_t(kWarps) * size_t(tg) * size_t(epc + 4) * 4;
  l.recv = o;
  l.total = o + size_t(tg / cluster) * size_t(splits) * size_t(experts) * 4;
  return l;
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

// One warp sums a token's hidden splits part[splits][E] in order (lane l: experts l + 32 i) and routes it.
template <int S>
__device__ void route_split_sums(const float *part, int splits, int experts, int top_k, int32_t *ids, float *gates) {
  const int lane = int(threadIdx.x) & 31;
  float v[S] = {};
  // Splits outer, so a split's S loads are in flight together (measured 1,497 against 1,911 cycles per token for
  // E=128 with the slots outer); each expert still sums its splits in order (0 + p0 = p0, -0 only becomes +0).
  for (int s = 0; s < splits; ++s)
#pragma unroll
    for (int i = 0; i < S; ++i)
      if (lane + 32 * i < experts) v[i] += part[s * experts + lane + 32 * i];
  route_logits<false>(v, experts, top_k, ids, gates);
}

#endif

// Grid (cluster x token groups of 16), clusters along x. EPC: experts per CTA (32 or 64).
template <int EPC>
__global__ void __launch_bounds__(kThreads) gating_cluster_kernel(GatingArgs a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr int kTG = 8 * kTokenTiles, kWS = EPC + 4, kC4 = EPC / 4, kWm = EPC / 16;
  constexpr int kRowsPerCopy = 32 / kC4;  // weight rows one warp-wide 16-byte cp.async covers
  extern __shared__ __align__(128) unsigned char smem[];
  cluster::arrive_relaxed();  // phase 1: this CTA runs; peers write into it only once the phase completes
  const int csize = a.cl.cluster, groups = a.cl.expert_groups, splits = csize / groups;
  const int tid = int(threadIdx.x), warp = tid >> 5, lane = tid & 31;
  const int rank = int(cluster::rank()), group = rank % groups, split = rank / groups;
  const int experts = int(a.experts);
  const int64_t hidden = a.hidden, t0 = int64_t(blockIdx.x / unsigned(csize)) * kTG;
  const int ks = int(hidden / 16), kb = int(int64_t(split) * ks / splits);
  const int kn = int(int64_t(split + 1) * ks / splits) - kb;  // this CTA's k-steps
  const int kmax = int(a.cl.kmax), xstride = kmax * 16 + 8;
  const Layout l = layout(EPC, kTG, kmax, csize, splits, experts);
  float *ws = reinterpret_cast<float *>(smem);
  auto *xs = reinterpret_cast<__nv_bfloat16 *>(smem + l.xs);
  float *red = reinterpret_cast<float *>(smem + l.red);
  float *recv = reinterpret_cast<float *>(smem + l.recv);

  // Warp w owns local k-steps w, w + 8, ...: it loads them itself (one cp.async group each, tokens past N read
  // as zeros) and multiplies each as it lands, with no CTA barrier before the reduction. Per lane the sources
  // and destinations only step by constants.
  int mine = 0;
  {
    const int r = lane / kC4, c = lane % kC4, t = lane >> 1;
    const float *wsrc = a.weight + (16 * int64_t(kb + warp) + r) * experts + int64_t(group) * EPC + 4 * c;
    float *wdst = ws + (16 * warp + r) * kWS + 4 * c;
    const bool xvalid = t0 + t < a.tokens;
    const auto *x = static_cast<const __nv_bfloat16 *>(a.x);
    const __nv_bfloat16 *xsrc = xvalid ? x + (t0 + t) * hidden + 16 * int64_t(kb + warp) + 8 * (lane & 1) : x;
    __nv_bfloat16 *xdst = xs + t * xstride + 16 * warp + 8 * (lane & 1);
    const int64_t wstep = int64_t(16 * kWarps) * experts, xstep = xvalid ? 16 * kWarps : 0;
    for (int k = warp; k < kn; k += kWarps, ++mine) {
#pragma unroll
      for (int i = 0; i < 16 / kRowsPerCopy; ++i)
        cp_async_16(wdst + i * kRowsPerCopy * kWS, wsrc + int64_t(i) * kRowsPerCopy * experts, true);
      cp_async_16(xdst, xsrc, xvalid);  // lane = 2 t + half: the 2 x 16 bytes of each of the 16 tokens
      cp_async_commit();
      wsrc += wstep;
      wdst += 16 * kWarps * kWS;
      xsrc += xstep;
      xdst += 16 * kWarps;
    }
  }
  float acc[kWm][kTokenTiles][4] = {};
  for (int j = 0; j < mine; ++j) {
    cp_async_wait_pending(mine - 1 - j);
    __syncwarp();  // the other lanes' copies of this k-step are visible
#pragma unroll
    for (int wm = 0; wm < kWm; ++wm)
      gating_kstep<EPC, kTokenTiles>(ws, xs, xstride, 16 * (warp + kWarps * j), wm, 0, acc[wm]);
  }
  {  // C fragment: c0/c1 = expert 16 wm + 2g, tokens 2q, 2q + 1 of the n-tile; c2/c3 = expert 16 wm + 2g + 1
    const int g = lane >> 2, q = lane & 3;
    float *out = red + warp * kTG * kWS;
#pragma unroll
    for (int wm = 0; wm < kWm; ++wm)
#pragma unroll
      for (int n = 0; n < kTokenTiles; ++n) {
        const int t = 8 * n + 2 * q, e = 16 * wm + 2 * g;
        *reinterpret_cast<float2 *>(out + t * kWS + e) = make_float2(acc[wm][n][0], acc[wm][n][2]);
        *reinterpret_cast<float2 *>(out + (t + 1) * kWS + e) = make_float2(acc[wm][n][1], acc[wm][n][3]);
      }
  }
  __syncthreads();
  cluster::wait_acquire();  // phase 1 complete: every CTA of the cluster runs
  // The CTA's partial logits (warps summed in order) go straight to the rank that routes the token: token t to
  // rank t % cluster, slot t / cluster, row `split`.
  for (int i = tid; i < kTG * kC4; i += kThreads) {
    const int t = i / kC4, c = i % kC4;
    float4 s = *reinterpret_cast<const float4 *>(red + t * kWS + 4 * c);
#pragma unroll
    for (int w = 1; w < kWarps; ++w) {
      const float4 v = *reinterpret_cast<const float4 *>(red + (w * kTG + t) * kWS + 4 * c);
      s.x += v.x;
      s.y += v.y;
      s.z += v.z;
      s.w += v.w;
    }
    float *dst = recv + ((t / csize) * splits + split) * experts + group * EPC + 4 * c;
    *reinterpret_cast<float4 *>(cluster::peer_address(dst, unsigned(t % csize))) = s;
  }
  cluster::arrive_release();  // every thread releases its own remote stores
  cluster::wait_acquire();    // phase 2: the partials of this rank's tokens have all arrived

  // Warp w routes slot w: token t0 + w cluster + rank.
  const int64_t t = t0 + int64_t(warp) * csize + rank;
  if (warp < kTG / csize && t < a.tokens) {
    const float *part = recv + warp * splits * experts;
    int32_t *ids = a.ids + t * a.top_k;
    float *gates = a.gates + t * a.top_k;
    if (experts <= 128) route_split_sums<4>(part, splits, experts, int(a.top_k), ids, gates);
    else if (experts <= 256) route_split_sums<8>(part, splits, experts, int(a.top_k), ids, gates);
    else route_split_sums<16>(part, splits, experts, int(a.top_k), ids, gates);
  }
#else
  (void)a;
  __trap();  // launched only where plan_moe_gating_cluster_for_device() found the sm_90 code
#endif
}

using Kernel = void (*)(GatingArgs);
Kernel kernel_for(int epc) { return epc == 64 ? gating_cluster_kernel<64> : gating_cluster_kernel<32>; }

cudaLaunchConfig_t config_for(const GatingCluster &p, int64_t tokens, cudaStream_t stream,
                              cudaLaunchAttribute *attr) {
  attr->id = cudaLaunchAttributeClusterDimension;
  attr->val.clusterDim.x = unsigned(p.cluster);
  attr->val.clusterDim.y = 1;
  attr->val.clusterDim.z = 1;
  cudaLaunchConfig_t cfg{};
  const int64_t tg = 8 * kTokenTiles;
  cfg.gridDim = dim3(unsigned(p.cluster * ((tokens + tg - 1) / tg)));
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = p.smem_bytes;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return cfg;
}

cudaError_t prepare_kernel(const GatingCluster &p) {
  const Kernel k = kernel_for(p.experts_per_cta);
  if (cudaError_t e = allow_dynamic_smem(k, p.smem_bytes); e != cudaSuccess) return e;
  return p.cluster > 8 ? raise_func_attribute(reinterpret_cast<const void *>(k),
                                              cudaFuncAttributeNonPortableClusterSizeAllowed, 1)
                       : cudaSuccess;
}

}  // namespace

GatingCluster plan_moe_gating_cluster(Dt dtype, int64_t tokens, int64_t hidden, int64_t experts, int64_t top_k,
                                      int cluster) {
  GatingCluster p{};
  if (cluster < 8 || dtype != Dt::BF16 || tokens <= 0 || hidden <= 0 || hidden % 16 != 0 || experts % 32 != 0 ||
      experts > kGatingMaxExperts || top_k < 1 || top_k > experts)
    return p;
  // 32 experts per CTA where the cluster divides into such groups (fewer hidden splits for the routing ranks to
  // sum than with 64, measured faster at E=128), else 64.
  const int epc = (experts / 32 <= cluster && cluster % (experts / 32) == 0) ? 32 : 64;
  const int64_t groups = experts / epc, tg = 8 * kTokenTiles;
  if (experts % epc != 0 || groups > cluster || cluster % groups != 0 || tg % cluster != 0) return p;
  const int splits = int(cluster / groups);
  const int64_t ks = hidden / 16;
  if (ks < splits) return p;
  const int64_t kmax = (ks + splits - 1) / splits;
  const Layout l = layout(epc, int(tg), kmax, cluster, splits, experts);
  if (l.total > kSmemLimit) return p;
  p.cluster = cluster;
  p.expert_groups = int(groups);
  p.experts_per_cta = epc;
  p.kmax = kmax;
  p.smem_bytes = l.total;
  return p;
}

GatingCluster plan_moe_gating_cluster_for_device(Dt dtype, int64_t hidden, int64_t experts, int64_t top_k) {
  cudaFuncAttributes fa{};
  if (cudaFuncGetAttributes(&fa, gating_cluster_kernel<64>) != cudaSuccess || fa.binaryVersion < 90) {
    (void)cudaGetLastError();  // no sm_90 image for this device: not an error of the op
    return {};
  }
  for (int c : {16, 8}) {
    const GatingCluster p = plan_moe_gating_cluster(dtype, 16, hidden, experts, top_k, c);
    if (p.cluster == 0 || prepare_kernel(p) != cudaSuccess) {
      (void)cudaGetLastError();
      continue;
    }
    cudaLaunchAttribute attr;
    const cudaLaunchConfig_t cfg = config_for(p, 16, nullptr, &attr);
    int n = 0;
    if (cudaOccupancyMaxActiveClusters(&n, kernel_for(p.experts_per_cta), &cfg) == cudaSuccess && n > 0) return p;
    (void)cudaGetLastError();
  }
  return {};
}

cudaError_t launch_moe_gating_cluster(const GatingArgs &a, cudaStream_t stream) {
  if (cudaError_t e = prepare_kernel(a.cl); e != cudaSuccess) return e;
  cudaLaunchAttribute attr;
  const cudaLaunchConfig_t cfg = config_for(a.cl, a.tokens, stream, &attr);
  return cudaLaunchKernelEx(&cfg, kernel_for(a.cl.experts_per_cta), a);
}

}  // namespace mojo::cuda
