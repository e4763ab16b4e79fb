"""dg.export.from_onnx gives onnxruntime's numbers, special values included: NaN, +-inf, -0.0,
int64 beyond 2**53 and empty dims. Every op the importer maps is a one-node ONNX model
(onnx.helper) run in onnxruntime and imported, then run compiled (OnnxGraph.run, a dg.Session's
plan, twice) and eagerly (the imported graph's nodes replayed through the eager interpreter).
Bitwise (NaNs at the same places, the sign of a zero) where both compute exactly; to float32
rounding otherwise, with the same NaNs, infinities and signed zeros.

Where onnxruntime's answer depends on its kernels' loop order, or contradicts the ONNX
specification, a case gives the numbers dualgraph keeps (`want`, numpy's) and says why. Last,
each case of tests/test_export_onnx_special_values.py goes all the way round (dualgraph,
to_onnx, from_onnx): the numbers dualgraph gives."""
import numpy as np
import pytest

import dualgraph as dg
from dualgraph.errors import DualGraphError
from dualgraph.export import from_onnx, to_onnx
from dualgraph.graph.core import CONSTANT, VARIABLE, SymbolicTensor
from dualgraph.ops.dispatch import apply
from special_value_checks import assert_same_values

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
h, TP = onnx.helper, onnx.TensorProto

nan, inf = np.nan, np.inf
f32, f64, f16, i64, i8, u8 = np.float32, np.float64, np.float16, np.int64, np.int8, np.uint8
I64 = np.iinfo(np.int64)
FMAX = float(np.finfo(f32).max)

SPECIAL = np.array([nan, inf, -inf, -0.0, 0.0, 0.25, -0.25, 0.5, -1.5, 2.5, 3.0, -7.0, 1e-30,
                    -1e-30, 3e38, -3e38, 1e-45], f32)
FINITE = SPECIAL[np.isfinite(SPECIAL) & (np.abs(SPECIAL) < 1e9)]
# every special dividend by every special divisor (zeros of both signs, inf, NaN, tiny, huge)
DIVISORS = np.array([nan, inf, -inf, -0.0, 0.0, 3.0, -3.0, 0.5, -0.75, 1e-30, 7e37], f32)
A, B = [g.ravel() for g in np.meshgrid(SPECIAL, DIVISORS)]
# integers beyond float64's 53 bits and the dtype's ends, by divisors of both signs (no zero,
# no -1: INT64_MIN / -1 traps in onnxruntime)
BIG = np.array([2**62 + 1, -(2**62) - 1, 2**53 + 1, -(2**53) - 1, I64.max, I64.min, I64.min + 1,
                -7, 7, 0, 1, -1], i64)
BIG_DIVISORS = np.array([3, -3, 7, -7, 1, 2, 2**31 + 1, -(2**40) - 3, 2**62 + 7], i64)
IA, IB = [g.ravel() for g in np.meshgrid(BIG, BIG_DIVISORS)]
I8A = np.array([-128, 127, -7, 7, 0, -128, 5, -128, 127], i8)
I8B = np.array([-1, -1, 2, -2, 5, 3, -3, 127, -128], i8)
U8A, U8B = np.array([255, 7, 0, 200, 1], u8), np.array([2, 255, 3, 7, 255], u8)
BOOLS = [np.array([True, False, True, False]), np.array([True, True, False, False])]
# rows for the max / min family without NaN (ties, infinities, one signed zero among others)
ROWS = np.array([[1, 3, 3, 2], [-inf, -inf, -inf, -inf], [inf, -0.0, 7, -inf], [0.5, -2, 7, 7],
                 [-0.0, -0.0, -1, -3], [0.0, 1e-45, -1e-45, -0.0]], f32)
# ... and with NaNs, first, in the middle, last
NAN_ROWS = np.array([[1, nan, 3, 2], [nan, 1, 2, 0], [1, 2, 3, nan], [inf, -0.0, nan, -inf],
                     [0.5, -2, 7, 7]], f32)
EMPTY = np.zeros((3, 0), f32)
# images: -inf, -0.0 and a window of -infs; the same with NaNs in two windows
IMG = np.arange(36, dtype=f32).reshape(1, 1, 6, 6) - 10
IMG[0, 0, 0, 0], IMG[0, 0, 3, 3], IMG[0, 0, 4:6, 4:6] = -0.0, -inf, -inf
IMG[0, 0, 2, 0] = 3e38
NAN_IMG = IMG.copy()
NAN_IMG[0, 0, 0, 1], NAN_IMG[0, 0, 2, 2] = nan, nan

EXACT, CLOSE = None, 2e-6   # bitwise; float32 rounding (a few ulps)


