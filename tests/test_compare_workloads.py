"""The built-in workloads of python -m dualgraph.compare: each agrees eagerly vs compiled and is
measured; the RNN serves every length with one trace; user workloads by module:function."""
import pathlib
import sys

import pytest

import dualgraph as dg
from dualgraph.compare.workloads import WORKLOADS, WorkloadError, get_workload

sys.path.insert(0, str(pathlib.Path(__file__).parent))  # compare_user_workload


def _run(spec, batch):
    setup, inputs = get_workload(spec).build(batch)
    return dg.compare(setup=setup, inputs=inputs, calls=3, repeat=2, name=spec)


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_builtin_workload_agrees_and_is_timed(name):
    cmp = _run(name, 4)
    assert cmp.agree, (cmp.max_abs_diff, cmp.state_differences)
    assert cmp.retraces == 0
    for mode in ("eager", "compiled"):
        assert cmp.timing[mode]["median_us"] > 0
    assert cmp.first_call["compiled_ms"] > 0 and cmp.first_call["eager_ms"] > 0
    assert cmp.memory["eager_peak_bytes"] > 0 and cmp.memory["compiled_peak_bytes"] > 0


def test_rnn_one_trace_for_every_length():
    setup, inputs = WORKLOADS["rnn"].build(2)
    cmp = dg.compare(setup=setup, inputs=inputs, calls=4, repeat=2)
    assert cmp.agree and cmp.retraces == 0
    assert len(set(cmp.tape_nodes)) == len(cmp.tape_nodes)  # lengths 3, 4, 5, 6: tape grows
    assert any(n.op.name == "while_loop" for n in cmp.graph.nodes)
    step = dg.function(setup())
    for i in range(5):
        step(*inputs(i))
    assert step.trace_count == 1


def test_control_flow_takes_both_branches_and_agrees():
    setup, inputs = WORKLOADS["control_flow"].build(8)
    eager, compiled = setup(), dg.function(setup())
    turns = []
    for i in range(4):
        (le, te), (lc, tc) = eager(*inputs(i)), compiled(*inputs(i))
        assert abs(le.item() - lc.item()) < 1e-6 and te.item() == tc.item()
        turns.append(te.item())
    assert compiled.trace_count == 1 and len(set(turns)) > 1
    ops = {n.op.name for n in compiled._traces[0].graph.nodes}
    assert {"cond", "while_loop"} <= ops


def test_mlp_sizes_option():
    setup, inputs = WORKLOADS["mlp"].build(3, sizes="6,5,2")
    assert setup()(*inputs(0)).shape == ()
    for bad in ("784", "0,3", "4,x", "3,-1", ""):
        with pytest.raises(WorkloadError):
            WORKLOADS["mlp"].build(3, sizes=bad)


def test_user_workload_by_module_function():
    cmp = _run("compare_user_workload:make", 5)
    assert cmp.agree and cmp.timing["compiled"]["median_us"] > 0


@pytest.mark.parametrize("spec", ["nope", "nomodule_xyz:fn", "compare_user_workload:missing", ":make",
                                  "compare_user_workload:"])
def test_bad_workloads_name_the_builtins(spec):
    with pytest.raises(WorkloadError) as e:
        get_workload(spec)
    assert "mlp" in str(e.value) and "\n" not in str(e.value)
    assert isinstance(e.value, dg.DualGraphError) and isinstance(e.value, ValueError)


def test_user_workload_returning_nonsense_is_a_workload_error():
    with pytest.raises(WorkloadError):
        get_workload("compare_user_workload:not_a_pair").build(2)


def test_batch_must_be_positive():
    for bad in (0, -3, 1.5, True):
        with pytest.raises(WorkloadError):
            WORKLOADS["mlp"].build(bad)


def test_a_workload_with_dropout_agrees_each_call_draws_the_same_numbers_in_both_modes():
    """dg.compare interleaves an eager and a compiled call: both start from the same random
    generator state (before, the compiled call drew the numbers after the eager one's)."""
    import dualgraph.nn.functional as F

    def make_step():
        dg.manual_seed(0)
        model = dg.nn.Sequential(dg.nn.Linear(8, 16), dg.nn.ReLU(), dg.nn.Dropout(0.5), dg.nn.Linear(16, 4))
        opt = dg.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step
    x, y = dg.randn(16, 8), dg.randint(0, 4, (16,))
    cmp = dg.compare(x, y, setup=make_step, calls=3, repeat=1, warmup=0)
    assert cmp.agree and cmp.max_abs_diff == 0.0


def test_compare_flags_a_dtype_or_python_number_that_differs_and_not_equal_infinities():
    n = {"k": 0}

    def bump():  # a Python side effect: frozen at the trace when compiled
        n["k"] += 1
        return n["k"]

    x = dg.tensor([1.0, -2.0, 3.0])
    kw = dict(calls=3, repeat=1, warmup=0, number=1, memory=False)
    c = dg.compare(lambda t: (t > 0).sum() if bump() % 2 else (t > 0).sum().float(), x, **kw)
    assert not c.agree  # int64 eagerly at some calls, float32 compiled: same values
    c = dg.compare(lambda t: (t * 2, bump()), x, **kw)
    assert not c.agree  # the number grows eagerly, stays at the traced value compiled
    c = dg.compare(lambda t: t / 0.0, dg.ones(3), calls=2, repeat=1, warmup=0, number=1, memory=False)
    assert c.agree and c.max_abs_diff == 0.0
