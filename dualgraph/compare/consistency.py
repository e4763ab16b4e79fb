"""dg.check_consistency(fn, *args): where, if anywhere, do the two modes part?

Runs `fn` eagerly with every op it applies recorded (its value at that moment, the user's
source line that made it, and for a backward op the forward op whose gradient it is), then
traces it with dg.function with every graph node recorded the same way, and runs the compiled
plan rebuilt so that it also hands back each of those nodes' values. The two records are
aligned in creation order by op (difflib's longest matching blocks: an op only one mode has,
an eager fast path or a graph's bookkeeping node, is skipped, not misaligned), and the first
aligned pair whose values differ beyond tolerance is reported: its op, its name in the graph,
shapes, a summary of both values and where it was created. Returns None when the modes agree.

Forward and backward are both covered: the backward rules are dualgraph ops, so eagerly the
reverse pass applies them through the same door while the graph builder records them as nodes.

The recording wraps the two interpreters' `apply` and `write` for the duration of one call
(the eager interpreter's on its instance, the graph builder's on its class: dg.function makes
its builder inside), so nothing is paid when no check runs.
"""
import contextlib
import difflib
import linecache
import os
import sys

import numpy as np

from ..errors import DualGraphError
from ..random import get_rng_state, set_rng_state
from ..eager import EAGER
from ..autograd import views as V
from ..autograd.engine import reverse_pass
from ..graph.builder import GraphInterpreter
from ..graph.compiler import compile_graph
from ..graph.function import Function
from ..optim.optimizer import COMPILED_STEPS
from .runner import split_arguments
from .state import ReachedState

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_REVERSE = reverse_pass.__code__
# files inside the package whose lines are a user's (the built-in workloads are user code)
_USER_FILES = {os.path.join(_PACKAGE, "compare", "workloads.py")}


class ConsistencyError(DualGraphError, AssertionError):
    """check_consistency(..., raise_error=True) found a divergence."""


class _Record:
    __slots__ = ("op", "where", "grad_of", "value", "node", "shape", "dtype")

    def __init__(self, op, where, grad_of):
        self.op, self.where, self.grad_of = op, where, grad_of
        self.value = self.node = self.shape = self.dtype = None


def _origin(source):
    """(user's file, line) of the first frame outside dualgraph, and the forward node whose
    gradient the reverse pass is computing (None outside a backward)."""
    f = sys._getframe(3)
    grad_of = where = None
    while f is not None:  # the whole stack: a user's own backward rule runs inside the reverse pass
        code = f.f_code
        if code is _REVERSE:
            grad_of = f.f_locals.get("node")
            break
        if where is None and source and (not code.co_filename.startswith(_PACKAGE)
                                         or code.co_filename in _USER_FILES):
            where = (code.co_filename, f.f_lineno)
        f = f.f_back
    return where, grad_of


class _Recorder:
    def __init__(self, source):
        self.source = source
        self.records = []
        self.by_node = {}  # id(tape node or graph node) -> index of the record that made it

    def add(self, op, key):
        where, grad_of = _origin(self.source)
        rec = _Record(op, where, None if grad_of is None else self.by_node.get(id(grad_of)))
        if key is not None:
            self.by_node[id(key)] = len(self.records)
        self.records.append(rec)
        return rec


@contextlib.contextmanager
def _recording_eager(rec):
    apply, write = EAGER.apply, EAGER.write

    def recorded_apply(op, inputs, attrs):
        out = apply(op, inputs, attrs)
        r = rec.add(op, out.grad_fn)
        r.value = np.array(out._data)  # a copy: a later in-place op must not change it
        return out

    def recorded_write(t, op, inputs, attrs):
        n = len(rec.records)
        out = write(t, op, inputs, attrs)
        if len(rec.records) == n:  # a write computed out of place (views.inplace_op) is recorded by its apply
            r = rec.add(op, None)
            r.value = np.array(t._data)
        return out

    def recorded_write_each(updates):  # (each write seen, one by one)
        V.inplace_each(updates, recorded_write, fast=False)

    EAGER.apply, EAGER.write, EAGER.write_each = recorded_apply, recorded_write, recorded_write_each
    compiled, COMPILED_STEPS[0] = COMPILED_STEPS[0], False   # (eager optimizer steps run eagerly)
    try:
        yield
    finally:
        del EAGER.apply, EAGER.write, EAGER.write_each
        COMPILED_STEPS[0] = compiled


