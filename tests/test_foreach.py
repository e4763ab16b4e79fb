"""The multi-tensor updates (optim/foreach.py, EagerInterpreter.write_each): each tensor of a
list ends exactly as its own in-place method leaves it (values to the bit, version counter),
whether the list's loop writes it straight into memory or sends it through the method; SGD,
whose step runs on them, equals PyTorch's single-tensor formulas eagerly and compiled over
several calls; check_consistency still sees every write."""
import numpy as np
import pytest

import dualgraph as dg
from dualgraph import nn
from dualgraph.nn import functional as F
from dualgraph.optim.foreach import foreach_add_, foreach_mul_

RNG = np.random.default_rng(0)


def _arr(shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def _pairs():
    """(name, target arrays, operand makers): each case one list mixing what the loop writes
    itself with what goes to the method (other dtype, broadcast, int, 0-d, views)."""
    return [
        ("float32", [_arr((5, 4)), _arr((3,)), _arr(())], lambda t: [_arr(a.shape) for a in t]),
        ("float64", [_arr((6,), np.float64), _arr((2, 2), np.float64)],
         lambda t: [_arr(a.shape, np.float64) for a in t]),
        ("0-d and broadcast operands", [_arr((4, 3)), _arr((4, 3))],
         lambda t: [_arr(()), _arr((3,))]),
        ("mixed dtypes", [_arr((3,)), _arr((3,), np.float64)], lambda t: [_arr((3,), np.float64), _arr((3,))]),
        ("integer targets", [np.arange(6, dtype=np.int64), np.arange(4, dtype=np.int32)],
         lambda t: [np.ones(6, np.int64), np.full(4, 3, np.int32)]),
    ]


def _tensors(arrays):
    return [dg.tensor(a.copy()) for a in arrays]


@pytest.mark.parametrize("alpha", [1, 1.0, -0.01, 2, 0.5])
@pytest.mark.parametrize("case", range(5), ids=[c[0] for c in _pairs()])
def test_foreach_add_equals_the_methods(case, alpha):
    _, targets, make = _pairs()[case]
    others = make(targets)
    if alpha not in (1, 2) and any(a.dtype.kind == "i" for a in targets):
        pytest.skip("a float alpha on integer tensors is refused (test_misuse)")
    ref, got = _tensors(targets), _tensors(targets)
    ops = [dg.tensor(o) for o in others]
    with dg.no_grad():
        for t, o in zip(ref, ops):
            t.add_(o, alpha=alpha)
        foreach_add_(got, ops, alpha=alpha)
    for r, g in zip(ref, got):
        assert r.dtype == g.dtype and np.array_equal(r.numpy(), g.numpy())
        assert r._version == g._version == 1


@pytest.mark.parametrize("scalar", [0.9, 2, -1.5])
@pytest.mark.parametrize("case", range(5), ids=[c[0] for c in _pairs()])
def test_foreach_mul_equals_the_methods(case, scalar):
    _, targets, _ = _pairs()[case]
    if isinstance(scalar, float) and any(a.dtype.kind == "i" for a in targets):
        pytest.skip("an integer tensor cannot take a float result in place")
    ref, got = _tensors(targets), _tensors(targets)
    with dg.no_grad():
        for t in ref:
            t.mul_(scalar)
        foreach_mul_(got, scalar)
    for r, g in zip(ref, got):
        assert np.array_equal(r.numpy(), g.numpy()) and r._version == g._version == 1


def test_views_and_a_number_operand_take_the_methods_writes():
    base_r, base_g = dg.tensor(_arr((4, 4))), None
    base_g = dg.tensor(base_r.numpy().copy())
    o = dg.tensor(_arr((4, 4)))
    with dg.no_grad():
        for base, each in ((base_r, False), (base_g, True)):
            views = [base.t(), base[1:3]]
            others = [o, o[1:3]]
            if each:
                foreach_add_(views, others, alpha=-0.5)
                foreach_add_([base], [3.0], alpha=0.25)   # (a number times alpha: the method's)
            else:
                for v, w in zip(views, others):
                    v.add_(w, alpha=-0.5)
                base.add_(3.0, alpha=0.25)
    assert np.array_equal(base_r.numpy(), base_g.numpy())
    assert base_r._version == base_g._version


def test_with_grad_on_the_method_decides_and_refuses_alike():
    leaf = dg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError) as by_method:
        leaf.add_(dg.ones(3))
    with pytest.raises(RuntimeError) as by_list:
        foreach_add_([leaf], [dg.ones(3)])
    assert str(by_list.value) == str(by_method.value)


