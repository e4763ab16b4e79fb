"""Algebraic simplification: x*1, x+0, x-0, x/1, -(-x), double transpose, reshape chains,
reshapes/broadcasts/sum_to to the shape a value already has (what gradient seeds leave behind)."""
import networkx as nx
import numpy as np

from ..core import CONSTANT
from ..networkx_view import replace_uses


def _lit(G, kind, a):
    """The literal value of an argument (a Python scalar or a scalar-like constant), else None."""
    if kind == "lit":
        return a if isinstance(a, (int, float)) else None
    d = G.nodes[a]
    if d["op"] is CONSTANT:
        v = d["attrs"]["value"]
        if v.size and v.size <= 1 << 16 and (v == v.flat[0]).all():
            return v.flat[0].item()  # a uniform constant (a seed of ones broadcast, say)
    return None


def _same(G, src, name):
    s, d = G.nodes[src], G.nodes[name]
    return s["shape"] == d["shape"] and None not in d["shape"] and s["dtype"] == d["dtype"]


def _same_dtype(G, src, name):
    """x (op) a 0-d unit: the result has x's shape exactly; only the dtype could change."""
    return G.nodes[src]["dtype"] == G.nodes[name]["dtype"] and G.nodes[src]["shape"] == G.nodes[name]["shape"]


def _identity_arg(G, name):
    """If node `name` just returns one of its inputs, that input's name; else None."""
    d = G.nodes[name]
    op, args = d["op"].name, d["args"]
    if op in ("mul", "add") and len(args) == 2:
        unit = 1 if op == "mul" else 0
        for i in (0, 1):
            other = args[1 - i]
            if other[0] == "node" and _lit(G, *args[i]) == unit and _same_dtype(G, other[1], name):
                return other[1]
    if op in ("sub", "div") and args[0][0] == "node":
        unit = 0 if op == "sub" else 1
        if _lit(G, *args[1]) == unit and _same_dtype(G, args[0][1], name):
            return args[0][1]
    if op in ("reshape", "view", "broadcast_to", "sum_to", "expand") and args[0][0] == "node":
        if _same(G, args[0][1], name):
            return args[0][1]
    if op == "contiguous" and args[0][0] == "node":
        # only a fresh result is known to be contiguous; a view's layout is known at run time
        src = G.nodes[args[0][1]]["op"]
        if not (src.view or src.stateful or src.name in ("sum_to", "contiguous")) and _same(G, args[0][1], name):
            return args[0][1]
    if op == "neg" and args[0][0] == "node":
        inner = G.nodes[args[0][1]]
        if inner["op"].name == "neg" and inner["args"][0][0] == "node":
            return inner["args"][0][1]
    if op == "transpose" and args[0][0] == "node":
        inner = G.nodes[args[0][1]]
        if inner["op"].name == "transpose" and inner["args"][0][0] == "node":
            a, b = d["attrs"], inner["attrs"]
            nd = len(d["shape"])
            if {a["dim0"] % nd, a["dim1"] % nd} == {b["dim0"] % nd, b["dim1"] % nd}:
                return inner["args"][0][1]
    if op == "permute" and args[0][0] == "node":
        inner = G.nodes[args[0][1]]
        if inner["op"].name == "permute" and inner["args"][0][0] == "node":
            p = np.asarray(inner["attrs"]["dims"])[list(d["attrs"]["dims"])]
            if list(p) == list(range(len(p))):
                return inner["args"][0][1]
    return None


def _collapse_reshape_chain(G, name):
    """reshape(reshape(x, a), b) -> reshape(x, b): the middle shape never matters."""
    d = G.nodes[name]
    if d["op"].name != "reshape" or d["args"][0][0] != "node":
        return False
    src = d["args"][0][1]
    inner = G.nodes[src]
    if inner["op"].name not in ("reshape", "view") or inner["args"][0][0] != "node":
        return False
    x = inner["args"][0][1]
    G.remove_edge(src, name)
    G.add_edge(x, name)
    d["args"] = (("node", x),) + d["args"][1:]
    return True


def _drop_broadcast_args(G, name):
    """ufunc(a, broadcast_to(b, S)) where a already has shape S: numpy broadcasts b itself, so
    the explicit broadcast (what unbroadcast/broadcast_like leave in backward graphs) goes."""
    d = G.nodes[name]
    op = d["op"]
    shape = d["shape"]
    if not (op.elementwise and op.ufunc is not None) or None in shape:
        return 0
    args = list(d["args"])
    changed = 0
    for i, (k, a) in enumerate(args):
        if k != "node":
            continue
        src = G.nodes[a]
        if src["op"].name != "broadcast_to" or src["args"][0][0] != "node" or src["shape"] != shape:
            continue
        if not any(kk == "node" and j != i and G.nodes[b]["shape"] == shape
                   for j, (kk, b) in enumerate(args)):
            continue
        inner = src["args"][0][1]
        args[i] = ("node", inner)
        d["args"] = tuple(args)
        if not any(kk == "node" and b == a for kk, b in args):
            G.remove_edge(a, name)
        G.add_edge(inner, name)
        changed += 1
    return changed


def simplify(G, ctx):
    removed = chains = 0
    for name in list(nx.topological_sort(G)):
        if name not in G:
            continue
        if _collapse_reshape_chain(G, name):
            chains += 1
        removed += _drop_broadcast_args(G, name)
        src = _identity_arg(G, name)
        if src is not None:
            if name in ctx.protected:
                if G.nodes[name]["op"].stateful:
                    continue
                ctx.forward(name, src)  # the fetch now reads src
            replace_uses(G, name, src)
            G.remove_node(name)
            removed += 1
    return {"removed": removed, "reshape_chains": chains}
