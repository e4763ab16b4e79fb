"""The backward of a dg.function's outputs, compiled: `cf(x).sum().backward()` outside the
function reaches x and the parameters the function used, as it does eagerly.

At the trace (when an output requires grad and the function ran no backward itself), the
gradient of the outputs with respect to what requires grad (tensor arguments, captured
parameters) is built into the same graph, seeded by one placeholder per output. The backward
nodes read some forward values ("saved": what eager vjp rules keep); the forward plan fetches
them, and the backward plan is compiled with them as its feeds, cut from what computed them
(compile_graph's cut_at_feeds), so nothing of the forward runs twice and a dropout mask is the
one the forward drew. PyTorch's AOTAutograd partitions a joint graph the same way.

At each call with gradients enabled, the outputs are joined to the tensors that get gradients
by one dg.autograd.Function, whose backward runs the backward plan: the eager engine then
accumulates .grad and goes on into the arguments' own histories, as eagerly. A saved value
that is (a view of) an argument or captured state remembers its version at the call; a write
to it before backward raises PyTorch's error, as eagerly.
"""
import functools

import networkx as nx
import numpy as np

from ..autograd.engine import TracedTape
from ..autograd.function import Function, FunctionCtx, _Call, custom_function_op, layout_orders, unpack
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.tape import FREED, rule_reads, version_error
from ..ops.dispatch import apply
from ..state import _state
from ..errors import DGNotImplementedError, DGRuntimeError, DualGraphError
from .builder import placeholder, GraphInterpreter
from .compiler import compile_graph
from .core import PLACEHOLDER, VARIABLE, ASSIGN, SymbolicTensor, _State, state_key
from .gradients import gradients, reached_at_run, _gradient_paths, _or
from ..mode import push
from ..tensor import Tensor, _wrap as wrap


