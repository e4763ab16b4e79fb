"""Registry-driven operator tests: every op of `dg.ops.OPS` through the table in opinfo.py.

  (a) the registry is complete (forward, infer, vjp or declared non-differentiable) and every
      op has a record in the table;
  (b) gradcheck in float64 on every sample of every differentiable op;
  (c) values, dtypes and gradients equal PyTorch's (skipped without torch);
  (d) error inputs raise a DualGraphError that is also the builtin type PyTorch raises, with
      PyTorch's wording;
  (e) second-order gradients (gradgradcheck);
  (f) dtype promotion cases;
  plus: each record reaches its op, and each shape rule (`op.infer`) agrees with what eager
  execution produced, for every op application (forward and backward), also with unknown dims.
"""
import re

import numpy as np
import pytest

import dualgraph as dg
from dualgraph.ops import OPS

import op_runners as R
from opinfo import RECORDS, PROMOTION_CASES


def _sid(i, desc):
    return f"{i}:{re.sub(r'[^A-Za-z0-9_.=,+*()<>-]+', '_', desc)}"


def _params(pred=lambda r, s: True, limit=None):
    out = []
    for r in RECORDS:
        n = 0
        for i, s in enumerate(r.sample_list()):
            if pred(r, s):
                out.append(pytest.param(r, s, id=f"{r.id}[{_sid(i, s.desc)}]"))
                n += 1
                if limit is not None and n >= limit:
                    break
    return out


def _err_params():
    out = []
    for r in RECORDS:
        for i, e in enumerate(r.error_list()):
            marks = [pytest.mark.xfail(strict=True, reason=e.xfail)] if e.xfail else []
            out.append(pytest.param(r, e, id=f"{r.id}[{_sid(i, e.desc)}]", marks=marks))
    return out


def _grad_sample(r, s):
    return r.differentiable and s.grad and bool(R.grad_positions(s))


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


# ============================================================================ (a) registry
# Ops whose *float* outputs carry no gradient, on purpose (PyTorch agrees: their derivative is
# zero or undefined). A new op without a vjp must be added here, with its reason, or get a vjp.
NON_DIFFERENTIABLE = {
    "count_ratio": "a shape-derived constant",
    "full": "creation", "empty": "creation", "arange": "creation", "linspace": "creation",
    "eye": "creation", "full_like": "creation (reads only the template's shape)",
    "rand": "random", "randn": "random", "rand_like": "random", "randn_like": "random",
    "bernoulli_keep": "random", "uniform_like": "random", "normal_like": "random",
    # graph-only ops (sources, state, control flow: test_graph_only_ops_build_and_run)
    "placeholder": "a graph input", "variable": "state (gradients stop at a read)",
    "constant": "a baked-in value", "group": "runs updates, no value",
    "stop_gradient": "detach",
}
BOOL_OR_INT_OUTPUT = {"eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or",
                      "logical_not", "argmax", "argmin", "randint", "one_hot", "bitwise_and", "bitwise_or", "bitwise_not", "bitwise_xor",
                      "bitwise_left_shift", "bitwise_right_shift", "all", "any",
                      "max_pool2d_indices", "argsort", "topk"}


@pytest.mark.parametrize("name", sorted(OPS))
def test_registry_entry(name):
    op = OPS[name]
    assert op.name == name
    assert callable(op.forward), f"{name}: no forward kernel"
    assert callable(op.infer), f"{name}: no shape/dtype rule"
    assert op.vjp is None or callable(op.vjp)
    assert op.differentiable == (op.vjp is not None)
    if op.vjp is None:
        assert name in NON_DIFFERENTIABLE or name in BOOL_OR_INT_OUTPUT, (
            f"op {name!r} has no vjp: give it one, or declare it non-differentiable in "
            "NON_DIFFERENTIABLE / BOOL_OR_INT_OUTPUT with a reason")
    else:
        assert name not in NON_DIFFERENTIABLE and name not in BOOL_OR_INT_OUTPUT, (
            f"op {name!r} has a vjp but is listed as non-differentiable")
    if op.random:
        assert not op.differentiable


def test_every_op_has_a_record():
    covered = {r.op for r in RECORDS}
    missing = sorted({n for n, op in OPS.items() if not op.graph_only} - covered)
    assert not missing, f"ops without a record in tests/opinfo.py: {missing}"
    stale = sorted(covered - set(OPS))
    assert not stale, f"records for ops that are not in the registry: {stale}"
    ids = [r.id for r in RECORDS]
    assert len(ids) == len(set(ids)), "duplicate record ids (give variants a name)"


