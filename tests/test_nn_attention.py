"""F.scaled_dot_product_attention, nn.MultiheadAttention, nn.TransformerEncoderLayer and
nn.TransformerEncoder against PyTorch (same weights copied in): parameter names and shapes,
initialisation, outputs, attention weights and gradients (inputs and every parameter), eagerly,
in a graph with an unknown batch dimension, and under dg.function over several training steps;
PyTorch's error wording."""
import math
import warnings

import numpy as np
import pytest

import dualgraph as dg
from dualgraph import nn
from dualgraph.nn import functional as F


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


def _both(arrays, requires_grad=True):
    torch = _torch()
    ts = [None if a is None else torch.tensor(a, requires_grad=requires_grad and a.dtype.kind == "f")
          for a in arrays]
    ds = [None if a is None else dg.tensor(a, requires_grad=requires_grad and a.dtype.kind == "f")
          for a in arrays]
    return ts, ds


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's mismatched-mask deprecation warnings
        yield


# ---------------------------------------------------------------- scaled_dot_product_attention
def _sdpa_cases():
    rng = np.random.default_rng(0)
    bool_mask = rng.random((5, 6)) > 0.4
    bool_mask[2] = False  # a fully masked row: zeros, as PyTorch's math kernel
    return [
        ("plain", dict()),
        ("causal", dict(is_causal=True)),
        ("bool mask", dict(attn_mask=bool_mask)),
        ("bool mask per batch", dict(attn_mask=rng.random((2, 1, 5, 6)) > 0.3)),
        ("float mask", dict(attn_mask=rng.standard_normal((5, 6)))),
        ("scale", dict(scale=0.3)),
        ("causal scale", dict(is_causal=True, scale=1.7)),
    ]


@pytest.mark.parametrize("name,kw", _sdpa_cases(), ids=[c[0] for c in _sdpa_cases()])
def test_sdpa_equals_torch(name, kw):
    torch = _torch()
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal(s) for s in ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 7)))
    (qt, kt, vt), (qd, kd, vd) = _both([q, k, v])
    tk = {a: torch.tensor(b) if isinstance(b, np.ndarray) else b for a, b in kw.items()}
    dk = {a: dg.tensor(b) if isinstance(b, np.ndarray) else b for a, b in kw.items()}
    ot = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, **tk)
    od = F.scaled_dot_product_attention(qd, kd, vd, **dk)
    close(od, ot)
    (ot ** 2).sum().backward()
    (od ** 2).sum().backward()
    for a, b, n in zip((qd, kd, vd), (qt, kt, vt), "qkv"):
        close(a.grad, b.grad, what=f"{n}.grad")
        assert np.isfinite(to_np(a.grad)).all()


def test_sdpa_3d_and_graph_mode_equal_eager():
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal(s) for s in ((3, 5, 4), (3, 6, 4), (3, 6, 2)))
    want = F.scaled_dot_product_attention(dg.tensor(q), dg.tensor(k), dg.tensor(v), is_causal=True)
    with dg.graph_mode() as g:
        ps = [dg.placeholder((None,) + a.shape[1:], dtype=dg.float64) for a in (q, k, v)]
        out = F.scaled_dot_product_attention(*ps, is_causal=True)
    got = dg.Session(g).run(out, dict(zip(ps, (q, k, v))))
    close(got, want)


def test_sdpa_dropout_draws_and_keeps_expectation():
    rng = np.random.default_rng(3)
    q, k = rng.standard_normal((1, 4, 3)), rng.standard_normal((1, 8, 3))
    v = np.ones((1, 8, 2))
    args = [dg.tensor(a) for a in (q, k, v)]
    base = to_np(F.scaled_dot_product_attention(*args))
    dg.manual_seed(0)
    outs = np.stack([to_np(F.scaled_dot_product_attention(*args, dropout_p=0.5)) for _ in range(400)])
    assert not np.allclose(outs[0], outs[1])
    np.testing.assert_allclose(outs.mean(0), base, atol=0.1)


