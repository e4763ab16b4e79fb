"""@dg.function (alias dg.jit): trace a Python function into a graph once per input signature,
compile it, cache the plan, and run the plan on later calls (TensorFlow's tf.function).

Tensor arguments become placeholders (their exact shapes and dtypes are part of the signature).
Everything else in the signature is the value (or, if unhashable, the identity) of non-tensor
arguments. Tensors reached through non-tensor arguments or closures (a module's parameters, an
optimiser's state) are captured as variables *by reference*: the plan reads their current value
at every call and its assign ops write into them, so eager code and the plan share state.
"""
import functools
import inspect
import warnings

import numpy as np

from ..errors import DGTypeError
from ..mode import executing_eagerly, graph_mode
from ..tensor import Tensor, _wrap
from .core import Graph, SymbolicTensor, placeholder
from .compiler import compile_graph

RETRACE_WARN_AFTER = 5


class _Leaf:
    """Marks where a tensor argument sits in the flattened argument structure."""

    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i


_SCALARS = (int, float, bool, str, type(None))


def _flatten(obj, tensors):
    """Replace tensors (and numpy arrays) by markers; return the hashable skeleton (the key
    of the trace cache). Kept lean: it runs at every call of a compiled function."""
    t = type(obj)
    if t in _SCALARS:
        return obj if t is not float else ("f", obj)  # 1 and 1.0 and True trace differently
    if isinstance(obj, Tensor):
        a = obj._data
        tensors.append(obj)
        return ("T", a.shape, a.dtype)
    if t is np.ndarray:
        tensors.append(obj)
        return ("T", obj.shape, obj.dtype)
    if t is list or t is tuple:
        return (t,) + tuple([_flatten(x, tensors) for x in obj])
    if t is dict:
        return (dict,) + tuple([(k, _flatten(v, tensors)) for k, v in obj.items()])
    if _is_module(obj):  # train()/eval() changes what the module computes: part of the key
        return ("M", id(obj), _training_flags(obj))
    try:
        hash(obj)
        return ("V", t, obj)
    except TypeError:
        return ("id", t, id(obj))


_MODULE = []


def _is_module(obj):
    if not _MODULE:
        from ..nn.module import Module
        _MODULE.append(Module)
    return isinstance(obj, _MODULE[0])


def _training_flags(mod):
    # the module list is cached on the module (rebuilt if the tree changes size)
    subs = getattr(mod, "_dg_submodules", None)
    if subs is None or len(mod._modules) != subs[0]:
        subs = (len(mod._modules), list(mod.modules()))
        object.__setattr__(mod, "_dg_submodules", subs)
    return tuple([m.training for m in subs[1]])


def _closure_modules(fn):
    """Modules a function reaches through its closure or as a bound method's self."""
    found = []
    cells = getattr(fn, "__closure__", None) or ()
    for c in cells:
        try:
            v = c.cell_contents
        except ValueError:
            continue
        if _is_module(v):
            found.append(v)
        elif isinstance(v, (list, tuple)):
            found.extend(x for x in v if _is_module(x))
    owner = getattr(fn, "__self__", None)
    if _is_module(owner):
        found.append(owner)
    return found


def _rebuild(obj, feeds, counter):
    if isinstance(obj, (Tensor, np.ndarray)):
        t = feeds[counter[0]]
        counter[0] += 1
        return t
    if isinstance(obj, (list, tuple)):
        vals = [_rebuild(x, feeds, counter) for x in obj]
        return type(obj)(vals) if not hasattr(obj, "_fields") else type(obj)(*vals)
    if isinstance(obj, dict):
        return {k: _rebuild(v, feeds, counter) for k, v in obj.items()}
    return obj


class _Traced:
    __slots__ = ("graph", "plan", "out_structure", "grad_refs")


