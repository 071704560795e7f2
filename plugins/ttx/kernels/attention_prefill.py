"""paged_prefill_gqa for the ttx plugin (plugins/cpu/ops/attention.cpp): varlen packed queries against their
sequence's paged keys, FlashAttention-2 style (one pass, online softmax in fp32, tl.dot for both products).

All or nothing (spec ops.md §1.4): prefill_validate_kernel checks the cu-lengths, hints and every needed block
column and raises into the op's error word; prefill_kernel writes nothing once it is set.

Grid (slots, Hq), one launch for the whole batch: with BLOCK_M query rows per tile, sequence b owns the
slots [cu_q[b] // BLOCK_M + b, cu_q[b + 1] // BLOCK_M + b + 1) (at least ceil(n / BLOCK_M) of them), so
T // BLOCK_M + B slots cover any ragged batch and a program finds its sequence by binary search in cu_q_lens:
no host loop, nothing read back (CUDA-graph safe). Slots run in reverse, so the costliest causal tiles (the
last of each sequence) start first and the short ones fill the tail. Causal (bottom-right) tiles visit keys
[0, full) without a mask (every row of the tile sees them), then [full, end) masked; keys past the last row's
position are never loaded. One program per query head: K/V of a KV head are re-read by its G heads (from L2).
"""
import triton
import triton.language as tl
from params import block_ids_code

# Error codes (ops/attention_prefill.cpp describes them).
BAD_CU_Q = tl.constexpr(1)
BAD_CU_KV = tl.constexpr(2)
SHORT_KV = tl.constexpr(3)
BEYOND_TABLE = tl.constexpr(4)
BAD_BLOCK = tl.constexpr(5)
BEYOND_Q_HINT = tl.constexpr(6)
BEYOND_KV_HINT = tl.constexpr(7)


@triton.jit
def prefill_validate_kernel(cu_q_ptr, cu_kv_ptr, bt_ptr, err_ptr, n_seqs, n_rows, has_cu_kv, causal, max_blocks,
                            n_blocks, block_size, q_hint, kv_hint, BLOCK: tl.constexpr):
    """Program b: cu entries b and b + 1 (program 0 also cu[0] and cu_q[B] <= T); for a sequence with n > 0 and
    L > 0, L >= n (causal), the hints (when >= 0), ceil(L / BS) <= MB and the needed block ids in [0, NB)."""
    b = tl.program_id(0)
    q0 = tl.load(cu_q_ptr + b)
    q1 = tl.load(cu_q_ptr + b + 1)
    n = q1 - q0
    L = n
    code = tl.full([], 0, tl.int32)
    if b == 0:
        if (q0 != 0) | (tl.load(cu_q_ptr + n_seqs) > n_rows):
            code = tl.full([], BAD_CU_Q, tl.int32)
    if n < 0:
        code = tl.full([], BAD_CU_Q, tl.int32)
    if has_cu_kv != 0:
        k0 = tl.load(cu_kv_ptr + b)
        L = tl.load(cu_kv_ptr + b + 1) - k0
        if ((b == 0) & (k0 != 0)) | (L < 0):
            code = tl.full([], BAD_CU_KV, tl.int32)
    if (code == 0) & (n > 0) & (L > 0):
        need = (L + block_size - 1) // block_size
        if (causal != 0) & (L < n):
            code = tl.full([], SHORT_KV, tl.int32)
        elif (q_hint >= 0) & (n > q_hint):
            code = tl.full([], BEYOND_Q_HINT, tl.int32)
        elif (kv_hint >= 0) & (L > kv_hint):
            code = tl.full([], BEYOND_KV_HINT, tl.int32)
        elif need > max_blocks:
            code = tl.full([], BEYOND_TABLE, tl.int32)
        else:
            code = block_ids_code(bt_ptr + b.to(tl.int64) * max_blocks, need, n_blocks, BAD_BLOCK, BLOCK)
    if code != 0:
        tl.atomic_cas(err_ptr, 0, code)


