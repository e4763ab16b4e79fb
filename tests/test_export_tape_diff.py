"""dg.autograd.tape_graph (the eager tape as a dg.Graph) and dg.export.diff."""
import numpy as np
import pytest

import dualgraph as dg
from dualgraph import nn
import dualgraph.nn.functional as F
from dualgraph.export import ExportError, diff


def mlp_loss(seed=0, batch=5):
    dg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = dg.randn(batch, 4)
    y = dg.tensor([0, 1, 2, 0, 1][:batch])
    return model, x, y, F.cross_entropy(model(x), y)


# ---------------------------------------------------------------- tape_graph
def test_tape_graph_of_an_mlp():
    model, x, y, loss = mlp_loss()
    g = dg.autograd.tape_graph(loss, names=dict(model.named_parameters()))
    assert isinstance(g, dg.Graph)
    g.lint()
    assert [n.op.name for n in g.nodes] == ["constant", "placeholder", "placeholder", "linear", "relu",
                                             "placeholder", "placeholder", "linear", "constant",
                                             "cross_entropy"]
    names = [n.name for n in g.nodes]
    assert names == ["Const", "0.weight", "0.bias", "linear", "relu", "2.weight", "2.bias",
                     "linear_1", "Const_1", "cross_entropy"]
    # shapes come from the graph interpreter's shape rules
    assert tuple(g.get_tensor_by_name("linear").shape) == (5, 8)
    assert tuple(g.get_tensor_by_name("cross_entropy").shape) == ()
    # the graph runs and recomputes the loss
    (out,) = g.tape.outputs
    assert np.allclose(dg.Session(g).run(out, g.tape.feeds), loss.item())
    # one graph node per tape node, in recording order
    seqs = sorted(g.tape.nodes, key=lambda n: n.seq)
    assert [g.tape.nodes[n].op for n in seqs] == [n.op for n in seqs]
    assert loss.grad_fn in g.tape.nodes


def test_tape_graph_with_backward_matches_eager_gradients():
    model, x, y, loss = mlp_loss(1)
    g = dg.autograd.tape_graph(loss, backward=True)
    assert any(n.name.startswith("gradients/") for n in g.nodes)
    wrt = [p for p, _ in g.tape.grads]
    assert len(wrt) == 4 and all(p.node.op.name == "placeholder" for p in wrt)
    got = dg.Session(g).run([gr for _, gr in g.tape.grads], g.tape.feeds)
    loss.backward()
    by_ph = {id(s): t for t, s in g.tape.leaves}
    for (ph, _), value in zip(g.tape.grads, got):
        assert np.allclose(value, by_ph[id(ph)].grad.numpy(), atol=1e-6)


def test_inputs_become_placeholders_and_views_and_inplace_rebuild():
    dg.manual_seed(3)
    a = dg.randn(3, requires_grad=True)
    data = dg.randn(2)
    b = a * 2
    b.add_(1)                       # in place: the tape keeps the old history for b's readers
    c = b[1:] * a[:2] * data        # (data: a leaf that needs no grad, made a placeholder)
    y = c.sum()
    g = dg.autograd.tape_graph(y, backward=True, inputs=[data])
    ops = [n.op.name for n in g.nodes if not n.name.startswith("gradients/")]
    assert ops.count("placeholder") == 2 and "constant" not in ops
    assert {n.name for n in g.nodes if n.op.name == "placeholder"} == {"leaf", "input"}
    assert "add" in ops and ops.count("getitem") == 2
    r = dg.Session(g).run([g.tape.outputs[0], g.tape.grads[0][1]], g.tape.feeds)
    y.backward()
    assert np.allclose(r[0], y.item())
    assert np.allclose(r[1], a.grad.numpy())


def test_list_of_outputs_and_a_leaf_output():
    w = dg.randn(2, 2, requires_grad=True)
    u, v = (w * 3).sum(), w.exp()
    g = dg.autograd.tape_graph([u, v, w])
    outs = g.tape.outputs
    assert [o.node.op.name for o in outs] == ["sum", "exp", "placeholder"]
    r = dg.Session(g).run(outs, g.tape.feeds)
    assert np.allclose(r[1], v.detach().numpy()) and np.allclose(r[2], w.detach().numpy())


def test_tape_graph_exports_like_any_graph():
    model, x, y, loss = mlp_loss(2)
    g = dg.autograd.tape_graph(loss, backward=True)
    to_json = getattr(dg.export, "to_json", None)
    if to_json is not None:
        back = dg.export.from_json(to_json(g))
        assert [n.name for n in back.nodes] == [n.name for n in g.nodes]
    nxg = g.to_networkx()
    assert nxg.number_of_nodes() == len(g.nodes)
    plan = g.compile([g.tape.outputs[0]], feeds=[p for p in g.tape.feeds])
    assert np.allclose(plan(*g.tape.feeds.values()), loss.item())


def test_tape_graph_refusals():
    with pytest.raises(ExportError, match="no tape"):
        dg.autograd.tape_graph(dg.ones(3) * 2)
    with pytest.raises(ExportError, match="eager tensor"):
        dg.autograd.tape_graph("loss")
    with dg.no_grad():
        w = dg.randn(2, requires_grad=True)
        z = w * 2
    with pytest.raises(ExportError, match="no tape"):
        dg.autograd.tape_graph(z)


