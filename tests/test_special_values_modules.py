"""Modules through a training step on inputs holding inf, NaN, signed zeros, huge and
subnormal values: the compiled step (dg.function) gives eager's loss, parameters, .grad and
buffers (BatchNorm's running statistics) call after call, the same bits (a NaN's sign and
payload aside), for a cross-entropy and a mean-squared loss."""
import itertools

import numpy as np
import pytest

import dualgraph as dg
from special_value_checks import salted, same_bits

nn = dg.nn
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
MODELS = {   # name -> (model, input shape)
    "batchnorm1d": (lambda: nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(),
                                          nn.Linear(5, 3)), (8, 6)),
    "conv_batchnorm2d_maxpool": (lambda: nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16, 3)), (8, 2, 4, 4)),
    "layernorm_gelu": (lambda: nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.GELU(),
                                             nn.Linear(8, 3)), (8, 6)),
    "tanh_sigmoid": (lambda: nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8),
                                           nn.Sigmoid(), nn.Linear(8, 3)), (8, 6)),
    "softplus_elu_silu": (lambda: nn.Sequential(nn.Linear(6, 8), nn.Softplus(), nn.Linear(8, 8),
                                                nn.ELU(), nn.Linear(8, 8), nn.SiLU(),
                                                nn.Linear(8, 3)), (8, 6)),
    "conv_avgpool": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3), nn.AvgPool2d(2), nn.Flatten(),
                                           nn.Linear(4, 3)), (8, 2, 4, 4)),
    "conv_adaptive_avgpool": (lambda: nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.AdaptiveAvgPool2d((3, 3)), nn.Flatten(),
        nn.Linear(27, 3)), (8, 2, 4, 4)),
    "gru": (None, (4, 3, 6)),
}


def train(name, loss_kind, compiled, calls=3):
    dg.manual_seed(0)
    make, shape = MODELS[name]
    if make is None:   # a GRU read at its last step
        model, head = nn.GRU(6, 5, batch_first=True), nn.Linear(5, 3)
        forward, modules = (lambda x: head(model(x)[0][:, -1])), [model, head]
    else:
        model = make()
        forward, modules = model, [model]
    params = [p for m in modules for p in m.parameters()]
    opt = dg.optim.SGD(params, lr=0.05, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        out = forward(x)
        if loss_kind == "cross_entropy":
            loss = dg.nn.functional.cross_entropy(out, y)
        else:
            loss = dg.nn.functional.mse_loss(out, dg.zeros_like(out))
        loss.backward()
        opt.step()
        return loss
    run = dg.function(step) if compiled else step
    rng = np.random.default_rng(sum(map(ord, name)))
    records = []
    for _ in range(calls):
        loss = run(dg.tensor(salted(rng, shape)), dg.tensor(rng.integers(0, 3, shape[0])))
        rec = [loss.detach().numpy()] + [p.detach().numpy() for p in params]
        rec += [p.grad.numpy() for p in params] + [b.numpy() for m in modules for b in m.buffers()]
        records.append([np.array(a, copy=True) for a in rec])
    return records


@pytest.mark.parametrize("name,loss_kind", list(itertools.product(MODELS, ("cross_entropy", "mse"))))
def test_compiled_training_gives_eagers_bits_at_special_values(name, loss_kind):
    eager = train(name, loss_kind, compiled=False)
    compiled = train(name, loss_kind, compiled=True)
    for call, (e, c) in enumerate(zip(eager, compiled)):
        assert len(e) == len(c)
        for i, (a, b) in enumerate(zip(e, c)):
            assert same_bits(a, b), (name, loss_kind, call, i, a, b)
