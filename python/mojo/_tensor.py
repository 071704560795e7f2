"""DLPack consumption (the Python protocol) into mojo_tensor descriptors, without copying data.

Protocol followed (https://dmlc.github.io/dlpack/latest/python_spec.html):
  * `__dlpack_device__()` is asked first; for stream devices the consumer's stream is passed to
    `__dlpack__(stream=...)` so the producer orders its pending work before ours (CUDA: 1 = legacy default
    stream when the caller has none);
  * the "dltensor" capsule is renamed "used_dltensor" once consumed, and the DLManagedTensor's deleter is
    called by us when the call is done (the producer's capsule destructor then leaves it alone);
  * NULL strides (old producers) are replaced by the row-major strides.
"""
from __future__ import annotations

import ctypes

from ._lib import DLManagedTensor, MojoTensor

MAX_NDIM = 8

# dtype name <-> DLPack (code, bits)
DTYPE_CODES = {"bf16": (4, 16), "fp16": (2, 16), "fp32": (2, 32), "int8": (0, 8), "uint8": (1, 8),
               "int32": (0, 32), "int64": (0, 64), "bool": (6, 8), "fp8_e4m3fn": (10, 8), "fp8_e5m2": (12, 8)}
CODE_DTYPES = {v: k for k, v in DTYPE_CODES.items()}
DTYPE_SIZES = {"bf16": 2, "fp16": 2, "fp32": 4, "int8": 1, "uint8": 1, "int32": 4, "int64": 8, "bool": 1,
               "fp8_e4m3fn": 1, "fp8_e5m2": 1}
DEVICE_NAMES = {1: "cpu", 2: "cuda", 3: "cuda_host", 10: "rocm", 12: "ext", 13: "cuda_managed", 14: "oneapi"}
_STREAM_DEVICES = (2, 10, 13)  # CUDA, ROCm, CUDA managed

_api = ctypes.pythonapi
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_SetName.restype = ctypes.c_int
_api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_IsValid.restype = ctypes.c_int
_api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_DLTENSOR = b"dltensor"
_USED = b"used_dltensor"  # module constant: the capsule keeps a pointer to this name
_ManagedP = ctypes.POINTER(DLManagedTensor)


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class DLManagedTensorVersioned(ctypes.Structure):
    pass


DLManagedTensorVersioned._fields_ = [
    ("version", DLPackVersion), ("manager_ctx", ctypes.c_void_p),
    ("deleter", ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensorVersioned))),
    ("flags", ctypes.c_uint64), ("dl_tensor", MojoTensor)]
_VERSIONED = b"dltensor_versioned"
_USED_VERSIONED = b"used_dltensor_versioned"
_FLAG_READ_ONLY = 1


class Borrowed:
    """A consumed DLPack capsule (legacy "dltensor" or DLPack 1.x "dltensor_versioned"): owns the managed
    tensor until release() calls its deleter."""
    __slots__ = ("managed", "capsule", "dl", "read_only")

    def __init__(self, capsule):
        self.managed = None
        self.read_only = False
        if _api.PyCapsule_IsValid(capsule, _VERSIONED):
            ptr = _api.PyCapsule_GetPointer(capsule, _VERSIONED)
            m = ctypes.cast(ptr, ctypes.POINTER(DLManagedTensorVersioned))
            if m.contents.version.major != 1:
                raise BufferError(f"mojo: DLPack major version {m.contents.version.major}, expected 1")
            used = _USED_VERSIONED
            self.read_only = bool(m.contents.flags & _FLAG_READ_ONLY)
        else:
            ptr = _api.PyCapsule_GetPointer(capsule, _DLTENSOR)  # raises ValueError for a used/foreign capsule
            m = ctypes.cast(ptr, _ManagedP)
            used = _USED
        if _api.PyCapsule_SetName(capsule, used) != 0:
            raise RuntimeError("mojo: cannot rename the DLPack capsule")
        self.capsule = capsule
        self.managed = m
        self.dl = m.contents.dl_tensor

    def release(self):
        m, self.managed = self.managed, None
        if m is not None and m.contents.deleter:
            m.contents.deleter(m)

    def __del__(self):
        self.release()


def consumer_stream(device_type, stream):
    """The stream value handed to __dlpack__ (None on CPU-like devices)."""
    if device_type not in _STREAM_DEVICES:
        return None
    if stream is None or stream == 0:
        return 1 if device_type != 10 else 0  # CUDA legacy default stream; ROCm default is 0
    return int(stream)


