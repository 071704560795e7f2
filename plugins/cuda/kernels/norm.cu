// RMSNorm / LayerNorm with optional fused residual add. One block per row; each thread keeps its slice of the
// row in registers (up to kMaxVecs 16-byte packets), so the row is read from HBM once and written once;
// fp32 statistics (LayerNorm: centred variance from the register copy, no E[x^2] - mean^2 cancellation).
// Rows too long for the register path, or not 16-byte aligned, take a generic strided loop.
#include <algorithm>
#include <atomic>
#include <type_traits>

#include "common.cuh"
#include "launch.h"
#include "quantize.cuh"

namespace mojo::cuda {
namespace {

constexpr int kMaxVecs = 8;

// Which row kernel a quantizing call takes: Any (norm_registers) tests every feature at run time; Dyn
// (dynamic_quant, y = x) is norm_registers with compile-time flags; Norm (rms_norm_quant, RMSNorm times a
// weight) is quant_norm_rows. Smooth stays a run-time test in all.
enum class Form { Any, Dyn, Norm };

// y = (s - mean) * inv * w + b of one packet, in fp32 and never rounded to T (the quantizers take it as is).
template <typename T, typename W, int VEC>
__device__ __forceinline__ void normalized_packet(const Packet<T, VEC> &s, const NormArgs &a, bool has_weight,
                                                  bool has_bias, int i, float mean, float inv, float (&y)[VEC]) {
#pragma unroll
  for (int k = 0; k < VEC; ++k) y[k] = (to_float(s.v[k]) - mean) * inv;
  if (has_weight) {
    float wv[VEC];
    load_floats<W, VEC>(static_cast<const W *>(a.weight) + i * VEC, wv);
#pragma unroll
    for (int k = 0; k < VEC; ++k) y[k] *= wv[k];
  }
  if (has_bias) {
    float bv[VEC];
    load_floats<W, VEC>(static_cast<const W *>(a.bias) + i * VEC, bv);
#pragma unroll
    for (int k = 0; k < VEC; ++k) y[k] += bv[k];
  }
}

// The lean quantizing rows (rms_norm_quant without residual or bias, dynamic_quant): y = x * inv * w * smooth
// with one inv per row, so amax|y| = inv * amax|x * w * smooth|. One pass over the register row makes the sum
// of squares and the amax of those products (one fused block reduction instead of two); the codes are the
// products times inv / scale, one multiply each, instead of recomputing y and dividing it. The rounding differs
// from the reference's y / scale by a few ulps of the quotient, which can move a code by one at a rounding
// boundary: inside the spec's tolerance (one int8 code, one fp8 ulp), and the scale agrees to ~1e-7.
// `w` holds this thread's weight packets (read once per block; unused for dynamic_quant).
template <typename T, typename W, int VEC, int NV, Quant Q, bool kNorm>
__device__ __forceinline__ void quantize_lean_row(const Packet<T, VEC> (&s)[NV], const Packet<W, VEC> (&w)[NV],
                                                  const NormArgs &a, int64_t row, float *scratch) {
  const float *smooth = static_cast<const float *>(a.smooth);
  float prod[NV][VEC];
  float sum = 0.0f, amax = 0.0f;
#pragma unroll
  for (int j = 0; j < NV; ++j) {
    const int i = int(threadIdx.x + j * blockDim.x);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      prod[j][k] = to_float(s[j].v[k]);
      if constexpr (kNorm) sum = fmaf(prod[j][k], prod[j][k], sum);
    }
    if constexpr (kNorm) {
#pragma unroll
      for (int k = 0; k < VEC; ++k) prod[j][k] *= to_float(w[j].v[k]);
    }
    if (smooth) {
      float sv[VEC];
      load_floats<float, VEC>(smooth + i * VEC, sv);
#pragma unroll
      for (int k = 0; k < VEC; ++k) prod[j][k] *= sv[k];
    }
#pragma unroll
    for (int k = 0; k < VEC; ++k) amax = fmaxf(amax, fabsf(prod[j][k]));
  }
  block_sum_max(sum, amax, scratch);
  const float inv = kNorm ? rsqrtf(sum / float(a.cols) + a.eps) : 1.0f;
  const float scale = dynamic_scale<Q>(amax * inv, a.unit_if_tiny);
  if (threadIdx.x == 0) a.scale_out[row] = scale;
  const float mul = __fdiv_rn(inv, scale);
  auto *q = reinterpret_cast<Packet<uint8_t, VEC> *>(static_cast<uint8_t *>(a.out) + row * a.cols);
#pragma unroll
  for (int j = 0; j < NV; ++j) q[threadIdx.x + j * blockDim.x] = quantize_scaled<Q, VEC>(prod[j], mul);
}

// rms_norm_quant's lean rows as a grid-stride loop (launch_norm_rows picks the grid): each block loads its next
// row's packets before reducing the current one, so two rows' loads are in flight per thread while the
// reduction's barriers run, and reads the weight once into registers instead of once per row.
template <typename T, typename W, int VEC, int NV, Quant Q>
__global__ void __launch_bounds__(1024) quant_norm_rows(NormArgs a) {
  using P = Packet<T, VEC>;
  __shared__ float scratch[64];
  auto load_row = [&](int64_t row, P(&s)[NV]) {
    const P *x = reinterpret_cast<const P *>(static_cast<const T *>(a.x) + row * a.cols);
#pragma unroll
    for (int j = 0; j < NV; ++j) s[j] = x[threadIdx.x + j * blockDim.x];
  };
  Packet<W, VEC> w[NV];
#pragma unroll
  for (int j = 0; j < NV; ++j)
    w[j] = reinterpret_cast<const Packet<W, VEC> *>(static_cast<const W *>(a.weight))[threadIdx.x + j * blockDim.x];
  P cur[NV];
  int64_t row = blockIdx.x;
  load_row(row, cur);
  for (;;) {
    P next[NV];
    const int64_t following = row + gridDim.x;
    if (following < a.rows) load_row(following, next);
    quantize_lean_row<T, W, VEC, NV, Q, true>(cur, w, a, row, scratch);
    if (following >= a.rows) break;
#pragma unroll
    for (int j = 0; j < NV; ++j) cur[j] = next[j];
    row = following;
  }
}

// The row stays in registers as raw T packets (the input, or the residual sum already rounded to T, so the
// packet is exact): half the registers of an fp32 copy for 16-bit types; the quantizing pass recomputes y
// instead of keeping it. Every loop issues all its loads before any store: a store may alias a later load
// (in-place calls), so interleaving them serialises the packets' memory latency — the previous version of
// this kernel did, and reached 2.43 TB/s on 16384x4096 bf16 rms_norm where a copy reaches 2.87.
// Two blocks of 1024 (32 registers) for the plain 1-2 packet shapes with a T weight: no spill there (39
// unconstrained; both measured 94.5 µs). The quantizers need ~64 (a 40 cap spills and was no faster).
// The quantizers are issue-bound, so dynamic_quant's common shape (no smooth of T, the block covers the row)
// gets compile-time flags (Form::Dyn): on H100 each runtime feature test cost 5-15% of a 16384x4096
// dynamic_quant. rms_norm_quant's common shape takes quant_norm_rows.
template <typename T, typename W, int VEC, int NV, Quant Q, typename S, Form F = Form::Any>
__global__ void __launch_bounds__(1024, NV <= 2 && Q == Quant::None && sizeof(W) == sizeof(T) ? 2 : 1) norm_registers(NormArgs a) {
  using P = Packet<T, VEC>;
  constexpr bool kAny = F == Form::Any;
  const bool has_residual = kAny && a.residual, has_bias = kAny && a.bias, layer = kAny && a.layer_norm;
  const bool has_weight = kAny && a.weight != nullptr, normalize = kAny && a.normalize;
  __shared__ float scratch[64];
  const int64_t row = blockIdx.x, n = a.cols;
  const int nvec = int(n / VEC);  // in-row indices fit 32 bits (at most 1024 x kMaxVecs packets)
  // The lean form is launched only when the block covers the row exactly.
  auto live = [&](int j) { return !kAny || int(threadIdx.x + j * blockDim.x) < nvec; };
  auto at = [&](int j) { return int(threadIdx.x + j * blockDim.x); };

  P s[NV];
  const P *x = reinterpret_cast<const P *>(static_cast<const T *>(a.x) + row * n);
#pragma unroll
  for (int j = 0; j < NV; ++j)
    if (live(j)) s[j] = x[at(j)];
  if (has_residual) {
    const P *r = reinterpret_cast<const P *>(static_cast<const T *>(a.residual) + row * n);
#pragma unroll
    for (int j = 0; j < NV; ++j)
      if (live(j)) {
        const P rp = r[at(j)];
#pragma unroll
        for (int k = 0; k < VEC; ++k) s[j].v[k] = from_float<T>(to_float(s[j].v[k]) + to_float(rp.v[k]));
      }
  }
  if constexpr (Q != Quant::None && F == Form::Dyn) {
    const Packet<W, VEC> no_weight[NV] = {};
    quantize_lean_row<T, W, VEC, NV, Q, false>(s, no_weight, a, row, scratch);
    return;
  }
  P *res_out = kAny && a.residual_out ? reinterpret_cast<P *>(static_cast<T *>(a.residual_out) + row * n) : nullptr;
  if (res_out && !a.post) {
#pragma unroll
    for (int j = 0; j < NV; ++j)
      if (live(j)) res_out[at(j)] = s[j];
  }
  float mean = 0.0f, inv = 1.0f;  // dynamic_quant (normalize false): y = x
  if (normalize) {
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < NV; ++j)
      if (live(j))
#pragma unroll
        for (int k = 0; k < VEC; ++k) {
          const float v = to_float(s[j].v[k]);
          sum += layer ? v : v * v;
        }
    if (layer) {
      mean = block_sum(sum, scratch) / float(n);
      float c2 = 0.0f;
#pragma unroll
      for (int j = 0; j < NV; ++j)
        if (live(j))
#pragma unroll
          for (int k = 0; k < VEC; ++k) {
            const float d = to_float(s[j].v[k]) - mean;
            c2 += d * d;
          }
      sum = c2;
    }
    inv = rsqrtf(block_sum(sum, scratch) / float(n) + a.eps);
  }
  // y rounded to T replaces the row in place (the plain output, or a post-norm residual).
  auto round_row_in_place = [&]() {
#pragma unroll
    for (int j = 0; j < NV; ++j)
      if (live(j)) {
        float y[VEC];
        normalized_packet<T, W, VEC>(s[j], a, has_weight, has_bias, at(j), mean, inv, y);
#pragma unroll
        for (int k = 0; k < VEC; ++k) s[j].v[k] = from_float<T>(y[k]);
      }
  };
  if constexpr (Q == Quant::None) {
    round_row_in_place();  // then all stores
    P *out = reinterpret_cast<P *>(static_cast<T *>(a.out) + row * n);
#pragma unroll
    for (int j = 0; j < NV; ++j)
      if (live(j)) {
        out[at(j)] = s[j];
        if (res_out && a.post) res_out[at(j)] = s[j];
      }
  } else {
    // Two passes over the register row: the amax of the smoothed fp32 y, then its codes; y is recomputed by
    // the same operations, so both passes see the same values.
    const S *smooth = static_cast<const S *>(a.smooth);
    auto smoothed = [&](int j, float(&y)[VEC]) {
      normalized_packet<T, W, VEC>(s[j], a, has_weight, has_bias, at(j), mean, inv, y);
      if (smooth) {
        float sv[VEC];
        load_floats<S, VEC>(smooth + at(j) * VEC, sv);
#pragma unroll
        for (int k = 0; k < VEC; ++k) y[k] *= sv[k];
      }
    };
    float amax = 0.0f;
#pragma unroll
    for (int j = 0; j < NV; ++j)
      if (live(j)) {
        float y[VEC];
        smoothed(j, y);
#pragma unroll
        for (int k = 0; k < VEC; ++k) amax = fmaxf(amax, fabsf(y[k]));
      }
    const float scale = dynamic_scale<Q>(block_max(amax, scratch), a.unit_if_tiny);
    if (threadIdx.x == 0) a.scale_out[row] = scale;
    const float inv_scale = __fdiv_rn(1.0f, scale);
    Packet<uint8_t, VEC> codes[NV];
#pragma unroll
    for (int j = 0; j < NV; ++j)
      if (live(j)) {
        float y[VEC];
        smoothed(j, y);
        codes[j] = quantize_scaled<Q, VEC>(y, inv_scale);
      }
    if (res_out && a.post) round_row_in_place();  // post-norm residual: y before smoothing, rounded to T
    auto *q = reinterpret_cast<Packet<uint8_t, VEC> *>(static_cast<uint8_t *>(a.out) + row * n);
#pragma unroll
    for (int j = 0; j < NV; ++j)
      if (live(j)) {
        q[at(j)] = codes[j];
        if (res_out && a.post) res_out[at(j)] = s[j];
      }
  }
}

