"""Graph, graph nodes and symbolic tensors (TensorFlow 1.x style, PyTorch-style methods).

A `GraphNode` has what the shared reverse pass in autograd/engine.py reads of a node (`op`,
`inputs`, `attrs`, `out`, `seq`, `hooks`); it hands a vjp rule the same narrow view of it as of
an eager tape node (engine.RuleView), so the pass runs over graphs unchanged.
"""
import contextlib
import itertools

import numpy as np

from ..errors import DGTypeError, DGValueError, DGRuntimeError
from ..ops.registry import Spec, defop
from ..state import _state
from ..tensor_methods import TensorMethods, Size


# ---------------------------------------------------------------- graph-only source/state ops
def _no_kernel(*a, **k):
    raise DGRuntimeError("source nodes are bound by the executor, not run as kernels")


PLACEHOLDER = defop("placeholder", _no_kernel, lambda shape, dtype, **k: Spec(shape, dtype),
                    stateful=True, graph_only=True, source=True, doc="a value fed at each run")
VARIABLE = defop("variable", _no_kernel, lambda ref, **k: Spec(ref._data.shape, ref._data.dtype),
                 stateful=True, graph_only=True, source=True,
                 doc="reads a value that persists across runs")
CONSTANT = defop("constant", _no_kernel, lambda value: Spec(value.shape, value.dtype),
                 graph_only=True, source=True, doc="a value baked into the graph")


def _assign_kernel(ref_value, value, ref, **k):
    np.copyto(ref._data, value, casting="unsafe")
    return ref._data


# assign(cur, value): writes value into the state's memory; its output is the state's new
# current value. cur (the state's previous value) orders it after the write before it and,
# through the anti-dependences of networkx_view.py, after every read of the old value. A write
# recorded while gradients are tracked (buf.copy_(h) with h requiring grad) passes the gradient
# on to the value; otherwise its output is a new leaf, as the eager tensor after an update.
ASSIGN = defop("assign", _assign_kernel, lambda cur, value, ref, **k: Spec(cur.shape, cur.dtype),
               lambda g, n: (None, g), stateful=True, saves=(), graph_only=True, may_alias=True,
               doc="writes a new value into a variable")
GROUP = defop("group", lambda *xs: np.zeros((), np.bool_), lambda *xs: Spec((), np.dtype(np.bool_)),
              stateful=True, graph_only=True, no_value=True,
              doc="runs its inputs (updates); fetches as None")
# a state's value after a write that does not record (under no_grad, an optimizer step): the
# written value, whose gradient is the state's value before the write (eagerly the tensor keeps
# its grad_fn: a leaf stays the leaf, a buffer holding a value with history keeps it)
STATE_VALUE = defop("state_value", lambda value, leaf: value, lambda value, leaf: Spec(value.shape, value.dtype),
                    lambda g, n: (None, g), graph_only=True, saves=(), may_alias=True,
                    doc="a state's value after a write that does not record (gradient: the value before)")
SOURCE_OPS = (PLACEHOLDER, VARIABLE, CONSTANT)
STATE_OPS = (VARIABLE, ASSIGN)


class GraphNode:
    # `name` is the node's unique name in its graph (a str, TensorFlow's op.name); an eager tape
    # node's name() is PyTorch's grad_fn.name() ("MulBackward0"). `hooks` are the gradient hooks
    # of the output (SymbolicTensor.register_hook), run by the reverse pass's null policy.
    __slots__ = ("op", "inputs", "attrs", "seq", "name", "out", "graph", "hooks", "users",
                 "no_grad", "versions")

    def __init__(self, graph, op, inputs, attrs, spec, name, seq):
        self.graph = graph
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.seq = seq
        self.name = name
        self.hooks = None
        self.users = []          # nodes reading this node's output (fx's Node.users)
        self.no_grad = False     # built under dg.no_grad(): gradients stop here
        self.versions = None     # dg.function: per input, (its state, the state's writes then)
        self.out = SymbolicTensor(self, spec)

    def __repr__(self):
        return f"<node {self.name}: {self.op.name}>"

    def display_name(self):
        """PyTorch's grad_fn name for this node's op (an eager tape node's name())."""
        return f"{self.op.torch_name}Backward0"


