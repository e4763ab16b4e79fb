"""Random-program differential tests (tests/random_programs.py): seeded programs of 30-60 ops
run by PyTorch, dualgraph eager, graph mode (plan called twice), dg.function of the step
(called twice) and dg.function of the forward alone with backward() outside (called twice).

DG_RANDOM_PROGRAMS=N runs N programs (default 300), e.g. DG_RANDOM_PROGRAMS=3000 for a long run;
DG_RANDOM_PROGRAMS_START=S starts at seed S; DG_RANDOM_PROGRAMS_UNKNOWN_DIMS=1 adds a fifth run,
graph mode with placeholders of unknown dims (build-time refusals accepted). A failure prints the program as a runnable
dualgraph script, the runners that disagree, the value and the first op whose result diverges.

Control-flow programs (rp.generate_cf: dg.cond / dg.while_loop, parameters and buffers, 3-4 calls
with different data): DG_RANDOM_CF_PROGRAMS=N runs N of them (default 150), from seed
DG_RANDOM_CF_PROGRAMS_START (default 0). A divergence: `rp.minimize(rp.generate_cf(seed))`.

The second half holds one minimal reproducer per `KNOWN_BUGS` entry (the constructs the
generator avoids), each an xfail(strict=True): when a bug is fixed its test XPASSes and fails,
saying to delete the entry (and so let the generator produce the construct again).
"""
import contextlib
import io
import os
import warnings

import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F

import random_programs as rp

N_PROGRAMS = int(os.environ.get("DG_RANDOM_PROGRAMS", "300"))
START = int(os.environ.get("DG_RANDOM_PROGRAMS_START", "0"))
# control-flow programs (rp.generate_cf: dg.cond / dg.while_loop, state, several calls)
N_CF = int(os.environ.get("DG_RANDOM_CF_PROGRAMS", "150"))
CF_START = int(os.environ.get("DG_RANDOM_CF_PROGRAMS_START", "0"))


