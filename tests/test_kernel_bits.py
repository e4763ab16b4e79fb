"""Issue 14: the faster numpy kernels give the same bits as the formulas they replaced.

Each reference (benchmarks/kernels.py's old_*) is a verbatim copy of the kernel as it was before
(dualgraph/ops/*.py at the start of issue 14), compared with the kernel in use on random inputs salted with ties,
NaN (of both signs and several payloads), infinities, -0.0 and ignored rows: the same values,
the same signed zeros and the same NaN bits (the arrays compared as unsigned integers).
benchmarks/kernels.py times the same pairs."""
import os
import sys

import numpy as np
import pytest

from dualgraph.ops import nn_ops as K
from dualgraph.ops import elementwise as E
from dualgraph.ops import reductions as R

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))
# the references: the kernels as they were, kept verbatim once, in the script that times them
from kernels import (old_ce, old_log_softmax, old_max_pool2d_backward, old_nll,  # noqa: E402
                     old_nll_rows)


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
    if a.dtype.kind == "f":
        u = np.dtype(f"u{a.dtype.itemsize}")
        a, b = np.ascontiguousarray(a).view(u), np.ascontiguousarray(b).view(u)
    return np.array_equal(a, b)


def assert_same(new, old):
    assert same_bits(new, old), (new, old)
    new, old = np.asarray(new), np.asarray(old)
    if new.dtype.kind == "f":   # (implied by the bits; the brief's wording, spelled out)
        assert np.array_equal(new, old, equal_nan=True)
        assert np.array_equal(np.signbit(new), np.signbit(old))


def salt(rng, x, p=0.05, nan=True, inf=True):
    """x (float) with some entries set to +-0.0, ties, +-inf and NaNs of both signs."""
    x = np.array(x)
    u = rng.random(x.shape)
    x[u < 2 * p] = 0.0
    x[(u >= 2 * p) & (u < 4 * p)] = -0.0
    if x.size:
        tie = (u >= 4 * p) & (u < 6 * p)
        x[tie] = x.reshape(-1)[0]
    if inf:
        x[(u >= 6 * p) & (u < 6.5 * p)] = np.inf
        x[(u >= 6.5 * p) & (u < 7 * p)] = -np.inf
    if nan:
        m = (u >= 7 * p) & (u < 7.5 * p)
        x[m] = np.nan
        x[(u >= 7.5 * p) & (u < 8 * p)] = -np.nan
        if x.dtype == np.float32:  # a few payloads
            b = x.view(np.uint32)
            b[m] |= rng.integers(0, 1 << 20, int(m.sum())).astype(np.uint32)
    return x


# ================================================================ log_softmax / cross_entropy
LOGIT_SHAPES = [(64, 10), (64, 15), (64, 16), (17, 3), (200, 7), (512, 10), (64, 1), (8, 10),
                (3, 40), (64, 100), (16, 0), (0, 5), (33, 8)]


def logits(rng, shape, dtype, kind):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    if kind == "salted":
        x = salt(rng, x)
    elif kind == "confident":   # rows whose target log-probability is exactly 0 (-0.0 losses)
        x = salt(rng, np.where(rng.random(shape) < 0.8, -300.0, 0.0).astype(dtype), nan=False,
                 inf=False)
    elif kind == "zeros":       # max 0.0 ties of both signs
        x = np.where(rng.random(shape) < 0.5, -0.0, 0.0).astype(dtype)
        x[rng.random(shape) < 0.3] = -1
    return x


def ref_log_softmax(x, dim):
    """old_log_softmax; for logits with few classes (R._lse_by_columns) the same formula over
    their transposed copy, as the kernel takes it: the sums add the classes in order. A
    non-contiguous x is read as its C-ordered copy (the layout never changes the bits)."""
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    axis = R._kaxis(dim, x.ndim)
    if R._lse_by_columns(x, axis):
        return np.ascontiguousarray(old_log_softmax(np.ascontiguousarray(x.T), 0).T)
    return old_log_softmax(x, dim)


