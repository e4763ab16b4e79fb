"""dg.cond and dg.while_loop: plain Python eagerly, control-flow ops holding subgraphs in a graph.

In a graph each branch of `cond` and the cond and body of `while_loop` are traced into their own
SubGraph (subgraph.py: captures of outer tensors, functional writes to state), compiled, and held
by one registered op (TensorFlow 2's If and While): at run time only the taken branch runs, the
loop runs its body plan until its cond plan says stop. The op's output is a tuple; `tuple_get`
nodes take its elements apart.

Gradients follow TensorFlow 2 (cond_v2, while_v2): the gradient of `cond` is a `cond` on the same
predicate whose branches re-run the forward branch and take its gradient; the gradient of
`while_loop` is a second `while_loop` running backward over the iterations. The forward loop
keeps each iteration's loop variables in accumulators (switched on by the first gradient built),
and each backward iteration re-runs that iteration's body from them and applies its vjp.
Because both are built with the public functions, their own gradients (second order) and
nesting come for free.
"""
import networkx as nx
import numpy as np

from ..errors import DualGraphError, DGTypeError, DGValueError, DGNotImplementedError, DGRuntimeError
from ..ops.common import fmt_shape
from ..ops.dispatch import apply
from ..ops.registry import Spec, defop, OPS
from ..state import _state
from ..tensor_methods import TensorMethods
from ..utils.tree import flatten, unflatten
from .core import PLACEHOLDER, STATE_VALUE, SymbolicTensor, VARIABLE, building, owned_alias, state_key
from .builder import _aliases
from .subgraph import (trace, building_subgraph, inline, draws_random, to_literal_tensor)
from .control_flow_aliases import (LoopIdentities, cond_identities, mark_cond_results, mark_loop_inputs,
                                   mark_loop_results, runs_at_least_once)


# ---------------------------------------------------------------- building
class _Branch:
    """A compiled subgraph and where its feeds come from: position i of `index` names the
    element of the op's frame (its inputs, or for a loop the current loop variables followed by
    the captures) that feeds the subgraph's i-th placeholder."""

    __slots__ = ("graph", "outputs", "index", "plan", "uses", "uses_by_output", "reads", "_fns", "reach",
                 "carried")

    def __init__(self, graph, outputs, index, carried_rg=()):
        self.graph, self.outputs, self.index = graph, outputs, index
        self.plan = graph.compile(list(outputs), feeds=graph.feeds(), updates=graph.checks)
        self._fns = {}
        self.uses_by_output = branch_uses(graph, outputs, index)
        self.uses = frozenset().union(*self.uses_by_output)
        self.carried = self._carried(carried_rg)   # loop variables that may require grad
        self.reads = branch_reads(graph, outputs, index, self.carried)
        # (frame position, outputs) -> the output saying a run reached it, or (on the first
        # branch) both branches' answers when those are fixed: _cond_input_used
        self.reach = {}

    def _carried(self, initial_rg):
        """A loop body's variables (frame positions) that may require grad at some iteration:
        the initial value does, the body's result does, or it is computed from one that may."""
        n = len(initial_rg)
        may = {k for k in range(n) if initial_rg[k] or self.outputs[k]._rg}
        grew = True
        while grew:
            grew = False
            for k in range(n):
                if k not in may and any(j in may for j in self.uses_by_output[k]):
                    may.add(k)
                    grew = True
        return may

    def add_output(self, value):
        """One more result (a flag the gradient reads: _cond_input_used); the plan is made again."""
        self.outputs = list(self.outputs) + [value]
        self.plan = self.graph.compile(list(self.outputs), feeds=self.graph.feeds(), updates=self.graph.checks)
        self._fns = {}
        self.uses_by_output = list(self.uses_by_output) + [frozenset()]
        return len(self.outputs) - 1

    def run(self, frame):
        # the specialised code straight (a loop calls it once per iteration, inside the
        # enclosing plan's errstate); the checked path on a new shape, or to name a failure
        arrays = [frame[i] for i in self.index]
        fn = self._fns.get(tuple([a.shape for a in arrays]))
        if fn is not None:
            try:
                return fn(*arrays)
            except DualGraphError:
                raise
            except Exception:  # noqa: BLE001 - run again on the path that names the node
                pass
        out = self.plan.run_unchecked(arrays)
        self._fns = self.plan._compiled
        return out

    def __repr__(self):
        return f"<{self.graph.name}: {len(self.graph.nodes)} nodes>"


def branch_uses(graph, outputs, index):
    """For each output, the frame positions a gradient can reach from it: data paths through
    differentiable ops built with grad enabled (not through a stop_gradient, a comparison, a
    write under no_grad)."""
    G = _gradient_graph(graph)
    pos = {f.node.name: i for f, i in zip(graph.feeds(), index)}
    out = []
    for o in outputs:
        need = nx.ancestors(G, o.node.name) | {o.node.name}
        out.append(frozenset(pos[v] for v in need if v in pos))
    return out


