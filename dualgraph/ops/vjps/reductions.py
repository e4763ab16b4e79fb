"""Backward rules of the reductions and the softmax family (ops/reductions.py)."""
import math as _math

from ..common import norm_dims, numel
from ..dispatch import apply
from ..elementwise import exp, maximum, where, logical_and, sign, abs
from ..reductions import (count_ratio_op, sum_op, mean_op, prod_op, amax_op, amin_op, var_op,
                          std_op, logsumexp_op, softmax_op, log_softmax_op,
                          cumsum_op, cumprod_op, norm_op)
from ..registry import defvjp
from ..shape import flip_op
from ..unbroadcast import broadcast_like, like_dtype


def _keep(t, x, dim, keepdim):
    """Re-insert the reduced dims (size 1) so t broadcasts against x."""
    if keepdim:
        return t
    for d in norm_dims(dim, x.ndim):
        t = t.unsqueeze(d)
    return t


def _count(x, out):
    """Number of elements reduced into each output element (static when shapes are known)."""
    nx, no = numel(tuple(x.shape)), numel(tuple(out.shape))
    if nx is not None and no is not None:
        return nx // no if no else 0
    return apply(count_ratio_op, x, out)


# ---------------------------------------------------------------- sum / mean / prod
@defvjp(sum_op)
def _sum_vjp(g, n):
    x = n.inputs[0]
    gx = broadcast_like(_keep(g, x, n.attrs.get("dim"), n.attrs.get("keepdim", False)), x)
    return (like_dtype(gx, x),)


@defvjp(mean_op)
def _mean_vjp(g, n):
    x = n.inputs[0]
    gb = broadcast_like(_keep(g, x, n.attrs.get("dim"), n.attrs.get("keepdim", False)), x)
    return (like_dtype(gb / _count(x, n.out), x),)


@defvjp(prod_op)
def _prod_vjp(g, n):
    """d prod / d x_i = product of the other elements, exact with zeros (PyTorch's
    prod_backward): no zero in the slice -> out / x_i; exactly one zero -> the product of the
    non-zeros at the zero, 0 elsewhere; two or more zeros -> 0 everywhere."""
    x = n.inputs[0]
    dim, keep = n.attrs.get("dim"), n.attrs.get("keepdim", False)
    zero = x == 0
    xs = where(zero, 1.0, x)
    ps = broadcast_like(apply(prod_op, xs, dim=dim, keepdim=True), x)
    nz = broadcast_like(apply(sum_op, zero, dim=dim, keepdim=True), x)
    local = where(zero, where(nz == 1, ps, 0.0), where(nz == 0, ps / xs, 0.0))
    return (like_dtype(broadcast_like(_keep(g, x, dim, keep), x) * local, x),)


# ---------------------------------------------------------------- amax / amin
def _extreme_vjp(g, n):
    """The gradient is shared among the elements equal to the extreme (max(x, dim) gathers
    instead, so its gradient goes to one element)."""
    x = n.inputs[0]
    dim, keep = n.attrs.get("dim"), n.attrs.get("keepdim", False)
    mask = x == broadcast_like(_keep(n.out, x, dim, keep), x)
    count = broadcast_like(apply(sum_op, mask, dim=dim, keepdim=True), x)
    return (like_dtype(broadcast_like(_keep(g, x, dim, keep), x) * mask / count, x),)


defvjp(amax_op, _extreme_vjp)
defvjp(amin_op, _extreme_vjp)


# ---------------------------------------------------------------- var / std
def _centered(n):
    x = n.inputs[0]
    dim = n.attrs.get("dim")
    m = apply(mean_op, x, dim=dim, keepdim=True)
    return x - broadcast_like(m, x), x, dim, n.attrs.get("keepdim", False), n.attrs.get("correction", 1)


def _inv_dof(x, out, c, scale):
    """scale / max(0, N - correction), +inf when no degree of freedom is left (PyTorch)."""
    k = _count(x, out)
    if isinstance(k, int):
        return scale / (k - c) if k - c > 0 else _math.inf
    return scale / maximum(k - c, 0.0)


