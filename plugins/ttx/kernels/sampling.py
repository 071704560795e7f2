"""top_k_sampling and top_p_sampling for the ttx plugin (plugins/cpu/ops/sampling.cpp), sorting-free.

Tokens equal the cpu reference's bit for bit: every mass is the integer weight floor(exp(l - m) * 2^40) of
mojo_common/sampling_math.h, evaluated by the same sequence of correctly rounded fp32 operations (explicit
fma; the AOT step compiles this module without FMA contraction), and every cumulative decision compares int64
sums, which no reduction order changes. Uniforms come from the explicit tensor or the Philox4x32-10 stream of
mojo_common/philox.h, written out here with uint32 operations.

Candidates are ranked by a uint64 key: the order-preserving bits of the fp32 logit, then the inverted
vocabulary id (ties toward the lower id, AMB-TIE); 0 marks "no element". No kernel sorts the row. A decision
("the first key, in descending order, whose running weight exceeds x") is a radix descent over the key: count
passes use 11-bit digits and tl.histogram, weighted passes 4-bit digits with int64 sums per digit, and the
descent stops once the bucket holding the crossing has at most CAP keys. One more pass gathers that bucket
into the op's workspace (CAP keys per program), tl.sort orders those few keys and cumulative sums finish the
decision in registers.

* K' <= CAP (the usual case): one descent finds the bucket of the K'-th key; everything from it upward (K' to
  CAP keys) is gathered and sorted, and the softmax, nucleus cut and draw run over the first K' of the tile.
  Two or three passes over the row.
* K' > CAP (top_k or rand_top_k above CAP, e.g. exact nucleus with rand_top_k = V): every decision (the K'-th
  key, the top_p crossing, min_tokens_to_keep, the draw) is such a select over the row; about a dozen passes,
  L2-resident for decode batches. Correct for any K', not the optimised case.

All or nothing (spec ops.md §1.4): sampling_validate_kernel checks explicit uniforms and row_top_p and raises
into the op's error word; sampling_kernel writes nothing once it is set. A grid of P programs strides over the
rows (P is what the workspace was sized for at create). NaN logits are undefined (the spec's non-debug
contract): a NaN ranks by its bit pattern and nothing is read or written out of bounds.
"""
import triton
import triton.language as tl

# Error codes (ops/sampling.cpp describes them).
BAD_UNIFORM = tl.constexpr(1)
BAD_TOP_P = tl.constexpr(2)

# sampling_math.h's constants, as the exact fp32 values the C++ literals round to.
LOG2E = tl.constexpr(float.fromhex("0x1.715476p+0"))
LN2_HI = tl.constexpr(float.fromhex("-0x1.62e4p-1"))
LN2_LO = tl.constexpr(float.fromhex("-0x1.7f7d1cp-20"))
C7 = tl.constexpr(float.fromhex("0x1.a01a02p-13"))
C6 = tl.constexpr(float.fromhex("0x1.6c16c2p-10"))
C5 = tl.constexpr(float.fromhex("0x1.111112p-7"))
C4 = tl.constexpr(float.fromhex("0x1.555556p-5"))
C3 = tl.constexpr(float.fromhex("0x1.555556p-3"))
RINT_MAGIC = tl.constexpr(12582912.0)  # 1.5 * 2^23: (y + M) - M rounds |y| < 2^22 to an integer, ties to even
WEIGHT_ONE = tl.constexpr(1 << 40)
KEY_MAX = tl.constexpr(0xFFFFFFFFFFFFFFFF)


