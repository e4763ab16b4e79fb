"""GELU, SiLU, ELU, Softplus, normalize, cosine_similarity, kl_div, smooth_l1_loss, huber_loss and
binary_cross_entropy (functional and module forms) against PyTorch.

1. Eager values and input gradients equal PyTorch's, in float64 and float32, for every reduction
   and the non-default arguments (beta, delta, alpha, eps, log_target, weight, dim, p).
2. The same computed in a graph (`dg.graph_mode()`, placeholders, `dg.gradients`, `dg.Session`)
   and under `dg.function` over several calls (traced once) equal the eager values.
3. Module forms (reprs, defaults, legacy size_average/reduce), in-place activations, edge values
   (zero vectors, saturation, zero targets), and PyTorch's error types and wording (bad
   reduction, shape mismatch, bad beta/delta, integer inputs), raised when a graph node is built.
"""
import warnings

import numpy as np
import pytest

import dualgraph as dg
from dualgraph import nn
from dualgraph.nn import functional as F


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def to_np(t):
    if t is None:
        return None
    if hasattr(t, "detach"):
        t = t.detach()
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


TOL = {np.float64: dict(atol=1e-10, rtol=1e-9), np.float32: dict(atol=2e-6, rtol=2e-5)}
GRAD_TOL = {np.float64: dict(atol=1e-9, rtol=1e-8), np.float32: dict(atol=1e-5, rtol=1e-4)}


def close(got, want, tol, what=""):
    got, want = to_np(got), to_np(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, err_msg=what, equal_nan=True, **tol)


# ================================================================ the cases
# an input: (kind, shape, differentiated)
def x(*shape):
    return ("normal", shape, True)


def logp(*shape):
    return ("logp", shape, True)


def prob(*shape, grad=True):
    return ("prob", shape, grad)


def binary(*shape):
    return ("binary", shape, False)


def _make(kind, shape, rng, dtype):
    if kind == "normal":
        a = rng.standard_normal(shape) * 2.0
    elif kind == "logp":
        a = np.log(rng.uniform(0.05, 1.0, size=shape))
    elif kind == "prob":
        a = rng.uniform(0.05, 0.95, size=shape)
    else:
        a = (rng.random(size=shape) < 0.5).astype(np.float64)
    return np.asarray(a, dtype=dtype)


RED = ("mean", "sum", "none")

# (id, fn(F, *inputs) with F the library's functional module, inputs)
CASES = [
    ("gelu", lambda F, a: F.gelu(a), [x(4, 5)]),
    ("gelu tanh", lambda F, a: F.gelu(a, approximate="tanh"), [x(4, 5)]),
    ("gelu 3-D", lambda F, a: F.gelu(a, approximate="none"), [x(2, 3, 4)]),
    ("silu", lambda F, a: F.silu(a), [x(4, 5)]),
    ("elu", lambda F, a: F.elu(a), [x(4, 5)]),
    ("elu alpha 0.5", lambda F, a: F.elu(a, alpha=0.5), [x(4, 5)]),
    ("elu alpha 2", lambda F, a: F.elu(a, 2.0), [x(3, 6)]),
    ("softplus", lambda F, a: F.softplus(a), [x(4, 5)]),
    ("softplus beta 2 threshold 1", lambda F, a: F.softplus(a, beta=2, threshold=1), [x(4, 5)]),
    ("softplus beta 0.5", lambda F, a: F.softplus(a, 0.5, 3.0), [x(4, 5)]),
    ("normalize", lambda F, a: F.normalize(a), [x(4, 5)]),
    ("normalize p=1 dim=0", lambda F, a: F.normalize(a, p=1.0, dim=0), [x(4, 5)]),
    ("normalize dim=-1 3-D", lambda F, a: F.normalize(a, dim=-1), [x(2, 3, 4)]),
    ("normalize p=3 eps", lambda F, a: F.normalize(a, 3, 1, 1e-3), [x(4, 5)]),
    ("cosine_similarity", lambda F, a, b: F.cosine_similarity(a, b), [x(4, 5), x(4, 5)]),
    ("cosine_similarity dim=0", lambda F, a, b: F.cosine_similarity(a, b, dim=0),
     [x(4, 5), x(4, 5)]),
    ("cosine_similarity broadcast", lambda F, a, b: F.cosine_similarity(a, b, dim=-1),
     [x(1, 5), x(4, 5)]),
    ("cosine_similarity 3-D eps", lambda F, a, b: F.cosine_similarity(a, b, 1, 1e-3),
     [x(2, 3, 4), x(2, 3, 4)]),
    ("cosine_similarity 1-D", lambda F, a, b: F.cosine_similarity(a, b, dim=0), [x(6), x(6)]),
]
for _r in RED + ("batchmean",):
    CASES += [
        (f"kl_div {_r}", lambda F, a, b, r=_r: F.kl_div(a, b, reduction=r), [logp(4, 5), prob(4, 5)]),
        (f"kl_div {_r} log_target", lambda F, a, b, r=_r: F.kl_div(a, b, reduction=r, log_target=True),
         [logp(4, 5), logp(4, 5)]),
    ]
