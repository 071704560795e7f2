// apply_rope: rotate-half (NeoX) or interleaved (GPT-J) RoPE on the trailing Dr channels of every head vector.
// One launch covers q and then k. A work item is (token, chunk of kHeads heads, group of P channels): it reads
// the group's cos/sin once for all its heads (the table traffic was 4x the q/k traffic when every head vector
// re-read it), issues the loads of all its heads before any store (in-place calls are allowed, so the compiler
// may not move a load above an earlier store), and indexes in 32 bits when the item count allows.
#include <algorithm>

#include "common.cuh"
#include "launch.h"

namespace mojo::cuda {
namespace {

// Heads per work item. ptxas (sm_90a): the bf16 16-byte form takes 127 registers with no spill under
// __launch_bounds__(256, 2), so 512 threads per SM each with 8 packets (128 B) in flight: the 64 KB per SM the
// one-head kernel had at full occupancy, with a quarter of its table loads and index arithmetic.
constexpr int kHeads = 4;

// A tensor's work: items = tokens_all * chunks * groups, enumerated group-fastest (coalesced within a row).
struct RopeWork {
  const void *src;
  void *dst;
  int64_t items;
  int64_t tokens;       // S (per batch)
  int64_t heads;        // H
  int64_t chunks;       // ceil(H / kHeads)
  int64_t head_stride;  // elements between head h and h + 1 of one token
  int64_t batch_stride; // elements between batches (4-D) = H * S * D
  int64_t token_stride; // elements between tokens s and s + 1 of one head
};

RopeWork work_of(const RopeTensor &t, bool head_first, int64_t groups) {
  RopeWork w{};
  w.src = t.src;
  w.dst = t.dst;
  w.tokens = t.tokens;
  w.heads = t.heads;
  w.chunks = (t.heads + kHeads - 1) / kHeads;
  w.head_stride = head_first ? t.tokens * t.dim : t.dim;
  w.token_stride = head_first ? t.dim : t.heads * t.dim;
  w.batch_stride = t.heads * t.tokens * t.dim;
  const int64_t batches = t.rank == 4 && t.heads * t.tokens > 0 ? t.rows / (t.heads * t.tokens) : 1;
  w.items = t.rows == 0 ? 0 : batches * t.tokens * w.chunks * groups;
  return w;
}

struct RopeLaunch {
  RopeWork q, k;
  const void *cos, *sin;
  int64_t rope_dim, nope, groups_rot, groups;  // groups per row: rotation groups, then nope groups
  bool table_batched;
};

// I: the index type of the item decomposition (32 bits when both tensors' item counts fit).
template <typename T, typename C, int P, bool Interleaved, typename I>
__global__ void __launch_bounds__(256, 2) rope_kernel(RopeLaunch L) {
  using Pk = Packet<T, P>;
  const I q_items = I(L.q.items), total = I(L.q.items + L.k.items);
  const I groups = I(L.groups);
  for (I item = I(blockIdx.x) * blockDim.x + threadIdx.x; item < total; item += I(gridDim.x) * blockDim.x) {
    const bool is_q = item < q_items;
    const RopeWork w = is_q ? L.q : L.k;  // by value: field selects in registers, no local copy of L
    const I local = is_q ? item : item - q_items;
    const I j = local % groups, rest = local / groups;
    const I chunk = rest % I(w.chunks), tok = rest / I(w.chunks);  // tok = b * S + s
    const I b = tok / I(w.tokens), s = tok % I(w.tokens);
    const int64_t h0 = int64_t(chunk) * kHeads;
    const int n_heads = w.heads - h0 < kHeads ? int(w.heads - h0) : kHeads;
    const int64_t base = int64_t(b) * w.batch_stride + int64_t(s) * w.token_stride + h0 * w.head_stride;
    const T *in = static_cast<const T *>(w.src) + base;
    T *out = static_cast<T *>(w.dst) + base;
    if (int64_t(j) >= L.groups_rot) {  // nope channels pass through
      const int64_t c = (int64_t(j) - L.groups_rot) * P;
      Pk v[kHeads];
#pragma unroll
      for (int h = 0; h < kHeads; ++h)
        if (h < n_heads) v[h] = *reinterpret_cast<const Pk *>(in + h * w.head_stride + c);
#pragma unroll
      for (int h = 0; h < kHeads; ++h)
        if (h < n_heads) *reinterpret_cast<Pk *>(out + h * w.head_stride + c) = v[h];
      continue;
    }
    const int64_t trow = (L.table_batched ? int64_t(tok) : int64_t(s)) * L.rope_dim;
    const C *cos = static_cast<const C *>(L.cos) + trow, *sin = static_cast<const C *>(L.sin) + trow;
    const int64_t half = L.rope_dim / 2;
    if constexpr (!Interleaved) {
      // Pairs (i, i + half), i = j * P .. j * P + P - 1: packets at nope + i and nope + half + i.
      const int64_t i = int64_t(j) * P, a_off = L.nope + i, b_off = L.nope + half + i;
      Pk xa[kHeads], xb[kHeads];
#pragma unroll
      for (int h = 0; h < kHeads; ++h)
        if (h < n_heads) {
          xa[h] = *reinterpret_cast<const Pk *>(in + h * w.head_stride + a_off);
          xb[h] = *reinterpret_cast<const Pk *>(in + h * w.head_stride + b_off);
        }
      // The first halves with cos/sin entries i, then the second with entries half + i: 16 table values live
      // instead of 32 (with 4 heads of packets in flight the kernel otherwise needs ~150 registers).
      float c[P], sn[P];
      load_floats<C, P>(cos + i, c);
      load_floats<C, P>(sin + i, sn);
#pragma unroll
      for (int h = 0; h < kHeads; ++h) {
        if (h >= n_heads) continue;
        Pk y;
#pragma unroll
        for (int k = 0; k < P; ++k) y.v[k] = from_float<T>(to_float(xa[h].v[k]) * c[k] - to_float(xb[h].v[k]) * sn[k]);
        *reinterpret_cast<Pk *>(out + h * w.head_stride + a_off) = y;
      }
      load_floats<C, P>(cos + half + i, c);
      load_floats<C, P>(sin + half + i, sn);
#pragma unroll
      for (int h = 0; h < kHeads; ++h) {
        if (h >= n_heads) continue;
        Pk y;
#pragma unroll
        for (int k = 0; k < P; ++k) y.v[k] = from_float<T>(to_float(xb[h].v[k]) * c[k] + to_float(xa[h].v[k]) * sn[k]);
        *reinterpret_cast<Pk *>(out + h * w.head_stride + b_off) = y;
      }
    } else {
      // P = 1: pair p = j, channels (nope + 2p, nope + 2p + 1), table entry p (full-width rows repeat halves).
      const int64_t p = int64_t(j), off = L.nope + 2 * p;
      T x0[kHeads], x1[kHeads];
#pragma unroll
      for (int h = 0; h < kHeads; ++h)
        if (h < n_heads) {
          x0[h] = in[h * w.head_stride + off];
          x1[h] = in[h * w.head_stride + off + 1];
        }
      const float c = to_float(cos[p]), sn = to_float(sin[p]);
#pragma unroll
      for (int h = 0; h < kHeads; ++h) {
        if (h >= n_heads) continue;
        const float a0 = to_float(x0[h]), a1 = to_float(x1[h]);
        out[h * w.head_stride + off] = from_float<T>(a0 * c - a1 * sn);
        out[h * w.head_stride + off + 1] = from_float<T>(a1 * c + a0 * sn);
      }
    }
  }
}

bool aligned16(const void *p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <typename T, typename C, int P, bool Interleaved>
cudaError_t launch_form(const RopeArgs &a, cudaStream_t stream) {
  RopeLaunch L{};
  L.rope_dim = a.rope_dim;
  L.nope = a.q.dim - a.rope_dim;
  L.groups_rot = Interleaved ? a.rope_dim / 2 : a.rope_dim / (2 * P);
  L.groups = L.groups_rot + L.nope / P;
  L.q = work_of(a.q, a.head_first, L.groups);
  L.k = work_of(a.k, a.head_first, L.groups);
  L.cos = a.cos;
  L.sin = a.sin;
  L.table_batched = a.table_batched;
  const int64_t total = L.q.items + L.k.items;
  if (total == 0) return cudaSuccess;
  const int threads = 256;
  const unsigned blocks = unsigned(std::min<int64_t>((total + threads - 1) / threads, int64_t(1) << 20));
  // 32-bit decomposition when every index (item + one grid stride) stays below 2^32.
  if (total + int64_t(blocks) * threads < (int64_t(1) << 32))
    rope_kernel<T, C, P, Interleaved, uint32_t><<<blocks, threads, 0, stream>>>(L);
  else
    rope_kernel<T, C, P, Interleaved, uint64_t><<<blocks, threads, 0, stream>>>(L);
  return cudaGetLastError();
}

template <typename T, typename C>
cudaError_t launch_tables(const RopeArgs &a, cudaStream_t stream) {
  if (a.interleaved) return launch_form<T, C, 1, true>(a, stream);
  constexpr int kP = 16 / sizeof(T);
  const int64_t half = a.rope_dim / 2, nope = a.q.dim - a.rope_dim;
  const bool vec = half % kP == 0 && nope % kP == 0 && a.q.dim % kP == 0 && aligned16(a.q.src) &&
                   aligned16(a.q.dst) && aligned16(a.k.src) && aligned16(a.k.dst) && aligned16(a.cos) &&
                   aligned16(a.sin) && (a.rope_dim * sizeof(C)) % 16 == 0;
  return vec ? launch_form<T, C, kP, false>(a, stream) : launch_form<T, C, 1, false>(a, stream);
}

template <typename T>
cudaError_t launch_typed(const RopeArgs &a, cudaStream_t stream) {
  return a.table_dtype == Dt::F32 ? launch_tables<T, float>(a, stream) : launch_tables<T, T>(a, stream);
}

}  // namespace

cudaError_t launch_rope(const RopeArgs &a, cudaStream_t stream) {
  switch (a.dtype) {
    case Dt::F32: return launch_typed<float>(a, stream);
    case Dt::F16: return launch_typed<__half>(a, stream);
    case Dt::BF16: return launch_typed<__nv_bfloat16>(a, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace mojo::cuda