class CompiledBackward:
    """What one trace needs to give its outputs a backward: which outputs are differentiable,
    the tensors that get gradients, the backward plan and the forward fetches it is fed."""

    out_shared = ()  # (saved index, differentiable output index): the same memory
    shapes = ()      # the differentiable outputs' shapes
    dtypes = ()      # and dtypes (what their gradients must be)
    base = 0         # the index of the first saved value among the forward plan's fetches
    reach = ()       # per source: the outputs (indices into diff) whose gradient reaches it
    saved_by = ()    # per output: its backward's nodes that read saved values
    all_saved_by = frozenset()

    def __init__(self, diff, sources, saved, flags, plan, owners, written):
        self.diff = diff          # indices (into the plan's fetches) of outputs requiring grad
        self.sources = sources    # ("arg", i) | ("state", eager tensor): what gets a gradient
        self.saved = saved        # forward tensors the backward reads (fetched by the forward)
        self.flags = flags        # per source, per output: None (always reached), False (never)
        #                           or the fetch index of a bool (reached at this call)
        self.plan = plan
        self.owners = owners      # per saved value: ("arg", i) | ("state", tensor) | None: its memory
        self.written = written    # saved memories the forward plan itself writes after reading

    def attach(self, fetched, tensors):
        """The call's differentiable outputs (plan fetches, replaced in `fetched` by eager
        tensors) joined to the sources by one Function node whose backward runs the plan.
        The saved values and then the flags are fetched from index `base` on."""
        base = self.base
        src = [tensors[x] if k == "arg" else x for k, x in self.sources]
        saved = fetched[base:base + len(self.saved)]
        at = base + len(self.saved)
        flags = [tuple(f if f is None or f is False else bool(fetched[at + f]) for f in fl)
                 for fl in self.flags]
        mems = []
        for o in self.owners:
            m = None if o is None else tensors[o[1]] if o[0] == "arg" else o[1]
            mems.append((m, m._version) if isinstance(m, Tensor) else (None, None))
        picked = [_wrap(fetched[i]) for i in self.diff]
        # one custom_function node, made directly (what CompiledFunction.apply(*src) would
        # check and compute is known from the trace): its arguments are the sources
        ctx = FunctionCtx((True,) * len(src))
        ctx.bw, ctx.saved, ctx.flags, ctx.mems = self, saved, flags, mems
        ctx.got = set()          # the outputs a backward reached (their hooks: _arrived)
        ctx.freed = frozenset()  # backward nodes a backward without retain_graph ran (saved_by)
        call = _Call(CompiledFunction, ctx, len(src), range(len(src)), self.shapes, picked, (), self.dtypes)
        if len(picked) > 1:   # (each output laid out as the plan made it, as eagerly)
            call.perms = layout_orders([t._data for t in picked])
        prev = _state.grad_enabled
        _state.grad_enabled = True  # (the trace said the outputs require grad: dg.enable_grad() inside)
        try:
            res = unpack(apply(custom_function_op, *picked, *src, call=call), self.shapes, self.dtypes,
                         call.perms)
        finally:
            _state.grad_enabled = prev
        if len(res) > 1:  # which outputs a backward reaches (eagerly an input only they reach gets a .grad)
            got = ctx.got
            for d, r in enumerate(res):
                r.register_hook(functools.partial(_arrived, got, d))
        for k, d in self.out_shared:  # a saved value an output shares memory with: its version
            mems[k] = (res[d], res[d]._version)
        for i, r in zip(self.diff, res):
            fetched[i] = r

    def run(self, ctx, grads):
        if is_grad_enabled():
            raise DGNotImplementedError(
                "backward with create_graph=True (a gradient of a gradient) through the output "
                "of a dg.function is not supported: its backward is a compiled plan. Compute "
                "the higher-order gradient inside the function, or call the function eagerly.")
        got = ctx.got if len(grads) > 1 else {0}
        # the backward nodes reading saved values this backward runs (those of the outputs it
        # reached): one a backward without retain_graph ran before has freed them, as eagerly
        need = frozenset().union(*(self.saved_by[d] for d in got)) if self.saved_by else frozenset()
        if need & ctx.freed:
            raise DGRuntimeError(FREED)
        for k, (m, v) in enumerate(ctx.mems):
            if m is not None and (m._version != v or k in self.written):
                version_error(m, v)
        feeds = list(ctx.saved)
        for g, d in zip(grads, self.dtypes):
            if g._data.dtype != d:  # (eagerly the first rule to use it refuses it)
                raise DGRuntimeError(
                    f"Function CompiledFunctionBackward got a gradient of dtype {g._data.dtype} for "
                    f"an output of dtype {d}: pass a gradient of the output's dtype")
            feeds.append(g._data)
        vals = self.plan.run_unchecked(feeds)
        if getattr(ctx, "_release", False):  # (no retain_graph: a second backward raises, as eagerly)
            ctx.freed = ctx.freed | need
            if self.all_saved_by and ctx.freed >= self.all_saved_by:
                ctx.saved = ()  # every output's backward ran: the saved values go, as eagerly
        out = tuple(_wrap(v) if any(d in got and fl[d] is not False for d in r) else None
                    for v, fl, r in zip(vals, ctx.flags, self.reach))
        if len(grads) > 1:
            got.clear()
        return out


class Unavailable(CompiledBackward):
    """Outputs whose backward could not be built: backward() through them raises why."""

    def __init__(self, diff, sources, error):
        super().__init__(diff, sources, [], [(None,) * len(diff)] * len(sources), None, [], set())
        self.error = error

    def run(self, ctx, grads):
        if isinstance(self.error, DGRuntimeError):
            # (what eagerly this backward raises too: a value written in place since, a node
            # an earlier backward freed; in eager's words)
            raise DGRuntimeError(str(self.error))
        raise DGNotImplementedError(
            f"the backward of this dg.function's output could not be compiled ({self.error}); "
            "call backward() inside the function, or call the function eagerly")


def _wrap(v):
    return wrap(v if type(v) is np.ndarray else np.asarray(v))


class CompiledFunction(Function):
    """One call's outputs joined to the tensors that get their gradients (the sources, its
    arguments). Its node is made by CompiledBackward.attach, its forward already run by the plan;
    the class names the node (grad_fn.name(): CompiledFunctionBackward) and holds the backward."""

    _compiled_outputs = True  # (export/tape.py refuses to rebuild such a tape node)

    @staticmethod
    def backward(ctx, *grads):
        return ctx.bw.run(ctx, grads)


def _arrived(got, d, g):
    got.add(d)