# ============================================================================ the programs
@pytest.mark.parametrize("seed", range(START, START + N_PROGRAMS))
def test_random_program_four_ways(seed):
    pytest.importorskip("torch")
    prog = rp.generate(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # deprecations and numpy's overflow notes are not results
        rp.check(prog)


@pytest.mark.parametrize("seed", range(CF_START, CF_START + N_CF))
def test_random_control_flow_program(seed):
    """A program with dg.cond / dg.while_loop over parameters and buffers, called 3-4 times with
    different data: PyTorch (plain Python control flow), dualgraph eager, dg.function and graph
    mode agree call after call on values, .grad and state (or the compiled step refuses a call
    where eagerly a .grad is None: "has no gradient at this call")."""
    pytest.importorskip("torch")
    prog = rp.generate_cf(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rp.check(prog)
    hit = [name for name, seeds in rp.SKIPPED.items() if seed in seeds]
    if hit:
        pytest.xfail(f"KNOWN_BUGS {hit}")


# ============================================================================ the generator
@pytest.mark.parametrize("seed", [454, 683])
def test_control_flow_programs_with_ragged_loop_values_backward_outside(seed):
    """Seeds whose while_loop values (a ragged tuple) are fed to the compiled backward of the
    forward (backward outside): a raw numpy error before plan.check_feed let tuples pass."""
    pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rp.check(rp.generate_cf(seed))


def test_programs_are_seeded():
    assert rp.generate(11).source() == rp.generate(11).source()
    assert rp.generate(11).source() != rp.generate(12).source()


def test_programs_have_30_to_60_ops_and_a_weighted_loss():
    for seed in range(60):
        p = rp.generate(seed)
        assert 30 <= len(p.lines) <= 60, (seed, len(p.lines))
        assert 1 <= len(p.inputs) <= 3 and any(rg for _, _, rg in p.inputs)
        assert p.loss.startswith("loss = ") and " * " in p.loss


def test_generator_covers_the_op_families():
    tags = {t for s in range(200) for t in rp.generate(s).tags}
    want = {
        # elementwise, broadcasting, scalars
        "add", "sub", "mul", "div", "pow", "maximum", "minimum", "remainder", "scalar", "exp", "log",
        "sqrt", "rsqrt", "log1p", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "clamp", "leaky_relu",
        "where", "masked_fill", "compare", "cast",
        # reductions
        "sum", "mean", "amax", "amin", "prod", "var", "std", "logsumexp", "max_dim", "min_dim", "argmax",
        "argmin", "softmax", "log_softmax",
        # linear algebra
        "mm", "bmm", "matmul", "@", "dot", "outer", "linear",
        # views, indexing, joining
        "reshape", "view", "flatten", "squeeze", "unsqueeze", "transpose", "permute", "expand", "repeat",
        "narrow", "split", "chunk", "unbind", "getitem", "adv_list0", "adv_two", "adv_mixed", "adv_pool_idx",
        "mask_index", "adv_gather", "cat", "stack", "cartesian",
        # nn
        "conv2d", "max_pool2d", "pad", "layer_norm", "cross_entropy", "nll", "mse", "bce_logits", "one_hot",
        # in-place
        "inplace_add_", "inplace_mul_t", "inplace_mul_s", "inplace_clamp_", "inplace_copy_",
        "inplace_set_basic", "inplace_set_adv", "inplace_set_mask", "inplace_fill_", "inplace_relu_",
    }
    assert want <= tags, sorted(want - tags)


def test_registry_coverage_of_forward_and_backward():
    """The registry ops the programs reach, forward and backward, recorded eagerly."""
    import op_runners as R
    used = set()
    for seed in range(80):
        prog = rp.generate(seed)
        fn = rp._compiled(prog)

        def run():
            xs = [dg.tensor(np.array(a), requires_grad=rg) for _, a, rg in prog.inputs]
            fn(dg, F, *xs)[0].backward()

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, log = R.trace_call(run)
        used |= {op.name for op, *_ in log}
    assert len(used & set(dg.OPS)) >= 80, sorted(set(dg.OPS) - used)
    for name in ("getitem_grad", "index_put", "sum_to", "conv2d_input_grad", "scatter_add_zeros", "copy"):
        assert name in used, name


def test_the_reproducer_script_runs():
    prog = rp.generate(3)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()) as out:
        warnings.simplefilter("ignore")
        exec(compile(prog.script(), "<script>", "exec"), {})
    assert "loss" in out.getvalue()


def test_a_divergence_report_names_runner_value_and_line(monkeypatch):
    """A bug planted in graph mode (mul by 3.0 builds a mul by 4.0): the report says which
    runners disagree, on what, at which line, and prints the program."""
    pytest.importorskip("torch")
    from dualgraph.graph.builder import GraphInterpreter
    real = GraphInterpreter.apply

    def planted(self, op, inputs, attrs):
        if op.name == "mul":
            inputs = tuple(4.0 if type(x) is float and x == 3.0 else x for x in inputs)
        return real(self, op, inputs, attrs)

    monkeypatch.setattr(GraphInterpreter, "apply", planted)
    prog = rp.Program(seed=-1, inputs=[("x0", np.array([[0.0, 1.0], [2.0, 3.0]], np.float32), True)],
                      lines=["t0 = x0 * 2.0", "t1 = t0 * 3.0", "t2 = t1 * 1.0"],
                      fetch=["t2"], fetch_dtypes=["float32"], loss="loss = 1.0 * t2.sum()",
                      all_live=["t0", "t1", "t2"], makers={"t0": 0, "t1": 1, "t2": 2}, writers={})
    with pytest.raises(rp.Divergence) as info:
        rp.check(prog)
    text = str(info.value)
    assert "eager vs graph call 1: loss" in text and "eager vs function call 1" in text
    assert "first diverging value: t1, made by line 2: t1 = t0 * 3.0" in text
    assert "import dualgraph as dg" in text


def test_control_flow_programs_are_seeded_and_independent_of_the_plain_ones():
    assert rp.generate_cf(5).source() == rp.generate_cf(5).source()
    assert rp.generate_cf(5).source() != rp.generate_cf(6).source()
    assert rp.generate_cf(5).source() != rp.generate(5).source()
    p = rp.generate_cf(5)
    assert p.kind == "cf" and 3 <= len(p.calls) <= 4 and p.source().startswith("def program(L, F, C, S, ")


def test_control_flow_generator_covers_its_constructs():
    """Over 120 seeds: conds and loops, nested both ways, tuples, counters indexing, state writes
    in branches and bodies, optimizers, accumulated grads, runs of both branches and of several
    trip counts (0 included)."""
    tags, opts, resets, nested = set(), set(), set(), set()
    for seed in range(120):
        p = rp.generate_cf(seed)
        tags |= set(p.tags)
        opts.add(p.opt)
        resets.add(p.reset_grads)
        for i, (ln, t) in enumerate(zip(p.lines, p.tags)):
            if t in ("cond", "while") and ln.startswith("    "):
                # the enclosing def: the nearest less indented def line above
                ind = len(ln) - len(ln.lstrip())
                head = next(p.lines[j] for j in range(i - 1, -1, -1)
                            if p.lines[j].lstrip().startswith("def ") and len(p.lines[j]) - len(p.lines[j].lstrip()) < ind)
                nested.add((t, "body" if "_body(" in head else "branch"))
    assert {"cond", "while", "param_use", "index_counter", "slice_counter", "index_counter_mod", "count",
            "count_use", "loop_update", "fill_like", "no_grad", "state_ema", "state_copy", "state_setidx",
            "state_clamp"} <= tags, tags
    assert nested == {("cond", "body"), ("cond", "branch"), ("while", "body"), ("while", "branch")}, nested
    assert opts == {"", "sgd", "sgd_momentum", "adam"} and resets == {True, False}
    src = "".join(rp.generate_cf(s).source() for s in range(120))
    for construct in ("maximum_iterations=n0", "maximum_iterations=", "L.tensor(0)", ", (", "[i",
                      ":i", "% 2", ".reshape(1)", ").float()", "with L.no_grad():"):
        assert construct in src, construct


def test_control_flow_programs_take_both_branches_and_several_trip_counts():
    pytest.importorskip("torch")
    both = once = varied = loops = 0
    trips = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(40):
            _, log = rp.run_cf_eager(rp.generate_cf(seed), lib="torch")
            seen = {}
            for call in log:
                for name, v in call:
                    seen.setdefault(name, set()).add(v)
            for name, vs in seen.items():
                if name.startswith("c"):
                    both, once = both + (len(vs) == 2), once + (len(vs) == 1)
                else:
                    loops, varied = loops + 1, varied + (len(vs) > 1)
                    trips |= vs
    assert both > once and varied >= loops // 3 and {0, 1, 2, 3} <= trips, (both, once, varied, loops, trips)


def test_control_flow_refusal_is_accepted_only_where_eagerly_a_grad_is_none():
    """p used in one branch only: at the call taking the other branch eagerly p.grad is None and
    the compiled step refuses ("has no gradient at this call"): accepted. A compiled .grad where
    eagerly there is none (planted) is reported."""
    pytest.importorskip("torch")
    lines = ["p0 = S.p0",
             "def c0_t():", "    t0 = x0 * p0", "    return t0",
             "def c0_f():", "    t1 = x0 * 2.0", "    return t1",
             "t2 = C.cond(s0 > 0, c0_t, c0_f)"]
    calls = [[np.array([1.0, 2.0], np.float32), np.array(1.0, np.float32)],
             [np.array([1.0, 2.0], np.float32), np.array(-1.0, np.float32)]]
    prog = rp.Program(seed=-2, inputs=[("x0", calls[0][0], True), ("s0", calls[0][1], False)], lines=lines,
                      fetch=["t2"], fetch_dtypes=["float32"], loss="loss = 1.0 * t2.sum()", kind="cf",
                      state=[("p0", np.array([0.5, -1.0], np.float32), "param")], calls=calls,
                      makers={"t2": 7}, all_live=["t2"])
    rp.CF_REFUSED.pop("function", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = rp.run_cf_all(prog)
    assert rp.find_divergences(prog, runs) == []
    assert -2 in rp.CF_REFUSED["function"]
    assert rp._no_gradient_refusal(runs["function"][1].error)
    # a compiled step that handed back a gradient instead (a silent divergence) is reported
    # (zeros too: KNOWN_BUGS cf_reach_zeros, fixed)
    runs["function"][1] = rp.Outcome(dict(runs["eager"][1].values, **{"grad p0": np.ones(2, np.float32)}))
    assert ("eager", "function call 2", "grad p0", "None vs array") in rp.find_divergences(prog, runs)


def test_a_control_flow_divergence_report_names_the_call_and_prints_the_program(monkeypatch):
    """A bug planted in graph building (mul by 3.0 builds a mul by 4.0, also inside a branch): the
    report names runner, call and value, and prints a runnable script."""
    pytest.importorskip("torch")
    from dualgraph.graph.builder import GraphInterpreter
    real = GraphInterpreter.apply

    def planted(self, op, inputs, attrs):
        if op.name == "mul":
            inputs = tuple(4.0 if type(x) is float and x == 3.0 else x for x in inputs)
        return real(self, op, inputs, attrs)

    monkeypatch.setattr(GraphInterpreter, "apply", planted)
    lines = ["p0 = S.p0",
             "def c0_t():", "    t0 = x0 * 3.0", "    return t0",
             "def c0_f():", "    t1 = x0 + p0", "    return t1",
             "t2 = C.cond(x0.sum() > 0, c0_t, c0_f)"]
    calls = [[np.array([-1.0, -2.0], np.float32)], [np.array([1.0, 2.0], np.float32)]]
    prog = rp.Program(seed=-3, inputs=[("x0", calls[0][0], True)], lines=lines, fetch=["t2"],
                      fetch_dtypes=["float32"], loss="loss = 1.0 * t2.sum() + 0.0625 * (p0 * p0).sum()",
                      kind="cf", state=[("p0", np.array([0.5, -1.0], np.float32), "param")], calls=calls,
                      makers={"t2": 7}, all_live=["t2"])
    with pytest.raises(rp.Divergence) as info:
        rp.check(prog)
    text = str(info.value)
    assert "eager vs function call 2: loss" in text and "eager vs graph call 2" in text
    assert "first diverging top-level value at call 2: t2" in text
    assert "def make_state():" in text and "run(True)" in text


def test_the_control_flow_reproducer_script_runs():
    prog = rp.generate_cf(3)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()) as out:
        warnings.simplefilter("ignore")
        exec(compile(prog.script(), "<script>", "exec"), {})
    assert "---- dg.function" in out.getvalue() and "call 3" in out.getvalue()


def test_every_known_bug_has_a_reproducer():
    assert set(rp.KNOWN_BUGS) == set(REPRODUCERS), set(rp.KNOWN_BUGS) ^ set(REPRODUCERS)


# ============================================================================ known bugs
def _fixed(name):
    return pytest.mark.xfail(strict=True, reason=f"KNOWN_BUGS[{name!r}]: {rp.KNOWN_BUGS.get(name)}. "
                                                 "If this passes, the bug is fixed: delete the entry.")


def _plan(fn, *arrays):
    with dg.graph_mode() as g:
        phs = [dg.placeholder(list(a.shape)) for a in arrays]
        out = fn(*phs)
    return out, g.compile([out], feeds=phs)(*arrays)[0]


def test_fixed_stale_alias_after_write():
    def f(x):
        t = x * 2
        u = t[0]        # a view of t
        t.add_(1.0)     # eagerly (and in PyTorch) u sees the write
        return u * 1
    x = dg.tensor([[0.0, 1.0], [2.0, 3.0]])
    assert f(x).tolist() == [1.0, 3.0]
    assert dg.function(f)(x).tolist() == [1.0, 3.0]        # was [0.0, 2.0]


def test_fixed_second_write_through_view():
    def f(x):
        t = x * 2
        v = t[0]
        v.add_(1.0)
        v.mul_(2.0)     # lands in t eagerly; lost for t in a plan
        return t * 1
    x = dg.tensor([[0.0, 1.0], [2.0, 3.0]])
    assert f(x).tolist() == [[2.0, 6.0], [4.0, 6.0]]
    assert dg.function(f)(x).tolist() == [[2.0, 6.0], [4.0, 6.0]]   # was [[1, 3], [4, 6]]


def test_fixed_sign_not_differentiable():
    """(found by this tester) sign(x) dropped requires_grad; torch: requires grad, zero gradient
    (so do floor_divide and div(rounding_mode='floor'/'trunc'))."""
    x = dg.tensor([0.5, -1.0], requires_grad=True)
    y = dg.sign(x)
    assert y.requires_grad                                   # was False
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    for f in (lambda x: x // 2.0, lambda x: dg.div(x, 2.0, rounding_mode="floor"),
              lambda x: dg.div(x, 2.0, rounding_mode="trunc")):
        x = dg.tensor([0.5, -1.5], requires_grad=True)
        (f(x) * x).sum().backward()
        assert x.grad.tolist() == f(x).tolist()
    with dg.graph_mode() as g:
        p = dg.placeholder([2])
        (gp,) = dg.gradients((dg.sign(p) + p // 2.0).sum(), [p])
    assert g.compile([gp], feeds=[p])(np.ones(2, np.float32))[0].tolist() == [0.0, 0.0]


def test_fixed_zero_d_promotion_in_plan():
    """(found by this tester) a plan held 0-d results as numpy scalars, which binary kernels
    promoted as Python numbers; they are 0-d arrays now, as eagerly."""
    a = np.ones(3, np.float32)
    y, value = _plan(lambda p: p.sum() + p.double().sum(), a)
    assert y.dtype == dg.float64
    assert np.asarray(value).dtype == np.float64              # was: float32
    _, value = _plan(lambda p: (lambda s: dg.where(s > 0, s, s))(p.double().sum()), a)
    assert np.asarray(value).dtype == np.float64              # was: float32


def test_fixed_inplace_on_tensor_literal():
    """(found by this tester) a dg.tensor made while a graph is built is a constant of it."""
    def f(x):
        t = dg.tensor([1.0, 2.0, 3.0])
        t.add_(x)
        return t * 1
    fn, x = dg.function(f), dg.ones(3)
    assert fn(x).tolist() == [2.0, 3.0, 4.0]
    assert fn(x).tolist() == [2.0, 3.0, 4.0]


def test_fixed_saves_unneeded_inputs():
    """(found by this tester) F.linear and F.conv2d pinned their bias for backward; what a
    gradient does read is still pinned."""
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    b = a * 1
    y = F.linear(dg.ones(1, 2), dg.ones(2, 2), b)     # the gradient does not read the bias
    b.zero_()
    y.sum().backward()                                       # was: modified by an inplace op
    assert a.grad.tolist() == [1.0, 1.0]
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    b = a * 1
    y = F.conv2d(dg.ones(1, 1, 2, 2), dg.ones(2, 1, 2, 2), b)
    b.zero_()
    y.sum().backward()
    assert a.grad.tolist() == [1.0, 1.0]
    a = dg.ones(1, 2, requires_grad=True)
    x = a * 1
    y = F.linear(x, dg.ones(2, 2, requires_grad=True))     # d/dw reads x
    x.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_fixed_refused_inplace_on_fresh_result():
    def f(x):
        v = x.max(dim=1)[0]     # a fresh tensor in PyTorch
        v.add_(1.0)
        return v * 1
    x = dg.tensor([[0.0, 1.0], [2.0, 3.0]])
    assert dg.function(f)(x).tolist() == f(x).tolist()       # was refused as a squeeze view


def test_fixed_overwrite_drops_requires_grad():
    def f(x):
        t = x * 1
        t.fill_(0.5)            # t still requires grad (zero gradient into x)
        loss = t.sum()
        loss.backward()
        return loss
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    f(x)
    assert x.grad.tolist() == [0.0, 0.0]
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    dg.function(f)(x)                                        # backward() raised
    assert x.grad.tolist() == [0.0, 0.0]


def test_fixed_setitem_on_0d_in_plan():
    def f(p):
        s = p.sum()
        s[s > 0] = 0.0
        return s
    _, value = _plan(f, np.ones(3, np.float32))               # was: raised at run time
    assert float(value) == 0.0


def test_fixed_fold_duplicate_constant_input():
    """(found by this tester) constant folding c + c removed one edge twice."""
    with dg.graph_mode() as g:
        p = dg.placeholder([2])
        t = p * 2
        (gp,) = dg.gradients((t + t).sum(), [p])
    plan = g.compile([gp], feeds=[p])
    assert plan(np.ones(2, np.float32))[0].tolist() == [4.0, 4.0]


def test_fixed_std_grad_at_zero():
    """(found by this tester) std's gradient where the std is 0 was nan; torch masks it to 0."""
    x = dg.ones(3, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dg.std(x).backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]                 # was nan (torch: 0)
    x = dg.tensor([[1.0, 1.0], [1.0, 3.0]], requires_grad=True)
    dg.std(x, dim=1, keepdim=True, correction=0).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0], [-0.5, 0.5]]
    with dg.graph_mode() as g:
        p = dg.placeholder([3])
        (gp,) = dg.gradients(dg.std(p), [p])
    assert g.compile([gp], feeds=[p])(np.ones(3, np.float32))[0].tolist() == [0.0, 0.0, 0.0]


def test_fixed_contiguous_0d_in_plan():
    _, value = _plan(lambda p: p.contiguous() + 1, np.array(1.0, np.float32))
    assert np.shape(value) == ()                             # was: (1,)


def _grad_plan(fn, shape, array):
    with dg.graph_mode() as g:
        p = dg.placeholder(shape)
        y = fn(p)
        (gp,) = dg.gradients(y.sum(), [p])
    return g.compile([y, gp])(array)


def test_fixed_unknown_dims_cartesian_prod():
    """(found by this tester) the expand to the grid read its sizes from the static shape."""
    out, grad = _grad_plan(lambda p: dg.cartesian_prod(p, p), [None], np.array([1.0, 2.0], np.float32))
    assert out.tolist() == [[1.0, 1.0], [1.0, 2.0], [2.0, 1.0], [2.0, 2.0]]
    assert grad.tolist() == [4.0, 4.0]


def test_fixed_unknown_dims_repeat_grad():
    """(found by this tester) repeat's gradient reshaped to a target holding None."""
    _, grad = _grad_plan(lambda p: p.repeat(2), [None], np.ones(2, np.float32))
    assert grad.tolist() == [2.0, 2.0]
    _, grad = _grad_plan(lambda p: p.repeat(2, 1, 3), [None, None], np.ones((2, 3), np.float32))
    assert grad.tolist() == [[6.0] * 3] * 2


def test_fixed_unknown_dims_squeeze():
    """(found by this tester) squeezing a dim of unknown size gives a rank that depends on the
    fed value: refused while building, naming the node; a dim of known size squeezes."""
    for fn, call in ((lambda p: p.squeeze(0), "squeeze(0)"), (lambda p: p.squeeze(), "squeeze()")):
        with pytest.raises(dg.DualGraphError, match=r"unknown while the graph is built") as info:
            _grad_plan(fn, [None, 3], np.ones((1, 3), np.float32))
        assert call in str(info.value) and "while building node 'squeeze'" in str(info.value)
        assert "reshape" in str(info.value)
    out, grad = _grad_plan(lambda p: p.squeeze(1), [None, 1], np.ones((2, 1), np.float32))
    assert out.shape == (2,) and grad.shape == (2, 1)




# ---------------------------------------------------------------- control flow (generate_cf)
def _both(fn, make, *calls):
    """fn run eagerly and through dg.function over the calls, each with fresh state from make():
    [(outputs, state values, .grad of the parameters)] per call, per mode."""
    res = []
    for compiled in (False, True):
        state = make()
        step = dg.function(lambda *a: fn(state, *a)) if compiled else (lambda *a: fn(state, *a))
        rows = []
        for args in calls:      # a tuple: several arguments
            args = args if isinstance(args, tuple) else (args,)
            out = step(*[dg.tensor(a) for a in args])
            out = out if isinstance(out, tuple) else (out,)
            rows.append(([np.asarray(o.detach().numpy()).tolist() for o in out],
                         [t.detach().numpy().tolist() for t in state],
                         [None if t.grad is None else t.grad.numpy().tolist() for t in state
                          if isinstance(t, dg.nn.Parameter)]))
        res.append(rows)
    return res


def _assert_same_or_refused(fn, make, *calls):
    """The compiled step gives the eager numbers, or refuses with a DualGraphError."""
    try:
        eager, compiled = _both(fn, make, *calls)
    except dg.DualGraphError:
        return
    assert eager == compiled


def test_fixed_cf_write_through_state_view():
    """(found by this tester) an in-place op on a view of a buffer inside a branch failed to
    trace ("'index_put' is not a placeholder and cannot be fed")."""
    def fn(state, x):
        (b,) = state

        def yes():
            b[0:2].mul_(0.5)
            return x * 2
        return dg.cond(x.sum() > 0, yes, lambda: x * 3)
    eager, compiled = _both(fn, lambda: [dg.ones(3)], [1.0, 1.0, 1.0])   # raised while tracing
    assert eager == compiled


def test_fixed_cf_grad_zeros_not_none():
    """(found by this tester) a parameter reaching only a cond result the loss does not use, or
    only written (under no_grad) in a loop body, got .grad zeros; eagerly None."""
    def unused_result(state, x):
        p, q = state
        p.grad = q.grad = None
        a, b = dg.cond(x.sum() > 0, lambda: (x * p, x * q), lambda: (p * 1, x * q * 2))
        loss = b.sum()         # the result that p reaches is not used
        loss.backward()
        return loss

    def written_in_body(state, x):
        p, q = state
        p.grad = q.grad = None

        def body(i, h):
            with dg.no_grad():
                p.mul_(0.5)
            return i + 1, h * 2
        loss = dg.while_loop(lambda i, h: i < 2, body, (0, x * q))[1].sum()
        loss.backward()
        return loss
    make = lambda: [dg.nn.Parameter(dg.tensor([0.5, 1.0])), dg.nn.Parameter(dg.tensor(2.0))]
    for fn in (unused_result, written_in_body):
        eager, compiled = _both(fn, make, [1.0, 2.0])
        assert eager[0][2][0] is None
        assert compiled == eager            # compiled: p.grad == [0.0, 0.0]


def test_fixed_cf_state_write_stops_grad():
    def param_written_then_used(state, x):
        (p,) = state
        p.grad = None

        def yes():
            with dg.no_grad():
                p.clamp_(-0.5, 0.5)
            return p * 1
        loss = (dg.cond(x.sum() > 0, yes, lambda: x * 1) * x).sum()
        loss.backward()
        return loss

    make = lambda: [dg.nn.Parameter(dg.tensor([1.0, -2.0]))]
    eager, compiled = _both(param_written_then_used, make, [1.0, 1.0])
    assert eager[0][2] == [[1.0, 1.0]]
    assert compiled == eager                                 # compiled: p.grad is None


def test_fixed_cf_buffer_written_with_grad_in_a_branch():
    """(found by this tester) a buffer written in a branch with a value requiring grad passed no
    gradient to that value."""
    def buffer_written_with_grad(state, x):
        b, p = state
        p.grad = None

        def yes():
            b.copy_(p * 2)      # b now carries p's history (eagerly, as in PyTorch)
            return x * 1
        dg.cond(x.sum() > 0, yes, lambda: x * 2)
        loss = (b * 3).sum()
        loss.backward()
        return loss
    make = lambda: [dg.zeros(2), dg.nn.Parameter(dg.tensor([1.0, 2.0]))]
    eager, compiled = _both(buffer_written_with_grad, make, [1.0, 1.0])
    assert eager[0][2] == [[6.0, 6.0]]
    assert compiled == eager                                 # was: p.grad None


def test_fixed_cf_outputs_share_memory():
    """(found by this tester) results of one control-flow op that were one array (a branch
    returning a tensor twice, two captured tensors given one gradient array through x + p) were
    corrupted by the plan's buffer reuse."""
    def twice(state, x):
        def yes():
            u = x * 2
            return u, u
        a, b = dg.cond(x.sum() > 0, yes, lambda: (x * 3, x * 4))
        c = dg.exp(a * 1 + 0)     # a's buffer is free after this: reused for the next result
        return c + b

    def loop_twice(state, x):
        def body(i, h, k):
            u = h * 0.5
            return i + 1, u, u
        _, a, b = dg.while_loop(lambda i, h, k: i < 2, body, (0, x, x * 1))
        return dg.exp(a * 1) + b

    def one_gradient_array(state, x):
        (p,) = state
        p.grad = None
        y = dg.cond(x.sum() < 0, lambda: x.sum(), lambda: (x + p).mean())   # d/dx = d/dp: one array
        loss = y + (p * p).sum() + x.sum()
        loss.backward()
        return loss
    for fn in (twice, loop_twice):
        eager, compiled = _both(fn, lambda: [], [1.0, 2.0])
        assert compiled == eager                             # was [14.78, 109.2] for [9.39, 58.6]
    eager, compiled = _both(one_gradient_array, lambda: [dg.nn.Parameter(dg.tensor([1.0, 2.0, 3.0]))],
                            [1.0, 2.0, 3.0])
    assert eager[0][2][0] == pytest.approx([2 + 1 / 3, 4 + 1 / 3, 6 + 1 / 3])
    assert compiled[0][2][0] == pytest.approx(eager[0][2][0])      # was [4, 8, 12]


def test_fixed_cf_result_aliases():
    """(was KNOWN_BUGS['cf_result_aliases']: eagerly the write through one showed in the other,
    compiled it did not; now such calls are refused, the others run: test_control_flow_aliases)"""
    def passthrough(state, x):
        u = x * 2
        y = dg.cond(x.sum() > 0, lambda: u, lambda: u * 3)
        y.add_(1.0)          # eagerly y IS u when the true branch runs
        return u * 1, y * 1

    def zero_trips(state, x):
        u = x * 2
        _, y = dg.while_loop(lambda i, h: i < 0, lambda i, h: (i + 1, h * 0.5), (0, u))
        y.add_(1.0)          # eagerly y IS u after 0 iterations
        return u * 1, y * 1

    def param_then_step(state, x):
        (p,) = state
        opt = dg.optim.SGD([p], lr=0.5)      # (plain SGD keeps no state: one per call is fine)
        opt.zero_grad()
        y = dg.cond(x.sum() > 0, lambda: p, lambda: p * 2)
        (y * x).sum().backward()
        opt.step()           # eagerly y IS p: the returned value is the updated p
        return y

    def loop_variable_is_the_written_buffer(state, x):
        (b,) = state

        def body(i, h):
            b.copy_(x)       # eagerly h IS b at the first iteration: it sees this write
            return i + 1, h * 0.5 + 1
        return dg.while_loop(lambda i, h: i < 1, body, (0, b))[1]
    _assert_same_or_refused(passthrough, lambda: [], [1.0, 2.0])
    _assert_same_or_refused(zero_trips, lambda: [], [1.0, 2.0])
    _assert_same_or_refused(param_then_step, lambda: [dg.nn.Parameter(dg.tensor([1.0, 2.0]))], [1.0, 1.0])
    _assert_same_or_refused(loop_variable_is_the_written_buffer, lambda: [dg.zeros(2)], [4.0, 6.0])


def test_fixed_cf_stale_view_of_state():
    def in_branch(state, x):
        (b,) = state
        v = b[:]

        def yes():
            b.mul_(0.5)
            return v * 1           # eagerly the view sees the write
        return dg.cond(x.sum() > 0, yes, lambda: x * 1)

    def in_loop(state, x):
        (b,) = state
        v = b[0]

        def body(i, h):
            b.mul_(0.5)
            return i + 1, h + v      # the second iteration reads v after the first one's write
        return dg.while_loop(lambda i, h: i < 2, body, (0, x))[1]
    for fn in (in_branch, in_loop):
        eager, compiled = _both(fn, lambda: [dg.tensor([1.0, 2.0])], [1.0, 1.0])
        assert compiled == eager


def test_fixed_cf_refusal_with_accumulated_grad():
    def fn(state, x):
        p, q = state           # no zero_grad: .grad accumulates over the calls
        loss = dg.cond(x.sum() > 0, lambda: (p * x).sum(), lambda: x.sum()) * q
        loss.backward()
        return loss
    make = lambda: [dg.nn.Parameter(dg.tensor([1.0, 2.0])), dg.nn.Parameter(dg.tensor(1.0))]
    eager, compiled = _both(fn, make, [1.0, 3.0], [-1.0, -3.0])  # call 2: refused
    assert eager[1][2][0] == [1.0, 3.0]           # eagerly p.grad keeps the first call's value
    assert compiled == eager


def test_fixed_simplified_copy_of_state():
    """(was KNOWN_BUGS['simplified_copy_of_state']: `s * 1.0` of a state was simplified to s, so
    a later write to s showed through the copy; simplify's _may_share_memory now keeps it)"""
    def view_after_step(state, x):
        (p,) = state
        opt = dg.optim.SGD([p], lr=0.5)
        opt.zero_grad()
        (p * x).sum().backward()
        y = (p * 1.0)[0]        # a view of a copy of p
        opt.step()
        return y

    def loop_variable(state, x):
        (b,) = state
        t = b * 1.0             # a copy of b

        def body(i, h):
            b.copy_(h.detach() + 10)
            return i + 1, dg.tanh(h * 0.5 + t)
        return dg.while_loop(lambda i, h: i < 2, body, (0, t))[1]
    eager, compiled = _both(view_after_step, lambda: [dg.nn.Parameter(dg.tensor([[1.0, 2.0], [3.0, 4.0]]))],
                            [[0.0, 5.0], [0.0, 0.0]])
    assert eager[0][0] == [[1.0, 2.0]]
    assert compiled == eager                   # was [[0.5, 1.5]]: p after the step
    eager, compiled = _both(loop_variable, lambda: [dg.tensor([0.1, 0.2])], [1.0, 1.0])
    assert compiled == eager


def test_fixed_cf_grad_reads_state_after_write():
    def cond(state, x):
        (p,) = state
        p.grad = None
        u = dg.cond(x.sum() > 0, lambda: dg.exp(p).sum(), lambda: x.sum())
        with dg.no_grad():
            p.mul_(0.5)         # exp saved its result: eagerly the gradient is exp(old p)
        u.backward()
        return u

    def loop(state, x):
        (p,) = state
        p.grad = None
        _, u = dg.while_loop(lambda i, h: i < 2, lambda i, h: (i + 1, dg.exp(h * 0.25 + p)), (0, x))
        with dg.no_grad():
            p.mul_(0.5)
        u.sum().backward()
        return u.sum()
    for fn in (cond, loop):
        eager, compiled = _both(fn, lambda: [dg.nn.Parameter(dg.tensor([1.0, 2.0]))], [1.0, 1.0])
        assert compiled[0][2][0] == pytest.approx(eager[0][2][0], rel=1e-5)   # cond: exp(p / 2)


def test_fixed_graph_assign_stops_grad():
    b = dg.zeros(2)
    with dg.graph_mode() as g:
        s = dg.placeholder([])
        b.add_(dg.tanh(s) * 0.5)      # eagerly (and in dg.function) b now carries s's history
        loss = (b * 3).sum()
        (gs,) = dg.gradients(loss, [s])
    assert gs is not None             # graph mode: None
    s0 = dg.tensor(0.5, requires_grad=True)
    b0 = dg.zeros(2)
    b0.add_(dg.tanh(s0) * 0.5)
    (b0 * 3).sum().backward()
    got = g.compile([gs], feeds=[s])(np.array(0.5, np.float32))[0]
    assert float(got) == pytest.approx(float(s0.grad))


def test_fixed_cf_copy_of_detached_param_recursion():
    def fn(state, x):
        p, b = state
        p.grad = None
        b.copy_(p.detach())
        loss = dg.cond(x.sum() > 0, lambda: p * 2, lambda: p).sum()
        loss.backward()        # RecursionError while the gradient is built
        return loss
    make = lambda: [dg.nn.Parameter(dg.tensor([0.5, -1.0])), dg.zeros(2)]
    eager, compiled = _both(fn, make, [1.0, 1.0])
    assert compiled == eager


def test_fixed_detached_read_cuts_other_grads():
    """(was KNOWN_BUGS['detached_read_cuts_other_grads']: the nodes that had read p through
    p.detach() were marked no_grad when p was read with grad, cutting q's gradient too; they
    read a stop_gradient of p now: Graph._detach_readers)"""
    def fn(state, x):
        p0, p1 = state
        p0.grad = p1.grad = None
        d = p0.detach()
        y = (d * p1 * x).sum() + (p0 * p0).sum()
        y.backward()
        return y
    eager, compiled = _both(fn, lambda: [dg.nn.Parameter(dg.tensor([1.0, 2.0])),
                                         dg.nn.Parameter(dg.tensor([3.0, 4.0]))], [1.0, 1.0])
    assert eager[0][2][1] == [1.0, 2.0]
    assert compiled == eager              # compiled: p1.grad None


def test_fixed_cf_output_aliases():
    """(was KNOWN_BUGS['cf_output_aliases']: a dg.function output that eagerly is another output
    at some calls came back as a tensor of its own; it is that very tensor now, as a nested
    cond / loop result that is an argument or state is: tests/test_control_flow_aliases.py)"""
    def run(compiled):
        def fn(x):
            def yes():
                t = x * 2
                return t, t
            return dg.cond(x.sum() > 0, yes, lambda: (x * 3, x * 4))
        f = dg.function(fn) if compiled else fn
        f(dg.tensor([1.0]))
        a, b = f(dg.tensor([1.0]))     # eagerly one tensor
        with dg.no_grad():
            a.add_(1.0)
        return b.tolist()
    assert run(False) == [3.0]
    assert run(True) == run(False)     # compiled: [2.0]


def test_fixed_cf_count_use_then_write():
    """(was KNOWN_BUGS['cf_count_use_then_write']: the loop counter counted as on a gradient
    path, so mul's rule read h for it; gradients._on_path follows _gradient_paths now)"""
    def fn(state, x):
        (p,) = state
        p.grad = None
        k, t = dg.while_loop(lambda i, h: i < 1, lambda i, h: (i + 1, (h * 0.5).clamp(-1, 1)), (0, p))
        u = t * (k + 1)
        t.mul_(p)              # compiled: "modified by an inplace operation" at backward
        loss = u.sum()
        loss.backward()
        return loss
    eager, compiled = _both(fn, lambda: [dg.nn.Parameter(dg.tensor([1.0, 2.0]))], [1.0])
    assert compiled == eager


def test_fixed_cf_copy_of_detached_param():
    """(was KNOWN_BUGS['cf_copy_of_detached_param']: "must be from the same graph" while
    tracing: an enclosing graph's stop_gradient of the state was built in the loop body)"""
    def fn(state, x):
        p0, p1, p2 = state
        for p in state:
            p.grad = None

        def no():
            def body(i, h):
                with dg.no_grad():
                    p1.copy_(p2.detach())
                return i + 1, dg.tanh(h)
            return dg.while_loop(lambda i, h: i < 2, body, (0, p0))[1]
        loss = dg.cond(x.mean() > 5, lambda: p0 + p2, no).sum()
        loss.backward()          # compiled: "must be from the same graph" while tracing
        return loss
    make = lambda: [dg.nn.Parameter(dg.tensor([1.0, 2.0]) * k) for k in (1, 2, 3)]
    eager, compiled = _both(fn, make, [6.0, 6.0], [7.0, 8.0])     # the true branch
    assert compiled == eager
    with pytest.raises(dg.DualGraphError, match="has no gradient at this call"):
        _both(fn, make, [1.0, 1.0])   # the loop's branch: eagerly p2.grad is None


def test_fixed_cf_reach_zeros():
    """(was KNOWN_BUGS['cf_reach_zeros']: .grad zeros where eagerly None through nested control
    flow; a cond or loop inside a loop body: control_flow._reach_flags)"""
    def cond_in_loop(p, x):
        def body(i, h):     # p only in the branch not taken
            return i + 1, dg.cond(h.sum() > 100, lambda: h + p, lambda: h * 2)
        return dg.while_loop(lambda i, h: i < 2, body, (0, x))[1].sum()

    def cond_in_cond(p, x):
        return dg.cond(x.sum() > 0, lambda: dg.cond(x.sum() > 100, lambda: x + p, lambda: x * 2),
                       lambda: x * p).sum()

    def empty_loop_in_cond(p, x):
        inner = lambda: dg.while_loop(lambda i, h: i < 0, lambda i, h: (i + 1, h + p), (0, x))[1]
        return dg.cond(x.sum() > 0, inner, lambda: x * p).sum()

    def unused_loop_variable(p, x):
        t = dg.tanh(p)          # p reaches the loop only as the initial value of g, unused
        return dg.while_loop(lambda i, h, g: i < 2, lambda i, h, g: (i + 1, h * 2, g * h.sum()),
                             (0, x, t))[1].sum()
    for body in (cond_in_loop, cond_in_cond, empty_loop_in_cond, unused_loop_variable):
        def fn(state, x, body=body):
            (p,) = state
            p.grad = None
            loss = body(p, x.detach().requires_grad_())
            loss.backward()
            return loss
        got = None
        try:
            eager, got = _both(fn, lambda: [dg.nn.Parameter(dg.tensor([1.0, 2.0]))], [1.0, 1.0])
        except dg.DualGraphError as e:
            assert "has no gradient at this call" in str(e)   # the refusal: right
            continue
        assert eager[0][2] == [None]
        assert got == eager                                   # compiled: p.grad == [0.0, 0.0]


def test_fixed_cf_grad_rerun_repeats_state_write():
    q = lambda: dg.nn.Parameter(dg.tensor([1.0, 2.0]))
    for make in (lambda: [dg.nn.Parameter(dg.tensor(2.0)), q()], lambda: [dg.tensor(2.0), q()]):
        def fn(state, s):
            p, x = state
            x.grad = None

            def yes():
                with dg.no_grad():
                    p.mul_(0.5)
                return x * p
            loss = dg.cond(s > 0, yes, lambda: x * 3).sum()
            loss.backward()
            return loss
        eager, compiled = _both(fn, make, 1.0)
        assert eager[0][2][-1] == [1.0, 1.0]   # x.grad: p after the write (eagerly)
        assert compiled == eager              # compiled: [0.5, 0.5]


def test_fixed_function_view_of_state_read_after_write():
    """(was KNOWN_BUGS['function_view_of_state_read_after_write']: the update was written into
    w's memory before the backward read w through a view: plan._readers_through_views)"""
    def fn(state, x):
        a, w = state
        a.grad = w.grad = None
        loss = (a.view(4, 1) @ w.reshape(1, 3)).mean()
        loss.backward()                    # a.grad = w.sum() / 12, read now
        with dg.no_grad():
            w.mul_(10.0)                   # (an optimizer step)
        return loss
    make = lambda: [dg.nn.Parameter(dg.tensor([[1.0, 1.0], [2.0, 2.0]])), dg.nn.Parameter(dg.tensor([1.0, 2.0, 3.0]))]
    eager, compiled = _both(fn, make, [1.0])
    assert eager[0][2][0] == [[0.5, 0.5], [0.5, 0.5]]
    assert compiled == eager              # compiled: a.grad == 5.0 (w after the write)


def test_fixed_cf_loop_state_write_grad():
    def ema(p, b, n):
        def body(i, h):
            b.mul_(0.5)
            b.add_(p * 0.5)       # b now carries p's history (eagerly, as in PyTorch)
            return i + 1, h * 2
        dg.while_loop(lambda i, h: i < n, body, (0, dg.ones(1)))
        return b.sum()

    def overwrite(p, b, n):
        b.add_(p * 1.0)
        def body(i, h):
            b.copy_(h.detach())   # eagerly this ends b's history
            return i + 1, h * 2
        dg.while_loop(lambda i, h: i < n, body, (0, dg.ones(2)))
        return b.sum() + p.sum() * 0
    for body in (ema, overwrite):
        def fn(state, n, body=body):
            p, b = state
            p.grad = None
            loss = body(p, b, n)
            loss.backward()
            return loss
        eager, compiled = _both(fn, lambda: [dg.nn.Parameter(dg.tensor([1.0, 2.0])), dg.zeros(2)], 2)
        assert compiled[0][2] == eager[0][2]     # ema: [1.0, 1.0] for [0.75, 0.75]; overwrite: [1, 1] for [0, 0]


REPRODUCERS = {
}
