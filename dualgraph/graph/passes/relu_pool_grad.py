"""The relu mask moved onto the pooled gradient: a backward rewrite for conv -> relu -> max-pool.

    relu_backward(max_pool2d_backward(g, y), y)  ->  max_pool2d_backward(relu_backward(g, p), y)

where p = max_pool2d(y) with the same window is already in the graph (the forward computed it).
Both sides are the same bits: max_pool2d_backward sends each window's g to its maximum (y's
value there is the window's p) and writes +0.0 everywhere else, so masking g where p <= 0
before the scatter zeroes exactly the positions relu's mask zeroes after it, and the +0.0
elsewhere stays +0.0 either way (NaN: p is NaN where the window's maximum is, and both masks
keep it). The mask then runs on the pooled gradient, a quarter of the size for 2x2 windows,
instead of on the full one: LeNet-5's step loses most of two relu_backward passes.

Eager code cannot do this (each op's vjp runs as its node is reached); a plan sees both nodes
and rewrites them when the intermediate gradient has no other reader.
"""
import networkx as nx

from ...ops.common import Spec
from ...ops.elementwise import relu_backward_op
from ...ops.nn_ops import max_pool2d_backward_op, max_pool2d_op

_WINDOW = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")


def _window(attrs):
    return tuple(attrs.get(k) for k in _WINDOW)


def _pooled(G, y, window, shape):
    """The max_pool2d(y) node with this window and the pooled gradient's shape, if any."""
    for p in G.successors(y):
        d = G.nodes[p]
        if d["op"] is max_pool2d_op and d["args"][0] == ("node", y) and \
                _window(d["attrs"]) == window and d["shape"] == shape:
            return p
    return None


def relu_pool_grad(G, ctx):
    rewritten = 0
    for r in list(nx.topological_sort(G)):
        dr = G.nodes[r]
        if dr["op"] is not relu_backward_op or len(dr["args"]) != 2:
            continue
        (ka, a), (ky, y) = dr["args"]
        if ka != "node" or ky != "node" or a in ctx.protected:
            continue
        da = G.nodes[a]
        if da["op"] is not max_pool2d_backward_op or da["args"][1] != ("node", y) or \
                da["args"][0][0] != "node" or list(G.successors(a)) != [r]:
            continue
        g = da["args"][0][1]
        dg_ = G.nodes[g]
        if None in dg_["shape"] or dr["shape"] != da["shape"] or dr["dtype"] != da["dtype"]:
            continue
        p = _pooled(G, y, _window(da["attrs"]), dg_["shape"])
        if p is None:
            continue
        mask = relu_backward_op.infer(Spec(dg_["shape"], dg_["dtype"]),
                                      Spec(G.nodes[p]["shape"], G.nodes[p]["dtype"]))
        if tuple(mask.shape) != tuple(dg_["shape"]) or mask.dtype != dr["dtype"]:
            continue
        masked = f"{r}/pooled"          # the mask on the pooled gradient: a's node, renamed
        if masked in G:
            continue
        # r becomes the scatter (it keeps its value and its name)
        pool_attrs = da["attrs"]
        da.update(op=relu_backward_op, args=(("node", g), ("node", p)), attrs={},
                  shape=tuple(mask.shape), dtype=mask.dtype)
        G.remove_edge(y, a)
        G.add_edge(p, a)
        nx.relabel_nodes(G, {a: masked}, copy=False)
        dr.update(op=max_pool2d_backward_op, args=(("node", masked), ("node", y)),
                  attrs=dict(pool_attrs))
        rewritten += 1
    return {"rewritten": rewritten}
