"""dg.function reading the .grad of tensors it captures (graph/core.py grad_of, graph/function.py
_finish_grads): the read goes through a stand-in that each call points at the .grad of that
call, so compiling an optimizer step alone (PyTorch's `torch.compile(opt.step)` pattern) traces
once although every backward makes new .grad tensors; the guards still retrace where the plan's
picture would be wrong (a .grad gone, of another shape or dtype, or sharing memory with other
state or with another .grad read), and every call equals eager to the bit."""
import warnings

import numpy as np
import pytest

import dualgraph as dg
from dualgraph import nn
from dualgraph.nn import functional as F

OPTIMIZERS = [("SGD", dict(lr=0.1, momentum=0.9)), ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.3)),
              ("Adam", dict(lr=0.01)), ("AdamW", dict(lr=0.01, amsgrad=True)),
              ("RMSprop", dict(lr=0.01, momentum=0.5)), ("Adagrad", dict(lr=0.1))]


def _net():
    dg.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))


def _batches(n, seed=1):
    rng = np.random.default_rng(seed)
    return [(dg.tensor(rng.standard_normal((5, 6)).astype(np.float32)),
             dg.tensor(rng.integers(0, 3, 5))) for _ in range(n)]


def _state(m, opt):
    out = []
    for p in m.parameters():
        out.append(p.detach().numpy().copy())
        out.append(None if p.grad is None else p.grad.numpy().copy())
        out += [v.numpy().copy() for v in opt.state[p].values() if isinstance(v, dg.Tensor)]
    return out


def _equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x is None) == (y is None)
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y)


@pytest.mark.parametrize("cls,kw", OPTIMIZERS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(OPTIMIZERS)])
def test_a_compiled_optimizer_step_traces_once_and_equals_eager(cls, kw):
    """Six steps, each after an eager backward (new .grad tensors), with StepLR: the compiled
    step's trace count stops growing after its first two calls (the first creates the state)
    and parameters, .grad and state equal the eager twin's to the bit after every step."""
    runs = {}
    for mode in ("eager", "compiled"):
        m = _net()
        opt = getattr(dg.optim, cls)(m.parameters(), **kw)
        sched = dg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        step = opt.step if mode == "eager" else dg.function(lambda opt=opt: opt.step())
        rec, counts = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # (the second call's retrace warns: state made)
            for x, y in _batches(6):
                opt.zero_grad()
                F.cross_entropy(m(x), y).backward()
                step()
                sched.step()
                rec.append(_state(m, opt))
                counts.append(getattr(step, "trace_count", 0))
        runs[mode] = (rec, counts)
    for e, c in zip(runs["eager"][0], runs["compiled"][0]):
        _equal(e, c)
    counts = runs["compiled"][1]
    assert counts[-1] == counts[1] <= 2


def test_reused_grads_and_the_grad_object_after_a_call():
    """zero_grad(set_to_none=False) keeps the .grad tensors: the same plan; a traced function
    that accumulates into an existing .grad writes the .grad of the call, which stays that
    tensor (as eagerly), even when it is a new one each call."""
    m_e, m_c = _net(), _net()

    def backward_into(m):
        def f(x, y):
            F.cross_entropy(m(x), y).backward()   # accumulates into the existing .grad
            return m[0].weight.grad.sum()
        return f
    f_e, f_c = backward_into(m_e), dg.function(backward_into(m_c))
    for i, (x, y) in enumerate(_batches(5)):
        for m in (m_e, m_c):
            for p in m.parameters():   # a new .grad tensor before every call
                p.grad = dg.ones(*p.shape) * (i + 1)
        held = [p.grad for p in m_c.parameters()]
        out_e, out_c = f_e(x, y), f_c(x, y)
        assert all(p.grad is h for p, h in zip(m_c.parameters(), held))
        assert np.array_equal(out_e.numpy(), out_c.numpy())
        _equal([p.grad.numpy().copy() for p in m_e.parameters()],
               [p.grad.numpy().copy() for p in m_c.parameters()])
    assert f_c.trace_count == 1


def _sgd_pair():
    runs = []
    for _ in range(2):
        a = nn.Parameter(dg.tensor(np.arange(4, dtype=np.float32)))
        b = nn.Parameter(dg.tensor(np.arange(4, 8, dtype=np.float32)))
        opt = dg.optim.SGD([a, b], lr=0.1, momentum=0.9)
        runs.append((a, b, opt))
    return runs