def test_sdpa_causal_with_mask_refused_as_torch():
    torch = _torch()
    q = np.zeros((1, 2, 3))
    m = np.ones((2, 2), bool)
    with pytest.raises(RuntimeError) as et:
        torch.nn.functional.scaled_dot_product_attention(*(torch.tensor(q),) * 3, attn_mask=torch.tensor(m),
                                                         is_causal=True)
    with pytest.raises(dg.errors.DualGraphError) as ed:
        F.scaled_dot_product_attention(*(dg.tensor(q),) * 3, attn_mask=dg.tensor(m), is_causal=True)
    assert isinstance(ed.value, RuntimeError)
    assert "Explicit attn_mask should not be set when is_causal=True" in str(et.value)
    assert "Explicit attn_mask should not be set when is_causal=True" in str(ed.value)


# ---------------------------------------------------------------- MultiheadAttention
E, NH, L, S, N = 8, 2, 4, 6, 3

MHA_CONFIGS = [
    ("default", dict()),
    ("batch_first", dict(batch_first=True)),
    ("kdim vdim", dict(kdim=3, vdim=5)),
    ("no bias", dict(bias=False)),
    ("bias_kv", dict(add_bias_kv=True)),
    ("zero_attn", dict(add_zero_attn=True)),
]


def _mha_pair(kw):
    torch = _torch()
    tm = torch.nn.MultiheadAttention(E, NH, **kw).double()
    dm = nn.MultiheadAttention(E, NH, **kw, dtype=dg.float64)
    copy_weights(tm, dm)
    return tm, dm


@pytest.mark.parametrize("name,kw", MHA_CONFIGS, ids=[c[0] for c in MHA_CONFIGS])
def test_mha_parameter_names_and_shapes_equal_torch(name, kw):
    torch = _torch()
    tm = torch.nn.MultiheadAttention(E, NH, **kw)
    dm = nn.MultiheadAttention(E, NH, **kw)
    assert [(n, tuple(p.shape)) for n, p in tm.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in dm.named_parameters()]


def test_mha_initialisation():
    dg.manual_seed(0)
    e = 64
    m = nn.MultiheadAttention(e, 4)
    w = to_np(m.in_proj_weight)
    bound = math.sqrt(6.0 / (e + 3 * e))  # xavier_uniform_ on (3E, E)
    assert w.min() >= -bound and w.max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert not to_np(m.in_proj_bias).any() and not to_np(m.out_proj.bias).any()
    ow = to_np(m.out_proj.weight)  # Linear's default: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(E))
    assert ow.max() <= 1 / math.sqrt(e) and abs(ow.std() - 1 / math.sqrt(3 * e)) < 0.05 / math.sqrt(e)


def _mha_inputs(kw, rng, batched=True):
    kd, vd = kw.get("kdim", E), kw.get("vdim", E)
    bf = kw.get("batch_first", False)

    def shape(length, d):
        if not batched:
            return (length, d)
        return (N, length, d) if bf else (length, N, d)
    return [rng.standard_normal(shape(L, E)), rng.standard_normal(shape(S, kd)),
            rng.standard_normal(shape(S, vd))]


def _masks(rng, kind, batched=True):
    kpm = np.zeros((N, S) if batched else (S,), bool)
    if batched:
        kpm[0, 4:] = True
        kpm[2, 0] = True
    else:
        kpm[-1] = True
    if kind == "none":
        return None, None
    if kind == "bool":
        am = rng.random((L, S)) > 0.8
        am[:, 1] = False  # no row fully masked
        return kpm, am
    if kind == "float":
        return np.where(kpm, -1e9, 0.0) if batched else np.where(kpm, -2.0, 0.0), rng.standard_normal((L, S))
    if kind == "3d":
        return kpm, rng.standard_normal((N * NH, L, S))
    raise AssertionError(kind)


