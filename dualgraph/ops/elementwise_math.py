"""The rest of PyTorch's elementwise math: trigonometric and hyperbolic functions and their
inverses, log2/log10/exp2/expm1, reciprocal, sinc, logit, frac, nan_to_num; the binary atan2,
hypot, logaddexp(2), xlogy, copysign, heaviside, fmax/fmin, nextafter and clamp_min/clamp_max
with a tensor bound; the ternary lerp, addcmul, addcdiv, and clamp (its public function: one
bound is clamp_min/clamp_max, two numbers the clamp op, tensor bounds clamp_tensor); and the
compositions and aliases of PyTorch's namespace (deg2rad, square, float_power, ldexp, the
predicates isnan ... signbit, logical_xor, true_divide, multiply, subtract, greater, ...,
arcsin, ...).

Each op is a numpy kernel (a ufunc where there is one: `ufunc=` lets a compiled plan write into
its buffers), a shape/dtype rule with PyTorch's promotion (integer and bool inputs of the float
functions compute in float32, as torch's default dtype) and error wording; the backward rules
are in ops/vjps/elementwise_math.py, written with dualgraph ops.

The predicates (isnan, isinf, isfinite, isposinf, isneginf, isreal, signbit) and logical_xor
are compositions of the comparison ops (eq, ne, lt, logical_or, full_like): bool results, no
gradient, and the same values as PyTorch's kernels, in both modes.
"""
import math as _math

import numpy as np

from ..dtypes import result_type, F32, F64, scalar_name
from ..errors import DGRuntimeError, DGNotImplementedError, DGTypeError
from .common import (Spec, binary_infer, float_binary_infer, float_unary_infer, same_infer,
                     broadcast_shapes, shape_of, operand, ctype_name, is_scalar as _is_scalar)
from .creation import full_like_op
from .dispatch import apply, apply_inplace
from .registry import defop, reads_for
from . import elementwise as E
from .elementwise import _binary_kernel, _float_kernel, _quiet, _operand, _out

_nd = np.ndarray


# ---------------------------------------------------------------- helpers
def _is_tensor(x):
    return hasattr(x, "shape") and hasattr(x, "dtype") and not _is_scalar(x)


def _need_tensor(fname, x, pos, argname):
    """PyTorch's argument parser: this argument must be a tensor (no Number overload)."""
    if not _is_tensor(x):
        raise DGTypeError(
            f"{fname}(): argument '{argname}' (position {pos}) must be Tensor, not {type(x).__name__}")


def _need_tensors(fname, input, other, other_name="other"):
    _need_tensor(fname, input, 1, "input")
    _need_tensor(fname, other, 2, other_name)


def _np_dtype(t):
    return t._np_dtype()


def _floaty(x):
    """A float operand (a float array, or a Python float) of a kernel."""
    return x.dtype.kind == "f" if type(x) is _nd else isinstance(x, (float, np.floating))


def _floats_only(kernel):
    """The kernel of an op PyTorch has for floating results only: fail on an integer or bool
    result, so the shape rule words PyTorch's error."""
    def checked(a, b):
        if not (_floaty(a) or _floaty(b)):
            raise TypeError("integer operands")
        return kernel(a, b)
    checked.__name__ = getattr(kernel, "__name__", "kernel")
    return checked


def _float_result_infer(kernel_name):
    """binary_infer, refusing an integer or bool result as PyTorch's dispatch does
    ("hypot_cpu" not implemented for 'Long')."""
    def infer(a, b):
        s = binary_infer(a, b)
        if s.dtype.kind != "f":
            raise DGNotImplementedError(f'"{kernel_name}" not implemented for \'{scalar_name(s.dtype)}\'')
        return s
    return infer


def _promoted(*xs):
    """The operands as arrays of PyTorch's result dtype (and that dtype)."""
    want = result_type(*(_operand(x) for x in xs))
    out = []
    for x in xs:
        if type(x) is _nd:
            out.append(x if x.dtype == want else x.astype(want))
        else:
            out.append(np.asarray(x).astype(want))
    return out, want


# ---------------------------------------------------------------- unary math (float results)
def _unary_op(name, ufunc, saves=None, saves_output=False):
    return defop(name, _quiet(_float_kernel(ufunc)), float_unary_infer, elementwise=True,
                 ufunc=ufunc, saves=saves, saves_output=saves_output)


tan_op = _unary_op("tan", np.tan, saves=(), saves_output=True)
sinh_op = _unary_op("sinh", np.sinh)
cosh_op = _unary_op("cosh", np.cosh)
asin_op = _unary_op("asin", np.arcsin)
acos_op = _unary_op("acos", np.arccos)
atan_op = _unary_op("atan", np.arctan)
asinh_op = _unary_op("asinh", np.arcsinh)
acosh_op = _unary_op("acosh", np.arccosh)
atanh_op = _unary_op("atanh", np.arctanh)
log2_op = _unary_op("log2", np.log2)
log10_op = _unary_op("log10", np.log10)
exp2_op = _unary_op("exp2", np.exp2, saves=(), saves_output=True)
expm1_op = _unary_op("expm1", np.expm1, saves=(), saves_output=True)
reciprocal_op = _unary_op("reciprocal", np.reciprocal, saves=(), saves_output=True)


