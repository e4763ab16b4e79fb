"""Small PyTorch 2.13 parity fixes, each checked against torch, eagerly and as a dg.function
(called several times), values and gradients:

- quantile / nanquantile: a tensor q that requires grad gets PyTorch's gradient (linear
  interpolation differentiates its weights: (above - below) * d(rank)/dq; the other modes
  give q no gradient, None);
- addmm / addmv / baddbmm / addbmm with beta=0: the input is not read (its NaN and inf do not
  reach the result), and its gradient is PyTorch's beta * grad (zeros, NaN where grad is inf
  or NaN, the zero's sign that of grad), not None;
- clamp (and clamp_min / clamp_max, clamp_): a tie at +-0.0 keeps x (its sign), x gets the
  gradient on a tie; a NaN x stays NaN when min > max; tensor bounds, with PyTorch's gradients
  for x, min and max;
- lr_scheduler: step() before the first optimizer.step() warns as PyTorch does, once per
  scheduler, and only where PyTorch does.
"""
import warnings

import numpy as np
import pytest

import dualgraph as dg

torch = pytest.importorskip("torch")

nan, inf = np.nan, np.inf


# ---------------------------------------------------------------- helpers
def _torch_run(fn, arrays, needs, cot):
    xs = [torch.tensor(a, requires_grad=n) if isinstance(a, np.ndarray) else a
          for a, n in zip(arrays, needs)]
    y = fn(torch, *xs)
    wanted = [x for x, n in zip(xs, needs) if n]
    gs = [None] * len(wanted)
    if y.requires_grad:   # (quantile(x, q, interpolation='lower') with only q requiring grad: none)
        gs = torch.autograd.grad(y, wanted, torch.tensor(cot), allow_unused=True)
    return y.detach().numpy(), [None if g is None else g.numpy() for g in gs]


def _dg_runs(fn, arrays, needs, cot, calls=3):
    """[eager, compiled call 1, compiled call 2, ...]: (value, grads of the inputs in needs)."""
    def body(c, *xs):
        y = fn(dg, *xs)
        wanted = [x for x, n in zip(xs, needs) if n]
        gs = [None] * len(wanted)
        if y.requires_grad:
            gs = dg.autograd.grad(y, wanted, c, allow_unused=True)
        return (y,) + tuple(gs)

    def args():
        return [dg.tensor(cot)] + [dg.tensor(a, requires_grad=n) if isinstance(a, np.ndarray) else a
                                   for a, n in zip(arrays, needs)]

    f = dg.function(body)
    out = []
    for run in [body] + [f] * calls:
        y, *gs = run(*args())
        out.append((y.detach().numpy(), [None if g is None else g.detach().numpy() for g in gs]))
    return out


def _same(a, b, what, exact=False, rtol=1e-6):
    """Equal values: NaN where NaN, each zero's sign too; bit for bit when exact (a NaN's sign
    and payload aside: kernels do not promise them)."""
    if a is None or b is None:
        assert a is None and b is None, f"{what}: {a!r} vs {b!r}"
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, f"{what}: {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
    if exact:
        if a.dtype.kind == "f":
            na, nb = np.isnan(a), np.isnan(b)
            assert (na == nb).all(), f"{what}: NaN at other places:\n{a!r}\n{b!r}"
            a, b = a[~na], b[~nb]
        assert a.tobytes() == b.tobytes(), f"{what}:\n{a!r}\n{b!r}"
        return
    np.testing.assert_allclose(a, b, rtol=rtol, atol=0, equal_nan=True, err_msg=what)
    if a.dtype.kind == "f":
        zeros = (a == 0) & (b == 0)
        np.testing.assert_array_equal(np.signbit(a[zeros]), np.signbit(b[zeros]), err_msg=what + " (zero signs)")


