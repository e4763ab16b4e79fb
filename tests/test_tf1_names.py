"""TensorFlow 1.x's names over the registry: dg.reduce_*, dg.square, dg.random_normal /
random_uniform, dg.stop_gradient, dg.nn.sparse_softmax_cross_entropy_with_logits,
dg.train.*Optimizer(...).minimize, dg.print."""
import io

import numpy as np
import pytest

import dualgraph as dg


def _regression(make_opt, steps):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 1)).astype(np.float32)
    Y = 2 * X + 1
    g = dg.Graph()
    with dg.graph_mode(g):
        x = dg.placeholder([None, 1])
        y = dg.placeholder([None, 1])
        W = dg.Variable(np.zeros((1, 1), np.float32), name="W")
        b = dg.Variable(np.zeros(1, np.float32), name="b")
        loss = dg.reduce_mean(dg.square(dg.matmul(x, W) + b - y))
        train = make_opt().minimize(loss)
        init = dg.global_variables_initializer()
    sess = dg.Session(g)
    sess.run(init)
    first = sess.run(loss, {x: X, y: Y})
    for _ in range(steps):
        sess.run(train, {x: X, y: Y})
    w, bb = sess.run([W, b])
    return float(first), float(sess.run(loss, {x: X, y: Y})), np.asarray(w), np.asarray(bb)


def test_gradient_descent_regression_converges():
    first, last, w, b = _regression(lambda: dg.train.GradientDescentOptimizer(0.1), 200)
    assert last < 1e-4 < first
    assert np.allclose(w, [[2.0]], atol=1e-2) and np.allclose(b, [1.0], atol=1e-2)


def test_adam_regression_converges():
    first, last, w, b = _regression(lambda: dg.train.AdamOptimizer(0.1, beta1=0.9, beta2=0.999, epsilon=1e-8), 300)
    assert last < 1e-3 < first
    assert np.allclose(w, [[2.0]], atol=5e-2) and np.allclose(b, [1.0], atol=5e-2)


def test_minimize_matches_dg_optim_and_torch_adam():
    """Three Adam steps through dg.train equal torch.optim.Adam's on the same loss."""
    torch = pytest.importorskip("torch")
    w0 = np.array([[0.5, -1.0], [2.0, 0.3]], np.float32)
    X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, 0.3]], np.float32)
    g = dg.Graph()
    with dg.graph_mode(g):
        x = dg.placeholder([None, 2])
        W = dg.Variable(w0.copy())
        loss = dg.reduce_sum(dg.square(dg.matmul(x, W)), axis=[0, 1])
        step = dg.train.AdamOptimizer(0.01, 0.8, 0.9, 1e-6).minimize(loss, var_list=[W])
    sess = dg.Session(g)
    tw = torch.tensor(w0.copy(), requires_grad=True)
    topt = torch.optim.Adam([tw], lr=0.01, betas=(0.8, 0.9), eps=1e-6)
    for _ in range(3):
        sess.run(step, {x: X})
        topt.zero_grad()
        (torch.tensor(X) @ tw).pow(2).sum().backward()
        topt.step()
    assert np.allclose(np.asarray(sess.run(W)), tw.detach().numpy(), atol=1e-6)


def test_minimize_global_step_and_eager():
    g = dg.Graph()
    with dg.graph_mode(g):
        v = dg.Variable(np.array([3.0], np.float32))
        gs = dg.Variable(np.array(0, np.int64))
        op = dg.train.GradientDescentOptimizer(0.5).minimize(dg.reduce_sum(dg.square(v)), global_step=gs)
    sess = dg.Session(g)
    sess.run(op)
    sess.run(op)
    assert int(sess.run(gs)) == 2 and np.allclose(sess.run(v), [0.0])   # 3 - 0.5*6 = 0
    # eagerly: one step now, var_list required
    p = dg.tensor([1.0, -2.0], requires_grad=True)
    opt = dg.train.GradientDescentOptimizer(0.25)
    assert opt.minimize(dg.reduce_sum(dg.square(p)), var_list=[p]) is None
    assert p.tolist() == [0.5, -1.0]
    with pytest.raises(ValueError, match="needs var_list="):
        opt.minimize(dg.reduce_sum(dg.square(p)))


