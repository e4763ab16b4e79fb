"""nn kernels at inf, NaN and -0.0: PyTorch's values and gradients, eagerly and through
dg.function over several calls (the same bits). Each case is one difference a special-value
sweep found (tests/special_values_report.md, B4-B8, C9):

- B4 max_pool2d: a padded window of -inf only pointed into the padding (negative indices, its
  gradient dropped); PyTorch keeps the first element that is not padding;
- B5 max_pool2d: of several NaNs in a window PyTorch picks the last (`val > max || isnan(val)`);
- B6 adaptive_avg_pool2d / interpolate(mode='area'): the 0/1 window matrices made 0 * inf = NaN
  in every window of a plane (forward on uneven windows, backward always);
- B7 interpolate(mode='linear'), 1-D: the unit height's x * 1 + x * 0 made NaN of an inf (and
  PyTorch's 1-D kernel rounds once, an FMA: a -0.0 where two products cancel);
- B8 conv2d's input gradient at unit stride (also conv_transpose2d, and conv2d_weight_grad's
  gradient w.r.t. x): an inf/NaN weight times the zero slack of the flat grid leaked NaN into
  the next row;
- C9 nll_loss / cross_entropy (numpy kernels and the numba loop): an inf/NaN upstream made NaN
  at ignored rows (g * False); PyTorch's are 0.

The expected numbers are PyTorch 2's (CPU), written out so that the cases run without torch;
test_*_vs_torch check the same kernels against torch itself on larger salted inputs."""
import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F
from dualgraph.ops import nn_ops as K
from special_value_checks import assert_values, bits, check_eager_and_compiled
from special_value_checks import numpy_of as _np

inf, nan = np.inf, np.nan


def A(v, dtype=np.float32):
    return np.array(v, dtype)


def _pool_attrs(k, s=None, p=0, d=1, ceil=False):
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)   # noqa: E731
    return dict(kernel_size=pair(k), stride=pair(k if s is None else s), padding=pair(p),
                dilation=pair(d), ceil_mode=ceil)


def _select(gg, x, **a):
    return dg.ops.apply(K.max_pool2d_select_op, gg, x, **a)


def _weight_grad_x(x, w, gg):
    """<conv2d_weight_grad(x, g), gg> (g ones), whose gradient w.r.t. x is
    conv2d_input_grad(g, gg): gg, weight-shaped, in the role of the weight."""
    w = dg.tensor(w, requires_grad=True)
    y = F.conv2d(x, w)
    gw, = dg.autograd.grad([y], [w], [dg.ones_like(y)], create_graph=True)
    return (gw * dg.tensor(gg)).sum()


