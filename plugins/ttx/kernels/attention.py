"""paged_decode_gqa for the ttx plugin (plugins/cpu/ops/attention.cpp): one query token per sequence against
its L paged keys, fp32 scores and an online (single-pass) softmax, output in the query dtype.

All or nothing (spec ops.md §1.4): decode_validate_kernel checks every sequence's needed block columns and
lengths and raises into the op's error word; decode_kernel writes nothing once the word is set. One program
per (sequence, KV head) serves all G = Hq / Hkv query heads of that KV head with tl.dot (the head group
padded to 16 rows), so K and V are read once per KV head.
"""
import triton
import triton.language as tl
from params import block_ids_code

BAD_BLOCK = tl.constexpr(1)
BEYOND_TABLE = tl.constexpr(2)
BEYOND_HINT = tl.constexpr(3)


@triton.jit
def decode_validate_kernel(lens_ptr, bt_ptr, err_ptr, max_blocks, n_blocks, block_size, hint, BLOCK: tl.constexpr):
    """Program b: block ids of the ceil(L / BS) needed columns in [0, NB), L <= MB * BS, L <= hint (if >= 0)."""
    b = tl.program_id(0)
    L = tl.load(lens_ptr + b)
    code = tl.full([], 0, tl.int32)
    if L > 0:
        if L > max_blocks * block_size:
            code = tl.full([], BEYOND_TABLE, tl.int32)
        elif (hint >= 0) & (L > hint):
            code = tl.full([], BEYOND_HINT, tl.int32)
        else:
            need = (L + block_size - 1) // block_size
            code = block_ids_code(bt_ptr + b.to(tl.int64) * max_blocks, need, n_blocks, BAD_BLOCK, BLOCK)
    if code != 0:
        tl.atomic_cas(err_ptr, 0, code)


@triton.jit
def decode_kernel(q_ptr, k_cache, v_cache, lens_ptr, bt_ptr, out_ptr, err_ptr, n_q_heads, n_kv_heads, head_dim,
                  max_blocks, block_size, scale, grouped,
                  D_PAD: tl.constexpr, G_PAD: tl.constexpr, BLOCK_N: tl.constexpr):
    b = tl.program_id(0)
    g = tl.program_id(1)
    L = tl.load(lens_ptr + b)
    err = tl.load(err_ptr)
    if (err == 0) & (L > 0):
        group = n_q_heads // n_kv_heads
        i = tl.arange(0, G_PAD)
        # AABB: head g * G + i; ABAB: head g + i * Hkv.
        heads = tl.where(grouped != 0, g * group + i, g + i * n_kv_heads)
        hmask = i < group
        d = tl.arange(0, D_PAD)
        dmask = d < head_dim
        q_rows = (b.to(tl.int64) * n_q_heads + heads) * head_dim
        q = tl.load(q_ptr + q_rows[:, None] + d[None, :], mask=hmask[:, None] & dmask[None, :], other=0.0)
        m_i = tl.full([G_PAD], float("-inf"), tl.float32)
        l_i = tl.zeros([G_PAD], tl.float32)
        acc = tl.zeros([G_PAD, D_PAD], tl.float32)
        qk_scale = scale * 1.4426950408889634  # exp(x) = exp2(x * log2 e)
        n = tl.arange(0, BLOCK_N)
        for start in range(0, L, BLOCK_N):
            j = start + n
            jmask = j < L
            page = tl.load(bt_ptr + b.to(tl.int64) * max_blocks + j // block_size, mask=jmask, other=0)
            rows = ((page.to(tl.int64) * n_kv_heads + g) * block_size + j % block_size) * head_dim
            kvmask = jmask[:, None] & dmask[None, :]
            k = tl.load(k_cache + rows[:, None] + d[None, :], mask=kvmask, other=0.0)
            v = tl.load(v_cache + rows[:, None] + d[None, :], mask=kvmask, other=0.0)
            s = tl.dot(q, tl.trans(k)) * qk_scale
            s = tl.where(jmask[None, :], s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, axis=1))
            alpha = tl.exp2(m_i - m_new)
            p = tl.exp2(s - m_new[:, None])
            l_i = l_i * alpha + tl.sum(p, axis=1)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
            m_i = m_new
        o = acc / l_i[:, None]
        tl.store(out_ptr + q_rows[:, None] + d[None, :], o.to(out_ptr.dtype.element_ty),
                 mask=hmask[:, None] & dmask[None, :])
