// apply_rope: rotate-half (NeoX) or interleaved (GPT-J) RoPE on the trailing Dr channels of every head vector.
// Each thread owns P consecutive rotation pairs (16-byte accesses for rotate-half when the sizes allow); the
// leading nope channels are copied by the same threads. q and k are two launches of one kernel.
#include <algorithm>

#include "common.cuh"
#include "launch.h"

namespace mojo::cuda {
namespace {

// Row r of q/k (one head vector) -> row of the cos/sin table.
__device__ __forceinline__ int64_t table_row(const RopeTensor &t, const RopeArgs &a, int64_t r) {
  if (t.rank == 3) return a.head_first ? r % t.tokens : r / t.heads;
  const int64_t per_batch = t.tokens * t.heads;
  const int64_t b = r / per_batch, rest = r % per_batch;
  const int64_t s = a.head_first ? rest % t.tokens : rest / t.heads;
  return a.table_batched ? b * t.tokens + s : s;
}

template <typename T, typename C, int P>
__global__ void rope_kernel(RopeArgs a, RopeTensor t) {
  const int64_t half = a.rope_dim / 2, nope = t.dim - a.rope_dim;
  const int64_t groups_per_row = a.interleaved ? a.rope_dim / (2 * P) : half / P;
  const int64_t nope_groups = nope / P;
  const int64_t per_row = groups_per_row + nope_groups;
  const int64_t total = t.rows * per_row;
  const T *src = static_cast<const T *>(t.src);
  T *dst = static_cast<T *>(t.dst);
  const C *cos = static_cast<const C *>(a.cos), *sin = static_cast<const C *>(a.sin);
  for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < total; g += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = g / per_row, j = g % per_row;
    const T *in = src + r * t.dim;
    T *out = dst + r * t.dim;
    if (j >= groups_per_row) {  // nope channels pass through
      const int64_t c = (j - groups_per_row) * P;
      float v[P];
      load_floats<T, P>(in + c, v);
      store_floats<T, P>(out + c, v);
      continue;
    }
    const int64_t tr = table_row(t, a, r) * a.rope_dim;
    if (!a.interleaved) {
      const int64_t i = j * P;
      float x1[P], x2[P], c1[P], s1[P], c2[P], s2[P];
      load_floats<T, P>(in + nope + i, x1);
      load_floats<T, P>(in + nope + half + i, x2);
      load_floats<C, P>(cos + tr + i, c1);
      load_floats<C, P>(sin + tr + i, s1);
      load_floats<C, P>(cos + tr + half + i, c2);
      load_floats<C, P>(sin + tr + half + i, s2);
      float y1[P], y2[P];
#pragma unroll
      for (int k = 0; k < P; ++k) {
        y1[k] = x1[k] * c1[k] - x2[k] * s1[k];
        y2[k] = x2[k] * c2[k] + x1[k] * s2[k];
      }
      store_floats<T, P>(out + nope + i, y1);
      store_floats<T, P>(out + nope + half + i, y2);
    } else {
      // P pairs (2P channels); pair k uses table entry k (full-width rows repeat each half).
      const int64_t pair0 = j * P;
      for (int k = 0; k < P; ++k) {
        const int64_t p = pair0 + k;
        const float x0 = to_float(in[nope + 2 * p]), x1 = to_float(in[nope + 2 * p + 1]);
        const float c = to_float(cos[tr + p]), s = to_float(sin[tr + p]);
        out[nope + 2 * p] = from_float<T>(x0 * c - x1 * s);
        out[nope + 2 * p + 1] = from_float<T>(x1 * c + x0 * s);
      }
    }
  }
}

template <typename T, typename C>
cudaError_t launch_tensor(const RopeArgs &a, const RopeTensor &t, cudaStream_t stream) {
  if (t.rows == 0) return cudaSuccess;
  constexpr int kP = 16 / sizeof(T);
  const int64_t half = a.rope_dim / 2, nope = t.dim - a.rope_dim;
  auto aligned = [](const void *p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  const bool vec = !a.interleaved && half % kP == 0 && nope % kP == 0 && t.dim % kP == 0 && aligned(t.src) &&
                   aligned(t.dst) && aligned(a.cos) && aligned(a.sin) && (a.rope_dim * sizeof(C)) % 16 == 0;
  const int p = vec ? kP : 1;
  const int64_t per_row = (a.interleaved ? a.rope_dim / (2 * p) : half / p) + nope / p;
  const int64_t total = t.rows * per_row;
  const int threads = 256;
  const unsigned blocks = unsigned(std::min<int64_t>((total + threads - 1) / threads, 132 * 32));
  if (vec)
    rope_kernel<T, C, kP><<<blocks, threads, 0, stream>>>(a, t);
  else
    rope_kernel<T, C, 1><<<blocks, threads, 0, stream>>>(a, t);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_typed(const RopeArgs &a, cudaStream_t stream) {
  for (const RopeTensor *t : {&a.q, &a.k}) {
    cudaError_t e = a.table_dtype == Dt::F32 ? launch_tensor<T, float>(a, *t, stream) : launch_tensor<T, T>(a, *t, stream);
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
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
