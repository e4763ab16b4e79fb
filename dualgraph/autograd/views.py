"""Views and in-place ops, eagerly: PyTorch's version counters and history rewriting.

A view shares memory and a version counter with its base (eager.py sets `_base`, `_vc` and
`_view_version` when an op's result aliases its input). An in-place op writes the tensor's memory,
bumps the counter and gives the tensor a new history (grad_fn). Nodes recorded earlier hold the
same Tensor object as input, so the old history is logged in `t._history` (written only here,
never on the per-op path) and the reverse pass asks `history_at(t, node.seq)`. A view whose base
was written through another alias afterwards is "stale": its gradient goes to the base instead
(PyTorch regenerates such a view's grad_fn from its base; CopySlices is the write side).

The write ops' eager forms (`inplace_op`, `fill`, `copy_from`, `sample`, `setitem`) are what
EagerInterpreter.write runs; the public in-place methods (add_, copy_, x[i] = v, ...) live in
tensor_methods.py, once for both modes, and reach them through ops.dispatch.apply_inplace.
"""
import numpy as np

from ..errors import DGRuntimeError, DGIndexError
from ..ops.dispatch import apply
from ..ops import elementwise as E, shape as S
from ..ops.common import (check_inplace_result as _check_inplace_result,
                          check_sample_dtype as _check_sample_dtype,
                          check_index_put_dtype as _check_index_put_dtype)
from ..state import _state
from ..tensor import LEAF_INPLACE, Tensor, wrap_array, tensor, check_inplace
from .tape import next_seq

OVERLAP = ("unsupported operation: more than one element of the written-to tensor refers to a "
           "single memory location. Please clone() the tensor before performing the operation.")
_FALSE = wrap_array(np.array(False))  # the condition of overwrite's where(); never written to


# ---------------------------------------------------------------- history across in-place ops
def rebase(t, fn, rg):
    """t gets the history (fn, rg); the one it had is logged for nodes recorded before now."""
    h = getattr(t, "_history", None)
    if h is None:
        h = t._history = []
    ver = t._version
    h.append((next_seq(), t.grad_fn, t._rg, getattr(t, "_view_version", -1), ver))
    t.grad_fn = fn
    t._rg = rg
    if t._base is not None:
        t._view_version = ver


def history_at(t, seq):
    """(grad_fn or t for a leaf, requires_grad, route) as node `seq` saw them.

    route is t when this view was stale then: its gradient goes to its base (through
    grad_to_base), whose history at `seq` is the first item; else None."""
    fn, rg, vs = t.grad_fn, t._rg, getattr(t, "_view_version", -1)
    h = getattr(t, "_history", None)
    if h is not None:
        for s, f, r, v, _ in h:
            if s > seq:
                fn, rg, vs = f, r, v
                break
    b = t._base
    if b is not None and getattr(b, "_history", None) is not None:
        for s, _, _, _, ver in b._history:
            if s < seq and ver > vs:
                key, brg, _ = history_at(b, seq)
                return key, brg, t
    return (t if fn is None else fn), rg, None


def has_history(t):
    """Whether t's history or its base's was ever rewritten (else t.grad_fn is the whole story)."""
    if getattr(t, "_history", None) is not None:
        return True
    b = t._base
    return b is not None and getattr(b, "_history", None) is not None


def grad_to_base(view, g):
    """The gradient g of a (stale) view, as a gradient of its base: zeros elsewhere."""
    b = view._base
    if b._data.ndim == 0:
        return g.sum()
    idx = index_tensors(view._data, b._data)
    return apply(S.getitem_grad_op, g, b, *idx, index=_slots(len(idx)))


def is_stale(t):
    b = t._base
    if b is None or getattr(b, "_history", None) is None:
        return False
    vs = getattr(t, "_view_version", -1)
    return any(e[4] > vs for e in b._history)


def _rg_now(t, itself=True):
    """Whether a write to t records: t requires grad, or it is a view made before its base
    took a history. PyTorch takes such a view for a leaf that requires grad: an in-place op on
    it (`itself`) is refused; a write into an index of it (t[i] = v) records, the view made
    again first."""
    if not t._rg and t._base is not None and t._base._rg and is_stale(t):
        if itself:
            raise DGRuntimeError(LEAF_INPLACE)
        refresh(t)
    return t._rg


def refresh(t):
    """Remake a stale view's history from its base's current one (before writing through it)."""
    b = t._base
    old = alias(b)
    if b._data.ndim == 0:
        new = apply(S.reshape_op, old, shape=tuple(t._data.shape))
    else:
        idx = index_tensors(t._data, b._data)
        new = apply(S.getitem_op, old, *idx, index=_slots(len(idx)))
    rebase(t, new.grad_fn, new._rg)


