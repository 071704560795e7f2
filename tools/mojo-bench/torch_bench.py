#!/usr/bin/env python3
"""PyTorch side of mojo-bench: times the torch equivalents (eager, torch.compile, and the best library path)
of mojo-bench's cases on the same GPU in the same run, with the same method (CUDA events, L2 flushed before
every rep, median), and merges them with mojo-bench's JSON into one Markdown table.

usage: torch_bench.py --mojo-bench PATH [--ops rms_norm,swiglu] [--reps 50] [--out DIR]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as F

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def rms_composite(x, w, eps=1e-6):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * w.float()).to(x.dtype)


def add_rms_composite(x, r, w, eps=1e-6):
    s = x + r
    return rms_composite(s, w, eps), s


def swiglu_composite(g, u):
    return F.silu(g) * u


def ln_composite(x, w, b, eps=1e-5):
    return F.layer_norm(x.float(), (x.shape[-1],), w, b, eps).to(x.dtype)


def rope_composite(q, k, cos, sin):
    def rot(x):
        c, s = cos[:, None, :], sin[:, None, :]
        x1, x2 = x.float().chunk(2, dim=-1)
        return (x.float() * c + torch.cat((-x2, x1), dim=-1) * s).to(x.dtype)
    return rot(q), rot(k)


def dyn_quant(x, smooth=None, qdtype=torch.int8):
    xf = x.float()
    qmax = 127.0 if qdtype == torch.int8 else 448.0
    scale = xf.abs().amax(-1, keepdim=True).clamp_min(1e-12) / qmax
    y = xf / scale
    q = y.round().clamp(-128, 127).to(torch.int8) if qdtype == torch.int8 else y.clamp(-448, 448).to(torch.float8_e4m3fn)
    return q, scale


def rms_quant(x, w, smooth=None, qdtype=torch.int8):
    xf = x.float()
    y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6) * w.float()
    return dyn_quant(y, None, qdtype)


# op -> {variant: callable(*inputs)}; "best" is the fastest library path torch offers for the op.
VARIANTS = {
    "rms_norm": {
        "eager": rms_composite,
        "compile": torch.compile(rms_composite),
        "best": lambda x, w: F.rms_norm(x, (x.shape[-1],), w.to(x.dtype), 1e-6),
    },
    "residual_add_rms_norm": {
        "eager": add_rms_composite,
        "compile": torch.compile(add_rms_composite),
        "best": lambda x, r, w: F.rms_norm(x + r, (x.shape[-1],), w.to(x.dtype), 1e-6),
    },
    "swiglu": {"eager": swiglu_composite, "compile": torch.compile(swiglu_composite)},
    "layer_norm": {
        "eager": ln_composite,
        "compile": torch.compile(ln_composite),
        "best": lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w.to(x.dtype), b.to(x.dtype)),
    },
    "silu": {"eager": F.silu, "compile": torch.compile(F.silu)},
    "apply_rope": {"eager": rope_composite, "compile": torch.compile(rope_composite)},
    "dynamic_quant": {"eager": dyn_quant, "compile": torch.compile(dyn_quant)},
    "rms_norm_quant": {"eager": rms_quant, "compile": torch.compile(rms_quant)},
    "linear": {"eager": lambda x, w, b: F.linear(x, w, b)},
    "gelu": {"eager": F.gelu, "compile": torch.compile(F.gelu)},
}


def time_us(fn, args, reps, flush):
    for _ in range(3):
        fn(*args)
    torch.cuda.synchronize()
    times = []
    for i in range(reps):
        flush.fill_(i & 0xFF)
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(*args)
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) * 1e3)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mojo-bench", required=True)
    p.add_argument("--ops", default="")
    p.add_argument("--reps", type=int, default=50)
    p.add_argument("--out", default=".")
    a = p.parse_args()
    sel = ["-o", a.ops] if a.ops else []
    cases = json.loads(subprocess.check_output([a.mojo_bench, "--list"] + sel))
    mojo_json = os.path.join(a.out, "mojo-bench.json")
    subprocess.check_call([a.mojo_bench, "--json", mojo_json, "--reps", str(a.reps)] + sel)
    mojo = json.load(open(mojo_json))
    flush = torch.empty(512 << 20, dtype=torch.uint8, device="cuda")
    peak = mojo["hbm_peak_Bps"]
    lines = [f"device: {mojo['device']}, HBM peak {peak / 1e12:.2f} TB/s; times are medians in µs (L2 flushed)", "",
             "| op | case | mojo µs | mojo TB/s or TFLOP/s | frac of peak | torch eager µs | torch.compile µs | torch best µs "
             "| best torch / mojo | mojo µs/call (eager loop) | mojo µs/call (graph) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for case, row in zip(cases, mojo["rows"]):
        variants = VARIANTS.get(case["op"], {})
        args = [torch.randn(t["shape"], device="cuda").to(DTYPES[t["dtype"]]) if t else None for t in case["inputs"]]
        torch_us = {}
        if case["op"] in ("dynamic_quant", "rms_norm_quant"):
            qd = torch.float8_e4m3fn if "fp8" in case["case"] else torch.int8
            variants = {k: (lambda f, qd=qd: (lambda *xs: f(*xs, qdtype=qd)))(f) for k, f in variants.items()}
        for name, fn in variants.items():
            try:
                torch_us[name] = time_us(fn, args, a.reps, flush)
            except Exception as e:  # a variant torch cannot run is reported, not fatal
                print(f"torch {name} {case['op']}: {e}", file=sys.stderr)
        best = min(torch_us.values()) if torch_us else None
        us = row.get("us")
        if row.get("tflops") is not None:
            rate = f"{row['tflops']:.0f} TFLOP/s"
        else:
            rate = f"{row['gbps'] / 1e3:.2f} TB/s" if us else "-"
        cell = lambda v, f="{:.2f}": f.format(v) if v is not None else "-"
        lines.append(
            f"| {case['op']} | {case['case']} | {cell(us)} | {rate} "
            f"| {cell(row.get('frac_peak'), '{:.3f}')} | {cell(torch_us.get('eager'))} | {cell(torch_us.get('compile'))} "
            f"| {cell(torch_us.get('best'))} | {cell(best / us if best and us else None, '{:.2f}×')} "
            f"| {cell(row.get('us_per_call_eager'))} | {cell(row.get('us_per_call_graph'))} |")
        row["torch_us"] = torch_us
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(a.out, "bench.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(a.out, "bench.json"), "w") as f:
        json.dump(mojo, f, indent=1)


if __name__ == "__main__":
    main()
