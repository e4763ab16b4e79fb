"""dg.nn.Module and dg.nn.Parameter: registration, traversal, state dicts, modes, hooks and repr,
checked against PyTorch's nn.Module where torch is installed (same names, order and errors)."""
import copy
import re
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import dualgraph as dg
from dualgraph import nn


def _torch():
    return pytest.importorskip("torch")


def _msg(e):
    """An error message with library names normalised, for comparisons with PyTorch's."""
    s = str(e)
    s = s.replace("torch.Size", "Size").replace("dualgraph.Size", "Size")
    return s


# ---------------------------------------------------------------------------- a model, twice
def build(lib):
    """The same nested model in dualgraph and in PyTorch: parameters, a None parameter,
    persistent and non-persistent buffers, a plain tensor attribute, a shared submodule and a
    container; written once against either library."""
    L = lib.nn

    class Block(L.Module):
        def __init__(self, shared):
            super().__init__()
            self.fc = L.Linear(4, 4)
            self.shared = shared
            self.register_buffer("count", lib.zeros(1))
            self.register_buffer("scratch", lib.ones(2), persistent=False)
            self.register_parameter("unused", None)
            self.scale = L.Parameter(lib.ones(4))
            self.plain = lib.ones(3)                     # neither parameter nor buffer

        def forward(self, x):
            return self.shared(self.fc(x)) * self.scale

    class Net(L.Module):
        def __init__(self):
            super().__init__()
            shared = L.Linear(4, 4, bias=False)
            self.stem = L.Sequential(L.Linear(3, 4), L.ReLU())
            self.blocks = L.ModuleList([Block(shared), Block(shared)])
            self.heads = L.ModuleDict({"cls": L.Linear(4, 2), "reg": L.Linear(4, 1)})
            self.bn = L.BatchNorm1d(4)
            self.register_buffer("offset", lib.zeros(2))

        def forward(self, x):
            h = self.stem(x)
            for b in self.blocks:
                h = b(h)
            h = self.bn(h)
            return self.heads["cls"](h) + self.offset

    return Net()


def torch_to_dg(tm, dm):
    """Copy a torch module's state into a dualgraph module (same names)."""
    dm.load_state_dict({k: dg.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})


