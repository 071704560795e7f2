"""torch equivalents of the GEMM bench cases (cuBLAS through F.linear / torch.bmm / torch._int_mm)."""
import torch
import torch.nn.functional as F


def _int8_linear(x, x_scale, w, w_scale, layout):
    wt = w.t() if layout == "NK" else w  # torch._int_mm takes [M, K] @ [K, N]
    acc = torch._int_mm(x, wt)
    return (acc.float() * x_scale * w_scale).to(torch.bfloat16)


def _setup_quant_linear(case):
    m, k = case["inputs"][0]["shape"]
    wshape = case["inputs"][2]["shape"]
    dev = "cuda"
    x = torch.randint(-128, 128, (m, k), dtype=torch.int8, device=dev)
    w = torch.randint(-128, 128, wshape, dtype=torch.int8, device=dev)
    x_scale = torch.rand(m, 1, device=dev) * 0.02 + 0.01
    w_scale = torch.rand(wshape[0] if case["params"]["layout"] == "NK" else wshape[1], device=dev) * 0.002 + 0.001
    return [x, x_scale, w, w_scale, case["params"]["layout"]]


def _batch_linear(x, w, bias=None, reduce=False):
    y = torch.bmm(x, w.transpose(1, 2))
    return y.float().sum(0).to(x.dtype) if reduce else y


def _setup_batch_linear(case):
    x = torch.randn(case["inputs"][0]["shape"], device="cuda", dtype=torch.bfloat16)
    w = torch.randn(case["inputs"][1]["shape"], device="cuda", dtype=torch.bfloat16) * 0.02
    return [x, w, None, case["params"]["reduce"]]


VARIANTS = {
    "linear": {"eager": lambda x, w, b: F.linear(x, w, b)},
    # torch._int_mm wants the second operand column-major for its cuBLAS int8 path; the NK case's w.t() is that.
    "quant_linear": {"eager": _int8_linear},
    "batch_linear": {"eager": _batch_linear},
}

SETUPS = {"quant_linear": _setup_quant_linear, "batch_linear": _setup_batch_linear}
