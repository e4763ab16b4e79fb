"""dg.nn and dg.optim in GRAPH mode (issue 4, "both modes").

1. Every layer, loss and F.* function of API.md: values and gradients (w.r.t. the inputs and the
   module's parameters, which a graph captures as variables by reference) computed in a graph
   (`dg.graph_mode()` + placeholders + `dg.gradients` + `dg.Session`) equal PyTorch's given the
   same weights, and equal the eager values (1e-6 relative).
2. The training step of the issue, written once, run eagerly and compiled by `dg.function`
   (traced once): eager losses equal PyTorch's, compiled losses and final parameters equal eager.
3. BatchNorm1d running statistics and Dropout masks in a compiled step.
4. Module hooks under tracing (the documented "once per trace" behaviour).
5. state_dict() of a model trained by the compiled step.
"""
import functools

import numpy as np
import pytest

import dualgraph as dg
from dualgraph import nn, optim
from dualgraph.nn import functional as F


def _torch():
    return pytest.importorskip("torch")


def to_np(t):
    if t is None:
        return None
    if hasattr(t, "detach"):
        t = t.detach()
    return np.asarray(t.detach().numpy() if hasattr(t, "numpy") else t)


def close_torch(got, want, atol=1e-5, rtol=1e-4, what=""):
    """dualgraph (eager or graph) against PyTorch."""
    got, want = to_np(got), to_np(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, atol=atol, rtol=rtol, err_msg=what)


def close_eager(got, want, what=""):
    """graph mode against eager mode: within 1e-6 relative (plus float32 rounding near 0)."""
    got, want = to_np(got), to_np(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=what)


def copy_weights(tm, dm):
    """PyTorch's parameters and buffers into a dualgraph module (same state_dict keys)."""
    dm.load_state_dict({k: dg.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})


# ================================================================ 1. layers, losses, F.*
# Inputs: ("f", shape) a float input (differentiated), ("i", shape, hi) integer input in [0, hi).
def f(*shape):
    return ("f", shape)


def i(hi, *shape):
    return ("i", shape, hi)


def fn(body):
    """A functional case: make(L) gives a callable using L.nn.functional."""
    return lambda L: functools.partial(body, L.nn.functional)


