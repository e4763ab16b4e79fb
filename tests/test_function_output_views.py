"""A dg.function returns views as eager code does: `return h[0], h` gives a view of h (a write to
h shows in it), whichever comes first in the result, and a view returned twice is one tensor.
Eager and compiled are compared over several calls, with gradients through both outputs."""
import numpy as np
import pytest

import dualgraph as dg


def _view_first(x):
    h = x * 2.0
    return h[0], h


def _view_twice(x):
    h = x * 2.0
    v = h[1:]
    return v, h, v


def _argument_view_twice(x):
    v = x[1:]
    return v, v


def _run(fn, x):
    outs = fn(x)
    same = [[a is b for b in outs] for a in outs]
    return outs, same


@pytest.mark.parametrize("fn", [_view_first, _view_twice, _argument_view_twice])
def test_views_among_the_outputs_are_views_as_eagerly(fn):
    f = dg.function(fn)
    for call in range(3):
        x = dg.randn(3, 4)
        (e, e_same), (c, c_same) = _run(fn, x), _run(f, x)
        assert c_same == e_same, f"call {call}: which outputs are one tensor"
        for t in (e, c):   # a write to the last output (the base) shows in the views of it
            t[-1].add_(1.0)
        for a, b in zip(c, e):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_gradients_through_a_view_returned_before_its_base():
    f = dg.function(_view_first)
    for call in range(3):
        grads = []
        for run in (_view_first, f):
            x = dg.tensor(np.arange(12.0, dtype=np.float32).reshape(3, 4) + call, requires_grad=True)
            v, h = run(x)
            (v * 3.0).sum().backward(retain_graph=True)
            (h * h).sum().backward()
            grads.append(x.grad.numpy().copy())
        np.testing.assert_array_equal(grads[1], grads[0])


def _contiguous_of_param_view(p):
    def fn(x):
        v = p[:2]
        c = v.contiguous()          # eagerly v itself (it is contiguous)
        return x * 1, c, v, p[1:].contiguous()
    return fn


def _view_of_param_after_detached_read(p, b):
    def fn(x):
        b.copy_(p.detach())         # p read without grad first
        return (p[:2] * x).sum(), p[:2], p.t()
    return fn


def test_outputs_made_by_view_ops_from_other_outputs_are_as_eagerly():
    """`c = v.contiguous()` returned with v: eagerly one tensor, whichever comes first."""
    p = dg.nn.Parameter(dg.tensor([1.0, 2.0, 3.0]))
    fn = _contiguous_of_param_view(p)
    f = dg.function(fn)
    for run in (fn, f, f):
        out = run(dg.tensor([1.0]))
        assert out[1] is out[2] and out[1]._base is p and out[3]._base is p
        assert out[3] is not out[2]


def test_view_of_a_parameter_read_after_its_detach_carries_its_gradient():
    """(A silent divergence before: the view came back as a view of the detached alias, not
    requiring grad, so a loss through it gave p no gradient.)"""
    res = {}
    for mode in ("eager", "compiled"):
        p = dg.nn.Parameter(dg.tensor([1.0, 2.0, 3.0]))
        b = dg.zeros(3)
        fn = _view_of_param_after_detached_read(p, b)
        f = fn if mode == "eager" else dg.function(fn)
        got = []
        for k in range(3):
            p.grad = None
            loss, v, t = f(dg.tensor([float(k + 1)]))
            (loss + (v * v).sum() + t.sum()).backward()
            got.append((v.requires_grad, v._base is p, t._base is p, p.grad.tolist()))
        res[mode] = got
    assert res["eager"][0][:3] == (True, True, True)
    assert res["compiled"] == res["eager"]


def test_identity_of_trivial_views_is_pytorchs():
    """t() and .T of a tensor of < 2 dims are views of it (not it); flatten() of a 1-d tensor
    is the tensor itself; ravel() never is (torch 2.x)."""
    x = dg.tensor([1.0, 2.0])
    s = dg.tensor(3.0)
    assert x.t() is not x and x.t()._base is x and dg.t(x) is not x and x.T is not x
    assert s.t() is not s and s.T is not s
    assert x.flatten() is x and dg.flatten(x) is x and x.ravel() is not x
    m = dg.ones(2, 3)
    assert m.flatten(1, 1) is m