def _check(fn, arrays, needs, cot, exact_torch=False, rtol=1e-6):
    cot = np.asarray(cot, dtype=next(a.dtype for a in arrays if isinstance(a, np.ndarray)))
    want = _torch_run(fn, arrays, needs, cot)
    runs = _dg_runs(fn, arrays, needs, cot)
    eager = runs[0]
    for k, (y, gs) in enumerate(runs):
        mode = "eager" if k == 0 else f"dg.function call {k}"
        _same(y, want[0], f"{mode}: value", exact_torch, rtol)
        assert len(gs) == len(want[1])
        for i, (g, w) in enumerate(zip(gs, want[1])):
            _same(g, w, f"{mode}: grad {i}", exact_torch, rtol)
        if k:   # the compiled numbers are the eager ones, bit for bit
            _same(y, eager[0], f"{mode} vs eager: value", exact=True)
            for i, (g, e) in enumerate(zip(gs, eager[1])):
                _same(g, e, f"{mode} vs eager: grad {i}", exact=True)


# ---------------------------------------------------------------- 1. quantile's q gradient
_Q_X = np.array([[1.0, 4.0, 2.0, nan], [3.0, 0.0, 8.0, -1.0], [nan, nan, nan, nan],
                 [5.0, inf, 2.0, 3.0]])


@pytest.mark.parametrize("name", ["quantile", "nanquantile"])
@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantile_q_gradient(name, interpolation, dtype):
    x = _Q_X.astype(dtype)
    q = np.array([0.0, 0.3, 0.75, 1.0], dtype)
    # a dim with keepdim, q 1-d
    _check(lambda L, x, q: getattr(L, name)(x, q, dim=1, keepdim=True, interpolation=interpolation),
           [x, q], [True, True], np.arange(16, dtype=dtype).reshape(4, 4, 1) - 5)
    # every element (finite ones: quantile of a NaN is NaN), q 0-d, and q alone requiring grad
    xf = x[1].copy()
    _check(lambda L, x, q: getattr(L, name)(x, q, interpolation=interpolation),
           [xf, np.array(0.4, dtype)], [True, True], -2.0)
    _check(lambda L, x, q: getattr(L, name)(x, q, dim=0, interpolation=interpolation),
           [x[:2].copy(), np.array([0.25, 0.5], dtype)], [False, True], np.ones((2, 4)))


def test_quantile_q_gradient_second_order():
    """Higher order: the q gradient's own gradient (d2/dq2 = 0 for linear pieces) as PyTorch."""
    x = np.array([1.0, 3.0, 2.0, 5.0])
    q = np.array([0.3, 0.75])

    def second(L, x, q):
        y = L.quantile(x, q)
        (gq,) = L.autograd.grad(y.sum(), [q], create_graph=True)
        return gq * x[:2]

    _check(second, [x, q], [True, True], np.ones(2))


# ---------------------------------------------------------------- 2. addmm family, beta=0
_F = dict(
    addmm=(lambda L, i, a, b, **kw: L.addmm(i, a, b, **kw), (2, 3), (3, 2), [(2, 2), (2,)]),
    addmv=(lambda L, i, a, b, **kw: L.addmv(i, a, b, **kw), (2, 3), (3,), [(2,), ()]),
    baddbmm=(lambda L, i, a, b, **kw: L.baddbmm(i, a, b, **kw), (2, 2, 3), (2, 3, 2), [(2, 2, 2), (2, 1, 2)]),
    addbmm=(lambda L, i, a, b, **kw: L.addbmm(i, a, b, **kw), (2, 2, 3), (2, 3, 2), [(2, 2), (1, 2)]),
)


