"""Subgraphs: the bodies of control-flow ops (a dg.cond branch, a dg.while_loop cond and body).

A `SubGraph` is a Graph traced from a Python function inside an enclosing graph (TensorFlow 2's
FuncGraph). What the function reads from outside becomes an input:
- an enclosing graph's tensor is *captured*: a placeholder here, fed with the outer value when
  the control-flow op runs (so gradients flow back to it through the op's inputs);
- a piece of state (a dg.Variable, an nn.Parameter, a buffer) is read as the enclosing graph's
  current value of it, captured the same way.
Writes to state inside are *functional*: an assign here only rebinds the state's current value;
the control-flow op returns the final value of every state written inside, and the enclosing
graph assigns it (`written`). So a branch's side effects happen only when it is taken, in
program order, and the enclosing graph's ordering rules (networkx_view) need nothing new.

`inline` replays a subgraph's nodes into the graph being built: the gradient of a control-flow
op is a control-flow op whose branches (or body) re-run the forward subgraph and take its
gradient with the ordinary reverse pass.
"""
import contextlib

import numpy as np

from ..errors import DGNotImplementedError, DGRuntimeError, DGTypeError
from ..mode import push
from ..ops.dispatch import apply
from ..ops.registry import Spec, defop
from ..state import _state
from .builder import GraphInterpreter, replay_view
from .memories import Either, _Memory
from .core import (Graph, SymbolicTensor, PLACEHOLDER, CONSTANT, VARIABLE, STATE_VALUE, _State, state_key,
                   building, fresh)


