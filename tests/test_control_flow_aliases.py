"""dg.cond / dg.while_loop values that eagerly ARE other tensors (graph/control_flow_aliases.py,
graph/memories.py).

Eagerly `y = dg.cond(c, lambda: u, lambda: u * 3)` is u itself when c holds, and an in-place
write to one shows in the other; a compiled result is a tensor of its own. Each case runs eagerly
and through dg.function over calls with and without the sharing: where eagerly it happens and a
write would show it, the compiled call is refused ("at this call ... at such a run") and changes
no state; at the other calls the numbers, .grad and state are eager's. A result returned from
dg.function that eagerly is an argument or a parameter at a call is that very tensor then."""
import numpy as np
import pytest

import dualgraph as dg

P = lambda: [dg.nn.Parameter(dg.tensor([1.0, 2.0]))]
B = lambda: [dg.zeros(2)]
N = lambda: []


def _snapshot(state):
    return [(t.detach().numpy().copy(), None if getattr(t, "grad", None) is None else t.grad.numpy().copy())
            for t in state]


def _restore(state, snap):
    with dg.no_grad():
        for t, (v, g) in zip(state, snap):
            t.copy_(dg.tensor(v))
            if isinstance(t, dg.nn.Parameter):
                t.grad = None if g is None else dg.tensor(g)


def _values(out):
    out = out if isinstance(out, tuple) else (out,)
    return [np.asarray(o.detach().numpy()).tolist() for o in out]


def run_calls(fn, make, calls):
    """fn(state, x) eagerly and compiled over `calls`: [(x, shared)], shared: whether eagerly a
    write shows the sharing at that call (then the compiled call must be refused, its state
    untouched; the eager state is put back so the next calls compare)."""
    es, cs = make(), make()
    step = dg.function(lambda x: fn(cs, x))
    for k, (x, shared) in enumerate(calls):
        before_e, before_c = _snapshot(es), _snapshot(cs)
        eager = _values(fn(es, dg.tensor(x)))
        if shared:
            with pytest.raises(dg.DualGraphError, match="at such a run"):
                step(dg.tensor(x))
            after = _snapshot(cs)
            assert all(np.array_equal(a[0], b[0]) for a, b in zip(after, before_c)), f"call {k}: state moved"
            _restore(es, before_e)
            continue
        got = _values(step(dg.tensor(x)))
        assert got == eager, f"call {k}"
        for a, b in zip(_snapshot(es), _snapshot(cs)):
            assert np.array_equal(a[0], b[0]), f"call {k}: state"
            assert (a[1] is None) == (b[1] is None) and (a[1] is None or np.array_equal(a[1], b[1])), f"call {k}: grad"


POS, NEG = [1.0, 2.0], [-1.0, -2.0]


def result_written(state, x):
    u = x * 2
    y = dg.cond(x.sum() > 0, lambda: u, lambda: u * 3)
    y.add_(1.0)          # eagerly y IS u when the true branch runs
    return u * 1, y * 1


def outer_written(state, x):
    u = x * 2
    y = dg.cond(x.sum() > 0, lambda: u, lambda: u * 3)
    u.add_(1.0)
    return u * 1, y * 1


def view_result_written(state, x):
    u = x * 2
    y = dg.cond(x.sum() > 0, lambda: u[0], lambda: u[1] * 3)
    y.add_(1.0)          # eagerly y is a view of u: u[0] moves
    return u * 1, y * 1


def view_of_outer_read(state, x):
    u = x * 2
    v = u[1:]            # made before: eagerly it sees a write through y
    y = dg.cond(x.sum() > 0, lambda: u, lambda: u * 3)
    y.mul_(2.0)
    return v * 1, y * 1


def one_value_twice(state, x):
    def yes():
        t = x * 2
        return t, t
    a, b = dg.cond(x.sum() > 0, yes, lambda: (x * 3, x * 4))
    a.add_(1.0)
    return a * 1, b * 1


def no_iteration(state, x):
    u = x * 2
    _, y = dg.while_loop(lambda i, h: i < x.sum(), lambda i, h: (i + 1, h * 0.5), (0, u))
    y.add_(1.0)          # eagerly y IS u after no iteration (x.sum() <= 0)
    return u * 1, y * 1


def counted_loop_then_buffer_write(state, x):
    (b,) = state
    _, h = dg.while_loop(lambda i, h: i < 2, lambda i, h: (i + 1, h * 0.5 + x), (0, b))
    b.copy_(h)           # the loop surely runs (i < 2 from 0): h is never b
    return h * 1


