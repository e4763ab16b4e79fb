"""Learning-rate schedulers: the lr sequence equals PyTorch's over 30 steps, bit for bit; a
compiled step honours the changing lr without retracing. (tests/test_lr_scheduler_chained.py:
every scheduler, chained schedulers, step(epoch), errors.)"""
import math

import numpy as np
import pytest

import dualgraph as dg
from dualgraph import optim


def _torch():
    return pytest.importorskip("torch")


def _lam(e):
    return 0.95 ** e


SCHEDS = [
    ("LambdaLR", "SGD", {}, dict(lr_lambda=_lam)),
    ("StepLR", "SGD", {}, dict(step_size=4, gamma=0.5)),
    ("MultiStepLR", "SGD", {}, dict(milestones=[3, 10, 20], gamma=0.3)),
    ("ExponentialLR", "SGD", {}, dict(gamma=0.9)),
    ("CosineAnnealingLR", "SGD", {}, dict(T_max=12, eta_min=1e-3)),
    ("LinearLR", "SGD", {}, dict(start_factor=0.2, end_factor=0.9, total_iters=7)),
    ("OneCycleLR", "SGD", dict(momentum=0.9), dict(max_lr=0.5, total_steps=31)),
    ("OneCycleLR", "Adam", {}, dict(max_lr=0.5, total_steps=31, anneal_strategy="linear", three_phase=True)),
    ("OneCycleLR", "SGD", {}, dict(max_lr=0.5, epochs=4, steps_per_epoch=8, cycle_momentum=False)),
]


def _sequence(L, sched, opt_cls, okw, kw, n=30):
    p = L.zeros(2, requires_grad=True)
    opt = getattr(L.optim, opt_cls)([p], lr=0.1, **okw)
    s = getattr(L.optim.lr_scheduler, sched)(opt, **kw)
    out = []
    for _ in range(n):
        out.append((s.get_last_lr()[0], opt.param_groups[0].get("momentum"),
                    opt.param_groups[0].get("betas", (None,))[0]))
        opt.step()
        s.step()
    return out


@pytest.mark.parametrize("sched,opt_cls,okw,kw", SCHEDS, ids=[f"{s[0]}-{i}" for i, s in enumerate(SCHEDS)])
def test_sequence_matches_torch(sched, opt_cls, okw, kw):
    torch = _torch()
    want = _sequence(torch, sched, opt_cls, okw, kw)
    got = _sequence(dg, sched, opt_cls, okw, kw)
    assert got == want   # the same Python floats: PyTorch's formulas in PyTorch's order


def _seq_lr(L):
    p = L.zeros(2, requires_grad=True)
    opt = L.optim.SGD([p], lr=0.1)
    S = L.optim.lr_scheduler
    s = S.SequentialLR(opt, [S.LinearLR(opt, start_factor=0.1, total_iters=5),
                             S.ExponentialLR(opt, gamma=0.9), S.StepLR(opt, 3, 0.5)], milestones=[5, 15])
    out = []
    for _ in range(30):
        out.append(s.get_last_lr()[0])
        opt.step()
        s.step()
    return out


def test_sequential_matches_torch():
    torch = _torch()
    assert _seq_lr(dg) == _seq_lr(torch)


def _plateau(L, **kw):
    p = L.zeros(2, requires_grad=True)
    opt = L.optim.SGD([p], lr=0.1)
    s = L.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    out = []
    for i in range(30):
        metric = 1.0 / (1 + i) if i < 8 else 0.2 + 0.001 * (i % 3)
        s.step(metric if kw.get("mode", "min") == "min" else -metric)
        out.append(opt.param_groups[0]["lr"])
    return out


@pytest.mark.parametrize("kw", [dict(patience=2), dict(mode="max", factor=0.5, patience=1, cooldown=2),
                                dict(threshold_mode="abs", threshold=0.01, patience=0, min_lr=1e-3)])
def test_plateau_matches_torch(kw):
    torch = _torch()
    assert _plateau(dg, **kw) == _plateau(torch, **kw)


