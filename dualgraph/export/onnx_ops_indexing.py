"""The exporter's converters of the scatter ops of ops/indexing.py and of the order statistics
of ops/order_stats.py (static shapes only).

Scatter family, as ScatterElements along dim (index_add / index_copy / index_fill's 1-D index
expanded to the source's shape): index_add, index_copy, index_fill, scatter (src and value
forms, reduce add / multiply), scatter_reduce (sum prod mean amax amin, include_self or not),
masked_scatter (Gather at CumSum(mask) - 1, Where). Duplicate targets as numpy's: an assignment
keeps the last write in C order (a ScatterElements max of each update's position picks it:
ONNX leaves duplicates of an unreduced scatter undefined); add and mul apply the updates in C
order, as np.add.at (onnxruntime's loop: the same bits); max and min return NaN where a NaN
met the slot (onnxruntime's max forgets a NaN once a number follows); mean divides the sum
by the count (integers floored). Bools reduce as uint8 (sum and amax: max, prod and amin:
min). float16 sum / prod / mean / index_add are refused (onnxruntime has no float16 add or
mul there, and float32 would round once, not at every step as numpy).

Order statistics: cummax_indices (cummax, cummin) and logcumsumexp are a Scan along dim
(numpy's running comparison; npy_logaddexp, as onnx_ops_math's logaddexp: float32 with its
exp and log1p in float64). median_indices (median, nanmedian with a dim) and quantile sort with
TopK (ties by the lower index: numpy's stable argsort; NaN as +inf, then put last), so exact;
median (no dim) of integers is the TopK's middle value; nansum is ReduceSum of Where(IsNaN).

Refused (ExportError, saying why): kthvalue_indices (kthvalue) and mode_indices (mode): which
of equal values' index they give is ATen's quickselect's / std::sort's, data-dependent; median
and nanmedian of floats without a dim: the sign of a zero median among both zeros is
std::nth_element's choice (median(x.flatten(), 0) exports exactly).

Not said in ONNX, so not checked at run time: an index eager refuses (negative for scatter,
index_add, index_copy; out of range: onnxruntime fails there), a q outside [0, 1].
"""
import numpy as np

from ..graph.core import SymbolicTensor
from .errors import ExportError
from .onnx_common import elem_type
from .onnx_ops_common import registrar

CONVERTERS = {}
_conv = registrar(CONVERTERS)

_I64, _F32, _F64, _F16 = (np.dtype(t) for t in (np.int64, np.float32, np.float64, np.float16))


def _shapes(n):
    """The static shapes of the node's tensor inputs."""
    out = []
    for t in n.inputs:
        if isinstance(t, SymbolicTensor):
            if any(d is None for d in t.shape):
                raise ExportError(f"to_onnx: node {n.name} ({n.op.name}) has an input of unknown "
                                  f"shape {tuple(t.shape)}; it is exported for static shapes only")
            out.append(tuple(int(d) for d in t.shape))
    return out


def _full(ex, value, dt, shape):
    return ex.emit("Expand", [ex.const(value, dt, "fill"), ex.ints(shape)])


def _i64(ex, t):
    return ex.cast(ex.value(t), t._dtype, _I64)


def _number(n, value, dt):
    """A Python number as numpy assigns it into a dt array (2.5 into int64 is 2)."""
    a = np.zeros((), dt)
    try:
        a[()] = value
    except (OverflowError, ValueError) as e:
        raise ExportError(f"to_onnx: node {n.name} ({n.op.name}): {value!r} does not fit "
                          f"{dt.name}: {e}") from None
    return a


def _work(dt):
    """The dtype dt's Where / max / min run in: onnxruntime has none of bool (uint8) or int16
    (int32: sums and products cast back wrap as int16's)."""
    return {np.dtype(np.bool_): np.dtype(np.uint8), np.dtype(np.int16): np.dtype(np.int32)}.get(dt, dt)


def _one_d(ex, name, shape):
    """A 0-d value as shape (1,) (ScatterElements needs rank >= 1); (name, shape)."""
    if shape:
        return name, shape
    return ex.emit("Reshape", [name, ex.ints([1])]), (1,)


