"""Contexts, introspection, the Op object (create once, run many) and the schema-generated op functions."""
from __future__ import annotations

import ctypes
import json
import sys
import threading

from . import _tensor
from ._lib import (MojoAttr, MojoBackendInfo, MojoContextOptions, MojoDeviceInfo, MojoOpDesc, MojoPluginRecord,
                   MojoTensorP, check, lib)
from ._shapes import ShapeSolver
from ._tensor import DEVICE_NAMES, Slot

# ---- schema ---------------------------------------------------------------------------------------------

SCHEMA = json.loads(lib.mojo_schema_json().decode("utf-8"))
OPS = {o["name"]: o for o in SCHEMA["ops"]}


def _s(b):
    return b.decode("utf-8", "replace") if b else ""


def version():
    return _s(lib.mojo_version())


def api_version():
    return int(lib.mojo_api_version())


def op_names():
    return [o["name"] for o in SCHEMA["ops"]]


def schema(op=None):
    """The parsed op schema (every op), or one op's entry."""
    return SCHEMA if op is None else OPS[op]


# ---- context --------------------------------------------------------------------------------------------

class Context:
    """A libmojo context (backend order, plugin search path). `Context()` reads MOJO_BACKEND and friends."""

    def __init__(self, backend=None, op_backend=None, plugin_path=None, log_level=None, ignore_env=False):
        self.handle = None
        opts = MojoContextOptions()
        lib.mojo_context_options_init(ctypes.byref(opts))
        self._keep = [x.encode() if x is not None else None for x in (backend, op_backend, plugin_path, log_level)]
        opts.backend_spec, opts.op_backend_spec, opts.plugin_path, opts.log_level = self._keep
        opts.flags = 1 if ignore_env else 0
        h = ctypes.c_void_p()
        check(lib.mojo_context_create(ctypes.byref(opts), ctypes.byref(h)))
        self.handle = h.value
        self._destroy = lib.mojo_context_destroy

    def close(self):
        h, self.handle = self.handle, None
        if h:
            self._destroy(h)

    def __del__(self):
        # Ops hold a reference to their context, so this only runs once every op of it is gone.
        self.close()

    def report(self):
        """Everything mojo-info shows, as a dict (version, load records, backends, order, support matrix)."""
        out = ctypes.c_void_p()
        check(lib.mojo_context_report_json(self.handle, ctypes.byref(out)))
        try:
            return json.loads(ctypes.string_at(out.value).decode("utf-8"))
        finally:
            lib.mojo_string_free(out)

    def backends(self):
        res = []
        for i in range(lib.mojo_backend_count(self.handle)):
            bi = MojoBackendInfo()
            bi.struct_size = ctypes.sizeof(bi)
            check(lib.mojo_backend_get(self.handle, i, ctypes.byref(bi)))
            devs = []
            for d in range(bi.n_devices):
                di = MojoDeviceInfo()
                di.struct_size = ctypes.sizeof(di)
                check(lib.mojo_device_get(self.handle, i, d, ctypes.byref(di)))
                devs.append({"device": f"{DEVICE_NAMES.get(di.device.device_type, di.device.device_type)}:"
                                       f"{di.device.device_id}",
                             "name": _s(di.name), "arch": _s(di.arch), "memory_bytes": int(di.memory_bytes)})
            res.append({"name": _s(bi.name), "version": _s(bi.version), "path": _s(bi.path),
                        "default_priority": bi.default_priority, "probe_score": bi.probe_score,
                        "probe_reason": _s(bi.probe_reason), "rank": bi.rank, "devices": devs,
                        "abi": f"{bi.abi_major}.{bi.abi_minor}"})
        return res

    def devices(self):
        return [dict(d, backend=b["name"]) for b in self.backends() for d in b["devices"]]

    def support_matrix(self):
        """{op: {backend: [dtypes]}} for the backends of this context."""
        return {o["op"]: o["backends"] for o in self.report()["ops"]}


