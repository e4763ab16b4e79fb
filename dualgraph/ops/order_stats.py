"""Order statistics and NaN-aware reductions: median, nanmedian, kthvalue, mode, cummax,
cummin, quantile, nanquantile, logcumsumexp (kernels, shape rules, public functions), and
aminmax, nansum, nanmean, count_nonzero (compositions of the reductions).

The value-selecting ones (median/kthvalue/mode/cummax with a dim) are an op giving the indices
(PyTorch's, ties included) and the values gathered at them, so the gradient goes to the
selected element, as PyTorch's value_selecting_reduction_backward. PyTorch picks among equal
values by the algorithms of its CPU kernels: median with a dim takes the stable order's
element ((n - 1) // 2, the first NaN if any); kthvalue runs its own quickselect
(SortingUtils.h), mode libstdc++'s std::sort, nanmedian of an all-NaN slice and median() of
equal zeros of both signs libstdc++'s std::nth_element. Where several elements are equal at the
selected rank those algorithms are replayed here, in Python (slow for long slices; the common
case with no tie there is vectorised). The backward rules are in ops/vjps/order_stats.py.
"""
from collections import namedtuple

import numpy as np

from ..dtypes import I64, scalar_name, to_np
from ..errors import DGIndexError, DGNotImplementedError, DGRuntimeError, DGTypeError
from .common import Spec, norm_dim, numel
from .dispatch import apply
from . import elementwise as E
from . import reductions as R
from .reductions import MinMax
from .registry import defop
from .shape import gather_op, squeeze_op


# ================================================================ libstdc++ / ATen algorithms
# Each works on a Python list `a` of items, ordered by `less(a, b)` (a strict "a before b").
def _swap(a, i, j):
    a[i], a[j] = a[j], a[i]


def _move_median_to_first(a, result, x, y, z, less):
    if less(a[x], a[y]):
        if less(a[y], a[z]):
            _swap(a, result, y)
        elif less(a[x], a[z]):
            _swap(a, result, z)
        else:
            _swap(a, result, x)
    elif less(a[x], a[z]):
        _swap(a, result, x)
    elif less(a[y], a[z]):
        _swap(a, result, z)
    else:
        _swap(a, result, y)


def _unguarded_partition(a, first, last, pivot, less):
    n = len(a)
    while True:
        while first < n - 1 and less(a[first], a[pivot]):
            first += 1
        last -= 1
        while last > 0 and less(a[pivot], a[last]):
            last -= 1
        if not first < last:
            return first
        _swap(a, first, last)
        first += 1


def _unguarded_partition_pivot(a, first, last, less):
    mid = first + (last - first) // 2
    _move_median_to_first(a, first, first + 1, mid, last - 1, less)
    return _unguarded_partition(a, first + 1, last, first, less)


def _unguarded_linear_insert(a, last, less):
    val = a[last]
    nxt = last - 1
    while nxt >= 0 and less(val, a[nxt]):
        a[last] = a[nxt]
        last = nxt
        nxt -= 1
    a[last] = val


def _insertion_sort(a, first, last, less):
    if first == last:
        return
    for i in range(first + 1, last):
        if less(a[i], a[first]):
            val = a[i]
            a[first + 1:i + 1] = a[first:i]
            a[first] = val
        else:
            _unguarded_linear_insert(a, i, less)


def _adjust_heap(a, first, hole, length, val, less):
    top = child = hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if less(a[first + child], a[first + child - 1]):
            child -= 1
        a[first + hole] = a[first + child]
        hole = child
    if length % 2 == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        a[first + hole] = a[first + child - 1]
        hole = child - 1
    parent = (hole - 1) // 2
    while hole > top and less(a[first + parent], val):
        a[first + hole] = a[first + parent]
        hole = parent
        parent = (hole - 1) // 2
    a[first + hole] = val


def _make_heap(a, first, last, less):
    n = last - first
    if n < 2:
        return
    parent = (n - 2) // 2
    while True:
        _adjust_heap(a, first, parent, n, a[first + parent], less)
        if parent == 0:
            return
        parent -= 1


