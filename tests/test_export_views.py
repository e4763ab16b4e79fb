"""dg.export's views of a graph (issue 11 items 2, 3, 6): DOT text and pictures, the compiled
plan's picture, GraphML read back by networkx, print_tabular and plan.source's comments."""
import shutil
import sys
import time

import networkx as nx
import numpy as np
import pytest

import dualgraph as dg
from dualgraph.export import ExportError, to_dot, draw, draw_plan, to_graphml
from dualgraph.export import dot as dotmod

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pydot's parser (pyparsing)

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' is not installed")


def _training_graph():
    """x -> dense (scope) -> loss, gradients, an SGD assign (control edges), a cond."""
    with dg.graph_mode() as g:
        x = dg.placeholder(dg.float32, [None, 3], name="x")
        with dg.name_scope("dense"):
            w = dg.Variable(np.ones((3, 2), np.float32), name="w")
            y = (x @ w).relu()
        loss = y.sum()
        (gw,) = dg.gradients(loss, [w])
        up = w.assign_sub(gw * 0.1)
        c = dg.cond(loss > 0, lambda: y * 2, lambda: y - 1)
    return g, x, y, loss, up, c


def _pydot():
    return pytest.importorskip("pydot")


def _nodes(parsed):
    """Every node statement of a parsed pydot graph, clusters included (no defaults)."""
    out = [n for n in parsed.get_nodes() if n.get_name() not in ("node", "edge", "graph")]
    for sg in parsed.get_subgraphs():
        out += _nodes(sg)
    return out


def _clusters(parsed):
    out = []
    for sg in parsed.get_subgraphs():
        out += [sg] + _clusters(sg)
    return out


def _label(n):
    return (n.get("label") or "").strip('"')


# ---------------------------------------------------------------- DOT
def test_to_dot_parses_with_a_node_per_graph_node_and_an_edge_per_edge(tmp_path):
    pydot = _pydot()
    g, *_ = _training_graph()
    G = g.to_networkx()
    path = tmp_path / "g.dot"
    text = to_dot(g, path)
    assert path.read_text() == text
    (parsed,) = pydot.graph_from_dot_data(text)
    nodes = _nodes(parsed)
    assert len(nodes) == len(g.nodes) == G.number_of_nodes()
    assert len(parsed.get_edges()) == G.number_of_edges()
    # name scopes are clusters: dense, gradients
    labels = {c.get("label").strip('"') for c in _clusters(parsed)}
    assert {"dense", "gradients"} <= labels
    # op type and shape on every node; the shape of the tensor on each data edge
    by_tip = {n.get("tooltip").strip('"'): n for n in nodes}
    assert _label(by_tip["dense/matmul"]).split("\\n") == ["matmul", "[?, 2] float32"]
    assert _label(by_tip["x"]).split("\\n") == ["placeholder", "x", "[?, 3] float32"]
    data_labels = [e.get("label").strip('"') for e in parsed.get_edges() if e.get("label")]
    assert "[?, 3]" in data_labels and "[3, 2]" in data_labels
    # control edges dashed: as many as the networkx form has
    n_control = sum(1 for *_, d in G.edges(data=True) if d.get("control"))
    assert n_control > 0
    assert sum(1 for e in parsed.get_edges() if e.get("style") == "dashed") == n_control


def test_to_dot_styles_sources_gradients_and_control_flow_apart():
    pydot = _pydot()
    g, *_ = _training_graph()
    (parsed,) = pydot.graph_from_dot_data(to_dot(g))
    by_tip = {n.get("tooltip").strip('"'): n for n in _nodes(parsed)}
    assert by_tip["x"].get("shape") == dotmod.STYLE["placeholder"][0]
    assert by_tip["dense/w"].get("shape") == dotmod.STYLE["variable"][0]
    grads = [n for t, n in by_tip.items() if t.startswith("gradients/")]
    assert grads and all(n.get("fillcolor").strip('"') == dotmod.STYLE["gradient"][1] for n in grads)
    consts = [n for n in by_tip.values() if _label(n).startswith("constant")]
    assert all(n.get("shape") == dotmod.STYLE["constant"][0] for n in consts)
    cond = by_tip["cond"]
    assert cond.get("shape") == dotmod.STYLE["control_flow"][0]
    assert "true_fn: 2 nodes, false_fn: 2 nodes" in _label(cond)  # subgraph sizes in the label
    assert by_tip["assign"].get("shape") == dotmod.STYLE["assign"][0]
    fills = {n.get("fillcolor") for n in by_tip.values()}
    assert len(fills) >= 5


