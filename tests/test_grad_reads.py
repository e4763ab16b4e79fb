"""What backward rules read, against PyTorch: the version counter pins only the inputs a
gradient reads (Op.saves), piecewise-constant ops give zero gradients, and std's gradient is 0
where the std is 0. Each case runs the same code with `m = dualgraph` and `m = torch`."""
import warnings

import numpy as np
import pytest

import dualgraph as dg


def _t(m, v, rg=False):
    return m.tensor(np.array(v, np.float32), requires_grad=rg)


def _outcome(m, build):
    """('ok', grads of the leaves) or ('err', builtin type): build(m) -> (loss, leaves)."""
    try:
        loss, leaves = build(m)
        loss.backward()
    except RuntimeError as e:
        assert "modified by an inplace operation" in str(e), str(e)
        return ("err",)
    return ("ok", [np.asarray(x.grad.tolist()) for x in leaves])


# ------------------------------------------------------------------ the version counter
def _product(op, shapes, write, rgs):
    def build(m):
        leaves = [_t(m, np.arange(np.prod(s)).reshape(s) / 7 + 1, r) for s, r in zip(shapes, rgs)]
        ins = [x * 1 if r else x.clone() for x, r in zip(leaves, rgs)]
        y = getattr(m, op)(*ins)
        ins[write].mul_(2)          # after the op: refused only where a gradient reads it
        return (y * 1).sum(), [x for x, r in zip(leaves, rgs) if r]
    build.__name__ = f"{op}{len(shapes[0])}d{len(shapes[1])}d_write{write}_rg{''.join(str(int(r)) for r in rgs)}"
    return build


_PRODUCTS = [("mm", ((2, 3), (3, 2))), ("bmm", ((2, 2, 3), (2, 3, 2))), ("dot", ((3,), (3,))),
             ("outer", ((3,), (2,))), ("matmul", ((2, 3), (3, 2))), ("matmul", ((2, 3), (3,))),
             ("matmul", ((3,), (3, 2))), ("matmul", ((2, 2, 3), (3, 2)))]
CASES = [_product(op, shapes, w, rgs) for op, shapes in _PRODUCTS for w in (0, 1)
         for rgs in ((True, True), (True, False), (False, True))]


def _case(fn):
    CASES.append(fn)
    return fn


def _x(m, rg=True):
    return _t(m, np.arange(18).reshape(1, 2, 3, 3) / 10, rg)


@_case
def linear_bias_written(m):
    a = _t(m, [1.0, 2.0], True)
    b = a * 1
    y = m.nn.functional.linear(m.ones(1, 2), m.ones(2, 2), b)
    b.zero_()
    return y.sum(), [a]


@_case
def linear_3d_bias_written(m):
    a, x = _t(m, [1.0, 2.0], True), _t(m, np.ones((2, 3, 2)), True)
    b = a * 1
    y = m.nn.functional.linear(x, m.ones(2, 2), b)
    b.zero_()
    return (y * y).sum(), [a, x]


@_case
def linear_x_written_w_requires_grad(m):
    a, w = _t(m, [[1.0, 2.0]], True), _t(m, np.ones((2, 2)), True)
    x = a * 1
    y = m.nn.functional.linear(x, w)
    x.mul_(2)
    return y.sum(), [a, w]


@_case
def linear_x_written_only_x_requires_grad(m):
    a = _t(m, [[1.0, 2.0]], True)
    x = a * 1
    y = m.nn.functional.linear(x, _t(m, np.ones((2, 2)) * 3))
    x.mul_(2)
    return y.sum(), [a]


@_case
def linear_w_written_x_requires_grad(m):
    a, x = _t(m, np.ones((2, 2)), True), _t(m, [[1.0, 2.0]], True)
    w = a * 1
    y = m.nn.functional.linear(x, w)
    w.mul_(2)
    return y.sum(), [a, x]


@_case
def conv2d_bias_written(m):
    a, x, w = _t(m, [1.0, 2.0], True), _x(m), _t(m, np.ones((2, 2, 2, 2)), True)
    b = a * 1
    y = m.nn.functional.conv2d(x, w, b)
    b.zero_()
    return (y * 1).sum(), [a, x, w]


@_case
def conv2d_x_written_only_x_requires_grad(m):
    """PyTorch's convolution pins x and w whichever gradients are asked for."""
    a = _x(m)
    x = a * 1
    y = m.nn.functional.conv2d(x, _t(m, np.ones((2, 2, 2, 2))))
    x.mul_(2)
    return y.sum(), [a]


@_case
def conv2d_double_backward_grad_output_written(m):
    x, a = _x(m), _t(m, np.ones((1, 2, 2, 2)), True)
    v = a * 1
    y = m.nn.functional.conv2d(x, _t(m, np.ones((2, 2, 2, 2)) / 3))
    (gx,) = m.autograd.grad(y, [x], v, create_graph=True)
    v.mul_(2)
    return (gx * 1).sum(), [a]


