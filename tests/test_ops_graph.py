"""The registry-driven op table run three ways: eager, graph with optimize=False, graph with
optimize=True. Values and dtypes must agree bitwise (every op runs the same numpy kernel in both
modes) and gradients from dg.gradients must equal eager backward()'s bitwise too (the same vjp
rules, the same kernels; the passes only remove exact identities); error inputs must
raise the same kind of dualgraph error in graph mode (at build time when shapes decide it)."""
import re

import numpy as np
import pytest

import dualgraph as dg

import op_runners as R
from op_runners_graph import run_graph, error_graph
from opinfo import RECORDS


def _sid(i, desc):
    return f"{i}:{re.sub(r'[^A-Za-z0-9_.=,+*()<>-]+', '_', desc)}"


def _params():
    out = []
    for r in RECORDS:
        for i, s in enumerate(r.sample_list()):
            out.append(pytest.param(r, s, id=f"{r.id}[{_sid(i, s.desc)}]"))
    return out


def _err_params():
    return [pytest.param(r, e, id=f"{r.id}[{_sid(i, e.desc)}]")
            for r in RECORDS for i, e in enumerate(r.error_list()) if not e.xfail]


def _close(a, b, what, rtol=1e-6, atol=1e-7):
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs {b.shape}"
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} vs {b.dtype}"
    if a.dtype.kind in "biu":
        np.testing.assert_array_equal(a, b, err_msg=what)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


@pytest.mark.parametrize("optimize", [False, True], ids=["graph", "graph-optimized"])
@pytest.mark.parametrize("record,sample", _params())
def test_graph_equals_eager(record, sample, optimize):
    grad = record.differentiable and sample.grad and not record.random
    if record.random:
        dg.manual_seed(0)
    eager = R.run_eager(record, sample, grad=grad)
    if record.random:
        dg.manual_seed(0)
    graph = run_graph(record, sample, optimize=optimize, grad=grad,
                      out_shapes=[o.shape for o in eager.outputs])
    assert len(graph.outputs) == len(eager.outputs)
    for k, (a, b) in enumerate(zip(graph.outputs, eager.outputs)):
        if record.random:
            assert a.shape == b.shape and a.dtype == b.dtype
        else:  # the same numpy kernel on the same inputs: the very same bits
            _close(a, b, f"{record.id} output {k}", rtol=0, atol=0)
    if grad:
        for k, (a, b) in enumerate(zip(graph.grads, eager.grads)):
            if b is None:
                continue
            _close(a, b, f"{record.id} grad of arg {k}", rtol=0, atol=0)  # same rules: same bits


@pytest.mark.parametrize("record,err", _err_params())
def test_graph_error_inputs(record, err):
    e, at_build = error_graph(record, err)
    assert e is not None, f"{record.id}: graph mode accepted inputs PyTorch refuses ({err.desc})"
    assert isinstance(e, dg.DualGraphError), f"{record.id}: {type(e).__name__}: {e}"
    assert isinstance(e, err.exc), f"{record.id}: expected {err.exc.__name__}, got {type(e).__name__}: {e}"