def test_reductions_equal_numpy_eager_and_graph():
    a = np.random.default_rng(1).normal(size=(3, 4, 5)).astype(np.float32)
    cases = [(None, False), (0, False), (1, True), ([0, 2], False), ((1, 2), True), (-1, False)]
    for axis, keep in cases:
        npax = tuple(axis) if isinstance(axis, list) else axis
        for name, ref in [("reduce_sum", np.sum), ("reduce_mean", np.mean), ("reduce_max", np.max),
                          ("reduce_min", np.min)]:
            fn = getattr(dg, name) if hasattr(dg, name) else getattr(dg.graph.tf1, name)
            want = ref(a, axis=npax, keepdims=keep)
            got = fn(dg.tensor(a), axis=axis, keepdims=keep)
            assert got.shape == want.shape and np.allclose(got.numpy(), want, atol=1e-5), (name, axis)
            with dg.graph_mode() as g:
                p = dg.placeholder([3, 4, 5])
                out = fn(p, axis=axis, keepdims=keep)
            assert np.allclose(np.asarray(dg.Session(g).run(out, {p: a})), want, atol=1e-5)
    assert dg.reduce_sum(a, reduction_indices=1).shape == (3, 5)       # numpy input, TF1's old keyword
    assert np.array_equal(dg.square(dg.tensor([1., -2., 3.])).numpy(), [1., 4., 9.])


def test_stop_gradient_blocks_gradients():
    with dg.graph_mode() as g:
        x = dg.placeholder([3])
        y = dg.reduce_sum(dg.square(x) + dg.stop_gradient(dg.square(x)) * x)
        (gx,) = dg.gradients(y, [x])
    xv = np.array([1., 2., 3.], np.float32)
    # d/dx [x^2 + sg(x^2) * x] = 2x + x^2 (the stopped factor is a constant)
    assert np.allclose(np.asarray(dg.Session(g).run(gx, {x: xv})), 2 * xv + xv ** 2)
    t = dg.tensor(xv, requires_grad=True)
    dg.reduce_sum(dg.stop_gradient(t) * t).backward()
    assert np.allclose(t.grad.numpy(), xv)


def test_sparse_softmax_cross_entropy_equals_cross_entropy():
    F = dg.nn.functional
    rng = np.random.default_rng(2)
    logits = dg.tensor(rng.normal(size=(5, 4)).astype(np.float32), requires_grad=True)
    labels = dg.tensor([0, 3, 1, 1, 2])
    out = dg.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    ref = F.cross_entropy(logits, labels, reduction="none")
    assert out.shape == (5,) and np.allclose(out.detach().numpy(), ref.detach().numpy())
    torch = pytest.importorskip("torch")
    tref = torch.nn.functional.cross_entropy(torch.tensor(logits.detach().numpy()),
                                             torch.tensor(labels.numpy()), reduction="none")
    assert np.allclose(out.detach().numpy(), tref.numpy(), atol=1e-6)
    # classes on the last axis for rank > 2, as TF
    l3 = rng.normal(size=(2, 3, 4)).astype(np.float32)
    lab3 = np.array([[0, 1, 2], [3, 3, 0]])
    out3 = dg.nn.sparse_softmax_cross_entropy_with_logits(labels=dg.tensor(lab3), logits=dg.tensor(l3))
    ls = l3 - l3.max(-1, keepdims=True)
    want = -(ls - np.log(np.exp(ls).sum(-1, keepdims=True)))[np.arange(2)[:, None], np.arange(3), lab3]
    assert out3.shape == (2, 3) and np.allclose(out3.numpy(), want, atol=1e-5)
    with pytest.raises(ValueError, match="named"):
        dg.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    with pytest.raises(ValueError, match="Rank mismatch"):
        dg.nn.sparse_softmax_cross_entropy_with_logits(labels=dg.tensor([0, 1]), logits=logits)
    # and in a graph, with its gradient
    with dg.graph_mode() as g:
        lg = dg.placeholder([5, 4])
        loss = dg.reduce_mean(dg.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=lg))
        (glg,) = dg.gradients(loss, [lg])
    ref.mean().backward()
    got = dg.Session(g).run(glg, {lg: logits.detach().numpy()})
    assert np.allclose(np.asarray(got), logits.grad.numpy(), atol=1e-6)


