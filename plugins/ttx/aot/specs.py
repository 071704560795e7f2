"""The specialisations the ttx plugin ships: every kernel x dtype x tile x alignment below is compiled for
every arch in ARCHS. Keep the lists lean (each entry costs ~0.5 s of build time per arch); the C++ side
(plugins/ttx/choose.cpp) picks among exactly these, and tests/ttx checks the two agree.

A spec is (kernel module, kernel function, key, signature, constexprs, aligned argument indices, num_warps,
num_stages, grid rule, and optionally extra compile options). `aligned` marks pointer/int arguments Triton may assume divisible by 16 (16-byte
aligned pointers, lengths that keep every row 16-byte aligned): that lets it emit 16-byte vector accesses.
"""

ARCHS = (80, 90)
DTYPES = ("bf16", "fp16", "fp32")

# Row norms and dynamic_quant: one program per row. Single-tile kernels keep the row in registers; "loop" sweeps wider rows.
NORM_TILES = ((256, 2, True), (512, 2, True), (1024, 4, True), (2048, 4, True), (4096, 8, True),
              (8192, 16, True), (4096, 8, False))
NORM_ARGS = ("x_ptr", "res_ptr", "w_ptr", "w32_ptr", "b_ptr", "b32_ptr", "out_ptr", "res_out_ptr",
             "n_cols", "eps", "layer", "w_kind", "b_kind", "has_res", "res_mode")

# apply_rope: one program per head vector; HALF is the tile over the Dr / 2 rotation pairs.
ROPE_HALVES = ((32, 1), (64, 1), (128, 2))

# store_paged_kv_cache: elements moved as integers of their width, BLOCK elements of a token at a time.
KV_BLOCK = 1024

# paged_decode_gqa: head dims padded to D_PAD, up to DECODE_GROUP query heads per KV head, BLOCK_N keys a step.
DECODE_GROUP = 16
DECODE_TILES = ((64, 64, 4), (128, 64, 4), (256, 32, 4))

# paged_prefill_gqa: (D_PAD, aligned, BLOCK_M query rows, BLOCK_N keys, num_warps, num_stages). "aligned" (q/k/v/out
# 16-byte aligned, head_dim % 16 == 0: 16-byte loads, cp.async pipelining) is the usual case; the plain form
# holds a pointer per element and gets smaller tiles to stay (nearly) free of register spills (ptxas -v,
# Triton 3.6). BLOCK_M is in the key: the launch sizes its grid from it (ops/attention_prefill.cpp mirrors it).
# The aligned D64/D128 tiles are the fastest of aot/tune_prefill.py's sweep on the H100 (docs/decisions/ttx.md).
PREFILL_TILES = ((64, True, 128, 128, 4, 3), (128, True, 128, 64, 8, 2), (256, True, 64, 32, 8, 2),
                 (64, False, 128, 64, 8, 1), (128, False, 64, 32, 8, 2), (256, False, 32, 16, 4, 1))

# Elementwise activations: one program per ACT_BLOCK elements of the flat tensor.
ACT_BLOCK, ACT_WARPS = 4096, 8

# top_k_sampling / top_p_sampling: programs stride over the rows; CAP keys sorted at once (ops/sampling.cpp
# kTileCap) and CAP elements per step of the plain passes, WBLOCK per step of a radix descent. No FMA
# contraction: the integer weights must round exactly as the cpu reference's (mojo_common/sampling_math.h).
SAMPLING_WBLOCK, SAMPLING_CAP, SAMPLING_WARPS = 256, 4096, 16
EXACT_FP = {"enable_fp_fusion": False}


def norm_signature(dt):
    s = {n: "*" + dt for n in NORM_ARGS[:8]}
    s["w32_ptr"] = s["b32_ptr"] = "*fp32"
    s.update(n_cols="i32", eps="fp32", layer="fp32", w_kind="i32", b_kind="i32", has_res="i32", res_mode="i32",
             BLOCK="constexpr", ONE_TILE="constexpr")
    return s


def quant_signature(dt):
    return {"x_ptr": "*" + dt, "s_ptr": "*" + dt, "s32_ptr": "*fp32", "q_ptr": "*i8", "scale_ptr": "*fp32",
            "n_cols": "i32", "s_kind": "i32", "BLOCK": "constexpr", "ONE_TILE": "constexpr"}