@_case
def conv2d_double_backward(m):
    x, w, a = _x(m), _t(m, np.ones((2, 2, 2, 2)) / 3, True), _t(m, np.ones((1, 2, 2, 2)), True)
    y = m.nn.functional.conv2d(x, w)
    gx, gw = m.autograd.grad(y, [x, w], a * 1, create_graph=True)
    return (gx * gx).sum() + (gw * gw).sum(), [a, x, w]


@pytest.mark.parametrize("build", CASES, ids=lambda f: f.__name__)
def test_version_counter_matches_torch(build):
    torch = pytest.importorskip("torch")
    ours, theirs = _outcome(dg, build), _outcome(torch, build)
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "ok":
        for a, b in zip(ours[1], theirs[1]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ piecewise-constant ops
ZERO_GRAD = {
    "sign": lambda m, x: m.sign(x),
    "div_floor": lambda m, x: m.div(x, 2.0, rounding_mode="floor"),
    "div_trunc": lambda m, x: m.div(x, 2.0, rounding_mode="trunc"),
    "div_floor_tensor": lambda m, x: m.div(m.ones(2, 3) * 3, x, rounding_mode="floor"),
}


@pytest.mark.parametrize("name", sorted(ZERO_GRAD))
def test_piecewise_constant_grad_is_zero(name):
    torch = pytest.importorskip("torch")
    for m in (dg, torch):
        x = _t(m, [0.5, -1.5, 2.5], True)
        y = ZERO_GRAD[name](m, x)
        assert y.requires_grad, m.__name__
        y.sum().backward()
        assert x.grad.tolist() == [0.0, 0.0, 0.0], m.__name__


def test_floor_divide_requires_grad_with_zero_gradient():
    """torch.floor_divide / `//` require grad too (their backward raises there: dualgraph's is
    zero, as div(rounding_mode='floor')'s)."""
    x = dg.tensor([0.5, -1.5], requires_grad=True)
    for y in (x // 2.0, 3.0 // x, dg.floor_divide(x, dg.ones(2, 2) * 2)):
        assert y.requires_grad
        x.grad = None
        y.sum().backward()
        assert x.grad.tolist() == [0.0, 0.0]
    assert not (dg.tensor([3, 4]) // 2).requires_grad


def test_zero_gradients_in_graph_mode():
    with dg.graph_mode() as g:
        p = dg.placeholder([3])
        y = dg.sign(p) + p // 2.0 + dg.div(p, 3.0, rounding_mode="trunc") + p
        (gp,) = dg.gradients(y.sum(), [p])
    assert g.compile([gp], feeds=[p])(np.array([0.5, -1.0, 4.0], np.float32))[0].tolist() == [1.0] * 3


def test_abs_double_backward_through_sign():
    x = dg.tensor([0.5, -1.5], requires_grad=True)
    (g,) = dg.autograd.grad(dg.abs(x).sum(), [x], create_graph=True)
    assert g.requires_grad                                  # torch: True (sign is differentiable)
    (gg,) = dg.autograd.grad(g.sum(), [x])
    assert gg.tolist() == [0.0, 0.0]


# ------------------------------------------------------------------ std at zero deviation
_STD_INPUTS = [np.ones(3, np.float32), np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]], np.float32),
               np.array([2.0], np.float32), np.array(3.0, np.float32)]
_STD_KWARGS = [{}, {"dim": 0}, {"dim": -1, "keepdim": True}, {"correction": 0},
               {"dim": -1, "correction": 0}, {"dim": (0, 1), "keepdim": True}, {"correction": 2}]


@pytest.mark.parametrize("i,kw", [(i, kw) for i, a in enumerate(_STD_INPUTS) for kw in _STD_KWARGS
                                   if a.ndim >= 2 or kw.get("dim") != (0, 1)], ids=str)
def test_std_grad_matches_torch_eager_and_graph(i, kw):
    torch = pytest.importorskip("torch")
    a = _STD_INPUTS[i]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # degrees of freedom <= 0
        tx = torch.tensor(a, requires_grad=True)
        ty = torch.std(tx, **kw)
        w = np.arange(1, ty.numel() + 1, dtype=np.float32).reshape(ty.shape)
        (ty * torch.tensor(w)).sum().backward()
        x = dg.tensor(a, requires_grad=True)
        (dg.std(x, **kw) * dg.tensor(w)).sum().backward()
        with dg.graph_mode() as g:
            p = dg.placeholder(list(a.shape))
            (gp,) = dg.gradients((dg.std(p, **kw) * dg.constant(w)).sum(), [p])
        graph_grad = g.compile([gp], feeds=[p])(a)[0]
    want = tx.grad.numpy()
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-5, equal_nan=True)
    np.testing.assert_allclose(graph_grad, want, rtol=1e-5, equal_nan=True)
