"""What differs between two graphs: `dg.export.diff(a, b)`.

`a` and `b` are dg.Graphs (or what becomes one: an eager tensor, whose tape is taken with
`tape_graph`; a dg.function, whose latest trace is taken). Only the top-level nodes are compared
(a `cond` / `while_loop` is one node; its subgraphs are not opened).

Matching, the rule: a node of `a` and a node of `b` are the same node when
1. (names, unless match="order") they have the same name; then
2. (order) among the nodes still unmatched, taken in creation order on both sides, the longest
   common subsequence of their op names pairs nodes of equal op (difflib's alignment); in a stretch
   where the two sequences disagree ("replace"), a node of `a` is paired with the first unpaired
   node of `b` in the stretch whose inputs are the matches of its inputs (the same place in the
   graph, another op: an op change, e.g. the branch a data-dependent `if` took).
With `same_sources=True` the source ops (placeholder, variable, constant) count as one op, so an
eager tape (placeholders, constants) lines up with a traced graph (arguments, captured
variables) and their kinds are not reported as changes.

Then: a node of `a` without a match is removed, one of `b` is added; a matched pair whose op,
static shape or dtype differ is changed; an edge is (producer, consumer, argument position), and
an edge of `b` whose ends are matched nodes joined at that position in `a` is the same edge, any
other is added (and those of `a` not met are removed). A `Diff` is false when nothing differs
(matched nodes may have different names: `matches` lists every pair).
"""
import difflib
from collections import namedtuple

from .errors import ExportError

Change = namedtuple("Change", "name what old new")
Edge = namedtuple("Edge", "src dst slot")


def _fmt_shape(s):
    return "(" + ", ".join("?" if d is None else str(d) for d in s) + ("," if len(s) == 1 else "") + ")"


class Diff:
    """The result of diff(a, b): names are a's for removed nodes, removed edges and changes (b's
    name is added in a change's `name` as "a_name -> b_name" when they differ), b's for added
    nodes and edges."""

    def __init__(self, added_nodes, removed_nodes, changed, added_edges, removed_edges, matches,
                 a, b):
        self.added_nodes = added_nodes
        self.removed_nodes = removed_nodes
        self.changed = changed
        self.added_edges = added_edges
        self.removed_edges = removed_edges
        self.matches = matches      # [(a's name, b's name)] of every matched pair
        self.a, self.b = a, b

    def __bool__(self):
        return bool(self.added_nodes or self.removed_nodes or self.changed or self.added_edges
                    or self.removed_edges)

    def __repr__(self):
        return (f"<Diff +{len(self.added_nodes)} -{len(self.removed_nodes)} nodes, "
                f"~{len(self.changed)} changed, +{len(self.added_edges)} -{len(self.removed_edges)} edges>")

    def __str__(self):
        na, nb = len(self.a.nodes), len(self.b.nodes)
        if not self:
            return f"graphs match: {na} nodes, each matched ({sum(x != y for x, y in self.matches)} renamed)"
        lines = [f"graphs differ ({na} nodes -> {nb}): {len(self.added_nodes)} nodes added, "
                 f"{len(self.removed_nodes)} removed, {len(self.changed)} changed; "
                 f"{len(self.added_edges)} edges added, {len(self.removed_edges)} removed"]
        ops_a = {n.name: n for n in self.a.nodes}
        ops_b = {n.name: n for n in self.b.nodes}
        for name in self.removed_nodes:
            n = ops_a[name]
            lines.append(f"- node {name} ({n.op.name}) {_fmt_shape(n.out.shape)} {n.out._dtype}")
        for name in self.added_nodes:
            n = ops_b[name]
            lines.append(f"+ node {name} ({n.op.name}) {_fmt_shape(n.out.shape)} {n.out._dtype}")
        for c in self.changed:
            old, new = (_fmt_shape(c.old), _fmt_shape(c.new)) if c.what == "shape" else (c.old, c.new)
            lines.append(f"~ {c.name}: {c.what} {old} -> {new}")
        for e in self.removed_edges:
            lines.append(f"- edge {e.src} -> {e.dst} [{e.slot}]")
        for e in self.added_edges:
            lines.append(f"+ edge {e.src} -> {e.dst} [{e.slot}]")
        return "\n".join(lines)


