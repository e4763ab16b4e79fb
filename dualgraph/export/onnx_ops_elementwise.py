"""The exporter's converters of dualgraph's elementwise ops (ops/elementwise.py), and the
spelling of numpy's special values with ONNX ops.

add sub mul div maximum minimum neg exp log sqrt tanh sigmoid relu abs sin cos (one ONNX op
each); tanh_backward sigmoid_backward relu_backward; sign (0 at NaN); log1p; pow (numpy's sqrt
and reciprocal for a one-element exponent of 0.5 and -1; exact integer powers, a Loop over the
exponent's bits); rsqrt; eq ne lt le gt ge; logical_and logical_or logical_not; bitwise_and
bitwise_or bitwise_xor bitwise_not; bitwise_left_shift and bitwise_right_shift (BitShift on the
unsigned type of the same width: numpy's wrap, sign fill and out-of-range counts); floor_divide,
trunc_divide and remainder (numpy's npy_divmod: C's fmod moved by the divisor; exact int64
arithmetic); fmod (Mod with fmod=1); cast; where and masked_fill (a -0.0 from either
side kept); clamp (numpy's clip).
"""
import numpy as np

from .. import dtypes as _dt
from ..graph.core import SymbolicTensor
from .errors import ExportError
from .onnx_common import elem_type
from .onnx_ops_common import registrar, simple

CONVERTERS = {}
_conv = registrar(CONVERTERS)

for _name, _type in [("add", "Add"), ("sub", "Sub"), ("mul", "Mul"), ("div", "Div"),
                     ("maximum", "Max"), ("minimum", "Min"), ("neg", "Neg"),
                     ("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt"), ("tanh", "Tanh"),
                     ("sigmoid", "Sigmoid"), ("relu", "Relu"), ("abs", "Abs"), ("sin", "Sin"),
                     ("cos", "Cos")]:
    CONVERTERS[_name] = simple(_type)


@_conv("tanh_backward", "sigmoid_backward", "relu_backward")
def _activation_backward(ex, n):
    """g * (1 - y*y), g * y * (1 - y), and g where y > 0 (else 0): the ops the rules of tanh,
    sigmoid and relu build, spelt out."""
    dt = ex.out_dtype(n)
    g, y = ex.ins(n, dt)
    base = n.name
    if n.op.name == "relu_backward":
        off = ex.emit("LessOrEqual", [y, ex.const(0, dt, "zero")], name=f"{base}/off")
        return ex.emit("Where", [off, ex.const(0, dt, "zero"), g])
    one = ex.const(1, dt, "one")
    if n.op.name == "tanh_backward":
        yy = ex.emit("Mul", [y, y], name=f"{base}/yy")
        return ex.emit("Mul", [g, ex.emit("Sub", [one, yy], name=f"{base}/1-yy")])
    gy = ex.emit("Mul", [g, y], name=f"{base}/gy")
    return ex.emit("Mul", [gy, ex.emit("Sub", [one, y], name=f"{base}/1-y")])


@_conv("sign")
def _sign(ex, n):
    """Sign, but 0 at NaN (dualgraph and PyTorch; ONNX's Sign gives NaN)."""
    dt = ex.out_dtype(n)
    (x,) = ex.ins(n, dt)
    s = ex.emit("Sign", [x])
    if np.dtype(dt).kind != "f":
        return s
    return ex.emit("Where", [ex.is_nan(x), ex.const(0, dt, "zero"), s])


