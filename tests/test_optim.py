"""Optimizers: PyTorch's update formulas (the train step from PyTorch's weights gives PyTorch's
losses), param_groups, zero_grad, state_dict structure and round trip, errors."""
import inspect
import math

import numpy as np
import pytest

import dualgraph as dg
from dualgraph import nn, optim
from dualgraph.nn import functional as F


def _torch():
    return pytest.importorskip("torch")


def mlp(L):
    return L.nn.Sequential(L.nn.Linear(8, 16), L.nn.ReLU(), L.nn.Linear(16, 16), L.nn.Tanh(),
                           L.nn.Linear(16, 4))


def cnn(L):
    return L.nn.Sequential(L.nn.Conv2d(1, 3, 3, padding=1), L.nn.ReLU(), L.nn.MaxPool2d(2),
                           L.nn.BatchNorm2d(3), L.nn.Flatten(), L.nn.Linear(3 * 3 * 3, 4))


def data(kind, rng):
    if kind == "mlp":
        return rng.standard_normal((32, 8)).astype(np.float32), rng.integers(0, 4, size=32)
    return rng.standard_normal((16, 1, 6, 6)).astype(np.float32), rng.integers(0, 4, size=16)


def copy_weights(tm, dm):
    dm.load_state_dict({k: dg.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})


OPTIMIZERS = [
    ("sgd", "SGD", dict(lr=0.1), "mlp"),
    ("sgd momentum+wd", "SGD", dict(lr=0.05, momentum=0.9, weight_decay=1e-4), "mlp"),
    ("sgd nesterov", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4), "mlp"),
    ("sgd dampening maximize", "SGD", dict(lr=0.01, momentum=0.5, dampening=0.3, maximize=True), "mlp"),
    ("adam", "Adam", dict(lr=1e-2), "mlp"),
    ("adam wd amsgrad", "Adam", dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=1e-2, amsgrad=True), "mlp"),
    ("adamw", "AdamW", dict(lr=1e-2), "mlp"),
    ("adamw amsgrad", "AdamW", dict(lr=5e-3, weight_decay=0.1, amsgrad=True, eps=1e-6), "mlp"),
    ("sgd momentum cnn", "SGD", dict(lr=0.05, momentum=0.9, weight_decay=1e-4), "cnn"),
    ("adam cnn", "Adam", dict(lr=1e-2), "cnn"),
]