def test_traversal_names_and_order_match_torch():
    torch = _torch()
    d, t = build(dg), build(torch)
    assert [n for n, _ in d.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in d.named_children()] == [n for n, _ in t.named_children()]
    assert [n for n, _ in d.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in d.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert list(d.state_dict()) == list(t.state_dict())
    assert [n for n, _ in d.named_parameters(recurse=False)] == [n for n, _ in t.named_parameters(recurse=False)]
    assert [n for n, _ in d.named_buffers(prefix="m")] == [n for n, _ in t.named_buffers(prefix="m")]
    assert ([n for n, _ in d.named_modules(remove_duplicate=False)]
            == [n for n, _ in t.named_modules(remove_duplicate=False)])
    assert ([n for n, _ in d.named_parameters(remove_duplicate=False)]
            == [n for n, _ in t.named_parameters(remove_duplicate=False)])
    assert len(list(d.modules())) == len(list(t.modules()))
    assert len(list(d.parameters())) == len(list(t.parameters()))
    assert len(list(d.children())) == len(list(t.children()))


def test_traversal_semantics_without_torch():
    m = build(dg)
    names = [n for n, _ in m.named_modules()]
    assert names[0] == "" and names[1] == "stem" and "blocks.0.fc" in names
    assert names.count("blocks.1.shared") == 0          # shared module listed once
    assert [n for n, _ in m.named_children()] == ["stem", "blocks", "heads", "bn"]
    keys = list(m.state_dict())
    assert "blocks.0.scratch" not in keys               # non-persistent
    assert "blocks.0.plain" not in keys                 # plain attribute
    assert "blocks.0.unused" not in keys                # None parameter
    assert keys.index("blocks.0.count") > keys.index("blocks.0.scale")  # params before buffers
    ps = list(m.parameters())
    assert len({id(p) for p in ps}) == len(ps)
    assert all(isinstance(p, nn.Parameter) for p in ps)
    assert isinstance(m.blocks[0].plain, dg.Tensor) and not isinstance(m.blocks[0].plain, nn.Parameter)


def test_state_dict_values_are_detached_views():
    m = nn.Linear(3, 2)
    sd = m.state_dict()
    assert not sd["weight"].requires_grad and sd["weight"].grad_fn is None
    assert not isinstance(sd["weight"], nn.Parameter)
    with dg.no_grad():
        m.weight.fill_(3.0)
    assert float(sd["weight"][0, 0]) == 3.0            # shares memory, as PyTorch
    kv = m.state_dict(keep_vars=True)
    assert kv["weight"] is m.weight


def test_get_submodule_parameter_buffer_and_errors_match_torch():
    torch = _torch()
    d, t = build(dg), build(torch)
    assert d.get_submodule("blocks.0.fc") is d.blocks[0].fc
    assert d.get_submodule("") is d
    assert d.get_parameter("blocks.1.scale") is d.blocks[1].scale
    assert d.get_buffer("bn.running_mean") is d.bn.running_mean
    for call in [lambda m: m.get_submodule("blocks.0.nope"), lambda m: m.get_submodule("blocks.0.plain"),
                 lambda m: m.get_parameter("blocks.0.count"), lambda m: m.get_parameter("stem.9.weight"),
                 lambda m: m.get_buffer("blocks.0.scale"), lambda m: m.get_buffer("bn.nope")]:
        with pytest.raises(AttributeError) as te:
            call(t)
        with pytest.raises(AttributeError) as de:
            call(d)
        assert isinstance(de.value, dg.DualGraphError)
        assert str(de.value) == str(te.value)


def test_registration_errors_match_torch():
    torch = _torch()
    cases = [
        ("buffer with a dot", lambda L, m: m.register_buffer("a.b", None), KeyError),
        ("empty buffer name", lambda L, m: m.register_buffer("", None), KeyError),
        ("buffer over attribute", lambda L, m: m.register_buffer("fc", None), KeyError),
        ("parameter with a dot", lambda L, m: m.register_parameter("a.b", None), KeyError),
        ("module over attribute", lambda L, m: setattr(m, "flag", 1) or m.add_module("flag", L.nn.Linear(1, 1)),
         KeyError),
        ("non-module child", lambda L, m: m.add_module("x", 3), TypeError),
        ("tensor as parameter", lambda L, m: setattr(m.fc, "weight", L.ones(2)), TypeError),
        ("non-parameter registered", lambda L, m: m.register_parameter("p", L.ones(2)), TypeError),
        ("int as child module", lambda L, m: setattr(m, "fc", 3), TypeError),
        ("missing attribute", lambda L, m: m.nope, AttributeError),
    ]

    def make(L):
        class M(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = L.nn.Linear(2, 2)
        return M()

    for desc, fn, exc in cases:
        with pytest.raises(exc) as te:
            fn(torch, make(torch))
        with pytest.raises(exc) as de:
            fn(dg, make(dg))
        a = str(de.value).replace("dualgraph.nn.Parameter", "torch.nn.Parameter")
        b = str(te.value)
        a = re.sub(r"dualgraph\.\w+Tensor|dualgraph Tensor", "T", a)
        b = re.sub(r"torch\.\w+Tensor|torch Tensor", "T", b)
        if desc in ("missing attribute", "buffer with a dot", "empty buffer name",
                    "buffer over attribute", "parameter with a dot", "module over attribute"):
            assert a == b, desc
        else:
            assert a.split(" ")[0] == b.split(" ")[0], (desc, a, b)


def test_assignment_rules():
    class M(nn.Module):
        pass

    m = M()
    m.p = nn.Parameter(dg.ones(2))
    assert "p" in m._parameters
    m.p = None                                   # allowed: a parameter slot set to None
    assert m.p is None and "p" in m._parameters
    m.child = nn.Linear(1, 1)
    m.child = None
    assert m.child is None
    m.register_buffer("b", dg.zeros(1))
    m.b = dg.ones(1)                             # reassigning a buffer keeps it a buffer
    assert "b" in m._buffers and float(m.b) == 1.0
    with pytest.raises(TypeError):
        m.b = 3
    m.plain = dg.ones(2)
    assert "plain" not in m._buffers and "plain" not in m._parameters
    m.b2 = nn.Linear(1, 1)
    m.b2 = nn.Parameter(dg.ones(1))              # module slot replaced by a parameter
    assert "b2" not in m._modules and "b2" in m._parameters
    del m.b2
    assert not hasattr(m, "b2")
    with pytest.raises(AttributeError, match="cannot assign parameters before Module.__init__"):
        class Bad(nn.Module):
            def __init__(self):
                self.p = nn.Parameter(dg.ones(1))
        Bad()
    assert "b" in dir(m) and "child" in dir(m)


# ---------------------------------------------------------------------------- load_state_dict
def test_load_state_dict_round_trip_and_sharing():
    a, b = build(dg), build(dg)
    with dg.no_grad():
        for p in a.parameters():
            p.add_(1.0)
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == "<All keys matched successfully>"
    for (n, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        assert np.array_equal(p.numpy(), q.numpy()), n
    before = b.stem[0].weight
    b.load_state_dict(a.state_dict())
    assert b.stem[0].weight is before                      # copied in place, same Parameter
    assert b.bn.num_batches_tracked.dtype == dg.int64


def test_load_state_dict_errors_match_torch():
    torch = _torch()
    d, t = build(dg), build(torch)
    sd_t = t.state_dict()
    sd_d = OrderedDict((k, dg.tensor(v.numpy())) for k, v in sd_t.items())

    def both(mutate, strict=True):
        st, sdd = OrderedDict(sd_t), OrderedDict(sd_d)
        mutate(st, torch)
        mutate(sdd, dg)
        with pytest.raises(RuntimeError) as te:
            t.load_state_dict(st, strict=strict)
        with pytest.raises(RuntimeError) as de:
            d.load_state_dict(sdd, strict=strict)
        assert isinstance(de.value, dg.DualGraphError)
        assert _msg(de.value) == _msg(te.value)
        return str(de.value)

    def missing(sd, lib):
        del sd["stem.0.bias"]
        del sd["bn.running_var"]

    def unexpected(sd, lib):
        sd["blocks.0.extra"] = lib.ones(1)
        sd["nothere.weight"] = lib.ones(1)
        sd["blocks.0.scratch"] = lib.ones(2)          # non-persistent buffers are not loaded

    def size(sd, lib):
        sd["heads.cls.weight"] = lib.ones(3, 4)

    def all_three(sd, lib):
        missing(sd, lib)
        unexpected(sd, lib)
        size(sd, lib)

    m = both(missing)
    assert m.startswith("Error(s) in loading state_dict for Net:\n\tMissing key(s) in state_dict: "
                        '"stem.0.bias", "bn.running_var". ')
    assert "Unexpected key(s) in state_dict: " in both(unexpected)
    m = both(size)
    assert ("size mismatch for heads.cls.weight: copying a param with shape dualgraph.Size([3, 4]) "
            "from checkpoint, the shape in current model is dualgraph.Size([2, 4]).") in m
    both(all_three)
    both(size, strict=False)                              # shape errors even when not strict
    # non-strict: the keys come back as PyTorch's namedtuple
    st, sdd = OrderedDict(sd_t), OrderedDict(sd_d)
    missing(st, torch), unexpected(st, torch), missing(sdd, dg), unexpected(sdd, dg)
    rt = t.load_state_dict(st, strict=False)
    rd = d.load_state_dict(sdd, strict=False)
    assert rd.missing_keys == rt.missing_keys and rd.unexpected_keys == rt.unexpected_keys
    assert rd._fields == ("missing_keys", "unexpected_keys")
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        d.load_state_dict([1, 2])


def test_load_state_dict_strict_error_without_torch():
    m = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(dg.DualGraphError) as e:
        m.load_state_dict({"0.weight": dg.zeros(2, 2)})
    assert isinstance(e.value, RuntimeError)
    assert str(e.value) == ('Error(s) in loading state_dict for Sequential:\n\tMissing key(s) in '
                            'state_dict: "0.bias". ')
    r = m.load_state_dict({"0.weight": dg.zeros(2, 2), "x": dg.ones(1)}, strict=False)
    assert r == (["0.bias"], ["x"])
    assert float(m[0].weight.sum()) == 0.0
    with pytest.raises(RuntimeError, match="expected torch.Tensor or Tensor-like object"):
        m.load_state_dict({"0.weight": [[1, 2], [3, 4]], "0.bias": dg.zeros(2)})


def test_load_state_dict_assign():
    m = nn.Linear(2, 2)
    w = dg.ones(2, 2)
    m.load_state_dict({"weight": w, "bias": dg.zeros(2)}, assign=True)
    assert isinstance(m.weight, nn.Parameter) and m.weight.requires_grad
    assert np.shares_memory(m.weight.detach().numpy(), w.numpy())


# ---------------------------------------------------------------------------- modes and mutation
def test_train_eval_apply_order_and_zero_grad():
    torch = _torch()
    d, t = build(dg), build(torch)
    order_d, order_t = [], []
    d.apply(lambda m: order_d.append(type(m).__name__))
    t.apply(lambda m: order_t.append(type(m).__name__))
    assert order_d == order_t and order_d[-1] == "Net"            # children first, self last
    assert d.eval() is d and not any(m.training for m in d.modules())
    d.train()
    assert all(m.training for m in d.modules())
    d.blocks.train(False)
    assert not d.blocks[0].fc.training and d.stem.training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        d.train("yes")


def test_zero_grad_and_requires_grad():
    m = nn.Linear(3, 2)
    m(dg.ones(4, 3)).sum().backward()
    assert m.weight.grad is not None
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is not None and float(m.weight.grad.abs().sum()) == 0.0
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None
    assert m.requires_grad_(False) is m
    assert not any(p.requires_grad for p in m.parameters())
    out = m(dg.ones(1, 3))
    assert not out.requires_grad
    m.requires_grad_()
    assert all(p.requires_grad for p in m.parameters())


def test_to_dtype_keeps_parameters_and_casts_floats_only():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    p = m[0].weight
    assert m.to(dg.float64) is m
    assert m[0].weight is p and p.dtype == dg.float64 and p.requires_grad
    assert m[1].running_mean.dtype == dg.float64
    assert m[1].num_batches_tracked.dtype == dg.int64          # integer buffers untouched
    out = m(dg.ones(4, 3, dtype=dg.float64))
    assert out.dtype == dg.float64
    m.float()
    assert p.dtype == dg.float32
    m.to("cpu")
    with pytest.raises(TypeError, match="only accepts floating point"):
        m.to(dg.int64)
    with pytest.raises(RuntimeError, match="CUDA"):
        m.to("cuda")


# ---------------------------------------------------------------------------- hooks
def test_forward_hooks_replace_input_and_output_and_remove():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out) or out + 100)
    x = dg.ones(1, 2)
    y = m(x)
    assert np.allclose(y.detach().numpy(), m.bias.detach().numpy() + 100)
    assert len(calls) == 1
    h1.remove()
    h2.remove()
    h2.remove()                                   # idempotent
    assert np.allclose(m(x).detach().numpy(), (x @ m.weight.t() + m.bias).detach().numpy())
    assert len(calls) == 1
    # a pre-hook may return a bare value (wrapped in a tuple), with_kwargs, prepend order
    order = []
    m.register_forward_pre_hook(lambda mod, a: order.append("a"))
    m.register_forward_pre_hook(lambda mod, a: order.append("b"), prepend=True)
    m.register_forward_pre_hook(lambda mod, a, kw: order.append("kw") or ((a[0] * 2,), kw), with_kwargs=True)
    m.register_forward_hook(lambda mod, a, kw, out: order.append("fkw"), with_kwargs=True)
    m(x)
    assert order == ["b", "a", "kw", "fkw"]
    with pytest.raises(RuntimeError, match="forward pre-hook must return None or a tuple"):
        m.register_forward_pre_hook(lambda mod, a, kw: 5, with_kwargs=True)
        m(x)


def test_forward_hook_always_call():
    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    m = Boom()
    seen = []
    m.register_forward_hook(lambda mod, a, out: seen.append("always"), always_call=True)
    m.register_forward_hook(lambda mod, a, out: seen.append("normal"))
    with pytest.raises(ValueError, match="boom"):
        m(dg.ones(1))
    assert seen == ["always"]


def _mlp(lib):
    torch_like = lib
    m = torch_like.nn.Sequential(torch_like.nn.Linear(3, 4), torch_like.nn.Tanh(), torch_like.nn.Linear(4, 2))
    return m


def test_full_backward_hook_matches_torch():
    torch = _torch()
    d, t = _mlp(dg), _mlp(torch)
    torch_to_dg(t, d)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    got = {}

    def hook(tag):
        def h(mod, gin, gout):
            got.setdefault(tag, []).append((gin, gout))
        return h

    d[2].register_full_backward_hook(hook("dg"))
    t[2].register_full_backward_hook(hook("torch"))
    xd = dg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    (d(xd) ** 2).sum().backward()
    (t(xt) ** 2).sum().backward()
    (gin_d, gout_d), = got["dg"]
    (gin_t, gout_t), = got["torch"]
    assert len(gin_d) == len(gin_t) == 1 and len(gout_d) == len(gout_t) == 1
    assert np.allclose(gin_d[0].numpy(), gin_t[0].numpy(), atol=1e-6)
    assert np.allclose(gout_d[0].numpy(), gout_t[0].numpy(), atol=1e-6)
    assert np.allclose(xd.grad.numpy(), xt.grad.numpy(), atol=1e-6)


def test_full_backward_hook_replaces_grad_input_and_removes():
    m = nn.Linear(2, 2)
    x = dg.ones(3, 2, requires_grad=True)
    h = m.register_full_backward_hook(lambda mod, gin, gout: (gin[0] * 0 + 7,))
    m(x).sum().backward()
    assert np.allclose(x.grad.numpy(), 7.0)
    assert m.weight.grad is not None                       # parameters still get their grads
    h.remove()
    x.grad = None
    m(x).sum().backward()
    assert np.allclose(x.grad.numpy(), m.weight.detach().numpy().sum(0))
    # the backward pre-hook sees (and may replace) grad_output
    seen = []
    m.register_full_backward_pre_hook(lambda mod, gout: seen.append(gout) or (gout[0] * 2,))
    x.grad = None
    m(x).sum().backward()
    assert len(seen) == 1 and np.allclose(x.grad.numpy(), 2 * m.weight.detach().numpy().sum(0))


def test_full_backward_hook_several_inputs_and_outputs():
    torch = _torch()

    def make(lib):
        class Two(lib.nn.Module):
            def forward(self, a, k, b):
                return a * b * k, a + b
        return Two()

    recs = {}
    for name, lib in (("dg", dg), ("torch", torch)):
        m = make(lib)
        m.register_full_backward_hook(lambda mod, gin, gout, name=name: recs.setdefault(name, (gin, gout)) and None)
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0, 5.0], requires_grad=True)
        p, q = m(a, 3.0, b)
        (p.sum() + (q * q).sum()).backward()
        recs[name + "_grads"] = (a.grad.numpy(), b.grad.numpy())
    (gin_d, gout_d), (gin_t, gout_t) = recs["dg"], recs["torch"]
    assert len(gin_d) == len(gin_t) == 3 and gin_d[1] is None and gin_t[1] is None
    for a, b in zip(gin_d + gout_d, gin_t + gout_t):
        if b is None:
            assert a is None
        else:
            assert np.allclose(a.numpy(), b.numpy())
    for a, b in zip(recs["dg_grads"], recs["torch_grads"]):
        assert np.allclose(a, b)


