"""Reductions and sorts at inf, NaN and zeros: PyTorch's values and gradients, eagerly and
through dg.function over several calls (the same bits). Each case is one difference a
special-value sweep found (tests/special_values_report.md, B2, B3, B12, C5-C8): NaN sorted last
when descending, topk leaving NaN out, float32 std overflowing where PyTorch accumulates in
double, and gradients that multiplied an inf/NaN by a zero (NaN where PyTorch selects 0).

The expected numbers are PyTorch 2's (CPU), written out so that the cases run without torch;
test_*_vs_torch check the same ops against torch itself on larger salted inputs."""
import numpy as np
import pytest

import dualgraph as dg
from special_value_checks import assert_values, bits, check_eager_and_compiled
from special_value_checks import numpy_of as _np

inf, nan = np.inf, np.nan


def f32(*rows):
    return np.array(rows, np.float32)


def _t():
    return pytest.importorskip("torch")


# name -> (fn, inputs, cotangent of the first output, expected outputs, expected gradients)
CASES = {
    "B2 sort descending: NaN first": (
        lambda x: dg.sort(x, descending=True), (f32(1, nan, 3),), f32(1, 2, 3),
        [f32(nan, 3, 1), np.array([1, 2, 0])], [f32(3, 1, 2)]),
    "B2 sort descending along dim 0": (
        lambda x: dg.sort(x, 0, descending=True), (f32([1, nan], [nan, 2], [3, -inf]),),
        f32([1, 2], [3, 4], [5, 6]),
        [f32([nan, nan], [3, 2], [1, -inf]), np.array([[1, 0], [2, 1], [0, 2]])],
        [f32([5, 2], [1, 4], [3, 6])]),
    "B2 argsort descending": (
        lambda x: dg.argsort(x, descending=True), (f32(-inf, nan, 0, nan, inf),), None,
        [np.array([1, 3, 4, 2, 0])], []),
    "B3 topk largest: NaN is the largest": (
        lambda x: dg.topk(x, 2), (f32(1, nan, 3),), f32(1, 2),
        [f32(nan, 3), np.array([1, 2])], [f32(0, 1, 2)]),
    "B3 topk along dim 0": (
        lambda x: dg.topk(x, 2, 0), (f32([1, 5], [nan, 2], [3, nan]),), f32([1, 2], [3, 4]),
        [f32([nan, nan], [3, 5]), np.array([[1, 2], [2, 0]])], [f32([0, 4], [1, 0], [3, 2])]),
    "B12 std float32 at 1e30 (var stays inf, as PyTorch's)": (
        lambda x: (dg.std(x), dg.var(x)), (f32(1e30, -1e30),), np.float32(1),
        [np.float32(1.4142135e30), np.float32(inf)], [f32(0.70710683, -0.70710683)]),
    "B12 std float32 per row: overflow, ordinary, underflow": (
        lambda x: dg.std(x, 1), (f32([1e30, -1e30, 0], [1, 2, 4], [1e-30, -1e-30, 0]),),
        f32(1, 1, 1), [f32(1e30, 1.5275252, 1e-30)],
        [f32([0.5, -0.5, 0], [-0.43643576, -0.10910892, 0.54554474], [0.5, -0.5, 0])]),
    "C5 max(x): the NaNs share the gradient": (
        lambda x: dg.max(x), (f32(1, nan, 3, nan),), np.float32(1),
        [np.float32(nan)], [f32(0, 0.5, 0, 0.5)]),
    "C5 max(x): an inf upstream is 0 off the maximum": (
        lambda x: dg.max(x), (f32(1, 2, 3),), np.float32(inf), [np.float32(3)], [f32(0, 0, inf)]),
    "C5 min(x) at NaN": (
        lambda x: dg.min(x), (f32(1, nan, 3),), np.float32(1), [np.float32(nan)], [f32(0, 1, 0)]),
    "C5 max(x): ties share an inf upstream": (
        lambda x: dg.max(x), (f32([3, 1], [3, -inf]),), np.float32(inf), [np.float32(3)],
        [f32([inf, 0], [inf, 0])]),
    "C6 prod: inf in a slice, a zero elsewhere in the tensor": (
        lambda x: dg.prod(x, dim=1), (f32([inf, 2], [0, 3]),), f32(1, 1),
        [f32(inf, 0)], [f32([2, inf], [3, 0])]),
    "C6 prod: NaN next to a zero": (
        lambda x: dg.prod(x, dim=1), (f32([0, nan, 1]),), f32(1), [f32(nan)], [f32([nan, 0, nan])]),
    "C6 prod of everything, with a zero": (
        lambda x: dg.prod(x), (f32([inf, 2], [0, 3]),), np.float32(1), [np.float32(nan)],
        [f32([0, nan], [inf, nan])]),
    "C7 cumprod: an inf upstream after a zero": (
        lambda x: dg.cumprod(x, 0), (f32(2, 0, 3),), f32(1, 1, inf),
        [f32(2, 0, 0)], [f32(1, inf, 0)]),
    "C7 cumprod: an inf upstream after the second zero": (
        lambda x: dg.cumprod(x, 0), (f32(2, 0, 3, 0, 5),), f32(1, 1, 1, 1, inf),
        [f32(2, 0, 0, 0, 0)], [f32(1, 8, 0, 0, 0)]),
    "C7 cumprod over a dim of size 1 passes g": (
        lambda x: dg.cumprod(x, 1), (f32([inf], [nan]),), f32([1], [2]),
        [f32([inf], [nan])], [f32([1], [2])]),
    "C8 vector_norm p=0: a zero gradient for any upstream": (
        lambda x: dg.linalg.vector_norm(x, 0), (f32(2, 0, 1),), np.float32(inf),
        [np.float32(2)], [f32(0, 0, 0)]),
}


