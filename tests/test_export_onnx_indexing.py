"""dg.export.to_onnx of the scatter ops and order statistics that export/onnx_ops_indexing.py
converts: each case run eagerly, as a dg.function (the same bits as eager) and through
onnxruntime (graph optimizations on and off), compared with eager: exactly (NaN where NaN, the
sign of every zero) for the index outputs, the data-moving ops (index_copy, index_fill,
scatter, masked_scatter, cummax / cummin, median / nanmedian with a dim, quantile) and the
scatter reductions (their updates applied in numpy's order: the same bits); within rounding
for nansum (numpy sums pairwise) and logcumsumexp (float32: numpy's float32 steps; float64:
onnxruntime's Exp / Log). float32, float64 and integer (and bool where the op takes it)
inputs, with ties, duplicate indices, NaN, infinities and signed zeros.

Refused, the error naming the op and the reason: kthvalue, mode, median / nanmedian of floats
without a dim, float16 scatter sums, opsets without ScatterElements' max reduction."""
import numpy as np
import pytest

import dualgraph as dg
from dualgraph.export import ExportError, to_onnx
from special_value_checks import assert_same_values, bits

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

nan, inf = np.nan, np.inf
_LEVELS = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
FLOATS = ["float32", "float64"]


def _numpy(r):
    return [np.asarray(t.detach().numpy()) for t in (r if isinstance(r, (tuple, list)) else [r])]


def _three_ways(fn, *arrays, rtol=None, atol=0.0):
    """fn eagerly, as a dg.function (the same bits), and its export in onnxruntime: exactly
    (rtol None), or within rtol and atol (NaN, infinities and zero signs exact)."""
    arrays = [np.asarray(a) for a in arrays]
    tensors = [dg.tensor(a) for a in arrays]
    eager = _numpy(fn(*tensors))
    f = dg.function(fn)
    for c, e in zip(_numpy(f(*tensors)), eager):
        assert c.dtype == e.dtype and np.array_equal(bits(c), bits(e)), "dg.function"
    model = to_onnx(f, example_args=tuple(tensors))   # (onnx.checker passes)
    for level in _LEVELS:
        so = ort.SessionOptions()
        so.graph_optimization_level = level
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        got = sess.run(None, dict(zip(names, arrays)))
        assert len(got) == len(eager)
        for i, (o, e) in enumerate(zip(got, eager)):
            what = f"onnxruntime ({level}) output {i}"
            assert_same_values(o, e, rtol, what)
            if atol and e.dtype.kind == "f":
                fin = np.isfinite(e)
                np.testing.assert_array_equal(o[~fin], e[~fin], err_msg=what)
                np.testing.assert_allclose(o[fin], e[fin], rtol=rtol, atol=atol, err_msg=what)
    return eager


def _salted(dtype, shape, seed=0, specials=(nan, -0.0, 0.0, inf, -inf)):
    """Small integers (many ties) as dtype, floats salted with specials."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, shape).astype(dtype)
    if np.dtype(dtype).kind == "f":
        m = rng.random(shape) < 0.3
        x[m] = rng.choice(np.array(specials, dtype), int(m.sum()))
    return x


def _spread(dtype, shape, seed=0):
    """Floats of very different magnitudes, so the order of additions shows in the bits."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 10.0 ** rng.uniform(-6, 6, shape)).astype(dtype)