_default = None
_default_lock = threading.Lock()


def default_context():
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Context()
    return _default


def backends():
    return default_context().backends()


def devices():
    return default_context().devices()


def support_matrix():
    return default_context().support_matrix()


def report():
    return default_context().report()


def load_records():
    """Every plugin load attempt of this process: path, stage, outcome, reason."""
    default_context()  # discovery happens at the first context
    res = []
    for i in range(lib.mojo_plugin_record_count()):
        r = MojoPluginRecord()
        r.struct_size = ctypes.sizeof(r)
        check(lib.mojo_plugin_record_get(i, ctypes.byref(r)))
        res.append({"path": _s(r.path), "stage": _s(r.stage), "outcome": _s(r.outcome), "reason": _s(r.reason)})
    return res


# ---- attributes -----------------------------------------------------------------------------------------

_ATTR_TYPES = {"int": 1, "float": 2, "bool": 3, "string": 4, "dtype": 5, "int[]": 6, "float[]": 7}


def parse_default(kind, text):
    """A schema default string as a Python value (None for 'no value')."""
    if text is None or text == "null":
        return None
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        return text in ("true", "1")
    if kind in ("int[]", "float[]"):
        body = text.strip().strip("[]").strip()
        conv = int if kind == "int[]" else float
        return tuple(conv(v) for v in body.split(",")) if body else ()
    return text


def _dtype_attr_name(v):
    """Accepts 'int8', a numpy/torch dtype, ... for DType attributes."""
    if isinstance(v, str):
        return v
    name = str(v).replace("torch.", "")
    return _FRAMEWORK_DTYPE_NAMES.get(name, name)


_FRAMEWORK_DTYPE_NAMES = {"float16": "fp16", "float32": "fp32", "bfloat16": "bf16", "float8_e4m3fn": "fp8_e4m3fn",
                          "float8_e5m2": "fp8_e5m2", "half": "fp16", "float": "fp32"}


def build_attrs(op_schema, values):
    """ctypes array of mojo_attr for the given {name: value} (None values are left out: 'no value').
    Returns (array, keep-alive list)."""
    specs = {a["name"]: a for a in op_schema["attrs"]}
    items, keep = [], []
    for name, v in values.items():
        if v is None:
            continue
        spec = specs.get(name)
        if spec is None:
            raise TypeError(f"{op_schema['name']}: unknown attribute '{name}' (expected one of: "
                            f"{', '.join(specs) or 'none'})")
        a = MojoAttr()
        nb = name.encode()
        keep.append(nb)
        a.name = nb
        kind = spec["kind"]
        a.type = _ATTR_TYPES[kind]
        a.count = 1
        if kind in ("int", "bool"):
            a.i = int(v)
        elif kind == "float":
            a.f = float(v)
        elif kind in ("string", "dtype"):
            sb = (_dtype_attr_name(v) if kind == "dtype" else str(v)).encode()
            keep.append(sb)
            a.s = sb
        else:
            vals = list(v)
            arr = (ctypes.c_int64 * max(1, len(vals)))(*[int(x) for x in vals]) if kind == "int[]" else \
                (ctypes.c_double * max(1, len(vals)))(*[float(x) for x in vals])
            keep.append(arr)
            a.count = len(vals)
            if kind == "int[]":
                a.ints = ctypes.cast(arr, ctypes.POINTER(ctypes.c_int64))
            else:
                a.floats = ctypes.cast(arr, ctypes.POINTER(ctypes.c_double))
        items.append(a)
    arr = (MojoAttr * max(1, len(items)))(*items)
    return arr, len(items), keep


def full_attrs(op_schema, given):
    """given + schema defaults, keyed by name (None = no value)."""
    out = {}
    for a in op_schema["attrs"]:
        out[a["name"]] = given[a["name"]] if a["name"] in given else parse_default(a["kind"], a["default"])
    return out


# ---- frameworks: pointer fast paths and allocation ------------------------------------------------------