class SubGraph(Graph):
    """A graph traced inside `outer` (see the module docstring). `captures` maps each outer
    tensor read here (by its node) to (the outer tensor, its placeholder here), in first-use
    order; `written` holds the states assigned here, by state key."""

    def __init__(self, outer, name, what):
        super().__init__(name)
        self.outer = outer
        self.what = what              # "dg.cond true_fn", ...: named in errors
        self.captures = {}
        self.written = {}
        self.trace = outer.trace      # a dg.function's guards see reads made in here too

    def encloses(self, g):
        o = self.outer
        while o is not None:
            if o is g:
                return True
            o = getattr(o, "outer", None)
        return False

    # ---- reading from outside
    def lift(self, x):
        if isinstance(x, SymbolicTensor) and x.node.graph is not self and self.encloses(x.node.graph):
            if x.node.op is VARIABLE:  # a variable's handle: its current value, as a read
                return self._state(x.node.attrs["ref"]).cur
            a = x._alias
            # (a view of such a value is of the value's own memory, which names the Either)
            either = a[0] if a is not None and isinstance(a[0], Either) else getattr(
                a[0], "either", None) if a is not None and isinstance(a[0], _Memory) else None
            if either is not None:
                either.check_inside(self, x)
            if a is not None and isinstance(a[0], _State) and building() is self:
                st = self._states.get(state_key(a[0].ref))
                if st is not None and (st.version or any(h is st.handle for h in self.inputs)):
                    # a view of state this subgraph wrote, or carries from an earlier iteration
                    return self._view_of(st.cur, x, a)
            return self._capture(x)
        return super().lift(x)

    def _view_of(self, value, x, alias):
        """Outer view x made again on its state's value here: eagerly a view made before the
        op sees a write the branch or an earlier iteration makes."""
        return replay_view(lambda op, ins, attrs: apply(op, *ins, **attrs), value, x, alias[1],
                           alias[3], f"outside {self.what}",
                           "inside it where the tensor it was made from is written", "inside after the write")

    def _capture(self, x, state=False):
        # (an outer value read here is read now: brought up to date, checked as any read:
        # core.fresh; eagerly a value that is another tensor shows that tensor's writes)
        ox = self.outer.lift(x) if x.node.graph is not self.outer else fresh(x)
        hit = self.captures.get(ox.node)
        if hit is not None:
            return hit[1]
        node = self.add_node(PLACEHOLDER, (), {"shape": tuple(ox.shape), "dtype": ox._dtype,
                                               "captured": ox.name},
                             Spec(tuple(ox.shape), ox._dtype), name="state" if state else "capture")
        ph = node.out
        ph._rg, ph._weak = ox._rg, ox._weak
        self.captures[ox.node] = (ox, ph)
        return ph

    def _state(self, t, name="captured", attrs=None):
        key = state_key(t)
        st = self._states.get(key)
        if st is None:
            if attrs and "initial" in attrs:
                raise DGNotImplementedError(
                    f"dg.Variable created inside {self.what}: create it outside the control "
                    "flow and use it inside (TensorFlow refuses this too)")
            # (read through the alias that requires grad where the enclosing graph has one: a
            # p.detach() read first is detached by capture() here, not the state's value itself)
            o = self.outer._state(t)
            ref = o.trained if o.trained is not None else t
            st = self._states[key] = _State(ref, self._capture(self.outer.capture(ref), state=True))
        return st

    def bind_state(self, t, value):
        """State t reads `value` here (a loop variable of dg.while_loop) instead of a capture."""
        self._states[state_key(t)] = _State(t, value)

    def state_of(self, x):
        if isinstance(x, SymbolicTensor):
            n = x.node
            if n.graph is not self and n.op is VARIABLE and self.encloses(n.graph):
                return self._state(n.attrs["ref"])
            if n.graph is self:
                for st in self._states.values():
                    if st.handle is x or st.cur is x:
                        return st
            return None
        return super().state_of(x)

    def assign(self, ref, value, tracks=False):
        st = self._state(ref)
        if not isinstance(value, SymbolicTensor):
            value = self.lift(value)
        cur = st.cur
        if tuple(value.shape) != tuple(cur.shape):
            from ..ops.unbroadcast import broadcast_to_op
            value = apply(broadcast_to_op, value, shape=tuple(cur.shape))
        if value._dtype != cur._dtype:
            value = value.to(cur.dtype)
        if not tracks:
            # a write that does not record (an optimizer step on a parameter, a buffer taking
            # a value under no_grad): later reads keep the history the state had, as eagerly
            # (a leaf stays the leaf; a buffer holding a value with history keeps its grad_fn),
            # so their gradient goes to the value before the write, not into the written one
            prev = _state.grad_enabled
            _state.grad_enabled = True  # (the write may be under no_grad; the state is not)
            try:
                value = apply(STATE_VALUE, value, cur)
            finally:
                _state.grad_enabled = prev
            value._rg = cur._rg
        st.cur = value
        st.version += 1
        self.written[state_key(ref)] = st
        return value

    def lift_python(self, read, value, description):
        return self._capture(self.outer.lift_python(read, value, description))

    def grad_of(self, t):
        raise DGNotImplementedError(f".grad read inside {self.what}: read it outside the control flow")

    def set_grad_of(self, t, value):
        raise DGNotImplementedError(
            f".grad written inside {self.what} (backward() or an optimizer step in a branch or "
            "loop body): compute gradients outside the control flow")

    def feeds(self):
        """Every placeholder of this subgraph, inputs first (in `inputs` order), then captures."""
        return list(self.inputs) + [ph for _, ph in self.captures.values()]


class SubGraphInterpreter(GraphInterpreter):
    """Builds into a SubGraph; refuses an in-place write to a plain value of an enclosing
    graph (it would rebind the outer Python object from inside a branch or body)."""

    def write(self, target, op, inputs, attrs):
        if isinstance(target, SymbolicTensor) and target.node.graph is not self.graph \
                and target.node.op is not VARIABLE:
            raise DGNotImplementedError(
                f"in-place {op.name} on {target.name!r}, a tensor from outside {self.graph.what}: "
                "inside dg.cond / dg.while_loop return the new value instead (x = x + 1, then "
                "return x from the branch or pass x as a loop variable)")
        a = getattr(target, "_alias", None)
        if a is not None and isinstance(a[0], _Memory) and "captured" in a[0].root.node.attrs:
            raise DGNotImplementedError(
                f"in-place {op.name} on {target.name!r}, a view of "
                f"{a[0].root.node.attrs['captured']!r} from outside {self.graph.what}: inside "
                "dg.cond / dg.while_loop return the new value instead (pass the tensor as a loop "
                "variable and write it there, or return it from the branch)")
        return super().write(target, op, inputs, attrs)


