"""nn.RNN / LSTM / GRU and their cells against PyTorch (same weights copied in): parameter names
and shapes, initialisation, outputs and gradients (inputs and every parameter), eagerly, in a
graph (placeholders with an unknown time dimension) and under dg.function over several calls with
an optimizer step between them; one trace serves every sequence length (one dg.while_loop);
packed sequences; PyTorch's error wording."""
import math

import numpy as np
import pytest

import dualgraph as dg
from dualgraph import nn
from dualgraph.nn.utils import rnn as dg_rnn


def _torch():
    return pytest.importorskip("torch")


def to_np(t):
    if hasattr(t, "detach"):
        t = t.detach()
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def close(a, b, atol=1e-10, rtol=1e-8, what=""):
    a, b = to_np(a), to_np(b)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    np.testing.assert_allclose(a, b, atol=atol, rtol=rtol, err_msg=what)


def copy_weights(tm, dm):
    dm.load_state_dict({k: dg.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})


def _loss(lib, out, h, lstm):
    """A loss reaching the output and every final state with distinct weights."""
    if lstm:
        h, c = h
        return (out ** 2).sum() * 0.5 + (h * 1.5).sum() + (c ** 2).sum()
    return (out ** 2).sum() * 0.5 + (h * 1.5).sum()


CONFIGS = [
    ("RNN", dict()),
    ("RNN", dict(nonlinearity="relu", num_layers=2)),
    ("RNN", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("RNN", dict(bias=False)),
    ("LSTM", dict()),
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(batch_first=True, bias=False)),
    ("LSTM", dict(num_layers=2, proj_size=3)),
    ("GRU", dict()),
    ("GRU", dict(num_layers=3, bidirectional=True)),
    ("GRU", dict(batch_first=True, bias=False)),
]
IDS = [f"{c}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for c, kw in CONFIGS]
I, H, T, B = 4, 5, 6, 3


def _pair(cls, kw):
    torch = _torch()
    tm = getattr(torch.nn, cls)(I, H, **kw).double()
    dm = getattr(nn, cls)(I, H, **kw, dtype=dg.float64)
    copy_weights(tm, dm)
    return tm, dm


def _hidden(dm, batch, rng, lstm):
    d = 2 if dm.bidirectional else 1
    size = dm.proj_size or dm.hidden_size
    shape = (dm.num_layers * d,) + ((batch,) if batch else ()) + (size,)
    h = rng.standard_normal(shape)
    if lstm:
        return h, rng.standard_normal(shape[:-1] + (dm.hidden_size,))
    return h


@pytest.mark.parametrize("cls,kw", CONFIGS, ids=IDS)
def test_parameter_names_and_shapes_equal_torch(cls, kw):
    torch = _torch()
    tm = getattr(torch.nn, cls)(I, H, **kw)
    dm = getattr(nn, cls)(I, H, **kw)
    assert [(n, tuple(p.shape)) for n, p in tm.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in dm.named_parameters()]
    assert repr(tm).replace("torch", "") == repr(dm)


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_initialisation_is_uniform_in_one_over_sqrt_hidden(cls):
    dg.manual_seed(0)
    hidden = 64
    m = getattr(nn, cls)(48, hidden)
    bound = 1 / math.sqrt(hidden)
    vals = np.concatenate([p.detach().numpy().ravel() for p in m.parameters()])
    assert vals.min() >= -bound and vals.max() <= bound
    assert abs(vals.mean()) < 0.05 * bound
    assert abs(vals.std() - bound / math.sqrt(3)) < 0.05 * bound


@pytest.mark.parametrize("with_h0", [False, True], ids=["no-h0", "h0"])
@pytest.mark.parametrize("cls,kw", CONFIGS, ids=IDS)
def test_eager_outputs_and_gradients_equal_torch(cls, kw, with_h0):
    torch = _torch()
    tm, dm = _pair(cls, kw)
    lstm = cls == "LSTM"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I) if kw.get("batch_first") else (T, B, I))
    xt, xd = torch.tensor(x, requires_grad=True), dg.tensor(x, requires_grad=True)
    args_t, args_d = (), ()
    if with_h0:
        h = _hidden(dm, B, rng, lstm)
        if lstm:
            ht = tuple(torch.tensor(a, requires_grad=True) for a in h)
            hd = tuple(dg.tensor(a, requires_grad=True) for a in h)
        else:
            ht, hd = torch.tensor(h, requires_grad=True), dg.tensor(h, requires_grad=True)
        args_t, args_d = (ht,), (hd,)
    ot, hnt = tm(xt, *args_t)
    od, hnd = dm(xd, *args_d)
    close(od, ot, what="output")
    for a, b in zip(hnd if lstm else [hnd], hnt if lstm else [hnt]):
        close(a, b, what="h_n")
    _loss(torch, ot, hnt, lstm).backward()
    _loss(dg, od, hnd, lstm).backward()
    close(xd.grad, xt.grad, what="x.grad")
    for (n, p), (_, tp) in zip(dm.named_parameters(), tm.named_parameters()):
        close(p.grad, tp.grad, what=n)
    if with_h0:
        for a, b in zip(args_d[0] if lstm else args_d, args_t[0] if lstm else args_t):
            close(a.grad, b.grad, what="h0.grad")


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_unbatched_input_equals_torch(cls):
    torch = _torch()
    tm, dm = _pair(cls, dict(num_layers=2, bidirectional=True))
    lstm = cls == "LSTM"
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, I))
    h = _hidden(dm, None, rng, lstm)
    ht = tuple(torch.tensor(a) for a in h) if lstm else torch.tensor(h)
    hd = tuple(dg.tensor(a) for a in h) if lstm else dg.tensor(h)
    xt, xd = torch.tensor(x, requires_grad=True), dg.tensor(x, requires_grad=True)
    ot, hnt = tm(xt, ht)
    od, hnd = dm(xd, hd)
    close(od, ot)
    for a, b in zip(hnd if lstm else [hnd], hnt if lstm else [hnt]):
        close(a, b)
    _loss(torch, ot, hnt, lstm).backward()
    _loss(dg, od, hnd, lstm).backward()
    close(xd.grad, xt.grad)


