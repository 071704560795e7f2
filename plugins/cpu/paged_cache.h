// Helpers for the paged KV-cache layout of spec ops.md §1.4, shared by the cpu reference kernels that read or
// write a paged cache (attention, kv_cache stores, fused norm+rope+store).
//
//   cache        [NB, H, BS, D]   "block, head, slot, dim"; the last dim is unit-stride, others may be strided
//   block_table  [B, MB] int32    logical position p of sequence b lives in block block_table[b, p / BS],
//                                 slot p % BS; -1 marks an unused column
//
// Typical use:
//   PagedCache kc(c.in(1));                       // key cache
//   BlockTable bt(c.in(4));                       // block table
//   std::string err = bt.check_needed(b, L, kc);  // "" or a message; do this for every sequence first
//   if (!err.empty()) return c.error(MOJO_STATUS_INVALID_ARGUMENT, err);
//   int64_t blk, slot;
//   if (bt.locate(b, p, kc, &blk, &slot)) kc.read_row(blk, h, slot, row);   // row: float[D]
//
// Stores that must skip invalid targets silently (kv_cache.md §2) call locate() and skip on false; attention
// ops validate every needed column with check_needed() before computing anything.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "mojo_common/dtype.h"
#include "mojo_common/plugin_support.h"
#include "tensor_view.h"

namespace mojo::cpu {

// A 4-D paged cache [NB, H, BS, D] (GQA caches, or MLA caches with H = 1).
class PagedCache {
 public:
  explicit PagedCache(const mojo_tensor *t) : view_(t) {
    if (t == nullptr) return;
    num_blocks = view_.dim(0);
    heads = view_.dim(1);
    block_size = view_.dim(2);
    head_dim = view_.dim(3);
    s0_ = view_.stride(0);
    s1_ = view_.stride(1);
    s2_ = view_.stride(2);
    base_ = static_cast<char *>(common::data_ptr(*t));
    elem_ = common::dtype_size(view_.dtype());
  }

  int64_t num_blocks = 0, heads = 0, block_size = 0, head_dim = 0;

  bool present() const { return view_.present(); }
  int dtype() const { return view_.dtype(); }

  // Element offset of cache[block, head, slot, 0].
  int64_t row_offset(int64_t block, int64_t head, int64_t slot) const {
    return block * s0_ + head * s1_ + slot * s2_;
  }
  // cache[block, head, slot, 0:D] as fp32 into dst[D].
  void read_row(int64_t block, int64_t head, int64_t slot, float *dst) const {
    int64_t off = row_offset(block, head, slot);
    for (int64_t d = 0; d < head_dim; ++d) dst[d] = view_.load(off + d);
  }
  // Rounds src[D] once to the cache dtype and writes cache[block, head, slot, 0:D].
  void write_row(int64_t block, int64_t head, int64_t slot, const float *src) const {
    int64_t off = row_offset(block, head, slot);
    for (int64_t d = 0; d < head_dim; ++d) view_.store(off + d, src[d]);
  }
  // Raw pointer to cache[block, head, slot, 0] (D contiguous elements of dtype()).
  void *row_ptr(int64_t block, int64_t head, int64_t slot) const {
    return base_ + row_offset(block, head, slot) * elem_;
  }
  // Bit-exact copy of D elements of the same dtype (src points at a contiguous row) into the slot.
  void copy_row_in(int64_t block, int64_t head, int64_t slot, const void *src) const {
    std::memcpy(row_ptr(block, head, slot), src, size_t(head_dim * elem_));
  }

 private:
  TensorView view_;
  int64_t s0_ = 0, s1_ = 0, s2_ = 0;
  char *base_ = nullptr;
  int elem_ = 0;
};

// A [B, MB] int32 block table.
class BlockTable {
 public:
  explicit BlockTable(const mojo_tensor *t) : view_(t) {
    if (t == nullptr) return;
    rows = view_.dim(0);
    cols = view_.dim(1);
    s0_ = view_.stride(0);
  }

  int64_t rows = 0, cols = 0;  // B, MB

  bool present() const { return view_.present(); }
  // block_table[b, m] (no range check on b, m).
  int64_t id(int64_t b, int64_t m) const { return view_.load_index(b * s0_ + m); }

  // Logical position p of sequence b → (block, slot). False when the column p / BS is >= MB, or the id is
  // negative or >= cache.num_blocks (the store ops skip such tokens; attention checks with check_needed).
  bool locate(int64_t b, int64_t p, const PagedCache &cache, int64_t *block, int64_t *slot) const {
    if (p < 0) return false;
    int64_t m = p / cache.block_size;
    if (m >= cols) return false;
    int64_t blk = id(b, m);
    if (blk < 0 || blk >= cache.num_blocks) return false;
    *block = blk;
    *slot = p % cache.block_size;
    return true;
  }

  // Validates that sequence b with L visible tokens has valid block ids in columns 0 .. ceil(L/BS)-1
  // (ops.md §1.4, AMB-BT). Returns "" or a message naming block_table, the sequence and the column.
  std::string check_needed(int64_t b, int64_t L, const PagedCache &cache) const {
    if (L <= 0) return "";
    int64_t need = (L + cache.block_size - 1) / cache.block_size;
    if (need > cols)
      return "sequence " + std::to_string(b) + " has " + std::to_string(L) + " tokens, which needs " +
             std::to_string(need) + " block-table columns, but 'block_table' has only " + std::to_string(cols);
    for (int64_t m = 0; m < need; ++m) {
      int64_t blk = id(b, m);
      if (blk < 0 || blk >= cache.num_blocks)
        return "'block_table'[" + std::to_string(b) + ", " + std::to_string(m) + "] = " + std::to_string(blk) +
               ", expected a block id in [0, " + std::to_string(cache.num_blocks) + ") for a sequence of " +
               std::to_string(L) + " tokens";
    }
    return "";
  }

 private:
  TensorView view_;
  int64_t s0_ = 0;
};

// Reads a 1-D int32 length/offset tensor element (nullptr-safe helper for the kernels).
inline int64_t load_len(const mojo_tensor *t, int64_t i) {
  TensorView v(t);
  return v.load_index(i * v.stride(0));
}

}  // namespace mojo::cpu