def _grads(a, b, how, i):
    rng = np.random.default_rng(i)
    if how == "fresh":
        a.grad = dg.tensor(rng.standard_normal(4).astype(np.float32))
        b.grad = dg.tensor(rng.standard_normal(4).astype(np.float32))
    elif how == "none":
        a.grad = dg.tensor(rng.standard_normal(4).astype(np.float32))
        b.grad = None
    elif how == "strided":     # a view of a fresh array: no retrace needed, the same numbers
        a.grad = dg.tensor(rng.standard_normal(8).astype(np.float32))[::2]
        b.grad = dg.tensor(rng.standard_normal(4).astype(np.float32))
    elif how == "aliases b":   # a's gradient is b's own memory
        a.grad = b.detach()
        b.grad = dg.tensor(rng.standard_normal(4).astype(np.float32))
    elif how == "shared":      # one tensor is both gradients
        g = dg.tensor(rng.standard_normal(4).astype(np.float32))
        a.grad = g
        b.grad = g


@pytest.mark.parametrize("how", ["none", "strided", "aliases b", "shared"])
def test_the_guards_retrace_where_the_plan_would_be_wrong(how):
    (ae, be, oe), (ac, bc, oc) = _sgd_pair()
    step = dg.function(lambda: oc.step())
    plan = ["fresh", "fresh", how, "fresh", how, "fresh"]
    for i, h in enumerate(plan):
        for mode, a, b, run in (("eager", ae, be, oe.step), ("compiled", ac, bc, step)):
            _grads(a, b, h, i)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    run()
                failed = None
            except dg.errors.DualGraphError as e:   # (then eager refuses alike)
                failed = str(e)
            if mode == "eager":
                eager_failed = failed
        assert failed == eager_failed
        _equal([ae.detach().numpy(), be.detach().numpy()], [ac.detach().numpy(), bc.detach().numpy()])
        _equal([v.numpy() for p in (ae, be) for v in oe.state[p].values()],
               [v.numpy() for p in (ac, bc) for v in oc.state[p].values()])
    if how == "strided":
        assert step.trace_count == 1   # (any .grad of the traced shape and dtype will do)
    else:
        assert step.trace_count >= 2   # (the odd call retraced; its trace may serve the next)


def test_the_traced_grad_is_not_kept_alive_nor_written():
    """The stand-in is private: the .grad tensor of the tracing call is neither mutated by
    later calls nor referenced by the guards."""
    import gc
    import weakref
    m = _net()
    opt = dg.optim.SGD(m.parameters(), lr=0.1)
    step = dg.function(lambda: opt.step())
    x, y = _batches(1)[0]
    F.cross_entropy(m(x), y).backward()
    first = m[0].weight.grad
    before = first.numpy().copy()
    step()
    ref = weakref.ref(first)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        step()
    assert np.array_equal(first.numpy(), before)
    del first
    gc.collect()
    assert step.trace_count == 1
    assert ref() is None or all(ref() is not v for v in step._traces[-1].guards.env.values())


def test_a_grad_sharing_a_replaced_parameters_memory_retraces():
    """b.data replaced after the trace, then a.grad made a view of b's new memory: the guard
    compares the memory captured tensors have now, not when traced."""
    (ae, be, oe), (ac, bc, oc) = _sgd_pair()
    step = dg.function(lambda: oc.step())
    for i in range(4):
        for a, b, run in ((ae, be, oe.step), (ac, bc, step)):
            if i == 2:
                b.data = dg.tensor(np.full(4, 3.0, np.float32))
                a.grad = b.detach()
                b.grad = dg.ones(4)
            else:
                _grads(a, b, "fresh", i)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run()
        _equal([ae.detach().numpy(), be.detach().numpy()], [ac.detach().numpy(), bc.detach().numpy()])
    assert step.trace_count == 2


@pytest.mark.parametrize("cls,kw", OPTIMIZERS[:1] + OPTIMIZERS[2:3], ids=["SGD", "Adam"])
def test_a_compiled_step_lets_go_of_the_grads_it_read(cls, kw):
    """After the call the stand-ins hold no .grad: zero_grad() frees the gradients, as it does
    after an eager step (held, they were one extra set alive through the next backward), and
    the next calls still read the .grad of their own call and equal eager."""
    import gc
    import weakref
    nets = {mode: _net() for mode in ("eager", "compiled")}
    opts = {mode: getattr(dg.optim, cls)(m.parameters(), **kw) for mode, m in nets.items()}
    step = dg.function(lambda opt=opts["compiled"]: opt.step())
    for i, (x, y) in enumerate(_batches(4)):
        refs = []
        for mode, m in nets.items():
            opts[mode].zero_grad()
            F.cross_entropy(m(x), y).backward()
            opts[mode].step() if mode == "eager" else step()
            if mode == "compiled":
                refs = [weakref.ref(p.grad._data) for p in m.parameters()]
        _equal(_state(nets["eager"], opts["eager"]), _state(nets["compiled"], opts["compiled"]))
        opts["compiled"].zero_grad()
        gc.collect()
        held = [j for j, r in enumerate(refs) if r() is not None]
        assert not held, f"call {i}: the .grad arrays of parameters {held} are still held"
    assert step.trace_count <= 2
