"""Graph mode: switching, symbolic tensors, build-time errors, gradients, Session and feeds."""
import threading

import numpy as np
import pytest

import dualgraph as dg


def test_graph_mode_switch_and_nesting():
    assert dg.executing_eagerly()
    with dg.graph_mode() as g:
        assert isinstance(g, dg.Graph)
        assert not dg.executing_eagerly()
        assert dg.get_default_graph() is g
        x = dg.ones(2)
        assert isinstance(x, dg.SymbolicTensor)
        with dg.eager_mode():
            assert dg.executing_eagerly()
            assert isinstance(dg.ones(2), dg.Tensor)
        with dg.graph_mode() as inner:
            assert dg.get_default_graph() is inner
        assert dg.get_default_graph() is g
    assert dg.executing_eagerly()
    g2 = dg.Graph()
    with g2.as_default():
        y = dg.zeros(3)
    assert y.graph is g2


def test_mode_is_thread_local():
    seen = {}

    def other():
        seen["eager"] = dg.executing_eagerly()

    with dg.graph_mode():
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert seen["eager"] is True


def test_names_scopes_and_static_shapes():
    with dg.graph_mode() as g:
        x = dg.placeholder([None, 3], name="x")
        with dg.name_scope("layer"):
            y = x * 2
            z = x * 2
        s = y.sum(dim=1)
    assert x.name == "x"
    assert y.name == "layer/mul" and z.name == "layer/mul_1"
    assert tuple(y.shape) == (None, 3)
    assert tuple(s.shape) == (None,)
    assert g.get_tensor_by_name("layer/mul:0") is y
    assert y.dtype == dg.float32


def test_shape_error_raised_at_build_time_naming_node():
    with dg.graph_mode():
        a = dg.placeholder([None, 3], name="a")
        b = dg.placeholder([4, 5], name="b")
        with pytest.raises(RuntimeError) as e:
            a.mm(b)
    msg = str(e.value)
    assert "mat1 and mat2 shapes cannot be multiplied" in msg
    assert "mm" in msg and "[?, 3]" in msg and "[4, 5]" in msg
    assert isinstance(e.value, dg.DualGraphError)


@pytest.mark.parametrize("use", [bool, len, lambda t: t.numpy(), lambda t: t.item()])
def test_symbolic_values_refuse_python_use(use):
    with dg.graph_mode():
        x = dg.placeholder([None, 2])
        with pytest.raises(TypeError) as e:
            use(x)
    assert "dg.cond" in str(e.value) or "run" in str(e.value)


def test_symbolic_tensor_in_eager_mode_is_a_clear_error():
    with dg.graph_mode():
        x = dg.placeholder([2])
    with pytest.raises(TypeError, match="graph"):
        dg.ones(2) + x


def test_session_run_nested_fetches_and_names():
    with dg.graph_mode() as g:
        x = dg.placeholder([None, 2], name="x")
        y = x * 3
        z = y.sum()
    sess = dg.Session(g)
    xv = np.arange(4, dtype=np.float32).reshape(2, 2)
    out = sess.run({"y": y, "pair": (z, [y.name])}, feed_dict={"x": xv})
    np.testing.assert_array_equal(out["y"], xv * 3)
    assert float(out["pair"][0]) == 18.0
    np.testing.assert_array_equal(out["pair"][1][0], xv * 3)
    np.testing.assert_array_equal(sess.run("mul:0", {x: xv}), xv * 3)


def test_feed_errors_name_the_placeholder():
    with dg.graph_mode() as g:
        x = dg.placeholder([None, 2], name="x")
        y = x + 1
    sess = dg.Session(g)
    with pytest.raises(ValueError, match="You must feed a value for placeholder tensor 'x'"):
        sess.run(y)
    with pytest.raises(ValueError, match="Cannot feed value of shape \\[2, 3\\] for placeholder 'x'"):
        sess.run(y, {x: np.zeros((2, 3), np.float32)})
    with pytest.raises(TypeError, match="dtype int64 for placeholder 'x'"):
        sess.run(y, {x: np.zeros((2, 2), np.int64)})
    with dg.graph_mode():
        other = dg.placeholder([2], name="other")
    with pytest.raises(ValueError, match="belongs to"):
        sess.run(other * 1 if False else other)
    with pytest.raises(dg.DualGraphError):
        dg.Session(g).run(y, {"nope": np.zeros(2)})


def test_variables_persist_and_assign():
    with dg.graph_mode() as g:
        v = dg.Variable(np.zeros(3, np.float32), name="v")
        inc = v.assign(v + 1)
        read = v * 1
    sess = dg.Session(g)
    sess.run(inc)
    r1 = sess.run(inc)
    np.testing.assert_array_equal(r1, np.full(3, 2, np.float32))
    # fetching the variable reads it and never runs the update
    np.testing.assert_array_equal(sess.run(v), np.full(3, 2, np.float32))
    np.testing.assert_array_equal(sess.run(v), np.full(3, 2, np.float32))
    # results never alias the variable's storage
    r1[:] = 100
    np.testing.assert_array_equal(sess.run(v), np.full(3, 2, np.float32))
    # `read` was built after the write: it reads the variable as it is when it runs (fetching
    # it alone does not run the update, as in TF1); in one run with the update it sees it
    np.testing.assert_array_equal(sess.run(read), np.full(3, 2, np.float32))
    np.testing.assert_array_equal(sess.run([inc, read])[1], np.full(3, 3, np.float32))
    np.testing.assert_array_equal(sess.run(v), np.full(3, 3, np.float32))