@_conv("log1p")
def _log1p(ex, n):
    """log1p (ONNX has none) as log(u) * (x / (u - 1)), u = 1 + x: accurate to a few ulps where
    Log(1 + x) loses every digit of a small x; x itself where u is 1 (a tiny x, or -0.0,
    whose sign is kept), inf at inf."""
    out = ex.out_dtype(n)
    dt = _divmod_dtype(out)  # (float16: numpy computes it in float32)
    x = ex.cast(ex.value(n.inputs[0], out), out, dt)
    one = ex.const(1, dt, "one")
    u = ex.emit("Add", [x, one])
    # (x / (u - 1) is near 1: no overflow of log(u) * x at a huge x)
    r = ex.emit("Mul", [ex.emit("Log", [u]), ex.emit("Div", [x, ex.emit("Sub", [u, one])])])
    r = ex.emit("Where", [ex.emit("Equal", [u, ex.const(np.inf, dt, "inf")]), u, r])
    # (r is never a zero where u != 1)
    return ex.cast(ex.where(ex.emit("Equal", [u, one]), x, r, dt, y_neg0=False), dt, out)


# numpy's power with a one-element exponent (a Python number, a 0-d tensor) on float32 and
# float64: sqrt for 0.5 ((-inf) ** 0.5 is NaN, (-0.0) ** 0.5 is -0.0, where pow gives inf and
# 0.0), 1 / x for -1, x * x for 2 (onnxruntime's Pow by a scalar 2 is x * x too); its pow
# otherwise (float16 always).
_POW_FAST = (0.5, -1.0)


def _one_number(t):
    """Whether numpy's power sees the exponent t as one number: one element, or a broadcast
    view of one (expand / broadcast_to: every stride 0)."""
    while True:
        if all(d is not None for d in t.shape) and int(np.prod(t.shape)) == 1:
            return True
        if t.node.op.name not in ("expand", "broadcast_to") or not isinstance(t.node.inputs[0], SymbolicTensor):
            return False
        t = t.node.inputs[0]


def _pow_fast(ex, x, e, dt):
    if e == 0.5:
        return ex.emit("Sqrt", [x])
    return ex.emit("Div", [ex.const(1, dt, "one"), x])


@_conv("pow")
def _pow(ex, n):
    dt = np.dtype(ex.out_dtype(n))
    a, b = n.inputs
    if dt.kind in "iu":
        return _int_pow(ex, n, dt)
    x = ex.value(a, dt)
    fast = dt in (np.float32, np.float64)
    e = _number(b)
    if e is not None:
        e = float(np.asarray(e).astype(dt))
        if fast and e in _POW_FAST:
            return _pow_fast(ex, x, e, dt)
        return ex.emit("Pow", [x, ex.const(e, dt, "exponent")])
    y = ex.value(b, dt)
    r = ex.emit("Pow", [x, y])
    if not fast or not _one_number(b):
        return r
    # a one-element exponent read at run time: which of numpy's paths, decided then
    for v in _POW_FAST:
        hit = ex.emit("Equal", [y, ex.const(v, dt, "exponent")])
        r = ex.where(hit, _pow_fast(ex, x, v, dt), r, dt)
    return r


def _int_pow(ex, n, dt):
    """Integer powers, exact (onnxruntime's integer Pow goes through double and saturates):
    square and multiply in int64, wrapping as numpy does, then cast to dt (the same bits mod
    2**8, 2**16, 2**32). A negative exponent gives 1 / a ** |b| truncated (dualgraph)."""
    a, b = n.inputs
    wide = np.dtype(np.int64)
    x = ex.cast(ex.value(a, dt), dt, wide)
    e = _number(b)
    if e is not None:
        e = int(np.asarray(e).astype(dt))   # (a Python int beyond dt wraps, as in the kernel)
        if e < 0:
            raise ExportError(f"to_onnx: node {n.name} (pow) raises an integer tensor to the negative "
                              f"power {e}, which dualgraph refuses at run time (integers to negative "
                              "integer powers are not allowed)")
        return ex.cast(_int_pow_const(ex, x, e, wide), wide, dt)
    y = ex.cast(ex.value(b, dt), dt, wide)
    zero, one = ex.const(0, wide, "zero"), ex.const(1, wide, "one")
    # both broadcast to the result's shape (a Python number base: 2 ** k)
    xb = ex.emit("Add", [x, ex.emit("Mul", [y, zero])])
    yb = ex.emit("Add", [y, ex.emit("Mul", [x, zero])])
    pos = ex.emit("Max", [yb, zero])
    r = _int_pow_loop(ex, xb, pos, wide)
    # b < 0: 1 for a == 1, +-1 (by the parity of b) for a == -1, else 0
    odd = ex.emit("Equal", [ex.emit("Mod", [yb, ex.const(2, wide, "two")], fmod=0), one])
    minus1 = ex.const(-1, wide, "minus_one")
    at_minus1 = ex.emit("Where", [odd, minus1, one])
    neg = ex.emit("Where", [ex.emit("Equal", [xb, one]), one,
                            ex.emit("Where", [ex.emit("Equal", [xb, minus1]), at_minus1, zero])])
    r = ex.emit("Where", [ex.emit("Less", [yb, zero]), neg, r])
    return ex.cast(r, wide, dt)