def _gradient_graph(graph):
    """The subgraph's edges a gradient goes back along (see branch_uses)."""
    G = nx.DiGraph()
    for n in graph.nodes:
        G.add_node(n.name)
        if not n.op.differentiable or n.no_grad or n.op.subgraphs:
            continue
        src = n.inputs[0].node if n.inputs and isinstance(n.inputs[0], SymbolicTensor) else None
        if src is not None and src.op.subgraphs and "index" in n.attrs:
            # an element of a nested control-flow op's tuple: only the inputs it depends on
            for k, x in enumerate(src.inputs):
                if isinstance(x, SymbolicTensor) and _input_reaches(src, k, n.attrs["index"]):
                    G.add_edge(x.node.name, n.name)
            continue
        for x in n.inputs:
            if isinstance(x, SymbolicTensor):
                G.add_edge(x.node.name, n.name)
    return G


def branch_reads(graph, outputs, index, carried=frozenset()):
    """The frame positions whose values a rule in the subgraph reads, directly or through a view
    (eagerly the branch's ops are tape nodes saving what they read, so writing one of those
    values in place before backward raises the version error). A rule runs for the inputs that
    may require grad: the captures that do, a loop's variables that may at some iteration
    (`carried`: frame positions; traced from their initial values, which may require none where
    later iterations do), and what is computed from them; only rules a gradient from an output
    goes through (eagerly a tape node no gradient reaches never runs: what it saved is never
    checked)."""
    from ..autograd.tape import node_reads
    of = {f.node: i for f, i in zip(graph.feeds(), index)}  # node -> the frame value it is (a view of)
    may = {f.node for f, i in zip(graph.feeds(), index) if i in carried or f._rg}
    G = _gradient_graph(graph)
    run = set().union(*(nx.ancestors(G, o.node.name) | {o.node.name} for o in outputs))
    reads = set()
    for n in graph.nodes:
        ins = n.inputs
        if n.op.differentiable and not n.no_grad and n.name in run:
            needs = [isinstance(x, SymbolicTensor) and x.node in may for x in ins]
            if any(needs):
                may.add(n)
                for i in node_reads(n, needs):
                    p = of.get(getattr(ins[i], "node", None))
                    if p is not None:
                        reads.add(p)
        if n.op.view and _aliases(n.op, n.attrs, ins) and ins and isinstance(ins[0], SymbolicTensor) \
                and ins[0].node in of:   # (advanced indexing copies: not a view of the frame)
            of[n] = of[ins[0].node]
    return frozenset(reads)


def _record_reads(g, packed):
    """Remember the write count of each state the control-flow op reads, taken after the op's
    own writes, so that a traced backward after a later write is refused as eagerly
    (tape.check_write_counts, with the inputs its subgraphs' rules read: Op.subgraph_reads)."""
    from .builder import _versions
    if g.trace is not None and packed._rg:
        packed.node.versions = _versions(g, packed.node.inputs)


def _cond_reads(n):
    return sorted({p + 1 for b in n.attrs["branches"] for p in b.reads})


def _while_reads(n):
    # (a loop variable's initial value is read by the first iteration, a capture by every one)
    return sorted(n.attrs["body"].reads)


def _input_reaches(node, k, out):
    """Whether a gradient from element `out` of control-flow node `node`'s tuple reaches its
    input k."""
    a = node.attrs
    if "branches" in a:  # cond: input 0 is the predicate
        return k > 0 and any(k - 1 in _reached_from(b, [out]) for b in a["branches"])
    n_vars = a["n_vars"]
    out = {p: j for j, p in _stack_positions(a["stacked"], n_vars).items()}.get(out, out)
    if out >= n_vars:
        return False  # (the iteration count)
    return k == out or k in _loop_reached(a["body"], n_vars, [out])


class _Keep:
    """Whether a while_loop keeps each iteration's loop variables (its gradient reads them)."""

    __slots__ = ("on",)

    def __init__(self):
        self.on = False

    def __repr__(self):
        return f"keep={self.on}"


def _is_python_value(v):
    return not isinstance(v, TensorMethods)


def _results(sub, leaves, likes=None):
    """The subgraph's result leaves as its tensors (outer tensors captured, numbers constants)."""
    out = []
    with building_subgraph(sub):
        for i, v in enumerate(leaves):
            if _is_python_value(v):
                like = likes[i] if likes is not None else None
                v = to_literal_tensor(v, like if isinstance(like, TensorMethods) else None)
            else:
                v = sub.lift(v)
            out.append(v)
    return out


def _union_captures(*subs):
    caps = {}
    for s in subs:
        for node, (ox, _) in s.captures.items():
            caps.setdefault(node, ox)
    return list(caps), list(caps.values())


def _index(sub, n_inputs, cap_nodes, offset):
    pos = {node: offset + i for i, node in enumerate(cap_nodes)}
    return tuple(list(range(n_inputs)) + [pos[node] for node in sub.captures])




def _assign_written(g, refs, values, inner):
    """The enclosing graph takes the final value of each state written inside; a buffer that
    took a value requiring grad keeps its history (as builder._write_state decides). `inner`:
    per state, its final values inside (each branch's, the body's): where none recorded a write
    (only writes under no_grad, state_values of the value it entered with, or none), the state
    keeps the history it had (a parameter read detached first stays the leaf: eagerly it is)."""
    return [g.assign(ref, v, tracks=bool(_state.grad_enabled and v._rg and not g._state(ref).handle._rg
                                         and not all(_unrecorded(o) for o in ins)))
            for ref, v, ins in zip(refs, values, inner)]


