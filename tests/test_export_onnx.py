"""ONNX both ways (issue 11, item 4): dg.export.to_onnx checked by onnx.checker and run in
onnxruntime against dualgraph at two batch sizes; dg.export.from_onnx on torch's exports and on
dualgraph's own, run against onnxruntime."""
import io
import sys
import warnings

import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn as nn
import dualgraph.nn.functional as F
from dualgraph.export import ExportError, to_onnx, from_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = dict(rtol=1e-5, atol=1e-5)


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _check(g, ins, outs, feeds_list, **kw):
    """Export, check, run in onnxruntime against a dg.Session; then import the export back and
    run it against onnxruntime too (the round trip). Returns the model."""
    model = to_onnx(g, inputs=ins, outputs=outs, **kw)
    onnx.checker.check_model(model, full_check=True)
    sess = _session(model)
    names = [i.name for i in sess.get_inputs()]
    assert len(names) == len(ins)
    back = from_onnx(model.SerializeToString())
    assert back.input_names == names
    for feeds in feeds_list:
        ref = dg.Session(g).run(list(outs), dict(zip(ins, feeds)))
        got = sess.run(None, dict(zip(names, feeds)))
        mine = back.run(*feeds)
        assert len(got) == len(outs) == len(mine)
        for r, o, m in zip(ref, got, mine):
            r = np.asarray(r)
            assert o.shape == r.shape and o.dtype == r.dtype
            np.testing.assert_allclose(o, r, **TOL)
            assert m.shape == o.shape and m.dtype == o.dtype
            np.testing.assert_allclose(m, o, **TOL)
    return model


def _rng():
    return np.random.default_rng(0)


def _dims(vi):
    return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]


