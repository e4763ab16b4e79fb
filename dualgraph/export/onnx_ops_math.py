"""The exporter's converters of the rest of PyTorch's elementwise math (ops/elementwise_math.py)
and of the index ops of ops/indexing.py.

One ONNX op each: tan sinh cosh asin acos atan asinh acosh atanh reciprocal, and exp2 (Pow(2,
x)); integer and bool inputs are cast to float32 (the ops' promotion), float16 computed in
float32 and rounded once (numpy's float16 loops). onnxruntime (1.2x, 1.3x) has float32 kernels
only for Tan ... Atanh: a float64 export is valid ONNX, which onnxruntime refuses to load
(NOT_IMPLEMENTED). Its float32 kernels are within a few ulps of numpy's, not bitwise.

Binary: atan2 (Atan of the smaller over the larger magnitude, moved to the quadrant; signed
zeros, infinities and NaN as numpy's arctan2); hypot (float32 / float16 as sqrt(x*x + y*y) in
float64, rounded once; float64 scaled by the larger magnitude; inf wherever either is inf, as
numpy); copysign (|x| with the sign of y, -0.0 included; a NaN y counts as positive: ONNX cannot
read a NaN's sign bit); fmax / fmin / clamp_min / clamp_max (Where on the comparison and IsNaN:
exact); heaviside (exact); xlogy (x * Log(y), 0 where x == 0, NaN where y is NaN).
Index ops: index_select (Gather), take_along_dim (Expand to the broadcast shapes, indices
modulo the dim's size, GatherElements), scatter_add (ScatterElements, reduction add).

Refused (ExportError, saying why): expm1 (Exp(x) - 1 is not numpy's expm1: every digit of a
small x is lost), log2 / log10 (Log(x) / log(b) is 2-3 ulps from numpy's log2 / log10, float32
through float64 included: not within the 1 ulp asked of it).
"""
import numpy as np

from ..graph.core import SymbolicTensor
from .errors import ExportError
from .onnx_common import elem_type
from .onnx_ops_common import registrar

CONVERTERS = {}
_conv = registrar(CONVERTERS)

_F32 = np.dtype(np.float32)


def _compute_dtype(dt):
    """The dtype a float function of an output of dtype dt is computed in (float16: float32)."""
    dt = np.dtype(dt)
    return _F32 if dt == np.float16 else dt


def _float_ins(ex, n):
    """The node's inputs cast to its (float) output dtype, then to the compute dtype; (names,
    compute dtype, output dtype)."""
    out = np.dtype(ex.out_dtype(n))
    dt = _compute_dtype(out)
    return [ex.cast(v, out, dt) for v in ex.ins(n, out)], dt, out


_UNARY = {"tan": "Tan", "sinh": "Sinh", "cosh": "Cosh", "asin": "Asin", "acos": "Acos",
          "atan": "Atan", "asinh": "Asinh", "acosh": "Acosh", "atanh": "Atanh",
          "reciprocal": "Reciprocal"}


@_conv(*_UNARY)
def _unary(ex, n):
    (x,), dt, out = _float_ins(ex, n)
    return ex.cast(ex.emit(_UNARY[n.op.name], [x]), dt, out)


@_conv("exp2")
def _exp2(ex, n):
    """Pow(2, x): within 1 ulp of numpy's exp2 in onnxruntime (float32 and float64)."""
    (x,), dt, out = _float_ins(ex, n)
    return ex.cast(ex.emit("Pow", [ex.const(2, dt, "two"), x]), dt, out)


@_conv("expm1")
def _expm1(ex, n):
    raise ExportError(f"to_onnx: node {n.name} (expm1) has no exact ONNX spelling: ONNX has no "
                      "Expm1, and Exp(x) - 1 loses every digit of a small x (expm1(1e-8) is 1e-8, "
                      "Exp(1e-8) - 1 is 0 in float32), so it would not give dualgraph's values")


@_conv("log2", "log10")
def _log_base(ex, n):
    raise ExportError(f"to_onnx: node {n.name} ({n.op.name}) has no ONNX op, and Log(x) / log(base) "
                      "in onnxruntime is up to 2-3 ulps from numpy's (float32, computed in float64 "
                      "too, and float64), not within the 1 ulp the exporter allows it")