CASES.append(("kl_div batchmean 3-D", lambda F, a, b: F.kl_div(a, b, reduction="batchmean"),
              [logp(3, 2, 4), prob(3, 2, 4)]))
for _r in RED:
    CASES += [
        (f"smooth_l1_loss {_r}", lambda F, a, b, r=_r: F.smooth_l1_loss(a, b, reduction=r),
         [x(4, 5), x(4, 5)]),
        (f"smooth_l1_loss {_r} beta 0.5", lambda F, a, b, r=_r: F.smooth_l1_loss(a, b, reduction=r, beta=0.5),
         [x(4, 5), x(4, 5)]),
        (f"smooth_l1_loss {_r} beta 0", lambda F, a, b, r=_r: F.smooth_l1_loss(a, b, reduction=r, beta=0.0),
         [x(4, 5), x(4, 5)]),
        (f"huber_loss {_r}", lambda F, a, b, r=_r: F.huber_loss(a, b, reduction=r), [x(4, 5), x(4, 5)]),
        (f"huber_loss {_r} delta 0.5", lambda F, a, b, r=_r: F.huber_loss(a, b, r, 0.5),
         [x(4, 5), x(4, 5)]),
        (f"huber_loss {_r} weight", lambda F, a, b, w, r=_r: F.huber_loss(a, b, r, 2.0, w),
         [x(4, 5), x(4, 5), prob(4, 5)]),
        (f"binary_cross_entropy {_r}", lambda F, a, b, r=_r: F.binary_cross_entropy(a, b, reduction=r),
         [prob(4, 5), binary(4, 5)]),
        (f"binary_cross_entropy {_r} weight soft",
         lambda F, a, b, w, r=_r: F.binary_cross_entropy(a, b, w, reduction=r),
         [prob(4, 5), prob(4, 5), prob(5, grad=False)]),
    ]
CASES += [
    ("smooth_l1_loss 1-D", lambda F, a, b: F.smooth_l1_loss(a, b), [x(7), x(7)]),
    ("huber_loss 0-d", lambda F, a, b: F.huber_loss(a, b), [x(), x()]),
    ("kl_div batchmean 0-d", lambda F, a, b: F.kl_div(a, b, reduction="batchmean"), [logp(), prob()]),
]
IDS = [c[0] for c in CASES]


def _inputs(specs, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return [_make(k, s, rng, dtype) for k, s, _ in specs]


def _cotangent(shape, dtype, seed=2):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape), dtype=dtype)


