"""Multi-tensor in-place updates (PyTorch's torch._foreach_mul_ and torch._foreach_add_): how
the optimizers' steps update their lists of parameters and states.

`foreach_writes(updates)` runs a list of such updates index by index: parameter i's writes
(say SGD's `buf.mul_(m)`, `buf.add_(g)`, `p.add_(buf, alpha=-lr)`) one after the other, as the
single-tensor form orders them, while that parameter's arrays are in cache (op after op over
the whole list would stream every array from memory once per op). Eagerly the whole list goes
through the write door once (dispatch.apply_inplace_each, then EagerInterpreter.write_each):
under no_grad each float tensor takes exactly the numpy call its own method would make, with
the same version bump, so the numbers are the same bits, and the per-tensor dispatch (~1-2 us
hot, several times that right after a backward pass has evicted the interpreter from the
caches) is paid once per list. While a graph is built (GraphInterpreter.write_each), each write
goes through the door by itself, in the same order: a traced step records what the
single-tensor form records.
"""
from itertools import repeat

from ..errors import DGRuntimeError
from ..ops import elementwise as E
from ..ops.dispatch import apply_inplace_each

__all__ = ["foreach_writes", "foreach_mul_", "foreach_add_"]

MUL, ADD = E.mul_op, E.add_op   # (the ops an update may name)


def foreach_writes(updates):
    """updates: [(targets, op, others, alpha)], lists (or iterables) of one length, op
    foreach.MUL or foreach.ADD; for each index i in turn, each update has targets[i] take
    op(targets[i], others[i] * alpha) (others[i] alone when alpha is 1), exactly as
    targets[i].mul_(others[i]) or targets[i].add_(others[i], alpha=alpha); a None target is
    skipped."""
    sizes = [len(x) for targets, _, others, _ in updates for x in (targets, others) if hasattr(x, "__len__")]
    for n in sizes:   # (zip would drop the rest silently)
        if n != sizes[0]:
            raise DGRuntimeError(f"Tensor lists must have the same number of tensors, got {sizes[0]} and {n}")
    apply_inplace_each(updates)


def foreach_mul_(tensors, scalar):
    """t.mul_(scalar) for each t."""
    foreach_writes([(tensors, MUL, repeat(scalar), 1)])
    return tensors


def foreach_add_(tensors, others, *, alpha=1):
    """t.add_(o, alpha=alpha) for each pair (with alpha not 1, o * alpha first, as the method)."""
    foreach_writes([(tensors, ADD, others, alpha)])
    return tensors
