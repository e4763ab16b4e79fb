"""Backward rules of the elementwise ops (ops/elementwise.py): arithmetic, unary math, clamp,
where/masked_fill, casts. `n.needs[i]` says whether input i's gradient is wanted."""
import math as _math

from ..common import is_scalar
from ..creation import full_like_op
from ..dispatch import apply
from ..elementwise import (add_op, sub_op, mul_op, div_op, pow_op, maximum_op, minimum_op,
                           floor_divide_op, trunc_divide_op, remainder_op, fmod_op, neg_op, abs_op, sign_op, exp_op,
                           log_op, log1p_op, sqrt_op, rsqrt_op, sin_op, cos_op, tanh_op,
                           sigmoid_op, tanh_backward_op, sigmoid_backward_op, relu_op, relu_backward_op, clamp_op, where_op, masked_fill_op, cast_op,
                           logical_and_op, where, logical_and, log, sign, cos, sin,
                           floor_op, ceil_op, trunc_op, round_op,
                           erf_op, gelu_op, silu_op, elu_op, softplus_op, erf, exp, sigmoid,
                           tanh, clamp, _SQRT1_2, _TWO_OVER_SQRT_PI, _GELU_TANH_BETA,
                           _GELU_TANH_KAPPA)
from ..registry import defvjp
from ..unbroadcast import unbroadcast
from ...dtypes import to_np


# ---------------------------------------------------------------- binary arithmetic
@defvjp(add_op)
def _add_vjp(g, n):
    a, b = n.inputs
    return unbroadcast(g, a), unbroadcast(g, b)


@defvjp(sub_op)
def _sub_vjp(g, n):
    a, b = n.inputs
    return unbroadcast(g, a), (unbroadcast(-g, b) if n.needs[1] else None)


@defvjp(mul_op)
def _mul_vjp(g, n):
    a, b = n.inputs
    return (unbroadcast(g * b, a) if n.needs[0] else None,
            unbroadcast(g * a, b) if n.needs[1] else None)


@defvjp(div_op)
def _div_vjp(g, n):
    a, b = n.inputs
    return (unbroadcast(g / b, a) if n.needs[0] else None,
            unbroadcast(-g * a / (b * b), b) if n.needs[1] else None)


@defvjp(pow_op)
def _pow_vjp(g, n):
    """PyTorch's rules (derivatives.yaml pow_backward_self / pow_backward_exponent):
    d/da = b * a**(b-1), taken as 0 where b == 0 (so 0**0 has a zero gradient);
    d/db = a**b * log(a), taken as 0 where a == 0 and b >= 0 (nan for a < 0, as PyTorch)."""
    a, b = n.inputs
    ga = gb = None
    if n.needs[0] and not is_scalar(a):
        if is_scalar(b):
            ga = apply(full_like_op, a, fill_value=0) if b == 0 else g * (b * a ** (b - 1))
        else:
            ga = where(b == 0, 0.0, g * (b * a ** (b - 1)))
        ga = unbroadcast(ga, a)
    if n.needs[1] and not is_scalar(b):
        if is_scalar(a):
            if a == 0:
                gb = where(b >= 0, 0.0, g * n.out * -_math.inf)
            else:
                gb = g * n.out * (_math.log(a) if a > 0 else _math.nan)
        else:
            gb = where(logical_and(a == 0, b >= 0), 0.0, g * n.out * log(a))
        gb = unbroadcast(gb, b)
    return ga, gb


def _maxmin_vjp(cmp):
    """PyTorch's rule: g, halved at ties, zeroed where the other operand wins; so a NaN
    operand (which wins, as maximum's NaN propagates) gets g, and so does the other one."""
    def vjp(g, n):
        a, b = n.inputs
        half = g * 0.5
        ties = a == b
        return (unbroadcast(where(cmp(b, a), 0.0, where(ties, half, g)), a),
                unbroadcast(where(cmp(a, b), 0.0, where(ties, half, g)), b))
    return vjp


defvjp(maximum_op, _maxmin_vjp(lambda a, b: a > b))
defvjp(minimum_op, _maxmin_vjp(lambda a, b: a < b))


@defvjp(remainder_op)
def _remainder_vjp(g, n):
    a, b = n.inputs
    gb = unbroadcast(-g * apply(floor_divide_op, a, b), b) if n.needs[1] else None
    return unbroadcast(g, a), gb


@defvjp(fmod_op)
def _fmod_vjp(g, n):
    """PyTorch's rule (derivatives.yaml fmod.Tensor): g for the dividend, -g * trunc(a / b)
    for the divisor (-inf where b is 0, as there)."""
    a, b = n.inputs
    gb = unbroadcast(-g * apply(trunc_divide_op, a, b), b) if n.needs[1] else None
    return unbroadcast(g, a), gb


def _zero_vjp(g, n):
    """Piecewise-constant ops: the result requires grad, with a zero gradient (PyTorch's
    zeros_like) for each tensor input, shaped like it (a broadcast operand); no value is read."""
    return tuple(apply(full_like_op, x, fill_value=0) if n.needs[i] and not is_scalar(x)
                 else None for i, x in enumerate(n.inputs))


# floor_divide: a zero gradient, as PyTorch's div(rounding_mode='floor') (its floor_divide raises
# "derivative for aten::floor_divide is not implemented" at backward; both require grad)
defvjp(floor_divide_op, _zero_vjp)
defvjp(trunc_divide_op, _zero_vjp)
defvjp(sign_op, _zero_vjp)
# floor, ceil, trunc, round: piecewise constant, PyTorch's zeros_like
for _op in (floor_op, ceil_op, trunc_op, round_op):
    defvjp(_op, _zero_vjp)


