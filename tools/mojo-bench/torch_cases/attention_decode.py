"""torch equivalents of the paged decode attention bench cases (cases/attention_decode.cpp).

Every variant gets the same argument tuple from SETUPS: the paged cache with a scattered block table (what mojo
reads) and, for the SDPA baselines, the same keys already contiguous [B, Hkv, visited, D] (an unpaged cache: the
best case torch can have). Variants:
  best  -- F.scaled_dot_product_attention, cuDNN backend, contiguous KV, enable_gqa=True
  flash -- the same with the flash backend
  eager -- gather the pages through the block table, then SDPA (what a torch paged cache costs)
For the SWA case the contiguous KV holds only the visible keys (4 sinks + the 1024-key window).
"""
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def setup(case):
    p = case["params"]
    B, ctx, hq, hkv, d, bs = p["batch"], p["ctx"], p["hq"], p["hkv"], p["d"], p["page"]
    visited = p["visited"]
    dev, dt = "cuda", torch.bfloat16
    g = torch.Generator(device="cpu").manual_seed(1234)
    pages_per_seq = (visited + bs - 1) // bs + (1 if p["wg"] >= 0 else 0)
    nb = B * pages_per_seq + 1
    q = torch.randn(B, hq, 1, d, device=dev, dtype=dt)
    k_cache = torch.randn(nb, hkv, bs, d, device=dev, dtype=dt)
    v_cache = torch.randn(nb, hkv, bs, d, device=dev, dtype=dt)
    table = (torch.randperm(B * pages_per_seq, generator=g) + 1).view(B, pages_per_seq).to(dev)
    k_contig = torch.randn(B, hkv, visited, d, device=dev, dtype=dt)
    v_contig = torch.randn(B, hkv, visited, d, device=dev, dtype=dt)
    return (q, k_cache, v_cache, table, k_contig, v_contig, visited)


def sdpa_backend(backend):
    def run(q, k_cache, v_cache, table, k, v, visited):
        with sdpa_kernel(backend):
            return F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    return run


def gather_then_sdpa(q, k_cache, v_cache, table, k, v, visited):
    B, P = table.shape
    hkv, bs, d = k_cache.shape[1:]
    kk = k_cache[table].permute(0, 2, 1, 3, 4).reshape(B, hkv, P * bs, d)[:, :, :visited]
    vv = v_cache[table].permute(0, 2, 1, 3, 4).reshape(B, hkv, P * bs, d)[:, :, :visited]
    return F.scaled_dot_product_attention(q, kk, vv, enable_gqa=True)


_VARIANTS = {
    "best": sdpa_backend(SDPBackend.CUDNN_ATTENTION),
    "flash": sdpa_backend(SDPBackend.FLASH_ATTENTION),
    "eager": gather_then_sdpa,
}

VARIANTS = {"paged_decode_gqa": _VARIANTS, "paged_decode_swa": _VARIANTS}
SETUPS = {"paged_decode_gqa": setup, "paged_decode_swa": setup}
