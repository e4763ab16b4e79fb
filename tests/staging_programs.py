"""Stateful programs for the staging-equivalence tests (tests/test_staging_equivalence.py).

The promise: the same stateful program gives the same numbers run eagerly and run through
`dg.function`, call after call. A *program* here is a `Program`: `build(L, seed)` makes a fresh
state with the library `L` (dualgraph, or torch for the oracle) -- model, optimizer, scheduler,
data and the user function `fn` that one call runs -- deterministically from `seed`. The
harness runs it eagerly and compiled (`dg.function(state.fn)`), each from a fresh build, and
after every call compares everything that can differ: the returned values, every parameter and
its `.grad` (None-ness too), the optimizer state (`opt.state_dict()["state"]`) and learning
rates, the module buffers and the extra leaf tensors of the state.

Programs are written once against `L` (the PyTorch names dualgraph shares), so the same text
builds the torch oracle; the torch state starts from dualgraph's initial weights
(`copy_initial`).

`random_program(seed)` draws a random list of stateful operations run by one body
(`body(state, ops, x, y)`); the ops list is part of the traced code (closure), not an argument.
"""
import os
import random
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pytest

import dualgraph as dg

RTOL, ATOL = 1e-5, 1e-6                 # compiled vs eager (exact is the goal; allow reassociation)
TORCH_RTOL, TORCH_ATOL = 1e-4, 1e-5      # dualgraph eager vs torch
SEED = 0


# ============================================================================ state and programs
class State:
    """What a build returns. fn: the user function of one call; args(i): its arguments at call i;
    between(i): eager code run before call i (i == 0 too; skip it there to act only *between*
    calls); check(i, out, before, after): independent expectations after call i (before/after
    are snapshots); models / opts / tensors: what the snapshot compares."""

    def __init__(self, L, fn, args=None, models=None, opts=None, tensors=None, between=None,
                 check=None, **extra):
        self.L = L
        self.fn = fn
        self.args = args or (lambda i: ())
        self.models = models or {}
        self.opts = opts or []
        self.tensors = tensors or {}
        self.between = between
        self.check = check
        self.__dict__.update(extra)


@dataclass
class Program:
    id: str
    build: Callable                  # build(L, seed) -> State
    calls: int = 6
    torch: bool = True               # can the same program run in torch (same numbers)?
    trace_count: Optional[int] = None  # fn.trace_count expected after all compiled calls
    warns: dict = field(default_factory=dict)  # call index -> regex of a UserWarning expected
    describe: str = ""               # printed with every failure (random programs: the ops)

    def __repr__(self):
        return self.id


def mentions(*words):
    """A regex (for pytest.warns(match=)) that finds every word or number, in any order."""
    parts = []
    for w in words:
        esc = re.escape(w)
        parts.append(rf"(?=.*(?<![\w.]){esc}(?![\w]))" if re.match(r"^[\d.]+$", w)
                     else rf"(?=.*\b{esc}\b)")
    return "(?s)" + "".join(parts)


# ============================================================================ snapshots
def _is_symbolic(x):
    return isinstance(x, dg.SymbolicTensor)


def to_np(x, name):
    """A copy of a tensor's value as numpy (None stays None); a symbolic tensor that leaked out
    of a trace is a failure naming the quantity."""
    if x is None:
        return None
    if _is_symbolic(x):
        raise AssertionError(f"{name} is a dg.SymbolicTensor (leaked out of a trace): {x!r}")
    if hasattr(x, "detach") and hasattr(x, "numpy"):
        return np.array(x.detach().numpy(), copy=True)
    if isinstance(x, (bool, int, float, np.number, np.ndarray)):
        return np.array(x, copy=True)
    raise AssertionError(f"{name}: cannot compare a {type(x).__name__}: {x!r}")


def _flatten_out(obj, name, into):
    if isinstance(obj, (list, tuple)):
        into[name + ".len"] = np.array(len(obj))
        for k, v in enumerate(obj):
            _flatten_out(v, f"{name}[{k}]", into)
    elif isinstance(obj, dict):
        for k in sorted(obj):
            _flatten_out(obj[k], f"{name}[{k!r}]", into)
    else:
        into[name] = to_np(obj, name)