# ================================================================ scatter family
def _scatter_op(ex, n, data, idx, upd, axis, reduction):
    need = 18 if reduction in ("max", "min") else 16
    if ex.opset < need:
        raise ExportError(f"to_onnx: node {n.name} ({n.op.name}) needs opset {need} or later "
                          f"(ScatterElements reduction {reduction}), not {ex.opset}")
    return ex.emit("ScatterElements", [data, idx, upd], axis=axis, reduction=reduction)


def _count(ex, n, idx, ones, xs, axis):
    """How many updates (the int64 `ones`, or 0 / 1 each) land on each element of shape xs."""
    return _scatter_op(ex, n, _full(ex, 0, _I64, xs), idx, ones, axis, "add")


def _scatter_into(ex, n, x, xs, idx, ishape, vals, axis, dt, reduce, include_self=True):
    """x (shape xs, >= 1 dim) with vals (shape ishape) scattered along axis at the int64 idx:
    assigned (reduce None: the last write in C order wins) or reduced as scatter_reduce."""
    from ..ops.indexing import _identity
    wt = _work(dt)
    x, vals = ex.cast(x, dt, wt), ex.cast(vals, dt, wt)
    if reduce is None:
        pos = ex.emit("Range", [ex.const(0, _I64, "start"), ex.const(int(np.prod(ishape)), _I64, "limit"),
                                ex.const(1, _I64, "delta")])
        pos = ex.emit("Reshape", [pos, ex.ints(ishape)])
        last = _scatter_op(ex, n, _full(ex, -1, _I64, xs), idx, pos, axis, "max")
        flat = ex.emit("Reshape", [vals, ex.ints([-1])])
        got = ex.emit("Gather", [flat, ex.emit("Max", [last, ex.const(0, _I64, "zero")])], axis=0)
        written = ex.emit("GreaterOrEqual", [last, ex.const(0, _I64, "zero")])
        return ex.cast(ex.where(written, got, x, wt), wt, dt)
    red = {"sum": "add", "mean": "add", "prod": "mul", "amax": "max", "amin": "min"}[reduce]
    if dt == _F16 and red in ("add", "mul"):
        raise ExportError(f"to_onnx: node {n.name} ({n.op.name}, {reduce}) is float16: onnxruntime's "
                          "ScatterElements has no float16 add / mul, and float32 would round once, "
                          "not after every step as numpy's float16 does")
    if dt.kind == "b":   # (or / and: max / min of 0 and 1)
        red = "max" if red in ("add", "max") else "min"
    count = None
    if reduce == "mean" or not include_self:
        count = _count(ex, n, idx, _full(ex, 1, _I64, ishape), xs, axis)
    if not include_self:   # (numpy's r[key] = identity first)
        hit = ex.emit("Greater", [count, ex.const(0, _I64, "zero")])
        x = ex.where(hit, ex.const(np.asarray(_identity(reduce, dt)).astype(wt), wt, "identity"), x, wt,
                     x_neg0=False)
    r = _scatter_op(ex, n, x, idx, vals, axis, red)
    if red in ("max", "min") and dt.kind == "f":
        nan = _count(ex, n, idx, ex.cast(ex.is_nan(vals), np.bool_, _I64), xs, axis)
        nan = ex.emit("Or", [ex.is_nan(x), ex.emit("Greater", [nan, ex.const(0, _I64, "zero")])])
        r = ex.where(nan, ex.const(np.nan, dt, "nan"), r, dt, x_neg0=False)
    r = ex.cast(r, wt, dt)
    if reduce == "mean":
        one = ex.const(1, _I64, "one")
        c = ex.emit("Add", [count, one]) if include_self else ex.emit("Max", [count, one])
        if dt.kind == "f":
            return ex.emit("Div", [r, ex.cast(c, _I64, dt)])
        w = ex.cast(r, dt, _I64)   # (floor division by a positive count, exact)
        q = ex.emit("Div", [ex.emit("Sub", [w, ex.emit("Mod", [w, c], fmod=0)]), c])
        return ex.cast(q, _I64, dt)
    return r


