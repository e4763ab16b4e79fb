"""Dead-code elimination: keep only what the fetches (and requested updates) depend on.

Only data edges count: a control edge (an assign ordered after the reads of the value it
overwrites, random draws kept in program order) orders nodes that run, it does not make a
node run. Fetching `W.assign(0)` does not compute the loss that also reads W.
"""
import networkx as nx


def prune(G, ctx):
    data = nx.subgraph_view(G, filter_edge=lambda u, v: not G.edges[u, v].get("control", False))
    keep = set(ctx.roots)
    for r in ctx.roots:
        keep |= nx.ancestors(data, r)
    dead = [n for n in G.nodes if n not in keep]
    G.remove_nodes_from(dead)
    return {"removed": len(dead)}