# ---------------------------------------------------------------- models
def _mlp_graph():
    mlp = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    with dg.graph_mode() as g:
        x = dg.placeholder((None, 784), dg.float32, name="x")
        y = F.log_softmax(mlp(x), dim=1)
    return g, x, y


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.pool = nn.MaxPool2d(2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(16 * 5 * 5, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pool(self.relu(self.c1(x)))
        x = self.pool(self.relu(self.c2(x)))
        return self.fc2(self.relu(self.fc1(x.flatten(1))))


def test_mlp_two_batch_sizes():
    g, x, y = _mlp_graph()
    rng = _rng()
    model = _check(g, [x], [y], [[rng.standard_normal((b, 784)).astype(np.float32)] for b in (1, 7)])
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Gemm") == 2 and "LogSoftmax" in ops and "Relu" in ops
    (inp,) = model.graph.input
    assert isinstance(_dims(inp)[0], str) and _dims(inp)[1] == 784      # None -> dim_param
    assert len(model.graph.initializer) == 4                              # the variables
    (ls,) = [n for n in model.graph.node if n.op_type == "LogSoftmax"]
    assert [a.i for a in ls.attribute if a.name == "axis"] == [1]
    assert model.ir_version <= 10 and model.opset_import[0].version == 18


def test_lenet_two_batch_sizes():
    net = LeNet()
    with dg.graph_mode() as g:
        x = dg.placeholder((None, 1, 28, 28), dg.float32, name="x")
        y = net(x)
    rng = _rng()
    model = _check(g, [x], [y], [[rng.standard_normal((b, 1, 28, 28)).astype(np.float32)] for b in (2, 5)])
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Conv") == 2 and ops.count("MaxPool") == 2 and "Reshape" in ops
    (c1,) = [n for n in model.graph.node if n.op_type == "Conv"][:1]
    assert {a.name: list(a.ints) for a in c1.attribute if a.ints}["pads"] == [2, 2, 2, 2]


def test_the_seeds_ops():
    rng = _rng()
    with dg.graph_mode() as g:
        x = dg.placeholder((None, 2, 3), dg.float32, name="x")
        v = dg.placeholder((3,), dg.float32, name="v")
        k = dg.placeholder((None,), dg.int64, name="k")
        w = dg.Variable(rng.standard_normal((3, 4)).astype(np.float32), name="w")
        outs = [
            x[1:], x[:, 1:], x[:, 0, None, -1], x.flatten(), dg.ones_like(x) + x - 1,
            x.view([-1, 6]).reshape([-1, 3]),
            x.unsqueeze(1).squeeze(1) + v.unsqueeze(0).unsqueeze(0).squeeze(),
            x[0].mm(w), v.dot(v), x.matmul(v), F.softmax(x[0], dim=0),
            x.sum(dim=2).argmax(dim=1), F.one_hot(k, 5), 10 * x ** 2 + 50,
            x + k.view(-1, 1, 1),                        # int64 + float32: a Cast
            (k * 2).float().mean(), k.sum(), k / 2,     # int sum stays int64; int / int is float
            dg.where(x > 0, x, 0.5 * x), x.transpose(1, 2).permute(0, 2, 1),
            dg.cat([x, x * 2], dim=1), dg.stack([v, v], dim=1),
            dg.exp(x).log().tanh().sigmoid().sqrt().abs(),
            x.amax(dim=(1, 2)) + x.mean(dim=-1).sum(1) + x.max(dim=1)[0].sum(1),
            x.var(dim=2), dg.cartesian_prod(v, v), x.clamp(-0.5, 0.5), (x >= 0) & (x < 1),
            x[:, :, k[:2]], x[..., 1],
        ]
    feeds = [[rng.standard_normal((b, 2, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32),
              np.arange(b) % 5] for b in (2, 4)]
    model = _check(g, [x, v, k], outs, feeds)
    ops = {n.op_type for n in model.graph.node}
    assert {"Slice", "Cast", "MatMul", "Softmax", "ArgMax", "OneHot", "Pow", "Where", "Transpose",
            "Concat", "ReduceMax", "ReduceMean", "ReduceSum", "Expand", "Clip", "And", "Gather"} <= ops


def test_casts_where_dualgraph_promotes():
    with dg.graph_mode() as g:
        a = dg.placeholder((None, 3), dg.int32, name="a")
        f = dg.placeholder((None, 3), dg.float32, name="f")
        d = dg.placeholder((3,), dg.float64, name="d")
        b = dg.placeholder((None, 3), dg.bool, name="b")
        outs = [a + f, f * d, a + b, a > 0.5, a / 2, a.mean(dtype=dg.float64), a.sum(dim=1), b.sum(),
                dg.where(b, a, f), dg.cat([a, f], dim=0), f.double().exp(), a.float() ** 2, 2 ** a,
                a & 6, ~a, b | (a > 3), ~b]
    rng = _rng()
    feeds = [[np.arange(3 * n, dtype=np.int32).reshape(n, 3), rng.standard_normal((n, 3)).astype(np.float32),
              rng.standard_normal(3), rng.random((n, 3)) > 0.5] for n in (1, 4)]
    model = _check(g, [a, f, d, b], outs, feeds)  # _check compares dtypes too
    assert sum(n.op_type == "Cast" for n in model.graph.node) >= 8


def test_several_unknown_dims():
    # shapes read at run time: Shape/Gather/Mul/Concat targets both ways
    with dg.graph_mode() as g:
        x = dg.placeholder((None, None, 3), dg.float32, name="x")
        b = dg.placeholder((None, 1, 1), dg.float32, name="b")
        outs = [x.flatten(0, 1), x.flatten(1), b.expand_as(x), dg.zeros_like(x) + 2, x.std(dim=1)]
    rng = _rng()
    feeds = [[rng.standard_normal(s).astype(np.float32), rng.standard_normal((s[0], 1, 1)).astype(np.float32)]
             for s in ((2, 5, 3), (4, 2, 3))]
    model = _check(g, [x, b], outs, feeds)
    assert [len(_dims(i)) for i in model.graph.input] == [3, 3]
    assert all(isinstance(d, str) for d in _dims(model.graph.input[0])[:2])


def test_more_ops_both_ways():
    rng = _rng()
    lin = nn.Linear(5, 4)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    dilated = nn.Conv2d(4, 2, 3, dilation=2, padding="same")
    with dg.graph_mode() as g:
        x = dg.placeholder((None, 3, 5), dg.float32, name="x")
        k = dg.placeholder((None,), dg.int64, name="k")
        im = dg.placeholder((None, 4, 9, 9), dg.float32, name="im")
        outs = [
            x // 0.3, dg.div(x, 0.3, rounding_mode="trunc"), dg.remainder(x, 0.7), k // 3, dg.remainder(k - 3, 4), dg.log1p(x.abs()),
            dg.rsqrt(x.abs() + 1), dg.maximum(x, 0.1), dg.minimum(x, k.view(-1, 1, 1)), -x,
            x.sin() + x.cos(), x.sign(), dg.outer(x[0, 0], x[0, 1]), dg.bmm(x, x.transpose(1, 2)),
            x.repeat(2, 1, 1, 1), dg.gather(x, 2, dg.zeros_like(x, dtype=dg.int64)[:, :, :2]),
            F.nll_loss(F.log_softmax(x[:, 0], dim=-1), k % 5), F.pad(x, (1, 2)), F.pad(x, (-1, 0)),
            dg.logsumexp(x, dim=1), x.prod(dim=2), (x > 0).all(dim=1), (x > 0).any(),
            x.argmin(dim=2, keepdim=True), x.masked_fill(x < 0, 0.0), dg.full_like(x, 7),
            dg.stack([x, x], dim=-1), lin(x), F.softmax(x, dim=-1), conv(im), dilated(im),
            F.max_pool2d(im, 3, stride=2, padding=1, ceil_mode=True), x.sum(), x.mean(),
            (k > 2).sum(), k.float().var(),
        ]
    feeds = [[rng.standard_normal((b, 3, 5)).astype(np.float32), np.arange(b, dtype=np.int64),
              rng.standard_normal((b, 4, 9, 9)).astype(np.float32)] for b in (2, 5)]
    model = _check(g, [x, k, im], outs, feeds)
    assert {"Mod", "Floor", "Tile", "GatherElements", "NegativeLogLikelihoodLoss", "Pad",
            "ReduceLogSumExp", "ReduceProd", "ArgMin", "ConstantOfShape"} <= {n.op_type for n in model.graph.node}


def test_nested_control_flow():
    with dg.graph_mode() as g:
        x = dg.placeholder((None, 3), dg.float32, name="x")

        def body(i, a):
            a = dg.cond(i % 2 == 0, lambda: a * 2 + x, lambda: a - 1)  # x: an outer capture
            return i + 1, a

        i, out = dg.while_loop(lambda i, a: i < 5, body, (dg.constant(np.int64(0)), x))
        y = dg.cond(out.mean() > 0,
                    lambda: dg.while_loop(lambda t: t.sum() < 50, lambda t: t * 2 + 1, out.abs()),
                    lambda: out)
    rng = _rng()
    feeds = [[(rng.random((b, 3)) * s).astype(np.float32)] for b, s in ((2, 1.0), (3, -1.0))]
    _check(g, [x], [i, out, y], feeds)


def test_cond_both_branches():
    with dg.graph_mode() as g:
        x = dg.placeholder((None, 4), dg.float32, name="x")
        w = dg.Variable(np.full((4,), 3.0, np.float32), name="w")
        y = dg.cond(x.sum() > 0, lambda: x.sqrt() * w, lambda: 0 * x - 1)
        z = y.sum(dim=1).mean()
    rng = _rng()
    pos = np.abs(rng.standard_normal((2, 4))).astype(np.float32)
    neg = -np.abs(rng.standard_normal((5, 4))).astype(np.float32)
    model = _check(g, [x], [y, z], [[pos], [neg]])
    (if_node,) = [n for n in model.graph.node if n.op_type == "If"]
    assert {a.name for a in if_node.attribute} == {"then_branch", "else_branch"}


def test_while_loop_and_maximum_iterations():
    with dg.graph_mode() as g:
        x = dg.placeholder((None, 4), dg.float32, name="x")
        i, out = dg.while_loop(lambda i, a: a.sum() < 100.0, lambda i, a: (i + 1, a * 2 + x),
                               (dg.constant(np.int64(0)), x))
        j, cut = dg.while_loop(lambda j, a: j < 10, lambda j, a: (j + 1, a + 1.0),
                               (dg.constant(np.int64(0)), x), maximum_iterations=3)
    feeds = [[np.full((b, 4), s, np.float32)] for b, s in ((2, 1.0), (3, 0.1))]
    model = _check(g, [x], [i, out, j, cut], feeds)
    assert sum(n.op_type == "Loop" for n in model.graph.node) == 2
    res = dg.Session(g).run([i, j], {x: feeds[0][0]})
    assert int(res[0]) > 1 and int(res[1]) == 3


def test_dg_function_with_a_python_branch():
    mlp = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 3))

    @dg.function
    def f(x):
        y = mlp(x)
        if y.sum() > 0:  # AutoGraph: a dg.cond
            y = y * 2
        return F.log_softmax(y, dim=1)

    x = dg.randn(5, 8)
    model = to_onnx(f, example_args=(x,))
    assert "If" in [n.op_type for n in model.graph.node]
    sess = _session(model)
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x.detach().numpy()})
    np.testing.assert_allclose(got, f(x).detach().numpy(), **TOL)
    with pytest.raises(ExportError, match="example_args"):
        to_onnx(f)
    # a trace has the example's shapes; for a None batch dim, call f while building a graph
    with dg.graph_mode() as g:
        xs = dg.placeholder((None, 8), name="x")
        ys = f(xs)
    sess = _session(to_onnx(g, outputs=[ys]))
    for b in (1, 6):
        xb = dg.randn(b, 8)
        np.testing.assert_allclose(sess.run(None, {"x": xb.detach().numpy()})[0], f(xb).detach().numpy(), **TOL)