class Case:
    """One node `op` reading `inputs` (fed, (name, array) pairs), `consts` (Constant nodes),
    `inits` (initializers: a float one imports as a dg.Variable); `order` lists the node's
    input names where it differs from feeds, then initializers, then consts ("" is an absent
    optional input). `want` replaces onnxruntime's outputs, `why` says why."""

    def __init__(self, id, op, inputs=(), *, consts=(), inits=(), order=None, attrs=None,
                 out=None, rtol=EXACT, want=None, why=None, opset=18, n_out=1):
        self.id, self.op, self.inputs, self.consts, self.inits = id, op, list(inputs), list(consts), list(inits)
        self.order, self.attrs, self.out, self.rtol = order, attrs or {}, out, rtol
        self.want, self.why, self.opset, self.n_out = want, why, opset, n_out
        assert (want is None) == (why is None), id

    def model(self):
        cnodes = [h.make_node("Constant", [], [n], value=onnx.numpy_helper.from_array(np.asarray(a), n + "_value"))
                  for n, a in self.consts]
        names = self.order if self.order is not None else \
            [n for n, _ in self.inputs + self.inits + self.consts]
        outs = [f"y{i}" for i in range(self.n_out)]
        node = h.make_node(self.op, names, outs, name=self.id, **self.attrs)
        src = (self.inputs + self.inits + self.consts)[0][1].dtype
        out_vi = [h.make_tensor_value_info(o, h.np_dtype_to_tensor_dtype(np.dtype(self.out or src)), None)
                  for o in outs]
        in_vi = [h.make_tensor_value_info(n, h.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in self.inputs]
        graph = h.make_graph(cnodes + [node], self.id, in_vi, out_vi,
                             initializer=[onnx.numpy_helper.from_array(a, n) for n, a in self.inits])
        return h.make_model(graph, opset_imports=[h.make_opsetid("", self.opset)],
                            ir_version=10 if self.opset >= 21 else 9)

    def arrays(self):
        return [a for _, a in self.inputs]


def _ort(model, arrays):
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {i.name: a for i, a in zip(s.get_inputs(), arrays)})


def _eager(imported, arrays):
    """The imported graph's nodes, in order, each through the eager interpreter (the kernels
    dualgraph's eager code runs; control flow, a graph-only op, by its own kernel)."""
    vals = {id(ph.node): dg.tensor(a) for ph, a in zip(imported.inputs, arrays)}

    def get(x):
        return vals[id(x.node)] if isinstance(x, SymbolicTensor) else x

    for n in imported.graph.nodes:
        if id(n) in vals:
            continue
        if n.op is VARIABLE:
            vals[id(n)] = dg.tensor(np.array(n.attrs["ref"]._data))
        elif n.op is CONSTANT:
            vals[id(n)] = dg.tensor(np.array(n.attrs["value"]))
        elif n.op.name == "tuple_get":
            vals[id(n)] = dg.tensor(np.asarray(get(n.inputs[0])[n.attrs["index"]]))
        elif n.op.graph_only:
            args = [get(x) for x in n.inputs]
            vals[id(n)] = n.op.forward(*[a._data if isinstance(a, dg.Tensor) else a for a in args], **n.attrs)
        else:
            vals[id(n)] = apply(n.op, *[get(x) for x in n.inputs], **n.attrs)
    return [np.asarray(get(o).numpy()) for o in imported.outputs]


_same = assert_same_values


def _wrap(v):
    """A Python int as int64 arithmetic wraps it."""
    return (v + 2**63) % 2**64 - 2**63


def _x(v=SPECIAL):
    return [("x", v)]


def _ab(a=A, b=B):
    return [("a", a), ("b", b)]


def _to(dt):
    """A Cast's attributes."""
    return dict(to=h.np_dtype_to_tensor_dtype(np.dtype(dt)))


def _axes(*a):
    return [("axes", np.array(a, i64))]


def _pool_max(x, k, s, pads=0):
    """numpy's max (NaN propagates) over each k x k window, stride s, padding -inf."""
    x = np.pad(x, [(0, 0), (0, 0), (pads, pads), (pads, pads)], constant_values=-inf)
    n = (x.shape[2] - k) // s + 1
    m = (x.shape[3] - k) // s + 1
    out = np.empty(x.shape[:2] + (n, m), x.dtype)
    for i in range(n):
        for j in range(m):
            out[:, :, i, j] = x[:, :, i * s:i * s + k, j * s:j * s + k].max(axis=(2, 3))
    return out


def _log_softmax(x):
    z = x.astype(f64) - x.max(axis=1, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=1, keepdims=True))).astype(x.dtype)


def _clip(lo, hi, x=SPECIAL, dt=f32, how="consts"):
    names = ["x", "" if lo is None else "min", "" if hi is None else "max"]
    while names[-1] == "":
        names.pop()
    bounds = [(n, np.array(v, dt)) for n, v in (("min", lo), ("max", hi)) if v is not None]
    return dict(inputs=[("x", x)], order=names, **{how: bounds})


_LOOP_BODY = h.make_graph(
    [h.make_node("Mul", ["v", "two"], ["v2"]), h.make_node("Add", ["v2", "x"], ["v3"]),
     h.make_node("Identity", ["cond"], ["cond_out"])], "body",
    [h.make_tensor_value_info("i", TP.INT64, []), h.make_tensor_value_info("cond", TP.BOOL, []),
     h.make_tensor_value_info("v", TP.FLOAT, [6])],
    [h.make_tensor_value_info("cond_out", TP.BOOL, []), h.make_tensor_value_info("v3", TP.FLOAT, [6])],
    initializer=[onnx.numpy_helper.from_array(np.array(2.0, f32), "two")])