# name -> (fn, float inputs (all differentiated), other inputs, cotangent of the first output,
#          expected outputs, expected gradients of the float inputs)
CASES = {
    "B4 max_pool2d: a padded window of -inf only": (
        lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True),
        (np.full((1, 1, 3, 3), -inf, np.float32),), (), np.ones((1, 1, 2, 2), np.float32),
        [np.full((1, 1, 2, 2), -inf, np.float32), A([[[[0, 1], [3, 4]]]], np.int64)],
        [A([[[[1, 1, 0], [1, 1, 0], [0, 0, 0]]]])]),
    "B4 max_pool2d: -inf windows next to a finite maximum": (
        lambda x: F.max_pool2d(x, 2, 1, 1, return_indices=True),
        (A([[[-inf, -inf], [-inf, 5]]]),), (), A([[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]),
        [A([[[-inf, -inf, -inf], [-inf, 5, 5], [-inf, 5, 5]]]),
         A([[[0, 0, 1], [0, 3, 3], [2, 3, 3]]], np.int64)],
        [A([[[7, 3], [7, 28]]])]),
    "B5 max_pool2d: the last of two NaNs": (
        lambda x: F.max_pool2d(x, 2, return_indices=True), (A([[[[nan, 1], [nan, 2]]]]),), (),
        np.ones((1, 1, 1, 1), np.float32),
        [A([[[[nan]]]]), A([[[[2]]]], np.int64)], [A([[[[0, 0], [1, 0]]]])]),
    "B5 max_pool2d: NaNs per window, finite ties to the first": (
        lambda x: F.max_pool2d(x, 2, return_indices=True),
        (A([[[[nan, 1, 5, nan, 4, 4], [2, nan, nan, 3, 4, 1]]]]),), (), A([[[[1, 2, 3]]]]),
        [A([[[[nan, nan, 4]]]]), A([[[[7, 8, 4]]]], np.int64)],
        [A([[[[0, 0, 0, 0, 3, 0], [0, 1, 2, 0, 0, 0]]]])]),
    "B5 max_pool2d_select (the double backward) at the last NaN": (
        lambda gg, x: _select(gg, x, **_pool_attrs(3, 2, 1)),
        (A([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]]),),
        (A([[[[nan, 0, nan], [1, nan, 1], [nan, 7, 0]]]]),), A([[[[1, 10], [100, 1000]]]]),
        [A([[[[5, 5], [7, 5]]]])], [A([[[[0, 0, 0], [0, 1011, 0], [100, 0, 0]]]])]),
    "B6 adaptive_avg_pool2d: uneven windows, an inf": (
        lambda x: F.adaptive_avg_pool2d(x, (1, 2)), (A([[[[inf, 1, 2]]]]),), (),
        A([[[[1, 1]]]]), [A([[[[inf, 1.5]]]])], [A([[[[0.5, 1, 0.5]]]])]),
    "B6 adaptive_avg_pool2d: an inf upstream, equal windows": (
        lambda x: F.adaptive_avg_pool2d(x, (1, 2)), (A([[[[1, 1, 2, 2]]]]),), (),
        A([[[[1, inf]]]]), [A([[[[1, 2]]]])], [A([[[[0.5, 0.5, inf, inf]]]])]),
    "B6 adaptive_avg_pool2d: an inf upstream, uneven windows": (
        lambda x: F.adaptive_avg_pool2d(x, (1, 2)), (A([[[[1, 2, 3]]]]),), (),
        A([[[[inf, 1]]]]), [A([[[[1.5, 2.5]]]])], [A([[[[inf, inf, 0.5]]]])]),
    "B6 interpolate(mode='area')": (
        lambda x: F.interpolate(x, size=(2, 2), mode="area"),
        (A([[[[inf, 1, 2], [1, 2, 3], [nan, 0, 4]]]]),), (), A([[[[1, 2], [inf, 4]]]]),
        [A([[[[inf, 2], [nan, 2.25]]]])],
        [A([[[[0.25, 0.75, 0.5], [inf, inf, 1.5], [inf, inf, 1]]]])]),
    "B7 interpolate(mode='linear'): an inf input": (
        lambda x: F.interpolate(x, size=3, mode="linear"), (A([[[inf, 1]]]),), (),
        A([[[1, 1, 1]]]), [A([[[inf, inf, 1]]])], [A([[[1.5, 1.5]]])]),
    "B7 interpolate(mode='linear'): an inf upstream": (
        lambda x: F.interpolate(x, size=3, mode="linear", align_corners=True),
        (A([[[1, 2]]]),), (), A([[[inf, 1, 1]]]), [A([[[1, 1.5, 2]]])], [A([[[inf, nan]]])]),
    "B8 conv2d: an inf weight, the input gradient": (
        F.conv2d, (np.ones((1, 1, 2, 3), np.float32), A([[[[1, inf]]]])), (),
        np.ones((1, 1, 2, 2), np.float32), [np.full((1, 1, 2, 2), inf, np.float32)],
        [A([[[[1, inf, inf], [1, inf, inf]]]]), A([[[[4, 4]]]])]),
    "B8 conv2d: a NaN weight, the input gradient": (
        F.conv2d, (np.ones((1, 1, 3, 3), np.float32), A([[[[1, 2], [nan, 1]]]])), (),
        np.ones((1, 1, 2, 2), np.float32), [np.full((1, 1, 2, 2), nan, np.float32)],
        [A([[[[1, 3, 2], [nan, nan, 3], [nan, nan, 1]]]]), A([[[[4, 4], [4, 4]]]])]),
    "B8 conv_transpose2d: an inf weight": (
        lambda x: F.conv_transpose2d(x, dg.tensor(A([[[[1, inf], [2, 1]]]]))),
        (np.ones((1, 1, 2, 2), np.float32),), (), None,
        [A([[[[1, inf, inf], [3, inf, inf], [2, 3, 1]]]])], []),
    "B8 conv2d_weight_grad: its gradient w.r.t. x, an inf cotangent": (
        lambda x: _weight_grad_x(x, A([[[[1, 2]]]]), A([[[[1, inf]]]])),
        (np.ones((1, 1, 2, 3), np.float32),), (), np.float32(1),
        [np.float32(inf)], [A([[[[1, inf, inf], [1, inf, inf]]]])]),
    "C9 nll_loss sum: an inf upstream, an ignored row": (
        lambda x, t: F.nll_loss(x, t, reduction="sum"), (A([[-1, -2], [-.5, -1]]),),
        (np.array([0, -100]),), np.float32(inf), [np.float32(1)], [A([[-inf, 0], [0, 0]])]),
    "C9 nll_loss mean: a NaN upstream": (
        lambda x, t: F.nll_loss(x, t), (A([[-1, -2], [-.5, -1], [-3, -4]]),),
        (np.array([1, -100, 0]),), np.float32(nan), [np.float32(2.5)],
        [A([[0, nan], [0, 0], [nan, 0]])]),
    "C9 nll_loss none: ignore_index a class": (
        lambda x, t: F.nll_loss(x, t, reduction="none", ignore_index=1),
        (A([[-1, -2], [-.5, -1], [-3, -4]]),), (np.array([1, 1, 0]),), A([inf, -inf, 2]),
        [A([0, 0, 3])], [A([[0, 0], [0, 0], [-2, 0]])]),
    "C9 cross_entropy sum: an inf upstream, an ignored row": (
        lambda x, t: F.cross_entropy(x, t, reduction="sum"), (A([[1, 2], [.5, 1]]),),
        (np.array([0, -100]),), np.float32(inf), [np.float32(1.3132616)],
        [A([[nan, inf], [0, 0]])]),
    "C9 cross_entropy mean: a -inf upstream": (
        lambda x, t: F.cross_entropy(x, t), (A([[1, 2, 0], [.5, 1, 3], [0, 0, 0]]),),
        (np.array([2, -100, 1]),), np.float32(-inf), [np.float32(1.7531091)],
        [A([[-inf, -inf, nan], [0, 0, 0], [-inf, nan, -inf]])]),
    "C9 cross_entropy none: a NaN upstream at the ignored row": (
        lambda x, t: F.cross_entropy(x, t, reduction="none"), (A([[1, 2], [.5, 1]]),),
        (np.array([0, -100]),), A([2, nan]), [A([1.3132616, 0])],
        [A([[-1.4621172, 1.4621172], [0, 0]])]),
}