@pytest.mark.parametrize("name", sorted(_F))
@pytest.mark.parametrize("beta,alpha", [(0, 1), (0.0, 2.0), (0, -1.5), (0.5, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_addmm_family_beta_zero(name, beta, alpha, dtype):
    fn, sa, sb, inputs = _F[name]
    rng = np.random.default_rng(0)
    a = rng.standard_normal(sa).astype(dtype)
    b = rng.standard_normal(sb).astype(dtype)
    for si in inputs:
        inp = rng.standard_normal(si).astype(dtype)
        inp.reshape(-1)[:3] = [nan, inf, -inf][:inp.size]   # not read when beta is 0
        out_shape = torch.broadcast_shapes(si, fn(torch, torch.zeros(si, dtype=torch.float64),
                                                  torch.tensor(a, dtype=torch.float64),
                                                  torch.tensor(b, dtype=torch.float64)).shape)
        cot = rng.standard_normal(out_shape).astype(dtype)
        cot.reshape(-1)[:4] = [inf, nan, -2.0, -inf][:cot.size]   # beta * grad: NaN at inf and NaN, -0.0 at -2
        _check(lambda L, i, a, b: fn(L, i, a, b, beta=beta, alpha=alpha),
               [inp, a, b], [True, True, True], cot, rtol=1e-5)


def test_addmm_beta_zero_input_gradient_is_bitwise_torchs():
    inp = np.array([[nan, 1.0], [inf, -inf]], np.float32)
    a = np.eye(2, dtype=np.float32)
    cot = np.array([[-1.0, inf], [nan, 2.0]], np.float32)
    _check(lambda L, i, a: L.addmm(i, a, a, beta=0), [inp, a], [True, False], cot, exact_torch=True)
    _check(lambda L, i, a: L.addmm(i, a, a, beta=0), [inp[0].copy(), a], [True, False], cot,
           exact_torch=True)


def test_addmm_beta_zero_integers():
    x = np.array([[5, 6], [7, 8]], np.int64)
    want = torch.addmm(torch.tensor(x), torch.tensor(x), torch.tensor(x), beta=0).numpy()
    got = dg.addmm(dg.tensor(x), dg.tensor(x), dg.tensor(x), beta=0).numpy()
    assert got.dtype == want.dtype and (got == want).all()


# ---------------------------------------------------------------- 3. clamp at ties and with tensor bounds
_Z = [-0.0, 0.0]


@pytest.mark.parametrize("lo", [None, -0.0, 0.0, -1.0, 1.0, nan])
@pytest.mark.parametrize("hi", [None, -0.0, 0.0, -1.0, 1.0, nan])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clamp_number_bounds_ties_and_nan(lo, hi, dtype):
    if lo is None and hi is None:
        return
    x = np.array([-0.0, 0.0, -1.0, 1.0, nan, inf, -inf], dtype)
    cot = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], dtype)
    _check(lambda L, x: L.clamp(x, lo, hi), [x], [True], cot, exact_torch=True)
    _check(lambda L, x: x.clip(min=lo, max=hi), [x], [True], cot, exact_torch=True)
    if hi is None:
        _check(lambda L, x: L.clamp_min(x, lo), [x], [True], cot, exact_torch=True)
    if lo is None:
        _check(lambda L, x: L.clamp_max(x, hi), [x], [True], cot, exact_torch=True)
    _check(lambda L, x: (x * 1).clamp_(lo, hi), [x], [True], cot, exact_torch=True)


# small tensors: PyTorch's vectorised CPU loop (16 float32 or 8 float64 elements at a time)
# returns the bound's zero on a +-0.0 tie; its scalar loop, for the rest, keeps x, as dualgraph
_V = np.array([-0.0, 0.0, -1.0, 1.0, nan, 2.0, -2.0])


@pytest.mark.parametrize("lo", [None, -0.0, 0.0, -1.0, 1.0, nan])
@pytest.mark.parametrize("hi", [None, -0.0, 0.0, -1.0, 1.0, nan])
def test_clamp_tensor_bounds(lo, hi):
    if lo is None and hi is None:
        return
    x = _V.astype(np.float32)
    arrays, needs = [x], [True]
    for v in (lo, hi):
        if v is not None:   # each bound a tensor: a constant, with the other values as ties too
            arrays.append(np.roll(_V, 1).astype(np.float32) if v == 1.0 else np.full(7, v, np.float32))
            needs.append(True)

    def fn(L, x, *b):
        it = iter(b)
        mn = next(it) if lo is not None else None
        mx = next(it) if hi is not None else None
        return L.clamp(x, mn, mx)

    _check(fn, arrays, needs, np.arange(1.0, 8.0), exact_torch=True)


def test_clamp_tensor_bounds_broadcast_mixed_and_equal():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3))
    lo = rng.standard_normal((3,)) - 0.5
    hi = lo + rng.random((2, 1))
    cot = rng.standard_normal((2, 3))
    _check(lambda L, x, lo, hi: L.clamp(x, lo, hi), [x, lo, hi], [True, True, True], cot, exact_torch=True)
    # a 0-d bound that needs no gradient passes as a number beside a number
    _check(lambda L, x: L.clamp(x, L.tensor(-0.25, dtype=L.float64), 0.25), [x], [True], cot, exact_torch=True)
    # min == max, and min > max: PyTorch's rules say who gets the gradient
    _check(lambda L, x, lo: L.clamp(x, lo, lo), [x, lo], [True, True], cot, exact_torch=True)
    _check(lambda L, x, lo, hi: L.clamp(x, hi, lo), [x, lo, hi], [True, True, True], cot, exact_torch=True)
    # integers with a float tensor bound: PyTorch's promotion
    xi = np.array([-2, 0, 3])
    _check(lambda L, x, lo: L.clamp(x, lo, L.tensor(2.5)), [xi, np.array([-1.5, 0.5, 0.0])], [False, False],
           np.ones(3))
    _check(lambda L, x: L.clamp(x, L.tensor(1.5, dtype=L.float64), 3), [xi], [False], np.ones(3))
    # in place
    _check(lambda L, x, lo, hi: (x * 1).clamp_(lo, hi), [x, lo, hi], [True, True, True], cot, exact_torch=True)


