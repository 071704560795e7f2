#!/usr/bin/env python3
"""PyTorch side of mojo-bench: times the torch equivalents (eager, torch.compile, and the best library path)
of mojo-bench's cases on the same GPU in the same run, with the same method (CUDA events, L2 flushed before
every rep, median), and merges them with mojo-bench's JSON into one Markdown table.

usage: torch_bench.py --mojo-bench PATH [--backend cuda] [--ops rms_norm,swiglu] [--reps 50] [--rounds 1] [--out DIR]

With --rounds N > 1 the two sides alternate ABBA (mojo then torch, torch then mojo, ...) and each case reports the
median over the rounds on both sides: a GPU that heats and clocks down under a long compute-bound run (8192^3
GEMMs) otherwise penalises whichever side runs second.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import torch

from torch_cases import VARIANTS, SETUPS

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


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


def make_inputs(case):
    if case["op"] in SETUPS:  # ops whose inputs are not plain random tensors (paged caches, indices)
        return SETUPS[case["op"]](case)
    return [torch.randn(t["shape"], device="cuda").to(DTYPES[t["dtype"]]) if t else None for t in case["inputs"]]


def run_mojo(a, sel, suffix, r):
    path = os.path.join(a.out, f"mojo-bench{suffix}" + (f"-round{r}" if r else "") + ".json")
    subprocess.check_call([a.mojo_bench, "--json", path, "--reps", str(a.reps)] + sel)
    return json.load(open(path))


def run_torch(cases, reps, flush):
    """{variant: median µs} per case."""
    out = []
    for case in cases:
        args = make_inputs(case)
        variants = VARIANTS.get(case["op"], {})
        if case["op"] in ("dynamic_quant", "rms_norm_quant"):
            qd = torch.float8_e4m3fn if "fp8" in case["case"] else torch.int8
            variants = {k: (lambda f, qd=qd: (lambda *xs: f(*xs, qdtype=qd)))(f) for k, f in variants.items()}
        times = {}
        for name, fn in variants.items():
            try:
                times[name] = time_us(fn, args, reps, flush)
            except Exception as e:  # a variant torch cannot run is reported, not fatal
                print(f"torch {name} {case['op']}: {e}", file=sys.stderr)
        out.append(times)
    return out


def median_row(rows):
    """One case's mojo row over the rounds: the median time, its rates scaled to it (the bytes and FLOPs are
    the same every round)."""
    if len(rows) == 1 or any(r.get("us") is None for r in rows):
        return rows[0]
    row = dict(rows[0])
    us = statistics.median(r["us"] for r in rows)
    for key in ("gbps", "tflops", "frac_peak"):
        if row.get(key) is not None:
            row[key] = row[key] * row["us"] / us
    row["us"] = us
    for key in ("us_per_call_eager", "us_per_call_graph"):
        if all(r.get(key) is not None for r in rows):
            row[key] = statistics.median(r[key] for r in rows)
    row["us_rounds"] = [r["us"] for r in rows]
    return row


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mojo-bench", required=True)
    p.add_argument("--backend", default="", help="the mojo backend to time (mojo-bench -b; default cuda)")
    p.add_argument("--ops", default="")
    p.add_argument("--reps", type=int, default=50)
    p.add_argument("--rounds", type=int, default=1, help="alternate mojo and torch ABBA this many times")
    p.add_argument("--out", default=".")
    a = p.parse_args()
    if a.rounds < 1:
        p.error(f"--rounds {a.rounds}: expected a count of at least 1")
    sel = (["-o", a.ops] if a.ops else []) + (["-b", a.backend] if a.backend else [])
    cases = json.loads(subprocess.check_output([a.mojo_bench, "--list"] + sel))
    suffix = f"-{a.backend}" if a.backend else ""
    flush = torch.empty(512 << 20, dtype=torch.uint8, device="cuda")
    mojo_rounds, torch_rounds = [], []
    for r in range(a.rounds):
        mojo_first = r % 2 == 0
        if mojo_first:
            mojo_rounds.append(run_mojo(a, sel, suffix, r))
        torch_rounds.append(run_torch(cases, a.reps, flush))
        if not mojo_first:
            mojo_rounds.append(run_mojo(a, sel, suffix, r))
    mojo = mojo_rounds[0]
    mojo["rows"] = [median_row([m["rows"][i] for m in mojo_rounds]) for i in range(len(cases))]
    mojo["rounds"] = a.rounds
    peak = mojo["hbm_peak_Bps"]
    lines = [f"device: {mojo['device']}, HBM peak {peak / 1e12:.2f} TB/s; times are medians in µs (L2 flushed)", "",
             "| op | case | mojo µs | mojo TB/s or TFLOP/s | frac of peak | torch eager µs | torch.compile µs | torch best µs "
             "| best torch / mojo | mojo µs/call (eager loop) | mojo µs/call (graph) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for i, (case, row) in enumerate(zip(cases, mojo["rows"])):
        torch_us = {name: statistics.median(t[i][name] for t in torch_rounds)
                    for name in torch_rounds[0][i] if all(name in t[i] for t in torch_rounds)}
        best = min(torch_us.values()) if torch_us else None
        us = row.get("us")
        if row.get("tflops") is not None:
            rate = f"{row['tflops']:.0f} TFLOP/s"
        else:
            rate = f"{row['gbps'] / 1e3:.2f} TB/s" if us else "-"
        cell = lambda v, f="{:.2f}": f.format(v) if v is not None else "-"
        # A backend that declines a case leaves it to the next one: say which ran it.
        ran_elsewhere = lambda r: f" [ran on {r['backend']}]" if a.backend and r.get("backend") not in (None, a.backend) else ""
        lines.append(
            f"| {case['op']} | {case['case']}{ran_elsewhere(row)} | {cell(us)} | {rate} "
            f"| {cell(row.get('frac_peak'), '{:.3f}')} | {cell(torch_us.get('eager'))} | {cell(torch_us.get('compile'))} "
            f"| {cell(torch_us.get('best'))} | {cell(best / us if best and us else None, '{:.2f}×')} "
            f"| {cell(row.get('us_per_call_eager'))} | {cell(row.get('us_per_call_graph'))} |")
        row["torch_us"] = torch_us
        if a.rounds > 1:
            row["torch_us_rounds"] = [t[i] for t in torch_rounds]
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(a.out, f"bench{suffix}.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(a.out, f"bench{suffix}.json"), "w") as f:
        json.dump(mojo, f, indent=1)


if __name__ == "__main__":
    main()