def _graph_run(dm, x, lstm, unknown_time=True):
    """Build forward + gradients in a graph once (placeholder with an unknown time dimension),
    run it for every array in x."""
    params = list(dm.parameters())
    shape = (None,) + x[0].shape[1:] if unknown_time else x[0].shape
    if dm.batch_first:
        shape = (x[0].shape[0], None) + x[0].shape[2:] if unknown_time else x[0].shape
    with dg.graph_mode() as g:
        xp = dg.placeholder(shape, dtype=dg.float64, name="x")
        out, h = dm(xp)
        loss = _loss(dg, out, h, lstm)
        pv = [g.capture(p) for p in params]
        grads = dg.gradients([loss], [xp] + pv)
    n_loops = sum(n.op.name == "while_loop" for n in g.nodes if not n.name.startswith("gradients"))
    sess = dg.Session(g)
    return [sess.run([loss] + grads, {xp: a}) for a in x], n_loops


@pytest.mark.parametrize("cls,kw", CONFIGS, ids=IDS)
def test_graph_mode_one_graph_every_length_equals_torch(cls, kw):
    torch = _torch()
    tm, dm = _pair(cls, kw)
    lstm = cls == "LSTM"
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((B, n, I) if kw.get("batch_first") else (n, B, I)) for n in (3, 5, 7)]
    runs, n_loops = _graph_run(dm, xs, lstm)
    dirs = 2 if kw.get("bidirectional") else 1
    assert n_loops >= kw.get("num_layers", 1) * dirs  # the time loops are dg.while_loops
    for x, (loss, gx, *gp) in zip(xs, runs):
        tm.zero_grad()
        xt = torch.tensor(x, requires_grad=True)
        lt = _loss(torch, *tm(xt), lstm)
        lt.backward()
        close(loss, lt.detach(), what="loss")
        close(gx, xt.grad, what="x.grad")
        for (n, tp), g in zip(tm.named_parameters(), gp):
            close(g, tp.grad, what=n)


@pytest.mark.parametrize("cls,kw", [CONFIGS[1], CONFIGS[5], CONFIGS[9], CONFIGS[2]],
                         ids=[IDS[1], IDS[5], IDS[9], IDS[2]])