def containers(L):
    """Sequential / ModuleList / ModuleDict used the usual way inside a forward."""
    class Net(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = L.nn.ModuleList([L.nn.Linear(5, 6), L.nn.Linear(6, 6)])
            self.acts = L.nn.ModuleDict({"tanh": L.nn.Tanh(), "relu": L.nn.ReLU()})
            self.head = L.nn.Sequential(L.nn.Linear(6, 3), L.nn.Softmax(dim=1))

        def forward(self, x):
            for j, block in enumerate(self.blocks):
                x = self.acts["tanh" if j % 2 == 0 else "relu"](block(x))
            return self.head(x)

    return Net()


def small_cnn(L):
    return L.nn.Sequential(L.nn.Conv2d(1, 3, 3, padding=1), L.nn.ReLU(), L.nn.MaxPool2d(2),
                           L.nn.Flatten(), L.nn.Linear(3 * 3 * 3, 4))


# (id, make(L) -> module or callable, input specs)
CASES = [
    # layers
    ("Linear", lambda L: L.nn.Linear(5, 3), [f(4, 5)]),
    ("Linear no bias 3-D", lambda L: L.nn.Linear(5, 3, bias=False), [f(2, 4, 5)]),
    ("Conv2d", lambda L: L.nn.Conv2d(3, 4, 3), [f(2, 3, 7, 6)]),
    ("Conv2d stride pad dilation groups",
     lambda L: L.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
     [f(2, 4, 9, 8)]),
    ("MaxPool2d", lambda L: L.nn.MaxPool2d(2), [f(2, 3, 6, 7)]),
    ("MaxPool2d stride pad ceil", lambda L: L.nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
     [f(2, 2, 8, 7)]),
    ("Flatten", lambda L: L.nn.Flatten(), [f(2, 3, 4)]),
    ("ReLU", lambda L: L.nn.ReLU(), [f(3, 4)]),
    ("Sigmoid", lambda L: L.nn.Sigmoid(), [f(3, 4)]),
    ("Tanh", lambda L: L.nn.Tanh(), [f(3, 4)]),
    ("Softmax", lambda L: L.nn.Softmax(dim=1), [f(3, 4)]),
    ("Dropout eval", lambda L: L.nn.Dropout(0.5).eval(), [f(3, 4)]),
    ("Dropout p=0", lambda L: L.nn.Dropout(0.0), [f(3, 4)]),
    ("BatchNorm1d train", lambda L: L.nn.BatchNorm1d(4), [f(6, 4)]),
    ("BatchNorm1d train 3-D", lambda L: L.nn.BatchNorm1d(3), [f(4, 3, 5)]),
    ("BatchNorm1d eval", lambda L: L.nn.BatchNorm1d(4).eval(), [f(6, 4)]),
    ("BatchNorm1d momentum=None", lambda L: L.nn.BatchNorm1d(4, momentum=None), [f(6, 4)]),
    ("LayerNorm", lambda L: L.nn.LayerNorm(5), [f(3, 5)]),
    ("LayerNorm 2 dims", lambda L: L.nn.LayerNorm((4, 5)), [f(2, 4, 5)]),
    ("Embedding", lambda L: L.nn.Embedding(10, 3), [i(10, 4, 5)]),
    ("Embedding padding_idx", lambda L: L.nn.Embedding(10, 3, padding_idx=1), [i(3, 4, 5)]),
    ("Identity", lambda L: L.nn.Identity(), [f(3, 4)]),
    ("containers", containers, [f(4, 5)]),
    ("small cnn", small_cnn, [f(2, 1, 6, 6)]),
    # losses
    ("MSELoss", lambda L: L.nn.MSELoss(), [f(4, 3), f(4, 3)]),
    ("MSELoss sum", lambda L: L.nn.MSELoss(reduction="sum"), [f(4, 3), f(4, 3)]),
    ("CrossEntropyLoss", lambda L: L.nn.CrossEntropyLoss(), [f(5, 4), i(4, 5)]),
    ("CrossEntropyLoss weight smoothing",
     lambda L: L.nn.CrossEntropyLoss(weight=L.tensor([0.5, 1.0, 2.0, 1.5]), label_smoothing=0.1),
     [f(5, 4), i(4, 5)]),
    ("CrossEntropyLoss probabilities", lambda L: L.nn.CrossEntropyLoss(), [f(5, 4), f(5, 4)]),
    ("NLLLoss", lambda L: L.nn.NLLLoss(), [f(5, 4), i(4, 5)]),
    ("NLLLoss none ignore_index", lambda L: L.nn.NLLLoss(reduction="none", ignore_index=2),
     [f(5, 4), i(4, 5)]),
    # functional forms
    ("F.relu", fn(lambda F, x: F.relu(x)), [f(3, 4)]),
    ("F.sigmoid", fn(lambda F, x: F.sigmoid(x)), [f(3, 4)]),
    ("F.tanh", fn(lambda F, x: F.tanh(x)), [f(3, 4)]),
    ("F.softmax", fn(lambda F, x: F.softmax(x, dim=0)), [f(3, 4)]),
    ("F.log_softmax", fn(lambda F, x: F.log_softmax(x, dim=1)), [f(3, 4)]),
    ("F.one_hot", fn(lambda F, t: F.one_hot(t, 6)), [i(6, 7)]),
    ("F.linear", fn(lambda F, x, w, b: F.linear(x, w, b)), [f(4, 5), f(3, 5), f(3)]),
    ("F.dropout eval", fn(lambda F, x: F.dropout(x, 0.5, training=False)), [f(3, 4)]),
    ("F.dropout p=0", fn(lambda F, x: F.dropout(x, 0.0)), [f(3, 4)]),
    ("F.cross_entropy", fn(lambda F, x, t: F.cross_entropy(x, t)), [f(5, 4), i(4, 5)]),
    ("F.nll_loss of log_softmax", fn(lambda F, x, t: F.nll_loss(F.log_softmax(x, dim=1), t)),
     [f(5, 4), i(4, 5)]),
    ("F.mse_loss", fn(lambda F, x, y: F.mse_loss(x, y)), [f(4, 3), f(4, 3)]),
    ("F.conv2d", fn(lambda F, x, w, b: F.conv2d(x, w, b, stride=2, padding=1)),
     [f(2, 3, 7, 7), f(4, 3, 3, 3), f(4)]),
    ("F.max_pool2d", fn(lambda F, x: F.max_pool2d(x, 2, stride=1)), [f(2, 2, 5, 5)]),
]


def _inputs(specs, rng):
    arrays = []
    for s in specs:
        if s[0] == "f":
            arrays.append(rng.standard_normal(s[1]).astype(np.float32))
        else:
            arrays.append(rng.integers(0, s[2], size=s[1]).astype(np.int64))
    return arrays


def _is_float(a):
    return a.dtype.kind == "f"


def _torch_module(torch, make):
    torch.manual_seed(0)
    tm = make(torch)
    if isinstance(tm, torch.nn.Module):
        with torch.no_grad():                # non-trivial affine parameters for the norms
            for n, p in tm.named_parameters():
                if (n.endswith("weight") and p.ndim == 1) or n.endswith("bias"):
                    p.uniform_(0.5, 1.5)
    return tm


def _torch_reference(torch, tm, arrays, gout_of):
    """PyTorch: output, the output cotangent used, input grads, parameter grads (by name) and
    buffers after the call."""
    xs = [torch.tensor(a, requires_grad=_is_float(a)) for a in arrays]
    y = tm(*xs)
    gout = gout_of(tuple(y.shape)) if y.dtype.is_floating_point else None
    if gout is not None:
        y.backward(torch.tensor(gout))
    params = dict(tm.named_parameters()) if isinstance(tm, torch.nn.Module) else {}
    buffers = dict(tm.named_buffers()) if isinstance(tm, torch.nn.Module) else {}
    return y, gout, [x.grad for x in xs], {n: p.grad for n, p in params.items()}, buffers


def _dg_module(make, tm):
    dm = make(dg)
    if isinstance(dm, nn.Module):
        copy_weights(tm, dm)
    return dm


def _named(dm, kind):
    if not isinstance(dm, nn.Module):
        return {}
    return dict(dm.named_parameters() if kind == "params" else dm.named_buffers())


def _eager(dm, arrays, gout):
    xs = [dg.tensor(a, requires_grad=_is_float(a)) for a in arrays]
    y = dm(*xs)
    if gout is not None:
        y.backward(dg.tensor(gout))
    return (to_np(y), [to_np(x.grad) for x in xs],
            {n: to_np(p.grad) for n, p in _named(dm, "params").items()},
            {n: to_np(b).copy() for n, b in _named(dm, "buffers").items()})


def _graph(dm, arrays, gout, batch=False):
    """Build the forward and dg.gradients in a graph (placeholders for the inputs, the module's
    parameters captured as variables), run it once with dg.Session. batch=True: the placeholders'
    first dimension is None (known only when the graph runs)."""
    params = _named(dm, "params")
    buffers = _named(dm, "buffers")
    with dg.graph_mode() as g:
        xs = [dg.placeholder(((None,) + a.shape[1:]) if batch and a.ndim else a.shape,
                             dtype=a.dtype, name=f"x{k}") for k, a in enumerate(arrays)]
        y = dm(*xs)
        assert isinstance(y, dg.SymbolicTensor)
        wrt = [x for x, a in zip(xs, arrays) if _is_float(a)]
        pvars = [g.capture(p) for p in params.values()]      # the captured variables
        assert all(v.node.op.name == "variable" for v in pvars)
        grads = []
        if gout is not None:
            grads = dg.gradients([y], wrt + pvars, grad_ys=[dg.constant(gout)])
            assert all(gr is None or isinstance(gr, dg.SymbolicTensor) for gr in grads)
        # the buffers' latest values: assign ops (running statistics) run when these are fetched
        bvals = [g.capture(b) for b in buffers.values()]
    fetch = {"y": y, "grads": [gr for gr in grads if gr is not None], "buffers": bvals}
    got = dg.Session(g).run(fetch, {x: a for x, a in zip(xs, arrays)})
    it = iter(got["grads"])
    gs = [next(it) if gr is not None else None for gr in grads]
    xgrads = iter(gs[:len(wrt)])
    in_grads = [next(xgrads) if _is_float(a) else None for a in arrays] if gout is not None \
        else [None] * len(arrays)
    pgrads = dict(zip(params, gs[len(wrt):])) if gout is not None else {n: None for n in params}
    return (got["y"], in_grads, pgrads, dict(zip(buffers, [np.asarray(b) for b in got["buffers"]])),
            {n: to_np(b).copy() for n, b in buffers.items()})


@pytest.mark.parametrize("name,make,specs", CASES, ids=[c[0] for c in CASES])
def test_graph_mode_values_and_gradients_equal_torch_and_eager(name, make, specs):
    torch = _torch()
    rng = np.random.default_rng(1)
    arrays = _inputs(specs, rng)
    grng = np.random.default_rng(2)
    tm = _torch_module(torch, make)
    em, gm = _dg_module(make, tm), _dg_module(make, tm)     # PyTorch's weights, before its run
    ty, gout, tin, tparams, tbufs = _torch_reference(
        torch, tm, arrays, lambda shape: grng.standard_normal(shape).astype(np.float32))
    if name.startswith("Dropout eval"):
        assert not tm.training and not gm.training

    ey, ein, eparams, ebufs = _eager(em, arrays, gout)
    gy, gin, gparams, gbufs_fetched, gbufs_after = _graph(gm, arrays, gout)

    # graph == PyTorch
    close_torch(gy, ty, what="value")
    for k, (a, b) in enumerate(zip(gin, tin)):
        if b is None:
            assert a is None
        else:
            close_torch(a, b, what=f"grad of input {k}")
    assert set(gparams) == set(tparams)
    for n in tparams:
        close_torch(gparams[n], tparams[n], what=f"grad of {n}")
    for n in tbufs:                       # running statistics: fetched, and written back
        close_torch(gbufs_fetched[n], tbufs[n], what=f"buffer {n} (fetched)")
        close_torch(gbufs_after[n], tbufs[n], what=f"buffer {n} (module after the run)")

    # graph == eager
    close_eager(gy, ey, "value")
    for k, (a, b) in enumerate(zip(gin, ein)):
        assert (a is None) == (b is None)
        if b is not None:
            close_eager(a, b, f"grad of input {k}")
    for n in eparams:
        close_eager(gparams[n], eparams[n], f"grad of {n}")
    for n in ebufs:
        close_eager(gbufs_after[n], ebufs[n], f"buffer {n}")


@pytest.mark.parametrize("name,make,specs", CASES, ids=[c[0] for c in CASES])
def test_graph_mode_with_unknown_batch_dimension_equals_eager(name, make, specs):
    """The same graphs with placeholders of shape (None, ...): shapes are only known at run time."""
    rng = np.random.default_rng(1)
    arrays = _inputs(specs, rng)
    grng = np.random.default_rng(2)
    dg.manual_seed(0)
    m = make(dg)
    state = {k: v.clone() for k, v in m.state_dict().items()} if isinstance(m, nn.Module) else {}

    def fresh():
        dm = make(dg)
        if state:
            dm.load_state_dict(state)
        return dm

    ey = fresh()(*[dg.tensor(a) for a in arrays])
    gout = grng.standard_normal(tuple(ey.shape)).astype(np.float32) if ey.dtype.is_floating_point \
        else None
    ey, ein, eparams, ebufs = _eager(fresh(), arrays, gout)
    gy, gin, gparams, _, gbufs = _graph(fresh(), arrays, gout, batch=True)
    close_eager(gy, ey, "value")
    for k, (a, b) in enumerate(zip(gin, ein)):
        assert (a is None) == (b is None)
        if b is not None:
            close_eager(a, b, f"grad of input {k}")
    for n in eparams:
        close_eager(gparams[n], eparams[n], f"grad of {n}")
    for n in ebufs:
        close_eager(gbufs[n], ebufs[n], f"buffer {n}")


def test_backward_in_graph_mode_records_symbolic_parameter_grads():
    """loss.backward() while a graph is built: p.grad is the symbolic gradient of the captured
    variable (the same one dg.gradients gives), and running it gives PyTorch's gradient."""
    torch = _torch()
    torch.manual_seed(0)
    tm = small_cnn(torch)
    dm = small_cnn(dg)
    copy_weights(tm, dm)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 1, 6, 6)).astype(np.float32), rng.integers(0, 4, size=4)
    torch.nn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y)).backward()
    with dg.graph_mode() as g:
        xp = dg.placeholder((None, 1, 6, 6), name="x")
        yp = dg.placeholder((None,), dtype=dg.int64, name="y")
        loss = F.cross_entropy(dm(xp), yp)
        loss.backward()
        grads = {n: p.grad for n, p in dm.named_parameters()}
    assert all(isinstance(gr, dg.SymbolicTensor) for gr in grads.values())
    got = dg.Session(g).run(grads, {xp: x, yp: y})
    for n, p in tm.named_parameters():
        close_torch(got[n], p.grad, what=n)
    assert all(p.grad is None for p in dm.parameters())   # outside the graph: eager .grad