@pytest.mark.parametrize("masks", ["none", "bool", "float", "3d"])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)],
                         ids=["weights-avg", "weights-per-head", "no-weights"])
@pytest.mark.parametrize("name,kw", MHA_CONFIGS, ids=[c[0] for c in MHA_CONFIGS])
def test_mha_equals_torch(name, kw, need_weights, average, masks):
    torch = _torch()
    tm, dm = _mha_pair(kw)
    rng = np.random.default_rng(4)
    (qt, kt, vt), (qd, kd, vd) = _both(_mha_inputs(kw, rng))
    kpm, am = _masks(rng, masks)
    (kpm_t, am_t), (kpm_d, am_d) = _both([kpm, am], requires_grad=False)
    ot, wt = tm(qt, kt, vt, key_padding_mask=kpm_t, need_weights=need_weights, attn_mask=am_t,
                average_attn_weights=average)
    od, wd = dm(qd, kd, vd, key_padding_mask=kpm_d, need_weights=need_weights, attn_mask=am_d,
                average_attn_weights=average)
    close(od, ot, what="output")
    if need_weights:
        close(wd, wt, what="weights")
        ((ot ** 2).sum() + (wt * 3).sum()).backward()
        ((od ** 2).sum() + (wd * 3).sum()).backward()
    else:
        assert wd is None and wt is None
        (ot ** 2).sum().backward()
        (od ** 2).sum().backward()
    for a, b, n in zip((qd, kd, vd), (qt, kt, vt), ("query", "key", "value")):
        close(a.grad, b.grad, what=f"{n}.grad")
    for (n, p), (_, tp) in zip(dm.named_parameters(), tm.named_parameters()):
        close(p.grad, tp.grad, what=n)


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_unbatched_equals_torch(need_weights):
    torch = _torch()
    tm, dm = _mha_pair(dict())
    rng = np.random.default_rng(5)
    (qt, kt, vt), (qd, kd, vd) = _both(_mha_inputs({}, rng, batched=False))
    kpm, am = _masks(rng, "bool", batched=False)
    ot, wt = tm(qt, kt, vt, key_padding_mask=torch.tensor(kpm), attn_mask=torch.tensor(am),
                need_weights=need_weights)
    od, wd = dm(qd, kd, vd, key_padding_mask=dg.tensor(kpm), attn_mask=dg.tensor(am),
                need_weights=need_weights)
    close(od, ot)
    if need_weights:
        close(wd, wt)
    (ot ** 2).sum().backward()
    (od ** 2).sum().backward()
    close(qd.grad, qt.grad)
    close(kd.grad, kt.grad)


def test_mha_self_attention_in_a_graph_with_unknown_batch_equals_eager():
    dg.manual_seed(0)
    dm = nn.MultiheadAttention(E, NH, dtype=dg.float64, batch_first=True)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((N, L, E))
    kpm = np.zeros((N, L), bool)
    kpm[1, -1] = True
    with dg.graph_mode() as g:
        xp = dg.placeholder((None, L, E), dtype=dg.float64)
        kp = dg.placeholder((None, L), dtype=dg.bool)
        out, w = dm(xp, xp, xp, key_padding_mask=kp)
        loss = (out ** 2).sum() + w.sum()
        grads = dg.gradients([loss], [xp] + [g.capture(p) for p in dm.parameters()])
    got = dg.Session(g).run([out, w] + grads, {xp: x, kp: kpm})
    xe = dg.tensor(x, requires_grad=True)
    oe, we = dm(xe, xe, xe, key_padding_mask=dg.tensor(kpm))
    ((oe ** 2).sum() + we.sum()).backward()
    close(got[0], oe)
    close(got[1], we)
    close(got[2], xe.grad)
    for p, gp in zip(dm.parameters(), got[3:]):
        close(gp, p.grad)


