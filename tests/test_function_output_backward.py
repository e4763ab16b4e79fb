"""The outputs of a dg.function carry a (compiled) backward: a loss computed from them outside
the function, then backward() and an optimizer step, trains exactly as the eager code does.
Each case runs the same code with the function called eagerly and compiled, from identical
state, over several calls, and compares outputs, parameters, .grad, buffers and the inputs'
.grad bit for bit."""
import warnings

import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F
from dualgraph.errors import DGRuntimeError, DGNotImplementedError


def _same(a, b):
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


def _snapshot(model, extra=()):
    out = []
    for p in model.parameters():
        out += [p.detach().numpy().copy(), None if p.grad is None else p.grad.numpy().copy()]
    out += [b.numpy().copy() for b in model.buffers()]
    for t in extra:
        out.append(None if t.grad is None else t.grad.numpy().copy())
    return out


def _compare(make, calls=4):
    """make(compiled) -> (model, step, extra): step(i) returns the tensors to compare; extra the
    input tensors whose .grad to compare. The model's forward is compiled when compiled."""
    results = {}
    for compiled in (False, True):
        dg.manual_seed(0)
        model, step, extra = make(compiled)
        got = []
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no retrace warnings: one trace serves every call
            for i in range(calls):
                outs = step(i)
                got.append(([(o.detach().numpy().copy(), o.requires_grad) for o in outs],
                            _snapshot(model, extra)))
        results[compiled] = got
    for i, ((oe, se), (oc, sc)) in enumerate(zip(results[False], results[True])):
        assert len(oe) == len(oc)
        for (a, ra), (b, rb) in zip(oe, oc):
            assert _same(a, b) and ra == rb, f"call {i}: output"
        for k, (a, b) in enumerate(zip(se, sc)):
            assert _same(a, b), f"call {i}: state {k}"


def _mlp():
    return dg.nn.Sequential(dg.nn.Linear(5, 8), dg.nn.ReLU(), dg.nn.Linear(8, 3))


def _classifier_step(fwd, opt, zero_grad=True):
    """step(i): the forward on batch i, cross-entropy, backward and the optimizer step eagerly."""
    xs = [dg.randn(4, 5) for _ in range(4)]
    ys = dg.tensor([0, 2, 1, 2])

    def step(i):
        if zero_grad:
            opt.zero_grad()
        out = fwd(xs[i])
        loss = F.cross_entropy(out, ys)
        loss.backward()
        opt.step()
        return out, loss
    return step


def test_compiled_forward_eager_loss_backward_and_step():
    def make(compiled):
        model = _mlp()
        fwd = dg.function(model) if compiled else model
        opt = dg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
        return model, _classifier_step(fwd, opt), ()
    _compare(make)


def test_gradient_reaches_inputs_leaf_and_non_leaf():
    """x.grad accumulates over calls; a non-leaf input (an eager op's result) passes the
    gradient on into its own history."""
    def make(compiled):
        model = _mlp()
        fwd = dg.function(model) if compiled else model
        x = dg.randn(4, 5, requires_grad=True)
        w = dg.randn(4, 5, requires_grad=True)
        opt = dg.optim.Adam(list(model.parameters()) + [w], lr=0.01)

        def step(i):
            opt.zero_grad()
            h = fwd(x) * 2.0 + fwd(x * w).tanh()
            h.pow(2).mean().backward()
            opt.step()
            return (h,)
        return model, step, (x, w)
    _compare(make)


def test_dropout_mask_is_the_forwards_and_buffers_update():
    """The backward plan is fed the forward's values, so a dropout mask is the one drawn in the
    forward (recomputing it would draw another); BatchNorm's running stats are written once."""
    def make(compiled):
        model = dg.nn.Sequential(dg.nn.Linear(5, 6), dg.nn.BatchNorm1d(6), dg.nn.Dropout(0.5),
                                 dg.nn.Linear(6, 2))
        fwd = dg.function(model) if compiled else model
        opt = dg.optim.SGD(model.parameters(), lr=0.05)
        x = dg.randn(8, 5)

        def step(i):
            opt.zero_grad()
            out = fwd(x)
            out.sum().backward()
            opt.step()
            return (out, dg.rand(2))  # the generator advanced as eagerly
        return model, step, ()
    _compare(make)