def test_to_dot_subgraphs_as_nested_clusters():
    pydot = _pydot()
    g, *_ = _training_graph()
    (flat,) = pydot.graph_from_dot_data(to_dot(g))
    (nested,) = pydot.graph_from_dot_data(to_dot(g, subgraphs=True))
    assert len(_nodes(nested)) == len(_nodes(flat)) + 4  # the two branches' nodes
    labels = [c.get("label").strip('"') for c in _clusters(nested)]
    assert "cond/true_fn (2 nodes)" in labels and "cond/false_fn (2 nodes)" in labels
    with dg.graph_mode() as g2:
        i, s = dg.while_loop(lambda i, s: i < 3, lambda i, s: (i + 1, s * 2),
                             [dg.constant(0), dg.placeholder([3], name="s")])
    (loop,) = pydot.graph_from_dot_data(to_dot(g2, subgraphs=True))
    wl = [n for n in _nodes(loop) if _label(n).startswith("while_loop")]
    assert len(wl) == 1 and "body:" in _label(wl[0]) and "cond:" in _label(wl[0])
    subs = [c for c in _clusters(loop) if c.get("label").strip('"').endswith(" nodes)")]
    assert sorted(c.get("label").strip('"').split(" (")[0] for c in subs) == ["while/body", "while/cond"]


def _scoped_chain(blocks, grads=True):
    with dg.graph_mode() as g:
        x = dg.placeholder(dg.float32, [None, 8], name="x")
        h = x
        for i in range(blocks):
            with dg.name_scope(f"block{i}"):
                w = dg.Variable(np.ones((8, 8), np.float32), name="w")
                h = (h @ w + 1.0).tanh() * 0.5
        loss = h.sum()
        if grads:
            dg.gradients(loss, [x])
    return g


def test_collapse_scopes_draws_a_scope_as_one_box_with_its_count():
    pydot = _pydot()
    g = _scoped_chain(3, grads=False)
    (parsed,) = pydot.graph_from_dot_data(to_dot(g, collapse_scopes=True))
    boxes = [n for n in _nodes(parsed) if n.get("shape") == dotmod.STYLE["scope"][0]]
    assert len(boxes) == 3
    assert all("5 nodes" in _label(b) for b in boxes)           # variable, matmul, add, tanh, mul
    assert len(_nodes(parsed)) == 3 + 2                          # x and sum stay nodes
    assert [e.get("label").strip('"') for e in parsed.get_edges()].count("[?, 8]") == 4
    # a depth: nothing deeper than depth 1 here, so depth 2 changes nothing
    assert to_dot(g, collapse_scopes=2) == to_dot(g, collapse_scopes=False)
    with pytest.raises(ExportError):
        to_dot(g, collapse_scopes=0)


def test_big_graph_collapses_by_default_and_renders_within_seconds(tmp_path):
    pydot = _pydot()
    g = _scoped_chain(100)          # 1400 nodes with the gradients
    assert len(g.nodes) > 1000
    t0 = time.perf_counter()
    text = to_dot(g)
    (parsed,) = pydot.graph_from_dot_data(text)
    assert len(_nodes(parsed)) <= dotmod.DEFAULT_MAX_NODES
    assert "scopes of depth 1 collapsed" in text
    # every box of the picture: at most max_nodes of them, the deepest depth that fits
    assert to_dot(g, max_nodes=5000).count("tooltip=") == len(g.nodes)
    if HAS_DOT:
        draw(g, tmp_path / "big.png")
        assert (tmp_path / "big.png").stat().st_size > 0
    assert time.perf_counter() - t0 < 30


def test_to_dot_without_shapes_and_from_a_function_and_a_plan():
    pydot = _pydot()
    g, x, y, *_ = _training_graph()
    (parsed,) = pydot.graph_from_dot_data(to_dot(g, show_shapes=False))
    assert not any(e.get("label") for e in parsed.get_edges())
    f = dg.function(lambda a: (a * 2).tanh().sum())
    with pytest.raises(ExportError, match="not been traced"):
        to_dot(f)
    f(dg.ones(3))
    assert "tanh" in to_dot(f)
    assert to_dot(g.compile(y)) == to_dot(g)   # a plan: its graph
    with pytest.raises(ExportError, match="expected a dg.Graph"):
        to_dot(42)


