"""torch integration: every op of the schema as a torch.library custom op (torch.ops.mojo.<op>).

    import mojo.torch
    mojo.torch.enable()                       # registers (once) and routes mojo.<op>(torch tensors) here
    y = torch.ops.mojo.rms_norm(x, w, 1e-6)   # traced by torch.compile without graph breaks

Registration follows vLLM's direct_register_custom_op: one Library("mojo", "FRAGMENT"), `define` with a schema
string built from the op schema (mutated inputs as Tensor(a!)), `impl` for the CompositeExplicitAutograd
key (one Python function, no dispatcher round trips per backend) and `_register_fake` for the meta/fake
implementation, which allocates outputs from the same shape patterns as the eager path.

Outputs whose shapes the schema cannot derive from the inputs are taken as mutated `out` arguments and the
op returns nothing for them (functionalisation handles them under torch.compile).
The eager implementation runs on torch's current stream, so CUDA-graph capture records the kernels.
"""
from __future__ import annotations

import math
import threading

import torch

from . import _core

LIB_NAME = "mojo"
_lib = None
_registered = {}  # op name -> list of output indices returned (others are out-arguments)
failed = {}  # op name -> why torch.library refused its schema
_lock = threading.Lock()

_ATTR_TYPES = {"int": "int", "float": "float", "bool": "bool", "string": "str", "dtype": "str",
               "int[]": "int[]", "float[]": "float[]"}


def _derivable(op_schema):
    """Output indices whose shape (and dtype) the schema derives from the inputs in every alternative."""
    solver = _core.solver(op_schema["name"])
    in_syms, in_specs = set(), set()
    for _, spec, alts in solver.inputs:
        in_specs.add(spec)
        for p in alts:
            in_syms.update(d.sym for d in p.dims if d.kind == "sym")
    in_syms.update(solver.int_attrs)
    has_ell = any(d.kind == "ellipsis" for _, _, alts in solver.inputs for p in alts for d in p.dims)
    names = {t["name"] for t in op_schema["inputs"]}
    attrs = {a["name"] for a in op_schema["attrs"] if a["kind"] == "dtype"}
    res = []
    for i, (_, spec, alts) in enumerate(solver.outputs):
        ok = spec in in_specs or all(
            (d.kind == "const") or (d.kind == "sym" and d.sym in in_syms) or (d.kind == "ellipsis" and has_ell)
            for p in alts for d in p.dims)
        toks = [t.strip() for t in op_schema["outputs"][i]["dtypes"].split("|")]
        dt_ok = any((t.startswith("=") and t[1:] in names) or (t.startswith("@") and t[1:] in attrs) for t in toks) \
            or (len(toks) == 1 and not toks[0].startswith(("=", "@")) and toks[0] in _core._tensor.DTYPE_CODES)
        if ok and dt_ok and not op_schema["outputs"][i]["optional"]:
            res.append(i)
    return res


def _default_text(kind, value):
    if value is None:
        return "None"
    if kind == "string" or kind == "dtype":
        return '"' + str(value) + '"'
    if kind == "bool":
        return "True" if value else "False"
    if kind in ("int[]", "float[]"):
        return "[" + ", ".join(repr(v) for v in value) + "]"
    return repr(value)


def schema_string(op_schema):
    """The torch.library schema of an op, e.g. "(Tensor x, Tensor weight, float eps=1e-05) -> Tensor"."""
    returned = _derivable(op_schema)
    args, alias = [], iter("abcdefghijklmnopqrstuvwxyz")
    tensors = [(t, t["optional"]) for t in op_schema["inputs"]]
    tensors += [(t, t["optional"]) for i, t in enumerate(op_schema["outputs"]) if i not in returned]
    for k, (t, optional) in enumerate(tensors):
        # torch schemas allow no positional argument without a default after one with a default
        defaulted = optional and all(o for _, o in tensors[k:])
        mutated = t["mutated"] or any(t is o for o in op_schema["outputs"])
        ty = f"Tensor({next(alias)}!)" if mutated else "Tensor"
        args.append(f"{ty}{'?' if optional else ''} {t['name']}" + ("=None" if defaulted else ""))
    attrs = []
    for a in op_schema["attrs"]:
        d = _core.parse_default(a["kind"], a["default"])
        ty = _ATTR_TYPES[a["kind"]]
        if isinstance(d, float) and not math.isfinite(d):
            # torch schemas have no inf/nan literals: None stands for the schema default (the library fills it)
            attrs.append((f"{ty}? {a['name']}=None", True))
        elif d is None and not a.get("required"):
            attrs.append((f"{ty}? {a['name']}=None", True))
        elif d is None:
            attrs.append((f"{ty} {a['name']}", False))
        else:
            attrs.append((f"{ty} {a['name']}={_default_text(a['kind'], d)}", True))
    seen_default = any(a.endswith("=None") for a in args)
    positional = True
    for k, (text, has_default) in enumerate(attrs):
        if not has_default and (seen_default or any(h for _, h in attrs[:k])):
            positional = False
    if not positional:
        args.append("*")
    args.extend(text for text, _ in attrs)
    rets = ["Tensor"] * len(returned)
    ret = "()" if not rets else rets[0] if len(rets) == 1 else "(" + ", ".join(rets) + ")"
    return "(" + ", ".join(args) + ") -> " + ret


