"""Symbolic gradients: `dg.gradients` (tf.gradients), `loss.backward()` and `dg.autograd.grad`
in graph mode.

All call the very reverse pass eager `backward()` uses (autograd/engine.py) with the same vjp
rules; because a graph is being built, each rule adds backward nodes instead of computing.

The gradient with respect to a piece of state (a dg.Variable, a captured parameter) is the sum
over every value of it the ys read: the variable read and each update's result (a write ends
the history, as the eager tensor after an optimizer step is a leaf again).
"""
import networkx as nx

from ..errors import DGTypeError, DGRuntimeError
from ..autograd.engine import TracedTape, reverse_pass, run_hooks
from ..mode import push
from ..ops.dispatch import apply
from ..ops.registry import OPS, Spec, defop
from ..ops.creation import full_op, full_like_op
from .builder import GraphInterpreter
from .memories import passes_unless_refused, passes_unless_refused_spec
from .core import SymbolicTensor, SOURCE_OPS, STATE_OPS, STATE_VALUE


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _is_eager(x):
    from ..tensor import Tensor
    return isinstance(x, Tensor)


def _ones_like(y):
    if None not in y.shape:
        return apply(full_op, shape=tuple(y.shape), fill_value=1, dtype=y._dtype)
    return apply(full_like_op, y, fill_value=1, dtype=None)


def _on_path(graph, xs, ys):
    """Tensors that depend on some x and feed some y along a gradient path (_gradient_paths: an
    element of a control-flow op's tuple from the inputs it depends on, so a loop's counter takes
    none, as eagerly an int): the ones worth differentiating (with the control-flow op of each
    such element: its vjp hands the elements' gradients on)."""
    G = _gradient_paths(graph)
    down = set()
    for x in xs:
        if x.node.name in G:
            down |= nx.descendants(G, x.node.name) | {x.node.name}
    up = set()
    for y in ys:
        up |= nx.ancestors(G, y.node.name) | {y.node.name}
    on = down & up
    return on | {v[0] for v in on if type(v) is tuple}


def _targets(graph, x):
    """The tensors whose gradients make up d/dx: every value of x's state, or x itself."""
    st = graph.state_of(x)
    if st is None:
        return [x]
    return list(st.leaves)


def gradients(ys, xs, grad_ys=None, name="gradients", tape=None, leaf_hooks=False):
    """d(sum of ys)/d(x) for each x, as symbolic tensors (None where x does not reach ys).
    tape: a TracedTape for a backward() traced by dg.function (eager's freeing, emulated).
    leaf_hooks: run each x's gradient hooks on its gradient (a backward or dg.autograd.grad
    traced by dg.function, as eagerly; not a compiled backward, whose eager caller runs them)."""
    ys = _as_list(ys)
    xs = _as_list(xs)
    graph = next((t.graph for t in ys if isinstance(t, SymbolicTensor)), None)
    for t in ys + [x for x in xs if not (graph is not None and _is_eager(x))]:
        if not isinstance(t, SymbolicTensor):
            raise DGTypeError(
                f"dg.gradients works on graph-mode tensors; got {type(t).__name__}. In eager mode "
                "use loss.backward() or dg.autograd.grad.")
    graph = ys[0].graph
    groups = [_targets(graph, x) for x in xs]
    flat = [t for grp in groups for t in grp]
    names = _on_path(graph, flat, ys)
    interp = GraphInterpreter(graph)
    from .core import name_scope
    with push(interp), name_scope(name):
        if grad_ys is None:
            seeds = [_ones_like(y) for y in ys]
        else:
            seeds = [_ones_like(y) if g is None else interp.lift(g) for y, g in zip(ys, _as_list(grad_ys))]
        got = reverse_pass(ys, seeds, requires=lambda x: x.node.name in names, capture=flat,
                           create_graph=True, tape=tape)
        out, i = [], 0
        for x, grp in zip(xs, groups):
            total = None
            for g in got[i:i + len(grp)]:
                if g is not None:
                    total = g if total is None else total + g
            i += len(grp)
            # a leaf's hooks (p.register_hook: a captured tensor's, or a dg.function argument's,
            # copied onto its placeholder) see its total gradient, as eagerly
            hooks = leaf_hooks and (x._hooks if _is_eager(x) else x.node.hooks if x.node.op in SOURCE_OPS else None)
            if total is not None and hooks:
                total = run_hooks(hooks, total)
            out.append(total)
    return out