def test_missing_pydot_is_a_clear_export_error(monkeypatch):
    g, *_ = _training_graph()
    monkeypatch.setitem(sys.modules, "pydot", None)   # import pydot -> ImportError
    with pytest.raises(ExportError, match=r"pip install 'dualgraph\[viz\]'"):
        to_dot(g)


# ---------------------------------------------------------------- pictures
@needs_dot
@pytest.mark.parametrize("ext", ["png", "svg"])
def test_draw_through_graphviz(tmp_path, ext):
    _pydot()
    g, *_ = _training_graph()
    path = tmp_path / f"g.{ext}"
    assert draw(g, path, engine="dot") == str(path)
    _check_image(path, ext)


@pytest.mark.parametrize("ext", ["png", "svg"])
def test_draw_falls_back_to_matplotlib_without_dot(tmp_path, monkeypatch, ext):
    pytest.importorskip("matplotlib")
    g, *_ = _training_graph()
    monkeypatch.setattr(dotmod.shutil, "which", lambda name: None)
    path = tmp_path / f"g.{ext}"
    draw(g, path)  # engine="auto": no dot program -> matplotlib
    _check_image(path, ext)
    with pytest.raises(ExportError, match="apt install graphviz"):
        draw(g, tmp_path / "x.png", engine="dot")