// Generic path: any length, any alignment. The rounded sum is parked in an output buffer between passes.
template <typename T, typename W>
__global__ void norm_generic(NormArgs a) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x, n = a.cols;
  const T *x = static_cast<const T *>(a.x) + row * n;
  const T *r = a.residual ? static_cast<const T *>(a.residual) + row * n : nullptr;
  T *out = static_cast<T *>(a.out) + row * n;
  T *res_out = a.residual_out ? static_cast<T *>(a.residual_out) + row * n : nullptr;
  const W *w = static_cast<const W *>(a.weight);
  const W *b = static_cast<const W *>(a.bias);
  T *s_buf = r ? (res_out && !a.post ? res_out : out) : nullptr;
  const T *src = r ? s_buf : x;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    float v = to_float(x[i]);
    if (r) {
      v = to_float(from_float<T>(v + to_float(r[i])));
      s_buf[i] = from_float<T>(v);
    } else if (res_out && !a.post) {
      res_out[i] = x[i];
    }
    sum += a.layer_norm ? v : v * v;
  }
  __syncthreads();
  float mean = 0.0f, var;
  if (a.layer_norm) {
    mean = block_sum(sum, scratch) / float(n);
    float c2 = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float d = to_float(src[i]) - mean;
      c2 += d * d;
    }
    var = block_sum(c2, scratch) / float(n);
  } else {
    var = block_sum(sum, scratch) / float(n);
  }
  const float inv = rsqrtf(var + a.eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    float y = (to_float(src[i]) - mean) * inv;
    if (w) y *= to_float(w[i]);
    if (b) y += to_float(b[i]);
    out[i] = from_float<T>(y);
    if (res_out && a.post) res_out[i] = out[i];
  }
}

