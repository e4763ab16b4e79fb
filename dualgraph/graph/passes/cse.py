"""Common-subexpression elimination: two pure nodes with the same op, inputs and attributes
compute the same value; keep the first, point the other's consumers at it."""
import networkx as nx
import numpy as np

from ..core import CONSTANT, SOURCE_OPS
from ..networkx_view import replace_uses


def _freeze(v):
    if isinstance(v, np.ndarray):
        return ("array", v.dtype.str, v.shape, v.tobytes() if v.nbytes <= 4096 else id(v))
    if isinstance(v, (list, tuple)):
        return (type(v).__name__,) + tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, slice):
        return ("slice", v.start, v.stop, v.step)
    if isinstance(v, np.dtype):
        return ("dtype", v.str)
    try:
        hash(v)
        return (type(v).__name__, v)
    except TypeError:
        return ("id", id(v))


def cse(G, ctx):
    seen = {}
    merged = 0
    for name in list(nx.topological_sort(G)):
        d = G.nodes[name]
        op = d["op"]
        if (op.random or op.stateful or (op in SOURCE_OPS and op is not CONSTANT)
                or name in ctx.protected):
            continue
        key = (op.name, _freeze(d["args"]), _freeze(d["attrs"]))
        first = seen.get(key)
        if first is None:
            seen[key] = name
            continue
        replace_uses(G, name, first)
        G.remove_node(name)
        merged += 1
    return {"merged": merged}