def _make_impls(op_schema, returned):
    name = op_schema["name"]
    n_out = len(op_schema["outputs"])
    attr_names = [a["name"] for a in op_schema["attrs"]]
    out_arg_idx = [i for i in range(n_out) if i not in returned]

    in_names = [t["name"] for t in op_schema["inputs"]]
    out_names = [op_schema["outputs"][i]["name"] for i in out_arg_idx]
    order = in_names + out_names + attr_names

    def split(args, kwargs):
        vals = dict(zip(order, args))
        vals.update(kwargs)
        inputs = [vals.get(n) for n in in_names]
        outs = [None] * n_out
        for i, n in zip(out_arg_idx, out_names):
            outs[i] = vals.get(n)
        attrs = {n: vals.get(n) for n in attr_names}
        return inputs, outs, attrs

    def alloc(inputs, outs, attrs):
        full = _core.full_attrs(op_schema, {k: v for k, v in attrs.items() if v is not None})
        descs = [None if x is None else (tuple(x.shape), _core._tensor.CODE_DTYPES[_TORCH_CODES[x.dtype]], None)
                 for x in inputs]
        specs = _core.output_specs(name, descs, full)
        like = next(x for x in inputs if x is not None)
        res = []
        for i in returned:
            shape, dt = specs[i]
            if shape is None or dt is None:
                raise TypeError(f"{name}: cannot derive the shape of output '{op_schema['outputs'][i]['name']}'")
            outs[i] = torch.empty(shape, dtype=getattr(torch, _core._TORCH_DTYPES[dt]), device=like.device)
            res.append(outs[i])
        return res

    def ret(res):
        if not res:
            return None
        return res[0] if len(res) == 1 else tuple(res)

    # Eager path: a function generated for this op's exact torch signature (no *args/dict juggling). Per
    # input signature (shapes, dtypes, strides, device, attrs) it caches the output shapes and a bound Op;
    # a hit allocates the outputs, patches the data pointers into the Op's descriptors and calls mojo_op_run
    # on torch's current raw stream. A miss builds the entry (slow path) and calls again.
    cache = {}

    def build(*args, **kwargs):
        inputs, outs, attrs = split(args, kwargs)
        key = _fast_key(inputs, outs, attrs)
        res = alloc(inputs, outs, attrs)
        given = {k: v for k, v in attrs.items() if v is not None}
        op = _core.Op(name, inputs, outs, given)
        first = next(x for x in inputs if x is not None)
        with _lock:
            cache.setdefault(key, _Entry(op, [(tuple(r.shape), r.dtype) for r in res], first))

    impl = _generate_impl(op_schema, returned, order, in_names, out_names, attr_names, cache, build)

    def fake(*args, **kwargs):
        inputs, outs, attrs = split(args, kwargs)
        return ret(alloc(inputs, outs, attrs))

    return impl, fake


class _Entry:
    """What a cache hit of the generated impl needs, flat: the Op's handle, descriptor arrays and slots."""
    __slots__ = ("op", "handle", "in_addr", "out_addr", "n_in", "n_out", "in_t", "out_t", "shapes", "ws", "lock",
                 "cuda", "device", "device_index")

    def __init__(self, op, shapes, first):
        self.op = op  # keeps the descriptors alive
        self.handle, self.in_addr, self.out_addr = op.handle, op._in_addr, op._out_addr
        self.n_in, self.n_out = op._n_in, op._n_out
        for s in op._in_slots + op._out_slots:
            if s is not None:  # the generated code writes the whole address into data
                s.t.data, s.t.byte_offset = (s.t.data or 0) + s.t.byte_offset, 0
        self.in_t = [None if s is None else s.t for s in op._in_slots]
        self.out_t = [None if s is None else s.t for s in op._out_slots]
        self.shapes = shapes
        self.ws = op._workspace(first)
        self.lock = threading.Lock()
        self.cuda = first.is_cuda
        self.device = first.device
        self.device_index = first.device.index or 0


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


def _fast_key(inputs, outs, attrs):
    """The cache key the generated impl computes inline (keep the two in step)."""
    key = []
    for x in list(inputs) + [o for o in outs if o is not None]:
        key.append(None if x is None else (x.shape, x.dtype, x.stride()))
    first = next(x for x in inputs if x is not None)
    key.append(first.get_device())
    key.extend(_hashable(v) for v in attrs.values())
    return tuple(key)


