"""apply_rope for the ttx plugin: rotate-half or GPT-J (interleaved) RoPE on the trailing Dr channels of every
head vector, with per-token cos/sin rows (plugins/cpu/ops/position.cpp).

One program per head vector of one tensor (q and k are two launches). The vector's leading dims are
flattened to (i0, i1, i2); tok_axis says which one is the token and batch_rows (0 for a [T, Dr] table) how
far apart the batches' rows of a [B, S, Dr] table are. fp32 math, one rounding.
"""
import triton
import triton.language as tl
from params import load_param


@triton.jit
def rope_kernel(x_ptr, out_ptr, cos_ptr, cos32_ptr, sin_ptr, sin32_ptr, dim1, dim2, head_dim, rope_dim,
                tok_axis, batch_rows, table_kind, interleaved, HALF: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    i2 = row % dim2
    i1 = (row // dim2) % dim1
    i0 = row // (dim2 * dim1)
    tok = tl.where(tok_axis == 0, i0, tl.where(tok_axis == 1, i1, i2))
    t_row = (i0 * batch_rows + tok) * rope_dim
    x_row = x_ptr + row * head_dim
    o_row = out_ptr + row * head_dim
    # The leading head_dim - rope_dim channels pass through.
    cols = tl.arange(0, 2 * HALF)
    for start in range(0, head_dim - rope_dim, 2 * HALF):
        offs = start + cols
        mask = offs < head_dim - rope_dim
        tl.store(o_row + offs, tl.load(x_row + offs, mask=mask), mask=mask)
    half = rope_dim // 2
    i = tl.arange(0, HALF)
    mask = i < half
    # Pair i: channels (2i, 2i+1) with angle i (interleaved) or (i, i + half) with table entries i, i + half.
    a_idx = tl.where(interleaved != 0, 2 * i, i)
    b_idx = tl.where(interleaved != 0, 2 * i + 1, i + half)
    tb_idx = tl.where(interleaved != 0, i, i + half)
    base = head_dim - rope_dim
    xa = tl.load(x_row + base + a_idx, mask=mask, other=0.0).to(tl.float32)
    xb = tl.load(x_row + base + b_idx, mask=mask, other=0.0).to(tl.float32)
    ca = load_param(cos_ptr + t_row, cos32_ptr + t_row, table_kind, i, mask, 0.0)
    sa = load_param(sin_ptr + t_row, sin32_ptr + t_row, table_kind, i, mask, 0.0)
    cb = load_param(cos_ptr + t_row, cos32_ptr + t_row, table_kind, tb_idx, mask, 0.0)
    sb = load_param(sin_ptr + t_row, sin32_ptr + t_row, table_kind, tb_idx, mask, 0.0)
    ya = xa * ca - xb * sa
    yb = xb * cb + xa * sb
    tl.store(o_row + base + a_idx, ya.to(out_ptr.dtype.element_ty), mask=mask)
    tl.store(o_row + base + b_idx, yb.to(out_ptr.dtype.element_ty), mask=mask)
