"""Gradients bit for bit equal eagerly and compiled where eager code sums them in an order a
graph could change (found by the random programs outside their default seeds): a float64 copy_
of a broadcast float32 source (cast first, then summed, as PyTorch), and x.contiguous() of a
contiguous tensor, which eagerly is x itself (every path's gradient accumulates into x)."""
import numpy as np
import pytest

import dualgraph as dg

RNG = np.random.default_rng(7)


def copy_broadcast(L, x):
    t = x.to(L.float64)
    t.copy_(x[2, None, ...])           # (1, 4) float32 broadcast into (4, 4) float64
    return -0.25 * ((L.sigmoid(t) - 0.25) @ L.sigmoid(t * 0.5)[0, ...]).mean()


def contiguous_three_paths(L, x):
    c = x.contiguous()                 # eagerly x itself
    return -1.5 * c.sum() + 2.0 * L.max(x).mean() + -1.5 * (c ** 3).mean()


def _eager(fn, a):
    x = dg.tensor(a, requires_grad=True)
    fn(dg, x).backward()
    return x.grad.numpy()


def _graph(fn, a):
    with dg.graph_mode() as g:
        ph = dg.placeholder(list(a.shape))
        (gr,) = dg.gradients(fn(dg, ph), [ph])
    return g.compile([gr], feeds=[ph])(a)[0]


def _function(fn, a):
    def step(x):
        fn(dg, x).backward()
        return x.grad * 1
    f = dg.function(step)
    out = []
    for _ in range(2):
        x = dg.tensor(a, requires_grad=True)
        out.append(f(x).numpy())
    assert np.array_equal(out[0], out[1])
    return out[0]


@pytest.mark.parametrize("fn, modes", [(copy_broadcast, (_graph, _function)),
                                       (contiguous_three_paths, (_function,))],
                         ids=["copy_broadcast", "contiguous"])
def test_gradient_bits_as_eagerly(fn, modes):
    for _ in range(100):
        a = RNG.standard_normal((4, 4)).astype(np.float32) * 3
        e = _eager(fn, a)
        for run in modes:
            assert np.array_equal(run(fn, a), e), run.__name__


def test_torch_agrees_on_the_copy_rounding():
    torch = pytest.importorskip("torch")
    for _ in range(20):
        a = RNG.standard_normal((4, 4)).astype(np.float32) * 3
        x = torch.tensor(a, requires_grad=True)
        copy_broadcast(torch, x).backward()
        assert np.array_equal(x.grad.numpy(), _eager(copy_broadcast, a))


def test_contiguous_of_a_contiguous_value_is_it_in_a_trace():
    seen = []

    def fn(x):
        y = x * 2
        seen.append((y.contiguous() is y, y.t().contiguous() is y))
        return y
    dg.function(fn)(dg.ones(2, 3))
    assert seen == [(True, False)]