def test_random_ops_sample_anew_each_run_and_reproducibly():
    with dg.graph_mode() as g:
        r = dg.rand(3)
    plan = g.compile(r)
    dg.manual_seed(0)
    a, b = plan(), plan()
    assert not np.array_equal(a, b)
    dg.manual_seed(0)
    np.testing.assert_array_equal(plan(), a)


def test_gradients_tf_semantics_match_eager():
    xv = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
    with dg.graph_mode() as g:
        x = dg.placeholder([None, 2], name="x")
        w = dg.Variable(np.array([0.3, -0.7], np.float32))
        unused = dg.placeholder([2], name="unused")
        y1 = (x * w).tanh().sum()
        y2 = (x ** 2).sum()
        gx, gw, gu = dg.gradients([y1, y2], [x, w, unused])
        (gx_seed,) = dg.gradients(x * 2, [x], grad_ys=[dg.constant(np.full((2, 2), 3.0, np.float32))])
    assert gu is None
    out = dg.Session(g).run([gx, gw, gx_seed], {x: xv})
    xe = dg.tensor(xv, requires_grad=True)
    we = dg.tensor([0.3, -0.7], requires_grad=True)
    ((xe * we).tanh().sum() + (xe ** 2).sum()).backward()
    np.testing.assert_allclose(out[0], xe.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(out[1], we.grad.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(out[2], np.full((2, 2), 6.0, np.float32))


def test_backward_in_graph_mode_sets_symbolic_grads():
    with dg.graph_mode() as g:
        w = dg.Variable(np.array([1.0, 2.0], np.float32))
        b = dg.Variable(np.array(0.5, np.float32), trainable=False)
        loss = ((w * 3 + b) ** 2).sum()
        loss.backward()
        assert isinstance(w.grad, dg.SymbolicTensor)
        assert b.grad is None
    np.testing.assert_allclose(dg.Session(g).run(w.grad), 2 * (np.array([1, 2]) * 3 + 0.5) * 3)


def test_eager_parameter_backward_and_update_in_graph_mode():
    p = dg.tensor([1.0, -1.0], requires_grad=True)
    with dg.graph_mode() as g:
        loss = (p * p).sum()
        loss.backward()
        with dg.no_grad():
            p.sub_(p.grad * 0.25)
        new = p * 1
    assert p.grad is None  # eager state untouched by tracing
    out = dg.Session(g).run(new)
    np.testing.assert_allclose(out, [0.5, -0.5])
    np.testing.assert_allclose(p.detach().numpy(), [0.5, -0.5])


def test_cond_and_while_loop_both_modes():
    def f(x):
        return dg.cond(x.sum() > 0, lambda: x * 2, lambda: -x)

    def loop(i, acc):
        return dg.while_loop(lambda i, a: i < 5, lambda i, a: (i + 1, a * 2), (i, acc))

    xe = dg.tensor([1.0, 2.0])
    with dg.graph_mode() as g:
        x = dg.placeholder([2])
        y = f(x)
        i0 = dg.constant(0)
        res = loop(i0, x)
    out = dg.Session(g).run([y, res[1], res[0]], {x: xe.numpy()})
    np.testing.assert_array_equal(out[0], f(xe).numpy())
    np.testing.assert_array_equal(out[1], xe.numpy() * 32)
    assert int(out[2]) == 5
    np.testing.assert_array_equal(loop(dg.tensor(0), xe)[1].numpy(), xe.numpy() * 32)


@pytest.mark.parametrize("optimize", [False, True])
def test_compile_plan_call_by_position_and_name(optimize):
    with dg.graph_mode() as g:
        a = dg.placeholder([None], name="a")
        b = dg.placeholder([None], name="b")
        out = (a * b + a).exp()
    plan = g.compile(out, feeds=[a, b], optimize=optimize)
    av, bv = np.array([0.1, 0.2], np.float32), np.array([1.0, 2.0], np.float32)
    ref = np.exp(av * bv + av)
    np.testing.assert_allclose(plan(av, bv), ref, rtol=1e-6)
    np.testing.assert_allclose(plan(a=av, b=bv), ref, rtol=1e-6)
    assert "prune" in plan.stats


def test_variables_read_and_loaded_between_runs():
    with dg.graph_mode() as g:
        v = dg.Variable(np.zeros(2, np.float32), name="v")
        y = v * 2
    plan = g.compile(y)
    v.load([1.0, 2.0])
    np.testing.assert_array_equal(plan(), [2, 4])
    np.testing.assert_array_equal(v.read_value(), [1, 2])
    with pytest.raises(ValueError, match="shape"):
        v.load(np.zeros(3))
    with dg.graph_mode():
        p = dg.placeholder([2])
    with pytest.raises(TypeError, match="not a variable"):
        p.load([1, 2])


@pytest.mark.parametrize("other", [None, "a", object()], ids=["None", "str", "object"])
@pytest.mark.parametrize("fn", [lambda t, o: t + o, lambda t, o: o * t, lambda t, o: t < o],
                         ids=["add", "rmul", "lt"])
def test_an_operand_that_is_not_a_number_is_a_type_error_in_both_modes(fn, other):
    """PyTorch: TypeError "unsupported operand type(s) ..."; in a graph, when the node is built."""
    with pytest.raises(TypeError, match="unsupported operand type"):
        fn(dg.ones(3), other)
    g = dg.Graph()
    with dg.graph_mode(g):
        x = dg.placeholder((3,), dg.float32)
        with pytest.raises(TypeError, match="unsupported operand type"):
            fn(x, other)
