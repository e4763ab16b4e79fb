"""The reverse pass, shared by eager `backward()` and graph-mode `dg.gradients`.

`reverse_pass` is the core: it walks from the roots through `tensor.grad_fn` / `node.inputs`,
visits nodes in reverse creation order (a node's inputs always exist before it, so descending
`seq` is a valid reverse topological order: no sort of the graph is needed), pops each node's
gradient, calls its op's vjp rule and sums the gradients that meet. Because the rules are written
with dualgraph ops, the same loop computes numbers in eager mode and adds backward nodes when a
graph is being built.

A rule sees its node only through a `RuleView` (inputs, out, attrs, needs), the same kind of
object for an eager tape node and a graph node. What only the eager tape has (saved values to
check and free, in-place history, retained grads, leaves' .grad) is the `EagerTape` policy; graph
gradients use the null policy `NULL_TAPE` (hooks only, which both node kinds carry).
"""
import operator

from ..errors import DGRuntimeError
from ..state import _state
from ..tensor_methods import TensorMethods
from . import views
from .tape import FREED, check_write_counts, node_reads, version_error


class RuleView:
    """What a vjp rule sees of its node (TensorFlow's _MockOp): `inputs`, `out`, `attrs`, and
    `needs` (needs[i]: whether input i's gradient is wanted; the rule may return None for the
    others). One per reverse pass, pointed at each node just before its rule runs: a rule must
    not keep it."""

    __slots__ = ("inputs", "attrs", "needs", "_node", "release")

    @property
    def out(self):
        return self._node.out  # an eager node's output may be a Spec (shape, dtype) only


def _key(t):
    return t.grad_fn if t.grad_fn is not None else t


def requires_grad(x):
    """The eager `requires` of reverse_pass: whether tensor x wants a gradient."""
    return x._rg


_by_seq = operator.attrgetter("seq")


def _collect(roots, requires, source, eager=False):
    """Every node reachable from the roots, in reverse creation order, and for each node n
    srcs[n] = (keys, needs, routes): where each input's gradient goes (the key: a node, or the
    leaf tensor itself; None for a non-tensor input), which inputs want one, and None or, per
    input, the route of NullTape.source (a stale view's gradient goes to its base).
    `eager`: the inputs are eager tensors; those whose history was never rewritten (the common
    case) are resolved here without asking `source`."""
    srcs = {}
    stack = [r.grad_fn for r in roots if r.grad_fn is not None]
    push = stack.append
    plain_rg = requires is requires_grad
    while stack:
        n = stack.pop()
        if n in srcs:
            continue
        seq = n.seq
        keys, nd = [], []
        routes = None
        for x in n.inputs:
            if isinstance(x, TensorMethods):
                if eager and x._history is None and (x._base is None or x._base._history is None):
                    f = x.grad_fn
                    if f is None:
                        k = x
                    else:
                        k = f
                        if f not in srcs:
                            push(f)
                    rg = x._rg if plain_rg else requires(x)
                else:
                    k, rg, route = source(x, seq, requires)
                    if not isinstance(k, TensorMethods) and k not in srcs:  # (a node to visit)
                        push(k)
                    if route is not None:
                        if routes is None:
                            routes = [None] * len(n.inputs)
                        routes[len(keys)] = route
                keys.append(k)
                nd.append(rg)
            else:
                keys.append(None)
                nd.append(False)
        srcs[n] = (keys, tuple(nd), routes)
    return sorted(srcs, key=_by_seq, reverse=True), srcs


def _needed(order, srcs, want):
    """The nodes worth running when only the gradients of `want` are asked for: those with a
    wanted tensor somewhere below them (PyTorch's autograd.grad runs no others)."""
    needed = set()
    for n in reversed(order):  # inputs' nodes come before their consumers
        for k in srcs[n][0]:
            if k is not None and (k in want or k in needed):
                needed.add(n)
                break
    return needed


