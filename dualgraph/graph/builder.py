"""The graph interpreter: in graph mode an op adds a node (shape/dtype inferred now) instead of
computing, and a write (ops.dispatch.apply_inplace) records a stateful assign. Errors from shape
rules are raised here, at build time, naming the node."""
import numpy as np

from ..dtypes import result_type
from ..errors import DualGraphError, DGTypeError, DGRuntimeError
from ..ops.registry import Spec
from ..ops import shape as S
from ..state import _state
from ..tensor import Tensor
from .core import SymbolicTensor, CONSTANT, VARIABLE


def _shape_str(x):
    if isinstance(x, SymbolicTensor):
        return "[" + ", ".join("?" if d is None else str(d) for d in x.shape) + "]"
    return repr(x)


class GraphInterpreter:
    def __init__(self, graph):
        self.graph = graph

    def lift(self, x):
        """Bring an input into this graph: symbolic stays (a variable's handle reads its current
        value: program order), eager tensors are captured by reference, numpy arrays become
        constants, Python scalars stay literals."""
        if isinstance(x, SymbolicTensor):
            if x.node.graph is not self.graph:
                raise DGTypeError(
                    f"Tensor {x.name!r} must be from the same graph as the tensors it is combined "
                    f"with: it belongs to {x.node.graph!r}, the graph being built is {self.graph!r}.")
            if x.node.op is VARIABLE:
                return self.graph.state_of(x).cur
            return x
        if isinstance(x, Tensor):
            return self.graph.capture(x)
        if isinstance(x, np.ndarray):
            arr = x.copy()
            arr.flags.writeable = False
            return self.graph.add_node(CONSTANT, (), {"value": arr}, Spec(arr.shape, arr.dtype),
                                       name="Const").out
        if isinstance(x, np.generic):
            return x.item()
        return x

    def apply(self, op, inputs, attrs):
        g = self.graph
        ins = [self.lift(x) for x in inputs]
        if any(isinstance(x, SymbolicTensor) and x._weak for x in ins):
            ins, weak = _weak_operands(self, op, ins, attrs)
        else:
            weak = False
        specs = [Spec(x._shape, x._dtype) if isinstance(x, SymbolicTensor) else x for x in ins]
        try:
            spec = op.infer(*specs, **attrs)
        except DualGraphError as e:
            shapes = ", ".join(_shape_str(x) for x in ins)
            raise type(e)(f"{e}\n  while building node '{op.name}' ({op.name}) "
                          f"with input shapes {shapes}") from None
        node = g.add_node(op, ins, attrs, spec)
        out = node.out
        if weak:
            out._weak = True
        if not _state.grad_enabled:
            node.no_grad = True
            out._rg = False
        elif not op.differentiable or not any(isinstance(x, SymbolicTensor) and x._rg for x in ins):
            out._rg = False
        # (no version check as eagerly: a graph orders every read of a value before the write
        # that replaces it, so a gradient built after an update still reads the old value)
        return out

    # ---- the write door
    def write(self, target, op, inputs, attrs):
        """target takes op(target, *inputs). An eager tensor or a variable is state: an assign is
        recorded (reads built later see it, fetching the update runs it). A plain graph value is
        functional: the Python object is rebound to the new value (sequential semantics)."""
        g = self.graph
        if isinstance(target, Tensor):
            target._check_inplace(attrs.get("index") if op is S.index_put_op else None)
            _write_state(self, g._state(target), op, inputs, attrs)
            return target
        if not isinstance(target, SymbolicTensor):
            raise DGTypeError(f"in-place {op.name} needs a tensor, got {type(target).__name__}")
        self.lift(target)  # same-graph check
        st = g.state_of(target)
        if st is not None:  # a dg.Variable (TF1): the handle stays the variable, the update is returned
            return _write_state(self, st, op, inputs, attrs)
        node = target.node
        if "argument" in node.attrs:
            raise DGRuntimeError(
                f"in-place {op.name} on argument {node.attrs['argument']!r} of a function traced "
                "by dg.function: eagerly it writes the caller's tensor, which a compiled plan "
                "does not do. Write a copy (x = x.clone()) or return the new value; for state "
                "kept across calls, keep the tensor in a module or closure instead of passing it.")
        view = node.op.view and not target._owns
        if view and node.op is not S.getitem_op:
            raise DGRuntimeError(
                f"in-place {op.name} on {target.name!r}, a {node.op.name} view of another graph "
                "tensor: in graph mode a write through a view is supported for indexing views "
                "(x[i].add_(...)) only. Write the base instead, or use the out-of-place op.")
        new = _fit(self, self.apply(op, (target,) + tuple(inputs), attrs), target, op)
        if view and S._is_basic(node.attrs["index"]):
            base = node.inputs[0]  # a basic-indexing view: the write lands in its base
            self.write(base, S.index_put_op, (new,) + tuple(node.inputs[1:]), {"index": node.attrs["index"]})
        _rebind(target, new)
        return target

    def from_data(self, arr):
        """dg.tensor(data) while building: a constant (a fresh value at every run, as eagerly)."""
        return self.lift(arr)

    # ---- .grad while building
    def get_grad(self, t):
        if isinstance(t, Tensor):
            return self.graph.grad_of(t)
        return t._sym_grad()

    def set_grad(self, t, value):
        if isinstance(t, Tensor):
            return self.graph.set_grad_of(t, value)
        return t._set_sym_grad(value)