def test_several_outputs_one_unused_and_an_integer_one():
    def make(compiled):
        model = _mlp()

        def f(x):
            h = model(x)
            return h, h.argmax(1), (h * 3).sum(0), x * 2   # (the last requires no grad)
        fwd = dg.function(f) if compiled else f
        opt = dg.optim.SGD(model.parameters(), lr=0.1)
        x = dg.randn(4, 5)

        def step(i):
            opt.zero_grad()
            h, idx, s, x2 = fwd(x)
            (h.sum() if i % 2 else s.sum()).backward()   # the other output gets no gradient
            opt.step()
            return h, idx, s, x2
        return model, step, ()
    _compare(make)


def test_two_forwards_then_one_backward():
    """Each call's saved values are its own (the plan's buffers are not shared between calls)."""
    def make(compiled):
        model = _mlp()
        fwd = dg.function(model) if compiled else model
        opt = dg.optim.SGD(model.parameters(), lr=0.1)
        a, b = dg.randn(4, 5), dg.randn(4, 5)

        def step(i):
            opt.zero_grad()
            oa = fwd(a)
            ob = fwd(b)
            (oa * ob).sum().backward()
            opt.step()
            return oa, ob
        return model, step, ()
    _compare(make)


def test_branch_not_taken_leaves_grad_none():
    """A parameter used only in the branch of an `if` on a tensor that a call does not take
    gets no .grad at that call, as eagerly (so weight decay does not move it)."""
    def make(compiled):
        model = dg.nn.ModuleList([dg.nn.Linear(3, 3), dg.nn.Linear(3, 3)])

        def f(x):
            if x.sum() > 0:
                y = model[0](x)
            else:
                y = model[1](x)
            return y
        fwd = dg.function(f) if compiled else f
        opt = dg.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.1)
        xs = [dg.ones(2, 3), -dg.ones(2, 3), dg.ones(2, 3), -dg.ones(2, 3)]

        def step(i):
            opt.zero_grad(set_to_none=True)
            y = fwd(xs[i])
            y.sum().backward()
            opt.step()
            return (y,)
        return model, step, ()
    _compare(make)


def test_loop_in_forward():
    def make(compiled):
        cell = dg.nn.Linear(4, 4)

        def f(x, n):
            h = x
            for _ in range(n):
                h = dg.tanh(cell(h))
            return h
        fwd = dg.function(f) if compiled else f
        opt = dg.optim.SGD(cell.parameters(), lr=0.1)
        x = dg.randn(2, 4, requires_grad=True)

        def step(i):
            opt.zero_grad()
            h = fwd(x, 3)
            h.sum().backward()
            opt.step()
            return (h,)
        return cell, step, (x,)
    _compare(make)


def test_autograd_grad_on_compiled_output():
    model = _mlp()
    x = dg.randn(4, 5, requires_grad=True)
    ge = dg.autograd.grad(model(x).sum(), [x, model[0].weight])
    cf = dg.function(model)
    for _ in range(3):
        gc = dg.autograd.grad(cf(x).sum(), [x, model[0].weight])
        for a, b in zip(ge, gc):
            assert _same(a.numpy(), b.numpy())
    assert x.grad is None and model[0].weight.grad is None


def test_write_between_forward_and_backward_raises_as_eagerly():
    model = _mlp()
    x = dg.randn(4, 5, requires_grad=True)
    for fwd in (model, dg.function(model)):
        out = fwd(x)
        with dg.no_grad():
            model[2].weight.mul_(2)   # saved for x's gradient
        with pytest.raises(DGRuntimeError, match="modified by an inplace operation"):
            out.sum().backward()


