"""torch equivalents of the norm, activation, rope and quant bench cases."""
import torch
import torch.nn.functional as F

def rms_composite(x, w, eps=1e-6):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * w.float()).to(x.dtype)


def add_rms_composite(x, r, w, eps=1e-6):
    s = x + r
    return rms_composite(s, w, eps), s


def swiglu_composite(g, u):
    return F.silu(g) * u


def ln_composite(x, w, b, eps=1e-5):
    return F.layer_norm(x.float(), (x.shape[-1],), w, b, eps).to(x.dtype)


def rope_composite(q, k, cos, sin):
    def rot(x):
        c, s = cos[:, None, :], sin[:, None, :]
        x1, x2 = x.float().chunk(2, dim=-1)
        return (x.float() * c + torch.cat((-x2, x1), dim=-1) * s).to(x.dtype)
    return rot(q), rot(k)


def dyn_quant(x, smooth=None, qdtype=torch.int8):
    xf = x.float()
    qmax = 127.0 if qdtype == torch.int8 else 448.0
    scale = xf.abs().amax(-1, keepdim=True).clamp_min(1e-12) / qmax
    y = xf / scale
    q = y.round().clamp(-128, 127).to(torch.int8) if qdtype == torch.int8 else y.clamp(-448, 448).to(torch.float8_e4m3fn)
    return q, scale


def rms_quant(x, w, smooth=None, qdtype=torch.int8):
    xf = x.float()
    y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6) * w.float()
    return dyn_quant(y, None, qdtype)


def add_norm_cast(x, r, w, b, out_dtype, eps=1e-6):
    s = (x.float() + r.float()).to(r.dtype)
    sf = s.float()
    y = sf * torch.rsqrt(sf.pow(2).mean(-1, keepdim=True) + eps) * w.float()
    if out_dtype == torch.float8_e4m3fn:
        y = y.clamp(-448, 448)
    return y.to(out_dtype), s


def setup_add_norm_cast(case):
    dt = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, "fp8_e4m3fn": torch.float8_e4m3fn}
    x, r, w = (torch.randn(t["shape"], device="cuda").to(dt[t["dtype"]]) for t in case["inputs"][:3])
    return [x, r, w, None, dt[case["outputs"][0]["dtype"]]]


VARIANTS = {
    "rms_norm": {
        "eager": rms_composite,
        "compile": torch.compile(rms_composite),
        "best": lambda x, w: F.rms_norm(x, (x.shape[-1],), w.to(x.dtype), 1e-6),
    },
    "residual_add_rms_norm": {
        "eager": add_rms_composite,
        "compile": torch.compile(add_rms_composite),
        "best": lambda x, r, w: F.rms_norm(x + r, (x.shape[-1],), w.to(x.dtype), 1e-6),
    },
    "swiglu": {"eager": swiglu_composite, "compile": torch.compile(swiglu_composite)},
    "layer_norm": {
        "eager": ln_composite,
        "compile": torch.compile(ln_composite),
        "best": lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w.to(x.dtype), b.to(x.dtype)),
    },
    "silu": {"eager": F.silu, "compile": torch.compile(F.silu)},
    "apply_rope": {"eager": rope_composite, "compile": torch.compile(rope_composite)},
    "dynamic_quant": {"eager": dyn_quant, "compile": torch.compile(dyn_quant)},
    "rms_norm_quant": {"eager": rms_quant, "compile": torch.compile(rms_quant)},
    "gelu": {"eager": F.gelu, "compile": torch.compile(F.gelu)},
    "residual_add_norm_cast": {"eager": add_norm_cast, "compile": torch.compile(add_norm_cast)},
}

SETUPS = {"residual_add_norm_cast": setup_add_norm_cast}


