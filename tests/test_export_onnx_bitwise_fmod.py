"""dg.export.to_onnx of `^`, `<<`, `>>` (bitwise_xor, bitwise_left_shift, bitwise_right_shift)
and fmod, and of a sum of -0.0s: each case run eagerly, as a dg.function (several calls) and
through onnxruntime (its graph optimizations on and off) gives the same dtype, shape and values,
exactly (NaN where NaN, the sign of every float compared, -0.0 included).

Shifts: every int8 / int16 / int32 / int64 / uint8 edge value (the dtype's minimum and maximum)
by counts 0, 1, width - 1, width, width + 3 and negative ones (numpy's and PyTorch's rules: 0 for
<<, the sign fill for >>), by tensors, Python ints (wrapped into the dtype) and 0-d tensors,
broadcast; xor of the same and of bools; fmod of the same integers (a zero divisor fails in
both) and of float32 / float64 special values (inf, NaN, -0.0, negative divisors)."""
import numpy as np
import pytest

import dualgraph as dg
from dualgraph.errors import DGRuntimeError
from dualgraph.export import ExportError, to_onnx
from special_value_checks import assert_same_values

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

nan, inf = np.nan, np.inf
INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8"]
_LEVELS = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)


def _numpy(r):
    return [np.asarray(t.detach().numpy()) for t in (r if isinstance(r, (tuple, list)) else [r])]


def _same(got, want, what):
    assert_same_values(got, want, None, what)   # exactly; the sign of every zero


def _sessions(model):
    for level in _LEVELS:
        so = ort.SessionOptions()
        so.graph_optimization_level = level
        yield level, ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _three_ways(fn, *arrays, calls=2):
    """fn eagerly, as a dg.function over several calls, and its export in onnxruntime: the
    same results; the eager ones."""
    tensors = [dg.tensor(a) for a in arrays]
    eager = _numpy(fn(*tensors))
    f = dg.function(fn)
    for k in range(calls):
        compiled = _numpy(f(*tensors))
        assert len(compiled) == len(eager)
        for c, e in zip(compiled, eager):
            _same(c, e, f"dg.function call {k}")
    model = to_onnx(f, example_args=tuple(tensors))
    for level, sess in _sessions(model):
        names = [i.name for i in sess.get_inputs()]
        assert len(names) == len(arrays)
        got = sess.run(None, dict(zip(names, arrays)))
        assert len(got) == len(eager)
        for i, (o, e) in enumerate(zip(got, eager)):
            _same(o, e, f"onnxruntime ({level}) output {i}")
    return eager


def _width(dtype):
    return np.dtype(dtype).itemsize * 8


def _values(dtype):
    """Edge values of an integer dtype: its minimum and maximum, their neighbours, small ones
    of both signs, a few bit patterns."""
    info = np.iinfo(dtype)
    vals = {info.min, info.min + 1, -5, -3, -2, -1, 0, 1, 2, 3, 5, 100, info.max // 2 + 1,
            info.max - 1, info.max}
    return np.array(sorted(v for v in vals if info.min <= v <= info.max), dtype)


def _counts(dtype):
    """Shift counts 0, 1, width - 1, width, width + 3, and negative ones where the dtype has them
    (dualgraph accepts them: 0 for <<, the sign fill for >>)."""
    w = _width(dtype)
    vals = [0, 1, 2, w - 1, w, w + 3]
    if np.dtype(dtype).kind == "i":
        vals += [-1, -w, -w - 3, np.iinfo(dtype).min, np.iinfo(dtype).max]
    else:
        vals += [np.iinfo(dtype).max]
    return np.array(vals, dtype)


def _grid(x, y):
    a, b = np.meshgrid(x, y, indexing="ij")
    return a.ravel(), b.ravel()


def _shift(op):
    return (lambda a, b: a << b) if op == "<<" else (lambda a, b: a >> b)


