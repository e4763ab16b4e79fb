"""Layers, losses, dg.nn.functional and dg.nn.init: values and gradients equal PyTorch's given the
same weights (copied from torch into dualgraph), PyTorch's error wording, and initialisation
distributions (bounds and moments)."""
import math
import warnings

import numpy as np
import pytest

import dualgraph as dg
from dualgraph import nn
from dualgraph.nn import functional as F
from dualgraph.ops import OPS, Spec


def _torch():
    return pytest.importorskip("torch")


def copy_weights(tm, dm):
    dm.load_state_dict({k: dg.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})


def close(a, b, atol=1e-5, rtol=1e-4):
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert np.allclose(a, b, atol=atol, rtol=rtol), np.abs(a.astype(float) - b.astype(float)).max()


# ---------------------------------------------------------------------------- layers vs torch
# (name, constructor taking the library, input shape, integer input upper bound or None)
LAYERS = [
    ("linear", lambda L: L.nn.Linear(5, 3), (4, 5), None),
    ("linear 3-D input, no bias", lambda L: L.nn.Linear(5, 3, bias=False), (2, 4, 5), None),
    ("linear 1-D input", lambda L: L.nn.Linear(5, 3), (5,), None),
    ("conv", lambda L: L.nn.Conv2d(3, 4, 3), (2, 3, 7, 6), None),
    ("conv stride/pad/dilation/groups", lambda L: L.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2),
                                                            dilation=(1, 2), groups=2), (2, 4, 9, 8), None),
    ("conv same, even kernel, no bias", lambda L: L.nn.Conv2d(2, 3, 4, padding="same", bias=False),
     (1, 2, 6, 5), None),
    ("conv unbatched", lambda L: L.nn.Conv2d(3, 2, 3, padding=1), (3, 5, 5), None),
    ("maxpool", lambda L: L.nn.MaxPool2d(2), (2, 3, 6, 7), None),
    ("maxpool stride/pad/ceil", lambda L: L.nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
     (2, 2, 8, 7), None),
    ("maxpool dilation", lambda L: L.nn.MaxPool2d((2, 3), stride=1, dilation=(2, 1)), (1, 2, 6, 6), None),
    ("flatten", lambda L: L.nn.Flatten(), (2, 3, 4), None),
    ("flatten 0..1", lambda L: L.nn.Flatten(0, 1), (2, 3, 4), None),
    ("relu", lambda L: L.nn.ReLU(), (3, 4), None),
    ("leaky relu", lambda L: L.nn.LeakyReLU(0.1), (3, 4), None),
    ("sigmoid", lambda L: L.nn.Sigmoid(), (3, 4), None),
    ("tanh", lambda L: L.nn.Tanh(), (3, 4), None),
    ("softmax", lambda L: L.nn.Softmax(dim=1), (3, 4), None),
    ("log softmax", lambda L: L.nn.LogSoftmax(dim=-1), (3, 4), None),
    ("dropout p=0", lambda L: L.nn.Dropout(0.0), (3, 4), None),
    ("dropout eval", lambda L: L.nn.Dropout(0.5).eval(), (3, 4), None),
    ("batchnorm1d", lambda L: L.nn.BatchNorm1d(4), (6, 4), None),
    ("batchnorm1d 3-D", lambda L: L.nn.BatchNorm1d(3), (4, 3, 5), None),
    ("batchnorm1d eval", lambda L: L.nn.BatchNorm1d(4).eval(), (6, 4), None),
    ("batchnorm1d no affine, no stats", lambda L: L.nn.BatchNorm1d(4, affine=False, track_running_stats=False),
     (6, 4), None),
    ("batchnorm2d", lambda L: L.nn.BatchNorm2d(3), (2, 3, 4, 5), None),
    ("layernorm", lambda L: L.nn.LayerNorm(5), (3, 5), None),
    ("layernorm 2 dims, no bias", lambda L: L.nn.LayerNorm((4, 5), bias=False), (2, 4, 5), None),
    ("embedding", lambda L: L.nn.Embedding(10, 3), (4, 5), 10),
    ("embedding padding_idx", lambda L: L.nn.Embedding(10, 3, padding_idx=1), (4, 5), 3),
    ("identity", lambda L: L.nn.Identity(54, unused=1), (3, 4), None),
    ("cnn", lambda L: L.nn.Sequential(L.nn.Conv2d(1, 4, 3, padding=1), L.nn.ReLU(), L.nn.MaxPool2d(2),
                                      L.nn.Conv2d(4, 6, 3), L.nn.BatchNorm2d(6), L.nn.Tanh(), L.nn.Flatten(),
                                      L.nn.Linear(6 * 2 * 2, 10), L.nn.LayerNorm(10)), (3, 1, 8, 8), None),
]