def test_function_traces_once_for_lengths_3_5_7_and_equals_eager(cls, kw):
    """A padded batch and a length tensor n: x[:n] has a time dimension unknown while tracing,
    so one trace (one while_loop per layer and direction) serves every length."""
    dg.manual_seed(0)
    dm = getattr(nn, cls)(I, H, **kw, dtype=dg.float64)
    lstm = cls == "LSTM"
    bf = kw.get("batch_first", False)

    def loss_fn(x, n):
        return _loss(dg, *dm(x[:, :n] if bf else x[:n]), lstm)

    @dg.function
    def step(x, n):
        loss = loss_fn(x, n)
        loss.backward()
        return loss

    rng = np.random.default_rng(3)
    xp = rng.standard_normal((B, 7, I) if bf else (7, B, I))
    for n in (3, 5, 7):
        x = dg.tensor(xp, requires_grad=True)
        dm.zero_grad()
        loss = step(x, dg.tensor(n))
        got = [p.grad.numpy().copy() for p in dm.parameters()]
        gx = x.grad.numpy().copy()
        dm.zero_grad()
        xe = dg.tensor(xp, requires_grad=True)
        le = loss_fn(xe, n)
        le.backward()
        close(loss, le, what=f"loss at n={n}")
        close(gx, xe.grad, what=f"x.grad at n={n}")
        for (name, p), g in zip(dm.named_parameters(), got):
            close(g, p.grad, what=f"{name} at n={n}")
    assert step.trace_count == 1
    g = step.graph_for(dg.tensor(xp, requires_grad=True), dg.tensor(3))
    assert any(nd.op.name == "while_loop" for nd in g.nodes)


@pytest.mark.parametrize("cls,kw", [CONFIGS[0], CONFIGS[5], CONFIGS[7], CONFIGS[10]],
                         ids=[IDS[0], IDS[5], IDS[7], IDS[10]])
def test_training_eager_and_compiled_equal_torch_over_several_steps(cls, kw):
    """The same training step (forward, loss, backward, SGD momentum step) eagerly, compiled by
    dg.function and in PyTorch, from the same weights: equal losses and parameters call after
    call (the compiled step reads the parameters the optimizer updated)."""
    torch = _torch()
    tm, de = _pair(cls, kw)
    dc = getattr(nn, cls)(I, H, **kw, dtype=dg.float64)
    copy_weights(tm, dc)
    lstm = cls == "LSTM"
    opt_t = torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.9)
    opt_e = dg.optim.SGD(de.parameters(), lr=0.05, momentum=0.9)
    opt_c = dg.optim.SGD(dc.parameters(), lr=0.05, momentum=0.9)

    def step(model, opt, x):
        opt.zero_grad()
        loss = _loss(dg, *model(x), lstm)
        loss.backward()
        opt.step()
        return loss

    compiled = dg.function(step)
    rng = np.random.default_rng(4)
    for i in range(4):
        x = rng.standard_normal((B, T, I) if kw.get("batch_first") else (T, B, I))
        opt_t.zero_grad()
        lt = _loss(torch, *tm(torch.tensor(x)), lstm)
        lt.backward()
        opt_t.step()
        le = step(de, opt_e, dg.tensor(x))
        lc = compiled(dc, opt_c, dg.tensor(x))
        close(le, lt.detach(), what=f"eager loss {i}")
        close(lc, lt.detach(), what=f"compiled loss {i}")
        for (n, tp), pe, pc in zip(tm.named_parameters(), de.parameters(), dc.parameters()):
            close(pe, tp, what=f"eager {n} after step {i}")
            close(pc, tp, what=f"compiled {n} after step {i}")
    assert compiled.trace_count == 1


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("kw", [dict(), dict(num_layers=2, bidirectional=True)], ids=["1", "2-bi"])
def test_packed_sequence_equals_torch(cls, kw):
    torch = _torch()
    from torch.nn.utils import rnn as trnn
    tm, dm = _pair(cls, kw)
    lstm = cls == "LSTM"
    rng = np.random.default_rng(5)
    x = rng.standard_normal((T, B, I))
    lens = [4, 6, 2]
    h = _hidden(dm, B, rng, lstm)
    ht = tuple(torch.tensor(a) for a in h) if lstm else torch.tensor(h)
    hd = tuple(dg.tensor(a) for a in h) if lstm else dg.tensor(h)
    xt, xd = torch.tensor(x, requires_grad=True), dg.tensor(x, requires_grad=True)
    ot, hnt = tm(trnn.pack_padded_sequence(xt, lens, enforce_sorted=False), ht)
    od, hnd = dm(dg_rnn.pack_padded_sequence(xd, lens, enforce_sorted=False), hd)
    assert isinstance(od, dg_rnn.PackedSequence)
    close(od.data, ot.data)
    assert list(np.asarray(od.batch_sizes)) == ot.batch_sizes.tolist()
    ut, _ = trnn.pad_packed_sequence(ot)
    ud, _ = dg_rnn.pad_packed_sequence(od)
    _loss(torch, ut, hnt, lstm).backward()
    _loss(dg, ud, hnd, lstm).backward()
    for a, b in zip(hnd if lstm else [hnd], hnt if lstm else [hnt]):
        close(a, b)
    close(xd.grad, xt.grad)
    for (n, p), (_, tp) in zip(dm.named_parameters(), tm.named_parameters()):
        close(p.grad, tp.grad, what=n)


