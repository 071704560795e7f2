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


@triton.jit
def block_ids_code(bt_row, need, n_blocks, BAD: tl.constexpr, BLOCK: tl.constexpr):
    """BAD when a block id among the first `need` columns of one block-table row lies outside [0, n_blocks),
    else 0 (paged attention validation, spec attention.md §0.3)."""
    code = tl.full([], 0, tl.int32)
    cols = tl.arange(0, BLOCK)
    for start in range(0, need, BLOCK):
        m = start + cols
        ids = tl.load(bt_row + m, mask=m < need, other=0)
        bad = (m < need) & ((ids < 0) | (ids >= n_blocks))
        code = tl.maximum(code, tl.max(tl.where(bad, BAD, 0), axis=0))
    return code
