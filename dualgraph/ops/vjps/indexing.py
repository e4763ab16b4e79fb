"""Backward rules of the indexing ops (ops/indexing.py), PyTorch's formulas
(derivatives.yaml, FunctionsManual.cpp): index_select <-> index_add, scatter's gradient a
gather, scatter_reduce's per reduction, take_along_dim <-> take_along_dim_grad, masked_scatter
<-> masked_scatter_grad."""
import numpy as np

from ...errors import DGRuntimeError
from ..common import fmt_shape
from ..creation import full_like_op
from ..dispatch import apply
from ..elementwise import cast_op, masked_fill, where, logical_and
from ..indexing import (index_select_op, index_add_op, index_copy_op, index_fill_op, scatter_op,
                        scatter_add_op, scatter_reduce_op, take_along_dim_op,
                        take_along_dim_grad_op, masked_scatter_op, masked_scatter_grad_op)
from ..reductions import sum_op
from ..registry import defvjp
from ..shape import gather_op, reshape_op
from ..unbroadcast import unbroadcast, like_dtype


def _full(like, value, dtype=None):
    return apply(full_like_op, like, fill_value=value, dtype=dtype)


def _np(t):
    return np.dtype(t._np_dtype())


# ---------------------------------------------------------------- index_select / index_add
@defvjp(index_select_op)
def _index_select_vjp(g, n):
    x, index = n.inputs
    gx = apply(index_add_op, _full(x, 0, _np(g)), index, g, dim=n.attrs["dim"], alpha=1)
    return like_dtype(gx, x), None


@defvjp(index_add_op)
def _index_add_vjp(g, n):
    x, index, source = n.inputs
    alpha = n.attrs.get("alpha", 1)
    gs = None
    if n.needs[2]:
        gs = apply(index_select_op, g, index, dim=n.attrs["dim"])
        if alpha != 1:
            gs = gs * alpha
        if tuple(gs.shape) != tuple(source.shape) and None not in tuple(source.shape):
            gs = apply(reshape_op, gs, shape=tuple(source.shape))
    return (g if n.needs[0] else None), None, gs


@defvjp(index_copy_op)
def _index_copy_vjp(g, n):
    x, index, source = n.inputs
    d = n.attrs["dim"]
    gx = apply(index_fill_op, g, index, dim=d, fill=0) if n.needs[0] else None
    gs = None
    if n.needs[2]:
        gs = apply(index_select_op, g, index, dim=d)
        if tuple(gs.shape) != tuple(source.shape) and None not in tuple(source.shape):
            gs = apply(reshape_op, gs, shape=tuple(source.shape))
    return gx, None, gs


@defvjp(index_fill_op)
def _index_fill_vjp(g, n):
    """The filled positions get no gradient; a tensor value gets the sum of the gradient at
    them, each position once (PyTorch: grad.index_select(dim, unique(index)).sum())."""
    x, index, *value = n.inputs
    d = n.attrs["dim"]
    gx = apply(index_fill_op, g, index, dim=d, fill=0) if n.needs[0] else None
    out = (gx, None)
    if value:
        gv = None
        if n.needs[2]:
            mask = apply(index_fill_op, _full(g, False, np.dtype(bool)), index, dim=d, fill=True)
            gv = like_dtype(apply(sum_op, where(mask, g, 0.0), dim=None, keepdim=False,
                                  dtype=None), value[0])
        out += (gv,)
    return out


# ---------------------------------------------------------------- scatter family
def _check_src_shape(index, src, name):
    """src's gradient is gather(g, dim, index), of index's shape: PyTorch's autograd accepts it
    only when src's shape is index's or broadcasts to it (then it is summed), else raises."""
    ss, gsh = tuple(src.shape), tuple(index.shape)
    ok = len(ss) <= len(gsh) and all(a in (1, b) or None in (a, b) for a, b in zip(ss[::-1], gsh[::-1]))
    if not ok:
        raise DGRuntimeError(
            f"Function {name}Backward0 returned an invalid gradient at index 1 - got "
            f"{fmt_shape(gsh)} but expected shape compatible with {fmt_shape(ss)}")


def _src_grad(g, index, src, d, name):
    _check_src_shape(index, src, name)
    gs = _src_gather(g, index, d)
    return gs if tuple(src.shape) == tuple(gs.shape) else unbroadcast(gs, src)


