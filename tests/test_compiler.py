"""Each compiler pass on small hand-built graphs, the schedule, liveness and buffer reuse."""
import networkx as nx
import numpy as np
import pytest

import dualgraph as dg
from dualgraph.graph.passes import prune, constant_fold, cse, simplify, schedule
from dualgraph.graph.compiler import _Ctx


def _ctx(*roots, optimize=True):
    return _Ctx([r.name for r in roots], {r.name for r in roots}, optimize)


def _ops(G):
    return sorted(G.nodes[n]["op"].name for n in G.nodes)


def test_to_networkx_is_a_dag_with_ops_and_shapes():
    with dg.graph_mode() as g:
        x = dg.placeholder([None, 3], name="x")
        y = (x * 2).sum()
    G = g.to_networkx()
    assert nx.is_directed_acyclic_graph(G)
    assert G.nodes[y.name]["op"].name == "sum"
    assert G.nodes["x"]["shape"] == (None, 3)
    assert list(G.predecessors(y.name)) == ["mul"]


def test_prune_keeps_only_ancestors_of_fetches():
    with dg.graph_mode() as g:
        x = dg.placeholder([3], name="x")
        y = x + 1
        _unused = (x * 5).exp()
    G = g.to_networkx()
    stats = prune(G, _ctx(y))
    assert stats["removed"] == 2
    assert _ops(G) == ["add", "placeholder"]


def test_constant_fold_evaluates_constant_subtrees_once():
    with dg.graph_mode() as g:
        x = dg.placeholder([3], name="x")
        c = (dg.ones(3) + dg.arange(3).float()) * 2  # all constant
        y = x * c
    G = g.to_networkx()
    stats = constant_fold(G, _ctx(y))
    assert stats["folded"] >= 3
    const = [n for n in G.nodes if G.nodes[n]["op"].name == "constant"]
    assert len(const) == 1
    np.testing.assert_array_equal(G.nodes[const[0]]["attrs"]["value"], [2, 4, 6])
    assert _ops(G) == ["constant", "mul", "placeholder"]


def test_constant_fold_leaves_random_and_variables_alone():
    with dg.graph_mode() as g:
        r = dg.rand(3) * 2
        v = dg.Variable(np.ones(3, np.float32)) * 2
    G = g.to_networkx()
    assert constant_fold(G, _ctx(r, v))["folded"] == 0


def test_cse_merges_identical_pure_nodes_only():
    with dg.graph_mode() as g:
        x = dg.placeholder([3], name="x")
        a = (x * x).exp()
        b = (x * x).exp()
        r1, r2 = dg.rand(3), dg.rand(3)
        out = a + b + r1 + r2
    G = g.to_networkx()
    stats = cse(G, _ctx(out))
    assert stats["merged"] == 2  # the second mul and the second exp; never the random ops
    assert _ops(G).count("rand") == 2
    plan = g.compile(out)
    dg.manual_seed(3)
    res = plan(np.ones(3, np.float32))
    assert res.shape == (3,)


@pytest.mark.parametrize("build", [
    lambda x: x * 1, lambda x: 1 * x, lambda x: x + 0, lambda x: x - 0, lambda x: x / 1,
    lambda x: -(-x), lambda x: x.t().t(), lambda x: x.reshape(6).reshape(2, 3),
    lambda x: x.permute(1, 0).permute(1, 0),
])
def test_simplify_removes_identities(build):
    with dg.graph_mode() as g:
        x = dg.placeholder([2, 3], name="x")
        y = build(x).exp()
    G = g.to_networkx()
    simplify(G, _ctx(y))
    prune(G, _ctx(y))
    assert _ops(G) == ["exp", "placeholder"]
    xv = np.arange(6, dtype=np.float32).reshape(2, 3) / 10
    np.testing.assert_allclose(g.compile(y)(xv), np.exp(xv), rtol=1e-6)


def test_simplify_collapses_reshape_chains():
    with dg.graph_mode() as g:
        x = dg.placeholder([2, 6], name="x")
        y = x.reshape(3, 4).reshape(4, 3).reshape(12)
    G = g.to_networkx()
    stats = simplify(G, _ctx(y))
    prune(G, _ctx(y))
    assert stats["reshape_chains"] >= 1
    assert _ops(G) == ["placeholder", "reshape"]


def test_simplify_keeps_shape_changing_ops():
    with dg.graph_mode() as g:
        x = dg.placeholder([3], name="x")
        y = x * dg.ones(2, 3)  # broadcasts: not an identity
    G = g.to_networkx()
    constant_fold(G, _ctx(y))
    simplify(G, _ctx(y))
    assert "mul" in _ops(G)
    assert g.compile(y)(np.ones(3, np.float32)).shape == (2, 3)