# ================================================================ 2. the training step
def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def mlp(L):
    return L.nn.Sequential(L.nn.Linear(8, 16), L.nn.ReLU(), L.nn.Linear(16, 4))


MODELS = {
    "mlp": (mlp, (32, 8)),
    "cnn": (small_cnn, (16, 1, 6, 6)),
}
OPTIMIZERS = {
    "sgd momentum wd": ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=1e-4)),
    "adam": ("Adam", dict(lr=1e-2)),
}
STEPS = 12


def _train_torch(torch, tm, cls, kw, x, y, steps=STEPS):
    opt = getattr(torch.optim, cls)(tm.parameters(), **kw)
    xt, yt = torch.tensor(x), torch.tensor(y)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tm(xt), yt)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _train_dg(dm, cls, kw, x, y, compiled, steps=STEPS):
    opt = getattr(optim, cls)(dm.parameters(), **kw)
    step = dg.function(train_step) if compiled else train_step
    xd, yd = dg.tensor(x), dg.tensor(y)
    losses = []
    for _ in range(steps):
        loss = step(dm, opt, xd, yd)
        assert isinstance(loss, dg.Tensor) and not isinstance(loss, dg.SymbolicTensor)
        losses.append(float(loss))
    return losses, opt, step


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("model_name", list(MODELS))
def test_train_step_eager_equals_torch_and_compiled_equals_eager(model_name, opt_name):
    torch = _torch()
    build, xshape = MODELS[model_name]
    cls, kw = OPTIMIZERS[opt_name]
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(xshape).astype(np.float32), rng.integers(0, 4, size=xshape[0])
    torch.manual_seed(0)
    tm = build(torch)
    de, dc = build(dg), build(dg)
    copy_weights(tm, de)
    copy_weights(tm, dc)

    eager, opt_e, _ = _train_dg(de, cls, kw, x, y, compiled=False)
    compiled, opt_c, step = _train_dg(dc, cls, kw, x, y, compiled=True)
    want = _train_torch(torch, tm, cls, kw, x, y)

    np.testing.assert_allclose(eager, want, atol=1e-4, rtol=0)
    np.testing.assert_allclose(compiled, eager, atol=1e-6, rtol=0)
    assert eager[-1] < eager[0] - 0.1, eager              # it actually trains
    assert step.trace_count == 1
    pc = dict(dc.named_parameters())
    tp = dict(tm.named_parameters())
    for n, p in de.named_parameters():
        close_eager(pc[n], p, n)                           # compiled == eager
        close_torch(p, tp[n], atol=1e-4, what=n)           # eager == torch
    # the optimizer state the plan updated in place equals the eager optimizer's
    for pe, pcc in zip(de.parameters(), dc.parameters()):
        se, sc = opt_e.state[pe], opt_c.state[pcc]
        assert set(se) == set(sc)
        for k in se:
            close_eager(sc[k], se[k], k)


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_compiled_and_eager_steps_share_model_and_optimizer_state(opt_name):
    """Capture by reference: compiled steps and eager steps interleaved on one model and one
    optimizer give the same trajectory as eager steps only."""
    cls, kw = OPTIMIZERS[opt_name]
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 8)).astype(np.float32), rng.integers(0, 4, size=32)
    dg.manual_seed(0)
    ref, mixed = mlp(dg), mlp(dg)
    mixed.load_state_dict(ref.state_dict())
    want, _, _ = _train_dg(ref, cls, kw, x, y, compiled=False, steps=9)
    opt = getattr(optim, cls)(mixed.parameters(), **kw)
    compiled = dg.function(train_step)
    xd, yd = dg.tensor(x), dg.tensor(y)
    got = []
    for k in range(9):
        step = compiled if k // 3 != 1 else train_step    # 3 compiled, 3 eager, 3 compiled
        got.append(float(step(mixed, opt, xd, yd)))
    assert compiled.trace_count == 1
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    for (n, p), q in zip(ref.named_parameters(), mixed.parameters()):
        close_eager(q, p, n)