# ================================================================ shifts
@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("op", ["<<", ">>"])
def test_shift_by_tensor(dtype, op):
    x, s = _grid(_values(dtype), _counts(dtype))
    r = _three_ways(_shift(op), x, s)[0]
    # (spot checks of the rules the export follows)
    w, info = _width(dtype), np.iinfo(dtype)
    at = {(int(a), int(b)): int(v) for a, b, v in zip(x, s, r)}
    if op == "<<":
        assert at[(1, w - 1)] == (info.min if info.min < 0 else info.max // 2 + 1)
        assert at[(1, w)] == at[(info.max, w + 3)] == 0
    else:
        assert at[(info.max, w - 1)] == (0 if info.min < 0 else 1) and at[(info.max, w)] == 0
        if info.min < 0:
            assert at[(info.min, 1)] == info.min // 2 and at[(-5, 1)] == -3
            assert at[(info.min, w)] == at[(-1, w + 3)] == at[(-5, -1)] == -1
            assert at[(5, -1)] == 0


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("op", ["<<", ">>"])
def test_shift_by_python_int(dtype, op):
    """A count known at export time (wrapped into the dtype as dualgraph does: int8 << 300
    shifts by 44): in range, width and beyond, negative."""
    x = _values(dtype)
    w = _width(dtype)
    for k in (0, 1, w - 1, w, w + 3, -1, -w, 300, 2 ** 40):
        _three_ways(lambda a: _shift(op)(a, k), x)
    _three_ways(lambda a: a.bitwise_left_shift(3) if op == "<<" else a.bitwise_right_shift(3), x)


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("op", ["<<", ">>"])
def test_python_int_shifted_by_tensor(dtype, op):
    s = _counts(dtype)
    for k in (1, 3, -7, 255, -1):
        _three_ways(lambda b: _shift(op)(k, b), s)


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("op", ["<<", ">>"])
def test_shift_broadcasts(dtype, op):
    x, s = _values(dtype), _counts(dtype)
    _three_ways(_shift(op), x[:, None], s[None, :])
    _three_ways(_shift(op), x.reshape(-1, 1), np.array(_width(dtype) - 1, dtype))   # a 0-d count
    _three_ways(_shift(op), np.array(np.iinfo(dtype).min, dtype), s)                # a 0-d value


@pytest.mark.parametrize("a, b", [("uint8", "int8"), ("int8", "int64"), ("int16", "uint8"),
                                  ("bool", "int64"), ("uint8", "uint8")])
@pytest.mark.parametrize("op", ["<<", ">>"])
def test_shift_promotes(a, b, op):
    """Operands of two dtypes: computed in the promoted one (uint8 with int8: int16)."""
    x = np.array([1, 0, 1, 1, 1, 1]).astype(a)
    y = np.array([3, 1, 0, 7, 8, 12]).astype(b)
    _three_ways(_shift(op), x, y)


def test_shift_by_a_0d_tensor_of_a_wider_dtype_wraps():
    """A 0-d int64 count does not widen an int8 tensor: 300 is wrapped to 44 (0 after <<)."""
    x = _values("int8")
    for op in ("<<", ">>"):
        r = _three_ways(_shift(op), x, np.array(300, np.int64))[0]
        assert r.dtype == np.int8
        r = _three_ways(_shift(op), x, np.array(263, np.int64))[0]   # 263 is 7 in int8
        _same(r, _shift(op)(dg.tensor(x), 7).numpy(), "263 wraps to 7")


# ================================================================ xor
@pytest.mark.parametrize("dtype", INT_DTYPES + ["bool"])
def test_xor(dtype):
    if dtype == "bool":
        x, y = _grid(np.array([True, False]), np.array([True, False]))
    else:
        x, y = _grid(_values(dtype), _values(dtype))
    r = _three_ways(lambda a, b: a ^ b, x, y)[0]
    np.testing.assert_array_equal(r, np.bitwise_xor(x, y))
    _three_ways(lambda a, b: dg.bitwise_xor(a, b), x, y)
    _three_ways(lambda a, b: a.bitwise_xor(b), x[:, None], y[None, :])  # broadcast


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_xor_with_python_ints(dtype):
    """A Python int is wrapped into the dtype (int8 ^ 300 is int8 ^ 44, uint8 ^ -1 ^ 255)."""
    x = _values(dtype)
    for k in (0, 1, -1, 300, 255, -129, 2 ** 40, int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)):
        _three_ways(lambda a: a ^ k, x)
        _three_ways(lambda a: k ^ a, x)


def test_xor_of_bools_with_python_scalars_and_promotion():
    b = np.array([True, False, True, False])
    r = _three_ways(lambda a: a ^ True, b)[0]
    assert r.dtype == np.bool_
    r = _three_ways(lambda a: a ^ 1, b)[0]          # bool ^ int: int64
    assert r.dtype == np.int64
    r = _three_ways(lambda a, c: a ^ c, np.array([1, 200, 255], np.uint8), np.array([-1, 3, -128], np.int8))[0]
    assert r.dtype == np.int16
    _three_ways(lambda a, c: a ^ c, b, np.array([-1, 3, 7, 0], np.int64))


