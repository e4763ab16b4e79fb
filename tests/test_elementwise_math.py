"""The math ops of dualgraph/ops/elementwise_math.py beyond the op table (tests/opinfo_math.py):
a training loop built with them gives the same bits eagerly and under dg.function; the in-place
methods write through views as PyTorch's do; special values, signed zeros, out=, dtypes and the
refusals against PyTorch; and the one known difference (ldexp's gradient for an integer
exponent)."""
import math

import numpy as np
import pytest

import dualgraph as dg

INF, NAN = math.inf, math.nan


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _np(t):
    return np.array(t.detach().numpy())


def _bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and (
        a.tobytes() == b.tobytes() if a.dtype.kind == "f" else np.array_equal(a, b))


# ============================================================================ training: eager == compiled
def _train(compiled, steps=5):
    rng = np.random.default_rng(7)
    w = dg.nn.Parameter(dg.tensor(rng.uniform(-1, 1, (4, 3)).astype(np.float32)))
    v = dg.nn.Parameter(dg.tensor(rng.uniform(0.5, 1.5, (3,)).astype(np.float32)))
    opt = dg.optim.SGD([w, v], lr=0.01, momentum=0.9)
    data = [(dg.tensor(rng.uniform(-1, 1, (4, 3)).astype(np.float32)),
             dg.tensor(rng.uniform(0.2, 0.8, (4, 3)).astype(np.float32))) for _ in range(steps)]

    def step(x, t):
        opt.zero_grad()
        a = dg.atan2(w, x + 2.0)                      # (2, 3): atan2
        h = dg.hypot(w, v)                            # broadcast (3,)
        m = dg.lerp(a, h, 0.3) + w.lerp(x, t)         # scalar and tensor weights
        s = dg.addcmul(m, w, x, value=0.5)
        s = dg.addcdiv(s, v, h + 1.0, value=-0.25)
        e = dg.expm1(s * 0.1) + dg.logaddexp(w, x) + dg.xlogy(t, dg.sigmoid(w))
        e = e + dg.sinh(w * 0.5) * dg.cosh(v * 0.5) + dg.atan(w) + dg.log2(v * v + 1.0) + dg.reciprocal(v * v + 2.0)
        e = e + dg.fmax(w, x) - dg.fmin(w, x) + dg.copysign(v, w) + dg.clamp_min(w, x) + dg.logit(t, 0.01)
        loss = (e * e).mean() + dg.nan_to_num(dg.log10(v.abs())).sum()
        loss.backward()
        opt.step()
        return loss

    run = dg.function(step) if compiled else step
    rec = []
    for x, t in data:
        loss = run(x, t)
        rec.append([_np(loss), _np(w), _np(v), _np(w.grad), _np(v.grad)]
                   + [_np(opt.state[p]["momentum_buffer"]) for p in (w, v)])
    return rec


def test_training_with_the_new_ops_is_bitwise_the_same_eagerly_and_compiled():
    eager, compiled = _train(False), _train(True)
    for k, (e, c) in enumerate(zip(eager, compiled)):
        for j, (a, b) in enumerate(zip(e, c)):
            assert _bits_equal(a, b), f"step {k}, value {j}:\n{a}\nvs compiled\n{b}"
    assert not np.allclose(eager[0][1], eager[-1][1])   # (it trained)
    assert all(np.isfinite(v).all() for r in eager for v in r)