# ---------------------------------------------------------------- gradients that exist at some runs only
REACHED = defop("grad_reached", passes_unless_refused, passes_unless_refused_spec,
                lambda gg, n: (gg, None), graph_only=True, saves=(), may_alias=True,
                doc="passes a gradient on; refuses a run where eagerly it would not exist")


def _or(a, b):
    return a if b is None else b if a is None else apply(OPS["logical_or"], a, b)


def _gradient_paths(graph):
    """The edges a gradient can go back along: into differentiable nodes built with grad on,
    and into a control-flow result only from the op's tuple (its later inputs only order it);
    an element of the tuple is a node (op name, index) of its own, reached from the inputs it
    depends on only (Op.element_inputs: a loop result from the variables and captures its body
    computes it from)."""
    G = nx.DiGraph()
    for n in graph.nodes:
        G.add_node(n.name)
        if not n.op.differentiable or n.no_grad:
            continue
        ins = n.inputs
        src = ins[0].node if ins and isinstance(ins[0], SymbolicTensor) else None
        if src is not None and "index" in n.attrs and src.op.subgraphs:
            el = (src.name, n.attrs["index"])
            if el not in G:
                G.add_node(el)
                for k, x in enumerate(src.inputs):
                    if isinstance(x, SymbolicTensor) and src.op.element_inputs(src, k, n.attrs["index"]):
                        G.add_edge(x.node.name, el)
            G.add_edge(el, n.name)
            continue
        if n.op is STATE_VALUE:  # (its gradient goes to the value before the write only)
            ins = ins[1:]
        for x in ins:
            if isinstance(x, SymbolicTensor):
                G.add_edge(x.node.name, n.name)
    return G


def _element_flags(G, n, root, partial, never):
    """reached_at_run's edges into control-flow node n, one element of its tuple at a time (a
    dg.cond input both branches use for one result may be used by one branch only for another):
    partial[(input, element)] = the flag of the runs whose gradient from that element reaches
    the input, in `never` if none does (an input used twice counts if one use always is)."""
    done = set()
    for t in list(n.users):   # (input_used adds users: flags the op's tuple hands on)
        if t.name not in G or "index" not in t.attrs or not t.inputs or getattr(t.inputs[0], "node", None) is not n:
            continue
        i = t.attrs["index"]
        el = (n.name, i)
        if el in done or el not in G or not (t.name == root or nx.has_path(G, t.name, root)):
            continue
        done.add(el)
        always, flags = set(), {}
        for k, x in enumerate(n.inputs):
            if isinstance(x, SymbolicTensor) and G.has_edge(x.node.name, el):
                f = n.op.input_used(n, k, {i})
                u = x.node.name
                if f is None:
                    always.add(u)
                elif f is not False:
                    flags[u] = _or(flags.get(u), f)
                else:
                    flags.setdefault(u, False)
        for u, f in flags.items():
            if u in always:
                continue
            if f is False:
                never.add((u, el))  # no gradient ever goes this way
            else:
                partial[(u, el)] = f