def snapshot(state, out=None, with_out=True):
    """name -> numpy copy (or None) of every quantity a call can change."""
    s = {}
    if with_out:
        _flatten_out(out, "returned value", s)
    for mname, m in state.models.items():
        for pname, p in m.named_parameters():
            s[f"{mname}.{pname}"] = to_np(p, f"{mname}.{pname}")
            s[f"{mname}.{pname}.grad"] = to_np(p.grad, f"{mname}.{pname}.grad")
        for bname, b in m.named_buffers():
            s[f"{mname} buffer {bname}"] = to_np(b, f"{mname} buffer {bname}")
    for tname, t in state.tensors.items():
        s[f"tensor {tname}"] = to_np(t, f"tensor {tname}")
        if getattr(t, "requires_grad", False):
            s[f"tensor {tname}.grad"] = to_np(t.grad, f"tensor {tname}.grad")
    for k, opt in enumerate(state.opts):
        sd = opt.state_dict()
        for idx, st in sd["state"].items():
            for key, v in st.items():
                if v is None:        # torch keeps momentum_buffer=None without momentum
                    continue
                name = f"opt{k}.state[{idx}][{key!r}]"
                s[name] = to_np(v, name)
        for j, g in enumerate(opt.param_groups):
            s[f"opt{k}.param_groups[{j}]['lr']"] = np.array(float(g["lr"]))
    return s


def compare(want, got, where, rtol=RTOL, atol=ATOL, program=None):
    """Every quantity of two snapshots; the message names the program, the call and the quantity."""
    extra = f"\n{program.describe}" if program is not None and program.describe else ""
    missing = [k for k in want if k not in got]
    added = [k for k in got if k not in want]
    assert not missing and not added, \
        f"{where}: quantities differ: missing {missing}, unexpected {added}{extra}"
    for k, w in want.items():
        g = got[k]
        if w is None or g is None:
            assert w is None and g is None, \
                f"{where}: {k} is {'None' if g is None else 'a tensor'}, expected " \
                f"{'None' if w is None else w!r}{extra}"
            continue
        assert g.shape == w.shape, f"{where}: {k}: shape {g.shape}, expected {w.shape}{extra}"
        assert g.dtype == w.dtype, f"{where}: {k}: dtype {g.dtype}, expected {w.dtype}{extra}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"{where}: {k}{extra}")


# ============================================================================ running
def copy_initial(src, dst):
    """dualgraph's initial weights (and buffers, and extra tensors) into a torch state."""
    import torch
    for mname, m in dst.models.items():
        sd = src.models[mname].state_dict()
        m.load_state_dict({k: torch.tensor(np.array(v.numpy(), copy=True)) for k, v in sd.items()})
    with torch.no_grad():
        for tname, t in dst.tensors.items():
            t.copy_(torch.tensor(np.array(src.tensors[tname].detach().numpy(), copy=True)))


class Call:
    """What one call left: the snapshots before and after, the raw returned value, the
    compiled function (or the plain one) and, for an expected warning that did not come,
    pytest's message."""

    __slots__ = ("i", "before", "after", "out", "fn", "state", "warning_failure")


def run(program, L, compiled=False, calls=None, init_from=None, expect_warnings=True):
    """Yield a Call after each call of the program built with library L."""
    calls = calls or program.calls
    state = program.build(L, SEED)
    if init_from is not None:
        copy_initial(init_from, state)
    fn = dg.function(state.fn) if compiled else state.fn
    how = "compiled" if compiled else ("eager torch" if L is not dg else "eager")
    for i in range(calls):
        if state.between is not None:
            state.between(i)
        c = Call()
        c.i, c.fn, c.state, c.warning_failure = i, fn, state, None
        c.before = snapshot(state, with_out=False)
        args = state.args(i)
        pattern = program.warns.get(i) if compiled and expect_warnings else None
        try:
            if pattern is not None:
                try:
                    with pytest.warns(UserWarning, match=pattern):
                        out = fn(*args)
                except pytest.fail.Exception as e:     # reported after the values are compared
                    c.warning_failure = str(e)
            else:
                out = fn(*args)
        except BaseException as e:
            if hasattr(e, "add_note"):
                e.add_note(f"[{program.id}] raised at call {i} ({how})"
                           + (f"\n{program.describe}" if program.describe else ""))
            raise
        c.out = out
        c.after = snapshot(state, out)
        yield c


