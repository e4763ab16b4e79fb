"""Methods and operators shared by eager `Tensor` and graph-mode `SymbolicTensor`.

Every method is a thin call into the public functions (which go through the one dispatch
door), so model code does not care which mode it runs in.
"""
import numpy as np

from . import dtypes as _dt
from .ops import elementwise as E, reductions as R, shape as S, linalg as L, creation as C
from .ops import unbroadcast as _U
from .ops import composites as _C, elementwise_math as _M, indexing as _I, order_stats as _O
from . import errors as _errors
from .ops.common import numel
from .ops.dispatch import apply, apply_inplace
from .state import _state


class Size(tuple):
    """torch.Size: a tuple of dims (None marks an unknown dim of a symbolic tensor)."""

    def __repr__(self):
        return f"dualgraph.Size({list(self)})"

    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return Size(r) if isinstance(i, slice) else r

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))

    def __radd__(self, other):
        return Size(tuple(other) + tuple(self))

    def numel(self):
        return numel(self)


class TensorMethods:
    __slots__ = ()
    __array_ufunc__ = None  # numpy defers to our operators instead of looping over objects
    __array_priority__ = 1000

    # ---- arithmetic operators (ops.dispatch.apply spelt out: these run for every `a + b`)
    def __add__(self, o): return _state.mode.apply(E.add_op, (self, o), {})
    def __radd__(self, o): return _state.mode.apply(E.add_op, (o, self), {})
    def __sub__(self, o): return _state.mode.apply(E.sub_op, (self, o), {})
    def __rsub__(self, o): return _state.mode.apply(E.sub_op, (o, self), {})
    def __mul__(self, o): return _state.mode.apply(E.mul_op, (self, o), {})
    def __rmul__(self, o): return _state.mode.apply(E.mul_op, (o, self), {})
    def __truediv__(self, o): return _state.mode.apply(E.div_op, (self, o), {})
    def __rtruediv__(self, o): return _state.mode.apply(E.div_op, (o, self), {})
    def __floordiv__(self, o): return _state.mode.apply(E.floor_divide_op, (self, o), {})
    def __rfloordiv__(self, o): return _state.mode.apply(E.floor_divide_op, (o, self), {})
    def __mod__(self, o): return _state.mode.apply(E.remainder_op, (self, o), {})
    def __rmod__(self, o): return _state.mode.apply(E.remainder_op, (o, self), {})
    def __pow__(self, o): return _state.mode.apply(E.pow_op, (self, o), {})
    def __rpow__(self, o): return _state.mode.apply(E.pow_op, (o, self), {})
    def __matmul__(self, o): return _state.mode.apply(L.matmul_op, (self, o), {})
    def __rmatmul__(self, o): return _state.mode.apply(L.matmul_op, (o, self), {})
    def __neg__(self): return _state.mode.apply(E.neg_op, (self,), {})
    def __pos__(self): return self
    def __abs__(self): return apply(E.abs_op, self)
    def __eq__(self, o): return apply(E.eq_op, self, o)
    def __ne__(self, o): return apply(E.ne_op, self, o)
    def __lt__(self, o): return apply(E.lt_op, self, o)
    def __le__(self, o): return apply(E.le_op, self, o)
    def __gt__(self, o): return apply(E.gt_op, self, o)
    def __ge__(self, o): return apply(E.ge_op, self, o)
    def __and__(self, o): return apply(E.bitwise_and_op, self, o)
    def __rand__(self, o): return apply(E.bitwise_and_op, o, self)
    def __or__(self, o): return apply(E.bitwise_or_op, self, o)
    def __ror__(self, o): return apply(E.bitwise_or_op, o, self)
    def __invert__(self): return apply(E.bitwise_not_op, self)
    def __xor__(self, o): return apply(E.bitwise_xor_op, self, o)
    def __rxor__(self, o): return apply(E.bitwise_xor_op, o, self)
    def __lshift__(self, o): return apply(E.bitwise_left_shift_op, self, o)
    def __rlshift__(self, o): return apply(E.bitwise_left_shift_op, o, self)
    def __rshift__(self, o): return apply(E.bitwise_right_shift_op, self, o)
    def __rrshift__(self, o): return apply(E.bitwise_right_shift_op, o, self)
    __hash__ = object.__hash__

    # ---- math methods
    def add(self, other, *, alpha=1): return E.add(self, other, alpha=alpha)
    def sub(self, other, *, alpha=1): return E.sub(self, other, alpha=alpha)
    def mul(self, other): return E.mul(self, other)
    def div(self, other, *, rounding_mode=None): return E.div(self, other, rounding_mode=rounding_mode)
    def pow(self, e): return E.pow(self, e)
    def neg(self): return E.neg(self)
    def abs(self): return E.abs(self)
    def sign(self): return E.sign(self)
    def exp(self): return E.exp(self)
    def log(self): return E.log(self)
    def log1p(self): return E.log1p(self)
    def sqrt(self): return E.sqrt(self)
    def rsqrt(self): return E.rsqrt(self)
    def sin(self): return E.sin(self)
    def cos(self): return E.cos(self)
    def tanh(self): return E.tanh(self)
    def sigmoid(self): return E.sigmoid(self)
    def relu(self): return E.relu(self)
    def clamp(self, min=None, max=None): return _M._clamp(self, min, max, None, "clamp", True)
    def clip(self, min=None, max=None): return _M._clamp(self, min, max, None, "clip", True)
    def maximum(self, other): return E.maximum(self, other)
    def minimum(self, other): return E.minimum(self, other)
    def where(self, condition, other): return E.where(condition, self, other)
    def masked_fill(self, mask, value): return E.masked_fill(self, mask, value)
    def eq(self, other): return E.eq(self, other)
    def ne(self, other): return E.ne(self, other)
    def lt(self, other): return E.lt(self, other)
    def le(self, other): return E.le(self, other)
    def gt(self, other): return E.gt(self, other)
    def ge(self, other): return E.ge(self, other)
    def bitwise_xor(self, other): return E.bitwise_xor(self, other)
    def bitwise_left_shift(self, other): return E.bitwise_left_shift(self, other)
    def bitwise_right_shift(self, other): return E.bitwise_right_shift(self, other)
    def fmod(self, other): return E.fmod(self, other)
    def bitwise_and(self, other): return E.bitwise_and(self, other)
    def bitwise_or(self, other): return E.bitwise_or(self, other)
    def bitwise_not(self): return E.bitwise_not(self)
    def logical_and(self, other): return E.logical_and(self, other)
    def logical_or(self, other): return E.logical_or(self, other)
    def logical_not(self): return E.logical_not(self)
    def floor_divide(self, other): return E.floor_divide(self, other)
    def remainder(self, other): return E.remainder(self, other)
    def fix(self): return E.trunc(self)
    def sum(self, dim=None, keepdim=False, *, dtype=None): return R.sum(self, dim, keepdim, dtype=dtype)
    def mean(self, dim=None, keepdim=False, *, dtype=None): return R.mean(self, dim, keepdim, dtype=dtype)
    def prod(self, dim=None, keepdim=False, *, dtype=None): return R.prod(self, dim, keepdim, dtype=dtype)
    def max(self, dim=None, keepdim=False): return R.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return R.min(self, dim, keepdim)
    def amax(self, dim=None, keepdim=False): return R.amax(self, dim, keepdim)
    def amin(self, dim=None, keepdim=False): return R.amin(self, dim, keepdim)
    def all(self, dim=None, keepdim=False): return R.all(self, dim, keepdim)
    def any(self, dim=None, keepdim=False): return R.any(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False): return R.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return R.argmin(self, dim, keepdim)
    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return R.var(self, dim, unbiased, keepdim, correction=correction)
    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return R.std(self, dim, unbiased, keepdim, correction=correction)
    def logsumexp(self, dim, keepdim=False): return R.logsumexp(self, dim, keepdim)
    def softmax(self, dim, dtype=None): return R.softmax(self, dim, dtype)
    def log_softmax(self, dim, dtype=None): return R.log_softmax(self, dim, dtype)
    def mm(self, other): return L.mm(self, other)
    def bmm(self, other): return L.bmm(self, other)
    def matmul(self, other): return L.matmul(self, other)
    def dot(self, other): return L.dot(self, other)
    def outer(self, other): return L.outer(self, other)
    def gather(self, dim, index): return S.gather(self, dim, index)
    def cumsum(self, dim, *, dtype=None): return R.cumsum(self, dim, dtype=dtype)
    def cumprod(self, dim, *, dtype=None): return R.cumprod(self, dim, dtype=dtype)
    def sort(self, dim=-1, descending=False, stable=False): return R.sort(self, dim, descending, stable)
    def argsort(self, dim=-1, descending=False, stable=False): return R.argsort(self, dim, descending, stable)
    def topk(self, k, dim=-1, largest=True, sorted=True): return R.topk(self, k, dim, largest, sorted)
    def norm(self, p="fro", dim=None, keepdim=False, dtype=None): return R.norm(self, p, dim, keepdim, dtype)
    def floor(self): return E.floor(self)
    def erf(self): return E.erf(self)
    def ceil(self): return E.ceil(self)
    def trunc(self): return E.trunc(self)
    def round(self, *, decimals=0): return E.round(self, decimals=decimals)
    def tril(self, diagonal=0): return S.tril(self, diagonal)
    def triu(self, diagonal=0): return S.triu(self, diagonal)
    def flip(self, *dims): return S.flip(self, dims[0] if len(dims) == 1 else dims)
    def roll(self, shifts, dims=None): return S.roll(self, shifts, dims)
    def repeat_interleave(self, repeats=None, dim=None, *, output_size=None):
        return S.repeat_interleave(self, repeats, dim, output_size=output_size)
    def diag(self, diagonal=0): return S.diag(self, diagonal)
    def diagonal(self, offset=0, dim1=0, dim2=1): return S.diagonal(self, offset, dim1, dim2)
    def diag_embed(self, offset=0, dim1=-2, dim2=-1): return S.diag_embed(self, offset, dim1, dim2)
    def nonzero(self, *, as_tuple=False): return R.nonzero(self, as_tuple=as_tuple)
    def unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):
        return R.unique(self, sorted, return_inverse, return_counts, dim)

    # ---- shape and views
    def view(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer, tuple, list)) and shape[0] is not None:
            return self.to(shape[0])  # view(dtype) reinterpretation is not supported; cast
        return apply(S.view_op, self, shape=S._shape_args(shape))
    def view_as(self, other): return S.view_as(self, other)
    def reshape(self, *shape): return S.reshape(self, *shape)
    def reshape_as(self, other): return S.reshape_as(self, other)
    def flatten(self, start_dim=0, end_dim=-1): return S.flatten(self, start_dim, end_dim)
    def squeeze(self, dim=None): return S.squeeze(self, dim)
    def unsqueeze(self, dim): return S.unsqueeze(self, dim)
    def t(self): return S.t(self)
    def transpose(self, dim0, dim1): return S.transpose(self, dim0, dim1)
    swapaxes = transpose
    def permute(self, *dims): return S.permute(self, *dims)
    def expand(self, *sizes): return apply(S.expand_op, self, size=S._shape_args(sizes))
    def expand_as(self, other): return S.expand_as(self, other)

    def sum_to_size(self, *size):
        """Sum broadcast dims away down to `size` (PyTorch's sum_to_size)."""
        size = S._shape_args(size)
        shape = tuple(self.shape)
        ok = len(size) <= len(shape) and all(
            d == s or d == 1 for d, s in zip(size[::-1], shape[::-1]))
        if not ok:
            raise _errors.DGRuntimeError(f"size {{{list(size)}}} is not expandable to size "
                                         f"{{{list(shape)}}}.")
        return apply(_U.sum_to, self, shape=tuple(size))
    def repeat(self, *sizes): return apply(S.repeat_op, self, sizes=S._shape_args(sizes))
    def chunk(self, chunks, dim=0): return S.chunk(self, chunks, dim)
    def split(self, split_size, dim=0): return S.split(self, split_size, dim)
    def unbind(self, dim=0): return S.unbind(self, dim)
    def narrow(self, dim, start, length): return S.narrow(self, dim, start, length)
    def contiguous(self): return self if self.is_contiguous() else apply(S.contiguous_op, self)
    def clone(self): return apply(S.clone_op, self)

    @property
    def T(self):
        return apply(S.permute_op, self, dims=tuple(range(self.ndim - 1, -1, -1)))  # (a view, as PyTorch's)

    @property
    def mT(self):
        if self.ndim < 2:
            from .errors import DGRuntimeError
            raise DGRuntimeError("tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.")
        return apply(S.transpose_op, self, dim0=-2, dim1=-1)

    def _index_tensor(self, k):
        """A list or array inside an index of this tensor, as a tensor: what dg.tensor(k) makes
        of it in the mode being run. While a graph is built that is a constant (the mode's
        from_data). The eager Tensor overrides this with dg.tensor itself (tensor.py): only it
        can make an eager tensor. (A symbolic tensor indexed eagerly gets the plain array; the
        eager interpreter refuses the symbolic tensor either way.)"""
        arr = np.asarray(k).copy()
        _dt.from_np(arr.dtype)
        made = getattr(_state.mode, "from_data", None)
        return arr if made is None else made(arr)

    def __getitem__(self, key):
        if getattr(_state.mode, "graph", None) is None:
            key = _int_scalars(key)
        index, tensors = S.split_index(key, _is_tensor)
        tensors = [t if _is_tensor(t) else self._index_tensor(t) for t in tensors]
        return apply(S.getitem_op, self, *tensors, index=index)

    # ---- shape, indexing and order-statistics methods (ops/indexing.py, ops/order_stats.py, ops/composites.py)
    def index_select(self, dim, index):
        return _I.index_select(self, dim, index)
    def index_add(self, dim, index, source, *, alpha=1):
        return _I.index_add(self, dim, index, source, alpha=alpha)
    def index_add_(self, dim, index, source, *, alpha=1):
        return _I.index_add_(self, dim, index, source, alpha=alpha)
    def index_copy(self, dim, index, source):
        return _I.index_copy(self, dim, index, source)
    def index_copy_(self, dim, index, source):
        return _I.index_copy_(self, dim, index, source)
    def index_fill(self, dim, index, value):
        return _I.index_fill(self, dim, index, value)
    def index_fill_(self, dim, index, value):
        return _I.index_fill_(self, dim, index, value)
    def scatter(self, dim, index, src=None, value=None, *, reduce=None):
        return _I.scatter(self, dim, index, value if src is None else src, reduce=reduce)
    def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
        return _I.scatter_(self, dim, index, value if src is None else src, reduce=reduce)
    def scatter_add(self, dim, index, src):
        return _I.scatter_add(self, dim, index, src)
    def scatter_add_(self, dim, index, src):
        return _I.scatter_add_(self, dim, index, src)
    def scatter_reduce(self, dim, index, src, reduce, *, include_self=True):
        return _I.scatter_reduce(self, dim, index, src, reduce, include_self=include_self)
    def scatter_reduce_(self, dim, index, src, reduce, *, include_self=True):
        return _I.scatter_reduce_(self, dim, index, src, reduce, include_self=include_self)
    def take_along_dim(self, indices, dim=None):
        return _I.take_along_dim(self, indices, dim)
    def masked_select(self, mask):
        return _I.masked_select(self, mask)
    def masked_scatter(self, mask, source):
        return _I.masked_scatter(self, mask, source)
    def masked_scatter_(self, mask, source):
        return _I.masked_scatter_(self, mask, source)
    def median(self, dim=None, keepdim=False):
        return _O.median(self, dim, keepdim)
    def nanmedian(self, dim=None, keepdim=False):
        return _O.nanmedian(self, dim, keepdim)
    def kthvalue(self, k, dim=-1, keepdim=False):
        return _O.kthvalue(self, k, dim, keepdim)
    def mode(self, dim=-1, keepdim=False):
        return _O.mode(self, dim, keepdim)
    def cummax(self, dim):
        return _O.cummax(self, dim)
    def cummin(self, dim):
        return _O.cummin(self, dim)
    def aminmax(self, *, dim=None, keepdim=False):
        return _O.aminmax(self, dim=dim, keepdim=keepdim)
    def nansum(self, dim=None, keepdim=False, *, dtype=None):
        return _O.nansum(self, dim, keepdim, dtype=dtype)
    def nanmean(self, dim=None, keepdim=False, *, dtype=None):
        return _O.nanmean(self, dim, keepdim, dtype=dtype)
    def count_nonzero(self, dim=None):
        return _O.count_nonzero(self, dim)
    def quantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        return _O.quantile(self, q, dim, keepdim, interpolation=interpolation)
    def nanquantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        return _O.nanquantile(self, q, dim, keepdim, interpolation=interpolation)
    def logcumsumexp(self, dim):
        return _O.logcumsumexp(self, dim)
    def broadcast_to(self, size):
        return _C.broadcast_to(self, size)
    def tile(self, *dims):
        return _C.tile(self, dims[0] if len(dims) == 1 and not isinstance(dims[0], (int, np.integer)) else dims)
    def ravel(self):
        return _C.ravel(self)
    def movedim(self, source, destination):
        return _C.movedim(self, source, destination)
    moveaxis = movedim
    def swapdims(self, dim0, dim1): return S.transpose(self, dim0, dim1)
    def unflatten(self, dim, sizes):
        return _C.unflatten(self, dim, sizes)
    def diff(self, n=1, dim=-1, prepend=None, append=None):
        return _C.diff(self, n, dim, prepend, append)
    def rot90(self, k=1, dims=(0, 1)):
        return _C.rot90(self, k, dims)
    def fliplr(self):
        return _C.fliplr(self)
    def flipud(self):
        return _C.flipud(self)
    def trace(self):
        return _C.trace(self)
    def kron(self, other):
        return _C.kron(self, other)
    def inner(self, other):
        return _C.inner(self, other)
    def mv(self, vec):
        return _C.mv(self, vec)
    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        return _C.addmm(self, mat1, mat2, beta=beta, alpha=alpha)
    def addmv(self, mat, vec, *, beta=1, alpha=1):
        return _C.addmv(self, mat, vec, beta=beta, alpha=alpha)
    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return _C.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)
    def addbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return _C.addbmm(self, batch1, batch2, beta=beta, alpha=alpha)
    def vdot(self, other):
        return _C.vdot(self, other)
    def cross(self, other, dim=None):
        return _C.cross(self, other, dim)
    def dist(self, other, p=2):
        return _C.dist(self, other, p)
    def tensor_split(self, indices_or_sections, dim=0):
        return _C.tensor_split(self, indices_or_sections, dim)
    def hsplit(self, sections):
        return _C.hsplit(self, sections)
    def vsplit(self, sections):
        return _C.vsplit(self, sections)
    def dsplit(self, sections):
        return _C.dsplit(self, sections)

    # ---- in-place: defined once for both modes. Each is a write through the one write door
    # (ops.dispatch.apply_inplace): this tensor takes the value op(self, *args). Eagerly that
    # writes memory and history; a graph being built records a write of state (an assign) or
    # rebinds a plain graph value.
    def add_(self, other, *, alpha=1): return apply_inplace(self, E.add_op, E._scaled(other, alpha, self))
    def sub_(self, other, *, alpha=1): return apply_inplace(self, E.sub_op, E._scaled(other, alpha, self))
    def mul_(self, other): return apply_inplace(self, E.mul_op, other)
    def div_(self, other, *, rounding_mode=None):
        E._check_rounding_mode(rounding_mode)
        if rounding_mode is None:
            return apply_inplace(self, E.div_op, other)
        if rounding_mode == "floor":
            return apply_inplace(self, E.floor_divide_op, other)
        # (integers take several ops, floats trunc_divide: the result copied in, as one write)
        return self.copy_(E.trunc_div(self, other))
    def bitwise_xor_(self, other): return apply_inplace(self, E.bitwise_xor_op, other)
    def bitwise_left_shift_(self, other): return apply_inplace(self, E.bitwise_left_shift_op, other)
    def bitwise_right_shift_(self, other): return apply_inplace(self, E.bitwise_right_shift_op, other)
    def fmod_(self, other): return apply_inplace(self, E.fmod_op, other)
    def bitwise_and_(self, other): return apply_inplace(self, E.bitwise_and_op, other)
    def bitwise_or_(self, other): return apply_inplace(self, E.bitwise_or_op, other)
    def bitwise_not_(self): return apply_inplace(self, E.bitwise_not_op)
    def floor_divide_(self, other): return apply_inplace(self, E.floor_divide_op, other)
    def remainder_(self, other): return apply_inplace(self, E.remainder_op, other)
    def pow_(self, exponent): return apply_inplace(self, E.pow_op, exponent)
    def masked_fill_(self, mask, value): return apply_inplace(self, E.masked_fill_op, mask, value)
    def abs_(self): return apply_inplace(self, E.abs_op)
    def neg_(self): return apply_inplace(self, E.neg_op)
    def sign_(self): return apply_inplace(self, E.sign_op)
    def exp_(self): return apply_inplace(self, E.exp_op)
    def log_(self): return apply_inplace(self, E.log_op)
    def log1p_(self): return apply_inplace(self, E.log1p_op)
    def sqrt_(self): return apply_inplace(self, E.sqrt_op)
    def rsqrt_(self): return apply_inplace(self, E.rsqrt_op)
    def sin_(self): return apply_inplace(self, E.sin_op)
    def cos_(self): return apply_inplace(self, E.cos_op)
    def tanh_(self): return apply_inplace(self, E.tanh_op)
    def sigmoid_(self): return apply_inplace(self, E.sigmoid_op)
    def erf_(self): return apply_inplace(self, E.erf_op)
    def floor_(self): return apply_inplace(self, E.floor_op)
    def ceil_(self): return apply_inplace(self, E.ceil_op)
    def trunc_(self): return apply_inplace(self, E.trunc_op)
    fix_ = trunc_
    def round_(self, *, decimals=0): return apply_inplace(self, E.round_op, decimals=int(decimals))
    def tril_(self, diagonal=0): return apply_inplace(self, S.tril_op, diagonal=int(diagonal))
    def triu_(self, diagonal=0): return apply_inplace(self, S.triu_op, diagonal=int(diagonal))
    # (these results have another dtype than self: PyTorch casts them into self, as copy_ does)
    def cumsum_(self, dim, *, dtype=None): return self.copy_(R.cumsum(self, dim, dtype=dtype))
    def cumprod_(self, dim, *, dtype=None):  # (its backward reads the old value: a copy of it)
        return self.copy_(R.cumprod(self.clone(), dim, dtype=dtype))
    def eq_(self, other): return self.copy_(E.eq(self, other))
    def ne_(self, other): return self.copy_(E.ne(self, other))
    def lt_(self, other): return self.copy_(E.lt(self, other))
    def le_(self, other): return self.copy_(E.le(self, other))
    def gt_(self, other): return self.copy_(E.gt(self, other))
    def ge_(self, other): return self.copy_(E.ge(self, other))
    def logical_and_(self, other): return self.copy_(E.logical_and(self, other))
    def logical_or_(self, other): return self.copy_(E.logical_or(self, other))
    def logical_not_(self): return self.copy_(E.logical_not(self))
    def clamp_(self, min=None, max=None): return _M._clamp_(self, min, max, "clamp_")
    def clip_(self, min=None, max=None): return _M._clamp_(self, min, max, "clip_")
    def relu_(self): return apply_inplace(self, E.relu_op)
    def copy_(self, src, non_blocking=False): return apply_inplace(self, S.copy_op, src)
    def zero_(self): return self.fill_(0)
    def normal_(self, mean=0.0, std=1.0): return apply_inplace(self, C.normal_like_op, mean=mean, std=std)
    def uniform_(self, a=0.0, b=1.0): return apply_inplace(self, C.uniform_like_op, low=a, high=b)
    def __iadd__(self, o): return self.add_(o)
    def __isub__(self, o): return self.sub_(o)
    def __imul__(self, o): return self.mul_(o)
    def __itruediv__(self, o): return self.div_(o)
    def __ixor__(self, o): return self.bitwise_xor_(o)
    def __ilshift__(self, o): return self.bitwise_left_shift_(o)
    def __irshift__(self, o): return self.bitwise_right_shift_(o)
    def __iand__(self, o): return self.bitwise_and_(o)
    def __ior__(self, o): return self.bitwise_or_(o)
    def __ifloordiv__(self, o): return self.floor_divide_(o)
    def __imod__(self, o): return self.remainder_(o)
    def __ipow__(self, o): return self.pow_(o)

    def fill_(self, value):
        if isinstance(value, TensorMethods):
            if value.ndim:
                from .errors import DGRuntimeError
                raise DGRuntimeError(
                    f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions.")
            return apply_inplace(self, S.copy_op, value)
        _dt.check_fill_value(value, self._np_dtype())
        return apply_inplace(self, C.full_like_op, fill_value=value, dtype=None)

    def __setitem__(self, key, value):
        index, tensors = S.split_index(key, _is_tensor)
        tensors = [t if _is_tensor(t) else self._index_tensor(t) for t in tensors]
        apply_inplace(self, S.index_put_op, value, *tensors, index=index)

    # ---- sizes
    @property
    def ndim(self):
        return len(self.shape)

    def dim(self):
        return len(self.shape)

    ndimension = dim

    def size(self, dim=None):
        if dim is None:
            return self.shape
        from .ops.common import norm_dim
        return self.shape[norm_dim(dim, self.ndim)]

    def numel(self):
        return numel(self.shape)

    nelement = numel

    def element_size(self):
        return self._np_dtype().itemsize

    def is_floating_point(self):
        return self._np_dtype().kind == "f"

    # ---- dtype conversion
    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        for a in args:
            if isinstance(a, (_dt.DType, type)) or (isinstance(a, str) and a in _dt._BY_NAME):
                dtype = a
            elif isinstance(a, TensorMethods):
                dtype = a.dtype
            else:
                device = a
        if device is not None:
            from .device import check_device
            check_device(device)
        if dtype is None or _dt.to_np(dtype) == self._np_dtype():
            return self.clone() if copy else self
        return E.cast(self, dtype)

    def type(self, dtype=None, non_blocking=False):
        """x.type(): the legacy type name ("dualgraph.FloatTensor"); x.type(d) casts to d: a
        dtype, a legacy constructor (dg.LongTensor) or its name ('torch.LongTensor',
        'dg.DoubleTensor', 'LongTensor')."""
        if dtype is None:
            return "dualgraph." + _dt.torch_name(self._np_dtype())
        if callable(dtype) and isinstance(getattr(dtype, "dtype", None), _dt.DType):
            dtype = dtype.dtype
        elif isinstance(dtype, str):
            name = dtype.rsplit(".", 1)[-1]
            by_legacy = {_dt.torch_name(d.np): d for d in _dt.ALL}
            if name in by_legacy:
                dtype = by_legacy[name]
            elif name in _dt._BY_NAME:
                dtype = _dt._BY_NAME[name]
            else:
                from .errors import DGValueError
                raise DGValueError(f"invalid type: '{dtype}'")
        elif not isinstance(dtype, (_dt.DType, type)):
            from .errors import DGTypeError
            raise DGTypeError(f"type(): argument 'dtype' must be a dtype or a tensor type, not {type(dtype).__name__}")
        return self.to(dtype)

    # ---- new tensors like this one (its dtype unless given)
    def _new_dtype(self, dtype):
        return self.dtype if dtype is None else dtype

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return C.zeros(*size, dtype=self._new_dtype(dtype), requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return C.ones(*size, dtype=self._new_dtype(dtype), requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return C.empty(*size, dtype=self._new_dtype(dtype), requires_grad=requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
        return C.full(size, fill_value, dtype=self._new_dtype(dtype), requires_grad=requires_grad)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        if isinstance(data, TensorMethods):
            data = data.detach().numpy()
        arr = np.array(data, dtype=_dt.to_np(self._new_dtype(dtype)))
        t = self._index_tensor(arr)  # dg.tensor(arr) eagerly, a constant while a graph is built
        return t.requires_grad_(True) if requires_grad else t

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        """torch.allclose: |self - other| <= atol + rtol * |other| everywhere (a Python bool;
        eager only, as it reads values)."""
        a, b = np.asarray(self.detach().numpy()), np.asarray(other.detach().numpy())
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))

    def equal(self, other):
        """torch.equal: same shape and the same values (a Python bool; eager only)."""
        a, b = np.asarray(self.detach().numpy()), np.asarray(other.detach().numpy())
        return a.shape == b.shape and bool(np.array_equal(a, b))

    def float(self): return self.to(_dt.float32)
    def double(self): return self.to(_dt.float64)
    def half(self): return self.to(_dt.float16)
    def long(self): return self.to(_dt.int64)
    def int(self): return self.to(_dt.int32)
    def bool(self): return self.to(_dt.bool_)
    def cpu(self): return self
    def cuda(self, *a, **k):
        from .device import check_device
        check_device("cuda")

    @property
    def device(self):
        from .device import CPU
        return CPU

    @property
    def is_cuda(self):
        return False

    @property
    def dtype(self):
        return _dt.from_np(self._np_dtype())

    # ---- math methods of ops/elementwise_math.py
    def tan(self):
        return apply(_M.tan_op, self)
    def tan_(self):
        return apply_inplace(self, _M.tan_op)
    def sinh(self):
        return apply(_M.sinh_op, self)
    def sinh_(self):
        return apply_inplace(self, _M.sinh_op)
    def cosh(self):
        return apply(_M.cosh_op, self)
    def cosh_(self):
        return apply_inplace(self, _M.cosh_op)
    def asin(self):
        return apply(_M.asin_op, self)
    def asin_(self):
        return apply_inplace(self, _M.asin_op)
    def acos(self):
        return apply(_M.acos_op, self)
    def acos_(self):
        return apply_inplace(self, _M.acos_op)
    def atan(self):
        return apply(_M.atan_op, self)
    def atan_(self):
        return apply_inplace(self, _M.atan_op)
    def asinh(self):
        return apply(_M.asinh_op, self)
    def asinh_(self):
        return apply_inplace(self, _M.asinh_op)
    def acosh(self):
        return apply(_M.acosh_op, self)
    def acosh_(self):
        return apply_inplace(self, _M.acosh_op)
    def atanh(self):
        return apply(_M.atanh_op, self)
    def atanh_(self):
        return apply_inplace(self, _M.atanh_op)
    def log2(self):
        return apply(_M.log2_op, self)
    def log2_(self):
        return apply_inplace(self, _M.log2_op)
    def log10(self):
        return apply(_M.log10_op, self)
    def log10_(self):
        return apply_inplace(self, _M.log10_op)
    def exp2(self):
        return apply(_M.exp2_op, self)
    def exp2_(self):
        return apply_inplace(self, _M.exp2_op)
    def expm1(self):
        return apply(_M.expm1_op, self)
    def expm1_(self):
        return apply_inplace(self, _M.expm1_op)
    def reciprocal(self):
        return apply(_M.reciprocal_op, self)
    def reciprocal_(self):
        return apply_inplace(self, _M.reciprocal_op)
    def sinc(self):
        return apply(_M.sinc_op, self)
    def sinc_(self):
        return apply_inplace(self, _M.sinc_op)
    def frac(self):
        return apply(_M.frac_op, self)
    def frac_(self):
        return apply_inplace(self, _M.frac_op)
    arcsin, arcsin_ = asin, asin_
    arccos, arccos_ = acos, acos_
    arctan, arctan_ = atan, atan_
    arcsinh, arcsinh_ = asinh, asinh_
    arccosh, arccosh_ = acosh, acosh_
    arctanh, arctanh_ = atanh, atanh_
    def logit(self, eps=None):
        return _M.logit(self, eps)
    def logit_(self, eps=None):
        return apply_inplace(self, _M.logit_op, eps=_M._eps(eps))
    def deg2rad(self):
        return apply(E.mul_op, self, _M._PI_180)
    def deg2rad_(self):
        return apply_inplace(self, E.mul_op, _M._PI_180)
    def rad2deg(self):
        return apply(E.mul_op, self, _M._180_PI)
    def rad2deg_(self):
        return apply_inplace(self, E.mul_op, _M._180_PI)
    def square(self): return apply(E.pow_op, self, 2)
    def square_(self): return apply_inplace(self, E.pow_op, 2)
    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        return _M.nan_to_num(self, nan, posinf, neginf)
    def nan_to_num_(self, nan=0.0, posinf=None, neginf=None):
        return apply_inplace(self, _M.nan_to_num_op, nan=nan, posinf=posinf, neginf=neginf)
    def positive(self):
        return _M.positive(self)
    def negative(self): return E.neg(self)
    def negative_(self): return apply_inplace(self, E.neg_op)
    def absolute(self): return E.abs(self)
    def absolute_(self): return apply_inplace(self, E.abs_op)
    def signbit(self):
        return _M.signbit(self)
    def isnan(self):
        return _M.isnan(self)
    def isinf(self):
        return _M.isinf(self)
    def isfinite(self):
        return _M.isfinite(self)
    def isposinf(self):
        return _M.isposinf(self)
    def isneginf(self):
        return _M.isneginf(self)
    def isreal(self):
        return _M.isreal(self)
    def logical_xor(self, other):
        _M._need_tensor("logical_xor", other, 1, "other")
        return _M.logical_xor(self, other)
    def logical_xor_(self, other):
        _M._need_tensor("logical_xor_", other, 1, "other")
        return self.copy_(_M.logical_xor(self, other))
    def atan2(self, other):
        return _M._method("atan2", _M.atan2_op, self, other, "other")
    def atan2_(self, other):
        return _M._method_("atan2_", _M.atan2_op, self, other, "other")
    def hypot(self, other):
        return _M._method("hypot", _M.hypot_op, self, other, "other")
    def hypot_(self, other):
        return _M._method_("hypot_", _M.hypot_op, self, other, "other")
    def logaddexp(self, other):
        return _M._method("logaddexp", _M.logaddexp_op, self, other, "other")
    def logaddexp2(self, other):
        return _M._method("logaddexp2", _M.logaddexp2_op, self, other, "other")
    def heaviside(self, values):
        return _M._method("heaviside", _M.heaviside_op, self, values, "values")
    def heaviside_(self, values):
        return _M._method_("heaviside_", _M.heaviside_op, self, values, "values")
    def fmax(self, other):
        return _M._method("fmax", _M.fmax_op, self, other, "other")
    def fmin(self, other):
        return _M._method("fmin", _M.fmin_op, self, other, "other")
    def nextafter(self, other):
        return _M._method("nextafter", _M.nextafter_op, self, other, "other")
    def nextafter_(self, other):
        return _M._method_("nextafter_", _M.nextafter_op, self, other, "other")
    arctan2, arctan2_ = atan2, atan2_
    def xlogy(self, other):
        return apply(_M.xlogy_op, self, other)
    def xlogy_(self, other):
        return apply_inplace(self, _M.xlogy_op, other)
    def copysign(self, other):
        return _M.copysign(self, other)
    def copysign_(self, other):
        return _M._copysign_(self, other)
    def float_power(self, exponent):
        return _M.float_power(self, exponent)
    def float_power_(self, exponent):
        return _M._float_power_(self, exponent)
    def ldexp(self, other):
        _M._need_tensor("ldexp", other, 1, "other")
        return _M.ldexp(self, other)
    def ldexp_(self, other):
        return _M._ldexp_(self, other)
    def clamp_min(self, min):
        return _M.clamp_min(self, min)
    def clamp_min_(self, min):
        return _M._clamp_bound_(self, min, True)
    def clamp_max(self, max):
        return _M.clamp_max(self, max)
    def clamp_max_(self, max):
        return _M._clamp_bound_(self, max, False)
    def lerp(self, end, weight):
        _M._lerp_check("lerp", end, weight)
        return apply(_M.lerp_op, self, end, weight)
    def lerp_(self, end, weight):
        _M._lerp_check("lerp_", end, weight)
        return apply_inplace(self, _M.lerp_op, end, weight)
    def addcmul(self, tensor1, tensor2, *, value=1):
        return _M._addc_method("addcmul", _M.addcmul_op, self, tensor1, tensor2, value, False)
    def addcmul_(self, tensor1, tensor2, *, value=1):
        return _M._addc_method("addcmul_", _M.addcmul_op, self, tensor1, tensor2, value, True)
    def addcdiv(self, tensor1, tensor2, *, value=1):
        return _M._addc_method("addcdiv", _M.addcdiv_op, self, tensor1, tensor2, value, False)
    def addcdiv_(self, tensor1, tensor2, *, value=1):
        return _M._addc_method("addcdiv_", _M.addcdiv_op, self, tensor1, tensor2, value, True)
    def true_divide(self, other): return E.div(self, other)
    def true_divide_(self, other): return self.div_(other)
    def divide(self, other, *, rounding_mode=None): return E.div(self, other, rounding_mode=rounding_mode)
    def divide_(self, other, *, rounding_mode=None): return self.div_(other, rounding_mode=rounding_mode)
    def multiply(self, other): return E.mul(self, other)
    def multiply_(self, other): return self.mul_(other)
    def subtract(self, other, *, alpha=1): return E.sub(self, other, alpha=alpha)
    def subtract_(self, other, *, alpha=1): return self.sub_(other, alpha=alpha)
    def greater(self, other): return E.gt(self, other)
    def greater_(self, other): return self.copy_(E.gt(self, other))
    def greater_equal(self, other): return E.ge(self, other)
    def greater_equal_(self, other): return self.copy_(E.ge(self, other))
    def less(self, other): return E.lt(self, other)
    def less_(self, other): return self.copy_(E.lt(self, other))
    def less_equal(self, other): return E.le(self, other)
    def less_equal_(self, other): return self.copy_(E.le(self, other))
    def not_equal(self, other): return E.ne(self, other)
    def not_equal_(self, other): return self.copy_(E.ne(self, other))


def _is_tensor(x):
    return isinstance(x, TensorMethods)


def _int_scalar(k):
    d = getattr(k, "_data", None)   # (an eager tensor; a graph value stays an index input)
    return type(d) is np.ndarray and d.ndim == 0 and d.dtype.kind in "iu"


def _int_scalars(key):
    """Eagerly a 0-d integer tensor index is the integer it holds (PyTorch: x[torch.tensor(1)]
    is a view, as x[1]; numpy would copy)."""
    if type(key) is tuple:
        return tuple(int(k._data) if _int_scalar(k) else k for k in key) if any(map(_int_scalar, key)) else key
    return int(key._data) if _int_scalar(key) else key
