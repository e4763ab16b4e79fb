"""The mode switch: which interpreter runs an op (eager, or a graph being built).

`ops.dispatch.apply` (compute) and `ops.dispatch.apply_inplace` (write) ask `state._state.mode`
and nothing else; these context managers push and pop that thread-local mode. An interpreter
offers `apply(op, inputs, attrs)`, `write(target, op, inputs, attrs)`, `get_grad(t)` and
`set_grad(t, value)`: the eager one in eager.py, the graph builder in graph/builder.py.
Graph mode itself (`dg.graph_mode`, and TF1's `placeholder`, `constant`, `Variable`) lives beside
its interpreter in graph/builder.py; the default graph and name scopes in graph/core.py.
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
