"""dg.export.to_onnx of the ops of ops/elementwise_math.py and ops/indexing.py that
export/onnx_ops_math.py converts: each case run eagerly, as a dg.function (the same bits as
eager) and through onnxruntime (graph optimizations on and off), compared with eager on normal
values and special values (inf, -inf, NaN, -0.0, 0.0, huge, subnormal), float32, float64 and an
int input.

Tolerances (onnxruntime's float32 kernels are not numpy's): exact (NaN where NaN, the sign of
every zero) for reciprocal, copysign, fmax, fmin, clamp_min, clamp_max, heaviside and the index
ops; measured against numpy on ~40k values (normal, scaled, exp(U(-80, 80)), specials) for the
rest: Tan ... Atanh up to 5 ulps (float32), atan2 a few, xlogy up to 4 (onnxruntime's Log),
exp2 (Pow(2, x)) 1 ulp in float32 and float64, hypot in float64 1 ulp: so RTOL32 = 1e-6 (about
8 float32 ulps) and RTOL64 = 1e-15 (about 4 float64 ulps). The sign of a zero and every
infinity and NaN are exact in all of them (assert_same_values).

onnxruntime has no float64 kernels of Tan, Sinh, ..., Atanh (nor of Atan, which atan2 uses): the
float64 export is valid ONNX (onnx.checker), which onnxruntime refuses with NOT_IMPLEMENTED; the
test accepts that refusal, and compares the values should a later onnxruntime run it.

Exact (the same bits): lerp, addcmul, addcdiv (the kernels' order of ops), clamp_tensor
(torch.clamp with tensor bounds: ties, min > max, NaN bounds), frac, nan_to_num;
within RTOL32 / RTOL64: logit, sinc (float32), logaddexp / logaddexp2 (float32).

expm1, log2 and log10 are refused (ExportError: no spelling within 1 ulp of numpy's); so are
float64 sinc / logaddexp / logaddexp2 (onnxruntime's float64 Sin / Exp / Log) and nextafter."""
import numpy as np
import pytest

import dualgraph as dg
from dualgraph.export import ExportError, to_onnx
from special_value_checks import assert_same_values, bits

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

nan, inf = np.nan, np.inf
_LEVELS = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
RTOL32, RTOL64 = 1e-6, 1e-15

SPECIAL = [inf, -inf, nan, -0.0, 0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1e30, -1e30, 1e-40, -1e-40,
           88.0, -100.0, 1e-3, 0.999, -0.999]


def _numpy(r):
    return [np.asarray(t.detach().numpy()) for t in (r if isinstance(r, (tuple, list)) else [r])]


def _values(dtype, n=200, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.array(SPECIAL), rng.standard_normal(n) * scale, rng.random(n)])
    with np.errstate(over="ignore"):   # (float16: 1e30 is inf)
        return x.astype(dtype)


def _tol(dtype, exact):
    if exact or np.dtype(dtype).kind != "f":
        return None
    return RTOL32 if np.dtype(dtype) == np.float32 else RTOL64


def _three_ways(fn, *arrays, rtol=None, ort_may_refuse=False):
    """fn eagerly, as a dg.function (the same bits), and its export in onnxruntime (within
    rtol; None: exactly). ort_may_refuse: onnxruntime may have no kernel (NOT_IMPLEMENTED)."""
    tensors = [dg.tensor(a) for a in arrays]
    eager = _numpy(fn(*tensors))
    f = dg.function(fn)
    for c, e in zip(_numpy(f(*tensors)), eager):
        assert c.dtype == e.dtype and np.array_equal(bits(c), bits(e)), "dg.function"
    model = to_onnx(f, example_args=tuple(tensors))   # (onnx.checker passes)
    for level in _LEVELS:
        so = ort.SessionOptions()
        so.graph_optimization_level = level
        try:
            sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001
            if ort_may_refuse and "NOT_IMPLEMENTED" in str(e):
                return None
            raise
        names = [i.name for i in sess.get_inputs()]
        got = sess.run(None, dict(zip(names, arrays)))
        assert len(got) == len(eager)
        for i, (o, e) in enumerate(zip(got, eager)):
            assert_same_values(o, e, rtol, f"onnxruntime ({level}) output {i}")
    return eager