@_conv("scatter", "scatter_reduce")
def _scatter(ex, n):
    """scatter (src or a number; reduce add / multiply) and scatter_reduce: src read in its
    leading block of the index's shape, as PyTorch."""
    xs, ishape = _shapes(n)[:2]
    x_t, i_t = n.inputs[:2]
    dt = np.dtype(ex.out_dtype(n))
    x = ex.value(x_t)
    if int(np.prod(ishape)) == 0:
        return ex.emit("Identity", [x])
    reduce = n.attrs.get("reduce")
    reduce = {"add": "sum", "multiply": "prod"}.get(reduce, reduce)
    x1, xs1 = _one_d(ex, x, xs)
    idx, ishape1 = _one_d(ex, _i64(ex, i_t), ishape)
    if len(n.inputs) > 2:
        src_t = n.inputs[2]
        src, ss = ex.value(src_t), tuple(src_t.shape)
        if not ss:
            src, ss = ex.emit("Reshape", [src, ex.ints([1] * len(ishape1))]), (1,) * len(ishape1)
        if ss != ishape1:
            src = ex.emit("Slice", [src, ex.ints([0] * len(ss), "starts"), ex.ints(ishape1, "ends"),
                                    ex.ints(range(len(ss)), "axes")])
    else:
        src = _full(ex, _number(n, n.attrs["value"], dt), dt, ishape1)
    r = _scatter_into(ex, n, x1, xs1, idx, ishape1, src, int(n.attrs["dim"]) % len(xs1), dt, reduce,
                      n.attrs.get("include_self", True))
    return r if xs else ex.emit("Reshape", [r, ex.ints([])])


@_conv("index_add", "index_copy", "index_fill")
def _index_ops(ex, n):
    """The 1-D index along dim, expanded to the source's shape (x's, dim's size the index's):
    index_add a sum (source * alpha, in x's dtype), index_copy an assignment, index_fill one
    of the value (a number cast as numpy assigns it, a 0-d tensor by Cast)."""
    xs, ishape = _shapes(n)[:2]
    x_t, i_t = n.inputs[:2]
    dt = np.dtype(ex.out_dtype(n))
    x = ex.value(x_t)
    m = int(np.prod(ishape))
    if m == 0:
        return ex.emit("Identity", [x])
    x1, xs1 = _one_d(ex, x, xs)
    d = int(n.attrs["dim"]) % len(xs1)
    ss = list(xs1)
    ss[d] = m
    ones = [1] * len(xs1)
    ones[d] = m
    idx = ex.emit("Expand", [ex.emit("Reshape", [_i64(ex, i_t), ex.ints(ones)]), ex.ints(ss)])
    name = n.op.name
    if name == "index_fill":
        v = ex.value(n.inputs[2], dt) if len(n.inputs) > 2 else ex.const(_number(n, n.attrs["fill"], dt))
        src = ex.emit("Expand", [v, ex.ints(ss)])
    else:
        src_t = n.inputs[2]
        src = ex.value(src_t)
        src = ex.emit("Reshape" if src_t.shape else "Expand", [src, ex.ints(ss)])
    alpha = n.attrs.get("alpha", 1)
    if name == "index_add" and alpha != 1:   # (the kernel's source * alpha cast to the dtype)
        a = ex.const(np.asarray(alpha).astype(dt), dt, "alpha")
        src = ex.emit("And" if dt.kind == "b" else "Mul", [src, a])
    r = _scatter_into(ex, n, x1, xs1, idx, tuple(ss), src, d, dt, "sum" if name == "index_add" else None)
    return r if xs else ex.emit("Reshape", [r, ex.ints([])])


@_conv("masked_scatter")
def _masked_scatter(ex, n):
    """Both broadcast; the k-th True (C order) takes source's k-th element: Gather at
    CumSum(mask) - 1, Where."""
    _, _, ss = _shapes(n)
    out = tuple(n.out.shape)
    dt = np.dtype(ex.out_dtype(n))
    x, mask, src = ex.ins(n)
    x = ex.emit("Expand", [x, ex.ints(out)])
    if int(np.prod(out)) == 0 or int(np.prod(ss)) == 0:
        return x
    wt = _work(dt)
    x, src = ex.cast(x, dt, wt), ex.cast(src, dt, wt)
    mask = ex.emit("Expand", [mask, ex.ints(out)])
    flat = ex.cast(ex.emit("Reshape", [mask, ex.ints([-1])]), np.bool_, _I64)
    pos = ex.emit("Sub", [ex.emit("CumSum", [flat, ex.const(0, _I64, "axis")]), ex.const(1, _I64, "one")])
    got = ex.emit("Gather", [ex.emit("Reshape", [src, ex.ints([-1])]),
                             ex.emit("Max", [pos, ex.const(0, _I64, "zero")])], axis=0)
    return ex.cast(ex.where(mask, ex.emit("Reshape", [got, ex.ints(out)]), x, wt), wt, dt)


