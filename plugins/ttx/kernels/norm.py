"""Row norms for the ttx plugin: rms_norm, layer_norm and their residual-add forms in one Triton kernel.

One program normalises one row. The op variant is chosen by runtime flags (not constexprs) so one cubin per
(dtype, tile) serves all four ops: the flags are uniform per launch, so the branches cost nothing next to
the row's memory traffic, and the AOT step stays small. Math follows plugins/cpu/ops/norm.cpp: the residual
sum is rounded to the stream dtype first, statistics in fp32, one rounding of the output.
"""
import triton
import triton.language as tl
from params import load_param


@triton.jit
def _stream_sum(x_ptr, res_ptr, has_res, offs, mask):
    """s = round(x + residual) to the stream dtype (plain x when there is no residual)."""
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    r = tl.load(res_ptr + offs, mask=mask & (has_res != 0), other=0.0)
    return (x.to(tl.float32) + r.to(tl.float32)).to(x.dtype).to(tl.float32)


@triton.jit
def norm_kernel(x_ptr, res_ptr, w_ptr, w32_ptr, b_ptr, b32_ptr, out_ptr, res_out_ptr,
                n_cols, eps, layer, w_kind, b_kind, has_res, res_mode,
                BLOCK: tl.constexpr, ONE_TILE: tl.constexpr):
    """layer: 1.0 = LayerNorm (centred), 0.0 = RMSNorm. res_mode: 0 none, 1 residual_out = s, 2 = out."""
    row = tl.program_id(0).to(tl.int64)
    base = row * n_cols
    x_row = x_ptr + base
    r_row = res_ptr + base
    o_row = out_ptr + base
    ro_row = res_out_ptr + base
    cols = tl.arange(0, BLOCK)
    if ONE_TILE:
        mask = cols < n_cols
        s = _stream_sum(x_row, r_row, has_res, cols, mask)
        mean = tl.sum(s, axis=0) / n_cols * layer
        c = tl.where(mask, s - mean, 0.0)
        inv = 1.0 / tl.sqrt_rn(tl.sum(c * c, axis=0) / n_cols + eps)
        y = c * inv * load_param(w_ptr, w32_ptr, w_kind, cols, mask, 0.0)
        y = tl.where(w_kind == 0, c * inv, y) + load_param(b_ptr, b32_ptr, b_kind, cols, mask, 0.0)
        tl.store(o_row + cols, y.to(out_ptr.dtype.element_ty), mask=mask)
        kept = tl.where(res_mode == 1, s, y)
        tl.store(ro_row + cols, kept.to(res_out_ptr.dtype.element_ty), mask=mask & (res_mode != 0))
    else:
        # Rows wider than one tile: three sweeps (mean, centred squares, output); the later sweeps hit L2.
        acc = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            offs = start + cols
            acc += _stream_sum(x_row, r_row, has_res, offs, offs < n_cols)
        mean = tl.sum(acc, axis=0) / n_cols * layer
        acc = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            offs = start + cols
            mask = offs < n_cols
            c = tl.where(mask, _stream_sum(x_row, r_row, has_res, offs, mask) - mean, 0.0)
            acc += c * c
        inv = 1.0 / tl.sqrt_rn(tl.sum(acc, axis=0) / n_cols + eps)
        for start in range(0, n_cols, BLOCK):
            offs = start + cols
            mask = offs < n_cols
            s = _stream_sum(x_row, r_row, has_res, offs, mask)
            c = s - mean
            y = c * inv * load_param(w_ptr, w32_ptr, w_kind, offs, mask, 0.0)
            y = tl.where(w_kind == 0, c * inv, y) + load_param(b_ptr, b32_ptr, b_kind, offs, mask, 0.0)
            tl.store(o_row + offs, y.to(out_ptr.dtype.element_ty), mask=mask)
            kept = tl.where(res_mode == 1, s, y)
            tl.store(ro_row + offs, kept.to(res_out_ptr.dtype.element_ty), mask=mask & (res_mode != 0))