def check_call(program, c, how):
    """The program's own (independent) expectations after a call."""
    if c.state.check is None:
        return
    try:
        c.state.check(c.i, c.out, c.before, c.after)
    except AssertionError as e:
        raise AssertionError(f"{program.id}: call {c.i} ({how}): {e}"
                             + (f"\n{program.describe}" if program.describe else "")) from None


def run_eager(program, calls=None):
    """The eager run, with the program's own checks."""
    snaps = []
    for c in run(program, dg, compiled=False, calls=calls):
        check_call(program, c, "eager")
        snaps.append(c.after)
    return snaps


def run_both(program, calls=None):
    """(a) eagerly, (b) compiled by dg.function, each from a fresh build with the same seed;
    after every call: everything compared, then the program's own checks, then the expected
    retrace warning. After all calls: the trace count. Returns the compiled function."""
    eager = run_eager(program, calls)
    fn = None
    for c in run(program, dg, compiled=True, calls=calls):
        fn = c.fn
        compare(eager[c.i], c.after, f"{program.id}: call {c.i}: compiled vs eager", program=program)
        check_call(program, c, "compiled")
        assert c.warning_failure is None, (
            f"{program.id}: call {c.i} (compiled): expected a UserWarning matching "
            f"{program.warns[c.i]!r} at this retrace: {c.warning_failure}")
    if program.trace_count is not None:
        assert fn.trace_count == program.trace_count, (
            f"{program.id}: trace_count {fn.trace_count} after {len(eager)} calls, expected "
            f"{program.trace_count}")
    return fn


def run_torch(program, calls=None):
    """(a) dualgraph eagerly vs (c) the same program in torch from the same initial weights."""
    import torch
    want = run_eager(program, calls)
    # the torch state copies dualgraph's *initial* weights: a fresh dualgraph build gives them
    init = program.build(dg, SEED)
    for c in run(program, torch, calls=calls, init_from=init):
        compare(c.after, want[c.i], f"{program.id}: call {c.i}: dualgraph eager vs torch",
                rtol=TORCH_RTOL, atol=TORCH_ATOL, program=program)
        check_call(program, c, "torch")


# ============================================================================ building blocks
def data(seed, n=6, batch=5, fin=4, fout=3):
    rng = np.random.default_rng(seed + 1)
    X = rng.standard_normal((n, batch, fin)).astype(np.float32)
    Y = rng.standard_normal((n, batch, fout)).astype(np.float32)
    return X, Y


def xy_args(L, X, Y):
    return lambda i: (L.tensor(X[i % len(X)]), L.tensor(Y[i % len(Y)]))


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def make_opt(L, name, params, kw):
    return getattr(L.optim, name)(params, **kw)


def train_program(opt_name, opt_kw, between=None, rounds=1, sched=None, check=None):
    """Linear(4, 3), batch 5; one call: `rounds` x (zero_grad, forward, backward, step)."""
    def build(L, seed):
        L.manual_seed(seed)
        model = L.nn.Linear(4, 3)
        opt = make_opt(L, opt_name, model.parameters(), opt_kw)
        sch = None
        if sched is not None:
            name, kw = sched
            sch = getattr(L.optim.lr_scheduler, name)(opt, **kw)
        X, Y = data(seed)

        def train(x, y):
            losses = []
            for _ in range(rounds):
                opt.zero_grad()
                loss = mse(model, x, y)
                loss.backward()
                opt.step()
                losses.append(loss)
            return losses[0] if rounds == 1 else losses

        st = State(L, train, xy_args(L, X, Y), {"model": model}, [opt], sched=sch)
        if sch is not None:
            st.between = lambda i: sch.step() if i > 0 else None
        if between is not None:
            st.between = lambda i: between(st, i)
        st.check = (lambda i, out, b, a: check(st, i, out, b, a)) if check else None
        return st
    return build