def reverse_pass(roots, seeds, *, requires, capture=(), create_graph=False, tape=None):
    """Propagate `seeds` (one gradient per root) back through the graph.

    requires(x) -> bool: whether input x wants a gradient (eager: x.requires_grad; graph mode:
        x lies on a path to the tensors asked for).
    capture: tensors whose total gradient is returned (autograd.grad / dg.gradients). Unless
        the tape fills every leaf's .grad (backward()), only the nodes leading to them run (the
        others keep their saved values for a later backward).
    create_graph: record the backward's own ops (a graph being built always does).
    tape: the eager bookkeeping around the core (EagerTape); None: NULL_TAPE.
    Returns the list of captured gradients (None where nothing flowed).
    """
    tape = NULL_TAPE if tape is None else tape
    grads = {}
    for r, s in zip(roots, seeds):
        k = _key(r)
        grads[k] = s if k not in grads else grads[k] + s
    want = {}
    for i, t in enumerate(capture):
        want.setdefault(_key(t), []).append(i)
    captured = [None] * len(capture)
    eager = tape.eager
    order, srcs = _collect(roots, requires, tape.source, eager)
    needed = _needed(order, srcs, want) if want and not tape.fills_leaves else None
    view = RuleView()
    prev = _state.grad_enabled
    _state.grad_enabled = create_graph
    # (bound once: this loop runs for every node of every backward; the eager tape's per-node
    # checks, before the rule (freed, versions) and after it (Node.release), are spelt out here)
    before, ready, route, pop, get = tape.before, tape.ready, tape.route, grads.pop, grads.get
    release = eager and not tape.retain_graph
    view.release = release  # (a custom Function's rule frees its ctx's saved values after it)
    try:
        for node in order:
            g = pop(node, None)
            if g is None:
                continue
            if node.hooks or (eager and node.retained is not None):
                g = before(node, g)
            if want and node in want:
                for i in want[node]:
                    captured[i] = g
            op = node.op
            if (needed is not None and node not in needed) or not op.differentiable:
                continue  # (graph mode: e.g. a random mask, a stop_gradient)
            keys, needs, routes = srcs[node]
            if eager:  # tape.check_versions, with what the rule reads asked once
                if node.freed:
                    raise DGRuntimeError(FREED)
                vs = node.versions
                s = op.saves
                if (vs is not None or release) and s is not None and type(s) is not tuple:
                    s = s(node.inputs, needs)  # (the inputs the gradients wanted now read)
                if vs is not None:
                    _check_reads(node, vs, s)
                if node.out_version is not None:
                    out = node.out
                    if out._version != node.out_version:
                        version_error(out, node.out_version, node)
            else:
                ready(node, needs)
            view.inputs, view.attrs, view.needs, view._node = node.inputs, node.attrs, needs, node
            gin = op.vjp(g, view)
            if not eager and tape.frees:
                tape.after(node, needs)
            # free what the rule read (Node.release; s: None = every input)
            if release and (s is None or s or op.saves_output):
                node.freed = True
                node._out = None
            if routes is None:
                for k, gx, need in zip(keys, gin, needs):
                    if gx is None or not need:
                        continue
                    old = get(k)
                    grads[k] = gx if old is None else old + gx
            else:
                for k, r, gx, need in zip(keys, routes, gin, needs):
                    if gx is None or not need:
                        continue
                    if r is not None:
                        gx = route(r, gx)
                    old = get(k)
                    grads[k] = gx if old is None else old + gx
        for k, g in grads.items():  # whatever is left is keyed by leaf tensors
            if isinstance(k, TensorMethods):
                g = tape.leaf(k, g)
                if k in want:
                    for i in want[k]:
                        captured[i] = g
    finally:
        _state.grad_enabled = prev
    return captured


def _check_reads(node, vs, reads):
    """check_versions' input half: `reads` is None (every input) or the indices of the inputs
    the rule reads, `vs` the versions the node recorded (None where it recorded none)."""
    ins = node.inputs
    if reads is None or type(node.op.saves) is tuple:
        for x, v in zip(ins, vs):
            if v is not None and x._version != v:
                version_error(x, v)
    else:
        for i in reads:
            v = vs[i]
            if v is not None and ins[i]._version != v:
                version_error(ins[i], v)


def run_hooks(hooks, g):
    for h in list(hooks.values()):
        r = h(g)
        if r is not None:
            g = r
    return g


