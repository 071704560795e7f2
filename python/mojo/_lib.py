"""Loading libmojo.so and the ctypes mirror of include/mojo/mojo.h (no compiled extension)."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import pathlib

__all__ = ["lib", "library_path", "MojoError", "check", "MojoTensor", "MojoDevice", "MojoDtype", "MojoAttr",
           "MojoOpDesc", "MojoContextOptions", "MojoBackendInfo", "MojoDeviceInfo", "MojoPluginRecord"]

_SONAMES = ("libmojo.so", "libmojo.so.1")


def _candidates():
    env = os.environ.get("MOJO_LIBRARY")
    if env:
        # An explicit override is the only candidate: silently falling back would hide a wrong path.
        yield pathlib.Path(env)
        return
    here = pathlib.Path(__file__).resolve().parent
    for name in _SONAMES:
        yield here / name                      # wheel / installed copy next to the package
    repo = here.parent.parent                  # python/mojo -> repository root
    for build in sorted(repo.glob("build*")):  # build trees of the source checkout (build, build-*)
        for name in _SONAMES:
            yield build / "src" / name
    found = ctypes.util.find_library("mojo")   # the system (ldconfig, LD_LIBRARY_PATH via dlopen)
    if found:
        yield pathlib.Path(found)
    for name in _SONAMES:
        yield pathlib.Path(name)               # bare name: let the dynamic loader search


def _load():
    errors = []
    for cand in _candidates():
        if cand.parent != pathlib.Path(".") and not cand.exists():
            errors.append(f"{cand}: no such file")
            continue
        try:
            return ctypes.CDLL(str(cand)), str(cand)
        except OSError as e:  # keep looking, but remember why
            errors.append(f"{cand}: {e}")
    raise ImportError("mojo: cannot load libmojo.so (set MOJO_LIBRARY to its path). Tried:\n  " +
                      "\n  ".join(errors))


lib, library_path = _load()

# ---- structs (layouts of mojo.h) ----------------------------------------------------------------------

c_int64_p = ctypes.POINTER(ctypes.c_int64)


class MojoDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class MojoDtype(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class MojoTensor(ctypes.Structure):
    """Binary-compatible with DLPack's DLTensor."""
    _fields_ = [("data", ctypes.c_void_p), ("device", MojoDevice), ("ndim", ctypes.c_int32),
                ("dtype", MojoDtype), ("shape", c_int64_p), ("strides", c_int64_p),
                ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


DLManagedTensor._fields_ = [("dl_tensor", MojoTensor), ("manager_ctx", ctypes.c_void_p),
                            ("deleter", ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor)))]


class MojoAttr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int32), ("count", ctypes.c_int32),
                ("i", ctypes.c_int64), ("f", ctypes.c_double), ("s", ctypes.c_char_p),
                ("ints", c_int64_p), ("floats", ctypes.POINTER(ctypes.c_double))]


MojoTensorP = ctypes.POINTER(MojoTensor)


class MojoOpDesc(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("op", ctypes.c_char_p), ("attrs", ctypes.POINTER(MojoAttr)),
                ("n_attrs", ctypes.c_size_t), ("inputs", ctypes.POINTER(MojoTensorP)),
                ("n_inputs", ctypes.c_size_t), ("outputs", ctypes.POINTER(MojoTensorP)),
                ("n_outputs", ctypes.c_size_t), ("backend_spec", ctypes.c_char_p)]


class MojoContextOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("backend_spec", ctypes.c_char_p),
                ("op_backend_spec", ctypes.c_char_p), ("plugin_path", ctypes.c_char_p),
                ("log_level", ctypes.c_char_p), ("flags", ctypes.c_uint32)]


class MojoBackendInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("name", ctypes.c_char_p), ("version", ctypes.c_char_p),
                ("path", ctypes.c_char_p), ("default_priority", ctypes.c_int32), ("probe_score", ctypes.c_int32),
                ("probe_reason", ctypes.c_char_p), ("rank", ctypes.c_int32), ("n_devices", ctypes.c_int32),
                ("abi_major", ctypes.c_uint32), ("abi_minor", ctypes.c_uint32)]


class MojoDeviceInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("device", MojoDevice), ("name", ctypes.c_char_p),
                ("arch", ctypes.c_char_p), ("memory_bytes", ctypes.c_uint64)]