_THEN = h.make_graph([h.make_node("Neg", ["x"], ["t"])], "then", [], [h.make_tensor_value_info("t", TP.FLOAT, [6])])
_ELSE = h.make_graph([h.make_node("Floor", ["x"], ["e"])], "else", [], [h.make_tensor_value_info("e", TP.FLOAT, [6])])
SIX = np.array([nan, inf, -inf, -0.0, 2.5, 3e38], f32)
LOGP = np.array([[-0.5, -1.0, -2.0], [-0.25, -3.0, -inf], [-1.0, -0.0, -1.5]], f32)
D23 = np.array([[1, -0.0, nan], [inf, 5, -6]], f32)
E203 = np.zeros((2, 0, 3), f32)

CASES = [
    # ---- one operand
    *[Case(op, op, _x()) for op in ("Abs", "Neg", "Relu", "Sqrt", "Reciprocal", "Floor", "Ceil",
                                    "Sign", "Identity", "Dropout")],
    *[Case(op, op, _x(), rtol=CLOSE) for op in ("Exp", "Log", "Sin", "Cos", "Tanh", "Sigmoid")],
    Case("Floor_f64", "Floor", _x(SPECIAL.astype(f64))),
    Case("Ceil_f64", "Ceil", _x(SPECIAL.astype(f64))),
    Case("Sign_f64", "Sign", _x(SPECIAL.astype(f64))),
    Case("Floor_f16", "Floor", _x(SPECIAL[~(np.abs(SPECIAL) > 6e4)].astype(f16))),
    Case("LeakyRelu", "LeakyRelu", _x(), attrs=dict(alpha=0.1)),
    Case("LeakyRelu_zero_alpha", "LeakyRelu", _x(), attrs=dict(alpha=0.0)),
    *[Case(f"{op}_int64", op, _x(BIG)) for op in ("Abs", "Neg", "Sign", "Relu")],
    Case("BitwiseNot_int64", "BitwiseNot", _x(BIG)),
    Case("BitwiseNot_uint8", "BitwiseNot", _x(U8A)),
    Case("Not", "Not", [("a", BOOLS[0])]),
    # ---- two operands, every special by every special
    *[Case(op, op, _ab()) for op in ("Add", "Sub", "Mul", "Div", "Max", "Min", "Sum")],
    *[Case(op, op, _ab(), out=bool) for op in ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual")],
    Case("Pow", "Pow", _ab(), rtol=CLOSE),
    Case("Mod_fmod", "Mod", _ab(), attrs=dict(fmod=1)),   # fmod(5, inf) is 5, fmod(-4, 2) is -0.0
    Case("Mod_fmod_f64", "Mod", _ab(A.astype(f64), B.astype(f64)), attrs=dict(fmod=1)),
    Case("Max_three", "Max", [("a", SPECIAL), ("b", SPECIAL[::-1].copy()), ("c", np.array([0.0], f32))]),
    Case("Min_three", "Min", [("a", SPECIAL), ("b", SPECIAL[::-1].copy()), ("c", np.array([-0.0], f32))]),
    Case("Sum_three", "Sum", [("a", SPECIAL), ("b", SPECIAL[::-1].copy()), ("c", np.array([-0.0], f32))]),
    Case("And", "And", [("a", BOOLS[0]), ("b", BOOLS[1])]),
    Case("Or", "Or", [("a", BOOLS[0]), ("b", BOOLS[1])]),
    # ---- integers, exact (Div rounds toward zero; -128 / 3 is -42)
    *[Case(f"{op}_int64", op, _ab(IA, IB)) for op in ("Add", "Sub", "Mul", "Div", "Mod", "Max", "Min",
                                                       "BitwiseAnd", "BitwiseOr")],
    Case("Mod_fmod_int64", "Mod", _ab(IA, IB), attrs=dict(fmod=1)),
    *[Case(f"{op}_int64", op, _ab(IA, IB), out=bool) for op in ("Equal", "Less", "Greater")],
    Case("Equal_beyond_2_53", "Equal", _ab(np.array([2**53 + 1, 2**62 + 1, I64.min], i64),
                                           np.array([2**53, 2**62 + 1, I64.min + 1], i64)), out=bool),
    Case("Less_beyond_2_53", "Less", _ab(np.array([2**53, 2**62 + 1, I64.min], i64),
                                         np.array([2**53 + 1, 2**62, I64.min + 1], i64)), out=bool),
    *[Case(f"{op}_int8", op, _ab(I8A, I8B)) for op in ("Div", "Mod", "Add", "Mul")],
    Case("Mod_fmod_int8", "Mod", _ab(I8A, I8B), attrs=dict(fmod=1)),
    *[Case(f"{op}_uint8", op, _ab(U8A, U8B)) for op in ("Div", "Mod", "Sub")],
    # ---- Pow: C's pow ((-inf) ** 0.5 is inf, (-0.0) ** 0.5 is 0.0)
    Case("Pow_half_constant", "Pow", _x(), consts=[("e", np.array(0.5, f32))]),
    Case("Pow_half_fed", "Pow", _x() + [("e", np.array(0.5, f32))]),
    Case("Pow_half_initializer", "Pow", _x(), inits=[("e", np.array([0.5], f32))]),
    Case("Pow_half_f64", "Pow", _x(SPECIAL.astype(f64)), consts=[("e", np.array(0.5, f64))]),
    *[Case(f"Pow_{e}", "Pow", _x(), consts=[("e", np.array(e, f32))]) for e in (2.0, -1.0, 0.0, 1.0)],
    Case("Pow_3", "Pow", _x(), consts=[("e", np.array(3.0, f32))], rtol=CLOSE),
    Case("Pow_int64", "Pow", _ab(np.array([3, -3, 2, 7, 1, 0, 5, -1], i64),
                                 np.array([33, 30, 52, 18, 5, 0, 2, 7], i64))),
    Case("Pow_int64_beyond_2_53", "Pow", _ab(np.array([3, -3, 2, 7], i64), np.array([39, 40, 63, 30], i64)),
         want=[np.array([_wrap(3**39), _wrap((-3)**40), _wrap(2**63), _wrap(7**30)], i64)],
         why="integer powers are exact, wrapping as numpy and PyTorch do; onnxruntime goes through "
             "double and saturates"),
    Case("Pow_int_base_float_exponent", "Pow", _ab(np.array([3, -3, 2, 7, 0, 5], i64),
                                                   np.array([0.5, 2.0, 3.0, -1.0, 0.5, 1.5], f32))),
    Case("Pow_float_base_int_exponent", "Pow", _ab(np.array([1.5, -2.5, 0.0, -0.0, inf], f32),
                                                   np.array([2, 3, 0, -1, -3], i64))),
    # ---- Clip: a missing bound is the dtype's finite range, a NaN bound changes nothing,
    # min > max gives max (a NaN stays), a zero equal to a zero bound keeps its sign
    *[Case(f"Clip_{lo}_{hi}", "Clip", **_clip(lo, hi))
      for lo, hi in [(0.0, None), (None, 0.0), (-1.0, 1.0), (None, inf), (-inf, None), (2.0, 1.0),
                     (nan, 1.0), (0.0, nan), (nan, None), (-0.0, 0.0), (0.0, 0.0), (0.0, -0.0),
                     (0.25, 3.0)]],
    Case("Clip_initializer_bounds", "Clip", **_clip(0.0, 6.0, how="inits")),   # (float: dg.Variables)
    Case("Clip_initializer_min_above_max", "Clip", **_clip(2.0, 1.0, how="inits")),
    Case("Clip_f64", "Clip", **_clip(-1.0, None, x=SPECIAL.astype(f64), dt=f64)),
    *[Case(f"Clip_int64_{lo}_{hi}", "Clip", **_clip(lo, hi, x=BIG, dt=i64))
      for lo, hi in [(-5, None), (None, 2**62), (3, 1), (I64.min, I64.max)]],
    Case("Clip_attributes_opset10", "Clip", _x(), attrs=dict(min=0.0), opset=10),
    # ---- selection
    Case("Where", "Where", [("c", np.array([1, 0, 1, 0, 1, 0], bool)),
                            ("x", np.array([-0.0, nan, 0.0, 1, -0.0, 2], f32)),
                            ("y", np.array([nan, -0.0, 5, inf, 0.0, -0.0], f32))], out=f32,
         want=[np.array([-0.0, -0.0, 0.0, inf, -0.0, -0.0], f32)],
         why="ONNX's Where is numpy.where (a -0.0 from x stays); onnxruntime gives +0.0 for a "
             "zero it takes from x"),
    # ---- casts (float to integer only where C defines it: in range, no NaN)
    *[Case(f"Cast_f32_to_{np.dtype(dt).name}", "Cast", _x(), attrs=_to(dt), out=dt) for dt in (f64, f16, bool)],
    *[Case(f"Cast_finite_f32_to_{np.dtype(dt).name}", "Cast", _x(FINITE), attrs=_to(dt), out=dt)
      for dt in (i64, np.int32, i8)],
    *[Case(f"Cast_int64_to_{np.dtype(dt).name}", "Cast", _x(BIG), attrs=_to(dt), out=dt)
      for dt in (f32, f64, np.int32, i8, u8, bool)],
    # ---- reductions: over a dim, over everything, over nothing, of a 0-d tensor
    *[Case(op, op, _x(ROWS), consts=_axes(1), attrs=dict(keepdims=0), rtol=CLOSE if op == "ReduceLogSumExp" else EXACT)
      for op in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceLogSumExp")],
    *[Case(op + "_all", op, _x(ROWS[:3]), attrs=dict(keepdims=1), rtol=CLOSE if op == "ReduceLogSumExp" else EXACT)
      for op in ("ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceLogSumExp")],
    *[Case(op + "_empty", op, _x(EMPTY), consts=_axes(1), attrs=dict(keepdims=0))   # -inf, +inf, -inf, 0, 1
      for op in ("ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceLogSumExp")],
    *[Case(op + "_empty_keepdims", op, _x(np.zeros((0, 2), f32)), consts=_axes(0), attrs=dict(keepdims=1))
      for op in ("ReduceMax", "ReduceMin")],
    *[Case(op + "_all_empty", op, _x(np.zeros((0,), f32)), attrs=dict(keepdims=0))
      for op in ("ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd")],
    *[Case(op + "_0d", op, _x(np.array(-0.0, f32)), attrs=dict(keepdims=0))
      for op in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd")],
    *[Case(op + "_noop", op, _x(ROWS), consts=_axes(), attrs=dict(noop_with_empty_axes=1))
      for op in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd")],
    *[Case(op + "_int64", op, _x(np.array([[7, -3, 2**53 + 1], [I64.min, -1, 0]], i64)), consts=_axes(1),
           attrs=dict(keepdims=0)) for op in ("ReduceMax", "ReduceMin")],
    *[Case(op + "_int64_empty", op, _x(np.zeros((2, 0), i64)), consts=_axes(1), attrs=dict(keepdims=0))
      for op in ("ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd")],
    Case("ReduceSum_int64", "ReduceSum", _x(np.array([[7, -3, 2**40], [-(2**40), 1, 0]], i64)), attrs=dict(keepdims=0)),
    Case("ReduceSum_int64_beyond_2_53", "ReduceSum", _x(np.array([[2**53 + 1, 0, 2], [2**62, 2**62, 1]], i64)),
         consts=_axes(1), attrs=dict(keepdims=0), want=[np.array([2**53 + 3, -(2**63) + 1], i64)],
         why="integer sums are exact, wrapping; onnxruntime's goes through double (2**53 + 3 "
             "becomes 2**53 + 2)"),
    Case("ReduceProd_int64_wraps", "ReduceProd", _x(np.array([[2**62, 2, 2], [3, -5, 7]], i64)), consts=_axes(1),
         attrs=dict(keepdims=0), want=[np.array([0, -105], i64)],
         why="integer products wrap as numpy's and PyTorch's do; onnxruntime's saturates"),
    *[Case(op + "_nan", op, _x(NAN_ROWS), consts=_axes(1), attrs=dict(keepdims=0),
           want=[getattr(np, fn)(NAN_ROWS, axis=1)],
           why="NaN propagates, as in numpy and PyTorch; onnxruntime skips a NaN or not by its "
               "position in its vector loop")
      for op, fn in (("ReduceMax", "max"), ("ReduceMin", "min"))],
    Case("ReduceMean_empty", "ReduceMean", _x(EMPTY), consts=_axes(1), attrs=dict(keepdims=0),
         want=[np.full(3, nan, f32)],
         why="the mean of nothing is 0 / 0 (numpy, PyTorch); ONNX leaves it undefined, "
             "onnxruntime gives 0"),
    Case("ReduceSum_of_negative_zeros", "ReduceSum", _x(np.array([[-0.0, -0.0], [-0.0, 0.0]], f32)),
         consts=_axes(1), attrs=dict(keepdims=0), want=[np.array([0.0, 0.0], f32)],
         why="a sum starts from +0.0 in numpy and PyTorch (and dualgraph's export); onnxruntime's "
             "sum of -0.0s is -0.0"),
    Case("ReduceLogSumExp_noop", "ReduceLogSumExp", _x(ROWS), consts=_axes(), attrs=dict(noop_with_empty_axes=1),
         want=[ROWS], why="ONNX: empty axes with noop_with_empty_axes give the input; onnxruntime "
                          "computes log(exp(x)), +0.0 at -0.0"),
    Case("ReduceLogSumExp_all_nan", "ReduceLogSumExp", _x(np.array([[inf, 1], [nan, 0]], f32)), attrs=dict(keepdims=0),
         want=[np.array(nan, f32)], why="a NaN element makes the log-sum-exp NaN; onnxruntime gives inf"),
    # ---- arg max / min: the first of equal values
    *[Case(f"{op}_axis{ax}", op, _x(ROWS), attrs=dict(axis=ax, keepdims=k), out=i64)
      for op in ("ArgMax", "ArgMin") for ax, k in ((1, 0), (0, 1))],
    *[Case(f"{op}_nan", op, _x(NAN_ROWS), attrs=dict(axis=1, keepdims=0), out=i64,
           want=[getattr(np, fn)(NAN_ROWS, axis=1)],
           why="the first NaN's index, as numpy and PyTorch; onnxruntime's compares skip a NaN "
               "unless it comes first")
      for op, fn in (("ArgMax", "argmax"), ("ArgMin", "argmin"))],
    # ---- pooling, softmax, matrix products, convolution, normalisation
    Case("MaxPool", "MaxPool", _x(IMG), attrs=dict(kernel_shape=[2, 2], strides=[2, 2])),
    Case("MaxPool_overlapping", "MaxPool", _x(IMG), attrs=dict(kernel_shape=[3, 3], strides=[1, 1])),
    Case("MaxPool_nan", "MaxPool", _x(NAN_IMG), attrs=dict(kernel_shape=[2, 2], strides=[2, 2]),
         want=[_pool_max(NAN_IMG, 2, 2)],
         why="NaN propagates through a window (numpy, PyTorch); onnxruntime's MaxPool skips it"),
    Case("MaxPool_padded_window_of_infs", "MaxPool", _x(IMG),
         attrs=dict(kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1]),
         want=[_pool_max(IMG, 2, 2, pads=1)],
         why="padding is -inf, so a window of -inf and padding is -inf; onnxruntime starts it at "
             "-FLT_MAX"),
    Case("GlobalMaxPool", "GlobalMaxPool", _x(IMG)),
    Case("GlobalMaxPool_nan", "GlobalMaxPool", _x(NAN_IMG), want=[NAN_IMG.max(axis=(2, 3), keepdims=True)],
         why="NaN propagates (numpy, PyTorch); onnxruntime skips it"),
    Case("GlobalAveragePool", "GlobalAveragePool", _x(NAN_IMG)),
    Case("GlobalAveragePool_zeros", "GlobalAveragePool", _x(np.array([-0.0, 0.0, -0.0, 0.0], f32).reshape(1, 2, 1, 2))),
    *[Case(op, op, _x(np.concatenate([ROWS, NAN_ROWS[:2], [[3e38, 3e38, 0, 1]]])), attrs=dict(axis=1), rtol=CLOSE)
      for op in ("Softmax", "LogSoftmax") if op == "Softmax"],
    Case("LogSoftmax", "LogSoftmax", _x(np.concatenate([ROWS[[0, 1, 3, 4, 5]], [[3e38, 3e38, 0, 1]]])),
         attrs=dict(axis=1), rtol=CLOSE),
    Case("LogSoftmax_nan_inf", "LogSoftmax", _x(np.concatenate([ROWS, NAN_ROWS[:2]])[[2, 6, 7, 0]]),
         attrs=dict(axis=1), rtol=CLOSE, want=[np.concatenate([np.full((3, 4), nan, f32), _log_softmax(ROWS[:1])])],
         why="a NaN, or x - max at +inf, makes each log-probability of its row NaN (ONNX's "
             "definition, log(softmax(x)), and PyTorch); onnxruntime's vector loop gives -inf or "
             "numbers there, by the batch's size"),
    Case("MatMul", "MatMul", _ab(np.array([[nan, 1], [inf, 0], [-0.0, 2], [1e38, 1e38]], f32),
                                 np.array([[1, 0, -0.0], [0, 1, 2]], f32)), rtol=CLOSE),
    Case("MatMul_empty", "MatMul", _ab(EMPTY, np.zeros((0, 2), f32))),
    Case("Gemm", "Gemm", _ab(np.array([[nan, 1], [inf, 0], [-0.0, 2]], f32), np.array([[1, 0, -0.0], [0, 1, 2]], f32))
         + [("c", np.array([-0.0, 0, inf], f32))], attrs=dict(alpha=2.0, beta=0.5), rtol=CLOSE),
    Case("Gemm_transposed", "Gemm", _ab(np.array([[nan, inf], [1, -0.0]], f32), np.array([[1, 0], [-0.0, 2]], f32)),
         attrs=dict(transA=1, transB=1), rtol=CLOSE),
    Case("Conv", "Conv", [("x", NAN_IMG), ("w", np.array([[[[1, -0.5], [0.25, 2]]]], f32)),
                          ("b", np.array([-0.0], f32))],
         attrs=dict(pads=[1, 1, 1, 1]), rtol=CLOSE),
    Case("Conv_asymmetric_pads", "Conv", [("x", IMG), ("w", np.array([[[[1, -0.5], [0.25, 2]]]], f32))],
         attrs=dict(pads=[0, 1, 1, 0], strides=[2, 1]), rtol=CLOSE),
    Case("BatchNormalization", "BatchNormalization",
         [("x", np.concatenate([NAN_IMG, IMG, -IMG], axis=1))]
         + [(n, np.array(v, f32)) for n, v in (("scale", [1, -0.0, inf]), ("bias", [0, -0.0, 1]),
                                              ("mean", [nan, 0, 1]), ("var", [1, 0, 0.25]))]),
    Case("BatchNormalization_rounding", "BatchNormalization",
         [("x", np.arange(2 * 3 * 16, dtype=f32).reshape(2, 3, 4, 4) / 7)]
         + [(n, np.array(v, f32)) for n, v in (("scale", [1, 2, 0.5]), ("bias", [0, -1, 1]),
                                              ("mean", [0.5, 0, 1]), ("var", [1, 0.25, 4]))]),
    # ---- losses
    *[Case(f"NegativeLogLikelihoodLoss_{red}", "NegativeLogLikelihoodLoss",
           [("x", LOGP), ("t", np.array([2, 0, 1], i64))],
           attrs=dict(reduction=red)) for red in ("none", "sum", "mean")],
    *[Case(f"NegativeLogLikelihoodLoss_ignored_{red}", "NegativeLogLikelihoodLoss",
           [("x", LOGP), ("t", np.array([0, -100, 2], i64))], attrs=dict(reduction=red, ignore_index=-100))
      for red in ("none", "sum", "mean")],   # (an ignored element is -0.0)
    Case("NegativeLogLikelihoodLoss_all_ignored_mean", "NegativeLogLikelihoodLoss",
         [("x", LOGP), ("t", np.array([1, 1, 1], i64))], attrs=dict(reduction="mean", ignore_index=1)),
    Case("NegativeLogLikelihoodLoss_all_ignored_sum", "NegativeLogLikelihoodLoss",
         [("x", LOGP), ("t", np.array([1, 1, 1], i64))], attrs=dict(reduction="sum", ignore_index=1),
         want=[np.array(0.0, f32)], why="a sum of nothing is +0.0 (PyTorch; ReduceSum_of_negative_zeros)"),
    # ---- shapes, indexing, copies: empty dims, huge bounds, negative indices
    Case("Reshape_empty", "Reshape", _x(E203), consts=[("s", np.array([0, 3, -1], i64))]),
    Case("Reshape_allowzero", "Reshape", _x(E203), consts=[("s", np.array([0, 3, 4], i64))], attrs=dict(allowzero=1)),
    Case("Flatten_empty", "Flatten", _x(E203), attrs=dict(axis=2)),
    Case("Transpose_empty", "Transpose", _x(E203)),
    Case("Concat_empty", "Concat", _ab(E203, np.full((2, 1, 3), -0.0, f32)), attrs=dict(axis=1)),
    Case("Squeeze_empty", "Squeeze", _x(np.zeros((1, 0, 1), f32)), consts=[("a", np.array([0, -1], i64))]),
    Case("Unsqueeze_empty", "Unsqueeze", _x(E203), consts=[("a", np.array([-1, 0], i64))]),
    Case("Expand", "Expand", _x(np.array([[-0.0], [nan]], f32)), consts=[("s", np.array([2, 3], i64))]),
    Case("Expand_to_empty", "Expand", _x(np.array([[-0.0], [nan]], f32)), consts=[("s", np.array([2, 0], i64))]),
    Case("Tile_empty", "Tile", _x(E203), consts=[("r", np.array([2, 5, 0], i64))]),
    Case("Tile", "Tile", _x(D23), consts=[("r", np.array([2, 1], i64))]),
    *[Case(f"Slice_{s}_{e}_{st}", "Slice", _x(SPECIAL),
           consts=[(n, np.array([v], i64)) for n, v in (("s", s), ("e", e), ("a", 0), ("st", st))])
      for s, e, st in [(0, I64.max, 1), (I64.min, I64.max, 2), (-3, I64.max, 1), (2, -2, 3), (20, 30, 1),
                       (-100, 3, 1), (5, 2, 1), (0, -I64.max, 1), (3, 2**62, 1), (1, 2**62 - 1, 1)]],
    Case("Gather_negative", "Gather", [("x", D23), ("i", np.array([-1, 0, -3], i64))], attrs=dict(axis=1)),
    Case("Gather_negative_scalar", "Gather", _x(D23), consts=[("i", np.array(-1, i64))]),
    Case("Gather_empty", "Gather", [("x", D23), ("i", np.zeros((0,), i64))]),
    Case("GatherElements_negative", "GatherElements", [("x", D23), ("i", np.array([[0, -1, 2], [-2, 1, 0]], i64))],
         attrs=dict(axis=1)),
    Case("GatherElements_axis0", "GatherElements", [("x", D23), ("i", np.array([[-1, 0, -2]], i64))]),
    Case("Shape_empty", "Shape", _x(E203), out=i64),
    Case("Shape_start_end", "Shape", _x(E203), attrs=dict(start=1, end=-1), out=i64),
    Case("Size_empty", "Size", _x(E203), out=i64),
    Case("ConstantOfShape", "ConstantOfShape", consts=[("s", np.array([2, 3], i64))], out=f32,
         attrs=dict(value=onnx.numpy_helper.from_array(np.array([-0.0], f32)))),
    Case("ConstantOfShape_nan_empty", "ConstantOfShape", consts=[("s", np.array([2, 0], i64))], out=f32,
         attrs=dict(value=onnx.numpy_helper.from_array(np.array([nan], f32)))),
    Case("Constant", "Identity", consts=[("c", SPECIAL)]),
    Case("Pad_negative_zero", "Pad", _x(D23), consts=[("p", np.array([1, 0, 0, 2], i64)), ("v", np.array(-0.0, f32))]),
    Case("Pad_nan", "Pad", _x(D23), consts=[("p", np.array([0, 1, 1, 0], i64)), ("v", np.array(nan, f32))]),
    Case("Pad_crop", "Pad", _x(D23), consts=[("p", np.array([0, -1, 0, 0], i64))]),
    Case("OneHot", "OneHot", [("i", np.array([0, 3, -1, -4, 4, -5], i64))], out=f32,
         consts=[("d", np.array(4, i64)), ("v", np.array([-0.0, inf], f32))]),
    Case("OneHot_axis0", "OneHot", [("i", np.array([[1, -2], [7, 0]], i64))], out=i64,
         consts=[("d", np.array([3], i64)), ("v", np.array([I64.min, I64.max], i64))], attrs=dict(axis=0)),
    # ---- control flow
    *[Case(f"If_{c}", "If", [("c", np.array(c)), ("x", SIX)], order=["c"], out=f32,
           attrs=dict(then_branch=_THEN, else_branch=_ELSE)) for c in (True, False)],
    *[Case(f"Loop_{m}", "Loop",
           [("M", np.array(m, i64)), ("v0", SIX), ("x", np.array([1, -0.0, 0, 2, -3, 1e-45], f32))],
           order=["M", "", "v0"], out=f32, attrs=dict(body=_LOOP_BODY)) for m in (0, 3, 200)],
]


def test_every_imported_op_has_a_case():
    from dualgraph.export.onnx_import import _IMPORT
    ops = {c.op for c in CASES} | {"Constant" for c in CASES if c.consts}
    assert sorted(set(_IMPORT) - ops) == []
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_import_matches_onnxruntime(case):
    model = case.model()
    arrays = case.arrays()
    want = case.want if case.want is not None else _ort(model, arrays)
    imported = from_onnx(model)
    runs = [("compiled", imported.run(*arrays)), ("compiled again", imported.run(*arrays)),
            ("eager", _eager(imported, arrays))]
    for how, got in runs:
        assert len(got) == len(want), how
        for i, (g, w) in enumerate(zip(got, want)):
            _same(g, w, case.rtol, f"{case.id} {how} output {i}")


def test_the_reported_repros():
    """Floor and Ceil keep +-inf (they were x // 1: NaN there); Mod with fmod=1 is C's fmod
    (fmod(-4, 2) is -0.0, fmod(5, inf) is 5; a - trunc(a / b) * b gave 0 and NaN)."""
    x = np.array([inf, -inf, -0.0, 2.5], f32)
    for op, want in (("Floor", [inf, -inf, -0.0, 2.0]), ("Ceil", [inf, -inf, -0.0, 3.0])):
        (got,) = from_onnx(Case(op, op, _x(x)).model()).run(x)
        _same(got, np.array(want, f32), EXACT, op)
    a, b = np.array([-4, 5], f32), np.array([2, inf], f32)
    (got,) = from_onnx(Case("fmod", "Mod", _ab(a, b), attrs=dict(fmod=1)).model()).run(a, b)
    _same(got, np.array([-0.0, 5.0], f32), EXACT, "fmod")


@pytest.mark.parametrize("case, match", [
    # no ignore_index: a target of -100 is out of range (PyTorch's default does not apply)
    (Case("nll_target_out_of_range", "NegativeLogLikelihoodLoss", [("x", LOGP), ("t", np.array([2, -100, 0], i64))]),
     "out of bounds"),
    (Case("int_div_by_zero", "Div", _ab(np.array([7, -7], i64), np.array([2, 0], i64))), "ZeroDivision"),
    (Case("int_mod_by_zero", "Mod", _ab(np.array([7, -7], i64), np.array([2, 0], i64))), "ZeroDivision"),
    (Case("int_fmod_by_zero", "Mod", _ab(np.array([7, -7], i64), np.array([2, 0], i64)), attrs=dict(fmod=1)),
     "ZeroDivision"),
], ids=lambda v: v.id if isinstance(v, Case) else None)
def test_what_dualgraph_refuses_at_run_time(case, match):
    """An integer division by zero, a target out of range: a dualgraph error, compiled and
    eagerly (onnxruntime fails the loss; its integer division by zero is undefined)."""
    imported = from_onnx(case.model())
    for run in (imported.run, lambda *a: _eager(imported, a)):
        with pytest.raises(DualGraphError, match=match):
            run(*case.arrays())


# ---------------------------------------------------------------- all the way round
def _export_cases():
    import test_export_onnx_special_values as t
    return t.CASES, t._leaves


EXPORT_CASES, _leaves = _export_cases()


@pytest.mark.parametrize("fn, arrays, rtol", [c[1:] for c in EXPORT_CASES], ids=[c[0] for c in EXPORT_CASES])
def test_export_then_import_gives_dualgraphs_numbers(fn, arrays, rtol):
    """A dg.function, exported and imported back: dualgraph's numbers. The export spells
    numpy's arithmetic with ONNX ops (Mod with fmod=1 and Floor for // and %), so the import
    must read those ops as onnxruntime does."""
    tensors = [dg.tensor(a) for a in arrays]
    eager = _leaves(fn(*tensors))
    model = to_onnx(dg.function(fn), example_args=tuple(tensors))
    imported = from_onnx(model)
    got = imported.run(*arrays)
    assert len(got) == len(eager)
    for i, (g, e) in enumerate(zip(got, eager)):
        _same(g, e, rtol, f"output {i}")


def test_each_export_converter_is_where_its_module_says():
    """onnx_export.py merges the families' tables (onnx_ops_*.py), none twice; each family's
    docstring names every op it converts, so a converter is found in one guess."""
    import re
    from dualgraph.export import onnx_export
    families = [m for m in vars(onnx_export).values()
                if getattr(m, "__name__", "").startswith("dualgraph.export.onnx_ops_")]
    assert len(families) == 8
    merged = {}
    for m in families:
        assert not merged.keys() & m.CONVERTERS.keys()
        merged.update(m.CONVERTERS)
        words = set(re.findall(r"\w+", m.__doc__))
        assert [op for op in m.CONVERTERS if op not in words] == [], m.__name__
    assert merged == onnx_export._CONVERT