def _int_pow_const(ex, x, e, dt):
    if e == 0:
        return ex.emit("Add", [ex.emit("Mul", [x, ex.const(0, dt, "zero")]), ex.const(1, dt, "one")])
    r, sq = None, x
    while True:
        if e & 1:
            r = sq if r is None else ex.emit("Mul", [r, sq])
        e >>= 1
        if not e:
            return r
        sq = ex.emit("Mul", [sq, sq])


def _int_pow_loop(ex, x, e, dt):
    """x ** e (e >= 0, both of x's shape), a Loop over e's bits: at most 63 turns (int64),
    fewer where every exponent's bits run out sooner."""
    h, T = ex.h, ex.onnx.TensorProto
    et = elem_type(ex.onnx, dt)
    it, cin, r, sq, k = (ex.fresh(f"{ex.node.name}_pow_{v}") for v in ("iter", "cond", "r", "sq", "e"))
    saved = ex.nested_scope()
    zero, one, two = (ex.const(v, dt, nm) for v, nm in ((0, "zero"), (1, "one"), (2, "two")))
    bit = ex.emit("Equal", [ex.emit("Mod", [k, two], fmod=0), one])
    r2 = ex.emit("Where", [bit, ex.emit("Mul", [r, sq]), r])
    sq2 = ex.emit("Mul", [sq, sq])
    k2 = ex.emit("Div", [k, two])
    more = ex.emit("Greater", [ex.emit("ReduceMax", [k2], keepdims=0), zero])
    outs = [(more, T.BOOL), (r2, et), (sq2, et), (k2, et)]
    names = [ex.fresh(f"{ex.node.name}_pow_out") for _ in outs]
    for (src, _), o in zip(outs, names):
        ex.scope.nodes.append(h.make_node("Identity", [src], [o], name=ex.fresh(o + "/Identity")))
    body = h.make_graph(ex.scope.nodes, ex.fresh(f"{ex.node.name}_pow_body"),
                        [h.make_tensor_value_info(it, T.INT64, []), h.make_tensor_value_info(cin, T.BOOL, []),
                         h.make_tensor_value_info(r, et, None), h.make_tensor_value_info(sq, et, None),
                         h.make_tensor_value_info(k, et, None)],
                        [h.make_tensor_value_info(o, t, [] if t == T.BOOL else None)
                         for o, (_, t) in zip(names, outs)])
    ex.scope = saved
    r0 = ex.emit("Add", [ex.emit("Mul", [x, ex.const(0, dt, "zero")]), ex.const(1, dt, "one")])
    go = ex.emit("Greater", [ex.emit("ReduceMax", [e], keepdims=0), ex.const(0, dt, "zero")])
    res = ex.emit("Loop", [ex.const(np.int64(64), name="max_turns"), go, r0, x, e], n_out=3, body=body)
    return res[0]


@_conv("rsqrt")
def _rsqrt(ex, n):
    (x,) = ex.ins(n, ex.out_dtype(n))
    return ex.emit("Reciprocal", [ex.emit("Sqrt", [x])])


def _compute_dtype(n):
    ops = [(x._dtype, len(x.shape)) if isinstance(x, SymbolicTensor) else x for x in n.inputs]
    return _dt.result_type(*ops)