def test_schedule_is_a_topological_order():
    with dg.graph_mode() as g:
        x = dg.placeholder([4], name="x")
        ys = [(x * i).exp() for i in range(1, 5)]
        out = dg.stack(ys).sum()
    G = g.to_networkx()
    order = schedule(G, _ctx(out))["order"]
    pos = {n: i for i, n in enumerate(order)}
    assert all(pos[u] < pos[v] for u, v in G.edges)


def _mlp_training_graph(batch=32):
    rng = np.random.default_rng(0)
    sizes = (64, 48, 32, 10)
    with dg.graph_mode() as g:
        x = dg.placeholder([batch, sizes[0]], name="x")
        y = dg.placeholder([batch, sizes[-1]], name="y")
        params = []
        h = x
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            W = dg.Variable(rng.standard_normal((a, b)).astype(np.float32) * 0.1, name=f"W{i}")
            bb = dg.Variable(np.zeros(b, np.float32), name=f"b{i}")
            params += [W, bb]
            h = h @ W + bb
            if i < 2:
                h = h.relu()
        loss = -(dg.log_softmax(h, 1) * y).sum() / batch
        grads = dg.gradients(loss, params)
        updates = [p.assign(p - 0.1 * gp) for p, gp in zip(params, grads)]
    feeds = (rng.standard_normal((batch, sizes[0])).astype(np.float32),
             np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, 10, batch)])
    return g, loss, updates, feeds


def test_liveness_frees_and_reuses_buffers_and_lowers_peak():
    g, loss, updates, feeds = _mlp_training_graph()
    slow = g.compile(loss, optimize=False)
    fast = g.compile(loss, optimize=True)
    np.testing.assert_allclose(slow(*feeds), fast(*feeds), rtol=1e-6)
    assert "del " in fast.source and "out=" in fast.source
    assert "del " not in slow.source
    assert fast.stats["buffers_reused"] > 0
    assert fast.stats["peak_bytes"] < slow.stats["peak_bytes"]


def test_training_plan_peak_lower_when_optimised_and_updates_apply():
    g, loss, updates, feeds = _mlp_training_graph()
    slow = g.compile(loss, optimize=False, updates=updates)
    fast = g.compile(loss, optimize=True, updates=updates)
    assert fast.stats["peak_bytes"] < slow.stats["peak_bytes"]
    l0 = fast(*feeds)
    l1 = fast(*feeds)
    assert l1 < l0  # the assigns ran: the loss went down


def test_plan_is_straight_line_code():
    with dg.graph_mode() as g:
        x = dg.placeholder([3], name="x")
        y = (x * 2 + 1).tanh()
    plan = g.compile(y)
    plan(np.ones(3, np.float32))
    body = plan.source.splitlines()[1:]
    assert all(line.startswith("    ") for line in body)
    assert not any(w in plan.source for w in ("for ", "while ", "if "))
    assert len(plan.steps) == 4


def test_fetch_results_do_not_alias_between_runs():
    with dg.graph_mode() as g:
        x = dg.placeholder([3], name="x")
        y = x * 2
        z = y.reshape(3, 1)
    plan = g.compile([y, z])
    a = plan(np.ones(3, np.float32))
    b = plan(np.full(3, 5, np.float32))
    np.testing.assert_array_equal(a[0], [2, 2, 2])
    assert not np.shares_memory(a[0], b[0])


def test_runtime_shape_error_names_the_node():
    with dg.graph_mode() as g:
        a = dg.placeholder([None], name="a")
        b = dg.placeholder([None], name="b")
        y = a + b
    with pytest.raises(RuntimeError, match="add"):
        g.compile(y)(np.ones(3, np.float32), np.ones(4, np.float32))


def test_simplify_drops_explicit_broadcasts_numpy_does_itself():
    with dg.graph_mode() as g:
        x = dg.placeholder([4, 3], name="x")
        s = x.sum(dim=1, keepdim=True)
        y = x * dg.ops.unbroadcast.broadcast_like(s, x)
    G = g.to_networkx()
    assert "broadcast_to" in _ops(G)
    simplify(G, _ctx(y))
    prune(G, _ctx(y))
    assert "broadcast_to" not in _ops(G)
    xv = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_allclose(g.compile(y)(xv), xv * xv.sum(1, keepdims=True))


def test_gradient_seed_broadcasts_of_ones_are_folded_and_simplified_away():
    with dg.graph_mode() as g:
        x = dg.placeholder([3, 4], name="x")
        y = dg.placeholder([3, 4], name="y")
        (gx,) = dg.gradients((x * y).sum(), [x])  # ones broadcast to (3, 4), times y
    raw = g.compile(gx, feeds=[x, y], optimize=False)
    plan = g.compile(gx, feeds=[x, y])
    ops = [s.op.name for s in plan.steps]
    assert "mul" in [s.op.name for s in raw.steps]
    assert "mul" not in ops and "broadcast_to" not in ops and "full" not in ops
    yv = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(plan(np.ones((3, 4), np.float32), yv), yv)
    np.testing.assert_array_equal(raw(np.ones((3, 4), np.float32), yv), yv)
