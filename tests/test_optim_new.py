"""RMSprop and Adagrad against PyTorch: same params, same gradient sequence, eagerly and in a
compiled train step (lr changed between calls: lifted, no retrace); state_dict round trip."""
import numpy as np
import pytest

import dualgraph as dg
from dualgraph import optim

CASES = [
    ("RMSprop", dict(lr=1e-2)),
    ("RMSprop", dict(lr=1e-2, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.8, centered=True)),
    ("RMSprop", dict(lr=1e-2, momentum=0.5, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.3, eps=1e-8)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)),
]
IDS = [f"{c}-{i}" for i, (c, _) in enumerate(CASES)]


def _torch():
    return pytest.importorskip("torch")


def _grads(rng, n=5):
    return [(rng.standard_normal((3, 4)).astype(np.float32),
             rng.standard_normal(4).astype(np.float32)) for _ in range(n)]


def _torch_run(torch, cls, kw, p0, grads, lrs):
    ps = [torch.tensor(a.copy(), requires_grad=True) for a in p0]
    opt = getattr(torch.optim, cls)(ps, **kw)
    for (g0, g1), lr in zip(grads, lrs):
        opt.param_groups[0]["lr"] = lr
        ps[0].grad, ps[1].grad = torch.tensor(g0), torch.tensor(g1)
        opt.step()
    return [p.detach().numpy() for p in ps], opt


@pytest.mark.parametrize("cls,kw", CASES, ids=IDS)
@pytest.mark.parametrize("traced", [False, True])
def test_matches_torch(cls, kw, traced):
    torch = _torch()
    rng = np.random.default_rng(0)
    p0 = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
    grads = _grads(rng)
    lrs = [kw["lr"] * (0.9 ** i) for i in range(len(grads))]
    want, topt = _torch_run(torch, cls, kw, p0, grads, lrs)

    ps = [dg.tensor(a.copy(), requires_grad=True) for a in p0]
    opt = getattr(optim, cls)(ps, **kw)
    gs = [dg.zeros(3, 4), dg.zeros(4)]

    def step():
        ps[0].grad, ps[1].grad = gs[0].clone(), gs[1].clone()
        opt.step()

    f = dg.function(step) if traced else step
    for (g0, g1), lr in zip(grads, lrs):
        opt.param_groups[0]["lr"] = lr
        gs[0].copy_(dg.tensor(g0))
        gs[1].copy_(dg.tensor(g1))
        f()
    if traced:
        assert f.trace_count == 1
    for p, w in zip(ps, want):
        np.testing.assert_allclose(p.detach().numpy(), w, rtol=1e-5, atol=1e-6)
    # the state matches PyTorch's, key by key
    tsd, dsd = topt.state_dict(), opt.state_dict()
    for i in tsd["state"]:
        assert set(tsd["state"][i]) == set(dsd["state"][i])
        for k, v in tsd["state"][i].items():
            np.testing.assert_allclose(np.asarray(dsd["state"][i][k].numpy()), v.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls,kw", CASES, ids=IDS)
def test_state_dict_round_trip(cls, kw):
    torch = _torch()
    rng = np.random.default_rng(1)
    p0 = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
    grads = _grads(rng, 6)
    want, _ = _torch_run(torch, cls, kw, p0, grads, [kw["lr"]] * 6)

    ps = [dg.tensor(a.copy(), requires_grad=True) for a in p0]
    opt = getattr(optim, cls)(ps, **kw)
    for g0, g1 in grads[:3]:
        ps[0].grad, ps[1].grad = dg.tensor(g0), dg.tensor(g1)
        opt.step()
    sd = opt.state_dict()
    ps2 = [dg.tensor(p.detach().numpy().copy(), requires_grad=True) for p in ps]
    opt2 = getattr(optim, cls)(ps2, **kw)
    opt2.load_state_dict(sd)
    for g0, g1 in grads[3:]:
        ps2[0].grad, ps2[1].grad = dg.tensor(g0), dg.tensor(g1)
        opt2.step()
    for p, w in zip(ps2, want):
        np.testing.assert_allclose(p.detach().numpy(), w, rtol=1e-5, atol=1e-6)


def test_errors():
    p = [dg.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="Invalid alpha value"):
        optim.RMSprop(p, alpha=-1)
    with pytest.raises(ValueError, match="Invalid lr_decay value"):
        optim.Adagrad(p, lr_decay=-1)


def test_inference_mode():
    x = dg.ones(2, requires_grad=True)
    with dg.inference_mode():
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    with dg.inference_mode(False):
        assert (x * 2).requires_grad

    @dg.inference_mode
    def f(x):
        return x * 2

    @dg.autograd.inference_mode()
    def g(x):
        return x * 2
    assert not f(x).requires_grad and not g(x).requires_grad


def test_traced_function_rename():
    import warnings
    assert isinstance(dg.function(lambda x: x), dg.TracedFunction)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert dg.Function is dg.TracedFunction
    assert any(issubclass(x.category, DeprecationWarning) for x in w)