# ops whose backward rule is the user's (so it lives with the API that takes it, not in ops/vjps/)
USER_RULES = {"custom_function": "dg.autograd.Function: the rule calls the user's backward"}


def test_defvjp_attaches_one_rule():
    """The rules live apart from the kernels (ops/vjps/), attached with defvjp: an op has one
    rule, so a second one raises (never two copies of a gradient), also after defop(vjp=)."""
    from dualgraph.errors import DGRuntimeError
    from dualgraph.ops.registry import Op, Spec, defvjp

    def infer(x):
        return Spec(x.shape, x.dtype)

    op = Op("probe", np.negative, infer)  # (not registered: OPS stays as it is)
    assert op.vjp is None and not op.differentiable
    rule = defvjp(op)(lambda g, n: (-g,))  # as a decorator
    assert op.vjp is rule and op.differentiable
    with pytest.raises(DGRuntimeError, match="operator 'probe' already has a backward rule"):
        defvjp(op, lambda g, n: (g,))
    assert op.vjp is rule
    inline = Op("probe_inline", np.negative, infer, lambda g, n: (-g,))  # defop(..., vjp=) path
    assert inline.differentiable
    with pytest.raises(DGRuntimeError, match="already has a backward rule"):
        defvjp(inline, rule)
    declared = Op("probe_nondiff", np.negative, infer, differentiable=False)
    defvjp(declared, rule)
    assert declared.vjp is rule and not declared.differentiable
    for name in ("add", "matmul", "sum", "getitem", "conv2d", "sum_to"):
        with pytest.raises(DGRuntimeError, match="already has a backward rule"):
            defvjp(OPS[name], OPS[name].vjp)
    # the op families pass no rule inline: every rule but the graph-only ops' is in ops/vjps/
    inline = sorted(n for n, o in OPS.items() if o.vjp is not None and not o.graph_only
                    and not o.vjp.__module__.startswith("dualgraph.ops.vjps.")
                    and n not in USER_RULES)
    assert not inline, f"rules outside dualgraph/ops/vjps/: {inline}"


def _has_dim(samples, pred):
    return any(isinstance(a, np.ndarray) and pred(a.shape) for s in samples for a in s.args)


@pytest.mark.parametrize("record", [r for r in RECORDS if not r.variant], ids=lambda r: r.id)
def test_record_samples_cover_edge_shapes(record):
    """Main records of ops with tensor inputs sample a size-0 and a size-1 (or 0-d) dimension."""
    samples = record.sample_list()
    assert samples, "a record needs samples"
    if not _has_dim(samples, lambda s: True):
        return  # creation ops: no tensor inputs
    assert _has_dim(samples, lambda s: 0 in s), f"{record.id}: no sample with a size-0 dim"
    assert _has_dim(samples, lambda s: 1 in s or s == ()), f"{record.id}: no size-1 or 0-d sample"


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.id)
def test_record_reaches_its_op(record):
    s = record.sample_list()[0]
    _, log = R.trace_eager(record, s, grad=_grad_sample(record, s))
    names = [op.name for op, *_ in log]
    assert record.op in names, f"{record.id} calls {names}, not {record.op!r}"


# ============================================================================ eager sanity
@pytest.mark.parametrize("record,sample", _params())
def test_eager_runs(record, sample):
    """Every sample runs; outputs are numpy-backed tensors of a dualgraph dtype."""
    res = R.run_eager(record, sample, grad=_grad_sample(record, sample))
    assert res.outputs
    for o in res.outputs:
        dg.dtypes.from_np(o.dtype)
    if record.value_check is not None:
        assert record.value_check(res.outputs[0], sample), f"{record.id}: values out of range"
    if _grad_sample(record, sample):
        for i in R.grad_positions(sample):
            g = res.grads[i]
            assert g.shape == sample.args[i].shape and g.dtype == sample.args[i].dtype


