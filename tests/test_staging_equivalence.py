"""Staging equivalence: the same stateful program gives the same numbers eagerly and compiled by
dg.function, call after call (programs and harness: tests/staging_programs.py).

1. Every program of the table, eagerly vs compiled: after every call the returned values, each
   parameter and its .grad (None-ness too), the optimizer state, the learning rates and the
   module buffers are compared (rtol 1e-5, atol 1e-6); plus the program's own independent
   expectations (e.g. lr=0 does not move the weights, a.grad == [2, 4, 6]) and, where the
   program says so, the trace count and the retrace warning.
2. The same program in torch from the same initial weights vs dualgraph eager (this checks the
   harness and the programs themselves).
3. fn.explain() mentions what was lifted (lr) and what was guarded (scale).
4. Seeded random stateful programs, eagerly vs compiled (and vs torch); DG_STAGING_SEEDS seeds.
5. TF1 graph mode: linear regression vs torch SGD, the handle rules of variables and assign
   ops, dg.group, the initializer, trainable_variables, placeholder argument orders.
6. Two graph-mode bug checks (a transposed view made contiguous, gradients through copy_).
7. A DataLoader iterated inside a traced function raises a clear error.
"""
import re
import warnings

import numpy as np
import pytest

import dualgraph as dg
import staging_programs as sp


def _torch():
    return pytest.importorskip("torch")


# ================================================================ 1-2. the table
@pytest.mark.parametrize("program", sp.PROGRAMS, ids=lambda p: p.id)
def test_compiled_equals_eager_call_after_call(program):
    sp.run_both(program)


@pytest.mark.parametrize("program", [p for p in sp.PROGRAMS if p.torch], ids=lambda p: p.id)
def test_eager_equals_torch_call_after_call(program):
    _torch()
    sp.run_torch(program)


def test_eager_runs_of_the_table_satisfy_their_own_checks():
    """The independent expectations hold eagerly (a failing check in the compiled test is then
    a staging difference, not a wrong expectation). Warning patterns are checked to be regexes
    that accept the intended message."""
    for p in sp.PROGRAMS:
        sp.run_eager(p)
    assert re.search(sp.mentions("scale", "2.0", "3.0"), "closure variable 'scale' changed: 2.0 -> 3.0")
    assert not re.search(sp.mentions("alpha", "0.5", "0.25"), "alpha changed: 0.25 -> 0.125")


# ================================================================ 3. explain
def _run_compiled(program, calls=None):
    fn = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in sp.run(program, dg, compiled=True, calls=calls, expect_warnings=False):
            fn = c.fn
    return fn


def test_explain_names_the_lifted_learning_rate():
    fn = _run_compiled(sp.BY_ID["StepLR+SGD-momentum-wd"])
    text = fn.explain()
    assert isinstance(text, str) and text
    assert re.search(r"\blr\b", text), text


def test_explain_names_the_guarded_closure_number():
    fn = _run_compiled(sp.BY_ID["closure-number-scale"], calls=3)
    text = fn.explain()
    assert isinstance(text, str)
    assert re.search(r"\bscale\b", text), text


# ================================================================ 4. random programs
@pytest.mark.parametrize("seed", sp.staging_seeds())
def test_random_program_compiled_equals_eager(seed):
    sp.run_both(sp.random_case(seed))


@pytest.mark.parametrize("seed", sp.staging_seeds())
def test_random_program_eager_equals_torch(seed):
    _torch()
    sp.run_torch(sp.random_case(seed))


def test_random_programs_are_seeded_and_varied():
    assert sp.random_program(3) == sp.random_program(3)
    progs = [sp.random_program(s) for s in range(30)]
    kinds = {op[0] for ops in progs for op in ops}
    assert kinds == {"fwd_bwd", "step", "zero_grad", "buf_mul", "buf_add", "buf_copy",
                     "read_buf", "read_grad"}
    assert all(any(op[0] == "fwd_bwd" for op in ops) for ops in progs)
    text = sp.format_program(3, progs[3])
    assert "seed=3" in text and "backward()" in text