def build(g, flat, feeds, arg_grads, optimize, skip=()):
    """The compiled backward of the trace's outputs `flat` (graph tensors), or None when none
    requires grad or nothing reached gets a gradient. Called in graph mode on g, after the
    user's code returned."""
    diff = [i for i, t in enumerate(flat)
            if i not in skip and t._rg and not t._weak and np.dtype(t._dtype).kind in "fc"]
    if not diff:
        return None
    sources = [(("arg", i), feeds[i]) for i in arg_grads]
    sources += [(("state", st.trained), st.trained) for st in g._states.values()
                if st.trained is not None]
    if not sources:
        return None
    n0 = len(g.nodes)
    try:
        return _build(g, flat, feeds, optimize, diff, sources, n0)
    except DualGraphError as e:
        # (an op on the way has no gradient rule, say: the forward still runs; backward says why)
        _remove(g, g.nodes[n0:])
        bw = Unavailable(diff, [s for s, _ in sources], e)
        _call_spec(bw, [flat[i] for i in diff])
        return bw, []


def _build(g, flat, feeds, optimize, diff, sources, n0):
    ys = [flat[i] for i in diff]
    seeds = [placeholder(tuple(y.shape), y._dtype, name=f"grad_output{k}") for k, y in enumerate(ys)]
    # (a rule reading a value written in place since, or a node an inner backward() freed:
    # eagerly the backward raises; so does this one, Unavailable says why)
    grads = gradients(ys, [x for _, x in sources], grad_ys=seeds, name="output_gradients",
                      tape=TracedTape(g.freed_by_backward, True))
    kept = [(s, gr) for s, gr in zip(sources, grads) if gr is not None]
    if not kept:
        _remove(g, g.nodes[n0:])
        return None
    forward = {id(n) for n in g.nodes[:n0]}
    seed_ids = {id(s.node) for s in seeds}
    saved, seen, valued, cf_read = [], set(), set(), set()
    for n in g.nodes[n0:]:
        if id(n) in seed_ids:
            continue
        for k, x in enumerate(n.inputs):
            if isinstance(x, SymbolicTensor) and id(x.node) in forward:
                if id(x.node) not in seen:
                    seen.add(id(x.node))
                    saved.append(x)
                if n.op.subgraphs:
                    # (a control-flow gradient re-runs its body on every capture: a write in the
                    # forward after the read is not refused at its level, as builder.py's write
                    # counts; a write between the call and backward is, as eagerly the body's
                    # rules saved what they read: an RNN's h0 overwritten before backward)
                    cf_read.add(id(x.node))
                elif k in rule_reads(n.op, n.inputs, [True] * len(n.inputs)):  # (not only its shape)
                    valued.add(id(x.node))
    n1 = len(g.nodes)
    # per output, the backward nodes from its seed that read saved values (as eager's tape
    # nodes that saved something: a second backward through one of them raises; two outputs
    # whose backwards share none can each go once)
    Gb = g.to_networkx(control=False)
    saved_ids = {id(x.node) for x in saved}
    saved_by = []
    for s_ in seeds:
        saved_by.append(frozenset(name for name in nx.descendants(Gb, s_.node.name)
                                  if any(isinstance(x, SymbolicTensor) and id(x.node) in saved_ids
                                         for x in g._by_name[name].inputs)))
    with push(GraphInterpreter(g)):  # (after the saved are collected: the flags are forward values)
        # (per output: a backward from some outputs only gives x a .grad if one of them
        # reaches it at this call)
        flags = [tuple(_reached(g, x, [y]) for y in ys) for (_, x), _ in kept]
    keep = [any(f is not False for f in fl) for fl in flags]   # never reached: never a gradient
    kept = [k for k, ok in zip(kept, keep) if ok]
    flags = [fl for fl, ok in zip(flags, keep) if ok]
    if not kept:
        _remove(g, g.nodes[n0:])
        return None
    fetch = [gr for _, gr in kept]
    # per source, the outputs a gradient path leads to from it (the eager tape's edges: a
    # backward from one of them gives the source a .grad, zeros through sign() included)
    G = _gradient_paths(g)
    reach = []
    for (_, x), _ in kept:
        st = g.state_of(x)
        names = [t.node.name for t in (st.leaves if st is not None else [x])]
        reach.append(frozenset(d for d, y in enumerate(ys)
                               if any(n == y.node.name or nx.has_path(G, n, y.node.name) for n in names)))
    plan = compile_graph(g, fetch, feeds=saved + seeds, optimize=optimize, cut_at_feeds=True)
    _remove(g, g.nodes[n0:n1])  # the traced graph (graph_for, export, explain) is the forward's
    # (a value a backward rule reads only the shape of, as getitem_grad its input's, is not
    # version-checked: eagerly nothing of it was saved)
    mems = [_memory(g, x, feeds) if id(x.node) in valued or id(x.node) in cf_read else (None, False)
            for x in saved]
    owners = [m[0] for m in mems]
    written = {k for k, (m, x) in enumerate(zip(mems, saved)) if m[1] and id(x.node) in valued}
    # a control-flow op's values saved whole: the arguments and state it read are checked too
    # (only their versions: nothing more is fed)
    have = {(o[0], id(o[1]) if o[0] == "state" else o[1]) for o in owners if o is not None}
    for x in saved:
        if x.node.op.subgraphs:
            for xi in x.node.inputs:
                if isinstance(xi, SymbolicTensor):
                    o = _memory(g, xi, feeds)[0]
                    key = None if o is None else (o[0], id(o[1]) if o[0] == "state" else o[1])
                    if key is not None and key not in have:
                        have.add(key)
                        owners.append(o)
    flag_fetch = [f for fl in flags for f in fl if isinstance(f, SymbolicTensor)]
    pos = iter(range(len(flag_fetch)))
    flags = [tuple(next(pos) if isinstance(f, SymbolicTensor) else f for f in fl) for fl in flags]
    bw = CompiledBackward(diff, [s for (s, _), _ in kept], saved, flags, plan, owners, written)
    out_keys = [_memory_key(y) for y in ys]
    bw.out_shared = tuple((k, d) for k, x in enumerate(saved) if owners[k] is None
                          for d, key in enumerate(out_keys) if key == _memory_key(x))
    _call_spec(bw, ys)
    bw.reach = tuple(reach)
    bw.saved_by = tuple(saved_by)
    # (the saved values may go once all of these ran; not while an output's backward reads none)
    bw.all_saved_by = frozenset().union(*saved_by) if saved_by and all(saved_by) else frozenset()
    return bw, saved + flag_fetch


