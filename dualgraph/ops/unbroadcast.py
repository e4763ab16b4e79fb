"""The one place where broadcasting is undone in backward rules (HIPS autograd's `unbroadcast`).

`unbroadcast(g, x)` sums `g` down to the shape of input `x`. With fully known shapes the target
is a static attribute; with unknown (None) dims in graph mode it reads `x`'s shape at run time.
The ops `sum_to` and `broadcast_to` are defined here; their rules are in ops/vjps/unbroadcast.py.
"""
import numpy as np

from ..dtypes import to_np

from .common import Spec, c_order, numel
from .dispatch import apply
from .elementwise import cast_op
from .registry import defop


def _sum_to_shape(g, shape):
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, d in enumerate(shape) if d == 1 and g.shape[i + lead] != 1)
    r = c_order(g).sum(axis=axes, keepdims=True) if axes else g
    return r.reshape(shape) if lead or r.shape != shape else r


def _sum_to_forward(g, like=None, shape=None):
    return _sum_to_shape(g, like.shape if like is not None else shape)


def _sum_to_infer(g, like=None, shape=None):
    return Spec(like.shape if like is not None else shape, g.dtype)


sum_to = defop("sum_to", _sum_to_forward, _sum_to_infer, saves=(), may_alias=True,
               doc="sum a broadcast gradient back down to a shape (backward of broadcasting)")


def _broadcast_like_forward(x, like=None, shape=None):
    return np.broadcast_to(x, like.shape if like is not None else shape)


broadcast_to_op = defop(
    "broadcast_to", _broadcast_like_forward, _sum_to_infer, view=True, saves=(),
    doc="broadcast to a shape (backward of sum-like reductions); a read-only view")


EAGER_TENSOR = [()]  # dualgraph.tensor registers the eager Tensor class here (import order)


def _static(shape):
    return numel(shape) is not None


def unbroadcast(g, x):
    """Sum gradient g down to x's shape, in x's dtype (PyTorch hands every input a gradient of
    its own dtype: float32 x + float64 y gives x a float32 gradient); None when x is not a
    tensor (a Python scalar)."""
    if g is None or isinstance(x, (int, float, bool, np.number)):
        return None
    if isinstance(x, EAGER_TENSOR[0]) and isinstance(g, EAGER_TENSOR[0]):
        xa, ga = x._data, g._data  # eager fast path: the common case needs no work at all
        if xa.shape == ga.shape and xa.dtype == ga.dtype:
            return g
    xs = tuple(x.shape)
    if _static(xs):
        r = g if tuple(g.shape) == xs else apply(sum_to, g, shape=xs)
    else:
        r = apply(sum_to, g, x)
    return like_dtype(r, x)


def like_dtype(g, x):
    """g cast to x's floating dtype when they differ (the gradient of a promoted input)."""
    if g is None:
        return None
    gd, xd = to_np(g.dtype), to_np(x.dtype)
    if gd == xd or xd.kind != "f":
        return g
    return apply(cast_op, g, dtype=xd)


def broadcast_like(g, x):
    """Broadcast g (reduced with keepdim) back up to x's shape."""
    xs = tuple(x.shape)
    if _static(xs):
        return g if tuple(g.shape) == xs else apply(broadcast_to_op, g, shape=xs)
    return apply(broadcast_to_op, g, x)
