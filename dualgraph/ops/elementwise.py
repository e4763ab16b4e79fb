"""Elementwise operators: arithmetic, comparisons, unary math, where/masked_fill, casts."""
import builtins as _builtins
import functools
import math as _math

import numpy as np

from ..dtypes import result_type, F32, category, to_np, scalar_name, check_int_scalar, _INT_MIN, _UINT_MAX
from .common import (scratch, Spec, binary_infer, compare_infer, float_binary_infer, float_unary_infer,
                     same_infer, broadcast_shapes, shape_of, operand, ctype_name,
                     is_scalar as _is_scalar)
from ..errors import DGRuntimeError, DGNotImplementedError
from .dispatch import apply, apply_inplace
from .registry import defop, reads_for, CROSS
from . import numba_loops as _loops

_nd = np.ndarray


def _operand(x):
    if type(x) is _nd:
        return (x.dtype, x.ndim)
    return x.item() if isinstance(x, np.generic) else x


def _binary_kernel(ufunc, floating=False):
    """Wrap a numpy ufunc with PyTorch's dtype promotion (numpy's differs across kinds)."""
    is_ufunc = isinstance(ufunc, np.ufunc)

    def kernel(a, b):
        ta, tb = type(a), type(b)
        if ta is _nd:
            da = a.dtype
            if tb is _nd:
                if da is b.dtype and (not floating or da.kind == "f"):
                    return ufunc(a, b)  # one dtype on both sides: numpy and PyTorch agree
            elif (tb is float or tb is int and _INT_MIN <= b <= _UINT_MAX) and da.kind == "f":
                return ufunc(a, b)  # a Python number never widens a float tensor (NEP 50)
        elif tb is _nd and (ta is float or ta is int and _INT_MIN <= a <= _UINT_MAX) and b.dtype.kind == "f":
            return ufunc(a, b)
        want = result_type(_operand(a), _operand(b))
        if floating and want.kind != "f":
            want = F32
        try:
            # (integers: a 0-d int64 operand of a uint8 tensor is cast to uint8, wrapping, as
            # PyTorch casts it; numpy's same_kind rule would refuse)
            if want.kind in "iu" and is_ufunc:
                return ufunc(a, b, dtype=want, casting="unsafe")
            return ufunc(a, b, dtype=want)
        except OverflowError:  # a Python int outside the tensor's range: PyTorch wraps it
            return ufunc(*(_wrapped_int(x, want) for x in (a, b)), dtype=want)
    kernel.__name__ = ufunc.__name__
    return kernel


def _wrapped_int(x, dtype):
    """A Python int cast to `dtype` the way PyTorch casts a scalar (modulo 2**bits)."""
    if type(x) is int and dtype.kind in "iu":
        return np.array(x).astype(dtype)[()]
    return x


def _quiet(fn):
    """PyTorch returns inf/nan silently where numpy warns (log(0), x/0)."""
    def kernel(*args, **kw):
        with np.errstate(all="ignore"):
            return fn(*args, **kw)
    kernel.__name__ = getattr(fn, "__name__", "kernel")
    return kernel


# ---------------------------------------------------------------- binary arithmetic
def _bool_operand(x):
    return (isinstance(x, Spec) and x.dtype.kind == "b") or isinstance(x, (bool, np.bool_))


