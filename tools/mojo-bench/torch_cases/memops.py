"""torch equivalents of the memory-bound bench cases of issue 4 (cases/memops.cpp): the paged KV store as an
index_put_ with a precomputed (block, slot) per token (what vLLM's reshape_and_cache is handed), F.embedding,
the QK-norm + RoPE composite (+ the store), the rotary table and swiglu + dynamic quant."""
import torch
import torch.nn.functional as F

from .elementwise import dyn_quant


def _slots(case, device="cuda"):
    p = case["params"]
    bs, mb = p["block_size"], p["max_blocks"]
    table = torch.tensor(p["block_table"], dtype=torch.int64, device=device).view(-1, mb)
    ctx = torch.tensor(p["context_kv_lens"], dtype=torch.int64, device=device)
    cu = torch.tensor(p["cu_q_lens"], dtype=torch.int64, device=device)
    if p.get("decode"):
        seq = torch.arange(table.shape[0], device=device)
        pos = ctx
    else:
        lens = cu[1:] - cu[:-1]
        seq = torch.repeat_interleave(torch.arange(table.shape[0], device=device), lens)
        pos = ctx[seq] + torch.arange(int(cu[-1]), device=device) - cu[seq]
    return table[seq, pos // bs], pos % bs


def _rand(t):
    return torch.randn(t["shape"], device="cuda").to({"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[t["dtype"]])


def store(k, v, kc, vc, blk, slot):
    kc[blk, :, slot] = k
    vc[blk, :, slot] = v


def setup_store(case):
    ins = case["inputs"]
    blk, slot = _slots(case)
    return [_rand(ins[0]), _rand(ins[1]), torch.zeros_like(_rand(ins[2])), torch.zeros_like(_rand(ins[3])), blk, slot]


def setup_embedding(case):
    n, (v, h) = case["inputs"][0]["shape"][0], case["inputs"][1]["shape"]
    ids = ((torch.arange(n, device="cuda", dtype=torch.int64) * 7919 + 13) % v).to(torch.int32)
    return [ids, torch.randn(v, h, device="cuda", dtype=torch.bfloat16)]


def _head_norm(x, w, eps=1e-6):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * w.float()).to(x.dtype)


def _rope(x, cos, sin):
    c, s = cos[:, None, :].float(), sin[:, None, :].float()
    x1, x2 = x.float().chunk(2, dim=-1)
    return (x.float() * c + torch.cat((-x2, x1), dim=-1) * s).to(x.dtype)


def norm_rope(q, k, qw, kw, cos, sin):
    return _rope(_head_norm(q, qw), cos, sin), _rope(_head_norm(k, kw), cos, sin)


def norm_rope_store(q, k, v, qw, kw, cos, sin, kc, vc, blk, slot):
    qo, ko = norm_rope(q, k, qw, kw, cos, sin)
    store(ko, v, kc, vc, blk, slot)
    return qo, ko


def setup_norm_rope_store(case):
    ins = case["inputs"]
    blk, slot = _slots(case)
    return [_rand(t) for t in ins[:7]] + [torch.zeros_like(_rand(ins[7])), torch.zeros_like(_rand(ins[8])), blk, slot]


def rotary(pos, inv_freq):
    ang = pos[:, None].float() * inv_freq[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    return emb.cos(), emb.sin()


def setup_rotary(case):
    p = case["params"]
    q = p["q"]
    pos = (p["ctx"] + torch.arange(p["tokens"], device="cuda") % q).to(torch.int32)
    inv_freq = 1.0 / (1e6 ** (torch.arange(0, 128, 2, device="cuda", dtype=torch.float32) / 128))
    return [pos, inv_freq]


def swiglu_quant(x, qdtype):
    g, u = x.chunk(2, dim=-1)
    return dyn_quant(F.silu(g.float()) * u.float(), None, qdtype)


def setup_swiglu_quant(case):
    qd = torch.float8_e4m3fn if "fp8" in case["case"] else torch.int8
    return [_rand(case["inputs"][0]), qd]


_compiled_swiglu_quant = torch.compile(swiglu_quant)

VARIANTS = {
    "store_paged_kv_cache": {"eager": store, "compile": torch.compile(store)},
    "embedding": {"eager": F.embedding},
    "norm_rope": {"eager": norm_rope, "compile": torch.compile(norm_rope)},
    "norm_rope_store_kv": {"eager": norm_rope_store, "compile": torch.compile(norm_rope_store)},
    "rotary_embedding": {"eager": rotary, "compile": torch.compile(rotary)},
    "swiglu_quant": {"eager": swiglu_quant, "compile": lambda x, qd: _compiled_swiglu_quant(x, qd)},
}

SETUPS = {
    "store_paged_kv_cache": setup_store,
    "embedding": setup_embedding,
    "norm_rope_store_kv": setup_norm_rope_store,
    "rotary_embedding": setup_rotary,
    "swiglu_quant": setup_swiglu_quant,
}