def _framework(obj):
    mod = type(obj).__module__.partition(".")[0]
    return mod


def _numpy_data_reader():
    """Reads an ndarray's data pointer straight from the PyArrayObject (offset 16 after PyObject_HEAD on 64-bit
    CPython: 10x cheaper than __array_interface__). Verified once here; None (no fast path) if it disagrees."""
    try:
        import numpy
    except ImportError:
        return None
    reader = ctypes.c_void_p.from_address
    probe = numpy.arange(3, dtype=numpy.float32)[1:]
    try:
        ok = reader(id(probe) + 16).value == probe.__array_interface__["data"][0]
    except Exception:  # noqa: BLE001 - any surprise means: use the protocol path
        ok = False
    return reader if ok else None


_np_reader = None
_nd_class = None  # numpy.ndarray once numpy has been seen
_FAST = {}  # exact class -> fn(obj) -> (key, data address); key equal => same dtype/shape/strides/device


def _fast_numpy(a):
    return (a.dtype, a.shape, a.strides), _np_reader(id(a) + 16).value  # read-only arrays never get a key


def _fast_torch(t):
    return (t.dtype, t.shape, t.stride(), t.device), t.data_ptr()


def _fast_for(cls):
    """Registers the pointer fast path of cls (numpy.ndarray, torch.Tensor and subclasses) on first sight."""
    global _np_reader, _nd_class
    fn = None
    mod = cls.__module__.partition(".")[0]
    if mod == "numpy":
        import numpy
        if issubclass(cls, numpy.ndarray):
            if _np_reader is None:
                _np_reader = _numpy_data_reader()
            fn = _fast_numpy if _np_reader is not None else None
            _nd_class = numpy.ndarray
    elif mod == "torch":
        import torch
        if issubclass(cls, torch.Tensor):
            fn = _fast_torch
    _FAST[cls] = fn
    return fn


def fill_slot(slot, x, stream):
    """Describes x in slot: the fast path patches the data pointer when dtype/shape/strides/device are the
    ones the slot already holds; otherwise the DLPack protocol path re-reads everything."""
    cls = x.__class__
    fast = _FAST[cls] if cls in _FAST else _fast_for(cls)
    if fast is not None:
        key, ptr = fast(x)
        if key == slot.key:
            slot.t.data = ptr
            return
    slot.fill(x, stream)
    if slot.read_only:
        return  # no fast path: every run goes through DLPack, which reports read-only again
    if fast is not None and (slot.t.data or 0) + slot.t.byte_offset == ptr:
        slot.t.data, slot.t.byte_offset, slot.key = ptr, 0, key


_NUMPY_DTYPES = {"fp16": "float16", "fp32": "float32", "int8": "int8", "uint8": "uint8", "int32": "int32",
                 "int64": "int64", "bool": "bool"}
_TORCH_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32", "int8": "int8", "uint8": "uint8",
                 "int32": "int32", "int64": "int64", "bool": "bool", "fp8_e4m3fn": "float8_e4m3fn",
                 "fp8_e5m2": "float8_e5m2"}


def allocate(like, shape, dtype_name):
    """An empty tensor of like's framework and device."""
    fw = _framework(like)
    if fw == "torch":
        import torch
        return torch.empty(shape, dtype=getattr(torch, _TORCH_DTYPES[dtype_name]), device=like.device)
    if fw == "numpy":
        import numpy
        if dtype_name not in _NUMPY_DTYPES:
            raise TypeError(f"mojo: numpy has no {dtype_name} dtype; pass out= (e.g. a torch tensor)")
        return numpy.empty(shape, dtype=_NUMPY_DTYPES[dtype_name])
    mod = sys.modules.get(fw)
    if mod is not None and hasattr(mod, "empty") and dtype_name in _NUMPY_DTYPES:  # cupy and alike
        return mod.empty(shape, dtype=_NUMPY_DTYPES[dtype_name])
    raise TypeError(f"mojo: cannot allocate a {fw} output; pass out=")


