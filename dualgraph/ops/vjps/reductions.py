"""Backward rules of the reductions and the softmax family (ops/reductions.py)."""
import math as _math

from ..common import norm_dim, norm_dims, numel
from ..creation import full_like_op
from ..dispatch import apply
from ..elementwise import exp, maximum, where, logical_and, logical_or, sign, abs
from ..nn_ops import constant_pad_op
from ..reductions import (count_ratio_op, sum_op, mean_op, prod_op, amax_op, amin_op, var_op,
                          std_op, logsumexp_op, softmax_op, log_softmax_op,
                          cumsum_op, cumprod_op, norm_op, any_op)
from ..registry import defvjp
from ..shape import flip_op, reshape_op, reshape_like_op
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


def _exclusive_cumprod(x, d):
    """[1, x0, x0*x1, ...] along dim d: the product of the elements before each."""
    pads = tuple((1, -1) if i == d else (0, 0) for i in range(x.ndim))
    return apply(constant_pad_op, apply(cumprod_op, x, dim=d), pads=pads, value=1.0)


@defvjp(prod_op)
def _prod_vjp(g, n):
    """PyTorch's prod_backward: g * out / x when the whole tensor holds no zero; otherwise the
    product of the others, from the exclusive cumprods before and after each element (exact
    with zeros, infs and NaNs: out / x would give inf / inf or 0 * inf)."""
    x = n.inputs[0]
    dim, keep = n.attrs.get("dim"), n.attrs.get("keepdim", False)
    if x.ndim == 0:
        return (like_dtype(g, x),)
    gb = broadcast_like(_keep(g, x, dim, keep), x)
    # (the op does not save its output: recomputed, the same kernel)
    out = broadcast_like(apply(prod_op, x, dim=dim, keepdim=True, dtype=n.attrs.get("dtype")), x)
    xf, d = (apply(reshape_op, x, shape=(-1,)), 0) if dim is None else (x, norm_dim(dim, x.ndim))
    before = _exclusive_cumprod(xf, d)
    after = apply(flip_op, _exclusive_cumprod(apply(flip_op, xf, dims=(d,)), d), dims=(d,))
    others = before * after
    if dim is None:
        others = apply(reshape_like_op, others, x)
    anyzero = apply(any_op, x == 0, dim=None, keepdim=False)
    return (like_dtype(gb * where(anyzero, others, out / x), x),)


# ---------------------------------------------------------------- amax / amin
def _extreme_vjp(g, n):
    """The gradient is shared among the elements equal to the extreme (max(x, dim) gathers
    instead, so its gradient goes to one element)."""
    x = n.inputs[0]
    dim, keep = n.attrs.get("dim"), n.attrs.get("keepdim", False)
    if n.attrs.get("evenly"):
        # max(x) / min(x): PyTorch's evenly_distribute_backward, g / count written into zeros
        # at the extremes, or at the NaNs when the result is NaN (it is iff x holds one), so
        # no 0 * inf and no NaN == NaN
        mask = logical_or(x == n.out, x != x)
        count = apply(sum_op, mask, dim=None, keepdim=False)
        return (like_dtype(where(mask, g / count, 0.0), x),)
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
    revcumsum(g * out, over the terms before it) / x; at the first zero, revcumsum(g *
    cumprod(x with that zero set to 1), over the terms before the second zero); after it, 0."""
    x = n.inputs[0]
    dim = n.attrs["dim"]
    if x.ndim == 0 or x.shape[dim] == 1:  # (PyTorch returns g: not x / x, NaN at inf)
        return (like_dtype(g, x),)
    out = n.out
    zero = x == 0
    nz = apply(cumsum_op, zero, dim=dim)
    pre, one = nz == 0, nz == 1
    first = logical_and(zero, one)
    safe = where(zero, 1.0, x)
    # the terms past a zero (past the second one for the first zero) are dropped, not
    # multiplied by their 0 (an inf g there would give NaN): PyTorch's masked_fill
    before = _revcumsum(where(pre, g * out, 0.0), dim) / safe
    at_first = _revcumsum(
        where(one, g * apply(cumprod_op, where(first, 1.0, x), dim=dim), 0.0), dim)
    r = where(first, at_first, where(pre, before, 0.0))
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
        r = apply(full_like_op, x, fill_value=0)  # (not g * 0.0: NaN for an inf g)
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