@contextlib.contextmanager
def building_subgraph(sub):
    with push(SubGraphInterpreter(sub)):
        yield sub


def trace(fn, args, what, name, bound=(), prepare=None):
    """Trace fn(*args) into a new SubGraph of the graph being built. `args` are (shape, dtype)
    specs of its explicit inputs (placeholders, in order) or None; `bound` is a list of (eager
    tensor, spec) states the subgraph reads as extra inputs (loop-carried state), or (eager
    tensor, spec, requires_grad) where a later iteration reads a value requiring grad. Returns
    (subgraph, the function's result, the input placeholders, the bound state placeholders).
    `prepare(sub, placeholders)` runs before fn (control_flow_aliases.mark_loop_inputs)."""
    outer = building()
    sub = SubGraph(outer, name, what)
    with building_subgraph(sub):
        ins = [_input(sub, s, d, f"{name}/input{i}") for i, (s, d) in enumerate(args)]
        st_ins = []
        for t, (s, d), *rg in bound:
            ph = _input(sub, s, d, f"{name}/state")
            ph._rg = bool(rg[0] if rg else t._rg)
            sub.bind_state(t, ph)
            st_ins.append(ph)
        sub.inputs = ins + st_ins
        if prepare is not None:
            prepare(sub, ins)
        result = fn(*ins)
    return sub, result, ins, st_ins


def _input(sub, shape, dtype, name):
    node = sub.add_node(PLACEHOLDER, (), {"shape": tuple(shape), "dtype": dtype},
                        Spec(tuple(shape), dtype), name=name)
    return node.out


def inline(sub, feeds, outputs):
    """Replay subgraph `sub` in the graph being built, its placeholders `sub.feeds()` taking the
    values `feeds`; returns the values of `outputs` (tensors of sub)."""
    env = {ph.node: v for ph, v in zip(sub.feeds(), feeds)}
    for node in sub.nodes:
        if node in env:
            continue
        op = node.op
        if op is CONSTANT:
            env[node] = building().lift(node.attrs["value"])
            continue
        if op.source:
            raise DGRuntimeError(f"inline: {node.name!r} ({op.name}) of {sub!r} is not fed")
        ins = [env[x.node] if isinstance(x, SymbolicTensor) else x for x in node.inputs]
        prev = _state.grad_enabled
        if node.no_grad:
            _state.grad_enabled = False
        try:
            out = apply(op, *ins, **node.attrs)
        finally:
            _state.grad_enabled = prev
        env[node] = out
    return [env[o.node] for o in outputs]


def draws_random(sub):
    """Whether running sub draws random numbers (its own nodes or a nested subgraph's)."""
    for n in sub.nodes:
        if n.op.random:
            return True
        for v in n.attrs.values():
            for s in (v if isinstance(v, (list, tuple)) else (v,)):
                g = getattr(s, "graph", None)
                if isinstance(g, SubGraph) and draws_random(g):
                    return True
    return False


def to_literal_tensor(v, like=None):
    """A branch result or loop variable that is a Python number or array: a constant (dtype of
    `like` when given: a Python number is weakly typed; else PyTorch's defaults)."""
    if isinstance(v, (bool, np.bool_)):
        arr = np.asarray(v, np.bool_)
    elif like is not None:  # (and of its shape when known: 0 in one branch, a tensor in the other)
        shape = tuple(like.shape)
        arr = np.full(shape, v, like._dtype) if None not in shape else np.asarray(v, like._dtype)
    elif isinstance(v, (int, np.integer)):
        arr = np.asarray(v, np.int64)
    elif isinstance(v, float):
        from ..dtypes import F32
        arr = np.asarray(v, F32)
    elif isinstance(v, np.ndarray) or np.isscalar(v):
        arr = np.asarray(v)
    else:
        raise DGTypeError(f"expected a tensor or a number, got {type(v).__name__} {v!r}")
    return building().lift(arr)