# ================================================================ 5. TF1 graph mode
def test_tf1_linear_regression_equals_torch_sgd():
    torch = _torch()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 1)).astype(np.float32)
    Y = (3 * X + 0.5 + 0.1 * rng.standard_normal((16, 1))).astype(np.float32)
    with dg.graph_mode() as g:
        x = dg.placeholder(dg.float32, [None, 1])
        y = dg.placeholder(dg.float32, [None, 1])
        W = dg.Variable(np.zeros((1, 1), np.float32))
        b = dg.Variable(np.zeros(1, np.float32))
        loss = ((x @ W + b - y) ** 2).mean()
        opt = dg.optim.SGD([W, b], lr=0.1)
        train = opt.minimize(loss)
        init = dg.global_variables_initializer()
    sess = dg.Session(g)
    sess.run(init)
    for _ in range(20):
        sess.run(train, {x: X, y: Y})
    Wv, bv = sess.run([W, b])

    tW = torch.zeros((1, 1), requires_grad=True)
    tb = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([tW, tb], lr=0.1)
    tX, tY = torch.tensor(X), torch.tensor(Y)
    for _ in range(20):
        topt.zero_grad()
        ((tX @ tW + tb - tY) ** 2).mean().backward()
        topt.step()
    np.testing.assert_allclose(Wv, tW.detach().numpy(), rtol=1e-5, err_msg="W")
    np.testing.assert_allclose(bv, tb.detach().numpy(), rtol=1e-5, err_msg="b")
    assert abs(float(Wv.ravel()[0])) > 1.0        # it trained


def test_tf1_variable_handle_stays_the_variable_after_an_in_place_update():
    X = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    W0 = np.array([[1.0], [0.5]], np.float32)
    gW_np = X.sum(0).reshape(2, 1)                  # d/dW sum(x @ W)
    with dg.graph_mode() as g:
        x = dg.placeholder([None, 2])
        W = dg.Variable(W0, name="W")
        name = W.name
        L = (x @ W).sum()
        (gW,) = dg.gradients(L, [W])
        upd = W.sub_(0.1 * gW)
        assert W.name == name                        # still the variable
        (gW2,) = dg.gradients(L, [W])
        assert gW2 is not None                       # still differentiable w.r.t. the variable
    sess = dg.Session(g)
    for _ in range(3):                               # reading applies no update
        np.testing.assert_allclose(sess.run(W), W0, err_msg="sess.run(W) applied the update")
    np.testing.assert_allclose(sess.run(gW2, {x: X}), gW_np, rtol=1e-6)
    for k in (1, 2):                                 # each run of the update applies it once
        sess.run(upd, {x: X})
        np.testing.assert_allclose(sess.run(W), W0 - 0.1 * k * gW_np, rtol=1e-6,
                                   err_msg=f"after {k} runs of the update")


def test_tf1_assign_ops_apply_once_per_fetch():
    with dg.graph_mode() as g:
        V = dg.Variable(np.zeros(2, np.float32), name="V")
        a = V.assign(dg.constant(np.array([1.0, 2.0], np.float32)))
        aa = V.assign_add(dg.constant(np.ones(2, np.float32)))
        asub = V.assign_sub(dg.constant(np.full(2, 0.5, np.float32)))
    sess = dg.Session(g)
    np.testing.assert_allclose(sess.run(V), [0, 0], err_msg="building the assigns applied them")
    sess.run(a)
    np.testing.assert_allclose(sess.run(V), [1, 2], err_msg="assign")
    sess.run(aa)
    sess.run(aa)
    np.testing.assert_allclose(sess.run(V), [3, 4], err_msg="assign_add twice")
    sess.run(asub)
    np.testing.assert_allclose(sess.run(V), [2.5, 3.5], err_msg="assign_sub")
    np.testing.assert_allclose(sess.run(V), [2.5, 3.5], err_msg="reading twice")


def test_tf1_group_runs_every_update_once_and_fetches_none():
    with dg.graph_mode() as g:
        U = dg.Variable(np.zeros(3, np.float32), name="U")
        V = dg.Variable(np.ones(3, np.float32), name="V")
        u1 = U.assign_add(dg.constant(np.ones(3, np.float32)))
        u2 = V.assign_sub(dg.constant(np.full(3, 2.0, np.float32)))
        both = dg.group(u1, u2)
    sess = dg.Session(g)
    assert sess.run(both) is None
    sess.run(both)
    np.testing.assert_allclose(sess.run(U), [2, 2, 2])
    np.testing.assert_allclose(sess.run(V), [-3, -3, -3])


