"""graph.compile(fetches, feeds, optimize): the passes, in order, then a Plan.

    to_networkx -> prune -> [constant_fold -> cse -> simplify -> relu_pool_grad -> prune]
                -> schedule -> Plan
(bracketed passes only with optimize=True; liveness/buffer reuse happen when the plan is first
specialised to concrete feed shapes, also only with optimize=True).

With check=True (or the module flag CHECK, which the compiler tests set) the graph is linted
first (Graph.lint) and the networkx form after every pass (networkx_view.lint_networkx), so a
pass that leaves a broken graph is named at once.
"""
import functools
import time

from ..errors import DGTypeError, DGValueError
from ..utils.tree import flatten, unflatten
from .core import PLACEHOLDER, SymbolicTensor, fresh
from .networkx_view import to_networkx, add_anti_dependences, lint_networkx, lint_order
from .passes import prune, constant_fold, cse, simplify, relu_pool_grad, schedule
from .plan import Plan, Step, is_feed

CHECK = False  # lint the graph, and the networkx form after every pass, in every compile_graph


class _Ctx:
    def __init__(self, roots, protected, optimize):
        self.roots = roots
        self.protected = protected
        self.optimize = optimize
        self.alias = {}  # a fetched node a pass found to equal another node: name -> that name

    def forward(self, old, new):
        """A pass replaced protected node `old` by `new`: fetch `new` in its place."""
        self.alias[old] = new
        self.roots = [new if r == old else r for r in self.roots]
        self.protected.add(new)

    def resolve(self, name):
        while name in self.alias:
            name = self.alias[name]
        return name


def flatten_fetches(fetches, graph):
    """Nested tuple/list/dict/namedtuple of tensors or names -> (flat list of tensors, their
    treedef: `utils.tree.unflatten(treedef, values)` rebuilds the structure). A None is a fetch
    like any other leaf, and refused (TF1's Session.run refuses it too)."""
    leaves, treedef = flatten(fetches, is_leaf=_is_none)
    return [resolve(x, graph, "fetch") for x in leaves], treedef


def _is_none(x):
    return x is None


def resolve(x, graph, what):
    if isinstance(x, str):
        return graph.get_tensor_by_name(x)
    if isinstance(x, SymbolicTensor):
        if x.graph is not graph:
            inner = getattr(x.graph, "encloses", None) is not None and x.graph.encloses(graph)
            raise DGValueError(
                f"Cannot {what} {x.name!r}: it belongs to {x.graph!r}, not to {graph!r} (the graph being run)."
                + (" It was computed inside a dg.while_loop body or dg.cond branch (a `while`, "
                   "`for` or `if` on a tensor, converted by AutoGraph) and left it other than as a "
                   "loop variable or branch output: a Python list appended to inside the loop, "
                   "say, holds the value of the body's trace. Carry it as a loop variable "
                   "(accumulate into a tensor: dg.cat/dg.stack), or append outside the loop."
                   if inner else ""))
        # a view written through its base since: its current value (a fed value is replaced:
        # no checks of what it shows, graph/memories.py)
        return fresh(x, checks=what != "feed")
    raise DGTypeError(
        f"cannot {what} {type(x).__name__} {x!r}: expected a graph tensor or its name")


def _cut(G, f):
    """The node of fed tensor f made a placeholder of its shape and dtype, its inputs cut."""
    G.remove_edges_from(list(G.in_edges(f.name)))
    d = G.nodes[f.name]
    d.update(op=PLACEHOLDER, args=(), attrs={"shape": tuple(f.shape), "dtype": f._dtype})


def _simplify(G, ctx):
    """simplify, then the writes ordered again: a removed identity can leave a node reading a
    variable's memory directly (exp(W * 1) -> exp(W)), which must run before W's next write as
    the copy it read did."""
    stats = simplify(G, ctx)
    add_anti_dependences(G)
    return stats


