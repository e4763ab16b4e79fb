"""The graph interpreter: in graph mode an op adds a node (shape/dtype inferred now) instead of
computing. A write (ops.dispatch.apply_inplace) into state records an assign; into a plain
value it rebinds the Python object to the new value, and views keep eager's shared-memory
semantics (see "views in a graph" below). Errors from shape rules are raised here, at build
time, naming the node."""
import contextlib

import numpy as np

from ..dtypes import result_type
from ..errors import DualGraphError, DGTypeError, DGRuntimeError, DGValueError
from ..ops.common import Slot, fmt_shape
from ..ops.registry import Spec
from ..ops import shape as S
from ..ops.elementwise import cast_op as E_cast_op
from ..state import _state
from ..tensor import LEAF_INPLACE, Tensor
from ..autograd.views import inplace_each
from ..mode import push
from .layout import guard_layout
from .core import (SymbolicTensor, Graph, CONSTANT, VARIABLE, ASSIGN, PLACEHOLDER, STOP_GRADIENT,
                   STATE_VALUE, rebind, current_graph)
from .memories import _Memory, Either, any_of, own_memory, refuse_at


def _shape_str(x):
    if isinstance(x, SymbolicTensor):
        return fmt_shape(x.shape)
    return repr(x)


class GraphInterpreter:
    def __init__(self, graph):
        self.graph = graph

    def lift(self, x):
        return self.graph.lift(x)

    def apply(self, op, inputs, attrs):
        g = self.graph
        for k, v in attrs.items():
            if isinstance(v, SymbolicTensor):
                _refuse_graph_attr(op, k, v)
        ins = [self.lift(x) for x in inputs]
        if any(isinstance(x, SymbolicTensor) and x._weak for x in ins):
            if op.elementwise:  # type promotion: a weak number takes the tensors' dtype
                ins, weak = _weak_operands(self, op, ins, attrs)
            else:  # (an index, a control-flow op's input, a fill value: used as it is)
                weak = all(x._weak for x in ins if isinstance(x, SymbolicTensor)) and not op.subgraphs
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
        if (op.view and _aliases(op, attrs, ins) or op in _ALIAS_OPS) and isinstance(ins[0], SymbolicTensor):
            mem = _memory_of(g, ins[0])
            if mem is not None:
                out._alias = (mem[0], mem[1] + ((op, tuple(ins[1:]), attrs),), mem[0].version,
                              _state.grad_enabled, self)
        if not _state.grad_enabled:
            node.no_grad = True
            out._rg = False
        elif not op.differentiable or not any(isinstance(x, SymbolicTensor) and x._rg for x in ins):
            out._rg = False
        elif g.trace is not None and not op.subgraphs:
            # (a dg.cond / dg.while_loop records its write counts once its own writes are
            # made: control_flow._record_reads)
            node.versions = _versions(g, ins)
        # A graph orders every read of a value before the write that replaces it, so a gradient
        # built after an update would still read the old value. Eagerly, a backward whose rule
        # reads a tensor written in place since is refused; dg.function keeps eager's semantics,
        # so its nodes remember each state input's write count (checked by the reverse pass,
        # autograd/tape.py check_write_counts). TF1 graphs (no trace) keep TF1's semantics.
        return out

    # ---- the write door
    def write(self, target, op, inputs, attrs):
        """target takes op(target, *inputs). An eager tensor or a variable is state: an assign is
        recorded (reads built later see it, fetching the update runs it). A plain graph value is
        functional: the Python object is rebound to the new value (sequential semantics)."""
        g = self.graph
        n_before = len(g.nodes)
        if isinstance(target, Tensor):
            target._check_inplace(attrs.get("index") if op is S.index_put_op else None)
            _write_state(self, g._state(target), op, inputs, attrs)
            return target
        if not isinstance(target, SymbolicTensor):
            raise DGTypeError(f"in-place {op.name} needs a tensor, got {type(target).__name__}")
        a0 = target._alias
        if (a0 is not None and isinstance(a0[0], _Memory) and _state.grad_enabled
                and op is not S.index_put_op and not target._rg and a0[0].root._rg
                and a0[2] != a0[0].version):
            # a view made before its base took a history: PyTorch takes it for a leaf that
            # requires grad (autograd/views.py _rg_now), as eagerly
            raise DGRuntimeError(LEAF_INPLACE)
        self.lift(target)  # same-graph check; a stale view is brought up to date first
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
        alias = target._alias
        refuse = either = None
        if alias is not None and isinstance(alias[0], Either):
            # a control-flow result that eagerly may be another tensor: the runs where that is
            # state or an argument are refused, other tensors poisoned (memories.Either.written);
            # its own memory is written as a plain value's
            refuse, why = alias[0].written(target, op)
            either, alias = alias[0], None
        if alias is not None and isinstance(alias[0], _Memory) and "argument" in alias[0].root.node.attrs:
            raise DGRuntimeError(
                f"in-place {op.name} on {target.name!r}, a view of argument "
                f"{alias[0].root.node.attrs['argument']!r} of a function traced by dg.function: "
                "eagerly it writes the caller's tensor, which a compiled plan does not do. Write "
                "a copy (x = x.clone()) or return the new value.")
        view = node.op.view and not target._owns
        bad = (node.op if view and node.op is not S.getitem_op else
               next((st[0] for st in alias[1] if st[0] is not S.getitem_op), None) if alias else None)
        if bad is not None:
            what = "detach()ed alias" if bad is STOP_GRADIENT else f"{bad.name} view"
            where = f"in-place {op.name} on {target.name!r}, a {what} of another graph tensor"
            if alias is None or not isinstance(alias[0], _Memory):
                raise DGRuntimeError(
                    f"{where}: in graph mode a write through a view is supported for indexing "
                    "views (x[i].add_(...)) only. Write the base instead, or use the out-of-place op.")
        new = _fit(self, _unsaved_target(self.apply(op, (target,) + tuple(inputs), attrs)), target, op)
        new = _keep_requires_grad(self, new, target, op)
        new = _keep_history(self, new, target)
        if refuse:
            new = refuse_at(new, any_of(refuse), why, always=True)
        if bad is not None:
            # whether such a write reaches the base depends on the memory layout at run time
            # (reshape copies a non-contiguous tensor), which a graph does not know: the view
            # takes the value, and reading the base or another alias later is refused. The
            # usual case, a view of a temporary (x.max(dim)[0], loss.reshape(())), just works.
            rebind(target, new)
            target._alias = None
            alias[0].poison(where)
        elif alias is not None:
            self._write_through(target, new)
        elif view and S._is_basic(node.attrs["index"]):
            base = node.inputs[0]  # a view of a dg.Variable's read (TF1: no aliasing of reads)
            self.write(base, S.index_put_op, (new,) + tuple(node.inputs[1:]), {"index": node.attrs["index"]})
            rebind(target, new)
        else:
            # (a rule that reads the value replaced here, recorded before, is refused at a
            # traced backward as eagerly: engine.TracedTape.ready; the writing node is not)
            self.graph.overwritten[target.node] = frozenset(g.nodes[n_before:])  # (the write's own nodes)
            rebind(target, new)
            if target._storage is not None:
                target._storage.version += 1  # its views are stale now
            if either is not None:   # (eagerly still the tensors it was: their later writes show)
                target._alias = either.rebound(target)
        return target

    # ---- views in a graph: functional values that behave as shared memory
    # A view records the memory it names (a _Memory for a plain value, the _State for an eager
    # tensor's state) and the chain of view ops from its root. A write through a view becomes
    # index_puts up the chain into the root (the root is rebound, or the state assigned); any
    # write bumps the memory's version, and a view whose version is old is regenerated from the
    # root when it is read next (PyTorch's functionalization does the same), so every alias
    # sees every write, in program order.
    def _write_through(self, target, new):
        mem, chain = target._alias[0], target._alias[1]
        x, child = target, new
        for _ in range(len(chain) - 1):
            parent = x.node.inputs[0]
            child = _fit(self, self.apply(S.index_put_op, (parent, child) + tuple(x.node.inputs[1:]),
                                          {"index": x.node.attrs["index"]}), parent, S.index_put_op)
            x = parent
        root, idx = x.node.inputs[0], x.node.inputs[1:]
        if isinstance(mem, _Memory):
            full = _fit(self, self.apply(S.index_put_op, (root, child) + tuple(idx),
                                         {"index": x.node.attrs["index"]}), root, S.index_put_op)
            full = _keep_history(self, full, root)
            a = mem.root._alias
            if a is not None and isinstance(a[0], Either):  # (a write of a value that may be others)
                refuse, why = a[0].written(mem.root, S.index_put_op)
                if refuse:
                    full = refuse_at(full, any_of(refuse), why, always=True)
            rebind(mem.root, full)
            mem.version += 1
            if a is not None and isinstance(a[0], Either):   # (as write(): still those tensors)
                mem.root._alias = a[0].rebound(mem.root)
        else:  # an eager tensor's state: the assign bumps its version
            _write_state(self, mem, S.index_put_op, (child,) + tuple(idx), {"index": x.node.attrs["index"]})
        self._regenerate(target)

    def _regenerate(self, x):
        """Rebind the view x to its chain replayed on its memory's current value."""
        mem, chain, _, grad_mode, _ = x._alias
        if isinstance(mem, Either):
            return mem.checked(x, x)
        if isinstance(mem, _Memory):
            mem.refuse_if_poisoned(x)
            v = mem.root
        else:
            v = mem.cur
        rebind(x, replay_view(self.apply, v, x, chain, grad_mode,
                              "before an in-place write to the tensor it was made from",
                              "after that write", "again after the write"))

    def from_data(self, arr):
        """dg.tensor(data) while building: a constant (a fresh value at every run, as eagerly)."""
        return self.lift(arr)

    # ---- .grad while building
    def write_each(self, updates):
        """ops.dispatch.apply_inplace_each while a graph is built: each write by itself, in the
        same order (views.inplace_each's loop, every write through self.write)."""
        inplace_each(updates, self.write, fast=False)

    def get_grad(self, t):
        if isinstance(t, Tensor):
            return self.graph.grad_of(t)
        return t._sym_grad()

    def read_layout(self, t):
        """A captured eager tensor's is_contiguous() / stride() was read while tracing: the
        answer decided Python code, so its strides are guarded (graph/layout.py)."""
        guard_layout(self.graph.trace, t)

    def set_grad(self, t, value):
        if isinstance(t, Tensor):
            return self.graph.set_grad_of(t, value)
        return t._set_sym_grad(value)


