// Decode streaming ceiling: read a paged K/V cache (B=64, 8 kv heads, page 16, d128, bf16, 4096 tokens) with
#include <cuda_bf16.h>
// the decode kernel's CTA shape (128 threads, 64-key tiles, 64 KiB smem -> 3 CTAs/SM), no compute.
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdint>
#include <vector>
#include <random>
#include <algorithm>

constexpr int B = 64, HKV = 8, BS = 16, D = 128, L = 4096, MB = L / BS, TILE = 64;
constexpr int NB = B * MB;
constexpr int64_t PAGE = int64_t(HKV) * BS * D;  // elements per page

__device__ __forceinline__ void cp16(void *s, const void *g) {
  uint32_t a = uint32_t(__cvta_generic_to_shared(s));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(a), "l"(g));
}
__device__ __forceinline__ void cp16z(void *s, const void *g, bool ok) {
  uint32_t a = uint32_t(__cvta_generic_to_shared(s));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(a), "l"(g), "r"(ok ? 16 : 0));
}
__device__ __forceinline__ void commit() { asm volatile("cp.async.commit_group;\n"); }
template <int N> __device__ __forceinline__ void waitg() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
__device__ __forceinline__ void mb_init(uint32_t bar, int c) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(c) : "memory");
}
__device__ __forceinline__ void mb_expect(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mb_wait(uint32_t bar, uint32_t parity) {
  asm volatile("{\n.reg .pred p;\nW:\nmbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n@!p bra W;\n}\n" ::"r"(bar),
               "r"(parity) : "memory");
}
__device__ __forceinline__ void bulk(uint32_t dst, const void *src, uint32_t bytes, uint32_t bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(bar) : "memory");
}

struct P { const __nv_bfloat16 *k, *v; const int *bt; int splits; int contiguous; float *sink; };

// offset (elements) of key `tok` of (b, g) in the cache
__device__ __forceinline__ int64_t key_off(const P &p, int b, int g, int tok) {
  if (p.contiguous) return (int64_t(b) * HKV + g) * L * D + int64_t(tok) * D;
  const int id = __ldg(p.bt + b * MB + tok / BS);
  return int64_t(id) * PAGE + int64_t(g) * BS * D + (tok % BS) * D;
}

template <int STAGES, bool ZF = false>
__global__ void __launch_bounds__(128) k_cpasync(P p) {
  extern __shared__ __align__(128) unsigned char sm[];
  __nv_bfloat16 *ks = (__nv_bfloat16 *)sm, *vs = ks + STAGES * TILE * D;
  const int split = blockIdx.x % p.splits, g = (blockIdx.x / p.splits) % HKV, b = blockIdx.x / (p.splits * HKV);
  const int nt = L / TILE, per = (nt + p.splits - 1) / p.splits, t0 = min(nt, split * per), t1 = min(nt, t0 + per);
  const int chunk = threadIdx.x % 16, tok0 = threadIdx.x / 16;
  auto load = [&](int t, int st) {
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const int tok = tok0 + 8 * k;
      const int64_t off = key_off(p, b, g, t * TILE + tok) + chunk * 8;
      const int dst = st * TILE * D + tok * D + ((chunk ^ (tok & 7)) << 3);
      if (ZF) {
        const bool ok = t * TILE + tok < L;
        cp16z(ks + dst, p.k + off, ok);
        cp16z(vs + dst, p.v + off, ok);
      } else {
        cp16(ks + dst, p.k + off);
        cp16(vs + dst, p.v + off);
      }
    }
  };
  float acc = 0;
  for (int i = 0; i < STAGES - 1; ++i) { if (t0 + i < t1) load(t0 + i, i); commit(); }
  for (int t = t0; t < t1; ++t) {
    if (t + STAGES - 1 < t1) load(t + STAGES - 1, (t + STAGES - 1 - t0) % STAGES);
    commit();
    waitg<STAGES - 1>();
    __syncthreads();
    const int st = (t - t0) % STAGES;
    acc += float(ks[st * TILE * D + threadIdx.x * 8]) + float(vs[st * TILE * D + threadIdx.x * 8]);
    __syncthreads();
  }
  if (acc == 12345.f) p.sink[0] = acc;
}