def ref_ce(x, target, ignore_index, reduction):
    return old_nll(ref_log_softmax(x, 1), target, ignore_index, reduction)


def test_few_classes_take_the_columns_and_agree_with_the_row_sums():
    """The columns form applies to a classifier's logits, and gives log_softmax within
    float32 rounding of the row-wise formula (another order of additions)."""
    rng = np.random.default_rng(3)
    for shape, columns in [((64, 10), True), ((512, 10), True), ((16, 32), True), ((15, 10), False),
                           ((64, 33), False), ((64, 1), True)]:
        x = (rng.standard_normal(shape) * 3).astype(np.float32)
        assert R._lse_by_columns(x, 1) is columns
        np.testing.assert_allclose(R._log_softmax_kernel(x, 1), old_log_softmax(x, 1),
                                   rtol=1e-6, atol=1e-6)
    xf = np.asfortranarray(x)          # (its transpose is C-contiguous: must not be written)
    before = xf.copy()
    R._log_softmax_kernel(xf, 1)
    np.testing.assert_array_equal(xf, before)
    assert not R._lse_by_columns(np.zeros((64, 10), np.float32), 0)
    assert not R._lse_by_columns(np.zeros((64, 10, 2), np.float32), 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["plain", "salted", "confident", "zeros"])
def test_log_softmax_bits(dtype, kind):
    rng = np.random.default_rng(14)
    for shape in LOGIT_SHAPES:
        for _ in range(3):
            x = logits(rng, shape, dtype, kind)
            with np.errstate(invalid="ignore"):
                for dim in (1, -1, 0):
                    assert_same(R._log_softmax_kernel(x, dim), ref_log_softmax(x, dim))
                if x.size:
                    xf = np.asfortranarray(x)
                    assert_same(R._log_softmax_kernel(xf, 1), ref_log_softmax(xf, 1))
                    assert_same(R._log_softmax_kernel(x[::2], 1), ref_log_softmax(x[::2], 1))
    x3 = rng.standard_normal((4, 5, 6)).astype(dtype)
    for dim in (0, 1, 2, -1):
        assert_same(R._log_softmax_kernel(x3, dim), old_log_softmax(x3, dim))
    x0 = np.asarray(2.5, dtype)
    assert_same(R._log_softmax_kernel(x0, 0), old_log_softmax(x0, 0))


def targets(rng, n, c, kind, dtype=np.int64):
    t = rng.integers(0, max(c, 1), n).astype(dtype)
    if kind == "ignored" and n:
        t[rng.random(n) < 0.3] = -100
        t[0] = -100
    elif kind == "all_ignored":
        t[:] = -100
    return t


