"""The exporter's converters of dualgraph's reductions (ops/reductions.py): sum mean amax amin
prod logsumexp (NaN propagates through amax / amin, the mean of nothing is NaN, a sum or
mean of -0.0s is 0.0), all any, var std, argmax argmin (the first NaN's index), softmax log_softmax."""
import numpy as np

from .onnx_common import elem_type
from .onnx_ops_common import registrar

CONVERTERS = {}
_conv = registrar(CONVERTERS)


@_conv("softmax", "log_softmax")
def _softmax(ex, n):
    kind = "Softmax" if n.op.name == "softmax" else "LogSoftmax"
    return ex.emit(kind, ex.ins(n, ex.out_dtype(n)), axis=int(n.attrs["dim"]))


def _dims_attr(n):
    d = n.attrs.get("dim")
    if d is None or not n.inputs[0].shape:  # (dim 0 / -1 of a 0-d input is all of it: PyTorch)
        return None
    return [d] if isinstance(d, (int, np.integer)) else list(d)


_REDUCE = {"sum": "ReduceSum", "mean": "ReduceMean", "amax": "ReduceMax", "amin": "ReduceMin",
           "prod": "ReduceProd", "logsumexp": "ReduceLogSumExp"}


def _reduced_count(ex, n, dims, keep, dt):
    """How many elements each result of a reduction over dims reduces: a Python int where the
    shape says it, else a tensor of dt computed at run time."""
    shape = n.inputs[0].shape
    red = range(len(shape)) if dims is None else [d % len(shape) for d in dims]
    if all(shape[d] is not None for d in red):
        return int(np.prod([shape[d] for d in red]))
    ones = ex.emit("ConstantOfShape", [ex.shape_of(n.inputs[0])],
                   value=ex.h.make_tensor(ex.fresh("one"), elem_type(ex.onnx, dt), [1], [1]))
    return ex.axes("ReduceSum", ones, dims, keep)


def _nan_where(ex, x, r, dims, keep, dt):
    """r, NaN where the reduced slice of x holds a NaN (onnxruntime's ReduceMax and ReduceMin
    skip NaNs, or not, by position; dualgraph's amax / amin propagate them, as PyTorch)."""
    nan = ex.emit("Cast", [ex.is_nan(x)], to=elem_type(ex.onnx, np.int32))
    has = ex.emit("Cast", [ex.axes("ReduceMax", nan, dims, keep)], to=ex.onnx.TensorProto.BOOL)
    return ex.where(has, ex.const(np.nan, dt, "nan"), r, dt, x_neg0=False)


@_conv(*_REDUCE)
def _reduce(ex, n):
    dt = ex.out_dtype(n)
    x = ex.value(n.inputs[0], dt)
    dims = _dims_attr(n)
    if dims is not None and not dims:
        dims = None
    keep = n.attrs.get("keepdim", False)
    name = n.op.name
    if name == "mean" and np.dtype(dt).kind == "f":
        count = _reduced_count(ex, n, dims, keep, dt)
        if isinstance(count, int):
            if count == 0:  # 0 / 0: NaN, as numpy's mean of nothing (ReduceMean gives 0)
                return ex.emit("Div", [ex.axes("ReduceSum", x, dims, keep), ex.const(0, dt, "count")])
            return _positive_zero(ex, ex.axes("ReduceMean", x, dims, keep), dt)
        empty = ex.emit("Equal", [count, ex.const(0, dt, "zero")])
        return ex.where(empty, ex.const(np.nan, dt, "nan"),
                        _positive_zero(ex, ex.axes("ReduceMean", x, dims, keep), dt), dt, x_neg0=False)
    r = ex.axes(_REDUCE[name], x, dims, keep)
    if name in ("amax", "amin") and np.dtype(dt).kind == "f":
        r = _nan_where(ex, x, r, dims, keep, dt)
    if name == "sum" and np.dtype(dt).kind == "f":
        r = _positive_zero(ex, r, dt)
    return r


def _positive_zero(ex, r, dt):
    """A sum (mean) of -0.0s is -0.0 in onnxruntime, 0.0 in dualgraph (as numpy's and PyTorch's
    sums): a zero result becomes +0.0, every other value (NaN too) stays. (Not r + 0.0:
    onnxruntime's no-op elimination drops an Add of a constant zero.)"""
    zero = ex.const(0, dt, "zero")
    return ex.emit("Where", [ex.emit("Equal", [r, zero]), zero, r])