# ---------------------------------------------------------------- index_add / index_copy / index_fill
@pytest.mark.parametrize("dtype", FLOATS + ["int64", "int32", "bool"])
def test_index_add(dtype):
    """Duplicate indices add in the index's order (the same bits); alpha scales in the dtype."""
    x = _salted(dtype, (3, 5), specials=(nan, -0.0, inf)) if dtype != "bool" else \
        np.random.default_rng(1).random((3, 5)) < 0.3
    src = _spread(dtype, (3, 40)) if dtype in FLOATS else _salted(dtype, (3, 40), 2) if dtype != "bool" \
        else np.random.default_rng(2).random((3, 40)) < 0.2
    idx = np.random.default_rng(3).integers(0, 5, 40)
    _three_ways(lambda a, i, s: dg.index_add(a, 1, i, s), x, idx, src)
    _three_ways(lambda a, i, s: dg.index_add(a, -1, i, s, alpha=3), x, idx.astype(np.int32), src)
    if dtype in FLOATS:
        _three_ways(lambda a, i, s: dg.index_add(a, 1, i, s, alpha=-0.1), x, idx, src)
    _three_ways(lambda a, i, s: dg.index_add(a, 0, i, s), x, np.array([2, 0, 2, 2]), np.resize(src, (4, 5)))


def test_bool_sums_do_not_wrap():
    """Bools add as or (a max of 0 / 1, not a uint8 sum: 256 Trues are not 0)."""
    x, src = np.zeros((1, 2), bool), np.ones((1, 256), bool)
    _three_ways(lambda a, i, s: dg.index_add(a, 1, i, s), x, np.zeros(256, np.int64), src)
    _three_ways(lambda a, i, s: dg.scatter_reduce(a, 1, i, s, "sum"), x, np.zeros((1, 256), np.int64), src)


def test_index_add_0d_and_3d():
    x = np.array(1.5, np.float32)
    _three_ways(lambda a, i, s: dg.index_add(a, 0, i, s), x, np.array([0]), np.array(-0.25, np.float32))
    x3 = _salted("float64", (2, 4, 3), 4)
    _three_ways(lambda a, i, s: dg.index_add(a, 1, i, s), x3, np.array([3, 3, 0, 1, 3, 0]),
                _spread("float64", (2, 6, 3), 5))


@pytest.mark.parametrize("dtype", FLOATS + ["int64", "bool"])
def test_index_copy_last_write_wins(dtype):
    x = _salted(dtype, (3, 6)) if dtype != "bool" else np.zeros((3, 6), bool)
    src = _salted(dtype, (3, 7), 6) if dtype != "bool" else np.random.default_rng(6).random((3, 7)) < 0.5
    idx = np.array([1, 4, 1, 1, 0, 4, 5])   # (duplicates: the last one's source is kept)
    _three_ways(lambda a, i, s: dg.index_copy(a, 1, i, s), x, idx, src)
    _three_ways(lambda a, i, s: dg.index_copy(a, 0, i, s), x, np.array([2, 2]), src[:2, :6])
    _three_ways(lambda a, i, s: dg.index_copy(a, 0, i, s), x[0], np.array([3]), src[0, 0])   # (a 0-d source)
    _three_ways(lambda a, i, s: dg.index_copy(a, 0, i, s), x[0, 0], np.array(0), src[0, 0])   # (0-d)


@pytest.mark.parametrize("dtype", FLOATS + ["int64", "int16", "int8", "bool"])
def test_index_fill(dtype):
    """A number fill cast as numpy assigns it, a 0-d tensor of another dtype by Cast, negative
    indices counting from the end, duplicates."""
    x = _salted(dtype, (4, 5)) if dtype != "bool" else np.zeros((4, 5), bool)
    idx = np.array([-1, 0, 2, 0, -5])
    for v in (2.7, -0.0, True) + ((nan, -inf) if dtype in FLOATS else ()):
        _three_ways(lambda a, i: dg.index_fill(a, 1, i, v), x, idx)
    _three_ways(lambda a, i, v: dg.index_fill(a, 0, i, v), x, np.array([3, 1, 3]), np.array(-0.0))
    _three_ways(lambda a, i, v: dg.index_fill(a, 1, i, v), x, idx, np.array(-7, np.int64))


