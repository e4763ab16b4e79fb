"""dg.cond and dg.while_loop as control-flow ops holding subgraphs (issue 10).

Every model runs eagerly (plain Python), in graph mode (Session), and through dg.function, over
several calls, and where torch is installed against PyTorch: values, gradients, and the state
they leave (.grad, optimizer slots, variables)."""
import numpy as np
import pytest

import dualgraph as dg

torch = pytest.importorskip("torch") if False else None  # (torch tests import it themselves)


def T(v, rg=False, dtype=None):
    return dg.tensor(np.asarray(v, dtype or np.float64), requires_grad=rg)


def close(a, b, tol=1e-10):
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def graph_gradcheck(build, x0, eps=1e-6, tol=1e-6):
    """float64 gradcheck in graph mode: dg.gradients of build(x) against central differences,
    both computed by running the graph."""
    g = dg.Graph()
    with g.as_default():
        x = dg.placeholder(np.shape(x0), "float64")
        y = build(x)
        (gx,) = dg.gradients(y, [x])
    run = dg.Session(g)
    x0 = np.asarray(x0, np.float64)
    ana = run.run(gx, {x: x0})
    num = np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        d = np.zeros_like(x0)
        d[i] = eps
        num[i] = (run.run(y, {x: x0 + d}) - run.run(y, {x: x0 - d})) / (2 * eps)
    np.testing.assert_allclose(ana, num, rtol=tol, atol=tol)


# ---------------------------------------------------------------- cond
def piecewise(x):
    return dg.cond(x > 0, lambda: dg.sqrt(x), lambda: 0 * x)


@pytest.mark.parametrize("v", [4.0, -4.0, 0.25])
def test_piecewise_sqrt_values_and_gradients_in_every_mode(v):
    xe = T(v, rg=True)
    ye = piecewise(xe)
    ye.backward()
    g = dg.Graph()
    with g.as_default():
        x = dg.placeholder((), "float64")
        y = piecewise(x)
        (gx,) = dg.gradients(y, [x])
    yg, gg = dg.Session(g).run([y, gx], {x: v})
    close(ye, yg)
    close(xe.grad, gg)
    assert np.isfinite(gg)  # no NaN from the branch not taken (the old where-select gave one)

    def loss(x):
        y = piecewise(x)
        y.backward()
        return y
    f = dg.function(loss)
    for _ in range(3):
        xc = T(v, rg=True)
        close(f(xc), ye)
        close(xc.grad, xe.grad)
    assert f.trace_count == 1


def test_piecewise_matches_pytorch():
    torch = pytest.importorskip("torch")
    for v in (4.0, -4.0):
        xt = torch.tensor(v, dtype=torch.float64, requires_grad=True)
        yt = torch.sqrt(xt) if xt > 0 else 0 * xt
        yt.backward()
        xe = T(v, rg=True)
        f = dg.function(lambda x: piecewise(x))
        y = f(xe)
        y.backward() if y.requires_grad else None
        close(y, yt.detach().numpy())
        g = dg.Graph()
        with g.as_default():
            x = dg.placeholder((), "float64")
            (gx,) = dg.gradients(piecewise(x), [x])
        close(dg.Session(g).run(gx, {x: v}), xt.grad.numpy())


@pytest.mark.parametrize("x0", [[1.5, 2.0], [-1.0, 0.5]])
def test_cond_gradcheck_float64_graph_mode(x0):
    graph_gradcheck(lambda x: dg.cond(x.sum() > 0, lambda: (x * x * x).sum(), lambda: (dg.sin(x) * 3).sum()), x0)


def test_only_the_taken_branch_runs_and_has_side_effects():
    g = dg.Graph()
    with g.as_default():
        x = dg.placeholder((), "float32")
        taken = dg.Variable(0.0, name="taken", trainable=False)
        other = dg.Variable(0.0, name="other", trainable=False)
        idx = dg.placeholder((), "int64")
        table = dg.constant([1.0, 2.0, 3.0])

        def yes():
            taken.assign_add(1.0)
            return table[idx]          # out of range when idx is 7: must not run then

        def no():
            other.assign_add(1.0)
            return x * 0
        y = dg.cond(x > 0, yes, no)
    s = dg.Session(g)
    assert s.run(y, {x: 1.0, idx: 2}) == 3.0
    assert s.run(y, {x: -1.0, idx: 7}) == 0.0
    assert s.run(y, {x: 2.0, idx: 0}) == 1.0
    assert s.run([taken, other]) == [2.0, 1.0]


