"""Python state read while tracing: lifted, guarded, or refused (never silently frozen).

- *lifted*: the numbers in an optimizer's param_groups (lr, momentum, betas, eps, ...) become
  0-d run-time inputs of the plan (`Graph.lift_python`), read again at every call: a scheduler
  or a manual change needs no retrace.
- *guarded*: a Python value the traced code depends on (closure and global numbers and the
  short containers and plain objects holding them, module number and list attributes, which
  models, optimizers and tensors the closure, globals, modules and optimizers hold, each
  captured tensor's shape, dtype and requires_grad, whether module hooks changed, whether a
  `.grad` is None, a lifted number used in a Python `if`) is recorded with its value
  (graph/function.py `_guard_python_state`, `_guard_value`, `_guard_captured_tensors`); every
  call checks them all in one generated expression, and a change retraces, naming the value
  and its old and new value.
- *refused*: iterating a DataLoader while tracing raises (utils/data/ asks `tracing()`);
  seeding the generator while tracing raises (random.py), as does a second backward through
  what a traced backward() freed (autograd/engine.py `TracedTape`).

JAX's cache-miss explanations and torch._dynamo's guards are the models.
"""
import operator

import numpy as np

from ..errors import DGRuntimeError
from ..tensor_methods import TensorMethods
from .core import SymbolicTensor

_NUMBERS = (int, float, bool, str, type(None))


def is_plain_value(v):
    t = type(v)
    if t in _NUMBERS:
        return True
    return t is tuple and len(v) <= 8 and all(type(x) in _NUMBERS for x in v)


class Guards:
    """Guards of one trace: (description, expression over bound names, expected value)."""

    def __init__(self):
        self.items = []
        self.used_optimizers = set()
        self.env = {}
        self._seen = set()

    def bind(self, obj, prefix="o"):
        name = f"{prefix}{id(obj)}"
        self.env[name] = obj
        return name

    def add(self, description, expr, expected):
        if expr in self._seen:
            return
        self._seen.add(expr)
        self.items.append((description, expr, expected))

    def compile(self):
        exprs = [e for _, e, _ in self.items]
        expected = tuple(x for _, _, x in self.items)
        src = "def check():\n    try:\n        return (" + ", ".join(exprs) + ("," if exprs else "") + \
              ") == _expected\n    except Exception:\n        return False\n"
        ns = dict(self.env)
        ns["_expected"] = expected
        exec(compile(src, "<dualgraph guards>", "exec"), ns)  # noqa: S102 - our own expressions
        return ns["check"]

    def first_failure(self):
        """(description, old value, new value) of the first guard that no longer holds."""
        for desc, expr, expected in self.items:
            try:
                now = eval(expr, dict(self.env))  # noqa: S307 - our own expression
            except Exception as e:  # noqa: BLE001
                now = f"<{type(e).__name__}: {e}>"
            if now != expected:
                return desc, expected, now
        return None


class Lifted(SymbolicTensor):
    """A param_groups number made a run-time input. Arithmetic on it builds graph nodes; used
    as a Python value (an `if`, a comparison with a number, float()) it gives its traced value
    and guards what that use decided."""

    __slots__ = ("concrete", "where", "guards", "expr")

    def _guard(self, what, result):
        if what:
            self.guards.add(f"{self.where} {what}", f"({self.expr}) {what}", result)
        else:  # used as a Python number: its exact value
            self.guards.add(f"{self.where} (used as a Python number)", self.expr, result)
        return result

    def _cmp(op, sym):
        def method(self, other):
            if isinstance(other, (int, float)) and not isinstance(other, bool):
                return self._guard(f"{sym} {other!r}", op(self.concrete, other))
            return getattr(SymbolicTensor, f"__{op.__name__}__")(self, other)
        return method

    __eq__ = _cmp(operator.eq, "==")
    __ne__ = _cmp(operator.ne, "!=")
    __lt__ = _cmp(operator.lt, "<")
    __le__ = _cmp(operator.le, "<=")
    __gt__ = _cmp(operator.gt, ">")
    __ge__ = _cmp(operator.ge, ">=")
    __hash__ = SymbolicTensor.__hash__
    del _cmp

    def __bool__(self):
        return self._guard("!= 0", self.concrete != 0)

    def __float__(self):
        return float(self._guard("", self.concrete))

    def __int__(self):
        return int(self._guard("", self.concrete))

    __index__ = __int__

    def item(self):
        return self._guard("", self.concrete)

    # logging the lr inside a traced step (f"{lr:.3g}", round(lr, 4), str(lr)) sees its value
    def __format__(self, spec):
        return format(self._guard("", self.concrete), spec)

    def __round__(self, ndigits=None):
        return round(self._guard("", self.concrete), ndigits)

    def __str__(self):
        return str(self._guard("", self.concrete))

    def __repr__(self):
        return f"<lifted {self.where} = {self.concrete!r}>"


