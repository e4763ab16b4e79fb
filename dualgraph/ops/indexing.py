"""Indexing ops along a dim: index_select, index_add, index_copy, index_fill, scatter,
scatter_add, scatter_reduce, take_along_dim, masked_scatter (kernels, shape rules, public
functions), and masked_select (a boolean-mask getitem of the broadcast operands).

PyTorch's checks and wording, in its order. An index out of range is refused by the kernel, at
run time, with PyTorch's message (never numpy's IndexError); while a graph is built, an index
that is a graph constant is checked when the node is built. The backward rules are in
ops/vjps/indexing.py.
"""
import numpy as np

from ..dtypes import scalar_name
from ..errors import DGIndexError, DGNotImplementedError, DGRuntimeError, DGTypeError
from .common import Spec, Slot, broadcast_shapes, fmt_shape as _fmt, norm_dim, numel
from .dispatch import apply, apply_inplace
from .registry import defop
from .unbroadcast import _sum_to_shape
from . import composites as _C


def _int_index(dtype):
    """int32 or int64, the index dtypes gather/scatter/index_select/index_add take."""
    return dtype.kind == "i" and dtype.itemsize in (4, 8)


def _first_bad(index, lo, hi):
    """The first value of `index` (C order) outside [lo, hi), or None."""
    if index.size == 0:
        return None
    flat = index.reshape(-1)
    bad = (flat < lo) | (flat >= hi)
    if not bad.any():
        return None
    return int(flat[int(np.argmax(bad))])


def _dim_size(shape, d):
    return shape[d] if len(shape) else 1


def _key_along(ndim, d, index):
    """The numpy key selecting `index` (1-D) along dim d of an ndim array."""
    return (slice(None),) * d + (index.reshape(-1),)


def _graph_constant(t):
    """The value of a graph constant (a tensor index written into the graph), else None."""
    node = getattr(t, "node", None)
    if node is not None and node.op.name == "constant":
        return np.asarray(node.attrs["value"])
    return None


def _check_built(check, x, index, d, *more):
    """While a graph is built, an index that is a constant is checked now (eagerly and for an
    index known only at run time, the kernel checks it)."""
    value = _graph_constant(index)
    if value is None:
        return
    shape = tuple(x.shape)
    if len(shape) and shape[d] is None:
        return
    check(shape, value, d, *more)


def _need_tensor(name, what, pos, v):
    if not (hasattr(v, "shape") and hasattr(v, "dtype")) or isinstance(v, np.ndarray):
        raise DGTypeError(f"{name}(): argument '{what}' (position {pos}) must be Tensor, not "
                          f"{type(v).__name__}")


def _is_tensor(v):
    return hasattr(v, "shape") and hasattr(v, "dtype") and not isinstance(v, (np.ndarray, np.generic))


# ---------------------------------------------------------------- index_select
def _index_select_range(shape, index, d):
    """PyTorch's checks of the values (its CPU kernel's paths: a dim-1 or empty-self one with
    its own RuntimeError, the others' IndexError)."""
    n = index.size
    if len(shape) > 1:
        if n == 0:
            return
        size = shape[d]
        empty = numel(shape) == 0
        if empty and size == 0:
            raise DGRuntimeError("index_select(): self indexing axis dim should be positive")
        if empty or d == 1:
            bad = _first_bad(index, 0, size)
            if bad is not None:
                raise DGRuntimeError(f"INDICES element is out of DATA bounds, id={bad} axis_dim={size}")
            return
    if _first_bad(index, 0, _dim_size(shape, d)) is not None:
        raise DGIndexError("index out of range in self")


def _index_select_infer(x, index, dim):
    nd = len(x.shape)
    d = norm_dim(dim, nd)
    if len(index.shape) > 1:
        raise DGIndexError("index_select(): Index is supposed to be a vector")
    n = numel(index.shape)
    if nd == 0 and n is not None and n != 1:
        raise DGRuntimeError(f"index_select(): Index to scalar can have only 1 value, got {n} value(s)")
    if not _int_index(index.dtype):
        raise DGRuntimeError("index_select(): Expected dtype int32 or int64 for index")
    if nd == 0:
        return Spec((), x.dtype)
    s = list(x.shape)
    s[d] = n
    return Spec(s, x.dtype)


