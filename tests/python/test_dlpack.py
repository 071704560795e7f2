"""The DLPack consumer side: capsule renaming, deleter call, NULL strides, stream handshake."""
import ctypes
import sys

import pytest

np = pytest.importorskip("numpy")
import mojo  # noqa: E402
from mojo import _tensor  # noqa: E402
from mojo._lib import DLManagedTensor  # noqa: E402

_api = ctypes.pythonapi
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_api.PyCapsule_GetName.restype = ctypes.c_char_p
_api.PyCapsule_GetName.argtypes = [ctypes.py_object]


class Producer:
    """A hand-made legacy producer: NULL strides, a counting deleter, records the stream it was given."""

    def __init__(self, arr, device=(1, 0), null_strides=True):
        self.arr = np.ascontiguousarray(arr)
        self.device = device
        self.deleted = 0
        self.streams = []
        self.capsules = []
        self._shape = (ctypes.c_int64 * self.arr.ndim)(*self.arr.shape)
        self._strides = (ctypes.c_int64 * self.arr.ndim)(*[s // self.arr.itemsize for s in self.arr.strides])
        self.null_strides = null_strides

        def deleter(_):
            self.deleted += 1
        self._deleter = DLManagedTensor._fields_[2][1](deleter)

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, stream=None):
        self.streams.append(stream)
        m = DLManagedTensor()
        t = m.dl_tensor
        t.data = self.arr.ctypes.data
        t.device.device_type, t.device.device_id = 1, 0
        t.ndim = self.arr.ndim
        code = {np.dtype(np.float32): (2, 32), np.dtype(np.int64): (0, 64)}[self.arr.dtype]
        t.dtype.code, t.dtype.bits, t.dtype.lanes = code[0], code[1], 1
        t.shape = ctypes.cast(self._shape, ctypes.POINTER(ctypes.c_int64))
        t.strides = None if self.null_strides else ctypes.cast(self._strides, ctypes.POINTER(ctypes.c_int64))
        m.deleter = self._deleter
        self.capsules.append(m)  # keep the struct alive
        return _api.PyCapsule_New(ctypes.addressof(m), b"dltensor", None)


def test_null_strides_are_normalised_and_deleter_called():
    x = np.linspace(-3, 3, 24, dtype=np.float32).reshape(2, 3, 4)
    p = Producer(x)
    s = _tensor.Slot()
    s.fill(p)
    assert s.dims == (2, 3, 4)
    assert [s.strides[i] for i in range(3)] == [12, 4, 1]
    assert p.deleted == 1
    y = mojo.silu(p, out=np.empty_like(x))
    np.testing.assert_allclose(y, x / (1 + np.exp(-x.astype(np.float64))), rtol=1e-5, atol=1e-6)
    assert p.deleted == p.streams.__len__()  # every capsule consumed was released


def test_capsule_is_renamed_used_dltensor():
    x = np.ones((3, 4), np.float32)
    cap = x.__dlpack__()
    b = _tensor.Borrowed(cap)
    assert _api.PyCapsule_GetName(cap) == b"used_dltensor"
    with pytest.raises(ValueError):  # a used capsule cannot be consumed twice
        _tensor.Borrowed(cap)
    b.release()


def test_numpy_deleter_releases_the_array_reference():
    x = np.ones((5, 6), np.float32)
    before = sys.getrefcount(x)
    s = _tensor.Slot()
    s.fill(x)
    assert sys.getrefcount(x) == before  # the DLManagedTensor's reference was dropped by its deleter
    assert s.dtype_name == "fp32" and s.dims == (5, 6)


def test_cpu_producer_gets_no_stream():
    p = Producer(np.ones(4, np.float32))
    _tensor.Slot().fill(p)
    assert p.streams == [None]


def test_cuda_producer_gets_the_consumer_stream():
    # the producer claims CUDA so the handshake is exercised; its data stays host memory and is never run
    p = Producer(np.ones(4, np.float32), device=(2, 0))
    _tensor.Slot().fill(p, stream=None)
    _tensor.Slot().fill(p, stream=0x1234)
    assert p.streams == [1, 0x1234]  # None -> CUDA legacy default stream (1), else the caller's stream
    assert _tensor.consumer_stream(1, 0x1234) is None


def test_non_dlpack_object_is_a_type_error():
    with pytest.raises(TypeError, match="__dlpack__"):
        mojo.silu([1.0, 2.0])


def test_dtype_and_shape_changes_take_the_protocol_path():
    w = np.ones(16, np.float32)
    x = np.ones((2, 16), np.float32)
    op = mojo.Op("rms_norm", [x, w], [np.empty_like(x)])
    x2 = np.full((2, 16), 3.0, np.float32).T.copy().T  # same dims, column-major: strides differ
    y = np.zeros((2, 16), np.float32)
    with pytest.raises(mojo.InvalidArgument):  # last dim not unit-stride is rejected by the core
        op.run([x2, w], [y])
    x3 = np.full((5, 16), 3.0, np.float32)
    y3 = np.zeros((5, 16), np.float32)
    op.run([x3, w], [y3])
    np.testing.assert_allclose(y3, 1.0, rtol=1e-5)


def test_read_only_input_through_versioned_dlpack_and_read_only_output_refused():
    x = np.linspace(-2, 2, 16, dtype=np.float32).reshape(2, 8)
    x.flags.writeable = False  # numpy exports it only as a DLPack 1.x capsule flagged read-only
    y = mojo.silu(x)
    np.testing.assert_allclose(y, x / (1 + np.exp(-x.astype(np.float64))), rtol=1e-5, atol=1e-6)
    out = np.empty_like(x)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        mojo.silu(np.ones((2, 8), np.float32), out=out)
