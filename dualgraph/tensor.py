"""The eager `Tensor`: a numpy array plus autograd state, with PyTorch's semantics.

Views share memory (and a version counter) with their base; in-place ops bump that counter so a
backward through a stale saved value is refused, as in PyTorch.
"""
import warnings
import weakref

import numpy as np

from . import dtypes as _dt
from .errors import DGRuntimeError, DGTypeError, DGValueError
from .tensor_methods import TensorMethods, Size
from ._tensor_str import format_tensor
from .ops.dispatch import get_grad, set_grad
from .ops import creation as C
from .ops.common import Slot
from .state import _state


class RemovableHandle:
    _next_id = 0

    def __init__(self, hooks_dict):
        self._ref = weakref.ref(hooks_dict) if hooks_dict is not None else None
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        d = self._ref() if self._ref is not None else None
        if d is not None:
            d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.remove()


class _HookDict(dict):
    """dict of hooks (weak-referenceable for handles)."""


def warn_non_leaf_grad(stacklevel=3):
    """PyTorch's warning on reading .grad of a non-leaf that does not retain it."""
    warnings.warn(
        "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
        "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
        "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
        "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
        "instead.", UserWarning, stacklevel=stacklevel)


class Tensor(TensorMethods):
    # _history logs the histories an in-place op replaced (None on most tensors: set here so the
    # backward reads it without a getattr that misses); _view_version, left unset on most tensors
    # (read with getattr), is the version a view's history was made at (autograd/views.py)
    __slots__ = ("_data", "_rg", "grad_fn", "_grad", "_vc", "_base", "_hooks", "_history",
                 "_view_version", "__weakref__")

    def __init__(self, *data):
        """dg.Tensor(data) / dg.Tensor(2, 3): float32, as torch.Tensor."""
        if len(data) == 1 and not isinstance(data[0], (int, np.integer)):
            arr = _to_array(data[0], _dt.default_float()).astype(_dt.default_float(), copy=False)
        else:
            arr = np.empty(C.size_args(data), dtype=_dt.default_float())
        wrap_array(arr, self)

    # ---- basic properties
    @property
    def shape(self):
        return Size(self._data.shape)

    def _np_dtype(self):
        return self._data.dtype

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    def numel(self):
        return self._data.size

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def requires_grad(self):
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad=True):
        if self.grad_fn is not None and not requires_grad:
            raise DGRuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach().")
        if requires_grad and self._data.dtype.kind != "f":
            raise DGRuntimeError("only Tensors of floating point dtype can require gradients")
        self._rg = bool(requires_grad)
        return self

    @property
    def grad(self):
        return get_grad(self)   # the mode decides: eagerly this tensor's .grad (see eager.py)

    @grad.setter
    def grad(self, value):
        set_grad(self, value)

    def _eager_grad(self):
        if self.grad_fn is not None and self._grad is None and self.grad_fn.retained is None:
            warn_non_leaf_grad(stacklevel=6)  # the user's line: .grad -> dispatch -> eager -> here
        return self._grad

    def _set_eager_grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise DGTypeError(
                    "assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}")
            if value._data.shape != self._data.shape:
                raise DGRuntimeError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor of "
                    f"size '{list(self.shape)}'. Please ensure that the gradient and the tensor are "
                    "the same size")
            if value._data.dtype != self._data.dtype:
                from .ops.common import ctype_name
                raise DGRuntimeError(
                    f"attempting to assign a gradient with dtype '{ctype_name(value._data.dtype)}' "
                    f"to a tensor with grad_dtype '{_dt.scalar_name(self._data.dtype)}'. The "
                    "gradient must match the tensor's grad_dtype (defaults to the tensor's dtype).")
        self._grad = value

    @property
    def data(self):
        """The same memory as a new leaf with a version counter of its own (PyTorch's .data):
        writes through it are invisible to autograd's check (detach() shares the counter)."""
        return wrap_array(self._data)

    @data.setter
    def data(self, value):
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    @property
    def _version(self):
        vc = self._vc
        return vc[0] if vc is not None else 0

    def _bump(self):
        vc = self._vc
        if vc is None:
            vc = self._vc = [0]
        vc[0] += 1

    @property
    def retains_grad(self):
        return self.grad_fn is not None and self.grad_fn.retained is not None

    @property
    def _is_view(self):
        return self._base is not None

    # ---- memory layout (the truth about the numpy array underneath)
    def is_contiguous(self, memory_format=None):
        _state.mode.read_layout(self)
        return self._data.flags.c_contiguous

    def stride(self, dim=None):
        _state.mode.read_layout(self)
        a = self._data
        if a.size == 0:  # numpy zeroes the strides of an empty array; PyTorch keeps them dense
            st, n = [], 1
            for d in reversed(a.shape):
                st.append(n)
                n *= max(d, 1)
            st = tuple(reversed(st))
        else:
            isz = a.itemsize
            st = tuple(s // isz for s in a.strides)
        if dim is None:
            return st
        from .ops.common import norm_dim
        return st[norm_dim(dim, self.ndim)]

    def data_ptr(self):
        return self._data.__array_interface__["data"][0]

    def storage_offset(self):
        base = self._base._data if self._base is not None else self._data
        return (self.data_ptr() - base.__array_interface__["data"][0]) // self._data.itemsize

    def untyped_storage(self):
        b = self._base._data if self._base is not None else self._data
        return b

    # ---- leaving dualgraph
    def numpy(self, *, force=False):
        if self._rg and not force:
            raise DGRuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        if self._rg:
            raise DGRuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self._data if dtype is None else self._data.astype(dtype)

    def item(self):
        if self._data.size != 1:
            raise DGRuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.item()

    def tolist(self):
        return self._data.tolist()

    def __len__(self):
        if self._data.ndim == 0:
            raise DGTypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise DGTypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __bool__(self):
        n = self._data.size
        if n != 1:
            raise DGRuntimeError(
                f"Boolean value of Tensor with {'no values' if n == 0 else 'more than one value'} is ambiguous")
        return bool(self._data)

    def __float__(self):
        if self._data.size != 1:
            raise DGValueError("only one element tensors can be converted to Python scalars")
        return float(self._data.item())

    def __int__(self):
        if self._data.size != 1:
            raise DGValueError("only one element tensors can be converted to Python scalars")
        return int(self._data.item())

    def __format__(self, spec):
        if self._data.ndim == 0 and type(self) is Tensor:
            return self._data.item().__format__(spec)
        return object.__format__(self, spec)

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise DGTypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def _index_tensor(self, k):
        # a list or array in x[k] / x[k] = v (TensorMethods.__getitem__): dg.tensor(k), which
        # is an eager tensor, or a constant while a graph is built
        return tensor(np.asarray(k))

    def __repr__(self):
        return format_tensor(self)

    def __reduce_ex__(self, proto):
        raise DGTypeError("dualgraph tensors are not pickled; use dg.save / dg.load (a safe format)")

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise DGRuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the moment.")
        new = wrap_array(self._data.copy(), type(self).__new__(type(self)))
        new._rg = self._rg
        if self._grad is not None:
            new._grad = self._grad.detach().clone()
        if hasattr(self, "__dict__"):
            import copy
            new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        memo[id(self)] = new
        return new

    # ---- autograd
    def detach(self):
        """A new leaf sharing memory and the version counter (not a view: in-place on it is fine)."""
        t = wrap_array(self._data)
        t._vc = self._vc if self._vc is not None else self._ensure_vc()
        return t

    def _ensure_vc(self):
        self._vc = [0]
        return self._vc

    def detach_(self):
        """Make this tensor a leaf that does not require grad. A facade, as backward(): the old
        history is logged for the nodes recorded before now (autograd/views.py)."""
        from .autograd.views import detach_
        return detach_(self)

    def retain_grad(self):
        if not self._rg:
            raise DGRuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None:
            return
        self.grad_fn.retained = weakref.ref(self)

    def register_hook(self, hook):
        """hook(grad) -> new grad or None; runs when this tensor's gradient is computed."""
        if not self._rg:
            raise DGRuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            if self.grad_fn.hooks is None:
                self.grad_fn.hooks = _HookDict()
            d = self.grad_fn.hooks
        else:
            if self._hooks is None:
                self._hooks = _HookDict()
            d = self._hooks
        h = RemovableHandle(d)
        d[h.id] = hook
        return h

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        backward = _AUTOGRAD_BACKWARD[0]
        if backward is None:  # (a facade: imported once, on the first call)
            from .autograd.functional import backward
            _AUTOGRAD_BACKWARD[0] = backward
        backward([self], [gradient] if gradient is not None else None, retain_graph,
                 create_graph, inputs=inputs)

    # ---- in-place refusals (check_inplace below); graph/builder.py asks an eager target
    def _check_inplace(self, index=None):
        check_inplace(self, index)


_new = object.__new__
_AUTOGRAD_BACKWARD = [None]  # autograd.functional.backward, once Tensor.backward has run


def wrap_array(arr, into=None):
    """Internal: the eager tensor holding the numpy array `arr` itself (no copy), a leaf that
    does not require grad, with no history, hooks, base or version counter yet.

    The real constructor: the eager interpreter wraps every op's result the same way (its
    fields spelt out inline in EagerInterpreter.apply: keep the two alike), and the
    factories below end in it. It validates nothing (dg.tensor's dtype and data checks are
    skipped): `arr` must be an np.ndarray of a dtype dualgraph supports. `into` fills an object
    already made (Tensor.__init__, a subclass's __init__, a deepcopy) instead of a new Tensor."""
    t = _new(Tensor) if into is None else into
    t._data = arr
    t._rg = False
    t.grad_fn = None
    t._grad = None
    t._vc = None
    t._base = None
    t._hooks = None
    t._history = None
    return t


_wrap = wrap_array  # the former private name, still imported by other modules


def _init(t, arr):
    """The former name of wrap_array(arr, into=t) (nn/parameter.py)."""
    wrap_array(arr, t)


# ---------------------------------------------------------------- in-place refusals
LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_OF_LEAF = "a view of " + LEAF_INPLACE


def check_inplace(t, index=None):
    """PyTorch's refusals of an in-place op on a leaf that requires grad (or a view of one);
    `index`: the index template of x[index] = v (autograd/views.py's setitem, graph/builder.py)."""
    if _state.grad_enabled:
        if t._rg and t.grad_fn is None:
            if index is not None and selects_view(t._data, index):
                raise DGRuntimeError(VIEW_OF_LEAF)
            raise DGRuntimeError(LEAF_INPLACE)
        b = t._base
        if b is not None and b._rg and b.grad_fn is None:
            raise DGRuntimeError(VIEW_OF_LEAF)


def selects_view(arr, index):
    """Whether x[index] = v writes through a view of x (PyTorch applies the basic part of the
    index first; only an identity of it leaves x itself)."""
    key = tuple(slice(None) if isinstance(k, Slot) else k for k in index)
    try:
        v = arr[key]
    except (IndexError, TypeError, ValueError):
        return False
    return not (v.shape == arr.shape and v.strides == arr.strides
                and v.__array_interface__["data"][0] == arr.__array_interface__["data"][0])


# ---------------------------------------------------------------- creation from data
def _to_array(data, default_float=_dt.F32):
    """A new numpy array holding `data`, with PyTorch's dtype inference."""
    if isinstance(data, Tensor):
        return data._data.copy()
    if isinstance(data, np.ndarray):
        _dt.from_np(data.dtype)
        return data.copy()
    if isinstance(data, np.generic):
        return np.array(data)
    if not isinstance(data, (list, tuple)) and hasattr(data, "__len__") and hasattr(data, "__getitem__") \
            and not isinstance(data, (str, bytes)):
        data = list(data)  # range, array.array, ...
    types = set()
    _element_types(data if isinstance(data, (list, tuple)) else (data,), types)
    want = None
    for t in types:
        d = _element_dtype(t, default_float)
        want = d if want is None else _dt.promote_types(want, d)
    if want is None:  # no elements at all: the default float, as torch.tensor([])
        want = default_float
    if any(isinstance(t, np.dtype) for t in types) and isinstance(data, (list, tuple)):
        data = _unwrap_nested(data)
    try:
        return np.array(data, dtype=want)
    except ValueError as e:
        _ragged(data)
        raise DGValueError(f"expected a rectangular sequence of numbers: {e}") from None


def _element_types(seq, types):
    """Collect the types of the scalars in a nested list (numpy dtypes for tensors/arrays in it)."""
    ts = set(map(type, seq))
    if list in ts or tuple in ts or any(issubclass(t, (Tensor, np.ndarray)) for t in ts):
        for x in seq:
            tx = type(x)
            if tx is list or tx is tuple:
                _element_types(x, types)
            elif isinstance(x, (Tensor, np.ndarray)):
                types.add(np.dtype(x.dtype) if isinstance(x, np.ndarray) else x._data.dtype)
            else:
                types.add(tx)
    else:
        types.update(ts)


def _element_dtype(t, default_float):
    """PyTorch's scalar type for one element type: Python float -> default float, int -> int64,
    bool -> bool; numpy scalars and tensors keep theirs."""
    if isinstance(t, np.dtype):
        return t
    if t is float:
        return default_float
    if t is bool:
        return _dt.BOOL
    if t is int:
        return _dt.I64
    if issubclass(t, np.generic):
        d = np.dtype(t)
        _dt.from_np(d)
        return d
    if issubclass(t, (bool, np.bool_)):
        return _dt.BOOL
    if issubclass(t, int):
        return _dt.I64
    if issubclass(t, float):
        return default_float
    if issubclass(t, (str, bytes)):
        raise DGTypeError(f"new(): invalid data type '{t.__name__}'")
    raise DGRuntimeError(f"Could not infer dtype of {t.__name__}")


def _ragged(data):
    """PyTorch's error for a list whose rows differ in length."""
    shape, x = [], data
    while isinstance(x, (list, tuple)):
        shape.append(len(x))
        if not len(x):
            break
        x = x[0]

    def check(seq, d):
        for x in seq:
            if d + 1 < len(shape):
                if not isinstance(x, (list, tuple)):
                    raise DGTypeError("not a sequence")
                if len(x) != shape[d + 1]:
                    raise DGValueError(
                        f"expected sequence of length {shape[d + 1]} at dim {d + 1} (got {len(x)})")
                check(x, d + 1)

    if isinstance(data, (list, tuple)):
        check(data, 0)


def _unwrap_nested(data):
    return [(_unwrap_nested(x) if isinstance(x, (list, tuple)) else (_scalar_of(x) if isinstance(x, Tensor) else x)) for x in data]


def _scalar_of(t):
    """A tensor inside a list given to dg.tensor: a one-element tensor is a number (PyTorch)."""
    if t._data.size != 1:
        raise DGValueError("only one element tensors can be converted to Python scalars")
    return t._data.item()


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """Copy data into a new leaf tensor (Python floats -> float32, ints -> int64)."""
    if device is not None:
        from .device import check_device
        check_device(device)
    # Python floats convert straight to a requested float dtype (not through float32 first)
    want = _dt.to_np(dtype) if dtype is not None else None
    arr = _to_array(data, want if want is not None and want.kind == "f" else _dt.default_float())
    if want is not None:
        arr = arr.astype(want, copy=False)
    _dt.from_np(arr.dtype)
    if requires_grad and arr.dtype.kind != "f":
        raise DGRuntimeError("Only Tensors of floating point and complex dtype can require gradients")
    if not requires_grad:
        # while a graph is built, a tensor made from data is a constant of that graph (eagerly,
        # a fresh tensor at every call: a write to it never carries over to the next run)
        made = getattr(_state.mode, "from_data", None)
        if made is not None:
            return made(arr)
    t = wrap_array(arr)
    t._rg = bool(requires_grad)
    return t


def as_tensor(data, dtype=None, device=None):
    """Share memory with a numpy array of a supported dtype when possible."""
    if isinstance(data, Tensor) and (dtype is None or _dt.to_np(dtype) == data._data.dtype):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or _dt.to_np(dtype) == data.dtype):
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(ndarray):
    """A tensor sharing memory with `ndarray` (a write to one shows in the other)."""
    if not isinstance(ndarray, np.ndarray):
        raise DGTypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    _dt.from_np(ndarray.dtype)
    return wrap_array(ndarray)


