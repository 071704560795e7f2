"""torch equivalents of the paged_prefill_gqa bench cases: F.scaled_dot_product_attention (causal, GQA) on
contiguous unpaged Q/K/V of the same sizes, with the cuDNN backend ("best") and the flash backend ("eager").
A ragged batch runs one SDPA call per sequence (torch has no varlen SDPA)."""
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def _setup(case):
    p = case["params"]
    hq, hkv, d = p["hq"], p["hkv"], p["d"]
    seqs = []
    for n in p["q_lens"]:
        q = torch.randn(1, hq, n, d, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, hkv, n, d, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(1, hkv, n, d, device="cuda", dtype=torch.bfloat16)
        g = hq // hkv  # expanded K/V for a backend that rejects enable_gqa (AABB = repeat_interleave)
        seqs.append((q, k, v, k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)))
    return [seqs]


def _sdpa(backend):
    state = {"gqa": True}

    def one(q, k, v, ke, ve):
        if state["gqa"]:
            try:
                return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            except RuntimeError:  # this backend has no GQA support in this torch: use expanded K/V from now on
                state["gqa"] = False
        return F.scaled_dot_product_attention(q, ke, ve, is_causal=True)

    def run(seqs):
        with sdpa_kernel(backend):
            return [one(*s) for s in seqs]
    return run


SETUPS = {"paged_prefill_gqa": _setup}
VARIANTS = {"paged_prefill_gqa": {"best": _sdpa(SDPBackend.CUDNN_ATTENTION), "eager": _sdpa(SDPBackend.FLASH_ATTENTION)}}
