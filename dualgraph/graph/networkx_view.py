"""A Graph as a networkx DiGraph: the form every compiler pass reads and rewrites.

Node key: the node's unique name. Node data: op, args (each ("node", name) or ("lit", value)),
attrs, shape, dtype, seq (creation order). Edges run from producer to consumer; an edge with control=True orders an
assign after the reads of the value it overwrites. `lint_networkx` checks what every pass must
keep true of this form (compile_graph(..., check=True) runs it after each pass).
"""
import networkx as nx
import numpy as np

from ..errors import DGRuntimeError
from ..ops.registry import OPS
from ..tensor_methods import TensorMethods
from .core import SymbolicTensor, ASSIGN, VARIABLE
from .liveness import aliases_input

_NODE_KEYS = ("op", "args", "attrs", "shape", "dtype", "seq")


def to_networkx(graph, control=True):
    G = nx.DiGraph(name=graph.name or "graph")
    for n in graph.nodes:
        args = tuple(("node", x.node.name) if isinstance(x, SymbolicTensor) else ("lit", x)
                     for x in n.inputs)
        G.add_node(n.name, op=n.op, args=args, attrs=n.attrs, shape=tuple(n.out.shape),
                   dtype=n.out._dtype, seq=n.seq)
        for kind, src in args:
            if kind == "node":
                G.add_edge(src, n.name)
    for n in graph.nodes:  # a read after a write: ordered after it, not forcing it to run
        after = n.attrs.get("after") if n.op is VARIABLE else None
        if after is not None and not G.has_edge(after.name, n.name):
            G.add_edge(after.name, n.name, control=True)
    if control:
        add_anti_dependences(G)
        order_random_draws(G)
        order_refusals_first(G)
    return G


def add_anti_dependences(G):
    """An assign overwrites its variable's storage in place, so it must run after every other
    reader of the value it replaces, and after the readers of views of that value (sequential
    semantics, as in the Python program). Adds what is missing, so it runs again after a pass
    that may make a node read a variable's memory directly (simplify: W * 1 -> W)."""
    for name, d in list(G.nodes(data=True)):
        if d["op"] is not ASSIGN:
            continue
        later = None
        for reader in _old_value_readers(G, name):
            if later is None:
                later = nx.descendants(G, name)
            if reader not in later and not G.has_edge(reader, name):
                G.add_edge(reader, name, control=True)


def _old_value_readers(G, name):
    """The nodes reading the value that assign `name` overwrites (its first argument), directly
    or through views of it."""
    cur = G.nodes[name]["args"][0][1]
    stack, seen = [cur], {cur}
    while stack:
        v = stack.pop()
        for reader in list(G.successors(v)):
            if reader == name or reader in seen:
                continue
            seen.add(reader)
            rop = G.nodes[reader]["op"]
            if rop is not ASSIGN and aliases_input(rop) and G.nodes[reader]["args"] \
                    and G.nodes[reader]["args"][0] == ("node", v):
                stack.append(reader)  # a view of the old value: its readers read it too
            yield reader


# ops that refuse a run: grad_reached (eagerly this .grad would not exist at this call),
# alias_check (eagerly this value is another tensor written in place: graph/memories.py)
_REFUSAL_CHECKS = ("grad_reached", "alias_check")


def order_refusals_first(G):
    """A run that refuses (grad_reached, alias_check: see _REFUSAL_CHECKS) must
    leave the state as it found it: each such check runs before every write it does not itself
    depend on (an optimizer's update of another parameter), so a refused step changes nothing
    the check could have protected. (Also before the step computing each written value: a plan
    may have it write straight into the state's memory.)"""
    checks = [n for n, d in G.nodes(data=True) if d["op"].name in _REFUSAL_CHECKS]
    if not checks:
        return
    writes = []
    for n, d in G.nodes(data=True):
        if d["op"] is ASSIGN:
            kind, value = d["args"][1]
            writes += [value, n] if kind == "node" else [n]
    for c in checks:
        before = nx.ancestors(G, c)   # (after the edges added for the checks before it)
        for w in writes:
            if w != c and w not in before and not G.has_edge(c, w):
                G.add_edge(c, w, control=True)


def order_random_draws(G):
    """Random ops draw from one generator: keep their program order, so a plan draws the same
    numbers as the eager code (dropout masks equal call after call)."""
    draws = sorted((n for n, d in G.nodes(data=True) if d["op"].random), key=lambda n: G.nodes[n]["seq"])
    for a, b in zip(draws, draws[1:]):
        if not G.has_edge(a, b) and not nx.has_path(G, b, a):
            G.add_edge(a, b, control=True)


def replace_uses(G, old, new):
    """Point every consumer of `old` at `new` (keeping argument positions). An edge new -> succ
    is a data edge when succ now reads new, else a control edge (old's ordering, kept)."""
    for succ in list(G.successors(old)):
        d = G.nodes[succ]
        d["args"] = tuple(("node", new) if (k == "node" and a == old) else (k, a) for k, a in d["args"])
        G.remove_edge(old, succ)
        if succ == new:
            continue
        if ("node", new) in d["args"]:
            if G.has_edge(new, succ):
                G.edges[new, succ].pop("control", None)  # (was a control edge only)
            else:
                G.add_edge(new, succ)
        elif not G.has_edge(new, succ):
            G.add_edge(new, succ, control=True)


