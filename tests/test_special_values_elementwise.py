"""Elementwise ops and their gradients at inf, NaN and signed zeros: PyTorch's numbers, eagerly
and through dg.function over several calls (the same bits). Each case is one difference a
special-value sweep found (tests/special_values_report.md, B1, B9-B11, C1-C4, C10): a gradient
that multiplied an inf/NaN upstream by a zero mask (NaN where PyTorch selects 0), a kernel that
lost a zero's sign or an infinity."""
import numpy as np
import pytest

import dualgraph as dg
from special_value_checks import bits

inf, nan = np.inf, np.nan


def f32(*v):
    return np.array(v, np.float32)


# name -> (dualgraph fn, torch fn (same code, other library), inputs, cotangent or None)
CASES = {
    "div trunc: inf quotients, zero signs, zero gradient": (
        lambda a, b: dg.div(a, b, rounding_mode="trunc"),
        lambda a, b: a.div(b, rounding_mode="trunc"),
        (f32(inf, -inf, 5, -1, -0.0, 7, -7, 0.5), f32(2, 2, 0, inf, 3, 2, 2, -0.0)),
        f32(1, 1, 1, inf, 1, nan, 1, 1)),
    "relu(-0.0) is -0.0": (
        lambda x: x.relu(), lambda x: x.relu(),
        (np.concatenate([f32(-0.0, 0.0, -1, 2, nan, -inf), np.full(20, -0.0, np.float32)]),), None),
    "relu(-0.0) of an intermediate (a plan writes it into a buffer)": (
        lambda x: (x * 1.0).relu() * 2.0, lambda x: (x * 1.0).relu() * 2.0,
        (np.tile(f32(-0.0, 1, -2, 0.0, nan), 8),), None),
    "remainder: a zero has the dividend's sign": (
        lambda a, b: dg.remainder(a, b), lambda a, b: a.remainder(b),
        (f32(-4, 4, -0.0, 0.0, 4, 5.5, -6), f32(2, -2, 3, -3, inf, -2, -3)), None),
    "sign(NaN) is 0, and so is abs's gradient there": (
        lambda x: dg.sign(x) + x.abs(), lambda x: x.sign() + x.abs(),
        (f32(nan, -0.0, 0.0, -2, 3, inf, -inf),), f32(1, 1, 1, 1, 1, 1, 1)),
    "clamp: an inf/NaN upstream is 0 where clamped": (
        lambda x: x.clamp(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7),
        (f32(2, -2, 0, nan, 0.7),), f32(inf, nan, 1, inf, -inf)),
    "x ** 0: a zero gradient for any upstream": (
        lambda x: x ** 0, lambda x: x ** 0, (f32(1, 2, 3, 0),), f32(inf, nan, -1, 1)),
    "maximum: a NaN operand gets the gradient, and so does the other": (
        lambda a, b: dg.maximum(a, b), lambda a, b: a.maximum(b),
        (f32(nan, 1, 2, 3, -1), f32(1, nan, 2, 1, nan)), f32(1, 1, 1, 1, inf)),
    "minimum: likewise": (
        lambda a, b: dg.minimum(a, b), lambda a, b: a.minimum(b),
        (f32(nan, 1, 2, 3, 5), f32(1, nan, 2, 1, 7)), f32(1, 1, 1, 1, inf)),
    "elu: g passes at a NaN input": (
        lambda x: dg.nn.functional.elu(x), lambda x: __import__("torch").nn.functional.elu(x),
        (f32(nan, -1, 0, 2, -inf),), f32(1, 1, 1, 1, 1)),
}


def _run_dg(fn, arrays, cot, compiled=None):
    """(output, gradients) eagerly, or through `compiled` (a dg.function of the same step)."""
    def step(*xs):
        out = fn(*xs)
        grads = dg.autograd.grad(out, list(xs), grad_outputs=dg.tensor(cot)) if cot is not None else ()
        return (out,) + tuple(grads)
    xs = [dg.tensor(a, requires_grad=cot is not None) for a in arrays]
    res = (compiled or step)(*xs)
    return [r.detach().numpy() for r in res], step


def _run_torch(fn, arrays, cot):
    torch = pytest.importorskip("torch")
    xs = [torch.tensor(a, requires_grad=cot is not None) for a in arrays]
    out = fn(*xs)
    grads = torch.autograd.grad(out, xs, grad_outputs=torch.tensor(cot)) if cot is not None else ()
    return [out.detach().numpy()] + [g.numpy() for g in grads]


def same_as_torch(ours, theirs, zero_sign):
    """NaN where torch has NaN (sign and payload aside); otherwise the same value, and the same
    zero sign where `zero_sign` (forward values: gradients' zero signs follow each library's
    order of operations)."""
    if ours.shape != theirs.shape or ours.dtype != theirs.dtype:
        return False
    nan_o, nan_t = np.isnan(ours), np.isnan(theirs)
    if not np.array_equal(nan_o, nan_t):
        return False
    keep = ~nan_o  # (equal infinities; finite values within a few ulps: exp differs by one)
    if not np.allclose(ours[keep], theirs[keep], rtol=1e-6, atol=0):
        return False
    return not zero_sign or np.array_equal(np.signbit(ours[keep]), np.signbit(theirs[keep]))


@pytest.mark.parametrize("name", list(CASES))
def test_like_pytorch(name):
    fn, tfn, arrays, cot = CASES[name]
    ours, _ = _run_dg(fn, arrays, cot)
    theirs = _run_torch(tfn, arrays, cot)
    assert len(ours) == len(theirs)
    for i, (o, t) in enumerate(zip(ours, theirs)):
        assert same_as_torch(o, t, zero_sign=i == 0), (name, i, o, t)


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_gives_eagers_bits_call_after_call(name):
    fn, _, arrays, cot = CASES[name]
    want, step = _run_dg(fn, arrays, cot)
    compiled = dg.function(step)
    for _ in range(3):
        got, _ = _run_dg(fn, arrays, cot, compiled)
        for g, w in zip(got, want):
            assert np.array_equal(bits(g), bits(w)), (name, g, w)
    assert compiled.trace_count == 1


def test_relu_double_backward_of_an_infinite_upstream_is_zero():
    """relu_backward(g, y)'s gradient through y is 0 (y only selects), also for an inf
    upstream: x's second-order gradient is PyTorch's 0, not inf * 0."""
    torch = pytest.importorskip("torch")
    xs, ws, cs = f32(2, -1, 3), f32(1, 1, 2), f32(inf, 1, nan)

    def second(x, w):
        g = dg.autograd.grad((x.relu() * w).sum(), [x], create_graph=True)[0]
        return dg.autograd.grad((g * dg.tensor(cs)).sum(), [x, w], allow_unused=True,
                                materialize_grads=True)

    xt, wt = torch.tensor(xs, requires_grad=True), torch.tensor(ws, requires_grad=True)
    g = torch.autograd.grad((xt.relu() * wt).sum(), [xt], create_graph=True)[0]
    want = torch.autograd.grad((g * torch.tensor(cs)).sum(), [xt, wt], allow_unused=True,
                               materialize_grads=True)
    compiled = dg.function(second)
    for _ in range(3):
        for got in (second(dg.tensor(xs, requires_grad=True), dg.tensor(ws, requires_grad=True)),
                    compiled(dg.tensor(xs, requires_grad=True), dg.tensor(ws, requires_grad=True))):
            for o, t in zip(got, want):
                assert same_as_torch(o.detach().numpy(), t.numpy(), zero_sign=False), (o, t)
