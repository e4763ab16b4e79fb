"""A compiled plan lays its values out as eager code does, so what reads them rounds the same.

Eagerly an elementwise result takes its inputs' layout (numpy's K order: `x.t() * 0.5` is
column-major); a plan used to write it into a C-ordered buffer of its own (out=), and a product
or a reduction reading it then rounded otherwise: `(x.t() * 0.5) @ w` differed by an ulp
compiled, TransformerEncoderLayer(norm_first, batch_first)'s norm1.bias.grad too. A plan now
writes into its buffers only when the inputs are in C order (checked at run time where a feed,
state or a view may be laid out otherwise); fused groups run their steps unfused then. Every
case runs eagerly and compiled over several calls, with fusion off and with numba."""
import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn as nn


@pytest.fixture(params=["unfused", "numba"])
def fusion(request):
    request.getfixturevalue("no_fusion" if request.param == "unfused" else "numba_fusion")


def _f_order(shape, seed):
    return dg.from_numpy(np.asfortranarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32)))


def _scaled_transpose_product(x, w):
    return (x.t() * 0.5) @ w


def _chain_on_transpose_product(x, w):
    return (((x.t() * 0.5 + 1.0) * 1.5 - 0.25) * 2.0) @ w


def _chain_on_transpose_sum(x, w):
    return ((x.t() + 1.0) * 3.0).sum(0) + (w.t() * 2.0).sum(1)


def _column_major_feed_product(x, w):
    return (x * 0.5).t() @ w


def _returned_chain(x, w):
    return (x.t() * 2.0 + 1.0) * 0.5, w


CASES = {
    "scaled transpose @ w": (_scaled_transpose_product, lambda: (dg.randn(100, 3), dg.randn(100, 5))),
    "chain on a transpose @ w": (_chain_on_transpose_product, lambda: (dg.randn(100, 3), dg.randn(100, 5))),
    "chain on a transpose, summed": (_chain_on_transpose_sum, lambda: (dg.randn(40, 7), dg.randn(7, 40))),
    "column-major feeds": (_column_major_feed_product, lambda: (_f_order((100, 3), 1), _f_order((100, 5), 2))),
    "returned chain keeps its layout": (_returned_chain, lambda: (dg.randn(30, 4), _f_order((6, 5), 3))),
}


@pytest.mark.parametrize("case", CASES)
def test_compiled_values_and_layouts_equal_eager(case, fusion):
    fn, make = CASES[case]
    dg.manual_seed(0)
    args = make()
    outs = fn(*args)
    want = [o.numpy() for o in (outs if isinstance(outs, tuple) else (outs,))]
    f = dg.function(fn)
    for _ in range(3):
        got = f(*args)
        got = [o.numpy() for o in (got if isinstance(got, tuple) else (got,))]
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
            assert a.strides == b.strides, f"{case}: layout {a.strides} compiled, {b.strides} eagerly"


def test_a_transformer_layer_training_step_equals_eager(fusion):
    """norm_first + batch_first: attention's transposes feed the layer norms' reductions."""
    def build():
        dg.manual_seed(0)
        m = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, norm_first=True, batch_first=True)
        return m, dg.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)

    def step(m, opt, x):
        opt.zero_grad()
        loss = m(x).pow(2).mean()
        loss.backward()
        opt.step()
        return loss

    dg.manual_seed(1)
    x = dg.randn(3, 5, 16)
    me, oe = build()
    mc, oc = build()
    f = dg.function(step)
    for i in range(3):
        le, lc = step(me, oe, x), f(mc, oc, x)
        assert le.item() == lc.item(), f"call {i}: loss"
        for (n, pe), pc in zip(me.named_parameters(), mc.parameters()):
            np.testing.assert_array_equal(pc.grad.numpy(), pe.grad.numpy(), err_msg=f"call {i}: {n}.grad")
            np.testing.assert_array_equal(pc.detach().numpy(), pe.detach().numpy(), err_msg=f"call {i}: {n}")


def _view_and_product(y):
    t = (y * 2.0).transpose(0, 1)
    return t, t * 3.0


def _view_and_sum(y):
    t = (y * 2.0).transpose(0, 1)
    return t, t.sum()


@pytest.mark.parametrize("fn", [_view_and_product, _view_and_sum])
def test_differentiable_outputs_keep_their_layout(fn, fusion):
    """Several outputs requiring grad are joined into one autograd node (packed flat, split
    again): each comes back laid out as eagerly, so a product outside reads the same layout."""
    dg.manual_seed(0)
    y = dg.randn(5, 3, 6, requires_grad=True)
    w = dg.randn(6, 2)
    f = dg.function(fn)
    for _ in range(3):
        grads, outs = [], []
        for run in (fn, f):
            y.grad = None
            a, b = run(y)
            (a @ w).sum().backward(retain_graph=True)
            (b * b).sum().backward()
            outs.append((a.detach().numpy(), (a @ w).detach().numpy()))
            grads.append(y.grad.numpy().copy())
        (ea, eaw), (ca, caw) = outs
        assert ca.strides == ea.strides
        np.testing.assert_array_equal(ca, ea)
        np.testing.assert_array_equal(caw, eaw)
        np.testing.assert_array_equal(grads[1], grads[0])


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_a_batch_first_stacked_rnn_output_is_laid_out_as_eagerly(cls, fusion):
    dg.manual_seed(0)
    m = getattr(nn, cls)(4, 6, batch_first=True, num_layers=2)
    x = dg.randn(3, 5, 4)

    def f(x):
        out = m(x)[0]
        return out, out.sum()
    want = f(x)[0].detach().numpy()
    g = dg.function(f)
    for _ in range(3):
        got = g(x)[0].detach().numpy()
        assert got.strides == want.strides
        np.testing.assert_array_equal(got, want)
