"""The mode switch: which interpreter runs an op (eager, or a graph being built).

`ops.dispatch.apply` asks `state._state.mode` and nothing else; these context managers push and
pop that thread-local mode.
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