# ---------------------------------------------------------------- binary
@_conv("atan2")
def _atan2(ex, n):
    """numpy's arctan2(y, x): t = Atan(min(|y|, |x|) / max(|y|, |x|)) (in [0, 1]: no overflow
    of y / x), pi/2 - t where |y| > |x|, pi - that where x is negative (or -0.0), the sign of y
    (-0.0 included). 0 for two zeros, pi/4 for two infinities."""
    (y, x), dt, out = _float_ins(ex, n)
    ay, ax = ex.emit("Abs", [y]), ex.emit("Abs", [x])
    swap = ex.emit("Greater", [ay, ax])
    num = ex.emit("Where", [swap, ax, ay])
    den = ex.emit("Where", [swap, ay, ax])
    t = ex.emit("Atan", [ex.emit("Div", [num, den])])
    zero = ex.const(0, dt, "zero")
    # (0 / 0 and inf / inf are NaN: 0 for two zeros, pi/4 for two infinities; a finite tie
    # keeps Atan(1), which is numpy's arctan2(y, y) in float32, 1 ulp under pi/4)
    tie = ex.emit("Equal", [ax, ay])
    both_inf = ex.emit("And", [tie, ex.emit("Equal", [ax, ex.const(np.inf, dt, "inf")])])
    t = ex.emit("Where", [both_inf, ex.const(np.pi / 4, dt, "pi_4"), t])
    t = ex.emit("Where", [ex.emit("And", [tie, ex.emit("Equal", [ax, zero])]), zero, t])
    a = ex.emit("Where", [swap, ex.emit("Sub", [ex.const(np.pi / 2, dt, "pi_2"), t]), t])
    x_neg = ex.emit("Or", [ex.emit("Less", [x, zero]), ex.is_neg_zero(x, dt)])
    a = ex.emit("Where", [x_neg, ex.emit("Sub", [ex.const(np.pi, dt, "pi"), a]), a])
    return ex.cast(ex.sign_of(a, y, dt), dt, out)


@_conv("hypot")
def _hypot(ex, n):
    """sqrt(x*x + y*y): float32 (and float16) in float64, rounded once (no overflow there);
    float64 as m * sqrt(1 + (s/m)**2), m, s the larger and smaller magnitude (0 where m is 0).
    inf wherever either is inf (a NaN beside it included), as numpy's hypot."""
    (a, b), dt, out = _float_ins(ex, n)
    aa, ab = ex.emit("Abs", [a]), ex.emit("Abs", [b])
    if dt == np.float32:
        w = np.dtype(np.float64)
        da, db = ex.cast(aa, dt, w), ex.cast(ab, dt, w)
        r = ex.emit("Sqrt", [ex.emit("Add", [ex.emit("Mul", [da, da]), ex.emit("Mul", [db, db])])])
        r = ex.cast(r, w, dt)
    else:
        m, s = ex.emit("Max", [aa, ab]), ex.emit("Min", [aa, ab])
        q = ex.emit("Div", [s, m])
        one, zero = ex.const(1, dt, "one"), ex.const(0, dt, "zero")
        r = ex.emit("Mul", [m, ex.emit("Sqrt", [ex.emit("Add", [one, ex.emit("Mul", [q, q])])])])
        r = ex.emit("Where", [ex.emit("Equal", [m, zero]), zero, r])
        # (Max / Min of a NaN: NaN wherever either is)
        r = ex.emit("Where", [ex.emit("Or", [ex.is_nan(a), ex.is_nan(b)]), ex.const(np.nan, dt, "nan"), r])
    inf = ex.const(np.inf, dt, "inf")
    either_inf = ex.emit("Or", [ex.emit("Equal", [aa, inf]), ex.emit("Equal", [ab, inf])])
    return ex.cast(ex.emit("Where", [either_inf, inf, r]), dt, out)


@_conv("copysign")
def _copysign(ex, n):
    """|x| with the sign of y (-0.0 negative; a NaN y positive: ONNX has no sign bit test)."""
    (x, y), dt, out = _float_ins(ex, n)
    return ex.cast(ex.sign_of(ex.emit("Abs", [x]), y, dt), dt, out)


def _bool_as_u8(ex, n):
    """The inputs in the node's dtype, bools as uint8 (ONNX compares no bools); (names, the
    compute dtype, the output dtype)."""
    out = np.dtype(ex.out_dtype(n))
    dt = np.dtype(np.uint8) if out.kind == "b" else out
    return [ex.cast(v, out, dt) for v in ex.ins(n, out)], dt, out


# (op: compare (first, second) for "take second", NaN test on first (0) or second (1))
_PICK = {"fmax": ("Less", 0), "fmin": ("Greater", 0), "clamp_min": ("Less", 1),
         "clamp_max": ("Greater", 1)}


@_conv(*_PICK)
def _pick(ex, n):
    """fmax / fmin (the NaN-ignoring max / min, the first operand on a tie) and clamp_min /
    clamp_max (the bound where it wins or is NaN, the input on a tie): the kernel's Where."""
    (a, b), dt, out = _bool_as_u8(ex, n)
    cmp, nan_of = _PICK[n.op.name]
    take_b = ex.emit(cmp, [a, b])
    if dt.kind == "f":
        take_b = ex.emit("Or", [take_b, ex.is_nan((a, b)[nan_of])])
    return ex.cast(ex.where(take_b, b, a, dt), dt, out)


