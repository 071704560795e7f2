"""Device helpers shared by the ttx kernels."""
import triton
import triton.language as tl


@triton.jit
def load_param(same_ptr, f32_ptr, kind, offs, mask, other):
    """A per-channel parameter (weight, bias, cos/sin, smoothing) stored as the input dtype (kind 1) or fp32
    (kind 2), as fp32; kind 0 (absent) reads as `other`. The kind is uniform per launch, so one cubin serves
    both storage dtypes."""
    a = tl.load(same_ptr + offs, mask=mask & (kind == 1), other=other).to(tl.float32)
    b = tl.load(f32_ptr + offs, mask=mask & (kind == 2), other=other)
    return tl.where(kind == 2, b, a)
