"""A parameter read through p.detach() before it is read with grad, in dg.function: the reads
made through the detached alias carry no gradient into p, and nothing else (before: the nodes
that had read it were marked no_grad, which also cut their other inputs' gradients: q.grad None).
Eager and compiled over calls, with an optimizer, compared on values, .grad and parameters."""
import numpy as np
import pytest

import dualgraph as dg


def plain(p, q, x):
    d = p.detach()
    return (d * q * x).sum() + (p * p).sum()


def in_branch(p, q, x):
    y = dg.cond(x.sum() > 0, lambda: (p.detach() * q).sum(), lambda: (q * 2).sum())
    return y + (p * x).sum()


def twice(p, q, x):
    a = (p.detach() + q).sum()
    b = (p.detach() * x).sum()
    return a * b + (p * q).sum()


@pytest.mark.parametrize("body", [plain, in_branch, twice], ids=lambda f: f.__name__)
def test_detached_read_then_read_with_grad(body):
    def run(compiled):
        p = dg.nn.Parameter(dg.tensor([1.0, 2.0]))
        q = dg.nn.Parameter(dg.tensor([3.0, -1.0]))
        opt = dg.optim.SGD([p, q], lr=0.1, momentum=0.9)

        def step(x):
            opt.zero_grad()
            loss = body(p, q, x)
            loss.backward()
            opt.step()
            return loss
        f = dg.function(step) if compiled else step
        out = []
        for x in ([1.0, 2.0], [0.5, -1.0], [2.0, 1.0]):
            loss = f(dg.tensor(x))
            out.append((float(loss), p.grad.tolist(), q.grad.tolist(), p.tolist(), q.tolist()))
        return out
    eager, compiled = run(False), run(True)
    for e, c in zip(eager, compiled):
        np.testing.assert_allclose(np.hstack([np.ravel(v) for v in c]), np.hstack([np.ravel(v) for v in e]),
                                   rtol=1e-6)


def test_detached_then_with_grad_inside_a_branch():
    """A branch reading p.detach() first and p with grad after (found by the random programs:
    the branch's placeholder was rebound, "'stop_gradient' is not a placeholder and cannot be
    fed"): p's gradient is the with-grad read's only, as eagerly, call after call."""
    def run(compiled):
        p = dg.nn.Parameter(dg.tensor([1.0, 2.0]))
        b = dg.zeros(2)

        def fn(x, n):
            p.grad = None

            def other():
                b.copy_(p.detach())
                return p
            loss = (dg.cond(n > 2, lambda: p, other) * x).sum() + (x * 1).sum()
            loss.backward()
            return loss
        f = dg.function(fn) if compiled else fn
        return [(f(dg.tensor([1.0, 2.0]), dg.tensor(n)).item(), p.grad.tolist(), b.tolist())
                for n in (1, 3, 1)]
    eager = run(False)
    assert eager[0][1] == [1.0, 2.0]
    assert run(True) == eager


def test_parameter_read_detached_then_written_under_no_grad_in_a_loop():
    """(Found by the random programs, TF1 graph mode: the loop's write of p was taken for a
    buffer taking a value with history, so dg.gradients(loss, [p]) gave None.) Eagerly p stays
    the leaf: the loss's gradient reaches it, in graph mode, dg.function and eagerly alike."""
    def body_fn(p, q):
        def body(i, h):
            with dg.no_grad():
                q.add_(p.detach() * 0.5)
                p.mul_(-0.5)
            return i + 1, h * 1
        dg.while_loop(lambda i, h: i < 1, body, (0, dg.ones(2)))
        return (p * p).sum()

    def make():
        return dg.nn.Parameter(dg.tensor([1.0, 2.0])), dg.nn.Parameter(dg.tensor([0.0, 0.0]))
    p, q = make()
    body_fn(p, q).backward()
    eager = (p.grad.tolist(), p.tolist(), q.tolist())
    p, q = make()
    with dg.graph_mode() as g:
        loss = body_fn(p, q)
        (gr,) = dg.gradients(loss, [p])
    assert gr is not None
    assert g.compile([gr], feeds=[])()[0].tolist() == eager[0]
    p, q = make()

    def step():
        p.grad = None
        body_fn(p, q).backward()
        return p.grad * 1
    assert dg.function(step)().tolist() == eager[0]


def test_detached_then_with_grad_in_nested_branches():
    """An inner branch reads p.detach() (a buffer takes it), its sibling reads p with grad, both
    inside an outer branch: p gets its gradient compiled as eagerly (before: the outer branch's
    capture stayed the detached read, p.grad None; random cf seed 101971)."""
    def run(compiled):
        p = dg.nn.Parameter(dg.tensor([0.3, 0.7]))
        b = dg.zeros(2)

        def step(s, x):
            p.grad = None

            def inner():
                return dg.cond(s < 0, lambda: (b.copy_(p.detach()), s * 1)[1], lambda: (p * 2).mean())
            loss = dg.cond(x > 0, inner, lambda: s * 3) * 1.0 + 0 * s
            loss.backward()
            return loss
        f = dg.function(step) if compiled else step
        out = []
        for s, x in ((0.5, 1.0), (0.7, 1.0), (-0.5, 1.0)):
            try:
                loss = f(dg.tensor(s, requires_grad=True), dg.tensor(x))
                out.append((float(loss), None if p.grad is None else p.grad.tolist(), b.tolist()))
            except dg.DualGraphError as e:   # (eagerly p.grad stays None at that call)
                out.append(("refused", "has no gradient at this call" in str(e)))
        return out
    eager, compiled = run(False), run(True)
    assert eager[0][1] == [1.0, 1.0] and eager[2][1] is None
    for e, c in zip(eager, compiled):
        assert c == e or (e[1] is None and c == ("refused", True))
