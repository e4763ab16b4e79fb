"""A Graph as a networkx DiGraph: the form every compiler pass reads and rewrites.

Node key: the node's unique name. Node data: op, args (each ("node", name) or ("lit", value)),
attrs, shape, dtype. Edges run from producer to consumer; an edge with control=True orders an
assign after the reads of the value it overwrites.
"""
import networkx as nx

from .core import SymbolicTensor, ASSIGN


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
    if control:
        add_anti_dependences(G)
    return G


def add_anti_dependences(G):
    """An assign overwrites its variable's storage in place, so it must run after every other
    reader of the value it replaces (sequential semantics, as in the Python program)."""
    for name, d in list(G.nodes(data=True)):
        if d["op"] is ASSIGN:
            cur = d["args"][0][1]
            for reader in list(G.successors(cur)):
                if reader != name and not nx.has_path(G, name, reader):
                    G.add_edge(reader, name, control=True)


def node_args(G, name):
    return [a for k, a in G.nodes[name]["args"] if k == "node"]


def replace_uses(G, old, new):
    """Point every consumer of `old` at `new` (keeping argument positions)."""
    for succ in list(G.successors(old)):
        d = G.nodes[succ]
        d["args"] = tuple(("node", new) if (k == "node" and a == old) else (k, a) for k, a in d["args"])
        ctrl = G.edges[old, succ].get("control", False)
        G.remove_edge(old, succ)
        if succ != new:
            G.add_edge(new, succ, **({"control": True} if ctrl else {}))
