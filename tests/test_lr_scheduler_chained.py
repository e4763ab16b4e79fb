"""lr_scheduler against PyTorch 2.13, bit for bit: the chainable forms step() uses (schedulers
composing on one optimizer, an lr set by hand kept), the closed forms of step(epoch), two param
groups, the errors; and eager training against a dg.function-compiled step under chained
schedulers."""
import math
import warnings

import numpy as np
import pytest

import dualgraph as dg
from dualgraph import optim
from dualgraph.errors import DGValueError

N_STEPS = 40


def _torch():
    return pytest.importorskip("torch")


def _quiet():
    """PyTorch's and dualgraph's UserWarnings (the step(epoch) deprecation) are tested apart."""
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore")
    return ctx


class _Scale:
    """A callable object lambda (its __dict__ is what state_dict saves)."""

    def __init__(self, base):
        self.base = base

    def __call__(self, epoch):
        return self.base ** epoch


class _Both:
    """Two plain schedulers stepping one optimizer, each in turn (no ChainedScheduler)."""

    def __init__(self, *scheds):
        self.scheds = scheds

    def step(self):
        for s in self.scheds:
            s.step()

    def get_last_lr(self):
        return self.scheds[-1].get_last_lr()


def _opt(L, opt_cls="SGD", okw=None, groups=1):
    okw = dict(okw or {})
    if groups == 1:
        params = [L.zeros(2, requires_grad=True)]
    else:
        params = [{"params": [L.zeros(2, requires_grad=True)]},
                  {"params": [L.zeros(3, requires_grad=True)], "lr": 0.03}]
    return getattr(L.optim, opt_cls)(params, lr=0.1, **okw)


def _snapshot(opt, sched):
    """Every number a scheduler writes: each group's lr and momentum (or beta1), and
    get_last_lr()."""
    return ([(g["lr"], g.get("momentum"), g.get("betas", (None,))[0]) for g in opt.param_groups],
            list(sched.get_last_lr()))


def _run(L, make, opt_cls="SGD", okw=None, groups=1, n=N_STEPS, hook=None):
    opt = _opt(L, opt_cls, okw, groups)
    ctx = _quiet()
    try:
        sched = make(L.optim.lr_scheduler, opt)
        out = []
        for i in range(n):
            if hook is not None:
                hook(i, opt)
            out.append(_snapshot(opt, sched))
            opt.step()
            sched.step()
        out.append(_snapshot(opt, sched))
    finally:
        ctx.__exit__(None, None, None)
    return out


def _assert_same(got, want):
    """Exactly equal: the same Python floats (== is bitwise for finite floats)."""
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"step {i}: dualgraph {g!r} != torch {w!r}"