def _unrecorded(x):
    """Whether subgraph value x is the value its state entered with, through writes that did
    not record only."""
    while x.node.op is STATE_VALUE:
        x = x.node.inputs[1]
    return x.node.op is PLACEHOLDER


def _packed(op, inputs, **attrs):
    packed = apply(op, *inputs, **attrs)
    # (an object-dtype value requires no grad by default: this one does if an input does)
    packed._rg = not packed.node.no_grad and any(isinstance(x, SymbolicTensor) and x._rg for x in inputs)
    subs = attrs["branches"] if "branches" in attrs else (attrs["cond"], attrs["body"])
    if any(b.graph.checks for b in subs):
        # a branch or body refuses some runs whatever reads its results (a write that eagerly
        # changes an outer tensor, graph/memories.py): the op runs at every run, so its checks do
        building().checks.append(packed.node)
    return packed


def _outputs(packed, specs, deps, start=0, rg=None):
    """The op's results (its tuple's elements from `start`); `rg`: whether each may require grad
    (a result computed from no value requiring grad does not, as eagerly)."""
    outs = [apply(TUPLE_GET, packed, *deps, index=start + i, shape=tuple(s), dtype=d)
            for i, (s, d) in enumerate(specs)]
    if rg is not None and building().trace is not None:
        # (dg.function mirrors eager code, where requires_grad decides; a TF1 graph's
        # dg.gradients differentiates placeholders that require none)
        for o, r in zip(outs, rg[start:]):
            o._rg = o._rg and bool(r)
    return outs


def cond(pred, true_fn, false_fn, name="cond"):
    """`true_fn()` if pred else `false_fn()`. Eagerly (and for a Python bool) plain Python; in a
    graph one `cond` op: only the taken branch runs, with only its side effects."""
    if not callable(true_fn) or not callable(false_fn):
        raise DGTypeError("dg.cond(pred, true_fn, false_fn): true_fn and false_fn must be callables "
                          "taking no arguments")
    g = building()
    if g is None or not isinstance(pred, TensorMethods):
        return true_fn() if bool(pred) else false_fn()
    pred = g.lift(pred)
    if pred.ndim != 0 and tuple(pred.shape) != (1,):
        raise DGTypeError(f"dg.cond needs a scalar predicate, got shape {list(pred.shape)}")
    tsub, tres, _, _ = trace(true_fn, (), "dg.cond true_fn", f"{name}/true_fn")
    fsub, fres, _, _ = trace(false_fn, (), "dg.cond false_fn", f"{name}/false_fn")
    (ts, tdef), (fs, fdef) = flatten(tres), flatten(fres)
    if tdef != fdef:
        raise DGValueError(f"dg.cond: true_fn and false_fn must return the same structure, got {tdef} and {fdef}")
    raw = (ts, fs)   # (what the branches returned: an eager tensor returned is that very tensor)
    ts = _results(tsub, ts, fs)
    fs = _results(fsub, fs, ts)
    specs = []
    for i, (a, b) in enumerate(zip(ts, fs)):
        if a._dtype != b._dtype:
            raise DGTypeError(f"dg.cond: output {i} is {np.dtype(a._dtype).name} in true_fn but "
                              f"{np.dtype(b._dtype).name} in false_fn; "
                              "the branches must return the same dtypes")
        if len(a.shape) != len(b.shape):
            raise DGValueError(f"dg.cond: output {i} has shape {fmt_shape(a.shape)} in true_fn but "
                               f"{fmt_shape(b.shape)} in false_fn; the branches must return the same ranks")
        specs.append((tuple(x if x == y else None for x, y in zip(a.shape, b.shape)), a._dtype))
    # state written in either branch: both branches return its value (the other one unchanged)
    written = {}
    for s in (tsub, fsub):
        for key, st in s.written.items():
            written.setdefault(key, st.ref)
    refs = list(written.values())
    outs = []
    for s, res in ((tsub, ts), (fsub, fs)):
        with building_subgraph(s):
            outs.append(res + [s._state(r).cur for r in refs])
    n, w = len(ts), len(ts) + len(refs)
    idents, pairs, lifted = cond_identities((tsub, fsub), outs, n, raw)  # (flags of nested control flow: outputs)
    specs += [(tuple(v.shape), v._dtype) for v in outs[0][n:]]
    cap_nodes, caps = _union_captures(tsub, fsub)
    branches = tuple(_Branch(s, o, _index(s, 0, cap_nodes, 0)) for s, o in zip((tsub, fsub), outs))
    packed = _packed(COND, [pred] + caps, branches=branches, n_out=len(specs))
    rg = [a._rg or b._rg for a, b in zip(*outs)]
    inner = list(zip(outs[0][n:w], outs[1][n:w]))
    assigns = _assign_written(g, refs, _outputs(packed, specs[n:w], (), n, rg), inner) if refs else []
    _record_reads(g, packed)
    results = _outputs(packed, specs[:n], assigns, 0, rg)
    flags = _outputs(packed, specs[w:], (), w)
    mark_cond_results(g, pred, results, idents, pairs, {key: flags[i - w] for key, i in lifted.items()})
    return unflatten(tdef, results)


