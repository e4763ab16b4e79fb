"""dg.check_consistency: silent when the modes agree, and names the right node (op, graph name,
source line, forward or backward) for a divergence planted in a test op's graph-mode kernel."""
import linecache

import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F
from dualgraph.compare.consistency import ConsistencyError, Divergence
from dualgraph.ops import dispatch
from dualgraph.ops.registry import OPS, Spec, defop, defvjp


def _same(a):
    return Spec(a.shape, a.dtype)


@pytest.fixture
def planted():
    """Two test ops: `planted_scale` (x * 2 eagerly; its graph-mode out_kernel multiplies by
    2.001) and `planted_double` (x * 2 in both modes) whose backward rule uses planted_scale,
    so its forward agrees and its backward does not."""
    scale = defop("planted_scale", lambda a: a * 2, _same,
                  out_kernel=lambda a, out=None: np.multiply(a, 2.001, out=out))
    defvjp(scale, lambda g, n: (dispatch.apply(scale, g),))
    double = defop("planted_double", lambda a: a * 2, _same)
    defvjp(double, lambda g, n: (dispatch.apply(scale, g),))
    try:
        yield scale, double
    finally:
        del OPS["planted_scale"], OPS["planted_double"]


def _line(where):
    return linecache.getline(where[0], where[1])


def test_planted_forward_divergence_is_named(planted):
    scale, _ = planted

    def f(a):
        b = a.tanh()
        c = dispatch.apply(scale, b)  # the planted op
        return (c * 3).sum()

    d = dg.check_consistency(f, dg.randn(4, 3))
    assert isinstance(d, Divergence)
    assert d.op == "planted_scale" and d.phase == "forward" and d.name == "planted_scale"
    assert d.index == 1 and d.compared == 1  # tanh before it agreed
    assert d.where[0] == __file__ and "the planted op" in _line(d.where)
    assert d.eager.shape == d.compiled.shape == (4, 3)
    np.testing.assert_allclose(d.compiled, d.eager * 1.0005, rtol=1e-5)
    text = str(d)
    assert "planted_scale" in text and "test_consistency.py" in text and "largest difference" in text


def test_planted_backward_divergence_names_the_gradient(planted):
    _, double = planted

    def f(a):
        y = dispatch.apply(double, a.exp())  # agrees forward; its gradient uses planted_scale
        y.sum().backward()
        return a.grad

    a = dg.randn(5, requires_grad=True)
    d = dg.check_consistency(f, a)
    assert d is not None and d.op == "planted_scale" and d.phase == "backward"
    assert d.grad_of[0] == "planted_double" and "agrees forward" in _line(d.grad_of[1])
    assert "in the gradient of planted_double" in str(d)


def test_raise_error_and_tolerance(planted):
    scale, _ = planted

    def f(a):
        return dispatch.apply(scale, a)

    x = dg.ones(3)
    with pytest.raises(ConsistencyError, match="planted_scale"):
        dg.check_consistency(f, x, raise_error=True)
    assert dg.check_consistency(f, x, rtol=1e-3) is None  # 0.05% off: within rtol=1e-3


def _mlp_step():
    dg.manual_seed(0)
    model = dg.nn.Sequential(dg.nn.Linear(6, 8), dg.nn.ReLU(), dg.nn.Linear(8, 3))
    opt = dg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step, model


def test_silent_on_a_training_step_with_shared_state():
    step, model = _mlp_step()
    x, y = dg.randn(5, 6), dg.tensor([0, 1, 2, 1, 0])
    before = [p.detach().clone() for p in model.parameters()]
    assert dg.check_consistency(step, x, y, calls=3) is None
    # the state ends as after three compiled steps (not six): each call pair started equal
    ref, ref_model = _mlp_step()
    for _ in range(3):
        ref(x, y)
    for p, q, b in zip(model.parameters(), ref_model.parameters(), before):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
        assert not np.allclose(p.detach().numpy(), b.numpy())


def test_silent_with_setup_on_a_cnn_and_control_flow():
    def cnn():
        dg.manual_seed(1)
        conv = dg.nn.Conv2d(1, 2, 3)
        head = dg.nn.Linear(2 * 2 * 2, 2)
        opt = dg.optim.SGD(list(conv.parameters()) + list(head.parameters()), lr=0.05)

        def step(x, y):
            opt.zero_grad()
            h = dg.nn.functional.max_pool2d(conv(x).relu(), 2)
            loss = F.cross_entropy(head(h.flatten(1)), y)
            loss.backward()
            opt.step()
            return loss
        return step

    assert dg.check_consistency(dg.randn(2, 1, 6, 6), dg.tensor([0, 1]), setup=cnn) is None

    w = dg.randn(3, requires_grad=True)

    def branchy(x):
        s = (x * w).sum()
        if s > 0:  # AutoGraph: a dg.cond in the graph
            s = s * 2
        s.backward()
        return s

    # (the records inside a branch are the subgraph's; the outer nodes are compared)
    for sign in (1.0, -1.0):
        w.grad = None
        assert dg.check_consistency(branchy, dg.ones(3) * sign) is None