@pytest.mark.parametrize("name,make,shape,hi", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_matches_torch(name, make, shape, hi):
    torch = _torch()
    torch.manual_seed(0)
    tm = make(torch)
    with torch.no_grad():                    # non-trivial affine parameters for the norms
        for n, p in tm.named_parameters():
            if n.endswith("weight") and p.ndim == 1 or n.endswith("bias"):
                p.uniform_(0.5, 1.5)
    dm = make(dg)
    copy_weights(tm, dm)
    rng = np.random.default_rng(1)
    if hi is None:
        x = rng.standard_normal(shape).astype(np.float32)
        xt, xd = torch.tensor(x, requires_grad=True), dg.tensor(x, requires_grad=True)
    else:
        x = rng.integers(0, hi, size=shape)
        xt, xd = torch.tensor(x), dg.tensor(x)
    for step in range(2):                    # twice: running statistics and their use
        yt, yd = tm(xt), dm(xd)
        close(yd, yt)
        g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
        yt.backward(torch.tensor(g))
        yd.backward(dg.tensor(g))
    if hi is None:
        close(xd.grad, xt.grad)
    tp = dict(tm.named_parameters())
    for n, p in dm.named_parameters():
        close(p.grad, tp[n].grad, atol=1e-4)
    tb = dict(tm.named_buffers())
    for n, b in dm.named_buffers():
        close(b, tb[n])
    assert list(dm.state_dict()) == list(tm.state_dict())


def test_batchnorm_running_stats_and_momentum_none_match_torch():
    torch = _torch()
    for kw in [dict(momentum=0.3), dict(momentum=None)]:
        tm, dm = torch.nn.BatchNorm1d(3, **kw), nn.BatchNorm1d(3, **kw)
        rng = np.random.default_rng(0)
        for _ in range(4):
            x = (rng.standard_normal((5, 3)) * 3 + 1).astype(np.float32)
            close(dm(dg.tensor(x)), tm(torch.tensor(x)))
        for (n, b), (_, c) in zip(dm.named_buffers(), tm.named_buffers()):
            close(b, c)
        assert int(dm.num_batches_tracked) == 4
        dm.eval(), tm.eval()
        x = rng.standard_normal((2, 3)).astype(np.float32)
        close(dm(dg.tensor(x)), tm(torch.tensor(x)))


def test_batchnorm_eval_uses_running_stats_without_torch():
    m = nn.BatchNorm1d(2)
    with dg.no_grad():
        m.running_mean.copy_(dg.tensor([1.0, -1.0]))
        m.running_var.copy_(dg.tensor([4.0, 0.25]))
    m.eval()
    y = m(dg.tensor([[3.0, 0.0]]))
    assert np.allclose(y.detach().numpy(), [[2 / math.sqrt(4 + 1e-5), 1 / math.sqrt(0.25 + 1e-5)]], atol=1e-6)
    m.train()
    before = m.running_mean.numpy().copy()
    m(dg.tensor([[0.0, 0.0], [2.0, 2.0]]))
    assert np.allclose(m.running_mean.numpy(), 0.9 * before + 0.1 * np.array([1.0, 1.0]))
    assert np.allclose(m.running_var.numpy(), 0.9 * np.array([4.0, 0.25]) + 0.1 * 2.0)  # unbiased var
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        m(dg.ones(1, 2))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        m(dg.ones(2, 2, 1, 1))


def test_layer_and_functional_errors_match_torch():
    torch = _torch()
    cases = [
        lambda L: L.nn.Linear(3, 2)(L.ones(4, 5)),
        lambda L: L.nn.Conv2d(3, 8, 3)(L.ones(2, 4, 8, 8)),
        lambda L: L.nn.Conv2d(3, 8, 3)(L.ones(2, 3)),
        lambda L: L.nn.Conv2d(3, 8, 3)(L.ones(2, 3, 2, 2)),
        lambda L: L.nn.MaxPool2d(3, padding=2)(L.ones(1, 1, 8, 8)),
        lambda L: L.nn.MaxPool2d(3)(L.ones(1, 3, 2, 2)),
        lambda L: L.nn.BatchNorm1d(3)(L.ones(4, 5)),
        lambda L: L.nn.BatchNorm1d(3)(L.ones(1, 3)),
        lambda L: L.nn.BatchNorm2d(3)(L.ones(2, 3, 4)),
        lambda L: L.nn.LayerNorm(5)(L.ones(3, 4)),
        lambda L: L.nn.functional.layer_norm(L.ones(3, 4), (4,), weight=L.ones(5)),
        lambda L: L.nn.Embedding(3, 2)(L.tensor([5])),
        lambda L: L.nn.Embedding(3, 2)(L.tensor([1.0])),
        lambda L: L.nn.Embedding(3, 2, padding_idx=3),
        lambda L: L.nn.Dropout(1.5),
        lambda L: L.nn.functional.dropout(L.ones(3), -0.1),
        lambda L: L.nn.CrossEntropyLoss()(L.ones(3, 5), L.tensor([1, 2, 7])),
        lambda L: L.nn.CrossEntropyLoss()(L.ones(3, 5), L.tensor([1, 2])),
        lambda L: L.nn.CrossEntropyLoss()(L.ones(3, 5), L.tensor([1, 2, -1])),
        lambda L: L.nn.NLLLoss()(L.ones(3, 5), L.tensor([1.0, 2.0, 3.0])),
        lambda L: L.nn.NLLLoss()(L.ones(3, 5), L.tensor([1, 2, 3], dtype=L.int32)),
        lambda L: L.nn.NLLLoss()(L.ones(3, 5, 2), L.tensor([1, 2, 3])),
        lambda L: L.nn.NLLLoss(weight=L.ones(4))(L.ones(3, 5), L.tensor([1, 2, 3])),
        lambda L: L.nn.NLLLoss(reduction="avg")(L.ones(3, 5), L.tensor([1, 2, 3])),
        lambda L: L.nn.functional.cross_entropy(L.ones(3, 5), L.ones(3, 4)),
        lambda L: L.nn.functional.cross_entropy(L.ones(3, 5), L.tensor([1, 1, 1]), label_smoothing=1.5),
        lambda L: L.nn.functional.one_hot(L.tensor([1, 5]), 3),
        lambda L: L.nn.functional.pad(L.ones(2, 3), (1, 2, 3)),
        lambda L: L.nn.functional.conv2d(L.ones(1, 3, 8, 8), L.ones(2, 3, 3, 3), padding="foo"),
        lambda L: L.nn.Conv2d(4, 4, 3, groups=3),
        lambda L: L.nn.Conv2d(3, 4, 3, stride=2, padding="same"),
        lambda L: L.nn.functional.binary_cross_entropy_with_logits(L.ones(3), L.ones(4)),
    ]
    for i, case in enumerate(cases):
        with pytest.raises(Exception) as te:
            case(torch)
        with pytest.raises(Exception) as de:
            case(dg)
        kinds = [k for k in (IndexError, TypeError, ValueError, RuntimeError, AssertionError)
                 if isinstance(te.value, k)]
        assert kinds, f"case {i}: torch raised {type(te.value)}"
        assert isinstance(de.value, kinds[0]), f"case {i}: {type(de.value).__mro__} vs {type(te.value).__mro__}"
        if not isinstance(te.value, AssertionError):
            assert isinstance(de.value, dg.DualGraphError), f"case {i}: {type(de.value)}"
        tmsg = str(te.value).replace("torch.", "").strip()
        dmsg = str(de.value).replace("dualgraph.", "").strip()
        if i in (12,):                       # dtype names are spelled by each library
            assert "'indices' to have one of the following scalar types: Long, Int" in dmsg
        else:
            assert dmsg == tmsg or dmsg.startswith(tmsg) or tmsg in dmsg, f"case {i}:\n{dmsg}\nvs\n{tmsg}"


# ---------------------------------------------------------------------------- losses vs torch
LOSS_CASES = [
    ("mse", "MSELoss", {}, "real"),
    ("mse sum", "MSELoss", {"reduction": "sum"}, "real"),
    ("mse none", "MSELoss", {"reduction": "none"}, "real"),
    ("l1", "L1Loss", {}, "real"),
    ("ce", "CrossEntropyLoss", {}, "index"),
    ("ce sum", "CrossEntropyLoss", {"reduction": "sum"}, "index"),
    ("ce none", "CrossEntropyLoss", {"reduction": "none"}, "index"),
    ("ce weight", "CrossEntropyLoss", {"weight": True}, "index"),
    ("ce ignore_index", "CrossEntropyLoss", {"ignore_index": 2}, "index"),
    ("ce ignore -100", "CrossEntropyLoss", {}, "index_ignored"),
    ("ce weight+ignore none", "CrossEntropyLoss", {"weight": True, "reduction": "none"}, "index_ignored"),
    ("ce label smoothing", "CrossEntropyLoss", {"label_smoothing": 0.2}, "index_ignored"),
    ("ce smoothing weight", "CrossEntropyLoss", {"label_smoothing": 0.1, "weight": True}, "index_ignored"),
    ("ce smoothing sum", "CrossEntropyLoss", {"label_smoothing": 0.1, "reduction": "sum"}, "index"),
    ("ce probabilities", "CrossEntropyLoss", {}, "probs"),
    ("ce probabilities weight smoothing", "CrossEntropyLoss", {"weight": True, "label_smoothing": 0.3}, "probs"),
    ("ce K-dim", "CrossEntropyLoss", {}, "kdim"),
    ("ce K-dim none", "CrossEntropyLoss", {"reduction": "none"}, "kdim"),
    ("ce unbatched", "CrossEntropyLoss", {}, "unbatched"),
    ("nll", "NLLLoss", {}, "index"),
    ("nll weight sum", "NLLLoss", {"weight": True, "reduction": "sum"}, "index_ignored"),
    ("nll weight mean", "NLLLoss", {"weight": True}, "index_ignored"),
    ("nll K-dim none", "NLLLoss", {"reduction": "none"}, "kdim"),
    ("bce with logits", "BCEWithLogitsLoss", {}, "binary"),
    ("bce with logits none", "BCEWithLogitsLoss", {"reduction": "none"}, "binary"),
    ("bce", "BCELoss", {}, "binary_prob"),
]


def _loss_inputs(kind, rng):
    if kind == "real":
        return rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
    if kind in ("index", "index_ignored"):
        t = rng.integers(0, 5, size=6)
        if kind == "index_ignored":
            t[1] = -100
        return rng.standard_normal((6, 5)).astype(np.float32) * 3, t
    if kind == "probs":
        p = rng.random((6, 5)).astype(np.float32)
        return rng.standard_normal((6, 5)).astype(np.float32), p / p.sum(1, keepdims=True)
    if kind == "kdim":
        return rng.standard_normal((2, 5, 3, 4)).astype(np.float32), rng.integers(0, 5, size=(2, 3, 4))
    if kind == "unbatched":
        return rng.standard_normal(5).astype(np.float32), np.array(3)
    if kind == "binary":
        return rng.standard_normal((4, 3)).astype(np.float32) * 5, (rng.random((4, 3)) > 0.5).astype(np.float32)
    if kind == "binary_prob":
        return rng.uniform(0.05, 0.95, (4, 3)).astype(np.float32), (rng.random((4, 3)) > 0.5).astype(np.float32)


@pytest.mark.parametrize("name,cls,kw,kind", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_matches_torch(name, cls, kw, kind):
    torch = _torch()
    rng = np.random.default_rng(abs(hash(name)) % 1000)
    x, t = _loss_inputs(kind, rng)
    w = rng.uniform(0.5, 2.0, 5).astype(np.float32)
    kt = {k: (torch.tensor(w) if k == "weight" else v) for k, v in kw.items()}
    kd = {k: (dg.tensor(w) if k == "weight" else v) for k, v in kw.items()}
    if kind == "index" and kw.get("ignore_index") == 2:
        t[0] = 2
    xt, xd = torch.tensor(x, requires_grad=True), dg.tensor(x, requires_grad=True)
    lt = getattr(torch.nn, cls)(**kt)(xt, torch.tensor(t))
    ld = getattr(nn, cls)(**kd)(xd, dg.tensor(t))
    close(ld, lt, atol=1e-5, rtol=1e-5)
    g = rng.standard_normal(tuple(lt.shape)).astype(np.float32)
    lt.backward(torch.tensor(g))
    ld.backward(dg.tensor(g))
    close(xd.grad, xt.grad, atol=1e-6, rtol=1e-5)


def test_cross_entropy_is_finite_for_huge_logits():
    x = dg.tensor([[1e4, -1e4, 0.0], [1e30, 0.0, -1e30], [-5e3, 5e3, 0.0]], requires_grad=True)
    y = dg.tensor([1, 0, 1])
    loss = F.cross_entropy(x, y)
    assert np.isfinite(loss.item())
    assert np.isclose(loss.item(), (2e4 + 0.0 + 0.0) / 3, rtol=1e-6)
    loss.backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    assert np.allclose(x.grad.numpy(), np.array([[1, -1, 0], [0, 0, 0], [0, 0, 0]]) / 3, atol=1e-6)


def test_nll_ignore_index_all_ignored_is_nan_like_torch():
    loss = F.nll_loss(dg.zeros(2, 3), dg.tensor([-100, -100]))
    assert math.isnan(loss.item())


# ---------------------------------------------------------------------------- dropout
def test_dropout_train_mask_scale_and_reproducibility():
    x = dg.ones(200, 100, requires_grad=True)
    dg.manual_seed(3)
    y = F.dropout(x, 0.3)
    vals = y.detach().numpy()
    zero = vals == 0
    assert abs(zero.mean() - 0.3) < 0.01
    assert np.allclose(vals[~zero], 1 / 0.7)
    y.sum().backward()
    assert np.allclose(x.grad.numpy(), vals)                 # d/dx (x * mask / (1-p)) = mask / (1-p)
    dg.manual_seed(3)
    assert np.array_equal(F.dropout(x, 0.3).detach().numpy(), vals)
    assert np.array_equal(F.dropout(x, 0.3, training=False).detach().numpy(), x.detach().numpy())
    assert float(F.dropout(x, 1.0).detach().abs().sum()) == 0.0
    m = nn.Dropout(0.5)
    assert float((m(dg.ones(1000)) == 0).float().mean()) > 0.4
    m.eval()
    assert float((m(dg.ones(1000)) == 0).float().sum()) == 0
    z = dg.ones(50)
    F.dropout(z, 0.5, inplace=True)
    assert float((z == 0).float().sum()) > 0


# ---------------------------------------------------------------------------- functional extras
def test_functional_basics():
    assert F.one_hot(dg.tensor([0, 2])).tolist() == [[1, 0, 0], [0, 0, 1]]
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        s = F.softmax(dg.ones(2, 3))
    assert np.allclose(s.numpy(), 1 / 3)
    assert np.allclose(F.log_softmax(dg.zeros(4), 0).numpy(), -math.log(4))
    y = F.linear(dg.ones(3), dg.ones(2, 3), dg.tensor([1.0, 2.0]))
    assert y.tolist() == [4.0, 5.0]
    p = F.pad(dg.ones(1, 2), (1, 1), value=0.5)
    assert p.tolist() == [[0.5, 1.0, 1.0, 0.5]]
    r = dg.tensor([-1.0, 2.0], requires_grad=True)
    out = F.relu(r * 1.0, inplace=True)
    out.sum().backward()
    assert r.grad.tolist() == [0.0, 1.0]


def test_conv_double_backward_matches_torch():
    torch = _torch()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 2))
    res = {}
    for lib in (dg, torch):
        xt = lib.tensor(x, requires_grad=True)
        wt = lib.tensor(w, requires_grad=True)
        y = lib.nn.functional.conv2d(xt, wt, stride=(2, 1), padding=1)
        y = lib.nn.functional.max_pool2d(y.tanh(), 2, ceil_mode=True)
        gx, gw = (lib.autograd.grad if lib is torch else dg.autograd.grad)(
            (y ** 2).sum(), [xt, wt], create_graph=True)
        ((gx ** 2).sum() + (gw ** 3).sum()).backward()
        res[lib.__name__] = (xt.grad.detach().numpy(), wt.grad.detach().numpy())
    for a, b in zip(res["dualgraph"], res["torch"]):
        assert np.allclose(a, b, atol=1e-8, rtol=1e-6)