def param_result_then_step(state, x):
    (p,) = state
    opt = dg.optim.SGD([p], lr=0.5)
    opt.zero_grad()
    y = dg.cond(x.sum() > 0, lambda: p, lambda: p * 2)
    (y * x).sum().backward()
    opt.step()           # eagerly y IS p: the value returned is the stepped p
    return y * 1


def buffer_result_written(state, x):
    (b,) = state
    y = dg.cond(x.sum() > 0, lambda: b, lambda: b * 2)
    y.add_(1.0)          # eagerly writes the buffer when the true branch runs
    return y * 1


def buffer_written_result_read(state, x):
    (b,) = state
    y = dg.cond(x.sum() > 0, lambda: b, lambda: b * 2 + 1)
    b.add_(x)
    return y * 1


def no_write(state, x):
    u = x * 2
    y = dg.cond(x.sum() > 0, lambda: u, lambda: u * 3)
    return u * 1, y * 1


@pytest.mark.parametrize("fn, make", [
    (result_written, N), (outer_written, N), (view_result_written, N), (view_of_outer_read, N),
    (one_value_twice, N), (param_result_then_step, P), (buffer_result_written, B),
    (buffer_written_result_read, B)], ids=lambda v: getattr(v, "__name__", ""))
def test_cond_sharing_refused_only_where_it_happens(fn, make):
    run_calls(fn, make, [(NEG, False), (POS, True), (NEG, False), (POS, True), (NEG, False)])


def test_loop_result_is_its_initial_value_after_no_iteration():
    run_calls(no_iteration, N, [(POS, False), (NEG, True), (POS, False), (NEG, True)])


@pytest.mark.parametrize("fn, make", [(counted_loop_then_buffer_write, B), (no_write, N)],
                         ids=lambda v: getattr(v, "__name__", ""))
def test_no_sharing_no_refusal(fn, make):
    run_calls(fn, make, [(POS, False), (NEG, False), (POS, False)])


def test_loop_variable_is_a_buffer_the_body_writes():
    """h IS b at the first iteration: the body's write to b shows in h eagerly (always: refused
    when traced)."""
    def fn(state, x):
        (b,) = state

        def body(i, h):
            b.copy_(x)
            return i + 1, h * 0.5 + 1
        return dg.while_loop(lambda i, h: i < 1, body, (0, b))[1]
    b = dg.zeros(2)
    with pytest.raises(dg.DualGraphError, match="at the first iteration"):
        dg.function(lambda x: fn([b], x))(dg.tensor(POS))


def test_loop_variable_written_while_the_body_reads_its_initial_value():
    def fn(x):
        u = x * 2

        def body(i, h):
            t = h + u
            h.mul_(0.5)        # eagerly h IS u at the first iteration: the next reads u / 2
            return i + 1, t
        return dg.while_loop(lambda i, h: i < 2, body, (0, u))[1]
    assert float(fn(dg.tensor(1.0))) == 5.0          # eagerly 2 + 2, then 4 + 1 (compiled: 4 + 2)
    with pytest.raises(dg.DualGraphError, match="reads too"):
        dg.function(fn)(dg.tensor(1.0))


def test_argument_write_through_result_refused_where_it_happens():
    """The false branch returns x itself: writing the result writes the caller's tensor."""
    def fn(x):
        y = dg.cond(x.sum() > 0, lambda: x * 1, lambda: x)
        y.add_(1.0)
        return y * 1
    f = dg.function(fn)
    assert f(dg.tensor(POS)).tolist() == [2.0, 3.0]
    with pytest.raises(dg.DualGraphError, match="argument 'x'"):
        f(dg.tensor(NEG))


def test_returned_result_is_the_argument_or_parameter_itself():
    p = dg.nn.Parameter(dg.tensor([1.0, 2.0]))
    f = dg.function(lambda x: dg.cond(x.sum() > 0, lambda: x, lambda: -x))
    g = dg.function(lambda x: dg.cond(x.sum() > 0, lambda: p, lambda: p * x))
    loop = dg.function(lambda x, n: dg.while_loop(lambda i, h: i < n, lambda i, h: (i + 1, h * 2), (0, x))[1])
    for _ in range(2):                 # (the second call runs the compiled plan)
        a = dg.tensor(POS)
        assert f(a) is a               # eagerly too: the branch returns x
        b = dg.tensor(NEG)
        r = f(b)
        assert r is not b and r.tolist() == [1.0, 2.0]
        assert g(dg.tensor(POS)) is p
        q = g(dg.tensor(NEG))
        assert q is not p and q.tolist() == [-1.0, -4.0]
        x = dg.tensor(POS)
        assert loop(x, dg.tensor(0)) is x          # no iteration: the initial value itself
        assert loop(x, dg.tensor(2)).tolist() == [4.0, 8.0]
    out = g(dg.tensor(POS))
    with dg.no_grad():
        p.add_(1.0)
    assert out.tolist() == [2.0, 3.0]              # it is p: the caller's write shows