# every scheduler, a couple of argument sets each: (id, factory, optimizer, its kwargs)
TABLE = [
    ("LambdaLR-fn", lambda S, o: S.LambdaLR(o, lambda e: 0.95 ** e), "SGD", {}),
    ("LambdaLR-obj", lambda S, o: S.LambdaLR(o, _Scale(0.9)), "SGD", {}),
    ("MultiplicativeLR", lambda S, o: S.MultiplicativeLR(o, lambda e: 0.97), "SGD", {}),
    ("MultiplicativeLR-e", lambda S, o: S.MultiplicativeLR(o, lambda e: 1.0 - 0.01 * (e % 3)), "SGD", {}),
    ("StepLR", lambda S, o: S.StepLR(o, step_size=4, gamma=0.5), "SGD", {}),
    ("StepLR-default-gamma", lambda S, o: S.StepLR(o, 7), "SGD", {}),
    ("MultiStepLR", lambda S, o: S.MultiStepLR(o, milestones=[3, 10, 20], gamma=0.3), "SGD", {}),
    ("MultiStepLR-repeated", lambda S, o: S.MultiStepLR(o, milestones=[12, 5, 12, 30], gamma=0.7), "SGD", {}),
    ("ConstantLR", lambda S, o: S.ConstantLR(o), "SGD", {}),
    ("ConstantLR-args", lambda S, o: S.ConstantLR(o, factor=0.3, total_iters=11), "SGD", {}),
    ("LinearLR", lambda S, o: S.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=7), "SGD", {}),
    ("LinearLR-down", lambda S, o: S.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=33), "SGD", {}),
    ("ExponentialLR", lambda S, o: S.ExponentialLR(o, gamma=0.9), "SGD", {}),
    ("ExponentialLR-up", lambda S, o: S.ExponentialLR(o, gamma=1.03), "SGD", {}),
    ("PolynomialLR", lambda S, o: S.PolynomialLR(o), "SGD", {}),
    ("PolynomialLR-args", lambda S, o: S.PolynomialLR(o, total_iters=30, power=2.5), "SGD", {}),
    ("CosineAnnealingLR", lambda S, o: S.CosineAnnealingLR(o, T_max=12, eta_min=1e-3), "SGD", {}),
    ("CosineAnnealingLR-restarts", lambda S, o: S.CosineAnnealingLR(o, T_max=7), "SGD", {}),
    ("CyclicLR", lambda S, o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5), "SGD",
     dict(momentum=0.9)),
    ("CyclicLR-triangular2", lambda S, o: S.CyclicLR(o, 0.01, 0.2, step_size_up=3, step_size_down=6,
                                                     mode="triangular2", cycle_momentum=False), "SGD", {}),
    ("CyclicLR-exp_range-adam", lambda S, o: S.CyclicLR(o, 0.001, 0.05, step_size_up=4, mode="exp_range",
                                                        gamma=0.97), "Adam", {}),
    ("CyclicLR-scale_fn", lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=4, scale_fn=lambda x: 0.5 ** x,
                                                  scale_mode="iterations", cycle_momentum=False), "SGD", {}),
    ("CosineAnnealingWarmRestarts", lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=5), "SGD", {}),
    ("CosineAnnealingWarmRestarts-mult", lambda S, o: S.CosineAnnealingWarmRestarts(o, 3, T_mult=2, eta_min=0.01),
     "SGD", {}),
    ("OneCycleLR", lambda S, o: S.OneCycleLR(o, max_lr=0.5, total_steps=41), "SGD", dict(momentum=0.9)),
    ("OneCycleLR-3phase-adam", lambda S, o: S.OneCycleLR(o, max_lr=0.5, total_steps=45, anneal_strategy="linear",
                                                         three_phase=True), "Adam", {}),
    ("SequentialLR", lambda S, o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=5),
                                                     S.ExponentialLR(o, gamma=0.9), S.StepLR(o, 3, 0.5)],
                                                 milestones=[5, 15]), "SGD", {}),
    ("SequentialLR-constant-cosine", lambda S, o: S.SequentialLR(
        o, [S.ConstantLR(o, factor=0.1, total_iters=20), S.CosineAnnealingLR(o, T_max=9)], milestones=[8]),
     "SGD", {}),
    ("ChainedScheduler", lambda S, o: S.ChainedScheduler([S.ConstantLR(o, factor=0.1, total_iters=2),
                                                         S.ExponentialLR(o, gamma=0.9)]), "SGD", {}),
    ("ChainedScheduler-optimizer", lambda S, o: S.ChainedScheduler(
        [S.LinearLR(o, 0.25, total_iters=9), S.CosineAnnealingLR(o, T_max=6), S.MultiStepLR(o, [4, 4, 25])],
        optimizer=o), "SGD", {}),
    ("two-plain-schedulers", lambda S, o: _Both(S.StepLR(o, 3, 0.5), S.ExponentialLR(o, 0.95)), "SGD", {}),
]


def _ids(table):
    return [t[0] for t in table]


@pytest.mark.parametrize("name,make,opt_cls,okw", TABLE, ids=_ids(TABLE))
def test_sequence_equals_torch_bitwise(name, make, opt_cls, okw):
    torch = _torch()
    _assert_same(_run(dg, make, opt_cls, okw), _run(torch, make, opt_cls, okw))


def test_two_plain_schedulers_compose_multiplicatively():
    """StepLR and ExponentialLR stepping one optimizer: the lr is the product of both (it was
    the last scheduler's closed form)."""
    out = _run(dg, lambda S, o: _Both(S.StepLR(o, 3, 0.5), S.ExponentialLR(o, 0.95)), n=10)
    lrs = [groups[0][0] for groups, _ in out]
    assert lrs[6] == pytest.approx(0.1 * 0.5 ** 2 * 0.95 ** 6, rel=1e-14)


