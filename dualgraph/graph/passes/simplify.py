"""Algebraic simplification: x*1, x+0, x-0, x/1, -(-x), double transpose, reshape chains,
reshapes/broadcasts/sum_to to the shape a value already has (what gradient seeds leave behind).

The identities are a table keyed by the Op records (`IDENTITIES`), not by op names."""
import networkx as nx
import numpy as np

from ...ops import elementwise as E, shape as S
from ...ops.unbroadcast import sum_to, broadcast_to_op
from ..core import CONSTANT, PLACEHOLDER
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


def _may_share_memory(G, src):
    """Whether node src's value may be memory a write can change later: a state read, a write,
    a view, or an op that may return its input. `x * 1` is fresh memory; when x is such a value,
    x * 1 -> x would make a copy taken before `S.div_(2)` read S's new value (found by the random
    update programs of tests/test_fuse_updates.py: `(S.t()[0] * 1.0)` fetched, then S written)."""
    op = G.nodes[src]["op"]
    if op is PLACEHOLDER or op is CONSTANT:  # (never written: a feed or a baked-in value)
        return False
    return op.view or op.stateful or op.may_alias


# ---------------------------------------------------------------- identities
# Each rule(G, name) says which input node `name` just returns (its name), else None. A rule
# whose node is fresh memory (arithmetic) applies only to inputs that are fresh memory too.
def _unit(unit, positions, zero_sign=None):
    """x (op) unit -> x, for a literal unit at one of `positions` (the other input is x).
    zero_sign: for float results, the sign the zero must have to be an identity: x + (-0.0) is
    x, but x + 0.0 turns x = -0.0 into +0.0 (as eager computes it); x - 0.0 is x, x - (-0.0)
    is not (tests/test_simplify_signed_zeros.py)."""
    def rule(G, name):
        args = G.nodes[name]["args"]
        if len(args) != 2:
            return None
        for i in positions:
            other = args[1 - i]
            v = _lit(G, *args[i])
            if other[0] == "node" and v == unit and _same_dtype(G, other[1], name) \
                    and not _may_share_memory(G, other[1]) \
                    and (zero_sign is None or np.dtype(G.nodes[name]["dtype"]).kind not in "fc"
                         or bool(np.signbit(v)) == (zero_sign < 0)):
                return other[1]
        return None
    return rule


def _to_own_shape(G, name):
    """A reshape/broadcast/sum_to to the shape its input already has."""
    args = G.nodes[name]["args"]
    if args[0][0] == "node" and _same(G, args[0][1], name):
        return args[0][1]
    return None


def _contiguous(G, name):
    # only a fresh result is known to be contiguous; a view's layout is known at run time, and
    # an op that may return its input (may_alias) may return a view
    args = G.nodes[name]["args"]
    if args[0][0] == "node" and not _may_share_memory(G, args[0][1]) and _same(G, args[0][1], name):
        return args[0][1]
    return None


def _inner(G, name):
    """The node data of node `name`'s first input, when that is the same op; else None."""
    d = G.nodes[name]
    if d["args"][0][0] != "node":
        return None
    inner = G.nodes[d["args"][0][1]]
    if inner["op"] is not d["op"] or inner["args"][0][0] != "node":
        return None
    return inner


def _double_neg(G, name):
    inner = _inner(G, name)
    if inner is None or _may_share_memory(G, inner["args"][0][1]):
        return None
    return inner["args"][0][1]


def _double_transpose(G, name):
    inner = _inner(G, name)
    if inner is None:
        return None
    d = G.nodes[name]
    a, b = d["attrs"], inner["attrs"]
    nd = len(d["shape"])
    if {a["dim0"] % nd, a["dim1"] % nd} == {b["dim0"] % nd, b["dim1"] % nd}:
        return inner["args"][0][1]
    return None


def _inverse_permute(G, name):
    inner = _inner(G, name)
    if inner is None:
        return None
    p = np.asarray(inner["attrs"]["dims"])[list(G.nodes[name]["attrs"]["dims"])]
    if list(p) == list(range(len(p))):
        return inner["args"][0][1]
    return None


IDENTITIES = {
    E.mul_op: _unit(1, (0, 1)), E.add_op: _unit(0, (0, 1), zero_sign=-1),
    E.sub_op: _unit(0, (1,), zero_sign=+1), E.div_op: _unit(1, (1,)),
    S.reshape_op: _to_own_shape, S.view_op: _to_own_shape, broadcast_to_op: _to_own_shape,
    sum_to: _to_own_shape, S.expand_op: _to_own_shape,
    S.contiguous_op: _contiguous,
    E.neg_op: _double_neg, S.transpose_op: _double_transpose, S.permute_op: _inverse_permute,
}


def _identity_arg(G, name):
    """If node `name` just returns one of its inputs, that input's name; else None."""
    rule = IDENTITIES.get(G.nodes[name]["op"])
    return rule(G, name) if rule is not None else None


_RESHAPES = (S.reshape_op, S.view_op)


def _collapse_reshape_chain(G, name):
    """reshape(reshape(x, a), b) -> reshape(x, b): the middle shape never matters."""
    d = G.nodes[name]
    if d["op"] is not S.reshape_op or d["args"][0][0] != "node":
        return False
    src = d["args"][0][1]
    inner = G.nodes[src]
    if inner["op"] not in _RESHAPES or inner["args"][0][0] != "node":
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
        if src["op"] is not broadcast_to_op or src["args"][0][0] != "node" or src["shape"] != shape:
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
