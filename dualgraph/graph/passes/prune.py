"""Dead-code elimination: keep only what the fetches (and requested updates) depend on.

Only data edges count: a control edge (an assign ordered after the reads of the value it
overwrites, random draws kept in program order) orders nodes that run, it does not make a
node run. Fetching `W.assign(0)` does not compute the loss that also reads W.
"""
import networkx as nx

_SINK = object()  # one search from every root at once


def prune(G, ctx):
    data = nx.DiGraph()
    data.add_nodes_from(G)
    data.add_node(_SINK)   # (no fetch and no write: everything is dead)
    data.add_edges_from((u, v) for u, v, c in G.edges(data="control", default=False) if not c)
    data.add_edges_from((r, _SINK) for r in ctx.roots)
    keep = nx.ancestors(data, _SINK)
    dead = [n for n in G.nodes if n not in keep]
    G.remove_nodes_from(dead)
    return {"removed": len(dead)}
