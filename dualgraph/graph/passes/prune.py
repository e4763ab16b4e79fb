"""Dead-code elimination: keep only what the fetches (and requested updates) depend on."""
import networkx as nx


def prune(G, ctx):
    keep = set(ctx.roots)
    for r in ctx.roots:
        keep |= nx.ancestors(G, r)
    dead = [n for n in G.nodes if n not in keep]
    G.remove_nodes_from(dead)
    return {"removed": len(dead)}
