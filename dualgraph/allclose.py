"""allclose / equal / isclose: answers about values, so eager-only (a Python bool).

(Formerly compare_values.py, which remains as an alias; `dualgraph.compare` is the other
comparison: eager against dg.function.)"""
import numpy as np

from .errors import DGRuntimeError, DGTypeError
from .tensor import Tensor, wrap_array

__all__ = ["allclose", "isclose", "equal"]


def _arr(x, name):
    if isinstance(x, Tensor):
        return x._data
    if hasattr(x, "graph"):
        raise DGTypeError(f"{name}() needs values; a symbolic tensor has none until the graph runs")
    return np.asarray(x)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = _arr(input, "allclose"), _arr(other, "allclose")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise DGRuntimeError(
            f"The size of tensor a ({a.shape[-1]}) must match the size of tensor b ({b.shape[-1]}) at non-singleton dimension {max(a.ndim, b.ndim) - 1}") from None
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return wrap_array(np.isclose(_arr(input, "isclose"), _arr(other, "isclose"), rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input, other):
    a, b = _arr(input, "equal"), _arr(other, "equal")
    return a.shape == b.shape and bool(np.array_equal(a, b))
