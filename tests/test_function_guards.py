"""dg.function's treatment of Python state and writes, beyond the program table of
test_staging_equivalence.py: optimizers reached through globals or helpers are lifted, Python
writes inside a trace are refused, identity guards, writes through views, no_grad, gradients
carried by a written buffer, weak lifted scalars on 0-d parameters, Session fetch order."""
import warnings

import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F


def _model():
    dg.manual_seed(0)
    return dg.nn.Linear(3, 2)


X = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
Y = np.random.default_rng(1).standard_normal((5, 2)).astype(np.float32)

GLOBAL_OPT = None
GLOBAL_MODEL = None


def _global_step(x, y):
    GLOBAL_OPT.zero_grad()
    loss = F.mse_loss(GLOBAL_MODEL(x), y)
    loss.backward()
    GLOBAL_OPT.step()
    return loss


def _run(step, model, opt, sched, calls=6):
    out = []
    for _ in range(calls):
        out.append(step(dg.tensor(X), dg.tensor(Y)).item())
        sched.step()
    return out, model.weight.detach().numpy().copy()


def test_optimizer_named_as_a_global_is_lifted():
    global GLOBAL_OPT, GLOBAL_MODEL
    results = []
    for compiled in (False, True):
        GLOBAL_MODEL = _model()
        GLOBAL_OPT = dg.optim.SGD(GLOBAL_MODEL.parameters(), lr=0.2, momentum=0.9)
        sched = dg.optim.lr_scheduler.StepLR(GLOBAL_OPT, step_size=2, gamma=0.1)
        step = dg.function(_global_step) if compiled else _global_step
        results.append(_run(step, GLOBAL_MODEL, GLOBAL_OPT, sched))
        if compiled:
            assert step.trace_count == 1
            assert "['lr']" in step.explain(print_it=False)
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6)


def test_optimizer_reached_only_through_a_helper_is_lifted_at_step():
    results = []
    for compiled in (False, True):
        model = _model()
        opt = dg.optim.Adam(model.parameters(), lr=0.05)
        holder = {"opt": opt}

        def apply_update():
            holder["opt"].step()   # the traced function does not name the optimizer

        def step(x, y):
            model.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            apply_update()
            return loss

        sched = dg.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
        f = dg.function(step) if compiled else step
        results.append(_run(f, model, opt, sched))
        if compiled:
            assert f.trace_count == 1
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6)


def test_scheduler_step_inside_a_trace_is_refused():
    model = _model()
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    sched = dg.optim.lr_scheduler.StepLR(opt, step_size=1)

    @dg.function
    def step(x, y):
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
        sched.step()

    with pytest.raises(dg.DualGraphError, match="outside the compiled function"):
        step(dg.tensor(X), dg.tensor(Y))
    assert isinstance(opt.param_groups[0], dict) and type(opt.param_groups[0]) is dict  # restored


def test_replaced_parameter_retraces_and_says_which():
    model = _model()

    @dg.function
    def f(x):
        return model(x).sum()

    f(dg.tensor(X))
    model.weight = dg.nn.Parameter(dg.zeros(2, 3))
    with pytest.warns(UserWarning, match="weight is the tensor traced"):
        out = f(dg.tensor(X))
    np.testing.assert_allclose(out.item(), model(dg.tensor(X)).sum().item(), rtol=1e-6)
    assert f.trace_count == 2


def test_write_through_an_indexing_view_equals_eager_and_other_views_are_refused():
    def body(x):
        h = x * 2
        h[0].add_(1)          # writes h's first row
        h[:, 1].mul_(3)       # and its second column
        return h

    x = dg.tensor(X)
    np.testing.assert_allclose(dg.function(body)(x).numpy(), body(x).numpy())

    def bad(x):
        h = x * 2
        h.t().add_(1)
        return h

    with pytest.raises(dg.DualGraphError, match="view"):
        dg.function(bad)(x)