# ---------------------------------------------------------------- unary
UNARY = ["tan", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh", "reciprocal",
         "exp2"]
_NO_F64_KERNEL = {"tan", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh", "atan2"}
_EXACT = {"reciprocal", "copysign", "fmax", "fmin", "clamp_min", "clamp_max", "heaviside"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", UNARY)
def test_unary_floats(name, dtype):
    x = _values(dtype)
    if name in ("acosh",):
        x = np.concatenate([x, (np.abs(x) + 1).astype(dtype)])
    r = _three_ways(getattr(dg, name), x, rtol=_tol(dtype, name in _EXACT),
                    ort_may_refuse=dtype == "float64" and name in _NO_F64_KERNEL)
    if r is None:
        assert dtype == "float64" and name in _NO_F64_KERNEL


@pytest.mark.parametrize("name", UNARY)
def test_unary_int_input_is_float32(name):
    """An int64 input computes in float32 (the op's promotion): a Cast in the export."""
    x = np.array([-3, -1, 0, 1, 2, 5, 100], np.int64)
    (r,) = _three_ways(getattr(dg, name), x, rtol=_tol(np.float32, name in _EXACT))
    assert r.dtype == np.float32


def test_unary_float16_in_float32():
    x = _values("float16", n=50)
    _three_ways(dg.tan, x, rtol=1e-3)   # (float16: rounded once from float32, 1 float16 ulp)


@pytest.mark.parametrize("name", ["expm1", "log2", "log10"])
def test_refused_unary(name):
    f = dg.function(getattr(dg, name))
    x = dg.tensor(np.array([1e-8, 1.0, 2.0], np.float32))
    with pytest.raises(ExportError, match=name):
        to_onnx(f, example_args=(x,))


# ---------------------------------------------------------------- binary
def _pairs(dtype, seed=1):
    """Every pair of SPECIAL, then random pairs."""
    s = np.array(SPECIAL)
    a, b = np.meshgrid(s, s)
    rng = np.random.default_rng(seed)
    ra, rb = rng.standard_normal(300) * 3, rng.standard_normal(300) * 3
    return (np.concatenate([a.ravel(), ra]).astype(dtype), np.concatenate([b.ravel(), rb]).astype(dtype))


BINARY = ["atan2", "hypot", "copysign", "fmax", "fmin", "clamp_min", "clamp_max", "xlogy",
          "heaviside"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", BINARY)
def test_binary_floats(name, dtype):
    a, b = _pairs(dtype)
    _three_ways(getattr(dg, name), a, b, rtol=_tol(dtype, name in _EXACT),
                ort_may_refuse=dtype == "float64" and name in _NO_F64_KERNEL)


@pytest.mark.parametrize("name", ["atan2", "copysign", "fmax", "fmin", "clamp_min", "clamp_max",
                                  "xlogy", "heaviside"])
def test_binary_ints(name):
    """int64 operands: float32 results for atan2, copysign, xlogy; int64 for the rest (exact)."""
    a = np.array([-5, -1, 0, 0, 1, 3, 7, 0, -2], np.int64)
    b = np.array([2, 0, 0, -3, -1, 3, 1, 5, -2], np.int64)
    _three_ways(getattr(dg, name), a, b, rtol=_tol(np.float32, name in _EXACT))


def test_binary_broadcast_and_number():
    a = _values("float32", n=20).reshape(-1, 1)
    b = np.array([[-0.0, 0.0, nan, -inf, 2.0]], np.float32)
    _three_ways(lambda x, y: (dg.fmax(x, y), dg.clamp_min(x, y), dg.atan2(x, y), dg.copysign(x, y)),
                a, b, rtol=RTOL32)
    _three_ways(lambda x: (dg.clamp_max(x, 0.5), dg.xlogy(x, 2.0)), a, rtol=RTOL32)


def test_atan2_signed_zeros_and_infinities_exact():
    """numpy's arctan2 at the axes and the corners: 0, -0.0, +-pi, +-pi/2, +-pi/4, +-3pi/4 as the
    float32 constants: the same bits."""
    y = np.array([0.0, -0.0, 0.0, -0.0, 1.0, -1.0, inf, -inf, inf, -inf, 0.0, -0.0, 1, -1, 3, nan],
                 np.float32)
    x = np.array([0.0, 0.0, -0.0, -0.0, inf, -inf, inf, inf, -inf, -inf, 2.0, -2.0, 0, -0.0, 3, 1],
                 np.float32)
    _three_ways(dg.atan2, y, x, rtol=None)


# ---------------------------------------------------------------- index ops
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_index_select(dtype):
    x = np.arange(24).reshape(2, 3, 4).astype(dtype)
    if dtype != "int64":
        x.flat[:5] = [nan, -0.0, inf, -inf, 0.0]
    idx = np.array([3, 0, 0, 2], np.int64)
    _three_ways(lambda a, i: (dg.index_select(a, 2, i), dg.index_select(a, -3, i[2:3])), x, idx)
    _three_ways(lambda a, i: dg.index_select(a, 1, i), x, np.array([2, 1], np.int32))


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_take_along_dim(dtype):
    x = np.arange(12).reshape(3, 4).astype(dtype)
    if dtype != "int64":
        x.flat[:3] = [nan, -0.0, -inf]
    idx = np.array([[0, 3, -1, -4], [1, 1, 2, 7], [0, 0, 0, 0]], np.int64)   # (wrapped mod 4)
    _three_ways(lambda a, i: dg.take_along_dim(a, i, dim=1), x, idx)
    _three_ways(lambda a, i: dg.take_along_dim(a, i, dim=0), x, np.array([[2, 0, 1, 2]], np.int64))
    # (broadcast: a (3, 1) index along dim 1 of a (3, 4), and (1, 4) along dim 0)
    _three_ways(lambda a, i: dg.take_along_dim(a, i, dim=1), x, np.array([[0], [3], [1]], np.int64))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_scatter_add(dtype):
    x = np.arange(12).reshape(3, 4).astype(dtype)
    src = (np.arange(15).reshape(3, 5) * 3 - 7).astype(dtype)
    if dtype != "int64":
        x.flat[0] = -0.0
        src.flat[5] = nan
    idx = np.array([[0, 1, 1, 3], [2, 2, 2, 0], [3, 3, 0, 1]], np.int64)   # (duplicates add)
    _three_ways(lambda a, i, s: dg.scatter_add(a, 1, i, s), x, idx, src)
    _three_ways(lambda a, i, s: dg.scatter_add(a, 0, i, s), x, np.array([[0, 2, 2, 1]], np.int64), src)


# ---------------------------------------------------------------- ternary: lerp, addcmul, addcdiv
def _triples(dtype, seed=2):
    """SPECIAL against SPECIAL (a, b), each with a third of SPECIAL and random values."""
    a, b = _pairs(dtype, seed)
    rng = np.random.default_rng(seed)
    c = np.resize(np.concatenate([np.array(SPECIAL), rng.standard_normal(97) * 2]), a.shape)
    return a, b, c.astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lerp_exact(dtype):
    """The kernel's two formulas by |weight| < 0.5 (a tensor weight and number weights on
    either side of 0.5): IEEE ops, the same bits as eager."""
    a, e, w = _triples(dtype)
    w = np.concatenate([w[: len(w) // 2], np.array([0.5, -0.5, 0.4999, 0.75, 1.0, 2.0] * 10),
                        (np.random.default_rng(3).random(len(w)))])[: len(w)].astype(dtype)
    _three_ways(dg.lerp, a, e, w, rtol=None)
    for wt in (0.25, 0.5, 0.7, -0.5, 1.5, -3.0):
        _three_ways(lambda x, y: dg.lerp(x, y, wt), a, e, rtol=None)
    # (a 0-d weight and broadcasting)
    _three_ways(dg.lerp, a.reshape(-1, 1)[:40], e[:5].reshape(1, -1), np.array(0.75, dtype),
                rtol=None)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32"])
@pytest.mark.parametrize("value", [1, 3, -0.5])
def test_addcmul(dtype, value):
    """a + (value * t1) * t2: the kernel's order, the same bits (ints wrap; a float value is
    truncated into an int dtype, as PyTorch's Scalar)."""
    if dtype.startswith("int"):
        rng = np.random.default_rng(4)
        a, b, c = (rng.integers(-2**20, 2**20, 200).astype(dtype) for _ in range(3))
        a[:3], b[:3], c[:3] = np.iinfo(dtype).max, np.iinfo(dtype).max, 3   # (wraps)
    else:
        a, b, c = _triples(dtype)
    _three_ways(lambda x, y, z: dg.addcmul(x, y, z, value=value), a, b, c, rtol=None)


def test_addcmul_mixed_and_small_ints():
    """int64 input with float32 tensors (a float32 result), int8 wrapping through int64."""
    a = np.array([-5, 0, 7, 127, -128], np.int64)
    b, c = _triples("float32")[1][:5], _triples("float32")[2][:5]
    _three_ways(lambda x, y, z: dg.addcmul(x, y, z, value=2), a, b, c, rtol=None)
    i8 = np.array([100, -100, 127, 0, 5], np.int8)
    _three_ways(lambda x, y, z: dg.addcmul(x, y, z, value=3), i8, i8, i8, rtol=None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("value", [1, 0.3, -2])
def test_addcdiv(dtype, value):
    a, b, c = _triples(dtype)
    _three_ways(lambda x, y, z: dg.addcdiv(x, y, z, value=value), a, b, c, rtol=None)


def test_addcdiv_int_input():
    """int64 input and numerator, float32 divisor: float32 throughout."""
    a = np.array([-5, 0, 7, 1, 3, 2], np.int64)
    b = np.array([3, -1, 0, 0, 2, 9], np.int64)
    c = np.array([2.0, 0.0, -0.0, 0.0, inf, nan], np.float32)
    _three_ways(lambda x, y, z: dg.addcdiv(x, y, z, value=2), a, b, c, rtol=None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clamp_tensor_bounds_exact(dtype):
    """torch.clamp with tensor min and max (clamp_tensor): x on a tie (the sign of its zero),
    max where min > max, NaN from x or either bound; every pair of SPECIAL as (x, min) with a
    third max, then each pair as (x, max) with min = -inf, min == max, and the bounds swapped."""
    a, b, c = _triples(dtype, seed=5)
    _three_ways(dg.clamp, a, b, c, rtol=None)
    _three_ways(dg.clamp, a, np.full_like(a, -inf), b, rtol=None)   # (every tie with max)
    _three_ways(lambda x, lo: dg.clamp(x, lo, lo), a, b, rtol=None)
    _three_ways(lambda x, lo, hi: dg.clamp(x, hi, lo), a, b, c, rtol=None)
    _three_ways(lambda x, lo, hi: x.clamp(lo, hi), c, a, b, rtol=None)


def test_clamp_tensor_bounds_broadcast_ints_and_zero_d():
    """Broadcast bounds (either way), 0-d bounds, a 0-d tensor with a number (the number a
    constant of the export), int64 / int32 bounds, an int input with float bounds (a Cast)."""
    z = np.array([-0.0, 0.0, nan, 1.0, -1.0], np.float32)
    x = _values("float32", n=20).reshape(-1, 1)
    _three_ways(dg.clamp, x, z.reshape(1, -1), z[::-1].reshape(1, -1), rtol=None)
    _three_ways(dg.clamp, z, x, np.array(0.0, np.float32), rtol=None)
    for lo, hi in [(-0.0, 0.0), (0.0, -0.0), (nan, 1.0), (1.0, -1.0)]:
        _three_ways(dg.clamp, x, np.array(lo, np.float32), np.array(hi, np.float32), rtol=None)
        _three_ways(lambda x, t: dg.clamp(x, t, hi), x, np.array(lo, np.float32), rtol=None)
        _three_ways(lambda x, t: dg.clamp(x, lo, t), x, np.array(hi, np.float32), rtol=None)
    for dt in ("int64", "int32"):
        i = np.array([-5, -1, 0, 3, 7, 2, -2, 9], dt)
        _three_ways(dg.clamp, i, i[::-1].copy(), np.array([0, 5, -3, 3, 7, 1, -2, 8], dt), rtol=None)
    (r,) = _three_ways(dg.clamp, np.array([-5, 0, 3, 7], np.int64), np.array([-0.5, 0.5, nan, 8.0], np.float32),
                       np.array([1.5, -0.0, 2.0, 9.0], np.float32), rtol=None)
    assert r.dtype == np.float32


# ---------------------------------------------------------------- frac, nan_to_num, logit, sinc
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_frac_exact(dtype):
    x = np.concatenate([_values(dtype), np.array([-2.0, 3.0, -2.5, 1e20, -1e20, 2.0**52 + 0.5,
                                                  -1e-300 if dtype == "float64" else -1e-40])]).astype(dtype)
    _three_ways(dg.frac, x, rtol=None)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("kw", [{}, {"nan": -0.0, "posinf": 1.0, "neginf": -1e300},
                                {"nan": 7.5, "posinf": 1e300}])
def test_nan_to_num_exact(dtype, kw):
    x = _values(dtype) if dtype != "int64" else np.array([-3, 0, 5, 2**40], np.int64)
    _three_ways(lambda t: dg.nan_to_num(t, **kw), x, rtol=None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("eps", [None, 1e-6, 0.25, -1.0])
def test_logit(dtype, eps):
    rng = np.random.default_rng(5)
    x = np.concatenate([_values(dtype), rng.random(300), rng.random(100) * 1e-3,
                        1 - rng.random(100) * 1e-3]).astype(dtype)
    _three_ways(lambda t: dg.logit(t, eps), x, rtol=_tol(dtype, False))


def test_logit_int_input():
    (r,) = _three_ways(lambda t: dg.logit(t, 0.1), np.array([-1, 0, 1, 2], np.int64), rtol=RTOL32)
    assert r.dtype == np.float32


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_sinc(dtype):
    x = _values(dtype) if dtype != "int64" else np.array([-3, -1, 0, 1, 2, 7], np.int64)
    _three_ways(dg.sinc, x, rtol=_tol("float32" if dtype == "int64" else dtype, False))


# ---------------------------------------------------------------- logaddexp, logaddexp2
@pytest.mark.parametrize("dtype", ["float32"])
@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2"])
def test_logaddexp(name, dtype):
    a, b = _pairs(dtype)
    rng = np.random.default_rng(6)
    near = (rng.standard_normal(300) * 40).astype(dtype)      # (|x - y| from tiny to ~100)
    a = np.concatenate([a, near]).astype(dtype)
    b = np.concatenate([b, near + (rng.standard_normal(300) * 10 ** rng.uniform(-6, 2, 300))]).astype(dtype)
    _three_ways(getattr(dg, name), a, b, rtol=_tol(dtype, False))


@pytest.mark.parametrize("name,args", [
    ("sinc", (np.array([1.0, 2.0], np.float64),)),
    ("logaddexp", (np.array([0.5, -0.5], np.float64), np.array([0.1, -0.6], np.float64))),
    ("logaddexp2", (np.array([0.5, -0.5], np.float64), np.array([0.1, -0.6], np.float64))),
    ("nextafter", (np.array([1.0, 0.0], np.float32), np.array([2.0, -1.0], np.float32)))])
def test_refused_float64_and_nextafter(name, args):
    """sinc, logaddexp, logaddexp2 in float64 (onnxruntime's float64 Sin / Exp / Log are not
    within 1e-15 of numpy's there) and nextafter (no bitcast in ONNX): refused, saying why."""
    f = dg.function(getattr(dg, name))
    with pytest.raises(ExportError, match=rf"\({name}\) (is float64|has no ONNX spelling)"):
        to_onnx(f, example_args=tuple(dg.tensor(a) for a in args))
