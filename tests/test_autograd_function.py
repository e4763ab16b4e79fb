"""dg.autograd.Function: a custom forward and backward gives PyTorch's values and gradients
eagerly, inside dg.function over several calls with an optimizer, and in a graph (Session);
ctx's API (save_for_backward, saved_tensors, needs_input_grad, mark_non_differentiable,
materialize grads, attributes); PyTorch's errors."""
import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _clip_grad_exp(Base):
    """exp whose gradient is clipped to [-1, 1]: a gradient no composite of ops would give."""
    class ClipGradExp(Base):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            y, = ctx.saved_tensors
            return (g * y).clamp(-1.0, 1.0)
    return ClipGradExp


def _sort_values(Base):
    """Two outputs: sorted values (differentiable) and indices (marked non-differentiable)."""
    class SortValues(Base):
        @staticmethod
        def forward(ctx, x):
            v, i = x.sort(dim=-1)
            ctx.mark_non_differentiable(i)
            ctx.save_for_backward(i)
            return v, i

        @staticmethod
        def backward(ctx, gv, gi):
            i, = ctx.saved_tensors
            return gv.gather(-1, i.argsort(dim=-1))   # undo the permutation
    return SortValues


def _sincos(Base):
    """Two differentiable outputs; backward runs once with both gradients."""
    class SinCos(Base):
        calls = 0

        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(x)
            ctx.k = k
            return (x * k).sin(), (x * k).cos()

        @staticmethod
        def backward(ctx, gs, gc):
            SinCos.calls += 1
            x, = ctx.saved_tensors
            return ctx.k * (gs * (x * ctx.k).cos() - gc * (x * ctx.k).sin()), None
    return SinCos


def test_eager_matches_torch(torch):
    a = np.array([-2.0, 0.1, 0.5, 1.5], np.float32)
    x = dg.tensor(a, requires_grad=True)
    y = _clip_grad_exp(dg.autograd.Function).apply(x)
    (y * 3).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    (_clip_grad_exp(torch.autograd.Function).apply(tx) * 3).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), tx.exp().detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    assert x.grad.numpy().max() == 1.0     # the custom rule ran, not exp's


def _train(mode, steps=4):
    dg.manual_seed(0)
    lin = dg.nn.Linear(4, 3)
    opt = dg.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
    Fn = _clip_grad_exp(dg.autograd.Function)
    SinCos = _sincos(dg.autograd.Function)

    def step(x, y):
        opt.zero_grad()
        s, c = SinCos.apply(lin(x), 0.5)
        loss = F.mse_loss(Fn.apply(s) + c, y)
        loss.backward()
        opt.step()
        return loss
    run = dg.function(step) if mode == "compiled" else step
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        x = dg.tensor(rng.standard_normal((5, 4)).astype(np.float32))
        y = dg.tensor(rng.standard_normal((5, 3)).astype(np.float32))
        losses.append(float(run(x, y)))
    return losses, {k: v.detach().numpy() for k, v in lin.state_dict().items()}, \
        [p.grad.numpy() for p in lin.parameters()], opt.state_dict(), run


def test_dg_function_equals_eager_over_calls_with_an_optimizer():
    le, we, ge, se, _ = _train("eager")
    lc, wc, gc, sc, run = _train("compiled")
    np.testing.assert_allclose(lc, le, rtol=1e-6)
    for k in we:
        np.testing.assert_allclose(wc[k], we[k], rtol=1e-6, atol=1e-7)
    for a, b in zip(gc, ge):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for a, b in zip(sc["state"].values(), se["state"].values()):
        np.testing.assert_allclose(a["momentum_buffer"].numpy(), b["momentum_buffer"].numpy(), rtol=1e-6, atol=1e-7)
    assert len(run._traces) == 1