def test_compiled_function_follows_train_eval_switch():
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 50), nn.Dropout(0.5))

    def forward(m, x):
        return m(x)

    fwd = dg.function(forward)
    x = dg.randn(3, 4)
    fwd(model, x)                                      # traced in train mode
    model.eval()                                       # training flags are part of the key
    with dg.no_grad():
        want = model(x).detach().numpy()                        # eval: dropout is the identity
    np.testing.assert_array_equal(fwd(model, x).detach().numpy(), want)
    assert fwd.trace_count == 2

    closed = dg.function(lambda x: model(x))           # a module reached through a closure
    closed(x)
    model.train()
    assert (closed(x).detach().numpy() == 0).any() and closed.trace_count == 2


# ================================================================ 3. BatchNorm1d and Dropout
def bn_net(L, momentum=0.1):
    return L.nn.Sequential(L.nn.Linear(6, 8), L.nn.BatchNorm1d(8, momentum=momentum), L.nn.ReLU(),
                           L.nn.Linear(8, 3))


@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum=0.1", "momentum=None"])
def test_batchnorm_running_stats_in_compiled_step_equal_eager_and_torch(momentum):
    torch = _torch()
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((10, 6)) * 2 + 0.5).astype(np.float32)
    y = rng.integers(0, 3, size=10)
    torch.manual_seed(0)
    tm = bn_net(torch, momentum)
    de, dc = bn_net(dg, momentum), bn_net(dg, momentum)
    copy_weights(tm, de)
    copy_weights(tm, dc)
    kw = dict(lr=0.1, momentum=0.9)
    want = _train_torch(torch, tm, "SGD", kw, x, y, steps=10)
    eager, _, _ = _train_dg(de, "SGD", kw, x, y, compiled=False, steps=10)
    compiled, _, step = _train_dg(dc, "SGD", kw, x, y, compiled=True, steps=10)
    assert step.trace_count == 1
    np.testing.assert_allclose(eager, want, atol=1e-4, rtol=0)
    np.testing.assert_allclose(compiled, eager, atol=1e-6, rtol=0)
    tb, eb, cb = dict(tm.named_buffers()), dict(de.named_buffers()), dict(dc.named_buffers())
    assert list(cb) == ["1.running_mean", "1.running_var", "1.num_batches_tracked"]
    for n in tb:
        close_eager(cb[n], eb[n], n)
        close_torch(eb[n], tb[n], what=n)
    assert int(cb["1.num_batches_tracked"]) == int(eb["1.num_batches_tracked"]) == 10
    assert cb["1.num_batches_tracked"].dtype == dg.int64
    # and the learnt statistics are the ones eval mode uses
    tm.eval(), de.eval(), dc.eval()
    close_torch(dc(dg.tensor(x)), tm(torch.tensor(x)), what="eval output")
    close_eager(dc(dg.tensor(x)), de(dg.tensor(x)), "eval output")


