"""The numba backend's kernels that round differently from numpy's (ops/numba_loops.py): with
`dg.set_fusion("numba")` they are numba's in eager code and in compiled plans alike, so the two
modes give the same bits; without it both use numpy's.

- cross_entropy forward and backward as one loop each: equal to numpy's kernels within float
  rounding (mean, sum, float64, ignored rows, every row ignored, NaN and infinite logits), the
  same PyTorch error for a target out of range, reduction "none" left to numpy;
- exp, log, log1p, sin, cos, tanh on arrays of at most SMALL elements: numba's scalar functions
  (the ones the fusion pass inlines), numpy's on bigger arrays;
- training over several calls (SGD momentum, Adam, a StepLR): eager with the backend on equals
  the fused compiled step bit for bit, in every loss, weight, .grad and optimizer state;
- a plan specialised under one setting is specialised again when the setting changes."""
import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F
from dualgraph.graph.passes import fuse_elementwise as FE
from dualgraph.ops import numba_loops as L

from test_fusion import fusion, _chain  # noqa: F401  (the fixture: numba on, kernels in a temp dir)
from test_fuse_updates import _mlp, _data, _records


def _logits(n=16, c=7, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)).astype(dtype) * 3, rng.integers(0, c, n)


def _loss_and_grad(x, y, reduction="mean", ignore_index=-100):
    x = dg.tensor(x, requires_grad=True)
    loss = F.cross_entropy(x, dg.tensor(y), ignore_index=ignore_index, reduction=reduction)
    g, = dg.autograd.grad(loss, [x])
    return loss.detach().numpy(), g.numpy()


def _on_and_off(fn, *args):
    """fn's results with the backend off (numpy's kernels), then on (numba's)."""
    FE.set_fusion(None)
    off = fn(*args)
    FE.set_fusion("numba")
    return off, fn(*args)


# ------------------------------------------------------------------ cross_entropy
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_loss_loops_equal_numpys_kernels_within_rounding(fusion, dtype, reduction):
    x, y = _logits(dtype=dtype)
    assert L.cross_entropy(x, y, -100, reduction) is not None      # the loop takes it
    off, on = _on_and_off(_loss_and_grad, x, y, reduction)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(off, on):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * 1e-2)


def test_ignored_rows_as_numpys_kernel(fusion):
    x, y = _logits()
    y[[1, 4, 5]] = -100
    off, on = _on_and_off(_loss_and_grad, x, y)
    for a, b in zip(off, on):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
    assert not on[1][[1, 4, 5]].any()       # ignored rows get no gradient


def test_every_row_ignored_gives_nan_as_numpys_kernel(fusion):
    x, y = _logits(n=4)
    y[:] = 3
    off, on = _on_and_off(_loss_and_grad, x, y, "mean", 3)
    assert np.isnan(off[0]) and np.isnan(on[0])
    np.testing.assert_array_equal(np.isnan(on[1]), np.isnan(off[1]))


def test_nan_and_infinite_logits_as_numpys_kernel(fusion):
    x, y = _logits(n=5)
    x[0, 2] = np.nan
    x[1, 0] = np.inf
    x[2, :] = -np.inf
    x[3, 1] = -np.inf
    off, on = _on_and_off(_loss_and_grad, x, y, "sum")
    np.testing.assert_array_equal(np.isnan(on[1]), np.isnan(off[1]))
    ok = ~np.isnan(off[1])
    np.testing.assert_allclose(on[1][ok], off[1][ok], rtol=1e-5, atol=1e-7)
    assert np.isnan(off[0]) == np.isnan(on[0])


@pytest.mark.parametrize("bad", [7, -1, 12])
def test_a_target_out_of_range_raises_pytorchs_error_in_both_modes(fusion, bad):
    x, y = _logits()
    y[3] = bad
    errors = []
    for backend in (None, "numba"):
        FE.set_fusion(backend)
        for run in (lambda a, b: _loss_and_grad(a, b), dg.function(lambda a, b: F.cross_entropy(a, b))):
            with pytest.raises(dg.errors.DualGraphError) as e:
                run(x if run.__name__ == "<lambda>" else dg.tensor(x), y if run.__name__ == "<lambda>" else dg.tensor(y))
            errors.append(str(e.value))
    assert len(set(errors)) == 1 and "out of bounds" in errors[0]


def test_reduction_none_keeps_numpys_kernel(fusion):
    x, y = _logits()
    assert L.cross_entropy(x, y, -100, "none") is None
    FE.set_fusion(None)
    off = F.cross_entropy(dg.tensor(x), dg.tensor(y), reduction="none").numpy()
    FE.set_fusion("numba")
    on = F.cross_entropy(dg.tensor(x), dg.tensor(y), reduction="none").numpy()
    np.testing.assert_array_equal(on, off)