def _index_select_kernel(x, index, dim):
    d = dim % max(x.ndim, 1)
    _index_select_range(x.shape, index, d)
    if x.ndim == 0:
        return x.copy()
    return np.take(x, index.reshape(-1), axis=d)


index_select_op = defop("index_select", _index_select_kernel, _index_select_infer, saves=(1,),
                        check_eager=True, torch_name="IndexSelect")


def index_select(input, dim, index):
    _need_tensor("index_select", "index", 3, index)
    d = norm_dim(dim, len(input.shape))
    _check_built(_index_select_range, input, index, d)
    return apply(index_select_op, input, index, dim=d)


# ---------------------------------------------------------------- index_add / index_copy
def _sliced(shape, d, both):
    """A shape without dim d (PyTorch's slice shapes; both: only when both tensors have dims)."""
    s = list(shape)
    if both and s:
        del s[d]
    return s


def _same_slices(a, b):
    return len(a) == len(b) and all(p is None or q is None or p == q for p, q in zip(a, b))


def _index_add_infer(x, index, source, dim, alpha=1):
    nd, sd = len(x.shape), len(source.shape)
    d = norm_dim(dim, nd)
    if len(index.shape) > 1:
        raise DGIndexError(
            f"index_add_(): Index is supposed to be a vector, but got dim: {len(index.shape)} "
            f"with type: {scalar_name(index.dtype)} and size: {_fmt(index.shape)}")
    if not _int_index(index.dtype):
        raise DGRuntimeError(
            f"index_add_(): Expected dtype int32/int64 for index but got: {scalar_name(index.dtype)}")
    if not (d == 0 or d < sd):
        raise DGRuntimeError(
            f"index_add_(): Indexing dim {d} is out of bounds of the source tensor with dim {sd}")
    n = numel(index.shape)
    ssize = 1 if sd == 0 else source.shape[d]
    if n is not None and ssize is not None and n != ssize:
        raise DGRuntimeError(
            f"index_add_(): Number of indices ({n}) should be equal to source.size(dim): "
            f"({ssize}), for dim: {d}")
    both = nd > 0 and sd > 0
    if not _same_slices(_sliced(x.shape, d, both), _sliced(source.shape, d, both)):
        raise DGRuntimeError(
            "source tensor shape must match self tensor shape, excluding the specified "
            f"dimension. Got self.shape = {_fmt(x.shape)} source.shape = {_fmt(source.shape)}")
    if x.dtype != source.dtype:
        raise DGRuntimeError(
            f"index_add_(): self ({scalar_name(x.dtype)}) and source ({scalar_name(source.dtype)}) "
            "must have the same scalar type")
    return Spec(x.shape, x.dtype)


def _oob(prefix=""):
    def check(shape, index, d, exc=DGRuntimeError):
        size = _dim_size(shape, d)
        bad = _first_bad(index, 0, size)
        if bad is not None:
            raise exc(f"{prefix}index {bad} is out of bounds for dimension {d} with size {size}")
    return check


_index_add_range = _oob()


def _scaled_source(source, alpha, dtype):
    if alpha == 1:
        return source
    return source * np.asarray(alpha).astype(dtype)[()]


def _index_add_kernel(x, index, source, dim, alpha=1):
    d = dim % max(x.ndim, 1)
    _index_add_range(x.shape, index, d)
    r = x.copy()
    src = _scaled_source(source, alpha, x.dtype)
    if x.ndim == 0:
        for _ in range(index.size):
            r = r + src
        return np.asarray(r, x.dtype)
    np.add.at(r, _key_along(x.ndim, d, index), src.reshape(r[_key_along(x.ndim, d, index)].shape))
    return r


index_add_op = defop("index_add", _index_add_kernel, _index_add_infer, saves=(1,),
                     check_eager=True, torch_name="IndexAdd")


def _index_add_call(input, dim, index, source, alpha=1):
    _need_tensor("index_add", "index", 3, index)
    d = norm_dim(dim, len(input.shape))
    _check_built(_index_add_range, input, index, d)
    return index_add_op, (index, source), dict(dim=d, alpha=alpha)


