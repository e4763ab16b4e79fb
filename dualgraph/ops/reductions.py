"""Reductions and the softmax family: sum, mean, prod, amax/amin, argmax/argmin, var/std,
logsumexp, softmax, log_softmax."""
import builtins as _builtins
import math
import warnings as _warnings
from collections import namedtuple

import numpy as np

from ..dtypes import I64, F32, scalar_name
from ..errors import DGRuntimeError, DGIndexError
from .common import Spec, c_order, norm_dims, norm_dim, numel
from .dispatch import apply
from . import elementwise as E
from .elementwise import maximum, minimum
from .registry import defop
from .shape import gather_op, squeeze_op


_F16 = np.dtype(np.float16)


def _axis(dim):
    return tuple(dim) if isinstance(dim, list) else dim


def _kaxis(dim, ndim):
    """The numpy axis for a reduction kernel. A 0-d tensor accepts dim 0 / -1 (PyTorch), where
    numpy has no axis at all: reducing "that dim" of a 0-d array is reducing everything."""
    if dim is None or ndim == 0:
        return None
    return tuple(dim) if isinstance(dim, list) else dim


def _quiet_warnings(fn):
    """Empty means and degenerate variances are nan in PyTorch, silently; numpy warns."""
    def kernel(x, *a, **k):
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore", RuntimeWarning)
            with np.errstate(all="ignore"):
                return fn(x, *a, **k)
    kernel.__name__ = fn.__name__
    return kernel


def _reduced_shape(shape, dims, keepdim):
    if keepdim:
        return tuple(1 if i in dims else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in dims)


def _reduce_infer(dtype_rule):
    def infer(x, dim=None, keepdim=False, **kw):
        dims = norm_dims(_axis(dim), len(x.shape))
        return Spec(_reduced_shape(x.shape, dims, keepdim), dtype_rule(x, **kw))
    return infer


count_ratio_op = defop(
    "count_ratio", lambda x, out: np.asarray(x.size // _builtins.max(out.size, 1), dtype=np.float32),
    lambda x, out: Spec((), F32), doc="elements of x per element of out (dynamic shapes)")


# ---------------------------------------------------------------- sum / mean / prod
def _sum_dtype(x, dtype=None):
    if dtype is not None:
        return dtype
    return I64 if x.dtype.kind in "biu" else x.dtype


def _sum_kernel(x, dim=None, keepdim=False, dtype=None):
    x = c_order(x)
    axis = _kaxis(dim, x.ndim)
    if _sum_dtype(x, dtype) == _F16:
        # PyTorch adds float16 in float32 and rounds once; numpy's float16 reduce rounds every
        # partial sum (over a non-inner axis) to float16, and overflows where the total fits
        if x.dtype != _F16:   # the elements cast first, through float32 (c10::Half's door)
            x = x.astype(F32, copy=False).astype(_F16)
        r = np.add.reduce(x, axis=axis, keepdims=keepdim, dtype=F32)
        return np.asarray(r, dtype=_F16)
    if axis is None and dtype is None and x.dtype == np.bool_:
        # a mask's count (the gradients of max(x), amax): np.count_nonzero counts without the
        # int64 add.reduce's cast of every element; the same number
        r = np.asarray(np.count_nonzero(x), dtype=I64)
        return r.reshape((1,) * x.ndim) if keepdim else r
    if axis is not None and x.size >= _SPLIT_FROM and type(x) is np.ndarray and \
            x.dtype.kind == "f" and dtype in (None, x.dtype) and x.flags.c_contiguous:
        rest = _batch_then_trailing(axis, x.ndim)
        if rest is not None:
            r = np.add.reduce(x, axis=0)      # (fresh, contiguous: its trailing block is a row)
            r = np.add.reduce(r.reshape(r.shape[:rest[0]] + (-1,)), axis=-1)
            return r.reshape(_kept_shape(x.shape, axis)) if keepdim else r
    # (the ufunc's reduce: np.sum is a Python wrapper around it, ~1 us more a call; the same sums)
    return np.add.reduce(x, axis=axis, keepdims=keepdim, dtype=_sum_dtype(x, dtype))


# A sum over the batch and the trailing axes (a conv bias's gradient: (N, C, H, W) over 0, 2, 3)
# in one reduce walks the array with a short inner loop per (n, c); the batch summed first
# (whole rows added), then the trailing block of the (C, H, W) result, takes ~half the time
# (benchmarks/kernels.py). Different rounding from the one reduce, the same in both modes.
_SPLIT_FROM = 1 << 14


def _batch_then_trailing(axis, ndim):
    """For axis = 0 plus the last k >= 1 axes, not axis 1: those trailing axes of the batch's
    sum (numbered without axis 0, in order); else None."""
    axes = sorted({a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))})
    if ndim < 3 or axes[0] != 0 or len(axes) < 2 or axes[1] < 2 or \
            axes[1:] != list(range(axes[1], ndim)):
        return None
    return tuple(a - 1 for a in axes[1:])