def test_side_effects_on_parameters_in_dg_function_match_eager():
    def make():
        return dg.zeros(2), dg.zeros(2)

    def step(x, a, b):
        def yes():
            a.add_(x)
            return x.sum()

        def no():
            b.sub_(x)
            return -x.sum()
        return dg.cond(x.sum() > 0, yes, no)

    ae, be = make()
    ac, bc = make()
    f = dg.function(lambda x: step(x, ac, bc))
    for v in ([1.0, 2.0], [-3.0, 1.0], [0.5, 0.5], [-1.0, -1.0]):
        close(step(dg.tensor(v), ae, be), f(dg.tensor(v)), 1e-6)
        close(ae, ac, 1e-6)
        close(be, bc, 1e-6)
    assert f.trace_count == 1


def test_cond_branches_capture_placeholders_variables_and_parameters():
    w = dg.nn.Parameter(dg.tensor([2.0, -1.0]))
    g = dg.Graph()
    with g.as_default():
        x = dg.placeholder((2,), "float32")
        v = dg.Variable([1.0, 1.0], name="v")
        y = dg.cond(x.sum() > 0, lambda: (x * w * v).sum(), lambda: (x + v).sum())
        gx, gv, gw = dg.gradients(y, [x, v, w])
    s = dg.Session(g)
    out = s.run([y, gx, gv, gw], {x: [1.0, 2.0]})
    close(out[0], 0.0, 1e-6)
    close(out[1], [2.0, -1.0], 1e-6)
    close(out[2], [2.0, -2.0], 1e-6)
    close(out[3], [1.0, 2.0], 1e-6)
    out = s.run([y, gx, gv], {x: [-1.0, -2.0]})
    close(out[0], -1.0, 1e-6)
    close(out[1], [1.0, 1.0], 1e-6)
    close(out[2], [1.0, 1.0], 1e-6)


def test_nested_cond_and_structures():
    def f(x):
        return dg.cond(x.sum() > 0,
                       lambda: dg.cond(x[0] > 1, lambda: {"a": x * 2, "b": (x, 1.0)},
                                       lambda: {"a": x * 3, "b": (-x, 2.0)}),
                       lambda: {"a": x * 0, "b": (x, 3.0)})
    fc = dg.function(f)
    for v in ([2.0, 1.0], [0.5, 1.0], [-1.0, -1.0]):
        e, c = f(T(v)), fc(T(v))
        close(e["a"], c["a"])
        close(e["b"][0], c["b"][0])
        close(float(e["b"][1]), c["b"][1])
    assert fc.trace_count == 1


def test_cond_build_time_errors_name_the_branch():
    with dg.graph_mode():
        x = dg.placeholder((2,), "float32")
        with pytest.raises(dg.DualGraphError, match="same structure"):
            dg.cond(x.sum() > 0, lambda: (x, x), lambda: x)
        with pytest.raises(dg.DualGraphError, match="float32 in true_fn but int64 in false_fn"):
            dg.cond(x.sum() > 0, lambda: x, lambda: x.long())
        with pytest.raises(dg.DualGraphError, match="in true_fn but .* in false_fn; the branches must return the same ranks"):
            dg.cond(x.sum() > 0, lambda: x, lambda: x.sum())
        with pytest.raises(dg.DualGraphError, match="scalar predicate"):
            dg.cond(x > 0, lambda: x, lambda: x)


def test_branches_may_differ_in_static_shape():
    g = dg.Graph()
    with g.as_default():
        x = dg.placeholder((4,), "float32")
        y = dg.cond(x.sum() > 0, lambda: x[:2], lambda: x[:3])
    assert tuple(y.shape) == (None,)
    s = dg.Session(g)
    assert s.run(y, {x: np.ones(4, np.float32)}).shape == (2,)
    assert s.run(y, {x: -np.ones(4, np.float32)}).shape == (3,)


