"""dg.autograd.functional.{vjp, jvp, jacobian, hessian} against torch.autograd.functional."""
import numpy as np
import pytest

import dualgraph as dg


def _torch():
    return pytest.importorskip("torch")


def f1(L, x):
    return (x.exp() * x.sin()).sum(0)


def f2(L, x, y):
    return (x * y).tanh(), (x * x).sum() * y


def fs(L, x, y):
    return (x.exp() * y * y).sum()


def _np(t):
    return t.detach().numpy()


def _cmp(a, b):
    if isinstance(b, (tuple, list)):
        assert isinstance(a, (tuple, list)) and len(a) == len(b)
        for u, v in zip(a, b):
            _cmp(u, v)
    else:
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-10, atol=1e-12)


def _data(rng):
    return rng.standard_normal((3, 2)), rng.standard_normal((3, 2))


def test_jacobian_and_hessian():
    torch = _torch()
    x, y = _data(np.random.default_rng(0))
    F, TF = dg.autograd.functional, torch.autograd.functional
    _cmp(F.jacobian(lambda a: f1(dg, a), dg.tensor(x)), TF.jacobian(lambda a: f1(torch, a), torch.tensor(x)))
    _cmp(F.jacobian(lambda a, b: f2(dg, a, b), (dg.tensor(x), dg.tensor(y))),
         TF.jacobian(lambda a, b: f2(torch, a, b), (torch.tensor(x), torch.tensor(y))))
    _cmp(F.hessian(lambda a, b: fs(dg, a, b), (dg.tensor(x), dg.tensor(y))),
         TF.hessian(lambda a, b: fs(torch, a, b), (torch.tensor(x), torch.tensor(y))))
    _cmp(F.hessian(lambda a: fs(dg, a, a), dg.tensor(x)), TF.hessian(lambda a: fs(torch, a, a), torch.tensor(x)))


def test_vjp_jvp():
    torch = _torch()
    rng = np.random.default_rng(1)
    x, y = _data(rng)
    v = rng.standard_normal(2)
    F, TF = dg.autograd.functional, torch.autograd.functional
    _cmp(F.vjp(lambda a: f1(dg, a), dg.tensor(x), dg.tensor(v)),
         TF.vjp(lambda a: f1(torch, a), torch.tensor(x), torch.tensor(v)))
    _cmp(F.vjp(lambda a, b: fs(dg, a, b), (dg.tensor(x), dg.tensor(y))),
         TF.vjp(lambda a, b: fs(torch, a, b), (torch.tensor(x), torch.tensor(y))))
    u = (rng.standard_normal((3, 2)), rng.standard_normal((3, 2)))
    _cmp(F.jvp(lambda a, b: f2(dg, a, b), (dg.tensor(x), dg.tensor(y)), tuple(dg.tensor(t) for t in u)),
         TF.jvp(lambda a, b: f2(torch, a, b), (torch.tensor(x), torch.tensor(y)), tuple(torch.tensor(t) for t in u)))
    _cmp(F.jvp(lambda a: f1(dg, a), dg.tensor(x), dg.tensor(u[0])),
         TF.jvp(lambda a: f1(torch, a), torch.tensor(x), torch.tensor(u[0])))


def test_autograd_grad_still_there():
    x = dg.tensor([2.0], requires_grad=True)
    (g,) = dg.autograd.grad((x * x).sum(), x)
    assert float(g.detach().numpy()[0]) == 4.0