class NullTape:
    """The policy of graph gradients: nothing around the core but the user's gradient hooks
    (register_hook works on symbolic tensors: graph nodes carry `hooks` too). A graph keeps its
    nodes (nothing to free), orders every read before the write that replaces it (nothing to
    version-check) and rebinds on a write (no in-place history); its .grad is set by the caller."""

    __slots__ = ()
    fills_leaves = False
    eager = False  # EagerTape: the reverse pass spells out its per-node checks (ready, after)
    frees = False  # TracedTape: a graph node's rule ran, after(node, needs) is told

    def source(self, x, seq, requires):
        """Where input x of the node made at `seq` sends its gradient: (key, wanted, route).
        key is x's grad_fn (x itself for a leaf); route is None or a tensor whose gradient must
        first go through `route` (EagerTape: a stale view's, scattered into its base)."""
        f = x.grad_fn
        return (x if f is None else f), requires(x), None

    def before(self, node, g):
        """The node's output gradient as its hooks leave it (before it is captured or used)."""
        return run_hooks(node.hooks, g) if node.hooks else g

    def ready(self, node, needs):
        """Raise if the node's rule may not run now (computing the gradients `needs` asks for):
        in a graph, only a node dg.function recorded write counts for (tape.check_write_counts)."""
        if getattr(node, "versions", None) is not None:
            check_write_counts(node, needs)

    def route(self, src, g):
        return g

    def leaf(self, t, g):
        """The total gradient of leaf t has arrived; returns it as t's hooks leave it."""
        return run_hooks(t._hooks, g) if t._hooks else g


NULL_TAPE = NullTape()


def _frees(node, needs):
    """Whether running the node's rule frees what it saved, as eagerly (Node.release): it read
    some input or its output."""
    op = node.op
    s = op.saves
    if s is not None and type(s) is not tuple:
        s = s(node.inputs, needs)
    return s is None or bool(s) or op.saves_output


class TracedTape(NullTape):
    """The graph gradients of a backward() traced by dg.function: eager code's backward frees
    what each rule read unless retain_graph, and a second backward through it raises. The
    trace does the same at trace time (nodes a backward freed live in `freed`, one set per
    graph), so code that fails eagerly is refused instead of compiling to doubled gradients."""

    __slots__ = ("freed", "retain_graph")
    frees = True

    def __init__(self, freed, retain_graph):
        self.freed = freed
        self.retain_graph = retain_graph

    def ready(self, node, needs):
        if node in self.freed:
            raise DGRuntimeError(FREED)
        over = node.graph.overwritten
        # a value this rule (or, for control flow, a rule in its subgraphs) reads was replaced in
        # place after the node was built
        if over:
            for i in node_reads(node, needs):
                x = node.inputs[i]
                by = over.get(getattr(x, "node", None))
                if by is not None and node not in by:
                    version_error(x, 0, None, 1)
            if node.op.saves_output and node in over:  # (its own output, replaced since)
                version_error(node.out, 0, node, 1)
        super().ready(node, needs)

    def after(self, node, needs):
        if not self.retain_graph and _frees(node, needs):
            self.freed.add(node)


class EagerTape(NullTape):
    """Eager backward() / autograd.grad: the tape's bookkeeping around the core.

    retain_graph: keep the saved values (else each node frees what its rule read).
    create_graph: whether the backward is being recorded (retained grads keep their history).
    accumulate(leaf, g): called for every leaf reached (backward() fills .grad with it).

    Its per-node checks are spelt out in reverse_pass (they run for every node): before a rule
    runs, a node already freed raises (FREED) and check_versions refuses a value modified in
    place since; after it, unless retain_graph, the node frees what its rule read (Node.release).
    `source` is asked only about an input whose history (or its base's) was rewritten."""

    __slots__ = ("retain_graph", "create_graph", "accumulate", "fills_leaves", "hooked")
    eager = True

    def __init__(self, retain_graph=False, create_graph=False, accumulate=None):
        self.retain_graph = retain_graph
        self.create_graph = create_graph
        self.accumulate = accumulate
        self.fills_leaves = accumulate is not None
        self.hooked = False  # a node's hook ran (it may hand on a tensor the user keeps)

    def source(self, x, seq, requires):
        # the key is x's history *as it was when that node was made*: an in-place op later gives
        # x a new one (logged in x._history, None on most tensors: views.history_at)
        if x._history is None:
            b = x._base
            if b is None or b._history is None:
                f = x.grad_fn
                return (x if f is None else f), requires(x), None
        return views.history_at(x, seq)

    def before(self, node, g):
        if node.hooks:
            self.hooked = True
            g = run_hooks(node.hooks, g)
        if node.retained is not None:
            t = node.retained()
            if t is not None:  # accumulates across backward calls, as a leaf's .grad
                if t._grad is None:
                    t._grad = g if self.create_graph else g.detach().clone()
                else:
                    t._grad = t._grad + g
        return g

    def route(self, src, g):
        return views.grad_to_base(src, g)

    def leaf(self, t, g):
        if t._hooks:
            g = run_hooks(t._hooks, g)
        if self.accumulate is not None:
            self.accumulate(t, g)
        return g
