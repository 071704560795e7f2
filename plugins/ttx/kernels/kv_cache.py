"""store_paged_kv_cache for the ttx plugin (plugins/cpu/ops/kv_cache.cpp): bit-exact copies of new key/value
rows into paged caches, from the legacy arguments (block_table, cu_q_lens or decode, context_kv_lens) or a
plan (chunk_metadata, num_chunks).

All or nothing (spec ops.md §1.4): kv_validate_kernel checks the device-resident lengths/plan first and
raises a code into the op's error word; the store kernels write nothing once the word is set. Elements are
moved as integers of their width (no conversion). Invalid block targets are skipped silently, as specified.
"""
import triton
import triton.language as tl

# Error codes (ops/kv_cache.cpp describes them).
CU_FIRST = tl.constexpr(1)
CU_DECREASING = tl.constexpr(2)
CU_BEYOND_ROWS = tl.constexpr(3)
CTX_BELOW = tl.constexpr(4)
COUNT_RANGE = tl.constexpr(5)
PLAN_ROW = tl.constexpr(6)


@triton.jit
def kv_validate_kernel(cu_ptr, ctx_ptr, meta_ptr, count_ptr, err_ptr, n_seqs, n_rows, n_chunks, n_blocks,
                       block_size, mode, has_count, BLOCK: tl.constexpr):
    """mode 0: legacy decode, 1: legacy with cu_q_lens, 2: plan. One program."""
    code = tl.full([], 0, tl.int32)
    idx = tl.arange(0, BLOCK)
    if mode < 2:
        if (mode == 0) & (n_seqs > n_rows):  # decode: one token row per sequence
            code = tl.full([], CU_BEYOND_ROWS, tl.int32)
        for start in range(0, n_seqs + 1, BLOCK):
            i = start + idx
            if mode == 1:
                cu = tl.load(cu_ptr + i, mask=i <= n_seqs, other=0)
                prev = tl.load(cu_ptr + i - 1, mask=(i >= 1) & (i <= n_seqs), other=0)
                bad = tl.where((i == 0) & (cu != 0), CU_FIRST, 0)
                bad = tl.maximum(bad, tl.where((i >= 1) & (i <= n_seqs) & (cu < prev), CU_DECREASING, 0))
                bad = tl.maximum(bad, tl.where((i == n_seqs) & (cu > n_rows), CU_BEYOND_ROWS, 0))
                code = tl.maximum(code, tl.max(bad, axis=0))
            ctx = tl.load(ctx_ptr + i, mask=i < n_seqs, other=0)
            code = tl.maximum(code, tl.max(tl.where((i < n_seqs) & (ctx < -1), CTX_BELOW, 0), axis=0))
    else:
        count = n_chunks
        if has_count != 0:
            count = tl.load(count_ptr)
        if (count < 0) | (count > n_chunks):
            code = tl.full([], COUNT_RANGE, tl.int32)
        else:
            for start in range(0, count, BLOCK):
                r = start + idx
                m = r < count
                src = tl.load(meta_ptr + 4 * r, mask=m, other=0)
                blk = tl.load(meta_ptr + 4 * r + 1, mask=m, other=0)
                off = tl.load(meta_ptr + 4 * r + 2, mask=m, other=0)
                ln = tl.load(meta_ptr + 4 * r + 3, mask=m, other=0)
                bad = (ln < 0) | (src < 0) | (src + ln > n_rows) | (blk < 0) | (blk >= n_blocks) | (off < 0) | \
                      (off + ln > block_size)
                code = tl.maximum(code, tl.max(tl.where(m & bad, PLAN_ROW, 0), axis=0))
    if code != 0:
        tl.atomic_cas(err_ptr, 0, code)


@triton.jit
def _copy_token(k_src, v_src, k_cache, v_cache, row, blk, slot, hd, head_dim, block_size, BLOCK: tl.constexpr):
    """states[row, :, :] -> cache[blk, :, slot, :] for keys and values (hd = heads * head_dim)."""
    cols = tl.arange(0, BLOCK)
    src = row.to(tl.int64) * hd
    base = blk.to(tl.int64) * hd * block_size + slot.to(tl.int64) * head_dim
    for start in range(0, hd, BLOCK):
        i = start + cols
        mask = i < hd
        dst = base + (i // head_dim).to(tl.int64) * block_size * head_dim + i % head_dim
        tl.store(k_cache + dst, tl.load(k_src + src + i, mask=mask), mask=mask)
        tl.store(v_cache + dst, tl.load(v_src + src + i, mask=mask), mask=mask)


@triton.jit
def kv_store_legacy_kernel(k_src, v_src, k_cache, v_cache, bt_ptr, cu_ptr, ctx_ptr, err_ptr, n_rows, max_blocks,
                           n_blocks, block_size, hd, head_dim, decode, stride, BLOCK: tl.constexpr):
    """Program (b, s) stores tokens s, s + stride, ... of sequence b."""
    b = tl.program_id(0)
    s = tl.program_id(1)
    err = tl.load(err_ptr)
    c0 = tl.load(ctx_ptr + b)
    first = tl.load(cu_ptr + b, mask=decode == 0, other=0)
    first = tl.where(decode != 0, b, first)
    n = tl.load(cu_ptr + b + 1, mask=decode == 0, other=0) - first
    n = tl.where(decode != 0, 1, n)
    if (err == 0) & (c0 >= 0):
        for t in range(s, n, stride):
            p = c0 + t
            m = p // block_size
            if m < max_blocks:
                blk = tl.load(bt_ptr + b.to(tl.int64) * max_blocks + m)
                if (blk >= 0) & (blk < n_blocks) & (first + t < n_rows):
                    _copy_token(k_src, v_src, k_cache, v_cache, first + t, blk, p % block_size, hd, head_dim,
                                block_size, BLOCK)


@triton.jit
def kv_store_plan_kernel(k_src, v_src, k_cache, v_cache, meta_ptr, count_ptr, err_ptr, n_chunks, has_count,
                         hd, head_dim, block_size, stride, BLOCK: tl.constexpr):
    """Program (r, s) stores tokens s, s + stride, ... of chunk r = (src, block, offset, len)."""
    r = tl.program_id(0)
    s = tl.program_id(1)
    err = tl.load(err_ptr)
    count = tl.load(count_ptr, mask=has_count != 0, other=0)
    count = tl.where(has_count != 0, count, n_chunks)
    if (err == 0) & (r < count):
        src = tl.load(meta_ptr + 4 * r)
        blk = tl.load(meta_ptr + 4 * r + 1)
        off = tl.load(meta_ptr + 4 * r + 2)
        ln = tl.load(meta_ptr + 4 * r + 3)
        for t in range(s, ln, stride):
            _copy_token(k_src, v_src, k_cache, v_cache, src + t, blk, off + t, hd, head_dim, block_size, BLOCK)