def test_cond_second_order():
    graph_gradcheck(lambda x: dg.gradients(
        dg.cond(x.sum() > 0, lambda: (x ** 3).sum(), lambda: (x ** 2).sum()), [x])[0].sum(), [1.0, 2.0])


# ---------------------------------------------------------------- while_loop
def power_loop(x, n):
    _, y = dg.while_loop(lambda i, y: i < n, lambda i, y: (i + 1, y * x), (0, dg.ones_like(x)))
    return y


def test_while_values_and_gradients_every_mode():
    for n in (0, 1, 3):
        xe = T([1.5, -2.0], rg=True)
        ye = power_loop(xe, n).sum()
        if ye.requires_grad:
            ye.backward()
        g = dg.Graph()
        with g.as_default():
            x = dg.placeholder((2,), "float64")
            k = dg.placeholder((), "int64")
            y = power_loop(x, k).sum()
            (gx,) = dg.gradients(y, [x])
        yg, gg = dg.Session(g).run([y, gx], {x: [1.5, -2.0], k: n})
        close(ye, yg)
        close(xe.grad if xe.grad is not None else np.zeros(2), gg)


def test_while_gradcheck_float64_graph_mode():
    def build(x):
        _, y, z = dg.while_loop(lambda i, y, z: i < 3,
                                lambda i, y, z: (i + 1, dg.sin(y) * x + z, z * 0.5 + y),
                                (0, x, x * 2))
        return (y * z).sum()
    graph_gradcheck(build, [0.3, -0.7])


def test_while_second_order():
    # d2/dx2 of x^4 (a loop of 4 multiplications) = 12 x^2
    g = dg.Graph()
    with g.as_default():
        x = dg.placeholder((), "float64")
        y = power_loop(x, 4)
        (g1,) = dg.gradients(y, [x])
        (g2,) = dg.gradients(g1, [x])
    s = dg.Session(g)
    for v in (1.0, -2.0, 0.5):
        y_, a, b = s.run([y, g1, g2], {x: v})
        close(y_, v ** 4)
        close(a, 4 * v ** 3)
        close(b, 12 * v ** 2)


def test_maximum_iterations():
    g = dg.Graph()
    with g.as_default():
        n = dg.placeholder((), "int64")
        i, s = dg.while_loop(lambda i, s: i < 100, lambda i, s: (i + 1, s + i), (0, 0),
                             maximum_iterations=n)
    sess = dg.Session(g)
    assert sess.run([i, s], {n: 5}) == [5, 10]
    assert sess.run([i, s], {n: 0}) == [0, 0]
    i2 = dg.while_loop(lambda i: i < 100, lambda i: i + 1, 0, maximum_iterations=7)
    assert i2 == 7  # eagerly: plain Python
    with dg.graph_mode() as g2:
        i3 = dg.while_loop(lambda i: i < 100, lambda i: i + 1, 0, maximum_iterations=7)
    assert dg.Session(g2).run(i3) == 7


def test_nested_loops_and_cond_inside_while():
    def f(x, n):
        def outer(i, acc):
            _, inner = dg.while_loop(lambda j, a: j < i, lambda j, a: (j + 1, a + x), (0, dg.zeros_like(x)))
            acc = dg.cond(inner.sum() > 3, lambda: acc + inner, lambda: acc - inner)
            return i + 1, acc
        return dg.while_loop(lambda i, acc: i < n, outer, (0, dg.zeros_like(x)))[1]

    fc = dg.function(lambda x, n: f(x, n).sum())
    for v, n in (([1.0, 0.5], 4), ([0.2, 0.1], 3), ([2.0, 2.0], 0)):
        xe = T(v, rg=True)
        ye = f(xe, n).sum()
        if ye.requires_grad:
            ye.backward()
        g = dg.Graph()
        with g.as_default():
            x = dg.placeholder((2,), "float64")
            k = dg.placeholder((), "int64")
            y = f(x, k).sum()
            (gx,) = dg.gradients(y, [x])
        yg, gg = dg.Session(g).run([y, gx], {x: v, k: n})
        close(ye, yg)
        close(xe.grad if xe.grad is not None else np.zeros(2), gg)
        close(fc(T(v), dg.tensor(n)), ye)
    assert fc.trace_count == 1


