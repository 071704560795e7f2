#!/usr/bin/env python3
"""The ttx apply_rope kernel (plugins/ttx/kernels/rope.py) on the CPU through Triton's interpreter, against the
cpu reference backend through the Python binding, over the layouts, table forms and tiles the plugin uses. The
kernel is launched exactly as plugins/ttx/ops/rope.cpp packs it (one launch for q and k, the tile chosen by
rope_tile_for). The interpreter rounds each fp32 op separately, the device may fuse a*b - c*d into an fma, so
outputs are compared at the conformance tolerance, not bit for bit.

usage (a build with the cpu backend in BUILD; a Python with torch, numpy and triton):
  PYTHONPATH=python MOJO_LIBRARY=BUILD/src/libmojo.so python tests/ttx/rope_interpreter_check.py
"""
import os
import sys

os.environ["TRITON_INTERPRET"] = "1"
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "plugins", "ttx", "kernels"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "plugins", "ttx", "aot"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import mojo  # noqa: E402
import rope  # noqa: E402
from specs import ROPE_HALVES  # noqa: E402

import interpreter_fixes  # noqa: E402,F401  (numpy >= 2.4 scalar loop bounds)


def leading(x):
    return (x.shape[0], x.shape[1], x.shape[2]) if x.dim() == 4 else (1, x.shape[0], x.shape[1])


def run_ttx(q, k, cos, sin, head_first, interleaved):
    rope_dim = cos.shape[-1]
    half, rows, _ = next(t for t in ROPE_HALVES if rope_dim // 2 <= t[0])
    qo, ko = torch.full_like(q, float("nan")), torch.full_like(k, float("nan"))
    lq, lk = leading(q), leading(k)
    nq, nk = lq[0] * lq[1] * lq[2], lk[0] * lk[1] * lk[2]
    same = cos.dtype == q.dtype
    grid = ((nq + rows - 1) // rows + (nk + rows - 1) // rows,)
    rope.rope_kernel[grid](
        q, qo, k, ko, cos if same else q, q if same else cos, sin if same else q, q if same else sin,
        lq[1], lq[2], nq, lk[1], lk[2], nk, q.shape[-1], rope_dim, 2 if head_first else 1,
        cos.shape[1] if cos.dim() == 3 else 0, 1 if same else 2, int(interleaved), HALF=half, ROWS=rows)
    return qo, ko


def case(g, dtype, shape_q, nk, rope_dim, head_first, interleaved, table, table_dtype):
    q = (torch.randn(*shape_q, generator=g)).to(dtype)
    shape_k = list(shape_q)
    # heads axis: [.., N, T, D] when head_first else [.., T, N, D]
    head_axis = -3 if head_first else -2
    shape_k[head_axis] = nk
    k = torch.randn(*shape_k, generator=g).to(dtype)
    tok_axis = -2 if head_first else -3
    t = shape_q[tok_axis]
    if table == "batched":
        cos = torch.randn(shape_q[0], t, rope_dim, generator=g)
    else:
        cos = torch.randn(t, rope_dim, generator=g)
    sin = torch.randn(*cos.shape, generator=g)
    cos, sin = cos.to(table_dtype), sin.to(table_dtype)
    want_q, want_k = mojo.apply_rope(q, k, cos, sin, head_first=head_first, interleaved=interleaved, backend="cpu")
    got_q, got_k = run_ttx(q, k, cos, sin, head_first, interleaved)
    tol = {torch.float32: 1e-5, torch.float16: 1e-3, torch.bfloat16: 8e-3}[dtype]
    ok = True
    for got, want in ((got_q, want_q), (got_k, want_k)):
        diff = (got.float() - want.float()).abs()
        bound = tol + tol * want.float().abs()
        ok &= bool(torch.isfinite(got.float()).all()) and bool((diff <= bound).all())
    return ok


def main():
    g = torch.Generator().manual_seed(0)
    cases = []
    for dtype in (torch.bfloat16, torch.float16, torch.float32):
        for head_dim, rope_dim in ((128, 128), (64, 64), (256, 256), (128, 64), (96, 32), (80, 80)):
            for head_first in (False, True):
                for interleaved in (False, True):
                    cases.append((dtype, (37, 5, head_dim) if not head_first else (5, 37, head_dim), 3, rope_dim,
                                  head_first, interleaved, "flat", torch.float32))
        # 4-D with per-batch tables and the q dtype table; a q row count that is not a multiple of the tile.
        cases.append((dtype, (3, 11, 7, 128), 2, 128, False, False, "batched", dtype))
        cases.append((dtype, (2, 7, 13, 64), 1, 64, True, True, "batched", torch.float32))
        cases.append((dtype, (2, 9, 4, 128), 4, 128, False, False, "flat", torch.float32))
        cases.append((dtype, (1, 1, 128), 1, 128, False, False, "flat", dtype))  # decode: one token
    failed = 0
    for c in cases:
        ok = case(g, *c)
        failed += not ok
        print(("ok  " if ok else "FAIL"), c[0], "q", c[1], "nk", c[2], "Dr", c[3], "head_first", c[4],
              "interleaved", c[5], c[6], c[7])
    print(f"{len(cases) - failed}/{len(cases)} OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
