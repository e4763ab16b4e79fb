"""The eager `Tensor`: a numpy array plus autograd state, with PyTorch's semantics.

Views share memory (and a version counter) with their base; in-place ops bump that counter so a
backward through a stale saved value is refused, as in PyTorch.
"""
import weakref

import numpy as np

from . import dtypes as _dt
from .errors import DGRuntimeError, DGTypeError, DGValueError, DGIndexError
from .tensor_methods import TensorMethods, Size
from .ops.dispatch import apply
from .ops import elementwise as E, shape as S, creation as C
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


class Tensor(TensorMethods):
    # _hist and _vs are left unset on most tensors (read with getattr): _hist logs the histories
    # an in-place op replaced, _vs is the version a view's history was made at (see _history_at)
    __slots__ = ("_data", "_rg", "grad_fn", "_grad", "_vc", "_base", "_hooks", "_hist", "_vs",
                 "__weakref__")

    def __init__(self, *data):
        """dg.Tensor(data) / dg.Tensor(2, 3): float32, as torch.Tensor."""
        if len(data) == 1 and not isinstance(data[0], (int, np.integer)):
            arr = _to_array(data[0], _dt.F32).astype(_dt.F32, copy=False)
        else:
            arr = np.empty(C.size_args(data), dtype=_dt.F32)
        _init(self, arr)

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
        g = _building()
        if g is not None:  # while building a graph, .grad is the graph's symbolic gradient
            return g.grads.get(id(self))
        if self.grad_fn is not None and self._grad is None and self.grad_fn.retained is None:
            from .autograd.engine import warn_non_leaf_grad
            warn_non_leaf_grad()
        return self._grad

    @grad.setter
    def grad(self, value):
        g = _building()
        if g is not None:
            if value is None:
                g.grads.pop(id(self), None)
            else:
                g.grads[id(self)] = value
            return
        if value is not None and tuple(value.shape) != tuple(self.shape):
            raise DGRuntimeError(
                f"assigned grad has data of a different size: {list(value.shape)} vs {list(self.shape)}")
        self._grad = value

    @property
    def data(self):
        return self.detach()

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
        return self._data.flags.c_contiguous

    def stride(self, dim=None):
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

    def __repr__(self):
        return _format(self)

    def __reduce_ex__(self, proto):
        raise DGTypeError("dualgraph tensors are not pickled; use dg.save / dg.load (a safe format)")

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise DGRuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the moment.")
        new = type(self).__new__(type(self))
        _init(new, self._data.copy())
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
        t = _wrap(self._data)
        t._vc = self._vc if self._vc is not None else self._ensure_vc()
        t._base = self._base if self._base is not None else self
        return t

    def _ensure_vc(self):
        self._vc = [0]
        return self._vc

    def detach_(self):
        self.grad_fn = None
        self._rg = False
        return self

    def retain_grad(self):
        if self.grad_fn is None:
            return
        if not self._rg:
            raise DGRuntimeError("can't retain_grad on Tensor that has requires_grad=False")
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
        from .autograd.functional import backward
        backward([self], [gradient] if gradient is not None else None, retain_graph,
                 create_graph, inputs=inputs)

    # ---- in-place ops (bump the version counter)
    def _check_inplace(self):
        if _state.grad_enabled:
            if self._rg and self.grad_fn is None:
                raise DGRuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
            b = self._base
            if b is not None and b._rg and b.grad_fn is None:
                raise DGRuntimeError(
                    "a view of a leaf Variable that requires grad is being used in an in-place operation.")

    def _inplace(self, result):
        """Write an out-of-place result into this tensor's memory and take over its history."""
        if not self._data.flags.writeable:
            raise DGRuntimeError(
                "unsupported operation: more than one element of the written-to tensor refers to a "
                "single memory location. Please clone() the tensor before performing the operation.")
        if tuple(result.shape) != tuple(self._data.shape):
            raise DGRuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape {list(result.shape)}")
        np.copyto(self._data, result._data, casting="unsafe")
        if result.grad_fn is not None:
            self.grad_fn = result.grad_fn
            self._rg = True
        self._bump()
        return self

    def _inplace_op(self, op, *others, **attrs):
        self._check_inplace()
        g = _building()
        if g is not None:  # graph mode: an assign op on this tensor, captured as a variable
            g.assign(self, apply(op, g.capture(self), *others, **attrs))
            return self
        old = self._alias() if self._rg else self
        return self._inplace(apply(op, old, *others, **attrs))

    def _alias(self):
        """A second handle on this tensor's current value and history (the 'old self')."""
        t = _wrap(self._data)
        t.grad_fn = self.grad_fn
        t._rg = self._rg
        t._vc = self._vc if self._vc is not None else self._ensure_vc()
        t._base = self._base
        return t

    def add_(self, other, *, alpha=1):
        return self._inplace_op(E.add_op, other if alpha == 1 else other * alpha)

    def sub_(self, other, *, alpha=1):
        return self._inplace_op(E.sub_op, other if alpha == 1 else other * alpha)

    def mul_(self, other):
        return self._inplace_op(E.mul_op, other)

    def div_(self, other):
        return self._inplace_op(E.div_op, other)

    def clamp_(self, min=None, max=None):
        return self._inplace_op(E.clamp_op, min=min, max=max)

    clip_ = clamp_

    def fill_(self, value):
        self._check_inplace()
        if isinstance(value, Tensor):
            if value.ndim:
                raise DGRuntimeError(
                    f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions.")
            value = value.item()
        g = _building()
        if g is not None:
            g.assign(self, C.full_like(g.capture(self), value))
            return self
        self._data[...] = value
        if self.grad_fn is not None:
            self.grad_fn = None  # the old history no longer reaches this value
            self._rg = False
        self._bump()
        return self

    def zero_(self):
        return self.fill_(0)

    def copy_(self, src, non_blocking=False):
        self._check_inplace()
        g = _building()
        if g is not None:
            g.assign(self, src)
            return self
        if not isinstance(src, Tensor):
            src = tensor(src)
        try:
            b = src.expand(*self.shape) if tuple(src.shape) != tuple(self.shape) else src
        except DGRuntimeError:
            raise DGRuntimeError(
                f"The size of tensor a ({self.shape[-1] if self.ndim else 1}) must match the size of "
                f"tensor b ({src.shape[-1] if src.ndim else 1}) at non-singleton dimension {max(self.ndim - 1, 0)}") from None
        if src._rg and _state.grad_enabled:
            return self._inplace(E.cast(b, self.dtype) if b.dtype != self.dtype else b + 0)
        np.copyto(self._data, b._data, casting="unsafe")
        self._bump()
        return self

    def normal_(self, mean=0.0, std=1.0):
        self._check_inplace()
        g = _building()
        if g is not None:
            g.assign(self, apply(C.normal_like_op, g.capture(self), mean=mean, std=std))
            return self
        self._data[...] = apply(C.normal_like_op, self.detach(), mean=mean, std=std)._data
        self._bump()
        return self

    def uniform_(self, a=0.0, b=1.0):
        self._check_inplace()
        g = _building()
        if g is not None:
            g.assign(self, apply(C.uniform_like_op, g.capture(self), low=a, high=b))
            return self
        self._data[...] = apply(C.uniform_like_op, self.detach(), low=a, high=b)._data
        self._bump()
        return self

    def __setitem__(self, key, value):
        self._check_inplace()
        index, tensors = S.split_index(key, lambda k: isinstance(k, Tensor))
        tensors = [t if isinstance(t, Tensor) else tensor(np.asarray(t)) for t in tensors]
        g = _building()
        if g is not None:
            g.assign(self, apply(S.index_put_op, g.capture(self), value, *tensors, index=index))
            return
        if not (self._rg or (isinstance(value, Tensor) and value._rg and _state.grad_enabled)):
            v = value._data if isinstance(value, Tensor) else value
            key = S._key(index, [t._data for t in tensors])
            try:
                self._data[key] = v
            except (ValueError, IndexError) as e:
                raise DGIndexError(str(e)) from None
            self._bump()
            return
        old = self._alias() if self._rg else self
        self._inplace(apply(S.index_put_op, old, value, *tensors, index=index))

    def __iadd__(self, o):
        return self.add_(o)

    def __isub__(self, o):
        return self.sub_(o)

    def __imul__(self, o):
        return self.mul_(o)

    def __itruediv__(self, o):
        return self.div_(o)


def _building():
    """The graph being built, or None when executing eagerly."""
    return getattr(_state.mode, "graph", None)


def _init(t, arr):
    t._data = arr
    t._rg = False
    t.grad_fn = None
    t._grad = None
    t._vc = None
    t._base = None
    t._hooks = None


_new = object.__new__


def _wrap(arr):
    """Fast constructor used by the interpreter: no checks, no copies."""
    t = _new(Tensor)
    t._data = arr
    t._rg = False
    t.grad_fn = None
    t._grad = None
    t._vc = None
    t._base = None
    t._hooks = None
    return t


# ---------------------------------------------------------------- creation from data
def _to_array(data, default_float):
    if isinstance(data, Tensor):
        return data._data.copy()
    if isinstance(data, np.ndarray):
        _dt.from_np(data.dtype)
        return data.copy()
    if isinstance(data, np.generic):
        return np.asarray(data)
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
        data = _unwrap_nested(data)
    try:
        arr = np.array(data)
    except ValueError as e:
        raise DGValueError(f"expected a rectangular sequence of numbers: {e}") from None
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise DGTypeError(f"Could not infer dtype of {type(data).__name__}")
    if arr.dtype.kind == "f" and arr.dtype != default_float and not _has_numpy_float(data):
        arr = arr.astype(default_float)
    if arr.dtype.kind in "iu" and default_float is _dt.F32 and False:
        pass
    return arr


def _flat(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _unwrap_nested(data):
    return [(_unwrap_nested(x) if isinstance(x, (list, tuple)) else (x.item() if isinstance(x, Tensor) else x)) for x in data]


def _has_numpy_float(data):
    return isinstance(data, np.floating)


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """Copy data into a new leaf tensor (Python floats -> float32, ints -> int64)."""
    if device is not None:
        from .device import check_device
        check_device(device)
    arr = _to_array(data, _dt.F32)
    if arr.dtype.kind in "iu" and not isinstance(data, (np.ndarray, Tensor)):
        arr = arr.astype(np.int64, copy=False)
    if dtype is not None:
        arr = arr.astype(_dt.to_np(dtype), copy=False)
    _dt.from_np(arr.dtype)
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
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
    return _wrap(ndarray)


def FloatTensor(*data):
    return Tensor(*data)


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
        return _wrap(_to_array(data[0], _dt.F32).astype(npdtype, copy=False))
    return _wrap(np.zeros(C.size_args(data), dtype=npdtype))


# ---------------------------------------------------------------- repr
def _format(t):
    a = t._data
    kind = a.dtype.kind
    if kind == "f":
        finite = a[np.isfinite(a)] if a.size else a
        integral = finite.size == 0 or bool(np.all(finite == np.round(finite)))
        big = finite.size and (np.abs(finite).max() >= 1e8 or (np.abs(finite[finite != 0]).min() < 1e-4 if np.any(finite != 0) else False))
        if big:
            fmt = {"float_kind": lambda v: np.format_float_scientific(v, precision=4, exp_digits=2)}
            body = np.array2string(a, separator=", ", prefix="tensor(", formatter=fmt, threshold=1000, edgeitems=3)
        else:
            body = np.array2string(a, separator=", ", prefix="tensor(", precision=4,
                                   floatmode="maxprec" if integral else "fixed", threshold=1000, edgeitems=3)
    elif kind == "b":
        body = np.array2string(a, separator=", ", prefix="tensor(", formatter={"bool": lambda v: "True" if v else "False"}, threshold=1000)
    else:
        body = np.array2string(a, separator=", ", prefix="tensor(", threshold=1000, edgeitems=3)
    extras = []
    if a.size == 0:
        body = "[]"
        if a.ndim != 1:
            extras.append(f"size={tuple(a.shape)}")
    default = {_dt.F32, _dt.I64, _dt.BOOL}
    if a.dtype not in default or (a.size == 0 and a.dtype != _dt.F32):
        extras.append(f"dtype=dualgraph.{_dt.from_np(a.dtype).name}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t._rg:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"
