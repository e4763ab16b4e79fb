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
    # (x + (-0.0), not x + 0: -0.0 + 0.0 is +0.0, tests/test_simplify_signed_zeros.py)
    lambda x: x * 1, lambda x: 1 * x, lambda x: x + (-0.0), lambda x: x - 0, lambda x: x / 1,
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
    # (no loops or branches: a layout check is a conditional expression, `k(x, out=b) if
    # x.flags.c_contiguous else k(x)`, on one line)
    assert not any(line.lstrip().startswith(("for ", "while ", "if ")) for line in body)
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


# ---------------------------------------------------------------- the IR's and the compiler's checks
from dualgraph.graph import compiler as _compiler  # noqa: E402
from dualgraph.graph.core import GROUP  # noqa: E402
from dualgraph.graph.networkx_view import lint_networkx, lint_order  # noqa: E402
from dualgraph.graph.plan import SOURCE_BINDERS, Step  # noqa: E402
from dualgraph.graph.liveness import plan_memory, aliases_input  # noqa: E402
from dualgraph.ops.registry import OPS, Op  # noqa: E402


@pytest.fixture(autouse=True)
def _lint_every_pass(monkeypatch):
    """Every compile in this file lints the graph, then the networkx form after each pass."""
    monkeypatch.setattr(_compiler, "CHECK", True)


def _graph_zoo():
    """(name, graph, fetches, updates): graphs this file builds, and a few more shapes of graph
    (state reads and writes, views, random draws, control flow, unknown dims)."""
    out = []
    g, loss, updates, _ = _mlp_training_graph(8)
    out.append(("mlp training", g, loss, updates))
    with dg.graph_mode() as g:
        x = dg.placeholder([None, 3], name="x")
        y = (x * 2).sum()
    out.append(("unknown batch", g, y, ()))
    with dg.graph_mode() as g:
        x = dg.placeholder([3], name="x")
        c = (dg.ones(3) + dg.arange(3).float()) * 2
        a, b = (x * x).exp(), (x * x).exp()
        out_ = a + b + x * c + dg.rand(3) + dg.rand(3)
    out.append(("fold and cse", g, out_, ()))
    with dg.graph_mode() as g:
        x = dg.placeholder([2, 3], name="x")
        ys = [x * 1, 1 * x, x + 0, x - 0, x / 1, -(-x), x.t().t(), x.reshape(6).reshape(2, 3),
              x.permute(1, 0).permute(1, 0), x.reshape(3, 2).reshape(6).reshape(2, 3)]
        y = dg.stack([v.exp() for v in ys]).sum()
    out.append(("identities", g, y, ()))
    with dg.graph_mode() as g:
        x = dg.placeholder([3, 4], name="x")
        yv = dg.placeholder([3, 4], name="y")
        (gx,) = dg.gradients((x * yv).sum(), [x])
    out.append(("gradient seeds", g, gx, ()))
    with dg.graph_mode() as g:
        W = dg.Variable(np.ones((2, 3), np.float32), name="W")
        r = W * 1
        v = W.reshape(3, 2)
        z = r.exp() + v.t()
        upd = W.assign(W * 0.5)
        after = W + 1
    out.append(("state order", g, [z, after, upd], ()))
    with dg.graph_mode() as g:
        i = dg.placeholder([], dtype=dg.int64, name="i")
        n = dg.while_loop(lambda k: k < 10, lambda k: k + 1, i)
        grp = dg.group(n * 2)
    out.append(("while and group", g, [n, grp], ()))
    return out


@pytest.mark.parametrize("optimize", [True, False])
def test_graphs_lint_clean_after_every_pass(optimize, monkeypatch):
    seen = []
    real = _compiler.lint_networkx

    def spy(G, where, roots=(), pruned=None):
        seen.append(where)
        return real(G, where, roots, pruned)

    monkeypatch.setattr(_compiler, "lint_networkx", spy)
    for name, g, fetches, updates in _graph_zoo():
        g.lint()
        seen.clear()
        plan = _compiler.compile_graph(g, fetches, optimize=optimize, updates=updates, check=True)
        assert plan.steps, name
        want = ["to_networkx", "prune"] + (["constant_fold", "cse", "simplify", "relu_pool_grad", "prune_after"]
                                           if optimize else [])
        assert seen == want, name