def lift_number(graph, guards, owner_expr, key_expr, value, where):
    """A Python number read from a container while tracing, as a run-time input."""
    expr = f"{owner_expr}{key_expr}"
    kind = "float" if isinstance(value, (float, np.floating)) else "int"
    if isinstance(value, np.generic):  # a numpy scalar (a scheduler's np.float32 lr): its exact type
        check = f"type({expr}) is {guards.bind(type(value), 't')}"
        guards.add(f"{where} is a numpy.{type(value).__name__} (lifted)", check, True)
    else:
        check = (f"isinstance({expr}, float)" if kind == "float"
                 else f"(isinstance({expr}, int) and not isinstance({expr}, bool))")
        guards.add(f"{where} is a Python {kind} (lifted)", check, True)
    conv = np.float64 if kind == "float" else np.int64  # the 0-d value the plan is fed
    read = eval(f"lambda: _conv({expr})", dict(guards.env, _conv=conv))  # noqa: S307 - our own expression
    sym = graph.lift_python(read, value, where)
    lt = Lifted.__new__(Lifted)
    lt.node, lt._shape, lt._dtype, lt._grad, lt._rg, lt._weak, lt._owns = (
        sym.node, sym._shape, sym._dtype, sym._grad, sym._rg, sym._weak, False)
    lt._alias = lt._storage = None
    sym.node.out = lt
    graph.lifted[-1] = (lt, read, where)
    lt.concrete, lt.where, lt.guards, lt.expr = value, where, guards, expr
    return lt


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


class _LiftingGroup(dict):
    """An optimizer's param_group while its step is traced: numbers come out lifted."""

    def __init__(self, group, graph, guards, owner_expr, where):
        dict.__init__(self, group)
        self._graph, self._guards, self._owner, self._where = graph, guards, owner_expr, where
        self._lifted = {}
        self.written = []
        self.used = False

    def __getitem__(self, k):
        v = dict.__getitem__(self, k)
        self.used = True
        if k == "params":
            return v
        got = self._lifted.get(k)
        if got is not None:
            return got
        key = f"[{k!r}]"
        where = f"{self._where}[{k!r}]"
        if _is_number(v):
            got = lift_number(self._graph, self._guards, self._owner, key, v, where)
        elif type(v) in (tuple, list) and v and all(_is_number(x) for x in v):  # betas, as either
            self._guards.add(f"type and len({where})", f"(type({self._owner}{key}), len({self._owner}{key}))",
                             (type(v), len(v)))
            got = type(v)(lift_number(self._graph, self._guards, self._owner, f"{key}[{i}]", x, f"{where}[{i}]")
                          for i, x in enumerate(v))
        else:
            if is_plain_value(v) or isinstance(v, np.generic):  # a flag (maximize, nesterov), np.bool_ too
                self._guards.add(where, f"{self._owner}{key}", v)
            return v
        self._lifted[k] = got
        return got

    def guard_absent(self, opt, p, key):
        """The traced step took the branch for an optimizer state without `key` (PyTorch's
        first step): the plan holds only while that stays so."""
        o, x = self._guards.bind(opt), self._guards.bind(p, "x")
        self._guards.add(f"whether the optimizer state of a parameter of {self._where} lacks {key!r}",
                         f"{key!r} not in {o}.state.get({x}, ())", True)

    def get(self, k, default=None):
        return self[k] if k in self else default

    def __setitem__(self, k, v):
        self.written.append(k)
        dict.__setitem__(self, k, v)

    # every other dict write is refused as `group[k] = v` is (the group is a copy for the trace)
    def update(self, *args, **kw):
        new = dict(*args, **kw)
        self.written.extend(new)
        dict.update(self, new)

    def setdefault(self, k, default=None):
        if k not in self:
            self.written.append(k)
        return dict.setdefault(self, k, default)

    def __delitem__(self, k):
        self.written.append(k)
        dict.__delitem__(self, k)

    def pop(self, k, *default):
        if k in self:
            self.written.append(k)
        return dict.pop(self, k, *default)

    def popitem(self):
        if self:
            self.written.append(next(reversed(self)))
        return dict.popitem(self)

    def clear(self):
        self.written.extend(self)
        dict.clear(self)