@triton.jit
def _softmax_weight(l, m):
    """sampling_math.h softmax_weight: floor(exp(l - m) * 2^40) for l <= m, as int64."""
    x = l - m
    n = (x * LOG2E + RINT_MAGIC) - RINT_MAGIC
    r = tl.fma(n, LN2_HI, x)
    r = tl.fma(n, LN2_LO, r)
    p = tl.fma(r, C7, C6)
    p = tl.fma(p, r, C5)
    p = tl.fma(p, r, C4)
    p = tl.fma(p, r, C3)
    p = tl.fma(p, r, 0.5)
    p = tl.fma(p, r, 1.0)
    p = tl.fma(p, r, 1.0)
    big = x > -28.0  # also false for NaN (inf - inf); n is then small enough to convert
    e = tl.where(big, n, 0.0).to(tl.int32) + 40
    scale = ((tl.maximum(e, 0) + 127) << 23).to(tl.float32, bitcast=True)
    w = tl.where(big & (e >= 0), (tl.where(big, p, 0.0) * scale).to(tl.int64), 0)
    return tl.where(l == m, WEIGHT_ONE, w)


@triton.jit
def _scale_floor(t, z):
    """sampling_math.h scale_floor: floor(t * z) for fp32 t in [0, 1] and int64 z >= 0, exact."""
    bits = t.to(tl.uint32, bitcast=True)
    biased = (bits >> 23).to(tl.int64)  # the sign bit makes it >= 256 for negative t (answered 0 below)
    frac = (bits & 0x7FFFFF).to(tl.int64)
    mant = tl.where(biased != 0, frac | 0x800000, frac)
    shift = tl.where(biased != 0, 150 - biased, 149)
    lo = (z & 0xFFFFFFFF) * mant
    mid = (z >> 32) * mant + (lo >> 32)
    wide = tl.where(shift - 32 >= 64, 0, mid >> tl.minimum(tl.maximum(shift - 32, 0), 63))
    narrow = (mid << tl.minimum(tl.maximum(32 - shift, 0), 63)) | \
        ((lo & 0xFFFFFFFF) >> tl.minimum(tl.maximum(shift, 0), 63))
    r = tl.where(shift >= 32, wide, narrow)
    return tl.where(((bits & 0x7FFFFFFF) == 0) | ((bits >> 31) != 0), 0, r)


@triton.jit
def _philox_uniform(seed, offset, n):
    """philox.h philox_uniform: word 0 of Philox4x32-10(key = seed, counter = (n, offset)), top 24 bits."""
    c0 = n.to(tl.uint32)
    c1 = (n >> 32).to(tl.uint32)
    c2 = offset.to(tl.uint32)
    c3 = (offset >> 32).to(tl.uint32)
    k0 = seed.to(tl.uint32)
    k1 = (seed >> 32).to(tl.uint32)
    m0 = tl.full([], 0xD2511F53, tl.uint32)
    m1 = tl.full([], 0xCD9E8D57, tl.uint32)
    for i in tl.static_range(10):
        if i > 0:
            k0 = k0 + tl.full([], 0x9E3779B9, tl.uint32)
            k1 = k1 + tl.full([], 0xBB67AE85, tl.uint32)
        hi0 = tl.umulhi(m0, c0)
        lo0 = m0 * c0
        hi1 = tl.umulhi(m1, c2)
        lo1 = m1 * c2
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return (c0 >> 8).to(tl.float32) * (1.0 / 16777216.0)


@triton.jit
def _row_keys(row_ptr, offs, n):
    """Keys (0 past the row's end) and fp32 values of the row elements at offs."""
    inside = offs < n
    v = tl.load(row_ptr + offs, mask=inside, other=0.0).to(tl.float32)
    u = v.to(tl.uint32, bitcast=True)
    u = tl.where(u == 0x80000000, u & 0x7FFFFFFF, u)  # -0 ranks as +0
    vk = tl.where((u & 0x80000000) != 0, u ^ 0xFFFFFFFF, u | 0x80000000)
    key = (vk.to(tl.uint64) << 32) | (offs.to(tl.uint32) ^ 0xFFFFFFFF).to(tl.uint64)
    return tl.where(inside, key, 0), v


@triton.jit
def _key_value(key):
    vk = (key >> 32).to(tl.uint32)
    return tl.where((vk & 0x80000000) != 0, vk & 0x7FFFFFFF, vk ^ 0xFFFFFFFF).to(tl.float32, bitcast=True)


