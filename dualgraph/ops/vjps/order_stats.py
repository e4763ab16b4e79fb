"""Backward rules of the order statistics (ops/order_stats.py), PyTorch's formulas.

The index ops (median_indices, kthvalue_indices, mode_indices, cummax_indices) give int64
indices: no gradient (their values are gathered at them, and gather's rule sends the gradient
to the selected element). median() shares its gradient evenly among the elements equal to the
median (evenly_distribute_backward); logcumsumexp is logcumsumexp_backward; quantile's is the
chain PyTorch's autograd takes through its composite (sort, gather, lerp)."""
import numpy as np

from ..creation import full_op
from ..dispatch import apply
from ..elementwise import (abs as _abs, cast_op, ceil, exp, floor, log, logical_and, logical_not,
                           logical_or, masked_fill, round as _round, where)
from ..order_stats import (median_op, median_indices_op, kthvalue_indices_op, mode_indices_op,
                           cummax_indices_op, logcumsumexp_op, quantile_op, quantile_out_shape,
                           nansum_op)
from ..reductions import any_op, argsort_op, sum_op
from ..registry import defvjp
from ..shape import flip_op, gather_op, permute_op, reshape_op, scatter_add_zeros_op
from ..unbroadcast import broadcast_like, like_dtype
from .reductions import _keep


def _no_gradient(g, n):
    """An int64 result: nothing flows back (the values' gradient goes through gather)."""
    return (None,) * len(n.inputs)


for _op in (median_indices_op, kthvalue_indices_op, mode_indices_op, cummax_indices_op):
    defvjp(_op, _no_gradient)


@defvjp(median_op)
def _median_vjp(g, n):
    """evenly_distribute_backward: g / count at the elements equal to the median (at the NaNs
    when it is NaN)."""
    x, out = n.inputs[0], n.out
    mask = logical_or(x == out, logical_and(x != x, out != out))
    count = apply(sum_op, mask, dim=None, keepdim=False, dtype=None)
    return (like_dtype(where(mask, g / count, 0.0), x),)


def _np(t):
    return np.dtype(t._np_dtype())


@defvjp(nansum_op)
def _nansum_vjp(g, n):
    """PyTorch's nansum_backward: sum's gradient times (x == x)."""
    x = n.inputs[0]
    gb = broadcast_like(_keep(g, x, n.attrs.get("dim"), n.attrs.get("keepdim", False)), x)
    return (like_dtype(gb * apply(cast_op, x == x, dtype=_np(gb)), x),)


def _revlcse(t, d):
    f = apply(flip_op, t, dims=(d,))
    return apply(flip_op, apply(logcumsumexp_op, f, dim=d), dims=(d,))


@defvjp(logcumsumexp_op)
def _logcumsumexp_vjp(g, n):
    """PyTorch's logcumsumexp_backward: the positive and the negative parts of g, each a
    reversed logcumsumexp in log space."""
    x, out = n.inputs[0], n.out
    if len(g.shape) == 0:
        return (g,)
    d = n.attrs["dim"] % len(g.shape)
    lowest = float(np.finfo(_np(g)).min)
    log_abs = log(_abs(g))
    pos = where(g > 0, log_abs, lowest)
    neg = where(g < 0, log_abs, lowest)
    out_pos = exp(_revlcse(pos - out, d) + x)
    out_neg = exp(_revlcse(neg - out, d) + x)
    return (out_pos - out_neg,)


# ---------------------------------------------------------------- quantile
def _moved(x, dim):
    """x with the reduced dim last, as the kernel (_q_moved) has it, and the way back."""
    shape = tuple(x.shape)
    if dim is None or len(shape) == 0:
        return apply(reshape_op, x, shape=(-1,)), lambda t: apply(reshape_op, t, shape=shape)
    nd = len(shape)
    order = tuple(i for i in range(nd) if i != dim) + (dim,)
    back = tuple(int(i) for i in np.argsort(order))
    return apply(permute_op, x, dims=order), lambda t: apply(permute_op, t, dims=back)