_ABSENT = object()  # (an optimizer state entry the trace made)


def _same(a, b):
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an object without a plain ==: treat as changed
        return False


class lifting:
    """Context manager: while it is active the optimizers' param_groups lift their numbers."""

    def __init__(self, graph, guards, optimizers):
        self.graph, self.guards, self.optimizers = graph, guards, optimizers
        self.saved = []
        self.used = guards.used_optimizers  # ids of the optimizers whose param_groups the trace read

    def __enter__(self):
        for opt, name in self.optimizers:
            o = self.guards.bind(opt)
            self.guards.add(f"len({name}.param_groups)", f"len({o}.param_groups)", len(opt.param_groups))
            orig = opt.param_groups
            opt.param_groups = [
                _LiftingGroup(gr, self.graph, self.guards, f"{o}.param_groups[{i}]", f"{name}.param_groups[{i}]")
                for i, gr in enumerate(orig)]
            self.saved.append((opt, orig, name, opt.param_groups, len(orig),
                               {(id(p), k): v for p, st in opt.state.items() for k, v in st.items()}))
        return self

    @staticmethod
    def _state_writes(opt, name, before):
        """Entries of opt.state the traced step made graph tensors or Python values it changed (a
        custom optimizer creating its buffer with dg.zeros_like inside step(), a Python step
        counter): the plan would recompute or freeze them. Undone, and named."""
        bad = []
        for p, st in list(opt.state.items()):
            for k, v in list(st.items()):
                old = before.get((id(p), k), _ABSENT)
                if isinstance(v, SymbolicTensor) or (
                        not isinstance(v, TensorMethods) and old is not v and not _same(old, v)):
                    bad.append(f"{name}.state[...][{k!r}]")
                    if old is _ABSENT:
                        del st[k]
                    else:
                        st[k] = old
        return bad

    def __exit__(self, *exc):
        bad = []
        state_bad = []
        for opt, orig, name, during, n, before in self.saved:
            state_bad += self._state_writes(opt, name, before)
            if opt.param_groups is not during or len(during) != n:  # add_param_group, a new list
                bad.append(f"{name}.param_groups")
            for i, gr in enumerate(opt.param_groups):
                if isinstance(gr, _LiftingGroup) and gr.written:
                    bad.append(f"{name}.param_groups[{i}][{gr.written[0]!r}]")
                if isinstance(gr, _LiftingGroup) and gr.used:
                    self.used.add(id(opt))
            opt.param_groups = orig
        if state_bad and exc[0] is None:
            raise DGRuntimeError(
                f"{state_bad[0]} was set inside a function traced by dg.function to a graph value or "
                "a changed Python value: the compiled plan would make it again at every call (a "
                "momentum buffer starting from zeros each time) or keep the traced value. Create "
                "optimizer state as tensors outside the trace (self._new_state(dg.zeros_like, p) in "
                "step(), as the built-in optimizers do, or one eager opt.step() before compiling) and "
                "update them in place (buf.mul_(beta).add_(grad)), step counters included.")
        if bad and exc[0] is None:
            raise DGRuntimeError(
                f"{bad[0]} was assigned inside a function traced by dg.function (a learning-rate "
                "scheduler's step(), or a manual change). A Python write is not replayed by the "
                "compiled plan. Do it outside the compiled function: the plan reads every "
                "param_groups number at each call, so the change needs no retrace.")
        return False
