// Paged KV-cache kernels (spec/kv_cache.md, docs/decisions/cuda_memops.md): the validation pass of the
// stores, the stores themselves (one warp per token row set, bit-exact copies in 16-byte units where the
// sizes allow), the store plan (a single block: validate, count, scan, write) and kv_cache_cast.
#include <algorithm>

#include "device_error.cuh"
#include "kv_store.h"
#include "paged_store.cuh"
#include "quantize.cuh"

namespace mojo::cuda {

const char *store_error_text(int32_t code) {
  switch (code) {
    case kStoreCuStart: return "'cu_q_lens'[0] is not 0";
    case kStoreCuDecreasing: return "'cu_q_lens' decreases, expected non-decreasing offsets";
    case kStoreCuBeyondRows: return "'cu_q_lens'[B] (B in decode mode) exceeds the token rows of the states";
    case kStoreCtxBelowMinus1: return "'context_kv_lens' holds a value below -1, expected >= 0 or -1 (padding row)";
    case kStoreNumChunks: return "'num_chunks' is outside [0, rows of 'chunk_metadata']";
    case kStoreChunkRange:
      return "a 'chunk_metadata' row (src, block, offset, len) is out of range (states rows, cache blocks or block size)";
  }
  return "invalid store metadata";
}

namespace {

constexpr int kWarpsPerBlock = 8;

__global__ void store_validate(StoreAddressing a, int32_t *error_word) {
  if (a.chunks) {
    int64_t count = a.chunk_capacity;
    if (a.num_chunks) {
      count = *a.num_chunks;
      if (count < 0 || count > a.chunk_capacity) {
        if (threadIdx.x == 0) raise_error(error_word, kStoreNumChunks);
        return;
      }
    }
    for (int64_t r = threadIdx.x; r < count; r += blockDim.x) {
      const int32_t *c = a.chunks + r * 4;
      const int64_t src = c[0], blk = c[1], off = c[2], len = c[3];
      if (len < 0 || src < 0 || src + len > a.rows || blk < 0 || blk >= a.num_blocks || off < 0 ||
          off + len > a.block_size)
        raise_error(error_word, kStoreChunkRange);
    }
    return;
  }
  for (int64_t b = threadIdx.x; b < a.batch; b += blockDim.x) {
    if (a.context_lens[b] < -1) raise_error(error_word, kStoreCtxBelowMinus1);
    if (a.cu_q_lens && a.cu_q_lens[b + 1] < a.cu_q_lens[b]) raise_error(error_word, kStoreCuDecreasing);
  }
  if (threadIdx.x == 0) {
    if (a.cu_q_lens && a.cu_q_lens[0] != 0) raise_error(error_word, kStoreCuStart);
    const int64_t last = a.cu_q_lens ? a.cu_q_lens[a.batch] : a.batch;
    if (a.rows >= 0 && last > a.rows) raise_error(error_word, kStoreCuBeyondRows);
  }
}

template <typename U>
__global__ void store_legacy(StoreAddressing a, StoreTensor t0, StoreTensor t1, const int32_t *error_word) {
  if (error_raised(error_word)) return;
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t i = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); i < a.rows; i += warps) {
    int64_t block, slot;
    if (!locate_token(a, i, &block, &slot)) continue;
    copy_token_rows<U>(t0, i, block, slot, a.block_size, lane);
    if (t1.heads) copy_token_rows<U>(t1, i, block, slot, a.block_size, lane);
  }
}

// One block per plan row (grid-stride), its warps over the row's tokens.
template <typename U>
__global__ void store_chunks(StoreAddressing a, StoreTensor t0, StoreTensor t1, const int32_t *error_word) {
  if (error_raised(error_word)) return;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  const int64_t count = a.num_chunks ? *a.num_chunks : a.chunk_capacity;
  for (int64_t r = blockIdx.x; r < count; r += gridDim.x) {
    const int32_t *c = a.chunks + r * 4;
    const int64_t src = c[0], block = c[1], off = c[2], len = c[3];
    for (int64_t t = warp; t < len; t += nwarps) {
      copy_token_rows<U>(t0, src + t, block, off + t, a.block_size, lane);
      if (t1.heads) copy_token_rows<U>(t1, src + t, block, off + t, a.block_size, lane);
    }
  }
}