class Function:
    def __init__(self, fn, optimize=True):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.optimize = optimize
        self._cache = {}
        self._last_sig = None
        self.trace_count = 0
        self._closure_mods = _closure_modules(fn)
        try:
            self._argnames = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            self._argnames = []

    def __get__(self, obj, objtype=None):  # decorating methods
        if obj is None:
            return self
        bound = self.__dict__.setdefault("_bound", {})
        f = bound.get(id(obj))
        if f is None:
            f = bound[id(obj)] = Function(self.fn.__get__(obj, objtype), self.optimize)
        return f

    def _signature(self, args, kwargs):
        tensors = []
        sig = _flatten((tuple(args), dict(sorted(kwargs.items()))), tensors)
        if self._closure_mods:
            sig = sig + tuple([_training_flags(mod) for mod in self._closure_mods])
        return sig, tensors

    def __call__(self, *args, **kwargs):
        if not executing_eagerly():
            return self.fn(*args, **kwargs)  # called while another graph is built: inline it
        sig, tensors = self._signature(args, kwargs)
        tr = self._cache.get(sig)
        if tr is None:
            tr = self._trace(args, kwargs, sig)
        out = tr.plan(*[t._data if isinstance(t, Tensor) else t for t in tensors])
        for ref, store in tr.grad_refs:  # as after an eager step: .grad holds this step's gradient
            ref._grad = store
        return _wrap_out(tr.out_structure, out)

    def graph_for(self, *args, **kwargs):
        sig, _ = self._signature(args, kwargs)
        tr = self._cache.get(sig) or self._trace(args, kwargs, sig)
        return tr.graph

    def plan_for(self, *args, **kwargs):
        sig, _ = self._signature(args, kwargs)
        tr = self._cache.get(sig) or self._trace(args, kwargs, sig)
        return tr.plan

    def _trace(self, args, kwargs, sig):
        if self._last_sig is not None and self.trace_count >= RETRACE_WARN_AFTER:
            warnings.warn(
                f"{getattr(self.fn, '__name__', 'function')} has been traced {self.trace_count + 1} "
                f"times; each new input signature builds and compiles a new graph. This time "
                f"{_diff(self._last_sig, sig, self._argnames)}. Pass tensors (not Python numbers) "
                "for values that change, and keep shapes fixed.", UserWarning, stacklevel=3)
        g = Graph(getattr(self.fn, "__name__", "function"))
        tensors = []
        _flatten((tuple(args), kwargs), tensors)
        with graph_mode(g):
            feeds = [placeholder(_arr(t).shape, _arr(t).dtype, name=f"arg{i}") for i, t in enumerate(tensors)]
            for f, t in zip(feeds, tensors):
                if isinstance(t, Tensor) and t.requires_grad:
                    f.requires_grad_(True)
            a, k = _rebuild((tuple(args), kwargs), feeds, [0])
            result = self.fn(*a, **k)
            flat = []
            structure = _out_structure(result, flat, g)
            # gradients that backward() left on captured tensors are assigned to a gradient
            # store per tensor (memory kept across calls, which the plan computes straight
            # into); after each call the tensor's eager .grad is that store, as after an eager step
            grad_refs = []
            for key, sym in list(g.grads.items()):
                ref = g._captured.get(key)
                if ref is not None and isinstance(sym, SymbolicTensor):
                    store = _wrap(np.zeros(ref._data.shape, ref._data.dtype))
                    g.assign(store, sym)
                    grad_refs.append((ref, store))
        tr = _Traced()
        tr.grad_refs = grad_refs
        tr.graph = g
        tr.plan = compile_graph(g, flat, feeds=feeds, optimize=self.optimize, updates=g.updates)
        tr.out_structure = structure
        self._cache[sig] = tr
        self._last_sig = sig
        self.trace_count += 1
        return tr


def _arr(t):
    return t._data if isinstance(t, Tensor) else np.asarray(t)


def _out_structure(obj, flat, g):
    if isinstance(obj, Tensor):
        obj = g.capture(obj)
    if isinstance(obj, SymbolicTensor):
        flat.append(obj)
        return ("T", len(flat) - 1)
    if isinstance(obj, (list, tuple)):
        return (type(obj),) + tuple(_out_structure(x, flat, g) for x in obj)
    if isinstance(obj, dict):
        return (dict,) + tuple((k, _out_structure(v, flat, g)) for k, v in obj.items())
    return ("V", obj)


def _wrap_out(st, vals):
    tag = st[0]
    if tag == "T":
        v = vals[st[1]]
        return _wrap(v if type(v) is np.ndarray else np.asarray(v))
    if tag == "V":
        return st[1]
    if tag is dict:
        return {k: _wrap_out(v, vals) for k, v in st[1:]}
    items = [_wrap_out(x, vals) for x in st[1:]]
    return tag(items) if tag in (list, tuple) else tag(*items)


def _diff(old, new, names):
    """Say which argument changed between two signatures, and how."""
    oargs, okw, ncl = old[1], old[2], old[3:]
    nargs, nkw, ocl = new[1], new[2], new[3:]
    for i, (a, b) in enumerate(zip(oargs[1:], nargs[1:])):
        if a != b:
            name = names[i] if i < len(names) else f"#{i}"
            return f"argument {i} ({name!r}) changed: {_show(a)} -> {_show(b)}"
    if okw != nkw:
        return f"keyword arguments changed: {okw[1:]} -> {nkw[1:]}"
    if ncl != ocl:
        return "a module reached through the closure switched between train() and eval()"
    return "the number of arguments changed"


def _show(s):
    if isinstance(s, tuple) and s and s[0] == "T":
        return f"tensor of shape {tuple(s[1])} and dtype {np.dtype(s[2])}"
    if isinstance(s, tuple) and s and s[0] == "f":
        return f"float {s[1]!r}"
    if isinstance(s, tuple) and s and s[0] == "M":
        return f"module (training flags {s[2]})"
    if isinstance(s, tuple) and s and s[0] in ("V", "id"):
        kind = getattr(s[1], "__name__", s[1])
        return f"{kind} {s[2]!r}" if s[0] == "V" else f"a different {kind} object"
    return repr(s)


def function(fn=None, *, optimize=True):
    """Decorator: `@dg.function` or `@dg.function(optimize=False)`."""
    if fn is None:
        return lambda f: Function(f, optimize=optimize)
    if isinstance(fn, Function):
        return fn
    if not callable(fn):
        raise DGTypeError("dg.function expects a callable")
    return Function(fn, optimize=optimize)


jit = function
