"""State-update fusion (graph/passes/fuse_updates.py): an optimizer's elementwise update of each
parameter becomes one numba pass. Which groups form and which are refused (no numba needed),
then, with numba, fused plans equal unfused ones bit for bit and eager's numbers, over several
calls, with every optimizer, a scheduler and the state they leave (.grad, buffers)."""
import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F
from dualgraph.graph.passes import fuse_elementwise as FE
from dualgraph.graph.passes import fuse_updates as FU


from test_fusion import assert_outcomes_close, fusion  # noqa: E402,F401  (fusion: the fixture)


def _specialised(fn, *args):
    """fn's plan's specialised steps as Plan._specialise makes them before fusing (the writes
    into state already decided), and its fetches."""
    from dualgraph.graph.plan import _fast_kernel, _updates_in_place
    from dualgraph.ops.registry import Spec
    f = dg.function(fn)
    f(*args)
    plan = f._traces[-1].plan
    feeds = f.feeds_for(*args)
    fed = {p.name: (np.shape(a), np.asarray(a).dtype) for p, a in zip(plan.feeds, feeds)}
    known, steps = {}, []
    for s in plan.steps:
        if s.source is not None:
            shape, dtype = s.source.spec(s, fed)
        else:
            sp = s.op.infer(*[Spec(*known[a]) if k == "node" else a for k, a in s.args], **s.attrs)
            shape, dtype = tuple(sp.shape), sp.dtype
        known[s.name] = (shape, dtype)
        kernel, takes = _fast_kernel(s, [known[a] for a in s.in_ids])
        steps.append(s.specialised(shape, dtype, kernel, takes, True))
    _updates_in_place(steps, plan.fetches)
    return steps, plan.fetches


def _mlp(opt_cls=dg.optim.SGD, seed=0, **kw):
    dg.manual_seed(seed)
    model = dg.nn.Sequential(dg.nn.Linear(6, 8), dg.nn.ReLU(), dg.nn.Linear(8, 3))
    opt = opt_cls(model.parameters(), **kw)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return model, opt, step


def _data(n=5, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield (dg.tensor(rng.standard_normal((4, 6)).astype(np.float32)),
               dg.tensor(rng.integers(0, 3, 4)))


# ------------------------------------------------------------------ grouping (no numba)
def test_sgd_momentum_makes_one_group_per_parameter():
    model, opt, step = _mlp(lr=0.1, momentum=0.9)
    x, y = next(_data())
    steps, fetches = _specialised(step, x, y)
    groups = FU.plan_update_groups(steps, fetches)
    assert len(groups) == 4                      # two weights, two biases
    for members, ext, states, _ in groups:
        assert len(states) == 2                  # the momentum buffer and the parameter
        assert sum(steps[i].op.name in ("mul", "add") for i in members) == 4


def test_plain_sgd_updates_alone_are_single_steps_and_not_grouped():
    """p.add_(g, alpha=-lr) is one step: nothing to fuse."""
    model, opt, step = _mlp(lr=0.1)
    steps, fetches = _specialised(step, *next(_data()))
    for members, _, _, _ in FU.plan_update_groups(steps, fetches):
        assert sum(steps[i].op.name != "assign" for i in members) >= 2


def _buffers(shape=(3, 3)):
    p = dg.ones(*shape) * 0.5
    buf = dg.zeros(*shape)
    return p, buf


def test_a_read_of_a_written_state_inside_the_window_refuses_the_group():
    p, buf = _buffers()

    def f(x):
        buf.mul_(0.9)
        s = buf.sum()                 # reads buf's new value before the group's last step
        buf.add_(x)
        p.add_(buf * -0.1)
        return s
    steps, fetches = _specialised(f, dg.ones(3, 3))
    assert FU.plan_update_groups(steps, fetches) == []


def test_a_view_of_a_written_state_as_operand_refuses_the_group():
    p, buf = _buffers()

    def f(x):
        buf.mul_(0.9)
        buf.add_(x)
        p.add_(buf.t() * -0.1)        # element i of buf.t() is another element of buf
        return p.sum()
    steps, fetches = _specialised(f, dg.ones(3, 3))
    for members, ext, states, _ in FU.plan_update_groups(steps, fetches):
        assert not any(steps[i].op.name == "add" and steps[i].shape == (3, 3)
                       for i in members if steps[i].writes_into is not None
                       and "p" in steps[i].name), "the update of p read a transposed view"


def test_a_state_returned_by_the_function_is_the_state_and_holds_the_final_value():
    """(Before, the state was fetched, which kept its writes out of a fused group; it is now
    returned as itself, as eagerly, so nothing of it is fetched.)"""
    p, buf = _buffers()
    ref = buf.detach().clone()

    def f(x):
        buf.mul_(0.9)
        buf.add_(x)
        return buf
    cf = dg.function(f)
    for _ in range(3):
        assert cf(dg.ones(3, 3)) is buf
        ref.mul_(0.9)
        ref.add_(dg.ones(3, 3))
        assert np.array_equal(buf.detach().numpy(), ref.numpy())


# ------------------------------------------------------------------ numbers (numba)
def _run_pair(opt_cls, steps=5, sched=False, **kw):
    """(eager, unfused compiled, fused compiled) records of every call: loss, parameters,
    .grad and the optimizer's state tensors."""
    out = []
    for mode in ("eager", "plain", "fused"):
        FE.set_fusion("numba" if mode == "fused" else None)
        model, opt, step = _mlp(opt_cls, **kw)
        s = dg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5) if sched else None
        run = step if mode == "eager" else dg.function(step)
        out.append((_records(run, model, opt, s, steps), run))
    FE.set_fusion(None)
    return out


