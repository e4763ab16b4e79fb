"""The eager interpreter: run the numpy kernel now, record a tape node if grad is needed."""
import itertools

import numpy as np

from .errors import DualGraphError, DGRuntimeError, DGTypeError
from .ops.registry import Spec
from .state import _state, set_default_mode
from . import tensor as _tensor_mod

_seq = itertools.count()
_nd = np.ndarray


class Node:
    """A tape node: the uniform view a vjp rule gets (inputs, out, attrs), eager flavour."""

    __slots__ = ("op", "inputs", "attrs", "seq", "versions", "out_version", "_out", "_meta",
                 "hooks", "retained", "freed", "needs_grad", "__weakref__")

    def __init__(self, op, inputs, attrs, out):
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.seq = next(_seq)
        self.hooks = None
        self.retained = None
        self.freed = False
        self.needs_grad = None
        saves = op.saves
        if saves is None or (saves and type(saves) is not tuple):
            # every input's version (a rule saves(inputs, needs) picks at backward time which of
            # them the gradients asked for then really read: engine._check_versions)
            vs = []
            for x in inputs:
                if isinstance(x, Tensor):
                    vc = x._vc
                    vs.append(vc[0] if vc is not None else 0)
                else:
                    vs.append(None)
            self.versions = tuple(vs)
        elif saves:
            self.versions = tuple(x._version if i in saves and isinstance(x, Tensor) else None
                                  for i, x in enumerate(inputs))
        else:
            self.versions = None
        if op.saves_output:
            self._out = out
            self.out_version = out._version
        else:
            self._out = None
            self.out_version = None
        self._meta = out._data  # shape/dtype for rules that need only those

    @property
    def out(self):
        if self._out is not None:
            return self._out
        if self.freed:
            from .autograd.engine import FREED
            raise DGRuntimeError(FREED)
        a = self._meta
        return Spec(a.shape, a.dtype)

    def release(self):
        op = self.op
        s = op.saves
        if s is None or op.saves_output or (s and (type(s) is tuple or s(self.inputs, self.needs_grad))):
            self.freed = True
            self._out = None

    def name(self):
        return f"{self.op.torch_name}Backward0"

    def __repr__(self):
        return f"<{self.name()} object>"

    # PyTorch users poke at grad_fn.next_functions
    @property
    def next_functions(self):
        return tuple(((x.grad_fn if x.grad_fn is not None else (_AccumulateGrad(x) if x.requires_grad else None)), 0)
                     for x in self.inputs if isinstance(x, Tensor))


class _AccumulateGrad:
    def __init__(self, t):
        self.variable = t

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return "<AccumulateGrad object>"


Tensor = _tensor_mod.Tensor
_wrap = _tensor_mod._wrap


def _explain(op, inputs, args, attrs, exc):
    """A kernel failed: re-run the shape rule to raise PyTorch's error, else wrap numpy's."""
    for x in inputs:
        if not isinstance(x, Tensor) and hasattr(x, "graph"):
            raise DGTypeError(
                f"{op.name}: got a graph-mode (symbolic) tensor {x.name!r} in eager mode. Build "
                "the op inside the graph's `with dg.graph_mode(g):` block, or run the graph "
                "(dg.Session(g).run / g.compile) to get a value.") from None
    specs = [Spec(a.shape, a.dtype) if type(a) is _nd else a for a in args]
    op.infer(*specs, **attrs)
    if isinstance(exc, DualGraphError):
        raise exc
    raise DGRuntimeError(f"{op.name}: {exc}") from None


class EagerInterpreter:
    def apply(self, op, inputs, attrs):
        try:
            args = [x._data if isinstance(x, Tensor) else x for x in inputs]
        except AttributeError:
            args = list(inputs)
            _explain(op, inputs, args, attrs, DGTypeError("bad input"))
        if op.check_eager:
            op.infer(*[Spec(a.shape, a.dtype) if type(a) is _nd else a for a in args], **attrs)
        try:
            out = op.forward(*args, **attrs)
        except Exception as e:  # noqa: BLE001 - every kernel failure becomes a dualgraph error
            _explain(op, inputs, args, attrs, e)
        if type(out) is not _nd:
            out = np.asarray(out)
        t = _wrap(out)
        if op.view:
            x = inputs[0]
            if np.may_share_memory(out, x._data):
                vc = x._vc
                if vc is None:
                    vc = x._vc = [0]
                t._vc = vc
                t._vs = vc[0]  # the version its history is made at (see Tensor._history_at)
                t._base = x._base if x._base is not None else x
        if _state.grad_enabled and op.differentiable and out.dtype.kind == "f":
            for x in inputs:
                if isinstance(x, Tensor) and x._rg:
                    t.grad_fn = Node(op, inputs, attrs, t)
                    t._rg = True
                    break
        return t

    # ---- the write door (ops.dispatch.apply_inplace) and .grad, eagerly
    def write(self, t, op, inputs, attrs):
        if not isinstance(t, Tensor):
            raise DGTypeError(
                f"in-place {op.name} on the graph-mode (symbolic) tensor {getattr(t, 'name', t)!r} "
                "in eager mode: build it inside the graph's `with dg.graph_mode(g):` block.")
        w = _WRITERS.get(op)
        if w is None:
            return t._inplace_op(op, *inputs, **attrs)
        return w(t, *inputs, **attrs)

    def get_grad(self, t):
        return t._eager_grad() if isinstance(t, Tensor) else t._sym_grad()

    def set_grad(self, t, value):
        return t._set_eager_grad(value) if isinstance(t, Tensor) else t._set_sym_grad(value)


def _writers():
    """Write ops whose eager form is not 'compute op(old, *inputs), copy it in'."""
    from .ops import shape as S, creation as C
    T = Tensor
    return {S.copy_op: T._copy_from, C.full_like_op: T._fill_value, S.index_put_op: T._setitem,
            C.normal_like_op: lambda t, **a: t._sample(C.normal_like_op, **a),
            C.uniform_like_op: lambda t, **a: t._sample(C.uniform_like_op, **a)}


_WRITERS = _writers()
EAGER = EagerInterpreter()
set_default_mode(EAGER)
