"""Creation and random operators. They have no tensor inputs (or only a template for `*_like`),
so in graph mode they become source nodes; random ones sample anew at each run."""
import numpy as np

from .. import random as _random
from ..dtypes import F32, I64, to_np, BOOL, default_float, check_fill_value
from ..errors import DGRuntimeError, DGValueError
from .common import Spec
from .dispatch import apply
from .registry import defop


def _check_shape(shape):
    for d in shape:
        if d is not None and d < 0:
            raise DGRuntimeError(f"Trying to create tensor with negative dimension {d}: {list(shape)}")


def _src_infer(shape, dtype, **_):
    _check_shape(shape)
    if None in tuple(shape):  # (internal callers: a size unknown now needs full_like)
        raise DGRuntimeError(f"cannot create a tensor of shape {list(shape)}: a size is unknown "
                             "while the graph is built; make it with full_like from a tensor of "
                             "that shape")
    return Spec(shape, dtype)


def _full_kernel(shape, fill_value, dtype):
    _check_shape(shape)
    return np.full(shape, fill_value, dtype=dtype)


full_op = defop("full", _full_kernel, _src_infer)
empty_op = defop("empty", lambda shape, dtype: np.empty(shape, dtype=dtype), _src_infer)


def _arange_len(start, end, step):
    if step == 0:
        raise DGRuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise DGRuntimeError("upper bound and lower bound inconsistent with step sign")
    return int(np.ceil((end - start) / step))


arange_op = defop("arange", lambda start, end, step, dtype: np.arange(start, end, step, dtype=dtype),
                  lambda start, end, step, dtype: Spec((_arange_len(start, end, step),), dtype),
                  check_eager=True)
def _linspace_infer(start, end, steps, dtype):
    if steps < 0:
        raise DGRuntimeError("number of steps must be non-negative")
    return Spec((steps,), dtype)


def _eye_infer(n, m, dtype):
    if n < 0:
        raise DGRuntimeError(f"n must be greater or equal to 0, got {n}")
    if m < 0:
        raise DGRuntimeError(f"m must be greater or equal to 0, got {m}")
    return Spec((n, m), dtype)


linspace_op = defop("linspace", lambda start, end, steps, dtype: np.linspace(start, end, steps, dtype=dtype),
                    _linspace_infer)
eye_op = defop("eye", lambda n, m, dtype: np.eye(n, m, dtype=dtype), _eye_infer)


def _like_infer(x, fill_value=None, dtype=None):
    return Spec(x.shape, dtype or x.dtype)


full_like_op = defop("full_like", lambda x, fill_value, dtype=None: np.full(x.shape, fill_value, dtype=dtype or x.dtype),
                     _like_infer, saves=())


# ---------------------------------------------------------------- random
def _rand(shape, dtype):
    return _random.generator().random(shape, dtype=np.float64).astype(dtype, copy=False)


def _randn(shape, dtype):
    return _random.generator().standard_normal(shape, dtype=np.float64).astype(dtype, copy=False)


def _randint(low, high, shape, dtype):
    return _random.generator().integers(low, high, size=shape, dtype=np.int64).astype(dtype, copy=False)


def _randint_infer(low, high, shape, dtype):
    if high <= low:
        raise DGRuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    return _src_infer(shape, dtype)


def _rand_like(x, dtype=None):
    return _rand(x.shape, dtype or x.dtype)


def _randn_like(x, dtype=None):
    return _randn(x.shape, dtype or x.dtype)


def _bernoulli(x, p):
    return (_random.generator().random(x.shape) >= p).astype(x.dtype)


rand_op = defop("rand", _rand, _src_infer, random=True)
randn_op = defop("randn", _randn, _src_infer, random=True)
randint_op = defop("randint", _randint, _randint_infer, random=True, check_eager=True)
rand_like_op = defop("rand_like", _rand_like, _like_infer, random=True)
randn_like_op = defop("randn_like", _randn_like, _like_infer, random=True)
bernoulli_keep_op = defop("bernoulli_keep", _bernoulli, lambda x, p: Spec(x.shape, x.dtype),
                          random=True, doc="a keep-mask of x's shape, 1 with probability 1-p")


def _uniform_kernel(x, low, high):
    return _random.generator().uniform(low, high, size=x.shape).astype(x.dtype, copy=False)


def _normal_kernel(x, mean, std):
    return _random.generator().normal(mean, std, size=x.shape).astype(x.dtype, copy=False)


uniform_like_op = defop("uniform_like", _uniform_kernel, lambda x, low, high: Spec(x.shape, x.dtype), random=True)
normal_like_op = defop("normal_like", _normal_kernel, lambda x, mean, std: Spec(x.shape, x.dtype), random=True)


# ---------------------------------------------------------------- one_hot
def _one_hot_kernel(x, num_classes):
    if x.dtype != I64:
        raise DGRuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if not x.size:
            raise DGRuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(x.max()) + 1
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise DGRuntimeError("Class values must be smaller than num_classes." if x.size and x.min() >= 0
                             else "Class values must be non-negative.")
    return (x[..., None] == np.arange(num_classes)).astype(I64)


def _one_hot_infer(x, num_classes):
    if x.dtype != I64:
        raise DGRuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    return Spec(tuple(x.shape) + ((None if num_classes == -1 else num_classes),), I64)


