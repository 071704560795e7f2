#!/usr/bin/env python3
"""The tile sweep behind specs.PREFILL_TILES, run on the GPU machine (torch + triton, JIT): the ttx prefill
kernel over (BLOCK_M, BLOCK_N, num_warps, num_stages) on the mojo-bench shapes (causal, 32 q / 8 kv heads,
bf16, page 16, pages shuffled), checked against torch SDPA on the gathered K/V and timed with L2 flushed,
next to cuDNN SDPA on contiguous K/V (issue 5's yardstick). Not part of the build: the chosen tiles are
copied into specs.py by hand, with the table in docs/decisions/ttx.md.

    python plugins/ttx/aot/tune_prefill.py [--d 128,64] [--t 4096,16384] [--module path/to/kernel.py]
"""
import argparse
import importlib.util
import math
import os
import sys

import torch
import torch.nn.functional as F
import triton
from torch.nn.attention import SDPBackend, sdpa_kernel

from paged_tables import shuffled_block_table

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "kernels"))

# (BLOCK_M, BLOCK_N, num_warps, num_stages) per head dim: around the shipped tile and the usual FA2 choices.
CANDIDATES = {
    128: [(128, 64, 8, 2), (128, 64, 8, 3), (128, 64, 8, 4), (128, 128, 8, 2), (128, 128, 8, 3),
          (64, 64, 4, 3), (64, 128, 4, 3), (128, 32, 8, 3), (128, 64, 4, 3)],
    64: [(128, 64, 8, 3), (128, 64, 4, 3), (128, 64, 4, 4), (128, 128, 8, 3), (128, 128, 4, 3), (64, 64, 4, 3),
         (64, 64, 4, 4), (128, 32, 4, 4)],
}
HQ, HKV, BS = 32, 8, 16


