"""Elementwise fusion (graph/passes/fuse_elementwise.py): which steps group (no numba needed),
and, with numba, fused plans equal unfused ones (values, gradients, state over several calls)
within float32 rounding."""
import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F
from dualgraph.graph.passes import fuse_elementwise as FE
from dualgraph.ops.dispatch import apply
from dualgraph.ops.elementwise import relu_backward_op


@pytest.fixture
def fusion(tmp_path, monkeypatch):
    """Fusion on (numba), kernels cached in a temporary directory; off again afterwards."""
    pytest.importorskip("numba")
    monkeypatch.setenv("DUALGRAPH_CACHE_DIR", str(tmp_path))
    FE.set_fusion("numba")
    yield tmp_path
    FE.set_fusion(None)


def _chain(x, n=30):
    for i in range(n):
        r = i % 3
        x = x * 1.01 if r == 0 else (x + 0.5 if r == 1 else x.tanh())
    return x


def _chain_grad(x):
    x = x.detach().requires_grad_()
    loss = _chain(x).sum()
    g, = dg.autograd.grad(loss, [x])
    return loss, g


def _plan(fn, *args):
    f = dg.function(fn)
    out = f(*args)
    return f, out, f._traces[-1].plan


# ------------------------------------------------------------------ grouping (no numba)
def _steps(fn, *args):
    """The specialised steps of fn's plan, unfused."""
    f = dg.function(fn)
    f(*args)
    plan = f._traces[-1].plan
    from dualgraph.graph.plan import _fast_kernel
    known, steps = {}, []
    for s in plan.steps:
        if s.source is not None:
            shape, dtype = s.source.spec(s, {p.name: (np.shape(a), a.dtype) for p, a in
                                             zip(plan.feeds, [np.asarray(x.numpy()) for x in args])})
        else:
            from dualgraph.ops.registry import Spec
            sp = s.op.infer(*[Spec(*known[a]) if k == "node" else a for k, a in s.args], **s.attrs)
            shape, dtype = tuple(sp.shape), sp.dtype
        known[s.name] = (shape, dtype)
        fn_, takes = _fast_kernel(s, [known[a] for a in s.in_ids])
        steps.append(s.specialised(shape, dtype, fn_, takes, True))
    return steps, plan


def test_a_chain_forward_and_backward_make_one_group_each():
    steps, plan = _steps(_chain_grad, dg.ones(16))
    groups = FE.plan_groups(steps, plan.fetches)
    # the loss's input (the forward chain's end) and the gradient (the backward's end) are roots
    assert len(groups) == 2
    fwd, bwd = groups
    assert len(fwd[1]) == 30 and len(bwd[1]) > 30   # the backward recomputes the tanh outputs
    assert all(steps[m].kernel in FE.FUSIBLE for _, ms, _ in groups for m in ms)


def test_large_arrays_keep_numpys_transcendental_loops():
    steps, plan = _steps(_chain_grad, dg.ones(FE.SMALL + 1))
    groups = FE.plan_groups(steps, plan.fetches)
    assert groups and not any(steps[m].kernel is np.tanh for _, ms, _ in groups for m in ms)


def test_broadcasting_state_writes_and_single_steps_are_not_fused():
    def f(x, b):
        return (x + b) * 2.0        # b broadcasts: not fusible with x's shape
    steps, plan = _steps(f, dg.ones(4, 3), dg.ones(3))
    groups = FE.plan_groups(steps, plan.fetches)
    assert all(len(ms) >= 2 for _, ms, _ in groups)
    assert not any(steps[m].op.name == "add" for _, ms, _ in groups for m in ms)


def test_unknown_backend_and_missing_numba(monkeypatch):
    with pytest.raises(dg.DualGraphError, match="unknown fusion backend 'llvm'"):
        FE.set_fusion("llvm")
    before = FE.get_fusion()  # (None, or 'numba' under DUALGRAPH_FUSION=numba)
    monkeypatch.setattr(FE, "_numba_installed", lambda: False)
    with pytest.raises(dg.DualGraphError, match=r"pip install 'dualgraph\[fast\]'"):
        FE.set_fusion("numba")
    assert FE.get_fusion() == before  # a refused setting changes nothing
    # compile_kernel's own check (numba importable no more, or DUALGRAPH_FUSION set without it)
    import builtins
    real = builtins.__import__

    def no_numba(name, *a, **k):
        if name == "numba":
            raise ImportError("no numba")
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_numba)
    with pytest.raises(dg.DualGraphError, match=r"pip install 'dualgraph\[fast\]'"):
        FE.compile_kernel("def kernel(out):\n    pass\n")