def _kept_shape(shape, axis):
    axes = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _mean_dtype(x, dtype=None):
    d = dtype or x.dtype
    if d.kind != "f":
        raise DGRuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {scalar_name(d)}")
    return d


@_quiet_warnings
def _mean_kernel(x, dim=None, keepdim=False, dtype=None):
    if (dtype or x.dtype).kind != "f":
        raise TypeError("integer mean")
    want = dtype or x.dtype
    # a float16 mean is PyTorch's float32 sum and division, rounded once (np.mean does so for
    # float16 input by itself, not for mean(dtype=float16) of another dtype)
    r = np.mean(c_order(x), axis=_kaxis(dim, x.ndim), keepdims=keepdim,
                dtype=F32 if want == _F16 else dtype)
    return r if r.dtype == want else np.asarray(r, dtype=want)


def _prod_kernel(x, dim=None, keepdim=False, dtype=None):
    return np.prod(c_order(x), axis=_kaxis(dim, x.ndim), keepdims=keepdim, dtype=_sum_dtype(x, dtype))


sum_op = defop("sum", _sum_kernel, _reduce_infer(_sum_dtype), saves=())
mean_op = defop("mean", _mean_kernel, _reduce_infer(_mean_dtype), saves=())
prod_op = defop("prod", _prod_kernel, _reduce_infer(_sum_dtype))


# ---------------------------------------------------------------- all / any (bool results)
def _bool_dtype(x, **_):
    return np.dtype(np.uint8) if x.dtype == np.uint8 else np.dtype(bool)  # as PyTorch


def _logic_kernel(fn):
    def kernel(x, dim=None, keepdim=False):
        r = fn(x, axis=_axis(dim), keepdims=keepdim)
        return np.asarray(r, dtype=_bool_dtype(x))
    return kernel


all_op = defop("all", _logic_kernel(np.all), _reduce_infer(_bool_dtype), torch_name="All")
any_op = defop("any", _logic_kernel(np.any), _reduce_infer(_bool_dtype), torch_name="Any")


# ---------------------------------------------------------------- amax / amin / arg*
def _nonempty(name):
    # evenly: max(x) / min(x), whose gradient is PyTorch's evenly_distribute_backward (the
    # backward rule reads it; the value is amax's / amin's)
    def infer(x, dim=None, keepdim=False, evenly=False):
        dims = norm_dims(_axis(dim), len(x.shape))
        if dim is None and numel(x.shape) == 0:
            raise DGRuntimeError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                "Specify the reduction dim with the 'dim' argument.")
        empty = [d for d in dims if x.shape[d] == 0]
        if empty:
            raise DGIndexError(f"{name}(): Expected reduction dim {empty[0]} to have non-zero size.")
        return Spec(_reduced_shape(x.shape, dims, keepdim), x.dtype)
    return infer


def _extreme_kernel(fn):
    def kernel(x, dim=None, keepdim=False, evenly=False):
        return fn(x, axis=_kaxis(dim, x.ndim), keepdims=keepdim)
    return kernel


amax_op = defop("amax", _extreme_kernel(np.amax), _nonempty("amax"), saves_output=True)
amin_op = defop("amin", _extreme_kernel(np.amin), _nonempty("amin"), saves_output=True)


def _arg_infer(name):
    def infer(x, dim=None, keepdim=False):
        if dim is None:
            if numel(x.shape) == 0:
                raise DGIndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
            return Spec((1,) * len(x.shape) if keepdim else (), I64)
        d = norm_dim(dim, len(x.shape))
        if x.shape and x.shape[d] == 0:
            raise DGIndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
        return Spec(_reduced_shape(x.shape, (d,) if x.shape else (), keepdim), I64)
    return infer


def _arg_kernel(fn):
    def kernel(x, dim=None, keepdim=False):
        if dim is None:
            r = fn(x)
            return np.asarray(r, dtype=I64).reshape((1,) * x.ndim if keepdim else ())
        if x.ndim == 0:
            return np.asarray(0, dtype=I64)
        return fn(x, axis=dim, keepdims=keepdim).astype(I64, copy=False)
    return kernel