def test_nn_ops_are_registry_ops_with_unknown_batch_dims():
    for name in ("conv2d", "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d",
                 "max_pool2d_backward", "max_pool2d_select", "max_pool2d_indices", "constant_pad"):
        op = OPS[name]
        assert callable(op.forward) and callable(op.infer)
    f32 = np.dtype(np.float32)
    spec = OPS["conv2d"].infer(Spec((None, 3, 8, 8), f32), Spec((4, 3, 3, 3), f32), Spec((4,), f32),
                               stride=(2, 2), padding=(1, 1, 1, 1), dilation=(1, 1), groups=1)
    assert spec.shape == (None, 4, 4, 4) and spec.dtype == f32
    spec = OPS["max_pool2d"].infer(Spec((None, 3, 7, 7), f32), kernel_size=(2, 2), stride=(2, 2),
                                   padding=(0, 0), dilation=(1, 1), ceil_mode=True)
    assert spec.shape == (None, 3, 4, 4)
    with pytest.raises(dg.DualGraphError, match="to have 3 channels, but got 5 channels instead"):
        OPS["conv2d"].infer(Spec((None, 5, 8, 8), f32), Spec((4, 3, 3, 3), f32), stride=(1, 1),
                            padding=(0, 0, 0, 0), dilation=(1, 1), groups=1)


