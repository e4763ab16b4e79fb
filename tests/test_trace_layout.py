"""is_contiguous() and stride() inside dg.function answer what eager code answers (the value's
subgraph run on the trace's real arguments and state: graph/layout.py), and the layouts read are
guarded: a call whose argument has another layout retraces. A TF1 placeholder's layout is not
known until the graph runs: asking is refused, with the reason."""
import numpy as np
import pytest

import dualgraph as dg


def _args():
    a = dg.tensor(np.arange(12.0, dtype=np.float32).reshape(3, 4))
    return [a, a.t().contiguous().t(), a[:, ::2], a.t(), dg.tensor(np.ones((1, 4), np.float32))]


PROBES = {
    "arg": lambda x: x,
    "t": lambda x: x.t(),
    "t_t": lambda x: x.t().t(),
    "t_mul": lambda x: x.t() * 2,
    "mul_t": lambda x: (x * 2).t(),
    "slice": lambda x: x[:, 1:],
    "step": lambda x: x[::2],
    "expand": lambda x: x[:1].expand(3, -1) if x.shape[0] > 1 else x.expand(3, -1),
    "unsqueeze_t": lambda x: x.unsqueeze(0).transpose(0, 2),
    "contiguous": lambda x: x.t().contiguous(),
    "matmul": lambda x: x @ x.t(),
    "sum": lambda x: x.t().sum(1, keepdim=True),
    "add_bcast": lambda x: x.t() + dg.ones(x.shape[0]),
    "dropout": lambda x: dg.nn.functional.dropout(x.t(), 0.5, training=True),
}


@pytest.mark.parametrize("probe", list(PROBES))
def test_layout_queries_answer_as_eagerly(probe):
    p = PROBES[probe]

    def f(x):
        y = p(x)
        return y.is_contiguous(), y.stride()

    cf = dg.function(f)
    for _ in range(2):  # the second round hits the cached traces
        for x in _args():
            assert cf(x) == f(x), (probe, x.stride())


def test_branching_on_the_layout_gives_eager_numbers_call_after_call():
    def f(x):
        y = x.t()
        if y.is_contiguous():
            return y * 2
        return y.contiguous() * 3

    cf = dg.function(f)
    for x in _args() * 2:
        assert np.array_equal(cf(x).numpy(), f(x).numpy())


def test_a_new_argument_layout_retraces_once():
    cf = dg.function(lambda x: x * 2 if x.is_contiguous() else x * 3)
    a, f_order = _args()[:2]
    for x in [a, f_order, a, f_order, a]:
        assert np.array_equal(cf(x).numpy(), (x * 2 if x.is_contiguous() else x * 3).numpy())
    assert cf.trace_count == 2
    plain = dg.function(lambda x: x * 2)  # no layout read: one trace serves every layout
    for x in [a, f_order, a]:
        plain(x)
    assert plain.trace_count == 1


def test_the_layout_of_captured_state_is_guarded():
    m = dg.nn.Linear(4, 3)
    f = dg.function(lambda x: m(x) * (2 if m.weight.is_contiguous() else 3))
    x = dg.randn(2, 4)
    with dg.no_grad():
        assert np.array_equal(f(x).numpy(), (m(x) * 2).numpy())
        m.weight.data = m.weight.data.t().contiguous().t()  # the same values, Fortran order
        assert not m.weight.is_contiguous()
        assert np.array_equal(f(x).numpy(), (m(x) * 3).numpy())
    assert f.trace_count == 2


def test_a_placeholder_layout_is_refused_with_the_reason():
    g = dg.Graph()
    with dg.graph_mode(g):
        p = dg.placeholder((2, 3))
        with pytest.raises(dg.errors.DGRuntimeError, match="placeholder 'Placeholder', fed only when "
                           "the graph runs.*Call .contiguous()"):
            p.t().is_contiguous()
        with pytest.raises(dg.errors.DGRuntimeError, match="stride\\(\\) of graph-mode tensor"):
            p.stride()
        q = p.t().contiguous()  # the way out works without asking
    assert q.shape == (3, 2)