# ---------------------------------------------------------------- unary math
defvjp(neg_op, lambda g, n: (-g,))
defvjp(abs_op, lambda g, n: (g * sign(n.inputs[0]),))
defvjp(exp_op, lambda g, n: (g * n.out,))
defvjp(log_op, lambda g, n: (g / n.inputs[0],))
defvjp(log1p_op, lambda g, n: (g / (n.inputs[0] + 1),))
defvjp(sqrt_op, lambda g, n: (g / (n.out * 2),))
defvjp(rsqrt_op, lambda g, n: (g * (n.out ** 3) * -0.5,))
defvjp(sin_op, lambda g, n: (g * cos(n.inputs[0]),))
defvjp(cos_op, lambda g, n: (-g * sin(n.inputs[0]),))
defvjp(tanh_op, lambda g, n: (apply(tanh_backward_op, g, n.out),))
defvjp(sigmoid_op, lambda g, n: (apply(sigmoid_backward_op, g, n.out),))


@defvjp(tanh_backward_op)
def _tanh_backward_vjp(gg, n):
    """d/dg = 1 - y*y; d/dy = -2 y g (PyTorch's tanh_backward's own derivative)."""
    g, y = n.inputs
    return (apply(tanh_backward_op, gg, y) if n.needs[0] else None,
            unbroadcast(gg * g * y * -2.0, y) if n.needs[1] else None)


@defvjp(sigmoid_backward_op)
def _sigmoid_backward_vjp(gg, n):
    """d/dg = y (1 - y); d/dy = g (1 - 2y)."""
    g, y = n.inputs
    return (apply(sigmoid_backward_op, gg, y) if n.needs[0] else None,
            unbroadcast(gg * g * (1 - 2 * y), y) if n.needs[1] else None)
defvjp(relu_op, lambda g, n: (apply(relu_backward_op, g, n.out),))


@defvjp(relu_backward_op)
def _relu_backward_vjp(gg, n):
    """Linear in g (the same mask again); y only selects: no gradient through it."""
    g, y = n.inputs
    return (apply(relu_backward_op, gg, y) if n.needs[0] else None,
            apply(full_like_op, y, fill_value=0) if n.needs[1] else None)


# ---------------------------------------------------------------- erf and the smooth activations
# PyTorch's formulas (derivatives.yaml, GeluKernel / silu_backward / elu_backward /
# softplus_backward), written with dualgraph ops so they differentiate again
defvjp(erf_op, lambda g, n: (g * exp(-(n.inputs[0] * n.inputs[0])) * _TWO_OVER_SQRT_PI,))

_GELU_PDF = _TWO_OVER_SQRT_PI * _SQRT1_2 * 0.5      # 1 / sqrt(2 pi)


@defvjp(gelu_op)
def _gelu_vjp(g, n):
    x = n.inputs[0]
    if n.attrs.get("approximate", "none") == "tanh":
        x_sq = x * x
        t = tanh((x + x_sq * x * _GELU_TANH_KAPPA) * _GELU_TANH_BETA)
        left = x * 0.5
        right = t + 1
        d_right = left * (1 - t * t) * _GELU_TANH_BETA * (x_sq * (3 * _GELU_TANH_KAPPA) + 1)
        return (g * (right * 0.5 + d_right),)
    cdf = (erf(x * _SQRT1_2) + 1) * 0.5
    pdf = exp(x * x * -0.5) * _GELU_PDF
    return (g * (cdf + x * pdf),)


@defvjp(silu_op)
def _silu_vjp(g, n):
    x = n.inputs[0]
    s = sigmoid(x)
    return (g * s * (x * (1 - s) + 1),)


@defvjp(elu_op)
def _elu_vjp(g, n):
    x = n.inputs[0]
    alpha = n.attrs.get("alpha", 1.0)
    # exp of the clamped input: the branch not taken stays finite (no 0 * inf in the gradient)
    # (x <= 0, not x > 0: at a NaN input g passes, as in PyTorch's kernel)
    return (where(x <= 0, g * exp(clamp(x, max=0.0)) * alpha, g),)


@defvjp(softplus_op)
def _softplus_vjp(g, n):
    x = n.inputs[0]
    beta, threshold = n.attrs.get("beta", 1.0), n.attrs.get("threshold", 20.0)
    bx = x * beta
    return (where(bx > threshold, g, g * sigmoid(bx)),)


@defvjp(clamp_op)
def _clamp_vjp(g, n):
    x = n.inputs[0]
    lo, hi = n.attrs.get("min"), n.attrs.get("max")
    mask = None
    if lo is not None:
        mask = x >= lo
    if hi is not None:
        m2 = x <= hi
        mask = m2 if mask is None else apply(logical_and_op, mask, m2)
    return (where(mask, g, 0.0),)  # a select (PyTorch's clamp_backward): no inf * 0


# ---------------------------------------------------------------- selection
@defvjp(where_op)
def _where_vjp(g, n):
    c, x, y = n.inputs
    return (None,
            unbroadcast(where(c, g, 0.0), x) if n.needs[1] else None,
            unbroadcast(where(c, 0.0, g), y) if n.needs[2] else None)


@defvjp(masked_fill_op)
def _masked_fill_vjp(g, n):
    x, mask, value = n.inputs
    gv = None
    if n.needs[2] and not is_scalar(value):
        gv = where(mask, g, 0.0).sum()
    return unbroadcast(where(mask, 0.0, g), x), None, gv


# ---------------------------------------------------------------- dtype casts
@defvjp(cast_op)
def _cast_vjp(g, n):
    x = n.inputs[0]
    dt = to_np(x.dtype)
    if dt.kind != "f":
        return (None,)
    if n.attrs.get("into_target"):
        return (g,)   # (the writing op's rule casts each input's gradient itself)
    return (apply(cast_op, g, dtype=dt),)
