"""Per-call overhead of the Python binding on tiny CPU tensors (the C kernel's own time is tiny here).

    MOJO_LIBRARY=build/src/libmojo.so PYTHONPATH=python .venv/bin/python python/benchmarks/overhead.py

Prints microseconds per call (best of several repeats) for: the raw ctypes mojo_op_run call on prebuilt
descriptors (the floor), Op.run with numpy arrays, the generated function mojo.rms_norm (out= given and
allocating), and Op.run with torch tensors when torch is importable."""
import sys
import timeit

import numpy as np

import mojo


def best_us(fn, number=20000, repeat=7):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main():
    x = np.random.rand(1, 8).astype(np.float32)
    w = np.ones(8, np.float32)
    y = np.empty_like(x)
    op = mojo.Op("rms_norm", [x, w], [y], eps=1e-6)
    run = mojo._lib.lib.mojo_op_run
    h, ia, oa = op.handle, op._in_addr, op._out_addr
    rows = [("raw ctypes mojo_op_run (floor)", best_us(lambda: run(h, ia, 2, oa, 1, None, None))),
            ("Op.run numpy [1,8] fp32", best_us(lambda: op.run([x, w], [y]))),
            ("mojo.rms_norm(x, w, out=y) numpy", best_us(lambda: mojo.rms_norm(x, w, eps=1e-6, out=y), 5000)),
            ("mojo.rms_norm(x, w) numpy (allocates)", best_us(lambda: mojo.rms_norm(x, w, eps=1e-6), 5000))]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        ty = torch.empty_like(tx)
        top = mojo.Op("rms_norm", [tx, tw], [ty], eps=1e-6)
        rows.append(("Op.run torch cpu [1,8] fp32", best_us(lambda: top.run([tx, tw], [ty]))))
        import mojo.torch as mt
        mt.enable()
        f = torch.ops.mojo.rms_norm
        rows.append(("torch.ops.mojo.rms_norm cpu", best_us(lambda: f(tx, tw, 1e-6), 5000)))
        if torch.cuda.is_available() and "cuda" in [b["name"] for b in mojo.backends()]:
            cx = torch.randn(1, 128, device="cuda", dtype=torch.float16)
            cw = torch.ones(128, device="cuda", dtype=torch.float16)
            cy = torch.empty_like(cx)
            cop = mojo.Op("rms_norm", [cx, cw], [cy])

            def cuda_run():
                cop.run([cx, cw], [cy])
            rows.append((f"Op.run torch cuda [1,128] fp16 ({cop.backend}, launch only)", best_us(cuda_run)))
            torch.cuda.synchronize()
            mojo_us = best_us(lambda: f(cx, cw, 1e-6), 5000)
            rows.append(("torch.ops.mojo.rms_norm cuda (launch only)", mojo_us))
            torch.cuda.synchronize()
            # Baseline for the 1.5x target: a torch custom op with the same schema and registration
            # (CompositeExplicitAutograd) that only allocates its output.
            lib = torch.library.Library("mojo_overhead_baseline", "DEF")
            lib.define("noop(Tensor x, Tensor weight, float eps=1e-05) -> Tensor")
            lib.impl("noop", lambda x, weight, eps=1e-05: torch.empty_like(x), "CompositeExplicitAutograd")
            noop = torch.ops.mojo_overhead_baseline.noop
            noop_us = best_us(lambda: noop(cx, cw, 1e-6), 5000)
            rows.append(("torch custom op doing nothing, cuda (baseline)", noop_us))
            rows.append(("ratio torch.ops.mojo.rms_norm / baseline", mojo_us / noop_us))
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, libmojo {mojo.version()} ({mojo.library_path})")
    for name, us in rows:
        print(f"{name:48s} {us:7.2f}" + ("" if name.startswith("ratio") else " us/call"))


if __name__ == "__main__":
    main()