def index_add(input, dim, index, source, *, alpha=1):
    op, ins, attrs = _index_add_call(input, dim, index, source, alpha)
    return apply(op, input, *ins, **attrs)


def index_add_(input, dim, index, source, *, alpha=1):
    """x.index_add_: x takes index_add's value (a write: views of x see it)."""
    op, ins, attrs = _index_add_call(input, dim, index, source, alpha)
    return apply_inplace(input, op, *ins, **attrs)


def _index_copy_infer(x, index, source, dim):
    nd, sd = len(x.shape), len(source.shape)
    d = norm_dim(dim, nd)
    if len(index.shape) >= 2:
        raise DGIndexError(f"index_copy_(): Index should have dimension 1 or 0 (got {len(index.shape)})")
    n = numel(index.shape)
    if sd == 0 and n is not None and n != 1:
        raise DGIndexError(
            f"index_copy_(): When source is scalar, index should have one element (got {n})")
    if sd != nd and sd != 0 and nd != 0:
        raise DGIndexError(
            "index_copy_(): When source and destination are not scalars, their dimensionality "
            f"must match. Source dimensionality ({sd}), destination dimensionality ({nd})")
    if index.dtype != np.int64:
        raise DGRuntimeError(
            f"index_copy_(): Expected a long tensor for index, but got {scalar_name(index.dtype)}")
    if x.dtype != source.dtype:
        raise DGRuntimeError(
            "index_copy_(): self and source expected to have the same dtype, but got (self) "
            f"{scalar_name(x.dtype)} and (source) {scalar_name(source.dtype)}")
    a, b = _sliced(x.shape, d, True), _sliced(source.shape, d, True)
    if not _same_slices(a, b):
        show = lambda s: " ".join("?" if v is None else str(v) for v in s)  # noqa: E731
        raise DGRuntimeError(
            "index_copy_(): Source/destination tensor must have same slice shapes. Destination "
            f"slice shape: {show(a)} at dimension {d} and source slice shape: {show(b)} at "
            "dimension 0.")
    ssize = source.shape[d] if sd else None
    if sd and n is not None and ssize is not None and n != ssize:
        raise DGIndexError(
            f"index_copy_(): Number of indices ({n}) should be equal to source.size(dim) ({ssize})")
    return Spec(x.shape, x.dtype)


def _index_copy_range(shape, index, d):
    _oob("index_copy_(): ")(shape, index, d, DGIndexError)


def _index_copy_kernel(x, index, source, dim):
    d = dim % max(x.ndim, 1)
    _index_copy_range(x.shape, index, d)
    r = x.copy()
    if x.ndim == 0:
        if index.size:
            r[...] = source.reshape(())
        return r
    key = _key_along(x.ndim, d, index)
    r[key] = source.reshape(r[key].shape) if source.ndim else source
    return r


index_copy_op = defop("index_copy", _index_copy_kernel, _index_copy_infer, saves=(1,),
                      check_eager=True, torch_name="IndexCopy")


def _index_copy_call(input, dim, index, source):
    _need_tensor("index_copy", "index", 3, index)
    d = norm_dim(dim, len(input.shape))
    _check_built(_index_copy_range, input, index, d)
    return index_copy_op, (index, source), dict(dim=d)


def index_copy(input, dim, index, source):
    op, ins, attrs = _index_copy_call(input, dim, index, source)
    return apply(op, input, *ins, **attrs)


def index_copy_(input, dim, index, source):
    op, ins, attrs = _index_copy_call(input, dim, index, source)
    return apply_inplace(input, op, *ins, **attrs)


# ---------------------------------------------------------------- index_fill
def _index_fill_infer(x, index, *value, dim, fill=None):
    d = norm_dim(dim, len(x.shape))
    if value and len(value[0].shape) != 0:
        raise DGRuntimeError(
            "index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
            f"{len(value[0].shape)} dimension(s).")
    if index.dtype != np.int64:
        raise DGIndexError("index_fill_(): Expected dtype int64 for index.")
    if len(index.shape) > 1:
        raise DGRuntimeError("Index has to be a vector/scalar")
    del d
    return Spec(x.shape, x.dtype)