def test_reductions_take_the_opsets_axes():
    with dg.graph_mode() as g:
        x = dg.placeholder((None, 3, 4), dg.float32, name="x")
        outs = [x.sum(dim=1), x.mean(dim=(1, 2), keepdim=True), x.amax(dim=2), x.squeeze(1)[:, None]]
    rng = _rng()
    feeds = [[rng.standard_normal((b, 3, 4)).astype(np.float32)] for b in (1, 3)]
    m18 = _check(g, [x], outs, feeds)
    by = {n.op_type: n for n in m18.graph.node}
    assert len(by["ReduceMean"].input) == 2 and len(by["ReduceSum"].input) == 2
    m13 = _check(g, [x], outs, feeds, opset=13)
    by = {n.op_type: n for n in m13.graph.node}
    assert len(by["ReduceMean"].input) == 1 and [a.name for a in by["ReduceMean"].attribute] == ["axes", "keepdims"]
    assert len(by["ReduceSum"].input) == 2


def test_path_and_bytes(tmp_path):
    g, x, y = _mlp_graph()
    path = tmp_path / "mlp.onnx"
    model = to_onnx(g, path, outputs=[y])
    assert onnx.load(str(path)) == model
    a = np.ones((3, 784), np.float32)
    (ref,) = _session(model).run(None, {"x": a})
    for src in (path, str(path), path.read_bytes(), model):
        np.testing.assert_allclose(from_onnx(src).run(a)[0], ref, **TOL)