def _records(run, model, opt, sched=None, steps=5):
    """Per call of run on _data: the loss, then each parameter, its .grad and its optimizer
    state tensors (copies), the scheduler stepped after each call."""
    rec = []
    for x, y in _data(steps):
        loss = run(x, y)
        if sched is not None:
            sched.step()
        r = [loss.detach().numpy()]
        for p in model.parameters():
            r += [p.detach().numpy().copy(), p.grad.numpy().copy()]
            r += [v.numpy().copy() for v in opt.state[p].values() if isinstance(v, dg.Tensor)]
        rec.append(r)
    return rec


OPTIMIZERS = [
    (dg.optim.SGD, dict(lr=0.1, momentum=0.9)),
    (dg.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (dg.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3)),
    (dg.optim.Adam, dict(lr=0.01)),
    (dg.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    (dg.optim.RMSprop, dict(lr=0.01, momentum=0.5)),
    (dg.optim.Adagrad, dict(lr=0.1)),
]


@pytest.fixture
def updates_only(monkeypatch):
    """Fusion with the loss's kernels left as numpy's (the numba backend's loss loops round
    differently: ops/numba_loops.py): what is left to differ between eager with the backend
    off and the fused plan is the fused updates, which must not."""
    from dualgraph.ops import numba_loops
    monkeypatch.setattr(numba_loops, "cross_entropy", lambda *a: None)
    monkeypatch.setattr(numba_loops, "cross_entropy_backward", lambda *a: None)


@pytest.mark.parametrize("opt_cls,kw", OPTIMIZERS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_fused_updates_equal_unfused_bit_for_bit_and_eager(fusion, updates_only, opt_cls, kw):
    (eager, _), (plain, g), (fused, f) = _run_pair(opt_cls, sched=True, **kw)
    for e, p, u in zip(eager, plain, fused):
        assert len(e) == len(p) == len(u)
        for a, b, c in zip(e, p, u):
            assert np.array_equal(b, c), "fused != unfused"
            np.testing.assert_allclose(c, a, rtol=1e-5, atol=1e-7)
    assert len(f._traces) == len(g._traces)
    assert f._traces[-1].plan.stats["fused_updates"] == 4   # one per parameter


def test_a_state_laid_out_otherwise_is_written_through_a_copy(fusion):
    """A parameter whose memory is not C-contiguous (set behind the tensor's back): the fused
    kernel writes a flat copy, then back, and the step equals eager's."""
    recs = []
    for mode in ("eager", "fused"):
        model, opt, step = _mlp(lr=0.1, momentum=0.9)
        w = model[0].weight
        w._data = np.asfortranarray(w._data)
        run = step if mode == "eager" else dg.function(step)
        rec = []
        for x, y in _data(3):
            rec.append((run(x, y).detach().numpy(), w.detach().numpy().copy()))
        recs.append(rec)
    for (le, we), (lf, wf) in zip(*recs):
        np.testing.assert_allclose(lf, le, rtol=1e-6)
        np.testing.assert_allclose(wf, we, rtol=1e-6, atol=1e-7)


def test_fused_kernels_are_bit_identical_to_numpys_passes(fusion):
    """The generated loop does numpy's float operations in numpy's order (no FMA): SGD's
    momentum update on random float32 arrays, 20 steps, exactly equal."""
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal((37, 29)).astype(np.float32)
    grads = [rng.standard_normal((37, 29)).astype(np.float32) for _ in range(20)]
    p = dg.tensor(p0.copy())
    buf = dg.zeros(37, 29)

    @dg.function
    def f(g, lr, m):
        buf.mul_(m).add_(g)
        p.add_(buf * (-lr))
        return p.sum()
    ref_p, ref_b = p0.copy(), np.zeros_like(p0)
    for g in grads:
        f(dg.tensor(g), dg.tensor(np.float32(0.05)), dg.tensor(np.float32(0.9)))
        ref_b *= np.float32(0.9)
        ref_b += g
        ref_p += ref_b * np.float32(-0.05)
    assert f._traces[-1].plan.stats["fused_updates"] == 1
    assert np.array_equal(p.numpy(), ref_p) and np.array_equal(buf.numpy(), ref_b)


def test_the_lifted_lrs_neg_and_cast_are_read_through_by_the_kernels(fusion):
    """SGD's `p.add_(buf, alpha=-lr)` casts the lifted lr (float64) and its negation to the
    parameter's dtype before every update; the fused kernel reads lr itself (cast, then negated:
    the same bits, with a scheduler changing lr), and the neg and cast steps go."""
    rng = np.random.default_rng(4)
    p0 = rng.standard_normal((33, 17)).astype(np.float32)
    p = dg.nn.Parameter(dg.tensor(p0.copy()))
    opt = dg.optim.SGD([p], lr=0.05, momentum=0.9)
    sched = dg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    def step(g):
        p.grad = g
        opt.step()
        return p.sum()
    f = dg.function(step)
    ref_p, ref_b = p0.copy(), np.zeros_like(p0)
    lr = 0.05
    for _ in range(5):
        g = rng.standard_normal((33, 17)).astype(np.float32)
        f(dg.tensor(g))
        ref_b *= np.float32(0.9)
        ref_b += g
        ref_p += ref_b * np.float32(-lr)
        assert np.array_equal(p.detach().numpy(), ref_p)
        sched.step()
        lr = opt.param_groups[0]["lr"]
    plan = f._traces[-1].plan
    assert plan.stats["fused_updates"] == 1 and len(f._traces) == 1
    ops = [ln.split("# ")[1].split()[0] for ln in plan.source.split("\n") if "# " in ln]
    assert "fused_update" in ops and "neg" not in ops and "cast" not in ops, ops


def test_fused_division_by_zero_gives_numpys_inf_and_nan(fusion):
    """numba's default error model raises ZeroDivisionError on x / 0.0; the kernels use
    numpy's (inf, nan), as the unfused plan does (found by the random fused programs)."""
    def f(x, y):
        return (x * 2.0) / y + 1.0
    x = dg.tensor(np.array([1.0, -1.0, 0.0, 2.0], np.float32))
    y = dg.tensor(np.array([0.0, 0.0, 0.0, 4.0], np.float32))
    g = dg.function(f)
    np.testing.assert_array_equal(g(x, y).numpy(), f(x, y).numpy())
    assert g._traces[-1].plan.stats["fused_kernels"] == 1
    buf = dg.ones(4)
    p = dg.ones(4)

    @dg.function
    def h(y):
        buf.div_(y).add_(1.0)
        p.add_(buf * 0.5)
        return p.sum()
    h(y)
    assert h._traces[-1].plan.stats["fused_updates"] == 1
    np.testing.assert_array_equal(buf.numpy(), np.array([np.inf, np.inf, np.inf, 1.25], np.float32))


# ------------------------------------------------------------------ random update programs
N_UPDATE_PROGRAMS = int(__import__("os").environ.get("DG_UPDATE_PROGRAMS", "40"))


def _update_program(seed):
    """A random sequence of in-place updates of three square states (mul_, add_, sub_, div_ by
    numbers, 0-d scalars (float32 s, float64 d), arrays, other states and their transposes), interleaved with reads of
    the states (sums, products, transposed views); returns the reads, and sometimes a state."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(rng.integers(3, 12)):
        k = int(rng.integers(3))
        j = int(rng.integers(3))
        r = rng.random()
        if r < 0.55:
            op = rng.choice(["mul_", "add_", "sub_", "div_"])
            arg = rng.choice(["c", "s", "d", "x", "S", "St", "Sx"])
            val = {"c": f"{rng.uniform(0.5, 1.5):.3f}", "s": "s", "d": "d", "x": "x",
                   "S": f"S[{j}]", "St": f"S[{j}].t()", "Sx": f"(S[{j}] * s + x)"}[arg]
            if op == "div_":
                val = f"({val} * {val} + 1.0)" if arg != "c" else val
            lines.append(f"S[{k}].{op}({val})")
        elif r < 0.8:
            lines.append(rng.choice([f"out.append(S[{k}].sum())", f"out.append((S[{k}] * x).sum(0))",
                                     f"out.append(S[{k}].t()[0] * 1.0)", f"out.append(S[{k}] @ x)"]))
        else:
            lines.append(f"S[{k}].copy_(S[{j}] * 0.5 + x)")
    ret = "out" if rng.random() < 0.8 else f"out + [S[{int(rng.integers(3))}]]"
    src = "def prog(S, x, s, d):\n    out = []\n" + "".join(f"    {ln}\n" for ln in lines) + \
        f"    return tuple({ret})\n"
    ns = {}
    exec(src, ns)  # noqa: S102 - a generated test program
    return ns["prog"], src


def _run_update_program(prog, fused, compiled, calls=3, seed=0):
    FE.set_fusion("numba" if fused else None)
    rng = np.random.default_rng(seed)
    S = [dg.tensor(rng.uniform(0.5, 1.5, (4, 4)).astype(np.float32)) for _ in range(3)]
    f = dg.function(lambda x, s, d: prog(S, x, s, d)) if compiled else (lambda x, s, d: prog(S, x, s, d))
    rec = []
    for _ in range(calls):
        x = dg.tensor(rng.uniform(0.5, 1.5, (4, 4)).astype(np.float32))
        s = dg.tensor(np.float32(rng.uniform(0.5, 1.5)))
        d = dg.tensor(np.float64(rng.uniform(0.5, 1.5)))
        rec.append([np.array(o.numpy()) for o in f(x, s, d)] + [t.numpy().copy() for t in S])
    FE.set_fusion(None)
    return rec, f


@pytest.mark.parametrize("seed", range(N_UPDATE_PROGRAMS))
def test_random_update_programs_fused_equal_unfused_and_eager(fusion, seed):
    prog, src = _update_program(seed)
    eager, _ = _run_update_program(prog, False, False)
    plain, _ = _run_update_program(prog, False, True)
    fused, _ = _run_update_program(prog, True, True)
    for e, p, u in zip(eager, plain, fused):
        for a, b, c in zip(e, p, u):
            assert np.array_equal(b, c), f"fused != unfused:\n{src}"
            np.testing.assert_allclose(c, a, rtol=1e-5, atol=1e-6, err_msg=src)


def test_random_update_programs_do_fuse(fusion):
    """The generator reaches the pass: most of its programs fuse at least one group (a test
    of the test: a pass that never fires would make the one above vacuous)."""
    hits = 0
    for seed in range(N_UPDATE_PROGRAMS):
        prog, _ = _update_program(seed)
        _, f = _run_update_program(prog, True, True, calls=1)
        hits += f._traces[-1].plan.stats.get("fused_updates", 0) > 0
    assert hits >= N_UPDATE_PROGRAMS // 4, hits


# ------------------------------------------------------------------ random control-flow steps
N_CF_FUSED = int(__import__("os").environ.get("DG_FUSED_CF_PROGRAMS", "16"))


def _cf_fused_pair(seed):
    import warnings
    import random_programs as rp
    prog = rp.generate_cf(seed)
    runs, stats = [], []
    real = FU.fuse_updates

    def counting(steps, fetches):
        out, n = real(steps, fetches)
        stats.append(n)
        return out, n
    for backend in (None, "numba"):
        FE.set_fusion(backend)
        FU.fuse_updates = counting  # (plan.py imports it when it fuses)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                runs.append(rp.run_cf_function(prog)[0])
        finally:
            FU.fuse_updates = real
    FE.set_fusion(None)
    return prog, runs, sum(stats)


@pytest.mark.parametrize("seed", range(N_CF_FUSED))
def test_random_control_flow_steps_fused_equal_unfused(fusion, seed):
    """The control-flow random programs' training steps (dg.cond / dg.while_loop, parameters
    and buffers, SGD, SGD with momentum or Adam, 3-4 calls) under dg.function with fusion on and
    off: the same outcome at every call, every value and state within float32 rounding
    (transcendental ops fused on small arrays may differ by an ulp; updates are exact)."""
    prog, (plain, fused), _ = _cf_fused_pair(seed)
    assert_outcomes_close(plain, fused, prog.source())


def test_random_control_flow_steps_do_fuse_updates(fusion):
    """(a test of the test above) its optimizer steps reach the update pass."""
    assert sum(_cf_fused_pair(seed)[2] > 0 for seed in range(N_CF_FUSED)) >= 2
