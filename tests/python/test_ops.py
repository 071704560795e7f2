"""Generated op functions and the Op object, against independent float64 math."""
import inspect
import math

import pytest

np = pytest.importorskip("numpy")
import mojo  # noqa: E402


def rng(seed=0):
    return np.random.default_rng(seed)


def test_every_schema_op_is_a_generated_function():
    for o in mojo.schema()["ops"]:
        f = getattr(mojo.ops, o["name"])
        assert f.__doc__.startswith(o["doc"])
        params = list(inspect.signature(f).parameters)
        ins = [t["name"] for t in o["inputs"]]
        assert params[:len(ins)] == ins  # schema argument order
        for a in o["attrs"]:
            p = inspect.signature(f).parameters[a["name"]]
            assert p.kind is inspect.Parameter.KEYWORD_ONLY
        assert {"out", "backend", "stream"} <= set(params)


def test_defaults_come_from_schema():
    p = inspect.signature(mojo.rms_norm).parameters
    d = next(a for a in mojo.schema("rms_norm")["attrs"] if a["name"] == "eps")["default"]
    assert p["eps"].default == float(d)


def rms_ref(x, w, eps):
    x = x.astype(np.float64)
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w.astype(np.float64)


def test_rms_norm_numpy_in_numpy_out():
    x = rng().standard_normal((3, 5, 64)).astype(np.float32)
    w = rng(1).standard_normal(64).astype(np.float32)
    y = mojo.rms_norm(x, w, eps=1e-6)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, rms_ref(x, w, 1e-6), rtol=2e-5, atol=2e-6)


def test_out_is_written_and_returned():
    x = rng().standard_normal((4, 32)).astype(np.float32)
    w = np.ones(32, np.float32)
    out = np.full_like(x, np.nan)
    r = mojo.rms_norm(x, w, eps=1e-5, out=out)
    assert r is out
    np.testing.assert_allclose(out, rms_ref(x, w, 1e-5), rtol=2e-5, atol=2e-6)


def test_fp16_and_strided_rows():
    base = rng().standard_normal((6, 48)).astype(np.float16)
    x = base[::2]  # non-contiguous leading dim, unit last stride
    w = np.ones(48, np.float16)
    y = mojo.rms_norm(x, w)
    assert y.dtype == np.float16
    np.testing.assert_allclose(y.astype(np.float64), rms_ref(x, w, 1e-5), rtol=2e-3, atol=2e-3)


def test_layer_norm_closed_form():
    x = rng(2).standard_normal((7, 40)).astype(np.float32)
    w = rng(3).standard_normal(40).astype(np.float32)
    b = rng(4).standard_normal(40).astype(np.float32)
    y = mojo.layer_norm(x, w, b, eps=1e-5)
    xd = x.astype(np.float64)
    ref = (xd - xd.mean(-1, keepdims=True)) / np.sqrt(xd.var(-1, keepdims=True) + 1e-5) * w + b
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


def test_two_outputs_return_a_tuple():
    x = rng(5).standard_normal((3, 16)).astype(np.float32)
    r = rng(6).standard_normal((3, 16)).astype(np.float32)
    w = np.ones(16, np.float32)
    out, res = mojo.residual_add_rms_norm(x, r, w, eps=1e-6)
    s = x.astype(np.float64) + r
    np.testing.assert_allclose(res, s, rtol=1e-6)
    np.testing.assert_allclose(out, rms_ref(s, w, 1e-6), rtol=2e-5, atol=2e-6)


def test_silu_and_swiglu():
    g = np.linspace(-6, 6, 50, dtype=np.float32).reshape(5, 10)
    u = np.linspace(2, -3, 50, dtype=np.float32).reshape(5, 10)
    sil = g.astype(np.float64) / (1 + np.exp(-g.astype(np.float64)))
    np.testing.assert_allclose(mojo.silu(g), sil, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mojo.swiglu(g, u), sil * u, rtol=1e-5, atol=1e-6)