def _index_fill_range(shape, index, d):
    """index_fill wraps a negative index (from -size)."""
    size = _dim_size(shape, d)
    bad = _first_bad(index, -size, size)
    if bad is not None:
        raise DGIndexError(f"index {bad} is out of bounds for dimension {d} with size {size}")


def _index_fill_kernel(x, index, *value, dim, fill=None):
    d = dim % max(x.ndim, 1)
    _index_fill_range(x.shape, index, d)
    v = value[0] if value else fill
    r = x.copy()
    if x.ndim == 0:
        if index.size:
            r[...] = v
        return r
    r[_key_along(x.ndim, d, index)] = v
    return r


index_fill_op = defop("index_fill", _index_fill_kernel, _index_fill_infer, saves=(1,),
                      check_eager=True, torch_name="IndexFill")


def _index_fill_call(input, dim, index, value):
    _need_tensor("index_fill", "index", 3, index)
    d = norm_dim(dim, len(input.shape))
    _check_built(_index_fill_range, input, index, d)
    if _is_tensor(value):
        return index_fill_op, (index, value), dict(dim=d)
    return index_fill_op, (index,), dict(dim=d, fill=value)


def index_fill(input, dim, index, value):
    op, ins, attrs = _index_fill_call(input, dim, index, value)
    return apply(op, input, *ins, **attrs)


def index_fill_(input, dim, index, value):
    op, ins, attrs = _index_fill_call(input, dim, index, value)
    return apply_inplace(input, op, *ins, **attrs)


# ---------------------------------------------------------------- scatter family
def _ne_dim(shape):
    return max(len(shape), 1)


def _ne_size(shape, i):
    return shape[i] if len(shape) else 1


def _scatter_checks(x, index, src, d):
    """PyTorch's scatter_gather_dtype_check and scatter_shape_check (`src` a Spec or None)."""
    n = numel(index.shape)
    if n != 0 and not _int_index(index.dtype):
        raise DGRuntimeError("scatter(): Expected dtype int32/int64 for index")
    if src is not None and x.dtype != src.dtype:
        raise DGRuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if n == 0:
        return
    if _ne_dim(x.shape) != _ne_dim(index.shape):
        raise DGRuntimeError("Index tensor must have the same number of dimensions as self tensor")
    big = lambda a, b: a is not None and b is not None and a > b  # noqa: E731
    wrong = any(i != d and big(_ne_size(index.shape, i), _ne_size(x.shape, i))
                for i in range(_ne_dim(x.shape)))
    if src is not None:
        if not wrong:
            wrong = any(big(_ne_size(index.shape, i), _ne_size(src.shape, i))
                        for i in range(min(_ne_dim(x.shape), _ne_dim(src.shape))))
        if _ne_dim(src.shape) != _ne_dim(index.shape):
            raise DGRuntimeError("Index tensor must have the same number of dimensions as src tensor")
        if wrong:
            raise DGRuntimeError(
                f"Expected index {_fmt(index.shape)} to be no larger than self {_fmt(x.shape)} "
                f"apart from dimension {d} and to be no larger size than src {_fmt(src.shape)}")
    elif wrong:
        raise DGRuntimeError(
            f"Expected index {_fmt(index.shape)} to be no larger than self {_fmt(x.shape)} apart "
            f"from dimension {d}")


_scatter_range = _oob()


def _scatter_parts(x, index, src, d):
    """(result copy viewed with >= 1 dims, the key of the scattered positions, the values
    (src's leading block of index's shape, or None), the shape to return)."""
    shape = x.shape
    r = x.copy().reshape(shape or (1,))
    idx = index.reshape(index.shape or (1,))
    _scatter_range(r.shape, idx, d)
    grids = np.indices(idx.shape, sparse=True)
    key = tuple(idx if i == d else grids[i] for i in range(r.ndim))
    vals = None
    if src is not None:
        s = src.reshape(src.shape or (1,) * idx.ndim)
        vals = s[tuple(slice(0, k) for k in idx.shape)]
    return r, key, vals, shape


_REDUCE_UFUNC = {"sum": np.add, "add": np.add, "prod": np.multiply, "multiply": np.multiply,
                 "mean": np.add, "amax": np.maximum, "amin": np.minimum}