def reached_at_run(graph, sources, root):
    """Whether, at a run, a gradient from `root` reaches one of the nodes `sources` (names):
    None when it always does, False when it never does (only zeros flow); else a graph boolean. Control-flow ops say which inputs a run may
    skip (Op.input_used: a dg.cond branch not taken, a loop body run 0 times); a gradient that
    reaches the sources only through such inputs exists at some runs only (eagerly: .grad stays
    None at the others)."""
    partial, never = {}, set()
    G = None
    for n in graph.nodes:
        if n.op.input_used is None:
            continue
        if G is None:
            G = _gradient_paths(graph)
        _element_flags(G, n, root, partial, never)
    if not partial and not never:
        # (no run skips a way in; with control flow about, the root may still not depend on
        # the sources at all: its elements' edges are exact)
        if G is not None and not any(v == root or (v in G and nx.has_path(G, v, root)) for v in sources):
            return False
        return None
    G.remove_edges_from(never)
    R = G.copy()
    R.remove_edges_from(partial)
    memo = {}

    def reached(v):  # True: always; False: never; else a graph boolean
        if v not in memo:
            memo[v] = True if v == root or nx.has_path(R, v, root) else None
            if memo[v] is None:
                flag = False
                for (u, c), f in partial.items():
                    if (u == v or nx.has_path(R, v, u)) and nx.has_path(G, c, root):
                        r = reached(c)
                        if r is True:
                            term = f
                        elif r is False:
                            continue
                        else:
                            term = apply(OPS["logical_and"], f, r)
                        flag = term if flag is False else _or(flag, term)
                memo[v] = flag
        return memo[v]

    out = False
    for v in sources:
        r = reached(v)
        if r is True:
            return None
        if r is not False:
            out = r if out is False else _or(out, r)
    return out  # False: never (eagerly the .grad stays None)


def _describe(graph, t):
    """'model.0.weight' (shape [2, 2]) when dg.function named the state, else its shape."""
    shape = list(t.shape)
    st = graph.state_of(t)
    names = getattr(graph.trace, "names", None) if graph.trace is not None else None
    name = names.get(id(st.ref)) if st is not None and names else None
    return f"{name!r} (shape {shape})" if name else f"the tensor of shape {shape}"


def _guard_reached(graph, t, g, root, what):
    if not any(n.op.input_used is not None for n in graph.nodes):
        return g  # (no control flow: every gradient that exists exists at every run)
    flag = reached_at_run(graph, [x.node.name for x in _targets(graph, t)], root)
    if flag is None:
        return g
    if flag is False:
        return None  # only zeros flow: eagerly no gradient reaches it
    return apply(REACHED, g, flag, message=(
        f"{what}: {_describe(graph, t)} has no gradient at this call: the dg.cond branch "
        "taken does not use it, or the dg.while_loop body that uses it ran 0 times. Eagerly its "
        ".grad would stay None, which a compiled step cannot mirror (it would hold zeros). Use the "
        "tensor on every path (e.g. add 0 * t.sum()), or make sure the loop runs."))


def _rg_leaf(n):
    """A value requiring grad that no gradient goes back from: a source, or a value made to
    require grad (requires_grad_()) from inputs that do not."""
    o = n.out
    return o._rg and (o.grad_fn is None or not any(isinstance(x, SymbolicTensor) and x._rg for x in n.inputs))


def _guard_loss_reached(graph, leaves, grads, root):
    """loss.backward() whose loss has a history at some runs only (a dg.cond branch computing it
    from nothing that requires grad): eagerly such a run raises, .grad kept or not, so the
    compiled run is refused too rather than adding zeros."""
    if not any(n.op.input_used is not None for n in graph.nodes):
        return grads
    flag = reached_at_run(graph, sorted(leaves), root)
    if flag is None:
        return grads
    if flag is False:
        raise DGRuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    return [g if g is None else apply(REACHED, g, flag, message=(
        "element 0 of tensors does not require grad and does not have a grad_fn at this call: "
        "the dg.cond branch taken computes the loss from no tensor that requires grad (or the "
        "dg.while_loop body that does ran 0 times), so eagerly backward() raises here"))
        for g in grads]


