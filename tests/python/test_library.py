"""Loading, version, backends, devices, load records, support matrix, errors."""
import re

import pytest

import mojo
from conftest import ROOT


def header_version():
    text = (ROOT / "include/mojo/mojo.h").read_text()
    parts = [re.search(rf"MOJO_VERSION_{p} = (\d+)", text).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts), int(re.search(r"MOJO_API_VERSION = (\d+)", text).group(1))


def test_version_matches_header():
    v, api = header_version()
    assert mojo.version() == v
    assert mojo.__version__ == v
    assert mojo.api_version() == api


def test_library_path_honours_env(monkeypatch):
    import os
    if "MOJO_LIBRARY" in os.environ:
        assert os.path.samefile(mojo.library_path, os.environ["MOJO_LIBRARY"])


def test_backends_devices_records():
    bs = mojo.backends()
    cpu = [b for b in bs if b["name"] == "cpu"]
    assert len(cpu) == 1 and cpu[0]["path"] == "builtin" and cpu[0]["probe_score"] > 0
    assert any(d["device"] == "cpu:0" and d["backend"] == "cpu" for d in mojo.devices())
    recs = mojo.load_records()
    assert any(r["path"] == "builtin" and r["outcome"] == "loaded" for r in recs)
    assert all(set(r) == {"path", "stage", "outcome", "reason"} for r in recs)


def test_support_matrix_lists_every_schema_op():
    m = mojo.support_matrix()
    assert set(m) == set(mojo.op_names())
    assert "fp32" in m["rms_norm"]["cpu"]


def test_report_has_order():
    r = mojo.report()
    assert r["version"] == mojo.version()
    assert "cpu" in r["order"]


def test_invalid_argument_carries_message_and_code():
    np = pytest.importorskip("numpy")
    x = np.ones((2, 8), np.float32)
    w = np.ones(7, np.float32)  # D mismatch
    with pytest.raises(mojo.InvalidArgument) as e:
        mojo.rms_norm(x, w)
    assert e.value.code == 1 and e.value.code_name == "INVALID_ARGUMENT"
    assert "rms_norm" in e.value.message and "weight" in e.value.message
    assert isinstance(e.value, mojo.MojoError) and isinstance(e.value, ValueError)


def test_unknown_backend_is_not_found():
    with pytest.raises(mojo.MojoError) as e:
        mojo.Context(backend="+nosuchbackend", ignore_env=True)
    assert e.value.code in (1, 3)
    assert "nosuchbackend" in e.value.message


def test_unknown_attribute_is_rejected():
    np = pytest.importorskip("numpy")
    x = np.ones((2, 8), np.float32)
    with pytest.raises(TypeError, match="epsilon"):
        mojo.Op("rms_norm", [x, np.ones(8, np.float32)], [np.empty_like(x)], epsilon=1.0)


def test_package_version_matches_header():
    from mojo._version import __version__
    assert __version__ == header_version()[0]