_torch_raw_stream = None


def current_stream(obj, device_type):
    """The framework's current stream for a stream-device tensor (torch / cupy), else None."""
    if device_type not in (2, 10, 13):
        return None
    fw = _framework(obj)
    if fw == "torch":
        global _torch_raw_stream
        if _torch_raw_stream is None:
            import torch
            raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)  # what inductor's generated code calls
            _torch_raw_stream = raw if raw is not None else \
                (lambda idx: torch.cuda.current_stream(idx).cuda_stream)
        return _torch_raw_stream(obj.device.index or 0)
    if fw == "cupy":
        import cupy
        return cupy.cuda.get_current_stream().ptr
    return None


# ---- Op -------------------------------------------------------------------------------------------------

class Op:
    """A bound kernel: created once from example tensors (or descriptors), run many times.

        op = mojo.Op("rms_norm", [x, w], [out], eps=1e-6)
        op.run([x, w], [out])

    Tensors are anything with __dlpack__; None is an absent optional tensor. run() reuses the descriptor
    arrays built at create time and only patches data pointers when a tensor's dtype/shape/strides are
    unchanged (sizes may differ between runs: they are re-read then)."""

    def __init__(self, name, inputs, outputs, attrs=None, *, backend=None, context=None, **kw):
        if name not in OPS:
            from ._lib import NotFound
            raise NotFound(3, f"unknown op '{name}' (mojo.op_names() lists the ops of this library)")
        self.schema = OPS[name]
        self.name = name
        attrs = dict(attrs or {}, **kw)
        self.attrs = attrs
        self.context = context or default_context()
        n_in, n_out = len(self.schema["inputs"]), len(self.schema["outputs"])
        inputs = list(inputs) + [None] * (n_in - len(inputs))
        outputs = list(outputs) + [None] * (n_out - len(outputs))
        if len(inputs) != n_in or len(outputs) != n_out:
            raise TypeError(f"{name}: expected {n_in} inputs and {n_out} outputs")
        self._in_slots = [None if x is None else Slot() for x in inputs]
        self._out_slots = [None if x is None else Slot() for x in outputs]
        self._in_arr = (ctypes.c_void_p * max(1, n_in))()
        self._out_arr = (ctypes.c_void_p * max(1, n_out))()
        self._in_addr = ctypes.addressof(self._in_arr)
        self._out_addr = ctypes.addressof(self._out_arr)
        self._n_in, self._n_out = n_in, n_out
        for i, (x, s) in enumerate(zip(inputs, self._in_slots)):
            if s is not None:
                self._fill(s, x, None)
                self._in_arr[i] = s.ptr
        for i, (x, s) in enumerate(zip(outputs, self._out_slots)):
            if s is not None:
                self._fill(s, x, None)
                if s.read_only:
                    raise ValueError(f"{name}: output '{self.schema['outputs'][i]['name']}' is read-only")
                self._out_arr[i] = s.ptr
        attr_arr, n_attrs, keep = build_attrs(self.schema, attrs)
        desc = MojoOpDesc()
        desc.struct_size = ctypes.sizeof(desc)
        self._name_b = name.encode()
        desc.op = self._name_b
        desc.attrs = attr_arr
        desc.n_attrs = n_attrs
        desc.inputs = ctypes.cast(self._in_arr, ctypes.POINTER(MojoTensorP))
        desc.n_inputs = n_in
        desc.outputs = ctypes.cast(self._out_arr, ctypes.POINTER(MojoTensorP))
        desc.n_outputs = n_out
        self._backend_b = backend.encode() if backend else None
        desc.backend_spec = self._backend_b
        self._desc, self._keep = desc, (attr_arr, keep)
        h = ctypes.c_void_p()
        check(lib.mojo_op_create(self.context.handle, ctypes.byref(desc), ctypes.byref(h)))
        self.handle = h.value
        self.backend = _s(lib.mojo_op_backend(self.handle))
        ws = ctypes.c_size_t()
        check(lib.mojo_op_workspace_size(self.handle, ctypes.byref(ws)))
        self.workspace_size = ws.value
        self._run = lib.mojo_op_run
        first = next((sl for sl in self._in_slots + self._out_slots if sl is not None), None)
        self._device_type = first.device[0] if first is not None else 1
        self._stream_device = self._device_type in (2, 10, 13)
        self._destroy = lib.mojo_op_destroy
        self._ws = None
        self._ws_slot = None

    _fill = staticmethod(fill_slot)

    def _workspace(self, like):
        if self.workspace_size == 0:
            return None
        if self._ws is None or _framework(self._ws) != _framework(like):
            self._ws = allocate(like, (self.workspace_size + 256,), "uint8")
            self._ws_slot = Slot()
            self._ws_slot.fill(self._ws)
            # 256-byte alignment, as the C API asks
            mis = (-(self._ws_slot.t.data + self._ws_slot.t.byte_offset)) % 256
            self._ws_slot.t.byte_offset += mis
            self._ws_slot.shape[0] = self.workspace_size
        return self._ws_slot.ptr

    def run(self, inputs, outputs=(), stream=None, workspace=None):
        """Runs on tensors matching the create-time signature (schema order, None = absent optional).
        stream: native stream handle (int) or None (then the framework's current stream for CUDA tensors).
        workspace: a workspace tensor or None (then the op keeps one of its own)."""
        if len(inputs) != self._n_in or len(outputs) != self._n_out:
            self._check_counts(inputs, outputs)
        if stream is None and self._stream_device:  # before filling: DLPack hands this stream to producers
            stream = current_stream(self._first_input(inputs), self._device_type)
        fill = fill_slot
        nd, rd = _nd_class, _np_reader
        for s, x in zip(self._in_slots, inputs):
            if x.__class__ is nd and rd is not None:  # inlined numpy fast path (see fill_slot)
                if s is not None and (x.dtype, x.shape, x.strides) == s.key:
                    s.t.data = rd(id(x) + 16).value
                    continue
            if s is None or x is None:
                if s is not x:
                    self._presence_error("input", s, x)
                continue
            fill(s, x, stream)
        for s, x in zip(self._out_slots, outputs):
            if x.__class__ is nd and rd is not None:
                if not x.flags.writeable:
                    raise ValueError(f"{self.name}: an output is read-only")
                if s is not None and (x.dtype, x.shape, x.strides) == s.key:
                    s.t.data = rd(id(x) + 16).value
                    continue
            if s is None or x is None:
                if s is not x:
                    self._presence_error("output", s, x)
                continue
            fill(s, x, stream)
            if s.read_only:
                raise ValueError(f"{self.name}: an output is read-only")
        ws = None
        if workspace is not None:
            wslot = Slot()
            wslot.fill(workspace)
            ws, self._ws_keep = wslot.ptr, wslot
        elif self.workspace_size:
            ws = self._workspace(self._first_input(inputs))
        st = self._run(self.handle, self._in_addr, self._n_in, self._out_addr, self._n_out, ws, stream)
        if st:
            check(st)

    def _check_counts(self, inputs, outputs):
        # Trailing absent optionals may be left out.
        if (len(inputs) > self._n_in or len(outputs) > self._n_out or
                any(s is not None for s in self._in_slots[len(inputs):]) or
                any(s is not None for s in self._out_slots[len(outputs):])):
            raise TypeError(f"{self.name}: expected {self._n_in} inputs and {self._n_out} outputs "
                            f"(got {len(inputs)} and {len(outputs)})")

    def _presence_error(self, what, slot, x):
        raise TypeError(f"{self.name}: an {what} is {'given' if x is not None else 'absent'} but was "
                        f"{'absent' if slot is None else 'given'} when the op was created")

    @staticmethod
    def _first_input(inputs):
        return next((x for x in inputs if x is not None), None)

    def plan(self, inputs, stream=None):
        """The host-side scheduling step (paged attention); a no-op for ops without one."""
        for i, x in enumerate(inputs):
            if x is not None:
                self._fill(self._in_slots[i], x, stream)
        first = next((x for x in inputs if x is not None), None)
        ws = self._workspace(first) if self.workspace_size else None
        check(lib.mojo_op_plan(self.handle, self._in_addr, self._n_in, ws, stream))

    def check(self, stream=None):
        """Raises the deferred error of earlier runs (bad device-resident metadata such as block ids, found
        by a device backend's kernels, which then wrote nothing); waits for `stream`. cpu checks eagerly."""
        check(lib.mojo_op_check(self.handle, stream))

    def close(self):
        h, self.handle = self.handle, None
        if h:
            self._destroy(h)

    def __del__(self):
        if getattr(self, "handle", None):
            self.close()

    def __repr__(self):
        return f"<mojo.Op {self.name} on {self.backend}>"