# ================================================================ NaN-aware sum
@_conv("nansum")
def _nansum(ex, n):
    """ReduceSum of x with NaN as 0, in the sum's dtype (float16 in float32, rounded once, as
    the kernel); a zero sum +0.0, as numpy's. Within rounding: numpy adds pairwise."""
    x_t = n.inputs[0]
    src, out = np.dtype(x_t._dtype), np.dtype(ex.out_dtype(n))
    x = ex.value(x_t)
    if src.kind == "f":
        x = ex.emit("Where", [ex.is_nan(x), ex.const(0, src, "zero"), x])
    if out == _F16:   # (elements cast to float16 through float32, summed in float32)
        x, w = ex.cast(ex.cast(ex.cast(x, src, _F32), _F32, _F16), _F16, _F32), _F32
    else:
        x, w = ex.cast(x, src, out), out
    d = n.attrs.get("dim")
    dims = None if d is None or not x_t.shape else [d] if isinstance(d, (int, np.integer)) else list(d)
    r = ex.axes("ReduceSum", x, dims, n.attrs.get("keepdim", False))
    if w.kind == "f":
        zero = ex.const(0, w, "zero")
        r = ex.emit("Where", [ex.emit("Equal", [r, zero]), zero, r])
    return ex.cast(r, w, out)


# ================================================================ scans along a dim
def _scan(ex, n, states, x, dt, axis, step):
    """An ONNX Scan over `axis` of x (of dtype dt): `states` are (initial name, dtype);
    step(state names, slice name) -> (new state names, the slice's output name, its dtype),
    written in the body; the outputs stacked along axis."""
    h = ex.h
    names = [ex.fresh(f"{n.name}_state") for _ in states] + [ex.fresh(f"{n.name}_slice")]
    saved = ex.nested_scope()
    new, out, out_dt = step(names[:-1], names[-1])
    types = [d for _, d in states] + [out_dt]
    outs = []
    for src in new + [out]:
        o = ex.fresh(f"{n.name}_scan_out")
        ex.scope.nodes.append(h.make_node("Identity", [src], [o], name=ex.fresh(o + "/Identity")))
        outs.append(o)
    body = h.make_graph(ex.scope.nodes, ex.fresh(f"{n.name}_body"),
                        [h.make_tensor_value_info(nm, elem_type(ex.onnx, d), None)
                         for nm, d in zip(names, types[:-1] + [dt])],
                        [h.make_tensor_value_info(o, elem_type(ex.onnx, d), None)
                         for o, d in zip(outs, types)])
    ex.scope = saved
    res = ex.emit("Scan", [s for s, _ in states] + [x], n_out=len(states) + 1, body=body,
                  num_scan_inputs=1, scan_input_axes=[axis], scan_output_axes=[axis])
    return res[-1]