def test_dropout_between_layers_only_while_training():
    torch = _torch()
    tm, dm = _pair("LSTM", dict(num_layers=2, dropout=0.5))
    x = np.random.default_rng(6).standard_normal((T, B, I))
    dm.eval()
    tm.eval()
    close(dm(dg.tensor(x))[0], tm(torch.tensor(x))[0])       # eval: no dropout
    dm.train()
    dg.manual_seed(1)
    a = dm(dg.tensor(x))[0]
    dg.manual_seed(2)
    b = dm(dg.tensor(x))[0]
    assert not np.allclose(to_np(a), to_np(b))               # training: random masks
    # p=1 between layers: the second layer sees zeros
    tm1, dm1 = _pair("RNN", dict(num_layers=2, dropout=1.0))
    close(dm1(dg.tensor(x))[0], tm1(torch.tensor(x))[0])


def test_dropout_with_one_layer_warns_as_torch():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(3, 4, dropout=0.2)


# ---------------------------------------------------------------- cells
CELLS = [("RNNCell", dict()), ("RNNCell", dict(nonlinearity="relu", bias=False)),
         ("LSTMCell", dict()), ("GRUCell", dict()), ("GRUCell", dict(bias=False))]


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("cls,kw", CELLS, ids=[f"{c}-{kw}" for c, kw in CELLS])
def test_cells_equal_torch(cls, kw, batched):
    torch = _torch()
    tm = getattr(torch.nn, cls)(I, H, **kw).double()
    dm = getattr(nn, cls)(I, H, **kw, dtype=dg.float64)
    assert [(n, tuple(p.shape)) for n, p in tm.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in dm.named_parameters()]
    copy_weights(tm, dm)
    rng = np.random.default_rng(7)
    lead = (B,) if batched else ()
    x = rng.standard_normal(lead + (I,))
    lstm = cls == "LSTMCell"
    xt, xd = torch.tensor(x, requires_grad=True), dg.tensor(x, requires_grad=True)
    for with_h in (False, True):
        if with_h:
            h = rng.standard_normal(lead + (H,))
            ht = (torch.tensor(h), torch.tensor(h * 0.3)) if lstm else torch.tensor(h)
            hd = (dg.tensor(h), dg.tensor(h * 0.3)) if lstm else dg.tensor(h)
            rt, rd = tm(xt, ht), dm(xd, hd)
        else:
            rt, rd = tm(xt), dm(xd)
        if lstm:
            lt, ld = (rt[0] ** 2).sum() + rt[1].sum(), (rd[0] ** 2).sum() + rd[1].sum()
            close(rd[0], rt[0])
            close(rd[1], rt[1])
        else:
            lt, ld = (rt ** 2).sum(), (rd ** 2).sum()
            close(rd, rt)
        lt.backward()
        ld.backward()
    close(xd.grad, xt.grad)
    for (n, p), (_, tp) in zip(dm.named_parameters(), tm.named_parameters()):
        close(p.grad, tp.grad, what=n)