template <typename U>
cudaError_t launch_store_unit(const StoreAddressing &a, const StoreTensor &t0, const StoreTensor &t1,
                              const int32_t *error_word, cudaStream_t stream) {
  if (a.chunks) {
    const unsigned blocks = unsigned(std::max<int64_t>(1, std::min<int64_t>(a.chunk_capacity, 132 * 16)));
    store_chunks<U><<<blocks, 128, 0, stream>>>(a, t0, t1, error_word);
  } else {
    const int64_t want = (a.rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
    const unsigned blocks = unsigned(std::max<int64_t>(1, std::min<int64_t>(want, 132 * 32)));
    store_legacy<U><<<blocks, 32 * kWarpsPerBlock, 0, stream>>>(a, t0, t1, error_word);
  }
  return cudaGetLastError();
}

// Widest power-of-two unit (<= 16 bytes) dividing every row and every base address.
int copy_unit(std::initializer_list<uint64_t> sizes) {
  uint64_t bits = 16;
  for (uint64_t s : sizes) bits |= s;
  return int(bits & (~bits + 1));  // lowest set bit, at most 16
}

// paged_kv_store_plan: one block. Sequences in tiles of blockDim.x; per tile, counts -> exclusive scan ->
// writes (sequence-major, ascending block column, kv_cache.md §1).
__device__ int64_t plan_sequence(const StoreAddressing &a, int64_t b, int32_t *out, int64_t capacity, int64_t base) {
  const int64_t c0 = a.context_lens[b], bs = a.block_size;
  if (c0 < 0) return 0;
  int64_t n = 0;
  auto emit = [&](int64_t src, int64_t id, int64_t off, int64_t len) {
    if (out && base + n < capacity) {
      int32_t *row = out + (base + n) * 4;
      row[0] = int32_t(src);
      row[1] = int32_t(id);
      row[2] = int32_t(off);
      row[3] = int32_t(len);
    }
    ++n;
  };
  if (!a.cu_q_lens) {
    const int64_t m = c0 / bs;
    if (m < a.max_blocks && a.block_table[b * a.max_blocks + m] >= 0)
      emit(b, a.block_table[b * a.max_blocks + m], c0 % bs, 1);
    return n;
  }
  const int64_t q = a.cu_q_lens[b + 1] - a.cu_q_lens[b];
  if (q <= 0) return 0;
  const int64_t last = std::min<int64_t>(a.max_blocks - 1, (c0 + q - 1) / bs);
  for (int64_t m = c0 / bs; m <= last; ++m) {
    const int64_t id = a.block_table[b * a.max_blocks + m];
    if (id < 0) continue;
    const int64_t s = std::max(m * bs, c0), e = std::min((m + 1) * bs, c0 + q);
    emit(a.cu_q_lens[b] + s - c0, id, s - m * bs, e - s);
  }
  return n;
}

__global__ void store_plan_build(StorePlanArgs p, int32_t *error_word) {
  __shared__ int32_t bad;
  __shared__ int64_t scan[1024];
  const StoreAddressing &a = p.addr;
  if (threadIdx.x == 0) bad = 0;
  __syncthreads();
  for (int64_t b = threadIdx.x; b < a.batch; b += blockDim.x) {
    if (a.context_lens[b] < -1) atomicCAS(&bad, 0, int32_t(kStoreCtxBelowMinus1));
    if (a.cu_q_lens && a.cu_q_lens[b + 1] < a.cu_q_lens[b]) atomicCAS(&bad, 0, int32_t(kStoreCuDecreasing));
  }
  if (threadIdx.x == 0 && a.cu_q_lens && a.cu_q_lens[0] != 0) atomicCAS(&bad, 0, int32_t(kStoreCuStart));
  __syncthreads();
  if (bad) {
    if (threadIdx.x == 0) raise_error(error_word, bad);
    return;
  }
  int64_t base = 0;
  for (int64_t tile = 0; tile < a.batch; tile += blockDim.x) {
    const int64_t b = tile + threadIdx.x;
    const int64_t n = b < a.batch ? plan_sequence(a, b, nullptr, 0, 0) : 0;
    scan[threadIdx.x] = n;
    __syncthreads();
    for (unsigned o = 1; o < blockDim.x; o <<= 1) {  // inclusive Hillis-Steele scan
      const int64_t add = threadIdx.x >= o ? scan[threadIdx.x - o] : 0;
      __syncthreads();
      scan[threadIdx.x] += add;
      __syncthreads();
    }
    if (b < a.batch) plan_sequence(a, b, p.chunks, p.capacity, base + scan[threadIdx.x] - n);
    base += scan[blockDim.x - 1];
    __syncthreads();
  }
  if (threadIdx.x == 0) *p.num_chunks = int32_t(base);
}

// kv_cache_cast: blockIdx.y walks the selected blocks, x the VEC-element groups of a block.
enum class CastMode { Cast, Quantize, Dequantize };

__global__ void cast_validate(CacheCastArgs a, int32_t *error_word) {
  if (a.overlap && blockIdx.x == 0 && threadIdx.x == 0) raise_error(error_word, kCastOverlap);
  if (!a.block_ids) return;
  const int64_t limit = std::min(a.src_blocks, a.dst_blocks);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < a.num_selected; i += int64_t(gridDim.x) * blockDim.x)
    if (a.block_ids[i] < 0 || a.block_ids[i] >= limit) raise_error(error_word, kCastBlockId);
}