def while_loop(cond_fn, body_fn, loop_vars, maximum_iterations=None, shape_invariants=None,
               name="while"):
    """Repeat `loop_vars = body_fn(*loop_vars)` while `cond_fn(*loop_vars)` (at most
    maximum_iterations times). Eagerly plain Python; in a graph one `while_loop` op."""
    single = not isinstance(loop_vars, (list, tuple))
    g = building()
    if g is None:
        lv = [loop_vars] if single else list(loop_vars)
        n = 0
        while (maximum_iterations is None or n < maximum_iterations) and bool(cond_fn(*lv)):
            out = body_fn(*lv)
            lv = [out] if single and not isinstance(out, (list, tuple)) else list(out)
            n += 1
        return lv[0] if single else type(loop_vars)(lv)
    leaves, treedef = flatten(loop_vars)
    python = [_is_python_value(v) for v in leaves]
    init = [to_literal_tensor(v) if py else g.lift(v) for v, py in zip(leaves, python)]
    marks = mark_loop_inputs(g, init, python)  # (loop variable k is init[k] at first)
    # loop variables that may require grad inside the body: the initial value does, or the body
    # makes it so (found by tracing, then traced again: a buffer written with h * 0.5 then takes
    # a history from h, as eagerly at the second iteration)
    var_rg = [bool(v._rg) and v._dtype.kind in "fc" for v in init]

    def prepare(sub, ins):
        for ph, r in zip(ins, var_rg):
            ph._rg = ph._rg or r
        marks(sub, ins)
    specs = _invariants(init, shape_invariants, treedef)
    max_input = None
    if isinstance(maximum_iterations, TensorMethods):
        max_input = g.lift(maximum_iterations)
        maximum_iterations = None

    def call(fn, args):
        vals = unflatten(treedef, list(args))
        return fn(vals) if single else fn(*vals)

    # state written by the body: loop-carried (found by tracing, then traced again); one that
    # leaves the body requiring grad enters the next iteration so (eagerly a buffer written
    # with p * 0.5 keeps that history into the next iteration's writes): traced again with it
    bound, carried_rg = [], set()

    def enters_rg(t):  # (its value before the loop may carry history already: b.add_(p) first)
        return state_key(t) in carried_rg or t._rg or g._state(t).cur._rg
    for _ in range(8):
        bsub, res, ins, st_ins = trace(lambda *a: call(body_fn, a), specs, "dg.while_loop body_fn",
                                       f"{name}/body", [(t, s, enters_rg(t)) for t, s in bound], prepare)
        new = [st.ref for key, st in bsub.written.items()
               if all(state_key(t) != key for t, _ in bound)]
        grew = {state_key(t) for t, _ in bound
                if not enters_rg(t) and bsub._states[state_key(t)].cur._rg}
        out = _body_results(bsub, res, single, loop_vars, treedef, ins, specs)
        # (only a body that writes in place decides anything by it: state writes record or
        # not, an overwritten value keeps its history; other bodies are not traced again)
        grew_vars = [k for k, o in enumerate(out) if not var_rg[k] and o._rg and o._dtype.kind in "fc"
                     and (bsub.written or bsub.overwritten)]
        if not new and not grew and not grew_vars:
            break
        carried_rg |= grew
        for k in grew_vars:
            var_rg[k] = True
        bound += [(t, (tuple(t.shape), t._data.dtype)) for t in new]
    out += [bsub._states[state_key(t)].cur for t, _ in bound]
    csub, c, _, _ = trace(lambda *a: call(cond_fn, a), specs, "dg.while_loop cond_fn",
                          f"{name}/cond", [(t, s, enters_rg(t)) for t, s in bound], prepare)
    if csub.written:
        raise DGNotImplementedError("dg.while_loop: cond_fn writes state; write it in body_fn instead")
    (c,) = _results(csub, [c])
    if c.ndim != 0 and tuple(c.shape) != (1,):
        raise DGTypeError(f"dg.while_loop: cond_fn must return a scalar, got shape {fmt_shape(c.shape)}")
    found = _reach_flags(bsub, csub, out, [(len(init) + j, ph) for j, ph in enumerate(st_ins)])
    ids = LoopIdentities(bsub, csub, out, python, [t for t, _ in bound])  # (which tensor a result is)
    n_vars = len(out)
    n_flags = n_vars - len(init) - len(bound)
    all_specs = specs + [s for _, s in bound] + [((), np.dtype(np.bool_))] * n_flags
    cap_nodes, caps = _union_captures(csub, bsub)
    reach = tuple((node[1] if type(node) is tuple else n_vars + cap_nodes.index(node), k) for node, k in found)
    body = _Branch(bsub, out, _index(bsub, n_vars, cap_nodes, n_vars),
                   carried_rg=[v._rg for v in init] + [enters_rg(t) for t, _ in bound] + [False] * n_flags)
    condb = _Branch(csub, [c], _index(csub, n_vars, cap_nodes, n_vars))
    stacked = tuple(o.node is not p.node for o, p in zip(out, bsub.inputs))
    inputs = (init + [g.capture(t) for t, _ in bound] + [to_literal_tensor(False) for _ in found]
              + [to_literal_tensor(v) for v in ids.initial] + caps
              + ([max_input] if max_input is not None else []))
    packed = _packed(WHILE_LOOP, inputs, cond=condb, body=body, n_vars=n_vars, n_caps=len(caps),
                   maximum_iterations=maximum_iterations, keep=_Keep(), stacked=stacked,
                   specs=tuple(all_specs), reach=reach)
    n = len(init)
    rg = [k in body.carried for k in range(n_vars)]
    assigns = (_assign_written(g, [t for t, _ in bound], _outputs(packed, all_specs[n:n + len(bound)], (), n, rg),
                               [(o,) for o in out[n:n + len(bound)]])
               if bound else [])
    _record_reads(g, packed)
    results = _outputs(packed, specs, assigns, 0, rg)
    once = runs_at_least_once(condb, init, n_vars, len(caps), maximum_iterations, max_input)
    mark_loop_results(g, lambda: apply(TUPLE_GET, packed, index=n_vars, shape=(), dtype=np.dtype(np.int64)),
                      out, init, results, once, ids,
                      lambda i: apply(TUPLE_GET, packed, index=i, shape=(), dtype=np.dtype(np.bool_)))
    return unflatten(treedef, results)


