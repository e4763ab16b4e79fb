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