def test_training_matches_torch(torch):
    """The same loop in PyTorch: losses and parameters agree within float32 rounding."""
    ours = _train(False)
    rng = np.random.default_rng(7)
    w = torch.tensor(rng.uniform(-1, 1, (4, 3)).astype(np.float32), requires_grad=True)
    v = torch.tensor(rng.uniform(0.5, 1.5, (3,)).astype(np.float32), requires_grad=True)
    opt = torch.optim.SGD([w, v], lr=0.01, momentum=0.9)
    for k in range(5):
        x = torch.tensor(rng.uniform(-1, 1, (4, 3)).astype(np.float32))
        t = torch.tensor(rng.uniform(0.2, 0.8, (4, 3)).astype(np.float32))
        opt.zero_grad()
        a = torch.atan2(w, x + 2.0)
        h = torch.hypot(w, v)
        m = torch.lerp(a, h, 0.3) + w.lerp(x, t)
        s = torch.addcmul(m, w, x, value=0.5)
        s = torch.addcdiv(s, v, h + 1.0, value=-0.25)
        e = torch.expm1(s * 0.1) + torch.logaddexp(w, x) + torch.xlogy(t, torch.sigmoid(w))
        e = e + torch.sinh(w * 0.5) * torch.cosh(v * 0.5) + torch.atan(w) + torch.log2(v * v + 1.0) + torch.reciprocal(v * v + 2.0)
        e = e + torch.fmax(w, x) - torch.fmin(w, x) + torch.copysign(v, w) + torch.clamp_min(w, x) + torch.logit(t, 0.01)
        loss = (e * e).mean() + torch.nan_to_num(torch.log10(v.abs())).sum()
        loss.backward()
        opt.step()
        np.testing.assert_allclose(ours[k][0], loss.item(), rtol=1e-5)
        np.testing.assert_allclose(ours[k][1], w.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours[k][4], v.grad.numpy(), rtol=1e-4, atol=1e-5)


# ============================================================================ in-place methods
_INPLACE = [
    ("tan_", ()), ("sinh_", ()), ("cosh_", ()), ("asin_", ()), ("acos_", ()), ("atan_", ()),
    ("asinh_", ()), ("atanh_", ()), ("arcsin_", ()), ("arctan_", ()), ("log2_", ()),
    ("log10_", ()), ("exp2_", ()), ("expm1_", ()), ("reciprocal_", ()), ("sinc_", ()),
    ("logit_", ()), ("logit_", (0.2,)), ("frac_", ()), ("deg2rad_", ()), ("rad2deg_", ()),
    ("square_", ()), ("nan_to_num_", ()), ("negative_", ()), ("absolute_", ()),
    ("atan2_", ("T",)), ("arctan2_", ("T",)), ("hypot_", ("T",)), ("xlogy_", ("T",)),
    ("copysign_", ("T",)), ("copysign_", (-1.0,)), ("heaviside_", ("T",)), ("nextafter_", ("T",)),
    ("ldexp_", ("T",)), ("clamp_min_", ("T",)), ("clamp_min_", (0.2,)), ("clamp_max_", ("T",)),
    ("clamp_max_", (0.4,)), ("lerp_", ("T", 0.3)), ("lerp_", ("T", "T")), ("addcmul_", ("T", "T")),
    ("addcdiv_", ("T", "T")), ("true_divide_", ("T",)), ("divide_", ("T",)), ("multiply_", ("T",)),
    ("subtract_", ("T",)), ("greater_", ("T",)), ("less_equal_", ("T",)), ("not_equal_", ("T",)),
    ("logical_xor_", ("T",)),
]


def _args(lib, spec, row):
    out = []
    for a in spec:
        out.append(lib.tensor(row) if isinstance(a, str) else a)
    return out