def _versions(g, ins):
    """For each input that is state or a view of it: (the state or memory, its write count)."""
    out, any_state = [], False
    for x in ins:
        v = None
        if isinstance(x, SymbolicTensor):
            a = x._alias
            if a is not None and isinstance(a[0], Either):
                # (a value that eagerly is another tensor at some runs only: its own writes are
                # counted, not that tensor's: memories.py)
                m = own_memory(x)
                v = (m, m.version)
            elif a is not None:
                v = (a[0], a[0].version)
            else:
                st = g.state_of(x)
                if st is not None:
                    v = (st, st.version)
        any_state = any_state or v is not None
        out.append(v)
    return tuple(out) if any_state else None


def _unsaved_target(new):
    """An in-place op's node: eagerly its backward reads a copy of the old value (views.inplace_op),
    never the target written since: the target's write count is not checked."""
    vs = new.node.versions
    if vs is not None and vs[0] is not None:
        new.node.versions = (None,) + vs[1:]
    return new


def _write_state(interp, st, op, inputs, attrs):
    cur = st.cur
    new = _fit(interp, _unsaved_target(interp.apply(op, (cur,) + tuple(inputs), attrs)), cur, op)
    # a write carries gradient only into state that is not itself trained (a buffer taking a
    # value that requires grad, also in a loop body whose earlier iterations gave it one); a
    # trained variable's update ends its history (TF1's assign)
    # (also a value that requires none replacing one that had history: copy_ of a detached
    # value, fill_, end the history, as eagerly, instead of the old value's gradient passing
    # on; under no_grad the history stays: eagerly the tensor keeps its grad_fn)
    # (a TF1 graph, not traced by dg.function, differentiates what dg.gradients asks for,
    # whatever requires grad: a buffer's write is on the path)
    tracks = _state.grad_enabled and st.trained is None and (
        new._rg or cur._rg or (interp.graph.trace is None and op.differentiable))
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
        new._owns, new._alias = True, None  # the target's new value, not a view of a temporary
    if new._dtype != target._dtype:
        new = interp.apply(E_cast_op, (new,), {"dtype": target._dtype, "into_target": True})
    return new