class MojoPluginRecord(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("path", ctypes.c_char_p), ("stage", ctypes.c_char_p),
                ("outcome", ctypes.c_char_p), ("reason", ctypes.c_char_p)]


# ---- function prototypes ------------------------------------------------------------------------------

_vp, _sz = ctypes.c_void_p, ctypes.c_size_t


def _proto(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_proto("mojo_version", ctypes.c_char_p)
_proto("mojo_api_version", ctypes.c_uint32)
_proto("mojo_status_code", ctypes.c_int32, _vp)
_proto("mojo_status_message", ctypes.c_char_p, _vp)
_proto("mojo_status_backend", ctypes.c_char_p, _vp)
_proto("mojo_status_free", None, _vp)
_proto("mojo_code_name", ctypes.c_char_p, ctypes.c_int32)
_proto("mojo_context_options_init", None, ctypes.POINTER(MojoContextOptions))
_proto("mojo_context_create", _vp, ctypes.POINTER(MojoContextOptions), ctypes.POINTER(_vp))
_proto("mojo_context_destroy", None, _vp)
_proto("mojo_backend_count", _sz, _vp)
_proto("mojo_backend_get", _vp, _vp, _sz, ctypes.POINTER(MojoBackendInfo))
_proto("mojo_device_get", _vp, _vp, _sz, _sz, ctypes.POINTER(MojoDeviceInfo))
_proto("mojo_plugin_record_count", _sz)
_proto("mojo_plugin_record_get", _vp, _sz, ctypes.POINTER(MojoPluginRecord))
_proto("mojo_schema_json", ctypes.c_char_p)
_proto("mojo_context_report_json", _vp, _vp, ctypes.POINTER(ctypes.c_void_p))
_proto("mojo_string_free", None, _vp)
_proto("mojo_op_create", _vp, _vp, ctypes.POINTER(MojoOpDesc), ctypes.POINTER(_vp))
_proto("mojo_op_explain_json", _vp, _vp, ctypes.POINTER(MojoOpDesc), ctypes.POINTER(ctypes.c_void_p))
_proto("mojo_op_workspace_size", _vp, _vp, ctypes.POINTER(_sz))
# Arrays of tensor pointers are passed as raw addresses: cheaper per call than typed pointer conversion.
_proto("mojo_op_run", _vp, _vp, _vp, _sz, _vp, _sz, _vp, _vp)
_proto("mojo_op_plan", _vp, _vp, _vp, _sz, _vp, _vp)
_proto("mojo_op_check", _vp, _vp, _vp)
_proto("mojo_op_backend", ctypes.c_char_p, _vp)
_proto("mojo_op_name", ctypes.c_char_p, _vp)
_proto("mojo_op_destroy", None, _vp)

CODE_NAMES = {0: "SUCCESS", 1: "INVALID_ARGUMENT", 2: "UNSUPPORTED", 3: "NOT_FOUND", 4: "OUT_OF_MEMORY",
              5: "BACKEND_ERROR", 6: "ABI_MISMATCH", 7: "INTERNAL"}


class MojoError(RuntimeError):
    """A failed libmojo call: `code` (int), `code_name` ("INVALID_ARGUMENT", ...), `message` and `backend`
    ("core" or the backend that produced it)."""

    def __init__(self, code, message, backend=""):
        self.code = int(code)
        self.code_name = CODE_NAMES.get(self.code, str(self.code))
        self.message = message
        self.backend = backend
        super().__init__(f"[{self.code_name}] {message}")


class InvalidArgument(MojoError, ValueError):
    pass


class Unsupported(MojoError, NotImplementedError):
    pass


class NotFound(MojoError, LookupError):
    pass


_ERROR_CLASSES = {1: InvalidArgument, 2: Unsupported, 3: NotFound}


def error_from_status(status):
    code = lib.mojo_status_code(status)
    msg = (lib.mojo_status_message(status) or b"").decode("utf-8", "replace")
    backend = (lib.mojo_status_backend(status) or b"").decode("utf-8", "replace")
    lib.mojo_status_free(status)
    return _ERROR_CLASSES.get(code, MojoError)(code, msg, backend)


def check(status):
    """Raises the MojoError of a non-NULL status (and frees it)."""
    if status:
        raise error_from_status(status)