@defvjp(quantile_op)
def _quantile_vjp(g, n):
    """lerp's rule (g * (1 - w) to the value below, g * w to the one above), then gather's and
    sort's: scattered back to where the sorted values came from."""
    x, *q = n.inputs
    a = n.attrs
    dim, keepdim, interp, ignore_nan = a["dim"], a["keepdim"], a["interpolation"], a["ignore_nan"]
    dt = _np(x)
    m, back = _moved(x, dim)
    nlast = len(m.shape) - 1
    idx = apply(argsort_op, m, dim=-1, descending=False, stable=True)
    s = apply(gather_op, m, idx, dim=-1)
    size = m.shape[-1]
    if q:
        qv = apply(reshape_op, q[0], shape=(-1,))
        qshape = tuple(q[0].shape)
    else:
        qv = apply(full_op, shape=(1,), fill_value=a["qs"], dtype=dt)
        qshape = ()
    isnan = s != s
    if ignore_nan:
        cnt = apply(sum_op, logical_not(isnan), dim=-1, keepdim=True, dtype=None)
        scale = apply(cast_op, cnt - 1, dtype=dt)
        ranks = qv * scale
        filled = ranks < 0
        ranks = masked_fill(ranks, filled, 0)
    else:
        last = size - 1
        scale = float(last)
        filled = apply(any_op, isnan, dim=-1, keepdim=True)
        ranks = where(filled, apply(full_op, shape=(1,), fill_value=last, dtype=dt), qv * last)
    if interp == "lower":
        ranks = floor(ranks)
    elif interp == "higher":
        ranks = ceil(ranks)
    elif interp == "nearest":
        ranks = _round(ranks)
    below = apply(cast_op, ranks, dtype=np.dtype(np.int64))
    # g as (..., k): the keepdim dims dropped, q's dim (first) moved last
    rest = quantile_out_shape(tuple(x.shape), (), dim, False)
    gm = apply(reshape_op, g, shape=tuple(qshape) + tuple(rest))
    if qshape:
        nd = len(gm.shape)
        gm = apply(permute_op, gm, dims=tuple(range(1, nd)) + (0,))
    else:
        gm = apply(reshape_op, gm, shape=tuple(rest) + (1,))
    gq = None
    if interp in ("linear", "midpoint"):
        w = apply(full_op, shape=(1,), fill_value=0.5, dtype=dt) if interp == "midpoint" else \
            ranks - apply(cast_op, below, dtype=dt)
        above = apply(cast_op, ceil(ranks), dtype=np.dtype(np.int64))
        gs = apply(scatter_add_zeros_op, gm * (1 - w), below, s, dim=nlast) + \
            apply(scatter_add_zeros_op, gm * w, above, s, dim=nlast)
        if q and interp == "linear" and n.needs[1]:
            gq = _quantile_q_grad(gm, s, below, above, scale, filled, qshape, ignore_nan)
    else:
        gs = apply(scatter_add_zeros_op, gm, below, s, dim=nlast)
    gx = back(apply(scatter_add_zeros_op, gs, idx, m, dim=nlast))
    # lower/higher/nearest round the ranks and midpoint's weight is 0.5: q gets no gradient
    # there (None, as PyTorch: its rounding and full_like cut q off the graph)
    return (like_dtype(gx, x),) + ((gq,) if q else ())


def _quantile_q_grad(gm, s, below, above, scale, filled, qshape, ignore_nan):
    """q's gradient through the weights of linear interpolation, PyTorch's chain: lerp's
    g * (above - below) to the weights (ranks - floor(ranks)), then the masked_fill that set
    the ranks (0 where it wrote: NaN in the slice for quantile, a negative rank for
    nanquantile) and the rank's scale, summed over the slices."""
    last = len(gm.shape) - 1
    gw = gm * (apply(gather_op, s, above, dim=last) - apply(gather_op, s, below, dim=last))
    gw = masked_fill(gw, filled, 0)
    lead = tuple(range(last))
    if ignore_nan:   # ranks = q * (count - 1): the scale is per slice
        gq = apply(sum_op, gw * scale, dim=lead, keepdim=False, dtype=None) if lead else gw * scale
    else:            # ranks = q * (n - 1), broadcast to the slices: summed, then scaled
        gq = (apply(sum_op, gw, dim=lead, keepdim=False, dtype=None) if lead else gw) * scale
    return apply(reshape_op, gq, shape=tuple(qshape))