# ============================================================================ shape rules
# The output rank of these depends on input sizes (squeeze drops the dims that are 1), so with
# unknown dims the rule keeps them: only the known-size check applies.
RANK_NEEDS_SIZES = {"squeeze"}
# Output sizes that depend on values (a boolean mask's count, one_hot's inferred classes): the
# rule answers None for them even when every input size is known.
DATA_DEPENDENT = {"getitem", "getitem_grad", "index_put", "one_hot"}
# cat drops legacy empty 1-d inputs ((0,)-shaped) from the rank check; a 1-d input of unknown
# size could be one, so the rule may refuse a rank mismatch it cannot resolve.
UNKNOWN_MAY_REFUSE = {"cat"}
INFER_RULES = dict(data_dependent=DATA_DEPENDENT, rank_needs_sizes=RANK_NEEDS_SIZES,
                   unknown_may_refuse=UNKNOWN_MAY_REFUSE)


@pytest.mark.parametrize("record,sample", _params())
def test_infer_matches_eager(record, sample):
    """op.infer on the inputs' specs gives the shape and dtype eager produced, for every op
    application the call makes (backward included); with every input dim unknown (None) the
    rule still answers, and each dim it names matches."""
    _, log = R.trace_eager(record, sample, grad=_grad_sample(record, sample))
    assert R.check_infer(log, **INFER_RULES) > 0


# ============================================================================ (b) gradcheck
@pytest.mark.parametrize("record,sample", _params(lambda r, s: _grad_sample(r, s) and s.numeric))
def test_gradcheck(record, sample):
    assert R.gradcheck_eager(record, sample)


# ============================================================================ (e) second order
@pytest.mark.parametrize("record,sample", _params(
    lambda r, s: r.gradgrad and _grad_sample(r, s) and s.numeric, limit=4))
def test_gradgradcheck(record, sample):
    assert R.gradgradcheck_eager(record, sample)


# ============================================================================ (d) errors
@pytest.mark.parametrize("requires_grad", [False, True], ids=["plain", "requires_grad"])
@pytest.mark.parametrize("record,err", _err_params())
def test_error_inputs(record, err, requires_grad):
    e = R.error_eager(record, err, requires_grad=requires_grad)
    assert e is not None, f"{record.id}: {err.desc}: no error raised"
    assert isinstance(e, dg.DualGraphError), f"{type(e).__name__}: {e}"
    assert isinstance(e, err.exc), f"expected {err.exc.__name__}, got {type(e).__mro__}: {e}"
    if err.match:
        assert re.search(err.match, str(e)), f"message {str(e)!r} does not match {err.match!r}"


# ============================================================================ (f) promotion
@pytest.mark.parametrize("case", PROMOTION_CASES, ids=lambda c: c.desc)
def test_promotion(case):
    args = [dg.tensor(a) if isinstance(a, np.ndarray) else a for a in case.args]
    out = case.fn(dg, *args)
    assert out.dtype == getattr(dg, case.expected), f"{case.desc}: got {out.dtype}"


# ============================================================================ (c) against PyTorch
def _close(a, b, atol, rtol):
    return np.allclose(a.astype(np.float64), b.astype(np.float64), atol=atol, rtol=rtol, equal_nan=True)


@pytest.mark.parametrize("record,sample", _params(lambda r, s: r.ref is not None))
def test_torch_forward(record, sample, torch):
    torch.manual_seed(0)
    ours = R.run_eager(record, sample, grad=False)
    ref = R.run_torch(record, sample, grad=False)
    assert len(ours.outputs) == len(ref.outputs)
    for k, (a, b) in enumerate(zip(ours.outputs, ref.outputs)):
        assert a.shape == b.shape, f"output {k}: shape {a.shape} vs torch {b.shape}"
        assert a.dtype == b.dtype, f"output {k}: dtype {a.dtype} vs torch {b.dtype}"
        if record.random:
            continue
        if a.dtype.kind == "f":
            assert _close(a, b, record.atol, record.rtol), f"output {k}:\n{a}\nvs torch\n{b}"
        else:
            assert np.array_equal(a, b), f"output {k}:\n{a}\nvs torch\n{b}"


@pytest.mark.parametrize("record,sample", _params(
    lambda r, s: r.ref is not None and _grad_sample(r, s) and s.torch_grad))
def test_torch_grad(record, sample, torch):
    ours = R.run_eager(record, sample)
    ref = R.run_torch(record, sample)
    for i in R.grad_positions(sample):
        a, b = ours.grads[i], ref.grads[i]
        assert a.shape == b.shape and a.dtype == b.dtype, f"grad {i}: {a.shape, a.dtype} vs {b.shape, b.dtype}"
        assert _close(a, b, record.grad_atol, record.grad_rtol), f"grad of arg {i}:\n{a}\nvs torch\n{b}"