def load_module(path):
    spec = importlib.util.spec_from_file_location("prefill_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def aot_like(kernel):
    """The kernel as the AOT build specialises it (specs.py, generate.py): only q/k/v/out and head_dim carry
    16-divisibility; every other integer and pointer is plain (the JIT would specialise page size 16, values
    of 1 and aligned metadata pointers, and then time a different program: 0.85-1.15x of the AOT cubin)."""
    names = list(kernel.arg_names)
    aligned = {"q_ptr", "k_cache", "v_cache", "out_ptr", "head_dim"}
    plain = [i for i, n in enumerate(names) if n not in aligned and not n.isupper()]
    return triton.JITFunction(kernel.fn, do_not_specialize=plain, do_not_specialize_on_alignment=plain)


def make_case(q_lens, d, gen):
    need = [(n + BS - 1) // BS for n in q_lens]
    mb = max(need)
    nb = sum(need)
    table = shuffled_block_table(need, mb, nb, gen)
    t = sum(q_lens)
    dev = "cuda"
    rnd = lambda *s: torch.randn(*s, generator=gen).to(torch.bfloat16).to(dev)  # noqa: E731
    cu = torch.tensor([0] + torch.tensor(q_lens).cumsum(0).tolist(), dtype=torch.int32, device=dev)
    return dict(q=rnd(t, HQ, d), kc=rnd(nb, HKV, BS, d), vc=rnd(nb, HKV, BS, d), cu=cu, table=table.to(dev),
                q_lens=q_lens)


def reference(c):
    """cuDNN-free torch SDPA on the gathered, contiguous K/V of each sequence (causal, GQA AABB)."""
    outs = []
    cu = c["cu"].tolist()
    for b, n in enumerate(c["q_lens"]):
        p = torch.arange(n, device="cuda")
        blocks = c["table"][b, p // BS].long()
        k = c["kc"][blocks, :, p % BS].transpose(0, 1)[None]  # [1, Hkv, n, D]
        v = c["vc"][blocks, :, p % BS].transpose(0, 1)[None]
        q = c["q"][cu[b]:cu[b + 1]].transpose(0, 1)[None]
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            o = F.scaled_dot_product_attention(q, k.repeat_interleave(HQ // HKV, 1),
                                               v.repeat_interleave(HQ // HKV, 1), is_causal=True)
        outs.append(o[0].transpose(0, 1))
    return torch.cat(outs)


def cudnn_time(c):
    seqs = []
    cu = c["cu"].tolist()
    for b, n in enumerate(c["q_lens"]):
        d = c["q"].shape[2]
        seqs.append((torch.randn(1, HQ, n, d, device="cuda", dtype=torch.bfloat16),
                     torch.randn(1, HKV, n, d, device="cuda", dtype=torch.bfloat16),
                     torch.randn(1, HKV, n, d, device="cuda", dtype=torch.bfloat16)))

    def run():
        with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
            for q, k, v in seqs:
                F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    return triton.testing.do_bench(run, warmup=50, rep=300)


def run_kernel(mod, c, tile):
    bm, bn, warps, stages = tile
    q, kc, vc, cu, table = c["q"], c["kc"], c["vc"], c["cu"], c["table"]
    t, _, d = q.shape
    B, mb = table.shape
    err = torch.zeros(1, dtype=torch.int32, device="cuda")
    out = torch.empty_like(q)
    d_pad = 1 << (d - 1).bit_length()
    grid = (t // bm + B, HQ)

    kernel = aot_like(mod.prefill_kernel)

    def launch():
        kernel[grid](q, kc, vc, out, d, cu, cu, table, err, B, HQ, HKV, mb, BS, 1.0 / math.sqrt(d), 1, 1,
                                 1, D_PAD=d_pad, BLOCK_M=bm, BLOCK_N=bn, num_warps=warps, num_stages=stages)
    return launch, out, err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", default="128,64")
    ap.add_argument("--t", default="4096,16384,ragged")
    ap.add_argument("--module", default=os.path.join(HERE, "..", "kernels", "attention_prefill.py"))
    args = ap.parse_args()
    mod = load_module(args.module)
    gen = torch.Generator().manual_seed(5)
    print(f"# {os.path.basename(args.module)}, triton {triton.__version__}, {torch.cuda.get_device_name()}")
    print("| D | tokens | BLOCK_M | BLOCK_N | warps | stages | µs | TFLOP/s | × cuDNN contiguous | max err |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for d in (int(x) for x in args.d.split(",")):
        for what in args.t.split(","):
            q_lens = [3000, 512, 6000, 1200, 4000, 1672] if what == "ragged" else [int(what)]
            c = make_case(q_lens, d, gen)
            want = reference(c)
            flops = 4.0 * HQ * d * sum(n * (n + 1) / 2 for n in q_lens)
            ref_ms = cudnn_time(c)
            for tile in CANDIDATES[d]:
                try:
                    launch, out, err = run_kernel(mod, c, tile)
                    launch()
                    torch.cuda.synchronize()
                    e = (out.float() - want.float()).abs().max().item()
                    ms = triton.testing.do_bench(launch, warmup=50, rep=300)
                except Exception as ex:  # a tile that does not fit (shared memory) is a result too
                    print(f"| {d} | {what} | {tile[0]} | {tile[1]} | {tile[2]} | {tile[3]} | – | – | – | "
                          f"{type(ex).__name__}: {str(ex)[:60]} |", flush=True)
                    continue
                print(f"| {d} | {what} | {tile[0]} | {tile[1]} | {tile[2]} | {tile[3]} | {ms * 1e3:.1f} | "
                      f"{flops / ms / 1e9:.0f} | {ref_ms / ms:.2f} | {e:.2e}{'' if e < 3e-2 else ' BAD'} |",
                      flush=True)
            print(f"| {d} | {what} | cuDNN SDPA contiguous | | | | {ref_ms * 1e3:.1f} | {flops / ref_ms / 1e9:.0f} "
                  f"| 1.00 | |", flush=True)


if __name__ == "__main__":
    main()
