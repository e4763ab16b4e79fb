"""@dg.function: tracing once per signature, retracing and its warning, capture by reference."""
import warnings

import numpy as np
import pytest

import dualgraph as dg


def test_traces_once_per_signature_and_matches_eager():
    @dg.function
    def f(x, y):
        return (x * y + 1).tanh().sum(dim=0)

    a, b = dg.randn(4, 3), dg.randn(4, 3)
    r1 = f(a, b)
    r2 = f(dg.randn(4, 3), b)
    assert f.trace_count == 1
    assert isinstance(r1, dg.Tensor) and not isinstance(r1, dg.SymbolicTensor)
    np.testing.assert_allclose(r1.numpy(), (a * b + 1).tanh().sum(dim=0).numpy(), rtol=1e-6)
    assert r2.shape == (3,)
    f(dg.randn(5, 3), dg.randn(5, 3))  # new shape -> new trace
    assert f.trace_count == 2
    assert isinstance(f.graph_for(a, b), dg.Graph)
    assert f.trace_count == 2


def test_python_arguments_are_part_of_the_signature():
    @dg.function
    def scale(x, k):
        return x * k

    x = dg.ones(2)
    np.testing.assert_array_equal(scale(x, 2.0).numpy(), [2, 2])
    np.testing.assert_array_equal(scale(x, 3.0).numpy(), [3, 3])
    assert scale.trace_count == 2
    scale(x, 2.0)
    assert scale.trace_count == 2


def test_retrace_warning_names_the_changing_argument():
    @dg.function
    def f(x, step):
        return x * step

    x = dg.ones(2)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for i in range(8):
            f(x, float(i))
    msgs = [str(w.message) for w in rec if issubclass(w.category, UserWarning)]
    assert msgs, "expected a retracing warning"
    assert "step" in msgs[-1] and "->" in msgs[-1]


def test_closure_tensors_are_captured_by_reference():
    w = dg.tensor([1.0, 2.0])

    @dg.function
    def f(x):
        return x * w

    x = dg.ones(2)
    np.testing.assert_array_equal(f(x).numpy(), [1, 2])
    w.mul_(10)  # eager update, seen by the compiled plan
    np.testing.assert_array_equal(f(x).numpy(), [10, 20])
    assert f.trace_count == 1


def test_plan_assignments_update_eager_tensors():
    counter = dg.zeros(1)
    view = counter[0:1]

    @dg.function
    def bump(x):
        counter.add_(x.sum())
        return counter * 1

    out = bump(dg.ones(3))
    out = bump(dg.ones(3))
    np.testing.assert_array_equal(out.numpy(), [6.0])
    np.testing.assert_array_equal(counter.numpy(), [6.0])
    np.testing.assert_array_equal(view.numpy(), [6.0])  # same memory as before


def test_training_step_compiled_equals_eager():
    rng = np.random.default_rng(0)
    W0 = rng.standard_normal((5, 3)).astype(np.float32)
    x = dg.tensor(rng.standard_normal((8, 5)).astype(np.float32))
    y = dg.tensor(rng.standard_normal((8, 3)).astype(np.float32))

    def step(W, x, y):
        W.grad = None
        loss = ((x @ W).tanh() - y).pow(2).mean()
        loss.backward()
        with dg.no_grad():
            W.sub_(W.grad * 0.5)
        return loss

    We = dg.tensor(W0, requires_grad=True)
    Wc = dg.tensor(W0, requires_grad=True)
    compiled = dg.function(lambda x, y: step(Wc, x, y))
    for _ in range(5):
        le = step(We, x, y)
        lc = compiled(x, y)
        np.testing.assert_allclose(lc.item(), le.item(), rtol=1e-6)
    np.testing.assert_allclose(Wc.detach().numpy(), We.detach().numpy(), rtol=1e-6)
    assert compiled.trace_count == 1


def test_function_called_inside_graph_mode_inlines():
    @dg.function
    def f(x):
        return x + 1

    with dg.graph_mode() as g:
        x = dg.placeholder([2])
        y = f(x)
    assert isinstance(y, dg.SymbolicTensor)
    np.testing.assert_array_equal(dg.Session(g).run(y, {x: np.zeros(2, np.float32)}), [1, 1])


def test_jit_alias_and_decorator_options():
    assert dg.jit is dg.function

    @dg.function(optimize=False)
    def f(x):
        return x * 1 + 0

    np.testing.assert_array_equal(f(dg.ones(2)).numpy(), [1, 1])
    assert f.plan_for(dg.ones(2)).optimize is False


def test_compiled_step_leaves_gradients_on_parameters_like_eager():
    rng = np.random.default_rng(1)
    W0 = rng.standard_normal((3, 2)).astype(np.float32)
    x = dg.tensor(rng.standard_normal((4, 3)).astype(np.float32))

    def step(W, x):
        W.grad = None
        loss = (x @ W).tanh().sum()
        loss.backward()
        return loss

    We, Wc = dg.tensor(W0, requires_grad=True), dg.tensor(W0, requires_grad=True)
    step(We, x)
    dg.function(lambda x: step(Wc, x))(x)
    assert isinstance(Wc.grad, dg.Tensor) and not isinstance(Wc.grad, dg.SymbolicTensor)
    np.testing.assert_allclose(Wc.grad.numpy(), We.grad.numpy(), rtol=1e-6)


def test_a_parameter_passed_as_argument_and_held_by_the_optimizer_is_refused():
    # eagerly the optimizer updates the very tensor passed in; a plan reads arguments afresh at
    # each call, so its updates would be lost: refused at trace time, not silently different
    w = dg.nn.Parameter(dg.ones(3))
    opt = dg.optim.SGD([w], lr=0.1)

    def step(w, opt, x):
        opt.zero_grad()
        loss = (w * x).sum()
        loss.backward()
        opt.step()
        return loss
    with pytest.raises(dg.DualGraphError, match="argument 'w' of a function traced by dg.function"):
        dg.function(step)(w, opt, dg.ones(3))


def test_autograd_backward_on_graph_tensors_is_loss_backward():
    """dg.autograd.backward([loss]) inside dg.function and in a graph block does what
    loss.backward() does there (before: a DGTypeError)."""
    w = dg.tensor(np.ones(3, np.float32), requires_grad=True)

    @dg.function
    def f(x):
        w.grad = None
        dg.autograd.backward([(w * x).sum()])
        return w.grad
    np.testing.assert_allclose(f(dg.tensor([1.0, 2.0, 3.0])).numpy(), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(f(dg.tensor([4.0, 5.0, 6.0])).numpy(), [4.0, 5.0, 6.0])
    assert f.trace_count == 1
    g = dg.Graph()
    with dg.graph_mode(g):
        v = dg.Variable(np.ones(2, np.float32))
        dg.autograd.backward([(v * v).sum()], [dg.constant(3.0)])
        gv = v.grad
    np.testing.assert_allclose(dg.Session(g).run(gv), [6.0, 6.0])


def test_a_function_that_fetches_and_writes_nothing_runs():
    """No fetch and no write (a step whose parameters all lack gradients): an empty plan, not
    networkx's error about a missing node (the prune pass had no root to start from)."""
    f = dg.function(lambda: None)
    assert f() is None and f() is None and f.trace_count == 1