@triton.jit
def _key_id(key):
    return (key.to(tl.uint32) ^ 0xFFFFFFFF).to(tl.int64)


@triton.jit
def _weight(key, v, mk, cut, wfv):
    """A candidate's weight: kept keys (>= cut) weigh softmax_weight(v, mk), removed ones wfv."""
    return tl.where(key >= cut, _softmax_weight(v, mk), wfv)


@triton.jit
def _in_bucket(keys, lo, s, prefix):
    """Keys >= lo whose bits above bit s equal prefix (s = 64: every key >= lo)."""
    return (keys >= lo) & ((s >= 64) | ((keys >> tl.minimum(s, 63).to(tl.uint64)) == prefix))


@triton.jit
def _digit(keys, s, d):
    return ((keys >> (s - d).to(tl.uint64)) & ((tl.full([], 1, tl.uint64) << d.to(tl.uint64)) - 1)).to(tl.int32)


@triton.jit
def _narrow(row_ptr, n, lo, x, count_mode, fit, mk, cut, wfv, WBLOCK: tl.constexpr, CAP: tl.constexpr):
    """Radix descent (4-bit digits) toward the first key >= lo, in descending order, whose running weight
    exceeds x (count_mode: weight 1 per key, i.e. the (x + 1)-th largest). Returns (s, prefix, above): that
    key's bits above s are prefix and the keys above its bucket weigh `above`. Stops once the bucket (fit: the
    bucket and every key above it) holds at most CAP keys. Per-digit sums stay in registers until a pass ends."""
    s = tl.full([], 64, tl.int32)
    prefix = tl.full([], 0, tl.uint64)
    above = tl.full([], 0, tl.int64)
    count = n.to(tl.int64)
    digits = tl.arange(0, 16)
    while (count > CAP) & (s > 0):
        d = tl.minimum(s, 4)
        acc_w = tl.zeros([WBLOCK, 16], tl.int64)
        acc_c = tl.zeros([WBLOCK, 16], tl.int32)
        for start in range(0, n, WBLOCK):
            keys, v = _row_keys(row_ptr, start + tl.arange(0, WBLOCK), n)
            inside = _in_bucket(keys, lo, s, prefix)
            if count_mode:
                w = inside.to(tl.int64)
            else:
                w = tl.where(inside, _weight(keys, v, mk, cut, wfv), 0)
            ge = tl.where(inside, _digit(keys, s, d), -1)[:, None] >= digits[None, :]
            acc_w += tl.where(ge, w[:, None], 0)
            acc_c += ge.to(tl.int32)
        ge_w = tl.sum(acc_w, 0)  # weight and count of the bucket's keys whose digit is >= k
        ge_c = tl.sum(acc_c, 0).to(tl.int64)
        b = tl.max(tl.where(above + ge_w > x, digits, -1), 0)
        above += tl.sum(tl.where(digits == b + 1, ge_w, 0), 0)
        inner = tl.sum(tl.where(digits == b, ge_c, 0), 0) - tl.sum(tl.where(digits == b + 1, ge_c, 0), 0)
        count = tl.where(fit, above + inner, inner)  # fit runs in count mode: above counts keys
        prefix = (prefix << d.to(tl.uint64)) | b.to(tl.uint64)
        s = s - d
    return s, prefix, above


@triton.jit
def _group_maxima(row_ptr, n, slot_ptr, CAP: tl.constexpr):
    """Stores into the slot the largest key of each residue class of the ids mod CAP (0 for an empty class) and
    returns the smallest key of the row. The K-th largest of those maxima (K <= CAP) is a key with at least K
    keys at or above it, and for real logits not many more: the usual candidate threshold, in one cheap pass."""
    hi = tl.zeros([CAP], tl.uint64)
    lo = tl.full([CAP], KEY_MAX, tl.uint64)
    for start in range(0, n, CAP):
        keys, _ = _row_keys(row_ptr, start + tl.arange(0, CAP), n)
        hi = tl.maximum(hi, keys)
        lo = tl.minimum(lo, tl.where(keys != 0, keys, KEY_MAX))
    tl.debug_barrier()  # the previous row's tile loads are done before the slot is rewritten
    tl.store(slot_ptr + tl.arange(0, CAP), hi)
    return tl.min(lo, 0)