def test_dropout_in_compiled_function_samples_a_new_mask_each_run_and_follows_manual_seed():
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 40), nn.Dropout(0.5))
    x = dg.tensor(np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32))
    fwd = dg.function(lambda inp: model(inp))
    a, b = fwd(x).detach().numpy(), fwd(x).detach().numpy()
    assert fwd.trace_count == 1
    assert not np.array_equal(a, b)                        # a new mask at each run
    with dg.no_grad():
        full = model[0](x).detach().numpy() * 2.0                   # kept units are scaled by 1 / (1 - p)
    for out in (a, b):
        kept = out != 0
        assert 0.3 < kept.mean() < 0.7
        np.testing.assert_allclose(out[kept], full[kept], rtol=1e-6)
    dg.manual_seed(123)
    r1 = [fwd(x).detach().numpy() for _ in range(2)]
    dg.manual_seed(123)
    r2 = [fwd(x).detach().numpy() for _ in range(2)]
    np.testing.assert_array_equal(r1[0], r2[0])
    np.testing.assert_array_equal(r1[1], r2[1])
    assert not np.array_equal(r1[0], r1[1])
    # eval mode: the module is traced again (a Python attribute changed, so a new graph is
    # needed; dg.function keys on tensors and arguments, not on module.training) -- call a
    # separate function to get the deterministic forward
    model.eval()
    fwd_eval = dg.function(lambda inp: model(inp))
    np.testing.assert_array_equal(fwd_eval(x).detach().numpy(), fwd_eval(x).detach().numpy())