def replay_view(apply, v, x, chain, grad_mode, made, read, remake):
    """View x's chain of view ops replayed on v (its memory's value now), in the grad mode x
    was made in; `apply(op, inputs, attrs)` builds each step. A layout-dependent step
    (reshape, contiguous) is refused: eagerly it is a view or a copy by the memory layout."""
    for op, _, _ in chain:
        if op in _LAYOUT_DEPENDENT:
            raise DGRuntimeError(
                f"{x.name!r}, made by {op.name} {made}, is read {read}. Eagerly {op.name} returns "
                "a view (which sees the write) or a copy (which does not) depending on the memory "
                "layout, which a graph does not know when it is built. clone() it to keep the old "
                f"value, or make it {remake} to see the new one.")
    prev = _state.grad_enabled
    _state.grad_enabled = grad_mode
    try:
        for op, extra, attrs in chain:
            v = apply(op, (v,) + extra, attrs)
    finally:
        _state.grad_enabled = prev
    return v


# ops whose result aliases their input, besides the registry's view ops: detach() always
# shares memory; contiguous() returns its input itself when that is contiguous
_ALIAS_OPS = (STOP_GRADIENT, S.contiguous_op)
# view or copy depending on the memory layout at run time (eagerly): reading such an alias after
# a write to its memory is refused (_regenerate), as is a write through it followed by a read
# of its base (write()); reshape_like is graph mode's reshape to run-time sizes
_LAYOUT_DEPENDENT = (S.reshape_op, S.reshape_like_op, S.contiguous_op)