@defvjp(var_op)
def _var_vjp(g, n):
    xc, x, dim, keep, c = _centered(n)
    return (broadcast_like(_keep(g, x, dim, keep), x) * xc * _inv_dof(x, n.out, c, 2.0),)


@defvjp(std_op)
def _std_vjp(g, n):
    xc, x, dim, keep, c = _centered(n)
    # 0 where the std is 0 (all values equal), not 0/0: PyTorch's masked_fill(result == 0, 0)
    gs = _keep(where(n.out == 0, 0.0, g / n.out), x, dim, keep)
    return (broadcast_like(gs, x) * xc * _inv_dof(x, n.out, c, 1.0),)


# ---------------------------------------------------------------- logsumexp / softmax family
@defvjp(logsumexp_op)
def _lse_vjp(g, n):
    x = n.inputs[0]
    dim, keep = n.attrs.get("dim"), n.attrs.get("keepdim", False)
    return (broadcast_like(_keep(g, x, dim, keep), x) * exp(x - broadcast_like(_keep(n.out, x, dim, keep), x)),)


@defvjp(softmax_op)
def _softmax_vjp(g, n):
    y = n.out
    dim = n.attrs["dim"]
    s = apply(sum_op, g * y, dim=dim, keepdim=True)
    return (y * (g - broadcast_like(s, y)),)


@defvjp(log_softmax_op)
def _log_softmax_vjp(g, n):
    y = n.out
    dim = n.attrs["dim"]
    s = apply(sum_op, g, dim=dim, keepdim=True)
    return (g - exp(y) * broadcast_like(s, y),)



# ---------------------------------------------------------------- cumsum / cumprod
def _revcumsum(t, dim):
    """sum over k >= i along dim: the adjoint of cumsum."""
    f = apply(flip_op, t, dims=(dim,))
    return apply(flip_op, apply(cumsum_op, f, dim=dim), dims=(dim,))


@defvjp(cumsum_op)
def _cumsum_vjp(g, n):
    x = n.inputs[0]
    if x.ndim == 0:
        return (like_dtype(g, x),)
    return (like_dtype(_revcumsum(g, n.attrs["dim"]), x),)


@defvjp(cumprod_op)
def _cumprod_vjp(g, n):
    """Exact with zeros (PyTorch's cumprod_backward): before a slice's first zero,
    revcumsum(g * out) / x; at the first zero, revcumsum(g * cumprod(x with that zero set to
    1)); after it, 0."""
    x = n.inputs[0]
    if x.ndim == 0:
        return (like_dtype(g, x),)
    dim = n.attrs["dim"]
    out = n.out
    zero = x == 0
    nz = apply(cumsum_op, zero, dim=dim)
    first = logical_and(zero, nz == 1)
    safe = where(zero, 1.0, x)
    before = _revcumsum(g * out, dim) / safe
    at_first = _revcumsum(g * apply(cumprod_op, where(first, 1.0, x), dim=dim), dim)
    r = where(first, at_first, where(nz == 0, before, 0.0))
    return (like_dtype(r, x),)


# ---------------------------------------------------------------- vector norms
@defvjp(norm_op)
def _norm_vjp(g, n):
    x = n.inputs[0]
    a = n.attrs
    p, dim, keep = a.get("ord", 2.0), a.get("dim"), a.get("keepdim", False)
    if a.get("dtype") is not None:
        from ..elementwise import cast_op
        x = apply(cast_op, x, dtype=a["dtype"])
    gb = broadcast_like(_keep(g, x, dim, keep), x)
    out = broadcast_like(_keep(n.out, x, dim, keep), x)
    if p == 0:
        r = gb * 0.0
    elif p == 1:
        r = gb * sign(x)
    elif p in (_math.inf, -_math.inf):
        mask = abs(x) == out
        count = broadcast_like(apply(sum_op, mask, dim=dim, keepdim=True), x)
        r = gb * sign(x) * mask / count
    elif p == 2:
        r = where(out == 0, 0.0, gb * x / where(out == 0, 1.0, out))
    else:
        safe = where(out == 0, 1.0, out)
        r = where(out == 0, 0.0, gb * x * abs(x) ** (p - 2) / safe ** (p - 1))
    return (like_dtype(r, n.inputs[0]),)