def test_graph_lint_names_the_node_that_breaks_an_invariant():
    def fresh_graph():
        with dg.graph_mode() as g:
            x = dg.placeholder([3], name="x")
            y = (x * 2).exp()
        return g, x, y

    def broken(mutate, match):
        g, x, y = fresh_graph()
        g.lint()
        mutate(g, x, y)
        with pytest.raises(dg.DualGraphError, match=match):
            g.lint()

    with dg.graph_mode() as other:
        foreign = dg.placeholder([3], name="foreign")
    mul = lambda g: g.get_operation_by_name("mul")  # noqa: E731

    def foreign_input(g, x, y):
        mul(g).inputs = (foreign, 2)

    def later_input(g, x, y):
        mul(g).inputs = (y, 2)

    def duplicate_name(g, x, y):
        y.node.name = "mul"

    def unregistered(g, x, y):
        y.node.op = Op("exp", np.exp, lambda a: a)

    def source_with_inputs(g, x, y):
        x.node.inputs = (1.0,)

    def stale_users(g, x, y):
        x.node.users.append(y.node)

    def missing_user(g, x, y):
        x.node.users.clear()

    def seq_order(g, x, y):
        y.node.seq = 0

    def eager_literal(g, x, y):
        mul(g).inputs = (x, dg.ones(3))

    broken(foreign_input, r"node 'mul' \(mul\): input 0 \('foreign'\) belongs to")
    broken(later_input, r"node 'mul' \(mul\): input 0 \('exp'\) is not an earlier node")
    broken(duplicate_name, r"node 'mul' \(exp\): the name index")
    broken(unregistered, r"node 'exp' \(exp\): its op .* is not the record registered in OPS")
    broken(source_with_inputs, r"node 'x' \(placeholder\): a source node has no inputs")
    broken(stale_users, r"node 'x' \(placeholder\): its users index disagrees .*\['exp'\]")
    broken(missing_user, r"node 'x' \(placeholder\): its users index disagrees .*lacks \['mul'\]")
    broken(seq_order, r"node 'exp' \(exp\): seq 0 follows")
    broken(eager_literal, r"node 'mul' \(mul\): input 1 is a Tensor")
    other.lint()


def test_networkx_lint_names_the_pass_and_the_node():
    def form():
        with dg.graph_mode() as g:
            x = dg.placeholder([3], name="x")
            y = (x * 2).exp()
        G = g.to_networkx()
        lint_networkx(G, "to_networkx", [y.name])
        return G, y.name

    G, y = form()
    G.nodes[y]["args"] = (("node", "x"),)  # reads x without an edge
    with pytest.raises(dg.DualGraphError, match=r"after cse: node 'exp' \(exp\): argument 0 reads 'x' but there is no edge"):
        lint_networkx(G, "cse", [y])
    G, y = form()
    G.edges["mul", y]["control"] = True  # a data dependence marked as ordering only
    with pytest.raises(dg.DualGraphError, match="through a control edge"):
        lint_networkx(G, "simplify", [y])
    G, y = form()
    G.add_edge("x", y)  # an edge no argument explains
    with pytest.raises(dg.DualGraphError, match="data edge 'x' -> 'exp', but no argument reads 'x'"):
        lint_networkx(G, "simplify", [y])
    G, y = form()
    G.add_node("dead", **dict(G.nodes["mul"]))
    G.add_edge("x", "dead")
    lint_networkx(G, "cse", [y])  # allowed until the next prune
    with pytest.raises(dg.DualGraphError, match=r"after prune_after: node 'dead' .*survived the prune"):
        lint_networkx(G, "prune_after", [y])
    G, y = form()
    G.remove_node(y)
    with pytest.raises(dg.DualGraphError, match="fetched .* node 'exp' is gone"):
        lint_networkx(G, "prune", [y])
    G, y = form()
    with pytest.raises(dg.DualGraphError, match="scheduled before"):
        lint_order(G, ["exp", "mul", "x"])


def test_simplify_keeps_reads_of_a_variable_before_its_write():
    """exp(W * 1) -> exp(W) reads W's memory: it stays ordered before W.assign, whatever the
    order of the fetches (it used to run after the write when the update was fetched first)."""
    with dg.graph_mode() as g:
        W = dg.Variable(np.ones(3, np.float32), name="W")
        z = (W * 1).exp()
        upd = W.assign(dg.zeros(3))
    for fetches, at in (([upd, z], 1), ([z, upd], 0)):
        W.load(np.ones(3, np.float32))
        res = g.compile(fetches)()
        np.testing.assert_allclose(res[at], np.full(3, np.e), rtol=1e-6)
        np.testing.assert_array_equal(W.read_value(), np.zeros(3))