def explain(name, inputs, outputs, attrs=None, *, backend=None, context=None):
    """Each backend's verdict for a signature (what mojo-info --explain prints), as a dict."""
    op_schema = OPS[name]
    ctx = context or default_context()
    slots_in = [None if x is None else Slot() for x in inputs]
    slots_out = [None if x is None else Slot() for x in outputs]
    for x, s in zip(list(inputs) + list(outputs), slots_in + slots_out):
        if s is not None:
            s.fill(x)
    ia = (ctypes.c_void_p * max(1, len(slots_in)))(*[s.ptr if s else None for s in slots_in])
    oa = (ctypes.c_void_p * max(1, len(slots_out)))(*[s.ptr if s else None for s in slots_out])
    attr_arr, n_attrs, keep = build_attrs(op_schema, dict(attrs or {}))
    desc = MojoOpDesc(ctypes.sizeof(MojoOpDesc), name.encode(), attr_arr, n_attrs,
                      ctypes.cast(ia, ctypes.POINTER(MojoTensorP)), len(slots_in),
                      ctypes.cast(oa, ctypes.POINTER(MojoTensorP)), len(slots_out),
                      backend.encode() if backend else None)
    out = ctypes.c_void_p()
    check(lib.mojo_op_explain_json(ctx.handle, ctypes.byref(desc), ctypes.byref(out)))
    try:
        return json.loads(ctypes.string_at(out.value).decode("utf-8"))
    finally:
        lib.mojo_string_free(out)