def _identity(reduce, dtype):
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    if dtype.kind == "f":
        return -np.inf if reduce == "amax" else np.inf
    if dtype.kind == "b":
        return reduce == "amin"
    info = np.iinfo(dtype)
    return info.min if reduce == "amax" else info.max


def _scatter_reduced(x, index, src, d, reduce, include_self, value=None):
    if index.size == 0:
        return x.copy()
    r, key, vals, shape = _scatter_parts(x, index, src, d)
    if vals is None:
        vals = value
    if reduce is None:
        r[key] = vals
        return r.reshape(shape)
    if not include_self:
        r[key] = _identity(reduce, r.dtype)
    _REDUCE_UFUNC[reduce].at(r, key, vals)
    if reduce == "mean":
        count = np.ones(r.shape, np.int64) if include_self else np.zeros(r.shape, np.int64)
        np.add.at(count, key, 1)
        if not include_self:
            count[count == 0] = 1
        if r.dtype.kind == "f":
            r = r / count.astype(r.dtype)
        else:
            r = np.floor_divide(r, count).astype(r.dtype)
    return r.reshape(shape)


def _scatter_infer(x, index, *src, dim, value=None, reduce=None):
    d = norm_dim(dim, len(x.shape))
    _scatter_checks(x, index, src[0] if src else None, d)
    if reduce is not None and reduce not in ("add", "multiply"):
        raise DGRuntimeError("reduce argument must be either add or multiply.")
    return Spec(x.shape, x.dtype)


def _scatter_kernel(x, index, *src, dim, value=None, reduce=None):
    d = dim % max(x.ndim, 1)
    return _scatter_reduced(x, index, src[0] if src else None, d, reduce, True, value)


scatter_op = defop("scatter", _scatter_kernel, _scatter_infer, saves=(1,), check_eager=True,
                   torch_name="Scatter")


def _scatter_add_infer(x, index, src, dim):
    _scatter_checks(x, index, src, norm_dim(dim, len(x.shape)))
    return Spec(x.shape, x.dtype)


def _scatter_add_kernel(x, index, src, dim):
    return _scatter_reduced(x, index, src, dim % max(x.ndim, 1), "sum", True)


scatter_add_op = defop("scatter_add", _scatter_add_kernel, _scatter_add_infer, saves=(1,),
                       check_eager=True, torch_name="ScatterAdd")