@contextlib.contextmanager
def _recording_graph(rec):
    apply = GraphInterpreter.apply

    def recorded_apply(self, op, inputs, attrs):
        out = apply(self, op, inputs, attrs)
        r = rec.add(op, out.node)
        r.node, r.shape, r.dtype = out.node, out._shape, out._dtype
        return out

    GraphInterpreter.apply = recorded_apply
    try:
        yield
    finally:
        GraphInterpreter.apply = apply


class Divergence:
    """The first node where the modes differ; str() is the report."""

    def __init__(self, call, phase, index, total, op, name, eager, compiled, where, grad_of,
                 compared, rtol, atol):
        self.call, self.phase, self.index, self.total = call, phase, index, total
        self.op, self.name = op, name
        self.eager, self.compiled = eager, compiled
        self.where, self.grad_of = where, grad_of
        self.compared, self.rtol, self.atol = compared, rtol, atol

    def __str__(self):
        lines = [f"dg.check_consistency: the modes diverge at call {self.call}, {self.phase} node "
                 f"{self.index + 1} of {self.total}: {self.op} (node {self.name!r} in the graph)"]
        if self.grad_of is not None:
            op, where = self.grad_of
            lines.append(f"  in the gradient of {op}" + (f", created at {_fmt_where(where)}" if where else ""))
        if self.where:
            lines.append(f"  created at {_fmt_where(self.where)}")
        e, c = self.eager, self.compiled
        lines.append(f"  shape {list(e.shape)} {e.dtype}" + ("" if e.dtype == c.dtype else f" (compiled {c.dtype})"))
        lines.append(f"  eager:    {_summary(e)}")
        lines.append(f"  compiled: {_summary(c)}")
        if e.shape == c.shape and e.size:
            d = np.abs(e.astype(np.float64) - c.astype(np.float64))
            d = np.where(np.isnan(d) & ~(np.isnan(e) & np.isnan(c)), np.inf, np.nan_to_num(d))
            i = np.unravel_index(int(np.argmax(d)), d.shape)
            lines.append(f"  largest difference {float(d[i]):.3g} at {tuple(int(k) for k in i)} "
                         f"(eager {e[i].item()!r}, compiled {c[i].item()!r}); rtol={self.rtol}, atol={self.atol}")
        lines.append(f"  the {self.compared} aligned values before it agree")
        return "\n".join(lines)

    __repr__ = __str__


def _fmt_where(where):
    filename, line = where
    text = linecache.getline(filename, line).strip()
    rel = os.path.relpath(filename) if not filename.startswith("<") else filename
    return f"{filename if rel.startswith('..') else rel}:{line}" + (
        f": {text}" if text else "")


def _summary(a):
    if a.size == 0:
        return "empty"
    flat = a.reshape(-1)
    head = np.array2string(flat[:6], precision=5, separator=", ")
    if a.dtype.kind in "fc":
        with np.errstate(all="ignore"):
            return (f"{head}{' ...' if flat.size > 6 else ''}  (mean {np.nanmean(flat):.5g}, "
                    f"min {np.nanmin(flat):.5g}, max {np.nanmax(flat):.5g})")
    return head + (" ..." if flat.size > 6 else "")