def test_loop_index_indexes_a_captured_tensor():
    g = dg.Graph()
    with g.as_default():
        xs = dg.placeholder((None, 3), "float64")
        n = dg.placeholder((), "int64")
        _, s = dg.while_loop(lambda i, s: i < n, lambda i, s: (i + 1, s + xs[i] * (i + 1)),
                             (0, dg.zeros(3, dtype=dg.float64)))
        (gx,) = dg.gradients(s.sum(), [xs])
    data = np.arange(12.0).reshape(4, 3)
    out, grad = dg.Session(g).run([s, gx], {xs: data, n: 3})
    close(out, data[0] + 2 * data[1] + 3 * data[2])
    close(grad, np.array([[1.0] * 3, [2.0] * 3, [3.0] * 3, [0.0] * 3]))


def test_loop_variable_changing_shape_is_a_build_time_error():
    with dg.graph_mode():
        x = dg.placeholder((2,), "float32")
        with pytest.raises(dg.DualGraphError, match=r"loop variable 0 has shape \[2\] on entry but \[3\].*shape_invariants"):
            dg.while_loop(lambda v: v.sum() < 10, lambda v: dg.cat([v, v[:1]]), x)
        with pytest.raises(dg.DualGraphError, match="structure of loop_vars"):
            dg.while_loop(lambda a, b: a.sum() < 1, lambda a, b: (a,), (x, x))
        with pytest.raises(dg.DualGraphError, match="enters as float32 but body_fn returns int64"):
            dg.while_loop(lambda v: v.sum() < 10, lambda v: v.long(), x)


def test_shape_invariants_let_a_loop_variable_grow():
    g = dg.Graph()
    with g.as_default():
        x = dg.placeholder((1,), "float32")
        v = dg.while_loop(lambda v: v.sum() < 10, lambda v: dg.cat([v, v]), x,
                          shape_invariants=[None])
    assert tuple(v.shape) == (None,)
    out = dg.Session(g).run(v, {x: [1.5]})
    assert out.tolist() == [1.5] * 8


def test_parameter_as_loop_variable_and_capture_train_like_eager():
    """An nn.Parameter as a loop variable and a capture; SGD with momentum over several calls of
    a dg.function and eagerly: the same losses, .grad and parameters."""
    def make():
        dg.manual_seed(0)
        w = dg.nn.Parameter(dg.randn(3, dtype=dg.float64))
        u = dg.nn.Parameter(dg.randn(3, dtype=dg.float64))
        return w, u, dg.optim.SGD([w, u], lr=0.1, momentum=0.9)

    def step(w, u, opt, x, n):
        opt.zero_grad()
        _, h = dg.while_loop(lambda i, h: i < n, lambda i, h: (i + 1, dg.tanh(h * u + x)), (0, w))
        loss = (h * h).sum()
        loss.backward()
        opt.step()
        return loss

    we, ue, oe = make()
    wc, uc, oc = make()
    f = dg.function(lambda x, n: step(wc, uc, oc, x, n))
    for x, n in (([0.1, 0.2, 0.3], 2), ([1.0, -1.0, 0.5], 3), ([0.0, 0.5, -0.5], 1), ([0.3, 0.3, 0.3], 4)):
        le = step(we, ue, oe, T(x), n)
        lc = f(T(x), dg.tensor(n))
        close(le, lc)
        close(we, wc)
        close(ue, uc)
        close(we.grad, wc.grad)
        close(ue.grad, uc.grad)
    assert f.trace_count == 1


def test_state_written_in_a_loop_body():
    g = dg.Graph()
    with g.as_default():
        n = dg.placeholder((), "int64")
        count = dg.Variable(0, name="count", trainable=False)
        i = dg.while_loop(lambda i: i < n, lambda i: (count.assign_add(2), i + 1)[1], 0)
    s = dg.Session(g)
    assert s.run(i, {n: 3}) == 3
    assert s.run(count) == 6
    assert s.run(i, {n: 2}) == 2
    assert s.run(count) == 10


