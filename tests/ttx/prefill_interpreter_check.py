#!/usr/bin/env python3
"""The ttx paged_prefill_gqa kernels (plugins/ttx/kernels/attention_prefill.py) on the CPU through Triton's
interpreter, against a plain torch reference of spec/attention.md §1: ragged batches with prefix caches,
empty sequences and padding rows, both GQA layouts, page sizes 16 and 64, causal and not, and the deferred
error paths (nothing written). A developer check of the kernel math (no GPU; the launch code is covered by
mojo-test-ops -b ttx on a GPU machine). Needs torch and triton:

    TRITON_INTERPRET=1 python tests/ttx/prefill_interpreter_check.py [--quick]
"""
import math
import os
import sys

os.environ.setdefault("TRITON_INTERPRET", "1")
import torch  # noqa: E402
import triton.runtime.interpreter as interpreter  # noqa: E402

# Triton 3.6's interpreter holds loaded scalars as 1-element arrays and converts them with int(), which
# numpy >= 2.4 refuses (range() over a loaded length): convert through the single element instead.
import interpreter_fixes  # noqa: E402,F401  (numpy >= 2.4 scalar loop bounds)

# The same interpreter keeps bf16 as raw uint16 bits and its tl.dot multiplies those bits as integers:
# widen bf16 operands to fp32 first (exact, as the tensor cores do).
_create_dot = interpreter.InterpreterBuilder.create_dot


def _create_dot_bf16(self, a, b, d, input_precision, max_num_imprecise_acc):
    import triton.language as tl

    def widen(x):
        if x.dtype.scalar != tl.bfloat16:
            return x
        data = interpreter._convert_float(x.data, tl.bfloat16, tl.float32, None).view(interpreter.np.float32)
        return interpreter.TensorHandle(data, tl.float32)

    return _create_dot(self, widen(a), widen(b), d, input_precision, max_num_imprecise_acc)


interpreter.InterpreterBuilder.create_dot = _create_dot_bf16

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "plugins", "ttx", "kernels"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "plugins", "ttx", "aot"))
import attention_prefill as k  # noqa: E402
import specs  # noqa: E402
from paged_tables import shuffled_block_table  # noqa: E402

# The shipped tiles: the aligned ones serve the main cases, every one (plain ones too) the small-tile pass.
TILES = {d_pad: (bm, bn) for d_pad, aligned, bm, bn, _, _ in specs.PREFILL_TILES if aligned}
ALL_TILES = sorted({(bm, bn) for _, _, bm, bn, _, _ in specs.PREFILL_TILES})


def d_pad_of(d):
    return next(p for p in sorted(TILES) if d <= p)