def test_compiled_matches_torch(torch):
    lc, wc, _, _, _ = _train("compiled")
    torch.manual_seed(0)
    dg.manual_seed(0)
    lin = dg.nn.Linear(4, 3)
    tl = torch.nn.Linear(4, 3)
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(lin.weight.detach().numpy()))
        tl.bias.copy_(torch.tensor(lin.bias.detach().numpy()))
    opt = torch.optim.SGD(tl.parameters(), lr=0.1, momentum=0.9)
    Fn, SinCos = _clip_grad_exp(torch.autograd.Function), _sincos(torch.autograd.Function)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(4):
        x = torch.tensor(rng.standard_normal((5, 4)).astype(np.float32))
        y = torch.tensor(rng.standard_normal((5, 3)).astype(np.float32))
        opt.zero_grad()
        s, c = SinCos.apply(tl(x), 0.5)
        loss = torch.nn.functional.mse_loss(Fn.apply(s) + c, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    np.testing.assert_allclose(lc, losses, rtol=1e-5)
    np.testing.assert_allclose(wc["weight"], tl.weight.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_graph_mode_session_uses_the_custom_rule():
    a = np.array([-2.0, 0.1, 0.5, 1.5], np.float32)
    g = dg.Graph()
    with dg.graph_mode(g):
        x = dg.placeholder(dg.float32, [None])
        w = dg.Variable(np.ones(4, np.float32))
        y = _clip_grad_exp(dg.autograd.Function).apply(x * w)
        gw, = dg.gradients((y * 3).sum(), [w])
    got = dg.Session(g).run(gw, {x: a})
    np.testing.assert_allclose(got, np.clip(3 * np.exp(a), -1, 1) * a, rtol=1e-6)


def test_non_differentiable_output_and_backward_called_once(torch):
    a = np.array([[3.0, 1.0, 2.0], [0.5, -1.0, 4.0]], np.float32)
    x = dg.tensor(a, requires_grad=True)
    v, i = _sort_values(dg.autograd.Function).apply(x)
    assert not i.requires_grad and v.requires_grad
    (v * dg.tensor([1.0, 2.0, 3.0])).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    tv, ti = _sort_values(torch.autograd.Function).apply(tx)
    (tv * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    SinCos = _sincos(dg.autograd.Function)
    x = dg.tensor(a, requires_grad=True)
    s, c = SinCos.apply(x, 2.0)
    (s.sum() + 0 * c.sum()).backward()
    assert SinCos.calls == 1                      # one backward call for both outputs
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(2 * a), rtol=1e-5)
    x2 = dg.tensor(a, requires_grad=True)
    s, _ = SinCos.apply(x2, 2.0)
    s.sum().backward()                            # the unused output's gradient: zeros
    np.testing.assert_allclose(x2.grad.numpy(), 2 * np.cos(2 * a), rtol=1e-5)


def test_needs_input_grad_and_no_grad_inputs():
    seen = []

    class Mul(dg.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            seen.append(ctx.needs_input_grad)
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b, g * a
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    b = dg.tensor([3.0, 4.0])
    Mul.apply(a, b).sum().backward()
    assert seen == [(True, False)] and b.grad is None
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 4.0])
    out = Mul.apply(b, b)                      # nothing needs a gradient: no node
    assert out.grad_fn is None and not out.requires_grad


def test_gradcheck_and_double_backward():
    class Cube(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 3 * g * x ** 2
    x = dg.tensor([0.3, -1.2, 2.0], dtype=dg.float64, requires_grad=True)
    assert dg.autograd.gradcheck(Cube.apply, (x,))
    gx, = dg.autograd.grad(Cube.apply(x).sum(), [x], create_graph=True)
    gx.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy())


def test_errors_in_pytorch_wording(torch):
    class TooMany(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g
    with pytest.raises(RuntimeError, match=r"function TooManyBackward returned an incorrect number of "
                                           r"gradients \(expected 1, got 2\)"):
        TooMany.apply(dg.ones(2, requires_grad=True)).sum().backward()

    class BadShape(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g.sum()
    with pytest.raises(RuntimeError, match=r"Function BadShapeBackward returned an invalid gradient at index 0 "
                                           r"- got \[\] but expected shape compatible with \[2\]"):
        BadShape.apply(dg.ones(2, requires_grad=True)).sum().backward()

    class Saves(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * x
    x = dg.ones(2, requires_grad=True)
    h = x * 1
    y = Saves.apply(h)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    with pytest.raises(RuntimeError, match="non-static forward method is deprecated"):
        Saves()(x)
