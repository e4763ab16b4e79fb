"""Conv1d, ConvTranspose2d, AvgPool2d, AdaptiveAvgPool2d, GroupNorm, Dropout2d and Upsample (and
their F.* forms) against PyTorch with the same weights: values, input and parameter gradients in
float32 and float64, eagerly, in graph mode (placeholders + dg.gradients + Session, also with an
unknown batch dimension) and compiled by dg.function over several calls. Dropout2d: whole
channels dropped at rate p, scaling, eval identity, a fresh mask per compiled run.
"""
import warnings

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
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def _tol(dtype):
    return dict(atol=1e-5, rtol=1e-4) if dtype == np.float32 else dict(atol=1e-10, rtol=1e-9)


def close(got, want, dtype, what=""):
    got, want = to_np(got), to_np(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, err_msg=what, **_tol(dtype))


def close_eager(got, want, what=""):
    got, want = to_np(got), to_np(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (what, got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=what)


def _dt(L, dtype):
    return L.float32 if dtype == np.float32 else L.float64


# (id, make(L, dt) -> module, input shape)
CASES = [
    ("Conv1d", lambda L, dt: L.nn.Conv1d(3, 4, 3, dtype=dt), (2, 3, 9)),
    ("Conv1d stride pad dilation groups",
     lambda L, dt: L.nn.Conv1d(4, 6, 2, stride=2, padding=1, dilation=2, groups=2, dtype=dt),
     (2, 4, 11)),
    ("Conv1d same no bias", lambda L, dt: L.nn.Conv1d(2, 3, 4, padding="same", bias=False, dtype=dt),
     (3, 2, 7)),
    ("Conv1d unbatched", lambda L, dt: L.nn.Conv1d(2, 3, 3, padding="valid", dtype=dt), (2, 6)),
    ("ConvTranspose2d", lambda L, dt: L.nn.ConvTranspose2d(3, 4, 3, dtype=dt), (2, 3, 5, 4)),
    ("ConvTranspose2d stride pad output_padding",
     lambda L, dt: L.nn.ConvTranspose2d(4, 2, (3, 2), stride=2, padding=1, output_padding=1,
                                        dtype=dt), (2, 4, 4, 5)),
    ("ConvTranspose2d groups dilation no bias",
     lambda L, dt: L.nn.ConvTranspose2d(4, 6, 3, stride=(1, 2), groups=2, dilation=(2, 1),
                                        bias=False, dtype=dt), (1, 4, 4, 4)),
    ("ConvTranspose2d output_padding < dilation",
     lambda L, dt: L.nn.ConvTranspose2d(2, 2, 2, dilation=2, output_padding=1, dtype=dt),
     (2, 2, 3, 3)),
    ("ConvTranspose2d unbatched", lambda L, dt: L.nn.ConvTranspose2d(2, 3, 2, stride=2, dtype=dt),
     (2, 3, 3)),
    ("AvgPool2d", lambda L, dt: L.nn.AvgPool2d(2), (2, 3, 6, 7)),
    ("AvgPool2d stride pad ceil",
     lambda L, dt: L.nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), (2, 2, 8, 7)),
    ("AvgPool2d no pad count",
     lambda L, dt: L.nn.AvgPool2d((3, 2), stride=(2, 1), padding=1, count_include_pad=False),
     (2, 2, 7, 6)),
    ("AvgPool2d divisor_override", lambda L, dt: L.nn.AvgPool2d(2, 1, divisor_override=3),
     (1, 2, 5, 5)),
    ("AdaptiveAvgPool2d", lambda L, dt: L.nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5)),
    ("AdaptiveAvgPool2d None", lambda L, dt: L.nn.AdaptiveAvgPool2d((None, 3)), (2, 2, 4, 8)),
    ("AdaptiveAvgPool2d global", lambda L, dt: L.nn.AdaptiveAvgPool2d(1), (2, 4, 5, 3)),
    ("GroupNorm", lambda L, dt: L.nn.GroupNorm(2, 6, dtype=dt), (3, 6, 4, 5)),
    ("GroupNorm 3-D eps", lambda L, dt: L.nn.GroupNorm(3, 6, eps=1e-3, dtype=dt), (2, 6, 7)),
    ("GroupNorm no affine", lambda L, dt: L.nn.GroupNorm(1, 4, affine=False, dtype=dt), (2, 4, 3, 3)),
    ("GroupNorm per channel no bias", lambda L, dt: L.nn.GroupNorm(4, 4, dtype=dt, bias=False),
     (2, 4, 3)),
    ("Upsample nearest", lambda L, dt: L.nn.Upsample(scale_factor=2), (2, 3, 3, 4)),
    ("Upsample nearest size", lambda L, dt: L.nn.Upsample(size=(5, 7)), (2, 3, 3, 4)),
    ("Upsample bilinear", lambda L, dt: L.nn.Upsample(scale_factor=1.5, mode="bilinear"),
     (2, 2, 4, 3)),
    ("Upsample bilinear corners",
     lambda L, dt: L.nn.Upsample(size=(7, 5), mode="bilinear", align_corners=True), (2, 2, 4, 3)),
    ("Upsample linear 1-D", lambda L, dt: L.nn.Upsample(scale_factor=1.7, mode="linear"), (2, 3, 5)),
    ("Upsample nearest 1-D", lambda L, dt: L.nn.Upsample(size=7), (2, 3, 3)),
    ("UpsamplingNearest2d", lambda L, dt: L.nn.UpsamplingNearest2d(scale_factor=3), (1, 2, 2, 3)),
    ("UpsamplingBilinear2d", lambda L, dt: L.nn.UpsamplingBilinear2d(size=(5, 4)), (1, 2, 3, 3)),
    ("Dropout2d eval", lambda L, dt: L.nn.Dropout2d(0.5).eval(), (2, 3, 4, 4)),
    ("Dropout2d p=0", lambda L, dt: L.nn.Dropout2d(0.0), (2, 3, 4, 4)),
]
IDS = [c[0] for c in CASES]
DTYPES = [np.float32, np.float64]