@triton.jit
def _attend_tile(acc, l_i, m_i, q, k_cache, v_cache, bt_row, start, L, pos, g, d, dmask, n_kv_heads, head_dim,
                 block_size, qk_scale, causal, BLOCK_N: tl.constexpr, MASKED: tl.constexpr):
    """One BLOCK_N-key step of the online softmax. MASKED: keys may lie past L or (causal) past a row's
    position; otherwise every key of the tile is visible to every row."""
    j = start + tl.arange(0, BLOCK_N)
    if MASKED:
        jmask = j < L
        page = tl.load(bt_row + j // block_size, mask=jmask, other=0)
        kvmask = jmask[:, None] & dmask[None, :]
    else:
        page = tl.load(bt_row + j // block_size)
        kvmask = dmask[None, :]
    rows = ((page.to(tl.int64) * n_kv_heads + g) * block_size + j % block_size) * head_dim
    k = tl.load(k_cache + rows[:, None] + d[None, :], mask=kvmask, other=0.0)
    v = tl.load(v_cache + rows[:, None] + d[None, :], mask=kvmask, other=0.0)
    s = tl.dot(q, tl.trans(k))
    if MASKED:
        ok = jmask[None, :] & ((causal == 0) | (j[None, :] <= pos[:, None]))
        s = tl.where(ok, s, float("-inf"))
    # The scale is folded into the exponent's FMA (qk_scale >= 0: prefill_kernel moved its sign into q), which
    # saves a multiply over the whole tile. The first step of a tile always has key 0 visible to every valid
    # row (pos >= 0), so m_new is finite for them and exp2(m_i - m_new) never meets -inf - -inf.
    m_new = tl.maximum(m_i, tl.max(s, axis=1) * qk_scale)
    alpha = tl.exp2(m_i - m_new)
    p = tl.exp2(s * qk_scale - m_new[:, None])
    l_i = l_i * alpha + tl.sum(p, axis=1)
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
    return acc, l_i, m_new


@triton.jit
def prefill_kernel(q_ptr, k_cache, v_cache, out_ptr, head_dim, cu_q_ptr, cu_kv_ptr, bt_ptr, err_ptr, n_seqs,
                   n_q_heads, n_kv_heads, max_blocks, block_size, scale, causal, grouped, has_cu_kv,
                   D_PAD: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    slot = tl.num_programs(0) - 1 - tl.program_id(0)
    h = tl.program_id(1)
    err = tl.load(err_ptr)
    if err == 0:
        # The sequence owning this slot: the last b with cu_q[b] // BLOCK_M + b <= slot (increasing in b).
        lo = tl.full([], 0, tl.int32)
        hi = n_seqs - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            take = tl.load(cu_q_ptr + mid) // BLOCK_M + mid <= slot
            lo = tl.where(take, mid, lo)
            hi = tl.where(take, hi, mid - 1)
        q0 = tl.load(cu_q_ptr + lo)
        n = tl.load(cu_q_ptr + lo + 1) - q0
        m0 = (slot - q0 // BLOCK_M - lo) * BLOCK_M
        L = n
        if has_cu_kv != 0:
            L = tl.load(cu_kv_ptr + lo + 1) - tl.load(cu_kv_ptr + lo)
        if (m0 < n) & (L > 0):
            group = n_q_heads // n_kv_heads
            g = tl.where(grouped != 0, h // group, h % n_kv_heads)  # AABB: h / G; ABAB: h % Hkv
            rows_m = m0 + tl.arange(0, BLOCK_M)
            mmask = rows_m < n
            d = tl.arange(0, D_PAD)
            dmask = d < head_dim
            q_off = ((q0 + rows_m).to(tl.int64) * n_q_heads + h) * head_dim
            qmask = mmask[:, None] & dmask[None, :]
            q = tl.load(q_ptr + q_off[:, None] + d[None, :], mask=qmask, other=0.0)
            pos = L - n + rows_m  # absolute position of each query row
            end = L
            full = L
            if causal != 0:
                end = tl.minimum(L, L - n + m0 + BLOCK_M)  # one past the last row's position
                full = tl.minimum(L, L - n + m0 + 1)  # keys every row of the tile sees
            full = full // BLOCK_N * BLOCK_N
            bt_row = bt_ptr + lo.to(tl.int64) * max_blocks
            qk_scale = scale * 1.4426950408889634  # exp(x) = exp2(x * log2 e)
            if qk_scale < 0:  # max(s) * qk_scale must be the row maximum: negate q instead (exact)
                q = (-q.to(tl.float32)).to(q.dtype)
                qk_scale = -qk_scale
            m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
            l_i = tl.zeros([BLOCK_M], tl.float32)
            acc = tl.zeros([BLOCK_M, D_PAD], tl.float32)
            for start in range(0, full, BLOCK_N):
                acc, l_i, m_i = _attend_tile(acc, l_i, m_i, q, k_cache, v_cache, bt_row, start, L, pos, g, d, dmask,
                                             n_kv_heads, head_dim, block_size, qk_scale, causal, BLOCK_N, False)
            for start in range(full, end, BLOCK_N):
                acc, l_i, m_i = _attend_tile(acc, l_i, m_i, q, k_cache, v_cache, bt_row, start, L, pos, g, d, dmask,
                                             n_kv_heads, head_dim, block_size, qk_scale, causal, BLOCK_N, True)
            o = acc / l_i[:, None]
            tl.store(out_ptr + q_off[:, None] + d[None, :], o.to(out_ptr.dtype.element_ty), mask=qmask)
