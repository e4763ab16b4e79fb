"""Multi-tensor in-place updates (PyTorch's torch._foreach_mul_ and torch._foreach_add_): how
the optimizers' steps update their lists of parameters and states, one op over the whole list.

Eagerly the list goes through the write door once (dispatch.apply_inplace_each, then
EagerInterpreter.write_each): under no_grad each float tensor takes exactly the numpy call its
own method would make, with the same version bump, so the numbers are the same bits, and the
per-tensor dispatch (~1-2 us hot, several times that right after a backward pass has evicted
the interpreter from the caches) is paid once per list. While a graph is built, each tensor's
method records its write as always.
"""
from itertools import repeat

from ..mode import executing_eagerly
from ..ops import elementwise as E
from ..ops.dispatch import apply_inplace_each

__all__ = ["foreach_mul_", "foreach_add_"]


def foreach_mul_(tensors, scalar):
    """t.mul_(scalar) for each t."""
    if executing_eagerly():
        return apply_inplace_each(tensors, E.mul_op, repeat(scalar))
    for t in tensors:
        t.mul_(scalar)
    return tensors


def foreach_add_(tensors, others, *, alpha=1):
    """t.add_(o, alpha=alpha) for each pair (with alpha not 1, o * alpha first, as the method)."""
    if executing_eagerly():
        return apply_inplace_each(tensors, E.add_op, others, alpha)
    for t, o in zip(tensors, others):
        t.add_(o, alpha=alpha)
    return tensors