def expect_close(got, want, what, rtol=1e-5, atol=1e-6):
    """An independent expectation on a snapshot value (None is a failure, not a TypeError)."""
    assert got is not None, f"{what} is None, expected {np.asarray(want)!r}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


def _set_group(key, values):
    """between: param_groups[0][key] = values[i] when i is in values."""
    def between(st, i):
        if i in values:
            for g in st.opts[0].param_groups:
                g[key] = values[i]
    return between


def _frozen_from(k):
    """check: from call k on (lr = 0) the step does not move any parameter."""
    def check(st, i, out, before, after):
        if i >= k:
            for name in before:
                if not name.endswith(".grad") and "opt" not in name and name.startswith("model."):
                    np.testing.assert_array_equal(after[name], before[name],
                                                  err_msg=f"{name} moved with lr=0")
    return check


# ---------------------------------------------------------------- gradient accumulation
def accumulate_between(L, seed):
    """backward only in the function; opt.step(); opt.zero_grad() eagerly every 2 calls."""
    L.manual_seed(seed)
    model = L.nn.Linear(4, 3)
    opt = L.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    X, Y = data(seed)

    def accumulate(x, y):
        loss = mse(model, x, y)
        loss.backward()
        return loss

    def between(i):
        if i > 0 and i % 2 == 0:
            opt.step()
            opt.zero_grad()

    return State(L, accumulate, xy_args(L, X, Y), {"model": model}, [opt], between=between)


def accumulate_parity(L, seed):
    """backward in every call; step + zero_grad inside the function when `parity` (a Python
    int argument) is 1."""
    L.manual_seed(seed)
    model = L.nn.Linear(4, 3)
    opt = L.optim.Adam(model.parameters(), lr=0.01)
    X, Y = data(seed)

    def accumulate(x, y, parity):
        loss = mse(model, x, y)
        loss.backward()
        if parity == 1:
            opt.step()
            opt.zero_grad()
        return loss

    xy = xy_args(L, X, Y)
    return State(L, accumulate, lambda i: xy(i) + (i % 2,), {"model": model}, [opt])


def accumulate_within(L, seed):
    """two backward() on two micro-batches, then one step."""
    L.manual_seed(seed)
    model = L.nn.Linear(4, 3)
    opt = L.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    X, Y = data(seed)

    def two_micro_batches(x1, y1, x2, y2):
        opt.zero_grad()
        l1 = mse(model, x1, y1)
        l1.backward()
        l2 = mse(model, x2, y2)
        l2.backward()
        opt.step()
        return l1, l2

    xy = xy_args(L, X, Y)
    return State(L, two_micro_batches, lambda i: xy(2 * i) + xy(2 * i + 1), {"model": model}, [opt])


def forgotten_zero_grad(L, seed):
    """backward + step at every call, never zeroing: gradients pile up across calls."""
    L.manual_seed(seed)
    model = L.nn.Linear(4, 3)
    opt = L.optim.SGD(model.parameters(), lr=0.05)
    X, Y = data(seed)

    def train(x, y):
        loss = mse(model, x, y)
        loss.backward()
        opt.step()
        return loss

    return State(L, train, xy_args(L, X, Y), {"model": model}, [opt])


# ---------------------------------------------------------------- gradients of other things
def argument_requires_grad(L, seed):
    """fn(w, x): w is an argument requiring grad; w.grad accumulates sum_j x_j."""
    L.manual_seed(seed)
    w = L.randn(3, requires_grad=True)
    Xs = np.random.default_rng(seed + 2).standard_normal((6, 3)).astype(np.float32)

    def f(w, x):
        loss = (w * x).sum()
        loss.backward()
        return loss

    def check(i, out, before, after):
        expect_close(after["tensor w.grad"], Xs[:i + 1].sum(0), "w.grad (the sum of the x's so far)")

    return State(L, f, lambda i: (w, L.tensor(Xs[i])), tensors={"w": w}, check=check)