@triton.jit
def _gather(row_ptr, n, lo, first, last, slot_ptr, CAP: tl.constexpr):
    """Copies the keys k >= lo with first <= k <= last into the slot (the first CAP of them, in id order) and
    returns how many there are."""
    tl.debug_barrier()  # the previous tile's loads are done before the slot is rewritten
    count = tl.full([], 0, tl.int32)
    for start in range(0, n, CAP):
        keys, _ = _row_keys(row_ptr, start + tl.arange(0, CAP), n)
        take = (keys >= lo) & (keys >= first) & (keys <= last)
        pos = count + tl.cumsum(take.to(tl.int32), 0) - 1
        tl.store(slot_ptr + pos, keys, mask=take & (pos < CAP))
        count += tl.sum(take.to(tl.int32), 0)
    return count


@triton.jit
def _row_total(row_ptr, n, lo, mk, cut, wfv, CAP: tl.constexpr):
    z = tl.zeros([CAP], tl.int64)
    for start in range(0, n, CAP):
        keys, v = _row_keys(row_ptr, start + tl.arange(0, CAP), n)
        z += tl.where(keys >= lo, _weight(keys, v, mk, cut, wfv), 0)
    return tl.sum(z, 0)


@triton.jit
def _tile_sample(tile, n_cand, keep, u, top_p, fv, is_top_p, soft_filter, CAP: tl.constexpr):
    """K' <= CAP: the sorted tile starts with the K' candidates. Returns (chosen key, its weight, total)."""
    j = tl.arange(0, CAP)
    cand = j < n_cand
    v = _key_value(tile)
    m = _key_value(tl.max(tile, 0))
    w = tl.where(cand, _softmax_weight(v, m), 0)
    z = tl.sum(w, 0)
    if is_top_p != 0:
        # AMB-TOPP: the candidate whose running mass first exceeds floor(top_p * Z) is the last one kept.
        cross = tl.min(tl.where(cand & (tl.cumsum(w, 0) > _scale_floor(top_p, z)), j, CAP), 0)
        kept = tl.maximum(tl.where(cross < n_cand, cross + 1, n_cand), keep)
        soft = (kept < n_cand) & (soft_filter != 0)  # removed candidates keep a finite filter_value's weight
        m2 = tl.where(soft, tl.maximum(m, fv), m)
        wfv = tl.where(soft, _softmax_weight(fv, m2), 0)
        w = tl.where(j < kept, _softmax_weight(v, m2), tl.where(cand, wfv, 0))
        z = tl.sum(w, 0)
    c = tl.min(tl.where(tl.cumsum(w, 0) > _scale_floor(u, z), j, CAP), 0)
    return tl.max(tl.where(j == c, tile, 0), 0), tl.sum(tl.where(j == c, w, 0), 0), z


# The steps of one row (_sample_row).
GROUPS = tl.constexpr(0)  # the slot holds the group maxima: the row maximum, the K'-th group maximum
TILE = tl.constexpr(1)  # K' <= CAP: gather every key >= the K'-th group maximum, decide everything in the tile
TILE_DESCENT = tl.constexpr(2)  # TILE's fallback when that gathers more than CAP keys: a count descent first
LOWEST = tl.constexpr(3)  # K' > CAP, count select: the K'-th key, the lowest candidate (skipped when K' = V)
NUCLEUS = tl.constexpr(4)  # weighted select: the top_p crossing, the last key kept (top_p only)
KEEP = tl.constexpr(5)  # count select: the min_tokens_to_keep-th candidate (top_p only)
DRAW = tl.constexpr(6)  # weighted select: the draw
DONE = tl.constexpr(7)