# each: the group lr is set to 0.05 before step 12 (as a user might, mid-training)
HAND_SET = [t for t in TABLE if t[0] in (
    "LambdaLR-fn", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR-args", "LinearLR-down",
    "ExponentialLR", "PolynomialLR-args", "CosineAnnealingLR", "CosineAnnealingLR-restarts", "CyclicLR",
    "CosineAnnealingWarmRestarts", "SequentialLR", "ChainedScheduler", "two-plain-schedulers")]


def _set_by_hand(i, opt):
    if i == 12:
        opt.param_groups[0]["lr"] = 0.05


@pytest.mark.parametrize("name,make,opt_cls,okw", HAND_SET, ids=_ids(HAND_SET))
def test_lr_set_by_hand_is_kept_as_torch_keeps_it(name, make, opt_cls, okw):
    torch = _torch()
    got = _run(dg, make, opt_cls, okw, hook=_set_by_hand)
    _assert_same(got, _run(torch, make, opt_cls, okw, hook=_set_by_hand))


def test_lr_set_by_hand_is_scheduled_on_from():
    out = _run(dg, lambda S, o: S.ExponentialLR(o, 0.5), n=14, hook=_set_by_hand)
    assert out[13][0][0][0] == 0.05 * 0.5   # not the closed form 0.1 * 0.5 ** 13


@pytest.mark.parametrize("name,make,opt_cls,okw", TABLE, ids=_ids(TABLE))
def test_two_param_groups_equal_torch(name, make, opt_cls, okw):
    torch = _torch()
    _assert_same(_run(dg, make, opt_cls, okw, groups=2), _run(torch, make, opt_cls, okw, groups=2))


TWO_GROUP_LISTS = [
    ("LambdaLR-list", lambda S, o: S.LambdaLR(o, [lambda e: 0.9 ** e, lambda e: 1.0 / (1 + e)])),
    ("MultiplicativeLR-list", lambda S, o: S.MultiplicativeLR(o, [lambda e: 0.9, lambda e: 0.99])),
    ("CyclicLR-lists", lambda S, o: S.CyclicLR(o, [0.01, 0.02], [0.1, 0.3], step_size_up=3,
                                               base_momentum=[0.8, 0.7], max_momentum=[0.9, 0.95])),
    ("OneCycleLR-list", lambda S, o: S.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=50,
                                                  base_momentum=[0.8, 0.85], max_momentum=[0.9, 0.99])),
]


@pytest.mark.parametrize("name,make", TWO_GROUP_LISTS, ids=_ids(TWO_GROUP_LISTS))
def test_per_group_lists_equal_torch(name, make):
    torch = _torch()
    okw = dict(momentum=0.9)
    _assert_same(_run(dg, make, "SGD", okw, groups=2), _run(torch, make, "SGD", okw, groups=2))


# ---------------------------------------------------------------- step(epoch)

EPOCHS = [0, 1, 2, 5, 3, 3, 9, 12, 7, 20, 21, 40, 6, 0, 15]
EPOCH_TABLE = [t for t in TABLE if not t[0].startswith(("SequentialLR", "ChainedScheduler", "two-plain",
                                                         "OneCycleLR", "CosineAnnealingWarmRestarts"))]


def _run_epochs(L, make, opt_cls, okw, epochs):
    opt = _opt(L, opt_cls, okw, groups=2)
    ctx = _quiet()
    try:
        sched = make(L.optim.lr_scheduler, opt)
        out = []
        for e in epochs:
            opt.step()
            sched.step(e)
            out.append(_snapshot(opt, sched) + (sched.last_epoch,))
            opt.step()
            sched.step()   # a step without epoch after each: the chain from the closed form
            out.append(_snapshot(opt, sched) + (sched.last_epoch,))
    finally:
        ctx.__exit__(None, None, None)
    return out


@pytest.mark.parametrize("name,make,opt_cls,okw", EPOCH_TABLE, ids=_ids(EPOCH_TABLE))
def test_step_with_epoch_uses_the_closed_form_as_torch(name, make, opt_cls, okw):
    torch = _torch()
    _assert_same(_run_epochs(dg, make, opt_cls, okw, EPOCHS), _run_epochs(torch, make, opt_cls, okw, EPOCHS))


@pytest.mark.parametrize("T_mult", [1, 2])
def test_warm_restarts_fractional_epochs_equal_torch(T_mult):
    torch = _torch()
    make = lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=T_mult, eta_min=0.001)  # noqa: E731
    epochs = [0, 0.25, 0.5, 3.75, 4, 4.5, 11.2, 13, 2, 27.9, 28]
    _assert_same(_run_epochs(dg, make, "SGD", {}, epochs), _run_epochs(torch, make, "SGD", {}, epochs))