def test_full_backward_hook_when_no_input_requires_grad():
    m = nn.Linear(2, 1)
    seen = []
    m.register_full_backward_hook(lambda mod, gin, gout: seen.append((gin, gout)))
    with pytest.warns(UserWarning, match="no inputs require gradients"):
        m(dg.ones(3, 2)).sum().backward()
    (gin, gout), = seen
    assert gin == (None,) and tuple(gout[0].shape) == (3, 1)


def test_tensor_hooks_work_on_parameters():
    m = nn.Linear(2, 1)
    h = m.weight.register_hook(lambda g: g * 0)
    m(dg.ones(1, 2)).sum().backward()
    assert float(m.weight.grad.abs().sum()) == 0.0
    h.remove()


# ---------------------------------------------------------------------------- repr, Parameter
def test_repr_matches_torch():
    torch = _torch()
    for make in [build, _mlp,
                 lambda L: L.nn.Sequential(L.nn.Conv2d(3, 8, 3, padding=1, bias=False), L.nn.MaxPool2d(2),
                                           L.nn.Flatten(), L.nn.Dropout(0.2), L.nn.LayerNorm(4),
                                           L.nn.Embedding(10, 3, padding_idx=0), L.nn.Softmax(dim=1),
                                           L.nn.ReLU(inplace=True), L.nn.Identity(), L.nn.Sigmoid(),
                                           L.nn.CrossEntropyLoss(), L.nn.MSELoss(), L.nn.NLLLoss(),
                                           L.nn.Conv2d(4, 4, (3, 2), stride=2, padding="same" if False else 1,
                                                       dilation=2, groups=2),
                                           L.nn.BatchNorm2d(3), L.nn.LeakyReLU(0.2), L.nn.LogSoftmax(1)),
                 lambda L: L.nn.ModuleList([L.nn.Linear(2, 2) for _ in range(3)] + [L.nn.ReLU()]),
                 lambda L: L.nn.ModuleList()]:
        assert repr(make(dg)) == repr(make(torch))