# ---- the functional path --------------------------------------------------------------------------------

_solvers = {}
_op_cache = {}
_op_cache_lock = threading.Lock()


def solver(name):
    s = _solvers.get(name)
    if s is None:
        s = _solvers[name] = ShapeSolver(OPS[name])
    return s


def output_dtype(op_schema, index, in_dtypes, attrs):
    """dtype name of output `index` from its dtype expression, or None when it cannot be told."""
    expr = op_schema["outputs"][index]["dtypes"]
    names = [t["name"] for t in op_schema["inputs"]]
    concrete = []
    for tok in expr.split("|"):
        tok = tok.strip()
        if tok.startswith("="):
            src = tok[1:]
            if src in names and in_dtypes[names.index(src)] is not None:
                return in_dtypes[names.index(src)]
        elif tok.startswith("@"):
            v = attrs.get(tok[1:])
            if v is not None:
                return _dtype_attr_name(v)
        else:
            concrete.append(tok)
    if len(concrete) == 1 and concrete[0] in _tensor.DTYPE_CODES:
        return concrete[0]
    return None


_spec_memo = {}


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


def output_specs(name, in_descs, attrs):
    """[(shape, dtype)] of each output (None entries where the schema cannot tell); memoised per signature."""
    try:
        key = (name, tuple(None if d is None else (tuple(d[0]), d[1]) for d in in_descs),
               tuple((k, _hashable(v)) for k, v in attrs.items()))
        hit = _spec_memo.get(key)
    except TypeError:  # unhashable attribute value (symbolic sizes under tracing): no memo
        key, hit = None, None
    if hit is not None:
        return hit
    res = _output_specs(name, in_descs, attrs)
    if key is not None:
        if len(_spec_memo) > 4096:
            _spec_memo.clear()
        _spec_memo[key] = res
    return res


