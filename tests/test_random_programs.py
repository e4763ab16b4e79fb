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


REPRODUCERS = {
}