_COMPARE = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual"}


@_conv(*_COMPARE, "ne")
def _compare(ex, n):
    ins = ex.ins(n, _compute_dtype(n))
    if n.op.name == "ne":
        return ex.emit("Not", [ex.emit("Equal", ins)])
    return ex.emit(_COMPARE[n.op.name], ins)


@_conv("logical_and", "logical_or", "logical_not")
def _logical(ex, n):
    kind = {"logical_and": "And", "logical_or": "Or", "logical_not": "Not"}[n.op.name]
    return ex.emit(kind, ex.ins(n, np.bool_))


@_conv("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not")
def _bitwise(ex, n):
    """BitwiseAnd / Or / Xor / Not (opset 18) of integers; And / Or / Xor / Not of bools.
    A Python int operand is wrapped into the result's dtype (int8 ^ 300 is int8 ^ 44), as
    dualgraph (and PyTorch) wrap it."""
    dt = ex.out_dtype(n)
    op = n.op.name.split("_")[1]  # and, or, xor, not
    if dt == np.bool_:  # on bools, the logical ops
        return ex.emit(op.capitalize(), ex.ins(n, np.bool_))
    return ex.emit("Bitwise" + op.capitalize(), ex.ins(n, dt))


def _unsigned(dt):
    """The unsigned integer dtype of dt's width (BitShift is defined for those only)."""
    return np.dtype(f"u{np.dtype(dt).itemsize}")


@_conv("bitwise_left_shift", "bitwise_right_shift")
def _shift(ex, n):
    """a << s and a >> s as dualgraph (numpy's npy_lshift / npy_rshift, PyTorch's kernels):
    << wraps (int8 1 << 7 is -128) and >> of a signed value is arithmetic (the sign
    propagates); a shift count that is negative or >= the width gives 0 (<<, and >> of an
    unsigned or non-negative value) or -1 (>> of a negative value). A Python int count is
    wrapped into the dtype first (int8 << 300 shifts by 44), as dualgraph does.

    BitShift takes unsigned integers only, and a count >= the width is unspecified there: the
    value is cast to the unsigned type of its width (the same bits) and the count kept in
    [0, width), tested in int64 (every count of dualgraph's integer dtypes, exactly); a count
    out of range shifts by 0 and the result is masked to 0, or, for >> of a signed value, by
    width - 1 (its sign fill). A signed >> shifts a ^ m, m all ones where a < 0 and 0 elsewhere,
    and xors m back: the bits of ~(~a >> s), a's arithmetic shift. (No Where on the value:
    onnxruntime has none for int16, uint16, uint64; the masks are a Mul and a BitwiseXor.)"""
    dt = np.dtype(ex.out_dtype(n))
    if dt.kind not in "iu":
        raise ExportError(f"to_onnx: node {n.name} ({n.op.name}) on {dt.name} has no ONNX mapping")
    left = n.op.name == "bitwise_left_shift"
    ut = _unsigned(dt)
    width = dt.itemsize * 8
    a_in, s_in = n.inputs
    a = ex.value(a_in, dt)
    arith = not left and dt.kind == "i"   # a signed >>: the sign fill where the count is out of range
    direction = "LEFT" if left else "RIGHT"
    au = ex.cast(a, dt, ut)
    if arith:   # all ones where a < 0: 1 * the unsigned maximum
        neg = ex.cast(ex.emit("Less", [a, ex.const(0, dt, "zero")]), np.bool_, ut)
        m = ex.emit("Mul", [neg, ex.const(np.iinfo(ut).max, ut, "ones")])
        au = ex.emit("BitwiseXor", [au, m])
    k = _number(s_in)
    if k is not None:   # a count known now: no test at run time
        k = int(np.asarray(k).astype(dt))
        if 0 <= k < width:
            r = ex.emit("BitShift", [au, ex.const(k, ut, "count")], direction=direction)
        elif arith:
            r = ex.emit("BitShift", [au, ex.const(width - 1, ut, "count")], direction=direction)
        else:   # (0, in a's shape: a tensor, or a Python number a)
            r = ex.emit("Mul", [au, ex.const(0, ut, "zero")])
    else:
        wide = np.dtype(np.int64)
        s = ex.cast(ex.value(s_in, dt), dt, wide)
        ok = ex.emit("Less", [s, ex.const(width, wide, "width")])
        if dt.kind == "i":
            ok = ex.emit("And", [ok, ex.emit("GreaterOrEqual", [s, ex.const(0, wide, "zero")])])
        fill = width - 1 if arith else 0
        count = ex.cast(ex.emit("Where", [ok, s, ex.const(fill, wide, "count")]), wide, ut)
        r = ex.emit("BitShift", [au, count], direction=direction)
        if not arith:
            r = ex.emit("Mul", [r, ex.cast(ok, np.bool_, ut)])
    if arith:
        r = ex.emit("BitwiseXor", [r, m])
    return ex.cast(r, ut, dt)