def _output_specs(name, in_descs, attrs):
    op_schema = OPS[name]
    shapes = solver(name).solve([d[0] if d else None for d in in_descs], attrs)
    dtypes = [d[1] if d else None for d in in_descs]
    return [(shapes[i], output_dtype(op_schema, i, dtypes, attrs)) for i in range(len(shapes))]


_DESC_DTYPES = {}  # framework dtype object -> mojo dtype name


def _init_desc_dtypes(x):
    mod = type(x).__module__.partition(".")[0]
    table = _NUMPY_DTYPES if mod == "numpy" else _TORCH_DTYPES if mod == "torch" else {}
    lib_mod = sys.modules.get(mod)
    for mname, fname in table.items():
        dt = getattr(lib_mod, fname, None)
        if dt is not None:
            _DESC_DTYPES[dt if mod == "torch" else lib_mod.dtype(dt)] = mname


_TORCH_DEVICE_TYPES = {"cpu": 1, "cuda": 2}


def describe(x):
    """(dims, dtype name, (device_type, id)) of a tensor: from the framework's attributes for numpy and torch
    (cheap), from its DLPack export otherwise."""
    cls = x.__class__
    mod = cls.__module__.partition(".")[0]
    if mod in ("numpy", "torch"):
        dt = _DESC_DTYPES.get(x.dtype)
        if dt is None:
            _init_desc_dtypes(x)
            dt = _DESC_DTYPES.get(x.dtype)
        if dt is not None:
            if mod == "numpy":
                return tuple(x.shape), dt, (1, 0)
            dev = x.device
            dtype = _TORCH_DEVICE_TYPES.get(dev.type)
            if dtype is not None and not (dtype == 2 and getattr(__import__("torch").version, "hip", None)):
                return tuple(x.shape), dt, (dtype, dev.index or 0)
    return _tensor.describe(x)


def call(name, inputs, attrs, out=None, backend=None, context=None, stream=None):
    """What every generated op function does: allocate missing outputs, find/create the Op, run."""
    op_schema = OPS[name]
    ctx = context or default_context()
    outs_schema = op_schema["outputs"]
    if out is not None and not isinstance(out, (tuple, list)):
        out = (out,)
    descs = []
    like = None
    for x in inputs:
        if x is None:
            descs.append(None)
            continue
        descs.append(describe(x))
        if like is None:
            like = x
    full = full_attrs(op_schema, attrs)
    outputs = list(out) if out is not None else [None] * len(outs_schema)
    if len(outputs) != len(outs_schema):
        raise TypeError(f"{name}: out= needs {len(outs_schema)} tensors ({', '.join(o['name'] for o in outs_schema)})")
    if any(o is None for o in outputs):
        specs = output_specs(name, descs, full)
        for i, o in enumerate(outputs):
            if o is None and not outs_schema[i]["optional"]:
                shape, dt = specs[i]
                if shape is None or dt is None:
                    raise TypeError(f"{name}: the shape/dtype of output '{outs_schema[i]['name']}' cannot be derived "
                                    f"from the inputs ({outs_schema[i]['shape']}); pass out=")
                outputs[i] = allocate(like, shape, dt)
    given = {k: v for k, v in attrs.items() if v is not None}
    key = (name, backend, id(ctx), tuple(None if d is None else (d[1], len(d[0]), d[2]) for d in descs),
           tuple(o is None for o in outputs), tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                                           for k, v in given.items())))
    op = _op_cache.get(key)
    if op is None:
        op = Op(name, inputs, outputs, given, backend=backend, context=ctx)
        with _op_cache_lock:
            _op_cache[key] = op
    with op_lock(op):
        op.run(inputs, outputs, stream=stream)
    res = [o for o in outputs]
    if not res:
        return None
    return res[0] if len(res) == 1 else tuple(res)