def _flat(r):
    return list(r) if isinstance(r, (tuple, list)) else [r]


def _step(fn, n_float, cot):
    def step(*ts):
        outs = _flat(fn(*ts))
        if cot is None:
            return outs
        xs = list(ts[:n_float])
        return outs + list(dg.autograd.grad([outs[0]], xs, [dg.tensor(cot)]))
    return step


def _feeds(floats, others, cot):
    return [dg.tensor(a.copy(), requires_grad=cot is not None) for a in floats] + \
        [dg.tensor(a.copy()) for a in others]


@pytest.mark.parametrize("name", list(CASES))
def test_case_eager_and_compiled(name):
    """PyTorch's numbers eagerly, and dg.function's are the same bits over three calls."""
    fn, floats, others, cot, want_out, want_grad = CASES[name]
    step = _step(fn, len(floats), cot)
    check_eager_and_compiled(name, step, lambda: _feeds(floats, others, cot), want_out + want_grad)


def test_interpolate_linear_1d_zero_sign():
    """PyTorch's 1-D kernel rounds x0 * w0 + (x1 * w1) once: 1e-40 * 0.49999988 and
    -1e-40 * 0.5000001 (its weights at position 3) cancel to -0.0, not +0.0."""
    x = A([[[-1.4571674, 1e-40, -1e-40, -1e30]]])
    want = A([[[-1.4571674, -0.93675035, -0.10408334, -0.0, -7.142878e28, -6.428573e29, -1e30]]])
    fn = lambda t: F.interpolate(t, size=7, mode="linear")   # noqa: E731
    got = _np(fn(dg.tensor(x)))
    assert_values(got, want, "interpolate")
    assert np.array_equal(np.signbit(got), np.signbit(want)), got
    compiled = dg.function(fn, autograph=False)
    for _ in range(3):
        assert np.array_equal(bits(_np(compiled(dg.tensor(x)))), bits(got))


@pytest.mark.parametrize("name", [n for n in CASES
                                  if n.startswith("C9 cross_entropy") and "none" not in n])
def test_cross_entropy_numba_loop(name, numba_fusion):
    """The numba backend's loop (mean and sum): 0 at ignored rows too, eager and compiled."""
    from dualgraph.ops import numba_loops
    _, floats, others, _, _, _ = CASES[name]
    assert numba_loops.cross_entropy(floats[0], others[0], -100, "sum") is not None   # it applies
    test_case_eager_and_compiled(name)