def test_conv_kernel_has_no_pixel_loops():
    """The forward kernels are im2col + tensordot/einsum: no Python loop over output pixels, so
    a large image costs about as many Python-level operations as a small one. (Pooling loops over
    the kh*kw kernel offsets only, each a whole-array numpy op: the loop must range over kh/kw.)"""
    import ast
    import inspect
    import textwrap
    from dualgraph.ops import nn_ops
    loops = (ast.For, ast.While, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)
    for fn in (nn_ops._conv2d_kernel, nn_ops._max_pool2d_kernel, nn_ops._conv2d_weight_grad_kernel,
               nn_ops._windows, nn_ops._pool_windows, nn_ops._argmax_positions):
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        for n in ast.walk(tree):
            if isinstance(n, ast.For) and any(isinstance(v, ast.Name) and v.id in ("kh", "kw")
                                              for v in ast.walk(n.iter)):
                continue  # over kernel offsets, not pixels
            assert not isinstance(n, loops), f"{fn.__name__}: {ast.dump(n)[:80]}"


# ---------------------------------------------------------------------------- init
def test_calculate_gain_matches_torch():
    torch = _torch()
    for nl, p in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                  ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 1), ("selu", None)]:
        assert nn.init.calculate_gain(nl, p) == torch.nn.init.calculate_gain(nl, p)
    for bad in [("foo", None), ("leaky_relu", True)]:
        with pytest.raises(ValueError) as te:
            torch.nn.init.calculate_gain(*bad)
        with pytest.raises(ValueError) as de:
            nn.init.calculate_gain(*bad)
        assert str(de.value) == str(te.value)