def _traced_tape(graph, retain_graph, create_graph):
    """While dg.function traces eager code, backward() and autograd.grad free what they went
    through (unless retain_graph, default create_graph), as eagerly: a TracedTape."""
    if graph.trace is None:
        return None
    return TracedTape(graph.freed_by_backward, create_graph if retain_graph is None else retain_graph)


def graph_backward(loss, gradient=None, inputs=None, retain_graph=None, create_graph=False):
    """loss.backward() while building: accumulate symbolic grads into the .grad of trainable
    state (variables, captured parameters) and of tensors with requires_grad, so code written
    for eager mode also builds a training graph. Traced by dg.function, it frees what it went
    through as eagerly (unless retain_graph, which defaults to create_graph): a second backward
    through it raises at trace time, PyTorch's error."""
    graph = loss.graph
    if gradient is None and any(d is not None and d != 1 for d in loss.shape):
        # (a known size other than 1: not one element, whatever the unknown sizes are)
        raise DGRuntimeError("grad can be implicitly created only for scalar outputs")
    if inputs is not None:
        targets = _as_list(inputs)
    else:
        if not loss._rg:
            raise DGRuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        G = graph.to_networkx(control=False)
        anc = nx.ancestors(G, loss.node.name)
        targets, seen = [], set()
        for name in sorted(anc, key=lambda n: graph._by_name[n].seq):
            t = graph._by_name[name].out
            n = t.node
            if not t._rg or not (n.op in SOURCE_OPS or n.op in STATE_OPS) or t.grad_fn is not None:
                continue
            st = graph.state_of(t)
            if st is not None:
                if id(st) in seen:
                    continue
                seen.add(id(st))
                t = st.trained if st.trained is not None else st.ref
            targets.append(t)
    if not targets:
        raise DGRuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    grads = gradients([loss], targets, None if gradient is None else [gradient],
                      tape=_traced_tape(graph, retain_graph, create_graph), leaf_hooks=True)
    with push(GraphInterpreter(graph)):
        if inputs is None:
            # (the leaves that require grad: the targets, and values made leaves in the trace,
            # x.detach().requires_grad_(), whose .grad backward() does not write here)
            leaves = {x.node.name for t in targets for x in _targets(graph, t)}
            leaves |= {n for n in anc if _rg_leaf(graph._by_name[n])}
            grads = _guard_loss_reached(graph, leaves, grads, loss.node.name)
        for t, g in zip(targets, grads):
            if g is None:
                continue
            old = graph.grad_of(t) if _is_eager(t) else t._sym_grad()
            if old is None:
                # (with a .grad to add to, a call that reaches no gradient adds zeros: eagerly
                # the .grad keeps its sum, the same numbers; without one it would stay None)
                g = _guard_reached(graph, t, g, loss.node.name, "backward()")
                if g is None:
                    continue
            if _is_eager(t):
                graph.set_grad_of(t, g if old is None else old + g)
            else:
                t._set_sym_grad(g if old is None else old + g)


def autograd_grad(outputs, inputs, grad_outputs=None, allow_unused=False, materialize_grads=False,
                  retain_graph=None, create_graph=False):
    """dg.autograd.grad while building: the gradients as symbolic tensors, .grad untouched."""
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    for o in outputs:
        if not o._rg:
            raise DGRuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    graph = outputs[0].graph
    got = gradients(outputs, inputs, grad_outputs,
                    tape=_traced_tape(graph, retain_graph, create_graph), leaf_hooks=True)
    if len(outputs) == 1:
        with push(GraphInterpreter(graph)):
            got = [g if g is None else _guard_reached(graph, t, g, outputs[0].node.name, "dg.autograd.grad")
                   for t, g in zip(inputs, got)]
    out = []
    for i, (t, g) in enumerate(zip(inputs, got)):
        if g is None:
            if materialize_grads:
                from ..ops.creation import zeros_like
                g = zeros_like(t)
            elif not allow_unused:
                raise DGRuntimeError(
                    f"The differentiated Tensor at index {i} appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior.")
        out.append(g)
    return tuple(out)