argmax_op = defop("argmax", _arg_kernel(np.argmax), _arg_infer("argmax"))
argmin_op = defop("argmin", _arg_kernel(np.argmin), _arg_infer("argmin"))


# ---------------------------------------------------------------- var / std
def _float_only(name):
    def rule(x, correction=1):
        if x.dtype.kind != "f":
            raise DGRuntimeError("std and var only support floating point and complex dtypes")
        return x.dtype
    return rule


def _var_std(x, dim, keepdim, correction, sqrt):
    if x.dtype.kind != "f":
        raise TypeError("integer var")
    x = c_order(x)
    axis = _kaxis(dim, x.ndim)
    n = x.size if axis is None else math.prod(
        x.shape[a] for a in (axis if isinstance(axis, tuple) else (axis,)))
    # N > correction: np.var's one warning (no degree of freedom left) cannot fire, so the
    # warnings context (~2 us) is paid only in that degenerate case
    if correction < n:
        with np.errstate(all="ignore"):
            return _var_std_kernel(x, axis, keepdim, correction, sqrt)
    return _var_std_silenced(x, axis, keepdim, correction, sqrt)


def _var_std_kernel(x, axis, keepdim, correction, sqrt):
    if x.dtype in (_F16, np.float32):
        # PyTorch accumulates float16 and float32 in double on CPU and takes the sqrt there, then
        # rounds once (its bits; and all-equal values give exactly 0, where a float32 mean's
        # rounding would give a tiny std whose gradient is large)
        w = np.var(x, axis=axis, ddof=correction, keepdims=keepdim, dtype=np.float64)
        return np.asarray(np.sqrt(w) if sqrt else w, dtype=x.dtype)
    # numpy, like PyTorch, divides by max(0, N - correction): inf or nan, never negative
    v = np.var(x, axis=axis, ddof=correction, keepdims=keepdim)
    return np.sqrt(v) if sqrt else v


_var_std_silenced = _quiet_warnings(_var_std_kernel)


def _var_kernel(x, dim=None, keepdim=False, correction=1):
    return _var_std(x, dim, keepdim, correction, False)


def _std_kernel(x, dim=None, keepdim=False, correction=1):
    return _var_std(x, dim, keepdim, correction, True)


var_op = defop("var", _var_kernel, _reduce_infer(_float_only("var")))
std_op = defop("std", _std_kernel, _reduce_infer(_float_only("std")), saves_output=True)