def test_cell_in_a_compiled_loop_equals_eager():
    dg.manual_seed(0)
    cell = nn.LSTMCell(I, H, dtype=dg.float64)
    x = dg.tensor(np.random.default_rng(8).standard_normal((T, B, I)))

    def run(x):
        h = c = dg.zeros(B, H, dtype=dg.float64)
        for t in range(T):
            h, c = cell(x[t], (h, c))
        loss = (h ** 2).sum() + c.sum()
        loss.backward()
        return loss

    want = run(x)
    g_want = [p.grad.numpy().copy() for p in cell.parameters()]
    cell.zero_grad()
    got = dg.function(run)(x)
    close(got, want)
    for p, g in zip(cell.parameters(), g_want):
        close(p.grad, g)


# ---------------------------------------------------------------- errors (PyTorch's words)
def _raises_like_torch(make, call):
    torch = _torch()
    with pytest.raises(Exception) as et:
        call(make(torch))
    with pytest.raises(Exception) as ed:
        call(make(dg))
    assert isinstance(ed.value, dg.errors.DualGraphError)
    assert isinstance(ed.value, type(et.value)), (type(ed.value), type(et.value))
    assert str(ed.value).replace("dualgraph", "torch") == str(et.value), (str(ed.value), str(et.value))


@pytest.mark.parametrize("make,call", [
    (lambda L: L.nn.LSTM(4, 5), lambda m: m(_x(m, (2, 3, 4, 4)))),
    (lambda L: L.nn.RNN(4, 5), lambda m: m(_x(m, (2, 3, 4, 4)))),
    (lambda L: L.nn.GRU(4, 5), lambda m: m(_x(m, (6, 3, 3)))),
    (lambda L: L.nn.GRU(4, 5), lambda m: m(_x(m, (6, 3, 4)), _x(m, (1, 2, 5)))),
    (lambda L: L.nn.RNN(4, 5), lambda m: m(_x(m, (6, 3, 4)), _x(m, (3, 5)))),
    (lambda L: L.nn.RNN(4, 5), lambda m: m(_x(m, (6, 4)), _x(m, (1, 1, 5)))),
    (lambda L: L.nn.LSTM(4, 5), lambda m: m(_x(m, (6, 3, 4)), (_x(m, (1, 3, 5)), _x(m, (1, 2, 5))))),
    (lambda L: L.nn.LSTM(4, 5), lambda m: m(_x(m, (6, 3, 4)), (_x(m, (1, 3, 5)), _x(m, (3, 5))))),
    (lambda L: L.nn.RNNCell(4, 5), lambda m: m(_x(m, (2, 3, 4)))),
    (lambda L: L.nn.LSTMCell(4, 5), lambda m: m(_x(m, (3, 4)), (_x(m, (2, 2, 5)), _x(m, (3, 5))))),
    (lambda L: L.nn.RNN(4, 5, nonlinearity="sigmoid"), lambda m: None),
    (lambda L: L.nn.GRU(4, 5, proj_size=2), lambda m: None),
    (lambda L: L.nn.LSTM(4, 5, proj_size=5), lambda m: None),
    (lambda L: L.nn.LSTM(4, 5, dropout=1.5), lambda m: None),
    (lambda L: L.nn.LSTM(0, 5), lambda m: None),
    (lambda L: L.nn.LSTM(4, 5, num_layers=0), lambda m: None),
], ids=["lstm-4d", "rnn-4d", "gru-input-size", "gru-hidden-size", "rnn-batched-2d-hx",
        "rnn-unbatched-3d-hx", "lstm-cx-size", "lstm-batched-2d-cx", "rnncell-3d", "lstmcell-hx-3d",
        "bad-nonlinearity", "gru-proj", "proj-too-big", "dropout-range", "input-size-0", "layers-0"])
def test_errors_match_torch(make, call):
    _raises_like_torch(make, call)


def _x(m, shape):
    lib = dg if type(m).__module__.startswith("dualgraph") else __import__("torch")
    return lib.zeros(*shape)


def test_graph_mode_refuses_a_wrong_input_size_when_the_node_is_built():
    m = nn.GRU(I, H)
    with dg.graph_mode():
        x = dg.placeholder((None, 2, 5))
        with pytest.raises(dg.errors.DualGraphError, match="input.size.-1. must be equal to input_size"):
            m(x)