# ---------------------------------------------------------------- the compiler's check
def lint_networkx(G, where="to_networkx", roots=(), pruned=None):
    """Check what every pass must leave true of the networkx form (Graph.lint's counterpart;
    compile_graph(..., check=True) runs it after each pass). Each node has op (the record
    registered in OPS under its name), args (each ("node", name) or ("lit", value)), attrs (a
    dict), shape (a tuple of ints or None), dtype (a numpy dtype) and seq (an int); an argument
    ("node", a) names a node of G with a data edge a -> reader, and every data edge is such an
    argument (control edges only order); a literal is no tensor; a source node takes no
    argument; G is a DAG; every root (fetch, update) is in G; after a prune (pruned, by default
    when `where` names one) every node is an ancestor of a root through data edges. Raises
    DGRuntimeError naming the pass and the node."""
    def bad(n, msg):
        op = G.nodes[n].get("op") if n in G else None
        what = f"node {n!r}" + (f" ({op.name})" if hasattr(op, "name") else "")
        raise DGRuntimeError(f"compiler check after {where}: {what}: {msg}")

    for n, d in G.nodes(data=True):
        missing = [k for k in _NODE_KEYS if k not in d]
        if missing:
            bad(n, f"its data lacks {missing}")
        op = d["op"]
        name = getattr(op, "name", None)
        if OPS.get(name) is not op:
            bad(n, f"op {op!r} is not a registered record (OPS[{name!r}])")
        args = d["args"]
        if not isinstance(args, tuple):
            bad(n, f"args is a {type(args).__name__}, not a tuple")
        for i, arg in enumerate(args):
            if not (isinstance(arg, tuple) and len(arg) == 2 and arg[0] in ("node", "lit")):
                bad(n, f"argument {i} is {arg!r}, not ('node', name) or ('lit', value)")
            kind, a = arg
            if kind == "node":
                if a not in G:
                    bad(n, f"argument {i} reads {a!r}, which is not a node of the graph")
                e = G.get_edge_data(a, n)
                if e is None:
                    bad(n, f"argument {i} reads {a!r} but there is no edge {a!r} -> {n!r}")
                if e.get("control", False):
                    bad(n, f"argument {i} reads {a!r} through a control edge (a prune would drop {a!r})")
            elif isinstance(a, (TensorMethods, np.ndarray)):
                bad(n, f"argument {i} is a literal {type(a).__name__} (a tensor must be a node)")
        if op.source and args:
            bad(n, f"a source node takes no argument, it has {len(args)}")
        if not isinstance(d["attrs"], dict):
            bad(n, f"attrs is a {type(d['attrs']).__name__}, not a dict")
        shape = d["shape"]
        if not (isinstance(shape, tuple) and all(x is None or isinstance(x, (int, np.integer)) for x in shape)):
            bad(n, f"shape {shape!r} is not a tuple of ints (None: unknown)")
        if not isinstance(d["dtype"], np.dtype):
            bad(n, f"dtype {d['dtype']!r} is not a numpy dtype")
        if not isinstance(d["seq"], int):
            bad(n, f"seq {d['seq']!r} is not an int")
    for u, v, control in G.edges(data="control", default=False):
        if not control and ("node", u) not in G.nodes[v]["args"]:
            bad(v, f"data edge {u!r} -> {v!r}, but no argument reads {u!r}")
    if not nx.is_directed_acyclic_graph(G):
        cycle = nx.find_cycle(G)
        bad(cycle[0][0], "on a cycle: " + " -> ".join([u for u, _ in cycle] + [cycle[0][0]]))
    for name, d in G.nodes(data=True):
        if d["op"] is ASSIGN:
            before, later = nx.ancestors(G, name), nx.descendants(G, name)
            for r in _old_value_readers(G, name):
                if r not in before and r not in later:
                    bad(name, f"{r!r} reads the value it overwrites, yet is not ordered before it")
    for r in roots:
        if r not in G:
            raise DGRuntimeError(f"compiler check after {where}: the fetched (or updated) node {r!r} is gone")
    if pruned is None:
        pruned = where.startswith("prune")
    if pruned:
        data = nx.DiGraph()
        data.add_nodes_from(G)
        data.add_edges_from((u, v) for u, v, c in G.edges(data="control", default=False) if not c)
        live = set(roots)
        for r in roots:
            live |= nx.ancestors(data, r)
        for n in G:
            if n not in live:
                bad(n, "no fetch or update needs it, yet it survived the prune")


def lint_order(G, order, where="schedule"):
    """The schedule is every node of G once, each after the nodes it has edges from."""
    pos = {n: i for i, n in enumerate(order)}
    if len(pos) != len(order) or set(pos) != set(G.nodes):
        extra, lost = set(pos) - set(G.nodes), set(G.nodes) - set(pos)
        raise DGRuntimeError(
            f"compiler check after {where}: the order is not the graph's nodes once each "
            f"({len(order)} entries for {G.number_of_nodes()} nodes; unknown {sorted(extra)[:5]}, "
            f"missing {sorted(lost)[:5]})")
    for u, v in G.edges:
        if pos[u] > pos[v]:
            raise DGRuntimeError(
                f"compiler check after {where}: node {v!r} is scheduled before {u!r}, which it depends on")