@_conv("cummax_indices")
def _cummax_indices(ex, n):
    """The kernel's running max (min): the slot keeps its value where that is NaN or beats the
    new one, else takes it; the index moves to i wherever x_i equals the running value or is
    NaN (the last of equal values, the last NaN). float16 in float32."""
    (xs,) = _shapes(n)
    if not xs or xs[int(n.attrs["dim"]) % len(xs)] == 0:
        return ex.const(np.zeros(xs, np.int64), name="indices")
    d = int(n.attrs["dim"]) % len(xs)
    src = np.dtype(n.inputs[0]._dtype)
    dt = _F32 if src == _F16 else _work(src)
    x = ex.cast(ex.value(n.inputs[0]), src, dt)
    minimum = bool(n.attrs.get("minimum"))
    lim = np.inf if dt.kind == "f" else np.iinfo(dt).max
    slice_shape = xs[:d] + xs[d + 1:]

    def step(st, xi):
        m, idx, i = st
        keep = ex.emit("Less" if minimum else "Greater", [m, xi])
        if dt.kind == "f":
            keep = ex.emit("Or", [keep, ex.is_nan(m)])
        m2 = ex.emit("Where", [keep, m, xi])
        moved = ex.emit("Equal", [xi, m2])
        if dt.kind == "f":
            moved = ex.emit("Or", [moved, ex.is_nan(xi)])
        idx2 = ex.emit("Where", [moved, i, idx])
        return [m2, idx2, ex.emit("Add", [i, ex.const(1, _I64, "one")])], idx2, _I64

    first = lim if minimum else (-lim if dt.kind == "f" else np.iinfo(dt).min)
    states = [(_full(ex, first, dt, slice_shape), dt), (_full(ex, 0, _I64, slice_shape), _I64),
              (ex.const(0, _I64, "i"), _I64)]
    return _scan(ex, n, states, x, dt, d, step)


def _log1p(ex, u, dt):
    """log1p(u) (u >= 0) as Log(w) * u / (w - 1), w = 1 + u; u where w == 1 (Goldberg's)."""
    one = ex.const(1, dt, "one")
    w = ex.emit("Add", [one, u])
    r = ex.emit("Div", [ex.emit("Mul", [ex.emit("Log", [w]), u]), ex.emit("Sub", [w, one])])
    return ex.emit("Where", [ex.emit("Equal", [w, one]), u, r])


@_conv("logcumsumexp")
def _logcumsumexp(ex, n):
    """numpy's logaddexp.accumulate, started from -inf (its first term x0 + 0, as the kernel):
    npy_logaddexp(a, x) = a + log(2) where a == x, else max + log1p(exp(-|a - x|)), NaN where
    a - x is. float32 (and float16, rounded after each step, as numpy's float16 loop) computes
    exp and log1p in float64, rounded to float32 (numpy's expf, log1pf); float64 in float64
    (onnxruntime's Exp and Log: a few ulps from numpy's)."""
    (xs,) = _shapes(n)
    out = np.dtype(ex.out_dtype(n))
    x = ex.value(n.inputs[0])
    if not xs or xs[int(n.attrs["dim"]) % len(xs)] == 0:
        return ex.emit("Identity", [x])
    d = int(n.attrs["dim"]) % len(xs)
    c = _F64 if out == _F64 else _F32

    def step(st, xi):
        a, b = ex.cast(st[0], out, c), ex.cast(xi, out, c)
        t = ex.emit("Sub", [a, b])
        base = ex.emit("Where", [ex.emit("Greater", [t, ex.const(0, c, "zero")]), a, b])
        nad = ex.emit("Neg", [ex.emit("Abs", [t])])
        if c == _F32:
            e = ex.cast(ex.cast(ex.emit("Exp", [ex.cast(nad, c, _F64)]), _F64, c), c, _F64)
            lp = ex.cast(_log1p(ex, e, _F64), _F64, c)
        else:
            lp = _log1p(ex, ex.emit("Exp", [nad]), c)
        r = ex.emit("Add", [base, lp])
        r = ex.emit("Where", [ex.is_nan(t), t, r])
        r = ex.emit("Where", [ex.emit("Equal", [a, b]),
                              ex.emit("Add", [a, ex.const(c.type(np.log(2.0)), c, "log2")]), r])
        r = ex.cast(r, c, out)
        return [r], r, out

    return _scan(ex, n, [(_full(ex, -np.inf, out, xs[:d] + xs[d + 1:]), out)], x, out, d, step)


# ================================================================ sorting: median, quantile
def _ascending(ex, key, k, axis):
    """TopK's k smallest along axis, ties by the lower index (numpy's stable argsort);
    (values, indices)."""
    return ex.emit("TopK", [key, ex.ints([k], "k")], n_out=2, axis=axis, largest=0, sorted=1)


def _nan_as_inf(ex, x, dt):
    """(x with NaN as +inf, a sortable key; the NaN mask), or (x, None) for integers."""
    if dt.kind != "f":
        return x, None
    nan = ex.is_nan(x)
    return ex.emit("Where", [nan, ex.const(np.inf, dt, "inf"), x]), nan