def test_gelu_exact():
    x = np.linspace(-4, 4, 33, dtype=np.float32)
    ref = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])
    np.testing.assert_allclose(mojo.gelu(x, approximate="none"), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", ["NK", "KN"])
def test_linear_both_layouts_derive_output_shape(layout):
    x = rng(7).standard_normal((2, 3, 16)).astype(np.float32)
    w_nk = rng(8).standard_normal((24, 16)).astype(np.float32)
    b = rng(9).standard_normal(24).astype(np.float32)
    w = w_nk if layout == "NK" else np.ascontiguousarray(w_nk.T)
    y = mojo.linear(x, w, b, weight_layout=layout)
    assert y.shape == (2, 3, 24)
    np.testing.assert_allclose(y, x.astype(np.float64) @ w_nk.T.astype(np.float64) + b, rtol=1e-4, atol=1e-4)


def test_embedding_gathers_rows():
    w = rng(10).standard_normal((11, 6)).astype(np.float32)
    ids = np.array([[0, 10, 3], [3, 3, 7]], np.int64)
    y = mojo.embedding(ids, w)
    assert y.shape == (2, 3, 6)
    np.testing.assert_array_equal(y, w[ids])


def test_op_create_once_run_many_with_changing_sizes():
    w = rng(11).standard_normal(32).astype(np.float32)
    x0 = np.zeros((4, 32), np.float32)
    op = mojo.Op("rms_norm", [x0, w], [np.empty_like(x0)], eps=1e-6)
    assert op.backend == "cpu" and op.name == "rms_norm"
    for seed, rows in ((1, 4), (2, 4), (3, 9), (4, 1)):
        x = rng(seed).standard_normal((rows, 32)).astype(np.float32)
        y = np.full_like(x, np.nan)
        op.run([x, w], [y])
        np.testing.assert_allclose(y, rms_ref(x, w, 1e-6), rtol=2e-5, atol=2e-6)
    op.check()  # the cpu backend checks eagerly: no deferred error


def test_op_run_error_leaves_output_untouched():
    w = np.ones(32, np.float32)
    x = np.ones((2, 32), np.float32)
    op = mojo.Op("rms_norm", [x, w], [np.empty_like(x)])
    bad_w = np.ones(31, np.float32)
    y = np.full_like(x, 7.0)
    with pytest.raises(mojo.InvalidArgument):
        op.run([x, bad_w], [y])
    assert (y == 7.0).all()
    op.run([x, w], [y])  # the slot recovers from the failed signature
    np.testing.assert_allclose(y, 1.0, rtol=1e-5)


def test_op_presence_must_match_create_time():
    x = np.ones((2, 8), np.float32)
    w = np.ones(8, np.float32)
    outs = [np.empty_like(x), np.empty_like(x)]
    op = mojo.Op("residual_add_rms_norm", [x, None, w], outs)
    with pytest.raises(TypeError):
        op.run([x, x, w], outs)
    with pytest.raises(TypeError):
        op.run([x], outs)
    op.run([x, None, w], outs)  # a null residual means s = x
    np.testing.assert_allclose(outs[1], x)
    np.testing.assert_allclose(outs[0], 1.0, rtol=1e-5)


def test_unknown_op_is_not_found():
    x = np.ones((2, 8), np.float32)
    with pytest.raises(mojo.NotFound) as e:
        mojo.Op("no_such_op", [x], [x])
    assert e.value.code == 3 and "no_such_op" in e.value.message


def test_explain_lists_cpu_verdict():
    x = np.ones((2, 8), np.float32)
    r = mojo.explain("rms_norm", [x, np.ones(8, np.float32)], [np.empty_like(x)])
    assert "cpu" in str(r)


@pytest.mark.skipif("dynamic_quant" not in mojo.op_names(), reason="op not in this library")
def test_dynamic_quant_two_outputs_with_attr_dtype():
    x = rng(12).standard_normal((3, 16)).astype(np.float32)
    q, s = mojo.dynamic_quant(x)  # q's dtype comes from the quant_dtype attribute ('@quant_dtype')
    assert q.dtype == np.int8 and q.shape == (3, 16)
    assert s.dtype == np.float32 and s.shape == (3, 1)
    np.testing.assert_allclose(s[:, 0], np.abs(x).max(1) / 127, rtol=1e-6)
    assert (np.abs(q.astype(np.float64) * s - x) <= s / 2 * (1 + 1e-6)).all()  # within half a step