def select_ce_backward(g, x, target, ignore_index, reduction):
    """old_ce_backward (its log_softmax ref_log_softmax) with its row scale a select, np.where(valid, g (/ count), 0), not
    g * valid: an ignored row is exactly 0 for an inf/NaN g, as PyTorch's (it was NaN:
    inf * False); the kernel now follows PyTorch there (tests/test_special_values_nn.py)."""
    logp = ref_log_softmax(x, 1)
    valid, safe = old_nll_rows(logp, target, ignore_index)
    if reduction == "mean":
        with np.errstate(all="ignore"):
            g = g / x.dtype.type(valid.sum())
    scale = np.asarray(np.where(valid, g, x.dtype.type(0)), dtype=x.dtype)
    r = np.exp(logp, out=logp)
    r *= scale[:, None]
    r[np.arange(len(safe)), safe] -= scale
    return r


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["plain", "salted", "confident", "zeros"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_bits(dtype, kind, reduction, no_fusion):
    # (numpy's kernels: with the numba backend on, the loops' exp and log are numba's scalar
    # ones, which round like numpy's on some CPUs only; tests/test_numba_loops.py tests them)
    rng = np.random.default_rng(140)
    for shape in LOGIT_SHAPES:
        n, c = shape
        if c == 0:
            continue
        for tkind, tdtype, ignore in [("plain", np.int64, -100), ("plain", np.int32, -100),
                                      ("plain", np.uint8, -100), ("plain", np.int64, 0),
                                      ("ignored", np.int64, -100), ("all_ignored", np.int64, -100)]:
            if tdtype == np.uint8 and tkind != "plain":
                continue
            x = logits(rng, shape, dtype, kind)
            t = targets(rng, n, c, tkind, tdtype)
            if ignore == 0 and n:
                t[0] = 0
            for g in (np.asarray(1.0, dtype), np.asarray(-0.0, dtype), np.asarray(np.nan, dtype),
                      np.asarray(3.7, np.float64), np.asarray(np.inf, dtype)):
                if reduction == "none":
                    g = salt(rng, (rng.standard_normal(n) * float(g)).astype(g.dtype))
                with np.errstate(invalid="ignore"):
                    assert_same(K._ce_kernel(x, t, ignore, reduction), ref_ce(x, t, ignore, reduction))
                    assert_same(K._nll_kernel(old_log_softmax(x, 1), t, ignore, reduction),
                                old_nll(old_log_softmax(x, 1), t, ignore, reduction))
                    assert_same(K._ce_backward_kernel(g, x, t, ignore, reduction),
                                select_ce_backward(g, x, t, ignore, reduction))


def test_cross_entropy_errors_unchanged():
    x = np.zeros((4, 3), np.float32)
    for bad in ([0, 1, 3, 0], [0, -1, 2, 0]):
        t = np.array(bad)
        for fn in (lambda: K._ce_kernel(x, t, -100, "mean"),
                   lambda: K._nll_kernel(x, t, -100, "mean"),
                   lambda: K._ce_backward_kernel(np.asarray(1.0, np.float32), x, t, -100, "mean")):
            with pytest.raises(Exception, match="out of bounds"):
                fn()


# ================================================================ max_pool2d_backward
POOL_SHAPES = [(64, 8, 28, 28), (3, 2, 4, 6), (2, 1, 2, 2), (5, 3, 8, 2), (1, 1, 6, 4), (4, 6, 14, 14)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["plain", "ties", "zeros", "salted", "inf"])
def test_max_pool2d_backward_bits(dtype, kind):
    rng = np.random.default_rng(1414)
    attrs = dict(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=False)
    for shape in POOL_SHAPES:
        x = rng.standard_normal(shape).astype(dtype)
        if kind == "ties":
            x = np.round(x)
        elif kind == "zeros":
            x = np.where(rng.random(shape) < 0.5, 0.0, -0.0).astype(dtype)
            x[rng.random(shape) < 0.2] = -1
        elif kind == "salted":
            x = salt(rng, x, p=0.02)
        elif kind == "inf":
            x = salt(rng, np.round(x), p=0.05, nan=False)
        n, c, h, w = shape
        for gk in ("plain", "salted", "nonfinite"):
            g = rng.standard_normal((n, c, h // 2, w // 2)).astype(dtype)
            g[rng.random(g.shape) < 0.2] = -0.0
            if gk == "salted":
                g = salt(rng, g, nan=False, inf=False)
            elif gk == "nonfinite":
                g = salt(rng, g, p=0.01)
            for ceil in (False, True):
                attrs["ceil_mode"] = ceil
                assert_same(K._max_pool2d_backward_kernel(g, x, **attrs),
                            old_max_pool2d_backward(g, x, **attrs))
            assert_same(K._max_pool2d_backward_kernel(g, np.asfortranarray(x), **attrs),
                        old_max_pool2d_backward(g, x, **attrs))
            g32 = g.astype(np.float32)
            assert_same(K._max_pool2d_backward_kernel(g32, x, **attrs),
                        old_max_pool2d_backward(g32, x, **attrs))
    # the general kernel is the old one: other geometries unchanged
    x = rng.standard_normal((2, 3, 7, 9)).astype(dtype)
    for ks, st, pd in [((3, 3), (2, 2), (1, 1)), ((2, 2), (1, 1), (0, 0)), ((2, 2), (2, 2), (1, 1))]:
        a = dict(kernel_size=ks, stride=st, padding=pd, dilation=(1, 1), ceil_mode=False)
        oh = (7 + 2 * pd[0] - ks[0]) // st[0] + 1
        ow = (9 + 2 * pd[1] - ks[1]) // st[1] + 1
        g = rng.standard_normal((2, 3, oh, ow)).astype(dtype)
        assert_same(K._max_pool2d_backward_kernel(g, x, **a), old_max_pool2d_backward(g, x, **a))


# ================================================================ relu_backward
def select_relu_backward(g, y):
    """PyTorch's threshold_backward, spelt as a select: +0.0 where y <= 0, else g itself.
    (Not the old formula g * (not y <= 0) + 0.0, which made NaN of an infinite g at a zeroed
    output and +0.0 of a kept -0.0: the kernel now follows PyTorch there, tested below.)"""
    dtype = np.result_type(g, y)
    return np.asarray(np.where(np.less_equal(y, 0), dtype.type(0), g), dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_relu_backward_bits(dtype):
    rng = np.random.default_rng(141)
    for shape, yshape in [((64, 256), (64, 256)), ((512, 256), (512, 256)), ((2, 8, 5, 5), (2, 8, 5, 5)),
                          ((1, 256), (64, 256)), ((64, 256), (1, 256)), ((7,), (7,)), ((0, 3), (0, 3))]:
        g = salt(rng, rng.standard_normal(shape).astype(dtype))
        y = salt(rng, np.maximum(rng.standard_normal(yshape), 0).astype(dtype))
        y[rng.random(yshape) < 0.1] = -1.5       # (any y: negative outputs too)
        want = select_relu_backward(g, y)
        assert_same(E._relu_backward(g, y), want)
        oshape = np.broadcast_shapes(shape, yshape)
        o1 = np.empty(oshape, dtype)
        assert E._relu_backward(g, y, out=o1) is o1
        assert_same(o1, want)
        if g.shape == oshape:   # written over g (a plan reusing g's buffer)
            g1 = g.copy()
            assert_same(E._relu_backward(g1, y, out=g1), want)
        if y.shape == oshape:   # written over y
            y1 = y.copy()
            assert_same(E._relu_backward(g, y1, out=y1), want)
        if g.ndim == 2 and y.ndim == 2 and g.shape[1] > 1 and y.shape[1] > 1:   # strided operands
            gt, yt = g[:, ::2], y[:, ::2]
            assert_same(E._relu_backward(gt, yt), select_relu_backward(gt, yt))
        g32 = g.astype(np.float32)   # (mixed dtypes when dtype is not float32)
        assert_same(E._relu_backward(g32, y), select_relu_backward(g32, y))
    for g, y in [(np.float32(-2.0), np.float32(0.0)), (np.asarray(-0.0, dtype), np.asarray(np.nan, dtype)),
                 (np.asarray(np.inf, dtype), np.asarray(0.0, dtype))]:
        assert_same(E._relu_backward(g, y), select_relu_backward(g, y))


def test_relu_backward_matches_threshold_backward_at_infinities_nans_and_signed_zeros():
    """Every pair of special gradients and outputs, against PyTorch's own kernel (an infinite
    gradient at a zeroed output was NaN here, inf * 0.0; a kept -0.0 gradient was +0.0)."""
    torch = pytest.importorskip("torch")
    specials = [np.inf, -np.inf, np.nan, -np.nan, 0.0, -0.0, 1.5, -1.5, 1e-45]
    gg, yy = np.meshgrid(np.array(specials, np.float32), np.array(specials, np.float32))
    g, y = gg.ravel(), yy.ravel()
    want = torch.ops.aten.threshold_backward(torch.from_numpy(g), torch.from_numpy(y), 0).numpy()
    for got in (E._relu_backward(g, y), E._relu_backward(g, y, out=np.empty_like(g)),
                E._relu_backward(g.copy(), y, out=None)):
        assert np.array_equal(np.isnan(got), np.isnan(want))
        ok = ~np.isnan(want)
        assert same_bits(got[ok], want[ok]), (g, y, got, want)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # (the forward 0 * inf: numpy says so)
def test_relu_gradient_of_infinite_upstream_is_pytorchs_eager_and_compiled():
    """The whole rule, not only the kernel: an infinite upstream gradient where relu zeroed its
    input gives 0 (it gave NaN), eagerly, through dg.function over several calls, and in torch."""
    import dualgraph as dg
    torch = pytest.importorskip("torch")
    xs = np.array([-1.0, -2.0, 3.0, 0.0, 2.0], np.float32)
    ws = np.array([np.inf, np.nan, 1.0, -np.inf, -0.0], np.float32)

    def grad_of(x, w):
        return dg.autograd.grad((x.relu() * w).sum(), [x])[0]

    xt = torch.tensor(xs, requires_grad=True)
    (xt.relu() * torch.tensor(ws)).sum().backward()
    want = xt.grad.numpy()
    compiled = dg.function(grad_of)
    for _ in range(3):
        for got in (grad_of(dg.tensor(xs, requires_grad=True), dg.tensor(ws)),
                    compiled(dg.tensor(xs, requires_grad=True), dg.tensor(ws))):
            assert same_bits(got.numpy(), want), (got, want)
    assert compiled.trace_count == 1


# ================================================================ relu
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_relu_against_zeros_array_bits(dtype):
    """relu compares with a slice of a zero array above E._ZEROS_MIN elements (numpy's SIMD
    loop; against the scalar 0 it runs a slower one): the scalar form's bits, NaN payloads
    and -0.0 included, at sizes around the threshold (SIMD tails), for strided inputs, into
    out=, and with the shared zero array growing and then read at a smaller size."""
    rng = np.random.default_rng(17)
    n0 = E._ZEROS_MIN
    big = E._ZEROS_MAX
    for size in (n0 - 1, n0, n0 + 1, n0 + 7, 3 * n0 + 5, 150528, 40 * n0 + 3, big, big + 1,
                 2 * big + 77):
        x = salt(rng, rng.standard_normal(size).astype(dtype))
        x[:16] = np.array([-0.0, 0.0, np.nan, -np.nan, np.inf, -np.inf, 1, -1] * 2, dtype)
        want = np.maximum(0, x, dtype=x.dtype)
        assert_same(E._relu(x), want)
        assert_same(E._relu_out(x, out=np.empty_like(x)), want)
        xs = x[::2]
        assert_same(E._relu(xs), np.maximum(0, xs, dtype=x.dtype))
        x4 = x[:size - size % 4].reshape(2, 2, -1).transpose(2, 0, 1)   # non-contiguous 3-d
        assert_same(E._relu(x4), np.maximum(0, x4, dtype=x.dtype))
    z = E._ZEROS[np.dtype(dtype)]
    assert not z.flags.writeable and not z.any()


def test_relu_zero_array_is_used_and_bounded():
    x = np.ones(E._ZEROS_MIN, np.float32)
    E._relu(x)
    assert E._ZEROS[np.dtype(np.float32)].size >= x.size
    assert E._zeros_as(np.ones(E._ZEROS_MIN - 1, np.float32)) is None
    assert E._zeros_as(np.ones(E._ZEROS_MIN, np.int64)) is None
    big = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), (E._ZEROS_MAX + 1,), (0,))
    assert E._zeros_as(big) is None and E._relu_sliced(big, None) is None   # (not contiguous)
    assert_same(E._relu(big), np.maximum(0, big, dtype=big.dtype))
    E._relu(np.ones(3 * E._ZEROS_MAX, np.float32))          # sliced: the zeros do not grow
    assert E._ZEROS[np.dtype(np.float32)].size == E._ZEROS_MAX