# ---------------------------------------------------------------- against torch, salted inputs
def _t():
    return pytest.importorskip("torch")


def _salted(seed, shape, p_inf=0.1, p_ninf=0.1, p_nan=0.06, ties=0.0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    u = rng.random(shape)
    if ties:
        x[u > 1 - ties] = rng.integers(-1, 2, int(np.sum(u > 1 - ties)))
    x[u < p_inf] = inf
    x[(u >= p_inf) & (u < p_inf + p_ninf)] = -inf
    x[(u >= 0.5) & (u < 0.5 + p_nan)] = nan
    return x.astype(dtype)


def _vs_torch(fn_dg, fn_t, floats, others=(), cot=None, rtol=2e-6, grads=True):
    """outputs and gradients of the float inputs (for cotangent cot of the first output)."""
    torch = _t()
    xs = [dg.tensor(a.copy(), requires_grad=True) for a in floats]
    outs = _flat(fn_dg(*xs, *[dg.tensor(a) for a in others]))
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in floats]
    touts = _flat(fn_t(*ts, *[torch.tensor(a) for a in others]))
    for k, (a, b) in enumerate(zip(outs, touts)):
        assert_values(_np(a), b.detach().numpy(), f"output {k}", rtol=rtol)
    if grads:
        cot = np.ones(outs[0].shape, _np(outs[0]).dtype) if cot is None else cot
        gs = dg.autograd.grad([outs[0]], xs, [dg.tensor(cot)])
        gts = torch.autograd.grad([touts[0]], ts, [torch.tensor(cot)])
        for k, (a, b) in enumerate(zip(gs, gts)):
            assert_values(_np(a), b.numpy(), f"gradient {k}", rtol=rtol, atol=1e-6)


POOLS = [_pool_attrs(3, 2, 1), _pool_attrs(2, 2, 1, ceil=True), _pool_attrs(3, 1, 1),
         _pool_attrs((3, 2), (2, 1), (1, 0), (1, 2)), _pool_attrs(2)]


@pytest.mark.parametrize("a", POOLS, ids=lambda a: "-".join(
    k[0] + "x".join(map(str, a[k])) for k in ("kernel_size", "stride", "padding", "dilation"))
    + ("-ceil" if a["ceil_mode"] else ""))
def test_max_pool2d_vs_torch(a):
    """Values, indices, the gradient (max_pool2d_backward) and the double backward's gather
    (max_pool2d_select) on inputs full of -inf, NaNs and ties."""
    torch = _t()
    x = _salted(11, (2, 3, 7, 6), p_inf=0.0, p_ninf=0.5, p_nan=0.12, ties=0.4)
    out = [K.pool_out_len(s, k, st, p, d, a["ceil_mode"]) for s, k, st, p, d in zip(
        x.shape[2:], a["kernel_size"], a["stride"], a["padding"], a["dilation"])]
    cot = np.random.default_rng(12).standard_normal((2, 3, *out)).astype(np.float32)
    kw = dict(a)
    _vs_torch(lambda t: F.max_pool2d(t, return_indices=True, **kw),
              lambda t: torch.nn.functional.max_pool2d(t, return_indices=True, **kw), [x], cot=cot)
    gg = np.random.default_rng(13).standard_normal(x.shape).astype(np.float32)
    _, idx = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True, **kw)
    want = torch.tensor(gg).flatten(2).gather(2, idx.flatten(2)).view_as(idx).numpy()
    assert_values(_np(_select(dg.tensor(gg), dg.tensor(x), **a)), want, "max_pool2d_select")


@pytest.mark.parametrize("shape,out", [((2, 3, 7, 5), (3, 2)), ((2, 2, 6, 8), (3, 4)),
                                       ((1, 2, 3, 4), (5, 7)), ((2, 2, 6, 9), (2, 3))])
def test_adaptive_avg_pool2d_vs_torch(shape, out):
    torch = _t()
    x = _salted(21, shape, 0.05, 0.05, 0.03)
    cot = _salted(22, shape[:2] + out, 0.1, 0.1, 0.05)
    _vs_torch(lambda t: F.adaptive_avg_pool2d(t, out),
              lambda t: torch.nn.functional.adaptive_avg_pool2d(t, out), [x], cot=cot)
    _vs_torch(lambda t: F.interpolate(t, size=out, mode="area"),
              lambda t: torch.nn.functional.interpolate(t, size=out, mode="area"), [x], cot=cot)


@pytest.mark.parametrize("kw", [dict(size=11), dict(size=4, align_corners=True),
                                dict(scale_factor=1.7), dict(size=5)])