def _generate_impl(op_schema, returned, order, in_names, out_names, attr_names, cache, build):
    """impl(<the torch schema's arguments, same names>) of one op, compiled with exec. Its own names all start
    with _m_ so no schema name (checked: identifiers, no keywords) can shadow them."""
    optional = {t["name"] for t in op_schema["inputs"] if t["optional"]}
    optional |= {op_schema["outputs"][i]["name"] for i in range(len(op_schema["outputs"])) if i not in returned
                 and op_schema["outputs"][i]["optional"]}
    params = ", ".join(n + "=None" for n in order)
    required = [n for n in in_names if n not in optional]
    first = required[0] if required else in_names[0]
    key_terms = []
    for n in in_names + out_names:
        term = f"({n}.shape, {n}.dtype, {n}.stride())"
        key_terms.append(f"(None if {n} is None else {term})" if n in optional else term)
    key_terms.append(f"{first}.get_device()")  # an int: cheaper than building a torch.device
    list_attrs = {a["name"] for a in op_schema["attrs"] if a["kind"].endswith("[]")}
    key_terms += [f"_m_hashable({n})" if n in list_attrs else n for n in attr_names]
    n_out = len(op_schema["outputs"])
    out_arg = dict(zip([i for i in range(n_out) if i not in returned], out_names))
    lines = [f"def impl({params}):",
             f"    _m_key = ({', '.join(key_terms)},)",
             "    _m_e = _m_cache.get(_m_key)",
             "    if _m_e is None:",
             f"        _m_build({', '.join(order)})",
             "        _m_e = _m_cache[_m_key]"]
    for k in range(len(returned)):
        lines.append(f"    _m_r{k} = _m_empty(_m_e.shapes[{k}][0], dtype=_m_e.shapes[{k}][1], device=_m_e.device)")
    lines.append("    with _m_e.lock:")

    def patch(slot, src, maybe_none):
        if maybe_none:
            lines.append(f"        if {src} is not None:")
            lines.append(f"            {slot}.data = {src}.data_ptr()")
        else:
            lines.append(f"        {slot}.data = {src}.data_ptr()")

    for j, n in enumerate(in_names):
        patch(f"_m_e.in_t[{j}]", n, n in optional)
    for i in range(n_out):
        if i in returned:
            patch(f"_m_e.out_t[{i}]", f"_m_r{returned.index(i)}", False)
        else:
            patch(f"_m_e.out_t[{i}]", out_arg[i], out_arg[i] in optional)
    lines.append("        _m_st = _m_run(_m_e.handle, _m_e.in_addr, _m_e.n_in, _m_e.out_addr, _m_e.n_out, _m_e.ws, "
                 "_m_raw_stream(_m_e.device_index) if _m_e.cuda else None)")
    lines.append("    if _m_st:")
    lines.append("        _m_check(_m_st)")
    rets = [f"_m_r{k}" for k in range(len(returned))]
    lines.append("    return " + ("None" if not rets else rets[0] if len(rets) == 1 else "(" + ", ".join(rets) + ")"))
    env = {"_m_cache": cache, "_m_build": build, "_m_empty": torch.empty, "_m_run": _core.lib.mojo_op_run,
           "_m_check": _core.check, "_m_raw_stream": _raw_stream(), "_m_hashable": _hashable}
    exec("\n".join(lines), env)  # noqa: S102 - source built from the op schema's names only
    return env["impl"]


def _raw_stream():
    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)  # what inductor's generated code calls
    return raw if raw is not None else (lambda idx: torch.cuda.current_stream(idx).cuda_stream)


_TORCH_CODES = {}


def _init_codes():
    for dt_name, tname in _core._TORCH_DTYPES.items():
        if hasattr(torch, tname):
            _TORCH_CODES[getattr(torch, tname)] = _core._tensor.DTYPE_CODES[dt_name]


def register(ops=None):
    """Defines torch.ops.mojo.<op> for every op of the schema (or the given names). Idempotent."""
    global _lib
    with _lock:
        if not _TORCH_CODES:
            _init_codes()
        if _lib is None:
            _lib = torch.library.Library(LIB_NAME, "FRAGMENT")
        for name in ops or _core.op_names():
            if name in _registered:
                continue
            op_schema = _core.OPS[name]
            returned = _derivable(op_schema)
            try:
                _lib.define(name + schema_string(op_schema))
            except Exception as e:  # noqa: BLE001 - one op torch cannot express must not hide the others
                failed[name] = str(e).splitlines()[0]
                continue
            impl, fake = _make_impls(op_schema, returned)
            _lib.impl(name, impl, "CompositeExplicitAutograd")
            _lib._register_fake(name, fake)
            _registered[name] = returned


def _route(name, inputs, attrs, out, backend, stream):
    """mojo.<op>(...) with torch tensors -> torch.ops.mojo.<op> (eager or traced)."""
    if out is not None or backend is not None or stream is not None:
        return NotImplemented
    if not any(isinstance(x, torch.Tensor) for x in inputs):
        return NotImplemented
    returned = _registered.get(name)
    if returned is None or len(returned) != len(_core.OPS[name]["outputs"]):
        return NotImplemented  # ops with out-arguments keep the direct path
    f = getattr(torch.ops.mojo, name)
    return f(*inputs, **{k: v for k, v in attrs.items()})


def enable():
    """Registers every op with torch.library and routes mojo.<op>(torch tensors) through torch.ops.mojo."""
    import mojo
    register()
    mojo._torch_route = _route


def disable():
    import mojo
    mojo._torch_route = None


def enabled():
    import mojo
    return mojo._torch_route is not None