def _in_f32(kernel):
    """float16 computed in float32 and rounded once, as PyTorch's kernels do (opmath)."""
    def k(x, *args, **kw):
        if x.dtype == np.float16:
            return kernel(x.astype(F32), *args, **kw).astype(np.float16)
        return kernel(x, *args, **kw)
    k.__name__ = kernel.__name__
    return k


def _sinc_kernel(x):
    """PyTorch's sinc: 1 at 0, else sin(pi x) / (pi x), in the input's float dtype (pi rounded
    to it, as c10::pi<float>)."""
    if x.dtype.kind != "f":
        x = x.astype(F32)
    y = np.multiply(x, x.dtype.type(_math.pi))
    r = np.divide(np.sin(y), y)
    return np.asarray(np.where(x == 0, x.dtype.type(1), r), dtype=x.dtype)


sinc_op = defop("sinc", _quiet(_in_f32(_sinc_kernel)), float_unary_infer, elementwise=True)


def _logit_bounds(dtype, eps):
    """(lo, hi) in the input's dtype, as PyTorch's kernel computes them (hi = 1 - eps there),
    or None: no clamping (eps None, NaN or negative)."""
    if eps is None or not eps >= 0:
        return None
    lo = dtype.type(eps)
    return lo, dtype.type(1) - lo


def _logit_kernel(x, eps=None):
    if x.dtype.kind != "f":
        x = x.astype(F32)
    b = _logit_bounds(x.dtype, eps)
    if b is not None:
        lo, hi = b
        x = np.where(x < lo, lo, np.where(x > hi, hi, x))  # (NaN stays NaN)
    one = x.dtype.type(1)
    return np.asarray(np.log(np.divide(x, np.subtract(one, x))), dtype=x.dtype)


logit_op = defop("logit", _quiet(_in_f32(_logit_kernel)), float_unary_infer, elementwise=True)


def _frac_infer(x):
    if x.dtype.kind != "f":
        raise DGNotImplementedError(f'"frac_cpu" not implemented for \'{scalar_name(x.dtype)}\'')
    return Spec(x.shape, x.dtype)


def _frac_kernel(x):
    """x - trunc(x), as PyTorch (frac(-0.0) is +0.0, frac(inf) NaN)."""
    if x.dtype.kind != "f":
        raise TypeError("frac of integers")
    return np.subtract(x, np.trunc(x))


frac_op = defop("frac", _quiet(_frac_kernel), _frac_infer, elementwise=True, saves=())


