"""dg.export.to_tensorboard: the event file is read back with TensorBoard's own reader and the
GraphDef in it is checked against the dg graph (names, ops, inputs, shapes, dtypes)."""
import os
import sys

import numpy as np
import pytest

import dualgraph as dg
from dualgraph import nn
import dualgraph.nn.functional as F
from dualgraph.export import ExportError

tb = pytest.importorskip("tensorboard")
from dualgraph.export import to_tensorboard  # noqa: E402
from dualgraph.graph.core import SymbolicTensor  # noqa: E402


def read_graph(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    ea = EventAccumulator(os.path.dirname(path))
    ea.Reload()
    return ea.Graph()


def load_events(path):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    return list(EventFileLoader(path).Load())


def check_nodes(g, gd, prefix=""):
    """Every node of g is in gd under prefix + name, with its op, its data inputs in order,
    its static shape and dtype."""
    nodes = {nd.name: nd for nd in gd.node}
    for n in g.nodes:
        nd = nodes[prefix + n.name]
        assert nd.op == n.op.name
        data = [i for i in nd.input if not i.startswith("^")]
        want = [prefix + x.node.name for x in n.inputs if isinstance(x, SymbolicTensor)]
        assert data[:len(want)] == want, (n.name, data, want)
        shape = [d.size for d in nd.attr["_output_shapes"].list.shape[0].dim]
        assert shape == [-1 if d is None else d for d in n.out.shape]
        from dualgraph.export.tensorboard import tf_dtype
        from tensorboard.compat.proto import types_pb2
        assert nd.attr["dtype"].type == tf_dtype(types_pb2, n.out._dtype)
        for i in nd.input:  # every input names a node of the file
            assert i.lstrip("^") in nodes, (nd.name, i)
    return nodes


def mlp_training_graph():
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    with dg.graph_mode() as g:
        with dg.name_scope("input"):
            x = dg.placeholder((None, 4), dg.float32, name="x")
            y = dg.placeholder((None,), dg.int64, name="y")
        loss = F.cross_entropy(model(x), y) * 0.5   # (a literal argument: kept as an attribute)
        opt.minimize(loss)
    return g


def test_mlp_training_graph(tmp_path):
    g = mlp_training_graph()
    path = to_tensorboard(g, tmp_path / "run")
    assert os.path.basename(path).startswith("events.out.tfevents.")
    assert os.path.dirname(path) == str(tmp_path / "run")
    gd = read_graph(path)
    assert len(gd.node) == len(g.nodes)
    nodes = check_nodes(g, gd)
    assert [nd.name for nd in gd.node] == [n.name for n in g.nodes]
    # scopes: the gradients and the name_scope, as TensorBoard folds them
    assert any(name.startswith("gradients/") for name in nodes)
    assert nodes["input/x"].op == "placeholder"
    assert [d.size for d in nodes["input/x"].attr["shape"].shape.dim] == [-1, 4]
    # control edges: the assigns run after the reads of the value they overwrite
    G = g.to_networkx()
    controls = {(u, v) for u, v, c in G.edges(data="control", default=False) if c}
    assert controls
    written = {(i[1:], nd.name) for nd in gd.node for i in nd.input if i.startswith("^")}
    assert controls == written
    # a literal argument is kept as an attribute
    mul = next(nd for nd in gd.node if nd.op == "mul" and "_literal_inputs" in nd.attr)
    assert list(mul.attr["_literal_inputs"].list.s) == [b"1=0.5"]


def test_event_file_reads_back_with_the_loader(tmp_path):
    g = mlp_training_graph()
    path = to_tensorboard(g, str(tmp_path))
    events = load_events(path)
    assert events[0].file_version.startswith("brain.Event:")
    from tensorboard.compat.proto import graph_pb2
    graphs = [e for e in events if e.HasField("graph_def")]
    assert len(graphs) == 1
    gd = graph_pb2.GraphDef.FromString(graphs[0].graph_def)
    assert [nd.name for nd in gd.node] == [n.name for n in g.nodes]
    # a second export writes a second file
    assert to_tensorboard(g, str(tmp_path)) != path


def test_small_constant_carries_its_value(tmp_path):
    with dg.graph_mode() as g:
        x = dg.placeholder((2,), dg.float32, name="x")
        y = x * dg.constant(np.array([1.5, -2.0], np.float32))
    gd = read_graph(to_tensorboard(g, tmp_path))
    check_nodes(g, gd)
    const = next(nd for nd in gd.node if nd.op == "constant")
    t = const.attr["value"].tensor
    assert np.frombuffer(t.tensor_content, np.float32).tolist() == [1.5, -2.0]
    assert y.name in {nd.name for nd in gd.node}


def test_function_trace(tmp_path):
    dg.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))
    opt = dg.optim.SGD(model.parameters(), lr=0.01)

    @dg.function
    def train_step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    x, y = dg.randn(4, 3), dg.randn(4, 1)
    train_step(x, y)
    g = train_step.graph_for(x, y)
    path = to_tensorboard(train_step, tmp_path)  # the latest trace
    gd = read_graph(path)
    check_nodes(g, gd)
    assert len(gd.node) == len(g.nodes)
    assert {nd.op for nd in gd.node} >= {"placeholder", "variable", "linear", "tanh", "assign"}
    # the same with example arguments
    gd2 = read_graph(to_tensorboard(train_step, tmp_path / "b", x, y))
    assert [nd.name for nd in gd2.node] == [nd.name for nd in gd.node]