# ------------------------------------------------------------------ fused plans (numba)
@pytest.mark.parametrize("n", [16, 200])
def test_fused_chain_equals_unfused(fusion, n, monkeypatch):
    from dualgraph.ops import numba_loops
    monkeypatch.setattr(numba_loops, "_KERNELS", {})   # (loaded through this test's cache dir)
    x = dg.tensor(np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1)
    FE.set_fusion(None)
    _, (l0, g0), p0 = _plan(_chain_grad, x)
    FE.set_fusion("numba")
    f, (l1, g1), p1 = _plan(_chain_grad, x)
    assert p1.stats["fused_kernels"] >= 1 and "fused_elementwise" in p1.source
    assert "fused_elementwise" not in p0.source
    for _ in range(3):      # buffers kept between runs
        l1, g1 = f(x)
        np.testing.assert_allclose(l1.numpy(), l0.numpy(), rtol=1e-5)
        np.testing.assert_allclose(g1.numpy(), g0.numpy(), rtol=1e-4)
    assert list(fusion.glob("dg_fused_*.py"))      # the kernel's module, on disk


def test_a_training_step_fused_equals_eager_over_calls(fusion):
    """Small layers (fusible tanh), SGD with momentum: loss, weights, .grad and the momentum
    buffers after every call equal the eager step's."""
    def make():
        dg.manual_seed(0)
        model = dg.nn.Sequential(dg.nn.Linear(3, 4), dg.nn.Tanh(), dg.nn.Linear(4, 2))
        opt = dg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            h = model(x)
            loss = F.mse_loss(h * 0.5 + h.tanh() * 2.0 - 1.0, y)
            loss.backward()
            opt.step()
            return loss
        return model, opt, step
    me, oe, se = make()
    mc, oc, sc = make()
    fc = dg.function(sc)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = dg.tensor(rng.standard_normal((2, 3)).astype(np.float32))
        y = dg.tensor(rng.standard_normal((2, 2)).astype(np.float32))
        np.testing.assert_allclose(float(fc(x, y)), float(se(x, y)), rtol=1e-5)
        for pe, pc in zip(me.parameters(), mc.parameters()):
            np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(pc.grad.numpy(), pe.grad.numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(oc.state[pc]["momentum_buffer"].numpy(),
                                       oe.state[pe]["momentum_buffer"].numpy(), rtol=1e-5, atol=1e-6)
    assert fc._traces[-1].plan.stats["fused_kernels"] >= 1
    assert len(fc._traces) == 1


def test_every_fusible_ufunc_matches_numpy(fusion):
    """One kernel using every ufunc of the table equals numpy's step-by-step result."""
    def f(a, b):
        t = (a + b) * (a - b) / (b + 3.0)
        t = -t + (a.abs().sqrt() + (a * 0.1).exp() + (b + 3.0).log() + (a.abs() * 0.5).log1p())
        t = t + a.sin() * b.cos() + t.tanh()
        return dg.maximum(t, a) + dg.minimum(t, b)
    rng = np.random.default_rng(1)
    a = dg.tensor(rng.standard_normal(32).astype(np.float32))
    b = dg.tensor(rng.standard_normal(32).astype(np.float32))
    want = f(a, b).numpy()
    got_f, got, plan = _plan(f, a, b)
    assert plan.stats["fused_kernels"] == 1
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-6, atol=1e-6)
    # float64 and NaN propagation (maximum keeps NaN, as numpy's)
    a64 = dg.tensor(np.array([np.nan, 1.0, -2.0], np.float64))
    b64 = dg.tensor(np.array([0.5, np.nan, 1.0], np.float64))
    np.testing.assert_allclose(_plan(f, a64, b64)[1].numpy(), f(a64, b64).numpy(), rtol=1e-12)


# ------------------------------------------------------------------ random programs, fused
import os  # noqa: E402

N_FUSED_PROGRAMS = int(os.environ.get("DG_FUSED_PROGRAMS", "12"))