def _sub_infer(a, b):
    ba, bb = _bool_operand(a), _bool_operand(b)
    if ba and bb:
        raise DGRuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` "
            "or `logical_xor()` operator instead.")
    if ba or bb:
        raise DGRuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    return binary_infer(a, b)


_subtract = _binary_kernel(np.subtract)


def _sub_kernel(a, b):
    """PyTorch refuses any bool operand of a subtraction; numpy computes it: fail, so the shape
    rule explains."""
    if (a.dtype.kind == "b" if type(a) is _nd else type(a) is bool) or (
            b.dtype.kind == "b" if type(b) is _nd else type(b) is bool):
        raise TypeError("bool subtraction")
    return _subtract(a, b)


# The binary ops whose kernel, for a floating result, is ufunc(a, b, dtype=that result) whatever
# the widths of its float operands (a float32 array and a float64 0-d array: Adam's bias
# corrections; PyTorch's rule for 0-d tensors, the 0-d operand cast to the array's dtype): a plan
# runs them as `cast_ufunc` (then with out=), the fused update loops cast the same way.
SCALAR_CAST_UFUNCS = frozenset({np.add, np.subtract, np.multiply, np.true_divide})


def cast_ufunc(ufunc, dtype):
    """ufunc(*args, dtype=dtype, out=...): what the kernel of an op in SCALAR_CAST_UFUNCS
    computes for a `dtype` (floating) result, taking out=."""
    return functools.partial(ufunc, dtype=dtype)


add_op = defop("add", _binary_kernel(np.add), binary_infer, elementwise=True, saves=(),
               ufunc=np.add)
sub_op = defop("sub", _sub_kernel, _sub_infer, elementwise=True, saves=(), ufunc=np.subtract)
# what each backward reads (the version counter pins only that): d(a*b)/da reads b and
# d(a*b)/db reads a, so `w * 3` pins nothing and `w * x` (x not requiring grad) pins only x;
# d(a/b)/da reads b, d(a/b)/db reads a and b (PyTorch's MulBackward0 / DivBackward0 save the same)
mul_op = defop("mul", _binary_kernel(np.multiply), binary_infer, elementwise=True,
               saves=CROSS, ufunc=np.multiply)
div_op = defop("div", _quiet(_binary_kernel(np.true_divide, floating=True)), float_binary_infer,
               elementwise=True, saves=reads_for((1,), (0, 1)), ufunc=np.true_divide)
_power = _quiet(_binary_kernel(np.power))


def _pow_kernel(a, b):
    """numpy refuses integer ** negative integer array; PyTorch computes it (as 1 / a**|b|
    truncated: 1 for a == 1, +-1 for a == -1, 0 otherwise). A negative Python exponent stays
    an error in both (numpy's message is PyTorch's)."""
    if type(b) is _nd and b.dtype.kind in "iu" and (type(a) is not _nd or a.dtype.kind in "iub") \
            and b.size and b.min() < 0:
        r = _power(a, np.where(b < 0, 0, b))
        if r.dtype.kind in "iu":
            odd = (b % 2) == 1
            neg = np.where(a == 1, 1, np.where(a == -1, np.where(odd, -1, 1), 0)).astype(r.dtype)
            return np.where(b < 0, neg, r)
        return _power(a, b)
    return _power(a, b)


def _int_division(kernel, torch_kernel):
    """Integer division by zero: PyTorch raises, numpy returns 0 with a warning. The divisor is
    judged in the result's dtype, as PyTorch casts it: an int8 tensor % 256 divides by 0. Two
    bools: PyTorch has no kernel, numpy divides in int8."""
    def checked(a, b):
        r = kernel(a, b)
        if r.dtype.kind in "iu":
            rd = r.dtype
            if rd.itemsize == 1 and _is_bool(a) and _is_bool(b):
                raise DGNotImplementedError(f'"{torch_kernel}" not implemented for \'Bool\'')
            if type(b) is _nd:
                zero = bool(np.any((b if b.dtype is rd else b.astype(rd)) == 0))
            else:
                zero = _wrapped_int(b.item() if isinstance(b, np.generic) else b, rd) == 0
            if zero:
                raise DGRuntimeError("ZeroDivisionError")
        return r
    checked.__name__ = kernel.__name__
    return checked


def _is_bool(x):
    return type(x) is bool or getattr(x, "dtype", None) == np.bool_


pow_op = defop("pow", _pow_kernel, binary_infer, elementwise=True, saves_output=True,
               ufunc=np.power)
maximum_op = defop("maximum", _binary_kernel(np.maximum), binary_infer, elementwise=True,
                   ufunc=np.maximum)
minimum_op = defop("minimum", _binary_kernel(np.minimum), binary_infer, elementwise=True,
                   ufunc=np.minimum)


def _no_bool_result(kernel):
    """binary_infer refusing a bool result as PyTorch's dispatch does (bool // bool; bool // 2
    is int64 and fine)."""
    def infer(a, b):
        s = binary_infer(a, b)
        if s.dtype.kind == "b":
            raise DGNotImplementedError(f'"{kernel}" not implemented for \'Bool\'')
        return s
    return infer


floor_divide_op = defop("floor_divide", _int_division(_quiet(_binary_kernel(np.floor_divide)), "div_floor_cpu"),
                        _no_bool_result("div_floor_cpu"),
                        elementwise=True, saves=(), ufunc=np.floor_divide)
_remainder = _binary_kernel(np.remainder)


def _remainder_kernel(a, b):
    """numpy gives a zero remainder the divisor's sign, PyTorch (fmod, then a shift by b) the
    dividend's: -4 % 2 is -0.0 there."""
    r = _remainder(a, b)
    if r.dtype.kind == "f":
        if type(r) is _nd:
            zero = r == 0
            if zero.any():
                np.copysign(r, a, out=r, where=zero)
        elif r == 0:  # a numpy scalar (two 0-d operands)
            r = np.copysign(r, a)
    return r


# (no ufunc: a plan calls the kernel, so compiled code keeps the zero's sign too)
remainder_op = defop("remainder", _int_division(_quiet(_remainder_kernel), "remainder_cpu"),
                     _no_bool_result("remainder_cpu"),
                     elementwise=True, saves=reads_for((), (0, 1)))


def _trunc_divide(a, b, dtype=None):
    q = np.true_divide(a, b, dtype=dtype)
    return np.trunc(q, out=q) if type(q) is _nd else np.trunc(q)


# div(rounding_mode='trunc') of floats: trunc(a / b) as one op (the quotient's inf and the zero's
# sign kept) with PyTorch's zero gradient (div.Tensor_mode in derivatives.yaml)
trunc_divide_op = defop("trunc_divide", _quiet(_binary_kernel(_trunc_divide, floating=True)),
                        float_binary_infer, elementwise=True, saves=())


def _is_bool(x):
    return x.dtype.kind == "b" if type(x) is _nd else isinstance(x, (bool, np.bool_))


_fmod = _binary_kernel(np.fmod)


def _fmod_kernel(a, b):
    """C's fmod (the result takes the dividend's sign: fmod(-5, 3) is -2, -0.0 stays -0.0),
    which np.fmod is, for ints as for floats; PyTorch has no bool fmod (numpy computes one in
    int8: fail, so the shape rule explains)."""
    if _is_bool(a) and _is_bool(b):
        raise TypeError("fmod of bools")
    return _fmod(a, b)


def _fmod_infer(a, b):
    s = binary_infer(a, b)
    if s.dtype.kind == "b":
        raise DGNotImplementedError('"fmod_cpu" not implemented for \'Bool\'')
    return s


# (no ufunc: a plan calls the kernel, which checks an integer divisor of zero)
fmod_op = defop("fmod", _int_division(_quiet(_fmod_kernel), "fmod_cpu"), _fmod_infer, elementwise=True,
                saves=reads_for((), (0, 1)))

# ---------------------------------------------------------------- comparisons (bool results)
def _compare(ufunc):
    """ufunc, refusing a Python int beyond 64 bits as PyTorch does (numpy compares it). A
    plan calls the bare ufunc (`plan_kernel`): graph mode refused such an int when the node
    was built (compare_infer)."""
    def kernel(a, b):
        if type(b) is int or type(a) is int:
            check_int_scalar(a)
            check_int_scalar(b)
        return ufunc(a, b)
    kernel.__name__ = ufunc.__name__
    kernel.plan_kernel = ufunc
    return kernel


eq_op = defop("eq", _compare(np.equal), compare_infer, elementwise=True, ufunc=np.equal)
ne_op = defop("ne", _compare(np.not_equal), compare_infer, elementwise=True, ufunc=np.not_equal)
lt_op = defop("lt", _compare(np.less), compare_infer, elementwise=True, ufunc=np.less)
le_op = defop("le", _compare(np.less_equal), compare_infer, elementwise=True, ufunc=np.less_equal)
gt_op = defop("gt", _compare(np.greater), compare_infer, elementwise=True, ufunc=np.greater)
ge_op = defop("ge", _compare(np.greater_equal), compare_infer, elementwise=True, ufunc=np.greater_equal)
logical_and_op = defop("logical_and", np.logical_and, compare_infer, elementwise=True,
                       ufunc=np.logical_and)
logical_or_op = defop("logical_or", np.logical_or, compare_infer, elementwise=True,
                      ufunc=np.logical_or)
logical_not_op = defop("logical_not", np.logical_not, lambda x: Spec(x.shape, np.dtype(bool)),
                       elementwise=True, ufunc=np.logical_not)


def _bitwise_infer(kernel, bool_ok=True):
    """The binary bitwise ops: operand types and broadcasting checked first, then the result's
    dtype, as PyTorch dispatches on it ("bitwise_xor_cpu" not implemented for 'Float', also for
    an int tensor ^ 1.5; the shifts refuse bool as well)."""
    def infer(a, b):
        s = binary_infer(a, b)
        kind = s.dtype.kind
        if kind == "f" or (kind == "b" and not bool_ok):
            raise DGNotImplementedError(
                f'"{kernel}" not implemented for \'{scalar_name(s.dtype)}\'')
        return s
    return infer


def _bitwise_not_infer(a):
    if a.dtype.kind == "f":
        from ..errors import DGTypeError
        raise DGTypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return Spec(a.shape, a.dtype)


def _bitwise_kernel(ufunc, bool_ok=True):
    """ufunc in PyTorch's result dtype, a Python int operand first wrapped into it (PyTorch casts
    the scalar modulo 2**bits: int8 ^ 300 is int8 ^ 44; numpy refuses it). A float (or, for the
    shifts, bool) result fails, so the shape rule words PyTorch's error."""
    def kernel(a, b):
        if type(a) is _nd and type(b) is _nd and a.dtype is b.dtype and a.dtype.kind in "iu":
            return ufunc(a, b)
        want = result_type(_operand(a), _operand(b))
        if want.kind == "f" or (want.kind == "b" and not bool_ok):
            raise TypeError("bitwise op on floats")
        return ufunc(_wrapped_int(a, want), _wrapped_int(b, want), dtype=want, casting="unsafe")
    kernel.__name__ = ufunc.__name__
    return kernel


def _bitwise_not_kernel(x):
    if x.dtype.kind == "f":
        raise TypeError("bitwise on floats")
    return np.invert(x)


# `&`, `|`, `^`, `~` as in PyTorch: logical on bool tensors, bitwise on integer tensors
bitwise_and_op = defop("bitwise_and", _bitwise_kernel(np.bitwise_and), _bitwise_infer("bitwise_and_cpu"),
                       elementwise=True)
bitwise_or_op = defop("bitwise_or", _bitwise_kernel(np.bitwise_or), _bitwise_infer("bitwise_or_cpu"),
                      elementwise=True)
bitwise_xor_op = defop("bitwise_xor", _bitwise_kernel(np.bitwise_xor), _bitwise_infer("bitwise_xor_cpu"),
                       elementwise=True)
bitwise_not_op = defop("bitwise_not", _bitwise_not_kernel, _bitwise_not_infer, elementwise=True)
# `<<`, `>>`: integers only. numpy's shifts (npy_lshift / npy_rshift) define what C leaves
# undefined as PyTorch's kernels do: a negative shift, or one >= the width, gives 0 (<<) or the
# sign fill, 0 or -1 (>>); `<<` wraps (int8 1 << 7 is -128). tests/test_bitwise_fmod.py checks
# every int8 and uint8 pair against torch.
bitwise_left_shift_op = defop("bitwise_left_shift", _bitwise_kernel(np.left_shift, bool_ok=False),
                              _bitwise_infer("lshift_cpu", bool_ok=False), elementwise=True)
bitwise_right_shift_op = defop("bitwise_right_shift", _bitwise_kernel(np.right_shift, bool_ok=False),
                               _bitwise_infer("rshift_cpu", bool_ok=False), elementwise=True)


# ---------------------------------------------------------------- unary math
def _float_kernel(ufunc, floats=None):
    """exp, log, ...: integer tensors compute in the default float dtype, as in PyTorch.
    `floats`: the kernel of float inputs when it is not the bare ufunc."""
    f = floats or ufunc
    backend = _loops.BACKEND

    def kernel(x):
        if x.dtype.kind != "f":
            return ufunc(x, dtype=F32)
        return f(x) if backend[0] is not None else ufunc(x)
    kernel.__name__ = ufunc.__name__
    return kernel


# exp, log, log1p, sin, cos, tanh: numba's scalar functions on small float arrays when the numba
# backend is on, numpy's ufunc otherwise, eagerly and in plans alike (ops/numba_loops.py says
# why); these are the ops' out_kernels (a plan calls the bare ufunc, `.ufunc`, only while the
# backend is off: it is specialised again when that changes)
_exp, _log, _log1p, _sin, _cos, _tanh = (
    _loops.unary(u) for u in (np.exp, np.log, np.log1p, np.sin, np.cos, np.tanh))


def _sigmoid(x):
    if x.dtype.kind != "f":
        x = x.astype(F32)
    r = np.multiply(x, 0.5, out=np.empty_like(x))
    np.tanh(r, out=r)
    r += 1
    r *= 0.5
    return r


def _rsqrt(x):
    if x.dtype.kind != "f":
        x = x.astype(F32)
    r = np.sqrt(x, out=np.empty_like(x))
    return np.reciprocal(r, out=r)


# np.maximum against a scalar 0 runs a slower loop than against an array of zeros (numpy 2.4
# on an AVX2 machine: relu of (32, 6, 28, 28) float32 73 vs 27 us, benchmarks/kernels.py),
# with the same bits, NaN and signed zeros included (tests/test_kernel_bits.py). So a float
# relu compares with a slice of one read-only zero array per dtype, grown to the largest input
# up to _ZEROS_MAX elements (4 MiB of float32); a larger contiguous input is taken in slices
# of that size, so the zeros held stay bounded.
_ZEROS = {}
_ZEROS_MIN, _ZEROS_MAX = 1024, 1 << 20     # elements: below the first, the scalar form costs no more


def _zeros(dtype, n):
    """Read-only zeros: n of them (n <= _ZEROS_MAX), from the array kept for dtype."""
    z = _ZEROS.get(dtype)
    if z is None or z.size < n:
        z = np.zeros(n, dtype)
        z.flags.writeable = False
        _ZEROS[dtype] = z
    return z[:n]


def _zeros_as(x):
    """Read-only zeros of x's shape and float dtype, or None (small, large or not float)."""
    n = x.size
    if not _ZEROS_MIN <= n <= _ZEROS_MAX or x.dtype.kind != "f":
        return None
    return _zeros(x.dtype, n).reshape(x.shape)


def _relu_sliced(x, out):
    """relu of a large C-contiguous float x into out (new if None, else C-contiguous), one
    slice of _ZEROS_MAX elements at a time; None if the arrays are not so."""
    if not x.flags.c_contiguous or (out is not None and not out.flags.c_contiguous):
        return None
    if out is None:
        out = np.empty_like(x)
    src, dst, n = x.reshape(-1), out.reshape(-1), x.size
    z = _zeros(x.dtype, _ZEROS_MAX)
    for s in range(0, n, _ZEROS_MAX):
        e = min(n, s + _ZEROS_MAX)
        np.maximum(z[:e - s], src[s:e], out=dst[s:e])
    return out


def _relu(x):
    # 0 first: np.maximum returns its first operand on a tie, so relu(-0.0) is -0.0 (PyTorch)
    z = _zeros_as(x)
    if z is not None:
        return np.maximum(z, x)
    if x.size > _ZEROS_MAX and x.dtype.kind == "f":
        r = _relu_sliced(x, None)
        if r is not None:
            return r
    return np.maximum(0, x, dtype=x.dtype)


def _relu_out(x, out=None):
    """relu written into the plan's buffer (its out_kernel: the same numbers as _relu)."""
    if out is None:
        return _relu(x)
    z = _zeros_as(x)
    if z is not None:
        return np.maximum(z, x, out=out)
    if x.size > _ZEROS_MAX and x.dtype.kind == "f" and out.shape == x.shape:
        r = _relu_sliced(x, out)
        if r is not None:
            return r
    return np.maximum(0, x, out=out)


def _neg_infer(x):
    if x.dtype.kind == "b":
        raise DGRuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
            "invert a mask, use the `~` or `logical_not()` operator instead.")
    return Spec(x.shape, x.dtype)


def _abs_infer(x):
    if x.dtype.kind == "b":
        raise DGRuntimeError("\"abs_cpu\" not implemented for 'Bool'")
    return Spec(x.shape, x.dtype)


def _relu_infer(x):
    if x.dtype.kind == "b":
        raise DGRuntimeError("Boolean inputs not supported for relu")
    return Spec(x.shape, x.dtype)


def _no_bool(ufunc):
    """numpy happily negates/abs-es bools; PyTorch refuses: fail so the shape rule explains."""
    def kernel(x):
        if x.dtype.kind == "b":
            raise TypeError("bool input")
        return ufunc(x)
    kernel.__name__ = ufunc.__name__
    return kernel


neg_op = defop("neg", _no_bool(np.negative), _neg_infer, elementwise=True, saves=(),
               ufunc=np.negative)
abs_op = defop("abs", _no_bool(np.abs), _abs_infer, elementwise=True, ufunc=np.abs)


def _sign(x, out=None):
    """np.sign, but 0 at NaN: PyTorch computes (0 < x) - (x < 0)."""
    r = np.sign(x, out=out)
    if r.dtype.kind == "f":
        if type(r) is _nd:
            nan = np.isnan(r)
            if nan.any():
                np.copyto(r, 0, where=nan)
        elif r != r:  # a numpy scalar
            r = r.dtype.type(0)
    return r


sign_op = defop("sign", _sign, same_infer, elementwise=True, saves=(), out_kernel=_sign)
exp_op = defop("exp", _float_kernel(np.exp, _exp), float_unary_infer, elementwise=True, saves=(),
               saves_output=True, out_kernel=_exp)
log_op = defop("log", _quiet(_float_kernel(np.log, _log)), float_unary_infer, elementwise=True,
               out_kernel=_log)
log1p_op = defop("log1p", _quiet(_float_kernel(np.log1p, _log1p)), float_unary_infer,
                 elementwise=True, out_kernel=_log1p)
sqrt_op = defop("sqrt", _quiet(_float_kernel(np.sqrt)), float_unary_infer, elementwise=True,
                saves=(), saves_output=True, ufunc=np.sqrt)
rsqrt_op = defop("rsqrt", _quiet(_rsqrt), float_unary_infer, elementwise=True, saves=(),
                 saves_output=True)
sin_op = defop("sin", _float_kernel(np.sin, _sin), float_unary_infer, elementwise=True,
               out_kernel=_sin)
cos_op = defop("cos", _float_kernel(np.cos, _cos), float_unary_infer, elementwise=True,
               out_kernel=_cos)
tanh_op = defop("tanh", _float_kernel(np.tanh, _tanh), float_unary_infer, elementwise=True,
                saves=(), saves_output=True, out_kernel=_tanh)
sigmoid_op = defop("sigmoid", _sigmoid, float_unary_infer, elementwise=True, saves=(),
                   saves_output=True)
relu_op = defop("relu", _no_bool(_relu), _relu_infer, elementwise=True, saves=(),
                saves_output=True, out_kernel=_relu_out)


# signed integers of each float size: a float's bits ANDed with all ones (-1) or all zeros (0)
_BITS = {2: np.int16, 4: np.int32, 8: np.int64}


def _relu_backward(g, y, out=None):
    """+0.0 where y <= 0, else g itself (PyTorch's threshold_backward: a NaN output passes its
    gradient; an infinite or NaN gradient where the output is zeroed gives +0.0, a kept -0.0
    stays -0.0). g's bits ANDed with a mask of all ones or all zeros: an exact select in four
    cheap passes, 12-28% faster than g * (not y <= 0) + 0.0, the formula it replaced, which
    made NaN of inf * 0 (benchmarks/kernels.py)."""
    dtype = g.dtype if type(g) is _nd and type(y) is _nd and g.dtype == y.dtype else None
    bits = _BITS.get(dtype.itemsize) if dtype is not None and dtype.kind == "f" else None
    if bits is None or not g.ndim or not y.ndim:
        # (numpy scalars, mixed dtypes, integers: np.where, the same select, slower)
        dtype = np.result_type(g, y)
        r = np.asarray(np.where(np.less_equal(y, 0), dtype.type(0), g), dtype=dtype)
        if out is None:
            return r
        out[...] = r
        return out
    shape = g.shape if g.shape == y.shape else np.broadcast_shapes(g.shape, y.shape)
    # (in a plan, out= given: the bool mask is a per-thread scratch array, not a new one)
    off = np.less_equal(y, 0) if out is None else np.less_equal(y, 0, out=scratch(shape, np.bool_))
    m8 = off.view(np.int8)
    np.subtract(m8, 1, out=m8)        # zeroed: 1 - 1 = 0; kept (not y <= 0, NaN too): -1
    if out is None:
        out = np.empty(shape, dtype)
    # the wide mask in out itself, unless out is g's memory (a plan writing over a g that dies
    # here: g is read by the AND below)
    mask = scratch(shape, bits) if np.may_share_memory(out, g) else out.view(bits)
    np.copyto(mask, m8)               # (int8 -> int: -1 sign-extends to all ones)
    np.bitwise_and(g.view(bits), mask, out=out.view(bits))
    return out


relu_backward_op = defop("relu_backward", _relu_backward, binary_infer, elementwise=True,
                         out_kernel=_relu_backward, torch_name="ThresholdBackward",
                         doc="g where y > 0 (or NaN), else +0.0: the gradient of relu given its output y")


# The backward of tanh and sigmoid as one op each (PyTorch's tanh_backward / sigmoid_backward):
# g * (1 - y*y) and g * y * (1 - y) in one dispatch instead of three, the same numpy operations
# in the same order (so the same numbers as the three ops they replace). Their own rules give
# double backward (ops/vjps/elementwise.py).
def _tanh_backward(g, y, out=None):
    t = np.multiply(y, y)
    t = np.subtract(1, t, out=t) if type(t) is _nd else 1 - t  # (0-d: a numpy scalar)
    return np.multiply(g, t, out=out)


def _sigmoid_backward(g, y, out=None):
    t = np.multiply(g, y)
    u = np.subtract(1, y)
    return np.multiply(t, u, out=out)


tanh_backward_op = defop("tanh_backward", _tanh_backward, binary_infer, elementwise=True,
                         out_kernel=_tanh_backward, torch_name="TanhBackward",
                         doc="g * (1 - y*y): the gradient of tanh given its output y")
sigmoid_backward_op = defop("sigmoid_backward", _sigmoid_backward, binary_infer, elementwise=True,
                            out_kernel=_sigmoid_backward, torch_name="SigmoidBackward",
                            doc="g * y * (1 - y): the gradient of sigmoid given its output y")


# ---------------------------------------------------------------- erf and the smooth activations
# (dg.erf; F.gelu, F.silu, F.elu, F.softplus). The kernels compute in the input's float dtype
# (erf and the exact GELU through float64, rounded once), as PyTorch's within float32 rounding.
_SQRT1_2 = 0.7071067811865476          # M_SQRT1_2
_TWO_OVER_SQRT_PI = 1.1283791670955126  # M_2_SQRTPI
_GELU_TANH_BETA = 0.7978845608028654    # sqrt(2 / pi) (M_SQRT2 * M_2_SQRTPI * 0.5)
_GELU_TANH_KAPPA = 0.044715


def _erf64(x):
    """erf in float64, elementwise (the C library's erf, as PyTorch's CPU kernel; numpy has none)."""
    flat = x.astype(np.float64, copy=False).ravel().tolist()
    return np.fromiter(map(_math.erf, flat), np.float64, count=len(flat)).reshape(x.shape)


def _erf_kernel(x):
    want = x.dtype if x.dtype.kind == "f" else F32   # integers and bools: the default float
    return _erf64(x).astype(want, copy=False)


def _float_only_infer(kernel):
    """PyTorch's activation kernels refuse integer and bool tensors ("GeluKernelImpl" not
    implemented for 'Long'; PyTorch's NotImplementedError there is a RuntimeError, as abs's)."""
    def infer(x, **_):
        if x.dtype.kind != "f":
            raise DGRuntimeError(f'"{kernel}" not implemented for \'{scalar_name(x.dtype)}\'')
        return Spec(x.shape, x.dtype)
    return infer


def _gelu_infer(x, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise DGRuntimeError("approximate argument must be either none or tanh.")
    return _float_only_infer("GeluKernelImpl")(x)


def _gelu_kernel(x, approximate="none"):
    if x.dtype.kind != "f" or approximate not in ("none", "tanh"):
        raise TypeError("gelu input")
    with np.errstate(all="ignore"):
        if approximate == "tanh":
            inner = (x + x * x * x * _GELU_TANH_KAPPA) * _GELU_TANH_BETA
            return np.asarray((x * 0.5) * (np.tanh(inner) + 1), dtype=x.dtype)
        xd = x.astype(np.float64, copy=False)
        return (xd * 0.5 * (_erf64(xd * _SQRT1_2) + 1.0)).astype(x.dtype, copy=False)


def _silu_kernel(x):
    if x.dtype.kind != "f":
        raise TypeError("silu input")
    with np.errstate(all="ignore"):
        return np.asarray(x / (np.exp(-x) + 1), dtype=x.dtype)


def _elu_kernel(x, alpha=1.0):
    if x.dtype.kind != "f":
        raise TypeError("elu input")
    with np.errstate(all="ignore"):
        return np.asarray(np.where(x > 0, x, np.expm1(x) * alpha), dtype=x.dtype)


def _softplus_kernel(x, beta=1.0, threshold=20.0):
    if x.dtype.kind != "f":
        raise TypeError("softplus input")
    with np.errstate(all="ignore"):
        bx = x * beta
        return np.asarray(np.where(bx > threshold, x, np.log1p(np.exp(bx)) / beta), dtype=x.dtype)


erf_op = defop("erf", _quiet(_erf_kernel), float_unary_infer, elementwise=True)
gelu_op = defop("gelu", _gelu_kernel, _gelu_infer, elementwise=True)
silu_op = defop("silu", _silu_kernel, _float_only_infer("silu_cpu"), elementwise=True)
elu_op = defop("elu", _elu_kernel, _float_only_infer("elu_cpu"), elementwise=True)
softplus_op = defop("softplus", _softplus_kernel, _float_only_infer("softplus_cpu"),
                    elementwise=True)



# ---------------------------------------------------------------- rounding (zero gradient)
def _round_infer(x, decimals=0):
    if x.dtype.kind == "b":
        raise DGRuntimeError("\"round_cpu\" not implemented for 'Bool'")
    if decimals and x.dtype.kind != "f":
        raise DGRuntimeError(
            f"round_cpu: decimals is only supported for floating point tensors (got {scalar_name(x.dtype)})")
    return Spec(x.shape, x.dtype)


def _rounding_infer(name):
    def infer(x):
        if x.dtype.kind == "b":
            raise DGRuntimeError(f"\"{name}_cpu\" not implemented for 'Bool'")
        return Spec(x.shape, x.dtype)
    return infer


def _int_identity(ufunc):
    """floor/ceil/trunc of an integer tensor is a copy of it (PyTorch); numpy returns floats."""
    def kernel(x):
        if x.dtype.kind == "b":
            raise TypeError("bool input")
        return x.copy() if x.dtype.kind in "iu" else ufunc(x)
    kernel.__name__ = ufunc.__name__
    return kernel


def _round_kernel(x, decimals=0):
    """Round half to even, as PyTorch (np.round does the same); decimals scales by 10**d."""
    if x.dtype.kind == "b" or (decimals and x.dtype.kind != "f"):
        raise TypeError("round input")
    if x.dtype.kind in "iu":
        return x.copy()
    if not decimals:
        return np.round(x)
    with np.errstate(all="ignore"):
        if decimals > 0:
            s = x.dtype.type(10.0 ** decimals)
            return np.asarray(np.round(x * s) / s, dtype=x.dtype)
        s = x.dtype.type(10.0 ** -decimals)
        return np.asarray(np.round(x / s) * s, dtype=x.dtype)


floor_op = defop("floor", _int_identity(np.floor), _rounding_infer("floor"), elementwise=True,
                 saves=(), check_eager=True)
ceil_op = defop("ceil", _int_identity(np.ceil), _rounding_infer("ceil"), elementwise=True,
                saves=(), check_eager=True)
trunc_op = defop("trunc", _int_identity(np.trunc), _rounding_infer("trunc"), elementwise=True,
                 saves=(), check_eager=True)
round_op = defop("round", _round_kernel, _round_infer, elementwise=True, saves=(),
                 check_eager=True)

def _clamp_kernel(x, min=None, max=None):
    want = result_type((x.dtype, x.ndim), *(v for v in (min, max) if v is not None))
    if want != x.dtype:
        x = x.astype(want)
    if min is not None and max is not None and min > max:
        return np.full_like(x, max)   # PyTorch: every element becomes max
    return np.clip(x, min, max)


def _clamp_infer(x, min=None, max=None):
    if min is None and max is None:
        raise DGRuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    return Spec(x.shape, result_type((x.dtype, len(x.shape)), *(v for v in (min, max) if v is not None)))


clamp_op = defop("clamp", _clamp_kernel, _clamp_infer, elementwise=True, check_eager=True)


# ---------------------------------------------------------------- selection
def _where_kernel(c, x, y):
    if c.dtype.kind != "b":
        raise TypeError("where condition")
    want = result_type(_operand(x), _operand(y))
    r = np.where(c, x, y)
    return r if r.dtype == want else r.astype(want)


def _where_infer(c, x, y):
    if c.dtype.kind != "b":
        raise DGRuntimeError(
            "where expected condition to be a boolean tensor, but got a tensor with dtype "
            f"{scalar_name(c.dtype)}")
    shape = broadcast_shapes(shape_of(c), shape_of(x), shape_of(y))
    return Spec(shape, result_type(operand(x), operand(y)))


where_op = defop("where", _where_kernel, _where_infer, elementwise=True, saves=(0,))


def _masked_fill_kernel(x, mask, value):
    if mask.dtype.kind != "b" or (type(value) is _nd and value.ndim):
        raise TypeError("masked_fill arguments")
    return np.where(mask, value, x).astype(x.dtype, copy=False)


def _masked_fill_infer(x, mask, value):
    if mask.dtype.kind != "b":
        raise DGRuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype {ctype_name(mask.dtype)}")
    if isinstance(value, Spec) and len(value.shape):
        raise DGRuntimeError(
            "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
            f"{len(value.shape)} dimension(s).")
    return Spec(broadcast_shapes(mask.shape, x.shape), x.dtype)


masked_fill_op = defop("masked_fill", _masked_fill_kernel, _masked_fill_infer, check_eager=True,
                       saves=(1,))


# ---------------------------------------------------------------- dtype casts
def _cast_kernel(x, dtype, into_target=False):
    return x.astype(dtype, copy=False) if x.dtype != dtype else x.copy()


# into_target: the cast of an in-place result into its target's dtype (float32 x += float64 y),
# whose gradient passes in the target's dtype, as eagerly (the op's rule sums it there, then
# casts to each input's dtype: PyTorch's order)
cast_op = defop("cast", _cast_kernel, lambda x, dtype, into_target=False: Spec(x.shape, dtype),
                elementwise=True, saves=(), torch_name="ToCopy")


# ---------------------------------------------------------------- public functions
def _out(result, out, name, exact_dtype=False):
    """PyTorch's out=: the result written into `out` through the one write door (a copy_), with
    PyTorch's checks: no autograd through out=, the result's dtype castable to out's (exactly
    out's dtype for the products), and the same shape (dualgraph does not resize `out`)."""
    if out is None:
        return result
    from .common import can_cast, fmt_shape
    from .shape import copy_op
    if not hasattr(out, "shape") or not hasattr(out, "dtype") or _is_scalar(out):
        from ..errors import DGTypeError
        raise DGTypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if getattr(result, "_rg", False):
        raise DGRuntimeError(
            f"{name}(): functions with out=... arguments don't support automatic differentiation, "
            "but one of the arguments requires grad.")
    rd, od = to_np(result.dtype), to_np(out.dtype)
    if exact_dtype and rd != od:
        raise DGRuntimeError(
            f"Expected out tensor to have dtype {ctype_name(rd)}, but got {ctype_name(od)} instead")
    if not can_cast(rd, od):
        raise DGRuntimeError(
            f"result type {scalar_name(rd)} can't be cast to the desired output type {scalar_name(od)}")
    rs, os_ = tuple(result.shape), tuple(out.shape)
    if rs != os_:
        raise DGRuntimeError(
            f"{name}(): the out= tensor has shape {fmt_shape(os_)} but the result has shape "
            f"{fmt_shape(rs)}; dualgraph does not resize out= tensors (PyTorch resizes them): "
            "pass a tensor of the result's shape")
    apply_inplace(out, copy_op, result)
    return out


def _scaled(other, alpha, input=None):
    # alpha may be a run-time value (a lifted learning rate) in a graph: compare literals only
    if type(alpha) in (int, float) and alpha == 1:
        return other
    if input is not None and _is_scalar(alpha):
        _alpha_check(input, other, alpha)
    return other * alpha


def _alpha_check(input, other, alpha):
    """PyTorch's alpha_check, against the dtype add/sub compute in."""
    if type(alpha) in (float, int):
        dt = getattr(input, "_np_dtype", None)  # (a tensor of either mode; None for a number)
        if dt is not None and dt().kind == "f":
            return  # a float tensor computes in a float dtype: any number is a valid alpha
    if not all(_is_scalar(x) or hasattr(x, "dtype") for x in (input, other)):
        return
    want = result_type(_user_operand(input), _user_operand(other))
    if isinstance(alpha, (bool, np.bool_)):
        if want.kind != "b":
            raise DGRuntimeError("Boolean alpha only supported for Boolean results.")
    elif want.kind != "f" and isinstance(alpha, (float, np.floating)):
        raise DGRuntimeError(
            "For integral input tensors, argument alpha must not be a floating point number.")


def add(input, other, *, alpha=1, out=None):
    return _out(apply(add_op, input, _scaled(other, alpha, input)), out, "add")


def sub(input, other, *, alpha=1, out=None):
    return _out(apply(sub_op, input, _scaled(other, alpha, input)), out, "sub")


def mul(input, other, *, out=None):
    return _out(apply(mul_op, input, other), out, "mul")


def _check_rounding_mode(rounding_mode, name="div"):
    if rounding_mode not in (None, "trunc", "floor"):
        raise DGRuntimeError(f"{name} expected rounding_mode to be one of None, 'trunc', or 'floor' "
                             f"but found '{rounding_mode}'")


def div(input, other, *, rounding_mode=None, out=None):
    _check_rounding_mode(rounding_mode)
    if rounding_mode == "floor":
        r = apply(floor_divide_op, input, other)
    elif rounding_mode == "trunc":
        r = trunc_div(input, other)
    else:
        r = apply(div_op, input, other)
    return _out(r, out, "div")


def trunc_div(input, other):
    """Division rounded toward zero, in PyTorch's promoted dtype: exact integer arithmetic
    when both are integers (the floor quotient, one up where the division is inexact and the
    signs differ: |a| would overflow at the dtype's minimum; division by zero raises),
    trunc(a / b) otherwise."""
    rt = result_type(_user_operand(input), _user_operand(other))
    if category(rt) < 2:
        if np.dtype(rt).kind == "b":
            raise DGNotImplementedError('"div_trunc_cpu" not implemented for \'Bool\'')
        if np.dtype(rt).kind == "u":  # (a negative Python divisor wraps into the unsigned type)
            return apply(floor_divide_op, input, other)
        inexact = apply(ne_op, apply(remainder_op, input, other), 0)
        signs_differ = apply(ne_op, _negative_any(input), _negative_any(other))
        return apply(add_op, apply(floor_divide_op, input, other),
                     apply(logical_and_op, inexact, signs_differ))
    return apply(trunc_divide_op, input, other)


def _user_operand(x):
    if _is_scalar(x):
        return x.item() if isinstance(x, np.generic) else x
    return (to_np(x.dtype), x.ndim)


def _negative_any(x):
    return x < 0 if _is_scalar(x) else apply(lt_op, x, 0)


def pow(input, exponent, *, out=None):
    return _out(apply(pow_op, input, exponent), out, "pow")


def neg(input, *, out=None):
    return _out(apply(neg_op, input), out, "neg")


def abs(input, *, out=None):
    return _out(apply(abs_op, input), out, "abs")


def sign(input, *, out=None):
    return _out(apply(sign_op, input), out, "sign")


def exp(input, *, out=None):
    return _out(apply(exp_op, input), out, "exp")


def log(input, *, out=None):
    return _out(apply(log_op, input), out, "log")


def log1p(input, *, out=None):
    return _out(apply(log1p_op, input), out, "log1p")


def sqrt(input, *, out=None):
    return _out(apply(sqrt_op, input), out, "sqrt")


def rsqrt(input, *, out=None):
    return _out(apply(rsqrt_op, input), out, "rsqrt")


def sin(input, *, out=None):
    return _out(apply(sin_op, input), out, "sin")


def cos(input, *, out=None):
    return _out(apply(cos_op, input), out, "cos")


def tanh(input, *, out=None):
    return _out(apply(tanh_op, input), out, "tanh")


def sigmoid(input, *, out=None):
    return _out(apply(sigmoid_op, input), out, "sigmoid")


def relu(input, *, out=None):
    return _out(apply(relu_op, input), out, "relu")


def clamp(input, min=None, max=None, *, out=None):
    """numpy's clip in one op (number bounds), for the rules inside dualgraph; the public
    dg.clamp is ops/elementwise_math.py's, with PyTorch's rules at ties and for tensor bounds."""
    return _out(apply(clamp_op, input, min=min, max=max), out, "clamp")


clip = clamp


def maximum(input, other, *, out=None):
    return _out(apply(maximum_op, input, other), out, "maximum")


def minimum(input, other, *, out=None):
    return _out(apply(minimum_op, input, other), out, "minimum")


def where(condition, input, other, *, out=None):
    return _out(apply(where_op, condition, input, other), out, "where")


def masked_fill(input, mask, value):
    return apply(masked_fill_op, input, mask, value)


def floor_divide(input, other, *, out=None):
    return _out(apply(floor_divide_op, input, other), out, "floor_divide")


def remainder(input, other, *, out=None):
    return _out(apply(remainder_op, input, other), out, "remainder")


def eq(input, other, *, out=None):
    return _out(apply(eq_op, input, other), out, "eq")


def ne(input, other, *, out=None):
    return _out(apply(ne_op, input, other), out, "ne")


def lt(input, other, *, out=None):
    return _out(apply(lt_op, input, other), out, "lt")


def le(input, other, *, out=None):
    return _out(apply(le_op, input, other), out, "le")


def gt(input, other, *, out=None):
    return _out(apply(gt_op, input, other), out, "gt")


def ge(input, other, *, out=None):
    return _out(apply(ge_op, input, other), out, "ge")


def logical_and(input, other, *, out=None):
    return _out(apply(logical_and_op, input, other), out, "logical_and")


def logical_or(input, other, *, out=None):
    return _out(apply(logical_or_op, input, other), out, "logical_or")


def logical_not(input):
    return apply(logical_not_op, input)


def cast(input, dtype):
    return apply(cast_op, input, dtype=to_np(dtype))


def bitwise_and(input, other):
    return apply(bitwise_and_op, input, other)


def bitwise_or(input, other):
    return apply(bitwise_or_op, input, other)


def bitwise_not(input):
    return apply(bitwise_not_op, input)


def bitwise_xor(input, other, *, out=None):
    return _out(apply(bitwise_xor_op, input, other), out, "bitwise_xor")


def bitwise_left_shift(input, other, *, out=None):
    return _out(apply(bitwise_left_shift_op, input, other), out, "bitwise_left_shift")


def bitwise_right_shift(input, other, *, out=None):
    return _out(apply(bitwise_right_shift_op, input, other), out, "bitwise_right_shift")


def fmod(input, other, *, out=None):
    # (Tensor, Tensor) or (Tensor, Number): torch.fmod has no (Number, Tensor) form, unlike remainder
    if _arg_type(input) != "Tensor" or not (_is_scalar(other) or _arg_type(other) == "Tensor"):
        from ..errors import DGTypeError
        raise DGTypeError(
            f"fmod() received an invalid combination of arguments - got "
            f"({_arg_type(input)}, {_arg_type(other)}), but expected one of:\n"
            " * (Tensor input, Tensor other, *, Tensor out = None)\n"
            " * (Tensor input, Number other, *, Tensor out = None)\n")
    return _out(apply(fmod_op, input, other), out, "fmod")


def _arg_type(x):
    return "Tensor" if hasattr(x, "shape") and not _is_scalar(x) else type(x).__name__



def floor(input, *, out=None):
    return _out(apply(floor_op, input), out, "floor")


def ceil(input, *, out=None):
    return _out(apply(ceil_op, input), out, "ceil")


def trunc(input, *, out=None):
    return _out(apply(trunc_op, input), out, "trunc")


fix = trunc


def round(input, *, decimals=0, out=None):
    return _out(apply(round_op, input, decimals=int(decimals)), out, "round")


def erf(input, *, out=None):
    return _out(apply(erf_op, input), out, "erf")