def control_flow_graph():
    with dg.graph_mode() as g:
        x = dg.placeholder((3,), dg.float32, name="x")
        y = dg.cond(x.sum() > 0, lambda: x.sqrt() * 2, lambda: 0 * x)
        i0 = dg.constant(np.array(0, np.int64))
        _, z = dg.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 1.5 + x), (i0, y))
        out = z.sum()
    return g, out


def test_cond_and_while_graph(tmp_path):
    g, out = control_flow_graph()
    gd = read_graph(to_tensorboard(g, tmp_path))
    nodes = check_nodes(g, gd)
    cond = next(n for n in g.nodes if n.op.name == "cond")
    loop = next(n for n in g.nodes if n.op.name == "while_loop")
    # each control-flow op is one node; its subgraphs are drawn in its scope
    for n, parts in ((cond, [("true_fn", b) for b in cond.attrs["branches"][:1]] +
                      [("false_fn", cond.attrs["branches"][1])]),
                     (loop, [("cond", loop.attrs["cond"]), ("body", loop.attrs["body"])])):
        for part, b in parts:
            prefix = f"{n.name}/{part}/"
            check_nodes(b.graph, gd, prefix)
            # a subgraph placeholder reads the outer tensor that feeds it
            for ph in b.graph.feeds():
                nd = nodes[prefix + ph.name]
                assert len(nd.input) == 1 and nd.input[0] in {x.node.name for x in n.inputs
                                                              if isinstance(x, SymbolicTensor)}
            # the op is ordered after its subgraphs' outputs
            for o in b.outputs:
                assert "^" + prefix + o.node.name in nodes[n.name].input
    assert nodes[cond.name].attr["dtype"].type != 0  # (DT_VARIANT for the tuple)
    # without subgraphs: one node per dg node, nothing else
    gd2 = read_graph(to_tensorboard(g, tmp_path / "flat", subgraphs=False))
    assert [nd.name for nd in gd2.node] == [n.name for n in g.nodes]
    check_nodes(g, gd2)
    # the exported graph is the one that runs
    x = g.get_tensor_by_name("x")
    assert np.isfinite(dg.Session(g).run(out, {x: np.ones(3, np.float32)}))


def test_eager_tape_exports(tmp_path):
    dg.manual_seed(2)
    w = dg.randn(4, 2, requires_grad=True)
    loss = (dg.randn(3, 4) @ w).relu().sum()
    gd = read_graph(to_tensorboard(loss, tmp_path))
    assert [nd.op for nd in gd.node] == ["constant", "placeholder", "matmul", "relu", "sum"]


def test_refusals(tmp_path, monkeypatch):
    with pytest.raises(ExportError, match="dg.Graph"):
        to_tensorboard(3, tmp_path)
    f = dg.function(lambda x: x * 2)
    with pytest.raises(ExportError, match="no trace yet"):
        to_tensorboard(f, tmp_path)
    # tensorboard missing: a clear error naming the extra
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with dg.graph_mode() as g:
        dg.placeholder((2,), dg.float32)
    with pytest.raises(ExportError, match=r"pip install 'dualgraph\[tensorboard\]'"):
        to_tensorboard(g, tmp_path)


def test_what_the_graphs_plugin_reads(tmp_path):
    """The path TensorBoard's Graphs tab takes: the multiplexer finds each run's graph in the
    log directory, and process_graph prepares it for the UI."""
    from tensorboard.backend import process_graph
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    to_tensorboard(mlp_training_graph(), tmp_path / "mlp")
    g, _ = control_flow_graph()
    to_tensorboard(g, tmp_path / "cf")
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(tmp_path))
    mux.Reload()
    assert set(mux.Runs()) == {"mlp", "cf"}
    for run in ("mlp", "cf"):
        gd = mux.Graph(run)
        process_graph.prepare_graph_for_ui(gd, 1024, "_too_large_attrs")
        assert len(gd.node) > 10