# ---------------------------------------------------------------- refusals
def test_an_op_without_mapping_names_the_node():
    with dg.graph_mode() as g:
        x = dg.placeholder((None, 3), name="x")
        i = dg.placeholder((None,), dg.int64, name="i")
        r = dg.rand_like(x)
        y = x * 1
        y[0] = 5.0
        masked = x[i > 0]
    with pytest.raises(ExportError, match="index_put"):
        to_onnx(g, outputs=[y])
    with pytest.raises(ExportError, match=r"rand_like.*random"):
        to_onnx(g, outputs=[r])
    with pytest.raises(ExportError, match="getitem.*tensor indices"):
        to_onnx(g, outputs=[masked])
    with pytest.raises(ExportError, match="outputs="):
        to_onnx(g)


def test_unsupported_onnx_op_names_it():
    h = onnx.helper
    node = h.make_node("Hardmax", ["x"], ["y"], name="hm")
    graph = h.make_graph([node], "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 3])])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 18)])
    with pytest.raises(ExportError, match="'Hardmax'.*'hm'"):
        from_onnx(model)
    with pytest.raises(ExportError, match="not an ONNX model"):
        from_onnx(b"\x00garbage\xff" * 10)


def test_missing_packages_say_which_extra(monkeypatch):
    g, x, y = _mlp_graph()
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ExportError, match=r"pip install 'dualgraph\[onnx\]'"):
        to_onnx(g, outputs=[y])
    with pytest.raises(ExportError, match=r"pip install 'dualgraph\[onnx\]'"):
        from_onnx(b"")


