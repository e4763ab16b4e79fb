"""Optimizers on parameters and gradients holding inf, NaN, signed zeros, huge and subnormal
values: a compiled training step (dg.function) gives eager's loss, parameters, optimizer state
and .grad call after call (the same bits; a NaN's sign and payload aside), with and without
clip_grad_norm_, and eager gives PyTorch's parameters (huge values left out there: PyTorch's
kernels fuse a multiply-add where a product overflows, so 1e30-sized gradients round
differently, not by rule)."""
import itertools

import numpy as np
import pytest

import dualgraph as dg
from special_value_checks import SPECIALS, salted, same_bits

# (numpy's inf/NaN warnings, which pytest shows whatever dualgraph's own filter says)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
NOT_HUGE = SPECIALS[np.abs(np.nan_to_num(SPECIALS, posinf=0, neginf=0)) < 1e20]
SHAPES = [(4, 5), (5,), (3, 2, 2)]
CONFIGS = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd_momentum": ("SGD", dict(lr=0.1, momentum=0.9)),
    "sgd_nesterov_decay": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "sgd_dampening": ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1)),
    "adam": ("Adam", dict(lr=0.01)),
    "adam_amsgrad": ("Adam", dict(lr=0.01, amsgrad=True)),
    "adamw": ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    "rmsprop": ("RMSprop", dict(lr=0.01)),
    "rmsprop_centered_momentum": ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
    "adagrad": ("Adagrad", dict(lr=0.1)),
}
CASES = [pytest.param(name, clip, id=f"{name}{'-clip' if clip else ''}")
         for name, clip in itertools.product(CONFIGS, (False, True))]


def train_dg(name, clip, specials, compiled, calls=3):
    """Per call: the loss, the parameters, the optimizer state (sorted keys), the .grads."""
    cls, kw = CONFIGS[name]
    rng = np.random.default_rng(sum(map(ord, name)) + clip)
    params = [dg.nn.Parameter(dg.tensor(salted(rng, s, specials, 0.15))) for s in SHAPES]
    opt = getattr(dg.optim, cls)(params, **kw)

    def step(*xs):
        opt.zero_grad()
        loss = sum((p * x).sum() for p, x in zip(params, xs))   # .grad = x, bit for bit
        loss.backward()
        if clip:
            dg.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss
    run = dg.function(step) if compiled else step
    records = []
    for _ in range(calls):
        loss = run(*[dg.tensor(salted(rng, s, specials, 0.3)) for s in SHAPES])
        rec = [loss.detach().numpy()] + [p.detach().numpy() for p in params]
        for p in params:
            state = opt.state.get(p, {})
            rec += [np.asarray(state[k].numpy() if hasattr(state[k], "numpy") else state[k])
                    for k in sorted(state)]
        records.append([np.array(a, copy=True) for a in rec + [p.grad.numpy() for p in params]])
    return records


def train_torch(name, clip, specials, calls=3):
    torch = pytest.importorskip("torch")
    cls, kw = CONFIGS[name]
    rng = np.random.default_rng(sum(map(ord, name)) + clip)
    params = [torch.nn.Parameter(torch.tensor(salted(rng, s, specials, 0.15))) for s in SHAPES]
    opt = getattr(torch.optim, cls)(params, **kw)
    records = []
    for _ in range(calls):
        xs = [torch.tensor(salted(rng, s, specials, 0.3)) for s in SHAPES]
        opt.zero_grad()
        sum((p * x).sum() for p, x in zip(params, xs)).backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        records.append([p.detach().numpy().copy() for p in params])
    return records


@pytest.mark.filterwarnings("ignore:dg.function retraces")   # (the state appears at step 1)
@pytest.mark.parametrize("name,clip", CASES)
def test_compiled_training_gives_eagers_bits_at_special_values(name, clip):
    eager = train_dg(name, clip, SPECIALS, compiled=False)
    compiled = train_dg(name, clip, SPECIALS, compiled=True)
    for call, (e, c) in enumerate(zip(eager, compiled)):
        assert len(e) == len(c), (call, len(e), len(c))
        for i, (a, b) in enumerate(zip(e, c)):
            assert same_bits(a, b), (name, clip, call, i, a, b)


@pytest.mark.parametrize("name,clip", CASES)
def test_eager_training_gives_pytorchs_parameters_at_special_values(name, clip):
    ours = train_dg(name, clip, NOT_HUGE, compiled=False)
    theirs = train_torch(name, clip, NOT_HUGE)
    for call, (o, t) in enumerate(zip(ours, theirs)):
        for i, (a, b) in enumerate(zip(o[1:1 + len(SHAPES)], t)):
            assert np.array_equal(np.isnan(a), np.isnan(b)), (name, clip, call, i, a, b)
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{name} call {call}")