def test_draw_matplotlib_with_collapsed_scopes_and_no_pydot(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setitem(sys.modules, "pydot", None)  # auto: no DOT text -> matplotlib
    draw(_scoped_chain(20), tmp_path / "c.png", max_nodes=30)
    _check_image(tmp_path / "c.png", "png")


def test_draw_refuses_an_unknown_extension(tmp_path):
    g, *_ = _training_graph()
    with pytest.raises(ExportError, match=r"\.png, \.svg, \.pdf"):
        draw(g, tmp_path / "g.gif")
    with pytest.raises(ExportError, match="engine"):
        draw(g, tmp_path / "g.png", engine="ascii")


def _check_image(path, ext):
    assert path.stat().st_size > 0
    if ext == "png":
        Image = pytest.importorskip("PIL.Image")
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size[0] > 50 and im.size[1] > 50
    else:
        head = path.read_text()[:400]
        assert "<svg" in head or "<?xml" in head


def _plan():
    with dg.graph_mode() as g:
        x = dg.placeholder(dg.float32, [16, 8], name="x")
        h = x
        for i in range(4):
            with dg.name_scope(f"l{i}"):
                h = (h * 2.0 + 1.0).tanh()
        out = h.sum()
    return g.compile(out)


def test_draw_plan_shows_steps_in_order_and_buffer_reuse(tmp_path):
    pydot = _pydot()
    plan = _plan()
    assert plan.stats["buffers_reused"] > 0
    draw_plan(plan, tmp_path / "p.dot")
    (parsed,) = pydot.graph_from_dot_data((tmp_path / "p.dot").read_text())
    nodes = _nodes(parsed)
    assert len(nodes) == len(plan.steps)
    firsts = [_label(n).split("\\n")[0] for n in nodes]
    assert firsts == [f"{i}: {s.op.name}" for i, s in enumerate(plan.steps)]  # schedule order
    reuse = [e for e in parsed.get_edges() if (e.get("label") or "").strip('"') == "buffer"]
    assert len(reuse) >= 1
    assert any("writes into buffer of step" in _label(n) for n in nodes)
    assert "buffers reused" in parsed.get("label")
    path = tmp_path / "p.png"
    draw_plan(plan, path)
    _check_image(path, "png")


def test_draw_plan_before_specialisation(tmp_path):
    pydot = _pydot()
    with dg.graph_mode() as g:
        x = dg.placeholder(dg.float32, [None, 3], name="x")
        y = (x * 2).tanh()
    plan = g.compile(y)
    assert plan.source is None          # an open dim: specialised at the first run
    draw_plan(plan, tmp_path / "p.dot")
    assert "not specialised yet" in (tmp_path / "p.dot").read_text()
    with pytest.raises(ExportError, match="compiled Plan"):
        draw_plan(g, tmp_path / "q.dot")


# ---------------------------------------------------------------- GraphML
def test_graphml_reads_back_the_same_nodes_edges_and_attributes(tmp_path):
    g, *_ = _training_graph()
    G = g.to_networkx()
    path = tmp_path / "g.graphml"
    to_graphml(g, path)
    H = nx.read_graphml(path)
    assert set(H.nodes) == set(G.nodes)
    assert set(H.edges) == set(G.edges)
    for n, d in G.nodes(data=True):
        h = H.nodes[n]
        assert h["op"] == d["op"].name
        assert h["seq"] == d["seq"] and isinstance(h["seq"], int)
        assert h["dtype"] == np.dtype(d["dtype"]).name
        assert h["rank"] == len(d["shape"])
        assert h["scope"] == n.rpartition("/")[0]
    assert H.nodes["x"]["shape"] == "?x3" and H.nodes["x"]["kind"] == "placeholder"
    assert H.nodes["dense/w"]["kind"] == "variable" and H.nodes["dense/w"]["shape"] == "3x2"
    assert H.nodes["sum"]["shape"] == ""                       # a scalar
    assert H.nodes["dense/matmul"]["args"] == "x, dense/w"
    assert H.nodes["cond"]["kind"] == "control_flow"
    assert H.nodes["cond"]["subgraphs"] == "cond/true_fn:2,cond/false_fn:2"
    assert any(n.startswith("gradients/") and H.nodes[n]["kind"] == "gradient" for n in H)
    for u, v, d in G.edges(data=True):
        assert H.edges[u, v]["control"] is bool(d.get("control"))
    assert H.edges["x", "dense/matmul"]["shape"] == "?x3"
    assert H.graph["dualgraph_format"] == "graphml-1"


def test_graphml_to_a_file_object(tmp_path):
    g, *_ = _training_graph()
    with open(tmp_path / "g.graphml", "wb") as f:
        H = to_graphml(g, f)
    assert nx.read_graphml(tmp_path / "g.graphml").number_of_nodes() == H.number_of_nodes()


# ---------------------------------------------------------------- text views
def test_print_tabular(capsys):
    g, *_ = _training_graph()
    assert g.print_tabular() is None
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["kind", "name", "target", "args", "shape", "dtype", "attrs"]
    assert len(lines) == 2 + len(g.nodes)
    rows = {ln.split()[1]: ln.split() for ln in lines[2:]}
    assert rows["x"][:3] == ["placeholder", "x", "placeholder"] and "[?, 3]" in lines[2]
    assert rows["dense/matmul"][:5] == ["op", "dense/matmul", "matmul", "(x,", "dense/w)"]
    assert rows["cond"][0] == "control_flow" and "<subgraph 2 nodes>" in " ".join(rows["cond"])
    assert any(r[0] == "gradient" for r in rows.values())
    assert rows["assign"][0] == "assign"


def test_plan_source_is_there_before_the_first_run_with_op_names_and_shapes(no_fusion):
    # (no_fusion: the plan unfused, whatever DUALGRAPH_FUSION says: its source names each op)
    with dg.graph_mode() as g:
        x = dg.placeholder(dg.float32, [64, 3], name="x")
        with dg.name_scope("dense"):
            w = dg.Variable(np.ones((3, 10), np.float32), name="w")
            y = (x @ w).relu()
    plan = g.compile(y)
    src = plan.source
    assert src is not None                       # static shapes: specialised at compile time
    assert "v2 = k2(v0, v1, out=b2)  # matmul 'dense/matmul' [64, 10] float32" in src
    assert "# v0: placeholder 'x' [64, 3] float32" in src
    assert "r1._data  # variable 'dense/w' [3, 10] float32" in src
    for line in src.splitlines()[1:]:            # every assignment says what it computes
        if " = " in line and not line.strip().startswith("#"):
            assert "  # " in line, line
    out = plan(np.ones((64, 3), np.float32))
    np.testing.assert_allclose(out, np.full((64, 10), 3.0))
    assert plan.source == src                    # the first run compiled nothing new
    # a dg.function's plan too: set when the trace compiles
    f = dg.function(lambda a: (a * 2).tanh().sum())
    f(dg.ones(4))
    assert "# tanh 'tanh' [4] float32" in f._traces[-1].plan.source


def test_missing_matplotlib_without_dot_is_a_clear_export_error(tmp_path, monkeypatch):
    g, *_ = _training_graph()
    monkeypatch.setattr(dotmod.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ExportError, match=r"matplotlib.*pip install 'dualgraph\[viz\]'"):
        draw(g, tmp_path / "g.png")