def _divmod_dtype(dt):
    """The dtype a float floor division / remainder is computed in: numpy's float16 loops
    compute in float32 and round the result."""
    return np.dtype(np.float32) if np.dtype(dt) == np.float16 else np.dtype(dt)


def _float_fmod_adjust(ex, a, b, dt):
    """(C's fmod(a, b), where numpy's divmod moves it by b): the remainder nonzero (NaN too)
    and of the other sign than b."""
    zero = ex.const(0, dt, "zero")
    mod = ex.emit("Mod", [a, b], fmod=1)   # exact, the dividend's sign (a zero too); NaN at b == 0
    nonzero = ex.emit("Not", [ex.emit("Equal", [mod, zero])])
    other = ex.xor(ex.emit("Less", [b, zero]), ex.emit("Less", [mod, zero]))
    return mod, ex.emit("And", [nonzero, other])


@_conv("floor_divide")
def _floor_divide(ex, n):
    dt = ex.out_dtype(n)
    if np.dtype(dt).kind == "f":
        return _float_floor_divide(ex, n, dt)
    if np.dtype(dt).kind not in "iu":
        raise ExportError(f"to_onnx: node {n.name} (floor_divide) on {np.dtype(dt).name} has no ONNX mapping")
    # exact integer arithmetic (a float64 quotient loses large int64s): the narrower integers
    # in int64 (no overflow there), cast back with numpy's wrap (int8: -128 // -1 is -128)
    wide = np.dtype(np.int64)
    a, b = [ex.value(x, dt) for x in n.inputs]
    a, b = ex.cast(a, dt, wide), ex.cast(b, dt, wide)
    base = n.name
    one = ex.const(1, wide, "one")
    zero = ex.const(0, wide, "zero")
    minus1 = ex.emit("Equal", [b, ex.const(-1, wide, "minus_one")], name=f"{base}/by_minus_one")
    # INT64_MIN / -1 traps (SIGFPE) in onnxruntime's Div: divide by 1 there and negate (numpy
    # wraps it to INT64_MIN); a zero divisor stays, onnxruntime fails the run as dualgraph raises
    safe = ex.emit("Where", [minus1, one, b], name=f"{base}/divisor")
    q = ex.emit("Div", [a, safe], name=f"{base}/trunc")           # rounds toward zero
    q = ex.emit("Mul", [q, ex.emit("Where", [minus1, ex.const(-1, wide, "minus_one"), one])])
    r = ex.emit("Sub", [a, ex.emit("Mul", [q, b])], name=f"{base}/rem")   # exact, wraps
    down = ex.emit("And", [ex.emit("Not", [ex.emit("Equal", [r, zero])]),
                           ex.xor(ex.emit("Less", [r, zero]), ex.emit("Less", [b, zero]))],
                   name=f"{base}/round_down")
    q = ex.emit("Sub", [q, ex.emit("Cast", [down], to=elem_type(ex.onnx, wide))])
    return ex.cast(q, wide, dt)