// The lean forms need a block that covers the row exactly and none of residual, bias or LayerNorm.
inline Form lean_form(const NormArgs &a, int64_t covered) {
  if (a.residual || a.residual_out || a.bias || a.layer_norm || covered != a.cols) return Form::Any;
  if (!a.normalize && !a.weight) return Form::Dyn;
  if (a.normalize && a.weight) return Form::Norm;
  return Form::Any;
}

// One block per row when the rows fit the GPU at once, otherwise as many blocks as are resident together, each
// striding over the rows. (dynamic_quant keeps one block per row: it has no weight to reuse, and its
// grid-stride form measured 3.7% slower on H100, 74.2 against 71.6 µs for 16384x4096 bf16 -> int8.) The
// resident count is asked once per (device, block size) and kept, not on every run.
template <typename T, typename W, int VEC, int NV, Quant Q>
cudaError_t launch_norm_rows(const NormArgs &a, int threads, cudaStream_t stream) {
  constexpr int kCachedDevices = 16;
  static std::atomic<int> resident[kCachedDevices][1024 / 32 + 1];  // blocks per SM; 0: not asked yet
  const auto kernel = quant_norm_rows<T, W, VEC, NV, Q>;
  int64_t blocks = a.rows;
  int dev = 0, sms = 0, per_sm = 0;
  cudaError_t e = cudaGetDevice(&dev);
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  if (e == cudaSuccess && a.rows > sms) {
    std::atomic<int> *slot = dev < kCachedDevices ? &resident[dev][threads / 32] : nullptr;
    per_sm = slot ? slot->load(std::memory_order_relaxed) : 0;
    if (per_sm == 0) {
      e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, 0);
      if (e == cudaSuccess && slot) slot->store(per_sm, std::memory_order_relaxed);
    }
  }
  if (e != cudaSuccess) return e;
  if (per_sm > 0) blocks = std::min<int64_t>(blocks, int64_t(sms) * per_sm);
  kernel<<<dim3(unsigned(blocks)), threads, 0, stream>>>(a);
  return cudaGetLastError();
}