# ---------------------------------------------------------------- logsumexp / softmax family
def _lse_kernel(x, dim=None, keepdim=False):
    x = c_order(x) if x.dtype.kind == "f" else x.astype(F32)
    axis = _kaxis(dim, x.ndim)
    m = np.amax(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(all="ignore"):
        r = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdim:
        r = np.squeeze(r, axis=axis)
    return np.asarray(r, dtype=x.dtype)


def _float_dtype(x, **_):
    return x.dtype if x.dtype.kind == "f" else F32


logsumexp_op = defop("logsumexp", _lse_kernel, _reduce_infer(_float_dtype), saves_output=True)


def _softmax_kernel(x, dim):
    if x.dtype.kind != "f":
        raise TypeError("softmax of integers")
    x = c_order(x)
    axis = _kaxis(dim, x.ndim)
    e = np.subtract(x, np.amax(x, axis=axis, keepdims=True, initial=-np.inf), out=np.empty_like(x))
    np.exp(e, out=e)
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def _simd_bytes():
    """numpy's widest SIMD vector here (bytes): a float reduction over a contiguous row shorter
    than one vector runs its scalar loop (see _row_max)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as f
    except ImportError:  # pragma: no cover
        return 16
    return 64 if f.get("AVX512F") else 32 if f.get("AVX2") else 16


_SCALAR_ROW_BYTES = _simd_bytes()


def _row_max(x, axis):
    """max over `axis` (keepdims, -inf for an empty axis): np.maximum.reduce, with the same bits.
    Over the short last axis of a tall 2-D array (logits (N, C), C of a few classes) numpy runs
    one inner loop per row (~60 ns each); the same scalar maximum, one row after another,
    reads the transposed copy down its columns in C vectorised passes (3x faster at (64, 10),
    9x at (512, 10)). Only for rows shorter than one SIMD vector, where numpy's row loop is
    that scalar loop (longer rows are reduced lane-wise, which may pick another of two equal
    signed zeros or NaNs)."""
    if (x.ndim == 2 and axis in (1, -1) and x.shape[0] >= 16 and x.dtype.char in "fd"
            and 0 < x.shape[1] * x.itemsize < _SCALAR_ROW_BYTES):
        return np.maximum.reduce(np.ascontiguousarray(x.T), axis=0, initial=-np.inf)[:, None]
    return np.maximum.reduce(x, axis=axis, keepdims=True, initial=-np.inf)


def _shifted_lse(x, axis):
    """(s, lse): s = x - max(x) along axis (a new array) and lse = log(sum(exp(s))) (keepdims),
    so that log_softmax is s - lse."""
    # (the ufuncs' reduce directly: np.amax / np.sum are Python wrappers around them, which cost
    # more than the arithmetic on small arrays; the same numbers)
    x = c_order(x)
    s = np.subtract(x, _row_max(x, axis), out=np.empty_like(x))
    if x.size:  # every sum holds an exp(0) = 1 (or is NaN): log cannot warn
        return s, np.log(np.add.reduce(np.exp(s), axis=axis, keepdims=True))
    with np.errstate(divide="ignore"):   # (an empty axis: log(0) of its empty sums)
        return s, np.log(np.add.reduce(np.exp(s), axis=axis, keepdims=True))


_COLUMNS_UP_TO = 32   # classes: beyond, the row reductions' inner loops are long enough


def _lse_by_columns(x, axis):
    """Whether log_softmax of x over `axis` takes _columns_lse: (N, C) logits with few classes
    (a classifier's), where numpy's reductions along each short row run one inner loop per row
    (~60 ns each); on the transposed copy (C, N) they run C vectorised passes (log_softmax
    (64, 10) 13.8 -> 10.0 us, (512, 10) 54 -> 24 us here). The sums then add the classes in
    order, not numpy's pairwise order along a row: another rounding, the same in both modes."""
    return (x.ndim == 2 and axis == 1 and x.shape[0] >= 16 and 0 < x.shape[1] <= _COLUMNS_UP_TO
            and x.dtype.kind == "f")


def _columns_lse(x):
    """(s, m, lse) of (N, C) logits over their classes on the transposed copy: s = x^T - m
    (C, N), m the max of each row of x and lse = log(sum(exp(s))), each (1, N): the formula
    of _shifted_lse, reduced along axis 0."""
    t = np.empty(x.shape[::-1], x.dtype)     # (a copy always: t is written in place)
    np.copyto(t, x.T)
    m = np.maximum.reduce(t, axis=0, keepdims=True, initial=-np.inf)
    np.subtract(t, m, out=t)
    return t, m, np.log(np.add.reduce(np.exp(t), axis=0, keepdims=True))


def _log_softmax_kernel(x, dim):
    if x.dtype.kind != "f":
        raise TypeError("log_softmax of integers")
    axis = _kaxis(dim, x.ndim)
    if _lse_by_columns(x, axis):
        t, _, lse = _columns_lse(x)
        t -= lse
        return np.ascontiguousarray(t.T)
    s, lse = _shifted_lse(x, axis)
    s -= lse
    return s


def _softmax_infer(name):
    def infer(x, dim):
        norm_dim(dim, len(x.shape))
        if x.dtype.kind != "f":
            raise DGRuntimeError(f'"{name}_lastdim_kernel_impl" not implemented for \'{scalar_name(x.dtype)}\'')
        return Spec(x.shape, x.dtype)
    return infer


softmax_op = defop("softmax", _softmax_kernel, _softmax_infer("softmax"), saves=(),
                   saves_output=True)
log_softmax_op = defop("log_softmax", _log_softmax_kernel, _softmax_infer("log_softmax"),
                       saves=(), saves_output=True, torch_name="LogSoftmax")


# ---------------------------------------------------------------- cumulative sums / products
def _cum_dtype(x, dtype=None):
    if dtype is not None:
        return dtype
    return I64 if x.dtype.kind in "biu" else x.dtype


def _cum_infer(x, dim, dtype=None):
    norm_dim(dim, len(x.shape))
    return Spec(x.shape, _cum_dtype(x, dtype))


def _cum_kernel(fn):
    def kernel(x, dim, dtype=None):
        want = _cum_dtype(x, dtype)
        if x.ndim == 0:
            return np.array(x, dtype=want)
        return fn(x, axis=dim, dtype=want)
    kernel.__name__ = fn.__name__
    return kernel


cumsum_op = defop("cumsum", _cum_kernel(np.cumsum), _cum_infer, saves=())
cumprod_op = defop("cumprod", _cum_kernel(np.cumprod), _cum_infer, saves_output=True)


# ---------------------------------------------------------------- sorting: argsort, topk
def _sort_key(x, descending):
    """The array whose stable ascending argsort is x's order (descending: negated, in a dtype
    that can hold the negation; bool and unsigned are widened first)."""
    if not descending:
        return x
    if x.dtype.kind in "bu":
        x = x.astype(np.int64)
    return -x


def _stable_order(x, dim, descending):
    """The stable argsort of x along dim; descending puts NaN first, as PyTorch (NaN is the
    largest), where numpy sorts every NaN last."""
    if descending and x.dtype.kind == "f" and np.isnan(x).any():
        # x reversed, sorted ascending, read backwards: NaN first, and equal values (NaNs
        # too) still in index order
        r = np.argsort(np.flip(x, dim), axis=dim, kind="stable")
        return np.subtract(x.shape[dim] - 1, np.flip(r, dim))
    return np.argsort(_sort_key(x, descending), axis=dim, kind="stable")


def _argsort_kernel(x, dim=-1, descending=False, stable=False):
    if x.ndim == 0:
        return np.asarray(0, dtype=I64)
    return _stable_order(x, dim, descending).astype(I64, copy=False)


def _argsort_infer(x, dim=-1, descending=False, stable=False):
    norm_dim(dim, len(x.shape))
    return Spec(x.shape, I64)


argsort_op = defop("argsort", _argsort_kernel, _argsort_infer, torch_name="Sort")


def _topk_kernel(x, k, dim=-1, largest=True):
    if x.ndim == 0:
        if k > 1:
            raise IndexError("k out of range")
        return np.zeros((), dtype=I64) if k == 1 else np.zeros((), dtype=I64)
    if k > x.shape[dim] or k < 0:
        raise IndexError("k out of range")
    idx = _stable_order(x, dim, largest)
    return np.take(idx, np.arange(k), axis=dim).astype(I64, copy=False)


def _topk_infer(x, k, dim=-1, largest=True):
    d = norm_dim(dim, len(x.shape))
    size = x.shape[d] if x.shape else 1
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        from ..errors import DGTypeError
        raise DGTypeError(f"topk(): argument 'k' must be int, not {type(k).__name__}")
    if k < 0 or (size is not None and k > size):
        raise DGIndexError("selected index k out of range")
    if not x.shape:
        return Spec((), I64)
    return Spec(tuple(k if i == d else n for i, n in enumerate(x.shape)), I64)


topk_op = defop("topk", _topk_kernel, _topk_infer, check_eager=True, torch_name="Topk")


# ---------------------------------------------------------------- vector norms
def _norm_ord(ord):
    if isinstance(ord, str):
        raise DGRuntimeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    return float(ord)


@_quiet_warnings
def _norm_kernel(x, ord=2.0, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        x = x.astype(dtype)
    if x.dtype.kind != "f":
        raise TypeError("integer norm")
    axis = _kaxis(dim, x.ndim)
    a = np.abs(c_order(x))
    if ord == np.inf:
        r = np.amax(a, axis=axis, keepdims=keepdim)
    elif ord == -np.inf:
        r = np.amin(a, axis=axis, keepdims=keepdim)
    elif ord == 0:
        r = np.sum(a != 0, axis=axis, keepdims=keepdim).astype(x.dtype)
    elif ord == 1:
        r = np.sum(a, axis=axis, keepdims=keepdim)
    elif ord == 2:
        r = np.sqrt(np.sum(a * a, axis=axis, keepdims=keepdim))
    else:
        r = np.power(np.sum(np.power(a, ord), axis=axis, keepdims=keepdim), 1.0 / ord)
    return np.asarray(r, dtype=x.dtype)


def _norm_infer(x, ord=2.0, dim=None, keepdim=False, dtype=None):
    want = dtype if dtype is not None else x.dtype
    if x.dtype.kind != "f":
        raise DGRuntimeError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
            f"{scalar_name(x.dtype)}")
    dims = norm_dims(_axis(dim), len(x.shape))
    if ord in (np.inf, -np.inf) or ord < 0:
        if _builtins.any(x.shape[d] == 0 for d in dims) or (dim is None and numel(x.shape) == 0):
            raise DGIndexError(
                f"linalg.vector_norm cannot compute the {'inf' if ord > 0 else '-inf' if ord == -np.inf else ord} "
                "norm on an empty tensor because the operation does not have an identity")
    return Spec(_reduced_shape(x.shape, dims, keepdim), want)


norm_op = defop("norm", _norm_kernel, _norm_infer, saves_output=True, check_eager=True,
                torch_name="LinalgVectorNorm")


# ---------------------------------------------------------------- public functions
class MinMax(namedtuple("MinMax", ["values", "indices"])):
    """(values, indices), as torch.return_types.max. A namedtuple, so that the tree utilities
    (utils/tree.py) take it apart and build it again: dg.function returns it as eagerly, and
    Session.run fetches it, as PyTorch's pytree does with torch.return_types."""

    __slots__ = ()

    def __repr__(self):
        return f"return_types(values={self[0]!r}, indices={self[1]!r})"


def _dims(dim):
    """Public dim argument -> op attr: PyTorch reads an empty dim list as "every dim"."""
    if isinstance(dim, (list, tuple)):
        return tuple(dim) if len(dim) else None
    return dim


def sum(input, dim=None, keepdim=False, *, dtype=None, axis=None):
    from ..dtypes import to_np
    return apply(sum_op, input, dim=_dims(dim if axis is None else axis), keepdim=keepdim,
                 dtype=to_np(dtype))


def mean(input, dim=None, keepdim=False, *, dtype=None, axis=None):
    from ..dtypes import to_np
    return apply(mean_op, input, dim=_dims(dim if axis is None else axis), keepdim=keepdim,
                 dtype=to_np(dtype))


def prod(input, dim=None, keepdim=False, *, dtype=None):
    from ..dtypes import to_np
    if isinstance(dim, (list, tuple)):
        from ..errors import DGTypeError
        raise DGTypeError("prod(): argument 'dim' must be int, not tuple")
    return apply(prod_op, input, dim=dim, keepdim=keepdim, dtype=to_np(dtype))


def amax(input, dim=None, keepdim=False):
    return apply(amax_op, input, dim=_dims(dim), keepdim=keepdim)


def amin(input, dim=None, keepdim=False):
    return apply(amin_op, input, dim=_dims(dim), keepdim=keepdim)


def argmax(input, dim=None, keepdim=False):
    return apply(argmax_op, input, dim=dim, keepdim=keepdim)


def argmin(input, dim=None, keepdim=False):
    return apply(argmin_op, input, dim=dim, keepdim=keepdim)


def _is_tensorlike(x):
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, np.ndarray)


def max(input, dim=None, keepdim=False):
    """max(x) -> 0-d; max(x, dim) -> (values, indices); max(x, other) -> elementwise maximum."""
    if _is_tensorlike(dim):
        return maximum(input, dim)
    if dim is None:
        return apply(amax_op, input, dim=None, keepdim=False, evenly=True)
    return _values_indices(argmax_op, input, dim, keepdim)


def min(input, dim=None, keepdim=False):
    if _is_tensorlike(dim):
        return minimum(input, dim)
    if dim is None:
        return apply(amin_op, input, dim=None, keepdim=False, evenly=True)
    return _values_indices(argmin_op, input, dim, keepdim)


def _values_indices(arg_op, input, dim, keepdim):
    """max(x, dim) / min(x, dim): the values are gathered at the indices, so the gradient goes
    to that one element (PyTorch), where amax/amin share it among ties."""
    idx = apply(arg_op, input, dim=dim, keepdim=True)
    values = apply(gather_op, input, idx, dim=dim)
    if not keepdim:
        values = apply(squeeze_op, values, dim=dim)
        idx = apply(squeeze_op, idx, dim=dim)
    return MinMax(values, idx)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return apply(var_op, input, dim=_dims(dim), keepdim=keepdim,
                 correction=_correction(unbiased, correction))


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return apply(std_op, input, dim=_dims(dim), keepdim=keepdim,
                 correction=_correction(unbiased, correction))


def logsumexp(input, dim, keepdim=False):
    return apply(logsumexp_op, input, dim=_dims(dim), keepdim=keepdim)


def softmax(input, dim, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return apply(softmax_op, input, dim=dim)


def log_softmax(input, dim, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return apply(log_softmax_op, input, dim=dim)


def all(input, dim=None, keepdim=False):
    return apply(all_op, input, dim=_dims(dim), keepdim=keepdim)


def any(input, dim=None, keepdim=False):
    return apply(any_op, input, dim=_dims(dim), keepdim=keepdim)



# ---------------------------------------------------------------- cumulative / sorting / norms
def cumsum(input, dim, *, dtype=None, out=None):
    from ..dtypes import to_np
    from .elementwise import _out
    return _out(apply(cumsum_op, input, dim=dim, dtype=to_np(dtype)), out, "cumsum")


def cumprod(input, dim, *, dtype=None, out=None):
    from ..dtypes import to_np
    from .elementwise import _out
    return _out(apply(cumprod_op, input, dim=dim, dtype=to_np(dtype)), out, "cumprod")


class SortResult(MinMax):
    """(values, indices), as torch.return_types.sort / topk."""

    __slots__ = ()


def argsort(input, dim=-1, descending=False, stable=False):
    return apply(argsort_op, input, dim=dim, descending=bool(descending), stable=bool(stable))


def sort(input, dim=-1, descending=False, stable=False):
    """(values, indices): the values are gathered at the indices (gather's backward scatters the
    gradient back to the places the values came from, as PyTorch's sort backward)."""
    idx = argsort(input, dim, descending, stable)
    if len(input.shape) == 0:
        return SortResult(input.clone() if hasattr(input, "clone") else input, idx)
    return SortResult(apply(gather_op, input, idx, dim=dim), idx)


def topk(input, k, dim=-1, largest=True, sorted=True):
    """(values, indices) of the k largest (smallest with largest=False) elements along dim,
    sorted; ties keep the lower index first."""
    if dim is None:
        dim = -1
    idx = apply(topk_op, input, k=k, dim=dim, largest=bool(largest))
    if len(input.shape) == 0:
        return SortResult(apply(gather_op, input, idx, dim=0), idx)
    return SortResult(apply(gather_op, input, idx, dim=dim), idx)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """linalg.vector_norm: (sum |x|^ord)^(1/ord) over dim (every element when None)."""
    from ..dtypes import to_np
    return apply(norm_op, x, ord=_norm_ord(ord), dim=_dims(dim), keepdim=bool(keepdim),
                 dtype=to_np(dtype))


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """linalg.matrix_norm for ord 'fro', 1, -1, inf, -inf (composed of vector norms and
    reductions; 'nuc' and the spectral norms 2 / -2 need an SVD, which dualgraph lacks)."""
    from ..errors import DGNotImplementedError
    nd = len(A.shape)
    if nd < 2:
        raise DGRuntimeError(
            f"linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    if not isinstance(dim, (list, tuple)) or len(dim) != 2:
        raise DGRuntimeError("linalg.matrix_norm: dim must be a 2-tuple. Got " + str(dim))
    d0, d1 = norm_dim(dim[0], nd), norm_dim(dim[1], nd)
    if d0 == d1:
        raise DGRuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim, dtype=dtype)
    if ord in ("nuc", 2, -2):
        raise DGNotImplementedError(
            f"linalg.matrix_norm: ord={ord!r} needs singular values (an SVD), which dualgraph "
            "does not have; use ord='fro', 1, -1, inf or -inf")
    if ord not in (1, -1, np.inf, -np.inf):
        raise DGRuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    # ord 1: the largest column sum (sum over rows d0, then the extreme over d1); inf: the
    # largest row sum (sum over d1, then over d0)
    s_dim, m_dim = (d0, d1) if abs(ord) == 1 else (d1, d0)
    x = A if dtype is None else A.to(dtype)
    from .elementwise import abs as _abs
    s = apply(sum_op, _abs(x), dim=(s_dim,), keepdim=True, dtype=None)
    r = apply(amax_op if ord > 0 else amin_op, s, dim=(m_dim,), keepdim=True)
    if not keepdim:
        r = apply(squeeze_op, r, dim=tuple(sorted((d0, d1))))
    return r


def linalg_norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """linalg.norm: a vector norm (1-D input or an int dim), a matrix norm (2-D input or a
    2-tuple dim); with ord and dim both None, the 2-norm of the flattened input."""
    nd = len(A.shape)
    if isinstance(dim, (int, np.integer)):
        dim = (int(dim),)
    if ord is None:
        if dim is not None and len(dim) == 2:
            return matrix_norm(A, "fro", dim, keepdim, dtype=dtype)
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if nd not in (1, 2):
            raise DGRuntimeError(
                f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got {nd}D.")
        dim = tuple(range(nd))
    if len(dim) == 1:
        if isinstance(ord, str):
            raise DGRuntimeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    if len(dim) == 2:
        return matrix_norm(A, ord, dim, keepdim, dtype=dtype)
    raise DGRuntimeError(
        f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dim)}")


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """torch.norm: p='fro' (or 2) is the 2-norm over dim (every element when None); a number p
    is the vector p-norm over dim; 'nuc' is not supported (it needs an SVD)."""
    if isinstance(dim, (int, np.integer)):
        dim = (int(dim),)
    if p == "fro" or p is None:
        return vector_norm(input, 2, dim, keepdim, dtype=dtype)
    if p == "nuc":
        from ..errors import DGNotImplementedError
        raise DGNotImplementedError("norm(p='nuc') needs singular values (an SVD), which dualgraph does not have")
    if isinstance(p, str):
        raise DGRuntimeError(f"norm(): unknown p {p!r}")
    return vector_norm(input, p, dim, keepdim, dtype=dtype)


# ---------------------------------------------------------------- nonzero / unique (eager only)
def _eager_values(input, name, instead):
    """The values of an eager tensor; in a graph (graph mode, dg.function) a refusal when the
    call is made: the result's shape depends on the data, which a compiled graph cannot have."""
    from ..state import _state
    if hasattr(input, "node") or getattr(_state.mode, "from_data", None) is not None:
        raise DGRuntimeError(
            f"{name}(): the shape of its result depends on the values of the input (known only "
            "when the graph runs), so it cannot be part of a graph (graph mode or dg.function) "
            f"and cannot be compiled. Instead: {instead}")
    return np.asarray(input._data)


def where(condition, input=None, other=None, *, out=None):
    """torch.where: elementwise choice (elementwise.where), or with the condition alone
    nonzero(condition, as_tuple=True), its indices (eager only: the shape depends on the data)."""
    if input is None and other is None:
        if out is None:
            return nonzero(condition, as_tuple=True)
    if input is None or other is None or out is not None and input is None:
        from ..errors import DGTypeError
        raise DGTypeError("where() expected (condition, input, other), or the condition alone")
    return E.where(condition, input, other, out=out)


def nonzero(input, *, as_tuple=False):
    """torch.nonzero: the indices of the non-zero elements, one row each ((n, ndim), int64), or
    with as_tuple=True one 1-D tensor of indices per dim (a 0-d input counts as 1-D). Eager
    only."""
    a = _eager_values(input, "nonzero",
                      "compute it eagerly and feed the indices to the graph, or keep the shape "
                      "static with a mask: dg.where(x != 0, x, 0), (x != 0).sum() for a count")
    if as_tuple:
        idx = np.nonzero(a.reshape(1) if a.ndim == 0 else a)
        return tuple(input._index_tensor(np.asarray(i, np.int64)) for i in idx)
    idx = np.argwhere(a).astype(np.int64)
    return input._index_tensor(idx.reshape(idx.shape[0], a.ndim))


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """torch.unique: the distinct values in ascending order (sorted=False sorts too, as
    PyTorch's CPU kernel does), or the distinct slices along dim; with return_inverse the index
    of each element (slice) in them, with return_counts their counts. Eager only; no gradient
    (PyTorch has none either)."""
    a = _eager_values(input, "unique",
                      "compute it eagerly and feed the result to the graph, or use a fixed-size "
                      "formulation (sort, a one-hot count over a known number of values)")
    if dim is None:
        vals, inv, counts = np.unique(a.reshape(-1), return_inverse=True, return_counts=True)
        inv = inv.reshape(a.shape)
    else:
        d = norm_dim(dim, a.ndim)
        moved = np.moveaxis(a, d, 0)
        if moved.shape[0] == 0:
            vals, inv, counts = moved, np.zeros(0, np.int64), np.zeros(0, np.int64)
        else:
            flat = moved.reshape(moved.shape[0], -1)
            vals, inv, counts = np.unique(flat, axis=0, return_inverse=True, return_counts=True)
            vals = vals.reshape((vals.shape[0],) + moved.shape[1:])
        vals = np.moveaxis(vals, 0, d)
        inv = inv.reshape(-1)
    out = (input._index_tensor(np.ascontiguousarray(vals, a.dtype)),)
    if return_inverse:
        out += (input._index_tensor(np.asarray(inv, np.int64)),)
    if return_counts:
        out += (input._index_tensor(np.asarray(counts, np.int64)),)
    return out[0] if len(out) == 1 else out