def test_returned_view_is_a_view_of_the_argument_or_parameter():
    """A branch returning a view of an argument or parameter: the call returns that view of the
    very tensor (made again eagerly), so a later write to it shows, as eagerly."""
    p = dg.nn.Parameter(dg.tensor([1.0, 2.0]))
    v = p[1:]                           # a view made outside, returned by a branch
    fs = {"param view": lambda x: dg.cond(x.sum() > 0, lambda: p[0:1], lambda: p[1:] * 2),
          "outer view": lambda x: dg.cond(x.sum() > 0, lambda: v, lambda: v * 2),
          "argument view": lambda x: dg.cond(x.sum() > 0, lambda: x[1:], lambda: x[:1] * 2)}
    for name, fn in fs.items():
        f = dg.function(fn)
        for run in (fn, f, f):
            x = dg.tensor([1.0, 2.0])
            out = run(x)
            base = x if name == "argument view" else p
            with dg.no_grad():
                base.add_(1.0)
            assert out._base is base, name
            assert out.tolist() == ([3.0] if name == "argument view" else [2.0] if name == "param view" else [3.0]), name
            with dg.no_grad():
                base.sub_(1.0)


def test_graph_mode_refuses_the_run_taking_the_sharing_branch():
    with dg.graph_mode() as gr:
        x = dg.placeholder([2])
        u = x * 2
        y = dg.cond(x.sum() > 0, lambda: u, lambda: u * 3)
        y.add_(1.0)
        out = u * 1
    run = gr.compile([out], feeds=[x])
    assert run(np.array(NEG, np.float32))[0].tolist() == [-2.0, -4.0]
    with pytest.raises(dg.DualGraphError, match="at this call"):
        run(np.array(POS, np.float32))


def view_of_result_then_result_written(state, x):
    u = x * 2
    y = dg.cond(x.sum() > 0, lambda: u, lambda: u * 3)
    v = y[0:1]           # a view of y: it sees y's write at every call
    y.add_(1.0)
    return v * 1, y * 1


def result_written_through_a_view(state, x):
    u = x * 2
    y = dg.cond(x.sum() > 0, lambda: u, lambda: u * 3)
    y[0:1].mul_(2.0)     # y (and u, when y is u) changes
    return y * 1, u * 1


def two_views_of_a_result(state, x):
    u = x * 2
    y = dg.cond(x.sum() > 0, lambda: u * 1, lambda: u * 3)
    v, w = y[0:1], y[0]
    v.add_(1.0)          # w sees it; nothing else is shared
    return w * 1, y * 1


@pytest.mark.parametrize("fn", [view_of_result_then_result_written, two_views_of_a_result],
                         ids=lambda v: v.__name__)
def test_views_of_a_result_follow_it(fn):
    run_calls(fn, N, [(NEG, False), (POS, False), (NEG, False)])


def test_write_through_a_view_of_a_result():
    run_calls(result_written_through_a_view, N, [(NEG, False), (POS, True), (NEG, False)])


def nested_result_written(state, x):
    """Inside a branch, a nested cond's result that eagerly is a tensor from outside the branch
    (written through a view): eagerly that outer tensor changes."""
    t0 = x * 2

    def outer():
        t4 = dg.cond(x[0] > 0, lambda: t0 * 1, lambda: t0)
        t4[0:1].fill_(-0.75)
        return t4 * 1
    return t0 * 1, dg.cond(x.sum() > -10, outer, lambda: x * 1)


def test_nested_result_that_is_an_outer_tensor():
    run_calls(nested_result_written, N, [(POS, False), ([-1.0, 2.0], True), (POS, False)])


# ---- nested control flow and outputs that are one tensor: what a result eagerly IS is tracked
# through nested dg.cond / dg.while_loop (their flags become outputs of the enclosing op, or
# loop variables: control_flow_aliases.LoopIdentities), so a dg.function returns that very
# tensor at exactly the calls where eagerly it is it, and a write is refused at exactly those.
def _nested_param(p):
    return lambda x: dg.cond(x.sum() > 0, lambda: dg.cond(x[0] > 0, lambda: p, lambda: p * 2),
                             lambda: x * 3)