def _flat(r):
    return list(r) if isinstance(r, (tuple, list)) else [r]


def _step(fn, cot):
    def step(*xs):
        outs = _flat(fn(*xs))
        if cot is None:
            return outs
        return outs + list(dg.autograd.grad([outs[0]], list(xs), [dg.tensor(cot)]))
    return step


def _feeds(arrays, cot):
    return [dg.tensor(a.copy(), requires_grad=cot is not None) for a in arrays]


@pytest.mark.parametrize("name", list(CASES))
def test_case_eager_and_compiled(name):
    """PyTorch's numbers eagerly, and dg.function's are the same bits over three calls."""
    fn, arrays, cot, want_out, want_grad = CASES[name]
    step = _step(fn, cot)
    check_eager_and_compiled(name, step, lambda: _feeds(arrays, cot), want_out + want_grad)


# ---------------------------------------------------------------- against torch, salted inputs
def _salted(seed, shape, nan_per_row=None, zeros=0.0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    u = rng.random(shape)
    x[u < zeros] = 0.0
    x[(u >= 0.3) & (u < 0.35)] = inf
    x[(u >= 0.35) & (u < 0.4)] = -inf
    if nan_per_row is None:
        x[(u >= 0.9) & (u < 0.97)] = nan
    else:  # (one NaN per row: the order of several NaNs is not PyTorch's contract for topk)
        x[np.arange(shape[0]), rng.integers(0, shape[1], shape[0])] = nan
    return x


def _vs_torch(fn_dg, fn_t, x, cot):
    torch = _t()
    xd = dg.tensor(x.copy(), requires_grad=True)
    outs = _flat(fn_dg(xd))
    g = dg.autograd.grad([outs[0]], [xd], [dg.tensor(cot)])[0]
    xt = torch.tensor(x.copy(), requires_grad=True)
    touts = _flat(fn_t(xt))
    gt = torch.autograd.grad([touts[0]], [xt], [torch.tensor(cot)])[0]
    for k, (a, b) in enumerate(zip(outs, touts)):
        assert_values(_np(a), b.detach().numpy(), f"output {k}")
    # (terms far below the largest one: a mean next to 1e30 rounds differently in float32
    # than in PyTorch's double, which moves x - mean by ~1e-7 of the largest)
    gt = gt.numpy()
    fin = gt[np.isfinite(gt)]
    assert_values(_np(g), gt, "gradient", atol=1e-6 * float(np.abs(fin).max()) if fin.size else 0.0)


@pytest.mark.parametrize("dim", [-1, 0])
def test_sort_vs_torch(dim):
    x = _salted(1, (6, 9))
    cot = np.arange(x.size, dtype=np.float32).reshape(x.shape)
    for descending in (True, False):
        _vs_torch(lambda t: dg.sort(t, dim, descending),
                  lambda t: t.sort(dim=dim, descending=descending, stable=True), x, cot)


def test_topk_vs_torch():
    x = _salted(2, (7, 8), nan_per_row=1)
    cot = np.arange(7 * 3, dtype=np.float32).reshape(7, 3) + 1
    for largest in (True, False):
        _vs_torch(lambda t: dg.topk(t, 3, largest=largest), lambda t: t.topk(3, largest=largest),
                  x, cot)


def _std_rows():
    """Rows whose float32 squares overflow (1e30, 2e19) or underflow (1e-30), one with inf and
    NaN, and an ordinary one."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    x[0, :2], x[1, :2], x[3, :2] = (1e30, -1e30), (1e-30, -1e-30), (-2e19, 2e19)
    x[1, 2:] = 0.0
    x[2, 1:3] = (inf, nan)
    return x


@pytest.mark.parametrize("dim", [None, 1, 0])
def test_std_var_vs_torch(dim):
    x = _std_rows()
    if dim is None:
        x = x[[0, 3, 4]]   # (finite: a full reduction over the NaN row is NaN either way)
    shape = () if dim is None else (x.shape[1 - dim],)
    cot = np.ones(shape, np.float32)
    _vs_torch(lambda t: dg.std(t, dim), lambda t: t.std(dim), x, cot)
    _vs_torch(lambda t: dg.var(t, dim), lambda t: t.var(dim), x, cot)


def test_std_var_float32_bits_are_pytorchs():
    """float32 var / std accumulate in double and round once, as PyTorch on CPU: its bits on
    ordinary rows, and all-equal values give exactly 0 (a float32 mean's rounding would give a
    tiny std whose gradient is large: found by the random programs, repeat() then std())."""
    x = np.random.default_rng(4).standard_normal((4, 16)).astype(np.float32)
    x[0, :2] = (1e30, -1e30)
    got = _np(dg.std(dg.tensor(x), 1))
    want = np.sqrt(np.var(x[1:], axis=1, ddof=1, dtype=np.float64)).astype(np.float32)
    assert np.array_equal(bits(got[1:]), bits(want))
    assert np.isfinite(got[0])
    c = dg.tensor(np.full((3, 1, 2), -1.4587, np.float32), requires_grad=True)
    s = dg.std(c, dim=(0,))
    s.sum().backward()
    assert _np(s).tolist() == [[0.0, 0.0]] and not np.any(_np(c.grad))
    try:
        import torch
    except ImportError:
        return
    for v in (x, np.random.default_rng(5).standard_normal((7, 9)).astype(np.float32) * 50):
        t = torch.tensor(v)
        assert np.array_equal(bits(_np(dg.var(dg.tensor(v), 1))), bits(t.var(1).numpy()))
        assert np.array_equal(bits(_np(dg.std(dg.tensor(v), 0))), bits(t.std(0).numpy()))


@pytest.mark.parametrize("fn", ["max", "min"])
def test_full_max_min_vs_torch(fn):
    x = _salted(5, (4, 5))
    f, a = getattr(dg, fn), "a" + fn
    _vs_torch(lambda t: f(t), lambda t: getattr(t, fn)(), x, np.float32(inf))
    # amax(x) / amin(x) keep PyTorch's scale_grad_by_count (NaN at a NaN result)
    _vs_torch(lambda t: getattr(dg, a)(t), lambda t: getattr(t, a)(), x, np.float32(1))
    x[np.isnan(x)] = 2.0
    x[0, :3] = x.max() if fn == "max" else x.min()   # ties
    _vs_torch(lambda t: f(t), lambda t: getattr(t, fn)(), x, np.float32(3))


@pytest.mark.parametrize("dim", [None, 1, 0])
def test_prod_vs_torch(dim):
    for seed, zeros in ((6, 0.12), (7, 0.0)):
        x = _salted(seed, (5, 4), zeros=zeros)
        shape = () if dim is None else (x.shape[1 - dim],)
        _vs_torch(lambda t: dg.prod(t, dim) if dim is not None else dg.prod(t),
                  lambda t: t.prod(dim) if dim is not None else t.prod(),
                  x, np.full(shape, 1.5, np.float32))


@pytest.mark.parametrize("dim", [1, 0])
def test_cumprod_vs_torch(dim):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((6, 7)).astype(np.float32)
    x[rng.random(x.shape) < 0.25] = 0.0
    cot = rng.standard_normal(x.shape).astype(np.float32)
    cot[rng.random(x.shape) < 0.3] = inf
    _vs_torch(lambda t: dg.cumprod(t, dim), lambda t: t.cumprod(dim), x, cot)