def autograd_grad(L, seed):
    """fn(x) returns dg.autograd.grad((model(x)**2).sum(), model.weight)[0]; the weight is
    scaled eagerly between calls (captured by reference); .grad stays None."""
    L.manual_seed(seed)
    model = L.nn.Linear(4, 3)
    X, _ = data(seed)

    def f(x):
        return L.autograd.grad((model(x) ** 2).sum(), model.weight)[0]

    def between(i):
        if i > 0:
            with L.no_grad():
                model.weight.mul_(0.9)

    def check(i, out, before, after):
        W, b, x = before["model.weight"], before["model.bias"], X[i]
        want = 2 * (x @ W.T + b).T @ x
        expect_close(after["returned value"], want, "the autograd.grad value", atol=1e-5)

    return State(L, f, lambda i: (L.tensor(X[i]),), {"model": model}, between=between, check=check)


def equal_gradients(L, seed):
    """two parameters with equal gradients: both .grad are 2 (x + a + b) (accumulating)."""
    a = L.zeros(3, requires_grad=True)
    b = L.zeros(3, requires_grad=True)
    xv = np.array([1.0, 2.0, 3.0], np.float32)

    def f(x):
        ((x + a + b) ** 2).sum().backward()

    def check(i, out, before, after):
        want = (i + 1) * 2 * xv                      # [2, 4, 6] after the first call
        for n in ("a", "b"):
            expect_close(after[f"tensor {n}.grad"], want, f"{n}.grad")

    return State(L, f, lambda i: (L.tensor(xv),), tensors={"a": a, "b": b}, check=check)