# ---------------------------------------------------------------- torch's exports
def _torch_export(model, shape, **kw):
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the TorchScript exporter: the dynamo one needs onnxscript
        torch.onnx.export(model.eval(), (torch.randn(*shape),), buf, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, dynamo=False, **kw)
    return buf.getvalue()


def _torch_case(model, shape, ops, **kw):
    torch = pytest.importorskip("torch")
    data = _torch_export(model, shape, **kw)
    assert {n.op_type for n in onnx.load_model_from_string(data).graph.node} >= ops
    imp = from_onnx(data)
    assert imp.inputs[0].shape[0] is None
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for b in (1, 4):
        x = np.random.default_rng(b).standard_normal((b,) + shape[1:]).astype(np.float32)
        (ref,) = sess.run(None, {"x": x})
        (got,) = imp.run(x)
        np.testing.assert_allclose(got, ref, **TOL)
        with torch.no_grad():
            np.testing.assert_allclose(got, model(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_torch_mlp_imports():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5),
                              torch.nn.LogSoftmax(dim=1))
    _torch_case(mlp, (3, 20), {"Gemm", "Relu", "LogSoftmax"})


def test_torch_cnn_imports():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    class CNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.c2 = torch.nn.Conv2d(4, 8, 3, stride=2)
            self.fc = torch.nn.Linear(8 * 6 * 6, 10)

        def forward(self, x):
            x = torch.max_pool2d(torch.relu(self.c1(x)), 2)
            x = torch.relu(self.c2(x))
            return torch.softmax(self.fc(torch.flatten(x, 1)), 1)

    class ViewCNN(CNN):  # x.view(x.size(0), -1): Shape, Gather, Concat feeding a Reshape
        def forward(self, x):
            x = torch.relu(self.c2(torch.max_pool2d(torch.relu(self.c1(x)), 2)))
            return torch.log_softmax(self.fc(x.view(x.size(0), -1)), 1)

    class BNCNN(CNN):  # eval-mode BatchNorm, LeakyReLU and a global average pool
        def __init__(self):
            super().__init__()
            self.bn = torch.nn.BatchNorm2d(8)
            self.bn.running_mean.uniform_(-1, 1)
            self.bn.running_var.uniform_(0.5, 2)
            self.head = torch.nn.Linear(8, 3)

        def forward(self, x):
            x = self.bn(self.c2(torch.nn.functional.leaky_relu(self.c1(x), 0.1)))
            return self.head(torch.nn.functional.adaptive_avg_pool2d(x, 1).flatten(1))

    _torch_case(CNN(), (2, 1, 28, 28), {"Conv", "MaxPool", "Flatten", "Gemm", "Softmax"})
    _torch_case(BNCNN(), (2, 1, 28, 28), {"BatchNormalization", "LeakyRelu", "GlobalAveragePool"},
               do_constant_folding=False)  # (folding merges the BatchNorm into the Conv)
    _torch_case(ViewCNN(), (2, 1, 28, 28), {"Conv", "Shape", "Gather", "Reshape", "LogSoftmax"})


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu"])
def test_gradient_graph_with_fused_backward_ops_runs_in_onnxruntime(act, tmp_path):
    """The rules of tanh / sigmoid / relu build one op each (tanh_backward, ...) and
    F.cross_entropy one fused op: each has an ONNX spelling that onnxruntime agrees with."""
    ort = pytest.importorskip("onnxruntime")
    dg.manual_seed(0)
    lin = dg.nn.Linear(4, 3)
    g = dg.Graph()
    with dg.graph_mode(g):
        x = dg.placeholder(dg.float32, [5, 4], name="x")
        y = dg.placeholder(dg.int64, [5], name="y")
        h = getattr(dg, act)(lin(x) * 1.5)
        loss = dg.nn.functional.cross_entropy(h, y)
        gx, = dg.gradients(loss, [x])
    path = tmp_path / "m.onnx"
    dg.export.to_onnx(g, str(path), outputs=[loss, gx])
    xs = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    ys = np.array([0, 1, 2, 0, 1])
    got = ort.InferenceSession(str(path)).run(None, {"x": xs, "y": ys})
    want = dg.Session(g).run([loss, gx], {x: xs, y: ys})
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