def test_parameter():
    p = nn.Parameter(dg.tensor([1.0, 2.0]))
    assert isinstance(p, dg.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    q = nn.Parameter(dg.ones(2), requires_grad=False)
    assert not q.requires_grad
    e = nn.Parameter()
    assert tuple(e.shape) == (0,) and e.dtype == dg.float32
    base = dg.zeros(3)
    r = nn.Parameter(base)
    with dg.no_grad():
        r.add_(1.0)
    assert float(base.sum()) == 3.0                       # shares memory with its data
    c = copy.deepcopy(r)
    assert isinstance(c, nn.Parameter) and c.requires_grad
    assert not np.shares_memory(c.detach().numpy(), r.detach().numpy())
    y = p * 2
    assert type(y) is dg.Tensor and not isinstance(y, nn.Parameter)
    with pytest.raises(TypeError):
        nn.Parameter([1.0, 2.0])


def test_parameter_repr_matches_torch():
    torch = _torch()
    assert repr(nn.Parameter(dg.tensor([1.5, -2.0]))) == repr(torch.nn.Parameter(torch.tensor([1.5, -2.0])))


def test_deepcopy_module():
    m = build(dg)
    c = copy.deepcopy(m)
    assert [n for n, _ in c.named_parameters()] == [n for n, _ in m.named_parameters()]
    assert c.blocks[0].shared is c.blocks[1].shared                 # sharing preserved
    assert c.blocks[0].shared is not m.blocks[0].shared
    with dg.no_grad():
        c.stem[0].weight.fill_(0)
    assert float(m.stem[0].weight.abs().sum()) > 0


def test_module_forward_missing_and_call_kwargs():
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        nn.Module()(dg.ones(1))

    class K(nn.Module):
        def forward(self, x, *, scale=1.0):
            return x * scale

    assert float(K()(dg.ones(1), scale=3.0)) == 3.0


def test_module_apply_initialisation_idiom():
    m = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 3))

    def init_weights(mod):
        if isinstance(mod, nn.Linear):
            nn.init.constant_(mod.weight, 0.5)
            nn.init.zeros_(mod.bias)

    assert m.apply(init_weights) is m
    for p in m.parameters():
        assert set(np.unique(p.detach().numpy())) <= {0.0, 0.5}