def _round_trip(L, load_optimizer):
    p = L.zeros(2, requires_grad=True)
    opt = L.optim.SGD([p], lr=0.1)
    s = L.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        opt.step()
        s.step()
    sd = s.state_dict()
    opt2 = L.optim.SGD([L.zeros(2, requires_grad=True)], lr=0.1)
    s2 = L.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    s2.load_state_dict(sd)
    if load_optimizer:
        opt2.load_state_dict(opt.state_dict())
    out = []
    for _ in range(8):
        opt.step()
        s.step()
        opt2.step()
        s2.step()
        out.append((s.get_last_lr(), s2.get_last_lr()))
    return out


def test_state_dict_round_trip():
    """The chainable form steps on from the optimizer's lr: with the optimizer's state loaded
    too (as PyTorch asks), the resumed run is the uninterrupted one."""
    out = _round_trip(dg, load_optimizer=True)
    assert all(a == b for a, b in out)


@pytest.mark.parametrize("load_optimizer", [True, False])
def test_state_dict_round_trip_matches_torch(load_optimizer):
    """Without the optimizer's state the resumed lr follows the new optimizer's lr: PyTorch's
    numbers either way."""
    torch = _torch()
    assert _round_trip(dg, load_optimizer) == _round_trip(torch, load_optimizer)


def test_compiled_step_honours_lr_no_retrace():
    w = dg.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    s = optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, cycle_momentum=False)

    @dg.function
    def step():
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()

    ref = np.ones(3)
    for _ in range(9):
        lr = s.get_last_lr()[0]
        step()
        ref = ref - lr * 2 * ref
        s.step()
    assert step.trace_count == 1
    np.testing.assert_allclose(w.detach().numpy(), ref, rtol=1e-5)


def _train(sched, opt_cls, okw, kw, compiled, n=14):
    """A small model trained n steps with the scheduler stepped after each: eagerly or with the
    step compiled by dg.function."""
    dg.manual_seed(0)
    lin = dg.nn.Linear(3, 2)
    opt = getattr(optim, opt_cls)(lin.parameters(), lr=0.1, **okw)
    if sched == "SequentialLR":
        S = optim.lr_scheduler
        s = S.SequentialLR(opt, [S.LinearLR(opt, start_factor=0.1, total_iters=4),
                                 S.ExponentialLR(opt, gamma=0.9)], milestones=[4])
    elif sched == "ReduceLROnPlateau":
        s = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    else:
        s = getattr(optim.lr_scheduler, sched)(opt, **kw)
    x = dg.tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))

    def step():
        opt.zero_grad()
        loss = (lin(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    run = dg.function(step) if compiled else step
    losses = []
    for _ in range(n):
        loss = run()
        losses.append(float(loss))
        s.step(1.0) if sched == "ReduceLROnPlateau" else s.step()   # a flat metric: the lr drops
    return losses, [p.detach().numpy() for p in lin.parameters()], run


@pytest.mark.parametrize("sched,opt_cls,okw,kw",
                         SCHEDS + [("SequentialLR", "SGD", {}, {}), ("ReduceLROnPlateau", "SGD", dict(momentum=0.9), {})],
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(SCHEDS)] + ["SequentialLR", "ReduceLROnPlateau"])
def test_every_scheduler_is_honoured_by_a_compiled_step_without_retracing(sched, opt_cls, okw, kw):
    le, we, _ = _train(sched, opt_cls, okw, kw, compiled=False)
    lc, wc, run = _train(sched, opt_cls, okw, kw, compiled=True)
    np.testing.assert_allclose(lc, le, rtol=1e-6)
    for a, b in zip(wc, we):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert run.trace_count == 1


def test_load_state_dict_of_something_else_is_a_clear_error():
    w = dg.ones(2, requires_grad=True)
    opt = dg.optim.SGD([w], lr=0.1)
    for bad in (None, {}, {"state": {}}, [1]):
        with pytest.raises(ValueError, match="not an optimizer state dict"):
            opt.load_state_dict(bad)
    for sched in (dg.optim.lr_scheduler.StepLR(opt, 2), dg.optim.lr_scheduler.ReduceLROnPlateau(opt)):
        with pytest.raises(TypeError, match="expected a dict"):
            sched.load_state_dict(None)
        sched.load_state_dict(sched.state_dict())