# ---------------------------------------------------------------- modules with state
def _bn_net(L, dropout):
    class Net(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = L.nn.Linear(4, 6)
            self.bn = L.nn.BatchNorm1d(6)
            self.drop = L.nn.Dropout(0.5) if dropout else L.nn.Identity()
            self.head = L.nn.Linear(6, 3)
            self.register_buffer("count", L.zeros(()))

        def forward(self, x):
            self.count.add_(1)
            return self.head(self.drop(self.bn(self.fc(x)).relu()))

    return Net()


def bn_program(dropout, switch_modes=False):
    """BatchNorm1d (+ Dropout(0.5) in train mode) + a counter buffer, SGD. Dropout: the same
    random stream in both runs (dg.manual_seed(1000 + i) before each call). switch_modes:
    eval() before call 2, train() before call 4."""
    def build(L, seed):
        L.manual_seed(seed)
        model = _bn_net(L, dropout)
        opt = L.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        X, Y = data(seed)

        def train(x, y):
            opt.zero_grad()
            out = model(x)
            loss = ((out - y) ** 2).mean()
            loss.backward()
            opt.step()
            return out, loss

        def between(i):
            if switch_modes and i == 2:
                model.eval()
            if switch_modes and i == 4:
                model.train()
            L.manual_seed(1000 + i)

        def check(i, out, before, after):
            assert float(after["model buffer count"]) == i + 1, "the counter buffer"
            if switch_modes:
                assert model.training == (i not in (2, 3))

        return State(L, train, xy_args(L, X, Y), {"model": model}, [opt], between=between,
                     check=check)
    return build


# ---------------------------------------------------------------- Python numbers read by the body
scale = 2.0          # a module global read by `global_scale`'s function (reset by its build)


def _scaled_check(model_key, expect_scale, X):
    def check(i, out, before, after):
        W, b = before[f"model.{model_key}weight"], before[f"model.{model_key}bias"]
        want = (X[i] @ W.T + b) * expect_scale(i)
        expect_close(after["returned value[0]"], want, f"the output with scale {expect_scale(i)}")
    return check


def closure_scale(L, seed):
    """`scale = 2.0` in the closure, changed to 3.0 before call 2."""
    L.manual_seed(seed)
    model = L.nn.Linear(4, 3)
    opt = L.optim.SGD(model.parameters(), lr=0.1)
    X, Y = data(seed)
    scale = 2.0

    def train(x, y):
        opt.zero_grad()
        out = model(x) * scale
        loss = ((out - y) ** 2).mean()
        loss.backward()
        opt.step()
        return out, loss

    def between(i):
        nonlocal scale
        if i == 2:
            scale = 3.0

    return State(L, train, xy_args(L, X, Y), {"model": model}, [opt], between=between,
                 check=_scaled_check("", lambda i: 2.0 if i < 2 else 3.0, X))


def global_scale(L, seed):
    """the module global `scale` = 2.0, changed to 3.0 before call 2."""
    global scale
    scale = 2.0
    L.manual_seed(seed)
    model = L.nn.Linear(4, 3)
    opt = L.optim.SGD(model.parameters(), lr=0.1)
    X, Y = data(seed)

    def train(x, y):
        opt.zero_grad()
        out = model(x) * scale
        loss = ((out - y) ** 2).mean()
        loss.backward()
        opt.step()
        return out, loss

    def between(i):
        global scale
        if i == 2:
            scale = 3.0

    return State(L, train, xy_args(L, X, Y), {"model": model}, [opt], between=between,
                 check=_scaled_check("", lambda i: 2.0 if i < 2 else 3.0, X))


def module_alpha(L, seed):
    """a module number attribute `self.alpha = 0.5` used in forward, changed to 0.25 before call 2."""
    class Scaled(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = L.nn.Linear(4, 3)
            self.alpha = 0.5

        def forward(self, x):
            return self.lin(x) * self.alpha

    L.manual_seed(seed)
    model = Scaled()
    opt = L.optim.SGD(model.parameters(), lr=0.1)
    X, Y = data(seed)

    def train(x, y):
        opt.zero_grad()
        out = model(x)
        loss = ((out - y) ** 2).mean()
        loss.backward()
        opt.step()
        return out, loss

    def between(i):
        if i == 2:
            model.alpha = 0.25

    return State(L, train, xy_args(L, X, Y), {"model": model}, [opt], between=between,
                 check=_scaled_check("lin.", lambda i: 0.5 if i < 2 else 0.25, X))


# ============================================================================ the table
SGD_MOM_WD = ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=1e-2))
SGD_NESTEROV = ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True))
ADAM = ("Adam", dict(lr=0.01))
ADAMW = ("AdamW", dict(lr=0.01))
SCHEDULERS = [
    ("StepLR", dict(step_size=2, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 4])),
    ("LambdaLR", dict(lr_lambda=lambda e: 1 / (1 + e))),
]
OPTIMIZERS = {"SGD-momentum-wd": SGD_MOM_WD, "SGD-nesterov": SGD_NESTEROV, "Adam": ADAM,
              "AdamW": ADAMW}


