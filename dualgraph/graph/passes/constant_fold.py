"""Constant folding: a pure op whose inputs are all constants is evaluated once, at compile time."""
import networkx as nx
import numpy as np

from ..core import CONSTANT, SOURCE_OPS

# don't bake huge arrays into the plan: folding a broadcast of a scalar to a big shape would
# replace a cheap view with memory held for the plan's lifetime
MAX_FOLD_BYTES = 1 << 20


def _foldable(d):
    op = d["op"]
    return not (op.random or op.stateful or op in SOURCE_OPS or op.forward is None)


def constant_fold(G, ctx):
    folded = 0
    for name in list(nx.topological_sort(G)):
        d = G.nodes[name]
        if not _foldable(d) or name in ctx.protected:
            continue
        args = d["args"]
        if any(k == "node" and G.nodes[a]["op"] is not CONSTANT for k, a in args):
            continue
        vals = [G.nodes[a]["attrs"]["value"] if k == "node" else a for k, a in args]
        try:
            value = np.asarray(d["op"].forward(*vals, **d["attrs"]))
        except Exception:  # noqa: BLE001 - leave it to fail at run time with its own error
            continue
        if value.nbytes > MAX_FOLD_BYTES:
            continue
        # the value as the kernel made it, strides included (a view of a constant, a broadcast):
        # the kernels reading it see the layout they see eagerly (np.matmul of a stride-0
        # broadcast of ones runs numpy's own loop, of a contiguous copy BLAS: other bits)
        value = value.view()
        value.flags.writeable = False
        for a in {a for k, a in args if k == "node"}:  # c + c: one edge for both uses
            G.remove_edge(a, name)
        d.update(op=CONSTANT, args=(), attrs={"value": value})
        folded += 1
    # constants nobody reads any more
    orphans = [n for n in G.nodes if G.nodes[n]["op"] is CONSTANT and G.out_degree(n) == 0
               and n not in ctx.protected]
    G.remove_nodes_from(orphans)
    return {"folded": folded, "dropped_constants": len(orphans)}