@pytest.mark.parametrize("call", [
    lambda L, x: L.clamp(x, L.zeros(3), 0.25),
    lambda L, x: L.clip(x, 0.25, L.zeros(3)),
    lambda L, x: L.clamp(x, min=L.zeros(3), max=1),
    lambda L, x: L.clamp(x, L.zeros((), requires_grad=True), 1.0),
    lambda L, x: x.clamp(L.zeros(3), 0.25),
    lambda L, x: x.clip(0.25, L.zeros(3)),
    lambda L, x: x.clamp_(L.zeros(3), 0.25),
    lambda L, x: x.clip_(0.25, L.zeros(3)),
], ids=range(8))
def test_clamp_tensor_and_number_bounds_refused_as_torch(call):
    with pytest.raises(TypeError) as want:
        call(torch, torch.ones(3))
    with pytest.raises(dg.DualGraphError) as got:
        call(dg, dg.ones(3))
    assert isinstance(got.value, TypeError)
    assert str(got.value).replace("max=int, min=Tensor", "min=Tensor, max=int") in (
        str(want.value), str(want.value).replace("got (Tensor, max=int, min=Tensor)", "got (Tensor, Tensor, int)"))


def test_clamp_tensor_bound_errors():
    x = dg.ones(3)
    with pytest.raises(RuntimeError, match=r"The size of tensor a \(3\) must match the size of tensor b \(4\)"):
        dg.clamp(x, dg.zeros(4), dg.ones(3))
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max' must not be None"):
        dg.clamp(x, None, None)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        dg.tensor([1, 2, 3]).clamp_(dg.tensor([1.5, 2.5, 0.0]), dg.tensor([3.0]))