def _programs():
    ps = []
    for sname, skw in SCHEDULERS:
        for oname, (cls, kw) in OPTIMIZERS.items():
            ps.append(Program(f"{sname}+{oname}", train_program(cls, kw, sched=(sname, skw)),
                              trace_count=1))
    sgd_m = dict(lr=0.1, momentum=0.9)
    ps += [
        Program("lr=0-from-call-3", train_program(
            "SGD", sgd_m, between=_set_group("lr", {3: 0.0}), check=_frozen_from(3)),
            trace_count=1),
        Program("lr-changed-every-call", train_program(
            "SGD", sgd_m, between=_set_group("lr", dict(enumerate([0.1, 0.05, 0.2, 0.01, 0.3, 0.07])))),
            trace_count=1),
        Program("momentum-0.9-to-0.5", train_program(
            "SGD", sgd_m, between=_set_group("momentum", {3: 0.5})), trace_count=1),
        Program("Adam-betas-changed", train_program(
            "Adam", dict(lr=0.01), between=_set_group("betas", {3: (0.8, 0.99)})), trace_count=1),
        Program("weight_decay-changed", train_program(
            "SGD", dict(lr=0.1, momentum=0.9, weight_decay=1e-2),
            between=_set_group("weight_decay", {2: 0.1, 4: 0.05})), trace_count=1),
        Program("1-round-per-call", train_program("SGD", sgd_m, rounds=1)),
        Program("2-rounds-per-call", train_program("SGD", sgd_m, rounds=2)),
        Program("3-rounds-per-call", train_program("SGD", sgd_m, rounds=3)),
        Program("2-rounds-per-call-Adam", train_program("Adam", dict(lr=0.01), rounds=2)),
        Program("accumulate-across-calls-step-between", accumulate_between),
        Program("accumulate-across-calls-parity-arg", accumulate_parity),
        Program("accumulate-within-call", accumulate_within),
        Program("forgotten-zero_grad", forgotten_zero_grad),
        Program("SGD-dampening-0.5", train_program(
            "SGD", dict(lr=0.1, momentum=0.9, dampening=0.5))),
        Program("argument-requires-grad", argument_requires_grad),
        Program("autograd.grad-in-function", autograd_grad),
        Program("two-params-equal-grads", equal_gradients),
        # dropout masks: the plan draws from the global generator when it runs, in eager order,
        # so with the same dg.manual_seed before each call the masks are the same -- compared in
        # full. Torch's random stream differs: no torch oracle for the dropout programs.
        Program("BatchNorm+Dropout+counter", bn_program(dropout=True), torch=False),
        Program("BatchNorm+counter", bn_program(dropout=False)),
        Program("eval-train-switch-Dropout+BatchNorm", bn_program(dropout=True, switch_modes=True),
                torch=False),
        Program("eval-train-switch-BatchNorm", bn_program(dropout=False, switch_modes=True)),
        Program("closure-number-scale", closure_scale, trace_count=2,
                warns={2: mentions("scale", "2.0", "3.0")}),
        Program("global-number-scale", global_scale, trace_count=2,
                warns={2: mentions("scale", "2.0", "3.0")}),
        Program("module-attribute-alpha", module_alpha, trace_count=2,
                warns={2: mentions("alpha", "0.5", "0.25")}),
    ]
    return ps


PROGRAMS = _programs()
BY_ID = {p.id: p for p in PROGRAMS}
assert len(BY_ID) == len(PROGRAMS)