def test_a_divergence_in_state_after_a_write_is_found(planted):
    """A write computed with the planted op: the state value after it differs."""
    scale, _ = planted
    buf = dg.ones(4)

    def f(x):
        buf.copy_(dispatch.apply(scale, buf) + x)
        return buf.sum()

    d = dg.check_consistency(f, dg.ones(4))
    assert d is not None and d.op == "planted_scale"


# ------------------------------------------------------------------ the workload suite
from dualgraph.compare.workloads import WORKLOADS  # noqa: E402


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_silent_across_the_workload_suite(name):
    setup, inputs = WORKLOADS[name].build(4)
    for i in (0, 1):   # the RNN's length changes between calls
        assert dg.check_consistency(*inputs(i), setup=setup, calls=2) is None


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_a_planted_input_drift_is_found_in_each_workload(name):
    """The same workload with its input scaled by 1.001 only when compiled: the oracle must
    name that multiply, in the forward, at the first call (so the silence above can fail)."""
    setup, inputs = WORKLOADS[name].build(4)

    def planted_setup():
        step = setup()

        def planted(x, *rest):
            return step(x * (1.0 if dg.executing_eagerly() else 1.001), *rest)
        return planted

    found = dg.check_consistency(*inputs(0), setup=planted_setup, calls=2)
    assert isinstance(found, Divergence), name
    assert (found.call, found.phase, found.op) == (0, "forward", "mul"), str(found)


# ------------------------------------------------------------------ the new layers' training steps
_nn = dg.nn


def _layer_cases():
    rng = np.random.default_rng(0)

    def t(*s):
        return dg.tensor(rng.standard_normal(s).astype(np.float32))
    return {
        "lstm": (lambda: _nn.LSTM(4, 6, num_layers=2, batch_first=True),
                 lambda m, x: m(x)[0].pow(2).mean(), (t(3, 5, 4),)),
        "gru_bidirectional": (lambda: _nn.GRU(4, 5, bidirectional=True),
                              lambda m, x: m(x)[0].sum(), (t(5, 2, 4),)),
        "attention": (lambda: _nn.MultiheadAttention(8, 2, batch_first=True),
                      lambda m, x: m(x, x, x)[0].pow(2).mean(), (t(2, 5, 8),)),
        # GroupNorm reads its weight through a view (reshape) that the SGD step then updates:
        # the compiled value fetched must be the one before the update, as eagerly
        "conv_groupnorm": (lambda: _nn.Sequential(_nn.Conv2d(3, 4, 3, padding=1), _nn.GroupNorm(2, 4), _nn.GELU(),
                                                  _nn.AvgPool2d(2), _nn.Flatten(), _nn.Linear(64, 3)),
                           lambda m, x, y: F.cross_entropy(m(x), y), (t(2, 3, 8, 8), dg.tensor([0, 2]))),
        # batch norm then dropout: the trace also builds dropout's gradient for its mask (read
        # by nothing, never computed eagerly); it must not be compared with the eager gradient
        "batchnorm_dropout": (lambda: _nn.Sequential(_nn.Linear(8, 16), _nn.BatchNorm1d(16), _nn.Dropout(0.5),
                                                     _nn.Linear(16, 3)),
                              lambda m, x, y: F.cross_entropy(m(x), y), (t(4, 8), dg.tensor([0, 1, 2, 0]))),
        "conv_transpose": (lambda: _nn.Sequential(_nn.ConvTranspose2d(3, 2, 3, stride=2), _nn.SiLU(),
                                                  _nn.AdaptiveAvgPool2d(2)),
                           lambda m, x: m(x).pow(2).mean(), (t(2, 3, 4, 4),)),
    }


@pytest.mark.parametrize("name", list(_layer_cases()))
def test_silent_on_the_new_layers_training_steps(name):
    build, loss_fn, xs = _layer_cases()[name]

    def setup():
        dg.manual_seed(0)
        m = build()
        opt = dg.optim.SGD(m.parameters(), lr=0.05)

        def step(*a):
            opt.zero_grad()
            loss = loss_fn(m, *a)
            loss.backward()
            opt.step()
            return loss
        return step
    assert dg.check_consistency(*xs, setup=setup, calls=2) is None
