"""Tensor ops beyond the op table (tests/opinfo_tensor_ops.py holds the registered ones):
nonzero and unique (eager only: against PyTorch, and refused in a graph when the call is made),
dg.set_printoptions (repr equals PyTorch's), out= of matmul / mm / bmm, and the parts of
repeat_interleave, einsum and diagonal the table cannot say."""
import numpy as np
import pytest

import dualgraph as dg

torch = pytest.importorskip("torch")


def _np(t):
    return np.asarray(t.detach().numpy())


def _same(ours, ref):
    if isinstance(ref, (tuple, list)):
        assert isinstance(ours, tuple) and len(ours) == len(ref)
        for a, b in zip(ours, ref):
            _same(a, b)
        return
    a, b = _np(ours), _np(ref)
    assert a.shape == b.shape and a.dtype == b.dtype, f"{a.shape, a.dtype} vs torch {b.shape, b.dtype}"
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- nonzero / unique
_NZ = [np.array([[0, 1.5], [2, 0]], np.float32), np.array([0, 3, 0, 4]), np.array(3.0),
       np.array(0), np.zeros((0, 3), np.float32), np.array([[True, False, True]]),
       np.arange(24).reshape(2, 3, 4) % 3]


@pytest.mark.parametrize("as_tuple", [False, True])
@pytest.mark.parametrize("i", range(len(_NZ)))
def test_nonzero_matches_torch(i, as_tuple):
    a = _NZ[i]
    _same(dg.nonzero(dg.tensor(a), as_tuple=as_tuple), torch.nonzero(torch.from_numpy(a), as_tuple=as_tuple))
    _same(dg.tensor(a).nonzero(as_tuple=as_tuple), torch.from_numpy(a).nonzero(as_tuple=as_tuple))


_UQ = [(np.array([3, 1, 2, 1, 3]), None), (np.array([[1, 2], [1, 2], [0, 1]]), 0),
       (np.array([[1, 2], [1, 2], [0, 1]]), 1), (np.array([[1, 2], [1, 2], [0, 1]]), None),
       (np.array([2.5, -1.0, 2.5], np.float32), None), (np.array(3.0, np.float32), None),
       (np.zeros(0, np.float32), None), (np.zeros((0, 2), np.int64), 0),
       (np.array([[[1, 1], [0, 0]], [[1, 1], [0, 0]]]), -1)]


