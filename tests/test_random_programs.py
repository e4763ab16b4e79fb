"""Random-program differential tests (tests/random_programs.py): seeded programs of 30-60 ops
run by PyTorch, dualgraph eager, graph mode (plan called twice) and dg.function (called twice).

DG_RANDOM_PROGRAMS=N runs N programs (default 300), e.g. DG_RANDOM_PROGRAMS=3000 for a long run;
DG_RANDOM_PROGRAMS_START=S starts at seed S; DG_RANDOM_PROGRAMS_UNKNOWN_DIMS=1 adds a fifth run,
graph mode with placeholders of unknown dims (build-time refusals accepted). A failure prints the program as a runnable
dualgraph script, the runners that disagree, the value and the first op whose result diverges.

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


# ============================================================================ the programs
@pytest.mark.parametrize("seed", range(START, START + N_PROGRAMS))
def test_random_program_four_ways(seed):
    pytest.importorskip("torch")
    prog = rp.generate(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # deprecations and numpy's overflow notes are not results
        rp.check(prog)


# ============================================================================ the generator
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
    if rp.UNKNOWN_DIMS:      # excluded there (KNOWN_BUGS unknown_dims_*)
        want -= {"repeat", "cartesian", "squeeze"}
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


def test_a_divergence_report_names_runner_value_and_line():
    """A known bug made into a program (generator exclusions bypassed): the report says which
    runners disagree, on what, at which line, and prints the program."""
    pytest.importorskip("torch")
    prog = rp.Program(seed=-1, inputs=[("x0", np.array([[0.0, 1.0], [2.0, 3.0]], np.float32), True)],
                      lines=["t0 = x0 * 2.0", "t1 = t0[0]", "t0.add_(1.0)", "t2 = t1 * 1.0"],
                      fetch=["t2"], fetch_dtypes=["float32"], loss="loss = 1.0 * t2.sum()",
                      all_live=["t0", "t1", "t2"], makers={"t0": 0, "t1": 1, "t2": 3}, writers={"t0": [2]})
    with pytest.raises(rp.Divergence) as info:
        rp.check(prog)
    text = str(info.value)
    assert "eager vs graph call 1: loss" in text and "eager vs function call 1" in text
    assert "first diverging value: t1, made by line 2: t1 = t0[0]" in text
    assert "t0.add_(1.0)" in text and "import dualgraph as dg" in text


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


@_fixed("stale_alias_after_write")
def test_bug_stale_alias_after_write():
    def f(x):
        t = x * 2
        u = t[0]        # a view of t
        t.add_(1.0)     # eagerly (and in PyTorch) u sees the write
        return u * 1
    x = dg.tensor([[0.0, 1.0], [2.0, 3.0]])
    assert f(x).tolist() == [1.0, 3.0]
    assert dg.function(f)(x).tolist() == [1.0, 3.0]        # dualgraph: [0.0, 2.0]


@_fixed("second_write_through_view")
def test_bug_second_write_through_view():
    def f(x):
        t = x * 2
        v = t[0]
        v.add_(1.0)
        v.mul_(2.0)     # lands in t eagerly; lost for t in a plan
        return t * 1
    x = dg.tensor([[0.0, 1.0], [2.0, 3.0]])
    assert f(x).tolist() == [[2.0, 6.0], [4.0, 6.0]]
    assert dg.function(f)(x).tolist() == [[2.0, 6.0], [4.0, 6.0]]   # dualgraph: [[1, 3], [4, 6]]


@_fixed("sign_not_differentiable")
def test_bug_sign_not_differentiable():
    x = dg.tensor([0.5, -1.0], requires_grad=True)
    y = dg.sign(x)
    assert y.requires_grad                                   # torch: True, zero gradient
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


@_fixed("zero_d_promotion_in_plan")
def test_bug_zero_d_promotion_in_plan():
    a = np.ones(3, np.float32)
    y, value = _plan(lambda p: p.sum() + p.double().sum(), a)
    assert y.dtype == dg.float64
    assert np.asarray(value).dtype == np.float64              # dualgraph: float32
    _, value = _plan(lambda p: (lambda s: dg.where(s > 0, s, s))(p.double().sum()), a)
    assert np.asarray(value).dtype == np.float64              # dualgraph: float32


def test_fixed_inplace_on_tensor_literal():
    """(found by this tester) a dg.tensor made while a graph is built is a constant of it."""
    def f(x):
        t = dg.tensor([1.0, 2.0, 3.0])
        t.add_(x)
        return t * 1
    fn, x = dg.function(f), dg.ones(3)
    assert fn(x).tolist() == [2.0, 3.0, 4.0]
    assert fn(x).tolist() == [2.0, 3.0, 4.0]


@_fixed("saves_unneeded_inputs")
def test_bug_saves_unneeded_inputs():
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    b = a * 1
    y = F.linear(dg.ones(1, 2), dg.ones(2, 2), b)     # the gradient does not read the bias
    b.zero_()
    y.sum().backward()                                       # dualgraph: modified by an inplace op
    assert a.grad.tolist() == [1.0, 1.0]


@_fixed("refused_inplace_on_fresh_result")
def test_bug_refused_inplace_on_fresh_result():
    def f(x):
        v = x.max(dim=1)[0]     # a fresh tensor in PyTorch
        v.add_(1.0)
        return v * 1
    x = dg.tensor([[0.0, 1.0], [2.0, 3.0]])
    assert dg.function(f)(x).tolist() == f(x).tolist()       # dualgraph: refused as a squeeze view


@_fixed("overwrite_drops_requires_grad")
def test_bug_overwrite_drops_requires_grad():
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
    dg.function(f)(x)                                        # dualgraph: backward() raises
    assert x.grad.tolist() == [0.0, 0.0]


@_fixed("setitem_on_0d_in_plan")
def test_bug_setitem_on_0d_in_plan():
    def f(p):
        s = p.sum()
        s[s > 0] = 0.0
        return s
    _, value = _plan(f, np.ones(3, np.float32))               # dualgraph: raises at run time
    assert float(value) == 0.0


def test_fixed_fold_duplicate_constant_input():
    """(found by this tester) constant folding c + c removed one edge twice."""
    with dg.graph_mode() as g:
        p = dg.placeholder([2])
        t = p * 2
        (gp,) = dg.gradients((t + t).sum(), [p])
    plan = g.compile([gp], feeds=[p])
    assert plan(np.ones(2, np.float32))[0].tolist() == [4.0, 4.0]


@_fixed("std_grad_at_zero")
def test_bug_std_grad_at_zero():
    x = dg.ones(3, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dg.std(x).backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]                 # dualgraph: nan (torch: 0)


@_fixed("contiguous_0d_in_plan")
def test_bug_contiguous_0d_in_plan():
    _, value = _plan(lambda p: p.contiguous() + 1, np.array(1.0, np.float32))
    assert np.shape(value) == ()                             # dualgraph: (1,)


def _grad_plan(fn, shape, array):
    with dg.graph_mode() as g:
        p = dg.placeholder(shape)
        y = fn(p)
        (gp,) = dg.gradients(y.sum(), [p])
    return g.compile([y, gp])(array)


@_fixed("unknown_dims_cartesian_prod")
def test_bug_unknown_dims_cartesian_prod():
    out, _ = _grad_plan(lambda p: dg.cartesian_prod(p, p), [None], np.ones(2, np.float32))
    assert out.shape == (4, 2)                               # dualgraph: raises at run time


@_fixed("unknown_dims_repeat_grad")
def test_bug_unknown_dims_repeat_grad():
    _, grad = _grad_plan(lambda p: p.repeat(2), [None], np.ones(2, np.float32))
    assert grad.tolist() == [2.0, 2.0]                       # dualgraph: raises at run time


@_fixed("unknown_dims_squeeze")
def test_bug_unknown_dims_squeeze():
    _, grad = _grad_plan(lambda p: p.squeeze(0), [None, 3], np.ones((1, 3), np.float32))
    assert grad.shape == (1, 3)                              # dualgraph: raises at run time


REPRODUCERS = {
    "stale_alias_after_write": test_bug_stale_alias_after_write,
    "second_write_through_view": test_bug_second_write_through_view,
    "sign_not_differentiable": test_bug_sign_not_differentiable,
    "zero_d_promotion_in_plan": test_bug_zero_d_promotion_in_plan,
    "saves_unneeded_inputs": test_bug_saves_unneeded_inputs,
    "refused_inplace_on_fresh_result": test_bug_refused_inplace_on_fresh_result,
    "overwrite_drops_requires_grad": test_bug_overwrite_drops_requires_grad,
    "setitem_on_0d_in_plan": test_bug_setitem_on_0d_in_plan,
    "std_grad_at_zero": test_bug_std_grad_at_zero,
    "contiguous_0d_in_plan": test_bug_contiguous_0d_in_plan,
    "unknown_dims_cartesian_prod": test_bug_unknown_dims_cartesian_prod,
    "unknown_dims_repeat_grad": test_bug_unknown_dims_repeat_grad,
    "unknown_dims_squeeze": test_bug_unknown_dims_squeeze,
}
