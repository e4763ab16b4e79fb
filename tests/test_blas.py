"""The one door of 2-D matrix products (dualgraph/ops/blas.py): numpy's BLAS or Intel MKL.

With MKL on, every product that reaches cblas_?gemm equals np.matmul within float rounding,
whatever the operands' layout; the rest falls back to np.matmul unchanged; a result never
depends on where the buffers lie; and a training step run eagerly and compiled gives the same
numbers over several calls, with the optimizer's state. The whole suite also runs on MKL with
DUALGRAPH_BLAS=mkl."""
import numpy as np
import pytest

import dualgraph as dg
from dualgraph.ops import blas


def _mkl_loads():
    try:
        blas._load_mkl()
    except dg.errors.DualGraphError:
        return False
    return True


needs_mkl = pytest.mark.skipif(not _mkl_loads(), reason="Intel MKL (the mkl extra) is not installed")


@pytest.fixture
def mkl():
    old = dg.set_blas("mkl")
    yield
    dg.set_blas(old)


def test_unknown_library_is_refused():
    with pytest.raises(dg.errors.DGValueError, match="unknown BLAS 'openblas': expected 'numpy' or 'mkl'"):
        dg.set_blas("openblas")
    assert dg.get_blas() in ("numpy", "mkl")


def test_missing_mkl_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(blas, "_MKL", {})
    monkeypatch.setattr(blas, "_library_dirs", lambda: ["/nonexistent/lib"])
    monkeypatch.setattr("ctypes.util.find_library", lambda name: None)
    before = dg.get_blas()
    with pytest.raises(dg.errors.DGRuntimeError, match=r"pip install 'dualgraph\[mkl\]'"):
        dg.set_blas("mkl")
    assert dg.get_blas() == before   # nothing switched


def test_missing_cffi_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(blas, "_MKL", {})
    monkeypatch.setitem(__import__("sys").modules, "cffi", None)   # import cffi raises
    before = dg.get_blas()
    with pytest.raises(dg.errors.DGRuntimeError, match=r"through cffi, which is not installed: pip install 'dualgraph\[mkl\]'"):
        dg.set_blas("mkl")
    assert dg.get_blas() == before


def test_numpy_library_is_np_matmul():
    old = dg.set_blas("numpy")
    try:
        rng = np.random.default_rng(0)
        a, b = rng.standard_normal((40, 50)).astype(np.float32), rng.standard_normal((50, 30)).astype(np.float32)
        np.testing.assert_array_equal(blas.matmul(a, b), np.matmul(a, b))
    finally:
        dg.set_blas(old)


def _operand(rng, shape, dtype, layout):
    x = rng.standard_normal(shape).astype(dtype)
    if layout == "C":
        return x
    if layout == "F":
        return np.asfortranarray(x)
    return np.repeat(x, 2, axis=1)[:, ::2]        # strided: neither C nor F contiguous


@needs_mkl
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("la", ["C", "F", "strided"])
@pytest.mark.parametrize("lb", ["C", "F", "strided"])
@pytest.mark.parametrize("with_out", [False, True])
def test_mkl_product_equals_numpy_in_every_layout(mkl, dtype, la, lb, with_out):
    rng = np.random.default_rng(1)
    m, k, n = 128, 256, 160                         # (over _MKL_FROM: MKL runs it)
    assert m * k * n >= blas._MKL_FROM
    a, b = _operand(rng, (m, k), dtype, la), _operand(rng, (k, n), dtype, lb)
    out = np.full((m, n), np.nan, dtype) if with_out else None
    got = blas.matmul(a, b, out=out)
    if with_out:
        assert got is out
    assert got.shape == (m, n) and got.dtype == dtype and got.flags.c_contiguous
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, np.matmul(a.astype(np.float64), b.astype(np.float64)), rtol=tol, atol=tol)