def write_through_view(t, r):
    """The view t now holds r (with history): its base's history becomes 'old base with the
    view's elements replaced by r' (PyTorch's CopySlices)."""
    b = t._base
    old = alias(b) if b._rg else b
    if b._data.ndim == 0:
        new = apply(S.reshape_op, r, shape=())
    else:
        idx = index_tensors(t._data, b._data)
        new = apply(S.index_put_op, old, r, *idx, index=_slots(len(idx)))
    rebase(b, new.grad_fn, True)


def detach_(t):
    rebase(t, None, False)
    return t


# ---------------------------------------------------------------- in-place writes
# (the refusals, check_inplace, are the tensor's: tensor.py)
def commit(t, result):
    """Write an out-of-place result into t's memory, and t takes over its history."""
    if not t._data.flags.writeable:
        raise DGRuntimeError(OVERLAP)
    if tuple(result.shape) != tuple(t._data.shape):
        raise DGRuntimeError(
            f"output with shape {list(t.shape)} doesn't match the broadcast shape {list(result.shape)}")
    np.copyto(t._data, result._data, casting="unsafe")
    t._bump()
    if result.grad_fn is not None:
        rebase(t, result.grad_fn, True)
        if t._base is not None:
            write_through_view(t, result)
    return t


def old_value(t, copy=False):
    """The value and history an in-place op on t consumes, or t when no history is recorded."""
    if not _state.grad_enabled:
        return t
    if t._base is not None and is_stale(t):
        refresh(t)
    return alias(t, copy)


def alias(t, copy=False):
    """A second handle on t's current value (or a copy of it) and history."""
    a = wrap_array(t._data.copy() if copy else t._data)
    a.grad_fn = t.grad_fn
    a._rg = t._rg
    if not copy:
        a._vc = t._vc if t._vc is not None else t._ensure_vc()
    return a


def overwrite(t, src):
    """fill_/copy_/normal_... while gradients are recorded: where(False, old, src) has src's
    value and sends the gradient to src and none to the overwritten value."""
    if isinstance(src, Tensor) and src._data.dtype != t._data.dtype:
        src = E.cast(src, t._data.dtype)
    return commit(t, apply(E.where_op, _FALSE, old_value(t), src))


def raw_write(t, key, value):
    """A plain numpy write (no history), with PyTorch's errors."""
    try:
        t._data[key] = value
    except IndexError as e:
        raise DGIndexError(str(e)) from None
    except ValueError as e:
        if not t._data.flags.writeable:
            raise DGRuntimeError(OVERLAP) from None
        S._expand_shape(np.shape(value), t._data[key].shape)
        raise DGRuntimeError(str(e)) from None
    t._bump()
    return t


# ---- the eager forms of the write ops (EagerInterpreter.write's table)
def inplace_op(t, op, *others, **attrs):
    """t takes op(t, *others): computed out of place, then written in."""
    grad = _state.grad_enabled
    if grad:
        check_inplace(t)  # (it refuses nothing under no_grad: the optimizers' updates skip it)
    if grad and (_rg_now(t) or any(isinstance(o, Tensor) and o._rg for o in others)):
        # the op's backward may read its first input: then it gets the old value, copied
        saves = op.saves
        if saves is not None and type(saves) is not tuple:
            saves = saves((t,) + others,
                          (t._rg,) + tuple(isinstance(o, Tensor) and o._rg for o in others))
        old = old_value(t, copy=saves is None or 0 in saves)
    else:
        if op.ufunc in _IN_PLACE_UFUNCS and not attrs:
            args = _into_place(t, others)
            if args is not None:  # straight into t's memory: the same numbers, one pass, no copy
                op.ufunc(t._data, *args, out=t._data)
                vc = t._vc  # t._bump(), inline
                if vc is None:
                    t._vc = [1]
                else:
                    vc[0] += 1
                return t
        old = t
    r = apply(op, old, *others, **attrs)
    rd = r._data.dtype
    if rd is not t._data.dtype:
        _check_inplace_result(op, rd, t._data.dtype)
    return commit(t, r)


# (the kernels of these call the bare ufunc for same-dtype floats; others wrap it: warnings,
# integer rules)
_IN_PLACE_UFUNCS = {np.add, np.subtract, np.multiply}


def inplace_each(updates, write, fast=True):
    """The eager write door over lists (EagerInterpreter.write_each, PyTorch's _foreach_ ops).
    updates: [(targets, op, others, alpha)], lists of one length; index by index, each update
    in turn has targets[i] take op(targets[i], others[i] * alpha) (others[i] alone when alpha
    is 1; a None target is skipped): the same writes, in the same order, as `write` one by one,
    so one parameter's updates run together while its arrays are in cache. With nothing
    recorded (no_grad), a float target whose operand fits (_into_place) takes the op's ufunc
    straight into its memory here, as inplace_op would, with no dispatch per tensor.
    `fast=False` sends every write through `write`."""
    fast = fast and not _state.grad_enabled
    plans = []
    for targets, op, others, alpha in updates:
        ufunc = op.ufunc
        plans.append((op, ufunc, alpha, alpha != 1, fast and ufunc in _IN_PLACE_UFUNCS
                      and type(alpha) in (int, float)))
    for row in zip(*[zip(u[0], u[2]) for u in updates]):
        for (t, o), (op, ufunc, alpha, scaled, quick) in zip(row, plans):
            if t is None:
                continue
            if quick and isinstance(t, Tensor):
                args = _into_place(t, (o,))
                if args is not None and not (scaled and not isinstance(o, Tensor)):
                    # (a Python number times alpha is Python arithmetic in the method: left to it)
                    a = t._data
                    ufunc(a, np.multiply(args[0], alpha) if scaled else args[0], out=a)
                    t._bump()
                    continue
            write(t, op, (E._scaled(o, alpha, t),), {})