def test_init_distributions():
    dg.manual_seed(0)
    t = dg.empty(400, 500)
    nn.init.uniform_(t, -2.0, 4.0)
    a = t.numpy()
    assert a.min() >= -2.0 and a.max() < 4.0
    assert abs(a.mean() - 1.0) < 0.02 and abs(a.var() - 36 / 12) < 0.05
    nn.init.normal_(t, 1.5, 0.5)
    a = t.numpy()
    assert abs(a.mean() - 1.5) < 0.01 and abs(a.std() - 0.5) < 0.01
    fan_in, fan_out = 500, 400
    nn.init.xavier_uniform_(t, gain=2.0)
    bound = 2.0 * math.sqrt(6.0 / (fan_in + fan_out))
    a = t.numpy()
    assert np.abs(a).max() <= bound and np.abs(a).max() > 0.99 * bound
    assert abs(a.std() - bound / math.sqrt(3)) < 0.01 * bound
    nn.init.xavier_normal_(t)
    assert abs(t.numpy().std() - math.sqrt(2.0 / (fan_in + fan_out))) < 0.002
    nn.init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu")
    bound = math.sqrt(2.0) * math.sqrt(3.0 / fan_out)
    a = t.numpy()
    assert np.abs(a).max() <= bound and abs(a.std() - bound / math.sqrt(3)) < 0.01 * bound
    nn.init.kaiming_normal_(t, a=0.1)
    std = nn.init.calculate_gain("leaky_relu", 0.1) / math.sqrt(fan_in)
    assert abs(t.numpy().std() - std) < 0.01 * std
    conv_w = dg.empty(8, 4, 3, 3)
    nn.init.kaiming_uniform_(conv_w)
    assert np.abs(conv_w.numpy()).max() <= math.sqrt(2.0 / (1 + 0.01 ** 2)) * math.sqrt(3.0 / 36)
    nn.init.constant_(t, 0.25)
    assert np.all(t.numpy() == 0.25)
    nn.init.ones_(t)
    assert np.all(t.numpy() == 1)
    nn.init.zeros_(t)
    assert np.all(t.numpy() == 0)
    e = dg.empty(3, 4)
    nn.init.eye_(e)
    assert np.array_equal(e.numpy(), np.eye(3, 4))


