"""What a compiled function read from Python and from captured tensors while it was traced is
guarded: a change between calls retraces (or, for seeding inside, the trace refuses), so eager
and compiled give the same numbers call after call. Each case runs the same code eagerly and
compiled from identical state, changes the same thing between calls, and compares everything
(parameters, .grad, buffers, results) bit for bit."""
import types
import warnings

import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F


def _same(a, b):
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(np.asarray(a), np.asarray(b))


def _state(m):
    out = []
    for p in m.parameters():
        out.append(p.detach().numpy().copy())
        out.append(None if p.grad is None else p.grad.numpy().copy())
    out += [b.numpy().copy() for b in m.buffers()]
    return out


def _run_both(make, change, calls=4):
    """make() -> (model, step); the same step eagerly and compiled, change(model, i) after each
    call; returns the compiled function (for trace_count) after comparing every state."""
    me, se = make()
    mc, sc = make()
    sc = dg.function(sc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # (the retrace warnings name the change)
        for i in range(calls):
            re, rc = se(), sc()
            assert _same(None if re is None else re.detach().numpy(),
                         None if rc is None else rc.detach().numpy()), i
            for a, b in zip(_state(me), _state(mc)):
                assert _same(a, b), i
            change(me, i)
            change(mc, i)
    return sc


def _linear_step(opt_cls=dg.optim.SGD, **kw):
    def make():
        dg.manual_seed(0)
        lin = dg.nn.Linear(3, 2)
        opt = opt_cls(lin.parameters(), lr=0.1, **kw)
        x = dg.randn(4, 3)

        def step():
            opt.zero_grad()
            loss = (lin(x) ** 2).sum()
            loss.backward()
            opt.step()
            return loss
        return lin, step
    return make


def test_freezing_and_unfreezing_a_parameter_retraces():
    def change(m, i):
        m.weight.requires_grad_(i % 2 == 1)   # frozen after call 0, trainable after call 1, ...
    f = _run_both(_linear_step(momentum=0.9), change, calls=5)
    assert f.trace_count == 2


@pytest.mark.parametrize("what", ["dtype", "shape"])
def test_a_captured_buffer_of_another_dtype_or_shape_retraces(what):
    class M(dg.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = dg.nn.Linear(3, 3)
            self.register_buffer("scale", dg.ones(3))

        def forward(self, x):
            return self.lin(x) * self.scale

    def make():
        dg.manual_seed(1)
        m = M()
        x = dg.randn(2, 3)

        def step():
            m.zero_grad()
            y = m(x).sum()
            y.backward()
            return y
        return m, step

    def change(m, i):
        if i == 0:
            if what == "dtype":
                m.scale.data = dg.tensor(np.full(3, 1.1, np.float64))
            else:
                m.scale.data = dg.tensor(np.full((1,), 1.1, np.float32))
    f = _run_both(make, change)
    assert f.trace_count == 2


def test_a_hook_registered_or_removed_between_calls_retraces():
    handles = {}

    def change(m, i):
        if i == 0:
            handles[id(m)] = m.register_forward_hook(lambda mod, args, out: out * 0.5)
        elif i == 2:
            handles.pop(id(m)).remove()
    f = _run_both(_linear_step(), change, calls=5)
    assert f.trace_count == 3


@pytest.mark.parametrize("seed", [lambda: dg.manual_seed(3),
                                  lambda: dg.set_rng_state(dg.get_rng_state())])
def test_seeding_inside_a_traced_function_is_refused_at_the_trace(seed):
    drop = dg.nn.Dropout(0.5)

    @dg.function
    def f(x):
        seed()
        return drop(x)
    with pytest.raises(dg.errors.DGRuntimeError, match="while a graph is being built"):
        f(dg.ones(8))


def test_a_global_bound_to_a_fresh_model_and_optimizer_retraces():
    dg.manual_seed(0)
    x = dg.randn(4, 3)
    g = {}
    code = ("def step():\n    opt.zero_grad()\n    loss = model(x).sum()\n    loss.backward()\n"
            "    opt.step()\n    return loss\n")
    exec(code, g)   # (a module-level step whose globals we rebind, as a script's fold loop does)
    g["x"] = x
    compiled = dg.function(g["step"])
    for fold in range(3):
        dg.manual_seed(fold)
        me = dg.nn.Linear(3, 1)
        dg.manual_seed(fold)
        mc = dg.nn.Linear(3, 1)
        for _ in range(2):
            g["model"], g["opt"] = me, dg.optim.SGD(me.parameters(), lr=0.1) if _ == 0 else g["opt"]
            if _ == 0:
                oe = g["opt"]
            g["opt"] = oe
            le = g["step"]()
        for _ in range(2):
            g["model"] = mc
            if _ == 0:
                g["opt"] = oc = dg.optim.SGD(mc.parameters(), lr=0.1)
            g["opt"] = oc
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lc = compiled()
        assert _same(le.detach().numpy(), lc.detach().numpy())
        for a, b in zip(_state(me), _state(mc)):
            assert _same(a, b)
    assert compiled.trace_count == 3


def test_numbers_in_closure_containers_objects_and_numpy_scalars_retrace():
    cfg = {"scale": 2.0, "nested": {"shift": 1.0}}
    hp = types.SimpleNamespace(scale=2.0)
    box = [np.float32(2.0)]

    def f(x):
        return x * cfg["scale"] + x * hp.scale + x * box[0] + cfg["nested"]["shift"]

    fc = dg.function(f)
    x = dg.ones(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(5):
            assert _same(f(x).numpy(), fc(x).numpy()), i
            if i == 0:
                cfg["scale"] = 3.0
            elif i == 1:
                hp.scale = 4.0
            elif i == 2:
                box[0] = np.float32(5.0)
            elif i == 3:
                cfg["nested"]["shift"] = 7.0
    assert fc.trace_count == 5


def test_module_attributes_numpy_scalars_lists_and_plain_tensors_retrace():
    class M(dg.nn.Module):
        def __init__(self):
            super().__init__()
            self.np_scale = np.float32(2.0)
            self.weights = [2.0, 1.0]
            self.t_scale = dg.tensor(2.0)

        def forward(self, x):
            return x * self.np_scale + x * self.weights[0] + x * self.t_scale

    m = M()
    fc = dg.function(lambda x: m(x))
    x = dg.ones(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(4):
            assert _same(m(x).numpy(), fc(x).numpy()), i
            if i == 0:
                m.np_scale = np.float32(3.0)
            elif i == 1:
                m.weights[0] = 5.0
            elif i == 2:
                m.t_scale = dg.tensor(4.0)
    assert fc.trace_count == 4


def test_a_model_two_containers_deep_is_guarded():
    dg.manual_seed(0)
    model = dg.nn.Sequential(dg.nn.Linear(4, 4), dg.nn.Dropout(0.5))
    holder = {"nets": {"main": model}}
    fc = dg.function(lambda x: holder["nets"]["main"](x))
    x = dg.ones(3, 4)
    fc(x)
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _same(fc(x).detach().numpy(), model(x).detach().numpy())
    assert fc.trace_count == 2


def test_a_new_lr_tensor_in_param_groups_is_read():
    def make():
        w = dg.nn.Parameter(dg.ones(3))
        opt = dg.optim.SGD([w], lr=dg.tensor(0.1))

        def step():
            opt.zero_grad()
            (w * 2.0).sum().backward()
            opt.step()
        m = dg.nn.Module()
        m.w = w
        m.opt = opt
        return m, step

    def change(m, i):
        m.opt.param_groups[0]["lr"] = dg.tensor(0.1 * (i + 2))
    _run_both(make, change)


@pytest.mark.parametrize("bias_shape", [(1,), ()])
def test_linear_with_a_broadcast_bias_has_its_gradient_summed(bias_shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    w = rng.standard_normal((2, 3)).astype(np.float32)
    b = np.full(bias_shape, 0.5, np.float32)
    grads = []
    for compiled in (False, True):
        dw, db = dg.tensor(w, requires_grad=True), dg.tensor(b, requires_grad=True)
        fn = lambda: (F.linear(dg.tensor(x), dw, db) ** 2).sum().backward()  # noqa: E731
        (dg.function(fn) if compiled else fn)()
        grads.append((dw.grad.numpy(), db.grad.numpy()))
    tw, tb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    (torch.nn.functional.linear(torch.tensor(x), tw, tb) ** 2).sum().backward()
    assert grads[0][1].shape == tuple(tb.grad.shape) == bias_shape
    np.testing.assert_allclose(grads[0][1], tb.grad.numpy(), rtol=1e-5)
    assert all(_same(a, c) for a, c in zip(grads[0], grads[1]))


@pytest.mark.parametrize("shape", [(4, 3, 1), (5, 7, 1), (9, 6, 2), (16, 5, 1)])
def test_a_folded_broadcast_keeps_its_layout_so_the_products_round_as_eagerly(shape):
    """sum().backward() hands linear's weight gradient a broadcast of ones; folded into a
    constant it must stay a stride-0 view (np.matmul then runs numpy's own loop, as eagerly,
    not BLAS: other bits)."""
    n, i, o = shape
    for seed in range(4):
        dg.manual_seed(seed)
        lin = dg.nn.Linear(i, o)
        x = dg.randn(n, i) * 3.7

        def backward():
            lin.zero_grad()
            lin(x).sum().backward()
        backward()
        eager = lin.weight.grad.numpy().copy(), lin.bias.grad.numpy().copy()
        compiled = dg.function(backward)
        for _ in range(2):
            compiled()
            got = lin.weight.grad.numpy(), lin.bias.grad.numpy()
            assert _same(eager[0], got[0]) and _same(eager[1], got[1]), (shape, seed)


def test_a_second_backward_without_retain_graph_is_refused_at_the_trace_as_eagerly():
    dg.manual_seed(0)
    x = dg.randn(4, 3)
    lin = dg.nn.Linear(3, 1)

    def twice(retain):
        lin.zero_grad()
        loss = (lin(x) ** 2).sum()
        loss.backward(retain_graph=retain)
        loss.backward()
        return loss

    with pytest.raises(dg.errors.DGRuntimeError, match="backward through the graph a second time"):
        twice(False)
    with pytest.raises(dg.errors.DGRuntimeError, match="backward through the graph a second time"):
        dg.function(lambda: twice(False))()
    twice(True)
    eager = lin.weight.grad.numpy().copy()
    f = dg.function(lambda: twice(True))
    for _ in range(2):
        f()
        assert _same(lin.weight.grad.numpy(), eager)
    # (a backward through nodes that saved nothing frees nothing: twice is fine, as in PyTorch)
    w = dg.ones(3, requires_grad=True)

    def sums():
        w.grad = None
        y = (w + 1).sum()
        y.backward()
        y.backward()
        return y
    sums()
    eager = w.grad.numpy().copy()
    dg.function(sums)()
    assert _same(w.grad.numpy(), eager)


# ---------------------------------------------------------------- clear refusals and PyTorch's dtype rule
def test_a_uint8_tensor_times_a_0d_int_tensor_stays_uint8_and_wraps_as_pytorch():
    torch = pytest.importorskip("torch")
    a = np.array([100, 50, 3], np.uint8)
    for s in (300, 7):
        for sdt in (np.int64, np.int32):
            want = torch.tensor(a) * torch.tensor(s, dtype=getattr(torch, np.dtype(sdt).name))
            x, k = dg.tensor(a), dg.tensor(np.asarray(s, sdt))
            got = x * k
            assert str(got.dtype).endswith("uint8")
            assert np.array_equal(got.numpy(), want.numpy())
            assert _same(dg.function(lambda x, k: x * k)(x, k).numpy(), got.numpy())


def test_layout_questions_on_a_graph_tensor_are_refused_clearly():
    # (stride() and is_contiguous() are answered as eagerly: tests/test_trace_layout.py)
    for ask in (lambda x: x.data_ptr(), lambda x: x.storage_offset()):
        with pytest.raises(dg.errors.DGRuntimeError, match="laid out only when the compiled plan runs"):
            dg.function(lambda x: (ask(x), x * 2)[1])(dg.ones(2, 2))


def test_a_raise_in_a_tensor_if_branch_is_refused_with_why():
    def f(x):
        if x.min() < 0:
            raise ValueError("negative input")
        return x * 2
    x = dg.tensor([1.0, 1.5])
    assert _same(f(x).numpy(), [2.0, 3.0])
    with pytest.raises(dg.errors.DGRuntimeError, match="Both branches of an `if` on a tensor are traced"):
        dg.function(f)(x)


def test_a_body_value_leaking_through_a_list_names_the_loop():
    def f(x):
        out = []
        while x.sum() > 1:
            x = x / 2
            out.append(x)
        return out[-1]
    with pytest.raises(dg.errors.DGValueError, match="Carry it as a loop variable"):
        dg.function(f)(dg.tensor([1.0, 2.0]))


def test_autograd_grad_then_backward_without_retain_graph_is_refused_as_eagerly():
    w = dg.ones(3, requires_grad=True)

    def f(retain):
        y = (w * w).sum()
        (g,) = dg.autograd.grad(y, w, retain_graph=retain)
        y.backward()
        return g

    for run in (f, lambda r: dg.function(lambda: f(r))()):
        with pytest.raises(dg.errors.DGRuntimeError, match="backward through the graph a second time"):
            run(False)
    w.grad = None
    eager = f(True).numpy(), w.grad.numpy().copy()
    w.grad = None
    got = dg.function(lambda: f(True))()
    assert _same(got.numpy(), eager[0]) and _same(w.grad.numpy(), eager[1])


def test_a_detached_alias_read_before_the_tensor_carries_no_gradient():
    """`w.detach()` read before w itself, in one expression: eagerly only w's use gets a
    gradient; the trace keeps the two reads apart (before, w.grad doubled), and one trace
    serves the calls after the first (before, the detached alias's guard failed at each)."""
    got = []
    for compiled in (False, True):
        dg.manual_seed(0)
        w = dg.randn(3, requires_grad=True)

        def fn(x):
            (x * (w.detach() + w)).sum().backward()
        f = dg.function(fn) if compiled else fn
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # (the second call retraces: w.grad exists now)
            for i in range(4):
                f(dg.full((3,), float(i + 1)))
        got.append(w.grad.numpy().copy())
    assert np.array_equal(*got) and f.trace_count == 2


def test_a_value_saved_for_backward_then_written_in_place_is_refused_as_eagerly():
    """y ** 2 saves y; y.add_(1) after it: eagerly backward raises the version error, and the
    trace raises it too (before, it compiled to the old value's gradient). Writes before the
    use, and an in-place op's own rule, are fine in both."""
    from dualgraph.errors import DGRuntimeError

    def bad(x, w):
        y = x * w
        z = y ** 2
        y.add_(1)
        z.sum().backward()

    def bad_output(x, w):
        z = (x * w).exp()       # exp's rule reads its output
        z.mul_(2)
        z.sum().backward()

    def fine(x, w):
        y = x * w
        y.add_(1)               # before its use
        z = y * 3
        z.mul_(w)               # the in-place op's own rule reads its inputs' old values
        z.sum().backward()
    for fn in (bad, bad_output, fine):
        got = []
        for compiled in (False, True):
            w = dg.tensor([0.5, -1.0, 2.0], requires_grad=True)
            f = dg.function(fn) if compiled else fn
            try:
                f(dg.ones(3), w)
                got.append(w.grad.numpy().copy())
            except DGRuntimeError as e:
                assert "modified by an inplace operation" in str(e)
                got.append("raised")
        if fn is not fine:
            assert got == ["raised", "raised"]
        else:
            assert _same(*got)


def test_a_python_counter_the_function_changes_is_run_again_at_each_call():
    """self.calls += 1 in a traced forward: the plan cannot replay a Python write, so the
    value from before the trace is guarded and each call retraces (the warning names it); a
    value set once (lazy initialisation) retraces once."""
    class Counting(dg.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = dg.nn.Linear(2, 1)
            self.calls = 0
            self.ready = False

        def forward(self, x):
            self.calls += 1
            self.ready = True
            return self.lin(x) * self.calls

    class Lazy(dg.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = dg.nn.Linear(2, 1)
            self.ready = False

        def forward(self, x):
            self.ready = True
            return self.lin(x)
    for cls, traces in ((Counting, 4), (Lazy, 2)):
        got = []
        for compiled in (False, True):
            dg.manual_seed(0)
            m = cls()
            f = dg.function(lambda x: m(x).sum()) if compiled else (lambda x: m(x).sum())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got.append([(f(dg.ones(1, 2)).item(), getattr(m, "calls", None)) for _ in range(4)])
        assert got[0] == got[1]
        assert f.trace_count == traces


def test_the_traces_a_counter_makes_are_bounded():
    """A counter the function changes retraces every call; the traces kept are bounded."""
    from dualgraph.graph.function import MAX_TRACES_KEPT, MAX_TRACES_PER_SIGNATURE
    state = types.SimpleNamespace(n=0)

    def f(x):
        state.n += 1
        return x * state.n
    cf = dg.function(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(MAX_TRACES_KEPT + 5):
            assert cf(dg.ones(2)).numpy()[0] == i + 1
    assert cf.trace_count == MAX_TRACES_KEPT + 5
    assert len(cf._traces) == MAX_TRACES_KEPT and all(len(v) <= MAX_TRACES_PER_SIGNATURE for v in cf._cache.values())
    assert f"trace {MAX_TRACES_KEPT + 5}:" in cf.explain(print_it=False)


def test_a_value_a_loop_or_branch_read_then_written_in_place_is_refused_as_eagerly():
    """A dg.while_loop / dg.cond (an RNN, a branch) reads a buffer or a value; the forward then
    writes it in place before backward. Eagerly the body's ops saved it and backward raises the
    version error; the trace raises it too (before, it compiled and trained on the old value).
    Writes the rules do not read (an add's operand), and a loop's own writes, are fine in both."""
    from dualgraph.errors import DGRuntimeError

    def programs(layer, buf):
        def rnn(x, w):
            out, h = layer(x, buf)
            buf.copy_(h.detach())
            (out.sum() * w).sum().backward()

        def loop_mul(x, w):        # the body's mul saves the captured buffer
            h = dg.while_loop(lambda i, h: i < 3, lambda i, h: (i + 1, h * buf * w), (dg.tensor(0), x))[1]
            buf.mul_(2)
            h.sum().backward()

        def loop_view(x, w):       # through a view of it
            h = dg.while_loop(lambda i, h: i < 3, lambda i, h: (i + 1, h * buf[:] * w), (dg.tensor(0), x))[1]
            buf.mul_(2)
            h.sum().backward()

        def loop_value(x, w):      # a plain value, not state: y is saved by the body's mul
            y = x * w
            h = dg.while_loop(lambda i, h: i < 2, lambda i, h: (i + 1, h * y), (dg.tensor(0), x))[1]
            y.add_(1)
            h.sum().backward()

        def branch(x, w):
            z = dg.cond(x.sum() > 0, lambda: (x * w * buf).sum(), lambda: (x * w).sum())
            buf.add_(1)
            z.backward()

        def loop_add(x, w):        # add reads no value: nothing to refuse
            h = dg.while_loop(lambda i, h: i < 3, lambda i, h: (i + 1, h * w + buf), (dg.tensor(0), x))[1]
            buf.mul_(2)
            h.sum().backward()

        def loop_writes(x, w):     # the body writes the buffer itself, nothing after
            def body(i, h):
                buf.add_(1)
                return i + 1, h * w + buf
            h = dg.while_loop(lambda i, h: i < 3, body, (dg.tensor(0), x))[1]
            h.sum().backward()
        return dict(rnn=rnn, loop_mul=loop_mul, loop_view=loop_view, loop_value=loop_value, branch=branch,
                    loop_add=loop_add, loop_writes=loop_writes)

    for name, raises in (("rnn", True), ("loop_mul", True), ("loop_view", True), ("loop_value", True), ("branch", True),
                         ("loop_add", False), ("loop_writes", False)):
        got = []
        for compiled in (False, True):
            dg.manual_seed(0)
            layer = dg.nn.RNN(3, 3)
            w = dg.tensor([0.5, -1.0, 2.0], requires_grad=True)
            buf = dg.full((1, 2, 3), 0.5) if name == "rnn" else dg.full((3,), 0.5)
            x = dg.ones(4, 2, 3) if name == "rnn" else dg.ones(3)
            fn = programs(layer, buf)[name]
            f = dg.function(fn) if compiled else fn
            try:
                for _ in range(2):
                    f(x, w)
                got.append([w.grad.numpy().copy(), buf.numpy().copy()])
            except DGRuntimeError as e:
                assert "modified by an inplace operation" in str(e)
                got.append("raised")
        if raises:
            assert got == ["raised", "raised"], name
        else:
            assert got[0] != "raised" and all(_same(a, b) for a, b in zip(*got)), name