def test_tf1_global_variables_initializer_resets_variables():
    with dg.graph_mode() as g:
        V = dg.Variable(np.array([1.0, -1.0], np.float32), name="V")
        bump = V.assign_add(dg.constant(np.full(2, 5.0, np.float32)))
        init = dg.global_variables_initializer()
    sess = dg.Session(g)
    sess.run(init)
    sess.run(bump)
    np.testing.assert_allclose(sess.run(V), [6, 4])
    sess.run(init)
    np.testing.assert_allclose(sess.run(V), [1, -1], err_msg="the initializer did not re-set V")


def test_tf1_trainable_variables():
    with dg.graph_mode():
        W = dg.Variable(np.zeros((1, 1), np.float32), name="W")
        b = dg.Variable(np.zeros(1, np.float32), name="b")
        dg.Variable(np.zeros(1, np.float32), name="steps", trainable=False)
        names = [v.name for v in dg.trainable_variables()]
    assert sorted(names) == sorted([W.name, b.name]), names


def test_placeholder_argument_orders():
    with dg.graph_mode() as g:
        old = dg.placeholder([None, 3], dg.float32)           # dualgraph's order: shape first
        tf1 = dg.placeholder(dg.float32, [None, 3])           # TF1's order: dtype first
        named = dg.placeholder("float32", [2])                # a dtype given by name
        out = old.sum() + tf1.sum() + named.sum()
    for p in (old, tf1):
        assert tuple(p.shape) == (None, 3) and p.dtype == dg.float32
    assert tuple(named.shape) == (2,) and named.dtype == dg.float32
    got = dg.Session(g).run(out, {old: np.ones((2, 3), np.float32),
                                  tf1: np.ones((4, 3), np.float32),
                                  named: np.ones(2, np.float32)})
    np.testing.assert_allclose(got, 6 + 12 + 2)


def test_placeholder_bad_arguments_raise_a_clear_type_error():
    with dg.graph_mode():
        with pytest.raises(dg.DualGraphError, match="placeholder") as ei:
            dg.placeholder(3.5)
    assert isinstance(ei.value, TypeError)


# ================================================================ 6. graph-mode bug checks
def test_graph_transpose_contiguous_view():
    X = np.arange(6, dtype=np.float32).reshape(2, 3)
    with dg.graph_mode() as g:
        x = dg.placeholder([2, 3])
        z = x.t().contiguous().view(6)
    np.testing.assert_array_equal(dg.Session(g).run(z, {x: X}), X.T.reshape(6))


def test_graph_gradient_through_copy_into_a_temporary():
    Xv = np.array([1.0, -2.0, 3.0], np.float32)
    Yv = np.array([0.5, 4.0, -1.5], np.float32)
    with dg.graph_mode() as g:
        x = dg.placeholder([3])
        y = dg.placeholder([3])
        z = (x * 2).copy_(y)
        (gy,) = dg.gradients((z * z).sum() + y.sum(), [y])
    assert gy is not None
    np.testing.assert_allclose(dg.Session(g).run(gy, {x: Xv, y: Yv}), 2 * Yv + 1, rtol=1e-6)


# ================================================================ 7. DataLoader inside a trace
def test_dataloader_inside_a_traced_function_raises_a_clear_error():
    from dualgraph.utils.data import DataLoader, TensorDataset
    dg.manual_seed(0)
    model = dg.nn.Linear(4, 3)
    loader = DataLoader(TensorDataset(dg.randn(8, 4), dg.randn(8, 3)), batch_size=4)

    @dg.function
    def epoch(scale):
        total = 0.0
        for xb, yb in loader:
            total = total + ((model(xb) - yb) ** 2).mean() * scale
        return total

    with pytest.raises(dg.DualGraphError, match="DataLoader") as ei:
        epoch(dg.tensor(1.0))
    assert re.search(r"(?i)argument", str(ei.value)), str(ei.value)
