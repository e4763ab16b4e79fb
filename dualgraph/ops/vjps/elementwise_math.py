"""Backward rules of the math ops of ops/elementwise_math.py: PyTorch's formulas
(derivatives.yaml and its helpers: atan2_backward, sinc_backward, logit_backward, ...), in the
same order of operations, written with dualgraph ops so they differentiate again.
`n.needs[i]` says whether input i's gradient is wanted."""
import math as _math

from ..common import is_scalar
from ..creation import full_like_op
from ..dispatch import apply
from ..elementwise import where, logical_and, logical_or, rsqrt, exp, cos, sin
from ..elementwise_math import (tan_op, sinh_op, cosh_op, asin_op, acos_op, atan_op, asinh_op,
                                acosh_op, atanh_op, log2_op, log10_op, exp2_op, expm1_op,
                                reciprocal_op, sinc_op, logit_op, frac_op, nan_to_num_op,
                                atan2_op, hypot_op, logaddexp_op, logaddexp2_op, nextafter_op,
                                copysign_op, xlogy_op, heaviside_op, fmax_op, fmin_op,
                                clamp_min_op, clamp_max_op, clamp_tensor_op, lerp_op, addcmul_op, addcdiv_op,
                                _logit_bounds, isfinite, isnan, sinh, cosh, reciprocal, xlogy)
from ..registry import defvjp
from ..unbroadcast import unbroadcast
from ...dtypes import to_np

_LN2 = 0.6931471805599453     # M_LN2
_LN10 = 2.302585092994046     # M_LN10


def _zeros(x):
    return apply(full_like_op, x, fill_value=0) if not is_scalar(x) else None


# ---------------------------------------------------------------- unary
defvjp(tan_op, lambda g, n: (g * (n.out * n.out + 1),))
defvjp(sinh_op, lambda g, n: (g * cosh(n.inputs[0]),))
defvjp(cosh_op, lambda g, n: (g * sinh(n.inputs[0]),))
defvjp(asin_op, lambda g, n: (g * rsqrt(-n.inputs[0] * n.inputs[0] + 1),))
defvjp(acos_op, lambda g, n: (g * -rsqrt(-n.inputs[0] * n.inputs[0] + 1),))
defvjp(atan_op, lambda g, n: (g / (n.inputs[0] * n.inputs[0] + 1),))
defvjp(asinh_op, lambda g, n: (g * rsqrt(n.inputs[0] * n.inputs[0] + 1),))
defvjp(acosh_op, lambda g, n: (g * rsqrt(n.inputs[0] * n.inputs[0] - 1),))
defvjp(atanh_op, lambda g, n: (g / (1 - n.inputs[0] * n.inputs[0]),))
defvjp(log2_op, lambda g, n: (g / (n.inputs[0] * _LN2),))
defvjp(log10_op, lambda g, n: (g / (n.inputs[0] * _LN10),))
defvjp(exp2_op, lambda g, n: (g * n.out * _LN2,))
defvjp(expm1_op, lambda g, n: (g * (n.out + 1),))
defvjp(reciprocal_op, lambda g, n: (-g * (n.out * n.out),))
defvjp(frac_op, lambda g, n: (g,))
# (PyTorch: grad * isfinite(self): an infinite or NaN input passes no gradient)
defvjp(nan_to_num_op, lambda g, n: (g * isfinite(n.inputs[0]),))


@defvjp(sinc_op)
def _sinc_vjp(g, n):
    """sinc_backward: g (pi x cos(pi x) - sin(pi x)) / (pi x^2), 0 where pi x^2 is 0."""
    x = n.inputs[0]
    x_pi = x * _math.pi
    x_sq_pi = x * x * _math.pi
    out = g * (x_pi * cos(x_pi) - sin(x_pi)) / x_sq_pi
    return (where(x_sq_pi == 0.0, 0.0, out),)


@defvjp(logit_op)
def _logit_vjp(g, n):
    """logit_backward: g / (x (1 - x)), g * inf at x = 0 or 1 (-0.0 too); outside [0, 1] NaN
    without eps, 0 outside [eps, 1 - eps] with it."""
    x = n.inputs[0]
    core = where(logical_or(x == 0, x == 1), g * _math.inf, g / (x * (1 - x)))
    b = _logit_bounds(to_np(x.dtype), n.attrs.get("eps"))
    if b is None:
        return (where(logical_or(x < 0, x > 1), _math.nan, core),)
    lo, hi = (float(v) for v in b)
    return (where(logical_or(x < lo, x > hi), 0.0, core),)


# ---------------------------------------------------------------- binary
@defvjp(atan2_op)
def _atan2_vjp(g, n):
    """atan2_backward: recip = 1 / (a^2 + b^2), taken as 0 where a^2 + b^2 is 0 (PyTorch's: a
    zero gradient at the origin, and where the squares underflow); g b recip and g (-a) recip."""
    a, b = n.inputs
    denom = a * a + b * b
    recip = where(denom == 0, 0.0, reciprocal(denom))
    return (unbroadcast(g * b * recip, a) if n.needs[0] else None,
            unbroadcast(g * -a * recip, b) if n.needs[1] else None)


@defvjp(hypot_op)
def _hypot_vjp(g, n):
    a, b = n.inputs
    return (unbroadcast(g * a / n.out, a) if n.needs[0] else None,
            unbroadcast(g * b / n.out, b) if n.needs[1] else None)


