"""torch equivalents of the GEMM bench cases (cuBLAS through F.linear / torch.bmm / torch._int_mm /
torch._scaled_mm)."""
import torch
import torch.nn.functional as F


def _int8_linear(x, x_scale, w, w_scale, layout):
    wt = w.t() if layout == "NK" else w  # torch._int_mm takes [M, K] @ [K, N]
    acc = torch._int_mm(x, wt)
    return (acc.float() * x_scale * w_scale).to(torch.bfloat16)


def _fp8_linear(x, x_scale, w, w_scale, layout):
    # torch._scaled_mm with row-wise scales (x_scale [M, 1], w_scale [1, N], fp32) wants the second operand
    # column-major: the NK case's w.t() is; a KN weight needs the transposing copy (mojo transposes it too).
    w_col = w.t() if layout == "NK" else w.t().contiguous().t()
    return torch._scaled_mm(x, w_col, scale_a=x_scale, scale_b=w_scale.view(1, -1), out_dtype=torch.bfloat16)


def _quant_linear(x, x_scale, w, w_scale, layout):
    return (_fp8_linear if x.dtype == torch.float8_e4m3fn else _int8_linear)(x, x_scale, w, w_scale, layout)


def _codes(shape, fp8, dev):
    if fp8:  # unit-normal data over a scale of amax / 448, as a per-row quantizer makes it
        return (torch.randn(shape, device=dev) * 120).clamp(-448, 448).to(torch.float8_e4m3fn)
    return torch.randint(-128, 128, shape, dtype=torch.int8, device=dev)


def _setup_quant_linear(case):
    m, k = case["inputs"][0]["shape"]
    wshape = case["inputs"][2]["shape"]
    fp8 = case["inputs"][0]["dtype"] == "fp8_e4m3fn"
    dev = "cuda"
    x = _codes((m, k), fp8, dev)
    w = _codes(wshape, fp8, dev)
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
    # torch._int_mm / torch._scaled_mm want the second operand column-major; the NK case's w.t() is that.
    "quant_linear": {"eager": _quant_linear},
    "batch_linear": {"eager": _batch_linear},
}

SETUPS = {"quant_linear": _setup_quant_linear, "batch_linear": _setup_batch_linear}