def make_case(gen, q_lens, prefix, hq, hkv, d, bs, pad, dtype, with_cu_kv=True):
    kv = [0 if n == 0 else n + p for n, p in zip(q_lens, prefix)] if with_cu_kv else list(q_lens)
    need = [(L + bs - 1) // bs for L in kv]
    mb = max(need) + 1
    nb = sum(need) + 2
    table = shuffled_block_table(need, mb, nb, gen)
    t = sum(q_lens) + pad
    rnd = lambda *s: (torch.rand(*s, generator=gen) * 2 - 1).to(dtype)  # noqa: E731
    cu_q = torch.tensor([0] + list(torch.tensor(q_lens).cumsum(0).tolist()), dtype=torch.int32)
    cu_kv = torch.tensor([0] + list(torch.tensor(kv).cumsum(0).tolist()), dtype=torch.int32) if with_cu_kv else None
    return dict(q=rnd(t, hq, d), kc=rnd(nb, hkv, bs, d), vc=rnd(nb, hkv, bs, d), cu_q=cu_q, cu_kv=cu_kv,
                table=table)


def reference(c, causal, grouped, scale, out):
    """spec/attention.md §0.1/§1 in fp32 on the CPU; writes only the sequences' rows of `out`."""
    q, kc, vc, cu_q, cu_kv, table = c["q"], c["kc"], c["vc"], c["cu_q"], c["cu_kv"], c["table"]
    hq, hkv, bs = q.shape[1], kc.shape[1], kc.shape[2]
    group = hq // hkv
    heads = torch.arange(hq)
    kv_head = heads // group if grouped else heads % hkv
    for b in range(table.shape[0]):
        n = int(cu_q[b + 1] - cu_q[b])
        L = int(cu_kv[b + 1] - cu_kv[b]) if cu_kv is not None else n
        if n == 0 or L <= 0:
            continue
        p = torch.arange(L)
        blocks = table[b, p // bs].long()
        kk = kc[blocks, :, p % bs].float()[:, kv_head]  # [L, Hq, D]
        vv = vc[blocks, :, p % bs].float()[:, kv_head]
        qq = q[int(cu_q[b]):int(cu_q[b + 1])].float()
        s = torch.einsum("ihd,jhd->hij", qq, kk) * scale
        if causal:
            pos = L - n + torch.arange(n)
            s = s.masked_fill(p[None, None, :] > pos[None, :, None], float("-inf"))
        o = torch.einsum("hij,jhd->ihd", torch.softmax(s, dim=-1), vv)
        out[int(cu_q[b]):int(cu_q[b + 1])] = o.to(out.dtype)


def run_kernels(c, causal, grouped, scale, out, q_hint=-1, kv_hint=-1, tiles=None):
    """What ops/attention_prefill.cpp launches: validation over B, attention over (T // BM + B, Hq). `tiles`
    (BLOCK_M, BLOCK_N) overrides the shipped tile to put many tile and page boundaries in a small case."""
    q, kc, vc, cu_q, table = c["q"], c["kc"], c["vc"], c["cu_q"], c["table"]
    cu_kv = c["cu_kv"] if c["cu_kv"] is not None else cu_q  # never read when has_cu_kv = 0
    has_kv = int(c["cu_kv"] is not None)
    t, hq, d = q.shape
    nb, hkv, bs, _ = kc.shape
    B, mb = table.shape
    err = torch.zeros(1, dtype=torch.int32)
    k.prefill_validate_kernel[(B,)](cu_q, cu_kv, table, err, B, t, has_kv, int(causal), mb, nb, bs, q_hint, kv_hint,
                                    BLOCK=256)
    d_pad = d_pad_of(d)
    bm, bn = tiles or TILES[d_pad]
    grid = (t // bm + B, hq)
    k.prefill_kernel[grid](q, kc, vc, out, d, cu_q, cu_kv, table, err, B, hq, hkv, mb, bs, scale, int(causal),
                           int(grouped), has_kv, D_PAD=d_pad, BLOCK_M=bm, BLOCK_N=bn)
    return int(err.item())


def check(name, c, causal=True, grouped=True, scale=None, dtype=torch.bfloat16, tiles=None):
    d = c["q"].shape[2]
    scale = scale if scale is not None else 1.0 / math.sqrt(d)
    sentinel = torch.full_like(c["q"], 7.0)
    want, got = sentinel.clone(), sentinel.clone()
    reference(c, causal, grouped, scale, want)
    code = run_kernels(c, causal, grouped, scale, got, tiles=tiles)
    assert code == 0, f"{name}: error word {code}"
    written = (want != 7.0).any(dim=(1, 2))
    assert torch.equal(got[~written], sentinel[~written]), f"{name}: rows outside the sequences were written"
    err = (got.float() - want.float()).abs().max().item()
    tol = 2e-2 if dtype == torch.bfloat16 else 5e-3
    ok = torch.allclose(got.float(), want.float(), atol=tol, rtol=tol)
    print(f"{'OK  ' if ok else 'FAIL'} {name}: max abs err {err:.3e}")
    return ok, err


def check_error(name, c, expect, causal=True, **hints):
    out = torch.full_like(c["q"], 7.0)
    code = run_kernels(c, causal, True, 1.0 / math.sqrt(c["q"].shape[2]), out, **hints)
    ok = code == expect and bool((out == 7.0).all())
    print(f"{'OK  ' if ok else 'FAIL'} {name}: error word {code} (want {expect}), output untouched "
          f"{bool((out == 7.0).all())}")
    return ok


def main():
    quick = "--quick" in sys.argv
    gen = torch.Generator().manual_seed(0)
    results, worst = [], {}
    shapes = [(8, 2, 128, 16), (4, 4, 64, 64), (8, 1, 64, 16), (16, 2, 128, 64), (4, 2, 96, 16), (8, 1, 256, 128)]
    if quick:
        shapes = shapes[:2]
    for dtype in (torch.bfloat16, torch.float16):
        for hq, hkv, d, bs in shapes:
            for grouped in (True, False):
                label = f"{str(dtype)[6:]} Hq={hq} Hkv={hkv} D={d} BS={bs} {'AABB' if grouped else 'ABAB'}"
                cases = [("ragged+prefix+pad",
                          make_case(gen, [37, 0, 5, 70], [0, 9, 100, 31], hq, hkv, d, bs, 3, dtype), True),
                         ("no cu_kv", make_case(gen, [17, 1, 33], [0, 0, 0], hq, hkv, d, bs, 0, dtype, False), True),
                         ("bucket-padded", make_case(gen, [1, 1, 1, 1, 0, 0], [0, 3, 20, 0, 0, 0], hq, hkv, d, bs, 2,
                                                     dtype), True),
                         ("non-causal", make_case(gen, [12, 7], [0, 0], hq, hkv, d, bs, 1, dtype), False),
                         ("long prefix", make_case(gen, [150, 31], [300, 0], hq, hkv, d, bs, 1, dtype), True)]
                for what, c, causal in cases:
                    ok, err = check(f"{label} {what}", c, causal=causal, grouped=grouped, dtype=dtype)
                    results.append(ok)
                    key = (str(dtype)[6:], d)
                    worst[key] = max(worst.get(key, 0.0), err)
    c = make_case(gen, [9, 4], [3, 0], 4, 2, 64, 16, 0, torch.bfloat16)
    results.append(check("custom softmax_scale 0.3", c, scale=0.3)[0])
    # The kernel folds the scale into exp2's FMA and moves a negative one's sign into q.
    results.append(check("negative softmax_scale -0.2", c, scale=-0.2)[0])
    # Sequences starting mid-tile, many tiles per sequence, key steps across page edges, under small tiles and
    # every shipped one.
    for bm, bn in sorted({(16, 16), (32, 16)} | set(ALL_TILES)):
        for grouped in (True, False):
            for causal in (True, False):
                c = make_case(gen, [130, 64, 1, 0, 200, 17], [0, 64, 500, 7, 17, 0], 8, 2, 64, 16, 5, torch.bfloat16)
                results.append(check(f"tiles {bm}x{bn} {'AABB' if grouped else 'ABAB'} "
                                     f"{'causal' if causal else 'non-causal'}", c, causal=causal, grouped=grouped,
                                     tiles=(bm, bn))[0])
    # Error paths: nothing may be written.
    es = lambda: make_case(gen, [20, 4], [10, 0], 8, 2, 64, 16, 0, torch.bfloat16)  # noqa: E731
    c = es()
    c["table"][0, 1] = -1
    results.append(check_error("negative block id", c, 5))
    c = es()
    c["table"][1, 0] = c["kc"].shape[0]
    results.append(check_error("block id >= NB", c, 5))
    c = es()
    c["cu_q"] = torch.tensor([0, 20, 19], dtype=torch.int32)
    results.append(check_error("decreasing cu_q_lens", c, 1))
    c = es()
    c["cu_q"] = torch.tensor([0, 20, 25], dtype=torch.int32)
    results.append(check_error("cu_q_lens[B] beyond T", c, 1))
    c = es()
    c["cu_kv"] = torch.tensor([0, 30, 29], dtype=torch.int32)
    results.append(check_error("decreasing cu_total_seq_lens", c, 2))
    c = es()
    c["cu_kv"] = torch.tensor([0, 10, 14], dtype=torch.int32)
    results.append(check_error("L < n (causal)", c, 3))
    c = es()
    c["table"] = c["table"][:, :1].contiguous()
    results.append(check_error("table too narrow", c, 4))
    results.append(check_error("max_q_len hint", es(), 6, q_hint=10))
    results.append(check_error("max_total_seq_len hint", es(), 7, kv_hint=29))
    for (dt, d), e in sorted(worst.items()):
        print(f"max abs err {dt} D={d}: {e:.3e}")
    print(f"{sum(results)}/{len(results)} OK")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