// One thread issues a bulk copy per (page piece, K/V): 4 KiB each; full barrier per stage.
template <int STAGES>
__global__ void __launch_bounds__(128) k_bulk(P p) {
  extern __shared__ __align__(128) unsigned char sm[];
  __shared__ __align__(8) uint64_t full[STAGES];
  __nv_bfloat16 *ks = (__nv_bfloat16 *)sm, *vs = ks + STAGES * TILE * D;
  const int split = blockIdx.x % p.splits, g = (blockIdx.x / p.splits) % HKV, b = blockIdx.x / (p.splits * HKV);
  const int nt = L / TILE, per = (nt + p.splits - 1) / p.splits, t0 = min(nt, split * per), t1 = min(nt, t0 + per);
  const uint32_t fb = uint32_t(__cvta_generic_to_shared(full));
  if (threadIdx.x == 0) {
    for (int i = 0; i < STAGES; ++i) mb_init(fb + 8 * i, 1);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  auto load = [&](int t, int st) {  // thread 0 only
    mb_expect(fb + 8 * st, 2 * TILE * D * 2);
    for (int pc = 0; pc < TILE / BS; ++pc) {
      const int64_t off = key_off(p, b, g, t * TILE + pc * BS);
      const int dst = st * TILE * D + pc * BS * D;
      bulk(uint32_t(__cvta_generic_to_shared(ks + dst)), p.k + off, BS * D * 2, fb + 8 * st);
      bulk(uint32_t(__cvta_generic_to_shared(vs + dst)), p.v + off, BS * D * 2, fb + 8 * st);
    }
  };
  float acc = 0;
  if (threadIdx.x == 0)
    for (int i = 0; i < STAGES - 1; ++i) if (t0 + i < t1) load(t0 + i, i);
  for (int t = t0; t < t1; ++t) {
    const int ahead = t + STAGES - 1;
    if (threadIdx.x == 0 && ahead < t1) load(ahead, (ahead - t0) % STAGES);
    const int st = (t - t0) % STAGES;
    mb_wait(fb + 8 * st, ((t - t0) / STAGES) & 1);
    acc += float(ks[st * TILE * D + threadIdx.x * 8]) + float(vs[st * TILE * D + threadIdx.x * 8]);
    __syncthreads();
  }
  if (acc == 12345.f) p.sink[0] = acc;
}

// Plain vector loads to registers, no smem: 8 x 16 B per thread per tile in flight.
__global__ void __launch_bounds__(128) k_ldg(P p) {
  const int split = blockIdx.x % p.splits, g = (blockIdx.x / p.splits) % HKV, b = blockIdx.x / (p.splits * HKV);
  const int nt = L / TILE, per = (nt + p.splits - 1) / p.splits, t0 = min(nt, split * per), t1 = min(nt, t0 + per);
  const int chunk = threadIdx.x % 16, tok0 = threadIdx.x / 16;
  float acc = 0;
  for (int t = t0; t < t1; ++t) {
    int4 r[16];
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const int64_t off = key_off(p, b, g, t * TILE + tok0 + 8 * k) + chunk * 8;
      r[2 * k] = __ldcs(reinterpret_cast<const int4 *>(p.k + off));
      r[2 * k + 1] = __ldcs(reinterpret_cast<const int4 *>(p.v + off));
    }
#pragma unroll
    for (int k = 0; k < 16; ++k) acc += __int_as_float(r[k].x ^ r[k].w);
  }
  if (acc == 12345.f) p.sink[0] = acc;
}

// Warp-specialised: warp 4 produces 16-key stages (one page piece of K and V) into a ring of NST stages;
// consumer warp w takes stages w, w+4, ... ; full/empty mbarriers per stage; no CTA-wide barrier in the loop.
// ROWS: one 256 B bulk copy per row into 272 B-stride padded rows (lane l of the producer copies row l%16 of
// K (l<16) or V); else one 4 KiB bulk per K and V piece.
template <int NST, bool ROWS>
__global__ void __launch_bounds__(160) k_ws(P p) {
  // Each stage must have one consumer warp: a waiter two phases ahead would pass a parity wait early.
  static_assert(NST % 4 == 0, "stages per consumer warp");
  extern __shared__ __align__(128) unsigned char sm[];
  __shared__ __align__(8) uint64_t full[NST], empty[NST];
  constexpr int RB = ROWS ? 272 : 256;               // row bytes in smem
  constexpr int SB = 2 * BS * RB;                    // stage bytes (K then V)
  const int split = blockIdx.x % p.splits, g = (blockIdx.x / p.splits) % HKV, b = blockIdx.x / (p.splits * HKV);
  const int np = L / BS, per = ((L / TILE + p.splits - 1) / p.splits) * (TILE / BS);
  const int p0 = min(np, split * per), p1 = min(np, p0 + per);
  const uint32_t fb = uint32_t(__cvta_generic_to_shared(full)), eb = uint32_t(__cvta_generic_to_shared(empty));
  const uint32_t sbase = uint32_t(__cvta_generic_to_shared(sm));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0) {
    for (int i = 0; i < NST; ++i) { mb_init(fb + 8 * i, 1); mb_init(eb + 8 * i, 1); }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  float acc = 0;
  if (warp == 4) {
    for (int pg = p0; pg < p1; ++pg) {
      const int i = pg - p0, st = i % NST;
      if (i >= NST) mb_wait(eb + 8 * st, ((i / NST) - 1) & 1);
      const int64_t off = key_off(p, b, g, pg * BS);
      if (ROWS) {
        if (lane == 0) mb_expect(fb + 8 * st, 2 * BS * D * 2);
        __syncwarp();
        const int r = lane % BS;
        const __nv_bfloat16 *src = (lane < BS ? p.k : p.v) + off + r * D;
        bulk(sbase + st * SB + (lane / BS) * BS * RB + r * RB, src, D * 2, fb + 8 * st);
      } else if (lane == 0) {
        mb_expect(fb + 8 * st, 2 * BS * D * 2);
        bulk(sbase + st * SB, p.k + off, BS * D * 2, fb + 8 * st);
        bulk(sbase + st * SB + BS * RB, p.v + off, BS * D * 2, fb + 8 * st);
      }
    }
  } else {
    for (int pg = p0 + warp; pg < p1; pg += 4) {
      const int i = pg - p0, st = i % NST;
      mb_wait(fb + 8 * st, (i / NST) & 1);
      const __nv_bfloat16 *s = (const __nv_bfloat16 *)(sm + st * SB);
      acc += float(s[lane * 8]) + float(s[BS * RB / 2 + lane * 8]);
      __syncwarp();
      if (lane == 0) asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(eb + 8 * st) : "memory");
    }
  }
  if (acc == 12345.f) p.sink[0] = acc;
}