def test_step_with_epoch_warns_as_torch():
    torch = _torch()
    for L in (torch, dg):
        opt = _opt(L)
        sched = L.optim.lr_scheduler.StepLR(opt, 2)
        opt.step()
        with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)` was not necessary"):
            sched.step(3)
        opt.step()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sched.step()   # no warning without an epoch


def test_sequential_milestone_restarts_the_next_scheduler_without_a_warning():
    """At a milestone SequentialLR restarts the next scheduler at epoch 0 with its closed form
    (PyTorch's _update_lr(0)): no step(epoch) deprecation warning, the same lrs as PyTorch's."""
    torch = _torch()
    out = {}
    for L in (torch, dg):
        opt = _opt(L)
        S = L.optim.lr_scheduler
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sched = S.SequentialLR(opt, [S.ConstantLR(opt, factor=0.5, total_iters=10),
                                         S.StepLR(opt, 2, 0.5)], milestones=[3])
            lrs = []
            for _ in range(8):
                opt.step()
                sched.step()
                lrs.append(opt.param_groups[0]["lr"])
        out[L.__name__] = (lrs, sched._schedulers[1].last_epoch)
    assert out["dualgraph"] == out["torch"]
    assert out["dualgraph"][0][2] == 0.1   # at the milestone: StepLR's epoch 0, the initial lr


def test_plateau_step_with_epoch_warns_as_torch():
    torch = _torch()
    for L in (torch, dg):
        sched = L.optim.lr_scheduler.ReduceLROnPlateau(_opt(L))
        with pytest.warns(UserWarning, match="The epoch parameter"):
            sched.step(1.0, epoch=4)
        assert sched.last_epoch == 4


def test_get_lr_outside_step_warns_as_torch():
    torch = _torch()
    for L in (torch, dg):
        opt = _opt(L)
        sched = L.optim.lr_scheduler.ExponentialLR(opt, 0.5)
        with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
            sched.get_lr()


# ---------------------------------------------------------------- resuming, state_dict

RESUMED = [t for t in TABLE if t[0] in (
    "StepLR", "MultiStepLR-repeated", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "PolynomialLR-args",
    "ConstantLR-args", "LambdaLR-obj", "CyclicLR", "CosineAnnealingWarmRestarts-mult", "SequentialLR",
    "ChainedScheduler")]


@pytest.mark.parametrize("name,make,opt_cls,okw", RESUMED, ids=_ids(RESUMED))
def test_state_dict_resume_equals_torch(name, make, opt_cls, okw):
    """Run 9 steps, save the scheduler and optimizer, load both into fresh ones, run on: the
    resumed run equals the uninterrupted one, and torch's."""
    torch = _torch()

    def run(L):
        ctx = _quiet()
        try:
            opt = _opt(L, opt_cls, okw)
            sched = make(L.optim.lr_scheduler, opt)
            for _ in range(9):
                opt.step()
                sched.step()
            sd, osd = sched.state_dict(), opt.state_dict()
            opt2 = _opt(L, opt_cls, okw)
            sched2 = make(L.optim.lr_scheduler, opt2)
            sched2.load_state_dict(sd)
            opt2.load_state_dict(osd)
            out = []
            for _ in range(15):
                opt.step()
                sched.step()
                opt2.step()
                sched2.step()
                out.append((_snapshot(opt, sched), _snapshot(opt2, sched2)))
        finally:
            ctx.__exit__(None, None, None)
        return out
    got = run(dg)
    for a, b in got:
        assert a == b
    _assert_same(got, run(torch))


SAVED = [t for t in TABLE if t[0] in (
    "LambdaLR-fn", "MultiStepLR-repeated", "CosineAnnealingLR", "CyclicLR", "CosineAnnealingWarmRestarts-mult",
    "OneCycleLR", "OneCycleLR-3phase-adam", "SequentialLR", "ChainedScheduler", "PolynomialLR-args")]


def _continue(opt, sched, n=15):
    ctx = _quiet()
    try:
        out = []
        for _ in range(n):
            opt.step()
            sched.step()
            out.append(_snapshot(opt, sched))
    finally:
        ctx.__exit__(None, None, None)
    return out


def _stepped(L, make, opt_cls, okw, n=9):
    ctx = _quiet()
    try:
        opt = _opt(L, opt_cls, okw)
        sched = make(L.optim.lr_scheduler, opt)
        for _ in range(n):
            opt.step()
            sched.step()
    finally:
        ctx.__exit__(None, None, None)
    return opt, sched


@pytest.mark.parametrize("name,make,opt_cls,okw", SAVED, ids=_ids(SAVED))
def test_state_dict_survives_dg_save(name, make, opt_cls, okw, tmp_path):
    opt, sched = _stepped(dg, make, opt_cls, okw)
    dg.save({"sched": sched.state_dict(), "opt": opt.state_dict()}, tmp_path / "ckpt.dg")
    back = dg.load(tmp_path / "ckpt.dg")
    opt2 = _opt(dg, opt_cls, okw)
    ctx = _quiet()
    try:
        sched2 = make(optim.lr_scheduler, opt2)
    finally:
        ctx.__exit__(None, None, None)
    sched2.load_state_dict(back["sched"])
    opt2.load_state_dict(back["opt"])
    assert _continue(opt2, sched2) == _continue(opt, sched)


@pytest.mark.parametrize("name,make,opt_cls,okw", SAVED, ids=_ids(SAVED))
def test_a_torch_state_dict_loads(name, make, opt_cls, okw):
    """PyTorch's scheduler state (its attribute names) loads into dualgraph's scheduler: stepped
    on, the same lrs as PyTorch's."""
    torch = _torch()
    topt, tsched = _stepped(torch, make, opt_cls, okw)
    opt = _opt(dg, opt_cls, okw)
    ctx = _quiet()
    try:
        sched = make(optim.lr_scheduler, opt)
    finally:
        ctx.__exit__(None, None, None)
    sched.load_state_dict(tsched.state_dict())
    for g, tg in zip(opt.param_groups, topt.param_groups):   # the optimizer's numbers, by hand
        g.update({k: v for k, v in tg.items() if k != "params"})
    _assert_same(_continue(opt, sched), _continue(topt, tsched))


def test_state_dict_keeps_a_callable_objects_state_only():
    opt = _opt(dg)
    s = optim.lr_scheduler.LambdaLR(opt, _Scale(0.9))
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [{"base": 0.9}]
    s2 = optim.lr_scheduler.LambdaLR(_opt(dg), _Scale(0.5))
    s2.load_state_dict(sd)
    assert s2.lr_lambdas[0].base == 0.9
    assert "lr_lambdas" in sd   # the caller's dict is left as it was
    s3 = optim.lr_scheduler.LambdaLR(_opt(dg), lambda e: 1.0)
    assert s3.state_dict()["lr_lambdas"] == [None]


def test_resume_with_last_epoch_equals_torch():
    """A scheduler made with last_epoch=k on an optimizer whose groups hold initial_lr."""
    torch = _torch()

    def run(L, cls, kw):
        ctx = _quiet()
        try:
            opt = _opt(L)
            opt.param_groups[0]["initial_lr"] = 0.2
            sched = getattr(L.optim.lr_scheduler, cls)(opt, last_epoch=5, **kw)
            out = [_snapshot(opt, sched)]
            for _ in range(10):
                opt.step()
                sched.step()
                out.append(_snapshot(opt, sched))
        finally:
            ctx.__exit__(None, None, None)
        return out
    for cls, kw in [("StepLR", dict(step_size=3)), ("ExponentialLR", dict(gamma=0.8)),
                    ("CosineAnnealingLR", dict(T_max=4)), ("LinearLR", {}), ("PolynomialLR", dict(total_iters=12)),
                    ("MultiStepLR", dict(milestones=[6, 9])), ("ConstantLR", dict(total_iters=8))]:
        _assert_same(run(dg, cls, kw), run(torch, cls, kw))


# ---------------------------------------------------------------- errors

def _adagrad(L):
    return L.optim.Adagrad([L.zeros(2, requires_grad=True)], lr=0.1)


ERRORS = [
    # (id, factory, optimizer maker): torch's exception (in the constructor, the 40 steps or a
    # final step(epoch)) and dualgraph's: a DualGraphError of the same base type, or a DGValueError
    # where torch divides by zero
    ("StepLR-step_size-0", lambda S, o: S.StepLR(o, step_size=0), None),
    ("StepLR-step_size-str", lambda S, o: S.StepLR(o, step_size="2"), None),
    ("CosineAnnealingLR-T_max-0", lambda S, o: S.CosineAnnealingLR(o, T_max=0), None),
    ("LinearLR-total_iters-0", lambda S, o: S.LinearLR(o, total_iters=0), None),
    ("LinearLR-start-0", lambda S, o: S.LinearLR(o, start_factor=0), None),
    ("LinearLR-start-big", lambda S, o: S.LinearLR(o, start_factor=1.5), None),
    ("LinearLR-end-negative", lambda S, o: S.LinearLR(o, end_factor=-0.1), None),
    ("LinearLR-end-big", lambda S, o: S.LinearLR(o, end_factor=1.01), None),
    ("ConstantLR-factor-big", lambda S, o: S.ConstantLR(o, factor=1.5), None),
    ("ConstantLR-factor-0", lambda S, o: S.ConstantLR(o, factor=0.0, total_iters=3), None),
    ("PolynomialLR-total_iters-0", lambda S, o: S.PolynomialLR(o, total_iters=0), None),
    ("PolynomialLR-power-negative", lambda S, o: S.PolynomialLR(o, total_iters=4, power=-1.0), None),
    ("ExponentialLR-gamma-str", lambda S, o: S.ExponentialLR(o, gamma="0.9"), None),
    ("ExponentialLR-gamma-None", lambda S, o: S.ExponentialLR(o, gamma=None), None),
    ("LambdaLR-count", lambda S, o: S.LambdaLR(o, [lambda e: 1.0, lambda e: 2.0]), None),
    ("LambdaLR-not-callable", lambda S, o: S.LambdaLR(o, 0.5), None),
    ("MultiplicativeLR-count", lambda S, o: S.MultiplicativeLR(o, [lambda e: 1.0] * 3), None),
    ("MultiplicativeLR-not-callable", lambda S, o: S.MultiplicativeLR(o, 0.5), None),
    ("MultiStepLR-milestones-int", lambda S, o: S.MultiStepLR(o, milestones=5), None),
    ("CyclicLR-step_size_up-0", lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=0), None),
    ("CyclicLR-mode", lambda S, o: S.CyclicLR(o, 0.01, 0.1, mode="square"), None),
    ("CyclicLR-max_lr-count", lambda S, o: S.CyclicLR(o, 0.01, [0.1, 0.2]), None),
    ("CyclicLR-no-momentum", lambda S, o: S.CyclicLR(o, 0.01, 0.1), _adagrad),
    ("CAWR-T_0-0", lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=0), None),
    ("CAWR-T_0-float", lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=2.5), None),
    ("CAWR-T_mult-0", lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), None),
    ("CAWR-eta_min-str", lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=2, eta_min="0"), None),
    ("CAWR-negative-epoch", lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=2).step(-1), None),
    ("OneCycleLR-total_steps-0", lambda S, o: S.OneCycleLR(o, 0.1, total_steps=0), None),
    ("OneCycleLR-no-steps", lambda S, o: S.OneCycleLR(o, 0.1), None),
    ("OneCycleLR-epochs-0", lambda S, o: S.OneCycleLR(o, 0.1, epochs=0, steps_per_epoch=3), None),
    ("OneCycleLR-pct_start", lambda S, o: S.OneCycleLR(o, 0.1, total_steps=10, pct_start=1.5), None),
    ("OneCycleLR-anneal", lambda S, o: S.OneCycleLR(o, 0.1, total_steps=10, anneal_strategy="exp"), None),
    ("OneCycleLR-empty-phase", lambda S, o: S.OneCycleLR(o, 0.1, total_steps=10, pct_start=0.1), None),
    ("OneCycleLR-too-many-steps", lambda S, o: S.OneCycleLR(o, 0.1, total_steps=10), None),
    ("OneCycleLR-no-momentum", lambda S, o: S.OneCycleLR(o, 0.1, total_steps=10), _adagrad),
    ("OneCycleLR-max_lr-count", lambda S, o: S.OneCycleLR(o, [0.1, 0.2], total_steps=10), None),
    ("SequentialLR-empty", lambda S, o: S.SequentialLR(o, [], milestones=[]), None),
    ("SequentialLR-milestones", lambda S, o: S.SequentialLR(o, [S.StepLR(o, 2)], milestones=[3]), None),
    ("SequentialLR-plateau", lambda S, o: S.SequentialLR(o, [S.StepLR(o, 2), S.ReduceLROnPlateau(o)], [3]), None),
    ("SequentialLR-other-optimizer", lambda S, o: S.SequentialLR(
        o, [S.StepLR(o, 2), S.StepLR(type(o)([p for g in o.param_groups for p in g["params"]], lr=1.0), 2)],
        [3]), None),
    ("SequentialLR-no-optimizer-attr", lambda S, o: S.SequentialLR(o, [S.StepLR(o, 2), object()], [3]), None),
    ("ChainedScheduler-empty", lambda S, o: S.ChainedScheduler([]), None),
    ("ChainedScheduler-plateau", lambda S, o: S.ChainedScheduler([S.StepLR(o, 2), S.ReduceLROnPlateau(o)]), None),
    ("ChainedScheduler-other-optimizer", lambda S, o: S.ChainedScheduler(
        [S.StepLR(o, 2)], optimizer=type(o)([p for g in o.param_groups for p in g["params"]], lr=1.0)), None),
    ("not-an-optimizer", lambda S, o: S.StepLR(object(), 2), None),
    ("resume-without-initial_lr", lambda S, o: S.ExponentialLR(o, 0.9, last_epoch=3), None),
    ("plateau-factor", lambda S, o: S.ReduceLROnPlateau(o, factor=1.0), None),
]

# errors whose message is PyTorch's, word for word
SAME_MESSAGE = {
    "LinearLR-start-0", "LinearLR-start-big", "LinearLR-end-negative", "LinearLR-end-big", "ConstantLR-factor-big",
    "LambdaLR-count", "MultiplicativeLR-count", "MultiplicativeLR-not-callable", "CyclicLR-mode",
    "CyclicLR-max_lr-count", "CyclicLR-no-momentum", "CAWR-T_0-0", "CAWR-T_0-float", "CAWR-T_mult-0",
    "CAWR-eta_min-str", "CAWR-negative-epoch", "OneCycleLR-total_steps-0", "OneCycleLR-no-steps",
    "OneCycleLR-epochs-0", "OneCycleLR-pct_start", "OneCycleLR-anneal", "OneCycleLR-too-many-steps",
    "OneCycleLR-no-momentum", "OneCycleLR-max_lr-count", "SequentialLR-empty", "SequentialLR-milestones",
    "SequentialLR-plateau", "SequentialLR-no-optimizer-attr", "ChainedScheduler-empty", "ChainedScheduler-plateau",
    "not-an-optimizer", "plateau-factor",
}


def _raised(L, make, opt_maker):
    """The exception constructing, stepping N_STEPS times and then step(N_STEPS) raise, or None."""
    opt = opt_maker(L) if opt_maker is not None else _opt(L)
    ctx = _quiet()
    try:
        sched = make(L.optim.lr_scheduler, opt)
        if hasattr(sched, "step") and not isinstance(sched, L.optim.lr_scheduler.ReduceLROnPlateau):
            for _ in range(N_STEPS):
                opt.step()
                sched.step()
            if not isinstance(sched, (L.optim.lr_scheduler.SequentialLR, L.optim.lr_scheduler.ChainedScheduler)):
                sched.step(N_STEPS)
    except Exception as e:  # noqa: BLE001 (the exception is what is compared)
        return e
    finally:
        ctx.__exit__(None, None, None)
    return None


_BASES = (KeyError, TypeError, ValueError, RuntimeError, ZeroDivisionError, NotImplementedError)


@pytest.mark.parametrize("name,make,opt_maker", ERRORS, ids=_ids(ERRORS))
def test_errors_as_torch(name, make, opt_maker):
    torch = _torch()
    want = _raised(torch, make, opt_maker)
    got = _raised(dg, make, opt_maker)
    if name in ("LinearLR-total_iters-0", "PolynomialLR-total_iters-0"):
        # torch's chain runs (the factor never moves); its closed form, step(epoch), divides by 0
        assert isinstance(want, ZeroDivisionError), repr(want)
    assert want is not None, "torch raised nothing"
    assert isinstance(got, dg.DualGraphError), f"dualgraph raised {got!r} (torch: {want!r})"
    if isinstance(want, ZeroDivisionError):
        assert isinstance(got, DGValueError), f"dualgraph raised {got!r} where torch divides by zero"
        assert "zero" in str(got).lower() or "non-zero" in str(got), str(got)
    else:
        base = next(b for b in _BASES if isinstance(want, b))
        assert isinstance(got, base), f"dualgraph raised {got!r}, torch {want!r}"
    if name in SAME_MESSAGE:
        assert str(got) == str(want)


def test_zero_step_size_is_refused_at_construction():
    with pytest.raises(ValueError, match="non-zero step_size"):
        optim.lr_scheduler.StepLR(_opt(dg), step_size=0)


def test_a_param_group_added_after_the_scheduler_is_a_clear_error():
    opt = _opt(dg)
    s = optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    opt.add_param_group({"params": [dg.zeros(1, requires_grad=True)]})
    with pytest.raises(ValueError, match="param group added"):
        s.step()


# ---------------------------------------------------------------- compiled training steps

def _train(kind, compiled, n=20):
    """A small model trained n steps with SGD momentum; the schedulers stepped after each step:
    the lr each step ran with, the parameters and .grad after each."""
    dg.manual_seed(0)
    lin = dg.nn.Linear(3, 2)
    opt = optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
    S = optim.lr_scheduler
    if kind == "chained":
        scheds = [S.ChainedScheduler([S.ConstantLR(opt, factor=0.5, total_iters=4),
                                      S.ExponentialLR(opt, gamma=0.9)])]
    else:
        scheds = [S.StepLR(opt, step_size=3, gamma=0.5), S.CosineAnnealingLR(opt, T_max=7, eta_min=0.001)]
    x = dg.tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))

    def step():
        opt.zero_grad()
        loss = (lin(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    run = dg.function(step) if compiled else step
    lrs, params, grads = [], [], []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        run()
        params.append([p.detach().numpy().copy() for p in lin.parameters()])
        grads.append([p.grad.numpy().copy() for p in lin.parameters()])
        for s in scheds:
            s.step()
    return lrs, params, grads, run


def _torch_lrs(kind, n=20):
    torch = _torch()
    p = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    S = torch.optim.lr_scheduler
    if kind == "chained":
        scheds = [S.ChainedScheduler([S.ConstantLR(opt, factor=0.5, total_iters=4), S.ExponentialLR(opt, gamma=0.9)])]
    else:
        scheds = [S.StepLR(opt, step_size=3, gamma=0.5), S.CosineAnnealingLR(opt, T_max=7, eta_min=0.001)]
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        for s in scheds:
            s.step()
    return lrs


@pytest.mark.parametrize("kind", ["chained", "two-schedulers"])
def test_chained_schedulers_drive_eager_and_compiled_steps_identically(kind):
    le, pe, ge, _ = _train(kind, compiled=False)
    lc, pc, gc, run = _train(kind, compiled=True)
    assert run.trace_count == 1   # the lr is read at every call: no retrace
    assert le == lc
    assert len(set(le)) > 10      # the lr really changes
    for i, (a, b, c, d) in enumerate(zip(pe, pc, ge, gc)):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y, err_msg=f"parameters after step {i}")
        for x, y in zip(c, d):
            np.testing.assert_array_equal(x, y, err_msg=f".grad at step {i}")
    # bitwise PyTorch's floats: the same formulas in the same order
    assert le == _torch_lrs(kind)


@pytest.mark.parametrize("make", [
    lambda S, o: S.ChainedScheduler([S.ConstantLR(o), S.ExponentialLR(o, 0.9)]),
    lambda S, o: S.SequentialLR(o, [S.ConstantLR(o), S.ExponentialLR(o, 0.9)], [2]),
    lambda S, o: S.CosineAnnealingWarmRestarts(o, 3),
    lambda S, o: S.CyclicLR(o, 0.01, 0.1, cycle_momentum=False),
], ids=["ChainedScheduler", "SequentialLR", "CosineAnnealingWarmRestarts", "CyclicLR"])
def test_scheduler_step_inside_a_trace_is_refused_and_changes_nothing(make):
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    sched = make(optim.lr_scheduler, opt)
    before = (opt.param_groups[0]["lr"], sched.get_last_lr(), getattr(sched, "last_epoch", None))

    @dg.function
    def step():
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        sched.step()

    with pytest.raises(dg.DualGraphError, match="outside the compiled function"):
        step()
    assert (opt.param_groups[0]["lr"], sched.get_last_lr(), getattr(sched, "last_epoch", None)) == before
    assert type(opt.param_groups[0]) is dict
    assert not math.isnan(opt.param_groups[0]["lr"])