def _pop_heap(a, first, last, result, less):
    val = a[result]
    a[result] = a[first]
    _adjust_heap(a, first, 0, last - first, val, less)


def _heap_select(a, first, middle, last, less):
    _make_heap(a, first, middle, less)
    for i in range(middle, last):
        if less(a[i], a[first]):
            _pop_heap(a, first, middle, i, less)


def _lg2(n):
    return n.bit_length() - 1


def nth_element(a, nth, less):
    """std::nth_element (libstdc++'s introselect), in place."""
    first, last = 0, len(a)
    if first == last or nth == last:
        return
    depth = 2 * _lg2(last - first)
    while last - first > 3:
        if depth == 0:
            _heap_select(a, first, nth + 1, last, less)
            _swap(a, first, nth)
            return
        depth -= 1
        cut = _unguarded_partition_pivot(a, first, last, less)
        if cut <= nth:
            first = cut
        else:
            last = cut
    _insertion_sort(a, first, last, less)


def std_sort(a, less):
    """std::sort (libstdc++'s introsort, then its final insertion sort), in place."""
    n = len(a)
    if n < 2:
        return
    _introsort_loop(a, 0, n, 2 * _lg2(n), less)
    if n > 16:
        _insertion_sort(a, 0, 16, less)
        for i in range(16, n):
            _unguarded_linear_insert(a, i, less)
    else:
        _insertion_sort(a, 0, n, less)


def _introsort_loop(a, first, last, depth, less):
    while last - first > 16:
        if depth == 0:
            _heap_select(a, first, last, last, less)
            while last - first > 1:
                last -= 1
                _pop_heap(a, first, last, last, less)
            return
        depth -= 1
        cut = _unguarded_partition_pivot(a, first, last, less)
        _introsort_loop(a, cut, last, depth, less)
        last = cut


def _isnan(v):
    return v != v


def torch_quickselect_index(vals, k):
    """ATen's quick_select_template (SortingUtils.h) as kthvalue runs it: the original index of
    the element it leaves at position k (NaN sorts last)."""
    arr = list(vals)
    idx = list(range(len(arr)))

    def gt(x, y):
        return (x != x and y == y) or x > y

    def swap(i, j):
        arr[i], arr[j] = arr[j], arr[i]
        idx[i], idx[j] = idx[j], idx[i]

    lo, hi = 0, len(arr) - 1
    while True:
        if hi <= lo:
            break
        if hi == lo + 1:
            if gt(arr[lo], arr[hi]):
                swap(lo, hi)
            break
        p = lo + (hi - lo) // 2
        swap(p, lo + 1)
        if gt(arr[lo + 1], arr[hi]):
            swap(lo + 1, hi)
        if gt(arr[lo], arr[hi]):
            swap(lo, hi)
        if gt(arr[lo + 1], arr[lo]):
            swap(lo + 1, lo)
        i, j, piv = lo + 1, hi, arr[lo]
        while True:
            i += 1
            while i < len(arr) - 1 and gt(piv, arr[i]):
                i += 1
            j -= 1
            while j > 0 and gt(arr[j], piv):
                j -= 1
            if j < i:
                break
            swap(i, j)
        swap(lo, j)
        if j <= k:
            lo = i
        if j >= k:
            hi = j - 1
    return idx[k]


# ================================================================ shared helpers
def _rows(x, d):
    """x with dim d last, as (rows, n) (a copy when needed), and the kept-dim shape."""
    m = np.moveaxis(x, d, -1)
    kept = m.shape[:-1] + (1,)
    return m.reshape(-1, m.shape[-1]), kept


def _unmove(r, kept, d, ndim):
    """(rows,) indices back to the keepdim shape with dim d."""
    return np.moveaxis(r.reshape(kept), -1, d)