@_conv("all", "any")
def _all_any(ex, n):
    """A count of the elements that are not zero (NaN is not: numpy's truth): all when none
    is zero, any when some is not (0.5 is true; Cast to an integer would make it 0, and an
    empty ReduceMax is the dtype's lowest, not 0)."""
    src = n.inputs[0]
    x = ex.value(src)
    nonzero = x if src._dtype == np.bool_ else \
        ex.emit("Not", [ex.emit("Equal", [x, ex.const(0, src._dtype, "zero")])])
    dims = _dims_attr(n) or None
    keep = n.attrs.get("keepdim", False)
    i64 = np.dtype(np.int64)
    if n.op.name == "all":
        zeros = ex.emit("Cast", [ex.emit("Not", [nonzero])], to=elem_type(ex.onnx, i64))
        r = ex.emit("Equal", [ex.axes("ReduceSum", zeros, dims, keep), ex.const(0, i64, "zero")])
    else:
        ones = ex.emit("Cast", [nonzero], to=elem_type(ex.onnx, i64))
        r = ex.emit("Greater", [ex.axes("ReduceSum", ones, dims, keep), ex.const(0, i64, "zero")])
    return ex.cast(r, np.bool_, ex.out_dtype(n))  # (uint8 in, uint8 out: PyTorch)


@_conv("var", "std")
def _var(ex, n):
    """sum((x - mean)**2) / max(N - correction, 0) (numpy's divisor: NaN, never negative, at
    N <= correction); float32 in float64, where dualgraph takes a float32 variance whose squares
    could overflow or underflow (PyTorch accumulates in double on CPU)."""
    out = ex.out_dtype(n)
    dt = np.dtype(np.float64) if np.dtype(out) == np.float32 else np.dtype(out)
    x = ex.cast(ex.value(n.inputs[0], out), out, dt)
    dims = _dims_attr(n) or None
    keep = n.attrs.get("keepdim", False)
    mean = ex.axes("ReduceMean", x, dims, True)
    d = ex.emit("Sub", [x, mean])
    ss = ex.axes("ReduceSum", ex.emit("Mul", [d, d]), dims, keep)
    corr = n.attrs.get("correction", 1)
    count = _reduced_count(ex, n, dims, keep, dt)
    if isinstance(count, int):
        denom = ex.const(max(count - corr, 0), dt, "count")
    else:
        denom = ex.emit("Max", [ex.emit("Sub", [count, ex.const(corr, dt, "correction")]),
                                ex.const(0, dt, "zero")])
    v = ex.emit("Div", [ss, denom])
    if n.op.name == "std":
        v = ex.emit("Sqrt", [v])
    return ex.cast(v, dt, out)


@_conv("argmax", "argmin")
def _argmax(ex, n):
    """ArgMax / ArgMin (the first of equal values, as numpy), but the first NaN's index where
    the slice holds one (numpy and PyTorch; onnxruntime's compares skip NaNs)."""
    src = n.inputs[0]
    x = ex.value(src)
    kind = "ArgMax" if n.op.name == "argmax" else "ArgMin"
    d = n.attrs.get("dim")
    keep = bool(n.attrs.get("keepdim"))
    if not src.shape:  # (a 0-d input: index 0, a 0-d result, keepdim or not)
        d, keep = None, False
    if d is None:
        x = ex.emit("Reshape", [x, ex.ints([-1])])
        axis, k = 0, False
    else:
        axis, k = int(d), keep
    r = ex.emit(kind, [x], axis=axis, keepdims=int(k))
    if np.dtype(src._dtype).kind == "f":
        nan = ex.emit("Cast", [ex.is_nan(x)], to=elem_type(ex.onnx, np.int32))
        first = ex.emit("ArgMax", [nan], axis=axis, keepdims=int(k))
        has = ex.emit("Cast", [ex.axes("ReduceMax", nan, [axis], k)], to=ex.onnx.TensorProto.BOOL)
        r = ex.emit("Where", [has, first, r])
    if d is None and keep:
        r = ex.emit("Reshape", [r, ex.ints([1] * len(src.shape))])
    return r
