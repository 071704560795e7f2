"""torch integration: torch.library registration, fake implementations under torch.compile, CUDA graphs.
Skips cleanly where torch is absent (CI); runs on the GPU machine, where torch is installed."""
import pytest

torch = pytest.importorskip("torch")
import mojo  # noqa: E402
import mojo.torch as mt  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def registered():
    mt.enable()
    yield
    mt.disable()


def rms_ref(x, w, eps):
    xd = x.double()
    return xd * torch.rsqrt((xd * xd).mean(-1, keepdim=True) + eps) * w.double()


def test_every_op_is_registered_with_a_schema():
    assert mt.failed == {}
    for name in mojo.op_names():
        op = getattr(torch.ops.mojo, name)
        s = str(op.default._schema)
        for t in mojo.schema(name)["inputs"]:
            assert t["name"] in s
            if t["mutated"]:
                assert "!" in s.split(t["name"])[0].rsplit(",", 1)[-1]


def test_op_schema_string_of_rms_norm():
    assert mt.schema_string(mojo.schema("rms_norm")) == "(Tensor x, Tensor weight, float eps=1e-05) -> Tensor"


def test_eager_torch_in_torch_out():
    x = torch.randn(4, 64)
    w = torch.randn(64)
    y = torch.ops.mojo.rms_norm(x, w, 1e-6)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32
    torch.testing.assert_close(y.double(), rms_ref(x, w, 1e-6), rtol=2e-5, atol=2e-6)
    y2 = mojo.rms_norm(x, w, eps=1e-6)  # routed through torch.ops.mojo while enabled
    torch.testing.assert_close(y2, y)


def test_generated_impl_cache_keys():
    # Optional tensor absent then present, two returns, a new shape and a strided input each get their entry.
    x, w, b = torch.randn(5, 16), torch.randn(8, 16), torch.randn(8)
    ref = x.double() @ w.double().t()
    torch.testing.assert_close(torch.ops.mojo.linear(x, w, None, "NK").double(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.ops.mojo.linear(x, w, b, "NK").double(), ref + b.double(), rtol=1e-5, atol=1e-5)
    x3 = torch.randn(3, 16)
    torch.testing.assert_close(torch.ops.mojo.linear(x3, w, b, "NK").double(), x3.double() @ w.double().t() + b.double(),
                               rtol=1e-5, atol=1e-5)
    r = torch.randn(4, 32)
    h = torch.randn(4, 64)[:, :32]  # row-strided view: the same shape as r, another key
    for xx in (r.clone(), h):
        y, s = torch.ops.mojo.residual_add_rms_norm(xx, r, torch.ones(32), 1e-6)
        torch.testing.assert_close(s, xx + r)
        torch.testing.assert_close(y.double(), rms_ref(xx + r, torch.ones(32), 1e-6), rtol=2e-5, atol=2e-6)


def test_bf16_via_dlpack():
    x = torch.randn(3, 32).bfloat16()
    w = torch.ones(32).bfloat16()
    y = mojo.rms_norm(x, w)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.double(), rms_ref(x, w, 1e-5), rtol=1e-2, atol=1e-2)


def test_op_object_with_torch_tensors():
    x = torch.randn(2, 16)
    w = torch.ones(16)
    y = torch.empty_like(x)
    op = mojo.Op("rms_norm", [x, w], [y])
    for _ in range(3):
        x.normal_()
        op.run([x, w], [y])
        torch.testing.assert_close(y.double(), rms_ref(x, w, 1e-5), rtol=2e-5, atol=2e-6)


def test_fake_impl_gives_shapes():
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode():
        x = torch.empty(2, 3, 16)
        w = torch.empty(24, 16)
        y = torch.ops.mojo.linear(x, w, None, "NK")
        assert tuple(y.shape) == (2, 3, 24)


def test_torch_compile_fullgraph():
    def f(x, w, b):
        h = torch.ops.mojo.rms_norm(x, w, 1e-6)
        return torch.ops.mojo.silu(h) + b

    x, w, b = torch.randn(4, 32), torch.randn(32), torch.randn(32)
    cf = torch.compile(f, fullgraph=True, backend="eager")
    h = rms_ref(x, w, 1e-6)
    torch.testing.assert_close(cf(x, w, b).double(), h * torch.sigmoid(h) + b.double(), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_eager_and_graph_capture():
    if "cuda" not in [b["name"] for b in mojo.backends()]:
        pytest.skip("the cuda plugin is not loaded")
    x = torch.randn(8, 128, device="cuda", dtype=torch.float16)
    w = torch.randn(128, device="cuda", dtype=torch.float16)
    y = mojo.rms_norm(x, w)
    torch.testing.assert_close(y.double(), rms_ref(x, w, 1e-5), rtol=1e-2, atol=1e-2)
    out = torch.empty_like(x)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            torch.ops.mojo.rms_norm(x, w)  # warm-up: binds and caches the op outside capture
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out.copy_(torch.ops.mojo.rms_norm(x, w))
    x.copy_(torch.randn_like(x))
    g.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(out.double(), rms_ref(x, w, 1e-5), rtol=1e-2, atol=1e-2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_torch_compile_fullgraph_matches_cpu_reference():
    """torch.compile (inductor, fullgraph) over CUDA tensors; the mojo op stays one node bound to the cuda
    backend, and its result matches the cpu reference backend on the same data."""
    if "cuda" not in [b["name"] for b in mojo.backends()]:
        pytest.skip("the cuda plugin is not loaded")

    def f(x, w, r):
        h = torch.ops.mojo.rms_norm(x + r, w, 1e-6)
        return torch.ops.mojo.silu(h) * 2

    x = torch.randn(64, 512, device="cuda", dtype=torch.bfloat16)
    r = torch.randn_like(x)
    w = torch.randn(512, device="cuda", dtype=torch.bfloat16)
    got = torch.compile(f, fullgraph=True)(x, w, r)
    want = f(x.cpu(), w.cpu(), r.cpu())  # the same ops on cpu tensors run on the cpu reference backend
    torch.testing.assert_close(got.cpu().float(), want.float(), rtol=2e-2, atol=2e-2)