def test_no_warnings_in_plain_use():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = build(dg)
        m(dg.ones(4, 3)).sum().backward()
        m.eval()(dg.ones(1, 3))


# ---------------------------------------------------------------------------- containers
def test_sequential_and_modulelist_indexing_match_torch():
    torch = _torch()

    def names(m):
        return [n for n, _ in m.named_children()], [type(c).__name__ for c in m]

    ops = [
        lambda L, s: s[1],
        lambda L, s: s[-1],
        lambda L, s: s[1:3],
        lambda L, s: s[::-1],
        lambda L, s: s.append(L.nn.Tanh()),
        lambda L, s: s.insert(1, L.nn.Sigmoid()),
        lambda L, s: s.__delitem__(1),
        lambda L, s: s.__delitem__(slice(0, 2)),
        lambda L, s: s.extend([L.nn.Tanh(), L.nn.ReLU()]),
        lambda L, s: s.pop(1),
        lambda L, s: s.__setitem__(0, L.nn.Identity()),
    ]
    for kind in ("Sequential", "ModuleList"):
        for i, op in enumerate(ops):
            res = []
            for L in (dg, torch):
                mods = [L.nn.Linear(2, 2), L.nn.ReLU(), L.nn.Linear(2, 3), L.nn.Softmax(1)]
                c = getattr(L.nn, kind)(*mods) if kind == "Sequential" else L.nn.ModuleList(mods)
                out = op(L, c)
                res.append((names(c), type(out).__name__ if out is not None else None,
                            names(out) if isinstance(out, (L.nn.Sequential, L.nn.ModuleList)) else None))
            assert res[0] == res[1], (kind, i, res)
        for L in (dg, torch):
            c = getattr(L.nn, kind)(*[L.nn.ReLU()]) if kind == "Sequential" else L.nn.ModuleList([L.nn.ReLU()])
            with pytest.raises(IndexError, match="index 3 is out of range"):
                c[3]
    s = nn.Sequential(OrderedDict([("first", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert [n for n, _ in s.named_children()] == ["first", "act"] and s.first is s[0]
    assert len(s) == 2 and list(s) == [s[0], s[1]]
    y = s(dg.ones(4, 2))
    assert tuple(y.shape) == (4, 3) and float(y.min()) >= 0
    both = s + nn.Sequential(nn.Tanh())
    assert len(both) == 3 and isinstance(both, nn.Sequential)


def test_moduledict():
    d = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    assert list(d) == ["a", "b"] and list(d.keys()) == ["a", "b"] and "a" in d and len(d) == 2
    d["c"] = nn.Tanh()
    d.update([("e", nn.Sigmoid())])
    assert [n for n, _ in d.named_children()] == ["a", "b", "c", "e"]
    assert isinstance(d.pop("b"), nn.ReLU) and "b" not in d
    del d["c"]
    assert [k for k, _ in d.items()] == ["a", "e"]
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias"]
    d.clear()
    assert len(d) == 0
    with pytest.raises(ValueError, match="has length 3; 2 is required"):
        d.update([("x", nn.ReLU(), 1)])


def test_parameter_list():
    pl = nn.ParameterList([nn.Parameter(dg.ones(2)), dg.zeros(3)])
    assert len(pl) == 2 and isinstance(pl[1], nn.Parameter)
    pl.append(dg.ones(1))

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.ps = pl

    assert [n for n, _ in M().named_parameters()] == ["ps.0", "ps.1", "ps.2"]