def test_interpolate_linear_1d_vs_torch(kw):
    """Salted with infinities, NaNs, 1e30 and subnormals: the same values, and the same zero
    signs (PyTorch's rounding of x0 * w0 + x1 * w1, the cancellations included)."""
    torch = _t()
    rng = np.random.default_rng(31)
    x = _salted(31, (3, 4, 7), 0.06, 0.06, 0.03)
    x[rng.random(x.shape) < 0.1] = 1e30
    sub = rng.random(x.shape) < 0.15
    x[sub] = rng.choice(A([1e-40, -1e-40, 0.0, -0.0]), int(sub.sum()))
    n = kw.get("size") or int(7 * kw["scale_factor"])
    cot = _salted(32, (3, 4, n), 0.1, 0.1, 0.05)
    _vs_torch(lambda t: F.interpolate(t, mode="linear", **kw),
              lambda t: torch.nn.functional.interpolate(t, mode="linear", **kw), [x], cot=cot,
              rtol=1e-5)
    got = _np(F.interpolate(dg.tensor(x), mode="linear", **kw))
    want = torch.nn.functional.interpolate(torch.tensor(x), mode="linear", **kw).numpy()
    zero = want == 0
    assert np.array_equal(got == 0, zero)
    assert np.array_equal(np.signbit(got[zero]), np.signbit(want[zero]))


@pytest.mark.parametrize("groups,dilation,padding", [(1, 1, 0), (2, 1, 1), (1, 2, 0)])
def test_conv2d_input_grad_vs_torch(groups, dilation, padding):
    """Unit stride, inf/NaN weights: the input gradient, conv_transpose2d's forward and the
    weight gradient's gradient w.r.t. x (float64: PyTorch's float32 kernel leaves out some
    products with its zero padding, so an inf weight there gives inf, not the NaN of the
    definition, which float64 gives)."""
    torch = _t()
    x = np.random.default_rng(41).standard_normal((2, 4, 6, 7))
    w = _salted(42, (4, 4 // groups, 3, 2), 0.08, 0.08, 0.05, dtype=np.float64)
    kw = dict(groups=groups, dilation=dilation, padding=padding)
    _vs_torch(lambda a, b: F.conv2d(a, b, **kw),
              lambda a, b: torch.nn.functional.conv2d(a, b, **kw), [x, w])
    g = np.random.default_rng(43).standard_normal((2, 4, 5, 6))
    kt = dict(groups=groups, dilation=dilation)
    _vs_torch(lambda a: F.conv_transpose2d(a, dg.tensor(w), **kt),
              lambda a: torch.nn.functional.conv_transpose2d(a, torch.tensor(w), **kt), [g],
              grads=False)

    w0 = np.random.default_rng(44).standard_normal(w.shape)

    def wgx(a, conv2d, grad, ones_like, tensor):   # <weight gradient, w>: w in the role of a weight
        b = tensor(w0, requires_grad=True)
        y = conv2d(a, b, **kw)
        gw, = grad([y], [b], [ones_like(y)], create_graph=True)
        return (gw * tensor(w)).sum()
    _vs_torch(lambda a: wgx(a, F.conv2d, dg.autograd.grad, dg.ones_like, dg.tensor),
              lambda a: wgx(a, torch.nn.functional.conv2d, torch.autograd.grad, torch.ones_like,
                            torch.tensor), [x], cot=np.float64(1.0))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_nll_and_cross_entropy_vs_torch(reduction, ignore_index):
    torch = _t()
    rng = np.random.default_rng(51)
    x = rng.standard_normal((9, 4)).astype(np.float32)
    t = rng.integers(0, 4, 9)
    t[[1, 4, 7]] = ignore_index
    for g in (inf, -inf, nan, 1.5):
        cot = np.float32(g) if reduction != "none" else \
            rng.choice(A([inf, -inf, nan, 2.0]), 9).astype(np.float32)
        kw = dict(reduction=reduction, ignore_index=ignore_index)
        _vs_torch(lambda a, b: F.cross_entropy(a, b, **kw),
                  lambda a, b: torch.nn.functional.cross_entropy(a, b, **kw), [x], [t], cot=cot)
        logp = np.log(np.exp(x) / np.exp(x).sum(1, keepdims=True)).astype(np.float32)
        _vs_torch(lambda a, b: F.nll_loss(a, b, **kw),
                  lambda a, b: torch.nn.functional.nll_loss(a, b, **kw), [logp], [t], cot=cot)