def _aliases(op, attrs, ins):
    """Whether op's result shares its input's memory (advanced indexing copies, as in PyTorch;
    a 0-d integer tensor index is an integer there: x[i] with a loop counter i is a view, as
    the Python int it is eagerly). `ins`: the node's inputs (x, then the index tensors)."""
    if op is not S.getitem_op or S._is_basic(attrs["index"]):
        return True
    return all(_integer_scalar(ins[k.i + 1]) for k in attrs["index"] if isinstance(k, Slot))


def _integer_scalar(t):
    return isinstance(t, SymbolicTensor) and t.ndim == 0 and t._dtype.kind in "iu"


def _memory_of(g, x):
    """(memory, chain) of the value x a view is being made of, or None when views of x need no
    tracking: a dg.Variable's read (TF1: a read is a value, later writes make new reads)."""
    if x._alias is not None:
        if isinstance(x._alias[0], Either):  # (its views are of its own memory: memories.py)
            m = own_memory(x)
            m.either = x._alias[0]
            return m, ()
        return x._alias[0], x._alias[1]
    if x.node.op in (VARIABLE, ASSIGN) or getattr(g, "outer", None) is not None:
        # (inside a cond branch or loop body a state's value is any node: subgraph.SubGraph)
        st = g.state_of(x)
        if st is None and x.node.op not in (VARIABLE, ASSIGN):
            return own_memory(x), ()
        if st is None or "initial" in st.handle.node.attrs:
            return None
        return st, ()
    return own_memory(x), ()