# ================================================================ fmod
def _divisors(dtype):
    info = np.iinfo(dtype)
    vals = {info.min, info.min + 1, -7, -3, -2, -1, 1, 2, 3, 7, 100, info.max - 1, info.max}
    return np.array(sorted(v for v in vals if info.min <= v <= info.max and v != 0), dtype)


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_int_fmod(dtype):
    """C's truncated remainder, the dividend's sign (fmod(-5, 3) is -2, fmod(5, -3) is 2),
    INT_MIN by -1 is 0; int64 beyond 2**53 exactly."""
    x, y = _grid(_values(dtype), _divisors(dtype))
    r = _three_ways(lambda a, b: dg.fmod(a, b), x, y)[0]
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(r, np.fmod(x, y))
    if np.dtype(dtype).kind == "i":
        at = {(int(a), int(b)): int(v) for a, b, v in zip(x, y, r)}
        assert at[(-5, 3)] == -2 and at[(5, -3)] == 2 and at[(-5, -3)] == -2
        assert at[(int(np.iinfo(dtype).min), -1)] == 0
    _three_ways(lambda a, b: a.fmod(b), x[:, None], y[None, :])   # broadcast


def test_int64_fmod_beyond_2_53_is_exact():
    big = np.array([2 ** 62 + 1, -(2 ** 62) - 1, 2 ** 53 + 1, -(2 ** 53) - 1, np.iinfo(np.int64).min,
                    np.iinfo(np.int64).max], np.int64)
    d = np.array([3, -3, 2 ** 31 + 1, -(2 ** 40) - 3, 2 ** 62 + 7, -1, 7], np.int64)
    x, y = _grid(big, d)
    r = _three_ways(lambda a, b: dg.fmod(a, b), x, y)[0]
    np.testing.assert_array_equal(r, np.fmod(x, y))
    assert r[0] == 2   # (2**62 + 1) % 3: a float64 quotient would give 1


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_int_fmod_by_python_ints(dtype):
    x = _values(dtype)
    for k in (1, 3, -3, 7, -1, 255, -129):
        if np.asarray(k).astype(dtype) == 0:
            continue
        _three_ways(lambda a: dg.fmod(a, k), x)
    _three_ways(lambda a, b: dg.fmod(a, b), x, np.array(-3 if np.dtype(dtype).kind == "i" else 3, dtype))


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_int_fmod_by_zero_fails_in_both(dtype):
    """dualgraph raises ZeroDivisionError on an integer zero divisor; onnxruntime fails the run
    ("Integer modulo by zero"). An int8 divisor of 256 (a Python int) is 0 too."""
    x, y = np.array([7, 1], dtype), np.array([2, 0], dtype)
    with pytest.raises(DGRuntimeError, match="ZeroDivision"):
        dg.fmod(dg.tensor(x), dg.tensor(y))
    f = dg.function(lambda a, b: dg.fmod(a, b))
    model = to_onnx(f, example_args=(dg.tensor(x), dg.tensor(np.array([2, 3], dtype))))
    for _, sess in _sessions(model):
        names = [i.name for i in sess.get_inputs()]
        with pytest.raises(Exception, match="by zero"):
            sess.run(None, dict(zip(names, (x, y))))
    for k in (0, 2 ** _width(dtype)) if _width(dtype) < 64 else (0,):   # (2**width wraps to 0)
        with pytest.raises(DGRuntimeError, match="ZeroDivision"):
            dg.fmod(dg.tensor(x), k)
        # ONNX cannot raise at run time (onnxruntime refuses a model whose Mod divides by a
        # constant 0): the export refuses, naming the node and why
        with pytest.raises(ExportError, match=r"fmod.*ZeroDivisionError"):
            to_onnx(dg.function(lambda a: dg.fmod(a, k)), example_args=(dg.tensor(x),))


FLOATS = np.array([nan, inf, -inf, -0.0, 0.0, 0.25, -0.25, 1.5, -1.5, 3.0, -3.0, 5.0, -5.0, 7.0,
                   -4.0, 1e-30, -1e-30, 3e38, -3e38, 1e-45])