_locks = {}


def op_lock(op):
    """Cached ops keep per-call descriptor state: one run at a time per cached op."""
    lk = _locks.get(id(op))
    if lk is None:
        lk = _locks.setdefault(id(op), threading.Lock())
    return lk


# ---- generation -----------------------------------------------------------------------------------------

def _py_name(n):
    import keyword
    return n + "_" if keyword.iskeyword(n) else n


def make_function(name, dispatch):
    """Generates `def name(<inputs>, *, <attrs>, out=None, backend=None, stream=None)` from the schema."""
    op_schema = OPS[name]
    params, in_names, ns = [], [], {"_dispatch": dispatch, "_name": name}
    for t in op_schema["inputs"]:
        pn = _py_name(t["name"])
        in_names.append(pn)
        params.append(f"{pn}=None" if t["optional"] else pn)
    # required inputs may follow optional ones in schema order: keep them positional with a None default
    seen_opt = False
    for i, t in enumerate(op_schema["inputs"]):
        if t["optional"]:
            seen_opt = True
        elif seen_opt:
            params[i] = f"{in_names[i]}=None"
    kw, attr_pairs = [], []
    for j, a in enumerate(op_schema["attrs"]):
        pn = _py_name(a["name"])
        default = parse_default(a["kind"], a["default"])
        if a.get("required") and default is None:
            kw.append(pn)
        else:
            ns[f"_d{j}"] = default
            kw.append(f"{pn}=_d{j}")
        attr_pairs.append(f"{a['name']!r}: {pn}")
    required_after_opt = [in_names[i] for i, t in enumerate(op_schema["inputs"])
                          if not t["optional"] and any(u["optional"] for u in op_schema["inputs"][:i])]
    checks = "".join(f"    if {n} is None: raise TypeError({name!r} + ': input {n} is required')\n"
                     for n in required_after_opt)
    sig = ", ".join(params + ["*"] + kw + ["out=None", "backend=None", "stream=None"])
    src = (f"def {name}({sig}):\n{checks}"
           f"    return _dispatch(_name, ({', '.join(in_names)}{',' if len(in_names) == 1 else ''}), "
           f"{{{', '.join(attr_pairs)}}}, out, backend, stream)\n")
    exec(compile(src, f"<mojo op {name}>", "exec"), ns)
    fn = ns[name]
    fn.__doc__ = docstring(op_schema)
    fn.__module__ = "mojo.ops"
    return fn


def docstring(o):
    lines = [o["doc"], ""]
    lines.append("Inputs (tensors with __dlpack__, schema order):")
    for t in o["inputs"]:
        flags = ", ".join(f for f, on in (("optional", t["optional"]), ("mutated in place", t["mutated"])) if on)
        lines.append(f"    {t['name']}: {t['dtypes']} {t['shape']}{' (' + flags + ')' if flags else ''}"
                     f"{' - ' + t['doc'] if t['doc'] else ''}")
    if o["attrs"]:
        lines.append("Attributes (keyword):")
        for a in o["attrs"]:
            d = "required" if a.get("required") and a["default"] is None else f"default {a['default']}"
            ch = f", one of {a['choices']}" if a["choices"] else ""
            lines.append(f"    {a['name']}: {a['kind']} ({d}{ch}){' - ' + a['doc'] if a['doc'] else ''}")
    lines.append("Outputs (allocated with the first input's framework unless out= is given):")
    for t in o["outputs"]:
        lines.append(f"    {t['name']}: {t['dtypes']} {t['shape']}{' - ' + t['doc'] if t['doc'] else ''}")
    lines.append("Keywords: out= (tensor or tuple, schema order), backend= (per-op backend spec), "
                 "stream= (native stream handle)")
    return "\n".join(lines)