def _ties_at(sorted_rows, k):
    """Rows whose element at sorted position k has an equal (NaN equal to NaN) elsewhere."""
    v = sorted_rows[:, k:k + 1]
    eq = (sorted_rows == v)
    if sorted_rows.dtype.kind == "f":
        eq |= np.isnan(sorted_rows) & np.isnan(v)
    return eq.sum(axis=1) > 1


def _py(row):
    """A row as Python numbers (their order and NaN comparisons are C's)."""
    return row.astype(np.float64).tolist() if row.dtype.kind == "f" else row.tolist()


def _no_bool(x, kernel):
    if x.dtype.kind == "b":
        raise DGNotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")


def _nonzero_dim(name, x, d):
    if len(x.shape) and x.shape[d] == 0:
        raise DGIndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


def _keep_shape(shape, d):
    s = list(shape)
    if s:
        s[d] = 1
    return tuple(s)


def _indices_infer(name, kernel):
    def infer(x, dim, **kw):
        _no_bool(x, kernel) if kernel else None
        d = norm_dim(dim, len(x.shape))
        _nonzero_dim(name, x, d)
        return Spec(_keep_shape(x.shape, d), I64)
    return infer


# ================================================================ median / nanmedian
def _median_less(ignore_nan):
    if ignore_nan:
        return lambda a, b: a < b or (b != b and a == a)
    return lambda a, b: a < b


def _median_value_kernel(x, ignore_nan=False):
    flat = x.reshape(-1)
    if flat.size == 0:
        return np.asarray(np.nan, x.dtype) if x.dtype.kind == "f" else np.zeros((), x.dtype)
    if x.dtype.kind == "f":
        nan = np.isnan(flat)
        if nan.any() and not ignore_nan:
            return np.asarray(flat[int(np.argmax(nan))])
        n = flat.size - int(nan.sum()) if ignore_nan else flat.size
        if n == 0:
            return np.asarray(flat[0])
        k = (n - 1) // 2
        v = np.partition(flat[~nan] if ignore_nan else flat, k)[k]
        if v == 0 and np.signbit(flat[flat == 0]).any() and not np.signbit(flat[flat == 0]).all():
            # which zero lands there is std::nth_element's choice: replayed on the values
            a = _py(flat)
            nth_element(a, k, _median_less(ignore_nan))
            return np.asarray(a[k], x.dtype)
        return np.asarray(v, x.dtype)
    k = (flat.size - 1) // 2
    return np.asarray(np.partition(flat, k)[k])


def _median_value_infer(x, ignore_nan=False):
    _no_bool(x, "median_cpu")  # (nanmedian too: PyTorch's names)
    return Spec((), x.dtype)


median_op = defop("median", _median_value_kernel, _median_value_infer, saves_output=True,
                  check_eager=True, torch_name="Median")