@pytest.mark.parametrize("flags", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("i", range(len(_UQ)))
def test_unique_matches_torch(i, flags):
    a, dim = _UQ[i]
    inv, counts = flags
    for sort in (True, False):
        ours = dg.unique(dg.tensor(a), sorted=sort, return_inverse=inv, return_counts=counts, dim=dim)
        ref = torch.unique(torch.from_numpy(a), sorted=sort, return_inverse=inv, return_counts=counts, dim=dim)
        _same(ours, ref)
    _same(dg.tensor(a).unique(return_inverse=inv, return_counts=counts, dim=dim),
          torch.from_numpy(a).unique(return_inverse=inv, return_counts=counts, dim=dim))


def test_unique_dim_out_of_range_is_pytorchs_error():
    with pytest.raises(dg.DualGraphError, match=r"Dimension out of range") as e:
        dg.unique(dg.tensor([[1, 2]]), dim=2)
    assert isinstance(e.value, IndexError)


_REFUSAL = r"the shape of its result depends on the values of the input .* cannot be compiled\. Instead"


@pytest.mark.parametrize("fn", [dg.nonzero, dg.unique, lambda x: x.nonzero(), lambda x: x.unique(),
                                lambda x: dg.nonzero(x, as_tuple=True)],
                         ids=["nonzero", "unique", "method nonzero", "method unique", "as_tuple"])
def test_data_dependent_ops_refused_in_graph_mode(fn):
    with dg.graph_mode():
        x = dg.placeholder((3,), np.float32)
        with pytest.raises(dg.DualGraphError, match=_REFUSAL) as e:
            fn(x)
    assert isinstance(e.value, RuntimeError)


def test_data_dependent_ops_refused_in_dg_function():
    @dg.function
    def f(x):
        return dg.nonzero(x)

    with pytest.raises(dg.DualGraphError, match="nonzero\\(\\): " + _REFUSAL):
        f(dg.tensor([1.0, 0.0]))

    w = dg.tensor([1.0, 0.0, 1.0])  # an eager tensor captured by the trace: refused too

    @dg.function
    def g(x):
        return x * dg.unique(w).sum()

    with pytest.raises(dg.DualGraphError, match="unique\\(\\): " + _REFUSAL):
        g(dg.tensor([1.0, 2.0, 3.0]))


# ---------------------------------------------------------------------------- set_printoptions
_ARRAYS = [np.array([1.12345, 2.5, -3.25], np.float32), np.arange(2000, dtype=np.float32).reshape(40, 50) / 7,
           np.array([1e-5, 1.0, 300.0], np.float32), np.arange(12).reshape(3, 4),
           np.random.default_rng(0).standard_normal((8, 9)).astype(np.float32),
           np.array([1.0, 2.0, 3.0]), np.arange(30, dtype=np.float32), np.array(3.14159, np.float32)]
_SETTINGS = [dict(precision=2), dict(threshold=5), dict(edgeitems=1, threshold=10), dict(linewidth=30),
             dict(sci_mode=True), dict(sci_mode=False), dict(profile="short"), dict(profile="full"),
             dict(precision=6, sci_mode=True), dict(threshold=3, edgeitems=0),
             dict(profile="short", precision=5)]


@pytest.fixture
def restore_printoptions():
    yield
    dg.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")


@pytest.mark.parametrize("opts", _SETTINGS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_set_printoptions_repr_equals_torch(opts, restore_printoptions):
    dg.set_printoptions(**opts)
    torch.set_printoptions(**opts)
    for a in _ARRAYS:
        ref = repr(torch.from_numpy(a.copy())).replace("torch.", "dualgraph.")
        assert repr(dg.tensor(a.copy())) == ref


def test_printoptions_defaults_get_and_context(restore_printoptions):
    x = dg.tensor([1.123456789])
    assert repr(x) == "tensor([1.1235])"
    assert dg.get_printoptions() == dict(precision=4, threshold=1000, edgeitems=3, linewidth=80,
                                         sci_mode=None)
    with dg.printoptions(precision=2):
        assert repr(x) == "tensor([1.12])"
    assert repr(x) == "tensor([1.1235])"
    dg.set_printoptions(precision=1)
    dg.set_printoptions(profile="default")
    assert repr(x) == "tensor([1.1235])"
    assert repr(dg.arange(10)) == "tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])"


# ---------------------------------------------------------------------------- out= of the products
@pytest.mark.parametrize("name,sa,sb", [("matmul", (2, 3), (3, 4)), ("matmul", (2, 2, 3), (3,)),
                                        ("mm", (2, 3), (3, 4)), ("bmm", (2, 2, 3), (2, 3, 4))])
def test_products_out(name, sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa).astype(np.float32), rng.standard_normal(sb).astype(np.float32)
    ref = getattr(torch, name)(torch.from_numpy(a), torch.from_numpy(b))
    out = dg.zeros(*ref.shape)
    r = getattr(dg, name)(dg.tensor(a), dg.tensor(b), out=out)
    assert r is out
    np.testing.assert_allclose(_np(out), ref.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["matmul", "mm"])
def test_products_out_errors_are_pytorchs(name):
    a, b = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    for lib, T in ((dg, dg.tensor), (torch, torch.from_numpy)):
        f = getattr(lib, name)
        with pytest.raises(RuntimeError, match="Expected out tensor to have dtype float, but got double instead"):
            f(T(a), T(b), out=lib.zeros(2, 4, dtype=lib.float64))
        with pytest.raises(RuntimeError, match=f"{name}\\(\\): functions with out=... arguments don't "
                                               "support automatic differentiation"):
            f(T(a).requires_grad_(), T(b), out=lib.zeros(2, 4))


def test_matmul_out_in_graph_mode():
    with dg.graph_mode() as g:
        a = dg.placeholder((2, 3), np.float32)
        out = dg.zeros(2, 4)
        r = dg.matmul(a, dg.constant(np.ones((3, 4), np.float32)), out=out)
    (v,) = g.compile([r], feeds=[a])(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(np.asarray(v), np.full((2, 4), 3.0, np.float32))


# ---------------------------------------------------------------------------- repeat_interleave
def test_repeat_interleave_repeats_size_is_pytorchs_error():
    msg = ("repeats must have the same size as input along dim, but got repeats.size(0) = 3 and "
           "input.size(0) = 2")
    for lib in (dg, torch):
        with pytest.raises(RuntimeError) as e:
            lib.repeat_interleave(lib.ones(2, 3), lib.tensor([1, 2, 3]), dim=0)
        assert str(e.value) == msg


def test_repeat_interleave_of_repeats_alone():
    r = np.array([1, 0, 3, 2])
    _same(dg.repeat_interleave(dg.tensor(r)), torch.repeat_interleave(torch.from_numpy(r)))


def test_repeat_interleave_list_repeats_is_pytorchs_type_error():
    with pytest.raises(dg.DualGraphError, match="received an invalid combination of arguments") as e:
        dg.repeat_interleave(dg.ones(2), [1, 2])
    assert isinstance(e.value, TypeError)


def test_repeat_interleave_graph_tensor_repeats():
    """A constant's values are known while the graph is built; a placeholder's are not."""
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with dg.graph_mode() as g:
        p = dg.placeholder((None, 3), np.float32)
        y = dg.repeat_interleave(p, dg.constant(np.array([2, 0, 1])), dim=1)
        (gr,) = dg.gradients([(y * y).sum()], [p])
        reps = dg.placeholder((3,), np.int64)
        with pytest.raises(dg.DualGraphError, match="repeats tensor's values decide the result's "
                                                    "shape.*cannot be compiled") as e:
            dg.repeat_interleave(p, reps, dim=1)
        assert isinstance(e.value, RuntimeError)
    v, gv = g.compile([y, gr], feeds=[p])(x)
    t = torch.from_numpy(x).requires_grad_()
    ty = torch.repeat_interleave(t, torch.tensor([2, 0, 1]), dim=1)
    (ty * ty).sum().backward()
    np.testing.assert_array_equal(np.asarray(v), ty.detach().numpy())
    np.testing.assert_array_equal(np.asarray(gv), t.grad.numpy())

    @dg.function
    def f(x, r):
        return dg.repeat_interleave(x, r, dim=0)

    with pytest.raises(dg.DualGraphError, match="repeats tensor's values decide"):
        f(dg.tensor(x), dg.tensor([1, 2]))


# ---------------------------------------------------------------------------- einsum, diagonal
def test_einsum_in_dg_function_with_gradients():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))

    xs = [dg.tensor(a, requires_grad=True), dg.tensor(b, requires_grad=True)]

    def step():  # the gradients are taken inside (dg.function writes .grad back)
        loss = dg.einsum("...ij,jk->...ik", xs[0], xs[1]).pow(2).sum()
        loss.backward()
        return loss

    step()
    eager = [x.grad.numpy().copy() for x in xs]
    for x in xs:
        x.grad = None
    dg.function(step)()
    for x, want in zip(xs, eager):
        np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12)