# ---------------------------------------------------------------- 4. lr_scheduler.step() before optimizer.step()
_BEFORE = "Detected call of `lr_scheduler.step()` before `optimizer.step()`"
_SCHEDS = {
    "LambdaLR": lambda S, o: S.LambdaLR(o, lambda e: 0.9 ** e),
    "MultiplicativeLR": lambda S, o: S.MultiplicativeLR(o, lambda e: 0.9),
    "StepLR": lambda S, o: S.StepLR(o, 2),
    "MultiStepLR": lambda S, o: S.MultiStepLR(o, [1, 2]),
    "ConstantLR": lambda S, o: S.ConstantLR(o),
    "LinearLR": lambda S, o: S.LinearLR(o),
    "ExponentialLR": lambda S, o: S.ExponentialLR(o, 0.9),
    "PolynomialLR": lambda S, o: S.PolynomialLR(o),
    "CosineAnnealingLR": lambda S, o: S.CosineAnnealingLR(o, 5),
    "CyclicLR": lambda S, o: S.CyclicLR(o, 0.01, 0.1),
    "CosineAnnealingWarmRestarts": lambda S, o: S.CosineAnnealingWarmRestarts(o, 3),
    "OneCycleLR": lambda S, o: S.OneCycleLR(o, 0.1, total_steps=10),
    "ReduceLROnPlateau": lambda S, o: S.ReduceLROnPlateau(o),
    "ChainedScheduler": lambda S, o: S.ChainedScheduler([S.StepLR(o, 2), S.ExponentialLR(o, 0.9)]),
    "SequentialLR": lambda S, o: S.SequentialLR(o, [S.ConstantLR(o), S.ExponentialLR(o, 0.9)], [2]),
}


def _warnings_of(L, name, scenario):
    p = L.zeros(1, requires_grad=True)
    opt = L.optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = L.ones(1)
    if scenario == "optimizer stepped before the scheduler was made":
        opt.step()
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        s = _SCHEDS[name](L.optim.lr_scheduler, opt)
        made = len(got)
        args = (1.0,) if name == "ReduceLROnPlateau" else ()
        if scenario == "optimizer first":
            opt.step()
        if scenario == "step overridden":
            opt.step = lambda *a, **k: None
        for _ in range(4 if scenario == "scheduler only" else 1):
            s.step(*args)
            if scenario == "optimizer first":
                opt.step()
    # (where it points: this file, the caller of step(), or the library's own ChainedScheduler)
    return made, [(w.category, str(w.message), w.filename == __file__) for w in got]


@pytest.mark.parametrize("scenario", ["scheduler only", "optimizer first", "step overridden",
                                      "optimizer stepped before the scheduler was made"])
@pytest.mark.parametrize("name", sorted(_SCHEDS))
def test_scheduler_step_before_optimizer_step_warns_as_torch(name, scenario):
    want = _warnings_of(torch, name, scenario)
    got = _warnings_of(dg, name, scenario)
    assert got == want   # the same count, category, wording, and place (stacklevel)


def test_scheduler_warning_wording_and_once():
    p = dg.zeros(1, requires_grad=True)
    opt = dg.optim.SGD([p], lr=0.1)
    s = dg.optim.lr_scheduler.StepLR(opt, 2)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler\.step\(\)` before `optimizer\.step\(\)`\. "
                                         r"In PyTorch 1\.1\.0 and later"):
        s.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step()   # once per scheduler
        s2 = dg.optim.lr_scheduler.ExponentialLR(opt, 0.5)
        p.grad = dg.ones(1)
        opt.step()
        s2.step()


def test_scheduler_no_warning_with_a_compiled_step():
    """The optimizer stepped inside a dg.function (traced once): no warning afterwards."""
    w = dg.zeros(3, requires_grad=True)
    opt = dg.optim.SGD([w], lr=0.1)
    sched = dg.optim.lr_scheduler.StepLR(opt, 2, 0.5)

    @dg.function
    def step(x):
        opt.zero_grad()
        loss = ((w - x) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        for i in range(4):
            step(dg.ones(3) * i)
            sched.step()
    assert opt.param_groups[0]["lr"] == 0.1 * 0.5 ** 2
