"""dynamic_quant for the ttx plugin: per-row symmetric int8 quantization (plugins/cpu/ops/quant.cpp).

One program per row. xs = x * inv_smooth_scale (if given); scale = max(amax|xs|, 1e-12) / 127, replaced by 1
when below 1e-6; q = clamp(rint(xs / scale), -128, 127) with an IEEE division, so codes match the reference.
"""
import triton
import triton.language as tl
from triton.language.extra import libdevice


@triton.jit
def _scaled(x_ptr, s_ptr, s32_ptr, s_kind, offs, mask):
    """x * inv_smooth_scale as fp32; the smoothing vector is x's dtype (s_kind 1), fp32 (2) or absent (0)."""
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    a = tl.load(s_ptr + offs, mask=mask & (s_kind == 1), other=1.0).to(tl.float32)
    b = tl.load(s32_ptr + offs, mask=mask & (s_kind == 2), other=1.0)
    return x * tl.where(s_kind == 2, b, a)


@triton.jit
def _codes(xs, scale):
    v = libdevice.rint(tl.math.div_rn(xs, scale))
    v = tl.minimum(tl.maximum(v, -128.0), 127.0)
    return tl.where(v != v, 0.0, v).to(tl.int8)  # NaN quantizes to 0, as in the reference


@triton.jit
def dynamic_quant_kernel(x_ptr, s_ptr, s32_ptr, q_ptr, scale_ptr, n_cols, s_kind,
                         BLOCK: tl.constexpr, ONE_TILE: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * n_cols
    q_row = q_ptr + row * n_cols
    cols = tl.arange(0, BLOCK)
    if ONE_TILE:
        mask = cols < n_cols
        xs = _scaled(x_row, s_ptr, s32_ptr, s_kind, cols, mask)
        amax = tl.max(tl.where(mask, tl.abs(xs), 0.0), axis=0)
    else:
        acc = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            offs = start + cols
            mask = offs < n_cols
            acc = tl.maximum(acc, tl.where(mask, tl.abs(_scaled(x_row, s_ptr, s32_ptr, s_kind, offs, mask)), 0.0))
        amax = tl.max(acc, axis=0)
    scale = tl.maximum(amax, 1e-12) / 127.0
    scale = tl.where(scale < 1e-6, 1.0, scale)
    tl.store(scale_ptr + row, scale)
    if ONE_TILE:
        tl.store(q_row + cols, _codes(xs, scale), mask=mask)
    else:
        for start in range(0, n_cols, BLOCK):
            offs = start + cols
            mask = offs < n_cols
            tl.store(q_row + offs, _codes(_scaled(x_row, s_ptr, s32_ptr, s_kind, offs, mask), scale), mask=mask)