def _float_floor_divide(ex, n, dt):
    """numpy's float floor division (npy_divmod): (a - fmod(a, b)) / b moved down by one where
    the remainder had the other sign than b, then floored and snapped to the nearest integer;
    a zero quotient takes the sign of a / b; a / b itself at b == 0. So inf // 2 is NaN and
    -5 // inf is -1, as in dualgraph (and PyTorch)."""
    wt = _divmod_dtype(dt)
    a, b = [ex.cast(ex.value(x, dt), dt, wt) for x in n.inputs]
    zero, one = ex.const(0, wt, "zero"), ex.const(1, wt, "one")
    mod, adjust = _float_fmod_adjust(ex, a, b, wt)
    div = ex.emit("Div", [ex.emit("Sub", [a, mod]), b])
    div = ex.emit("Where", [adjust, ex.emit("Sub", [div, one]), div])   # (a zero is handled below)
    fl = ex.emit("Floor", [div])
    up = ex.emit("Greater", [ex.emit("Sub", [div, fl]), ex.const(0.5, wt, "half")])
    fl = ex.emit("Where", [up, ex.emit("Add", [fl, one]), fl])
    # (fl is never -0.0, nor is a / 0: plain Wheres)
    q = ex.emit("Where", [ex.emit("Equal", [b, zero]), ex.emit("Div", [a, b]), fl])
    # 0 * (a / b): the signed zero (a / b is finite wherever div is 0)
    signed0 = ex.emit("Mul", [ex.emit("Div", [a, b]), zero])
    q = ex.where(ex.emit("Equal", [div, zero]), signed0, q, wt, y_neg0=False)
    return ex.cast(q, wt, dt)


@_conv("trunc_divide")
def _trunc_divide(ex, n):
    """trunc(a / b) of floats (ONNX has no Trunc): floor(|q|) with q's sign (-0.0 for
    -0.25, NaN and inf kept)."""
    dt = ex.out_dtype(n)
    q = ex.emit("Div", ex.ins(n, dt))
    return ex.sign_of(ex.emit("Floor", [ex.emit("Abs", [q])]), q, dt)


@_conv("remainder")
def _remainder(ex, n):
    dt = ex.out_dtype(n)
    if np.dtype(dt).kind in "iu":
        # Python's modulo (exact); a zero divisor fails the run in onnxruntime, as dualgraph raises
        return ex.emit("Mod", ex.ins(n, dt), fmod=0)
    # numpy's remainder: fmod moved by b where it has the other sign (NaN at b == 0, inf - x
    # NaN); a zero remainder has the dividend's sign in dualgraph, as fmod's zero has
    wt = _divmod_dtype(dt)
    a, b = [ex.cast(ex.value(x, dt), dt, wt) for x in n.inputs]
    mod, adjust = _float_fmod_adjust(ex, a, b, wt)
    # (mod + b is never a zero: |mod| < |b|)
    r = ex.where(adjust, ex.emit("Add", [mod, b]), mod, wt, x_neg0=False)
    return ex.cast(r, wt, dt)


