"""The eager interpreter: run the numpy kernel now, record a tape node if grad is needed.

The tape (autograd/tape.py) and the view/in-place history (autograd/views.py) live in autograd/;
this module only applies ops and writes (the table of write ops' eager forms).
"""
import numpy as np

from .errors import DualGraphError, DGRuntimeError, DGTypeError
from .ops.registry import Spec
from .ops import shape as S, creation as C
from .state import _state, set_default_mode
from .tensor import Tensor
from .autograd.tape import Node, record, next_seq
from .autograd import views as V

_nd = np.ndarray
_new = object.__new__


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
        # (every eager op runs this: the common arities are spelt out, the result is wrapped
        # inline (tensor.wrap_array's fields) and the kernel gets no empty **attrs)
        n = len(inputs)
        try:
            if n == 2:
                a, b = inputs
                args = (a._data if isinstance(a, Tensor) else a, b._data if isinstance(b, Tensor) else b)
            elif n == 1:
                a = inputs[0]
                args = (a._data,) if isinstance(a, Tensor) else (a,)
            elif n == 3:
                a, b, c = inputs
                args = (a._data if isinstance(a, Tensor) else a, b._data if isinstance(b, Tensor) else b,
                        c._data if isinstance(c, Tensor) else c)
            else:
                args = [x._data if isinstance(x, Tensor) else x for x in inputs]
        except AttributeError:
            args = list(inputs)
            _explain(op, inputs, args, attrs, DGTypeError("bad input"))
        if op.check_eager:
            op.infer(*[Spec(a.shape, a.dtype) if type(a) is _nd else a for a in args], **attrs)
        try:
            out = op.forward(*args, **attrs) if attrs else op.forward(*args)
        except Exception as e:  # noqa: BLE001 - every kernel failure becomes a dualgraph error
            _explain(op, inputs, args, attrs, e)
        if type(out) is not _nd:
            out = np.asarray(out)
        t = _new(Tensor)  # wrap_array(out), inline
        t._data = out
        t._rg = False
        t.grad_fn = None
        t._grad = None
        t._vc = None
        t._base = None
        t._hooks = None
        t._history = None
        if op.view:
            x = inputs[0]
            if np.may_share_memory(out, x._data):
                vc = x._vc
                if vc is None:
                    vc = x._vc = [0]
                t._vc = vc
                t._view_version = vc[0]  # the version its history is made at (views.history_at)
                t._base = x._base if x._base is not None else x
        if op.differentiable and _state.grad_enabled:
            for x in inputs:
                if not isinstance(x, Tensor):
                    continue
                if x._rg:
                    if out.dtype.kind == "f":
                        if op.saves == () and not op.saves_output:
                            # tape.record's node for an op whose rule reads no value (add, sub,
                            # sum, ...: nothing to version-check or keep), inline
                            nd = Node()
                            nd.op = op
                            nd.inputs = inputs
                            nd.attrs = attrs
                            nd.seq = next_seq()
                            nd.hooks = nd.retained = nd.versions = nd.out_version = None
                            nd._out = nd._out_vc = None
                            nd.freed = False
                            nd._meta = out
                            t.grad_fn = nd
                        else:
                            t.grad_fn = record(op, inputs, attrs, t)
                        t._rg = True
                    break
                b = x._base
                if b is not None and b._rg and out.dtype.kind == "f" and V.is_stale(x):
                    V.refresh(x)  # a view made before its base took a history sees it (PyTorch)
                    if x._rg:
                        t.grad_fn = record(op, inputs, attrs, t)
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
            return V.inplace_op(t, op, *inputs, **attrs)
        return w(t, *inputs, **attrs)

    def write_each(self, updates):
        """The write door over lists (views.inplace_each: one call for an optimizer's list of
        updates, index by index)."""
        V.inplace_each(updates, self.write)

    def get_grad(self, t):
        return t._eager_grad() if isinstance(t, Tensor) else t._sym_grad()

    def read_layout(self, t):
        """An eager tensor's is_contiguous() / stride() was read (a trace guards it)."""

    def set_grad(self, t, value):
        return t._set_eager_grad(value) if isinstance(t, Tensor) else t._set_sym_grad(value)


# write ops whose eager form is not 'compute op(old, *inputs), copy it in' (views.inplace_op)
_WRITERS = {S.copy_op: V.copy_from, C.full_like_op: V.fill, S.index_put_op: V.setitem,
            C.normal_like_op: lambda t, **a: V.sample(t, C.normal_like_op, **a),
            C.uniform_like_op: lambda t, **a: V.sample(t, C.uniform_like_op, **a)}
EAGER = EagerInterpreter()
set_default_mode(EAGER)