__global__ void fill_random(uint32_t *p, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    uint32_t x = uint32_t(i) * 2654435761u ^ uint32_t(i >> 32) * 40503u; x ^= x >> 15; x *= 2246822519u; x ^= x >> 13;
    p[i] = x & 0xBFFFBFFFu;  // finite bf16 pairs
  }
}

int main() {
  const size_t bytes = size_t(NB) * PAGE * 2;
  __nv_bfloat16 *k, *v; int *bt; float *sink; char *flush;
  cudaMalloc(&k, bytes); cudaMalloc(&v, bytes); cudaMalloc(&bt, NB * 4); cudaMalloc(&sink, 4);
  cudaMalloc(&flush, 256 << 20);
  cudaMemset(k, 0, bytes); cudaMemset(v, 0, bytes);
  std::vector<int> ids(NB); for (int i = 0; i < NB; ++i) ids[i] = i;
  std::mt19937 rng(7); std::shuffle(ids.begin(), ids.end(), rng);
  cudaMemcpy(bt, ids.data(), NB * 4, cudaMemcpyHostToDevice);
  cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
  const double kv_bytes = 2.0 * B * HKV * L * D * 2;
  auto timeit = [&](const char *name, auto launch) {
    std::vector<float> ts;
    for (int r = 0; r < 25; ++r) {
      cudaMemsetAsync(flush, r, 256 << 20);
      cudaEventRecord(e0); launch(); cudaEventRecord(e1); cudaEventSynchronize(e1);
      float ms; cudaEventElapsedTime(&ms, e0, e1); if (r >= 3) ts.push_back(ms);
    }
    std::sort(ts.begin(), ts.end());
    const double us = ts[ts.size() / 2] * 1e3;
    printf("%-36s %8.1f us  %.3f TB/s  err=%s\n", name, us, kv_bytes / us / 1e6, cudaGetErrorString(cudaGetLastError()));
  };
  for (int rnd = 0; rnd < 2; ++rnd) {
  if (rnd) { fill_random<<<1024, 256>>>((uint32_t *)k, bytes / 4); fill_random<<<1024, 256>>>((uint32_t *)v, bytes / 4); cudaDeviceSynchronize(); printf("-- random data\n"); }
  for (int contiguous = 0; contiguous < 2; ++contiguous)
    for (int splits : {3}) {
      P p{k, v, bt, splits, contiguous, sink};
      const unsigned grid = B * HKV * splits;
      char nm[64];
      auto run_cp = [&](auto kern, int stages, const char *tag) {
        const int smem = 2 * stages * TILE * D * 2;
        cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
        snprintf(nm, sizeof nm, "%s s%d %s sp%d", tag, stages, contiguous ? "contig" : "paged", splits);
        timeit(nm, [&] { kern<<<grid, 128, smem>>>(p); });
      };
      run_cp(k_cpasync<2>, 2, "cpasync");
      run_cp(k_cpasync<3>, 3, "cpasync");
      run_cp(k_cpasync<2, true>, 2, "cpasync-zfill");
      run_cp(k_bulk<3>, 3, "bulk");
      auto run_ws = [&](auto kern, int nst, bool rows, const char *tag) {
        const int smem = nst * 2 * BS * (rows ? 272 : 256);
        cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
        snprintf(nm, sizeof nm, "%s n%d %s sp%d", tag, nst, contiguous ? "contig" : "paged", splits);
        timeit(nm, [&] { kern<<<grid, 160, smem>>>(p); });
      };
      run_ws(k_ws<8, true>, 8, true, "ws-rows");
      run_ws(k_ws<8, false>, 8, false, "ws-piece");
      run_ws(k_ws<12, true>, 12, true, "ws-rows");
      snprintf(nm, sizeof nm, "ldg %s sp%d", contiguous ? "contig" : "paged", splits);
      timeit(nm, [&] { k_ldg<<<grid, 128>>>(p); });
    }
  }
  return 0;
}