def elman(xs, n, W, U, b, h0):
    def body(t, h):
        return t + 1, dg.tanh(xs[t] @ W + h @ U + b)
    return dg.while_loop(lambda t, h: t < n, body, (0, h0))[1]


def test_elman_rnn_variable_length_one_trace_matches_eager_and_pytorch():
    rng = np.random.default_rng(0)
    T_max, B, D, H = 7, 2, 3, 4
    W0, U0, b0 = rng.normal(size=(D, H)) * 0.5, rng.normal(size=(H, H)) * 0.5, rng.normal(size=H) * 0.1

    def params():
        return [dg.nn.Parameter(dg.tensor(a)) for a in (W0, U0, b0)]

    def loss_of(xs, n, W, U, b):
        h = elman(xs, n, W, U, b, dg.zeros(B, H, dtype=dg.float64))
        loss = (h * h).sum()
        loss.backward()
        return loss

    Pc = params()
    f = dg.function(lambda xs, n: loss_of(xs, n, *Pc))
    for n in (1, 4, 7, 2):
        xs = rng.normal(size=(T_max, B, D))
        Pe = params()
        le = loss_of(dg.tensor(xs), n, *Pe)
        for p in Pc:
            p.grad = None
        lc = f(dg.tensor(xs), dg.tensor(n))
        close(le, lc)
        for a, b in zip(Pe, Pc):
            close(a.grad, b.grad)
        try:
            import torch
        except ImportError:
            continue
        Wt, Ut, bt = (torch.tensor(a, requires_grad=True) for a in (W0, U0, b0))
        h = torch.zeros(B, H, dtype=torch.float64)
        for t in range(n):
            h = torch.tanh(torch.tensor(xs[t]) @ Wt + h @ Ut + bt)
        lt = (h * h).sum()
        lt.backward()
        close(lc, lt.detach().numpy())
        for a, b in zip(Pc, (Wt, Ut, bt)):
            close(a.grad, b.grad.numpy())
    assert f.trace_count == 1


def test_gradient_through_a_random_body_is_refused():
    with dg.graph_mode():
        x = dg.placeholder((3,), "float32")
        y = dg.while_loop(lambda i, y: i < 2, lambda i, y: (i + 1, dg.nn.functional.dropout(y, 0.5)), (0, x))[1]
        with pytest.raises(dg.DualGraphError, match="draws random numbers"):
            dg.gradients(y.sum(), [x])


def test_inplace_write_to_an_outer_tensor_is_refused():
    with dg.graph_mode():
        x = dg.placeholder((3,), "float32")
        y = x * 1
        with pytest.raises(dg.DualGraphError, match="from outside dg.cond true_fn"):
            dg.cond(x.sum() > 0, lambda: y.add_(1), lambda: y)


def test_plan_stats_and_subplans_are_optimised():
    g = dg.Graph()
    with g.as_default():
        x = dg.placeholder((3,), "float32")
        y = dg.cond(x.sum() > 0, lambda: (x * 1 + 0) * (x * 1 + 0), lambda: x + (2 * 3))
    plan = g.compile(y)
    assert plan.stats["control_flow"] == 1
    (branch_t, branch_f) = [s for s in plan.steps if s.op.name == "cond"][0].attrs["branches"]
    assert branch_t.plan.stats["cse"]  # the repeated x * 1 + 0 is computed once
    out = plan(np.ones(3, np.float32))
    close(out, np.ones(3), 1e-6)


