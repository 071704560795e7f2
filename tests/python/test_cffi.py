"""The public header's declarations load into cffi (ABI mode) and an op runs through them."""
import os

import pytest

cffi = pytest.importorskip("cffi")
np = pytest.importorskip("numpy")
import mojo  # noqa: E402
from conftest import ROOT  # noqa: E402


def cdef_text():
    text = (ROOT / "include/mojo/mojo.h").read_text()
    body = text.split("/* MOJO-CDEF-BEGIN */", 1)[1].split("/* MOJO-CDEF-END */", 1)[0]
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("#"))


def test_header_cdef_and_rms_norm_through_cffi():
    ffi = cffi.FFI()
    ffi.cdef(cdef_text())
    lib = ffi.dlopen(os.environ.get("MOJO_LIBRARY") or mojo.library_path)
    assert ffi.string(lib.mojo_version()).decode() == mojo.version()
    assert lib.MOJO_STATUS_INVALID_ARGUMENT == 1

    ctx = ffi.new("mojo_context **")
    assert lib.mojo_context_create(ffi.NULL, ctx) == ffi.NULL

    rows, d = 3, 16
    x = np.random.default_rng(0).standard_normal((rows, d)).astype(np.float32)
    w = np.linspace(0.5, 1.5, d, dtype=np.float32)
    y = np.zeros_like(x)
    keep = []

    def tensor(a):
        t = ffi.new("mojo_tensor *")
        shape = ffi.new("int64_t[]", list(a.shape))
        keep.append(shape)
        t.data = ffi.cast("void *", a.ctypes.data)
        t.device.device_type = lib.MOJO_DEVICE_CPU
        t.ndim = a.ndim
        t.dtype.code, t.dtype.bits, t.dtype.lanes = lib.MOJO_DTYPE_CODE_FLOAT, 32, 1
        t.shape = shape
        t.strides = ffi.NULL
        keep.append(t)
        return t

    ins = ffi.new("const mojo_tensor *[2]", [tensor(x), tensor(w)])
    outs = ffi.new("const mojo_tensor *[1]", [tensor(y)])
    attr = ffi.new("mojo_attr *")
    name = ffi.new("char[]", b"eps")
    attr.name, attr.type, attr.count, attr.f = name, lib.MOJO_ATTR_FLOAT, 1, 1e-6
    desc = ffi.new("mojo_op_desc *")
    desc.struct_size = ffi.sizeof("mojo_op_desc")
    opname = ffi.new("char[]", b"rms_norm")
    desc.op, desc.attrs, desc.n_attrs = opname, attr, 1
    desc.inputs, desc.n_inputs, desc.outputs, desc.n_outputs = ins, 2, outs, 1
    op = ffi.new("mojo_op **")
    st = lib.mojo_op_create(ctx[0], desc, op)
    assert st == ffi.NULL, ffi.string(lib.mojo_status_message(st))
    st = lib.mojo_op_run(op[0], ins, 2, outs, 1, ffi.NULL, ffi.NULL)
    assert st == ffi.NULL, ffi.string(lib.mojo_status_message(st))
    xd = x.astype(np.float64)
    np.testing.assert_allclose(y, xd / np.sqrt((xd * xd).mean(-1, keepdims=True) + 1e-6) * w, rtol=2e-5, atol=2e-6)

    # an error through cffi: a status with a code and a message
    bad = ffi.new("const mojo_tensor *[2]", [tensor(x), tensor(np.ones(d - 1, np.float32))])
    st = lib.mojo_op_run(op[0], bad, 2, outs, 1, ffi.NULL, ffi.NULL)
    assert lib.mojo_status_code(st) == lib.MOJO_STATUS_INVALID_ARGUMENT
    assert b"weight" in ffi.string(lib.mojo_status_message(st))
    lib.mojo_status_free(st)
    lib.mojo_op_destroy(op[0])
    lib.mojo_context_destroy(ctx[0])