def _keep_requires_grad(interp, new, target, op):
    """fill_/zero_/copy_/normal_/uniform_ replace a value: eagerly (as in PyTorch) the target
    keeps its history with a zero gradient into it: where(False, old, new) (Tensor._overwrite);
    the same here. In a graph any value with a history may be differentiated (dg.gradients
    w.r.t. a placeholder), so the path is kept for those too: zeros, as eagerly, not None."""
    from ..ops import creation as C
    if (op in (S.copy_op, C.full_like_op, C.normal_like_op, C.uniform_like_op)
            and _state.grad_enabled and new._dtype.kind == "f"
            and (target._rg or target.grad_fn is not None or target.node.op is PLACEHOLDER)):
        from ..ops.elementwise import where_op
        new = interp.apply(where_op, (interp.lift(np.array(False)), target, new), {})
    return new


def _keep_history(interp, new, old):
    """A write that does not record (under no_grad) to a value with history: eagerly the tensor
    keeps its grad_fn, so a later read's gradient goes into the value before the write (as a
    state's does: Graph.assign); the graph's new value is a state_value of it, not a constant."""
    # (in a graph any value with a history may be differentiated, dg.gradients w.r.t. a
    # placeholder: kept for those too, as _keep_requires_grad does)
    if _state.grad_enabled or new._rg or new._dtype.kind not in "fc" or not (
            old._rg or old.grad_fn is not None or old.node.op is PLACEHOLDER):
        return new
    _state.grad_enabled = True
    try:
        kept = interp.apply(STATE_VALUE, (new, old), {})
    finally:
        _state.grad_enabled = False
    kept._rg = old._rg
    return kept


def _refuse_graph_attr(op, key, v):
    what = ("a Python number carried through a loop or `if` on a tensor (or read at each call)"
            if v._weak else "a tensor")
    raise DGTypeError(
        f"{op.name}: its argument {key!r} is {what}, a value the graph computes ({v.name!r}), "
        f"where {op.name} needs a Python number known while the graph is built. Compute it "
        "outside the compiled function and pass it in, or use an op taking tensors "
        "(dg.maximum / dg.minimum / dg.where, x * s ...)")


def _weak_operands(interp, op, ins, attrs):
    """Lifted Python numbers keep Python's typing: among themselves they compute in float64
    (as Python floats do); meeting a tensor they are cast to the dtype a Python number would
    take there (PyTorch's result_type), so `w * lr` stays float32 and rounds exactly as eager."""
    strong = [x for x in ins if isinstance(x, SymbolicTensor) and not x._weak]
    if not strong:
        want = _python_dtype(op, ins)
        if want is None:
            return ins, True
        from ..ops.elementwise import cast_op
        return [interp.apply(cast_op, (x,), {"dtype": want})
                if isinstance(x, SymbolicTensor) and x._dtype != want else x for x in ins], True
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


_PYTHON_ARITHMETIC = {"add", "sub", "mul", "div", "floor_divide", "remainder", "pow", "maximum", "minimum"}


def _python_dtype(op, ins):
    """The dtype Python's arithmetic gives weak numbers (and Python literals) among themselves:
    complex or float64 when a float is involved or for `/`; an int for ints (and bools: True +
    True is 2); float64 for an int to a negative literal power (2 ** -1 is 0.5). None: leave
    the operands as they are (comparisons, logic)."""
    if op.name not in _PYTHON_ARITHMETIC:
        return None
    kinds = set()
    for x in ins:
        if isinstance(x, SymbolicTensor):
            kinds.add(np.dtype(x._dtype).kind)
        elif isinstance(x, (bool, np.bool_)):
            kinds.add("b")
        elif isinstance(x, (int, np.integer)):
            if isinstance(x, int) and not -2 ** 63 <= x < 2 ** 63:
                raise DGValueError(
                    f"{op.name}: the Python int {x} does not fit in int64, the dtype a graph "
                    "carries Python ints in (a number carried through a loop or `if` on a tensor)")
            kinds.add("i")
        elif isinstance(x, (float, np.floating)):
            kinds.add("f")
        elif isinstance(x, complex):
            kinds.add("c")
    if "c" in kinds:
        return np.dtype(np.complex128)
    neg_power = op.name == "pow" and len(ins) > 1 and isinstance(ins[1], int) and ins[1] < 0
    if "f" in kinds or op.name == "div" or neg_power:
        return np.dtype(np.float64)
    if kinds <= {"b", "i", "u"} and kinds:
        return np.dtype(np.int64) if kinds & {"b", "i"} else None
    return None


