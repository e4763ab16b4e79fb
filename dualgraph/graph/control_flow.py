"""dg.cond and dg.while_loop: Python control flow in eager mode, graph ops in graph mode.

In a graph, `cond` builds both branches and selects with `where` (so both branches' values are
computed; gradients flow through the taken one). `while_loop` traces cond and body into their own
graphs, compiles them, and adds one node whose kernel loops over the two plans at run time.
"""
import numpy as np

from ..errors import DGTypeError, DGRuntimeError, DGValueError
from ..mode import executing_eagerly, current
from ..ops.dispatch import apply
from ..ops.registry import Spec, defop
from ..ops.elementwise import where
from ..utils.tree import flatten, unflatten
from .core import Graph, SymbolicTensor
from .builder import graph_mode, placeholder


def cond(pred, true_fn, false_fn):
    if executing_eagerly() and not isinstance(pred, SymbolicTensor):
        return true_fn() if bool(pred) else false_fn()
    interp = current()
    pred = interp.lift(pred)
    if isinstance(pred, SymbolicTensor) and pred.ndim != 0 and pred.shape != (1,):
        raise DGTypeError(f"dg.cond needs a scalar predicate, got shape {list(pred.shape)}")
    t, f = true_fn(), false_fn()
    (ts, tdef), (fs, fdef) = flatten(t), flatten(f)
    if tdef != fdef:
        raise DGValueError(f"dg.cond: true_fn and false_fn must return the same structure, got {tdef} and {fdef}")
    return unflatten(tdef, [where(pred, a, b) for a, b in zip(ts, fs)])


def _flat(xs):
    return list(xs) if isinstance(xs, (list, tuple)) else [xs]


def while_loop(cond_fn, body_fn, loop_vars, maximum_iterations=None):
    single = not isinstance(loop_vars, (list, tuple))
    lv = _flat(loop_vars)
    if executing_eagerly() and not any(isinstance(v, SymbolicTensor) for v in lv):
        n = 0
        while bool(cond_fn(*lv)) and (maximum_iterations is None or n < maximum_iterations):
            lv = _flat(body_fn(*lv))
            n += 1
        return lv[0] if single else type(loop_vars)(lv)
    interp = current()
    lv = [interp.lift(v) if isinstance(v, SymbolicTensor) else interp.lift(_as_const(v)) for v in lv]
    specs = [(tuple(v.shape), v._dtype) for v in lv]
    cg, bg = Graph("while_cond"), Graph("while_body")
    with graph_mode(cg):
        ps = [placeholder(s, d, name=f"loop_var{i}") for i, (s, d) in enumerate(specs)]
        c = cond_fn(*ps)
    with graph_mode(bg):
        ps2 = [placeholder(s, d, name=f"loop_var{i}") for i, (s, d) in enumerate(specs)]
        out = _flat(body_fn(*ps2))
        out = [o if isinstance(o, SymbolicTensor) else bg.capture(o) if hasattr(o, "_data") else o for o in out]
    for (s, d), o in zip(specs, out):
        if not isinstance(o, SymbolicTensor) or o._dtype != d or len(o.shape) != len(s):
            raise DGTypeError(
                "dg.while_loop: body must return loop variables with the same dtypes and ranks "
                f"as loop_vars; got {o!r} for {d} of rank {len(s)}")
    cplan = cg.compile(c, feeds=ps)
    bplan = bg.compile(out, feeds=ps2, updates=bg.updates)

    packed = apply(WHILE_LOOP, *lv, cond_plan=cplan, body_plan=bplan,
                   maximum_iterations=maximum_iterations)
    res = [apply(_TUPLE_GET, packed, index=i, shape=s, dtype=d) for i, (s, d) in enumerate(specs)]
    return res[0] if single else type(loop_vars)(res)


def _as_const(v):
    return np.asarray(v)


def _tuple_get_vjp(g, n):
    raise DGRuntimeError("gradients through dg.while_loop are not supported in graph mode; "
                         "differentiate the loop eagerly (it is plain Python there)")


def _while_kernel(*vals, cond_plan, body_plan, maximum_iterations):
    i = 0
    vals = list(vals)
    while bool(cond_plan(*vals)) and (maximum_iterations is None or i < maximum_iterations):
        vals = [np.asarray(v) for v in body_plan(*vals)]
        i += 1
    return tuple(vals)


# stateful: the body may write variables (and must not be merged or folded away)
WHILE_LOOP = defop("while_loop", _while_kernel, lambda *a, **k: Spec((), np.dtype(object)),
                   stateful=True, graph_only=True,
                   doc="runs compiled cond/body plans (attributes) until cond is false")
_TUPLE_GET = defop("tuple_get", lambda packed, index, shape, dtype: packed[index],
                   lambda packed, index, shape, dtype: Spec(shape, dtype), _tuple_get_vjp,
                   graph_only=True, doc="element `index` of a multi-valued node (while_loop)")
