"""Cross-entropy as one numba loop each way (graph/passes/fuse_losses.py, with fusion on): which
steps take it, and that fused plans equal unfused ones and eager's numbers within float
rounding -- over several training calls with SGD momentum, with ignored rows, NaN and infinite
logits, float64, "sum" -- and raise PyTorch's error for a target out of range."""
import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F
from dualgraph.graph.passes import fuse_elementwise as FE

from test_fusion import fusion  # noqa: F401  (the fixture: numba on, kernels in a temp dir)
from test_fuse_updates import _run_pair


def _loss_and_grad(reduction="mean", ignore_index=-100):
    def f(x, y):
        x = x.detach().requires_grad_()
        loss = F.cross_entropy(x * 1.0, y, ignore_index=ignore_index, reduction=reduction)
        g, = dg.autograd.grad(loss, [x])
        return loss, g
    return f


def _both(fn, *args):
    """(unfused results, fused results, the fused plan's stats), each from a fresh dg.function."""
    FE.set_fusion(None)
    plain = [v.numpy() for v in dg.function(fn)(*args)]
    FE.set_fusion("numba")
    f = dg.function(fn)
    fused = [v.numpy() for v in f(*args)]
    return plain, fused, f._traces[-1].plan.stats


def _logits(n=16, c=7, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)).astype(dtype) * 3, rng.integers(0, c, n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_fused_loss_and_gradient_equal_unfused(fusion, dtype, reduction):
    x, y = _logits(dtype=dtype)
    plain, fused, stats = _both(_loss_and_grad(reduction), dg.tensor(x), dg.tensor(y))
    assert stats["fused_losses"] == 2          # the forward and the backward
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for p, u in zip(plain, fused):
        assert p.dtype == u.dtype and p.shape == u.shape
        np.testing.assert_allclose(u, p, rtol=rtol, atol=rtol * 1e-2)


def test_ignored_rows_count_as_unfused(fusion):
    x, y = _logits()
    y[[1, 4, 5]] = -100
    plain, fused, stats = _both(_loss_and_grad(), dg.tensor(x), dg.tensor(y))
    assert stats["fused_losses"] == 2
    for p, u in zip(plain, fused):
        np.testing.assert_allclose(u, p, rtol=1e-5, atol=1e-7)
    assert not fused[1][[1, 4, 5]].any()       # ignored rows get no gradient


def test_every_row_ignored_gives_nan_as_unfused(fusion):
    x, y = _logits(n=4)
    y[:] = 3
    plain, fused, _ = _both(_loss_and_grad(ignore_index=3), dg.tensor(x), dg.tensor(y))
    assert np.isnan(plain[0]) and np.isnan(fused[0])
    np.testing.assert_array_equal(np.isnan(fused[1]), np.isnan(plain[1]))


def test_nan_and_infinite_logits_as_unfused(fusion):
    x, y = _logits(n=5)
    x[0, 2] = np.nan
    x[1, 0] = np.inf
    x[2, :] = -np.inf
    x[3, 1] = -np.inf
    plain, fused, _ = _both(_loss_and_grad(reduction="sum"), dg.tensor(x), dg.tensor(y))
    np.testing.assert_array_equal(np.isnan(fused[1]), np.isnan(plain[1]))
    ok = ~np.isnan(plain[1])
    np.testing.assert_allclose(fused[1][ok], plain[1][ok], rtol=1e-5, atol=1e-7)
    assert np.isnan(plain[0]) == np.isnan(fused[0])


@pytest.mark.parametrize("bad", [7, -1, 12])
def test_a_target_out_of_range_raises_pytorchs_error(fusion, bad):
    x, y = _logits()
    y[3] = bad
    errors = []
    for backend in (None, "numba"):
        FE.set_fusion(backend)
        with pytest.raises(dg.errors.DualGraphError) as e:
            dg.function(_loss_and_grad())(dg.tensor(x), dg.tensor(y))
        errors.append(str(e.value))
    assert errors[0] == errors[1]
    assert "out of bounds" in errors[0] or "Target" in errors[0]


def test_reduction_none_keeps_numpys_kernel(fusion):
    x, y = _logits()
    _, _, stats = _both(lambda a, b: (F.cross_entropy(a, b, reduction="none"),), dg.tensor(x), dg.tensor(y))
    assert stats["fused_losses"] == 0


def test_training_fused_equals_eager_over_calls(fusion):
    """An MLP with SGD momentum and a StepLR, five calls (test_fuse_updates' runner): loss,
    weights, .grad and the momentum buffers of the fused plan (the loss's loops and the fused
    updates) equal eager's and the unfused plan's within rounding."""
    (eager, _), (plain, _), (fused, f) = _run_pair(dg.optim.SGD, sched=True, lr=0.1, momentum=0.9)
    for e, p, u in zip(eager, plain, fused):
        assert len(e) == len(p) == len(u)
        for a, b, c in zip(e, p, u):
            np.testing.assert_allclose(c, b, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(c, a, rtol=1e-5, atol=1e-6)
    stats = f._traces[-1].plan.stats
    assert stats["fused_losses"] == 2 and stats["fused_updates"] == 4
    assert len(f._traces) == 1