@pytest.mark.parametrize("name,spec", _INPLACE, ids=[f"{n}{len(s)}-{i}" for i, (n, s) in enumerate(_INPLACE)])
def test_an_in_place_method_writes_through_a_view(name, spec, torch):
    """x[1] is a view of x: its in-place method writes x's memory, as PyTorch's, and returns
    the view itself; the values are PyTorch's."""
    base = np.array([[0.1, 0.25, 0.6], [0.3, 0.45, 0.7]], np.float32)
    other = np.array([0.35, 0.5, 0.15], np.float32)
    results = {}
    for lib in (dg, torch):
        x = lib.tensor(base.copy())
        v = x[1]
        r = getattr(v, name)(*_args(lib, spec, other))
        assert r is v
        results[lib] = (x.numpy().copy(), v.numpy().copy())
    (dx, dv), (tx, tv) = results[dg], results[torch]
    np.testing.assert_allclose(dx, tx, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(dx[1], dv)
    np.testing.assert_array_equal(dx[0], base[0])   # the other row untouched


def test_an_in_place_method_on_a_view_is_the_same_compiled():
    def step(x, o):
        y = x * 1.0
        y[0].atan2_(o)
        y[1].lerp_(o, 0.75)
        y[:, 1].addcmul_(o[:2], o[1:], value=2.0)
        y.clamp_min_(0.3)
        return y

    x = dg.tensor(np.array([[0.1, 0.25, 0.6], [0.3, 0.45, 0.7]], np.float32))
    o = dg.tensor(np.array([0.35, 0.5, 0.15], np.float32))
    assert _bits_equal(_np(dg.function(step)(x, o)), _np(step(x, o)))


def test_in_place_with_a_wider_operand_casts_into_self(torch):
    x = np.array([0.5, -1.5, 2.0], np.float32)
    o = np.array([1.0, 2.0, -3.0], np.float64)
    for name, args in [("atan2_", (o,)), ("clamp_min_", (o,)), ("hypot_", (o,)), ("addcmul_", (o, o)),
                       ("xlogy_", (np.abs(o),)), ("copysign_", (o,))]:
        d = getattr(dg.tensor(x), name)(*[dg.tensor(a) for a in args])
        t = getattr(torch.tensor(x), name)(*[torch.tensor(a) for a in args])
        assert d.dtype == dg.float32
        np.testing.assert_allclose(_np(d), t.numpy(), rtol=1e-6)
    for lib in (dg, torch):   # (lerp_ wants end in self's dtype, as lerp)
        with pytest.raises(RuntimeError, match="expected dtype float for `end` but got dtype double"):
            lib.tensor(x).lerp_(lib.tensor(o), 0.3)


def test_in_place_gradients_match_torch(torch):
    """Through a clone's in-place op, the gradient reaches the original leaf, as in PyTorch."""
    x0 = np.array([0.2, -0.7, 1.3], np.float32)
    o0 = np.array([0.5, 0.9, -1.1], np.float32)
    for name, extra in [("atan2_", ()), ("lerp_", (0.3,)), ("xlogy_", ()), ("copysign_", ()),
                        ("hypot_", ()), ("clamp_max_", ())]:
        grads = []
        for lib in (dg, torch):
            x = lib.tensor(x0, requires_grad=True)
            o = lib.tensor(np.abs(o0) if name == "xlogy_" else o0, requires_grad=True)
            y = x.clone()
            getattr(y, name)(o, *extra)
            (y * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
            grads.append((x.grad.numpy().copy(), o.grad.numpy().copy()))
        for a, b in zip(*grads):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)


def test_in_place_refusals(torch):
    i = np.array([1, 2, 3])
    for name, args, msg in [
            ("tan_", (), "result type Float can't be cast to the desired output type Long"),
            ("float_power_", (2,), "the base given to float_power_ has dtype Long but the operation's result requires dtype Double"),
            ("ldexp_", ("i",), "ldexp can't be cast to the desired output type Long"),
            ("clamp_min_", (1.5,), "result type Float can't be cast to the desired output type long int"),
            ("atan2_", (2,), r"atan2_\(\): argument 'other' \(position 1\) must be Tensor, not int")]:
        for lib in (dg, torch):
            x = lib.tensor(i.copy())
            a = [lib.tensor(i) if z == "i" else z for z in args]
            with pytest.raises((RuntimeError, TypeError), match=msg):
                getattr(x, name)(*a)


# ============================================================================ special values vs torch
def _specials(*v):
    return np.array(v, np.float32)


_S = _specials(0.0, -0.0, 1.0, -1.0, 0.5, -2.5, INF, -INF, NAN, 1e-40, -1e-40, 3e38, -3e38, 88.0)
_T = _specials(0.0, 0.0, -0.0, -0.0, 1.0, NAN, INF, INF, -1.0, -0.0, 1e-40, 3e38, 1.0, -INF)

_UNARY_SPECIAL = ["tan", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh", "log2",
                  "log10", "exp2", "expm1", "reciprocal", "sinc", "logit", "frac", "deg2rad",
                  "rad2deg", "nan_to_num", "isnan", "isinf", "isfinite", "isposinf", "isneginf",
                  "signbit", "negative", "absolute"]
_BINARY_SPECIAL = ["atan2", "hypot", "logaddexp", "logaddexp2", "xlogy", "copysign", "heaviside",
                   "fmax", "fmin", "nextafter", "clamp_min", "clamp_max", "float_power", "ldexp",
                   "logical_xor"]


def _same_as_torch(a, b, what, rtol=2e-6):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (what, a.dtype, b.dtype)
    if a.dtype.kind != "f":
        np.testing.assert_array_equal(a, b, err_msg=what)
        return
    assert np.array_equal(np.isnan(a), np.isnan(b)), (what, a, b)
    ok = ~np.isnan(b)
    np.testing.assert_allclose(a[ok], b[ok], rtol=rtol, atol=0, err_msg=what)
    zero = ok & (b == 0) & (a == 0)
    np.testing.assert_array_equal(np.signbit(a[zero]), np.signbit(b[zero]), err_msg=f"{what}: zero signs")


@pytest.mark.parametrize("name", _UNARY_SPECIAL)
def test_unary_special_values_are_torchs(name, torch):
    x = _S.copy() if name != "sinc" else _S[:-1]   # (sinc(88): ulps of sin(88 pi) decide it)
    got = getattr(dg, name)(dg.tensor(x))
    want = getattr(torch, name)(torch.tensor(x))
    _same_as_torch(_np(got), want.numpy(), name, rtol=2e-6 if name != "sinc" else 1e-4)
    compiled = dg.function(lambda t: getattr(dg, name)(t))(dg.tensor(x))
    assert _bits_equal(_np(compiled), _np(got))


@pytest.mark.parametrize("name", _BINARY_SPECIAL)
def test_binary_special_values_are_torchs(name, torch):
    a, b = _S, _T
    if name in ("ldexp",):
        b = np.array([0, 1, -1, 2, 3, -3, 1, 0, 4, 60, -2, 1, 2, 5])
    got = getattr(dg, name)(dg.tensor(a), dg.tensor(b))
    want = getattr(torch, name)(torch.tensor(a), torch.tensor(b))
    _same_as_torch(_np(got), want.numpy(), name, rtol=2e-6)
    compiled = dg.function(lambda x, y: getattr(dg, name)(x, y))(dg.tensor(a), dg.tensor(b))
    assert _bits_equal(_np(compiled), _np(got))


def test_ternary_special_values_are_torchs(torch):
    w = _specials(0.25, 0.75, 0.5, -0.25, 1.5, NAN, 0.0, 1.0, 0.3, 0.49, 0.51, 0.9, 0.1, -1.0)
    for name, args, kw in [("lerp", (_S, _T, w), {}), ("lerp", (_S, _T, 0.3), {}), ("lerp", (_S, _T, 0.8), {}),
                           ("addcmul", (_S, _T, w), {"value": -0.5}), ("addcdiv", (_S, _T, w), {"value": 2})]:
        got = getattr(dg, name)(*[dg.tensor(x) if isinstance(x, np.ndarray) else x for x in args], **kw)
        want = getattr(torch, name)(*[torch.tensor(x) if isinstance(x, np.ndarray) else x for x in args], **kw)
        _same_as_torch(_np(got), want.numpy(), name)


def test_special_gradients_are_torchs(torch):
    """Gradients at the edges PyTorch's formulas special-case: atan2 at the origin, copysign and
    xlogy at zeros, logit at 0 and 1, fmax/fmin/clamp_min with NaN and ties, sinc at 0."""
    a0 = _specials(0.0, -0.0, 0.0, 1.0, NAN, 2.0, 1e-40, -1.0)
    b0 = _specials(0.0, 0.0, -0.0, NAN, 1.0, 2.0, -1e-40, -0.0)
    cot = _specials(1.0, -1.0, 2.0, 1.0, 1.0, -3.0, 1.0, 0.5)
    for name in ("atan2", "copysign", "xlogy", "fmax", "fmin", "clamp_min", "clamp_max", "hypot",
                 "logaddexp"):
        gs = []
        for lib in (dg, torch):
            a = lib.tensor(a0, requires_grad=True)
            b = lib.tensor(b0, requires_grad=True)
            r = getattr(lib, name)(a, b)
            gs.append([g.numpy() for g in lib.autograd.grad(r, (a, b), lib.tensor(cot))])
        for k, (x, y) in enumerate(zip(*gs)):
            assert np.array_equal(np.isnan(x), np.isnan(y)), (name, k, x, y)
            ok = ~np.isnan(y)
            np.testing.assert_allclose(x[ok], y[ok], rtol=1e-6, err_msg=f"{name} grad {k}")
    for name, kw in [("logit", {}), ("logit", {"eps": 0.1}), ("sinc", {}), ("nan_to_num", {}),
                     ("reciprocal", {}), ("asin", {}), ("atanh", {})]:
        x0 = _specials(0.0, -0.0, 1.0, 0.5, 2.0, -1.0, NAN, INF)
        gs = []
        for lib in (dg, torch):
            x = lib.tensor(x0, requires_grad=True)
            r = getattr(lib, name)(x, **kw)
            gs.append(lib.autograd.grad(r, x, lib.ones_like(r))[0].numpy())
        _same_as_torch(gs[0], gs[1], f"{name} grad", rtol=1e-6)


# ============================================================================ dtypes, out=, refusals
def test_integer_and_bool_inputs_give_float32(torch):
    i = np.array([1, 2, 3])
    b = np.array([True, False, True])
    for name in ["tan", "sinh", "asinh", "log2", "log10", "exp2", "expm1", "reciprocal", "sinc",
                 "logit", "deg2rad", "rad2deg"]:
        for x in (i, b):
            got = getattr(dg, name)(dg.tensor(x))
            want = getattr(torch, name)(torch.tensor(x))
            assert got.dtype == dg.float32 and str(want.dtype) == "torch.float32"
            _same_as_torch(_np(got), want.numpy(), name, rtol=1e-6)
    assert dg.float_power(dg.tensor(i), 2).dtype == dg.float64
    assert dg.nan_to_num(dg.tensor(i)).dtype == dg.int64
    assert dg.tensor(b).square().dtype == dg.int64
    assert dg.ldexp(dg.tensor(i), dg.tensor(i)).dtype == dg.float32
    assert dg.fmax(dg.tensor(i), dg.tensor(b)).dtype == dg.int64


def test_out_arguments():
    x = dg.tensor([0.5, 1.0, 2.0])
    out = dg.empty(3)
    r = dg.atan2(x, x, out=out)
    assert r is out and np.allclose(out.numpy(), np.pi / 4)
    dg.lerp(x, x * 3, 0.5, out=out)
    np.testing.assert_allclose(out.numpy(), [1.0, 2.0, 4.0])
    dg.tan(x, out=out)
    np.testing.assert_allclose(out.numpy(), np.tan(x.numpy()), rtol=1e-6)
    m = dg.empty(3, dtype=dg.bool)
    dg.signbit(dg.tensor([-0.0, 0.0, -1.0]), out=m)
    assert m.numpy().tolist() == [True, False, True]
    with pytest.raises(RuntimeError, match="the output given to float_power has dtype Float but "
                                           "the operation's result requires dtype Double"):
        dg.float_power(x, 2, out=out)
    d = dg.empty(3, dtype=dg.float64)
    assert dg.float_power(x, 2, out=d) is d
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        dg.hypot(x.requires_grad_(True), x, out=dg.empty(3))


def test_positive_and_the_aliases():
    x = dg.tensor([1.0, -2.0])
    assert dg.positive(x) is x and x.positive() is x
    with pytest.raises(RuntimeError, match="The `\\+` operator, on a bool tensor is not supported"):
        dg.positive(dg.tensor([True]))
    assert dg.arcsin is dg.asin and dg.arctan2 is dg.atan2
    assert dg.tensor([1, 2]).true_divide(2).dtype == dg.float32
    assert dg.divide(dg.tensor([7, -7]), 2, rounding_mode="trunc").numpy().tolist() == [3, -3]
    assert dg.subtract(dg.tensor([1.0]), dg.tensor([1.0]), alpha=2).item() == -1.0
    assert dg.greater_equal(dg.tensor([1, 2]), 2).numpy().tolist() == [False, True]


def test_refusals_word_torchs(torch):
    f = np.array([0.5, 1.5], np.float32)
    i = np.array([1, 2])
    cases = [
        (lambda L: L.hypot(L.tensor(i), L.tensor(i)), "\"hypot_cpu\" not implemented for 'Long'"),
        (lambda L: L.atan2(L.tensor(f), 2), r"atan2\(\): argument 'other' \(position 2\) must be Tensor, not int"),
        (lambda L: L.tensor(f).hypot(2.0), r"hypot\(\): argument 'other' \(position 1\) must be Tensor, not float"),
        (lambda L: L.heaviside(L.tensor(f), L.tensor(f.astype(np.float64))),
         "heaviside is not yet implemented for tensors with different dtypes"),
        (lambda L: L.lerp(L.tensor(f), L.tensor(f.astype(np.float64)), 0.5),
         "expected dtype float for `end` but got dtype double"),
        (lambda L: L.addcdiv(L.tensor(f), L.tensor(i), L.tensor(i)), "Integer division with addcdiv is no longer supported"),
        (lambda L: L.frac(L.tensor(i)), "\"frac_cpu\" not implemented for 'Long'"),
        (lambda L: L.copysign(2.0, L.tensor(f)), r"copysign\(\) received an invalid combination of arguments"),
        (lambda L: L.isnan(1.0), r"isnan\(\): argument 'input' \(position 1\) must be Tensor, not float"),
    ]
    for fn, msg in cases:
        for L in (dg, torch):
            with pytest.raises((RuntimeError, TypeError), match=msg):
                fn(L)


def test_ldexp_gradient_with_an_integer_exponent_is_the_true_one(torch):
    """Known difference: PyTorch's ldexp backward computes 2 ** other in other's integer dtype,
    so its input gradient is 0 at a negative exponent; dualgraph's is 2.0 ** other (PyTorch's
    own answer for a float exponent)."""
    x = dg.tensor([0.5, 1.0], requires_grad=True)
    dg.ldexp(x, dg.tensor([3, -1])).sum().backward()
    assert x.grad.numpy().tolist() == [8.0, 0.5]
    tx = torch.tensor([0.5, 1.0], requires_grad=True)
    torch.ldexp(tx, torch.tensor([3.0, -1.0])).sum().backward()
    assert tx.grad.numpy().tolist() == [8.0, 0.5]


_WARN_SCRIPT = """
import numpy as np
import dualgraph as dg
S = np.array([0.0, -0.0, 1.0, -1.0, 2.0, np.inf, -np.inf, np.nan, 1e-40, 3e38], np.float32)
T = S[::-1].copy()
x, y = dg.tensor(S, requires_grad=True), dg.tensor(T, requires_grad=True)
outs = [getattr(dg, n)(x) for n in %r]
outs += [getattr(dg, n)(x, y) for n in %r]
outs += [dg.lerp(x, y, 0.3), dg.lerp(x, y, y), dg.addcmul(x, x, y), dg.addcdiv(x, x, y),
         dg.nan_to_num(x, posinf=1e300), dg.logit(x, 0.1), dg.float_power(x, -1.5)]
sum(o.float().sum() for o in outs if o.dtype != dg.bool).backward()
f = dg.function(lambda a, b: dg.atan2(a, b) + dg.tan(a) + dg.xlogy(a, b))
f(x.detach(), y.detach()); f(x.detach(), y.detach())
print("ok")
"""


def test_no_numpy_warning_reaches_the_user():
    """inf and NaN come silently, forward and backward, eagerly and compiled (as
    tests/test_numpy_warnings.py: -W error, so an escaping warning fails the script)."""
    import subprocess
    import sys
    binary = ["atan2", "hypot", "logaddexp", "logaddexp2", "xlogy", "copysign", "heaviside",
              "fmax", "fmin", "nextafter", "clamp_min", "clamp_max", "logical_xor"]
    script = _WARN_SCRIPT % (_UNARY_SPECIAL, binary)
    r = subprocess.run([sys.executable, "-W", "error", "-c", script], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_predicates_carry_no_gradient():
    x = dg.tensor([1.0, NAN, INF], requires_grad=True)
    for name in ["isnan", "isinf", "isfinite", "isposinf", "isneginf", "isreal", "signbit"]:
        r = getattr(dg, name)(x)
        assert r.dtype == dg.bool and not r.requires_grad
    assert not dg.logical_xor(x, x).requires_grad


def test_dg_square_is_torch_square_too():
    torch = pytest.importorskip("torch")
    for v in ([True, False], [1, -2], [1.5, -2.0]):
        want = torch.square(torch.tensor(v)).numpy()
        got = dg.square(dg.tensor(v)).numpy()
        assert got.dtype == want.dtype and np.array_equal(got, want)