def _pair_modules(torch, make, dtype):
    torch.manual_seed(0)
    tm = make(torch, _dt(torch, dtype))
    with torch.no_grad():                        # non-trivial affine parameters for the norms
        for n, p in tm.named_parameters():
            if p.ndim == 1:
                p.uniform_(0.5, 1.5)
    dm = make(dg, _dt(dg, dtype))
    dm.load_state_dict({k: dg.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    return tm, dm


def _torch_run(tm, x, g):
    import torch
    xt = torch.tensor(x, requires_grad=True)
    y = tm(xt)
    y.backward(torch.tensor(g))
    return y, xt.grad, {n: p.grad for n, p in tm.named_parameters()}


def _eager_run(dm, x, g):
    xd = dg.tensor(x, requires_grad=True)
    y = dm(xd)
    y.backward(dg.tensor(g))
    return y, xd.grad, {n: p.grad for n, p in dm.named_parameters()}


def _graph_run(dm, x, g, batch=False):
    params = dict(dm.named_parameters())
    with dg.graph_mode() as gr:
        xp = dg.placeholder(((None,) + x.shape[1:]) if batch else x.shape, dtype=x.dtype, name="x")
        y = dm(xp)
        pvars = [gr.capture(p) for p in params.values()]
        grads = dg.gradients([y], [xp] + pvars, grad_ys=[dg.constant(g)])
    got = dg.Session(gr).run({"y": y, "grads": grads}, {xp: x})
    return got["y"], got["grads"][0], dict(zip(params, got["grads"][1:]))


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype)


def _out_shape(dm, x):
    with dg.no_grad():
        return tuple(dm(dg.tensor(x)).shape)


# ================================================================ eager vs PyTorch
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name,make,shape", CASES, ids=IDS)
def test_module_eager_equals_torch(name, make, shape, dtype):
    torch = _torch()
    tm, dm = _pair_modules(torch, make, dtype)
    x = _data(shape, dtype)
    g = _data(_out_shape(dm, x), dtype, seed=1)
    ty, tgx, tgp = _torch_run(tm, x, g)
    ey, egx, egp = _eager_run(dm, x, g)
    close(ey, ty, dtype, "value")
    close(egx, tgx, dtype, "input grad")
    assert set(egp) == set(tgp)
    for n in tgp:
        close(egp[n], tgp[n], dtype, f"grad of {n}")


# ================================================================ graph mode
@pytest.mark.parametrize("name,make,shape", CASES, ids=IDS)
def test_module_graph_mode_equals_torch_and_eager(name, make, shape):
    torch = _torch()
    dtype = np.float32
    tm, em = _pair_modules(torch, make, dtype)
    _, gm = _pair_modules(torch, make, dtype)
    x = _data(shape, dtype)
    g = _data(_out_shape(em, x), dtype, seed=1)
    ty, tgx, tgp = _torch_run(tm, x, g)
    ey, egx, egp = _eager_run(em, x, g)
    gy, ggx, ggp = _graph_run(gm, x, g)
    close(gy, ty, dtype, "graph value vs torch")
    close(ggx, tgx, dtype, "graph input grad vs torch")
    for n in tgp:
        close(ggp[n], tgp[n], dtype, f"graph grad of {n} vs torch")
    close_eager(gy, ey, "graph value vs eager")
    close_eager(ggx, egx, "graph input grad vs eager")
    for n in egp:
        close_eager(ggp[n], egp[n], f"graph grad of {n} vs eager")


@pytest.mark.parametrize("name,make,shape", [c for c in CASES if "unbatched" not in c[0]],
                         ids=[i for i in IDS if "unbatched" not in i])
def test_module_graph_mode_unknown_batch_equals_eager(name, make, shape):
    dtype = np.float32
    dg.manual_seed(0)
    state = make(dg, dg.float32).state_dict()

    def fresh():
        m = make(dg, dg.float32)
        m.load_state_dict({k: v.clone() for k, v in state.items()})
        return m

    x = _data(shape, dtype)
    g = _data(_out_shape(fresh(), x), dtype, seed=1)
    ey, egx, egp = _eager_run(fresh(), x, g)
    gy, ggx, ggp = _graph_run(fresh(), x, g, batch=True)
    close_eager(gy, ey, "value")
    close_eager(ggx, egx, "input grad")
    for n in egp:
        close_eager(ggp[n], egp[n], f"grad of {n}")


# ================================================================ dg.function, several calls
@pytest.mark.parametrize("name,make,shape", CASES, ids=IDS)
def test_module_compiled_over_several_calls_equals_eager(name, make, shape):
    dg.manual_seed(0)
    m = make(dg, dg.float32)

    def step(x):
        y = m(x)
        (gx,) = dg.autograd.grad((y * y).sum(), [x])
        return y, gx

    fn = dg.function(step)
    for k in range(3):
        x = dg.tensor(_data(shape, np.float32, seed=10 + k), requires_grad=True)
        cy, cgx = fn(x)
        ey, egx = step(x)
        close_eager(cy, ey, f"call {k}: value")
        close_eager(cgx, egx, f"call {k}: input grad")
    assert fn.trace_count == 1


def _net(L):
    return L.nn.Sequential(
        L.nn.Conv1d(2, 4, 3, padding=1), L.nn.GroupNorm(2, 4), L.nn.ReLU(),
        L.nn.Unflatten(2, (2, 4)),                                   # (N, 4, 2, 4)
        L.nn.ConvTranspose2d(4, 3, 2, stride=2),                     # (N, 3, 4, 8)
        L.nn.Upsample(scale_factor=1.5, mode="bilinear"),            # (N, 3, 6, 12)
        L.nn.AvgPool2d(2, padding=1, count_include_pad=False),       # (N, 3, 4, 7)
        L.nn.AdaptiveAvgPool2d((2, 3)), L.nn.Flatten(), L.nn.Linear(18, 3))


def test_training_step_compiled_equals_eager_and_torch():
    torch = _torch()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 2, 8)).astype(np.float32), rng.integers(0, 3, size=6)
    torch.manual_seed(0)
    tm = _net(torch)
    state = {k: dg.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()}
    de, dc = _net(dg), _net(dg)
    de.load_state_dict(state)
    dc.load_state_dict(state)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    want = []
    for _ in range(5):
        topt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y))
        loss.backward()
        topt.step()
        want.append(loss.item())

    def train_step(model, opt, xb, yb):
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    results = []
    for model, compiled in ((de, False), (dc, True)):
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        step = dg.function(train_step) if compiled else train_step
        results.append([float(step(model, opt, dg.tensor(x), dg.tensor(y))) for _ in range(5)])
        if compiled:
            assert step.trace_count == 1
    np.testing.assert_allclose(results[0], want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(results[1], results[0], atol=1e-6, rtol=0)
    for (n, p), q in zip(de.named_parameters(), dc.parameters()):
        close_eager(q, p, n)


# ================================================================ Dropout2d
def _channel_pattern(out, x, p):
    """Every (sample, channel) map is either all zero or x / (1 - p); returns the kept mask."""
    n, c = out.shape[:2]
    o, xx = out.reshape(n, c, -1), x.reshape(n, c, -1)
    kept = np.abs(o).sum(axis=2) != 0
    np.testing.assert_allclose(o[kept], (xx / (1 - p))[kept], rtol=1e-6)
    assert not np.any(o[~kept])
    return kept


def test_dropout2d_drops_whole_channels_at_rate_p():
    dg.manual_seed(0)
    x = np.random.default_rng(0).uniform(0.5, 1.5, size=(40, 50, 3, 3)).astype(np.float32)
    for p in (0.2, 0.5, 0.8):
        m = nn.Dropout2d(p)
        kept = _channel_pattern(m(dg.tensor(x)).numpy(), x, p)
        assert abs(kept.mean() - (1 - p)) < 0.04, (p, kept.mean())
    out = F.dropout2d(dg.tensor(x), 1.0).numpy()
    assert out.shape == x.shape and not out.any()


def test_dropout2d_gradient_is_the_mask():
    dg.manual_seed(1)
    x = dg.tensor(np.ones((4, 6, 2, 3), np.float32), requires_grad=True)
    y = F.dropout2d(x, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())


def test_dropout2d_eval_and_training_false_are_identity():
    x = dg.tensor(_data((2, 3, 4, 4), np.float32))
    m = nn.Dropout2d(0.7).eval()
    assert m(x) is x or np.array_equal(m(x).numpy(), x.numpy())
    np.testing.assert_array_equal(F.dropout2d(x, 0.7, training=False).numpy(), x.numpy())
    fn = dg.function(lambda t: m(t))
    np.testing.assert_array_equal(fn(x).numpy(), x.numpy())


def test_dropout2d_3d_input_is_channelwise_over_n_c_as_torch():
    torch = _torch()
    x = np.random.default_rng(0).uniform(0.5, 1.5, size=(8, 5, 6)).astype(np.float32)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = F.dropout2d(dg.tensor(x), 0.5).numpy()
    assert any("Received a 3D input to dropout2d" in str(i.message) for i in w)
    _channel_pattern(out, x, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tout = torch.nn.functional.dropout2d(torch.tensor(x), 0.5).numpy()
    _channel_pattern(tout, x, 0.5)                  # torch masks the same (N, C) pairs
    with pytest.raises(RuntimeError, match="Feature dropout requires at least 2 dimensions"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            F.dropout2d(dg.tensor(np.ones(3, np.float32)), 0.5)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        nn.Dropout2d(1.5)


def test_dropout2d_compiled_and_graph_draw_a_fresh_mask_each_run_and_follow_manual_seed():
    x = dg.tensor(np.random.default_rng(0).uniform(0.5, 1.5, size=(8, 16, 2, 2)).astype(np.float32))
    m = nn.Dropout2d(0.5)
    fn = dg.function(lambda t: m(t))
    dg.manual_seed(0)
    a, b = fn(x).numpy(), fn(x).numpy()
    assert fn.trace_count == 1
    assert not np.array_equal(a, b)
    for out in (a, b):
        kept = _channel_pattern(out, x.numpy(), 0.5)
        assert 0.25 < kept.mean() < 0.75
    dg.manual_seed(5)
    r1 = [fn(x).numpy() for _ in range(2)]
    dg.manual_seed(5)
    r2 = [fn(x).numpy() for _ in range(2)]
    np.testing.assert_array_equal(r1[0], r2[0])
    np.testing.assert_array_equal(r1[1], r2[1])
    # the same seed gives the same masks eagerly and compiled
    dg.manual_seed(5)
    e1 = m(x).numpy()
    np.testing.assert_array_equal(e1, r1[0])
    # a graph run twice through a Session: two masks
    with dg.graph_mode() as g:
        xp = dg.placeholder((8, 16, 2, 2), name="x")
        y = F.dropout2d(xp, 0.5)
    sess = dg.Session(g)
    s1, s2 = sess.run(y, {xp: x.numpy()}), sess.run(y, {xp: x.numpy()})
    assert not np.array_equal(s1, s2)
    _channel_pattern(np.asarray(s1), x.numpy(), 0.5)


# ================================================================ errors and odds and ends
def test_group_norm_errors_match_torch():
    torch = _torch()
    z = np.zeros((2, 6, 4), np.float32)
    for call, kind in ((lambda L, t: L.nn.functional.group_norm(t, 4), RuntimeError),
                       (lambda L, t: L.nn.functional.group_norm(t, 3, L.ones(5)), RuntimeError),
                       (lambda L, t: L.nn.GroupNorm(4, 6), ValueError)):
        with pytest.raises(kind) as te:
            call(torch, torch.tensor(z))
        with pytest.raises(kind) as de:
            call(dg, dg.tensor(z))
        assert isinstance(de.value, dg.DualGraphError)
        assert str(de.value) == str(te.value)


def test_conv_transpose2d_output_size_argument():
    torch = _torch()
    tm, dm = _pair_modules(torch, lambda L, dt: L.nn.ConvTranspose2d(2, 3, 3, stride=2, dtype=dt),
                           np.float32)
    x = _data((1, 2, 4, 4), np.float32)
    for size in ((9, 9), (10, 9), (1, 3, 10, 10)):
        close(dm(dg.tensor(x), output_size=size), tm(torch.tensor(x), output_size=size),
              np.float32, str(size))
    with pytest.raises(ValueError):
        dm(dg.tensor(x), output_size=(12, 12))


def test_module_reprs_match_torch():
    torch = _torch()
    for make in (lambda L: L.nn.Conv1d(3, 4, 3, stride=2, padding=1, bias=False),
                 lambda L: L.nn.AvgPool2d(3, 2, 1),
                 lambda L: L.nn.AdaptiveAvgPool2d((3, None)),
                 lambda L: L.nn.GroupNorm(2, 4),
                 lambda L: L.nn.Dropout2d(0.3),
                 lambda L: L.nn.Upsample(scale_factor=2, mode="bilinear")):
        assert repr(make(dg)) == repr(make(torch))


def test_nearest_1d_gradient_is_the_adjoint_where_torch_backward_is_not():
    """PyTorch's upsample_nearest1d forward picks floor(j / scale) while its backward takes the
    2-D kernel's shortcut for an exact doubling of the size: its gradient is then not its
    forward's adjoint (torch.autograd.gradcheck fails). The values agree; ours passes
    gradcheck."""
    torch = _torch()
    x = _data((2, 2, 3), np.float64)
    close(F.interpolate(dg.tensor(x), scale_factor=2.101),
          torch.nn.functional.interpolate(torch.tensor(x), scale_factor=2.101), np.float64)
    assert dg.autograd.gradcheck(lambda t: F.interpolate(t, scale_factor=2.101),
                                 (dg.tensor(x, requires_grad=True),))