template <typename T, typename W, int VEC, int NV, Quant Q>
cudaError_t launch_smooth(const NormArgs &a, int threads, cudaStream_t stream) {
  const dim3 grid(unsigned(a.rows));
  // Only the quantizers read smooth: the plain norms have one instantiation.
  if constexpr (Q != Quant::None && !std::is_same_v<T, float>) {
    if (a.smooth && a.smooth_dtype != Dt::F32) {
      norm_registers<T, W, VEC, NV, Q, T><<<grid, threads, 0, stream>>>(a);
      return cudaGetLastError();
    }
  } else if (Q != Quant::None && a.smooth && a.smooth_dtype != Dt::F32) {
    return cudaErrorInvalidValue;  // fp32 x takes fp32 smooth only
  }
  if constexpr (Q != Quant::None && NV <= 2) {
    switch (lean_form(a, int64_t(threads) * NV * VEC)) {
      case Form::Dyn: norm_registers<T, W, VEC, NV, Q, float, Form::Dyn><<<grid, threads, 0, stream>>>(a); break;
      case Form::Norm: return launch_norm_rows<T, W, VEC, NV, Q>(a, threads, stream);
      case Form::Any: norm_registers<T, W, VEC, NV, Q, float><<<grid, threads, 0, stream>>>(a); break;
    }
    return cudaGetLastError();
  }
  norm_registers<T, W, VEC, NV, Q, float><<<grid, threads, 0, stream>>>(a);
  return cudaGetLastError();
}