def test_init_is_in_place_on_parameters_under_no_grad_and_reproducible():
    p = nn.Parameter(dg.empty(5, 6))
    out = nn.init.kaiming_uniform_(p, a=math.sqrt(5))
    assert out is p and p.requires_grad and p.is_leaf and p.grad_fn is None
    dg.manual_seed(7)
    a = nn.Linear(6, 5)
    dg.manual_seed(7)
    b = nn.Linear(6, 5)
    assert np.array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    assert np.array_equal(a.bias.detach().numpy(), b.bias.detach().numpy())
    g1 = np.random.default_rng(5)
    g2 = np.random.default_rng(5)
    x, y = dg.empty(3, 3), dg.empty(3, 3)
    nn.init.normal_(x, generator=g1)
    nn.init.normal_(y, generator=g2)
    assert np.array_equal(x.numpy(), y.numpy())


def test_init_errors_match_torch():
    torch = _torch()
    for call in [lambda L, t: L.nn.init.xavier_uniform_(t), lambda L, t: L.nn.init.kaiming_normal_(t, mode="fan_x")]:
        for shape in [(5,), (3, 4)]:
            try:
                call(torch, torch.empty(*shape))
                terr = None
            except ValueError as e:
                terr = str(e)
            try:
                call(dg, dg.empty(*shape))
                derr = None
            except ValueError as e:
                assert isinstance(e, dg.DualGraphError)
                derr = str(e)
            assert derr == terr
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        nn.init.kaiming_uniform_(dg.empty(0, 3))