@_conv("median")
def _median(ex, n):
    """median() / nanmedian() of integers: the ((n - 1) // 2)-th smallest (0 for no elements)."""
    (xs,) = _shapes(n)
    dt = np.dtype(n.inputs[0]._dtype)
    if dt.kind == "f":
        raise ExportError(
            f"to_onnx: node {n.name} ({'nanmedian' if n.attrs.get('ignore_nan') else 'median'} of "
            "every element) is floating point: where +0.0 and -0.0 both sit at the median, which "
            "sign it returns is std::nth_element's choice (the eager kernel replays it), and ONNX "
            "has no way to replay it; median(x.flatten(), 0) exports exactly")
    size = int(np.prod(xs))
    if size == 0:
        return ex.const(np.zeros((), dt), name="median")
    k = (size - 1) // 2
    v, _ = _ascending(ex, ex.emit("Reshape", [ex.value(n.inputs[0]), ex.ints([-1])]), k + 1, 0)
    return ex.emit("Reshape", [ex.emit("Gather", [v, ex.ints([k], "k")], axis=0), ex.ints([])])


@_conv("median_indices")
def _median_indices(ex, n):
    """The stable order's index at (n - 1) // 2 (the first NaN's where the slice holds one);
    nanmedian: at (valid - 1) // 2 of the order with NaNs last (a second TopK on the NaN mask,
    stable), and where every element is NaN the index std::nth_element leaves first (it
    compares nothing there: a function of n only)."""
    from ..ops.order_stats import nth_element
    (xs,) = _shapes(n)
    keep = tuple(1 if i == int(n.attrs["dim"]) % max(len(xs), 1) else s for i, s in enumerate(xs))
    if not xs or int(np.prod(xs)) == 0:
        return ex.const(np.zeros(keep, np.int64), name="indices")
    d = int(n.attrs["dim"]) % len(xs)
    size = xs[d]
    dt = np.dtype(n.inputs[0]._dtype)
    key, nan = _nan_as_inf(ex, ex.value(n.inputs[0]), dt)
    if nan is None or not n.attrs.get("ignore_nan"):
        k = (size - 1) // 2
        _, order = _ascending(ex, key, k + 1, d)
        idx = ex.emit("Gather", [order, ex.ints([k], "k")], axis=d)
        if nan is None:
            return idx
        nan32 = ex.cast(nan, np.bool_, np.int32)
        has = ex.cast(ex.axes("ReduceMax", nan32, [d], True), np.int32, np.bool_)
        return ex.emit("Where", [has, ex.emit("ArgMax", [nan32], axis=d, keepdims=1), idx])
    _, o1 = _ascending(ex, key, size, d)
    nan32 = ex.cast(nan, np.bool_, np.int32)
    _, o2 = _ascending(ex, ex.emit("GatherElements", [nan32, o1], axis=d), size, d)
    order = ex.emit("GatherElements", [o1, o2], axis=d)
    valid = ex.emit("Sub", [ex.const(size, _I64, "size"),
                            ex.axes("ReduceSum", ex.cast(nan, np.bool_, _I64), [d], True)])
    zero = ex.const(0, _I64, "zero")
    k = ex.emit("Div", [ex.emit("Max", [ex.emit("Sub", [valid, ex.const(1, _I64, "one")]), zero]),
                        ex.const(2, _I64, "two")])
    idx = ex.emit("GatherElements", [order, k], axis=d)
    a = list(range(size))
    nth_element(a, 0, lambda i, j: False)   # (an all-NaN slice: every comparison is false)
    return ex.emit("Where", [ex.emit("Equal", [valid, zero]), ex.const(np.int64(a[0]), name="all_nan"), idx])