def compile_graph(graph, fetches, feeds=None, optimize=True, updates=(), check=None,
                  snapshot_fetches=False, cut_at_feeds=False):
    """cut_at_feeds: feeds may be any tensor, not only placeholders; a fed tensor's node becomes
    a placeholder (what computed it is cut away), TF1's feeding of any tensor. dg.function's
    compiled backward is compiled so, fed the forward values it reads."""
    t0 = time.perf_counter()
    check = CHECK if check is None else check
    if check:
        graph.lint()
    flat, treedef = flatten_fetches(fetches, graph)
    upd = [resolve(u.out if hasattr(u, "op") and not isinstance(u, SymbolicTensor) else u, graph, "run") for u in updates]
    G = to_networkx(graph)
    fetch_names = [t.name for t in flat]
    roots = list(dict.fromkeys(fetch_names + [u.name for u in upd]))
    if feeds is not None:
        feed_ts = [resolve(f, graph, "feed") for f in (feeds if isinstance(feeds, (list, tuple)) else [feeds])]
        # each feed is one argument of the plan's generated function: a tensor fed twice would
        # be two arguments of one name (a raw SyntaxError there), and which value wins is unclear
        first = {}
        for i, f in enumerate(feed_ts):
            if f.name in first:
                raise DGValueError(
                    f"{f.name!r} is fed twice (feeds number {first[f.name]} and {i}, counting from "
                    "0; a tensor and its name are one placeholder): feed each placeholder once")
            first[f.name] = i
        for f in feed_ts:
            if not is_feed(f.node.op):
                if not cut_at_feeds:
                    raise DGTypeError(f"{f.name!r} is not a placeholder and cannot be fed")
                _cut(G, f)
    else:
        feed_ts = None
    ctx = _Ctx(roots, set(roots) | {f.name for f in (feed_ts or [])}, optimize)
    stats = {"nodes_in": G.number_of_nodes()}
    if check:
        lint_networkx(G, "to_networkx", ctx.roots)
    passes = [("prune", prune)]
    if optimize:
        passes += [("constant_fold", constant_fold), ("cse", cse), ("simplify", _simplify),
                   ("relu_pool_grad", relu_pool_grad), ("prune_after", prune)]
    stats["pass_ms"], stats["nodes_after"] = {}, {}  # per pass: time, graph size (dg.compare plots them)
    for key, run_pass in passes:
        t = time.perf_counter()
        stats[key] = run_pass(G, ctx)
        stats["pass_ms"][key] = (time.perf_counter() - t) * 1e3
        stats["nodes_after"][key] = G.number_of_nodes()
        if check:
            lint_networkx(G, key, ctx.roots)
    order = schedule(G, ctx)["order"]
    if check:
        lint_order(G, order)
    steps = []
    for n in order:
        d = G.nodes[n]
        steps.append(Step(n, d["op"], d["args"], d["attrs"], d["shape"], d["dtype"]))
    by_name = {s.name: s for s in steps}
    if feed_ts is None:
        feed_steps = [s for s in steps if s.fed]
    else:
        # (a feed no step reads was pruned: fed, and unused)
        feed_steps = [by_name.get(f.name) or Step(f.name, f.node.op if is_feed(f.node.op) else PLACEHOLDER, (),
                                                  f.node.attrs if is_feed(f.node.op) else
                                                  {"shape": tuple(f.shape), "dtype": f._dtype}, f.shape, f._dtype)
                      for f in feed_ts]
        named = {f.name for f in feed_steps}
        # placeholders the fetches need but nobody feeds: a clear error when the plan runs
        feed_steps += [s for s in steps if s.fed and s.name not in named]
    stats["nodes_out"] = len(steps)
    stats["steps"] = sum(1 for s in steps if not s.fed)
    stats["control_flow"] = sum(1 for s in steps if s.op.subgraphs)  # each a unit, its subgraphs compiled
    plan = Plan(steps, feed_steps, [ctx.resolve(n) for n in fetch_names], functools.partial(unflatten, treedef),
                stats, optimize)
    plan.graph = graph
    plan.snapshot_fetches = snapshot_fetches  # (Plan.snapshot_fetches: each fetch as computed)
    plan.specialise_static()
    stats["compile_ms"] = (time.perf_counter() - t0) * 1e3
    return plan