# ---------------------------------------------------------------- scatter / scatter_reduce
def _scatter_case(dtype, seed=7):
    """x (4, 6); an index (3, 5) smaller than x apart from dim 1, many duplicates; src (4, 7)
    larger than the index (its leading block is read)."""
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        x, src = rng.random((4, 6)) < 0.5, rng.random((4, 7)) < 0.5
    elif dtype in FLOATS:
        x, src = _salted(dtype, (4, 6), seed), _salted(dtype, (4, 7), seed + 1)
    else:
        x, src = _salted(dtype, (4, 6), seed), _salted(dtype, (4, 7), seed + 1)
    return x, rng.integers(0, 6, (3, 5)), src


@pytest.mark.parametrize("dtype", FLOATS + ["int64", "int16", "bool"])
def test_scatter_src_and_value(dtype):
    x, idx, src = _scatter_case(dtype)
    _three_ways(lambda a, i, s: dg.scatter(a, 1, i, s), x, idx, src)
    _three_ways(lambda a, i, s: dg.scatter(a, 0, i, s), x, np.array([[3, 0, 3, 3, 1, 0]]), src)
    for v in (2.5, -0.0, 1):
        _three_ways(lambda a, i: dg.scatter(a, 1, i, value=v), x, idx)


@pytest.mark.parametrize("dtype", FLOATS + ["int64"])
@pytest.mark.parametrize("reduce", ["add", "multiply"])
def test_scatter_deprecated_reduce(dtype, reduce):
    x, idx, src = _scatter_case(dtype)
    if dtype in FLOATS and reduce == "add":
        src = _spread(dtype, (4, 7))
    _three_ways(lambda a, i, s: dg.scatter(a, 1, i, s, reduce=reduce), x, idx, src)
    _three_ways(lambda a, i: dg.scatter(a, 1, i, value=3, reduce=reduce), x, idx)


def test_scatter_0d():
    _three_ways(lambda a, i, s: dg.scatter(a, 0, i, s), np.array(-0.0, np.float32),
                np.array(0), np.array(2.0, np.float32))
    _three_ways(lambda a, i, s: dg.scatter_reduce(a, 0, i, s, "amax"), np.array(1.0, np.float32),
                np.array([0, 0, 0]), np.array([0.5, nan, 3.0], np.float32))


@pytest.mark.parametrize("dtype", FLOATS + ["int64", "int32", "int16", "bool"])
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce(dtype, reduce, include_self):
    """The updates applied in C order as np.<ufunc>.at (the same bits), NaN kept by amax /
    amin wherever one arrives, the mean's sum over the count (integers floored)."""
    if dtype == "bool" and reduce == "mean":
        return   # (refused by the op itself, as PyTorch)
    x, idx, src = _scatter_case(dtype)
    if dtype in FLOATS and reduce in ("sum", "mean"):
        src = _spread(dtype, (4, 7))
        src[0, :3] = [nan, -0.0, inf]
    if reduce == "prod" and dtype in FLOATS:
        src = (1 + _spread(dtype, (4, 7)) * 1e-7).astype(dtype)
        src[1, :3] = [nan, -0.0, inf]
    f = lambda a, i, s: dg.scatter_reduce(a, 1, i, s, reduce, include_self=include_self)  # noqa: E731
    _three_ways(f, x, idx, src)
    _three_ways(lambda a, i, s: dg.scatter_reduce(a, 0, i, s, reduce, include_self=include_self),
                x, np.array([[3, 0, 3, 3, 1, 0], [0, 0, 0, 2, 2, 2]]), src)