@pytest.mark.parametrize("seed", range(N_FUSED_PROGRAMS))
def test_random_programs_fused_equal_unfused(fusion, seed):
    """The random-program generator's programs (tests/random_programs.py) under dg.function,
    twice each, with fusion on and off: every fetched value and input gradient agrees within
    float32 rounding (DG_FUSED_PROGRAMS=N runs more; each new kernel compiles in ~0.5 s)."""
    import random_programs as rp
    prog = rp.generate(seed)
    FE.set_fusion(None)
    plain = rp.run_function(prog)
    FE.set_fusion("numba")
    fused = rp.run_function(prog)
    assert_outcomes_close(plain, fused, prog.source())


@pytest.mark.parametrize("seed", range(N_FUSED_PROGRAMS))
def test_random_programs_eager_equals_fused_with_the_backend_on(fusion, seed):
    """With the numba backend on, eager code and the fused plan agree as eager code and the plain
    plan do with it off: bit for bit wherever those two are (the kernels that round differently
    from numpy's are numba's in both modes: ops/numba_loops.py), within the random-program
    test's tolerance elsewhere (a plan may sum a few terms in another order)."""
    import random_programs as rp
    prog = rp.generate(seed)
    FE.set_fusion(None)
    eager_off, plain = rp.run_eager(prog), rp.run_function(prog)[0]
    FE.set_fusion("numba")
    eager_on = rp.run_eager(prog)
    bitwise = eager_off.error is None and plain.error is None and \
        rp.compare_outcomes(eager_off, plain, exact="same plan") == []
    for fused in rp.run_function(prog):
        assert (eager_on.error is None) == (fused.error is None), (eager_on.error, fused.error, prog.source())
        if eager_on.error is None:
            exact = "same plan" if bitwise else True
            assert rp.compare_outcomes(eager_on, fused, exact=exact) == [], prog.source()


def assert_outcomes_close(plain, fused, source):
    """Two runs' Outcomes (tests/random_programs.py) agree call by call: the same errors, the
    same values within float32 rounding (fused transcendentals may differ by an ulp)."""
    assert len(plain) == len(fused)
    for a, b in zip(plain, fused):
        assert (a.error is None) == (b.error is None), (a.error, b.error, source)
        if a.error is not None:
            continue
        assert set(a.values) == set(b.values)
        for k in a.values:
            x, y = np.asarray(a.values[k]), np.asarray(b.values[k])
            assert x.shape == y.shape and x.dtype == y.dtype, k
            if x.dtype.kind == "f":
                np.testing.assert_allclose(y, x, rtol=2e-5, atol=1e-6, equal_nan=True,
                                           err_msg=f"{k}\n{source}")
            else:
                np.testing.assert_array_equal(y, x, err_msg=k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [7, 4096])
def test_fused_relu_gradient_is_numpys_bit_for_bit(fusion, dtype, n):
    """relu_backward alone is one loop (MULTI_PASS: numpy takes four passes), and inside a chain
    it is inlined; both give the numpy kernel's bits, PyTorch's threshold_backward: a NaN output
    passes its gradient, a masked gradient is +0.0 (negative, NaN and infinite ones too), a kept
    -0.0 stays -0.0."""
    rng = np.random.default_rng(n)
    g = rng.standard_normal(n).astype(dtype)
    y = np.maximum(rng.standard_normal(n), 0).astype(dtype)
    y[:4] = [np.nan, 0.0, -0.0, np.inf]
    g[4:7] = [np.nan, -np.inf, -1.0]
    y[4:7] = [0.0, 0.0, 0.0]
    g[0], g[3] = -0.0, -0.0
    for fn in (_relu_grad, lambda a, b: _relu_grad(a * 2.0 + 1.0, b) * 0.5):
        want = fn(dg.tensor(g), dg.tensor(y)).numpy()
        f, got, plan = _plan(fn, dg.tensor(g), dg.tensor(y))
        assert plan.stats["fused_kernels"] == 1
        np.testing.assert_array_equal(got.numpy(), want)
        assert np.array_equal(np.signbit(got.numpy()), np.signbit(want))
    want = _relu_grad(dg.tensor(g), dg.tensor(y)).numpy()
    assert np.array_equal(np.signbit(want[[0, 3, 4, 5, 6]]), [True, True, False, False, False])
    assert not np.isnan(want[4:7]).any()


def _relu_grad(g, y):
    return apply(relu_backward_op, g, y)