def test_a_tensor_alpha_goes_through_the_method():
    a, b = dg.tensor(_arr((3,))), dg.tensor(_arr((3,)))
    a2 = dg.tensor(a.numpy().copy())
    alpha = dg.tensor(np.float32(0.3))
    with dg.no_grad():
        a.add_(b, alpha=alpha)
        foreach_add_([a2], [b], alpha=alpha)
    assert np.array_equal(a.numpy(), a2.numpy())


# ------------------------------------------------------------------ SGD on foreach
def _single_tensor_sgd(params, state, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                       maximize=False):
    """PyTorch's _single_tensor_sgd with the tensors' own methods, one parameter at a time."""
    with dg.no_grad():
        for p in params:
            g = p.grad
            if g is None:
                continue
            g = -g if maximize else g
            if weight_decay:
                g = g.add(p, alpha=weight_decay)
            if momentum:
                buf = state.get(p)
                if buf is None:
                    buf = state[p] = g.detach().clone() if dampening else dg.zeros_like(p)
                    if not dampening:
                        buf.mul_(momentum).add_(g)
                else:
                    buf.mul_(momentum).add_(g, alpha=1 - dampening)
                g = g.add(buf, alpha=momentum) if nesterov else buf
            p.add_(g, alpha=-lr)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
        self.unused = nn.Linear(2, 2)   # (its parameters get no gradient: the step skips them)

    def forward(self, x):
        return self.body(x)


def _model():
    dg.manual_seed(0)
    return _Net()


def _batches(n):
    rng = np.random.default_rng(1)
    return [(dg.tensor(rng.standard_normal((5, 6)).astype(np.float32)),
             dg.tensor(rng.integers(0, 3, 5))) for _ in range(n)]


SGD_CASES = [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True,
             weight_decay=0.01), dict(lr=0.05, momentum=0.5, dampening=0.3, maximize=True)]