def test_replace_uses_keeps_a_data_edge_data():
    """After replace_uses(G, old, new) a node that reads `new` does so through a data edge, even
    where one of the two edges it had was a control edge (which made prune drop `new`)."""
    from dualgraph.graph.networkx_view import replace_uses

    def graph(c_args, edges):
        G = nx.DiGraph()
        G.add_node("new", args=())
        G.add_node("old", args=(("node", "new"),))
        G.add_node("c", args=c_args)
        G.add_edge("new", "old")
        for u, v, ctrl in edges:
            G.add_edge(u, v, **({"control": True} if ctrl else {}))
        return G

    # c reads new; old only orders c (the assign after a reader that simplify removed)
    G = graph((("node", "new"),), [("new", "c", False), ("old", "c", True)])
    replace_uses(G, "old", "new")
    assert not G.edges["new", "c"].get("control", False)
    # c reads old; new had a control edge to c
    G = graph((("node", "old"),), [("old", "c", False), ("new", "c", True)])
    replace_uses(G, "old", "new")
    assert G.nodes["c"]["args"] == (("node", "new"),)
    assert not G.edges["new", "c"].get("control", False)
    # c only ordered after old: ordered after new
    G = graph((), [("old", "c", True)])
    replace_uses(G, "old", "new")
    assert G.edges["new", "c"]["control"] is True


def test_every_source_op_has_a_binder_and_compiler_flags_live_on_records():
    sources = {op for op in OPS.values() if op.source}
    assert sources == set(SOURCE_BINDERS)
    assert {op.name for op in OPS.values() if op.may_alias} >= {"sum_to", "contiguous", "assign"}
    from dualgraph.ops import blas    # (the door of matrix products: numpy's BLAS or MKL)
    assert {op.name for op in OPS.values() if op.out_kernel is blas.matmul} == {"mm", "bmm", "matmul"}
    assert [op.name for op in OPS.values() if op.no_value] == ["group"] and GROUP.no_value
    assert all(aliases_input(op) == bool(op.view or op.may_alias) for op in OPS.values())
    with pytest.raises(dg.DualGraphError, match="no entry in plan.SOURCE_BINDERS"):
        Step("s", Op("another_source", None, None, source=True), (), {}, (), None)


def test_plan_memory_reads_step_records():
    """Liveness on hand-made specialised steps: y = exp(x); z = neg(y); w = tanh(z), fetched.
    z writes into y's buffer (an elementwise op into an input that dies there); x, a feed, is
    never written; w, a result, gets memory of its own."""
    x = Step("x", OPS["placeholder"], (), {"shape": (4,), "dtype": np.dtype("float32")}, (4,),
             np.dtype("float32"))
    y = Step("y", OPS["exp"], (("node", "x"),), {}, (4,), np.dtype("float32"))
    z = Step("z", OPS["neg"], (("node", "y"),), {}, (4,), np.dtype("float32"))
    w = Step("w", OPS["tanh"], (("node", "z"),), {}, (4,), np.dtype("float32"))
    assert y.in_ids == ("x",) and x.source is SOURCE_BINDERS[OPS["placeholder"]] and y.source is None
    f32 = np.dtype("float32")
    # (each op's out= kernel as the plan picks it: neg's ufunc, exp's and tanh's out_kernel)
    steps = [s.specialised((4,), f32, s.op.ufunc or s.op.out_kernel or s.op.forward,
                           (s.op.ufunc or s.op.out_kernel) is not None, True)
             for s in (x, y, z, w)]
    assert [s.out_capable for s in steps] == [False, True, True, True]
    assert [s.elementwise for s in steps] == [False, True, True, True]
    mem = plan_memory(steps, ["w"], reuse=True)
    assert mem["out"] == [None, None, "y", None]
    assert mem["reused"] == 1 and mem["allocated"] == 2 and mem["fresh"] == [1]
    assert "x" in mem["drop"][1] and "z" in mem["drop"][3]


def test_a_fetched_value_is_not_computed_into_memory_a_later_assign_overwrites():
    """Found by dg.check_consistency: `m` was computed into v's memory (the assign's in-place
    update) and the second assign overwrote it before it was handed back."""
    with dg.graph_mode() as g:
        v = dg.Variable(np.ones(4, np.float32), name="v")
        m = v * 0.5
        u1 = v.assign(m)
        u2 = v.assign(u1 + 1)
    plan = g.compile([m, u2])
    for want_m in (0.5, 0.75):
        got_m, got_u2 = plan()
        np.testing.assert_array_equal(got_m, np.full(4, want_m, np.float32))
        np.testing.assert_array_equal(got_u2, np.full(4, want_m + 1, np.float32))