@pytest.mark.parametrize("record,err", [p for p in _err_params() if p.values[0].ref is not None])
def test_torch_error_inputs(record, err, torch):
    """The table's error inputs make PyTorch raise the stated type and wording, and ours is an
    instance of the same builtin exception class."""
    te = R.error_torch(record, err)
    assert te is not None, f"torch does not raise for {err.desc}"
    kind = R.builtin_type(te)
    assert issubclass(kind, err.exc), f"torch raises {type(te).__mro__}, table says {err.exc}"
    if err.match:
        assert re.search(err.match, str(te)), f"torch says {str(te)!r}, table expects {err.match!r}"
    e = R.error_eager(record, err)
    assert isinstance(e, kind) and isinstance(e, dg.DualGraphError), f"{type(e).__mro__}: {e}"


@pytest.mark.parametrize("case", PROMOTION_CASES, ids=lambda c: c.desc)
def test_torch_promotion(case, torch):
    args = [torch.from_numpy(np.array(a)) if isinstance(a, np.ndarray) else a for a in case.args]
    out = case.fn(torch, *args)
    assert out.dtype == getattr(torch, case.expected), f"table: {case.desc}; torch gives {out.dtype}"


def test_autograd_gradgradcheck_api():
    # dualgraph/autograd/gradcheck.py now takes the first-order gradients under enable_grad()
    x = dg.tensor([1.0, 2.0], dtype=dg.float64, requires_grad=True)
    assert dg.autograd.gradgradcheck(lambda x: x * x * x, [x])


# ============================================================================ graph-only ops
def _build_graph_only_ops():
    """A graph that uses every graph-only op; returns (graph, fetches, feeds, feed values, expected)."""
    g = dg.Graph()
    buf = dg.tensor([0.0])  # an eager buffer, written in a cond branch below
    with dg.graph_mode(g):
        p = dg.placeholder([2])                           # placeholder
        v = dg.Variable(np.array([1.0, 2.0], np.float32))  # variable
        c = dg.constant([10.0, 20.0])                     # constant
        up = v.assign(v + p)                              # assign
        grp = dg.group(up)                                # group
        d = (p * 3).detach()                              # stop_gradient
        (n,) = dg.while_loop(lambda i: i < 5, lambda i: (i + 2,), (dg.constant(0),))  # while_loop, tuple_get
        out = dg.cond(n > 5, lambda: c + d, lambda: c - d)  # cond
        w = dg.Variable(np.array([1.0], np.float32))
        dg.autograd.grad(dg.cond(n > 5, lambda: (w * 2).sum(), lambda: c.sum()), [w])  # grad_reached
        def write_untracked():
            with dg.no_grad():
                return buf.add_(1).sum()
        dg.cond(n > 5, write_untracked, lambda: c.sum())  # state_value (an untracked write in a branch)
        y = dg.cond(n > 5, lambda: d, lambda: d * 2)      # eagerly y IS d when n > 5
        y.add_(1.0)
        d * 1  # alias_check: a read of d, refused at the runs where eagerly it shows the write
    return g, [out, grp, n], [p], [np.ones(2, np.float32)], [[13.0, 23.0], None, 6]


from dualgraph.graph.subgraph import SubGraph  # noqa: E402


def _all_nodes(g):
    """The graph's nodes and those of the subgraphs its control-flow ops hold."""
    for n in g.nodes:
        yield n
        for v in n.attrs.values():
            for b in (v if isinstance(v, tuple) else (v,)):
                sub = getattr(b, "graph", None)
                if isinstance(sub, SubGraph):
                    yield from _all_nodes(sub)


def test_graph_only_ops_build_and_run():
    g, fetches, feeds, values, want = _build_graph_only_ops()
    used = {n.op.name for n in _all_nodes(g)}
    graph_only = {name for name, op in OPS.items() if op.graph_only}
    assert graph_only <= used, sorted(graph_only - used)
    got = g.compile(fetches, feeds=feeds)(*values)
    assert np.asarray(got[0]).tolist() == want[0] and got[1] is None and int(got[2]) == want[2]
    for name in graph_only:
        op = OPS[name]
        assert op.infer is not None and op.doc, name
        if op.source:
            with pytest.raises(dg.DualGraphError, match="bound by the executor"):
                op.forward()