def _call_spec(bw, ys):
    """The differentiable outputs' dtypes and shapes (each call's custom_function node)."""
    bw.dtypes = tuple(np.dtype(y._dtype) for y in ys)
    bw.shapes = tuple(tuple(y.shape) for y in ys)


def _remove(g, nodes):
    """Take the gradient nodes out of g once their plan is compiled (the plan holds its steps)."""
    dead = {id(n) for n in nodes}
    g.nodes[:] = [n for n in g.nodes if id(n) not in dead]
    for n in nodes:
        g._by_name.pop(n.name, None)
    for n in g.nodes:
        if any(id(u) in dead for u in n.users):
            n.users = [u for u in n.users if id(u) not in dead]


def _reached(g, x, ys):
    """None when a gradient from the outputs always reaches x; else a graph boolean (a
    dg.cond branch not taken: eagerly x gets no gradient at that call)."""
    names = [t.node.name for t in ([x] if g.state_of(x) is None else g.state_of(x).leaves)]
    flag = False
    for y in ys:
        r = reached_at_run(g, names, y.node.name)
        if r is None:
            return None
        if r is not False:
            flag = _or(None if flag is False else flag, r)
    return flag


def _memory(g, x, feeds):
    """(owner, stale) of saved value x: owner ("arg", i) or ("state", eager tensor) when x is
    (a view of) an argument's or captured state's memory, else None; stale when the forward
    wrote that state after x was read (eagerly backward then raises the version error)."""
    n = x.node
    if n.op in (VARIABLE, ASSIGN):
        st = g._states.get(state_key(n.attrs["ref"]))
        return ("state", n.attrs["ref"]), st is not None and st.cur.node is not n
    a = x._alias
    if a is not None:
        mem = a[0]
        if isinstance(mem, _State):
            return ("state", mem.ref), mem.version != a[2]
        n = getattr(mem.root, "node", None)
    if n is not None and n.op is PLACEHOLDER:
        for i, f in enumerate(feeds):
            if f.node is n:
                return ("arg", i), False
    return None, False


def _memory_key(x):
    """One key per memory: a value and its views (made in the graph) share it."""
    a = x._alias
    if a is None:
        return id(x.node)
    mem = a[0]
    return id(mem) if isinstance(mem, _State) else id(getattr(mem.root, "node", mem))