@_conv("quantile")
def _quantile(ex, n):
    """The kernel's: values sorted (TopK, NaN as +inf), ranks q * (n - 1) in x's dtype (NaN
    where a NaN is in the slice; nanquantile q * (valid - 1), NaN where none is valid), floor /
    ceil / round (half to even) for lower / higher / nearest, and ATen's lerp between the
    neighbours for linear / midpoint: the same IEEE ops, so the same bits."""
    (xs,) = _shapes(n)[:1]
    a = n.attrs
    dt = np.dtype(ex.out_dtype(n))
    x = ex.value(n.inputs[0])
    dim = a.get("dim")
    if dim is None or not xs:
        m, size = ex.emit("Reshape", [x, ex.ints([-1])]), int(np.prod(xs))
    else:
        d = dim % len(xs)
        perm = [i for i in range(len(xs)) if i != d] + [d]
        m, size = ex.emit("Transpose", [x], perm=perm), xs[d]
    if len(n.inputs) > 1:
        qv = ex.emit("Reshape", [ex.value(n.inputs[1], dt), ex.ints([-1])])
    else:
        qv = ex.const(np.asarray(a["qs"], dt).reshape(1), name="q")
    key, nan = _nan_as_inf(ex, m, dt)
    sv, _ = _ascending(ex, key, size, -1)
    zero = ex.const(0, dt, "zero")
    if a.get("ignore_nan"):
        cnt = ex.axes("ReduceSum", ex.cast(ex.emit("Not", [nan]), np.bool_, _I64), [-1], True)
        ranks = ex.emit("Mul", [qv, ex.cast(ex.emit("Sub", [cnt, ex.const(1, _I64, "one")]), _I64, dt)])
        ranks = ex.where(ex.emit("Less", [ranks, zero]), zero, ranks, dt, x_neg0=False)
        bad = ex.emit("Equal", [cnt, ex.const(0, _I64, "zero")])
    else:
        bad = ex.cast(ex.axes("ReduceMax", ex.cast(nan, np.bool_, np.int32), [-1], True), np.int32, np.bool_)
        last = ex.const(size - 1, dt, "last")
        ranks = ex.where(bad, last, ex.emit("Mul", [qv, last]), dt, x_neg0=False)
    interp = a.get("interpolation", "linear")
    if interp in ("lower", "higher", "nearest"):
        ranks = ex.emit({"lower": "Floor", "higher": "Ceil", "nearest": "Round"}[interp], [ranks])
    below = ex.cast(ranks, dt, _I64)
    r = ex.emit("GatherElements", [sv, below], axis=-1)
    if interp in ("linear", "midpoint"):
        hi_v = ex.emit("GatherElements", [sv, ex.cast(ex.emit("Ceil", [ranks]), dt, _I64)], axis=-1)
        w = ex.const(0.5, dt, "half") if interp == "midpoint" else \
            ex.emit("Sub", [ranks, ex.cast(below, _I64, dt)])
        diff = ex.emit("Sub", [hi_v, r])
        lo = ex.emit("Add", [r, ex.emit("Mul", [w, diff])])
        hi = ex.emit("Sub", [hi_v, ex.emit("Mul", [diff, ex.emit("Sub", [ex.const(1, dt, "one"), w])])])
        r = ex.where(ex.emit("Less", [ex.emit("Abs", [w]), ex.const(0.5, dt, "half")]), lo, hi, dt)
    r = ex.where(bad, ex.const(np.nan, dt, "nan"), r, dt, x_neg0=False)
    rank = len(xs) if dim is not None and xs else 1   # (r: the kept dims, then one per q)
    if len(n.inputs) > 1 and n.inputs[1].shape:
        r = ex.emit("Transpose", [r], perm=[rank - 1] + list(range(rank - 1)))
    return ex.emit("Reshape", [r, ex.ints(n.out.shape)])


# ================================================================ refused
@_conv("kthvalue_indices")
def _kthvalue(ex, n):
    raise ExportError(
        f"to_onnx: node {n.name} (kthvalue) has no exact ONNX spelling: which of several equal "
        "values' index it returns (and, of +0.0 and -0.0, which sign) is ATen's quickselect's, "
        "which the eager kernel replays and which depends on how the partitioning visits the "
        "slice; ONNX's TopK takes the lower index")


@_conv("mode_indices")
def _mode(ex, n):
    raise ExportError(
        f"to_onnx: node {n.name} (mode) has no exact ONNX spelling: the index it returns is the "
        "last, after libstdc++'s std::sort (not stable), of the equal most frequent values, "
        "which the eager kernel replays and ONNX cannot")