def test_module_with_buffers_in_a_branch_trains_like_eager():
    """BatchNorm's running statistics (buffers, written in place) change only when the branch
    holding it is taken; Adam's state and the parameters follow eager call after call."""
    def make():
        dg.manual_seed(1)
        lin = dg.nn.Linear(3, 3).double()
        bn = dg.nn.BatchNorm1d(3).double()
        opt = dg.optim.Adam(list(lin.parameters()) + list(bn.parameters()), lr=0.01)
        return lin, bn, opt

    def step(lin, bn, opt, x):
        opt.zero_grad()
        h = lin(x)
        y = dg.cond(h.sum() > 0, lambda: bn(h), lambda: bn(h * 2) + 1)
        loss = (y * y).mean()
        loss.backward()
        opt.step()
        return loss

    le_, bne, oe = make()
    lc_, bnc, oc = make()
    f = dg.function(lambda x: step(lc_, bnc, oc, x))
    rng = np.random.default_rng(3)
    for k in range(5):
        x = rng.normal(size=(4, 3)) + (1.0 if k % 2 else -1.0)
        close(step(le_, bne, oe, T(x)), f(T(x)))
        for a, b in zip(list(le_.parameters()) + list(bne.parameters()), list(lc_.parameters()) + list(bnc.parameters())):
            close(a, b)
            close(a.grad, b.grad)
        close(bne.running_mean, bnc.running_mean)
        close(bne.running_var, bnc.running_var)
        assert int(bne.num_batches_tracked) == int(bnc.num_batches_tracked)
    assert f.trace_count == 1


def test_a_gradient_that_exists_at_some_calls_only_is_refused_when_absent():
    """p used in one branch only: eagerly p.grad stays None when the other branch runs, which a
    compiled step cannot mirror (it would hold zeros): that call is refused, the others match."""
    p_e = dg.nn.Parameter(dg.tensor([1.0, 2.0], dtype=dg.float64))
    p_c = dg.nn.Parameter(dg.tensor([1.0, 2.0], dtype=dg.float64))

    q = dg.nn.Parameter(dg.tensor(3.0, dtype=dg.float64))  # (so that eagerly backward() runs)

    def step(p, x):
        p.grad = None
        loss = dg.cond(x.sum() > 0, lambda: (p * x).sum(), lambda: x.sum() * 2) * q
        loss.backward()
        return loss
    f = dg.function(lambda x: step(p_c, x))
    x = T([1.0, 3.0])
    close(step(p_e, x), f(x))
    close(p_e.grad, p_c.grad)
    x = T([-1.0, -3.0])
    step(p_e, x)
    assert p_e.grad is None
    with pytest.raises(dg.DualGraphError, match=r"backward\(\): 'p_c' \(shape \[2\]\) has no gradient at this call"):
        f(x)  # (the message names the parameter as the function reaches it)

    # a loop body that uses w and runs 0 times: the same
    w = dg.nn.Parameter(dg.tensor([0.5], dtype=dg.float64))

    def loop(n):
        w.grad = None
        out = dg.while_loop(lambda i, h: i < n, lambda i, h: (i + 1, h * w), (0, dg.ones(1, dtype=dg.float64)))[1]
        (out * q).sum().backward()
        return out
    g = dg.function(loop)
    close(g(dg.tensor(3)), [0.125])
    close(w.grad, [2.25])
    close(loop(0), [1.0])
    assert w.grad is None
    with pytest.raises(dg.DualGraphError, match="ran 0 times"):
        g(dg.tensor(0))


def test_slices_with_symbolic_starts_in_a_loop_body():
    def windows(xs, n):
        _, s = dg.while_loop(lambda i, s: i < n, lambda i, s: (i + 1, s + xs[i:i + 2].sum(0) * (i + 1)),
                             (0, dg.zeros(3, dtype=dg.float64)))
        return s
    data = np.arange(15.0).reshape(5, 3)
    xe = T(data, rg=True)
    ye = windows(xe, 3)
    (ye * ye).sum().backward()
    g = dg.Graph()
    with g.as_default():
        xs = dg.placeholder((None, 3), "float64")
        n = dg.placeholder((), "int64")
        y = windows(xs, n)
        (gx,) = dg.gradients((y * y).sum(), [xs])
    out, grad = dg.Session(g).run([y, gx], {xs: data, n: 3})
    close(ye, out)
    close(xe.grad, grad)
    f = dg.function(lambda x, k: windows(x, k))
    close(f(T(data), dg.tensor(3)), out)
    close(f(T(data), dg.tensor(4)), windows(T(data), 4))
    assert f.trace_count == 1