def test_dropout_training_compiled_equals_eager_with_the_same_seed():
    """The plan draws the masks from the same generator, in the same order, as eager code."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 8)).astype(np.float32), rng.integers(0, 4, size=16)

    def build():
        dg.manual_seed(0)
        return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 4))

    de, dc = build(), build()
    dg.manual_seed(7)
    eager, _, _ = _train_dg(de, "SGD", dict(lr=0.1, momentum=0.9), x, y, compiled=False, steps=6)
    dg.manual_seed(7)
    compiled, _, step = _train_dg(dc, "SGD", dict(lr=0.1, momentum=0.9), x, y, compiled=True, steps=6)
    assert step.trace_count == 1
    np.testing.assert_allclose(compiled, eager, atol=1e-6, rtol=0)
    for (n, p), q in zip(de.named_parameters(), dc.parameters()):
        close_eager(q, p, n)


# ================================================================ 4. hooks under tracing
def test_forward_hooks_run_once_per_trace_not_per_compiled_call():
    dg.manual_seed(0)
    model = mlp(dg)
    seen = []
    model[0].register_forward_pre_hook(lambda m, args: seen.append(("pre", type(args[0]))))
    model[0].register_forward_hook(lambda m, args, out: seen.append(("post", type(out))))
    fwd = dg.function(lambda inp: model(inp))
    x = dg.randn(3, 8)
    for _ in range(4):
        fwd(x)
    assert fwd.trace_count == 1
    assert seen == [("pre", dg.SymbolicTensor), ("post", dg.SymbolicTensor)]  # while tracing
    fwd(dg.randn(5, 8))                        # a new input shape: traced again, hooks run again
    assert fwd.trace_count == 2 and len(seen) == 4
    seen.clear()
    model(x)                                   # eagerly: at every call, with eager tensors
    model(x)
    assert seen == [("pre", dg.Tensor), ("post", dg.Tensor)] * 2


def test_hooks_replacing_input_and_output_take_effect_in_the_compiled_plan():
    torch = _torch()
    torch.manual_seed(0)
    tm = mlp(torch)
    dm = mlp(dg)
    copy_weights(tm, dm)
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    plain = dm(dg.tensor(x)).detach().numpy()
    for L, m in ((torch, tm), (dg, dm)):
        m[0].register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
        m[2].register_forward_hook(lambda mod, args, out: out - out.max(dim=1, keepdim=True)[0])
    fwd = dg.function(lambda inp: dm(inp))
    got = fwd(dg.tensor(x))
    assert fwd.trace_count == 1
    close_eager(got, dm(dg.tensor(x)), "compiled vs eager, with hooks")
    close_torch(got, tm(torch.tensor(x)), what="compiled vs torch, with hooks")
    assert not np.allclose(got.detach().numpy(), plain)
    assert np.allclose(got.detach().numpy().max(axis=1), 0)


def test_removing_a_forward_hook_retraces():
    """Hooks run while tracing, so the plan has the hook's effect baked in: removing the hook
    (a change to the module's hooks, guarded) retraces, and the plan agrees with eager again."""
    dg.manual_seed(0)
    m = nn.Linear(3, 2)
    h = m.register_forward_hook(lambda mod, args, out: out * 0)
    fwd = dg.function(lambda inp: m(inp))
    x = dg.randn(4, 3)
    assert np.all(fwd(x).detach().numpy() == 0)
    h.remove()
    with pytest.warns(UserWarning, match="hooks were registered or removed"):
        y = fwd(x)
    assert fwd.trace_count == 2
    assert np.array_equal(y.detach().numpy(), m(x).detach().numpy())
    assert not np.all(y.detach().numpy() == 0)


def test_full_backward_hook_fires_while_the_graph_is_built():
    """In graph mode a full backward hook runs while loss.backward() builds the backward graph
    (once per trace) and sees symbolic grad_input / grad_output; the gradients it returns are
    built into the plan, so a compiled step equals the eager step with the same hook."""
    torch = _torch()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 8)).astype(np.float32), rng.integers(0, 4, size=6)
    torch.manual_seed(0)
    tm = mlp(torch)
    models = {"eager": mlp(dg), "compiled": mlp(dg)}
    for m in models.values():
        copy_weights(tm, m)
    seen = {k: [] for k in models}

    def hook(tag):
        def h(mod, gin, gout):
            seen[tag].append((tuple(type(t) for t in gin), tuple(type(t) for t in gout),
                              tuple(tuple(t.shape) for t in gout)))
            return (gin[0] * 0.5,)
        return h

    for tag, m in models.items():
        m[2].register_full_backward_hook(hook(tag))
    tm[2].register_full_backward_hook(lambda mod, gin, gout: (gin[0] * 0.5,))

    def grads_step(model, x, y):
        for p in model.parameters():
            p.grad = None
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return [loss] + [p.grad for p in model.parameters()]

    compiled = dg.function(grads_step)
    xd, yd = dg.tensor(x), dg.tensor(y)
    for _ in range(3):
        out_c = compiled(models["compiled"], xd, yd)
        out_e = grads_step(models["eager"], xd, yd)
    assert compiled.trace_count == 1
    assert seen["compiled"] == [((dg.SymbolicTensor,), (dg.SymbolicTensor,), ((6, 4),))]
    assert seen["eager"] == [((dg.Tensor,), (dg.Tensor,), ((6, 4),))] * 3
    torch.nn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y)).backward()
    names = [n for n, _ in tm.named_parameters()]
    tp = dict(tm.named_parameters())
    for n, gc, ge in zip(names, out_c[1:], out_e[1:]):
        close_eager(gc, ge, n)
        close_torch(gc, tp[n].grad, what=n)