@_conv("fmod")
def _fmod(ex, n):
    """C's fmod, the dividend's sign (fmod(-5, 3) is -2; -0.0, and fmod(-4, 2), keep the minus):
    Mod with fmod=1, which onnxruntime computes with C's fmod for floats (NaN at b == 0 and at
    a = +-inf, a itself at b = +-inf) and exactly, truncating, for integers (int64 beyond
    2**53 too). An integer zero divisor fails the run in onnxruntime ("Integer modulo by
    zero"), as dualgraph raises ZeroDivisionError; a Python int divisor that is 0 in the dtype
    (0, or 256 for int8) is an ExportError. A divisor of -1 is read as 1 (the same zero
    remainder), so INT_MIN by -1 cannot trap."""
    dt = np.dtype(ex.out_dtype(n))
    if dt.kind not in "iuf":
        raise ExportError(f"to_onnx: node {n.name} (fmod) on {dt.name} has no ONNX mapping")
    k = _number(n.inputs[1])
    if dt.kind in "iu" and k is not None and np.asarray(k).astype(dt) == 0:
        raise ExportError(f"to_onnx: node {n.name} (fmod) divides {dt.name} integers by {k!r}, which is 0 "
                          f"in {dt.name}: dualgraph raises ZeroDivisionError at run time, and ONNX cannot "
                          "raise (onnxruntime refuses the model)")
    a, b = ex.ins(n, dt)
    if dt.kind == "i":   # b + 2 where b == -1 (Add and Mul: onnxruntime has no int16 Where)
        by_minus1 = ex.cast(ex.emit("Equal", [b, ex.const(-1, dt, "minus_one")]), np.bool_, dt)
        b = ex.emit("Add", [b, ex.emit("Mul", [by_minus1, ex.const(2, dt, "two")])])
    return ex.emit("Mod", [a, b], fmod=1)


@_conv("cast")
def _cast(ex, n):
    return ex.cast(ex.value(n.inputs[0]), n.inputs[0]._dtype, ex.out_dtype(n)) \
        if isinstance(n.inputs[0], SymbolicTensor) else ex.value(n.inputs[0], ex.out_dtype(n))


def _number(x):
    """x as a Python number where it is one (a literal operand), else None."""
    return x if isinstance(x, (bool, int, float, np.number)) and not isinstance(x, SymbolicTensor) else None


def _may_be_neg0(x):
    """Whether an operand may hold -0.0 (ex.where's x_neg0): a tensor may; a number is one
    ("all") or not."""
    v = _number(x)
    if v is None:
        return True
    return "all" if v == 0 and np.signbit(v) else False


@_conv("where")
def _where(ex, n):
    dt = ex.out_dtype(n)
    c, x, y = n.inputs
    return ex.where(ex.value(c, np.bool_), ex.value(x, dt), ex.value(y, dt), dt,
                    x_neg0=_may_be_neg0(x), y_neg0=_may_be_neg0(y))


@_conv("masked_fill")
def _masked_fill(ex, n):
    dt = ex.out_dtype(n)
    x, mask, v = n.inputs
    return ex.where(ex.value(mask, np.bool_), ex.value(v, dt), ex.value(x, dt), dt,
                    x_neg0=_may_be_neg0(v), y_neg0=_may_be_neg0(x))


@_conv("clamp")
def _clamp(ex, n):
    """numpy's clip, as dualgraph computes it: min > max makes every element max; a NaN bound
    makes every element NaN; one bound alone is maximum / minimum (Max / Min, which keep
    +-inf and propagate NaN: Clip's missing bound is the dtype's finite range, which maps
    -inf to -FLT_MAX); both bounds are Clip (a NaN input stays NaN, a zero keeps its sign)."""
    dt = np.dtype(ex.out_dtype(n))
    lo, hi = n.attrs.get("min"), n.attrs.get("max")
    x = ex.value(n.inputs[0], dt)
    bounds = [v for v in (lo, hi) if v is not None]
    fill = None
    if lo is not None and hi is not None and lo > hi:
        fill = hi
    elif dt.kind == "f" and any(np.isnan(v) for v in bounds):
        fill = np.nan
    if fill is not None:
        value = ex.h.make_tensor(ex.fresh("fill"), elem_type(ex.onnx, dt), [1],
                                 [np.asarray(fill).astype(dt).item()])
        return ex.emit("ConstantOfShape", [ex.shape_of(n.inputs[0])], value=value)
    if dt.kind == "f" and (lo is None or hi is None):
        return ex.emit("Max" if hi is None else "Min", [x, ex.const(bounds[0], dt, "bound")])
    # (integers: the missing bound is the dtype's range, exact)
    args = [x, "" if lo is None else ex.const(lo, dt, "min"), "" if hi is None else ex.const(hi, dt, "max")]
    while args[-1] == "":
        args.pop()
    return ex.emit("Clip", args)
