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

Ternary, in the kernels' order of IEEE ops (the same bits): lerp (a + w*(e - a) where |w| < 0.5,
else e - (e - a)*(1 - w); a number weight picks its formula at export), addcmul (a + (v*t1)*t2,
ints wrapping), addcdiv (a + (v*t1)/t2). Exact too: clamp_tensor (torch.clamp with tensor min
and max: Where on Less(x, min), then on Greater(., max), so x on a tie and max where min > max,
NaN where either bound is NaN), frac (Mod fmod=1, zeros +0.0), nan_to_num (Where). Within a
few ulps: logit (Log(x / (1 - x)), eps-clamped), float32 sinc (Sin(pi x) / (pi x)), float32
logaddexp / logaddexp2 (numpy's formula; exp and log1p in float64 rounded to float32, log1p as
Goldberg's Log(1 + u) * u / ((1 + u) - 1)).

Refused (ExportError, saying why): float64 sinc, logaddexp, logaddexp2 (onnxruntime's float64
Sin, Exp, Log: 2-5e-15 off where it matters, Sin(pi) is 0), nextafter (no bitcast), expm1 (Exp(x) - 1 is not numpy's expm1: every digit of a
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


# ---------------------------------------------------------------- ternary: lerp, addcmul, addcdiv
def _per_op(ex, dt, out):
    """emit(op, ins): one ONNX op, and for a float16 result each op computed in float32 and
    rounded to float16 at once (numpy's float16 loops: correctly rounded, as float16 ops)."""
    def emit(op, ins):
        r = ex.emit(op, ins)
        return ex.cast(ex.cast(r, dt, out), out, dt) if out == np.float16 else r
    return emit


@_conv("lerp")
def _lerp(ex, n):
    """The kernel's two formulas: a + w*(e - a) where |w| < 0.5, else e - (e - a)*(1 - w), in a's
    dtype (float16 in float32): IEEE-exact ops, so the same bits. A number weight rounded to the
    dtype picks its formula at export, as the kernel."""
    a_t, e_t, w_t = n.inputs
    out = np.dtype(ex.out_dtype(n))
    dt = _compute_dtype(out)
    a, e = (ex.cast(ex.value(t), t._dtype, dt) for t in (a_t, e_t))
    d = ex.emit("Sub", [e, a])
    if not isinstance(w_t, SymbolicTensor):
        w = dt.type(w_t)
        if np.abs(w) < 0.5:
            r = ex.emit("Add", [a, ex.emit("Mul", [ex.const(w, dt, "weight"), d])])
        else:
            with np.errstate(all="ignore"):
                c = dt.type(1) - w
            r = ex.emit("Sub", [e, ex.emit("Mul", [d, ex.const(c, dt, "one_minus_weight")])])
        return ex.cast(r, dt, out)
    w = ex.cast(ex.value(w_t), w_t._dtype, dt)
    small = ex.emit("Less", [ex.emit("Abs", [w]), ex.const(0.5, dt, "half")])
    lo = ex.emit("Add", [a, ex.emit("Mul", [w, d])])
    hi = ex.emit("Sub", [e, ex.emit("Mul", [d, ex.emit("Sub", [ex.const(1, dt, "one"), w])])])
    return ex.cast(ex.where(small, lo, hi, dt), dt, out)


def _addc_ins(ex, n):
    """(a, t1, t2, value) in the compute dtype, (compute dtype, output dtype): integers other
    than int32 / int64 computed in int64 and wrapped back by the final Cast (the same residues);
    float16 in float32."""
    out = np.dtype(ex.out_dtype(n))
    if out.kind in "iu" and out not in (np.int32, np.int64):
        dt = np.dtype(np.int64)
    else:
        dt = _compute_dtype(out)
    with np.errstate(all="ignore"):
        v = np.array(n.attrs.get("value", 1)).astype(out)[()]   # (the kernel's _scalar_in)
    ins = [ex.cast(x, out, dt) for x in ex.ins(n, out)]
    return ins, ex.const(np.asarray(v).astype(dt), dt, "value"), dt, out


@_conv("clamp_tensor")
def _clamp_tensor(ex, n):
    """torch.clamp with tensor bounds, the kernel's order: min where x < min, then max where
    that is > max (strict: x on a tie, its zero's sign kept; max where min > max); NaN where
    either bound is NaN (a NaN x stays: its comparisons are false). Bools as uint8."""
    (x, lo, hi), dt, out = _bool_as_u8(ex, n)
    y = ex.where(ex.emit("Less", [x, lo]), lo, x, dt)
    y = ex.where(ex.emit("Greater", [y, hi]), hi, y, dt)
    if dt.kind == "f":
        either_nan = ex.emit("Or", [ex.is_nan(lo), ex.is_nan(hi)])
        y = ex.where(either_nan, ex.const(np.nan, dt, "nan"), y, dt, x_neg0=False)
    return ex.cast(y, dt, out)


@_conv("addcmul")
def _addcmul(ex, n):
    """a + (value * t1) * t2, the kernel's order; ints wrap as numpy's."""
    (a, t1, t2), v, dt, out = _addc_ins(ex, n)
    op = _per_op(ex, dt, out)
    return ex.cast(op("Add", [a, op("Mul", [op("Mul", [v, t1]), t2])]), dt, out)


@_conv("addcdiv")
def _addcdiv(ex, n):
    """a + (value * t1) / t2, the kernel's order (a float result: two integer tensors are refused
    by the op itself)."""
    (a, t1, t2), v, dt, out = _addc_ins(ex, n)
    if dt.kind != "f":
        raise ExportError(f"to_onnx: node {n.name} (addcdiv) has an integer result")
    op = _per_op(ex, dt, out)
    return ex.cast(op("Add", [a, op("Div", [op("Mul", [v, t1]), t2])]), dt, out)


# ---------------------------------------------------------------- unary: frac, nan_to_num, logit, sinc
@_conv("frac")
def _frac(ex, n):
    """x - trunc(x) as Mod(x, 1, fmod=1) (exact: the fraction is representable; NaN at +-inf),
    every zero +0.0 (x - trunc(x) is +0.0 wherever it is 0)."""
    (x,), dt, out = _float_ins(ex, n)
    r = ex.emit("Mod", [x, ex.const(1, dt, "one")], fmod=1)
    zero = ex.const(0, dt, "zero")
    r = ex.emit("Where", [ex.emit("Equal", [r, zero]), zero, r])
    return ex.cast(r, dt, out)


@_conv("nan_to_num")
def _nan_to_num(ex, n):
    """Where on IsNaN, == inf, == -inf: the replacements rounded to the dtype as numpy assigns
    them (largest / lowest finite by default); integers and bools unchanged."""
    out = np.dtype(ex.out_dtype(n))
    (x,) = ex.ins(n, out)
    if out.kind != "f":
        return ex.emit("Identity", [x])
    dt = _compute_dtype(out)
    x = ex.cast(x, out, dt)
    fi = np.finfo(out)
    vals = []
    for key, default in (("nan", 0.0), ("posinf", fi.max), ("neginf", fi.min)):
        v = n.attrs.get(key)
        with np.errstate(all="ignore"):
            vals.append(np.array(default if v is None else v).astype(out).astype(dt)[()])
    r = x
    tests = [ex.emit("Equal", [x, ex.const(-np.inf, dt, "neg_inf")]),
             ex.emit("Equal", [x, ex.const(np.inf, dt, "inf")]), ex.is_nan(x)]
    for c, v in zip(tests, vals[::-1]):
        neg0 = "all" if (v == 0 and np.signbit(v)) else False
        r = ex.where(c, ex.const(v, dt, "replacement"), r, dt, x_neg0=neg0)
    return ex.cast(r, dt, out)


@_conv("logit")
def _logit(ex, n):
    """Log(x / (1 - x)), x clamped to [eps, 1 - eps] first (the kernel's bounds, NaN kept);
    integers in float32, float16 in float32. Within onnxruntime's Log (a few ulps)."""
    from ..ops.elementwise_math import _logit_bounds
    (x,), dt, out = _float_ins(ex, n)
    b = _logit_bounds(dt, n.attrs.get("eps"))
    if b is not None:
        lo, hi = (ex.const(v, dt, nm) for v, nm in zip(b, ("lo", "hi")))
        x = ex.emit("Where", [ex.emit("Less", [x, lo]), lo, x])
        x = ex.emit("Where", [ex.emit("Greater", [x, hi]), hi, x])
    q = ex.emit("Div", [x, ex.emit("Sub", [ex.const(1, dt, "one"), x])])
    return ex.cast(ex.emit("Log", [q]), dt, out)


@_conv("sinc")
def _sinc(ex, n):
    """1 where x == 0, else Sin(y) / y, y = x * pi (pi rounded to the dtype, the kernel's)."""
    (x,), dt, out = _float_ins(ex, n)
    if dt == np.float64:
        raise ExportError(f"to_onnx: node {n.name} (sinc) is float64, and onnxruntime's float64 Sin "
                          "is not numpy's near the multiples of pi (Sin(pi) gives 0, numpy 1.2e-16): "
                          "sin(pi x) / (pi x) would be far off at the integers, not within 1e-15")
    y = ex.emit("Mul", [x, ex.const(dt.type(np.pi), dt, "pi")])
    r = ex.emit("Div", [ex.emit("Sin", [y]), y])
    r = ex.emit("Where", [ex.emit("Equal", [x, ex.const(0, dt, "zero")]), ex.const(1, dt, "one"), r])
    return ex.cast(r, dt, out)


# ---------------------------------------------------------------- binary: logaddexp, logaddexp2
def _log1p(ex, u, dt):
    """log1p(u) (u >= 0) as Log(w) * u / (w - 1), w = 1 + u; u where w == 1 (Goldberg's)."""
    w = ex.emit("Add", [ex.const(1, dt, "one"), u])
    r = ex.emit("Div", [ex.emit("Mul", [ex.emit("Log", [w]), u]),
                        ex.emit("Sub", [w, ex.const(1, dt, "one")])])
    return ex.emit("Where", [ex.emit("Equal", [w, ex.const(1, dt, "one")]), u, r])


def _logaddexp_common(ex, n, base2):
    """numpy's npy_logaddexp(2): x + log(2) (or + 1) where x == y, else m + log1p(exp(-|d|))
    (LOG2E * log1p(exp2(-|d|))), m the larger, d = x - y; NaN where d is NaN. float32: exp and
    log1p each in float64, rounded to float32 (numpy's expf, log1pf), the rest in float32."""
    (x, y), dt, out = _float_ins(ex, n)
    if dt == np.float64:
        raise ExportError(f"to_onnx: node {n.name} ({n.op.name}) is float64: ONNX has no Log1p, and "
                          "onnxruntime's float64 Exp / Log (log1p as Log(1 + u) * u / u') are up to "
                          "5e-15 from numpy's where the sum cancels, not within 1e-15")
    w = np.dtype(np.float64)
    d = ex.emit("Sub", [x, y])
    nad = ex.emit("Neg", [ex.emit("Abs", [d])])
    nad_w = ex.cast(nad, dt, w)
    if base2:
        e = ex.emit("Pow", [ex.const(2, w, "two"), nad_w])
    else:
        e = ex.emit("Exp", [nad_w])
    e = ex.cast(ex.cast(e, w, dt), dt, w)   # (rounded to the dtype, as numpy's expf)
    lp = ex.cast(_log1p(ex, e, w), w, dt)
    if base2:
        lp = ex.emit("Mul", [ex.const(dt.type(1.0 / np.log(2.0)), dt, "log2e"), lp])
    m = ex.emit("Where", [ex.emit("Greater", [d, ex.const(0, dt, "zero")]), x, y])
    r = ex.emit("Add", [m, lp])
    tie = ex.emit("Add", [x, ex.const(dt.type(1.0 if base2 else np.log(2.0)), dt, "tie")])
    r = ex.emit("Where", [ex.emit("Equal", [x, y]), tie, r])
    r = ex.emit("Where", [ex.emit("And", [ex.is_nan(d), ex.emit("Not", [ex.emit("Equal", [x, y])])]),
                          ex.const(np.nan, dt, "nan"), r])
    return ex.cast(r, dt, out)


@_conv("logaddexp")
def _logaddexp(ex, n):
    return _logaddexp_common(ex, n, False)


@_conv("logaddexp2")
def _logaddexp2(ex, n):
    return _logaddexp_common(ex, n, True)


@_conv("nextafter")
def _nextafter(ex, n):
    raise ExportError(f"to_onnx: node {n.name} (nextafter) has no ONNX spelling: ONNX cannot read or "
                      "write a float's bits (no bitcast), and the next float toward y (subnormals, "
                      "-0.0, infinities) is not exact as arithmetic on the values")