def _reach_flags(bsub, csub, out, states=()):
    """The body's captures that may require grad and that a gradient reaches at some
    iterations only (used in a nested dg.cond's branch, or a nested loop's body that may run no
    iteration): for each, one more loop variable, False at entry and OR-ed at each iteration with
    the body's "reached now" flag (gradients.reached_at_run), so the loop's final value says
    whether a gradient reaches it at this run (_while_input_used; eagerly its .grad stays None
    otherwise). Appends those variables to the body's outputs and both subgraphs' inputs;
    returns [(the capture's outer node, its variable's position)]. `states`: (loop variable
    position, placeholder) of loop-carried state (a parameter written in the body): the same, its
    gradient through the other results (its own passes it on to the next iteration's read),
    keyed ("var", position)."""
    from .gradients import reached_at_run
    from .subgraph import _input
    roots = [o.node.name for o in out]
    found = []
    cands = [(node, ph, roots) for node, (_, ph) in list(bsub.captures.items())]
    for k, ph in states:   # (the user's results and the other states' values)
        cands.append((("var", k), ph, [o.node.name for j, o in enumerate(out) if j != k]))
    for node, ph, rts in cands:
        if not (ph._rg and ph._dtype.kind in "fc"):
            continue
        with building_subgraph(bsub):
            flags = [reached_at_run(bsub, [ph.node.name], r) for r in rts]
            if any(f is None for f in flags) or all(f is False for f in flags):
                continue
            flag = None
            for f in flags:
                if f is not False:
                    f = f.reshape(())
                    flag = f if flag is None else apply(OPS["logical_or"], flag, f)
            acc = _input(bsub, (), np.dtype(np.bool_), f"{bsub.name}/reached")
            out.append(apply(OPS["logical_or"], acc, flag))
        bsub.inputs = list(bsub.inputs) + [acc]
        csub.inputs = list(csub.inputs) + [_input(csub, (), np.dtype(np.bool_), f"{csub.name}/reached")]
        found.append((node, len(out) - 1))
    return found


def _invariants(init, shape_invariants, treedef):
    if shape_invariants is None:
        return [(tuple(v.shape), v._dtype) for v in init]
    inv, idef = flatten(shape_invariants, is_leaf=lambda s: isinstance(s, (list, tuple)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in s))
    if len(inv) != len(init):
        raise DGValueError(f"dg.while_loop: shape_invariants has {len(inv)} shapes for {len(init)} loop variables")
    specs = []
    for i, (v, s) in enumerate(zip(init, inv)):
        s = tuple(None if d is None or d == -1 else int(d) for d in s)
        if len(s) != v.ndim or any(d is not None and d != x for d, x in zip(s, v.shape)):
            raise DGValueError(f"dg.while_loop: loop variable {i} has shape {fmt_shape(v.shape)}, which "
                               f"does not fit its shape invariant {fmt_shape(s)}")
        specs.append((s, v._dtype))
    return specs


def _body_results(bsub, res, single, loop_vars, treedef, ins, specs):
    if single and isinstance(res, (list, tuple)) and len(res) == 1:
        res = res[0]
    if not single and isinstance(res, (list, tuple)):
        res = type(loop_vars)(res)
    leaves, rdef = flatten(res)
    if rdef != treedef:
        raise DGValueError(f"dg.while_loop: body_fn must return the structure of loop_vars, {treedef}; "
                           f"it returned {rdef}")
    out = _results(bsub, leaves, ins)
    for i, (o, (s, d)) in enumerate(zip(out, specs)):
        if o._dtype != d:
            raise DGTypeError(f"dg.while_loop: loop variable {i} enters as {np.dtype(d).name} but "
                              f"body_fn returns {np.dtype(o._dtype).name}; cast it in the body")
        if len(o.shape) != len(s) or any(a is not None and a != b for a, b in zip(s, o.shape)):
            raise DGValueError(
                f"dg.while_loop: loop variable {i} has shape {fmt_shape(s)} on entry but {fmt_shape(o.shape)} "
                "after one iteration of body_fn. A loop variable keeps its shape; pass "
                "shape_invariants (None for a dimension that may change) to let it change.")
    return out


