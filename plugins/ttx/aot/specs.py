"""The specialisations the ttx plugin ships: every kernel x dtype x tile x alignment below is compiled for
every arch in ARCHS. Keep the lists lean (each entry costs ~0.5 s of build time per arch); the C++ side
(plugins/ttx/choose.cpp) picks among exactly these, and tests/ttx checks the two agree.

A spec is (kernel module, kernel function, key, signature, constexprs, aligned argument indices, num_warps,
num_stages, grid rule). `aligned` marks pointer/int arguments Triton may assume divisible by 16 (16-byte
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

# Elementwise activations: one program per ACT_BLOCK elements of the flat tensor.
ACT_BLOCK, ACT_WARPS = 4096, 8


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
    return out