def test_mha_dropout_only_while_training():
    torch = _torch()
    tm, dm = _mha_pair(dict(dropout=0.5))
    rng = np.random.default_rng(7)
    (qt, kt, vt), (qd, kd, vd) = _both(_mha_inputs({}, rng), requires_grad=False)
    tm.eval()
    dm.eval()
    close(dm(qd, kd, vd)[0], tm(qt, kt, vt)[0])
    dm.train()
    dg.manual_seed(0)
    a = dm(qd, kd, vd)[0]
    b = dm(qd, kd, vd)[0]
    assert not np.allclose(to_np(a), to_np(b))


@pytest.mark.parametrize("make,call", [
    (lambda L_: L_.nn.MultiheadAttention(8, 2),
     lambda m, L_: m(L_.zeros(4, 3, 8), L_.zeros(6, 3, 8), L_.zeros(6, 3, 8), attn_mask=L_.zeros(4, 5))),
    (lambda L_: L_.nn.MultiheadAttention(8, 2),
     lambda m, L_: m(L_.zeros(4, 3, 8), L_.zeros(6, 3, 8), L_.zeros(6, 3, 8), attn_mask=L_.zeros(5, 4, 6))),
    (lambda L_: L_.nn.MultiheadAttention(8, 2),
     lambda m, L_: m(L_.zeros(4, 3, 8), L_.zeros(6, 3, 8), L_.zeros(6, 3, 8), attn_mask=L_.zeros(1, 1, 4, 6))),
    (lambda L_: L_.nn.MultiheadAttention(8, 2),
     lambda m, L_: m(L_.zeros(4, 3, 8), L_.zeros(6, 3, 8), L_.zeros(6, 8))),
    (lambda L_: L_.nn.TransformerEncoderLayer(8, 2, activation="tanh"), None),
], ids=["2d-mask-shape", "3d-mask-shape", "4d-mask", "key-dims", "activation"])
def test_errors_match_torch(make, call):
    torch = _torch()

    def run(L_):
        m = make(L_)
        if call is not None:
            call(m, L_)
    with pytest.raises(Exception) as et:
        run(torch)
    with pytest.raises(dg.errors.DualGraphError) as ed:
        run(dg)
    if type(et.value) is AssertionError:  # PyTorch asserts; dualgraph raises a ValueError
        assert isinstance(ed.value, ValueError)
    else:
        assert isinstance(ed.value, type(et.value)), (type(ed.value), type(et.value))
    assert str(ed.value).replace("dualgraph", "torch") == str(et.value)