def _as_graph(x, which):
    from ..graph.core import Graph
    from ..tensor import Tensor
    if isinstance(x, Graph):
        return x
    if isinstance(x, Tensor):
        from .tape import tape_graph
        return tape_graph(x)
    traces = getattr(x, "_traces", None)
    if traces:
        return traces[-1].graph
    raise ExportError(f"diff: {which} must be a dg.Graph, an eager tensor (its tape) or a dg.function "
                      f"that has run, got {type(x).__name__}")


def _inputs(n):
    from ..graph.core import SymbolicTensor
    return [(i, x.node) for i, x in enumerate(n.inputs) if isinstance(x, SymbolicTensor)]


def diff(a, b, match="auto", same_sources=False):
    """What differs from graph `a` to graph `b` (see the module docstring for the rule):
    a `Diff` with added_nodes, removed_nodes, changed (Change(name, what, old, new), what is "op",
    "shape" or "dtype"), added_edges, removed_edges (Edge(src, dst, slot)), matches; str() is a
    report, bool() is false when they are equal. match: "auto" (names, then order) or "order"."""
    if match not in ("auto", "order"):
        raise ExportError(f"diff: match must be 'auto' or 'order', got {match!r}")
    ga, gb = _as_graph(a, "a"), _as_graph(b, "b")

    def kind(n):
        return "<source>" if same_sources and n.op.source else n.op.name

    fwd, back = {}, {}  # a node -> b node, b node -> a node
    if match == "auto":
        by_name = {n.name: n for n in gb.nodes}
        for n in ga.nodes:
            m = by_name.get(n.name)
            if m is not None:
                fwd[n], back[m] = m, n
    ra = [n for n in ga.nodes if n not in fwd]
    rb = [n for n in gb.nodes if n not in back]
    sm = difflib.SequenceMatcher(None, [kind(n) for n in ra], [kind(n) for n in rb], autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            for x, y in zip(ra[i1:i2], rb[j1:j2]):
                fwd[x], back[y] = y, x
        elif tag == "replace":
            free = list(rb[j1:j2])
            for x in ra[i1:i2]:
                want = [(i, fwd.get(p)) for i, p in _inputs(x)]
                if any(p is None for _, p in want):
                    continue
                for y in free:
                    if _inputs(y) == want:
                        fwd[x], back[y] = y, x
                        free.remove(y)
                        break

    changed = []
    for x in ga.nodes:
        y = fwd.get(x)
        if y is None:
            continue
        name = x.name if x.name == y.name else f"{x.name} -> {y.name}"
        if kind(x) != kind(y):
            changed.append(Change(name, "op", x.op.name, y.op.name))
        if tuple(x.out.shape) != tuple(y.out.shape):
            changed.append(Change(name, "shape", tuple(x.out.shape), tuple(y.out.shape)))
        if x.out._dtype != y.out._dtype:
            changed.append(Change(name, "dtype", str(x.out._dtype), str(y.out._dtype)))

    edges_b = {(p, y, i) for y in gb.nodes for i, p in _inputs(y)}
    seen, removed = set(), []
    for x in ga.nodes:
        for i, p in _inputs(x):
            e = (fwd.get(p), fwd.get(x), i)
            if e in edges_b:
                seen.add(e)
            else:
                removed.append(Edge(p.name, x.name, i))
    added = [Edge(p.name, y.name, i) for y in gb.nodes for i, p in _inputs(y) if (p, y, i) not in seen]
    return Diff(added_nodes=[n.name for n in gb.nodes if n not in back],
                removed_nodes=[n.name for n in ga.nodes if n not in fwd],
                changed=changed, added_edges=added, removed_edges=removed,
                matches=[(x.name, fwd[x].name) for x in ga.nodes if x in fwd], a=ga, b=gb)
