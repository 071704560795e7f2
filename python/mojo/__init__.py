"""libmojo from Python: ctypes over the C API (no compiled extension), DLPack tensors, schema-generated ops.

    import numpy as np, mojo
    x = np.random.rand(4, 64).astype(np.float32); w = np.ones(64, np.float32)
    y = mojo.rms_norm(x, w, eps=1e-6)            # numpy in, numpy out
    op = mojo.Op("rms_norm", [x, w], [y], eps=1e-6)
    op.run([x, w], [y])                          # create once, run many

Every op of the library's schema is a function here (and in mojo.ops); `mojo.torch.enable()` registers them
with torch.library (torch.ops.mojo.*) and routes torch tensors through those registrations.
"""
from __future__ import annotations

import types as _types

from ._lib import InvalidArgument, MojoError, NotFound, Unsupported, library_path
from ._core import (Context, Op, api_version, backends, default_context, devices, explain, load_records,
                    op_names, report, schema, support_matrix, version)
from . import _core

__version__ = _core.version()

_torch_route = None  # set by mojo.torch.enable(): callable(name, inputs, attrs, out, backend, stream) or None


def _dispatch(name, inputs, attrs, out, backend, stream):
    if _torch_route is not None:
        r = _torch_route(name, inputs, attrs, out, backend, stream)
        if r is not NotImplemented:
            return r
    return _core.call(name, inputs, attrs, out, backend, None, stream)


ops = _types.ModuleType("mojo.ops", "Every op of the library's schema, generated at import.")
for _n in _core.op_names():
    _f = _core.make_function(_n, _dispatch)
    setattr(ops, _n, _f)
    if _n not in globals():
        globals()[_n] = _f
del _n, _f

import sys as _sys  # noqa: E402
_sys.modules["mojo.ops"] = ops


def __getattr__(name):
    if name == "torch":
        import importlib
        return importlib.import_module("mojo.torch")
    raise AttributeError(f"module 'mojo' has no attribute '{name}'")


__all__ = ["MojoError", "InvalidArgument", "Unsupported", "NotFound", "library_path", "Context", "Op",
           "version", "api_version", "backends", "devices", "load_records", "report", "schema", "op_names",
           "support_matrix", "explain", "default_context", "ops"] + _core.op_names()