# ---------------------------------------------------------------- running
def _distinct(vals):
    """Each result its own array: a branch or body returning one value twice gives one array,
    which the enclosing plan may reuse as a buffer after one of its readers is done."""
    seen, out = set(), []
    for v in vals:
        if id(v) in seen:
            v = np.array(v)
        seen.add(id(v))
        out.append(v)
    return out


def _cond_kernel(pred, *caps, branches, n_out):
    return tuple(_distinct(branches[0 if bool(pred) else 1].run(caps)))


def _while_kernel(*inputs, cond, body, n_vars, n_caps, maximum_iterations, keep, stacked, specs, reach=()):
    lv = list(inputs[:n_vars])
    caps = list(inputs[n_vars:n_vars + n_caps])
    limit = maximum_iterations
    if len(inputs) > n_vars + n_caps:
        limit = int(inputs[-1])
    acc = [[] for s in stacked if s] if keep.on else None
    i = 0
    while (limit is None or i < limit) and bool(cond.run(lv + caps)[0]):
        if acc is not None:
            j = 0
            for k, s in enumerate(stacked):
                if s:
                    acc[j].append(np.array(lv[k]) if i == 0 else lv[k])
                    j += 1
        lv = _distinct(body.run(lv + caps))
        i += 1
    if i == 0:  # the inputs come back: never memory the enclosing plan owns
        lv = [np.array(v) for v in lv]
    out = tuple(lv) + (np.asarray(i, np.int64),)
    if acc is not None:
        j = 0
        for k, s in enumerate(stacked):
            if s:
                shape, dtype = specs[k]
                try:
                    out += (np.stack(acc[j]) if acc[j] else np.empty((0,) + tuple(inputs[k].shape), dtype),)
                except ValueError:
                    raise DGRuntimeError(
                        f"gradient of dg.while_loop: loop variable {k} changed shape between "
                        "iterations; gradients need loop variables of one shape") from None
                j += 1
    return out


# ---------------------------------------------------------------- gradients
class _PackedGrad:
    """The gradient of a control-flow op's tuple output: the gradients of its elements that
    flowed back (from the tuple_get nodes), summed as the reverse pass meets them."""

    __slots__ = ("parts",)

    def __init__(self, parts):
        self.parts = parts

    def __add__(self, other):
        parts = dict(self.parts)
        for k, v in other.parts.items():
            parts[k] = v if k not in parts else parts[k] + v
        return _PackedGrad(parts)


def _tuple_get_vjp(g, n):
    return (_PackedGrad({n.attrs["index"]: g}),) + (None,) * (len(n.inputs) - 1)


def _is_float(t):
    return isinstance(t, SymbolicTensor) and t._dtype.kind in "fc"


def _entry_values(xs):
    """The forward op's inputs as its gradient will re-read them: a state's read that a later
    write overwrites (the op's own write to a buffer it reads, a write after it) is copied
    before that write, ordered by the compiler's anti-dependences (a read of the old value runs
    before the assign); eagerly the branch's ops saved the values they read."""
    from ..ops.shape import clone_op
    out = []
    for x in xs:
        if not isinstance(x, SymbolicTensor):
            out.append(x)
            continue
        a = x._alias
        if x.node.op is VARIABLE:
            st = x.node.graph.state_of(x)
            stale = st is not None and st.cur is not x
        else:
            # a view whose memory was written since (t = p.expand(2), then p.mul_(0.5)): a read
            # of it now is made again on the new value (core.fresh); the gradient re-reads the
            # value the op read, as eagerly the branch's ops saved it
            stale = a is not None and a[0].version != a[2]
        if stale:
            # (a node of its own: applying an op to the state's handle reads its value now; it
            # reads the view's value as made, not the Python object, which a read brings up to
            # date: core.owned_alias)
            x = x.node.graph.add_node(clone_op, (x if a is None else owned_alias(x),), {},
                                      Spec(tuple(x.shape), x._dtype), name=x.node.name + "/entry").out
        out.append(x)
    return out


def _value(sub, x):
    """The forward op's input x inside a gradient subgraph: the value the op read (a variable's
    read as it was then), not the state's value now (lift would give a later write's)."""
    if isinstance(x, SymbolicTensor) and x.node.graph is sub.outer:
        return sub._capture(x)
    return sub.lift(x)


def _refuse_random(sub, what):
    if draws_random(sub):
        raise DGNotImplementedError(
            f"gradient through {what} that draws random numbers (dropout, randn ...): its "
            "gradient re-runs the forward, which would draw again; draw outside and pass the "
            "values in")


def _sub_gradients(ys, gys, xs):
    from .gradients import gradients
    from ..ops.creation import zeros_like
    pairs = [(y, gy) for y, gy in zip(ys, gys) if gy is not None and _is_float(y)]
    if not pairs or not xs:
        return [zeros_like(x) for x in xs]
    got = gradients([y for y, _ in pairs], xs, grad_ys=[gy for _, gy in pairs])
    return [zeros_like(x) if gx is None else gx for gx, x in zip(got, xs)]


def _reached_from(branch, outputs):
    """The frame positions a gradient from the given outputs reaches."""
    return frozenset().union(*(branch.uses_by_output[k] for k in outputs if k < len(branch.uses_by_output)))


