"""The state a step function reaches (its modules' parameters and buffers with their .grad,
its optimizers' slots, tensors in its closure and globals), named as dg.function names them:
saved, restored and compared between the two modes.

When both modes run one function on shared state (no `setup`), each call pair starts from the
same state: it is saved before the eager call and restored before the compiled one. With
`setup`, each mode has its own state and the same names pick the pairs to compare.
"""
import copy
import inspect

import numpy as np

from ..tensor import Tensor
from ..graph.function import _reachable, _roots


class ReachedState:
    def __init__(self, fn, args=()):
        try:
            argnames = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            argnames = []
        modules, self.optimizers, self._names = _reachable(_roots(fn, args, {}, argnames))
        self.tensors = {}  # name -> tensor
        for mod, mname in modules:
            for kind in ("named_parameters", "named_buffers"):
                for n, t in getattr(mod, kind)():
                    if t is not None:
                        self.tensors.setdefault(f"{mname}.{n}" if n else mname, t)
        for name, obj in _roots(fn, args, {}, argnames):
            if isinstance(obj, Tensor) and not any(obj is a for a in args):
                self.tensors.setdefault(name, obj)

    # ---- save and restore (shared state)
    def save(self):
        data = {n: (t._data.copy(), None if t._grad is None else t._grad._data.copy())
                for n, t in self.tensors.items()}
        opts = []
        for opt, _ in self.optimizers:
            slots = {p: {k: (v, v._data.copy()) if isinstance(v, Tensor) else (None, copy.deepcopy(v))
                         for k, v in st.items()} for p, st in opt.state.items()}
            groups = [{k: copy.deepcopy(v) for k, v in g.items() if k != "params"} for g in opt.param_groups]
            opts.append((opt, slots, groups))
        return data, opts

    def restore(self, saved):
        data, opts = saved
        for n, t in self.tensors.items():
            value, grad = data[n]
            np.copyto(t._data, value)
            if grad is None:
                t._grad = None
            elif t._grad is not None and t._grad._data.shape == grad.shape:
                np.copyto(t._grad._data, grad)  # in place: a compiled plan holds the .grad it writes
            else:
                t._grad = _tensor(grad)
        for opt, slots, groups in opts:
            opt.state.clear()
            for p, st in slots.items():
                restored = {}
                for k, (obj, value) in st.items():
                    if obj is not None:
                        np.copyto(obj._data, value)
                        restored[k] = obj
                    else:
                        restored[k] = copy.deepcopy(value)
                opt.state[p] = restored
            for g, saved_g in zip(opt.param_groups, groups):
                g.update(copy.deepcopy(saved_g))

    # ---- compare
    def values(self):
        """name -> array of every tensor, its .grad ('name.grad') and optimizer slot."""
        out = {}
        for n, t in self.tensors.items():
            out[n] = t._data.copy()
            out[f"{n}.grad"] = None if t._grad is None else t._grad._data.copy()
        for opt, oname in self.optimizers:
            for p, st in opt.state.items():
                pn = self._names.get(id(p), "param")
                for k, v in st.items():
                    if isinstance(v, Tensor):
                        out[f"{oname}.state[{pn}][{k!r}]"] = v._data.copy()
        return out


def _tensor(a):
    from ..tensor import wrap_array
    return wrap_array(a.copy())


def state_differences(a, b, rtol, atol):
    """[(name, description)] where two states' values differ (one None and not the other, a
    shape, or values beyond tolerance)."""
    out = []
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name), b.get(name)
        if x is None and y is None:
            continue
        if x is None or y is None:
            out.append((name, f"eager {'None' if x is None else 'set'}, compiled {'None' if y is None else 'set'}"))
        elif x.shape != y.shape:
            out.append((name, f"shapes {list(x.shape)} vs {list(y.shape)}"))
        elif x.size and not np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True):
            d = np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))
            out.append((name, f"largest difference {d:.3g}"))
    return out