def _into_place(t, others):
    """With nothing recorded: run the op's ufunc with out= t's memory when that is exactly what
    computing it and copying it in gives (a float tensor, operands of its dtype and shape or
    0-d, or Python numbers, which never widen a float: the eager kernel calls the same ufunc)."""
    a = t._data
    if a.dtype.kind != "f" or not a.flags.writeable:
        return None
    args = []
    for o in others:
        if isinstance(o, Tensor):
            x = o._data
            if x.dtype is not a.dtype or (x.shape != a.shape and x.ndim):
                return None
            args.append(x)
        elif type(o) in (float, int):
            args.append(o)
        else:
            return None
    return args


def fill(t, fill_value, dtype=None):
    check_inplace(t)
    if _state.grad_enabled and _rg_now(t):
        return overwrite(t, fill_value)
    return raw_write(t, Ellipsis, fill_value)


def copy_from(t, src):
    check_inplace(t)
    if not isinstance(src, Tensor):
        src = tensor(src)
    try:
        b = src.expand(*t.shape) if tuple(src.shape) != tuple(t.shape) else src
    except DGRuntimeError:
        raise DGRuntimeError(
            f"The size of tensor a ({t.shape[-1] if t.ndim else 1}) must match the size of "
            f"tensor b ({src.shape[-1] if src.ndim else 1}) at non-singleton dimension {max(t.ndim - 1, 0)}") from None
    if _state.grad_enabled and (_rg_now(t) or src._rg):
        return overwrite(t, b)
    if not t._data.flags.writeable:
        raise DGRuntimeError(OVERLAP)
    np.copyto(t._data, b._data, casting="unsafe")
    t._bump()
    return t


def sample(t, op, **attrs):
    """normal_ / uniform_: draw a sample of t's shape into it."""
    _check_sample_dtype(op, t._data.dtype)
    check_inplace(t)
    s = apply(op, t.detach(), **attrs)
    if _state.grad_enabled and t._rg:
        return overwrite(t, s)
    return raw_write(t, Ellipsis, s._data)


def setitem(t, value, *tensors, index):
    check_inplace(t, index)
    vt = isinstance(value, Tensor)
    if vt or isinstance(value, np.ndarray):
        va = value._data if vt else value
        if va.dtype != t._data.dtype:
            _check_index_put_dtype(t._data.dtype, va.dtype, index,
                                   [x._data.dtype for x in tensors], va.size)
    if not (_state.grad_enabled and (_rg_now(t, itself=False) or (vt and value._rg))):
        raw_write(t, S._key(index, [x._data for x in tensors]), value._data if vt else value)
        return t
    try:
        r = apply(S.index_put_op, old_value(t), value, *tensors, index=index)
    except DGRuntimeError:
        key = S._key(index, [x._data for x in tensors])
        S._expand_shape(np.shape(value._data if vt else value), t._data[key].shape)
        raise
    return commit(t, r)


# ---------------------------------------------------------------- where a view lies in its base
def _ptr(a):
    return a.__array_interface__["data"][0]


def _offsets(a, origin, itemsize):
    """Offset (in elements, from address `origin`) of every element of array a."""
    o = np.asarray((_ptr(a) - origin) // itemsize, dtype=np.int64)
    for n, st in zip(a.shape, a.strides):
        o = np.add.outer(o, np.arange(n, dtype=np.int64) * (st // itemsize))
    return o


def _positions(view, base):
    """Row-major flat index into `base` of every element of `view` (which lies in its memory)."""
    origin = _ptr(base)
    off = _offsets(view, origin, base.itemsize)
    if base.flags.c_contiguous:
        return off
    ob = _offsets(base, origin, base.itemsize).reshape(-1)
    order = np.argsort(ob, kind="stable")
    return order[np.searchsorted(ob[order], off)]


def index_tensors(view, base):
    """Integer index tensors that pick `view`'s elements out of `base` (both numpy arrays)."""
    return [wrap_array(np.ascontiguousarray(i)) for i in np.unravel_index(_positions(view, base), base.shape)]


def _slots(n):
    return tuple(S.Slot(i) for i in range(n))