@pytest.mark.parametrize("view", ["slice", "transpose", "slice_of_transpose"])
def test_update_in_place_waits_for_readers_of_views_of_the_state(view):
    """A backward reading a view of a parameter (W[0:4], W.t()) after the optimizer's update is
    computed: the update may not be written into W's memory before that read (the compiled step
    gave v.grad from the new W: found by the attention helper, 0.03 off per SGD step)."""
    import copy
    dg.manual_seed(0)

    class M(dg.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = dg.nn.Parameter(dg.randn(4, 4, dtype=dg.float64))   # updated first
            self.v = dg.nn.Parameter(dg.randn(4, dtype=dg.float64))

        def forward(self, x):
            w = {"slice": self.w[0:4], "transpose": self.w.t(),
                 "slice_of_transpose": self.w.t()[1:3]}[view]
            return (x * self.v) @ w if view != "slice_of_transpose" else (x * self.v) @ w.t()

    me = M()
    mc = copy.deepcopy(me)
    oe, oc = dg.optim.SGD(me.parameters(), lr=0.1), dg.optim.SGD(mc.parameters(), lr=0.1)

    def step(model, opt, x):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    fc = dg.function(step)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = dg.tensor(rng.standard_normal((3, 4)))
        np.testing.assert_allclose(float(fc(mc, oc, x)), float(step(me, oe, x)), rtol=1e-12)
        for pe, pc in zip(me.parameters(), mc.parameters()):
            np.testing.assert_allclose(pc.grad.numpy(), pe.grad.numpy(), rtol=1e-12)
            np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), rtol=1e-12)


def test_simplify_keeps_a_copy_of_state_that_a_later_write_changes():
    """`S.t()[0] * 1.0` is a copy taken before S.div_(2): simplifying it to the view would
    hand back S's new values (found by tests/test_fuse_updates.py's random update programs)."""
    def prog(S, x):
        S.sub_(x)
        y = S.t()[0] * 1.0
        z = S * 1              # (a state read itself: kept too)
        S.div_(1.221)
        return y, z
    outs = []
    for compiled in (False, True):
        S = dg.ones(4, 4)
        f = dg.function(lambda x: prog(S, x)) if compiled else (lambda x: prog(S, x))
        x = dg.tensor(np.arange(16, dtype=np.float32).reshape(4, 4) / 10)
        outs.append([t.numpy() for t in f(x)] + [S.numpy()])
    for a, b in zip(*outs):
        np.testing.assert_array_equal(b, a)
    # a fresh value or a feed times 1 still simplifies
    with dg.graph_mode() as g:
        x = dg.placeholder([2, 3], name="x")
        y = ((x + 1) * 1).exp()
    G = g.to_networkx()
    simplify(G, _ctx(y))
    prune(G, _ctx(y))
    assert _ops(G).count("mul") == 0


def test_elementwise_out_kernels_write_into_a_dying_input(no_fusion):
    """relu and relu_backward (elementwise ops with an out_kernel, no ufunc) write into an
    input that dies at them, as ufuncs do; the numbers equal eager's exactly."""
    # (no_fusion: the plan unfused: a fused kernel never writes into its input)
    rng = np.random.default_rng(0)
    w = dg.tensor(rng.standard_normal((6, 5)).astype(np.float32), requires_grad=True)
    v = dg.tensor(rng.standard_normal((5, 4)).astype(np.float32), requires_grad=True)

    def f(x):
        h = dg.relu(x @ w)             # x @ w dies at relu: relu writes into it
        loss = (dg.relu(h @ v) * 1.5).sum()
        gw, gv = dg.autograd.grad(loss, [w, v])
        return loss, gw, gv
    x = dg.tensor(rng.standard_normal((3, 6)).astype(np.float32))
    eager = [t.detach().numpy() for t in f(x)]
    g = dg.function(f)
    got = [t.detach().numpy() for t in g(x)]
    for a, b in zip(eager, got):
        np.testing.assert_array_equal(b, a)
    src = g._traces[-1].plan.source
    import re
    assert re.search(r"(v\d+) = k\d+\((v\d+), out=\2\)  # relu ", src), src
    assert re.search(r"= k\d+\((v\d+), v\d+, out=\1\)  # relu_backward ", src), src