class _State:
    """One piece of state a graph reads and writes: an eager tensor's memory (a dg.Variable's
    store, a captured parameter, buffer, optimizer slot or .grad)."""

    __slots__ = ("ref", "handle", "cur", "version", "leaves", "trained")

    def __init__(self, ref, handle):
        self.ref = ref
        self.trained = ref if ref._rg else None  # the alias that requires grad (gets .grad)
        self.handle = handle     # the VARIABLE node's tensor: the Python handle of the state
        self.cur = handle        # the value a read made now sees (program order)
        self.version = 0         # writes recorded so far
        self.leaves = [handle]   # every value of this state that gradients stop at


def _stand_in(t):
    """A private tensor over t's array and version counter (a .grad read: graph.function
    rebinds both to the current .grad before each call)."""
    from ..tensor import wrap_array
    s = wrap_array(t._data)
    rebind_stand_in(s, t)
    return s


def rebind_stand_in(stand, t):
    """Point a stand-in at tensor t's array and version counter."""
    if t._vc is None:
        t._vc = [0]
    stand._data = t._data
    stand._vc = t._vc


def release_stand_in(stand):
    """After the call: let go of the .grad a stand-in was pointed at, so that the caller's
    zero_grad() frees it (held, it was one extra set of gradients alive through the next
    backward). The stand-in keeps the shape and dtype, over no memory: read-only zeros."""
    a = stand._data
    key = (a.shape, a.dtype.str)
    z = _RELEASED.get(key)
    if z is None:
        z = _RELEASED[key] = np.broadcast_to(np.zeros((), a.dtype), a.shape)
    stand._data = z
    stand._vc = [0]


_RELEASED = {}   # (shape, dtype) -> the zero-strided read-only zeros released stand-ins hold


def state_key(t):
    """Tensors sharing one array (p, p.data, p.detach()) are one state."""
    return id(t._data)