@triton.jit
def _sample_row(row_ptr, n, n_cand, keep, u, top_p, fv, is_top_p, soft_filter, slot_ptr, WBLOCK: tl.constexpr,
                CAP: tl.constexpr):
    """One row. Returns (chosen key, its weight, total weight). Every step fills the slot once and goes through
    the one load-and-sort below (a single tl.sort keeps the kernel small)."""
    zero = tl.full([], 0, tl.int64)
    kmin = _group_maxima(row_ptr, n, slot_ptr, CAP)
    step = tl.full([], GROUPS, tl.int32)
    count = tl.full([], CAP, tl.int32)  # keys in the slot
    k0 = tl.full([], 0, tl.uint64)  # the K'-th group maximum
    lo = tl.full([], 1, tl.uint64)  # the lowest candidate key (1: every key)
    m = tl.full([], 0.0, tl.float32)
    z = zero
    x = zero  # the target of the next weighted select
    mk = m  # weights of the candidates: keys >= cut weigh softmax_weight(v, mk), the others wfv
    cut = lo
    wfv = zero
    key = tl.full([], 0, tl.uint64)
    w = zero
    while step < DONE:
        count_mode = (step == TILE_DESCENT) | (step == LOWEST) | (step == KEEP)
        run = (step <= TILE_DESCENT) | (step == DRAW) | ((step == LOWEST) & (n_cand < n)) | \
            ((step == NUCLEUS) & (x < z)) | ((step == KEEP) & (keep > 1))
        sel_lo = tl.where((step == NUCLEUS) | (step == KEEP) | (step == DRAW), lo, 1)
        target = tl.where(count_mode, tl.where(step == KEEP, keep - 1, n_cand - 1).to(tl.int64), x)
        above = zero
        if run & (step != GROUPS):
            first = k0
            last = tl.full([], KEY_MAX, tl.uint64)
            if step != TILE:
                fit = step == TILE_DESCENT
                s, prefix, above = _narrow(row_ptr, n, sel_lo, target, count_mode, fit, mk, cut, wfv, WBLOCK, CAP)
                first = tl.where(s >= 64, 0, prefix << tl.minimum(s, 63).to(tl.uint64))
                last = tl.where(fit | (s >= 64), KEY_MAX,
                                first | ((tl.full([], 1, tl.uint64) << tl.minimum(s, 63).to(tl.uint64)) - 1))
            count = _gather(row_ptr, n, sel_lo, first, last, slot_ptr, CAP)
        found = tl.full([], 0, tl.uint64)
        if run & (count <= CAP):
            tl.debug_barrier()  # the slot's stores are visible to every thread
            j = tl.arange(0, CAP)
            tile = tl.sort(tl.load(slot_ptr + j, mask=j < count, other=0), descending=True)
            if step == GROUPS:
                m = _key_value(tl.max(tile, 0))
                k0 = tl.max(tl.where(j == n_cand - 1, tile, 0), 0)
            elif step <= TILE_DESCENT:
                key, w, z = _tile_sample(tile, n_cand, keep, u, top_p, fv, is_top_p, soft_filter, CAP)
            elif count_mode:
                found = tl.max(tl.where(j == target - above, tile, 0), 0)
            else:
                tw = tl.where(tile != 0, _weight(tile, _key_value(tile), mk, cut, wfv), 0)
                c = tl.min(tl.where(above + tl.cumsum(tw, 0) > target, j, CAP), 0)
                found = tl.max(tl.where(j == c, tile, 0), 0)
        if step == GROUPS:
            mk = m
            lo = kmin
            step = tl.where(n_cand <= CAP, TILE, LOWEST)
        elif step == TILE:
            step = tl.where(count <= CAP, DONE, TILE_DESCENT)
        elif step == TILE_DESCENT:
            step = DONE
        elif step == LOWEST:
            if run:
                lo = found
            cut = lo
            z = _row_total(row_ptr, n, lo, m, lo, zero, CAP)
            if is_top_p != 0:
                x = _scale_floor(top_p, z)
                step = NUCLEUS
            else:
                x = _scale_floor(u, z)
                step = DRAW
        elif step == NUCLEUS:
            if run:
                cut = found
            step = KEEP
        elif step == KEEP:
            if run:
                cut = tl.minimum(cut, found)
            soft = (cut > lo) & (soft_filter != 0)  # removed candidates keep a finite filter_value's weight
            mk = tl.where(soft, tl.maximum(m, fv), m)
            wfv = tl.where(soft, _softmax_weight(fv, mk), zero)
            z = _row_total(row_ptr, n, lo, mk, cut, wfv, CAP)
            x = _scale_floor(u, z)
            step = DRAW
        else:
            key = found
            w = _weight(key, _key_value(key), mk, cut, wfv)
            step = DONE
    return key, w, z