@pytest.mark.parametrize("name,cls,kw,model", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_training_matches_torch(name, cls, kw, model):
    torch = _torch()
    torch.manual_seed(0)
    tm = (mlp if model == "mlp" else cnn)(torch)
    dm = (mlp if model == "mlp" else cnn)(dg)
    copy_weights(tm, dm)
    rng = np.random.default_rng(0)
    x, y = data(model, rng)
    xt, yt, xd, yd = torch.tensor(x), torch.tensor(y), dg.tensor(x), dg.tensor(y)
    ot = getattr(torch.optim, cls)(tm.parameters(), **kw)
    od = getattr(optim, cls)(dm.parameters(), **kw)
    losses_t, losses_d = [], []
    for _ in range(12):
        ot.zero_grad()
        lt = torch.nn.functional.cross_entropy(tm(xt), yt)
        lt.backward()
        ot.step()
        losses_t.append(lt.item())
        od.zero_grad()
        ld = F.cross_entropy(dm(xd), yd)
        ld.backward()
        od.step()
        losses_d.append(ld.item())
    assert np.allclose(losses_d, losses_t, atol=1e-4, rtol=0), (losses_d, losses_t)
    if not kw.get("maximize"):
        assert losses_d[-1] < losses_d[0]
    tp = dict(tm.named_parameters())
    for n, p in dm.named_parameters():
        assert np.allclose(p.detach().numpy(), tp[n].detach().numpy(), atol=2e-4), n
    # same state layout as PyTorch
    sd_t, sd_d = ot.state_dict(), od.state_dict()
    assert list(sd_d["state"]) == list(sd_t["state"])
    for k in sd_t["state"]:
        assert set(sd_d["state"][k]) == set(sd_t["state"][k])
        for key, v in sd_t["state"][k].items():
            assert np.allclose(sd_d["state"][k][key].numpy(), v.numpy(), atol=2e-4), key
    assert [g["params"] for g in sd_d["param_groups"]] == [g["params"] for g in sd_t["param_groups"]]
    for gd, gt in zip(sd_d["param_groups"], sd_t["param_groups"]):
        for key in gd:
            assert gd[key] == gt[key], key


def test_sgd_update_formula_by_hand():
    p = nn.Parameter(dg.tensor([1.0, -2.0]))
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    for g in ([1.0, 1.0], [0.5, -1.0]):
        p.grad = dg.tensor(g)
        opt.step()
    g1 = np.array([1.0, 1.0]) + 0.01 * np.array([1.0, -2.0])
    p1 = np.array([1.0, -2.0]) - 0.1 * g1
    g2 = np.array([0.5, -1.0]) + 0.01 * p1
    buf = 0.9 * g1 + g2
    assert np.allclose(p.detach().numpy(), p1 - 0.1 * buf, atol=1e-6)
    assert np.allclose(opt.state[p]["momentum_buffer"].numpy(), buf, atol=1e-6)


def test_adam_update_formula_by_hand():
    p = nn.Parameter(dg.tensor([0.5]))
    opt = optim.Adam([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    m = v = 0.0
    x = 0.5
    for t, g in enumerate([0.2, -0.4, 1.0], start=1):
        p.grad = dg.tensor([g])
        opt.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        x -= 0.1 / (1 - 0.9 ** t) * m / (math.sqrt(v) / math.sqrt(1 - 0.999 ** t) + 1e-8)
    assert abs(p.item() - x) < 1e-6
    assert opt.state[p]["step"].item() == 3.0 and opt.state[p]["step"].dtype == dg.float32


def test_zero_grad_and_skipping_params_without_grad():
    a, b = nn.Parameter(dg.ones(2)), nn.Parameter(dg.ones(2))
    opt = optim.SGD([a, b], lr=1.0, momentum=0.9)
    (a * 3).sum().backward()
    opt.step()
    assert a.tolist() == [-2.0, -2.0] and b.tolist() == [1.0, 1.0]
    assert b not in opt.state and len(opt.state) == 1
    opt.zero_grad(set_to_none=False)
    assert a.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert a.grad is None


def test_param_groups_and_errors():
    a, b = nn.Parameter(dg.ones(1)), nn.Parameter(dg.ones(1))
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.9
    a.grad, b.grad = dg.ones(1), dg.ones(1)
    opt.step()
    assert a.item() == pytest.approx(0.9) and b.item() == pytest.approx(0.5)
    c = nn.Parameter(dg.ones(1))
    opt.add_param_group({"params": [c], "lr": 1.0})
    assert len(opt.param_groups) == 3
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="params argument given to the optimizer should be an iterable"):
        optim.SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([a * 2], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        optim.Adam([a], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero dampening"):
        optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.0"):
        optim.AdamW([a], betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {a}}], lr=0.1)


def test_errors_match_torch():
    torch = _torch()
    cases = [lambda L, p: L.optim.SGD([], lr=0.1), lambda L, p: L.optim.SGD(p, lr=0.1),
             lambda L, p: L.optim.SGD([p * 2], lr=0.1), lambda L, p: L.optim.Adam([p], lr=-1),
             lambda L, p: L.optim.SGD([p], lr=0.1, nesterov=True),
             lambda L, p: L.optim.Adam([p], betas=(0.9, 1.5)), lambda L, p: L.optim.Adam([p], eps=-1),
             lambda L, p: L.optim.SGD([p], lr=0.1, momentum=-1)]
    for i, case in enumerate(cases):
        with pytest.raises(Exception) as te:
            case(torch, torch.nn.Parameter(torch.ones(1)))
        with pytest.raises(Exception) as de:
            case(dg, nn.Parameter(dg.ones(1)))
        assert isinstance(de.value, type(te.value)) and isinstance(de.value, dg.DualGraphError), i
        assert str(de.value).replace("dualgraph.", "torch.") == str(te.value), i


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(0)
    x, y = data("mlp", rng)
    xd, yd = dg.tensor(x), dg.tensor(y)

    def run(model, opt, steps):
        out = []
        for _ in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(model(xd), yd)
            loss.backward()
            opt.step()
            out.append(loss.item())
        return out

    for cls, kw in [(optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)), (optim.Adam, dict(lr=1e-2)),
                    (optim.AdamW, dict(lr=1e-2, amsgrad=True))]:
        dg.manual_seed(0)
        ref_model = mlp(dg)
        ref_opt = cls(ref_model.parameters(), **kw)
        ref = run(ref_model, ref_opt, 8)
        dg.manual_seed(0)
        m1 = mlp(dg)
        o1 = cls(m1.parameters(), **kw)
        first = run(m1, o1, 4)
        msd, osd = m1.state_dict(), o1.state_dict()
        m2 = mlp(dg)
        m2.load_state_dict(msd)
        o2 = cls(m2.parameters(), **kw)
        o2.load_state_dict(osd)
        second = run(m2, o2, 4)
        assert np.allclose(first + second, ref, atol=1e-6, rtol=0), cls.__name__
        # the loaded state is a copy: o2's steps did not write into o1's tensors
        for p1, p2 in zip(m1.parameters(), m2.parameters()):
            for key, v in o1.state[p1].items():
                assert not np.shares_memory(v.numpy(), o2.state[p2][key].numpy()), key


def test_load_state_dict_errors_and_casting():
    a = nn.Parameter(dg.ones(2, dtype=dg.float64))
    opt = optim.Adam([a])
    a.grad = dg.ones(2, dtype=dg.float64)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"] = sd["state"][0]["exp_avg"].float()
    o2 = optim.Adam([nn.Parameter(dg.ones(2, dtype=dg.float64))], lr=0.5)
    o2.load_state_dict(sd)
    p2 = o2.param_groups[0]["params"][0]
    assert o2.state[p2]["exp_avg"].dtype == dg.float64            # cast to the param's dtype
    assert o2.state[p2]["step"].dtype == dg.float32                # except step
    assert o2.param_groups[0]["lr"] == 1e-3                         # hyper-parameters from the dict
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.Adam([{"params": [a]}, {"params": [nn.Parameter(dg.ones(1))]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        optim.Adam([a, nn.Parameter(dg.ones(1))]).load_state_dict(sd)


def test_repr_matches_torch():
    torch = _torch()
    td = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1, momentum=0.9)
    dd = optim.SGD([nn.Parameter(dg.ones(1))], lr=0.1, momentum=0.9)
    keep = {"lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"}
    tl = [ln for ln in repr(td).split("\n") if ":" not in ln or ln.strip().split(":")[0] in keep]
    assert repr(dd).split("\n") == tl


def test_step_code_uses_tensor_ops_only():
    """step() never reaches into numpy storage, so graph mode can stage it as assign ops."""
    for cls in (optim.SGD, optim.Adam):
        src = inspect.getsource(cls.step)
        assert "_data" not in src and "numpy" not in src, cls.__name__
    p = nn.Parameter(dg.ones(3))
    opt = optim.Adam([p])
    p.grad = dg.ones(3)
    opt.step()
    for v in opt.state[p].values():
        assert isinstance(v, dg.Tensor)


def test_closure_and_lr_scheduler():
    p = nn.Parameter(dg.tensor([2.0]))
    opt = optim.SGD([p], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (p ** 2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 4.0 and p.item() == pytest.approx(0.0)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step(closure)
        sched.step()
    assert np.allclose(lrs, [0.5, 0.5, 0.05, 0.05, 0.005])
    assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]


def test_lr_schedulers_match_torch():
    torch = _torch()
    for name, kw in [("StepLR", dict(step_size=3, gamma=0.5)), ("MultiStepLR", dict(milestones=[2, 5], gamma=0.1)),
                     ("ExponentialLR", dict(gamma=0.9)), ("CosineAnnealingLR", dict(T_max=6, eta_min=0.01)),
                     ("LambdaLR", dict(lr_lambda=lambda e: 1 / (e + 1)))]:
        to = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
        do = optim.SGD([nn.Parameter(dg.ones(1))], lr=0.1)
        ts = getattr(torch.optim.lr_scheduler, name)(to, **kw)
        ds = getattr(optim.lr_scheduler, name)(do, **kw)
        for _ in range(8):
            to.step(), do.step()
            ts.step(), ds.step()
            assert ds.get_last_lr()[0] == pytest.approx(ts.get_last_lr()[0], rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
    lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
    lambda p: optim.Adam(p, lr=0.1),
    lambda p: optim.AdamW(p, lr=0.1, amsgrad=True),
], ids=["sgd momentum", "sgd nesterov wd", "adam", "adamw amsgrad"])
def test_traced_train_step_matches_eager(make):
    """The same train step, run eagerly and traced once by dg.function (then replayed): the
    optimizer's state tensors persist across runs of the compiled plan."""
    if not hasattr(dg, "function"):
        pytest.skip("graph mode (dg.function) not available")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 4)).astype(np.float32), np.array([0, 1, 2, 0, 1])

    def run(traced):
        dg.manual_seed(0)
        m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        opt = make(m.parameters())

        def step(xb, yb):
            opt.zero_grad()
            loss = F.cross_entropy(m(xb), yb)
            loss.backward()
            opt.step()
            return loss

        f = dg.function(step) if traced else step
        return [float(f(dg.tensor(x), dg.tensor(y))) for _ in range(5)]

    eager, traced = run(False), run(True)
    assert np.allclose(traced, eager, atol=1e-6, rtol=0), (traced, eager)
    assert eager[-1] < eager[0]


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adagrad"])
def test_a_python_number_step_in_a_loaded_state_dict_goes_on_as_a_tensor(name):
    """Older checkpoints keep "step" a Python number: loading one, the steps go on from it."""
    def make():
        w = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
        return w, getattr(dg.optim, name)([w], lr=0.1)

    def step(w, opt):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()

    w, opt = make()
    for _ in range(3):
        step(w, opt)
    sd = opt.state_dict()
    w2, opt2 = make()
    with dg.no_grad():
        w2.copy_(w)
    sd["state"][0] = dict(sd["state"][0], step=float(sd["state"][0]["step"]))  # (a copy: shared)
    opt2.load_state_dict(sd)
    assert isinstance(opt2.state[w2]["step"], dg.Tensor)
    step(w, opt)
    step(w2, opt2)
    np.testing.assert_array_equal(w.detach().numpy(), w2.detach().numpy())
