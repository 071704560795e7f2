"""Elementwise activations for the ttx plugin: silu, gelu (erf or tanh form) and swiglu in one kernel.

The tensor is processed as a flat array (the plugin only takes contiguous tensors). The activation is a
runtime `mode` uniform per launch, so one cubin per (dtype, alignment) serves all three ops. Math follows
plugins/cpu/ops/activation.cpp in fp32 with one rounding.
"""
import triton
import triton.language as tl
from triton.language.extra import libdevice

SILU, GELU_ERF, GELU_TANH, SWIGLU = 0, 1, 2, 3


@triton.jit
def _silu(x):
    return x / (1.0 + tl.exp(-x))


@triton.jit
def activation_kernel(x_ptr, up_ptr, out_ptr, n, mode, limit, BLOCK: tl.constexpr):
    """mode: 0 silu, 1 gelu erf, 2 gelu tanh, 3 swiglu (x is the gate; limit > 0 clamps)."""
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    if mode == 0:
        y = _silu(x)
    elif mode == 1:
        y = 0.5 * x * (1.0 + libdevice.erf(x * 0.7071067811865476))
    elif mode == 2:
        k = 0.7978845608028654
        y = 0.5 * x * (1.0 + libdevice.tanh(k * (x + 0.044715 * x * x * x)))
    else:
        up = tl.load(up_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        if limit > 0:
            up = tl.minimum(tl.maximum(up, -limit), limit)
            x = tl.minimum(x, limit)
        y = _silu(x) * up
    tl.store(out_ptr + offs, y.to(out_ptr.dtype.element_ty), mask=mask)