def test_write_by_a_compiled_step_is_seen_by_an_eager_backward():
    """A compiled optimizer step bumps the version of what it writes, as eager in-place writes
    do, so an eager backward that saved the old value raises instead of using the new one."""
    lin = dg.nn.Linear(3, 2)
    opt = dg.optim.SGD(lin.parameters(), lr=0.1)
    x = dg.randn(4, 3, requires_grad=True)
    lin(x).sum().backward()
    cstep = dg.function(lambda: opt.step())
    cstep()
    out = lin(x)
    cstep()
    with pytest.raises(DGRuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
    @dg.function
    def scale():   # a write, no .grad read
        with dg.no_grad():
            lin.weight.mul_(0.5)
    scale()
    out = lin(x)
    scale()
    with pytest.raises(DGRuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_no_grad_call_has_no_history_and_a_trace_of_its_own():
    model = _mlp()
    cf = dg.function(model)
    x = dg.randn(4, 5)
    with dg.no_grad():
        a = cf(x)
    b = cf(x)
    with dg.no_grad():
        c = cf(x)
    assert a.grad_fn is None and not a.requires_grad and c.grad_fn is None
    assert b.requires_grad and b.grad_fn is not None
    assert cf.trace_count == 2
    assert _same(a.numpy(), b.detach().numpy())


def test_traced_without_grad_then_called_with_grad_trains():
    model = _mlp()
    cf = dg.function(model)
    x = dg.randn(4, 5)
    with dg.no_grad():
        cf(x)
    cf(x).sum().backward()
    ref = _mlp()
    ref.load_state_dict(model.state_dict())
    ref(x).sum().backward()
    for p, q in zip(model.parameters(), ref.parameters()):
        assert _same(p.grad.numpy(), q.grad.numpy())


def test_double_backward_through_compiled_output_is_refused():
    model = _mlp()
    x = dg.randn(4, 5, requires_grad=True)
    cf = dg.function(model)
    with pytest.raises(DGNotImplementedError, match="create_graph=True"):
        dg.autograd.grad(cf(x).sum(), x, create_graph=True)


def test_function_with_its_own_backward_returns_no_history():
    """A training step that runs backward inside returns its loss without history (eagerly a
    second backward through it raises too)."""
    model = _mlp()
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    x = dg.randn(4, 5)

    @dg.function
    def step():
        opt.zero_grad()
        loss = model(x).sum()
        loss.backward()
        opt.step()
        return loss
    for _ in range(2):
        loss = step()
    with pytest.raises(DGRuntimeError):
        loss.backward()


def test_a_backward_that_cannot_be_built_raises_at_backward_not_at_the_call():
    class NoGrad(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            raise DGNotImplementedError("no gradient for NoGrad")

    lin = dg.nn.Linear(3, 3)
    x = dg.randn(2, 3)
    for fwd in (lambda v: NoGrad.apply(lin(v)), dg.function(lambda v: NoGrad.apply(lin(v)))):
        out = fwd(x)   # the forward runs
        assert out.requires_grad
        with pytest.raises(DGNotImplementedError, match="no gradient for NoGrad"):
            out.sum().backward()


def test_grad_fn_is_named_as_under_torch_compile():
    cf = dg.function(_mlp())
    assert cf(dg.randn(2, 5)).grad_fn.name() == "CompiledFunctionBackward"


def _both(fn, check):
    """check(f) with f the function eagerly, then compiled; returns both results."""
    out = []
    for compiled in (False, True):
        dg.manual_seed(0)
        out.append(check(dg.function(fn()) if compiled else fn()))
    return out


def _raises(f, *a, **k):
    try:
        f(*a, **k)
    except DGRuntimeError as e:
        return str(e).split(":")[0][:60]
    return None


def test_a_second_backward_without_retain_graph_raises_as_eagerly():
    """An RNN loop that forgets h.detach(): eagerly the second step raises; compiled too (before,
    it silently went back through every earlier call)."""
    def make():
        cell = dg.nn.Linear(3, 3)
        return lambda x, h: dg.tanh(cell(x) + h)

    def check(f):
        h, got = dg.zeros(2, 3), []
        for _ in range(3):
            h = f(dg.ones(2, 3), h)
            got.append(_raises(h.sum().backward))
        return got
    e, c = _both(make, check)
    assert e == c and e[0] is None and e[1] is not None

    def twice(f):
        out = f(dg.ones(2, 3), dg.zeros(2, 3))
        return [_raises(out.sum().backward, retain_graph=True), _raises(out.sum().backward)]
    assert _both(make, twice) == [[None, None]] * 2


def test_custom_function_saved_tensors_are_freed_after_backward():
    class Square(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = dg.randn(3, requires_grad=True)
    y = Square.apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    with pytest.raises(DGRuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_in_place_write_to_an_output_its_backward_saved_raises():
    def make():
        lin = dg.nn.Linear(3, 2)
        return lambda x: lin(x).sigmoid()   # sigmoid's backward reads its output

    def check(f):
        out = f(dg.randn(4, 3))
        with dg.no_grad():
            out.mul_(2)
        return _raises(out.sum().backward)
    e, c = _both(make, check)
    assert e == c and e is not None


def test_a_module_given_to_dg_function_retraces_on_eval():
    def make():
        return dg.nn.Sequential(dg.nn.Linear(3, 8), dg.nn.Dropout(0.5), dg.nn.Linear(8, 2))

    def check(f):
        x = dg.randn(5, 3)
        got = [f(x).detach().numpy()]
        (f.fn if hasattr(f, "fn") else f).eval()
        got.append(f(x).detach().numpy())
        return got
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e, c = _both(make, check)
    for a, b in zip(e, c):
        assert _same(a, b)


def test_a_gradient_of_another_dtype_is_refused_as_eagerly():
    def make():
        lin = dg.nn.Linear(3, 2)
        return lambda x: lin(x)
    e, c = _both(make, lambda f: _raises(f(dg.randn(4, 3)).backward, dg.ones(4, 2, dtype=dg.float64)))
    assert e is not None and c is not None


def test_loops_and_recurrent_layers_backward_outside():
    for layer in (lambda: dg.nn.RNN(3, 4, batch_first=True), lambda: dg.nn.GRU(3, 4, batch_first=True),
                  lambda: dg.nn.LSTM(3, 4, batch_first=True)):
        def make(compiled, layer=layer):
            rnn = layer()
            fwd = dg.function(lambda x: rnn(x)[0]) if compiled else (lambda x: rnn(x)[0])
            opt = dg.optim.SGD(rnn.parameters(), lr=0.1)
            x = dg.randn(2, 5, 3, requires_grad=True)

            def step(i):
                opt.zero_grad()
                out = fwd(x)
                out.pow(2).mean().backward()
                opt.step()
                return (out,)
            return rnn, step, (x,)
        _compare(make, calls=3)

    def make(compiled):
        w = dg.nn.Linear(3, 3)

        def f(x):
            acc = dg.zeros(3)
            for row in x:          # AutoGraph: a while_loop over the rows
                acc = acc + w(row)
            return acc
        fwd = dg.function(f) if compiled else f
        opt = dg.optim.SGD(w.parameters(), lr=0.1)
        x = dg.randn(4, 3)

        def step(i):
            opt.zero_grad()
            out = fwd(x)
            out.sum().backward()
            opt.step()
            return (out,)
        return w, step, ()
    _compare(make, calls=3)


def test_weight_clipped_in_place_inside_then_used():
    """A write inside the function before the read the backward saves is no version error."""
    def make(compiled):
        m = dg.nn.Linear(3, 2)

        def f(x):
            with dg.no_grad():
                m.weight.clamp_(-0.3, 0.3)
            return m(x).tanh()
        fwd = dg.function(f) if compiled else f
        opt = dg.optim.SGD(m.parameters(), lr=0.5)
        x = dg.randn(4, 3, requires_grad=True)

        def step(i):
            opt.zero_grad()
            out = fwd(x)
            out.sum().backward()
            opt.step()
            return (out,)
        return m, step, (x,)
    _compare(make)


def test_advanced_index_copy_then_a_write_before_backward():
    def make():
        w = dg.randn(3, 3, requires_grad=True)
        return lambda x: ((x * w[[0, 2]]).sum(), w)

    def check(f):
        x = dg.randn(2, 3, requires_grad=True)
        o, w = f(x)
        with dg.no_grad():
            w.mul_(0.5)
        o.backward()
        return x.grad.numpy(), w.grad.numpy()
    e, c = _both(make, check)
    assert all(_same(a, b) for a, b in zip(e, c))


def test_enable_grad_inside_a_call_under_no_grad():
    def make():
        lin = dg.nn.Linear(3, 2)

        def f(x):
            with dg.enable_grad():
                return lin(x)
        return f

    def check(f):
        with dg.no_grad():
            out = f(dg.randn(4, 3))
        out.sum().backward()
        return out.requires_grad, f.__closure__ if False else None
    e, c = _both(make, check)
    assert e == c


def test_an_argument_or_a_parameter_returned_is_itself():
    lin = dg.nn.Linear(3, 2)
    cf = dg.function(lambda x: (x, lin.weight, lin(x)))
    x = dg.randn(4, 3)
    for _ in range(2):
        a, w, _ = cf(x)
        assert a is x and w is lin.weight


def test_one_tensor_returned_twice_is_one_tensor():
    lin = dg.nn.Linear(3, 2)
    x = dg.randn(4, 3)
    for f in (lambda v: (lin(v),) * 2, dg.function(lambda v: (lin(v),) * 2)):
        a, b = f(x)
        assert a is b
    with dg.no_grad():
        a, b = dg.function(lambda v: (lin(v),) * 2)(x)
        assert a is b


def test_outputs_with_disjoint_backward_each_backward_once():
    """Two outputs computed from different saved values: eagerly each may be backpropagated
    once without retain_graph (a second time through either raises); so compiled."""
    def make():
        a, b = dg.nn.Linear(3, 2), dg.nn.Linear(3, 2)
        return lambda x: (a(x).tanh(), b(x).tanh())

    def check(f):
        p, q = f(dg.randn(4, 3))
        return [_raises(p.sum().backward), _raises(q.sum().backward), _raises(q.sum().backward)]
    e, c = _both(make, check)
    assert e == c and e[0] is None and e[1] is None and e[2] is not None


def test_a_tensor_only_another_output_reaches_keeps_grad_none():
    def make():
        w1 = dg.tensor([1.0, 2.0], requires_grad=True)
        w2 = dg.tensor([3.0, 4.0], requires_grad=True)
        return lambda x: ((x * w1).sum(), (x * w2).sum().sign(), w1, w2)

    def check(f):
        l1, l2, w1, w2 = f(dg.ones(2))
        l1.backward()
        got = [None if w.grad is None else w.grad.numpy() for w in (w1, w2)]
        l2.backward()   # sign(): a gradient of zeros, but a .grad
        return got + [w2.grad.numpy()]
    e, c = _both(make, check)
    assert e[1] is None and all(_same(a, b) for a, b in zip(e, c))


def test_an_rnn_initial_state_overwritten_before_backward_raises_as_eagerly():
    """h0 read by a compiled GRU (one while_loop), then written in place before backward:
    eagerly the step's rules saved it (the version error), and the compiled backward checks
    the versions of what its loop read."""
    def make():
        rnn = dg.nn.GRU(3, 4, batch_first=True)
        return lambda x, h0: rnn(x, h0)

    def check(f):
        h0 = dg.zeros(1, 2, 4)
        y, h = f(dg.randn(2, 5, 3), h0)
        with dg.no_grad():
            h0.copy_(h)
        return _raises(y.sum().backward)
    e, c = _both(make, check)
    assert e is not None and c is not None


def test_a_view_of_an_argument_or_a_parameter_returned_is_a_view_of_it():
    """Eagerly `w.t()` and `x[:, :1]` returned are views: a later write to w or x shows in
    them, and a write through them reaches w or x; compiled they are made again on the very
    tensors at each call (before, snapshots)."""
    def make():
        lin = dg.nn.Linear(3, 2)
        return lambda x: (lin.weight.t(), x[:, :1], lin(x).sum())

    def check(f):
        x = dg.randn(4, 3)
        got = []
        for _ in range(2):
            wt, xv, loss = f(x)
            loss.backward()
            with dg.no_grad():
                wt.add_(1.0)          # through the view into the parameter
                x.mul_(2.0)           # into the argument: the view shows it
            w = wt.t()
            got += [wt.detach().numpy().copy(), xv.numpy().copy(), w.detach().numpy().copy(),
                    x.numpy().copy()]
        return got
    e, c = _both(make, check)
    assert all(_same(a, b) for a, b in zip(e, c))


def test_exports_keep_outputs_returned_as_themselves_and_consistency_runs():
    from dualgraph.export.json_format import to_json  # noqa: F401 (the exporter's own module)
    lin = dg.nn.Linear(3, 2)
    x = dg.randn(4, 3)
    f = dg.function(lambda v: (lin(v), lin.weight, lin.weight.t(), v))
    f(x)
    assert len(f._traces[-1].plan.fetches) - len(f._traces[-1].plan.hidden) == 4
    assert dg.check_consistency(dg.nn.Linear(3, 2), x) is None


def test_tape_graph_of_a_compiled_output_is_refused_clearly():
    from dualgraph.export.errors import ExportError
    cf = dg.function(_mlp())
    with pytest.raises(ExportError, match="outputs of a dg.function"):
        dg.autograd.tape_graph(cf(dg.randn(2, 5)).sum())


def test_an_output_that_is_a_view_of_another_output_is_a_view_of_it():
    """`return h, h[0]`: eagerly h[0] is a view of h (a write to h shows in it, and its
    gradient flows into h's); compiled the same."""
    def make():
        lin = dg.nn.Linear(3, 2)

        def f(x):
            h = lin(x).tanh()
            return h, h[0], h.t()
        return f

    def check(f):
        x = dg.randn(4, 3, requires_grad=True)
        h, h0, ht = f(x)
        (h0.sum() * 2 + ht.sum()).backward()
        with dg.no_grad():
            h.mul_(3)
        return [h0.detach().numpy().copy(), ht.detach().numpy().copy(), x.grad.numpy()]
    e, c = _both(make, check)
    assert all(_same(a, b) for a, b in zip(e, c))


def test_the_saved_values_go_after_a_backward_without_retain_graph():
    """Eagerly a backward without retain_graph frees what the rules saved, though the loss is
    still held (for logging, say); the compiled output's saved values go too."""
    cf = dg.function(_mlp())
    out = cf(dg.randn(4, 5))
    ctx = out.grad_fn.attrs["call"].ctx
    assert len(ctx.saved) > 0
    out.sum().backward(retain_graph=True)
    assert len(ctx.saved) > 0
    out.sum().backward()
    assert len(ctx.saved) == 0
    with pytest.raises(DGRuntimeError, match="second time"):
        out.sum().backward()


def test_zero_grad_inside_the_function_backward_outside():
    """The function clears .grad itself (zero_grad(set_to_none=True), p.grad = None) and the
    caller runs backward: eagerly the output keeps its history. (Before: a trace touching
    .grad gave its outputs no backward: "element 0 of tensors does not require grad".)"""
    def make(compiled):
        model = _mlp()
        opt = dg.optim.SGD(model.parameters(), lr=0.1)

        def forward(x):
            opt.zero_grad(set_to_none=True)
            model[0].weight.grad = None
            return model(x)
        fwd = dg.function(forward) if compiled else forward
        return model, _classifier_step(fwd, opt, zero_grad=False), ()
    _compare(make)