def _loop_reached(body, n_vars, outputs):
    """The frame positions a gradient from the given loop outputs reaches over any number of
    iterations (a loop variable feeds every output the next iteration computes from it)."""
    live = set(k for k in outputs if k < n_vars)
    while True:
        reach = _reached_from(body, live)
        more = {k for k in reach if k < n_vars} - live
        if not more:
            return reach
        live |= more


def _cond_vjp(g, n):
    branches, caps = n.attrs["branches"], n.inputs[1:]
    parts = g.parts
    want = [i for i, c in enumerate(caps) if n.needs[i + 1] and _is_float(c)
            and any(i in _reached_from(b, parts) for b in branches)]
    if not want:
        return (None,) * len(n.inputs)
    for b in branches:
        _refuse_random(b.graph, "dg.cond")
    seeds = [parts.get(k) for k in range(n.attrs["n_out"])]
    caps = _entry_values(caps)

    def branch_grad(b):
        def fn():
            sub = building()
            vals = [_value(sub, c) for c in caps]
            outs = inline(b.graph, [vals[i] for i in b.index], b.outputs)
            gys = [None if s is None else sub.lift(s) for s in seeds]
            return _sub_gradients(outs, gys, [vals[i] for i in want])
        return fn

    got = cond(n.inputs[0], branch_grad(branches[0]), branch_grad(branches[1]), name="cond_grad")
    out = [None] * len(n.inputs)
    for i, gx in zip(want, got):
        out[i + 1] = gx
    return tuple(out)


def _while_vjp(g, n):
    from ..ops.creation import zeros_like
    a = n.attrs
    body, n_vars, n_caps, stacked, specs = a["body"], a["n_vars"], a["n_caps"], a["stacked"], a["specs"]
    init, caps = n.inputs[:n_vars], n.inputs[n_vars:n_vars + n_caps]
    init, caps = _entry_values(init), _entry_values(caps)
    parts = g.parts
    fv = [k for k in range(n_vars) if _is_float(init[k])]
    stack_pos = _stack_positions(stacked, n_vars)
    stack_outs = {p: k for k, p in stack_pos.items()}
    seeded = set(k for k in parts if k < n_vars) | {stack_outs[p] for p in parts if p in stack_outs}
    reach = _loop_reached(body, n_vars, seeded) | seeded  # (0 iterations: an output is its input)
    fc = [j for j in range(n_caps) if n.needs[n_vars + j] and _is_float(caps[j])
          and n_vars + j in reach]
    if not fv or not (any(k in parts for k in fv) or any(stack_pos.get(k) in parts for k in fv)):
        return (None,) * len(n.inputs)
    _refuse_random(body.graph, "a dg.while_loop body")
    a["keep"].on = True
    packed = n.out
    count = apply(TUPLE_GET, packed, index=n_vars, shape=(), dtype=np.dtype(np.int64))
    stacks = {k: apply(TUPLE_GET, packed, index=p, shape=(None,) + tuple(specs[k][0]),
                       dtype=specs[k][1]) for k, p in stack_pos.items()}
    stack_grads = {k: parts[stack_pos[k]] for k in fv if stack_pos.get(k) in parts}
    g0 = [parts[k] if k in parts else zeros_like(init[k]) for k in fv]
    c0 = [zeros_like(caps[j]) for j in fc]
    nf = len(fv)

    def bcond(t, *rest):
        return t >= 0

    def bbody(t, *rest):
        sub = building()
        glv, gcap = rest[:nf], rest[nf:]
        lv = []
        for k in range(n_vars):
            if stacked[k]:
                v = sub.lift(stacks[k])[t]
            else:
                v = _value(sub, init[k])
                if k in fv:
                    v = v.clone()  # its own gradient, apart from a capture of the same value
            lv.append(v)
        cv = [_value(sub, c) for c in caps]
        frame = lv + cv
        outs = inline(body.graph, [frame[i] for i in body.index], body.outputs)
        got = _sub_gradients([outs[k] for k in fv], list(glv), [lv[k] for k in fv] + [cv[j] for j in fc])
        new_glv = []
        for i, k in enumerate(fv):
            gk = got[i]
            if k in stack_grads:
                gk = gk + sub.lift(stack_grads[k])[t]
            new_glv.append(gk)
        new_gcap = [gc + gx for gc, gx in zip(gcap, got[nf:])]
        return (t - 1, *new_glv, *new_gcap)

    res = while_loop(bcond, bbody, (count - 1, *g0, *c0), name="while_grad")
    out = [None] * len(n.inputs)
    for i, k in enumerate(fv):
        if n.needs[k] and k in reach:
            out[k] = res[1 + i]
    for i, j in enumerate(fc):
        out[n_vars + j] = res[1 + nf + i]
    return tuple(out)