# ------------------------------------------------------------------ exp, log, ... on small arrays
UNARY = ["exp", "log", "log1p", "sin", "cos", "tanh"]


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("n", [1, 16, L.SMALL, L.SMALL + 1, 1000])
def test_transcendentals_are_numbas_on_small_arrays_only(fusion, name, n):
    rng = np.random.default_rng(n)
    x = (np.abs(rng.standard_normal(n)) + 0.1).astype(np.float32) * 2
    FE.set_fusion(None)
    off = getattr(dg, name)(dg.tensor(x)).numpy()
    np.testing.assert_array_equal(off, getattr(np, name)(x))            # numpy's bits
    FE.set_fusion("numba")
    on = getattr(dg, name)(dg.tensor(x)).numpy()
    if n <= L.SMALL:   # numba's scalar function, as a fused kernel inlines it
        ref = np.empty_like(x)
        L.compile_kernel(L._UNARY.format(name=name))(x, ref)
        np.testing.assert_array_equal(on, ref)
    else:
        np.testing.assert_array_equal(on, off)
    np.testing.assert_allclose(on, off, rtol=2e-7, atol=1e-7)


def test_a_strided_or_2d_small_input_and_out_buffers(fusion):
    x = np.linspace(-2, 2, 64, dtype=np.float32).reshape(8, 8)
    want = dg.tanh(dg.tensor(np.ascontiguousarray(x.T))).numpy()
    np.testing.assert_array_equal(dg.tanh(dg.tensor(x.T)).numpy(), want)  # (a transposed view)
    out = np.empty((8, 8), np.float32, order="F")
    got = L.unary(np.tanh)(np.ascontiguousarray(x.T), out=out)
    assert got is out
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("n", [16, 200])
def test_fused_chain_equals_eager_bit_for_bit_with_the_backend_on(fusion, n):
    x = dg.tensor(np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1, requires_grad=True)

    def chain_grad(x):
        y = _chain(x).sum()
        g, = dg.autograd.grad(y, [x])
        return y, g

    def eager(x):
        x = x.detach().requires_grad_()
        return chain_grad(x)
    e = [v.detach().numpy() for v in eager(x)]
    f = dg.function(lambda x: chain_grad(x.detach().requires_grad_()))
    c = [v.detach().numpy() for v in f(x)]
    assert f._traces[-1].plan.stats["fused_kernels"] >= 1
    for a, b in zip(e, c):
        np.testing.assert_array_equal(b, a)


# ------------------------------------------------------------------ training over calls
@pytest.mark.parametrize("opt_cls,kw", [(dg.optim.SGD, dict(lr=0.1, momentum=0.9)),
                                        (dg.optim.Adam, dict(lr=0.01))], ids=["SGD", "Adam"])
def test_training_eager_equals_fused_compiled_bit_for_bit(fusion, opt_cls, kw):
    """An MLP with cross-entropy and a StepLR, five calls: with the backend on, eager (numba's
    loss loops) and the fused plan (the loss loops, fused updates and elementwise kernels) give
    the same loss, weights, .grad and optimizer state, bit for bit."""
    out = []
    for compiled in (False, True):
        model, opt, step = _mlp(opt_cls, **kw)
        sched = dg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        run = dg.function(step) if compiled else step
        out.append(_records(run, model, opt, sched))
    stats = run._traces[-1].plan.stats
    assert stats["fused_updates"] == 4 and len(run._traces) == 1
    for e, c in zip(*out):
        assert len(e) == len(c)
        for a, b in zip(e, c):
            np.testing.assert_array_equal(b, a)


def test_turning_the_backend_off_specialises_the_plan_again(fusion):
    """A plan made with the backend on runs its numba kernels; turned off, the next call is
    specialised again (numpy's kernels, no fused step), equal to eager's numbers then."""
    model, opt, step = _mlp(dg.optim.SGD, lr=0.1, momentum=0.9)
    f = dg.function(step)
    batches = list(_data(3))
    f(*batches[0])
    plan = f._traces[-1].plan
    assert "fused_update" in plan.source and plan.stats["fused_updates"] == 4
    FE.set_fusion(None)
    twin_model, twin_opt, twin_step = _mlp(dg.optim.SGD, lr=0.1, momentum=0.9)
    FE.set_fusion("numba")
    twin_step(*batches[0])   # the twin's first call as f's: eager, backend on
    FE.set_fusion(None)
    for x, y in batches[1:]:
        np.testing.assert_array_equal(f(x, y).detach().numpy(), twin_step(x, y).detach().numpy())
    assert "fused_update" not in plan.source and "fused_elementwise" not in plan.source
    assert "fused_updates" not in plan.stats
    for p, q in zip(model.parameters(), twin_model.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    assert len(f._traces) == 1   # (a new specialisation, not a retrace)