def _nested_argument(x):
    return dg.cond(x.sum() > 0, lambda: dg.cond(x[0] > 0, lambda: x, lambda: x * 2), lambda: x * 3)


def _loop_nested(x):
    def body(i, h):
        return i + 1, dg.cond(x[0] > 0, lambda: h, lambda: h * 2)
    return dg.while_loop(lambda i, h: i < 2, body, (0, x))[1]


def _swapped(x, n):
    def body(i, a, b):
        return i + 1, b, a
    _, a, b = dg.while_loop(lambda i, a, b: i < n, body, (0, x, x * 3))
    return a


def _calls(run, make_fn, xs, param=None):
    """Per call: the result's values, whether it is the argument / parameter, after the caller
    writes it; and the argument and parameter after."""
    f = make_fn() if run == "eager" else dg.function(make_fn())
    out = []
    for x in xs:
        x = dg.tensor(x)
        y = f(x)
        with dg.no_grad():
            y.add_(1.0)
        out.append((y.tolist(), y is x, param is not None and y is param, x.tolist(),
                    None if param is None else param.tolist()))
    return out


XS = [[1.0, 1.0], [-1.0, 2.0], [-1.0, -2.0], [1.0, 1.0]]


@pytest.mark.parametrize("which", ["nested param", "nested argument", "loop nested"])
def test_returned_nested_result_is_the_argument_or_parameter_itself(which):
    got = {}
    for run in ("eager", "compiled"):
        p = dg.nn.Parameter(dg.tensor([1.0, 2.0]))
        make = {"nested param": lambda: _nested_param(p), "nested argument": lambda: _nested_argument,
                "loop nested": lambda: _loop_nested}[which]
        got[run] = _calls(run, make, XS, p)
    assert any(c[1] or c[2] for c in got["eager"]) and not all(c[1] or c[2] for c in got["eager"])
    assert got["compiled"] == got["eager"]


def test_loop_results_that_swap_are_the_arguments_themselves():
    f = dg.function(_swapped)
    for n in (0, 1, 2, 3, 1):
        x = dg.tensor([1.0, 2.0])
        eager, compiled = _swapped(x, n), f(x, dg.tensor(n))
        assert (eager is x) == (compiled is x) == (n % 2 == 0), n
        assert compiled.tolist() == eager.tolist()


def test_outputs_that_are_one_tensor_at_some_calls():
    """A branch (or a loop body) returning one value twice: eagerly the two results are one
    tensor; the call returns one tensor for both then, two at the other calls."""
    def branch(x):
        def yes():
            t = x * 2
            return t, t
        return dg.cond(x.sum() > 0, yes, lambda: (x * 3, x * 4))

    def loop(x, n):
        def body(i, a, b):
            t = a + b
            return i + 1, t, t
        return dg.while_loop(lambda i, a, b: i < n, body, (0, x * 1, x * 2))[1:]
    cases = [(branch, [([1.0],), ([-1.0],), ([2.0],)]),
             (loop, [([1.0], 1), ([1.0], 0), ([1.0], 2)])]
    for fn, calls in cases:
        f = dg.function(fn)
        for args in calls * 2:
            ea = [dg.tensor(a) for a in args]
            ca = [dg.tensor(a) for a in args]
            e, c = fn(*ea), f(*ca)
            assert (e[0] is e[1]) == (c[0] is c[1]), (fn.__name__, args)
            with dg.no_grad():
                e[0].add_(1.0)
                c[0].add_(1.0)
            assert [t.tolist() for t in c] == [t.tolist() for t in e], (fn.__name__, args)


def nested_param_written(state, x):
    """Written inside the function: refused only where eagerly the nested result is p."""
    (p,) = state
    y = _nested_param(p)(x)
    with dg.no_grad():
        y.add_(1.0)
    return y * 1, p * 1


def loop_nested_param_written(state, x):
    (p,) = state

    def body(i, h):
        return i + 1, dg.cond(x[0] > 0, lambda: h, lambda: h * 2)
    y = dg.while_loop(lambda i, h: i < 2, body, (0, p))[1]
    loss = (y * x).sum()
    loss.backward()
    with dg.no_grad():
        y.add_(1.0)
    return loss, p * 1


@pytest.mark.parametrize("fn", [nested_param_written, loop_nested_param_written], ids=lambda v: v.__name__)
def test_nested_sharing_refused_only_where_it_happens(fn):
    run_calls(fn, P, [([-1.0, 2.0], False), ([1.0, 2.0], True), ([-1.0, 3.0], False), ([1.0, 2.0], True)])