def FloatTensor(*data):
    return _typed(data, _dt.F32) if len(data) != 1 or isinstance(data[0], (int, np.integer)) \
        else wrap_array(_to_array(data[0], _dt.F32).astype(_dt.F32, copy=False))


def DoubleTensor(*data):
    return _typed(data, _dt.F64)


def LongTensor(*data):
    return _typed(data, _dt.I64)


def IntTensor(*data):
    return _typed(data, np.dtype(np.int32))


def BoolTensor(*data):
    return _typed(data, _dt.BOOL)


def _typed(data, npdtype):
    if len(data) == 1 and not isinstance(data[0], (int, np.integer)):
        return wrap_array(_to_array(data[0], _dt.F32).astype(npdtype, copy=False))
    return wrap_array(np.zeros(C.size_args(data), dtype=npdtype))


# x.type(dg.LongTensor): each legacy constructor names its dtype
for _f, _d in ((FloatTensor, _dt.F32), (DoubleTensor, _dt.F64), (LongTensor, _dt.I64),
               (IntTensor, np.dtype(np.int32)), (BoolTensor, _dt.BOOL)):
    _f.dtype = _dt.from_np(_d)


from .ops import unbroadcast as _unbroadcast  # noqa: E402

_unbroadcast.EAGER_TENSOR[0] = Tensor