@defvjp(scatter_op)
def _scatter_vjp(g, n):
    x, index, *src = n.inputs
    d = n.attrs["dim"]
    if n.attrs.get("reduce") is not None:
        raise DGRuntimeError("derivative for aten::scatter is not implemented")
    gx = apply(scatter_op, g, index, dim=d, value=0) if n.needs[0] else None
    out = (gx, None)
    if src:
        out += (_src_grad(g, index, src[0], d, "Scatter") if n.needs[2] else None,)
    return out


@defvjp(scatter_add_op)
def _scatter_add_vjp(g, n):
    x, index, src = n.inputs
    gs = _src_grad(g, index, src, n.attrs["dim"], "ScatterAdd") if n.needs[2] else None
    return (g if n.needs[0] else None), None, gs


@defvjp(scatter_reduce_op)
def _scatter_reduce_vjp(g, n):
    """PyTorch's scatter_reduce_backward: sum: g and gather(g); prod: exact with zeros (the
    product of the others); mean: g over the counts; amax/amin: shared evenly among the
    elements equal to the result (self's and src's). With include_self=False the scattered
    positions of self get none."""
    x, index, src = n.inputs
    a = n.attrs
    d, reduce, incl = a["dim"], a["reduce"], a.get("include_self", True)
    out = n.out
    dt = _np(x)
    gather = lambda t: _src_gather(t, index, d)  # noqa: E731
    if n.needs[2]:
        _check_src_shape(index, src, "ScatterReduce")
    if reduce == "sum":
        gx, gs = g, (gather(g) if n.needs[2] else None)
    elif reduce == "prod":
        masked_self = masked_fill(x, x == 0, 1)
        msr = apply(scatter_reduce_op, masked_self, index, src, dim=d, reduce="prod", include_self=incl)
        gx = g * msr / masked_self
        gs = None
        if n.needs[2]:
            src_zero = src == 0
            zeros = apply(scatter_add_op, _full(x, 0), index, apply(cast_op, src_zero, dtype=dt), dim=d)
            single = logical_and(src_zero, gather(zeros) == 1)
            masked_src = masked_fill(src, single, 1)
            msrc = apply(scatter_reduce_op, x, index, masked_src, dim=d, reduce="prod", include_self=incl)
            gs = where(single, gather(g * msrc), gather(g * out) / masked_fill(src, src_zero, 1))
    elif reduce == "mean":
        count = _full(g, 1 if incl else 0)
        count = apply(scatter_add_op, count, index, _full(src, 1, _np(g)), dim=d)
        count = masked_fill(count, count == 0, 1)
        gx = g / count
        gs = gather(g) / gather(count) if n.needs[2] else None
    else:  # amax / amin
        value = gather(out)
        self_is = apply(cast_op, x == out, dtype=dt)
        src_is = apply(cast_op, src == value, dtype=dt)
        count = apply(scatter_add_op, self_is, index, src_is, dim=d)
        gd = g / count
        gx = self_is * gd
        gs = src_is * gather(gd) if n.needs[2] else None
    if not incl and n.needs[0]:
        gx = apply(scatter_op, gx, index, dim=d, value=0)
    return (gx if n.needs[0] else None), None, gs


def _src_gather(t, index, d):
    """gather(t, d, index); for a 0-d t, its one element once per index element."""
    if len(t.shape) == 0:
        t1 = apply(reshape_op, t, shape=(1,))
        r = apply(gather_op, t1, apply(reshape_op, index, shape=(-1,)), dim=0)
        return apply(reshape_op, r, shape=tuple(index.shape))
    return apply(gather_op, t, index, dim=d)


# ---------------------------------------------------------------- take_along_dim
@defvjp(take_along_dim_op)
def _tad_vjp(g, n):
    x, indices = n.inputs
    return apply(take_along_dim_grad_op, g, indices, x, dim=n.attrs["dim"]), None


@defvjp(take_along_dim_grad_op)
def _tad_grad_vjp(gg, n):
    return apply(take_along_dim_op, gg, n.inputs[1], dim=n.attrs["dim"]), None, None


# ---------------------------------------------------------------- masked_scatter
@defvjp(masked_scatter_op)
def _masked_scatter_vjp(g, n):
    x, mask, source = n.inputs
    gx = unbroadcast(masked_fill(g, mask, 0), x) if n.needs[0] else None
    gs = apply(masked_scatter_grad_op, g, mask, source) if n.needs[2] else None
    return gx, None, gs


@defvjp(masked_scatter_grad_op)
def _masked_scatter_grad_vjp(gg, n):
    g, mask, _ = n.inputs
    return apply(masked_scatter_op, _full(g, 0), mask, gg), None, None
