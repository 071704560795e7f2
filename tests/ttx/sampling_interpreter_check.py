#!/usr/bin/env python3
"""The ttx sampling kernels (plugins/ttx/kernels/sampling.py) on the CPU through Triton's interpreter, against
the cpu reference backend through the Python binding: every token must match bit for bit, every next_probs
value too (both compute w / Z from the same integer weights).

The interpreter evaluates tl.fma as a rounded product plus a rounded sum; the GPU's fma.rn.f32 rounds once.
The check patches the interpreter with an exactly rounded fp32 fma (a double TwoSum, rounded to odd, then to
float) so it reproduces the device arithmetic the kernel relies on. It also patches a numpy >= 2.4
incompatibility of the interpreter (scalar loop bounds).

usage (a build with the cpu backend in BUILD; a Python with torch, numpy and triton):
  TRITON_INTERPRET=1 PYTHONPATH=python MOJO_LIBRARY=BUILD/src/libmojo.so \\
      python tests/ttx/sampling_interpreter_check.py [--full]
"""
import argparse
import itertools
import os
import sys
import time

os.environ["TRITON_INTERPRET"] = "1"
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "plugins", "ttx", "kernels"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import triton.language as tl  # noqa: E402
import triton.runtime.interpreter as interpreter  # noqa: E402

import mojo  # noqa: E402
import sampling  # noqa: E402

WBLOCK, CAP = 256, 4096  # plugins/ttx/aot/specs.py


def exact_fma32(x, y, z):
    a, b, c = (np.asarray(t, np.float64) for t in (x, y, z))
    p = a * b  # exact: 24 x 24 bits
    s = p + c
    bb = s - p
    err = (p - (s - bb)) + (c - bb)  # s + err == p + c exactly
    fix = np.isfinite(s) & np.isfinite(err) & (err != 0) & ((s.view(np.int64) & 1) == 0)
    s = np.where(fix, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)  # round to odd
    return s.astype(np.float32)


def _create_fma(self, x, y, z):
    return interpreter.TensorHandle(exact_fma32(x.data, y.data, z.data), z.dtype.scalar)


interpreter.InterpreterBuilder.create_fma = _create_fma
import interpreter_fixes  # noqa: E402,F401  (numpy >= 2.4 scalar loop bounds)


def _numpy_sort(x, dim=None, descending=0):
    """tl.sort through numpy: the interpreter runs Triton's bitonic network element by element in Python (a
    minute per 4096-key tile). --triton-sort keeps the real one."""
    data = np.sort(x.handle.data, axis=-1)
    if bool(getattr(descending, "value", descending)):
        data = data[..., ::-1]
    return tl.core.tensor(interpreter.TensorHandle(np.ascontiguousarray(data), x.handle.dtype), x.type)


def check_fma():
    """exact_fma32 against exact rationals on a sample (ties to even)."""
    from fractions import Fraction
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(2000).astype(np.float32) * s for s in (1, 1e-3, 1))
    got = exact_fma32(a, b, c)
    for i in range(len(a)):
        exact = Fraction(float(a[i])) * Fraction(float(b[i])) + Fraction(float(c[i]))
        near = np.float32(float(exact))
        cands = [np.nextafter(near, np.float32(-np.inf)), near, np.nextafter(near, np.float32(np.inf))]
        best = min(cands, key=lambda f: (abs(Fraction(float(f)) - exact), int(np.float32(f).view(np.int32)) & 1))
        assert got[i] == best, (a[i], b[i], c[i], got[i], best)