def test_no_grad_inside_a_trace_stops_gradients_as_eagerly():
    w_e = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w_c = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    store = {}

    def body(x):
        w = store["w"]
        with dg.no_grad():
            frozen = w * 2
        ((frozen + w) * x).sum().backward()

    for w, compiled in ((w_e, False), (w_c, True)):
        store["w"] = w
        f = dg.function(body) if compiled else body
        f(dg.tensor([1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(w_c.grad.numpy(), w_e.grad.numpy())
    np.testing.assert_array_equal(w_c.grad.numpy(), [1.0, 1.0, 1.0])


def test_a_buffer_written_with_a_value_that_requires_grad_carries_the_gradient():
    grads = []
    for compiled in (False, True):
        w = dg.tensor([0.5, -1.0], requires_grad=True)
        buf = dg.zeros(2)

        def body(x):
            buf.copy_(w * x)          # buf now holds a value with history
            (buf * buf).sum().backward()
            return buf * 1

        f = dg.function(body) if compiled else body
        out = f(dg.tensor([2.0, 3.0]))
        grads.append((w.grad.numpy().copy(), out.detach().numpy(), buf.detach().numpy().copy()))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_zero_dim_parameter_lifted_lr_rounds_as_eager():
    finals = []
    for compiled in (False, True):
        w = dg.nn.Parameter(dg.tensor(0.3))
        opt = dg.optim.SGD([w], lr=0.1, momentum=0.5, weight_decay=0.01)

        def step(x):
            opt.zero_grad()
            ((w * x - 1.0) ** 2).sum().backward()
            opt.step()

        f = dg.function(step) if compiled else step
        for i in range(5):
            opt.param_groups[0]["lr"] = 0.1 / (i + 1)
            f(dg.tensor([1.5, -0.5]))
        finals.append(w.detach().numpy().copy())
        assert w.dtype == dg.float32
    np.testing.assert_array_equal(finals[0], finals[1])  # weakly typed: bitwise equal


def test_session_fetching_a_variable_with_its_update_returns_the_value_before_it():
    with dg.graph_mode() as g:
        v = dg.Variable(np.ones(2, np.float32), name="v")
        upd = v.assign_add(dg.constant(np.ones(2, np.float32)))
    sess = dg.Session(g)
    before, after = sess.run([v, upd])
    np.testing.assert_array_equal(before, [1, 1])
    np.testing.assert_array_equal(after, [2, 2])
    np.testing.assert_array_equal(sess.run(v), [2, 2])


def test_minimize_reads_the_learning_rate_at_every_run():
    with dg.graph_mode() as g:
        x = dg.placeholder(dg.float32, [None, 1])
        W = dg.Variable(np.ones((1, 1), np.float32))
        loss = (x @ W).sum()
        opt = dg.optim.SGD([W], lr=0.5)
        train = opt.minimize(loss)
    sess = dg.Session(g)
    feed = {x: np.ones((2, 1), np.float32)}
    sess.run(train, feed)                      # W = 1 - 0.5 * 2
    np.testing.assert_allclose(sess.run(W), [[0.0]])
    opt.param_groups[0]["lr"] = 0.0            # a changed learning rate is honoured
    sess.run(train, feed)
    np.testing.assert_allclose(sess.run(W), [[0.0]])
    opt.param_groups[0]["lr"] = 1.0
    sess.run(train, feed)
    np.testing.assert_allclose(sess.run(W), [[-2.0]])


def test_a_lifted_number_returned_comes_back_as_a_python_number():
    model = _model()
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    f = dg.function(lambda x: (model(x).sum(), opt.param_groups[0]["lr"] * 2))
    assert f(dg.tensor(X))[1] == pytest.approx(0.2)
    opt.param_groups[0]["lr"] = 0.3
    out = f(dg.tensor(X))[1]
    assert isinstance(out, float) and out == pytest.approx(0.6)
    assert f.trace_count == 1


def test_writing_an_argument_in_place_is_refused_at_trace_time():
    @dg.function
    def f(x):
        x.add_(1)
        return x * 2

    with pytest.raises(dg.DualGraphError, match="argument 'x'"):
        f(dg.ones(3))

    @dg.function
    def g(x):
        x[0] = 5.0           # through an indexing view too
        return x.sum()

    with pytest.raises(dg.DualGraphError, match="argument 'x'"):
        g(dg.ones(3))
    assert dg.function(lambda x: x.clone().add_(1))(dg.ones(2)).tolist() == [2.0, 2.0]


def test_assigning_a_module_attribute_inside_a_trace_is_refused():
    class Stateful(dg.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = dg.nn.Linear(3, 3)
            self.h = dg.zeros(1, 3)

        def forward(self, x):
            self.h = (self.lin(x) + self.h).tanh()
            return self.h

    m = Stateful()
    with pytest.raises(dg.DualGraphError, match=r"m\.h was assigned a new tensor"):
        dg.function(lambda x: m(x))(dg.ones(1, 3))
    assert isinstance(m.h, dg.Tensor)   # the module is left as it was


def _clip_and_ema_step(m, ema, opt, x, y):
    opt.zero_grad()
    loss = F.mse_loss(m(x), y)
    loss.backward()
    for p in m.parameters():          # in-place on .grad (a view of backward's result in a graph)
        p.grad.mul_(0.5).clamp_(-0.1, 0.1)
    opt.step()
    with dg.no_grad():                # an EMA of the first layer, written with copy_
        ema.weight.copy_(ema.weight * 0.9 + m[0].weight * 0.1)
    return loss


@pytest.mark.parametrize("make_opt", [
    lambda ps: dg.optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=0.1),
    lambda ps: dg.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True),
    lambda ps: dg.optim.AdamW(ps, lr=0.01),
], ids=["adam-amsgrad", "sgd-nesterov-maximize", "adamw"])
def test_grad_clipping_in_place_ema_and_batchnorm_bitwise_equal(make_opt):
    results = []
    for compiled in (False, True):
        dg.manual_seed(0)
        m = dg.nn.Sequential(dg.nn.Linear(4, 6), dg.nn.BatchNorm1d(6), dg.nn.ReLU(), dg.nn.Linear(6, 2))
        ema = dg.nn.Linear(4, 6)
        opt = make_opt(m.parameters())
        x, y = dg.randn(8, 4), dg.randn(8, 2)
        body = lambda x, y: _clip_and_ema_step(m, ema, opt, x, y)  # noqa: E731
        f = dg.function(body) if compiled else body
        losses = [f(x, y).item() for _ in range(5)]
        state = [t.detach().numpy().copy() for t in [*m.parameters(), *m.buffers(), *ema.parameters()]]
        state += [p.grad.numpy().copy() for p in m.parameters()]
        results.append((losses, state))
        if compiled:
            assert f.trace_count == 1
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


def test_a_backward_reading_state_written_in_place_since_is_refused_as_eagerly():
    """Eagerly `t = x * p; p.copy_(q) (no_grad); t.sum().backward()` raises (x's gradient reads
    p's old value); the compiled step used to hand back x.grad = old p. Now refused at trace
    time with PyTorch's message. Where eagerly nothing is read (x not requiring grad) both run."""
    import re
    p = dg.nn.Parameter(dg.tensor([1.0, 2.0]))
    q = dg.tensor([5.0, 6.0])

    def f(x):
        t = x * p
        with dg.no_grad():
            p.copy_(q)
        t.sum().backward()
        return t

    msg = re.escape("one of the variables needed for gradient computation has been modified by an inplace operation")
    for run in (f, dg.function(f)):
        with dg.no_grad():
            p.copy_(dg.tensor([1.0, 2.0]))
        with pytest.raises(dg.DualGraphError, match=msg):
            run(dg.tensor([3.0, 4.0], requires_grad=True))
    outs = []
    for run in (f, dg.function(f)):
        with dg.no_grad():
            p.copy_(dg.tensor([1.0, 2.0]))
        p.grad = None
        outs.append((run(dg.tensor([3.0, 4.0])).tolist(), p.grad.tolist()))
    assert outs[0] == outs[1] == ([3.0, 8.0], [3.0, 4.0])


def test_tf1_graphs_keep_tf1_semantics_for_gradients_after_an_assign():
    """No version check outside dg.function: a gradient built after an assign is not refused
    (its read of the variable is ordered after the update, as the README says of TF1 handles)."""
    with dg.graph_mode() as g:
        v = dg.Variable(np.array([2.0], np.float32))
        x = dg.placeholder([1])
        loss = (x * v).sum()
        upd = v.assign(v * 3)
        (gx,) = dg.gradients(loss, [x])
    assert dg.Session(g).run([gx, upd], {x: np.ones(1, np.float32)})[0].tolist() == [6.0]


_HYPER_CHANGES = {  # make the optimizer, then the param_groups change before call i
    "np.float32 lr": (lambda w: dg.optim.SGD([w], lr=0.1), lambda g, i: g.update(lr=np.float32(0.1 * (i + 1)))),
    "np.int64 lr": (lambda w: dg.optim.SGD([w], lr=1), lambda g, i: g.update(lr=np.int64(i + 1))),
    "np.bool_ maximize": (lambda w: dg.optim.SGD([w], lr=0.1, momentum=0.9),
                          lambda g, i: g.update(maximize=np.bool_(i % 2 == 1))),
    "list betas": (lambda w: dg.optim.Adam([w], lr=0.1, betas=[0.9, 0.999]),
                   lambda g, i: g.update(betas=[0.5 + 0.1 * i, 0.99])),
    "np.float32 scheduler": (lambda w: dg.optim.SGD([w], lr=0.1), None),
}


@pytest.mark.parametrize("case", sorted(_HYPER_CHANGES))
def test_numpy_scalar_and_list_hyper_parameters_are_read_at_every_call(case):
    make, change = _HYPER_CHANGES[case]

    def run(compiled):
        w = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
        opt = make(w)
        sched = dg.optim.lr_scheduler.ExponentialLR(opt, gamma=np.float32(0.5)) if change is None else None

        def step():
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
            return f"{opt.param_groups[0]['lr']:.4f}"

        f = dg.function(step) if compiled else step
        out = []
        for i in range(5):
            if change is not None:
                change(opt.param_groups[0], i)
            out.append(f())
            if sched is not None:
                sched.step()
        state = {k: v.numpy().copy() for k, v in opt.state[w].items() if isinstance(v, dg.Tensor)}
        return w.detach().numpy().copy(), w.grad.numpy().copy(), state, out

    we, ge, se, oe = run(False)
    wc, gc, sc, oc = run(True)
    assert oe == oc
    np.testing.assert_array_equal(we, wc)
    np.testing.assert_array_equal(ge, gc)
    assert se.keys() == sc.keys()
    for k in se:
        np.testing.assert_array_equal(se[k], sc[k])


_GROUP_WRITES = {
    "update": lambda opt, extra: opt.param_groups[0].update(lr=opt.param_groups[0]["lr"] / 2),
    "setdefault": lambda opt, extra: opt.param_groups[0].setdefault("tag", 1),
    "pop": lambda opt, extra: opt.param_groups[0].pop("momentum"),
    "clear": lambda opt, extra: opt.param_groups[0].clear(),
    "add_param_group": lambda opt, extra: opt.add_param_group({"params": [extra]}),
    "plateau": lambda opt, extra: dg.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=10).step(1.0),
}


@pytest.mark.parametrize("case", sorted(_GROUP_WRITES))
def test_every_param_groups_write_inside_a_trace_is_refused(case):
    w = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    extra = dg.tensor([5.0], requires_grad=True)
    opt = dg.optim.SGD([w], lr=0.1)

    @dg.function
    def step():
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        _GROUP_WRITES[case](opt, extra)

    with pytest.raises(dg.DualGraphError, match="outside the compiled function"):
        step()
    assert len(opt.param_groups) == 1 and type(opt.param_groups[0]) is dict
    assert opt.param_groups[0]["lr"] == 0.1 and "tag" not in opt.param_groups[0]


def test_param_groups_calls_that_write_nothing_are_not_refused():
    w = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    opt = dg.optim.SGD([w], lr=0.1)

    def step():
        opt.zero_grad()
        (w * w).sum().backward()
        g = opt.param_groups[0]
        g.update()
        g.pop("tag", None)
        g.setdefault("lr", 5.0)
        opt.step()

    f = dg.function(step)
    for _ in range(3):
        f()
    assert opt.param_groups[0]["lr"] == 0.1


def test_an_argument_whose_hook_was_removed_is_traced_as_one_without_hooks():
    a = dg.ones(3, requires_grad=True)
    a.register_hook(lambda g: g * 2).remove()  # (an empty hook dict stays behind)
    f = dg.function(lambda t: (t * 3).sum().backward())
    f(a)
    f(a)
    np.testing.assert_array_equal(a.grad.numpy(), [6.0, 6.0, 6.0])


class _LazyMomentum(dg.optim.Optimizer):
    """A user's optimizer in PyTorch's usual style: state made in step() the first time."""

    def __init__(self, params, make_state, lr=0.1, beta=0.9):
        super().__init__(params, dict(lr=lr, beta=beta))
        self.make_state = make_state

    @dg.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if "buf" not in state:
                    state["buf"] = self.make_state(self, p)
                    state["n"] = 0 if self.make_state is _lazy_python_counter else self._new_state(dg.zeros, ())
                state["buf"].mul_(group["beta"]).add_(p.grad)
                if self.make_state is _lazy_python_counter:
                    state["n"] += 1
                else:
                    state["n"].add_(1)
                p.add_(state["buf"], alpha=-group["lr"])


def _lazy_python_counter(opt, p):
    return opt._new_state(dg.zeros_like, p)


@pytest.mark.parametrize("make_state, refused", [
    (lambda opt, p: dg.zeros_like(p), True),                    # a graph tensor in opt.state
    (_lazy_python_counter, True),                               # a Python counter changed
    (lambda opt, p: opt._new_state(dg.zeros_like, p), False),   # made eagerly, as the built-ins
], ids=["zeros_like", "python_counter", "new_state"])
def test_optimizer_state_made_in_a_traced_step_is_eager_or_refused(make_state, refused):
    def run(compiled):
        w = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
        opt = _LazyMomentum([w], make_state)

        def step():
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
        f = dg.function(step) if compiled else step
        for _ in range(5):
            f()
        return w.detach().numpy().copy(), {k: np.asarray(v) for k, v in opt.state[w].items()}

    we, se = run(False)
    if refused:
        with pytest.raises(dg.DualGraphError, match="outside the trace"):
            run(True)
        return
    wc, sc = run(True)
    np.testing.assert_array_equal(we, wc)
    assert se.keys() == sc.keys()
    for k in se:
        np.testing.assert_array_equal(se[k], sc[k])


@pytest.mark.parametrize("where", ["backward_inside", "autograd_grad_inside", "backward_outside"])
def test_gradient_hooks_on_parameters_and_arguments_run_once_as_eagerly(where):
    """p.register_hook / x.register_hook on leaves: run by the traced backward, added or removed
    between calls (a retrace), and not run twice when the compiled forward's caller backwards."""
    def run(compiled):
        w = dg.nn.Parameter(dg.tensor([1.0, 2.0, 3.0]))
        a = dg.tensor([0.5, -1.0, 2.0], requires_grad=True)

        def fwd(t):
            return (w * w * t).sum()

        def inside(t):
            if where == "backward_inside":
                fwd(t).backward()
                return w.grad + 0, t.grad + 0
            return tuple(g + 0 for g in dg.autograd.grad(fwd(t), [w, t]))

        f = fwd if where == "backward_outside" else inside
        f = dg.function(f) if compiled else f
        seen = []
        for i in range(5):
            if i == 1:
                hw = w.register_hook(lambda g: g * 3)
                a.register_hook(lambda g: g - 1)
            if i == 3:
                hw.remove()
            w.grad = a.grad = None
            if where == "backward_outside":
                f(a).backward()
                got = (w.grad, a.grad)
            else:
                got = f(a)
            seen.append([x.numpy().copy() for x in got])
        return seen

    for e, c in zip(run(False), run(True)):
        for x, y in zip(e, c):
            np.testing.assert_array_equal(x, y)


class _Iterates(dg.nn.Module):
    """Its forward walks whatever it holds: parameters, buffers, children, an optional scale."""

    def __init__(self):
        super().__init__()
        self.w = dg.nn.Parameter(dg.ones(3))
        self.register_buffer("s", dg.ones(3))
        self.act = dg.relu

    def forward(self, x):
        for c in self.children():
            x = c(x)
        for p in self.parameters():
            x = x * p
        for b in self.buffers():
            x = x + b
        return self.act(x * getattr(self, "scale", 1.0) - 2)


_GROWTHS = {
    "Sequential.append": (lambda: dg.nn.Sequential(dg.nn.Linear(3, 3)), lambda m: m.append(dg.nn.ReLU())),
    "ModuleList.append": (lambda: dg.nn.ModuleList([dg.nn.Linear(3, 3)]),
                          lambda m: m.append(dg.nn.Linear(3, 3))),
    "ModuleDict.update": (lambda: dg.nn.ModuleDict({"a": dg.nn.Linear(3, 3)}),
                          lambda m: m.update({"b": dg.nn.Linear(3, 3)})),
    "ParameterList.append": (lambda: dg.nn.ParameterList([dg.nn.Parameter(dg.ones(3))]),
                             lambda m: m.append(dg.nn.Parameter(dg.ones(3) * 2))),
    "register_parameter": (_Iterates, lambda m: m.register_parameter("v", dg.nn.Parameter(dg.ones(3) * 2))),
    "register_buffer": (_Iterates, lambda m: m.register_buffer("t", dg.ones(3) * 5)),
    "add_module": (_Iterates, lambda m: m.add_module("act2", dg.nn.Tanh())),
    "attribute added": (_Iterates, lambda m: setattr(m, "scale", 3.0)),
    "function attribute": (_Iterates, lambda m: setattr(m, "act", dg.tanh)),
}


def _walk(m, x):
    if isinstance(m, (dg.nn.ModuleList, dg.nn.ModuleDict)):
        for c in (m.values() if isinstance(m, dg.nn.ModuleDict) else m):
            x = c(x)
        return x
    if isinstance(m, dg.nn.ParameterList):
        for p in m:
            x = x * p
        return x
    return m(x)


@pytest.mark.parametrize("case", sorted(_GROWTHS))
def test_a_module_grown_between_calls_retraces(case):
    make, grow = _GROWTHS[case]
    x = dg.tensor(np.linspace(-1, 2, 6, dtype=np.float32).reshape(2, 3))

    def run(compiled):
        dg.manual_seed(0)
        m = make()
        f = dg.function(lambda t: _walk(m, t)) if compiled else (lambda t: _walk(m, t))
        out = [f(x).detach().numpy().copy()]
        dg.manual_seed(1)
        grow(m)
        out += [f(x).detach().numpy().copy() for _ in range(2)]
        return out, getattr(f, "trace_count", 2)

    (e, _), (c, traces) = run(False), run(True)
    for a, b in zip(e, c):
        np.testing.assert_array_equal(a, b)
    assert traces == 2


# ---- globals read by helpers the traced function calls
HELPER_SCALE = 2.0
HELPER_ACT = dg.tanh


def _helper(x):
    return HELPER_ACT(x) * HELPER_SCALE


def _nested_helper(x):
    return _helper(x) + 1.0


def test_globals_a_helper_reads_and_functions_chosen_by_name_retrace():
    """Eagerly a helper reads its globals at every call: rebinding a number or the function a
    name chooses (`act = dg.relu`) changes the result; compiled, the trace ran the old ones and
    must retrace (it did not: helpers' globals and function-valued globals were not guarded)."""
    global HELPER_SCALE, HELPER_ACT
    x = dg.tensor([0.5, -1.0, 2.0])
    f = dg.function(_nested_helper)
    try:
        for scale, act in [(2.0, dg.tanh), (2.0, dg.relu), (3.0, dg.relu), (3.0, dg.sigmoid)]:
            HELPER_SCALE, HELPER_ACT = scale, act
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = f(x)
            np.testing.assert_array_equal(got.numpy(), _nested_helper(x).numpy())
    finally:
        HELPER_SCALE, HELPER_ACT = 2.0, dg.tanh


def test_a_closure_variable_of_a_helper_retraces():
    def make(k):
        def helper(x):
            return x * k[0]
        return helper
    k = [1.5]
    helper = make(k)
    f = dg.function(lambda x: helper(x) + 1.0)
    x = dg.tensor([1.0, 2.0])
    for v in (1.5, 2.5, 2.5):
        k[0] = v
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.testing.assert_array_equal(f(x).numpy(), (helper(x) + 1.0).numpy())


MODEL_GAIN = 2.0


class _GainNet(dg.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = dg.nn.Linear(2, 2)

    def forward(self, x):
        return self.scale(self.lin(x))

    def scale(self, y):
        return y * MODEL_GAIN


def test_a_global_a_model_method_reads_retraces():
    global MODEL_GAIN
    dg.manual_seed(0)
    net = _GainNet()
    f = dg.function(lambda x: net(x))
    x = dg.ones(1, 2)
    try:
        for gain in (2.0, 5.0, 5.0, 0.5):
            MODEL_GAIN = gain
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                np.testing.assert_array_equal(f(x).detach().numpy(), net(x).detach().numpy())
    finally:
        MODEL_GAIN = 2.0