# ---------------------------------------------------------------- diff
def dynamic_step(x, w):
    """A dynamic model: a data-dependent Python `if` and loop, run eagerly."""
    h = x @ w
    if h.sum() > 0:
        h = h.relu()
    else:
        h = h.tanh()
    for _ in range(int(x.sum().item())):
        h = (h @ w).sigmoid()
    return (h * h).sum()


def test_tapes_of_two_iterations_differ_as_expected():
    w = dg.eye(4).requires_grad_(True)
    t1 = dynamic_step(dg.full((2, 4), 0.25), w)       # if: relu; loop: 2 iterations
    t2 = dynamic_step(dg.full((2, 4), -0.375), w)     # if: tanh; loop: range(-3), none
    t3 = dynamic_step(dg.full((2, 4), 0.375), w)      # if: relu; loop: 3 iterations
    # one more loop iteration: its two nodes added, the edges into the final product moved
    d = diff(t1, t3)
    assert d and d.added_nodes == ["matmul_3", "sigmoid_2"] and d.removed_nodes == [] and d.changed == []
    assert ("sigmoid_1", "mul", 0) in d.removed_edges and ("sigmoid_1", "mul", 1) in d.removed_edges
    assert ("sigmoid_1", "matmul_3", 0) in d.added_edges and ("sigmoid_2", "mul", 0) in d.added_edges
    assert len(d.added_edges) == 5 and len(d.removed_edges) == 2
    assert "+ node matmul_3 (matmul)" in str(d) and "2 nodes added" in str(d)
    # the other branch of the `if` and no loop: relu -> tanh at the same place, the loop's nodes gone
    d = diff(t1, t2)
    assert d.added_nodes == [] and set(d.removed_nodes) == {"matmul_1", "sigmoid", "matmul_2", "sigmoid_1"}
    assert d.changed == [("relu -> tanh", "op", "relu", "tanh")]
    assert "~ relu -> tanh: op relu -> tanh" in str(d)
    # the same path twice: no difference
    t4 = dynamic_step(dg.full((2, 4), 0.3), w)
    d = diff(t1, t4)
    assert not d and "graphs match" in str(d)


def straight(x, w, b):
    return ((x @ w + b).relu() * 2).sum()


def test_eager_tape_matches_the_traced_graph():
    dg.manual_seed(4)
    x = dg.randn(3, 4, requires_grad=True)
    w = dg.randn(4, 2, requires_grad=True)
    b = dg.randn(2, requires_grad=True)
    tape = dg.autograd.tape_graph(straight(x, w, b))
    traced = dg.function(straight).graph_for(x, w, b)
    d = diff(tape, traced)
    assert not d, str(d)
    from collections import Counter
    assert Counter(n.op.name for n in tape.nodes) == Counter(n.op.name for n in traced.nodes)
    assert ("leaf", "arg0") in d.matches and ("matmul", "matmul") in d.matches
    # a parameter captured by the trace is a variable there, a placeholder on the tape
    w2 = dg.randn(4, 2, requires_grad=True)
    fn = dg.function(lambda x: ((x @ w2).relu() * 2).sum())
    traced = fn.graph_for(x)
    tape = dg.autograd.tape_graph(((x @ w2).relu() * 2).sum())
    d = diff(tape, traced)
    assert d.changed == [("leaf_1 -> captured", "op", "placeholder", "variable")]
    assert not diff(tape, traced, same_sources=True)
    # a dg.function that has run and an eager tensor are taken as graphs
    fn(x)
    assert not diff(((x @ w2).relu() * 2).sum(), fn, same_sources=True)


def test_diff_shapes_dtypes_and_order_matching():
    f = dg.function(lambda x: (x * 2).sum(0))
    g1 = f.graph_for(dg.ones(3, 4))
    g2 = f.graph_for(dg.ones(5, 4))
    d = diff(g1, g2)
    assert {c.what for c in d.changed} == {"shape"}
    assert ("arg0", "shape", (3, 4), (5, 4)) in d.changed
    assert "~ arg0: shape (3, 4) -> (5, 4)" in str(d)
    g3 = f.graph_for(dg.ones(3, 4, dtype=dg.float64))
    assert any(c.what == "dtype" for c in diff(g1, g3).changed)
    assert not diff(g1, g1) and not diff(g1, g1, match="order")
    with pytest.raises(ExportError, match="match"):
        diff(g1, g2, match="names")
    with pytest.raises(ExportError, match="dg.Graph"):
        diff(g1, 3)


def test_diff_by_order_pairs_renamed_nodes():
    with dg.graph_mode() as a:
        x = dg.placeholder((2,), dg.float32, name="x")
        (x.exp() + 1).sum()
    with dg.graph_mode() as b:
        y = dg.placeholder((2,), dg.float32, name="input")
        with dg.name_scope("block"):
            (y.exp() + 1).sum()
    d = diff(a, b)
    assert not d and ("exp", "block/exp") in d.matches and ("x", "input") in d.matches
