"""The memory layout eager code would give a value of a graph being traced: what
`is_contiguous()` and `stride()` answer on a SymbolicTensor.

Eagerly the answer is the numpy array's (`x.t()` is not contiguous, `x.t() * 2` keeps the
transposed layout, as numpy's K order does). A graph value has no array, but while dg.function
traces, the arguments and the captured state are real arrays: the value's subgraph is run on
them with the ops' own eager kernels, so the answer is eager's by construction, and the layouts
it read (the strides of each argument and state) are guarded, so a call with other layouts
retraces. Where no such array exists (a TF1 placeholder, a random op, control flow, a value
written to state) the layout is decided only when the plan runs, and asking is refused with
an error that says so, never answered with a guess.
"""
import numpy as np

from ..errors import DGRuntimeError

# (graph.core calls into this module: it names the source ops instead of importing them)
_VARIABLE, _CONSTANT = "variable", "constant"


def _symbolic(x):
    return type(x).__name__ == "SymbolicTensor"


class _Unknown(Exception):
    """The layout cannot be known at trace time; the message says why."""


def eager_array(t, what):
    """An array laid out as eager code would lay out graph value t (its data need not be the
    eager value's: only its shape and strides are read). Refused (DGRuntimeError) when the
    layout is known only when the plan runs."""
    g = t.node.graph
    try:
        return _evaluate(t.node, g, {})
    except _Unknown as why:
        raise DGRuntimeError(
            f"{what} of graph-mode tensor {t.name!r}: {why}, so its memory layout is decided only "
            "when the compiled plan runs (eager code's answer depends on it). Call .contiguous() "
            "(free when the tensor already is) or .reshape() instead of branching on the layout, "
            "or read it eagerly, outside the compiled function.") from None


def known_contiguous(t):
    """Whether eager code's value of t is C-contiguous, where dg.function's trace knows it (its
    layout guarded); False where it is not or the layout is known only at run time. The arrays
    computed are kept for the trace (a value's layout does not change: a write is a new node)."""
    g = t.node.graph
    trace = getattr(g, "trace", None)
    if trace is None:
        return False
    memo = getattr(trace, "layout_memo", None)
    if memo is None:
        memo = trace.layout_memo = {}
    try:
        return bool(_evaluate(t.node, g, memo).flags.c_contiguous)
    except _Unknown:
        return False


def _evaluate(node, g, memo):
    """node's eager array, computed from the trace's real arguments and state (iteratively:
    a long chain must not exhaust Python's recursion limit)."""
    stack = [node]
    while stack:
        n = stack[-1]
        if n in memo:
            stack.pop()
            continue
        pending = [x.node for x in n.inputs if _symbolic(x) and x.node not in memo]
        if pending and not n.op.source:
            stack.extend(pending)
            continue
        stack.pop()
        memo[n] = _leaf(n, g) if n.op.source else _run(n, memo)
    return memo[node]


def _leaf(n, g):
    trace = getattr(g, "trace", None)
    if n.op.name == _CONSTANT:
        return np.asarray(n.attrs["value"])
    if n.op.name == _VARIABLE:
        guard_layout(trace, n.attrs["ref"])
        return n.attrs["ref"]._data
    found = getattr(trace, "arguments", {}).get(n) if trace is not None else None
    if found is not None:
        i, a = found
        trace.layouts[i] = a.strides  # (TracedFunction._lookup checks it at each call)
        return a
    for stand, read, _ in getattr(g, "lifted", ()):
        if stand.node is n:  # a Python number made a feed: 0-d
            return np.asarray(read())
    raise _Unknown(f"it is computed from placeholder {n.name!r}, fed only when the graph runs")


def guard_layout(trace, t):
    """While dg.function traces: eager tensor t's strides (a parameter, a buffer) decided the
    traced code, so a call that finds other strides retraces."""
    if trace is not None:
        guards = trace.guards
        name = getattr(trace, "names", {}).get(id(t), "a captured tensor")
        guards.add(f"the memory layout (strides) of {name}", f"{guards.bind(t, 't')}._data.strides",
                   t._data.strides)


def _run(n, memo):
    op = n.op
    if op.random:  # a draw allocates in C order; drawing here would move the generator
        shape = n.out._shape
        if any(d is None for d in shape):
            raise _Unknown(f"the shape of its {op.name!r} node {n.name!r} is known only at run time")
        return np.zeros(tuple(shape), n.out._np_dtype())
    if op.stateful or op.subgraphs:
        raise _Unknown(f"it is the result of {op.name!r} node {n.name!r}")
    args = [memo[x.node] if _symbolic(x) else x for x in n.inputs]
    try:
        with np.errstate(all="ignore"):
            out = op.forward(*args, **n.attrs)
    except Exception:  # noqa: BLE001 - e.g. an integer division by zero of the stand-ins
        raise _Unknown(f"its {op.name!r} node {n.name!r} could not be run at trace time") from None
    return out if isinstance(out, (np.ndarray, tuple, list)) else np.asarray(out)