FDIVISORS = np.array([nan, inf, -inf, -0.0, 0.0, 2.0, -2.0, 3.0, -3.0, 0.5, -0.75, 1e-30, -7e37, 1e-45])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_fmod(dtype):
    """C's fmod: the dividend's sign (-0.0 kept, fmod(-4, 2) is -0.0, fmod(4, -2) 0.0), NaN at a
    zero divisor and at an infinite dividend, the dividend at an infinite divisor."""
    x, y = _grid(FLOATS.astype(dtype), FDIVISORS.astype(dtype))
    r = _three_ways(lambda a, b: dg.fmod(a, b), x, y)[0]
    with np.errstate(all="ignore"):
        _same(r, np.fmod(x, y), "numpy's fmod")
    at = {(float(a), float(b), bool(np.signbit(a)), bool(np.signbit(b))): v for a, b, v in zip(x, y, r)}
    assert np.signbit(at[(-4.0, 2.0, True, False)]) and at[(-4.0, 2.0, True, False)] == 0
    assert not np.signbit(at[(5.0, -2.0, False, True)]) and at[(5.0, -2.0, False, True)] == 1
    assert at[(-5.0, inf, True, False)] == -5 and np.isnan(at[(inf, 2.0, False, False)])
    _three_ways(lambda a, b: a.fmod(b), x.reshape(len(FLOATS), -1), y.reshape(len(FLOATS), -1)[:1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_fmod_by_numbers_and_promotion(dtype):
    x = FLOATS.astype(dtype)
    for k in (2.0, -2.0, -0.0, 0.0, inf, -inf, nan, 3, -1):
        _three_ways(lambda a: dg.fmod(a, k), x)
    _three_ways(lambda a, b: dg.fmod(a, b), x, np.array(-0.75, dtype))               # 0-d divisor
    r = _three_ways(lambda a: dg.fmod(a, 2.5), np.array([7, -7, 0, 5], np.int64))[0]  # int by float
    assert r.dtype == np.float32
    r = _three_ways(lambda a, b: dg.fmod(a, b), np.array([7, -7, 0, 5], np.int32), x[:4])[0]
    assert r.dtype == np.dtype(dtype)


def test_float16_fmod():
    with np.errstate(over="ignore"):   # (3e38 is inf in float16)
        x, y = _grid(FLOATS.astype(np.float16), FDIVISORS.astype(np.float16))
    _three_ways(lambda a, b: dg.fmod(a, b), x, y)


# ================================================================ a sum of -0.0s
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_sum_of_negative_zeros_is_positive_zero(dtype):
    """dualgraph's (numpy's, PyTorch's) sum of -0.0s is 0.0; onnxruntime's ReduceSum keeps the
    minus: the export makes a zero sum 0.0; every other sum stays as it was (NaN, inf, -5)."""
    z = np.full((2, 3), -0.0, dtype)
    for x in (z, z[:1, :1], np.array(-0.0, dtype), np.zeros((2, 0), dtype),
              np.array([[-0.0, nan, -0.0], [-0.0, -inf, -5.0]], dtype)):
        out = _three_ways(lambda a: (a.sum(), a.sum(dim=0), a.sum(dim=-1, keepdim=True), a.sum(dim=(0, -1))
                                     if a.ndim else a.sum(dim=0)), x)
        if x is z:
            assert all(not np.signbit(o).any() and not o.any() for o in out)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mean_of_negative_zeros_is_positive_zero(dtype):
    z = np.full((2, 3), -0.0, dtype)
    out = _three_ways(lambda a: (a.mean(), a.mean(dim=0), a.mean(dim=-1, keepdim=True)), z)
    assert all(not np.signbit(o).any() and not o.any() for o in out)
    _three_ways(lambda a: (a.mean(dim=1), a.mean()), np.array([[-0.0, 3.0], [nan, -1.0]], dtype))


def test_sum_keeps_every_other_value():
    x = np.array([[1e-45, -1e-45, 3.0], [-2.5, 0.5, 2.0], [inf, 1, 2], [-1e-45, -0.0, -0.0],
                  [3e38, 3e38, -1.0]], np.float32)
    _three_ways(lambda a: (a.sum(dim=1), a.sum(dim=0), a.sum(), a.double().sum(dim=1)), x)
    _three_ways(lambda a: (a.sum(dim=1), a.sum()), np.array([[-3, 3], [-7, 0]], np.int64))


def test_integer_sum_exports_one_reducesum():
    """The -0.0 fix is for floats only: an integer sum is still one ReduceSum."""
    f = dg.function(lambda a: a.sum(dim=1))
    model = to_onnx(f, example_args=(dg.tensor(np.array([[1, 2]], np.int64)),))
    assert [n.op_type for n in model.graph.node if n.op_type not in ("Constant", "Identity")] == ["ReduceSum"]