@triton.jit
def sampling_validate_kernel(uniform_ptr, top_p_ptr, err_ptr, n_rows, has_uniform, has_row_top_p,
                             BLOCK: tl.constexpr):
    """One program: explicit uniforms in [0, 1), row_top_p in (0, 1]."""
    code = tl.full([], 0, tl.int32)
    for start in range(0, n_rows, BLOCK):
        r = start + tl.arange(0, BLOCK)
        inside = r < n_rows
        if has_uniform != 0:
            u = tl.load(uniform_ptr + r, mask=inside, other=0.0)
            code = tl.maximum(code, tl.max(tl.where(inside & ~((u >= 0.0) & (u < 1.0)), BAD_UNIFORM, 0), 0))
        if has_row_top_p != 0:
            p = tl.load(top_p_ptr + r, mask=inside, other=1.0)
            code = tl.maximum(code, tl.max(tl.where(inside & ~((p > 0.0) & (p <= 1.0)), BAD_TOP_P, 0), 0))
    if code != 0:
        tl.atomic_cas(err_ptr, 0, code)


@triton.jit
def sampling_kernel(logits_ptr, uniform_ptr, seed_ptr, top_p_ptr, probs_ptr, tok64_ptr, tok32_ptr, ws_ptr, err_ptr,
                    n_rows, vocab, n_cand, keep, top_p, filter_value, is_top_p, soft_filter, has_uniform,
                    has_row_top_p, tok64, WBLOCK: tl.constexpr, CAP: tl.constexpr):
    """Program p samples rows p, p + P, ... with K' = n_cand candidates (top_k: is_top_p = 0), keep =
    min(min_tokens_to_keep, K'), soft_filter = filter_value is finite; tokens to tok64_ptr (tok64) or
    tok32_ptr. Absent tensors are passed as any pointer and never read."""
    pid = tl.program_id(0)
    slot = ws_ptr + pid.to(tl.int64) * CAP
    rows = tl.where(tl.load(err_ptr) == 0, n_rows, 0)  # a failed validation: write nothing
    for r in range(pid, rows, tl.num_programs(0)):
        r64 = tl.full([], 0, tl.int64) + r
        row = logits_ptr + r64 * vocab
        if has_uniform != 0:
            u = tl.load(uniform_ptr + r)
        else:
            u = _philox_uniform(tl.load(seed_ptr), tl.load(seed_ptr + 1), r64)
        p = top_p
        if has_row_top_p != 0:
            p = tl.load(top_p_ptr + r)
        key, w, z = _sample_row(row, vocab, n_cand, keep, u, p, filter_value, is_top_p, soft_filter, slot, WBLOCK,
                                CAP)
        # weight_probability: w / Z rounded once to double (fp64 division is IEEE: div.rn.f64), then to float.
        tl.store(probs_ptr + r, (w.to(tl.float64) / z.to(tl.float64)).to(tl.float32))
        if tok64 != 0:
            tl.store(tok64_ptr + r, _key_id(key))
        else:
            tl.store(tok32_ptr + r, _key_id(key).to(tl.int32))