def test_mha_embed_dim_not_divisible_is_refused():
    with pytest.raises(dg.errors.DualGraphError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(10, 3)


# ---------------------------------------------------------------- TransformerEncoder(Layer)
def _act_callable(lib):
    return lambda x: lib.tanh(x) * 2


ENC_CONFIGS = [
    ("relu post-norm", dict()),
    ("gelu pre-norm batch_first", dict(activation="gelu", norm_first=True, batch_first=True)),
    ("callable activation", dict(activation="callable")),
    ("no bias eps", dict(bias=False, layer_norm_eps=1e-3)),
]


def _enc_pair(kw, layers=2, norm=True):
    torch = _torch()
    kt, kd = dict(kw), dict(kw)
    if kw.get("activation") == "callable":
        kt["activation"], kd["activation"] = _act_callable(torch), _act_callable(dg)
    tl = torch.nn.TransformerEncoderLayer(E, NH, 16, dropout=0.0, **kt).double()
    dl = nn.TransformerEncoderLayer(E, NH, 16, dropout=0.0, **kd, dtype=dg.float64)
    te = torch.nn.TransformerEncoder(tl, layers, norm=torch.nn.LayerNorm(E).double() if norm else None,
                                     enable_nested_tensor=False)
    de = nn.TransformerEncoder(dl, layers, norm=nn.LayerNorm(E, dtype=dg.float64) if norm else None)
    copy_weights(te, de)
    return te, de


@pytest.mark.parametrize("name,kw", ENC_CONFIGS, ids=[c[0] for c in ENC_CONFIGS])
def test_encoder_parameter_names_and_shapes_equal_torch(name, kw):
    te, de = _enc_pair(kw)
    assert [(n, tuple(p.shape)) for n, p in te.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in de.named_parameters()]
    # the layers are copies, not one shared layer
    assert de.layers[0].linear1.weight is not de.layers[1].linear1.weight


@pytest.mark.parametrize("masks", ["none", "causal+padding"])
@pytest.mark.parametrize("name,kw", ENC_CONFIGS, ids=[c[0] for c in ENC_CONFIGS])
def test_encoder_equals_torch(name, kw, masks):
    torch = _torch()
    te, de = _enc_pair(kw)
    rng = np.random.default_rng(8)
    bf = kw.get("batch_first", False)
    x = rng.standard_normal((N, L, E) if bf else (L, N, E))
    (xt,), (xd,) = _both([x])
    args_t, args_d = {}, {}
    if masks != "none":
        causal = torch.nn.Transformer.generate_square_subsequent_mask(L).double()
        kpm = np.zeros((N, L), bool)
        kpm[1, -1] = True
        args_t = dict(mask=causal, src_key_padding_mask=torch.tensor(kpm))
        args_d = dict(mask=dg.tensor(causal.numpy()), src_key_padding_mask=dg.tensor(kpm))
    ot, od = te(xt, **args_t), de(xd, **args_d)
    close(od, ot)
    (ot ** 2).sum().backward()
    (od ** 2).sum().backward()
    close(xd.grad, xt.grad)
    for (n, p), (_, tp) in zip(de.named_parameters(), te.named_parameters()):
        close(p.grad, tp.grad, what=n)


def test_encoder_layer_dropout_only_while_training():
    torch = _torch()
    tl = torch.nn.TransformerEncoderLayer(E, NH, 16, dropout=0.3).double()
    dl = nn.TransformerEncoderLayer(E, NH, 16, dropout=0.3, dtype=dg.float64)
    copy_weights(tl, dl)
    x = np.random.default_rng(9).standard_normal((L, N, E))
    tl.eval()
    dl.eval()
    xt = torch.tensor(x, requires_grad=True)  # (grad on: PyTorch's fast path stays off)
    close(dl(dg.tensor(x)), tl(xt))
    dl.train()
    dg.manual_seed(0)
    assert not np.allclose(to_np(dl(dg.tensor(x))), to_np(dl(dg.tensor(x))))


@pytest.mark.parametrize("name,kw", [ENC_CONFIGS[0], ENC_CONFIGS[1]], ids=[ENC_CONFIGS[0][0], ENC_CONFIGS[1][0]])
def test_training_eager_and_compiled_equal_torch_over_several_steps(name, kw):
    """forward, loss, backward, Adam step: eagerly, compiled by dg.function (traced once) and in
    PyTorch from the same weights; equal losses and parameters after every step."""
    torch = _torch()
    te, de = _enc_pair(kw)
    _, dc = _enc_pair(kw)
    copy_weights(te, dc)
    opt_t = torch.optim.Adam(te.parameters(), lr=1e-2)
    opt_e = dg.optim.Adam(de.parameters(), lr=1e-2)
    opt_c = dg.optim.Adam(dc.parameters(), lr=1e-2)
    bf = kw.get("batch_first", False)
    kpm = np.zeros((N, L), bool)
    kpm[0, -2:] = True

    def step(model, opt, x, kp, tgt):
        opt.zero_grad()
        loss = ((model(x, src_key_padding_mask=kp) - tgt) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    compiled = dg.function(step)
    rng = np.random.default_rng(10)
    for i in range(4):
        x = rng.standard_normal((N, L, E) if bf else (L, N, E))
        tgt = rng.standard_normal(x.shape)  # (not y ** 2: the final norm makes that ~1 always)
        opt_t.zero_grad()
        lt = ((te(torch.tensor(x), src_key_padding_mask=torch.tensor(kpm)) - torch.tensor(tgt)) ** 2).mean()
        lt.backward()
        opt_t.step()
        le = step(de, opt_e, dg.tensor(x), dg.tensor(kpm), dg.tensor(tgt))
        lc = compiled(dc, opt_c, dg.tensor(x), dg.tensor(kpm), dg.tensor(tgt))
        close(le, lt.detach(), atol=1e-9, what=f"eager loss {i}")
        close(lc, le, what=f"compiled loss {i}")
        for (n, tp), pe, pc in zip(te.named_parameters(), de.parameters(), dc.parameters()):
            close(pe, tp, atol=1e-8, rtol=1e-6, what=f"eager {n} after step {i}")
            close(pc, pe, what=f"compiled {n} after step {i}")
    assert compiled.trace_count == 1


def _scaled_mha(lib, kw, dtype):
    """MultiheadAttention whose query is first normalised by a LayerNorm registered (so updated)
    after the attention's parameters: its gradient reads the query block of in_proj_weight,
    which the optimizer has already updated in place by then."""
    class ScaledMHA(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = lib.nn.MultiheadAttention(E, NH, **kw, dtype=dtype)
            self.norm = lib.nn.LayerNorm(E, dtype=dtype)

        def forward(self, q, k, v, key_padding_mask=None):
            return self.attn(self.norm(q), k, v, key_padding_mask=key_padding_mask)
    return ScaledMHA()


@pytest.mark.parametrize("name,kw", [MHA_CONFIGS[0], MHA_CONFIGS[2], MHA_CONFIGS[4]],
                         ids=[MHA_CONFIGS[0][0], MHA_CONFIGS[2][0], MHA_CONFIGS[4][0]])
def test_mha_cross_attention_training_compiled_equals_eager_and_torch(name, kw):
    """Cross-attention (query, key, value differ: the packed in_proj_weight is split into its
    three row blocks) in a training step with SGD momentum, eagerly, compiled and in PyTorch."""
    torch = _torch()
    tm = _scaled_mha(torch, kw, torch.float64)
    de, dc = _scaled_mha(dg, kw, dg.float64), _scaled_mha(dg, kw, dg.float64)
    copy_weights(tm, de)
    copy_weights(tm, dc)
    opt_t = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    opt_e = dg.optim.SGD(de.parameters(), lr=0.1, momentum=0.9)
    opt_c = dg.optim.SGD(dc.parameters(), lr=0.1, momentum=0.9)

    def step(model, opt, q, k, v, kp):
        opt.zero_grad()
        out, w = model(q, k, v, key_padding_mask=kp)
        loss = (out ** 2).mean() + (w ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    compiled = dg.function(step)
    rng = np.random.default_rng(11)
    kpm, _ = _masks(rng, "bool")
    for i in range(3):
        arrays = _mha_inputs(kw, rng)
        opt_t.zero_grad()
        ot, wt = tm(*[torch.tensor(a) for a in arrays], key_padding_mask=torch.tensor(kpm))
        lt = (ot ** 2).mean() + (wt ** 2).sum()
        lt.backward()
        opt_t.step()
        le = step(de, opt_e, *[dg.tensor(a) for a in arrays], dg.tensor(kpm))
        lc = compiled(dc, opt_c, *[dg.tensor(a) for a in arrays], dg.tensor(kpm))
        close(le, lt.detach(), what=f"eager loss {i}")
        close(lc, le, what=f"compiled loss {i}")
        for (n, tp), pe, pc in zip(tm.named_parameters(), de.parameters(), dc.parameters()):
            close(pe, tp, what=f"eager {n} after step {i}")
            close(pc, pe, what=f"compiled {n} after step {i}")
    assert compiled.trace_count == 1
