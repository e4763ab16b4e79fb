"""A Graph as a networkx DiGraph: the form every compiler pass reads and rewrites.

Node key: the node's unique name. Node data: op, args (each ("node", name) or ("lit", value)),
attrs, shape, dtype. Edges run from producer to consumer; an edge with control=True orders an
assign after the reads of the value it overwrites.
"""
import networkx as nx

from .core import SymbolicTensor, ASSIGN, VARIABLE


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
    return G


def add_anti_dependences(G):
    """An assign overwrites its variable's storage in place, so it must run after every other
    reader of the value it replaces, and after the readers of views of that value (sequential
    semantics, as in the Python program)."""
    from .liveness import aliases_input
    for name, d in list(G.nodes(data=True)):
        if d["op"] is not ASSIGN:
            continue
        cur = d["args"][0][1]
        later = None
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
                if later is None:
                    later = nx.descendants(G, name)
                if reader not in later and not G.has_edge(reader, name):
                    G.add_edge(reader, name, control=True)


def order_random_draws(G):
    """Random ops draw from one generator: keep their program order, so a plan draws the same
    numbers as the eager code (dropout masks equal call after call)."""
    draws = sorted((n for n, d in G.nodes(data=True) if d["op"].random), key=lambda n: G.nodes[n]["seq"])
    for a, b in zip(draws, draws[1:]):
        if not G.has_edge(a, b) and not nx.has_path(G, b, a):
            G.add_edge(a, b, control=True)


def replace_uses(G, old, new):
    """Point every consumer of `old` at `new` (keeping argument positions)."""
    for succ in list(G.successors(old)):
        d = G.nodes[succ]
        d["args"] = tuple(("node", new) if (k == "node" and a == old) else (k, a) for k, a in d["args"])
        ctrl = G.edges[old, succ].get("control", False)
        G.remove_edge(old, succ)
        if succ != new:
            G.add_edge(new, succ, **({"control": True} if ctrl else {}))
