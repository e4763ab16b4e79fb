"""The mode switch: which interpreter runs an op (eager, or a graph being built).

`ops.dispatch.apply` (compute) and `ops.dispatch.apply_inplace` (write) ask `state._state.mode`
and nothing else; these context managers push and pop that thread-local mode. An interpreter
offers `apply(op, inputs, attrs)`, `write(target, op, inputs, attrs)`, `get_grad(t)` and
`set_grad(t, value)`: the eager one in eager.py, the graph builder in graph/builder.py.
"""
import contextlib

from .eager import EAGER
from .state import _state


def current():
    return _state.mode


def executing_eagerly():
    """True unless a graph is being built (TensorFlow's tf.executing_eagerly)."""
    return _state.mode is EAGER


@contextlib.contextmanager
def push(mode):
    _state.stack.append(_state.mode)
    _state.mode = mode
    try:
        yield mode
    finally:
        _state.mode = _state.stack.pop()


def eager_mode():
    """Step back into eager execution, e.g. inside a `with dg.graph_mode():` block."""
    return push(EAGER)


# ---------------------------------------------------------------- graph mode (TensorFlow 1.x)
@contextlib.contextmanager
def graph_mode(graph=None):
    """`with dg.graph_mode() as g:` builds ops into `g` (a new Graph unless one is given)."""
    from .graph.core import Graph
    from .graph.builder import GraphInterpreter
    g = graph if graph is not None else Graph()
    with push(GraphInterpreter(g)):
        yield g


def get_default_graph():
    """The graph being built; outside graph mode, a process-wide default graph."""
    m = _state.mode
    g = getattr(m, "graph", None)
    if g is not None:
        return g
    global _DEFAULT_GRAPH
    if _DEFAULT_GRAPH is None:
        from .graph.core import Graph
        _DEFAULT_GRAPH = Graph("default")
    return _DEFAULT_GRAPH


_DEFAULT_GRAPH = None


def reset_default_graph():
    global _DEFAULT_GRAPH
    _DEFAULT_GRAPH = None


def current_graph(what):
    g = getattr(_state.mode, "graph", None)
    if g is None:
        from .errors import DGRuntimeError
        raise DGRuntimeError(f"{what} builds a graph node: call it inside `with dg.graph_mode():`")
    return g


@contextlib.contextmanager
def name_scope(name):
    """Prefix the names of nodes built inside with `name/` (nests)."""
    g = getattr(_state.mode, "graph", None)
    if g is None:
        yield name
        return
    g._scope.append(name.rstrip("/"))
    try:
        yield "/".join(g._scope) + "/"
    finally:
        g._scope.pop()