@pytest.mark.parametrize("kw", SGD_CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_sgd_equals_the_single_tensor_formulas_eagerly_and_compiled(kw):
    """Five calls with a StepLR: eager SGD (foreach) equals the one-at-a-time formulas to the
    bit; the compiled step (the same code traced) equals eager within float32 rounding."""
    runs = []
    for mode in ("single", "eager", "compiled"):
        m = _model()
        opt = dg.optim.SGD(m.parameters(), **kw)
        sched = dg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        state = {}

        def step(x, y, m=m, opt=opt, state=state, mode=mode):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            if mode == "single":
                _single_tensor_sgd(list(m.parameters()), state, **{**kw, "lr": opt.param_groups[0]["lr"]})
            else:
                opt.step()
            return loss
        run = dg.function(step) if mode == "compiled" else step
        rec = []
        for x, y in _batches(5):
            loss = run(x, y)
            sched.step()
            r = [loss.detach().numpy().copy()]
            for p in m.parameters():
                r.append(p.detach().numpy().copy())
                r.append(None if p.grad is None else p.grad.numpy().copy())
                buf = state.get(p) if mode == "single" else opt.state[p].get("momentum_buffer")
                r.append(None if buf is None else buf.numpy().copy())
            rec.append(r)
        runs.append(rec)
    single, eager, compiled = runs
    for s, e, c in zip(single, eager, compiled):
        for a, b, d in zip(s, e, c):
            assert (a is None) == (b is None) == (d is None)
            if a is not None:
                assert np.array_equal(a, b), "foreach SGD != single-tensor SGD"
                np.testing.assert_allclose(d, b, rtol=1e-5, atol=1e-7)


def test_check_consistency_sees_each_write_of_a_list():
    def setup():   # (a fresh model and optimizer for each mode)
        m = _model()
        return _sgd_step(m, dg.optim.SGD(m.parameters(), lr=0.1, momentum=0.9))
    x, y = _batches(1)[0]
    assert dg.check_consistency(x, y, setup=setup, calls=3) is None


def _sgd_step(m, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def test_the_recorder_sees_each_write_of_a_list_as_its_method_makes_it():
    """check_consistency aligns eager's records with the graph's nodes: a list must leave one
    record per write, as the methods one by one do (the scaled add: a mul, then the add)."""
    from dualgraph.compare.consistency import _Recorder, _recording_eager
    made = {}
    targets, others = [_arr((3,)), _arr((2, 2))], [_arr((3,)), _arr((2, 2))]
    for how in ("methods", "list"):
        ts, os_ = _tensors(targets), _tensors(others)
        rec = _Recorder(source=False)
        with dg.no_grad(), _recording_eager(rec):
            if how == "list":
                foreach_mul_(ts, 0.9)
                foreach_add_(ts, os_, alpha=-0.1)
            else:
                for t, o in zip(ts, os_):
                    t.mul_(0.9)
                for t, o in zip(ts, os_):
                    t.add_(o, alpha=-0.1)
        made[how] = [(r.op.name, r.value.tobytes()) for r in rec.records]
    assert len(made["list"]) == 6 and made["list"] == made["methods"]


def test_a_traced_step_writes_parameter_by_parameter():
    """foreach_writes keeps the single-tensor order: buf's two writes, then p's, parameter
    after parameter (in cache while they are used), eagerly and in the traced program."""
    m = _model()
    opt = dg.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    step = dg.function(_sgd_step(m, opt))
    x, y = _batches(1)[0]
    step(x, y)
    nodes = [n for n in step._traces[-1].graph.nodes if n.op.name == "assign"
             and not n.inputs[1].name.startswith("gradients/")]   # (not the .grad writes)
    root = {}
    for n in nodes:   # (an assign's first input: the variable, or the assign before it)
        first = n.inputs[0]
        root[n.name] = root.get(first.name, first.name)
    runs = []
    for n in nodes:
        r = root[n.name]
        if runs and runs[-1][0] == r:
            runs[-1][1] += 1
        else:
            runs.append([r, 1])
    trained = [p for p in m.parameters() if p.grad is not None]
    assert [k for _, k in runs] == [2, 1] * len(trained)
    assert len({r for r, _ in runs}) == 2 * len(trained)

    # eagerly: the same order of writes, one parameter after another
    seen = []
    import dualgraph.eager as EG
    m2 = _model()
    opt2 = dg.optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)
    _sgd_step(m2, opt2)(x, y)   # (the buffers exist from here on)
    names = {id(p): f"p{i}" for i, p in enumerate(m2.parameters())}
    names.update({id(opt2.state[p]["momentum_buffer"]): f"b{i}" for i, p in enumerate(m2.parameters())
                  if "momentum_buffer" in opt2.state[p]})
    real = EG.EAGER.write_each

    def spy(updates):
        updates = [(list(t), op, list(o) if isinstance(o, list) else o, a) for t, op, o, a in updates]
        for row in zip(*[u[0] for u in updates]):
            seen.extend(names[id(t)] for t in row if t is not None)
        real(updates)
    EG.EAGER.write_each = spy
    try:
        _sgd_step(m2, opt2)(x, y)
    finally:
        del EG.EAGER.write_each
    assert seen == [n for i in range(len(trained)) for n in (f"b{i}", f"b{i}", f"p{i}")]


def test_lists_of_different_lengths_are_refused():
    a, b = dg.zeros(2), dg.zeros(2)
    with pytest.raises(RuntimeError, match="Tensor lists must have the same number of tensors, got 2 and 1"):
        foreach_add_([a, b], [dg.ones(2)])
    assert a.tolist() == [0.0, 0.0]   # (nothing written)