_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def _scatter_reduce_infer(x, index, src, dim, reduce, include_self=True):
    d = norm_dim(dim, len(x.shape))
    if reduce not in _REDUCTIONS:
        raise DGRuntimeError(
            f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    _scatter_checks(x, index, src, d)
    if reduce == "mean" and x.dtype.kind == "b":
        raise DGNotImplementedError(
            "\"scatter_gather_tensor_cpu_reduce_mean\" not implemented for 'Bool'")
    return Spec(x.shape, x.dtype)


def _scatter_reduce_kernel(x, index, src, dim, reduce, include_self=True):
    return _scatter_reduced(x, index, src, dim % max(x.ndim, 1), reduce, include_self)


scatter_reduce_op = defop("scatter_reduce", _scatter_reduce_kernel, _scatter_reduce_infer,
                          check_eager=True, saves_output=True, torch_name="ScatterReduce")


def _scatter_args(name, input, dim, index):
    _need_tensor(name, "index", 3, index)
    d = norm_dim(dim, len(input.shape))
    _check_built(lambda s, v, dd: _scatter_range(s or (1,), v.reshape(v.shape or (1,)), dd),
                 input, index, d)
    return d


_UNSET = object()


def _scatter_call(input, dim, index, src=_UNSET, value=_UNSET, reduce=None):
    if src is _UNSET and value is _UNSET:
        raise DGTypeError("scatter() missing required argument 'src' or 'value'")
    v = value if src is _UNSET else src
    d = _scatter_args("scatter", input, dim, index)
    if reduce is not None and reduce not in ("add", "multiply"):
        raise DGRuntimeError("reduce argument must be either add or multiply.")
    if _is_tensor(v):
        return scatter_op, (index, v), dict(dim=d, reduce=reduce)
    return scatter_op, (index,), dict(dim=d, value=v, reduce=reduce)


def scatter(input, dim, index, src=_UNSET, value=_UNSET, *, reduce=None):
    """torch.scatter(input, dim, index, src) / (input, dim, index, value), with the deprecated
    reduce='add' / 'multiply' (summed / multiplied into self; no gradient then, as PyTorch)."""
    op, ins, attrs = _scatter_call(input, dim, index, src, value, reduce)
    return apply(op, input, *ins, **attrs)


def scatter_(input, dim, index, src=_UNSET, value=_UNSET, *, reduce=None):
    op, ins, attrs = _scatter_call(input, dim, index, src, value, reduce)
    return apply_inplace(input, op, *ins, **attrs)


def scatter_add(input, dim, index, src):
    d = _scatter_args("scatter_add", input, dim, index)
    return apply(scatter_add_op, input, index, src, dim=d)


def scatter_add_(input, dim, index, src):
    d = _scatter_args("scatter_add", input, dim, index)
    return apply_inplace(input, scatter_add_op, index, src, dim=d)


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    d = _scatter_args("scatter_reduce", input, dim, index)
    return apply(scatter_reduce_op, input, index, src, dim=d, reduce=reduce,
                 include_self=bool(include_self))


def scatter_reduce_(input, dim, index, src, reduce, *, include_self=True):
    d = _scatter_args("scatter_reduce", input, dim, index)
    return apply_inplace(input, scatter_reduce_op, index, src, dim=d, reduce=reduce,
                         include_self=bool(include_self))


# ---------------------------------------------------------------- take_along_dim
def tad_shapes(xs, ids, d):
    """PyTorch's _take_along_dim_helper: (input's broadcast shape, indices' broadcast shape)."""
    a = list(xs)
    a[d] = ids[d]
    ib = broadcast_shapes(tuple(a), tuple(ids))
    b = list(ids)
    b[d] = xs[d]
    xb = broadcast_shapes(tuple(b), tuple(xs))
    return xb, ib


def _tad_infer(x, indices, dim):
    nx, ni = len(x.shape), len(indices.shape)
    if nx == 0:
        raise DGIndexError("Dimension specified as 0 but tensor has no dimensions")
    if nx != ni:
        raise DGRuntimeError(
            "torch.take_along_dim(): input and indices should have the same number of "
            f"dimensions, but got {nx} dimensions for input, and {ni} dimensions for indices")
    if indices.dtype != np.int64:
        raise DGRuntimeError(
            f"torch.take_along_dim(): dtype of indices should be Long but got {scalar_name(indices.dtype)}")
    d = norm_dim(dim, nx)
    return Spec(tad_shapes(x.shape, indices.shape, d)[1], x.dtype)


def _tad_index(x_shape, indices, d):
    """(input's broadcast shape, the wrapped broadcast indices): PyTorch takes them modulo the
    size of the dim (a negative index counts from the end; an empty dim divides by zero)."""
    xb, ib = tad_shapes(x_shape, indices.shape, d)
    idx = np.broadcast_to(indices, ib)
    size = x_shape[d]
    if size == 0:
        if idx.size:
            raise DGRuntimeError("ZeroDivisionError")
        return xb, idx
    return xb, np.mod(idx, size)


def _tad_kernel(x, indices, dim):
    d = dim % x.ndim
    xb, idx = _tad_index(x.shape, indices, d)
    return np.take_along_axis(np.broadcast_to(x, xb), idx, axis=d)


def _tad_grad_kernel(g, indices, x, dim):
    d = dim % x.ndim
    xb, idx = _tad_index(x.shape, indices, d)
    z = np.zeros(xb, g.dtype)
    grids = np.indices(idx.shape, sparse=True)
    np.add.at(z, tuple(idx if i == d else grids[i] for i in range(z.ndim)), g)
    return _sum_to_shape(z, x.shape)


take_along_dim_op = defop("take_along_dim", _tad_kernel, _tad_infer, saves=(1,),
                          check_eager=True, torch_name="TakeAlongDim")
take_along_dim_grad_op = defop(
    "take_along_dim_grad", _tad_grad_kernel,
    lambda g, indices, x, dim: Spec(x.shape, g.dtype), saves=(1,),
    doc="backward of take_along_dim: add g into zeros of the broadcast input at the indices, "
        "summed back to the input's shape")


def take_along_dim(input, indices, dim=None):
    """torch.take_along_dim: with dim None the flattened input gathered at the flattened
    indices (gather's checks); with a dim, both broadcast apart from dim, the indices taken
    modulo the size of dim (PyTorch's, since 2.x)."""
    _need_tensor("take_along_dim", "indices", 2, indices)
    if dim is None:
        from .shape import flatten, gather
        return gather(flatten(input), 0, flatten(indices))
    return apply(take_along_dim_op, input, indices, dim=int(dim))


# ---------------------------------------------------------------- masked_select / masked_scatter
def masked_select(input, mask):
    """torch.masked_select: the elements of the broadcast input where the broadcast mask is
    True, as a 1-D tensor: a boolean-mask getitem, so in a graph its size is known when it runs
    (as x[mask])."""
    if np.dtype(mask._np_dtype() if hasattr(mask, "_np_dtype") else mask._dtype) != np.bool_:
        raise DGRuntimeError("masked_select: expected BoolTensor for mask")
    m, x = _C.broadcast_tensors(mask, input)
    from .shape import getitem_op
    return apply(getitem_op, x, m, index=(Slot(0),))


def _masked_scatter_infer(x, mask, source):
    if mask.dtype != np.bool_:
        raise DGRuntimeError(
            f"masked_scatter_ only supports boolean masks, but got mask with dtype {scalar_name(mask.dtype)}")
    if x.dtype != source.dtype:
        raise DGRuntimeError(
            "masked_scatter: expected self and source to have same dtypes but got"
            f"{scalar_name(x.dtype)} and {scalar_name(source.dtype)}")
    return Spec(broadcast_shapes(tuple(mask.shape), tuple(x.shape)), x.dtype)


def _masked_scatter_kernel(x, mask, source):
    shape = np.broadcast_shapes(mask.shape, x.shape)
    r = np.array(np.broadcast_to(x, shape))
    m = np.broadcast_to(mask, shape)
    n = int(np.count_nonzero(m))
    if source.size < n:
        raise DGRuntimeError("Number of elements of source < number of ones in mask")
    r[m] = source.reshape(-1)[:n]
    return r


def _masked_scatter_grad_kernel(g, mask, source):
    vals = g[np.broadcast_to(mask, g.shape)]
    out = np.zeros(source.size, g.dtype)
    out[:vals.size] = vals
    return out.reshape(source.shape)


masked_scatter_op = defop("masked_scatter", _masked_scatter_kernel, _masked_scatter_infer,
                          saves=(1,), check_eager=True, torch_name="MaskedScatter")
masked_scatter_grad_op = defop(
    "masked_scatter_grad", _masked_scatter_grad_kernel,
    lambda g, mask, source: Spec(source.shape, g.dtype), saves=(1,),
    doc="backward of masked_scatter for the source: g where the mask is True, in order, padded "
        "with zeros to the source's shape")


def masked_scatter(input, mask, source):
    return apply(masked_scatter_op, input, mask, source)


def masked_scatter_(input, mask, source):
    _check_masked_scatter_inplace(input, mask)
    return apply_inplace(input, masked_scatter_op, mask, source)


def _check_masked_scatter_inplace(self, mask):
    """masked_scatter_ broadcasts the mask to self (never self to the mask): PyTorch's expand
    refusal otherwise."""
    ms, xs = tuple(mask.shape), tuple(self.shape)
    if len(ms) > len(xs):
        raise DGRuntimeError(
            f"expand(CPUBoolType{{{_fmt(ms)}}}, size={_fmt(xs)}): the number of sizes provided "
            f"({len(xs)}) must be greater or equal to the number of dimensions in the tensor ({len(ms)})")
    out = broadcast_shapes(ms, xs)
    if tuple(out) != xs and None not in xs:
        bad = next(i for i, (a, b) in enumerate(zip(out[::-1], xs[::-1])) if a != b)
        i = len(xs) - 1 - bad
        raise DGRuntimeError(
            f"The expanded size of the tensor ({xs[i]}) must match the existing size "
            f"({out[i]}) at non-singleton dimension {i}.  Target sizes: {_fmt(xs)}.  Tensor "
            f"sizes: {_fmt(ms)}")
