"""The eager interpreter: run the numpy kernel now, record a tape node if grad is needed.

The tape (autograd/tape.py) and the view/in-place history (autograd/views.py) live in autograd/;
this module only applies ops and writes (the table of write ops' eager forms).
"""
import numpy as np

from .errors import DualGraphError, DGRuntimeError, DGTypeError
from .ops.registry import Spec
from .ops import shape as S, creation as C
from .state import _state, set_default_mode
from .tensor import Tensor, _wrap
from .autograd.tape import Node
from .autograd import views as V

_nd = np.ndarray


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
            if len(inputs) == 2:  # (spelt out for the common arities: this runs for every op)
                a, b = inputs
                args = (a._data if isinstance(a, Tensor) else a, b._data if isinstance(b, Tensor) else b)
            elif len(inputs) == 1:
                a = inputs[0]
                args = (a._data,) if isinstance(a, Tensor) else (a,)
            else:
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
                t._view_version = vc[0]  # the version its history is made at (views.history_at)
                t._base = x._base if x._base is not None else x
        if _state.grad_enabled and op.differentiable and out.dtype.kind == "f":
            for x in inputs:
                if not isinstance(x, Tensor):
                    continue
                if not x._rg and x._base is not None and x._base._rg and V.is_stale(x):
                    V.refresh(x)  # a view made before its base took a history sees it (PyTorch)
                if x._rg:
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
            return V.inplace_op(t, op, *inputs, **attrs)
        return w(t, *inputs, **attrs)

    def get_grad(self, t):
        return t._eager_grad() if isinstance(t, Tensor) else t._sym_grad()

    def set_grad(self, t, value):
        return t._set_eager_grad(value) if isinstance(t, Tensor) else t._set_sym_grad(value)


# write ops whose eager form is not 'compute op(old, *inputs), copy it in' (views.inplace_op)
_WRITERS = {S.copy_op: V.copy_from, C.full_like_op: V.fill, S.index_put_op: V.setitem,
            C.normal_like_op: lambda t, **a: V.sample(t, C.normal_like_op, **a),
            C.uniform_like_op: lambda t, **a: V.sample(t, C.uniform_like_op, **a)}
EAGER = EagerInterpreter()
set_default_mode(EAGER)
