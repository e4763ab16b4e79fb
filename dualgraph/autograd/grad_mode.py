"""no_grad / enable_grad / set_grad_enabled: a thread-local flag the eager interpreter reads."""
import functools

from ..state import _state


class _GradMode:
    _value = None

    def __new__(cls, orig_func=None):
        self = super().__new__(cls)
        if orig_func is not None and cls is not set_grad_enabled:  # bare @dg.no_grad
            if not callable(orig_func):
                raise TypeError(f"{cls.__name__}() takes no arguments")
            return self(orig_func)
        return self

    def __enter__(self):
        self._prev = _state.grad_enabled
        _state.grad_enabled = self._value
        return self

    def __exit__(self, *exc):
        _state.grad_enabled = self._prev
        return False

    def _fresh(self):
        return self.__class__()

    def __call__(self, fn):  # usable as a decorator, as in PyTorch
        @functools.wraps(fn)
        def wrapper(*a, **k):
            with self._fresh():
                return fn(*a, **k)
        return wrapper


class no_grad(_GradMode):
    _value = False


class enable_grad(_GradMode):
    _value = True


class set_grad_enabled(_GradMode):
    def __init__(self, mode):
        self._value = bool(mode)
        self._prev = _state.grad_enabled
        _state.grad_enabled = self._value  # takes effect when called, as in PyTorch

    def __enter__(self):
        return self

    def __call__(self, fn):
        _state.grad_enabled = self._prev  # as a decorator it changes nothing until fn runs
        return super().__call__(fn)

    def _fresh(self):
        return set_grad_enabled(self._value)


def is_grad_enabled():
    return _state.grad_enabled


class inference_mode(_GradMode):
    """Like no_grad (PyTorch's inference_mode(mode=True)); context manager or decorator.
    inference_mode(False) leaves grad mode as it is."""

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, bool):  # bare @dg.inference_mode
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = _state.grad_enabled
        if self.mode:
            _state.grad_enabled = False
        return self

    def _fresh(self):
        return inference_mode(self.mode)


def is_inference_mode_enabled():
    """True inside dg.inference_mode() (approximated: grad mode off)."""
    return not _state.grad_enabled