def dlpack_of(obj, stream=None):
    """Consumes obj's DLPack export; returns a Borrowed whose managed.contents.dl_tensor describes it."""
    if not hasattr(obj, "__dlpack__"):
        raise TypeError(f"mojo: expected a tensor with __dlpack__ (numpy, torch, cupy, ...), got {type(obj).__name__}")
    dev_type, _ = obj.__dlpack_device__()
    s = consumer_stream(int(dev_type), stream)
    try:
        capsule = obj.__dlpack__() if s is None else obj.__dlpack__(stream=s)
    except BufferError:
        # e.g. numpy refuses read-only arrays on the legacy path: DLPack 1.x can flag them read-only
        capsule = obj.__dlpack__(max_version=(1, 0)) if s is None else obj.__dlpack__(stream=s, max_version=(1, 0))
    return Borrowed(capsule)


class Slot:
    """One owned mojo_tensor with its own shape/stride arrays; filled from DLPack, patched per run."""
    __slots__ = ("t", "shape", "strides", "ptr", "key", "dtype_name", "dims", "device", "read_only")

    def __init__(self):
        self.t = MojoTensor()
        self.shape = (ctypes.c_int64 * MAX_NDIM)()
        self.strides = (ctypes.c_int64 * MAX_NDIM)()
        self.t.shape = ctypes.cast(self.shape, ctypes.POINTER(ctypes.c_int64))
        self.t.strides = ctypes.cast(self.strides, ctypes.POINTER(ctypes.c_int64))
        self.ptr = ctypes.addressof(self.t)
        self.key = None  # fast-path key of the producer object last seen (framework-specific)
        self.dtype_name = None
        self.dims = ()
        self.device = (1, 0)
        self.read_only = False

    def fill(self, obj, stream=None):
        """Describes obj (through DLPack) in this slot; the capsule's deleter runs before returning:
        the slot keeps only the data pointer and metadata, the caller keeps obj alive for the call."""
        b = dlpack_of(obj, stream)
        try:
            self.fill_from_dl(b.dl)
            self.read_only = b.read_only
        finally:
            b.release()
        self.key = None

    def fill_from_dl(self, dl):
        nd = dl.ndim
        if nd > MAX_NDIM or nd < 0:
            raise ValueError(f"mojo: tensor has {nd} dims, expected at most {MAX_NDIM}")
        dims = tuple(dl.shape[i] for i in range(nd))
        code = (dl.dtype.code, dl.dtype.bits)
        if dl.dtype.lanes != 1 or code not in CODE_DTYPES:
            raise TypeError(f"mojo: unsupported DLPack dtype code={code[0]} bits={code[1]} lanes={dl.dtype.lanes}")
        t = self.t
        t.data = dl.data
        t.byte_offset = dl.byte_offset
        t.device.device_type = dl.device.device_type
        t.device.device_id = dl.device.device_id
        t.ndim = nd
        t.dtype.code, t.dtype.bits, t.dtype.lanes = code[0], code[1], 1
        for i, d in enumerate(dims):
            self.shape[i] = d
        if dl.strides:  # pointer truthiness: NULL -> False
            for i in range(nd):
                self.strides[i] = dl.strides[i]
        else:
            acc = 1
            for i in range(nd - 1, -1, -1):
                self.strides[i] = acc
                acc *= dims[i]
        self.dims = dims
        self.dtype_name = CODE_DTYPES[code]
        self.device = (dl.device.device_type, dl.device.device_id)

    def describe(self, dims, dtype_name, device=(1, 0)):
        """A data-less descriptor (for create-time signatures)."""
        t = self.t
        t.data = None
        t.byte_offset = 0
        t.device.device_type, t.device.device_id = device
        t.ndim = len(dims)
        code = DTYPE_CODES[dtype_name]
        t.dtype.code, t.dtype.bits, t.dtype.lanes = code[0], code[1], 1
        acc = 1
        for i in range(len(dims) - 1, -1, -1):
            self.shape[i] = dims[i]
            self.strides[i] = acc
            acc *= dims[i]
        self.dims = tuple(dims)
        self.dtype_name = dtype_name
        self.device = tuple(device)
        self.key = None


def describe(obj, stream=None):
    """(dims, dtype name, (device_type, device_id)) of a DLPack-capable object, without keeping it."""
    s = Slot()
    s.fill(obj, stream)
    return s.dims, s.dtype_name, s.device