def _write_state(interp, st, op, inputs, attrs):
    cur = st.cur
    new = _fit(interp, interp.apply(op, (cur,) + tuple(inputs), attrs), cur, op)
    # a write carries gradient only into state that is not itself trained (a buffer taking a
    # value that requires grad); a trained variable's update ends its history (TF1's assign)
    tracks = _state.grad_enabled and new._rg and op.differentiable and not st.handle._rg
    return interp.graph.assign(st.ref, new, tracks=tracks)


def _fit(interp, new, target, op):
    """An in-place result must have the target's shape (PyTorch's error otherwise) and a dtype
    PyTorch's can_cast allows into the target's (copy_, fill_ and x[i] = v cast freely; x[idx]
    = tensor wants the same dtype; normal_/uniform_ want a floating target). Raised now, at
    build time, naming the node."""
    from ..ops import common as _common
    ts, ns = tuple(target.shape), tuple(new.shape)
    try:
        if ts != ns and None not in ts and None not in ns:
            raise DGRuntimeError(
                f"output with shape {list(ts)} doesn't match the broadcast shape {list(ns)}")
        if op.random:
            _common.check_sample_dtype(op, target._dtype)
        elif op is S.index_put_op:
            v, idx = new.node.inputs[1], new.node.inputs[2:]
            if isinstance(v, SymbolicTensor) and not v._weak:
                _common.check_index_put_dtype(
                    target._dtype, v._dtype, new.node.attrs["index"],
                    [x._dtype for x in idx], _common.numel(v._shape))
        elif new._dtype != target._dtype:
            _common.check_inplace_result(op, new._dtype, target._dtype)
    except DualGraphError as e:
        shapes = ", ".join(_shape_str(x) for x in new.node.inputs)
        raise type(e)(f"{e}\n  while building node '{new.node.name}' ({op.name}, written in "
                      f"place into {target.name!r}) with input shapes {shapes}") from None
    if ts != ns:
        from ..ops.unbroadcast import broadcast_to_op
        new = interp.apply(broadcast_to_op, (new, target), {})
    if new._dtype != target._dtype:
        new = new.to(target.dtype)
    return new


def _rebind(sym, new):
    """Make the Python object `sym` name the value `new`; nodes built earlier keep reading the
    old value (a fresh object standing for it). The users index touches only the readers."""
    old = SymbolicTensor.__new__(SymbolicTensor)
    old.node, old._shape, old._dtype, old._grad, old._rg, old._weak, old._owns = (
        sym.node, sym._shape, sym._dtype, sym._grad, sym._rg, sym._weak, sym._owns)
    if sym.node.out is sym:  # (an owned alias is not its node's output)
        sym.node.out = old
    for n in sym.node.users:
        n.inputs = tuple(old if x is sym else x for x in n.inputs)
    sym.node, sym._shape, sym._dtype, sym._rg, sym._weak = new.node, new._shape, new._dtype, new._rg, new._weak
    sym._owns = False
    sym._grad = None
    for n in new.node.users:
        n.inputs = tuple(sym if x is new else x for x in n.inputs)
    new.node.out = sym


def _weak_operands(interp, op, ins, attrs):
    """Lifted Python numbers keep Python's typing: among themselves they compute in float64
    (as Python floats do); meeting a tensor they are cast to the dtype a Python number would
    take there (PyTorch's result_type), so `w * lr` stays float32 and rounds exactly as eager."""
    strong = [x for x in ins if isinstance(x, SymbolicTensor) and not x._weak]
    if not strong:
        return ins, True
    ops = [(x._dtype, len(x._shape)) if isinstance(x, SymbolicTensor) and not x._weak
           else (1.0 if x._dtype.kind == "f" else 1) if isinstance(x, SymbolicTensor)
           else x for x in ins]
    want = result_type(*ops)
    out = []
    for x in ins:
        if isinstance(x, SymbolicTensor) and x._weak and x._dtype != want:
            from ..ops.elementwise import cast_op
            x = interp.apply(cast_op, (x,), {"dtype": want})
        out.append(x)
    return out, False