template <typename S, typename D, int VEC, CastMode M>
__global__ void cache_cast(CacheCastArgs a, const int32_t *error_word) {
  if (error_raised(error_word)) return;
  const int64_t groups = a.block_elems / VEC, row_elems = a.block_size * a.slot_dim;
  for (int64_t k = blockIdx.y; k < a.num_selected; k += gridDim.y) {
    const int64_t blk = a.block_ids ? a.block_ids[k] : k;
    const S *src = static_cast<const S *>(a.src) + blk * a.block_elems;
    D *dst = static_cast<D *>(a.dst) + blk * a.block_elems;
    for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += int64_t(gridDim.x) * blockDim.x) {
      const int64_t e = g * VEC;
      float v[VEC];
      load_floats<S, VEC>(src + e, v);
      if constexpr (M != CastMode::Cast) {
        const float *s = a.scale + (e / row_elems) * a.slot_dim + e % a.slot_dim;  // scale[h, d]
#pragma unroll
        for (int i = 0; i < VEC; ++i) v[i] = M == CastMode::Quantize ? __fdiv_rn(v[i], s[i]) : v[i] * s[i];
      }
      store_floats<D, VEC>(dst + e, v);
    }
  }
}

template <typename S, typename D>
cudaError_t launch_cast_types(const CacheCastArgs &a, cudaStream_t stream, const int32_t *error_word) {
  const bool qs = a.src_elem == Elem::I8 || a.src_elem == Elem::F8;
  const bool qd = a.dst_elem == Elem::I8 || a.dst_elem == Elem::F8;
  constexpr int kVec = 4;
  auto aligned = [](const void *p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; };
  const bool vec = a.slot_dim % kVec == 0 && aligned(a.src, sizeof(S) * kVec) && aligned(a.dst, sizeof(D) * kVec);
  const int64_t groups = a.block_elems / (vec ? kVec : 1);
  const dim3 grid(unsigned(std::max<int64_t>(1, std::min<int64_t>((groups + 255) / 256, 1024))),
                  unsigned(std::max<int64_t>(1, std::min<int64_t>(a.num_selected, 65535))));
  auto go = [&](auto mode) {
    constexpr CastMode m = decltype(mode)::value;
    if (vec) cache_cast<S, D, kVec, m><<<grid, 256, 0, stream>>>(a, error_word);
    else cache_cast<S, D, 1, m><<<grid, 256, 0, stream>>>(a, error_word);
  };
  if (!qs && qd) go(std::integral_constant<CastMode, CastMode::Quantize>());
  else if (qs && !qd) go(std::integral_constant<CastMode, CastMode::Dequantize>());
  else go(std::integral_constant<CastMode, CastMode::Cast>());
  return cudaGetLastError();
}

template <typename S>
cudaError_t launch_cast_src(const CacheCastArgs &a, cudaStream_t stream, const int32_t *error_word) {
  switch (a.dst_elem) {
    case Elem::F32: return launch_cast_types<S, float>(a, stream, error_word);
    case Elem::F16: return launch_cast_types<S, __half>(a, stream, error_word);
    case Elem::BF16: return launch_cast_types<S, __nv_bfloat16>(a, stream, error_word);
    case Elem::I8: return launch_cast_types<S, int8_t>(a, stream, error_word);
    case Elem::F8: return launch_cast_types<S, __nv_fp8_e4m3>(a, stream, error_word);
  }
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t launch_store_validate(const StoreAddressing &a, int32_t *error_word, cudaStream_t stream) {
  store_validate<<<1, 256, 0, stream>>>(a, error_word);
  return cudaGetLastError();
}

cudaError_t launch_paged_store(const StoreAddressing &a, const StoreTensor &first, const StoreTensor &second,
                               int32_t *error_word, cudaStream_t stream) {
  cudaError_t e = launch_store_validate(a, error_word, stream);
  if (e != cudaSuccess || a.rows == 0) return e;
  auto addr = [](const void *p) { return uint64_t(reinterpret_cast<uintptr_t>(p)); };
  const int unit = copy_unit({uint64_t(first.row_bytes), uint64_t(second.row_bytes), addr(first.src), addr(first.dst),
                              addr(second.src), addr(second.dst)});
  switch (unit) {
    case 16: return launch_store_unit<uint4>(a, first, second, error_word, stream);
    case 8: return launch_store_unit<uint2>(a, first, second, error_word, stream);
    case 4: return launch_store_unit<uint32_t>(a, first, second, error_word, stream);
    case 2: return launch_store_unit<uint16_t>(a, first, second, error_word, stream);
    default: return launch_store_unit<uint8_t>(a, first, second, error_word, stream);
  }
}

cudaError_t launch_store_plan(const StorePlanArgs &a, int32_t *error_word, cudaStream_t stream) {
  store_plan_build<<<1, 1024, 0, stream>>>(a, error_word);
  return cudaGetLastError();
}

cudaError_t launch_cache_cast(const CacheCastArgs &a, int32_t *error_word, cudaStream_t stream) {
  cast_validate<<<1, 256, 0, stream>>>(a, error_word);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess || a.num_selected == 0 || a.block_elems == 0) return e;
  switch (a.src_elem) {
    case Elem::F32: return launch_cast_src<float>(a, stream, error_word);
    case Elem::F16: return launch_cast_src<__half>(a, stream, error_word);
    case Elem::BF16: return launch_cast_src<__nv_bfloat16>(a, stream, error_word);
    case Elem::I8: return launch_cast_src<int8_t>(a, stream, error_word);
    case Elem::F8: return launch_cast_src<__nv_fp8_e4m3>(a, stream, error_word);
  }
  return cudaErrorInvalidValue;
}

}  // namespace mojo::cuda