# ============================================================================ random programs
LOSS_TARGETS = ("m1", "m2", "shared")
GRAD_PARAMS = ("shared", "m1.weight", "m1.bias", "m2.weight", "m2.bias")
VEC_PARAMS = ("shared", "m1.bias", "m2.bias")        # the shape of the buffer, (3,)
RANDOM_OPTIMIZERS = [("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9)),
                     ("Adam", dict(lr=0.01))]


def random_program(seed):
    """A seeded random list of stateful operations (tuples), at least one forward+backward."""
    rng = random.Random(seed)
    ops = []
    for _ in range(rng.randint(3, 8)):
        kind = rng.choices(["fwd_bwd", "step", "zero_grad", "buf_mul", "buf_add", "buf_copy",
                            "read_buf", "read_grad"], weights=[4, 3, 2, 1, 1, 1, 1, 2])[0]
        if kind == "fwd_bwd":
            ops.append((kind, rng.choice(LOSS_TARGETS)))
        elif kind == "zero_grad":
            ops.append((kind, rng.choice([True, False])))
        elif kind == "buf_mul":
            ops.append((kind, rng.choice([0.5, 2.0, -1.0])))
        elif kind in ("buf_add", "buf_copy"):
            ops.append((kind, rng.choice(VEC_PARAMS)))
        elif kind == "read_grad":
            ops.append((kind, rng.choice(GRAD_PARAMS)))
        else:
            ops.append((kind,))
    if not any(op[0] == "fwd_bwd" for op in ops):
        ops.insert(rng.randrange(len(ops) + 1), ("fwd_bwd", rng.choice(LOSS_TARGETS)))
    return ops


def random_optimizer(seed):
    return RANDOM_OPTIMIZERS[seed % len(RANDOM_OPTIMIZERS)]


def format_op(op):
    kind = op[0]
    return {
        "fwd_bwd": lambda: f"loss[{op[1]}](x, y).backward()",
        "step": lambda: "opt.step()",
        "zero_grad": lambda: f"opt.zero_grad(set_to_none={op[1]})",
        "buf_mul": lambda: f"with no_grad: m1.buf.mul_({op[1]})",
        "buf_add": lambda: f"with no_grad: m1.buf.add_({op[1]}.detach())",
        "buf_copy": lambda: f"with no_grad: m1.buf.copy_({op[1]}.detach() * 0.5)",
        "read_buf": lambda: "out.append(m1.buf.clone())",
        "read_grad": lambda: f"out.append(None if {op[1]}.grad is None else {op[1]}.grad.clone())",
    }[kind]()


def format_program(seed, ops):
    cls, kw = random_optimizer(seed)
    lines = [f"random program seed={seed}: opt = {cls}({', '.join(f'{k}={v}' for k, v in kw.items())}) "
             "over m1 = Linear(4, 3) (+ buffer buf, ones(3)), m2 = Linear(4, 3), shared = "
             "Parameter(randn(3)); loss[m1] = mse(m1(x), y), loss[m2] = tanh(m2(x)).mean(), "
             "loss[shared] = ((m1(x) + shared)**2).mean() + (m2(x) * shared).mean(); body:"]
    lines += [f"  {k}: {format_op(op)}" for k, op in enumerate(ops)]
    return "\n".join(lines)


def _param(st, name):
    if name == "shared":
        return st.shared
    m, p = name.split(".")
    return getattr(st.models[m], p)


def _loss(st, target, x, y):
    m1, m2 = st.models["m1"], st.models["m2"]
    if target == "m1":
        return ((m1(x) - y) ** 2).mean()
    if target == "m2":
        return m2(x).tanh().mean()
    return ((m1(x) + st.shared) ** 2).mean() + (m2(x) * st.shared).mean()


def body(st, ops, x, y):
    """The one Python function that executes a random program's ops."""
    L = st.L
    m1 = st.models["m1"]
    out = []
    for op in ops:
        kind = op[0]
        if kind == "fwd_bwd":
            loss = _loss(st, op[1], x, y)
            loss.backward()
            out.append(loss.detach())
        elif kind == "step":
            st.opts[0].step()
        elif kind == "zero_grad":
            st.opts[0].zero_grad(set_to_none=op[1])
        elif kind == "read_buf":
            out.append(m1.buf.clone())
        elif kind == "read_grad":
            g = _param(st, op[1]).grad
            out.append(None if g is None else g.clone())
        else:
            with L.no_grad():
                if kind == "buf_mul":
                    m1.buf.mul_(op[1])
                elif kind == "buf_add":
                    m1.buf.add_(_param(st, op[1]).detach())
                elif kind == "buf_copy":
                    m1.buf.copy_(_param(st, op[1]).detach() * 0.5)
    return out


def random_case(seed):
    ops = random_program(seed)
    cls, kw = random_optimizer(seed)

    def build(L, s):
        L.manual_seed(s + seed)
        m1, m2 = L.nn.Linear(4, 3), L.nn.Linear(4, 3)
        m1.register_buffer("buf", L.ones(3))
        shared = L.nn.Parameter(L.randn(3))
        opt = make_opt(L, cls, list(m1.parameters()) + list(m2.parameters()) + [shared], kw)
        X, Y = data(s + seed)
        st = State(L, None, xy_args(L, X, Y), {"m1": m1, "m2": m2}, [opt],
                   tensors={"shared": shared}, shared=shared)
        st.fn = lambda x, y: body(st, ops, x, y)      # ops through the closure, not an argument
        return st

    return Program(f"random-{seed}", build, calls=4, describe=format_program(seed, ops))


def staging_seeds():
    return list(range(int(os.environ.get("DG_STAGING_SEEDS", "30"))))