@pytest.mark.parametrize("dtype", ["int16", "int8", "int32"])
def test_scatter_reduce_small_ints_wrap(dtype):
    """Sums and products wrap in the dtype (int16 runs in int32 and is cast back: the same
    residues); the mean floors the wrapped sum."""
    info = np.iinfo(dtype)
    x = np.array([[info.max, info.min, -3, 5]], dtype)
    idx = np.array([[0, 0, 1, 1, 2, 2, 3, 3]])
    src = np.array([[info.max, 7, info.min, -1, info.max // 2, info.max // 3, -7, 3]], dtype)
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for inc in (True, False):
            _three_ways(lambda a, i, s: dg.scatter_reduce(a, 1, i, s, reduce, include_self=inc), x, idx, src)
    _three_ways(lambda a, i, s: dg.index_add(a, 1, i[0], s, alpha=3), x, idx, src)


def test_scatter_reduce_signed_zeros_and_nans():
    """amax / amin between 0.0 and -0.0 as numpy's maximum (the update on a tie); a NaN, once
    met, stays."""
    x = np.array([[-0.0, 0.0, nan, 1.0, 2.0, -inf]], np.float32)
    idx = np.array([[0, 1, 0, 2, 3, 3, 4, 4, 5, 5]])
    src = np.array([[0.0, -0.0, -0.0, 5.0, nan, 1.0, 3.0, nan, -inf, inf]], np.float32)
    for reduce in ("amax", "amin", "sum", "prod", "mean"):
        for inc in (True, False):
            _three_ways(lambda a, i, s: dg.scatter_reduce(a, 1, i, s, reduce, include_self=inc), x, idx, src)


# ---------------------------------------------------------------- masked_scatter
@pytest.mark.parametrize("dtype", FLOATS + ["int64", "int16", "bool"])
def test_masked_scatter(dtype):
    rng = np.random.default_rng(8)
    x = _salted(dtype, (3, 5)) if dtype != "bool" else rng.random((3, 5)) < 0.5
    src = _salted(dtype, (4, 6), 9) if dtype != "bool" else rng.random((4, 6)) < 0.5
    mask = rng.random((3, 5)) < 0.5
    _three_ways(dg.masked_scatter, x, mask, src)
    _three_ways(dg.masked_scatter, x, np.array([True, False, False, True, True]), src)   # (broadcast)
    _three_ways(dg.masked_scatter, x[:1], mask, src)
    _three_ways(dg.masked_scatter, x, np.zeros((3, 5), bool), src[:0])


# ---------------------------------------------------------------- nansum
@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
def test_nansum(dtype):
    """Within rounding (numpy sums pairwise): rtol about 1e-6 / 1e-15 of each sum plus a term of
    the sum of magnitudes, for the sums that cancel; NaN as 0, an all-NaN or -0.0 sum +0.0."""
    rng = np.random.default_rng(10)
    x = (rng.standard_normal((6, 50)) * 3).astype(dtype)
    x[rng.random(x.shape) < 0.2] = nan
    x[0] = nan
    x[1] = -0.0
    x[2, :3] = [inf, -inf, 1]
    x[3, :3] = inf
    rtol = {"float32": 2e-6, "float64": 1e-14, "float16": 1e-3}[dtype]
    atol = rtol * np.nansum(np.abs(x[np.isfinite(x)].astype(np.float64)))
    for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}, {"dim": (0, 1)},
               {"dim": -1, "dtype": dg.float64}):
        _three_ways(lambda a: dg.nansum(a, **kw), x, rtol=rtol, atol=atol)
    _three_ways(lambda a: dg.nanmean(a, 1), x, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", ["int64", "int8", "bool"])
def test_nansum_ints(dtype):
    x = _salted(dtype, (4, 5)) if dtype != "bool" else np.random.default_rng(11).random((4, 5)) < 0.5
    _three_ways(lambda a: (dg.nansum(a), dg.nansum(a, 1), dg.nansum(a, 0, True)), x)


# ---------------------------------------------------------------- cummax / cummin
@pytest.mark.parametrize("dtype", FLOATS + ["float16", "int64", "int16", "int8", "uint8", "bool"])
@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cummax_cummin(dtype, name):
    """Values and indices exact: the last of equal values (0.0 and -0.0 equal), the last NaN
    once one is seen."""
    if dtype == "bool":
        x = np.random.default_rng(12).random((4, 9)) < 0.5
    elif dtype == "uint8":
        x = np.random.default_rng(12).integers(0, 4, (4, 9)).astype(dtype)
    else:
        x = _salted(dtype, (4, 9), 12)
    if dtype in FLOATS:
        x[0] = [-0.0, 0.0, -0.0, nan, 1.0, nan, inf, -inf, 0.0]
    fn = getattr(dg, name)
    _three_ways(lambda a: tuple(fn(a, 1)), x)
    _three_ways(lambda a: tuple(fn(a, 0)), x)
    _three_ways(lambda a: tuple(fn(a, -1)), x[0])
    _three_ways(lambda a: tuple(fn(a, 0)), x[0, 0])    # (0-d)


# ---------------------------------------------------------------- logcumsumexp
@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
def test_logcumsumexp(dtype):
    """Within 4 ulps of the larger of the result and the inputs (measured: up to 2, float32
    and float64, on 60k values of scales 1e-3 to 1e4; each step is numpy's formula, float32's
    exp and log1p in float64, float64's through onnxruntime's Exp / Log; a result near 0
    cancels, for numpy as well, hence the atol). Infinities, NaN, -inf starts and the +0.0 of
    a -0.0 first term exact."""
    rng = np.random.default_rng(13)
    x = (rng.standard_normal((5, 40)) * 20).astype(dtype)
    x[0, :8] = [-inf, -inf, -0.0, inf, 1.0, -inf, nan, 2.0]
    x[1, :4] = [-0.0, 3.0, 3.0, -1e4]
    x[2] = (rng.standard_normal(40) * 1e-3).astype(dtype)
    x[3, :3] = [-50.0, 1e-20 if dtype != "float16" else 1e-6, -30.0]   # (log1p of a tiny exp)
    rtol = 4 * np.finfo(dtype).eps
    atol = rtol * np.max(np.abs(x[np.isfinite(x)]))
    _three_ways(lambda a: dg.logcumsumexp(a, 1), x, rtol=rtol, atol=atol)
    _three_ways(lambda a: dg.logcumsumexp(a, 0), x, rtol=rtol, atol=atol)
    _three_ways(lambda a: dg.logcumsumexp(a, -1), x[0], rtol=rtol, atol=atol)
    _three_ways(lambda a: dg.logcumsumexp(a, 0), x[1, 0], rtol=None)   # (0-d: x itself)


# ---------------------------------------------------------------- median / nanmedian / quantile
@pytest.mark.parametrize("dtype", FLOATS + ["float16", "int64", "int16", "uint8"])
@pytest.mark.parametrize("name", ["median", "nanmedian"])
def test_median_dim(dtype, name):
    """The stable order's index (the first NaN's for median; NaNs last for nanmedian, whose
    all-NaN slice gets std::nth_element's index): values and indices exact."""
    x = _salted(dtype, (6, 7), 14) if dtype != "uint8" else \
        np.random.default_rng(14).integers(0, 4, (6, 7)).astype(dtype)
    if np.dtype(dtype).kind == "f":
        x[0] = nan
        x[1] = [nan, inf, inf, -inf, nan, inf, 1.0]   # (nanmedian: an inf, not a NaN, at its rank)
        x[2] = [-0.0, 0.0, -0.0, 0.0, 0.0, -0.0, 1.0]
    fn = getattr(dg, name)
    _three_ways(lambda a: tuple(fn(a, 1)), x)
    _three_ways(lambda a: tuple(fn(a, 0, keepdim=True)), x)
    _three_ways(lambda a: tuple(fn(a, -1)), x[:, :6])   # (an even count)
    _three_ways(lambda a: tuple(fn(a, 0)), x[2, 3])    # (0-d)


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8"])
def test_median_all_ints(dtype):
    x = _salted(dtype, (5, 7), 15)
    _three_ways(lambda a: (dg.median(a), dg.nanmedian(a), dg.median(a[0, :4])), x)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("name", ["quantile", "nanquantile"])
def test_quantile(dtype, interpolation, name):
    """The kernel's ranks and lerp, the same IEEE ops: exact, NaN slices included (NaN for
    quantile, skipped by nanquantile, NaN where all are)."""
    x = _salted(dtype, (5, 8), 16, specials=(nan, -0.0, 0.0, inf, -inf))
    x[:, 0] += np.asarray(0.37, dtype)
    x[0] = nan
    x[1] = [1.0, nan, -0.0, 0.0, inf, 2.5, nan, -3.0]
    fn = getattr(dg, name)
    qs = np.array([0.0, 0.1, 0.25, 0.5, 0.6, 0.999, 1.0], dtype)
    kw = {"interpolation": interpolation}
    _three_ways(lambda a, q: fn(a, q, dim=1, **kw), x, qs)
    _three_ways(lambda a, q: fn(a, q, dim=0, keepdim=True, **kw), x, qs[2:4])
    _three_ways(lambda a, q: fn(a, q, **kw), x, qs[3])   # (every element; a 0-d q)
    for q in (0.3, 0.5, 1.0):
        _three_ways(lambda a: fn(a, q, dim=-1, **kw), x)
        _three_ways(lambda a: fn(a, q, keepdim=True, **kw), x[1:])


# ---------------------------------------------------------------- refused
def _refused(fn, *arrays, match, **kw):
    f = dg.function(fn)
    args = tuple(dg.tensor(a) for a in arrays)
    f(*args)   # (eager and compiled run it)
    with pytest.raises(ExportError, match=match):
        to_onnx(f, example_args=args, **kw)


def test_refused_kthvalue_and_mode():
    x = np.array([[1.0, 2.0, 1.0, 3.0], [0.0, -0.0, 0.0, 5.0]], np.float32)
    _refused(lambda a: tuple(dg.kthvalue(a, 2, 1)), x, match=r"\(kthvalue\).*quickselect")
    _refused(lambda a: tuple(dg.kthvalue(a, 1, 0)), x.astype(np.int64), match=r"\(kthvalue\).*quickselect")
    _refused(lambda a: tuple(a.mode(1)), x, match=r"\(mode\).*std::sort")


@pytest.mark.parametrize("name", ["median", "nanmedian"])
def test_refused_float_median_of_all(name):
    x = np.array([[0.0, -0.0, 1.0], [-0.0, 2.0, 0.0]], np.float32)
    _refused(getattr(dg, name), x, match=rf"\({name} of every element\).*nth_element")


def test_refused_float16_scatter_sums_and_old_opsets():
    x, idx = np.zeros((2, 3), np.float16), np.array([[0, 1, 1]])
    src = np.ones((2, 3), np.float16)
    _refused(lambda a, i, s: dg.scatter_reduce(a, 1, i, s, "sum"), x, idx, src,
             match=r"\(scatter_reduce, sum\) is float16")
    _refused(lambda a, i, s: dg.index_add(a, 1, i[0], s), x, idx, src, match=r"\(index_add, sum\) is float16")
    x32, s32 = x.astype(np.float32), src.astype(np.float32)
    _refused(lambda a, i, s: dg.scatter(a, 1, i, s), x32, idx, s32, opset=17,
             match=r"\(scatter\) needs opset 18.*reduction max")
    _refused(lambda a, i, s: dg.scatter_add(a, 1, i, s) + dg.scatter_reduce(a, 1, i, s, "sum"), x32, idx, s32,
             opset=15, match=r"\(scatter_reduce\) needs opset 16")


def test_unknown_shape_refused():
    with dg.graph_mode() as g:
        x = dg.placeholder((None, 3), dg.float32)
        y = dg.index_fill(x, 1, dg.constant(np.array([0])), 1.0)
    with pytest.raises(ExportError, match=r"\(index_fill\) has an input of unknown shape"):
        to_onnx(g, outputs=[y])