def test_default_layer_initialisation_bounds():
    dg.manual_seed(0)
    lin = nn.Linear(200, 300)
    bound = 1 / math.sqrt(200)
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert np.abs(b).max() <= bound
    conv = nn.Conv2d(4, 16, 3)
    bound = 1 / math.sqrt(4 * 9)
    assert np.abs(conv.weight.detach().numpy()).max() <= bound
    assert np.abs(conv.bias.detach().numpy()).max() <= bound
    emb = nn.Embedding(1000, 20, padding_idx=3)
    e = emb.weight.detach().numpy()
    assert np.all(e[3] == 0) and abs(e.std() - 1.0) < 0.02
    ln, bn = nn.LayerNorm(4), nn.BatchNorm1d(4)
    for m in (ln, bn):
        assert np.all(m.weight.detach().numpy() == 1) and np.all(m.bias.detach().numpy() == 0)


def test_layers_in_float64():
    m = nn.Sequential(nn.Conv2d(1, 2, 3, dtype=dg.float64), nn.Flatten(), nn.Linear(2 * 4 * 4, 3, dtype=dg.float64))
    y = m(dg.ones(2, 1, 6, 6, dtype=dg.float64))
    assert y.dtype == dg.float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.cross_entropy(y, dg.tensor([0, 2])).backward()
    assert m[0].weight.grad.dtype == dg.float64