def _quiet(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def _torch_run(torch, fn, specs, arrays):
    ts = [torch.tensor(a, requires_grad=g) for a, (_, _, g) in zip(arrays, specs)]
    y = _quiet(fn, torch.nn.functional, *ts)
    gout = _cotangent(tuple(y.shape), arrays[0].dtype)
    y.backward(torch.tensor(gout))
    return to_np(y), gout, [to_np(t.grad) if g else None for t, (_, _, g) in zip(ts, specs)]


def _eager_run(fn, specs, arrays, gout):
    ts = [dg.tensor(a, requires_grad=g) for a, (_, _, g) in zip(arrays, specs)]
    y = _quiet(fn, F, *ts)
    y.backward(dg.tensor(gout))
    return to_np(y), [to_np(t.grad) if g else None for t, (_, _, g) in zip(ts, specs)]


def _graph_run(fn, specs, arrays, gout):
    with dg.graph_mode() as g:
        xs = [dg.placeholder(a.shape, dtype=a.dtype, name=f"x{k}") for k, a in enumerate(arrays)]
        y = _quiet(fn, F, *xs)
        assert isinstance(y, dg.SymbolicTensor)
        wrt = [t for t, (_, _, gr) in zip(xs, specs) if gr]
        grads = dg.gradients([y], wrt, grad_ys=[dg.constant(gout)])
    got = dg.Session(g).run({"y": y, "grads": grads}, dict(zip(xs, arrays)))
    it = iter(got["grads"])
    return np.asarray(got["y"]), [np.asarray(next(it)) if gr else None for _, _, gr in specs]


DTYPES = [np.float64, np.float32]
DT_IDS = ["float64", "float32"]


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name,fn,specs", CASES, ids=IDS)
def test_eager_values_and_gradients_equal_torch(name, fn, specs, dtype, torch):
    arrays = _inputs(specs, dtype)
    ty, gout, tgrads = _torch_run(torch, fn, specs, arrays)
    ey, egrads = _eager_run(fn, specs, arrays, gout)
    close(ey, ty, TOL[dtype], f"{name}: value")
    for k, (a, b) in enumerate(zip(egrads, tgrads)):
        if b is not None:
            close(a, b, GRAD_TOL[dtype], f"{name}: grad of input {k}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name,fn,specs", CASES, ids=IDS)
def test_graph_mode_equals_eager(name, fn, specs, dtype):
    arrays = _inputs(specs, dtype)
    ey0 = _quiet(fn, F, *[dg.tensor(a) for a in arrays])
    gout = _cotangent(tuple(ey0.shape), dtype)
    ey, egrads = _eager_run(fn, specs, arrays, gout)
    gy, ggrads = _graph_run(fn, specs, arrays, gout)
    tol = dict(atol=1e-12, rtol=1e-10) if dtype == np.float64 else dict(atol=1e-7, rtol=1e-6)
    close(gy, ey, tol, f"{name}: graph value")
    for k, (a, b) in enumerate(zip(ggrads, egrads)):
        if b is not None:
            close(a, b, tol, f"{name}: graph grad of input {k}")


@pytest.mark.parametrize("name,fn,specs", CASES, ids=IDS)
def test_dg_function_over_several_calls_equals_eager(name, fn, specs):
    """Traced once, called with three sets of values: values and the gradients left in the leaves'
    .grad equal eager mode's."""
    dtype = np.float32
    arrays0 = _inputs(specs, dtype)
    leaves = [dg.tensor(a, requires_grad=g) for a, (_, _, g) in zip(arrays0, specs)]

    def body(gout):
        for t in leaves:
            t.grad = None
        y = fn(F, *leaves)
        y.backward(gout)
        return y

    compiled = dg.function(body)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in (1, 7, 11):
            arrays = _inputs(specs, dtype, seed)
            with dg.no_grad():
                for t, a in zip(leaves, arrays):
                    t.copy_(dg.tensor(a))
            shape = tuple(fn(F, *[dg.tensor(a) for a in arrays]).shape)
            gout = _cotangent(shape, dtype, seed)
            ey, egrads = _eager_run(fn, specs, arrays, gout)
            cy = compiled(dg.tensor(gout))
            close(cy, ey, dict(atol=1e-7, rtol=1e-6), f"{name}: compiled value (seed {seed})")
            for k, (t, b) in enumerate(zip(leaves, egrads)):
                if b is not None:
                    close(t.grad, b, dict(atol=1e-7, rtol=1e-6), f"{name}: compiled grad {k}")
    assert compiled.trace_count == 1


# ================================================================ module forms
MODULES = [
    ("GELU", lambda L: L.nn.GELU(), [x(3, 4)]),
    ("GELU tanh", lambda L: L.nn.GELU(approximate="tanh"), [x(3, 4)]),
    ("SiLU", lambda L: L.nn.SiLU(), [x(3, 4)]),
    ("ELU", lambda L: L.nn.ELU(), [x(3, 4)]),
    ("ELU alpha", lambda L: L.nn.ELU(alpha=0.3), [x(3, 4)]),
    ("Softplus", lambda L: L.nn.Softplus(), [x(3, 4)]),
    ("Softplus beta threshold", lambda L: L.nn.Softplus(beta=2.0, threshold=1.5), [x(3, 4)]),
    ("CosineSimilarity", lambda L: L.nn.CosineSimilarity(), [x(3, 4), x(3, 4)]),
    ("CosineSimilarity dim eps", lambda L: L.nn.CosineSimilarity(dim=0, eps=1e-6), [x(3, 4), x(3, 4)]),
    ("KLDivLoss", lambda L: L.nn.KLDivLoss(), [logp(3, 4), prob(3, 4)]),
    ("KLDivLoss batchmean log_target", lambda L: L.nn.KLDivLoss(reduction="batchmean", log_target=True),
     [logp(3, 4), logp(3, 4)]),
    ("KLDivLoss legacy reduce=False", lambda L: L.nn.KLDivLoss(reduce=False), [logp(3, 4), prob(3, 4)]),
    ("SmoothL1Loss", lambda L: L.nn.SmoothL1Loss(), [x(3, 4), x(3, 4)]),
    ("SmoothL1Loss sum beta", lambda L: L.nn.SmoothL1Loss(reduction="sum", beta=0.3), [x(3, 4), x(3, 4)]),
    ("SmoothL1Loss legacy size_average=False", lambda L: L.nn.SmoothL1Loss(size_average=False),
     [x(3, 4), x(3, 4)]),
    ("HuberLoss", lambda L: L.nn.HuberLoss(), [x(3, 4), x(3, 4)]),
    ("HuberLoss none delta", lambda L: L.nn.HuberLoss(reduction="none", delta=0.4), [x(3, 4), x(3, 4)]),
    ("BCELoss", lambda L: L.nn.BCELoss(), [prob(3, 4), binary(3, 4)]),
    ("BCELoss weight sum", lambda L: L.nn.BCELoss(weight=L.tensor([0.5, 1.0, 2.0, 1.5]), reduction="sum"),
     [prob(3, 4), prob(3, 4)]),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("name,make,specs", MODULES, ids=[m[0] for m in MODULES])
def test_modules_equal_torch_eager_and_graph(name, make, specs, dtype, torch):
    tm, dm = _quiet(make, torch), _quiet(make, dg)
    if dtype == np.float64:
        tm, dm = tm.double(), dm.double()
    assert repr(dm) == repr(tm)
    arrays = _inputs(specs, dtype)
    ty, gout, tgrads = _torch_run(torch, lambda _F, *a: tm(*a), specs, arrays)
    ey, egrads = _eager_run(lambda _F, *a: dm(*a), specs, arrays, gout)
    close(ey, ty, TOL[dtype], f"{name}: value")
    for k, (a, b) in enumerate(zip(egrads, tgrads)):
        if b is not None:
            close(a, b, GRAD_TOL[dtype], f"{name}: grad of input {k}")
    gy, ggrads = _graph_run(lambda _F, *a: dm(*a), specs, arrays, gout)
    close(gy, ey, dict(atol=1e-7, rtol=1e-6), f"{name}: graph value")
    for k, (a, b) in enumerate(zip(ggrads, egrads)):
        if b is not None:
            close(a, b, dict(atol=1e-7, rtol=1e-6), f"{name}: graph grad {k}")


def test_module_defaults_and_reprs(torch):
    for cls, args in ((nn.GELU, ()), (nn.GELU, ("tanh",)), (nn.SiLU, ()), (nn.SiLU, (True,)),
                      (nn.ELU, ()), (nn.ELU, (0.5, True)), (nn.Softplus, ()), (nn.Softplus, (2, 10)),
                      (nn.CosineSimilarity, ()), (nn.KLDivLoss, ()), (nn.SmoothL1Loss, ()),
                      (nn.HuberLoss, ())):
        tcls = getattr(torch.nn, cls.__name__)
        assert repr(cls(*args)) == repr(tcls(*args))
    assert nn.GELU().approximate == "none"
    assert (nn.ELU().alpha, nn.ELU().inplace) == (1.0, False)
    assert (nn.Softplus().beta, nn.Softplus().threshold) == (1.0, 20.0)
    assert (nn.CosineSimilarity().dim, nn.CosineSimilarity().eps) == (1, 1e-8)
    assert (nn.KLDivLoss().reduction, nn.KLDivLoss().log_target) == ("mean", False)
    assert (nn.SmoothL1Loss().beta, nn.HuberLoss().delta) == (1.0, 1.0)
    assert nn.KLDivLoss(size_average=False).reduction == "sum"
    for name in ("GELU", "SiLU", "ELU", "Softplus", "CosineSimilarity", "KLDivLoss", "SmoothL1Loss",
                 "HuberLoss"):
        assert name in nn.__all__ and getattr(dg.nn, name) is getattr(dg.nn.layers, name)
    for name in ("gelu", "silu", "elu", "softplus", "normalize", "cosine_similarity", "kl_div",
                 "smooth_l1_loss", "huber_loss"):
        assert name in F.__all__


# ================================================================ in place, edge values
@pytest.mark.parametrize("which", ["silu", "elu", "elu alpha"])
def test_inplace_activations_equal_torch(which, torch):
    call = {"silu": lambda F, t: F.silu(t, inplace=True),
            "elu": lambda F, t: F.elu(t, inplace=True),
            "elu alpha": lambda F, t: F.elu(t, 0.4, True)}[which]
    a = _inputs([x(3, 4)], np.float64)[0]
    gout = _cotangent((3, 4), np.float64)
    outs = []
    for L, Fm in ((torch, torch.nn.functional), (dg, F)):
        leaf = L.tensor(a, requires_grad=True)
        h = leaf * 1.5
        r = call(Fm, h)
        assert r is h
        (h * 2).backward(L.tensor(gout))
        outs.append((to_np(h), to_np(leaf.grad)))
    close(outs[1][0], outs[0][0], TOL[np.float64], "value")
    close(outs[1][1], outs[0][1], GRAD_TOL[np.float64], "grad")
    # no autograd: the tensor itself is overwritten
    t = dg.tensor(a.copy())
    call(F, t)
    close(t, call(torch.nn.functional, torch.tensor(a.copy())), TOL[np.float64])


def _both(torch, fn, *arrays, grad=True):
    """(dualgraph, torch) values and grads of fn(F, *inputs) for a sum backward."""
    res = []
    for L, Fm in ((dg, F), (torch, torch.nn.functional)):
        ts = [L.tensor(a, requires_grad=grad) for a in arrays]
        y = _quiet(fn, Fm, *ts)
        if grad:
            y.sum().backward()
        res.append((to_np(y), [to_np(t.grad) for t in ts] if grad else []))
    return res


EDGES = [
    ("cosine zero vectors", lambda F, a, b: F.cosine_similarity(a, b),
     [np.array([[0.0, 0, 0], [1, 2, 3], [1e-9, 0, 0]]), np.array([[1.0, 2, 3], [0, 0, 0], [1, 2, 3]])]),
    ("normalize zero rows", lambda F, a: F.normalize(a), [np.array([[0.0, 0, 0], [3, 4, 0]])]),
    ("normalize p=1 zero", lambda F, a: F.normalize(a, p=1, dim=0), [np.array([[0.0, 1], [0, -2]])]),
    ("softplus saturated", lambda F, a: F.softplus(a),
     [np.array([-800.0, -40, -20, 0, 19.999, 20, 20.001, 800])]),
    ("softplus beta threshold boundary", lambda F, a: F.softplus(a, 2, 4), [np.array([1.999, 2.0, 2.001])]),
    ("gelu saturated", lambda F, a: F.gelu(a), [np.array([-50.0, -10, -5, 0, 5, 10, 50])]),
    ("gelu tanh saturated", lambda F, a: F.gelu(a, approximate="tanh"), [np.array([-50.0, -10, 0, 10, 50])]),
    ("silu saturated", lambda F, a: F.silu(a), [np.array([-800.0, -40, 0, 40, 800])]),
    ("elu at 0 and large", lambda F, a: F.elu(a), [np.array([-800.0, -1e-8, 0.0, 1e-8, 800])]),
    ("kl_div zero target", lambda F, a, b: F.kl_div(a, b, reduction="sum"),
     [np.log(np.array([0.2, 0.3, 0.5])), np.array([0.0, 0.4, 0.6])]),
    ("smooth_l1 at beta", lambda F, a, b: F.smooth_l1_loss(a, b, reduction="none", beta=0.5),
     [np.array([0.5, -0.5, 0.0, 0.25]), np.zeros(4)]),
    ("huber at delta", lambda F, a, b: F.huber_loss(a, b, reduction="none", delta=0.5),
     [np.array([0.5, -0.5, 0.0, 0.25]), np.zeros(4)]),
    ("bce at 0 and 1", lambda F, a, b: F.binary_cross_entropy(a, b, reduction="none"),
     [np.array([0.0, 1.0, 0.5]), np.array([0.0, 1.0, 1.0])]),
]


@pytest.mark.parametrize("name,fn,arrays", EDGES, ids=[e[0] for e in EDGES])
def test_edge_values_equal_torch(name, fn, arrays, torch):
    grad = not name.startswith(("kl_div zero", "bce at"))      # torch's gradient there is nan/1e12
    (dy, dgr), (ty, tgr) = _both(torch, fn, *arrays, grad=grad)
    close(dy, ty, TOL[np.float64], f"{name}: value")
    for k, (a, b) in enumerate(zip(dgr, tgr)):
        close(a, b, GRAD_TOL[np.float64], f"{name}: grad {k}")


def test_kl_div_zero_target_gradient_wrt_input_equals_torch(torch):
    lp, t = np.log(np.array([0.2, 0.3, 0.5])), np.array([0.0, 0.4, 0.6])
    grads = []
    for L, Fm in ((dg, F), (torch, torch.nn.functional)):
        a = L.tensor(lp, requires_grad=True)
        Fm.kl_div(a, L.tensor(t), reduction="sum").backward()
        grads.append(to_np(a.grad))
    close(grads[0], grads[1], GRAD_TOL[np.float64])


def test_erf_equals_torch_and_math(torch):
    import math
    a = np.concatenate([np.linspace(-7, 7, 2001), [0.0, -0.0, 1e-300, -1e-20, np.inf, -np.inf]])
    got = dg.erf(dg.tensor(a)).numpy()
    np.testing.assert_array_equal(got, [math.erf(v) for v in a])
    np.testing.assert_allclose(got, torch.erf(torch.tensor(a)).numpy(), rtol=1e-15, atol=1e-16)
    a32 = a.astype(np.float32)
    np.testing.assert_allclose(dg.erf(dg.tensor(a32)).numpy(), torch.erf(torch.tensor(a32)).numpy(),
                               rtol=2e-7, atol=1e-7)
    assert dg.erf(dg.tensor([1, 2])).dtype == dg.float32
    assert dg.erf(dg.tensor(a32)).dtype == dg.float32
    assert np.isnan(dg.erf(dg.tensor([np.nan])).numpy()[0])
    out = dg.zeros(3)
    assert dg.erf(dg.tensor([0.1, 0.2, 0.3]), out=out) is out


def test_float16_activations_keep_dtype(torch):
    a = np.linspace(-3, 3, 9).astype(np.float16)
    for fn in (lambda F, t: F.gelu(t), lambda F, t: F.silu(t), lambda F, t: F.elu(t),
               lambda F, t: F.softplus(t)):
        d, t = fn(F, dg.tensor(a)), fn(torch.nn.functional, torch.tensor(a))
        assert d.dtype == dg.float16
        np.testing.assert_allclose(d.numpy().astype(np.float64), t.numpy().astype(np.float64),
                                   atol=2e-3, rtol=2e-3)


# ================================================================ warnings
def test_kl_div_mean_warns_as_torch(torch):
    a, b = dg.zeros(2, 3), dg.full((2, 3), 0.5)
    with pytest.warns(UserWarning, match="reduction: 'mean' divides the total loss by both the batch "
                                         "size and the support size"):
        F.kl_div(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(a, b, reduction="batchmean")
        F.kl_div(a, b, reduction="sum")
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated, please "
                                         "use reduction='sum' instead."):
        F.kl_div(a, b, size_average=False)
    with pytest.warns(UserWarning, match="please use reduction='none' instead."):
        F.smooth_l1_loss(a, b, reduce=False)


@pytest.mark.parametrize("fn", [F.smooth_l1_loss, F.huber_loss], ids=["smooth_l1", "huber"])
def test_target_size_warning(fn):
    with pytest.warns(UserWarning, match=r"Using a target size \(dualgraph.Size\(\[3\]\)\) that is "
                                         r"different to the input size \(dualgraph.Size\(\[2, 3\]\)\)"):
        fn(dg.zeros(2, 3), dg.zeros(3))


# ================================================================ errors
def _x():
    return dg.zeros(2, 3)


ERRORS = [
    ("kl_div bad reduction", lambda: F.kl_div(_x(), _x(), reduction="foo"), ValueError,
     "foo is not a valid value for reduction"),
    ("smooth_l1 batchmean", lambda: F.smooth_l1_loss(_x(), _x(), reduction="batchmean"), ValueError,
     "batchmean is not a valid value for reduction"),
    ("smooth_l1 bad reduction", lambda: F.smooth_l1_loss(_x(), _x(), reduction="avg"), ValueError,
     "avg is not a valid value for reduction"),
    ("huber bad reduction", lambda: F.huber_loss(_x(), _x(), reduction="avg"), ValueError,
     "avg is not a valid value for reduction"),
    ("huber weight bad reduction", lambda: F.huber_loss(_x(), _x(), "avg", weight=_x()), ValueError,
     r"Invalid reduction mode: avg. Expected one of 'none', 'mean', 'sum'."),
    ("bce bad reduction", lambda: F.binary_cross_entropy(_x(), _x(), reduction="avg"), ValueError,
     "avg is not a valid value for reduction"),
    ("kl_div shapes", lambda: F.kl_div(_x(), dg.zeros(4, 3), reduction="sum"), RuntimeError,
     r"The size of tensor a \(4\) must match the size of tensor b \(2\) at non-singleton dimension 0"),
    ("smooth_l1 shapes", lambda: F.smooth_l1_loss(_x(), dg.zeros(2, 4)), RuntimeError,
     r"The size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton dimension 1"),
    ("huber shapes", lambda: F.huber_loss(_x(), dg.zeros(4, 3)), RuntimeError,
     r"The size of tensor a \(2\) must match the size of tensor b \(4\) at non-singleton dimension 0"),
    ("cosine shapes", lambda: F.cosine_similarity(_x(), dg.zeros(2, 4)), RuntimeError,
     r"The size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton dimension 1"),
    ("bce shapes", lambda: F.binary_cross_entropy(_x(), dg.zeros(3)), ValueError,
     r"Using a target size \(\w+.Size\(\[3\]\)\) that is different to the input size "
     r"\(\w+.Size\(\[2, 3\]\)\) is deprecated. Please ensure they have the same size."),
    ("bce input range", lambda: F.binary_cross_entropy(dg.tensor([0.5, 1.5]), dg.tensor([1.0, 0.0])),
     RuntimeError, "all elements of input should be between 0 and 1"),
    ("huber weight shape", lambda: F.huber_loss(_x(), _x(), weight=dg.ones(3)), ValueError,
     "Weights and input must have the same size."),
    ("smooth_l1 negative beta", lambda: F.smooth_l1_loss(_x(), _x(), beta=-1.0), RuntimeError,
     "smooth_l1_loss does not support negative values for beta."),
    ("huber zero delta", lambda: F.huber_loss(_x(), _x(), delta=0.0), RuntimeError,
     "huber_loss does not support non-positive values for delta."),
    ("huber negative delta", lambda: F.huber_loss(_x(), _x(), delta=-2.0), RuntimeError,
     "huber_loss does not support non-positive values for delta."),
    ("smooth_l1 int", lambda: F.smooth_l1_loss(dg.tensor([1, 2]), dg.tensor([1, 3])), RuntimeError,
     "\"smooth_l1_cpu\" not implemented for 'Long'"),
    ("huber int", lambda: F.huber_loss(dg.tensor([1, 2]), dg.tensor([1, 3])), RuntimeError,
     "\"huber_cpu\" not implemented for 'Long'"),
    ("kl_div int", lambda: F.kl_div(_x(), dg.zeros(2, 3, dtype=dg.int64), reduction="sum"), RuntimeError,
     "kl_div: Integral inputs not supported."),
    ("cosine int", lambda: F.cosine_similarity(dg.tensor([[1, 2]]), dg.tensor([[1, 2]])), RuntimeError,
     "expected common dtype to be floating point, yet common dtype is Long"),
    ("cosine dim", lambda: F.cosine_similarity(_x(), _x(), dim=2), IndexError,
     r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"),
    ("normalize dim", lambda: F.normalize(dg.zeros(3)), IndexError,
     r"Dimension out of range \(expected to be in range of \[-1, 0\], but got 1\)"),
    ("gelu approximate", lambda: F.gelu(_x(), approximate="erf"), RuntimeError,
     "approximate argument must be either none or tanh."),
    ("gelu int", lambda: F.gelu(dg.tensor([1, 2])), RuntimeError,
     "\"GeluKernelImpl\" not implemented for 'Long'"),
    ("silu bool", lambda: F.silu(dg.tensor([True])), RuntimeError, "\"silu_cpu\" not implemented for 'Bool'"),
    ("elu int", lambda: F.elu(dg.tensor([1])), RuntimeError, "\"elu_cpu\" not implemented for 'Long'"),
    ("softplus int", lambda: F.softplus(dg.tensor([1])), RuntimeError,
     "\"softplus_cpu\" not implemented for 'Long'"),
]


def _torch_version(fn, torch):
    """The same call with torch as dg (the lambdas only use F, dg.zeros/ones/tensor, dg dtypes)."""
    import types
    shim = types.SimpleNamespace(zeros=torch.zeros, ones=torch.ones, tensor=torch.tensor,
                                 int64=torch.int64)
    g = dict(fn.__globals__, F=torch.nn.functional, dg=shim,
             _x=lambda: torch.zeros(2, 3))
    return types.FunctionType(fn.__code__, g)


@pytest.mark.parametrize("name,call,exc,match", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name, call, exc, match, torch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc, match=match) as ei:
            call()
        assert isinstance(ei.value, dg.DualGraphError), type(ei.value)
        with pytest.raises(exc, match=match.replace(r"\w+.Size", r"torch.Size")):
            _torch_version(call, torch)()


# value checks (PyTorch's on concrete data) run eagerly only
GRAPH_ERRORS = [e for e in ERRORS if e[0] not in ("normalize dim", "bce input range")]


@pytest.mark.parametrize("name,call,exc,match", GRAPH_ERRORS, ids=[e[0] for e in GRAPH_ERRORS])
def test_errors_raise_when_the_graph_is_built(name, call, exc, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with dg.graph_mode():
            with pytest.raises(exc, match=match):
                call()


# ================================================================ graphs with an unknown batch size
UNKNOWN_BATCH = [
    ("gelu", lambda F, a: F.gelu(a), [x(4, 5)]),
    ("softplus", lambda F, a: F.softplus(a, 2, 1), [x(4, 5)]),
    ("normalize", lambda F, a: F.normalize(a), [x(4, 5)]),
    ("cosine_similarity", lambda F, a, b: F.cosine_similarity(a, b), [x(4, 5), x(4, 5)]),
    ("kl_div batchmean", lambda F, a, b: F.kl_div(a, b, reduction="batchmean"), [logp(4, 5), prob(4, 5)]),
    ("kl_div batchmean 3-D", lambda F, a, b: F.kl_div(a, b, reduction="batchmean"),
     [logp(4, 2, 3), prob(4, 2, 3)]),
    ("smooth_l1_loss", lambda F, a, b: F.smooth_l1_loss(a, b, beta=0.5), [x(4, 5), x(4, 5)]),
    ("huber_loss weight", lambda F, a, b, w: F.huber_loss(a, b, "sum", 0.5, w), [x(4, 5), x(4, 5), prob(4, 5)]),
]


@pytest.mark.parametrize("name,fn,specs", UNKNOWN_BATCH, ids=[c[0] for c in UNKNOWN_BATCH])
def test_graph_with_unknown_batch_size_equals_eager(name, fn, specs):
    arrays = _inputs(specs, np.float32)
    gout = _cotangent(tuple(_quiet(fn, F, *[dg.tensor(a) for a in arrays]).shape), np.float32)
    ey, egrads = _eager_run(fn, specs, arrays, gout)
    with dg.graph_mode() as g:
        xs = [dg.placeholder((None,) + a.shape[1:], dtype=a.dtype) for a in arrays]
        y = _quiet(fn, F, *xs)
        grads = dg.gradients([y], xs, grad_ys=[dg.constant(gout)])
    got = dg.Session(g).run({"y": y, "grads": grads}, dict(zip(xs, arrays)))
    close(np.asarray(got["y"]), ey, dict(atol=1e-7, rtol=1e-6), name)
    for k, (a, b) in enumerate(zip(got["grads"], egrads)):
        if b is not None:
            close(np.asarray(a), b, dict(atol=1e-7, rtol=1e-6), f"{name}: grad {k}")


def test_normalize_out_and_public_names():
    a = dg.tensor([[3.0, 4.0], [0.0, 0.0]])
    out = dg.empty(2, 2)
    assert F.normalize(a, out=out) is out
    np.testing.assert_allclose(out.numpy(), [[0.6, 0.8], [0.0, 0.0]])
    assert dg.nn.functional.gelu is F.gelu and callable(dg.erf)