@_conv("heaviside")
def _heaviside(ex, n):
    """values where x == 0, else x > 0 (0 at NaN)."""
    out = np.dtype(ex.out_dtype(n))
    x, v = ex.ins(n, out)
    if out.kind == "b":
        return ex.emit("Or", [x, v])
    pos = ex.cast(ex.emit("Greater", [x, ex.const(0, out, "zero")]), np.bool_, out)
    return ex.where(ex.emit("Equal", [x, ex.const(0, out, "zero")]), v, pos, out, y_neg0=False)


@_conv("xlogy")
def _xlogy(ex, n):
    """x * Log(y), 0 where x == 0, NaN where y is NaN (PyTorch's xlogy)."""
    (x, y), dt, out = _float_ins(ex, n)
    zero = ex.const(0, dt, "zero")
    r = ex.emit("Mul", [x, ex.emit("Log", [y])])
    r = ex.where(ex.emit("Equal", [x, zero]), zero, r, dt, x_neg0=False)
    r = ex.where(ex.is_nan(y), ex.const(np.nan, dt, "nan"), r, dt, x_neg0=False)
    return ex.cast(r, dt, out)


# ---------------------------------------------------------------- index ops
def _static(n, what):
    for t in n.inputs:
        if isinstance(t, SymbolicTensor) and any(d is None for d in t.shape):
            raise ExportError(f"to_onnx: node {n.name} ({n.op.name}) has an input of unknown shape "
                              f"{t.shape}; {what} is exported for static shapes only")


@_conv("index_select")
def _index_select(ex, n):
    x_t, idx_t = n.inputs
    x, idx = ex.ins(n)
    nd = len(x_t.shape)
    if nd == 0:
        return ex.emit("Identity", [x])
    if len(idx_t.shape) == 0:
        idx = ex.emit("Reshape", [idx, ex.ints([-1])])
    return ex.emit("Gather", [x, idx], axis=int(n.attrs["dim"]) % nd)


@_conv("take_along_dim")
def _take_along_dim(ex, n):
    """Both broadcast apart from dim (PyTorch's shapes), the indices modulo the dim's size
    (Mod with fmod=0: the divisor's sign, as numpy's mod), GatherElements."""
    from ..ops.indexing import tad_shapes
    _static(n, "take_along_dim")
    x_t, idx_t = n.inputs
    nd = len(x_t.shape)
    d = int(n.attrs["dim"]) % nd
    size = x_t.shape[d]
    if size == 0:
        raise ExportError(f"to_onnx: node {n.name} (take_along_dim) takes along an empty dim")
    xb, ib = tad_shapes(tuple(x_t.shape), tuple(idx_t.shape), d)
    x, idx = ex.ins(n)
    if tuple(xb) != tuple(x_t.shape):
        x = ex.emit("Expand", [x, ex.ints(xb)])
    if tuple(ib) != tuple(idx_t.shape):
        idx = ex.emit("Expand", [idx, ex.ints(ib)])
    idx = ex.emit("Mod", [idx, ex.const(size, np.int64, "size")], fmod=0)
    return ex.emit("GatherElements", [x, idx], axis=d)


@_conv("scatter_add")
def _scatter_add(ex, n):
    """ScatterElements with reduction add; src sliced to the index's shape (PyTorch reads that
    part of it), the index as int64."""
    _static(n, "scatter_add")
    x_t, idx_t, src_t = n.inputs
    nd = len(x_t.shape)
    d = int(n.attrs["dim"]) % max(nd, 1)
    dt = np.dtype(ex.out_dtype(n))
    if dt.kind == "b":
        raise ExportError(f"to_onnx: node {n.name} (scatter_add) adds bools, which onnxruntime's "
                          "ScatterElements does not")
    x = ex.value(x_t)
    idx = ex.cast(ex.value(idx_t), idx_t._dtype, np.int64)
    src = ex.value(src_t, dt)
    if nd == 0:
        idx = ex.emit("Reshape", [idx, ex.ints([1])])
        src = ex.emit("Reshape", [src, ex.ints([1])])
        x1 = ex.emit("Reshape", [x, ex.ints([1])])
        r = ex.emit("ScatterElements", [x1, idx, src], axis=0, reduction="add")
        return ex.emit("Reshape", [r, ex.ints([])])
    if tuple(src_t.shape) != tuple(idx_t.shape):
        src = ex.emit("Slice", [src, ex.ints([0] * nd, "starts"), ex.ints(idx_t.shape, "ends"),
                                ex.ints(range(nd), "axes")])
    return ex.emit("ScatterElements", [x, idx, src], axis=d, reduction="add")
