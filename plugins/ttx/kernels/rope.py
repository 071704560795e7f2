"""apply_rope for the ttx plugin: rotate-half or GPT-J (interleaved) RoPE on the trailing Dr channels of every
head vector, with per-token cos/sin rows (plugins/cpu/ops/position.cpp).

One launch rotates q and k: the first cdiv(q_rows, ROWS) programs take q, the rest k. A program rotates ROWS
head vectors as one [ROWS, HALF] tile (one vector per program left a 128-channel row to a single warp and
reached 0.26 of HBM peak). A vector's leading dims are flattened to (i0, i1, i2); tok_axis says which one is
the token and batch_rows (0 for a [T, Dr] table) how far apart the batches' rows of a [B, S, Dr] table are.
fp32 math, one rounding.
"""
import triton
import triton.language as tl
from params import load_param


@triton.jit
def rope_kernel(q_ptr, q_out_ptr, k_ptr, k_out_ptr, cos_ptr, cos32_ptr, sin_ptr, sin32_ptr, q_dim1, q_dim2, q_rows,
                k_dim1, k_dim2, k_rows, head_dim, rope_dim, tok_axis, batch_rows, table_kind, interleaved,
                HALF: tl.constexpr, ROWS: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    q_programs = (q_rows + ROWS - 1) // ROWS
    if pid < q_programs:
        x_ptr = q_ptr
        out_ptr = q_out_ptr
        dim1 = q_dim1
        dim2 = q_dim2
        n_rows = q_rows
        first = pid * ROWS
    else:
        x_ptr = k_ptr
        out_ptr = k_out_ptr
        dim1 = k_dim1
        dim2 = k_dim2
        n_rows = k_rows
        first = (pid - q_programs) * ROWS
    rows = first + tl.arange(0, ROWS).to(tl.int64)
    row_ok = rows < n_rows
    i2 = rows % dim2
    i1 = (rows // dim2) % dim1
    i0 = rows // (dim2 * dim1)
    tok = tl.where(tok_axis == 0, i0, tl.where(tok_axis == 1, i1, i2))
    t_row = ((i0 * batch_rows + tok) * rope_dim)[:, None]
    x_row = (rows * head_dim)[:, None]
    # The leading head_dim - rope_dim channels pass through.
    cols = tl.arange(0, 2 * HALF)[None, :]
    for start in range(0, head_dim - rope_dim, 2 * HALF):
        offs = start + cols
        mask = row_ok[:, None] & (offs < head_dim - rope_dim)
        tl.store(out_ptr + x_row + offs, tl.load(x_ptr + x_row + offs, mask=mask), mask=mask)
    half = rope_dim // 2
    i = tl.arange(0, HALF)[None, :]
    mask = row_ok[:, None] & (i < half)
    # Pair i: channels (2i, 2i+1) with angle i (interleaved) or (i, i + half) with table entries i, i + half.
    a_idx = tl.where(interleaved != 0, 2 * i, i)
    b_idx = tl.where(interleaved != 0, 2 * i + 1, i + half)
    tb_idx = tl.where(interleaved != 0, i, i + half)
    base = x_row + (head_dim - rope_dim)
    xa = tl.load(x_ptr + base + a_idx, mask=mask, other=0.0).to(tl.float32)
    xb = tl.load(x_ptr + base + b_idx, mask=mask, other=0.0).to(tl.float32)
    ca = load_param(cos_ptr, cos32_ptr, table_kind, t_row + i, mask, 0.0)
    sa = load_param(sin_ptr, sin32_ptr, table_kind, t_row + i, mask, 0.0)
    cb = load_param(cos_ptr, cos32_ptr, table_kind, t_row + tb_idx, mask, 0.0)
    sb = load_param(sin_ptr, sin32_ptr, table_kind, t_row + tb_idx, mask, 0.0)
    ya = xa * ca - xb * sa
    yb = xb * cb + xa * sb
    tl.store(out_ptr + base + a_idx, ya.to(out_ptr.dtype.element_ty), mask=mask)
    tl.store(out_ptr + base + b_idx, yb.to(out_ptr.dtype.element_ty), mask=mask)