def test_modules_build_graphs_through_the_same_ops():
    """A CNN module called on a placeholder (unknown batch) builds a graph whose run equals the
    eager forward: layers only use dispatched ops."""
    if not hasattr(dg, "graph_mode") or not hasattr(dg, "Session"):
        pytest.skip("graph mode not available")
    dg.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(2 * 3 * 3, 4), nn.LayerNorm(4), nn.Softmax(dim=1)).eval()
    x = np.random.default_rng(0).standard_normal((3, 1, 6, 6)).astype(np.float32)
    want = m(dg.tensor(x)).detach().numpy()
    with dg.graph_mode() as g:
        xp = dg.placeholder((None, 1, 6, 6), name="x")
        y = m(xp)
        assert tuple(y.shape) == (None, 4)
    got = dg.Session(g).run(y, {xp: x})
    assert np.allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("fn", ["mse_loss", "l1_loss", "binary_cross_entropy",
                                "binary_cross_entropy_with_logits", "nll_loss", "cross_entropy"])
@pytest.mark.parametrize("legacy", [dict(reduce=False), dict(size_average=False), dict(size_average=True),
                                    dict(reduce=True, size_average=False)])
def test_functional_losses_honour_the_deprecated_size_average_and_reduce(fn, legacy):
    torch = pytest.importorskip("torch")
    import warnings
    rng = np.random.default_rng(0)
    if fn in ("nll_loss", "cross_entropy"):
        x = rng.standard_normal((4, 3)).astype(np.float32)
        t = np.array([0, 2, 1, 0])
    else:
        x = rng.uniform(0.1, 0.9, (4, 3)).astype(np.float32)
        t = rng.uniform(0.0, 1.0, (4, 3)).astype(np.float32)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = getattr(dg.nn.functional, fn)(dg.tensor(x), dg.tensor(t), **legacy).numpy()
    assert any("size_average and reduce args will be deprecated" in str(m.message) for m in w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = getattr(torch.nn.functional, fn)(torch.tensor(x), torch.tensor(t), **legacy).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