@needs_mkl
def test_mkl_reads_read_only_and_offset_operands(mkl, gemm_calls):
    """cffi hands MKL a buffer's memory: read-only arrays (a plan's constants, a frozen input)
    and views that start inside a bigger array must be read where they lie."""
    rng = np.random.default_rng(4)
    big = rng.standard_normal((140, 300)).astype(np.float32)
    a = big[5:133, 20:276]          # (128, 256), neither C nor F contiguous: numpy
    a_c = np.ascontiguousarray(a)
    a_c.flags.writeable = False
    b = np.asfortranarray(rng.standard_normal((256, 160)).astype(np.float32))[:, 3:]  # F, offset
    b.flags.writeable = False
    before = len(gemm_calls)
    got = blas.matmul(a_c, b)
    assert len(gemm_calls) == before + 1
    np.testing.assert_allclose(got, np.matmul(a_c.astype(np.float64), b.astype(np.float64)), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(blas.matmul(a, b), np.matmul(a, b))   # (strided: numpy's)


@needs_mkl
@pytest.mark.parametrize("case", ["small", "batched", "int", "mixed", "out_aliases_a", "out_strided",
                                  "vector", "byteswapped", "empty_k"])
def test_what_mkl_does_not_take_is_np_matmul(mkl, case):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((128, 256)).astype(np.float32)
    b = rng.standard_normal((256, 256)).astype(np.float32)     # (big enough for MKL)
    out = None
    if case == "small":
        a, b = a[:4, :5], b[:5, :6]
    elif case == "batched":
        a, b = np.stack([a, a]), np.stack([b, b])
    elif case == "int":
        a, b = (a * 10).astype(np.int64), (b * 10).astype(np.int64)
    elif case == "mixed":
        b = b.astype(np.float64)
    elif case == "out_aliases_a":
        a, b = np.ascontiguousarray(b[:128]), b         # (128, 256) @ (256, 256), written into a
        out = a
    elif case == "out_strided":
        out = np.empty((128, 512), np.float32)[:, ::2]
    elif case == "vector":
        b = b[:, 0].copy()
    elif case == "byteswapped":
        a, b = a.astype(">f4"), b.astype(">f4")
    elif case == "empty_k":
        a, b = a[:, :0], b[:0]
    want = np.matmul(a.copy(), b.copy())
    got = blas.matmul(a, b, out=out)
    np.testing.assert_array_equal(got, want)
    if out is not None:
        assert got is out


@needs_mkl
@pytest.mark.parametrize("shape", [(64, 784, 256), (512, 784, 256), (256, 64, 784), (129, 301, 257)])
def test_mkl_result_does_not_depend_on_buffer_alignment(mkl, shape):
    """A plan writes into its own buffers and eager allocates new ones: MKL must give the same
    bits wherever the operands and the result lie (one thread, as the suite runs)."""
    m, k, n = shape
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    ref = blas.matmul(a, b).copy()
    for off in range(1, 16, 3):
        pool = np.empty(m * k + k * n + m * n + 64, np.float32)
        a2 = pool[off:off + m * k].reshape(m, k)
        b2 = pool[off + m * k + 7:off + m * k + 7 + k * n].reshape(k, n)
        o2 = pool[-(m * n) - (off % 5):len(pool) - (off % 5)].reshape(m, n)
        a2[...], b2[...] = a, b
        np.testing.assert_array_equal(blas.matmul(a2, b2, out=o2), ref)


def _mlp_step(model, opt, x, y):
    opt.zero_grad()
    loss = dg.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def _mlp(seed):
    dg.manual_seed(seed)
    nn = dg.nn
    return nn.Sequential(nn.Linear(320, 256), nn.ReLU(), nn.Linear(256, 32), nn.ReLU(), nn.Linear(32, 10))


@pytest.fixture
def gemm_calls(mkl, monkeypatch):
    """Counts the products that reach MKL."""
    calls = []

    def counted(f):
        def call(*args):
            calls.append(args[3:6])
            return f(*args)
        return call
    monkeypatch.setitem(blas._state, "gemm", {dt: counted(f) for dt, f in blas._state["gemm"].items()})
    return calls


@needs_mkl
def test_mlp_training_eager_equals_compiled_on_mkl(gemm_calls):
    """Eagerly and as a dg.function, over four steps of SGD with momentum and a StepLR: losses,
    parameters, their .grad and the momentum buffers agree (the products run on MKL in both)."""
    rng = np.random.default_rng(4)
    x = dg.tensor(rng.standard_normal((64, 320)).astype(np.float32))
    y = dg.tensor(rng.integers(0, 10, 64))
    runs = []
    for compiled in (False, True):
        model = _mlp(0)
        opt = dg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        sched = dg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        step = dg.function(_mlp_step) if compiled else _mlp_step
        losses = []
        before = len(gemm_calls)
        for _ in range(4):
            losses.append(float(step(model, opt, x, y)))
            sched.step()
        assert len(gemm_calls) - before >= 8   # the first layer's two products, each step, on MKL
        params = [p.detach().numpy().copy() for p in model.parameters()]
        grads = [p.grad.numpy().copy() for p in model.parameters()]
        bufs = [opt.state[p]["momentum_buffer"].numpy().copy() for p in model.parameters()]
        runs.append((losses, params, grads, bufs))
    (l0, p0, g0, b0), (l1, p1, g1, b1) = runs
    np.testing.assert_allclose(l1, l0, rtol=1e-5)
    for e, c in zip(p0 + g0 + b0, p1 + g1 + b1):
        np.testing.assert_allclose(c, e, rtol=1e-5, atol=1e-6)
    assert l0[-1] < l0[0]


@needs_mkl
def test_mkl_and_numpy_agree_on_a_linear_gradient(mkl):
    rng = np.random.default_rng(5)
    xs, ws = rng.standard_normal((64, 400)).astype(np.float32), rng.standard_normal((256, 400)).astype(np.float32)
    results = []
    for name in ("mkl", "numpy"):
        dg.set_blas(name)
        x, w = dg.tensor(xs, requires_grad=True), dg.tensor(ws, requires_grad=True)
        out = dg.nn.functional.linear(x, w)
        (out * out).sum().backward()
        results.append((out.detach().numpy(), x.grad.numpy(), w.grad.numpy()))
    for m, n in zip(*results):
        np.testing.assert_allclose(m, n, rtol=1e-4, atol=1e-3)