def _cond_input_used(n, k, outputs=None):
    """Whether this run's gradient (from `outputs`, the op's outputs that lead to the root; None:
    all) reaches input k: always for an input both branches use (and for the predicate and
    unused inputs, which take none); else whether the branch using it is the one taken. A branch
    may itself use it only at some runs (a nested dg.cond, a dg.while_loop that may run 0 times):
    then each branch computes that flag as one more result and the op's tuple hands the taken
    branch's on."""
    if k == 0:
        return None
    branches = n.attrs["branches"]
    key = (k - 1, None if outputs is None else frozenset(outputs))
    index = branches[0].reach.get(key)   # (asked again for each gradient target: built once)
    if type(index) is int:
        return apply(TUPLE_GET, n.out, index=index, shape=(), dtype=np.dtype(np.bool_))
    reach = index if index is not None else [_branch_reach(b, k - 1, outputs) for b in branches]
    if all(r is None or r is False for r in reach):
        branches[0].reach[key] = reach
        t, f = (r is None for r in reach)
        if t == f:
            return None if t else False
        pred = n.inputs[0]
        if pred._dtype != np.bool_:
            pred = pred != 0
        return pred if t else apply(OPS["logical_not"], pred)
    for b, r in zip(branches, reach):
        with building_subgraph(b.graph):
            flag = to_literal_tensor(r is None) if r is None or r is False else r.reshape(())
            index = b.add_output(flag)
        b.reach[key] = index
    return apply(TUPLE_GET, n.out, index=index, shape=(), dtype=np.dtype(np.bool_))


def _branch_reach(b, pos, outputs):
    """Whether a gradient from the branch's `outputs` (None: all) reaches frame position pos
    when the branch runs: None always, False never, else a boolean of the branch's graph."""
    from .gradients import reached_at_run
    outs = [o for o in (range(len(b.uses_by_output)) if outputs is None else outputs)
            if o < len(b.uses_by_output) and pos in b.uses_by_output[o]]
    if not outs:
        return False
    sources = [f.node.name for f, i in zip(b.graph.feeds(), b.index) if i == pos]
    flags = []
    with building_subgraph(b.graph):
        for o in outs:
            r = reached_at_run(b.graph, sources, b.outputs[o].node.name)
            if r is None:
                return None
            if r is not False:
                flags.append(r)
        if not flags:
            return False
        flag = flags[0]
        for f in flags[1:]:
            flag = apply(OPS["logical_or"], flag, f)
    return flag


def _while_input_used(n, k, outputs=None):
    """A capture the body uses is reached only if the body ran (a loop variable always is: it
    passes through unchanged when the loop runs no iteration). An input no gradient from
    `outputs` reaches takes none (None: see gradients.reached_at_run)."""
    a = n.attrs
    if k >= a["n_vars"] + a["n_caps"]:
        return None
    live = range(a["n_vars"]) if outputs is None else [
        {p: j for j, p in _stack_positions(a["stacked"], a["n_vars"]).items()}.get(o, o) for o in outputs]
    if k < a["n_vars"] and k in live:
        return None   # (its own result: itself after no iteration)
    depth = _loop_depth(a["body"], a["n_vars"], live, k)
    if depth is None:
        return False
    # another result computed from it, or a capture: after `depth` iterations only (h = f(g),
    # g = f(p): p reaches h from the second iteration on)
    count = apply(TUPLE_GET, n.out, index=a["n_vars"], shape=(), dtype=np.dtype(np.int64))
    enough = count >= depth
    var = dict(a.get("reach", ())).get(k)
    if var is not None:  # (used at some iterations only: whether one did, _reach_flags)
        used = apply(TUPLE_GET, n.out, index=var, shape=(), dtype=np.dtype(np.bool_))
        return used if depth == 1 else apply(OPS["logical_and"], used, enough)
    return enough


def _loop_depth(body, n_vars, live, k):
    """The fewest iterations after which a gradient from the loop outputs `live` reaches frame
    position k (a loop variable or capture), or None when it never does."""
    frontier, seen, depth = set(live), set(live), 0
    while frontier:
        depth += 1
        reach = _reached_from(body, frontier)
        if k in reach:
            return depth
        frontier = {j for j in reach if j < n_vars} - seen
        seen |= frontier
    return None


def _stack_positions(stacked, n_vars):
    """loop variable -> the position of its accumulated iterations in the op's tuple."""
    pos, j = {}, n_vars + 1
    for k, s in enumerate(stacked):
        if s:
            pos[k] = j
            j += 1
    return pos


def _packed_spec(*a, **k):
    return Spec((), np.dtype(object))


COND = defop("cond", _cond_kernel, _packed_spec, _cond_vjp, stateful=True, graph_only=True,
             subgraphs=True, input_used=_cond_input_used, subgraph_reads=_cond_reads,
             element_inputs=_input_reaches,
             doc="runs the compiled subgraph of the taken branch (attribute `branches`); "
                 "a tuple of its outputs")
# stateful: the body may draw random numbers (and must not be merged or folded away)
WHILE_LOOP = defop("while_loop", _while_kernel, _packed_spec, _while_vjp, stateful=True,
                   graph_only=True, subgraphs=True, input_used=_while_input_used,
                   subgraph_reads=_while_reads, element_inputs=_input_reaches,
                   doc="runs the compiled cond/body subgraphs (attributes) until cond is false; a "
                       "tuple of the final loop variables, the iteration count and, once a gradient "
                       "is built, each iteration's loop variables")
TUPLE_GET = defop("tuple_get", lambda packed, *deps, index, shape, dtype: packed[index],
                  lambda packed, *deps, index, shape, dtype: Spec(shape, dtype), _tuple_get_vjp,
                  graph_only=True, saves=(),
                  doc="element `index` of a control-flow op's tuple (later inputs only order it)")
_TUPLE_GET = TUPLE_GET  # (the old private name)