def test_diagonal_is_a_writable_view():
    m = dg.zeros(3, 4)
    m.diagonal(1).fill_(5.0)
    t = torch.zeros(3, 4)
    t.diagonal(1).fill_(5.0)
    np.testing.assert_array_equal(_np(m), t.numpy())
    a = dg.ones(3, 3, requires_grad=True)
    b = a * 2
    b.diagonal().mul_(3)
    b.sum().backward()
    ta = torch.ones(3, 3, requires_grad=True)
    tb = ta * 2
    tb.diagonal().mul_(3)
    tb.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())


def test_where_with_the_condition_alone_is_nonzero_as_tuple():
    torch = pytest.importorskip("torch")
    c = np.array([[True, False, True], [False, True, False]])
    got = dg.where(dg.tensor(c))
    want = torch.where(torch.tensor(c))
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.tolist() == b.tolist()
    np.testing.assert_array_equal(dg.where(dg.tensor(c), dg.ones(2, 3), dg.zeros(2, 3)).numpy(), c.astype(np.float32))
    with pytest.raises(TypeError, match=r"where\(\) expected \(condition, input, other\)"):
        dg.where(dg.tensor(c), dg.ones(2, 3))
    with pytest.raises(dg.DualGraphError, match="depends on the values of the input"):
        dg.function(lambda x: dg.where(x > 0)[0])(dg.tensor([1.0, -1.0]))
