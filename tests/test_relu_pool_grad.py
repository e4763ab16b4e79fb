"""The compiler's relu/max-pool backward rewrite (dualgraph/graph/passes/relu_pool_grad.py):

    relu_backward(max_pool2d_backward(g, y), y) -> max_pool2d_backward(relu_backward(g, max_pool2d(y)), y)

(1) the two sides are the same bits on every pooling window of the kernel tests, with ties,
NaN, infinities and signed zeros in y and in g; (2) a CNN trained eagerly and through
dg.function, where the plan rewrote its relu -> max-pool pairs, keeps the same parameters,
.grad and momentum bits call after call; (3) what the pass leaves alone."""
import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F
from dualgraph.ops import nn_ops as K
from dualgraph.ops.elementwise import _relu_backward

from special_value_checks import SPECIALS, bits, salted
from test_conv_kernels import POOLS, _pool_input


def _window(pool):
    kernel_size, stride, padding, dilation, ceil_mode = pool
    return dict(kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                ceil_mode=ceil_mode)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["random", "relu", "ties", "constant", "special"])
@pytest.mark.parametrize("pool", POOLS)
def test_the_two_sides_are_the_same_bits(pool, kind, dtype):
    a = _window(pool)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        shape = (2, 3, int(rng.integers(5, 10)), int(rng.integers(5, 10)))
        if kind == "relu":     # what the rewrite meets in a CNN: zeros where relu cut
            y = np.maximum(rng.standard_normal(shape), 0).astype(dtype)
        else:
            y = _pool_input(kind, shape, dtype, rng)
        p = K._max_pool2d_kernel(y, **a)
        for g in (rng.standard_normal(p.shape).astype(dtype),
                  salted(rng, p.shape).astype(dtype),
                  salted(rng, p.shape, SPECIALS[3:5], frac=0.5).astype(dtype)):  # signed zeros
            with np.errstate(all="ignore"):     # (as in a plan: huge g overflows)
                after = _relu_backward(K._max_pool2d_backward_kernel(g, y, **a), y)
                before = K._max_pool2d_backward_kernel(_relu_backward(g, p), y, **a)
            assert np.array_equal(bits(after), bits(before)), (pool, kind, seed)


def _cnn():
    nn = dg.nn
    dg.manual_seed(3)
    # relu -> 2x2 pool (rewritten), relu -> overlapping 3x3/2 pool (rewritten), pool -> relu
    # (nothing to rewrite: the mask already runs on the pooled gradient)
    return nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1),
                         nn.Conv2d(8, 8, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 2 * 2, 10))


def _step(m, opt, x, y):
    opt.zero_grad()
    loss = F.cross_entropy(m(x), y)
    loss.backward()
    opt.step()
    return loss


@pytest.mark.parametrize("fusion", ["off", "numba"])
def test_rewritten_cnn_trains_the_same_eager_and_compiled(fusion, request):
    if fusion == "numba":
        request.getfixturevalue("numba_fusion")
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal((6, 3, 18, 18)).astype(np.float32) for _ in range(4)]
    xs[2][0, 0, :4, :4] = 0.0            # windows of zeros after relu: ties at the mask
    xs = [dg.tensor(x) for x in xs]
    ys = [dg.tensor(rng.integers(0, 10, 6)) for _ in range(4)]
    me, mc = _cnn(), _cnn()
    oe = dg.optim.SGD(me.parameters(), lr=0.05, momentum=0.9)
    oc = dg.optim.SGD(mc.parameters(), lr=0.05, momentum=0.9)
    fast = dg.function(_step)
    for x, y in zip(xs, ys):
        le, lc = _step(me, oe, x, y), fast(mc, oc, x, y)
        assert np.array_equal(bits(le.detach().numpy()), bits(lc.detach().numpy()))
        for pe, pc in zip(me.parameters(), mc.parameters()):
            assert np.array_equal(bits(pe.detach().numpy()), bits(pc.detach().numpy()))
            assert np.array_equal(bits(pe.grad.numpy()), bits(pc.grad.numpy()))
            assert np.array_equal(bits(oe.state[pe]["momentum_buffer"].numpy()),
                                  bits(oc.state[pc]["momentum_buffer"].numpy()))
    assert fast.trace_count == 1
    plan = fast.plan_for(mc, oc, xs[0], ys[0])
    assert plan.stats["relu_pool_grad"] == {"rewritten": 2}
    ops = [s.op.name for s in plan.steps]
    assert ops.count("max_pool2d_backward") == 3 and ops.count("relu_backward") == 3


def _graph_grads(fetch_intermediate):
    """dL/dz for L = sum(max_pool2d(relu(z)) * w) in graph mode, and the gradient at relu's
    output ("fetched") or twice it ("read": a second reader of it)."""
    rng = np.random.default_rng(0)
    zv = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    wv = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    with dg.graph_mode():
        z = dg.placeholder(dg.float32, [2, 3, 8, 8])
        y = F.relu(z)
        p = F.max_pool2d(y, 2)
        loss = (p * dg.constant(wv)).sum()
        gz, gy = dg.gradients(loss, [z, y])
        # (the loss too: the forward's max_pool2d is then in the plan for the rewrite to use)
        fetches = {"no": [gz], "fetched": [gz, gy], "read": [gz, gy * 2.0]}[fetch_intermediate]
        fetches.append(loss)
        with dg.Session() as sess:
            out = sess.run(fetches, {z: zv})
    return out, zv, wv


def test_graph_mode_values_and_an_intermediate_read_elsewhere():
    out, zv, wv = _graph_grads("no")
    y = np.maximum(zv, 0)
    gy = K._max_pool2d_backward_kernel(wv, y, **_window(POOLS[0]))
    want = _relu_backward(gy, y)
    assert np.array_equal(bits(out[0]), bits(want))
    # the gradient at y fetched, or read by another node: kept as it is, and both right
    for how, scale in (("fetched", 1.0), ("read", 2.0)):
        both, _, _ = _graph_grads(how)
        assert np.array_equal(bits(both[0]), bits(want)), how
        assert np.array_equal(bits(both[1]), bits(gy * np.float32(scale))), how
