"""With the numba backend on, an eager step of a built-in optimizer runs its own compiled, fused
plan (optim/optimizer.py _compiled_step): training equals the step run op by op to the bit,
parameters, .grad and state, over several steps with a scheduler; the first step runs eagerly;
check_consistency, closures, subclasses and traced steps keep the op-by-op step."""
import warnings

import numpy as np
import pytest

import dualgraph as dg
from dualgraph import nn
from dualgraph.nn import functional as F
from dualgraph.graph.passes import fuse_elementwise as FE
from dualgraph.graph.function import TracedFunction
from dualgraph.optim import optimizer as O

OPTIMIZERS = [("SGD", dict(lr=0.1, momentum=0.9)),
              ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.3, nesterov=False, weight_decay=0.01)),
              ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
              ("Adam", dict(lr=0.01)), ("AdamW", dict(lr=0.01, amsgrad=True)),
              ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)), ("Adagrad", dict(lr=0.1))]


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    """The numba backend on for the module (one kernel cache: each kernel compiles once)."""
    pytest.importorskip("numba")
    mp = pytest.MonkeyPatch()
    mp.setenv("DUALGRAPH_CACHE_DIR", str(tmp_path_factory.mktemp("kernels")))
    FE.set_fusion("numba")
    yield
    FE.set_fusion(None)
    mp.undo()


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
        self.late = nn.Linear(6, 3)   # (a gradient from the third step on: its state comes late)

    def forward(self, x, i):
        y = self.body(x)
        return y + self.late(x) if i >= 2 else y


def _batches(n):
    rng = np.random.default_rng(1)
    return [(dg.tensor(rng.standard_normal((5, 6)).astype(np.float32)),
             dg.tensor(rng.integers(0, 3, 5))) for _ in range(n)]


def _train(cls, kw, compiled, steps=6):
    dg.manual_seed(0)
    m = _Net()
    opt = getattr(dg.optim, cls)(m.parameters(), **kw)
    sched = dg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    old = O.COMPILED_STEPS[0]
    O.COMPILED_STEPS[0] = compiled
    rec = []
    try:
        for i, (x, y) in enumerate(_batches(steps)):
            opt.zero_grad()
            F.cross_entropy(m(x, i), y).backward()
            opt.step()
            sched.step()
            r = []
            for p in m.parameters():
                r.append(p.detach().numpy().copy())
                r.append(None if p.grad is None else p.grad.numpy().copy())
                r += [v.numpy().copy() for v in opt.state[p].values() if isinstance(v, dg.Tensor)]
            rec.append(r)
    finally:
        O.COMPILED_STEPS[0] = old
    return rec, opt


@pytest.mark.parametrize("cls,kw", OPTIMIZERS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(OPTIMIZERS)])
def test_the_compiled_step_equals_the_op_by_op_step_to_the_bit(backend, cls, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # (the compiled step's retraces are quiet)
        ops, _ = _train(cls, kw, compiled=False)
        fused, opt = _train(cls, kw, compiled=True)
    for a, b in zip(ops, fused):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert (x is None) == (y is None)
            if x is not None:
                assert np.array_equal(x, y)
    run = opt.__dict__["_compiled"]
    assert isinstance(run, TracedFunction) and 1 <= run.trace_count <= 3
    assert run._traces[-1].plan.stats.get("fused_updates", 0) >= 1


def test_the_first_step_runs_eagerly_and_the_backend_off_steps_op_by_op(backend):
    dg.manual_seed(0)
    m = nn.Linear(4, 2)
    opt = dg.optim.Adam(m.parameters(), lr=0.01)
    x = dg.randn(3, 4)
    m(x).sum().backward()
    opt.step()
    assert opt.__dict__["_compiled"] is O._NEXT   # (the state is made eagerly)
    opt.step()
    assert isinstance(opt.__dict__["_compiled"], TracedFunction)
    FE.set_fusion(None)
    try:
        n = opt.__dict__["_compiled"].trace_count
        opt.step()
        assert opt.__dict__["_compiled"].trace_count == n   # (not called: op by op)
    finally:
        FE.set_fusion("numba")


class _MySGD(dg.optim.SGD):
    pass


def test_closures_subclasses_and_traced_steps_keep_the_op_by_op_step(backend):
    dg.manual_seed(0)
    m = nn.Linear(4, 2)
    x = dg.randn(3, 4)
    opt = _MySGD(m.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        m(x).sum().backward()
        opt.step()
    assert opt.__dict__["_compiled"] is None   # (a user's subclass: its step may do anything)
    opt2 = dg.optim.SGD(m.parameters(), lr=0.1)

    def closure():
        opt2.zero_grad()
        loss = m(x).sum()
        loss.backward()
        return loss
    for _ in range(3):
        assert opt2.step(closure) is not None
    assert "_compiled" not in opt2.__dict__

    opt3 = dg.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)

    @dg.function
    def train(x):
        opt3.zero_grad()
        loss = m(x).sum()
        loss.backward()
        opt3.step()      # (traced into train's own plan)
        return loss
    for _ in range(3):
        train(x)
    assert "_compiled" not in opt3.__dict__


def test_check_consistency_records_the_op_by_op_step(backend):
    from test_fuse_updates import _data, _mlp
    (x, y), = _data(1)
    setup = lambda: _mlp(dg.optim.Adam, lr=0.01)[2]   # noqa: E731 (a fresh model per mode)
    assert dg.check_consistency(x, y, setup=setup, calls=3) is None
    assert O.COMPILED_STEPS[0] is True


def test_the_consistency_recorder_sees_the_steps_writes(backend):
    """While check_consistency records eager ops, a step runs op by op (its writes recorded),
    not as its compiled plan (which would leave no record to align with the graph's)."""
    from dualgraph.compare.consistency import _Recorder, _recording_eager
    dg.manual_seed(0)
    m = nn.Linear(4, 2)
    opt = dg.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    x = dg.randn(3, 4)
    for _ in range(3):   # (from the second step on, the compiled plan)
        m(x).sum().backward()
        opt.step()
    m(x).sum().backward()
    rec = _Recorder(source=False)
    with _recording_eager(rec):
        opt.step()
    assert [r.op.name for r in rec.records].count("add") >= 4   # (buf and p of each parameter)


def test_a_step_with_no_gradient_anywhere_does_nothing(backend):
    dg.manual_seed(0)
    m = nn.Linear(3, 2)
    opt = dg.optim.SGD(m.parameters(), lr=0.1)
    before = [p.detach().numpy().copy() for p in m.parameters()]
    for _ in range(3):
        opt.zero_grad()
        opt.step()   # (the second one runs the compiled plan: empty)
    assert all(np.array_equal(b, p.detach().numpy()) for b, p in zip(before, m.parameters()))