def test_random_normal_and_uniform():
    dg.manual_seed(0)
    z = dg.random_normal([4000], mean=3.0, stddev=0.5)
    assert z.shape == (4000,) and z.dtype == dg.float32
    assert abs(z.mean().item() - 3.0) < 0.05 and abs(z.std().item() - 0.5) < 0.05
    u = dg.random_uniform([4000], minval=-2.0, maxval=1.0, dtype=dg.float64)
    assert u.dtype == dg.float64 and -2.0 <= u.min().item() and u.max().item() < 1.0
    assert abs(u.mean().item() + 0.5) < 0.1
    i = dg.random_uniform([100], minval=3, maxval=6, dtype=dg.int64)
    assert set(i.tolist()) <= {3, 4, 5} and i.dtype == dg.int64
    with pytest.raises(ValueError, match="Must specify maxval for integer dtype"):
        dg.random_uniform([2], dtype=dg.int64)
    # an op seed: the same numbers each call, the global generator untouched
    state = dg.get_rng_state()
    a = dg.random_normal([3], seed=7)
    assert a.tolist() == dg.random_normal([3], seed=7).tolist()
    assert dg.get_rng_state() == state
    assert dg.random_uniform([], seed=1).shape == ()
    # in a graph: a new draw at every run (the global generator)
    with dg.graph_mode() as g:
        r = dg.random_normal([3], stddev=2.0)
    s = dg.Session(g)
    assert not np.allclose(s.run(r), s.run(r))
    with pytest.raises(ValueError, match="no per-op seed"):
        with dg.graph_mode():
            dg.random_normal([3], seed=1)


def test_print():
    buf = io.StringIO()
    assert dg.print("loss:", dg.tensor(0.5), dg.tensor([1., 2.]), output_stream=buf) is None
    assert buf.getvalue() == "loss: 0.5 [1. 2.]\n"
    buf = io.StringIO()
    dg.print("a", 1, sep="|", end="!", output_stream=buf)
    assert buf.getvalue() == "a|1!"
    with pytest.raises(RuntimeError, match="dg.print while a graph is built"):
        with dg.graph_mode():
            dg.print("x", dg.placeholder([2]))

    @dg.function
    def f(x):
        dg.print(x)
        return x * 2

    with pytest.raises(RuntimeError, match="no run-time print op"):
        f(dg.ones(2))
    assert print is not dg.print                  # the builtin is untouched


@pytest.mark.parametrize("make", [lambda: dg.train.GradientDescentOptimizer(0.1),
                                  lambda: dg.train.AdamOptimizer(0.05, 0.8, 0.9),
                                  lambda: dg.train.MomentumOptimizer(0.1, 0.9)])
def test_minimize_inside_dg_function_equals_eager(make):
    w_e = dg.tensor([1.0, -2.0], requires_grad=True)
    w_c = dg.tensor([1.0, -2.0], requires_grad=True)
    opt_e, opt_c = make(), make()

    @dg.function
    def step(x):
        loss = dg.reduce_sum(dg.square(w_c * x - 1.0))
        opt_c.minimize(loss)                      # var_list: the graph's trainable tensors
        return loss

    for k in range(4):
        x = dg.tensor([0.5, 1.5]) * (k + 1)
        le = dg.reduce_sum(dg.square(w_e * x - 1.0))
        opt_e.minimize(le, var_list=[w_e])
        lc = step(x)
        assert np.allclose(le.item(), lc.item(), rtol=1e-6)
        assert np.allclose(w_e.detach().numpy(), w_c.detach().numpy(), rtol=1e-6)
    assert step.trace_count == 1


def test_torch_optimizer_minimize_on_a_graph_variable_trains():
    # (the optimizer's state was built as graph nodes before switching to eager: a failure)
    import numpy as np
    g = dg.Graph()
    with dg.graph_mode(g):
        W = dg.Variable(np.ones(3, np.float32))
        x = dg.placeholder(dg.float32, [3])
        loss = ((W * x - 1.0) ** 2).sum()
        train = dg.optim.Adam([W], lr=0.1).minimize(loss)
    sess = dg.Session(g)
    first = sess.run(loss, {x: np.array([1.0, 2.0, 3.0], np.float32)})
    for _ in range(50):
        sess.run(train, {x: np.array([1.0, 2.0, 3.0], np.float32)})
    assert sess.run(loss, {x: np.array([1.0, 2.0, 3.0], np.float32)}) < 0.1 * first
