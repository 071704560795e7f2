"""torch equivalents of the MoE bench cases: dispatch as a stable argsort + index_select, combine as an fp32
index_add_, group_linear as a per-group F.linear loop (eager) and torch._grouped_mm (best, when present)."""
import torch
import torch.nn.functional as F


def dispatch(x, gates, ids, experts):
    flat = ids.view(-1)
    order = torch.argsort(flat, stable=True)
    tok = order // ids.shape[1]
    return x.index_select(0, tok), torch.bincount(flat, minlength=experts), gates.view(-1)[order], tok


def combine(y, gates, tok, tokens):
    acc = torch.zeros(tokens, y.shape[1], dtype=torch.float32, device=y.device)
    return acc.index_add_(0, tok, y.float() * gates).to(y.dtype)


def group_loop(x, counts, w, bias, layout):
    outs, start = [], 0
    for g, c in enumerate(counts):
        xs = x[start:start + c]
        outs.append(F.linear(xs, w[g]) if layout == "NK" else xs @ w[g])
        start += c
    return torch.cat(outs)


def group_mm(x, counts, w, bias, layout):
    offs = torch.tensor(counts, device=x.device).cumsum(0).to(torch.int32)
    b = w.transpose(-2, -1) if layout == "NK" else w
    return torch._grouped_mm(x, b, offs=offs)


def setup_dispatch(case):
    n, h = case["inputs"][0]["shape"]
    k, e = case["params"]["top_k"], case["params"]["experts"]
    x = torch.randn(n, h, device="cuda", dtype=torch.bfloat16)
    ids = torch.rand(n, e, device="cuda").topk(k, dim=1).indices.to(torch.int32)
    gates = torch.rand(n, k, device="cuda")
    return [x, gates, ids.long(), e]


def setup_combine(case):
    m, h = case["inputs"][0]["shape"]
    n = case["params"]["tokens"]
    y = torch.randn(m, h, device="cuda", dtype=torch.bfloat16)
    g = torch.rand(m, 1, device="cuda")
    tok = torch.randperm(m, device="cuda") % n
    return [y, g, tok, n]


def setup_group(case):
    x_shape, w_shape = case["inputs"][0]["shape"], case["inputs"][2]["shape"]
    x = torch.randn(x_shape, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(w_shape, device="cuda", dtype=torch.bfloat16) * 0.02
    return [x, case["params"]["counts"], w, None, case["params"]["layout"]]


VARIANTS = {
    "moe_dispatch": {"eager": dispatch},
    "moe_combine": {"eager": combine},
    "group_linear": {"eager": group_loop, "best": group_mm},
}
SETUPS = {"moe_dispatch": setup_dispatch, "moe_combine": setup_combine, "group_linear": setup_group}