one_hot_op = defop("one_hot", _one_hot_kernel, _one_hot_infer)


# ---------------------------------------------------------------- public functions
def size_args(size, kw_size=None):
    """PyTorch accepts zeros(2, 3), zeros((2, 3)), zeros([2, 3]) and zeros(size=(2, 3))."""
    if kw_size is not None:
        if size:
            raise DGValueError("pass the size positionally or as size=, not both")
        size = (kw_size,)
    if len(size) == 1 and isinstance(size[0], (tuple, list)) or (len(size) == 1 and hasattr(size[0], "__iter__")):
        size = tuple(size[0])
    out = []
    for d in size:
        if d is None:  # a graph-mode tensor's shape with a size unknown while the graph is built
            from ..errors import DGTypeError
            raise DGTypeError(
                f"size must be a tuple of ints, but got None (size {list(size)}): a size unknown "
                "while the graph is built cannot make a tensor; make it from a tensor of that "
                "shape instead (dg.zeros_like(t), dg.full_like(t, v), x.expand_as(t))")
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            from ..errors import DGTypeError
            raise DGTypeError(f"size must be a tuple of ints, but got {type(d).__name__}")
        out.append(int(d))
    return tuple(out)


def _float_dtype(dtype):
    return to_np(dtype) if dtype is not None else default_float()


def _finish(t, requires_grad):
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, size_=None, dtype=None, requires_grad=False, device=None, **kw):
    shape = size_args(size, kw.get("size"))
    if any(d < 0 for d in shape):
        raise DGRuntimeError("zeros: Dimension size must be non-negative.")  # PyTorch's words
    return _finish(apply(full_op, shape=shape, fill_value=0, dtype=_float_dtype(dtype)),
                   requires_grad)


def ones(*size, dtype=None, requires_grad=False, device=None, **kw):
    return _finish(apply(full_op, shape=size_args(size, kw.get("size")), fill_value=1,
                         dtype=_float_dtype(dtype)), requires_grad)


def empty(*size, dtype=None, requires_grad=False, device=None, **kw):
    return _finish(apply(empty_op, shape=size_args(size, kw.get("size")), dtype=_float_dtype(dtype)),
                   requires_grad)


def full(size, fill_value, *, dtype=None, requires_grad=False, device=None):
    if dtype is None:
        dtype = BOOL if isinstance(fill_value, bool) else (I64 if isinstance(fill_value, int) else default_float())
    check_fill_value(fill_value, to_np(dtype))
    return _finish(apply(full_op, shape=size_args((size,)), fill_value=fill_value, dtype=to_np(dtype)),
                   requires_grad)


def arange(start, end=None, step=1, *, dtype=None, requires_grad=False, device=None):
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = I64 if all(isinstance(v, (int, np.integer)) for v in (start, end, step)) else default_float()
    return _finish(apply(arange_op, start=start, end=end, step=step, dtype=to_np(dtype)), requires_grad)


def linspace(start, end, steps, *, dtype=None, requires_grad=False, device=None):
    return _finish(apply(linspace_op, start=start, end=end, steps=int(steps), dtype=_float_dtype(dtype)),
                   requires_grad)


def eye(n, m=None, *, dtype=None, requires_grad=False, device=None):
    return _finish(apply(eye_op, n=n, m=n if m is None else m, dtype=_float_dtype(dtype)), requires_grad)


def full_like(input, fill_value, *, dtype=None, requires_grad=False, device=None):
    if dtype is not None or hasattr(input, "_np_dtype"):
        check_fill_value(fill_value, to_np(dtype) if dtype is not None else input._np_dtype())
    return _finish(apply(full_like_op, input, fill_value=fill_value, dtype=to_np(dtype)), requires_grad)


def zeros_like(input, *, dtype=None, requires_grad=False, device=None):
    return full_like(input, 0, dtype=dtype, requires_grad=requires_grad)


def ones_like(input, *, dtype=None, requires_grad=False, device=None):
    return full_like(input, 1, dtype=dtype, requires_grad=requires_grad)


def empty_like(input, *, dtype=None, requires_grad=False, device=None):
    return full_like(input, 0, dtype=dtype, requires_grad=requires_grad)


def rand(*size, dtype=None, requires_grad=False, generator=None, device=None, **kw):
    return _finish(apply(rand_op, shape=size_args(size, kw.get("size")), dtype=_float_dtype(dtype)),
                   requires_grad)


def randn(*size, dtype=None, requires_grad=False, generator=None, device=None, **kw):
    return _finish(apply(randn_op, shape=size_args(size, kw.get("size")), dtype=_float_dtype(dtype)),
                   requires_grad)


def randint(low, high=None, size=None, *, dtype=None, generator=None, device=None):
    """randint(high, size) or randint(low, high, size), as PyTorch."""
    if size is None:
        if high is None:
            from ..errors import DGTypeError
            raise DGTypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    return apply(randint_op, low=int(low), high=int(high), shape=size_args((size,)),
                 dtype=to_np(dtype) if dtype is not None else I64)


def rand_like(input, *, dtype=None):
    return apply(rand_like_op, input, dtype=to_np(dtype))


def randn_like(input, *, dtype=None):
    return apply(randn_like_op, input, dtype=to_np(dtype))


def one_hot(tensor, num_classes=-1):
    return apply(one_hot_op, tensor, num_classes=num_classes)
