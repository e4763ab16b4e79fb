"""Cross-entropy forward and backward as one numba loop each, when fusion is on (`dg.set_fusion`).

The numpy kernels of cross_entropy and its backward (ops/nn_ops.py) make ten-odd numpy calls on
the (N, C) logits: max, subtract, exp, sum, log, the targets' check, gather, reduce. On a
classifier's few classes that is all per-call cost, and in a training step it costs several
times what it does alone (the calls run right after a big matrix product has evicted numpy's
code and data from the caches): replacing both by one loop each takes ~40 us off the
784-256-128-10 MLP step at batch 64 (`benchmarks/train_step.py`, compiled+fused rows).

The loops compute what the numpy kernels compute (log-sum-exp shifted by the row's maximum, the
mean over the rows that count), in one pass per row; exp, log and the sums round differently
from numpy's vectorised ones, so fused plans equal unfused ones within float rounding, as the
other fused kernels do (tests/test_fuse_losses.py). Only 2-D float32/float64 logits with 1-D
integer targets and reduction "mean" or "sum" are taken; at run time a target out of range
makes the loop hand the call back to the numpy kernel, which raises PyTorch's error.
"""
import numpy as np

from ...ops.nn_ops import cross_entropy_op, cross_entropy_backward_op
from .fuse_elementwise import compile_kernel

# what both loops do per row: the targets' check, the row's maximum (NaN wins, as np.max's)
_ROWS = '''import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def _count(t, c, ignore_index):
    """How many rows count; -1 when a target is out of range (and not ignored)."""
    count = 0
    for i in range(t.shape[0]):
        ti = t[i]
        if ti == ignore_index:
            continue
        if ti < 0 or ti >= c:
            return -1
        count += 1
    return count


@njit(cache=True, nogil=True, error_model="numpy")
def _row_max(x, i):
    m = x[i, 0]
    for j in range(1, x.shape[1]):
        v = x[i, j]
        if v > m or v != v:
            m = v
    return m
'''

_FORWARD = _ROWS + '''

@njit(cache=True, nogil=True, error_model="numpy")
def kernel(x, t, ignore_index, mean, res):
    """res[0] = the loss; returns False when a target is out of range (and not ignored)."""
    n, c = x.shape
    count = _count(t, c, ignore_index)
    if count < 0:
        return False
    total = x.dtype.type(0)
    for i in range(n):
        ti = t[i]
        if ti == ignore_index:
            continue
        m = _row_max(x, i)
        s = x.dtype.type(0)
        for j in range(c):
            s += np.exp(x[i, j] - m)
        total += np.log(s) - (x[i, ti] - m)
    res[0] = total / x.dtype.type(count) if mean else total
    return True
'''

_BACKWARD = _ROWS + '''

@njit(cache=True, nogil=True, error_model="numpy")
def kernel(g, x, t, ignore_index, mean, out):
    """out = d loss / d x for the upstream gradient g (a 0-d array); False as the forward."""
    n, c = x.shape
    count = _count(t, c, ignore_index)
    if count < 0:
        return False
    scale = g[()] / x.dtype.type(count) if mean else g[()]
    zero = scale * 0   # an ignored row's scale, as numpy's kernel has it (NaN if scale is)
    for i in range(n):
        ti = t[i]
        row = scale
        if ti == ignore_index:   # (the numpy kernel's safe target for it: class 0)
            ti = 0
            row = zero
        m = _row_max(x, i)
        s = x.dtype.type(0)
        for j in range(c):
            e = np.exp(x[i, j] - m)
            out[i, j] = e
            s += e
        for j in range(c):
            out[i, j] = out[i, j] / s * row
        out[i, ti] -= row
    return True
'''


def _forward_caller(kernel, fallback):
    def cross_entropy(x, target, ignore_index, reduction):
        res = np.empty(1, x.dtype)
        if x.flags.c_contiguous and kernel(x, target, ignore_index, reduction == "mean", res):
            return res.reshape(())
        return fallback(x, target, ignore_index, reduction)   # (its error, its layout)
    return cross_entropy


def _backward_caller(kernel, fallback):
    def cross_entropy_backward(g, x, target, ignore_index, reduction):
        out = np.empty(x.shape, x.dtype)
        gg = np.asarray(g, x.dtype)
        if x.flags.c_contiguous and kernel(gg, x, target, ignore_index, reduction == "mean", out):
            return out
        return fallback(g, x, target, ignore_index, reduction)
    return cross_entropy_backward


def _takes(step, known):
    """Whether the loop computes this cross_entropy (or its backward) step: 2-D float logits,
    1-D integer targets, a reduced loss, a Python int ignore_index."""
    if step.attrs.get("reduction") not in ("mean", "sum") or type(step.attrs.get("ignore_index")) is not int:
        return False
    names = [a for k, a in step.args if k == "node"]
    if len(names) != len(step.args):
        return False
    x_name, t_name = (names[0], names[1]) if step.op is cross_entropy_op else (names[1], names[2])
    x, t = known.get(x_name), known.get(t_name)
    return (x is not None and t is not None and x.shape is not None and len(x.shape) == 2
            and x.dtype in (np.float32, np.float64) and t.shape is not None and len(t.shape) == 1
            and t.dtype.kind in "iu" and step.dtype == x.dtype)


def fuse_losses(steps):
    """Give each cross_entropy / cross_entropy_backward step the loop kernel where it applies;
    returns (steps, how many)."""
    known = {s.name: s for s in steps}
    n = 0
    for s in steps:
        if s.op not in (cross_entropy_op, cross_entropy_backward_op) or not _takes(s, known):
            continue
        if s.op is cross_entropy_op:
            s.kernel = _forward_caller(compile_kernel(_FORWARD), s.op.forward)
        else:
            s.kernel = _backward_caller(compile_kernel(_BACKWARD), s.op.forward)
        s.takes_out = s.out_capable = False
        n += 1
    return steps, n
