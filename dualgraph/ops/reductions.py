"""Reductions and the softmax family: sum, mean, prod, amax/amin, argmax/argmin, var/std,
logsumexp, softmax, log_softmax."""
import builtins as _builtins
import warnings as _warnings

import numpy as np

from ..dtypes import I64, F32, scalar_name
from ..errors import DGRuntimeError, DGIndexError
from .common import Spec, norm_dims, norm_dim, numel
from .dispatch import apply
from .elementwise import maximum, minimum
from .registry import defop
from .shape import gather_op, squeeze_op


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
    return np.sum(x, axis=_kaxis(dim, x.ndim), keepdims=keepdim, dtype=_sum_dtype(x, dtype))


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
    r = np.mean(x, axis=_kaxis(dim, x.ndim), keepdims=keepdim, dtype=dtype)
    want = dtype or x.dtype
    return r if r.dtype == want else np.asarray(r, dtype=want)


def _prod_kernel(x, dim=None, keepdim=False, dtype=None):
    return np.prod(x, axis=_kaxis(dim, x.ndim), keepdims=keepdim, dtype=_sum_dtype(x, dtype))


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
    def infer(x, dim=None, keepdim=False):
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
    def kernel(x, dim=None, keepdim=False):
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


@_quiet_warnings
def _var_kernel(x, dim=None, keepdim=False, correction=1):
    if x.dtype.kind != "f":
        raise TypeError("integer var")
    # numpy, like PyTorch, divides by max(0, N - correction): inf or nan, never negative
    return np.var(x, axis=_kaxis(dim, x.ndim), ddof=correction, keepdims=keepdim)


def _std_kernel(x, dim=None, keepdim=False, correction=1):
    return np.sqrt(_var_kernel(x, dim, keepdim, correction))


var_op = defop("var", _var_kernel, _reduce_infer(_float_only("var")))
std_op = defop("std", _std_kernel, _reduce_infer(_float_only("std")), saves_output=True)


# ---------------------------------------------------------------- logsumexp / softmax family
def _lse_kernel(x, dim=None, keepdim=False):
    if x.dtype.kind != "f":
        x = x.astype(F32)
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
    axis = _kaxis(dim, x.ndim)
    e = np.subtract(x, np.amax(x, axis=axis, keepdims=True, initial=-np.inf), out=np.empty_like(x))
    np.exp(e, out=e)
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def _log_softmax_kernel(x, dim):
    if x.dtype.kind != "f":
        raise TypeError("log_softmax of integers")
    axis = _kaxis(dim, x.ndim)
    s = np.subtract(x, np.amax(x, axis=axis, keepdims=True, initial=-np.inf), out=np.empty_like(x))
    with np.errstate(divide="ignore"):
        s -= np.log(np.sum(np.exp(s), axis=axis, keepdims=True))
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


# ---------------------------------------------------------------- public functions
class MinMax(tuple):
    """(values, indices), as torch.return_types.max."""

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]

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
        return apply(amax_op, input, dim=None, keepdim=False)
    return _values_indices(argmax_op, input, dim, keepdim)


def min(input, dim=None, keepdim=False):
    if _is_tensorlike(dim):
        return minimum(input, dim)
    if dim is None:
        return apply(amin_op, input, dim=None, keepdim=False)
    return _values_indices(argmin_op, input, dim, keepdim)


def _values_indices(arg_op, input, dim, keepdim):
    """max(x, dim) / min(x, dim): the values are gathered at the indices, so the gradient goes
    to that one element (PyTorch), where amax/amin share it among ties."""
    idx = apply(arg_op, input, dim=dim, keepdim=True)
    values = apply(gather_op, input, idx, dim=dim)
    if not keepdim:
        values = apply(squeeze_op, values, dim=dim)
        idx = apply(squeeze_op, idx, dim=dim)
    return MinMax((values, idx))


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