def run_ttx(logits, uniform, seed_offset, row_top_p, n_cand, keep, top_p, fv, is_top_p, int64, programs):
    rows, vocab = logits.shape
    probs = torch.full((rows,), -1.0, dtype=torch.float32)
    tok64 = torch.full((rows,), -1, dtype=torch.int64)
    tok32 = torch.full((rows,), -1, dtype=torch.int32)
    ws = torch.zeros(programs * CAP, dtype=torch.uint64)
    err = torch.zeros(1, dtype=torch.int32)
    any_ptr = logits
    if uniform is not None or row_top_p is not None:
        sampling.sampling_validate_kernel[(1,)](
            uniform if uniform is not None else any_ptr, row_top_p if row_top_p is not None else any_ptr, err, rows,
            int(uniform is not None), int(row_top_p is not None), BLOCK=1024)
    soft = int(not (np.isinf(fv) and fv < 0))
    sampling.sampling_kernel[(programs,)](
        logits, uniform if uniform is not None else any_ptr, seed_offset if seed_offset is not None else any_ptr,
        row_top_p if row_top_p is not None else any_ptr, probs, tok64, tok32, ws, err, rows, vocab, n_cand, keep,
        top_p, fv, int(is_top_p), soft, int(uniform is not None), int(row_top_p is not None), int(int64),
        WBLOCK=WBLOCK, CAP=CAP)
    return int(err.item()), probs, (tok64 if int64 else tok32)


def logits_for(rows, vocab, dtype, kind, seed):
    g = torch.Generator().manual_seed(seed)
    if kind == "normal":
        x = torch.randn(rows, vocab, generator=g) * 3.0
    elif kind == "ties":  # few distinct values: long runs of equal logits
        x = torch.randint(-3, 3, (rows, vocab), generator=g).float()
    elif kind == "peaked":  # one dominant token per row, a -inf tail
        x = torch.randn(rows, vocab, generator=g)
        x[:, ::3] = float("-inf")
        x[torch.arange(rows), torch.randint(0, vocab, (rows,), generator=g)] = 40.0
    elif kind == "classes":  # the top values fill whole residue classes mod 4096: the group threshold overflows
        x = torch.randn(rows, vocab, generator=g)
        x[:, torch.arange(vocab) % 4096 < 2000] += 20.0
    else:
        raise ValueError(kind)
    return x.to(dtype).contiguous()


def one_case(op, rows, vocab, dtype, kind, seeded, int64, attrs, row_top_p_on, programs, seed):
    logits = logits_for(rows, vocab, dtype, kind, seed)
    g = torch.Generator().manual_seed(seed + 1)
    uniform = None if seeded else (torch.rand(rows, generator=g) * 0.999).contiguous()
    seed_offset = torch.tensor([987654321 + seed, 77 + seed], dtype=torch.int64) if seeded else None
    row_top_p = (torch.rand(rows, generator=g) * 0.95 + 0.05).contiguous() if row_top_p_on else None
    index_dtype = "int64" if int64 else "int32"
    # The library refuses an explicit -inf attribute; None leaves filter_value at its default (-inf).
    attrs = dict(dict(filter_value=None), **attrs)
    if op == "top_k_sampling":
        ref_p, ref_t = mojo.top_k_sampling(logits, uniform, seed_offset, index_dtype=index_dtype, **attrs)
        top_k, keep = attrs["top_k"], attrs.get("min_tokens_to_keep", 1)
        n_cand = min(max(min(top_k, vocab), keep), vocab)
        keep = min(keep, n_cand)
        got = run_ttx(logits, uniform, seed_offset, None, n_cand, keep, 0.0, float("-inf"), False, int64, programs)
    else:
        ref_p, ref_t = mojo.top_p_sampling(logits, row_top_p, uniform, seed_offset, index_dtype=index_dtype, **attrs)
        n_cand = min(attrs["rand_top_k"], vocab)
        keep = min(attrs.get("min_tokens_to_keep", 1), n_cand)
        got = run_ttx(logits, uniform, seed_offset, row_top_p, n_cand, keep, attrs["top_p"],
                      attrs["filter_value"] or float("-inf"), True, int64, programs)
    err, probs, tokens = got
    ok_t = torch.equal(tokens.long(), ref_t.reshape(-1).long())
    ok_p = torch.equal(probs, ref_p.reshape(-1))
    return err == 0 and ok_t and ok_p, (err, tokens.tolist(), ref_t.reshape(-1).tolist(), probs.tolist(),
                                       ref_p.reshape(-1).tolist())