# ---------------------------------------------------------------- the TF1 building API
@contextlib.contextmanager
def graph_mode(graph=None):
    """`with dg.graph_mode() as g:` builds ops into `g` (a new Graph unless one is given)."""
    g = graph if graph is not None else Graph()
    with push(GraphInterpreter(g)):
        yield g


def placeholder(shape=None, dtype=None, name=None):
    """A graph input fed at each run; None marks a dimension known only then. Takes
    `(shape, dtype)` or TensorFlow 1.x's `(dtype, shape)`."""
    from ..dtypes import to_np, F32
    g = current_graph("dg.placeholder")
    if _is_dtype(shape) and not _is_dtype(dtype):
        shape, dtype = dtype, shape  # TF1's argument order
    if shape is None:
        raise DGValueError("dg.placeholder needs a shape (use None for unknown dimensions)")
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (list, tuple)) or not all(
            d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool)) for d in shape):
        raise DGTypeError(
            f"dg.placeholder(shape, dtype) or dg.placeholder(dtype, shape): the shape must be a "
            f"list or tuple of ints and None (unknown dims), got {shape!r}")
    if dtype is not None and not _is_dtype(dtype):
        raise DGTypeError(f"dg.placeholder: {dtype!r} is not a dtype (dg.float32, 'float32', np.float32, ...)")
    shape = tuple(None if d is None or d == -1 else int(d) for d in shape)
    dt = to_np(dtype) if dtype is not None else F32
    node = g.add_node(PLACEHOLDER, (), {"shape": shape, "dtype": dt}, Spec(shape, dt),
                      name=name or "Placeholder")
    return node.out


def _is_dtype(x):
    from ..dtypes import DType, to_np
    if isinstance(x, (DType, np.dtype)) or (isinstance(x, type) and issubclass(x, (np.generic, float, int, bool))):
        return True
    if isinstance(x, str):
        try:
            to_np(x)
            return True
        except Exception:  # noqa: BLE001 - not a dtype name
            return False
    return False


def constant(value, dtype=None, name=None, shape=None):
    """A value baked into the graph (an eager tensor when called eagerly)."""
    from ..mode import executing_eagerly
    from ..dtypes import to_np
    from ..tensor import tensor, Tensor
    from ..mode import eager_mode
    if isinstance(value, Tensor):
        arr = value._data.copy()
    else:
        with eager_mode():
            arr = tensor(value)._data
    if dtype is not None:
        arr = arr.astype(to_np(dtype))
    if shape is not None:
        arr = np.broadcast_to(arr, tuple(shape)).copy()
    if executing_eagerly():
        from ..tensor import _wrap
        return _wrap(arr)
    g = current_graph("dg.constant")
    arr.flags.writeable = False
    return g.add_node(CONSTANT, (), {"value": arr}, Spec(arr.shape, arr.dtype),
                      name=name or "Const").out


def Variable(initial_value, name=None, trainable=True, dtype=None):
    """A value that persists across runs; assign ops update it. Eagerly: a leaf tensor."""
    from ..mode import executing_eagerly, eager_mode
    from ..tensor import tensor, Tensor, _wrap
    from ..dtypes import to_np
    if isinstance(initial_value, SymbolicTensor):
        from .session import Session
        arr = np.array(Session(initial_value.graph).run(initial_value))
    elif isinstance(initial_value, Tensor):
        arr = initial_value._data.copy()
    else:
        with eager_mode():
            arr = tensor(initial_value)._data
    if dtype is not None:
        arr = arr.astype(to_np(dtype))
    store = _wrap(arr)
    if trainable and arr.dtype.kind == "f":
        store._rg = True
    if executing_eagerly():
        return store
    g = current_graph("dg.Variable")
    st = g._state(store, name=name or "Variable",
                  attrs={"trainable": bool(trainable), "initial": arr.copy()})
    return st.handle