# ================================================================ 5. state_dict after compiled training
def test_state_dict_of_compiled_trained_model_loads_into_a_fresh_model():
    torch = _torch()
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((12, 6)).astype(np.float32), rng.integers(0, 3, size=12)
    dg.manual_seed(0)
    model = bn_net(dg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _, _, step = _train_dg(model, "Adam", dict(lr=1e-2), x, y, compiled=True, steps=8)
    assert step.trace_count == 1
    sd = model.state_dict()
    assert list(sd) == list(before)
    assert int(sd["1.num_batches_tracked"]) == 8
    assert any(not np.array_equal(sd[k].detach().numpy(), before[k].detach().numpy()) for k in sd)
    dg.manual_seed(1)
    fresh = bn_net(dg)
    fresh.load_state_dict(sd)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v.detach().numpy(), sd[k].detach().numpy(), err_msg=k)
    model.eval(), fresh.eval()
    xd = dg.tensor(x)
    with dg.no_grad():
        np.testing.assert_array_equal(fresh(xd).detach().numpy(), model(xd).detach().numpy())
    # compiled inference with the loaded weights too, and in PyTorch
    np.testing.assert_array_equal(dg.function(lambda inp: fresh(inp))(xd).detach().numpy(),
                                  model(xd).detach().numpy())
    tm = bn_net(torch).eval()
    tm.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in sd.items()})
    close_torch(fresh(xd), tm(torch.tensor(x)), what="loaded into torch")