def check_bad_inputs():
    """A uniform outside [0, 1) or a row_top_p outside (0, 1] raises its code and nothing is written."""
    logits = logits_for(4, 1000, torch.float32, "normal", 5)
    for uniform, row_top_p, code in ((torch.tensor([0.5, 1.0, 0.2, 0.3]), None, 1),
                                     (torch.tensor([0.5, 0.4, 0.2, 0.3]), torch.tensor([0.8, 0.8, 0.0, 0.8]), 2)):
        err, probs, tokens = run_ttx(logits, uniform, None, row_top_p, 1000, 1, 0.9, float("-inf"), True, True, 2)
        assert err == code and bool((tokens == -1).all()) and bool((probs == -1).all()), (err, tokens, probs)


def cases(full):
    """(op, vocab, attrs): top_k 1 / 50 / V, top_p 0.1 / 0.9 / 1.0 over rand_top_k 1000 and V, plus min_keep,
    finite filter values and per-row top_p."""
    out = []
    for vocab in (1000, 32000, 152064) if full else (1000, 32000):
        for top_k in (1, 50, vocab):
            out.append(("top_k_sampling", vocab, dict(top_k=top_k)))
        for top_p, rk in itertools.product((0.1, 0.9, 1.0), (1000, vocab)):
            out.append(("top_p_sampling", vocab, dict(top_p=top_p, rand_top_k=rk)))
        out.append(("top_k_sampling", vocab, dict(top_k=10, min_tokens_to_keep=64)))
        out.append(("top_p_sampling", vocab, dict(top_p=0.6, rand_top_k=300, min_tokens_to_keep=3,
                                                  filter_value=-20.0)))
        out.append(("top_p_sampling", vocab, dict(top_p=0.5, rand_top_k=vocab, min_tokens_to_keep=5000,
                                                  filter_value=-2.0)))
    # Around the tile capacity (4096): the first K' that takes the row-wide selects.
    out.append(("top_k_sampling", 4099, dict(top_k=4097)))
    out.append(("top_p_sampling", 4099, dict(top_p=0.95, rand_top_k=4097, min_tokens_to_keep=4097)))
    out.append(("top_p_sampling", 4096, dict(top_p=1.0, rand_top_k=4096)))
    out.append(("top_k_sampling", 32000, dict(top_k=2000), "classes"))
    out.append(("top_p_sampling", 32000, dict(top_p=0.8, rand_top_k=2000, min_tokens_to_keep=700), "classes"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="vocab 152064 too")
    ap.add_argument("--triton-sort", action="store_true", help="run Triton's own tl.sort (slow)")
    ap.add_argument("--only", default="", help="run the cases whose label contains this text")
    args = ap.parse_args()
    if not args.triton_sort:
        tl.sort = _numpy_sort
    np.seterr(all="ignore")
    check_fma()
    print("exact fma emulation: ok")
    check_bad_inputs()
    print("bad uniform / row_top_p: error codes, nothing written: ok")
    t0 = time.time()
    n = fails = 0
    dtypes = (torch.float32, torch.bfloat16, torch.float16)
    for i, (op, vocab, attrs, *forced) in enumerate(cases(args.full)):
        for j, dtype in enumerate(dtypes):
            # Vary the rest per case: batch 1..8, fewer programs than rows, randomness, index dtype, data.
            seed = 10 * i + j
            rows = 1 + (seed * 5) % 8
            kind = forced[0] if forced else ("normal", "ties", "peaked")[(i + j) % 3] if j else "normal"
            seeded, int64 = bool(seed % 2), bool((seed // 2) % 2)
            tag = (f"{op} V={vocab} {str(dtype)[6:]} rows={rows} {kind} {'philox' if seeded else 'uniform'} "
                   f"{'int64' if int64 else 'int32'} {attrs}")
            if args.only not in tag:
                continue
            t = time.time()
            ok, detail = one_case(op, rows, vocab, dtype, kind, seeded, int64, attrs,
                                  row_top_p_on=(op == "top_p_sampling" and j == 2),
                                  programs=max(1, rows - (seed % 3)), seed=seed)
            n += 1
            tag += f" ({time.time() - t:.1f} s)"
            if ok:
                print(f"ok   {tag}", flush=True)
            else:
                fails += 1
                print(f"FAIL {tag}: {detail}", flush=True)
    print(f"{n} cases, {fails} failures, {time.time() - t0:.0f} s")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