template <typename T, typename W, int VEC, int NV>
cudaError_t launch_registers(const NormArgs &a, int threads, cudaStream_t stream) {
  switch (a.quant) {
    case Quant::None: return launch_smooth<T, W, VEC, NV, Quant::None>(a, threads, stream);
    case Quant::Int8: return launch_smooth<T, W, VEC, NV, Quant::Int8>(a, threads, stream);
    case Quant::Fp8E4M3: return launch_smooth<T, W, VEC, NV, Quant::Fp8E4M3>(a, threads, stream);
  }
  return cudaErrorInvalidValue;
}

template <typename T, typename W>
cudaError_t launch_typed(const NormArgs &a, cudaStream_t stream) {
  if (a.rows == 0) return cudaSuccess;
  constexpr int kVec = 16 / sizeof(T);
  auto aligned = [](const void *p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  const int64_t nvec = a.cols / kVec;
  // Weights are read as packets too: their packet is 16 / sizeof(T) elements of W.
  const bool vec_ok = a.cols % kVec == 0 && aligned(a.x) && aligned(a.residual) && aligned(a.out) &&
                      aligned(a.residual_out) && aligned(a.weight) && aligned(a.bias) && aligned(a.smooth);
  if (vec_ok && nvec <= 1024 * kMaxVecs) {
    // Measured on H100 (bf16 4096-wide rows): 2 packets per thread is fastest for many rows (2.83 TB/s,
    // memcpy reaches 2.87), 1 packet per thread (the widest block) for few rows (lowest latency).
    // (The quantizers at 1 packet per thread measured 1.5x slower.)
    int nv = a.rows >= 1024 ? 2 : 1;
    while (nv < kMaxVecs && (nvec + nv - 1) / nv > 1024) nv *= 2;
    const int threads = int(std::max<int64_t>(32, ((nvec + nv - 1) / nv + 31) / 32 * 32));
    switch (nv) {
      case 1: return launch_registers<T, W, kVec, 1>(a, threads, stream);
      case 2: return launch_registers<T, W, kVec, 2>(a, threads, stream);
      case 4: return launch_registers<T, W, kVec, 4>(a, threads, stream);
      default: return launch_registers<T, W, kVec, 8>(a, threads, stream);
    }
  }
  // Quantizing variants need the register path (the row must stay in fp32 until its amax is known).
  if (a.quant != Quant::None) return cudaErrorNotSupported;
  const int threads = int(std::min<int64_t>(1024, std::max<int64_t>(32, (a.cols + 31) / 32 * 32)));
  norm_generic<T, W><<<dim3(unsigned(a.rows)), threads, 0, stream>>>(a);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_weight(const NormArgs &a, cudaStream_t stream) {
  return a.weight_dtype == Dt::F32 ? launch_typed<T, float>(a, stream) : launch_typed<T, T>(a, stream);
}

}  // namespace

cudaError_t launch_norm(const NormArgs &a, cudaStream_t stream) {
  switch (a.dtype) {
    case Dt::F32: return launch_typed<float, float>(a, stream);
    case Dt::F16: return launch_weight<__half>(a, stream);
    case Dt::BF16: return launch_weight<__nv_bfloat16>(a, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace mojo::cuda