def _differs(e, c, rtol, atol):
    if e.dtype.kind in "fc" or c.dtype.kind in "fc":
        return not np.allclose(e.astype(np.float64), c.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
    return not np.array_equal(e, c)


def _graph_values(compiled, graph, records, args):
    """Run the traced graph once, compiled with every recorded node fetched as well."""
    tr = compiled._traces[-1]
    feeds = [graph.get_tensor_by_name(f.name) for f in tr.plan.feeds]
    # only what the function's results and writes need: tracing builds gradients nothing
    # reads (of a dropout mask, say), which eager code never computes; compared, they would
    # be aligned with the eager gradient of the same op and shape and differ
    live = {s.name for s in compile_graph(graph, list(tr.plan.fetches), feeds=feeds, optimize=False,
                                          updates=graph.updates).steps}
    mine = [r for r in records if r.node.graph is graph and r.node.name in live]
    names = list(dict.fromkeys(r.node.name for r in mine))
    plan = compile_graph(graph, names, feeds=feeds, optimize=compiled.optimize, updates=graph.updates,
                         snapshot_fetches=True)  # (a view of a parameter: its value before the update)
    values = dict(zip(names, plan.run_unchecked(compiled.feeds_for(*args))))
    kept = []
    for r in mine:
        v = values[r.node.name]
        if isinstance(v, (tuple, list)):
            continue  # a control-flow op's tuple of outputs: its tuple_get nodes are compared
        r.value = np.asarray(v)
        kept.append(r)
    return kept


def check_consistency(fn=None, *args, setup=None, rtol=1e-5, atol=1e-6, calls=2, source=True,
                      raise_error=False):
    """Compare every intermediate value of `fn(*args)` run eagerly and compiled, forward and
    backward, over `calls` calls. Returns None when the modes agree; else a Divergence naming
    the first node that differs (raised as ConsistencyError with raise_error=True).

    `setup()` -> a fresh step function (its own model and optimizer), called once per mode;
    without it the state `fn` reaches is saved before each eager call and restored for the
    compiled one. `source` records the user's source line of every op (a frame walk per op)."""
    fn, args = split_arguments("dg.check_consistency", fn, args, setup)
    eager_fn = setup() if setup else fn
    compiled = Function(setup() if setup else fn)
    state = None if setup else ReachedState(fn, args)
    graph_rec = None
    for call in range(calls):
        saved = state.save() if state else None
        rng = get_rng_state()   # (the compiled run draws what the eager one drew)
        eager_rec = _Recorder(source)
        with _recording_eager(eager_rec):
            eager_fn(*args)
        if state:
            state.restore(saved)
        set_rng_state(rng)
        if graph_rec is None:
            graph_rec = _Recorder(source)
            with _recording_graph(graph_rec):
                graph = compiled.graph_for(*args)
            # (a compiled backward's nodes are built and taken out again while tracing)
            graph_records = [r for r in graph_rec.records if r.node.graph is graph
                             and graph._by_name.get(r.node.name) is r.node]
        else:
            for r in graph_records:
                r.value = None
        compared = _graph_values(compiled, graph, graph_records, args)
        found = _first_divergence(call, eager_rec.records, compared, rtol, atol)
        if found is not None:
            if raise_error:
                raise ConsistencyError(str(found))
            return found
    return None


def _key(r):
    """What must be equal for two records to align: the op and the value's shape."""
    return r.op.name, r.value.shape


def _first_divergence(call, eager, graph, rtol, atol):
    sm = difflib.SequenceMatcher(None, [_key(r) for r in eager], [_key(r) for r in graph], autojunk=False)
    compared = 0
    for block in sm.get_matching_blocks():
        for k in range(block.size):
            e, g = eager[block.a + k], graph[block.b + k]
            if e.value.shape != g.value.shape:
                continue  # aligned by op but not the same value (a skipped op between): not compared
            if _differs(e.value, g.value, rtol, atol):
                grad_of = None
                if e.grad_of is not None:
                    f = eager[e.grad_of]
                    grad_of = (f.op.name, f.where)
                phase = "backward" if e.grad_of is not None or g.grad_of is not None else "forward"
                return Divergence(call, phase, block.a + k, len(eager), e.op.name, g.node.name, e.value,
                                  g.value, e.where or g.where, grad_of, compared, rtol, atol)
            compared += 1
    return None


__all__ = ["check_consistency", "ConsistencyError", "Divergence"]