def param_result_written_unread(state, x):
    """The written result is not read again: the refusal runs all the same (Graph.checks)."""
    (p,) = state
    y = dg.cond(x[0] > 0, lambda: p, lambda: p * 2)
    with dg.no_grad():
        y.add_(1.0)
    return p * 1


def nested_param_written_in_branch(state, x):
    (p,) = state

    def outer():
        y = dg.cond(x[0] > 0, lambda: p, lambda: p * 2)
        with dg.no_grad():
            y.add_(1.0)
        return x * 1
    return dg.cond(x.sum() > -10, outer, lambda: x * 2), p * 1


@pytest.mark.parametrize("fn", [param_result_written_unread, nested_param_written_in_branch],
                         ids=lambda v: v.__name__)
def test_unread_write_refused_where_it_happens(fn):
    run_calls(fn, P, [([-1.0, 2.0], False), ([1.0, 2.0], True), ([-1.0, 3.0], False), ([1.0, 2.0], True)])


def test_outputs_that_are_one_tensor_by_other_paths():
    """Eagerly one tensor, compiled one too: two conds' results that are one value not returned
    itself; a view returned twice by a branch; a value and a nested loop's result that is it
    after no iteration; `v.contiguous()` beside v."""
    b = dg.tensor([1.0, 2.0])

    def two_conds(x):
        u = x * 2
        y1 = dg.cond(x[0] > 0, lambda: x * 3, lambda: u)
        y2 = dg.cond(x[1] > 0, lambda: x * 4, lambda: u)
        return y1, y2

    def view_twice(x):
        def yes():
            v = dg.t(b)
            return v, v
        return dg.cond(x[0] > 0, yes, lambda: (x * 1, x * 2))

    def nested_loop(x):
        def yes():
            t = x * 2
            r = dg.while_loop(lambda i, h: i < x[1], lambda i, h: (i + 1, h * 2), (0, t),
                              maximum_iterations=2)[1]
            return r, t
        return dg.cond(x[0] > 0, yes, lambda: (x * 1, x * 2))
    for fn in (two_conds, view_twice, nested_loop):
        f = dg.function(fn)
        for xv in ([1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]) * 2:
            e, c = fn(dg.tensor(xv)), f(dg.tensor(xv))
            assert (e[0] is e[1]) == (c[0] is c[1]), (fn.__name__, xv)
            assert [t.tolist() for t in c] == [t.tolist() for t in e], (fn.__name__, xv)


def result_written_then_its_tensor_written(state, x):
    """Eagerly y IS t after the true branch: y's write and t's later write both show in y (and
    a read of y inside a branch reads it now: SubGraph._capture)."""
    t = x * 1.0
    y = dg.cond(x.sum() > 0, lambda: t, lambda: x * 3)
    y.mul_(-1.0)
    t.add_(5.0)
    return dg.cond(x.mean() < 10, lambda: y + 1, lambda: y * 2)


def result_view_written_then_its_tensor_written(state, x):
    t = x * 1.0
    y = dg.cond(x.sum() > 0, lambda: t, lambda: x * 3)
    y[0:1].mul_(-1.0)
    t.add_(5.0)
    return y * 2


@pytest.mark.parametrize("fn", [result_written_then_its_tensor_written,
                                result_view_written_then_its_tensor_written], ids=lambda v: v.__name__)
def test_a_written_result_stays_the_tensor_it_is(fn):
    run_calls(fn, N, [(NEG, False), (POS, True), (NEG, False), (POS, True)])


def loop_over_a_result_that_is_a_buffer(state, x):
    """The loop's initial value eagerly IS b when the cond takes the true branch; the body
    writes b, then reads its variable: at the first iteration eagerly b, written (refused at
    exactly those runs: the cond's flag is captured into the body)."""
    (b,) = state
    y = dg.cond(x.sum() > 0, lambda: b, lambda: x * 2)

    def body(i, h):
        b.clamp_(-0.5, 0.5)
        return i + 1, (h * 0.5).clamp(-1.0, 1.0)
    return dg.while_loop(lambda i, h: i < 2, body, (0, y))[1] * 1, b * 1


def test_loop_whose_initial_value_is_a_buffer_at_some_runs():
    make = lambda: [dg.tensor([1.0, -2.0])]  # noqa: E731
    run_calls(loop_over_a_result_that_is_a_buffer, make,
              [(NEG, False), (POS, True), (NEG, False), (POS, True)])