def _nan_to_num_kernel(x, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf, -inf replaced (by 0 and the dtype's largest and lowest finite values unless
    given; a value beyond the dtype rounds to inf, as PyTorch casts it); integers and bools
    copied unchanged."""
    if x.dtype.kind != "f":
        return x.copy()
    return np.nan_to_num(x, copy=True, nan=nan, posinf=posinf, neginf=neginf)


nan_to_num_op = defop("nan_to_num", _quiet(_nan_to_num_kernel), same_infer, elementwise=True,
                      torch_name="NanToNum")


# ---------------------------------------------------------------- binary math
atan2_op = defop("atan2", _quiet(_binary_kernel(np.arctan2, floating=True)), float_binary_infer,
                 elementwise=True, ufunc=np.arctan2)
hypot_op = defop("hypot", _floats_only(_quiet(_binary_kernel(np.hypot))),
                 _float_result_infer("hypot_cpu"), elementwise=True, ufunc=np.hypot,
                 saves_output=True)
logaddexp_op = defop("logaddexp", _floats_only(_quiet(_binary_kernel(np.logaddexp))),
                     _float_result_infer("logaddexp_cpu"), elementwise=True, ufunc=np.logaddexp)
logaddexp2_op = defop("logaddexp2", _floats_only(_quiet(_binary_kernel(np.logaddexp2))),
                      _float_result_infer("logaddexp2_cpu"), elementwise=True, ufunc=np.logaddexp2)
nextafter_op = defop("nextafter", _floats_only(_binary_kernel(np.nextafter)),
                     _float_result_infer("nextafter_cpu"), elementwise=True, ufunc=np.nextafter,
                     saves=())
copysign_op = defop("copysign", _quiet(_binary_kernel(np.copysign, floating=True)),
                    float_binary_infer, elementwise=True, ufunc=np.copysign, saves=(0,),
                    saves_output=True)


def _xlogy_kernel(x, y):
    """PyTorch's xlogy: NaN where y is NaN, else 0 where x == 0, else x * log(y); integers and
    bools compute in float32."""
    (x, y), want = _promoted(x, y)
    if want.kind != "f" or want == np.float16:   # (float16: computed in float32, rounded once)
        x, y = x.astype(F32), y.astype(F32)
    out = F32 if want.kind != "f" else want
    r = np.multiply(x, np.log(y))
    r = np.where(x == 0, x.dtype.type(0), r)
    return np.asarray(np.where(np.isnan(y), x.dtype.type(np.nan), r), dtype=out)


xlogy_op = defop("xlogy", _quiet(_xlogy_kernel), float_binary_infer, elementwise=True)


def _heaviside_infer(x, v):
    s = binary_infer(x, v)
    if not (isinstance(x, Spec) and isinstance(v, Spec)) or x.dtype != v.dtype:
        raise DGRuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    return s


def _heaviside_kernel(x, v):
    """values where x == 0, else (x > 0) (so 0 at NaN, as PyTorch; numpy's heaviside gives NaN)."""
    if type(x) is not _nd or type(v) is not _nd or x.dtype != v.dtype:
        raise TypeError("heaviside dtypes")
    return np.asarray(np.where(x == 0, v, x > 0), dtype=x.dtype)


heaviside_op = defop("heaviside", _heaviside_kernel, _heaviside_infer, elementwise=True,
                     saves=())


def _fmaxmin_kernel(greater):
    """PyTorch's fmax / fmin: the NaN-ignoring maximum (minimum), the first operand on a tie
    (so fmax(-0.0, 0.0) is -0.0, unlike numpy's fmax); NaN only where both are NaN."""
    def kernel(a, b):
        (a, b), want = _promoted(a, b)
        take_b = np.less(a, b) if greater else np.greater(a, b)
        if want.kind == "f":
            take_b |= np.isnan(a)
        return np.asarray(np.where(take_b, b, a), dtype=want)
    kernel.__name__ = "fmax" if greater else "fmin"
    return kernel


fmax_op = defop("fmax", _fmaxmin_kernel(True), binary_infer, elementwise=True)
fmin_op = defop("fmin", _fmaxmin_kernel(False), binary_infer, elementwise=True)


def _clamp_tensor_kernel(lower):
    """clamp_min / clamp_max (a tensor or a number bound): the bound where it wins, or where
    it is NaN (NaN propagates from either operand, as PyTorch's); the input on a tie.

    numpy's maximum / minimum against a broadcast operand (a number bound, a per-channel one)
    runs an unvectorised loop: from a few thousand elements the bound is copied into the
    output first and the ufunc run on two operands of one shape, 2x (float32, int32) to 10x
    (1-byte types) faster; not for int64 / uint64 / float16, where it is not faster. The zero
    tie fix-up runs only where a zero can meet a zero (benchmarks/README.md, clamp_min)."""
    pick = np.maximum if lower else np.minimum
    filled = frozenset(np.dtype(t) for t in (np.bool_, np.int8, np.uint8, np.int16, np.uint16,
                                             np.int32, np.uint32, np.float32, np.float64))
    fill_min = 4096
    count = np.count_nonzero

    def fits(m, shape):   # m broadcasts to `shape` itself (the result's shape is x's)
        k = len(shape) - m.ndim
        return k >= 0 and all(d == 1 or d == s for d, s in zip(m.shape, shape[k:]))

    def any_(b):   # (count_nonzero has no Python wrapper: faster than any() on small masks)
        return b.any() if b.size > 32768 else count(b) > 0

    def kernel(x, m):
        if type(x) is _nd and type(m) is not _nd:   # a number bound: _promoted, inline
            want = result_type((x.dtype, x.ndim), m.item() if isinstance(m, np.generic) else m)
            if x.dtype != want:
                x = x.astype(want)
            m = np.asarray(m).astype(want)
        else:
            (x, m), want = _promoted(x, m)
        if x.size >= fill_min and m.shape != x.shape and want in filled and fits(m, x.shape):
            out = np.empty_like(x)
            np.copyto(out, m)
            pick(x, out, out=out)   # (one pass; NaN from either operand)
        else:
            out = pick(x, m)
            if type(out) is not _nd:   # (two 0-d operands give a numpy scalar)
                out = np.asarray(out)
        if want.kind == "f":
            # a tie of two zeros: numpy's maximum picks either zero, PyTorch keeps the input's
            # (other equal values have the same bits); none unless a zero can meet a zero:
            # the smaller operand (a number bound, say) is looked at first
            if m.ndim == 0:
                fix = m.item() == 0
            else:
                s = m if m.size <= x.size else x
                fix = s.size == out.size or any_(s == 0)
            if fix:
                tie = np.equal(x, m)
                if any_(tie):
                    np.copyto(out, x, where=tie)
        return out
    kernel.__name__ = "clamp_min" if lower else "clamp_max"
    return kernel


clamp_min_op = defop("clamp_min", _clamp_tensor_kernel(True), binary_infer, elementwise=True)
clamp_max_op = defop("clamp_max", _clamp_tensor_kernel(False), binary_infer, elementwise=True)


# ---------------------------------------------------------------- ternary: lerp, addcmul, addcdiv
def _broadcast3(a, b, c):
    """The broadcast shape of three, pairwise from the left as PyTorch's infer_size (so a
    mismatch names the shape so far and the third one)."""
    return broadcast_shapes(broadcast_shapes(a, b), c)


def _clamp_bounds_kernel(x, lo, hi):
    """clamp with a tensor bound (ATen's clamp kernel, its scalar loop): max(x, min) then
    min(., max) by strict comparisons, so x is kept on a tie (a -0.0 stays -0.0 at a 0.0
    bound), max wins where min > max, and a NaN x, min or max gives NaN."""
    (x, lo, hi), want = _promoted(x, lo, hi)
    y = np.where(x < lo, lo, x)
    y = np.where(y > hi, hi, y)
    if want.kind == "f":
        y = np.where(np.isnan(lo) | np.isnan(hi), np.asarray(np.nan, want), y)
    return np.asarray(y, dtype=want)


def _clamp_bounds_infer(x, lo, hi):
    return Spec(_broadcast3(x.shape, shape_of(lo), shape_of(hi)),
                result_type(operand(x), operand(lo), operand(hi)))


# torch.clamp(x, min, max) with a tensor bound (clamp.Tensor: ClampBackward0); one bound alone is
# clamp_min / clamp_max, two number bounds the clamp op (its numpy clip): see clamp() below
clamp_tensor_op = defop("clamp_tensor", _clamp_bounds_kernel, _clamp_bounds_infer,
                        elementwise=True, torch_name="Clamp")


def _lerp_infer(a, e, w):
    if not isinstance(a, Spec) or not isinstance(e, Spec):
        raise DGTypeError("lerp(): input and end must be tensors")
    if e.dtype != a.dtype:
        raise DGRuntimeError(
            f"expected dtype {ctype_name(a.dtype)} for `end` but got dtype {ctype_name(e.dtype)}")
    if isinstance(w, Spec) and len(w.shape) and w.dtype != a.dtype:
        raise DGRuntimeError(
            f"expected dtype {ctype_name(a.dtype)} for `weight` but got dtype {ctype_name(w.dtype)}")
    shape = _broadcast3(a.shape, e.shape, shape_of(w))
    if a.dtype.kind != "f":
        kernel = "lerp_kernel_tensor" if isinstance(w, Spec) else "lerp_kernel_scalar"
        raise DGNotImplementedError(f'"{kernel}" not implemented for \'{scalar_name(a.dtype)}\'')
    return Spec(shape, a.dtype)


def _lerp_kernel(a, e, w):
    """PyTorch's lerp: a + w (e - a) where |w| < 0.5, else e - (e - a)(1 - w), in a's dtype."""
    dt = a.dtype
    if dt.kind != "f" or e.dtype != dt:
        raise TypeError("lerp dtypes")
    if type(w) is _nd and w.ndim and w.dtype != dt:
        raise TypeError("lerp weight dtype")
    if dt == np.float16:   # (computed in float32, rounded once: PyTorch's opmath)
        w = w.astype(F32) if type(w) is _nd else w
        return _lerp_kernel(a.astype(F32), e.astype(F32), w).astype(dt)
    if type(w) is _nd:
        w = w.astype(dt, copy=False)
    else:
        w = dt.type(w)
    d = np.subtract(e, a)
    one = dt.type(1)
    small = np.abs(w) < 0.5
    if type(w) is not _nd:   # (one weight: one formula)
        r = np.add(a, np.multiply(w, d)) if small else np.subtract(e, np.multiply(d, one - w))
    else:
        r = np.where(small, np.add(a, np.multiply(w, d)),
                     np.subtract(e, np.multiply(d, np.subtract(one, w))))
    return np.asarray(r, dtype=dt)


lerp_op = defop("lerp", _quiet(_lerp_kernel), _lerp_infer, elementwise=True)

_ADDCDIV_INT = (
    "Integer division with addcdiv is no longer supported, and in a future  release addcdiv will "
    "perform a true division of tensor1 and tensor2. The historic addcdiv behavior can be "
    "implemented as (input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer "
    "inputs and as (input + value * tensor1 / tensor2) for float inputs. The future addcdiv "
    "behavior is just the latter implementation: (input + value * tensor1 / tensor2), for all "
    "dtypes.")


def _addc_infer(name):
    def infer(a, t1, t2, value=1):
        if name == "addcdiv" and all(isinstance(t, Spec) and t.dtype.kind in "iub" for t in (t1, t2)):
            raise DGRuntimeError(_ADDCDIV_INT)
        shape = _broadcast3(shape_of(a), shape_of(t1), shape_of(t2))
        dt = result_type(operand(a), operand(t1), operand(t2))
        if dt.kind == "b":
            raise DGNotImplementedError(f'"{name}_cpu_out" not implemented for \'Bool\'')
        return Spec(shape, dt)
    return infer


def _scalar_in(value, dtype):
    """A Python number as PyTorch's Scalar.to<scalar_t>() (truncated into an integer dtype,
    wrapped modulo 2**bits)."""
    with np.errstate(all="ignore"):
        return np.array(value).astype(dtype)[()]


def _addcmul_kernel(a, t1, t2, value=1):
    """input + value * t1 * t2, in PyTorch's order ((value * t1) * t2, then the sum)."""
    (a, t1, t2), want = _promoted(a, t1, t2)
    if want.kind == "b":
        raise TypeError("bool addcmul")
    v = _scalar_in(value, want)
    return np.asarray(np.add(a, np.multiply(np.multiply(v, t1), t2)), dtype=want)


def _addcdiv_kernel(a, t1, t2, value=1):
    """input + value * t1 / t2, in PyTorch's order ((value * t1) / t2, then the sum)."""
    if all(getattr(t, "dtype", np.dtype(np.float32)).kind in "iub" for t in (t1, t2)):
        raise TypeError("integer addcdiv")
    (a, t1, t2), want = _promoted(a, t1, t2)
    if want.kind == "b":
        raise TypeError("bool addcdiv")
    v = _scalar_in(value, want)
    return np.asarray(np.add(a, np.divide(np.multiply(v, t1), t2)), dtype=want)


addcmul_op = defop("addcmul", _quiet(_addcmul_kernel), _addc_infer("addcmul"), elementwise=True,
                   saves=reads_for((), (2,), (1,)))
addcdiv_op = defop("addcdiv", _quiet(_addcdiv_kernel), _addc_infer("addcdiv"), elementwise=True,
                   saves=reads_for((), (2,), (1, 2)))


# ---------------------------------------------------------------- public functions: unary
def tan(input, *, out=None):
    return _out(apply(tan_op, input), out, "tan")


def sinh(input, *, out=None):
    return _out(apply(sinh_op, input), out, "sinh")


def cosh(input, *, out=None):
    return _out(apply(cosh_op, input), out, "cosh")


def asin(input, *, out=None):
    return _out(apply(asin_op, input), out, "asin")


def acos(input, *, out=None):
    return _out(apply(acos_op, input), out, "acos")


def atan(input, *, out=None):
    return _out(apply(atan_op, input), out, "atan")


def asinh(input, *, out=None):
    return _out(apply(asinh_op, input), out, "asinh")


def acosh(input, *, out=None):
    return _out(apply(acosh_op, input), out, "acosh")


def atanh(input, *, out=None):
    return _out(apply(atanh_op, input), out, "atanh")


arcsin, arccos, arctan = asin, acos, atan
arcsinh, arccosh, arctanh = asinh, acosh, atanh


def log2(input, *, out=None):
    return _out(apply(log2_op, input), out, "log2")


def log10(input, *, out=None):
    return _out(apply(log10_op, input), out, "log10")


def exp2(input, *, out=None):
    return _out(apply(exp2_op, input), out, "exp2")


def expm1(input, *, out=None):
    return _out(apply(expm1_op, input), out, "expm1")


def reciprocal(input, *, out=None):
    return _out(apply(reciprocal_op, input), out, "reciprocal")


def sinc(input, *, out=None):
    return _out(apply(sinc_op, input), out, "sinc")


def _eps(eps):
    return None if eps is None else float(eps)


def logit(input, eps=None, *, out=None):
    return _out(apply(logit_op, input, eps=_eps(eps)), out, "logit")


def frac(input, *, out=None):
    return _out(apply(frac_op, input), out, "frac")


_PI_180 = 0.017453292519943295769236907684886127134428718885417   # M_PI / 180, PyTorch's
_180_PI = 57.295779513082320876798154814105170332405472466564    # 180 / M_PI


def deg2rad(input, *, out=None):
    """input * (pi / 180) (PyTorch's very product: integers and bools give float32)."""
    return _out(apply(E.mul_op, input, _PI_180), out, "deg2rad")


def rad2deg(input, *, out=None):
    return _out(apply(E.mul_op, input, _180_PI), out, "rad2deg")


def square(input, *, out=None):
    """torch.square: input ** 2 (an integer or bool tensor gives int64 for bool, its own dtype
    otherwise, as PyTorch's pow)."""
    return _out(apply(E.pow_op, input, 2), out, "square")


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    return _out(apply(nan_to_num_op, input, nan=nan, posinf=posinf, neginf=neginf), out,
                "nan_to_num")


def positive(input):
    """torch.positive: the input itself (a bool tensor is refused, as PyTorch's unary +)."""
    if _is_tensor(input) and _np_dtype(input).kind == "b":
        raise DGRuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


negative = E.neg
absolute = E.abs


# ---------------------------------------------------------------- the predicates (bool results)
def _false_like(input, value=False):
    return apply(full_like_op, input, fill_value=value, dtype=np.dtype(bool))


def isnan(input):
    """x != x: True at NaN only (integers and bools: all False)."""
    _need_tensor("isnan", input, 1, "input")
    return apply(E.ne_op, input, input)


def isinf(input):
    _need_tensor("isinf", input, 1, "input")
    return apply(E.logical_or_op, apply(E.eq_op, input, _math.inf),
                 apply(E.eq_op, input, -_math.inf))


def isposinf(input, *, out=None):
    _need_tensor("isposinf", input, 1, "input")
    return _out(apply(E.eq_op, input, _math.inf), out, "isposinf")


def isneginf(input, *, out=None):
    _need_tensor("isneginf", input, 1, "input")
    return _out(apply(E.eq_op, input, -_math.inf), out, "isneginf")


def isfinite(input):
    """|x| < inf (False at NaN and +-inf); integers and bools: all True."""
    _need_tensor("isfinite", input, 1, "input")
    if _np_dtype(input).kind != "f":
        return _false_like(input, True)
    return apply(E.lt_op, apply(E.abs_op, input), _math.inf)


def isreal(input):
    """Every element of a real tensor is real: all True."""
    _need_tensor("isreal", input, 1, "input")
    return _false_like(input, True)


def signbit(input, *, out=None):
    """The sign bit: True at -0.0 and at a NaN with its sign bit set, as PyTorch; integers:
    x < 0; bools: all False."""
    _need_tensor("signbit", input, 1, "input")
    kind = _np_dtype(input).kind
    if kind == "f":
        r = apply(E.lt_op, apply(copysign_op, 1.0, input), 0)
    elif kind == "b":
        r = _false_like(input)
    else:
        r = apply(E.lt_op, input, 0)
    return _out(r, out, "signbit")


def logical_xor(input, other, *, out=None):
    """(input != 0) xor (other != 0), as (not input) != (not other): a bool tensor."""
    _need_tensors("logical_xor", input, other)
    r = apply(E.ne_op, apply(E.logical_not_op, input), apply(E.logical_not_op, other))
    return _out(r, out, "logical_xor")


# ---------------------------------------------------------------- public functions: binary
def atan2(input, other, *, out=None):
    _need_tensors("atan2", input, other)
    return _out(apply(atan2_op, input, other), out, "atan2")


arctan2 = atan2


def hypot(input, other, *, out=None):
    _need_tensors("hypot", input, other)
    return _out(apply(hypot_op, input, other), out, "hypot")


def logaddexp(input, other, *, out=None):
    _need_tensors("logaddexp", input, other)
    return _out(apply(logaddexp_op, input, other), out, "logaddexp")


def logaddexp2(input, other, *, out=None):
    _need_tensors("logaddexp2", input, other)
    return _out(apply(logaddexp2_op, input, other), out, "logaddexp2")


def xlogy(input, other, *, out=None):
    """input * log(other), 0 where input == 0 (NaN where other is NaN); either may be a number."""
    if _is_scalar(input) and _is_scalar(other):
        raise DGTypeError(
            "xlogy() received an invalid combination of arguments - got "
            f"({type(input).__name__}, {type(other).__name__})")
    return _out(apply(xlogy_op, input, other), out, "xlogy")


def _tensor_number_only(fname, input, other):
    """(Tensor, Tensor) or (Tensor, Number), as torch.copysign and torch.fmod."""
    ta = "Tensor" if _is_tensor(input) else type(input).__name__
    tb = "Tensor" if _is_tensor(other) else type(other).__name__
    if ta != "Tensor" or not (_is_scalar(other) or tb == "Tensor"):
        raise DGTypeError(
            f"{fname}() received an invalid combination of arguments - got ({ta}, {tb}), but "
            "expected one of:\n"
            " * (Tensor input, Tensor other, *, Tensor out = None)\n"
            " * (Tensor input, Number other, *, Tensor out = None)\n")


def copysign(input, other, *, out=None):
    _tensor_number_only("copysign", input, other)
    return _out(apply(copysign_op, input, other), out, "copysign")


def heaviside(input, values, *, out=None):
    _need_tensors("heaviside", input, values, "values")
    return _out(apply(heaviside_op, input, values), out, "heaviside")


def fmax(input, other, *, out=None):
    _need_tensors("fmax", input, other)
    return _out(apply(fmax_op, input, other), out, "fmax")


def fmin(input, other, *, out=None):
    _need_tensors("fmin", input, other)
    return _out(apply(fmin_op, input, other), out, "fmin")


def nextafter(input, other, *, out=None):
    _need_tensors("nextafter", input, other)
    return _out(apply(nextafter_op, input, other), out, "nextafter")


def _to_double(x):
    if _is_tensor(x):
        return x if _np_dtype(x) == F64 else E.cast(x, F64)
    if isinstance(x, complex):
        raise DGNotImplementedError("float_power: complex numbers are not supported")
    return float(x)


def float_power(input, exponent, *, out=None):
    """input ** exponent in float64, as PyTorch (both cast to double first)."""
    if not (_is_tensor(input) or _is_tensor(exponent)):
        raise DGTypeError("float_power() received an invalid combination of arguments - got "
                          f"({type(input).__name__}, {type(exponent).__name__})")
    if out is not None and _is_tensor(out) and _np_dtype(out) != F64:
        raise DGRuntimeError(
            f"the output given to float_power has dtype {scalar_name(_np_dtype(out))} but the "
            "operation's result requires dtype Double")
    return _out(apply(E.pow_op, _to_double(input), _to_double(exponent)), out, "float_power")


def ldexp(input, other, *, out=None):
    """input * 2 ** other (PyTorch's very composition: integers give float32)."""
    _need_tensors("ldexp", input, other)
    return _out(apply(E.mul_op, input, apply(E.pow_op, 2.0, other)), out, "ldexp")


def _bound_arg(fname, input, bound):
    if not _is_tensor(input) or not (_is_tensor(bound) or _is_scalar(bound)):
        ta, tb = ("Tensor" if _is_tensor(x) else type(x).__name__ for x in (input, bound))
        raise DGTypeError(f"{fname}() received an invalid combination of arguments - got ({ta}, {tb})")


def clamp_min(input, min, *, out=None):
    """max(input, min), NaN propagating (from either side), the input on a tie (so
    clamp_min(-0.0, 0.0) is -0.0, as PyTorch); min a number or a tensor."""
    _bound_arg("clamp_min", input, min)
    return _out(apply(clamp_min_op, input, min), out, "clamp_min")


def clamp_max(input, max, *, out=None):
    _bound_arg("clamp_max", input, max)
    return _out(apply(clamp_max_op, input, max), out, "clamp_max")


# ---------------------------------------------------------------- public functions: ternary
def lerp(input, end, weight, *, out=None):
    """input + weight * (end - input) (PyTorch's two formulas, by |weight| < 0.5); weight a
    number or a tensor."""
    if not (_is_tensor(input) and _is_tensor(end)) or not (_is_tensor(weight) or _is_scalar(weight)):
        names = ", ".join("Tensor" if _is_tensor(x) else type(x).__name__ for x in (input, end, weight))
        raise DGTypeError(
            f"lerp() received an invalid combination of arguments - got ({names}), but expected one of:\n"
            " * (Tensor input, Tensor end, Tensor weight, *, Tensor out = None)\n"
            " * (Tensor input, Tensor end, Number weight, *, Tensor out = None)\n")
    return _out(apply(lerp_op, input, end, weight), out, "lerp")


def _addc(name, op, input, tensor1, tensor2, value, out):
    _need_tensor(name, input, 1, "input")
    _need_tensor(name, tensor1, 2, "tensor1")
    _need_tensor(name, tensor2, 3, "tensor2")
    if not _is_scalar(value):
        raise DGTypeError(f"{name}(): argument 'value' must be Number, not {type(value).__name__}")
    return _out(apply(op, input, tensor1, tensor2, value=value), out, name)


def addcmul(input, tensor1, tensor2, *, value=1, out=None):
    """input + value * tensor1 * tensor2 (broadcast; PyTorch's dtype promotion)."""
    return _addc("addcmul", addcmul_op, input, tensor1, tensor2, value, out)


def addcdiv(input, tensor1, tensor2, *, value=1, out=None):
    """input + value * tensor1 / tensor2 (two integer tensors are refused, as PyTorch)."""
    return _addc("addcdiv", addcdiv_op, input, tensor1, tensor2, value, out)


# ---------------------------------------------------------------- aliases of PyTorch's namespace
def true_divide(input, other, *, out=None):
    return E.div(input, other, out=out)


def divide(input, other, *, rounding_mode=None, out=None):
    return E.div(input, other, rounding_mode=rounding_mode, out=out)


def multiply(input, other, *, out=None):
    return E.mul(input, other, out=out)


def subtract(input, other, *, alpha=1, out=None):
    return E.sub(input, other, alpha=alpha, out=out)


def greater(input, other, *, out=None):
    return E.gt(input, other, out=out)


def greater_equal(input, other, *, out=None):
    return E.ge(input, other, out=out)


def less(input, other, *, out=None):
    return E.lt(input, other, out=out)


def less_equal(input, other, *, out=None):
    return E.le(input, other, out=out)


def not_equal(input, other, *, out=None):
    return E.ne(input, other, out=out)


# ---------------------------------------------------------------- what the Tensor methods call
# (tensor_methods.py: x.atan2(y), x.atan2_(y), ...; a method's tensor argument is position 1)
def _method(name, op, self, other, argname="other"):
    _need_tensor(name, other, 1, argname)
    return apply(op, self, other)


def _method_(name, op, self, other, argname="other"):
    _need_tensor(name, other, 1, argname)
    return apply_inplace(self, op, other)


def _copysign_(self, other):
    _tensor_number_only("copysign_", self, other)
    return apply_inplace(self, copysign_op, other)


def _float_power_(self, exponent):
    """x.float_power_(e): x must be float64 already (the result's dtype), as PyTorch."""
    dt = _np_dtype(self)
    if dt != F64:
        raise DGRuntimeError(
            f"the base given to float_power_ has dtype {scalar_name(dt)} but the operation's "
            "result requires dtype Double")
    return apply_inplace(self, E.pow_op, _to_double(exponent))


def _ldexp_(self, other):
    _need_tensor("ldexp_", other, 1, "other")
    dt = _np_dtype(self)
    if dt.kind != "f":
        raise DGRuntimeError(f"ldexp can't be cast to the desired output type {scalar_name(dt)}")
    return apply_inplace(self, E.mul_op, apply(E.pow_op, 2.0, other))


def _clamp_bound_(self, bound, lower):
    name = "clamp_min_" if lower else "clamp_max_"
    _bound_arg(name, self, bound)
    if _is_scalar(bound):
        _check_scalar_clamp_cast(self, bound)
    return apply_inplace(self, clamp_min_op if lower else clamp_max_op, bound)


def _check_scalar_clamp_cast(self, *bounds):
    # (PyTorch's clamp_(Scalar) words the refusal with the C++ type name: "long int")
    dt, want = _np_dtype(self), result_type((_np_dtype(self), 1), *bounds)
    if want.kind == "f" and dt.kind != "f" or want.kind in "iu" and dt.kind == "b":
        raise DGRuntimeError(f"result type {scalar_name(want)} can't be cast to the desired "
                             f"output type {ctype_name(dt)}")


def clamp(input, min=None, max=None, *, out=None):
    """torch.clamp, PyTorch's rules at the edges: x is kept on a tie (clamp(-0.0, min=0.0) is
    -0.0) and gets the gradient there, max wins where min > max (a NaN x stays NaN), a NaN
    bound gives NaN; min and max both numbers or both tensors (broadcast, promoted)."""
    return _clamp(input, min, max, out, "clamp")


def clip(input, min=None, max=None, *, out=None):
    return _clamp(input, min, max, out, "clip")


def _clamp(input, min, max, out=None, fname="clamp", method=False):
    op, args, attrs = _clamp_call(input, min, max, fname, method)
    if op is clamp_tensor_op and _is_scalar(args[0]) and _is_scalar(args[1]):
        # numbers with min > max: clamp_min then clamp_max, the same numbers in ops that ONNX
        # export knows
        return _out(apply(clamp_max_op, apply(clamp_min_op, input, args[0]), args[1]), out, fname)
    return _out(apply(op, input, *args, **attrs), out, fname)


def _clamp_(self, min, max, fname):
    """Tensor.clamp_ (and clip_): clamp written into self."""
    op, args, attrs = _clamp_call(self, min, max, fname, True)
    if op is clamp_min_op or op is clamp_max_op:
        return _clamp_bound_(self, args[0], op is clamp_min_op)
    if op is clamp_tensor_op and _is_scalar(args[0]) and _is_scalar(args[1]):
        _check_scalar_clamp_cast(self, *args)
    return apply_inplace(self, op, *args, **attrs)


def _clamp_call(input, min, max, fname, method):
    """The op of clamp(x, min, max), its inputs after x and its attrs."""
    if min is None and max is None:
        raise DGRuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if min is not None and max is not None and _is_tensor(min) != _is_tensor(max):
        # PyTorch's overloads take two tensors or two numbers; a 0-d tensor that needs no
        # gradient passes as a number
        t = min if _is_tensor(min) else max
        if len(t.shape) or t.requires_grad:
            raise _clamp_types_error(fname, method, min, max)
        # (in the dtype a number of its kind would give)
        kind = {"b": False, "f": 0.0}.get(_np_dtype(t).kind, 0)
        t = E.cast(t, result_type((_np_dtype(input), len(input.shape)), kind))
        min, max = (t, max) if _is_tensor(min) else (min, t)
    if max is None:    # one bound: PyTorch's maximum / minimum (x on a tie), clamp_min's op
        return clamp_min_op, (min,), {}
    if min is None:
        return clamp_max_op, (max,), {}
    if _is_scalar(min) and _is_scalar(max) and not min > max:
        return E.clamp_op, (), dict(min=min, max=max)   # numpy's clip: x on a tie, as PyTorch
    return clamp_tensor_op, (min, max), {}   # (min > max: clip would make a NaN x max)


def _clamp_types_error(fname, method, *bounds):
    names = ["Tensor" if _is_tensor(v) else type(v).__name__ for v in bounds]
    if method:
        why = ("\n      didn't match because some of the arguments have invalid types: ("
               + ", ".join(f"!{n}!" for n in names) + ")")
        sigs = f" * (Tensor min = None, Tensor max = None){why}\n * (Number min = None, Number max = None){why}\n"
    else:
        names = ["Tensor"] + names
        sigs = (" * (Tensor input, Tensor min = None, Tensor max = None, *, Tensor out = None)\n"
                " * (Tensor input, Number min = None, Number max = None, *, Tensor out = None)\n")
    return DGTypeError(f"{fname}() received an invalid combination of arguments - got "
                       f"({', '.join(names)}), but expected one of:\n{sigs}")


def _lerp_check(name, end, weight):
    if not _is_tensor(end) or not (_is_tensor(weight) or _is_scalar(weight)):
        names = ", ".join("Tensor" if _is_tensor(x) else type(x).__name__ for x in (end, weight))
        raise DGTypeError(
            f"{name}() received an invalid combination of arguments - got ({names}), but expected one of:\n"
            " * (Tensor end, Tensor weight)\n"
            " * (Tensor end, Number weight)\n")


def _addc_method(name, op, self, tensor1, tensor2, value, inplace):
    _need_tensor(name, tensor1, 1, "tensor1")
    _need_tensor(name, tensor2, 2, "tensor2")
    if not _is_scalar(value):
        raise DGTypeError(f"{name}(): argument 'value' must be Number, not {type(value).__name__}")
    if inplace:
        return apply_inplace(self, op, tensor1, tensor2, value=value)
    return apply(op, self, tensor1, tensor2, value=value)


# the public names (dualgraph/__init__.py imports them: `from .ops.elementwise_math import *`)
__all__ = [
    "tan", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh",
    "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh",
    "log2", "log10", "exp2", "expm1", "reciprocal", "sinc", "logit", "frac", "deg2rad", "rad2deg",
    "nan_to_num", "positive", "negative", "absolute",
    "isnan", "isinf", "isfinite", "isposinf", "isneginf", "isreal", "signbit", "logical_xor",
    "atan2", "arctan2", "hypot", "logaddexp", "logaddexp2", "xlogy", "copysign", "heaviside",
    "fmax", "fmin", "nextafter", "float_power", "ldexp", "clamp", "clip", "clamp_min", "clamp_max",
    "lerp", "addcmul", "addcdiv",
    "true_divide", "divide", "multiply", "subtract", "greater", "greater_equal", "less",
    "less_equal", "not_equal",
]
