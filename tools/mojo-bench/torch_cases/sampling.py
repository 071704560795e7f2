"""torch equivalents of the sampling and MoE-gating bench cases.

top-k + top-p sampling: "eager" is vLLM's sort-based path (apply_top_k_top_p over the whole vocabulary, then
an exponential race), "best" restricts to torch.topk(k) first and sorts only those (the cheapest exact torch
path). moe_gating: fp32 router GEMM, softmax, torch.topk, renormalisation."""
import torch


def _sort_top_k_top_p(logits, k, p, u):
    logits_sort, logits_idx = logits.float().sort(dim=-1, descending=False)
    kth = logits_sort.gather(1, torch.full((logits.shape[0], 1), logits.shape[1] - k, device=logits.device))
    logits_sort.masked_fill_(logits_sort < kth, -float("inf"))
    probs_sort = logits_sort.softmax(dim=-1)
    top_p_mask = torch.cumsum(probs_sort, dim=-1) <= 1 - p
    top_p_mask[:, -1] = False
    logits_sort.masked_fill_(top_p_mask, -float("inf"))
    probs = logits_sort.scatter(-1, logits_idx, logits_sort).softmax(dim=-1)
    q = torch.empty_like(probs).exponential_()
    tok = probs.div_(q).argmax(dim=-1, keepdim=True)
    return probs.gather(1, tok), tok


def _topk_then_top_p(logits, k, p, u):
    vals, ids = torch.topk(logits.float(), k, dim=-1)  # sorted descending
    probs = vals.softmax(dim=-1)
    excl = torch.cumsum(probs, dim=-1) - probs
    vals = vals.masked_fill(excl > p, -float("inf"))
    probs = vals.softmax(dim=-1)
    c = torch.searchsorted(torch.cumsum(probs, dim=-1), u[:, None], right=True).clamp_(max=k - 1)
    return probs.gather(1, c), ids.gather(1, c)


def _sampling_setup(case):
    args = []
    for t in case["inputs"]:
        if t is None:
            args.append(None)
        elif len(t["shape"]) == 2:
            args.append(torch.randn(t["shape"], device="cuda") * 3)
        else:
            args.append(torch.rand(t["shape"], device="cuda") * 0.999)
    return args


def _gating(x, w, k=8):
    p = (x.float() @ w).softmax(dim=-1)
    g, ids = torch.topk(p, k, dim=-1)
    return ids.int(), g / g.sum(dim=-1, keepdim=True)


VARIANTS = {
    "top_p_sampling": {
        "eager": lambda logits, row_p, u, so: _sort_top_k_top_p(logits, 50, 0.9, u),
        "best": lambda logits, row_p, u, so: _topk_then_top_p(logits, 50, 0.9, u),
    },
    "top_k_sampling": {
        "eager": lambda logits, u, so: _sort_top_k_top_p(logits, 50, 1.0, u),
        "best": lambda logits, u, so: _topk_then_top_p(logits, 50, 1.0, u),
    },
    "moe_gating": {"eager": _gating},
}

SETUPS = {"top_p_sampling": _sampling_setup, "top_k_sampling": _sampling_setup}