def specs():
    out = []
    for dt in DTYPES:
        for aligned in (True, False):
            for block, warps, one in NORM_TILES:
                key = f"dtype={dt} block={block} tile={'one' if one else 'loop'} aligned={int(aligned)}"
                out.append(dict(module="norm", fn="norm_kernel", key=key, signature=norm_signature(dt),
                                constexprs={"BLOCK": block, "ONE_TILE": one},
                                aligned=tuple(range(9)) if aligned else (), num_warps=warps, num_stages=1,
                                grid="rows"))
                out.append(dict(module="quant", fn="dynamic_quant_kernel", key=key, signature=quant_signature(dt),
                                constexprs={"BLOCK": block, "ONE_TILE": one},
                                aligned=tuple(range(6)) if aligned else (), num_warps=warps, num_stages=1,
                                grid="rows"))
            key = f"dtype={dt} block={ACT_BLOCK} aligned={int(aligned)}"
            sig = {"x_ptr": "*" + dt, "up_ptr": "*" + dt, "out_ptr": "*" + dt, "n": "i64", "mode": "i32",
                   "limit": "fp32", "BLOCK": "constexpr"}
            out.append(dict(module="activation", fn="activation_kernel", key=key, signature=sig,
                            constexprs={"BLOCK": ACT_BLOCK}, aligned=tuple(range(4)) if aligned else (),
                            num_warps=ACT_WARPS, num_stages=1, grid=f"cdiv_n_{ACT_BLOCK}"))
        for half, warps in ROPE_HALVES:
            sig = {"x_ptr": "*" + dt, "out_ptr": "*" + dt, "cos_ptr": "*" + dt, "cos32_ptr": "*fp32",
                   "sin_ptr": "*" + dt, "sin32_ptr": "*fp32", "dim1": "i64", "dim2": "i64", "head_dim": "i32",
                   "rope_dim": "i32", "tok_axis": "i32", "batch_rows": "i64", "table_kind": "i32",
                   "interleaved": "i32", "HALF": "constexpr"}
            out.append(dict(module="rope", fn="rope_kernel", key=f"dtype={dt} half={half}", signature=sig,
                            constexprs={"HALF": half}, aligned=(), num_warps=warps, num_stages=1, grid="rows"))
    for width, ity in ((2, "*i16"), (4, "*i32")):
        data = {"k_src": ity, "v_src": ity, "k_cache": ity, "v_cache": ity}
        sig = dict(data, bt_ptr="*i32", cu_ptr="*i32", ctx_ptr="*i32", err_ptr="*i32", n_rows="i32",
                   max_blocks="i32", n_blocks="i32", block_size="i32", hd="i32", head_dim="i32", decode="i32",
                   stride="i32", BLOCK="constexpr")
        out.append(dict(module="kv_cache", fn="kv_store_legacy_kernel", key=f"elem={width}", signature=sig,
                        constexprs={"BLOCK": KV_BLOCK}, aligned=(), num_warps=4, num_stages=1, grid="custom"))
        sig = dict(data, meta_ptr="*i32", count_ptr="*i32", err_ptr="*i32", n_chunks="i32", has_count="i32",
                   hd="i32", head_dim="i32", block_size="i32", stride="i32", BLOCK="constexpr")
        out.append(dict(module="kv_cache", fn="kv_store_plan_kernel", key=f"elem={width}", signature=sig,
                        constexprs={"BLOCK": KV_BLOCK}, aligned=(), num_warps=4, num_stages=1, grid="custom"))
    sig = {"cu_ptr": "*i32", "ctx_ptr": "*i32", "meta_ptr": "*i32", "count_ptr": "*i32", "err_ptr": "*i32",
           "n_seqs": "i32", "n_rows": "i32", "n_chunks": "i32", "n_blocks": "i32", "block_size": "i32", "mode": "i32",
           "has_count": "i32", "BLOCK": "constexpr"}
    out.append(dict(module="kv_cache", fn="kv_validate_kernel", key="one", signature=sig,
                    constexprs={"BLOCK": 256}, aligned=(), num_warps=4, num_stages=1, grid="custom"))
    for dt in ("bf16", "fp16"):
        for d_pad, block_n, warps in DECODE_TILES:
            sig = {"q_ptr": "*" + dt, "k_cache": "*" + dt, "v_cache": "*" + dt, "lens_ptr": "*i32", "bt_ptr": "*i32",
                   "out_ptr": "*" + dt, "err_ptr": "*i32", "n_q_heads": "i32", "n_kv_heads": "i32", "head_dim": "i32",
                   "max_blocks": "i32", "block_size": "i32", "scale": "fp32", "grouped": "i32",
                   "D_PAD": "constexpr", "G_PAD": "constexpr", "BLOCK_N": "constexpr"}
            out.append(dict(module="attention", fn="decode_kernel", key=f"dtype={dt} d={d_pad}", signature=sig,
                            constexprs={"D_PAD": d_pad, "G_PAD": DECODE_GROUP, "BLOCK_N": block_n}, aligned=(),
                            num_warps=warps, num_stages=2, grid="custom"))
    for dt in DTYPES:
        sig = {"logits_ptr": "*" + dt, "uniform_ptr": "*fp32", "seed_ptr": "*i64", "top_p_ptr": "*fp32",
               "probs_ptr": "*fp32", "tok64_ptr": "*i64", "tok32_ptr": "*i32", "ws_ptr": "*u64", "err_ptr": "*i32",
               "n_rows": "i32", "vocab": "i32", "n_cand": "i32", "keep": "i32", "top_p": "fp32", "filter_value": "fp32",
               "is_top_p": "i32", "soft_filter": "i32", "has_uniform": "i32", "has_row_top_p": "i32", "tok64": "i32",
               "WBLOCK": "constexpr", "CAP": "constexpr"}
        out.append(dict(module="sampling", fn="sampling_kernel", key=f"dtype={dt}", signature=sig,
                        constexprs={"WBLOCK": SAMPLING_WBLOCK, "CAP": SAMPLING_CAP},
                        aligned=(), num_warps=SAMPLING_WARPS, num_stages=1, grid="custom", options=EXACT_FP))
    sig = {"uniform_ptr": "*fp32", "top_p_ptr": "*fp32", "err_ptr": "*i32", "n_rows": "i32", "has_uniform": "i32",
           "has_row_top_p": "i32", "BLOCK": "constexpr"}
    out.append(dict(module="sampling", fn="sampling_validate_kernel", key="one", signature=sig,
                    constexprs={"BLOCK": 1024}, aligned=(), num_warps=4, num_stages=1, grid="custom"))
    sig = {"lens_ptr": "*i32", "bt_ptr": "*i32", "err_ptr": "*i32", "max_blocks": "i32", "n_blocks": "i32",
           "block_size": "i32", "hint": "i32", "BLOCK": "constexpr"}
    out.append(dict(module="attention", fn="decode_validate_kernel", key="one", signature=sig,
                    constexprs={"BLOCK": 256}, aligned=(), num_warps=4, num_stages=1, grid="custom"))
    for dt in ("bf16", "fp16"):
        for d_pad, aligned, block_m, block_n, warps, stages in PREFILL_TILES:
            sig = {"q_ptr": "*" + dt, "k_cache": "*" + dt, "v_cache": "*" + dt, "out_ptr": "*" + dt, "head_dim": "i32",
                   "cu_q_ptr": "*i32", "cu_kv_ptr": "*i32", "bt_ptr": "*i32", "err_ptr": "*i32", "n_seqs": "i32",
                   "n_q_heads": "i32", "n_kv_heads": "i32", "max_blocks": "i32", "block_size": "i32", "scale": "fp32",
                   "causal": "i32", "grouped": "i32", "has_cu_kv": "i32",
                   "D_PAD": "constexpr", "BLOCK_M": "constexpr", "BLOCK_N": "constexpr"}
            out.append(dict(module="attention_prefill", fn="prefill_kernel",
                            key=f"dtype={dt} d={d_pad} bm={block_m} aligned={int(aligned)}", signature=sig,
                            constexprs={"D_PAD": d_pad, "BLOCK_M": block_m, "BLOCK_N": block_n},
                            aligned=tuple(range(5)) if aligned else (), num_warps=warps, num_stages=stages,
                            grid="custom"))
    sig = {"cu_q_ptr": "*i32", "cu_kv_ptr": "*i32", "bt_ptr": "*i32", "err_ptr": "*i32", "n_seqs": "i32",
           "n_rows": "i32", "has_cu_kv": "i32", "causal": "i32", "max_blocks": "i32", "n_blocks": "i32",
           "block_size": "i32", "q_hint": "i32", "kv_hint": "i32", "BLOCK": "constexpr"}
    out.append(dict(module="attention_prefill", fn="prefill_validate_kernel", key="one", signature=sig,
                    constexprs={"BLOCK": 256}, aligned=(), num_warps=4, num_stages=1, grid="custom"))
    return out
