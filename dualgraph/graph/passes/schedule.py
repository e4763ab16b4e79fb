"""Scheduling: a topological order chosen to keep peak memory low.

networkx's lexicographical topological sort picks, among ready nodes, the one with the smallest
key; the key is each node's position in a depth-first post-order from the fetches, so a value is
consumed soon after it is produced (each subtree is finished before the next is started) instead
of all forward values being produced breadth-first and held.
"""
import networkx as nx


def schedule(G, ctx):
    if not ctx.optimize:
        order = list(nx.lexicographical_topological_sort(G, key=lambda n: G.nodes[n]["seq"]))
        return {"order": order}
    R = G.reverse(copy=False)
    rank = {}
    for root in ctx.roots:
        for n in nx.dfs_postorder_nodes(R, root):
            rank.setdefault(n, len(rank))
    order = list(nx.lexicographical_topological_sort(G, key=lambda n: (rank.get(n, 0), G.nodes[n]["seq"])))
    return {"order": order}
