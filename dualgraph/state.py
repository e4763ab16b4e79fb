"""Thread-local interpreter state: the current mode, the mode stack and the grad flag.

Kept in its own module so the dispatcher, the eager interpreter and the graph builder can all
read it without importing one another.
"""
import threading

_default_mode = [None]  # set to the eager interpreter when dualgraph.eager is imported


class _State(threading.local):
    def __init__(self):
        self.mode = _default_mode[0]
        self.stack = []
        self.grad_enabled = True


_state = _State()


def set_default_mode(mode):
    _default_mode[0] = mode
    if _state.mode is None:
        _state.mode = mode