class Graph:
    """A define-then-run graph: nodes in creation order, compiled by networkx passes."""

    def __init__(self, name=None):
        self.name = name
        self.nodes = []
        self._names = {}
        self._by_name = {}
        self._seq = itertools.count()
        self._scope = []
        self._states = {}         # state_key(eager tensor) -> _State
        self.grads = {}           # id(eager tensor) -> (tensor, symbolic .grad or None)
        self.updates = []         # assign nodes, in program order
        self.checks = []          # refusals every run makes though nothing reads them (a write
        #                           that eagerly changes state or an argument at some runs)
        self.lifted = []          # (placeholder, read(), description): Python numbers fed per run
        self.grad_reads = []      # (tensor, its eager .grad, stand-in or None) read while building
        #                           (after a dg.function trace the .grad is None where a stand-in is)
        self.grad_stand_ins = {}  # id(eager tensor) -> the stand-in its .grad is read through
        self.trace = None         # set by dg.function while it traces (its guards, optimizers)
        self.freed_by_backward = set()  # (dg.function) gradient nodes a traced backward freed
        self.overwritten = {}     # node whose value an in-place write replaced -> the write's nodes
        self.finalized = False

    # ---- building
    def unique_name(self, base):
        base = "/".join(self._scope + [base]) if self._scope else base
        n = self._names.get(base)
        if n is None:
            self._names[base] = 1
            name = base
        else:
            self._names[base] = n + 1
            name = f"{base}_{n}"
        while name in self._by_name:
            name = f"{name}_"
        return name

    def add_node(self, op, inputs, attrs, spec, name=None):
        if self.finalized:
            raise DGRuntimeError("Graph is finalized and cannot be modified.")
        node = GraphNode(self, op, tuple(inputs), attrs, spec,
                         self.unique_name(name or op.name), next(self._seq))
        for x in node.inputs:
            if isinstance(x, SymbolicTensor):
                x.node.users.append(node)
        self.nodes.append(node)
        self._by_name[node.name] = node
        return node

    def get_tensor_by_name(self, name):
        key = name[:-2] if name.endswith(":0") else name
        node = self._by_name.get(key)
        if node is None:
            raise DGValueError(f"The name '{name}' refers to a Tensor which does not exist in graph {self!r}.")
        return node.out

    def get_operation_by_name(self, name):
        return self.get_tensor_by_name(name).node

    def as_default(self):
        from .builder import graph_mode  # facade: the building API lives beside its interpreter
        return graph_mode(self)

    def lift(self, x):
        """Bring an input into this graph: symbolic stays (a variable's handle reads its current
        value: program order; a stale view is brought up to date), eager tensors are captured
        by reference, numpy arrays become constants, Python scalars stay literals."""
        if isinstance(x, SymbolicTensor):
            if x.node.graph is not self:
                raise DGTypeError(
                    f"Tensor {x.name!r} must be from the same graph as the tensors it is combined "
                    f"with: it belongs to {x.node.graph!r}, the graph being built is {self!r}.")
            if x.node.op is VARIABLE:
                return self.state_of(x).cur
            return fresh(x)
        if isinstance(x, TensorMethods):  # an eager tensor
            return self.capture(x)
        if isinstance(x, np.ndarray):
            arr = x.copy()
            arr.flags.writeable = False
            return self.add_node(CONSTANT, (), {"value": arr}, Spec(arr.shape, arr.dtype),
                                 name="Const").out
        if isinstance(x, np.generic):
            return x.item()
        return x

    # ---- state: reads and writes keep program order
    def _detach_readers(self, cur):
        """Every node reading cur's node (but an assign) reads a stop_gradient of it, a node
        placed right after it (its seq between cur's and the next node's)."""
        src = cur.node
        # (a write's assign keeps its target; a stop_gradient already is one)
        readers = [n for n in dict.fromkeys(src.users) if n.op not in (ASSIGN, STOP_GRADIENT)]
        if not readers:
            return
        i = self.nodes.index(src)
        nxt = self.nodes[i + 1].seq if i + 1 < len(self.nodes) else src.seq + 1
        node = GraphNode(self, STOP_GRADIENT, (cur,), {}, Spec(tuple(cur.shape), cur._dtype),
                         self.unique_name(STOP_GRADIENT.name), (src.seq + nxt) / 2)
        self.nodes.insert(i + 1, node)
        self._by_name[node.name] = node
        sg = node.out
        sg._rg = False
        src.users = [n for n in src.users if n not in readers] + [node]
        for n in readers:
            n.inputs = tuple(sg if isinstance(x, SymbolicTensor) and x.node is src else x for x in n.inputs)
            node.users += [n] * sum(1 for x in n.inputs if x is sg)

    def _state(self, t, name="captured", attrs=None):
        key = state_key(t)
        st = self._states.get(key)
        if st is None:
            a = {"ref": t, "trainable": bool(t._rg)}
            if attrs:
                a.update(attrs)
            node = self.add_node(VARIABLE, (), a, Spec(t._data.shape, t._data.dtype), name=name)
            node.out._rg = bool(a["trainable"]) and t._data.dtype.kind == "f"
            st = self._states[key] = _State(t, node.out)
        return st

    def capture(self, t):
        """An eager tensor used in this graph: its current value (the last write to it, or a
        read of its memory when the graph runs). Aliases of one memory (p and p.detach()) are
        one state; reading it through an alias that does not require grad reads no gradient."""
        st = self._state(t)
        if t._rg and st.trained is None and t._data.dtype.kind == "f":
            # p read after p.detach(): the reads made so far carry no gradient, later ones do;
            # the object they handed out (held by the caller: d = p.detach(), used later) is
            # made a stop_gradient of the value, and a fresh object stands for the state
            cur = st.cur
            if cur.node.op is PLACEHOLDER and getattr(self, "outer", None) is not None and (
                    building() is self or cur.node.graph is self):
                # (also for an enclosing branch whose nested branch reads it with grad: its
                # placeholder is fed from further out, which is asked the same)
                # (a branch or loop body that read the state detached first: the enclosing
                # graph reads it with grad now too, and the placeholder, fed with that value,
                # stays the placeholder; the readers so far read a stop_gradient of it)
                self.outer.capture(t)
                for v in {id(v.node): v for v in st.leaves + [cur]}.values():
                    self._detach_readers(v)
            elif building() is self and cur.node.graph is self:  # (not from inside a subgraph)
                # the nodes that read the value so far read a stop_gradient of it instead (made
                # right after it): only their path from this state carries no gradient
                for v in {id(v.node): v for v in st.leaves + [cur]}.values():
                    self._detach_readers(v)
                from ..ops.dispatch import apply
                sg = apply(STOP_GRADIENT, cur)  # (and the object handed out: d's value)
                rebind(cur, sg)
                cur._rg = False
                fresh_cur = sg.node.inputs[0]
                if st.handle is cur:
                    st.handle = fresh_cur
                st.leaves = [fresh_cur if v is cur else v for v in st.leaves]
                st.cur = fresh_cur
            else:
                for v in st.leaves:
                    for n in v.node.users:
                        n.no_grad = True
                        n.out._rg = False
            st.trained = t
            for v in st.leaves:
                v._rg = True
                v.node.attrs["trainable"] = True
        elif not t._rg and st.trained is not None:
            from ..ops.dispatch import apply
            out = apply(STOP_GRADIENT, st.cur)
            out._rg = False
            return out
        return st.cur

    def handle(self, t):
        """The Python handle of an eager tensor's state in this graph (a variable read)."""
        return self._state(t).handle

    def state_of(self, x):
        """The _State a tensor is a value of (eager tensor, handle, or a write's result), else None."""
        if isinstance(x, SymbolicTensor):
            n = x.node
            if n.graph is not self or n.op not in STATE_OPS:
                return None
            return self._states.get(state_key(n.attrs["ref"]))
        if hasattr(x, "_data"):  # an eager tensor (the symbolic case returned above)
            return self._state(x)
        return None

    def assign(self, ref, value, tracks=False):
        """Write `value` into eager tensor `ref` when the graph runs; later reads see it.
        Returns the update: fetching it runs the write (and everything it needs)."""
        st = self._state(ref)
        cur = st.cur
        from ..ops.dispatch import apply
        if not isinstance(value, SymbolicTensor):
            value = self.lift(value)
        if tuple(value.shape) != tuple(cur.shape):
            value = apply(_broadcast_op(), value, shape=tuple(cur.shape))
        if value._dtype != cur._dtype:
            value = value.to(cur.dtype)
        node = self.add_node(ASSIGN, (cur, value), {"ref": ref, "tracks": bool(tracks)},
                             Spec(cur.shape, cur._dtype), name="assign")
        self.updates.append(node)
        out = node.out
        out._rg = bool(value._rg or cur._rg) if tracks else st.handle._rg
        st.version += 1
        if tracks:
            st.cur = out
        elif "initial" not in st.handle.node.attrs:
            # an eager tensor (parameter, buffer, .grad): later reads are the write's result,
            # so whatever reads it after the write runs the write first (eager program order)
            st.cur = out
            st.leaves.append(out)
            if cur._rg and st.trained is None:
                # a buffer holding a value with history, written under no_grad: later reads
                # keep that history, as eagerly (its grad_fn stays)
                from ..ops.dispatch import apply as _apply
                prev = _state.grad_enabled
                _state.grad_enabled = True
                try:
                    kept = _apply(STATE_VALUE, out, cur)
                finally:
                    _state.grad_enabled = prev
                kept._rg = True
                st.cur = kept
        else:
            # a dg.Variable (TF1): later reads see the write through a fresh read of the
            # memory, ordered after the write by a control edge: when both run, in this order;
            # fetching a later read (or update) alone does not run this write (TF1's rule)
            h = st.handle
            read = self.add_node(VARIABLE, (), dict(h.node.attrs, after=node),
                                 Spec(cur.shape, cur._dtype), name=h.name + "/read")
            read.out._rg = h._rg
            st.cur = read.out
            st.leaves.append(read.out)
        return out

    # ---- .grad of eager tensors while building: symbolic, written back by dg.function
    def grad_of(self, t):
        entry = self.grads.get(id(t))
        if entry is not None:
            return entry[1]
        stand = self.grad_stand_ins.get(id(t))
        if stand is not None:
            return self.handle(stand)
        eg = t._grad
        if eg is not None and state_key(eg) not in self._states:
            # read through a stand-in, which dg.function points at whatever t.grad is at each
            # call (each backward makes a new tensor), not through this tensor itself
            stand = self.grad_stand_ins[id(t)] = _stand_in(eg)
            self.grad_reads.append((t, eg, stand))
            return self.handle(stand)
        self.grad_reads.append((t, eg, None))
        return None if eg is None else self.handle(eg)

    def set_grad_of(self, t, value):
        if value is not None:
            value = self.lift(value)
            if value.node.op.view and not value._owns:
                value = owned_alias(value)
            if tuple(value.shape) != tuple(t.shape):
                raise DGRuntimeError(
                    f"assigned grad has data of a different size: {list(value.shape)} vs {list(t.shape)}")
        self.grads[id(t)] = (t, value)

    def lift_python(self, read, value, description):
        """A Python number read while building, made a run-time input: a 0-d placeholder fed
        with read() at every run (Session and dg.function do it), weakly typed like the Python
        number it stands for (float32 * lr stays float32)."""
        dt = np.dtype(np.float64) if isinstance(value, float) else np.dtype(np.int64)
        node = self.add_node(PLACEHOLDER, (), {"shape": (), "dtype": dt, "lifted": description},
                             Spec((), dt), name="lifted")
        out = node.out
        out._rg = False
        out._weak = True
        self.lifted.append((out, read, description))
        return out

    def variables(self, trainable_only=False):
        out = []
        for st in self._states.values():
            h = st.handle
            if not trainable_only or h.node.attrs["trainable"]:
                out.append(h)
        return out

    def trainable_variables(self):
        return self.variables(True)

    # ---- analysis
    def to_networkx(self, control=True):
        from .networkx_view import to_networkx
        return to_networkx(self, control)

    def print_tabular(self):
        """Print one row per node (kind, name, op, args, shape, dtype, attrs), as torch.fx does."""
        from ..export.text import print_tabular
        return print_tabular(self)

    def summary(self):
        from collections import Counter
        c = Counter(n.op.name for n in self.nodes)
        lines = [f"Graph{' ' + self.name if self.name else ''}: {len(self.nodes)} nodes"]
        lines += [f"  {k:<16}{v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1])]
        return "\n".join(lines)

    def compile(self, fetches, feeds=None, optimize=True, updates=()):
        """A callable plan computing `fetches` (and running the assign ops in `updates`, and the
        refusals every run makes: `checks`)."""
        from .compiler import compile_graph
        return compile_graph(self, fetches, feeds, optimize=optimize, updates=list(updates) + [
            c for c in self.checks if not any(c is u for u in updates)])

    def finalize(self):
        self.finalized = True

    def __repr__(self):
        return f"<dualgraph.Graph {self.name or hex(id(self))} with {len(self.nodes)} nodes>"

    def lint(self):
        """Check the graph's invariants (torch.fx's Graph.lint); raise DGRuntimeError naming the
        first node that breaks one. Each node belongs to this graph, once, is indexed under its
        unique name and is its output's node; its op is the record registered in OPS under its
        name; a source node has no inputs; seq increases along `nodes`; each input is the output
        of an earlier node of this graph or a literal (no eager tensor or array: lift makes those
        nodes); `users` lists the nodes reading a node, once per input that reads it; the name
        index holds nothing else; updates are assigns of this graph; each state's handle is a
        variable node of this graph. compile_graph(..., check=True) runs it first."""
        from collections import Counter
        from ..ops.registry import OPS

        def bad(n, msg):
            raise DGRuntimeError(
                f"Graph.lint of {self!r}: node {n.name!r} ({getattr(n.op, 'name', n.op)}): {msg}")

        def holds_tensor(x):
            return isinstance(x, (TensorMethods, np.ndarray)) or (
                isinstance(x, (list, tuple)) and any(holds_tensor(y) for y in x))

        index, readers, last = {}, {}, None
        for i, n in enumerate(self.nodes):
            if not isinstance(n, GraphNode):
                raise DGRuntimeError(f"Graph.lint of {self!r}: nodes[{i}] is {n!r}, not a GraphNode")
            if n.graph is not self:
                bad(n, f"it belongs to {n.graph!r}")
            if id(n) in index:
                bad(n, "it is listed twice in nodes")
            if not isinstance(n.name, str) or not n.name:
                bad(n, "its name is not a non-empty str")
            if self._by_name.get(n.name) is not n:
                bad(n, "the name index does not map its name to it (names must be unique)")
            op = n.op
            if OPS.get(getattr(op, "name", None)) is not op:
                bad(n, f"its op {op!r} is not the record registered in OPS under its name")
            if op.source and n.inputs:
                bad(n, f"a source node has no inputs; it has {len(n.inputs)}")
            if last is not None and not n.seq > last:
                bad(n, f"seq {n.seq} follows seq {last}: the sequence must increase")
            last = n.seq
            if not isinstance(n.out, SymbolicTensor) or n.out.node is not n:
                bad(n, "its output tensor is not a tensor of this node")
            if not isinstance(n.attrs, dict) or not isinstance(n.inputs, tuple):
                bad(n, "attrs must be a dict and inputs a tuple")
            for j, x in enumerate(n.inputs):
                if isinstance(x, SymbolicTensor):
                    p = x.node
                    if p.graph is not self:
                        bad(n, f"input {j} ({p.name!r}) belongs to {p.graph!r}")
                    if id(p) not in index:
                        bad(n, f"input {j} ({p.name!r}) is not an earlier node of this graph")
                    readers.setdefault(id(p), []).append(n)
                elif holds_tensor(x):
                    bad(n, f"input {j} is a {type(x).__name__}: a tensor input must be a node")
            index[id(n)] = n
        for n in self.nodes:
            want = readers.get(id(n), [])
            have, need = Counter(map(id, n.users)), Counter(map(id, want))
            if have != need:
                names = {id(u): getattr(u, "name", repr(u)) for u in list(n.users) + want}
                bad(n, f"its users index disagrees with the inputs of the graph: it lists "
                       f"{[names[k] for k in have - need]} that do not read it (so often), and "
                       f"lacks {[names[k] for k in need - have]}")
        for name, n in self._by_name.items():
            if id(n) not in index or n.name != name:
                raise DGRuntimeError(f"Graph.lint of {self!r}: the name index maps {name!r} to "
                                     f"{n!r}, which is not a node of the graph under that name")
        for n in self.updates:
            if id(n) not in index or n.op is not ASSIGN:
                bad(n, "an update must be an assign node of this graph")
        for st in self._states.values():
            h = st.handle.node
            if id(h) not in index or h.op not in (VARIABLE, PLACEHOLDER) or id(st.cur.node) not in index:
                bad(h, "a state's handle must be a variable node of this graph, its value a node")


def owned_alias(x):
    """Another Python object for x's value that owns it: an in-place op on it rebinds only it
    (eagerly a .grad is a tensor of its own, never a view of what backward computed)."""
    a = SymbolicTensor.__new__(SymbolicTensor)
    a.node, a._shape, a._dtype, a._grad, a._rg, a._weak = x.node, x._shape, x._dtype, None, x._rg, x._weak
    a._owns = True
    a._alias = a._storage = None
    return a


def rebind(sym, new):
    """Make the Python object `sym` name the value `new`; nodes built earlier keep reading the
    old value (a fresh object standing for it). The users index touches only the readers.
    `sym` keeps its memory (its views see the new value); it is a view if `new` is."""
    old = SymbolicTensor.__new__(SymbolicTensor)
    old.node, old._shape, old._dtype, old._grad, old._rg, old._weak, old._owns = (
        sym.node, sym._shape, sym._dtype, sym._grad, sym._rg, sym._weak, sym._owns)
    old._alias = old._storage = None
    if sym.node.out is sym:  # (an owned alias is not its node's output)
        sym.node.out = old
    for n in sym.node.users:
        n.inputs = tuple(old if x is sym else x for x in n.inputs)
    sym.node, sym._shape, sym._dtype, sym._rg, sym._weak = new.node, new._shape, new._dtype, new._rg, new._weak
    sym._owns = False
    sym._alias = new._alias
    sym._grad = None
    for n in new.node.users:
        n.inputs = tuple(sym if x is new else x for x in n.inputs)
    new.node.out = sym


def fresh(x, checks=True):
    """x brought up to date if it is a view whose memory was written since it was made (a
    fetch, a traced function's output): the interpreter that made it replays its view chain
    (graph/builder.py says how views and writes work in a graph). `checks`: a read that eagerly
    would show a write the graph does not make is checked (graph/memories.py); not for a feed."""
    a = x._alias
    out = x
    # (an Either's record names itself as its interpreter: its "regeneration" is a check)
    if a is not None and a[0].version != a[2] and (checks or a[4] is not a[0]):
        got = a[4]._regenerate(x)   # (a view is rebound; an Either's read comes back checked)
        out = x if got is None else got
    m = x._storage if x._storage is not None else a[0] if a is not None else None
    check = getattr(m, "check", None) if checks else None
    if check is not None:  # (graph/memories.py: refused, or checked at the runs it is refused)
        out = check(out, x)
    return out


def _broadcast_op():
    from ..ops.unbroadcast import broadcast_to_op
    return broadcast_to_op


_CONTROL_HINT = ("Use dg.cond / dg.while_loop for control flow that depends on a graph value, "
                 "or run the graph (dg.Session(g).run(...) or g.compile(...)) to get a value.")


class SymbolicTensor(TensorMethods):
    """A graph-mode tensor: a node's output with a static shape (None = unknown dim)."""

    __slots__ = ("node", "_shape", "_dtype", "_grad", "_rg", "_weak", "_owns", "_alias", "_storage",
                 "__weakref__")
    _hooks = None  # gradient hooks live on the producing node

    def __init__(self, node, spec):
        self.node = node
        self._shape = Size(spec.shape)
        self._dtype = spec.dtype
        self._grad = None
        self._rg = spec.dtype.kind == "f" and node.op not in (PLACEHOLDER, CONSTANT)
        self._weak = False  # a lifted Python number (and arithmetic on such): weakly typed
        self._owns = False  # a value of its own even if its node is a view (a .grad, as eagerly)
        self._alias = None  # a view: (memory, view chain from its root, memory version, grad mode, builder)
        self._storage = None  # the memory this value names, once a view of it exists (builder.py)

    @property
    def shape(self):
        return self._shape

    def get_shape(self):
        return self._shape

    def _np_dtype(self):
        return self._dtype

    @property
    def graph(self):
        return self.node.graph

    @property
    def name(self):
        return self.node.name

    @property
    def op(self):
        return self.node

    @property
    def grad_fn(self):
        n = self.node
        if n.op in SOURCE_OPS or n.no_grad or (n.op is ASSIGN and not n.attrs["tracks"]):
            return None
        return n

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def requires_grad(self):
        return self._rg

    def requires_grad_(self, flag=True):
        self._rg = bool(flag)
        return self

    @property
    def _version(self):
        """How many writes the state this is a value of has seen (0 for plain values): the
        reverse pass refuses a saved value that was written after it was read, as eagerly."""
        st = self.node.graph.state_of(self) if self.node.op in STATE_OPS else None
        return 0 if st is None else st.version

    # .grad: a state's gradient lives in the graph (keyed by the eager tensor it reads), so a
    # handle's .grad is what backward() and optimizers see; a plain value keeps its own
    @property
    def grad(self):
        from ..ops.dispatch import get_grad
        return get_grad(self)

    @grad.setter
    def grad(self, value):
        from ..ops.dispatch import set_grad
        set_grad(self, value)

    def _sym_grad(self):
        st = self.graph.state_of(self)
        return self.graph.grad_of(st.ref) if st is not None else self._grad

    def _set_sym_grad(self, value):
        st = self.graph.state_of(self)
        if st is not None:
            self.graph.set_grad_of(st.ref, value)
        else:
            if isinstance(value, SymbolicTensor) and value.node.op.view and not value._owns:
                value = owned_alias(value)
            self._grad = value

    def numel(self):
        from ..ops.common import numel
        n = numel(self._shape)
        if n is None:
            raise DGTypeError(f"numel() of {self.name} is unknown until the graph runs (shape {list(self._shape)})")
        return n

    def is_contiguous(self, memory_format=None):
        # eager's answer, from the trace's real arguments (graph/layout.py), or refused
        from .layout import eager_array
        return eager_array(self, "is_contiguous()").flags.c_contiguous

    def contiguous(self):
        # eagerly the tensor itself when it is contiguous: so here too where dg.function's trace
        # knows the layout (graph/layout.py, guarded: one tensor, its gradient accumulated as
        # eagerly); else a node (free when contiguous at run time)
        from .layout import known_contiguous
        if known_contiguous(self):
            return self
        from ..ops.dispatch import apply
        from ..ops.shape import contiguous_op
        return apply(contiguous_op, self)

    def detach(self):
        from ..ops.dispatch import apply
        out = apply(STOP_GRADIENT, self)
        out._rg = False
        return out

    # ---- things a symbolic value cannot answer
    def _no_layout(self, what):
        raise DGRuntimeError(
            f"{what} of graph-mode tensor {self.name!r}: its memory is laid out only when the "
            "compiled plan runs (and the plan may lay it out differently from eager code); "
            "read it eagerly, outside the compiled function")

    def stride(self, dim=None):
        from .layout import eager_array
        from ..tensor import wrap_array
        return wrap_array(eager_array(self, "stride()")).stride(dim)

    def data_ptr(self):
        self._no_layout("data_ptr()")

    def storage_offset(self):
        self._no_layout("storage_offset()")

    def untyped_storage(self):
        self._no_layout("untyped_storage()")

    @property
    def _data(self):
        raise DGTypeError(
            f"symbolic tensor {self.name!r} has no value while the graph is being built. " + _CONTROL_HINT)

    def numpy(self):
        raise DGTypeError(
            f"numpy() of symbolic tensor {self.name!r}: a graph-mode tensor has no value until "
            "the graph runs. Run it: dg.Session(graph).run(tensor, feed_dict) or graph.compile(...).")

    def item(self):
        raise DGTypeError(f"item() of symbolic tensor {self.name!r}: it has no value until the graph runs. " + _CONTROL_HINT)

    def tolist(self):
        return self.item()

    def __bool__(self):
        raise DGTypeError(
            f"Using a symbolic tensor ({self.name!r}) as a Python bool is not allowed in graph "
            "mode: its value is unknown until the graph runs. " + _CONTROL_HINT)

    def __len__(self):
        if not self._shape:
            raise DGTypeError("len() of a 0-d tensor")
        if self._shape[0] is None:
            raise DGTypeError(
                f"len() of symbolic tensor {self.name!r} is unknown: its first dimension is not "
                "known until the graph runs. " + _CONTROL_HINT)
        return self._shape[0]

    def __iter__(self):
        n = len(self)
        return iter(self.unbind(0)) if n else iter(())

    def __float__(self):
        return self.item()

    __int__ = __index__ = __float__

    def __array__(self, *a, **k):
        return self.numpy()

    def __repr__(self):
        from ..dtypes import from_np
        shape = "(" + ", ".join("None" if d is None else str(d) for d in self._shape) + ("," if len(self._shape) == 1 else "") + ")"
        return f"<dg.SymbolicTensor '{self.name}' shape={shape} dtype={from_np(self._dtype).name}>"

    # ---- graph-mode autograd and state
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from .gradients import graph_backward
        graph_backward(self, gradient, inputs, retain_graph, create_graph)

    def register_hook(self, hook):
        n = self.grad_fn
        if n is None:
            raise DGRuntimeError("register_hook on a graph source tensor is not supported")
        from ..tensor import RemovableHandle, _HookDict
        if n.hooks is None:
            n.hooks = _HookDict()
        h = RemovableHandle(n.hooks)
        n.hooks[h.id] = hook
        return h

    def retain_grad(self):
        """Nothing to retain in a graph: dg.gradients can ask for any tensor's gradient."""

    # TF1 Variable methods: each returns a fetchable update; the handle stays the variable
    def assign(self, value):
        g = building()  # a cond branch or loop body inside the variable's graph writes it there
        if g is None or not (hasattr(g, "encloses") and g.encloses(self.graph)):
            g = self.graph
        return g.assign(self._variable_ref(), value)

    def assign_add(self, delta):
        return self.assign(self + delta)

    def assign_sub(self, delta):
        return self.assign(self - delta)

    def load(self, value):
        """Write a value into the variable between runs (TensorFlow 1.x's Variable.load)."""
        ref = self._variable_ref()
        if isinstance(value, SymbolicTensor):
            raise DGTypeError(f"Variable.load takes a value (numpy array, list, eager tensor), not the symbolic tensor {value.name!r}")
        arr = np.asarray(value._data if hasattr(value, "_data") else value)
        if arr.shape != ref._data.shape:
            raise DGValueError(f"Variable {self.name!r} has shape {list(ref._data.shape)}; cannot load a value of shape {list(arr.shape)}")
        np.copyto(ref._data, arr, casting="same_kind")

    def read_value(self):
        """The variable's current value (a copy), read between runs."""
        return np.array(self._variable_ref()._data)

    def detach_(self):
        rebind(self, self.detach())
        self._alias = None  # the same memory, now with no history: not a view of itself
        return self

    def _variable_ref(self):
        n = self.node
        if n.op in STATE_OPS:
            return n.attrs["ref"]
        raise DGTypeError(
            f"{self.name!r} is not a variable: only dg.Variable / captured tensors can be assigned "
            "in graph mode (graphs are functional: build a new tensor instead).")


STOP_GRADIENT = defop("stop_gradient", np.array, lambda x: Spec(x.shape, x.dtype), graph_only=True,
                      doc="identity whose gradient is not propagated (detach)")


# ---------------------------------------------------------------- the default graph, name scopes
def building():
    """The graph being built on this thread, or None (eager)."""
    return getattr(_state.mode, "graph", None)


def current_graph(what):
    g = building()
    if g is None:
        raise DGRuntimeError(f"{what} builds a graph node: call it inside `with dg.graph_mode():`")
    return g


_DEFAULT_GRAPH = None


def get_default_graph():
    """The graph being built; outside graph mode, a process-wide default graph."""
    g = building()
    if g is not None:
        return g
    global _DEFAULT_GRAPH
    if _DEFAULT_GRAPH is None:
        _DEFAULT_GRAPH = Graph("default")
    return _DEFAULT_GRAPH


def reset_default_graph():
    global _DEFAULT_GRAPH
    _DEFAULT_GRAPH = None


@contextlib.contextmanager
def name_scope(name):
    """Prefix the names of nodes built inside with `name/` (nests)."""
    g = building()
    if g is None:
        yield name
        return
    g._scope.append(name.rstrip("/"))
    try:
        yield "/".join(g._scope) + "/"
    finally:
        g._scope.pop()