def _median_indices_kernel(x, dim, ignore_nan=False):
    if x.ndim == 0:
        return np.zeros((), I64)
    d = dim % x.ndim
    rows, kept = _rows(x, d)
    nrow, n = rows.shape
    if nrow == 0 or n == 0:
        return np.zeros(_keep_shape(x.shape, d), I64)
    order = np.argsort(rows, axis=1, kind="stable")     # NaNs last, equal values by index
    out = np.empty(nrow, I64)
    if rows.dtype.kind == "f":
        nan = np.isnan(rows)
        nnan = nan.sum(axis=1)
    else:
        nan, nnan = None, np.zeros(nrow, np.int64)
    if ignore_nan:
        valid = n - nnan
        k = np.where(valid > 0, (valid - 1) // 2, 0)
        out[:] = order[np.arange(nrow), k]
        less = lambda i, j, v: (v[i] < v[j] or (v[i] == v[j] and i < j)  # noqa: E731
                                or (v[j] != v[j] and v[i] == v[i]))
        for r in np.nonzero(valid == 0)[0]:   # an all-NaN slice: nth_element's choice
            v = _py(rows[r])
            a = list(range(n))
            nth_element(a, 0, lambda i, j: less(i, j, v))
            out[r] = a[0]
    else:
        out[:] = order[:, (n - 1) // 2]
        if nan is not None:
            has = nnan > 0
            out[has] = np.argmax(nan[has], axis=1)  # the first NaN
    return _unmove(out, kept, d, x.ndim)


median_indices_op = defop("median_indices", _median_indices_kernel,
                          lambda x, dim, ignore_nan=False: _indices_infer("median", "median_out")(x, dim),
                          saves=(), check_eager=True, torch_name="MedianIndices",
                          doc="the index of the median along dim (PyTorch's: the stable order's)")


def _select(indices_op, input, dim, keepdim, **attrs):
    d = norm_dim(dim, len(input.shape))
    idx = apply(indices_op, input, dim=d, **attrs)
    values = apply(gather_op, input, idx, dim=d)
    if not keepdim:
        values = apply(squeeze_op, values, dim=d)
        idx = apply(squeeze_op, idx, dim=d)
    return MinMax(values, idx)


def median(input, dim=None, keepdim=False):
    """torch.median: the lower median of all elements (NaN if any), or (values, indices)
    along dim."""
    if dim is None:
        return apply(median_op, input, ignore_nan=False)
    return _select(median_indices_op, input, dim, keepdim, ignore_nan=False)


def nanmedian(input, dim=None, keepdim=False):
    """torch.nanmedian: median ignoring NaNs (NaN only where every element is NaN)."""
    if dim is None:
        return apply(median_op, input, ignore_nan=True)
    return _select(median_indices_op, input, dim, keepdim, ignore_nan=True)


# ================================================================ kthvalue
def _kth_infer(x, k, dim):
    _no_bool(x, "kthvalue_cpu")
    d = norm_dim(dim, len(x.shape))
    _nonzero_dim("kthvalue", x, d)
    size = x.shape[d] if x.shape else 1
    if size is not None and not 1 <= k <= size:
        raise DGRuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    return Spec(_keep_shape(x.shape, d), I64)


def _kth_kernel(x, k, dim):
    if x.ndim == 0:
        if k != 1:
            raise DGRuntimeError("kthvalue(): selected number k out of range for dimension 0")
        return np.zeros((), I64)
    d = dim % x.ndim
    if not 1 <= k <= x.shape[d]:
        raise DGRuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    rows, kept = _rows(x, d)
    order = np.argsort(rows, axis=1, kind="stable")
    out = order[:, k - 1].astype(I64)
    if rows.size:
        srt = np.take_along_axis(rows, order, axis=1)
        for r in np.nonzero(_ties_at(srt, k - 1))[0]:
            out[r] = torch_quickselect_index(_py(rows[r]), k - 1)
    return _unmove(out, kept, d, x.ndim)


kthvalue_indices_op = defop("kthvalue_indices", _kth_kernel, _kth_infer, saves=(),
                            check_eager=True, torch_name="KthvalueIndices",
                            doc="the index of the k-th smallest along dim (PyTorch's quickselect)")


def kthvalue(input, k, dim=-1, keepdim=False):
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise DGTypeError(f"kthvalue(): argument 'k' (position 2) must be int, not {type(k).__name__}")
    return _select(kthvalue_indices_op, input, dim, keepdim, k=int(k))


# ================================================================ mode
def _mode_row(vals):
    """PyTorch's mode_kernel_impl on one slice: std::sort of (value, index) by value, then the
    first longest run; its last element's index."""
    items = list(zip(vals, range(len(vals))))
    std_sort(items, lambda a, b: a[0] < b[0])
    best, best_freq, freq = 0, 0, 0
    for i, (v, j) in enumerate(items):
        freq += 1
        if i == len(items) - 1 or v != items[i + 1][0]:
            if freq > best_freq:
                best, best_freq = j, freq
            freq = 0
    return best


def _mode_kernel(x, dim):
    if x.ndim == 0:
        return np.zeros((), I64)
    d = dim % x.ndim
    rows, kept = _rows(x, d)
    out = np.array([_mode_row(_py(r)) for r in rows], I64)
    return _unmove(out, kept, d, x.ndim)


mode_indices_op = defop("mode_indices", _mode_kernel, _indices_infer("mode", None), saves=(),
                        check_eager=True, torch_name="ModeIndices",
                        doc="the index of the most frequent value along dim (PyTorch's)")


def mode(input, dim=-1, keepdim=False):
    """torch.mode: (values, indices) of the most frequent value along dim (the smallest of
    equally frequent ones)."""
    return _select(mode_indices_op, input, dim, keepdim)


# ================================================================ cummax / cummin
def _cum_indices_kernel(x, dim, minimum=False):
    if x.ndim == 0:
        return np.zeros((), I64)
    d = dim % x.ndim
    if x.shape[d] == 0:
        return np.zeros(x.shape, I64)
    vals = (np.minimum if minimum else np.maximum).accumulate(x, axis=d)
    update = x == vals
    if x.dtype.kind == "f":
        update |= np.isnan(x)
    shape = [1] * x.ndim
    shape[d] = x.shape[d]
    pos = np.arange(x.shape[d], dtype=I64).reshape(shape)
    return np.maximum.accumulate(np.where(update, pos, 0), axis=d)


def _cum_indices_infer(x, dim, minimum=False):
    norm_dim(dim, len(x.shape))
    return Spec(x.shape, I64)


cummax_indices_op = defop("cummax_indices", _cum_indices_kernel, _cum_indices_infer, saves=(),
                          torch_name="CummaxIndices",
                          doc="the index of the running max (min) along dim: the last of equal "
                              "values, a NaN once seen (PyTorch's)")


def _cum_select(input, dim, minimum):
    d = norm_dim(dim, len(input.shape))
    idx = apply(cummax_indices_op, input, dim=d, minimum=minimum)
    return MinMax(apply(gather_op, input, idx, dim=d), idx)


def cummax(input, dim):
    return _cum_select(input, dim, False)


def cummin(input, dim):
    return _cum_select(input, dim, True)


# ================================================================ logcumsumexp
def _lcse_infer(x, dim):
    norm_dim(dim, len(x.shape))
    if x.dtype.kind != "f":
        raise DGNotImplementedError(
            f"\"logcumsumexp_out_cpu\" not implemented for '{scalar_name(x.dtype)}'")
    return Spec(x.shape, x.dtype)


def _lcse_kernel(x, dim):
    if x.ndim == 0:
        return x.copy()
    d = dim % x.ndim
    with np.errstate(all="ignore"):
        r = np.logaddexp.accumulate(x, axis=d)
    if r.shape[d]:
        # PyTorch starts from -inf: its first term is log_add_exp(x0, -inf) = x0 + 0 (+0.0
        # where x0 is -0.0)
        first = (slice(None),) * d + (slice(0, 1),)
        r[first] += np.zeros((), r.dtype)
    return r


logcumsumexp_op = defop("logcumsumexp", _lcse_kernel, _lcse_infer, check_eager=True,
                        saves_output=True, torch_name="Logcumsumexp")


def logcumsumexp(input, dim):
    return apply(logcumsumexp_op, input, dim=dim)


# ================================================================ quantile / nanquantile
_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _q_moved(x, dim):
    """x with the reduced dim last ((n,) flattened when dim is None)."""
    if dim is None:
        return x.reshape(-1)
    if x.ndim == 0:
        return x.reshape(1)
    return np.moveaxis(x, dim, -1)


def quantile_out_shape(xshape, qshape, dim, keepdim):
    nd = len(xshape)
    if dim is None:
        rest = (1,) * nd if keepdim else ()
    else:
        d = dim % max(nd, 1)
        rest = tuple(1 if i == d else s for i, s in enumerate(xshape)) if keepdim else \
            tuple(s for i, s in enumerate(xshape) if i != d)
    return tuple(qshape) + rest


def _np_ranks(s, qv, interpolation, ignore_nan):
    """ATen's quantile_compute on values sorted along the last dim (NaN last): (below, above,
    weights), each (..., k)."""
    dt = s.dtype
    n = s.shape[-1]
    nan = np.isnan(s)
    if ignore_nan:
        cnt = (~nan).sum(axis=-1, keepdims=True)
        ranks = qv * (cnt - 1).astype(dt)
        ranks = np.where(ranks < 0, np.zeros((), dt), ranks)
    else:
        last = n - 1
        ranks = np.where(nan.any(axis=-1, keepdims=True), np.asarray(last, dt), qv * np.asarray(last, dt))
    ranks = ranks.astype(dt, copy=False)
    if interpolation == "lower":
        ranks = np.floor(ranks)
    elif interpolation == "higher":
        ranks = np.ceil(ranks)
    elif interpolation == "nearest":
        ranks = np.round(ranks)
    below = ranks.astype(I64)
    if interpolation == "midpoint":
        w = np.full(ranks.shape, 0.5, dt)
    else:
        w = (ranks - below.astype(dt)).astype(dt, copy=False)
    above = np.ceil(ranks).astype(I64)
    return below, above, w


def _lerp(a, b, w):
    """ATen's lerp: a + w * (b - a) for |w| < 0.5, else b - (b - a) * (1 - w)."""
    with np.errstate(all="ignore"):
        return np.where(np.abs(w) < 0.5, a + w * (b - a), b - (b - a) * (np.ones((), w.dtype) - w))


def _quantile_kernel(x, *q, dim=None, keepdim=False, interpolation="linear", ignore_nan=False,
                     qs=None):
    qa = q[0] if q else np.asarray(qs, x.dtype)
    if q and not np.all((qa >= 0) & (qa <= 1)):   # (a q fed to a graph: checked when it runs)
        raise DGRuntimeError("quantile() q values must be in the range [0, 1]")
    m = _q_moved(x, dim)
    s = np.take_along_axis(m, np.argsort(m, axis=-1, kind="stable"), axis=-1)
    qv = qa.reshape(-1).astype(x.dtype, copy=False)
    below, above, w = _np_ranks(s, qv, interpolation, ignore_nan)
    r = np.take_along_axis(s, below, axis=-1)
    if interpolation in ("linear", "midpoint"):
        r = _lerp(r, np.take_along_axis(s, above, axis=-1), w).astype(x.dtype, copy=False)
    r = r[..., 0] if qa.ndim == 0 else np.moveaxis(r, -1, 0)
    return np.ascontiguousarray(r).reshape(quantile_out_shape(x.shape, qa.shape, dim, keepdim))


def _quantile_infer(x, *q, dim=None, keepdim=False, interpolation="linear", ignore_nan=False,
                    qs=None):
    qshape = tuple(q[0].shape) if q else ()
    return Spec(quantile_out_shape(tuple(x.shape), qshape, dim, keepdim), x.dtype)


quantile_op = defop("quantile", _quantile_kernel, _quantile_infer, saves=(0,),
                    torch_name="Quantile")


def _quantile(name, input, q, dim, keepdim, interpolation, ignore_nan):
    qt = hasattr(q, "shape") and hasattr(q, "dtype") and not isinstance(q, np.ndarray)
    if not qt and not 0 <= float(q) <= 1:
        raise DGRuntimeError(f"quantile() q must be in the range [0, 1] but got {float(q)}")
    if interpolation not in _INTERPOLATIONS:
        raise DGRuntimeError(
            "quantile() interpolation must be one of linear, lower, higher, midpoint or "
            f"nearest, but got {interpolation}")
    if numel(tuple(input.shape)) == 0:
        raise DGRuntimeError("quantile() input tensor must be non-empty")
    if qt and len(q.shape) > 1:
        raise DGRuntimeError("quantile() q must be a scalar or 1D tensor")
    dt = input._np_dtype()
    if dt not in (np.float32, np.float64):
        raise DGRuntimeError("quantile() input tensor must be either float or double dtype")
    if qt and q._np_dtype() != dt:
        raise DGRuntimeError("quantile() q tensor must be same dtype as the input tensor")
    if qt:
        v = _known_values(q)
        if v is not None and not np.all((v >= 0) & (v <= 1)):
            raise DGRuntimeError("quantile() q values must be in the range [0, 1]")
    d = None if dim is None else norm_dim(dim, len(input.shape))
    if d is not None and input.shape and input.shape[d] is None or \
            d is None and None in tuple(input.shape):
        raise DGRuntimeError(
            f"{name}(): the size of the reduced dimension is unknown while the graph is built; "
            "give it a static size")
    attrs = dict(dim=d, keepdim=bool(keepdim), interpolation=interpolation,
                 ignore_nan=ignore_nan)
    if qt:
        return apply(quantile_op, input, q, **attrs)
    return apply(quantile_op, input, qs=float(q), **attrs)


def _known_values(t):
    """An eager tensor's values, a graph constant's, else None (checked when it runs: not)."""
    node = getattr(t, "node", None)
    if node is None:
        return np.asarray(t._data)
    if node.op.name == "constant":
        return np.asarray(node.attrs["value"])
    return None


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    return _quantile("quantile", input, q, dim, keepdim, interpolation, False)


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, True)


# ================================================================ compositions
class AMinMax(namedtuple("AMinMax", ["min", "max"])):
    """(min, max), as torch.return_types.aminmax (a namedtuple: the tree utilities take it
    apart and build it again)."""

    __slots__ = ()

    def __repr__(self):
        return f"return_types.aminmax(min={self[0]!r}, max={self[1]!r})"


def aminmax(input, *, dim=None, keepdim=False):
    """torch.aminmax: (amin, amax) over dim (every element when None); the gradient of each is
    shared among the elements equal to it, as amin's and amax's."""
    shape = tuple(input.shape)
    if dim is None:
        if numel(shape) == 0:
            raise DGRuntimeError(
                "aminmax(): cannot compute aminmax over an empty dimension as the operation has "
                "no identity.")
        dims = None
    else:
        d = norm_dim(dim, len(shape))
        if shape and shape[d] == 0:
            raise DGIndexError(f"aminmax: Expected reduction dim {d} to have non-zero size.")
        dims = d
    if dims is None and keepdim:
        dims = tuple(range(len(shape))) or None
    return AMinMax(R.amin(input, dims, keepdim), R.amax(input, dims, keepdim))


def _nansum_kernel(x, dim=None, keepdim=False, dtype=None):
    if x.dtype.kind == "f":
        x = np.where(np.isnan(x), np.zeros((), x.dtype), x)
    return R._sum_kernel(x, dim, keepdim, dtype)


nansum_op = defop("nansum", _nansum_kernel, R._reduce_infer(R._sum_dtype), torch_name="Nansum")


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """torch.nansum: sum with NaNs counted as zero; the gradient is g * (x == x), as PyTorch's
    (so an inf or NaN gradient meets the NaN positions as a product)."""
    return apply(nansum_op, input, dim=R._dims(dim), keepdim=keepdim, dtype=to_np(dtype))


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """torch.nanmean: nansum over the count of non-NaN elements."""
    dt = input._np_dtype()
    if dt.kind != "f":
        raise DGRuntimeError(
            "nanmean(): expected input to have floating point or complex dtype but got "
            f"{scalar_name(dt)}")
    notnan = E.logical_not(E.ne(input, input))
    count = R.sum(notnan, dim, keepdim)
    return nansum(input, dim, keepdim, dtype=dtype) / count


def count_nonzero(input, dim=None):
    """torch.count_nonzero: the number of non-zero elements over dim (int64)."""
    if isinstance(dim, (list, tuple)):
        seen = set()
        for d in dim:
            k = norm_dim(d, len(tuple(input.shape)))
            if k in seen:
                raise DGRuntimeError(f"dim {k} appears multiple times in the list of dims")
            seen.add(k)
    return R.sum(E.ne(input, 0), dim)