def test_training_resumes_from_state_dicts_of_a_compiled_run(tmp_path):
    """Model and optimizer state dicts saved after compiled steps (dg.save / dg.load), loaded
    into fresh objects, continue (compiled) exactly like the original objects."""
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((12, 6)).astype(np.float32), rng.integers(0, 3, size=12)
    xd, yd = dg.tensor(x), dg.tensor(y)
    dg.manual_seed(0)
    model = bn_net(dg)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    step = dg.function(train_step)
    for _ in range(4):
        step(model, opt, xd, yd)
    dg.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "ckpt")
    go_on = [float(step(model, opt, xd, yd)) for _ in range(4)]
    ckpt = dg.load(tmp_path / "ckpt")
    dg.manual_seed(1)
    model2 = bn_net(dg)
    model2.load_state_dict(ckpt["model"])
    opt2 = optim.Adam(model2.parameters(), lr=1e-2)
    opt2.load_state_dict(ckpt["opt"])
    step2 = dg.function(train_step)
    resumed = [float(step2(model2, opt2, xd, yd)) for _ in range(4)]
    np.testing.assert_allclose(resumed, go_on, atol=1e-6, rtol=0)
    for (n, p), q in zip(model.state_dict().items(), model2.state_dict().values()):
        close_eager(q, p, n)


@pytest.mark.parametrize("kw", [{}, {"num_layers": 2, "bidirectional": True}], ids=["1-layer", "2-layer-bi"])
def test_gru_gradient_compiled_equals_eager_bitwise(kw):
    """Each h_t's gradient has three terms (the output row, z*h and h W_hh of step t+1): the
    eager loop adds them in the graph loop's order (nn/layers/rnn.py _run_eager)."""
    res = []
    for compiled in (False, True):
        dg.manual_seed(0)
        rnn = dg.nn.GRU(3, 4, batch_first=True, **kw)
        x = dg.randn(2, 5, 3)

        def step():
            out = rnn(x)[0]
            out.pow(2).mean().backward()
        (dg.function(step) if compiled else step)()
        res.append([p.grad.numpy().copy() for p in rnn.parameters()])
    assert all(np.array_equal(a, b) for a, b in zip(*res))