@defvjp(logaddexp_op)
def _logaddexp_vjp(g, n):
    a, b = n.inputs
    return (unbroadcast(g / (exp(b - a) + 1), a) if n.needs[0] else None,
            unbroadcast(g / (exp(a - b) + 1), b) if n.needs[1] else None)


@defvjp(logaddexp2_op)
def _logaddexp2_vjp(g, n):
    a, b = n.inputs
    return (unbroadcast(g / (2.0 ** (b - a) + 1), a) if n.needs[0] else None,
            unbroadcast(g / (2.0 ** (a - b) + 1), b) if n.needs[1] else None)


@defvjp(nextafter_op)
def _nextafter_vjp(g, n):
    """(PyTorch has no derivative for nextafter.) The step is at most one ulp: the identity in
    the input, nothing through the direction."""
    a, b = n.inputs
    return (unbroadcast(g, a) if n.needs[0] else None, _zeros(b) if n.needs[1] else None)


@defvjp(copysign_op)
def _copysign_vjp(g, n):
    """copysign_tensor_self_backward: g * result / self, 0 where self == 0; zeros for other."""
    a, b = n.inputs
    ga = None
    if n.needs[0] and not is_scalar(a):
        ga = unbroadcast(g * where(a == 0, 0.0, n.out / a), a)
    return ga, (_zeros(b) if n.needs[1] else None)


@defvjp(xlogy_op)
def _xlogy_vjp(g, n):
    """self: xlogy(g, other), 0 where self == 0 and other <= 0; other: g * self / other."""
    a, b = n.inputs
    ga = gb = None
    if n.needs[0] and not is_scalar(a):
        r = xlogy(g, b)
        if is_scalar(b):
            if b <= 0:
                r = where(a == 0, 0.0, r)
        else:
            r = where(logical_and(a == 0, b <= 0), 0.0, r)
        ga = unbroadcast(r, a)
    if n.needs[1] and not is_scalar(b):
        gb = unbroadcast(g * a / b, b)
    return ga, gb


# heaviside: piecewise constant (PyTorch has no derivative for it): zeros
defvjp(heaviside_op, lambda g, n: tuple(_zeros(x) if n.needs[i] else None
                                        for i, x in enumerate(n.inputs)))


def _fmaxmin_vjp(cmp):
    """derivatives.yaml: self gets g where cmp(self, other) or other is NaN, other elsewhere
    (so at a tie all of it goes to self)."""
    def vjp(g, n):
        a, b = n.inputs
        to_a = logical_or(cmp(a, b), isnan(b))
        return (unbroadcast(where(to_a, g, 0.0), a) if n.needs[0] else None,
                unbroadcast(where(to_a, 0.0, g), b) if n.needs[1] else None)
    return vjp


defvjp(fmax_op, _fmaxmin_vjp(lambda a, b: a >= b))
defvjp(fmin_op, _fmaxmin_vjp(lambda a, b: a <= b))


@defvjp(clamp_min_op)
def _clamp_min_vjp(g, n):
    """clamp_min.Tensor (and .Scalar): self where self >= min, min where self < min (neither
    at a NaN)."""
    x, m = n.inputs
    return (unbroadcast(where(x >= m, g, 0.0), x) if n.needs[0] else None,
            unbroadcast(where(x < m, g, 0.0), m) if n.needs[1] and not is_scalar(m) else None)


@defvjp(clamp_max_op)
def _clamp_max_vjp(g, n):
    x, m = n.inputs
    return (unbroadcast(where(x <= m, g, 0.0), x) if n.needs[0] else None,
            unbroadcast(where(x > m, g, 0.0), m) if n.needs[1] and not is_scalar(m) else None)


@defvjp(clamp_tensor_op)
def _clamp_tensor_vjp(g, n):
    """clamp_backward_min_max: x where min <= x <= max, min where x < min < max, max where
    x > max or max < min (so with min == max and x below, neither bound gets it)."""
    x, lo, hi = n.inputs
    return (unbroadcast(where(logical_and(x >= lo, x <= hi), g, 0.0), x) if n.needs[0] else None,
            unbroadcast(where(logical_and(x < lo, lo < hi), g, 0.0), lo)
            if n.needs[1] and not is_scalar(lo) else None,
            unbroadcast(where(logical_or(x > hi, hi < lo), g, 0.0), hi)
            if n.needs[2] and not is_scalar(hi) else None)


# ---------------------------------------------------------------- ternary
@defvjp(lerp_op)
def _lerp_vjp(g, n):
    """self: g (1 - weight); end: g weight; weight: g (end - self)."""
    a, e, w = n.inputs
    return (unbroadcast(g * (1 - w), a) if n.needs[0] else None,
            unbroadcast(g * w, e) if n.needs[1] else None,
            unbroadcast(g * (e - a), w) if n.needs[2] and not is_scalar(w) else None)


@defvjp(addcmul_op)
def _addcmul_vjp(g, n):
    a, t1, t2 = n.inputs
    v = n.attrs.get("value", 1)
    return (unbroadcast(g, a) if n.needs[0] else None,
            unbroadcast(g * (t2 * v), t1) if n.needs[1] else None,
            unbroadcast(g * (t1 * v), t2) if n.needs[2] else None)


@defvjp(addcdiv_op)
def _addcdiv_vjp(g, n):
    a, t1, t2 = n.inputs
    v = n.attrs.get("value", 1)
    return (unbroadcast(g, a) if n.needs[0] else None,
            unbroadcast(g * (v / t2), t1) if n.needs[1] else None,
            unbroadcast(-g * (v * t1 / (t2 * t2)), t2) if n.needs[2] else None)
