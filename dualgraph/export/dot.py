"""DOT text and pictures of a graph (and of a compiled plan).

`to_dot(graph)` gives Graphviz DOT text, built with pydot: each node shows its op type, its
name and its output shape and dtype; each data edge carries the shape of the tensor on it
(what users of graph viewers ask for most); control edges (an assign ordered after the reads it
overwrites, random draws kept in order) are dashed. Name scopes ("dense/matmul") are clusters.
Placeholders, variables, constants, gradient nodes (under "gradients/"), assigns and
control-flow ops are styled apart. A `cond` or `while_loop` is one node whose label gives the
sizes of its subgraphs; `subgraphs=True` draws those subgraphs too, as nested clusters.

Big graphs: above `max_nodes` nodes (DEFAULT_MAX_NODES) scopes are collapsed, deepest first,
until the picture has at most that many boxes; a collapsed scope is one box with its node count
and its most common ops. `collapse_scopes=True` (depth 1), an int (that depth) or False
(never) chooses explicitly.

`draw(graph, path)` writes PNG, SVG or PDF (by the extension) through Graphviz's `dot` program
when it is installed, else through matplotlib with a networkx layout (nodes in rows by
topological generation). `draw_plan(plan, path)` draws a compiled plan's steps in schedule
order, with the buffers the memory planner reuses (read from `plan.source`, whose lines are
`vN = kN(..., out=vM)`).
"""
import collections
import os
import re
import shutil
import subprocess

import networkx as nx

from ..ops.common import fmt_shape
from .errors import ExportError, require
from .text import as_graph, dtype_str, node_kind, scope_of, subgraphs_of

DEFAULT_MAX_NODES = 250
BIG_VIEW = 60  # boxes above which Graphviz is asked to bound its layout work
FORMATS = ("png", "svg", "pdf")

# kind -> (Graphviz shape, fill colour, matplotlib colour)
STYLE = {
    "placeholder": ("invhouse", "#cfe3ff", "#9cc3ff"),
    "variable": ("cylinder", "#ffe2b8", "#ffc46b"),
    "constant": ("note", "#eeeeee", "#cccccc"),
    "gradient": ("box", "#fbd9d9", "#f3a3a3"),
    "assign": ("cds", "#fff5b0", "#f0dc5a"),
    "control_flow": ("doubleoctagon", "#d7f0cf", "#9ed68d"),
    "scope": ("box3d", "#e8e0f5", "#c4b2e6"),
    "op": ("box", "#ffffff", "#f4f4f4"),
}


# ---------------------------------------------------------------- the view: boxes, clusters, edges
class _View:
    """What is drawn, independent of the drawing back end: items (boxes), the cluster tree
    (each item's cluster path) and the edges between items."""

    def __init__(self):
        self.items = {}        # id -> {label, kind, tooltip, path}
        self.clusters = {}     # cluster key -> (label, kind)
        self.edges = {}        # (src id, dst id, tag) -> {"shapes": [], "data": bool, "style": dict|None}
        self.depth = None      # the scope depth collapsed at, or None
        self.nodes_in = 0      # nodes of the graph (not counting subgraphs)

    def add_item(self, iid, label, kind, tooltip, path):
        self.items[iid] = {"label": label, "kind": kind, "tooltip": tooltip, "path": path}

    def add_edge(self, a, b, shape=None, data=True, style=None, tag=""):
        e = self.edges.setdefault((a, b, tag), {"shapes": [], "data": False, "style": style})
        e["data"] |= data
        if shape is not None and shape not in e["shapes"]:
            e["shapes"].append(shape)


def _scope_depths(names):
    return max((n.count("/") for n in names), default=0)


def _count_at(names, depth):
    groups = collections.Counter()
    single = 0
    for n in names:
        parts = n.split("/")[:-1]
        if len(parts) >= depth:
            groups["/".join(parts[:depth])] += 1
        else:
            single += 1
    return single + len(groups)


def _collapse_depth(names, collapse_scopes, max_nodes):
    """The scope depth to collapse at (None: none)."""
    if collapse_scopes is False:
        return None
    if collapse_scopes is True:
        return 1
    if isinstance(collapse_scopes, int):
        if collapse_scopes < 1:
            raise ExportError(f"collapse_scopes: a depth >= 1, True or False, got {collapse_scopes}")
        return collapse_scopes
    if collapse_scopes is not None:
        raise ExportError(f"collapse_scopes: None, True, False or a depth, got {collapse_scopes!r}")
    limit = DEFAULT_MAX_NODES if max_nodes is None else max_nodes
    if len(names) <= limit:
        return None
    for d in range(_scope_depths(names), 0, -1):  # keep as much detail as the limit allows
        if _count_at(names, d) <= limit:
            return d
    return 1


def _shape_label(shape, dtype):
    if dtype is not None and getattr(dtype, "kind", None) == "O":
        return "(tuple)"
    return fmt_shape(shape) if shape is not None else "?"


def _build(graph, view, collapse_scopes, max_nodes, show_shapes, subgraphs, prefix="", base=()):
    G = graph.to_networkx()
    names = list(G.nodes)
    if not prefix:
        view.nodes_in = len(names)
    # a subgraph is collapsed only when asked (it is drawn only when asked, and is small)
    depth = _collapse_depth(names, collapse_scopes, max_nodes) \
        if not prefix or collapse_scopes is not None else None

    def path_of(scope):
        if not scope:
            return base
        parts = scope.split("/")
        keys = []
        for i in range(len(parts)):
            key = prefix + "/".join(parts[:i + 1])
            view.clusters.setdefault(key, (parts[i], "scope"))
            keys.append(key)
        return base + tuple(keys)

    groups = {}
    if depth:
        for n in names:
            parts = n.split("/")[:-1]
            if len(parts) >= depth:
                groups.setdefault("/".join(parts[:depth]), []).append(n)
    rep = {n: prefix + n for n in names}
    for sc, members in groups.items():
        if len(members) < 2:
            continue
        iid = prefix + "scope:" + sc
        ops = collections.Counter(G.nodes[n]["op"].name for n in members)
        common = ", ".join(k for k, _ in ops.most_common(3)) + (", ..." if len(ops) > 3 else "")
        view.add_item(iid, f"{sc.rpartition('/')[2]}\\n{len(members)} nodes\\n{common}", "scope",
                      f"{sc}: {len(members)} nodes", path_of(scope_of(sc)))
        for n in members:
            rep[n] = iid
        if not prefix:
            view.depth = depth  # (said in the title: something was collapsed)

    for n in names:
        if rep[n] != prefix + n:
            continue
        d = G.nodes[n]
        op = d["op"]
        kind = node_kind(n, op)
        scope = scope_of(n)
        leaf = n.rpartition("/")[2]
        lines = [op.name] + ([leaf] if leaf != op.name else [])  # the scope is the cluster's label
        if show_shapes:
            lines.append(f"{_shape_label(d['shape'], d['dtype'])} {dtype_str(d['dtype'])}"
                         if getattr(d["dtype"], "kind", None) != "O" else "(tuple)")
        subs = subgraphs_of(d["attrs"]) if op.subgraphs else []
        if subs:
            lines.append(", ".join(f"{lab.rpartition('/')[2]}: {len(g.nodes)} nodes" for lab, g in subs))
        path = path_of(scope)
        view.add_item(prefix + n, "\\n".join(lines), kind, n, path)
        if subs and subgraphs:
            for lab, sub in subs:
                key = f"{prefix}{n}#{lab}"
                view.clusters[key] = (f"{lab} ({len(sub.nodes)} nodes)", "subgraph")
                _build(sub, view, collapse_scopes, max_nodes, show_shapes, subgraphs,
                       prefix=key + "#", base=path + (key,))

    for u, v, ed in G.edges(data=True):
        a, b = rep[u], rep[v]
        if a == b:
            continue
        control = bool(ed.get("control"))
        shape = None
        if show_shapes and not control:
            du = G.nodes[u]
            shape = _shape_label(du["shape"], du["dtype"])
        view.add_edge(a, b, shape, data=not control)


def _view(graph, collapse_scopes=None, max_nodes=None, show_shapes=True, subgraphs=False):
    view = _View()
    _build(as_graph(graph), view, collapse_scopes, max_nodes, show_shapes, subgraphs)
    return view


# ---------------------------------------------------------------- pydot back end
def _pydot_graph(view, title=None, rankdir="TB"):
    pydot = require("pydot", "viz", "DOT export")
    label = title or ""
    if view.depth is not None:
        note = f"{view.nodes_in} nodes; scopes of depth {view.depth} collapsed"
        label = label + "\\n" + note if label else note
    dot = pydot.Dot(graph_type="digraph", rankdir=rankdir, fontname="Helvetica", fontsize="11",
                    compound="true", **({"label": label, "labelloc": "t"} if label else {}))
    if len(view.items) > BIG_VIEW or len(view.edges) > 2 * BIG_VIEW:
        # Graphviz's network simplex (ranking, placement) dominates on big or hub-like views
        # (a collapsed gradients box read by every block): bound it, and draw straight edges
        dot.set("nslimit", "1")
        dot.set("nslimit1", "1")
        dot.set("mclimit", "0.3")
        dot.set("splines", "line")
    dot.set_node_defaults(fontname="Helvetica", fontsize="10", style="filled")
    dot.set_edge_defaults(fontname="Helvetica", fontsize="8", color="#555555")
    ids = {iid: f"n{i}" for i, iid in enumerate(view.items)}
    containers = {}

    def container(path):
        if not path:
            return dot
        c = containers.get(path)
        if c is None:
            parent = container(path[:-1])
            lab, kind = view.clusters[path[-1]]
            c = pydot.Cluster(f"c{len(containers)}", label=lab, style="rounded,dashed" if kind == "subgraph"
                              else "rounded", color="#7a9a6a" if kind == "subgraph" else "#8888aa",
                              fontname="Helvetica", fontsize="10")
            parent.add_subgraph(c)
            containers[path] = c
        return c

    for iid, it in view.items.items():
        shape, fill, _ = STYLE[it["kind"]]
        style = "filled,rounded" if shape == "box" else "filled"
        if it["kind"] == "gradient":
            style += ",dashed"
        container(it["path"]).add_node(pydot.Node(ids[iid], label=it["label"], shape=shape,
                                                  fillcolor=fill, style=style, tooltip=it["tooltip"]))
    for (a, b, _), e in view.edges.items():
        attrs = {}
        if not e["data"]:
            attrs.update(style="dashed", color="#999999", arrowhead="empty")
        if e["shapes"]:
            attrs["label"] = e["shapes"][0] if len(e["shapes"]) == 1 else f"{len(e['shapes'])} tensors"
        if e.get("style"):
            attrs.update(e["style"])
        dot.add_edge(pydot.Edge(ids[a], ids[b], **attrs))
    return dot


def to_dot(graph, path=None, *, collapse_scopes=None, max_nodes=None, show_shapes=True,
           subgraphs=False):
    """Graphviz DOT text of a graph (written to `path` too when given).

    graph: a dg.Graph (or a Plan, or a called dg.function). collapse_scopes: None (collapse only
    above max_nodes nodes, DEFAULT_MAX_NODES by default), True (each top-level scope one box), a
    depth, or False. show_shapes: shapes and dtypes on nodes and edges. subgraphs: draw the
    subgraphs of cond / while_loop as nested clusters."""
    view = _view(graph, collapse_scopes, max_nodes, show_shapes, subgraphs)
    g = as_graph(graph)
    text = _pydot_graph(view, title=getattr(g, "name", None)).to_string()
    if path is not None:
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            f.write(text)
    return text


# ---------------------------------------------------------------- pictures
def _format_of(path):
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise ExportError(f"cannot draw to {os.fspath(path)!r}: the extension must be one of "
                          f"{', '.join('.' + f for f in FORMATS)}")
    return ext


def _run_dot(text, path, fmt, timeout=120):
    try:
        r = subprocess.run(["dot", f"-T{fmt}", "-o", os.fspath(path)], input=text.encode("utf-8"),
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ExportError(f"Graphviz 'dot' took over {timeout}s; pass collapse_scopes=True or a "
                          f"smaller max_nodes") from None
    if r.returncode != 0:
        raise ExportError(f"Graphviz 'dot' failed: {r.stderr.decode('utf-8', 'replace').strip()}")


def _render(view, path, engine, title=None, rankdir="TB"):
    fmt = _format_of(path)
    if engine not in ("auto", "dot", "matplotlib"):
        raise ExportError(f"engine: 'auto', 'dot' or 'matplotlib', got {engine!r}")
    use_dot = engine == "dot" or (engine == "auto" and shutil.which("dot") is not None)
    if use_dot:
        if shutil.which("dot") is None:
            raise ExportError("engine='dot' needs Graphviz's 'dot' program (apt install graphviz)")
        try:
            text = _pydot_graph(view, title, rankdir).to_string()
        except ExportError:
            if engine == "dot":
                raise
            return _draw_matplotlib(view, path, fmt, title, rankdir)  # no pydot: no DOT text
        _run_dot(text, path, fmt)
        return os.fspath(path)
    return _draw_matplotlib(view, path, fmt, title, rankdir)


def draw(graph, path, *, engine="auto", collapse_scopes=None, max_nodes=None, show_shapes=True,
         subgraphs=False):
    """Write a picture of the graph to path (.png, .svg or .pdf): through Graphviz's `dot` when
    it is installed (engine="auto" or "dot"), else through matplotlib ("matplotlib"). The other
    arguments are to_dot's. Returns the path."""
    view = _view(graph, collapse_scopes, max_nodes, show_shapes, subgraphs)
    return _render(view, path, engine, title=getattr(as_graph(graph), "name", None))


def _draw_matplotlib(view, path, fmt, title=None, rankdir="TB"):
    require("matplotlib", "viz", "drawing without Graphviz")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    G = nx.DiGraph()
    G.add_nodes_from(view.items)
    G.add_edges_from((a, b) for a, b, _ in view.edges)
    if not nx.is_directed_acyclic_graph(G):  # (collapsed scopes can make a cycle of boxes)
        layers = {n: i for i, n in enumerate(G.nodes)}
    else:
        layers = {n: i for i, gen in enumerate(nx.topological_generations(G)) for n in gen}
        for n in G:  # a source (variable, constant) just above its first reader
            if G.in_degree(n) == 0 and G.out_degree(n):
                layers[n] = max(0, min(layers[s] for s in G.successors(n)) - 1)
    nx.set_node_attributes(G, layers, "layer")
    n_layers = max(layers.values(), default=0) + 1
    width = max(collections.Counter(layers.values()).values(), default=1)
    pos = nx.multipartite_layout(G, subset_key="layer", align="horizontal" if rankdir == "TB" else "vertical")
    if rankdir == "TB":
        pos = {n: (x, -y) for n, (x, y) in pos.items()}  # first generation at the top
    small = len(G) <= 60
    fig = Figure(figsize=(min(4 + 1.6 * width, 60), min(2 + 1.0 * n_layers, 90)), dpi=100 if small else 60)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    data = [e[:2] for e, d in view.edges.items() if d["data"] and (d["style"] or {}).get("style") != "invis"]
    ctrl = [e[:2] for e, d in view.edges.items() if not d["data"]]
    nx.draw_networkx_edges(G, pos, edgelist=data, ax=ax, edge_color="#555555", arrows=True,
                           arrowsize=8, node_size=1200 if small else 300)
    nx.draw_networkx_edges(G, pos, edgelist=ctrl, ax=ax, edge_color="#999999", style="dashed",
                           arrows=True, arrowsize=8, node_size=1200 if small else 300)
    for kind in STYLE:
        nodes = [n for n in G if view.items[n]["kind"] == kind]
        if nodes:
            nx.draw_networkx_nodes(G, pos, nodelist=nodes, ax=ax, node_color=STYLE[kind][2],
                                   node_shape="s", node_size=1200 if small else 300,
                                   edgecolors="#333333", linewidths=0.5, label=kind)
    # (no clusters here: a node in a scope shows the scope on a first line)
    labels = {n: (scope_of(view.items[n]["tooltip"]) + "/\n" if view.items[n]["path"] else "")
              + view.items[n]["label"].replace("\\n", "\n") for n in G}
    nx.draw_networkx_labels(G, pos, labels=labels, ax=ax, font_size=6 if small else 4)
    if small:
        elabels = {e[:2]: d["shapes"][0] for e, d in view.edges.items() if len(d["shapes"]) == 1}
        nx.draw_networkx_edge_labels(G, pos, edge_labels=elabels, ax=ax, font_size=5)
    ax.legend(loc="upper left", fontsize=6, markerscale=0.4, frameon=False)
    fig.savefig(os.fspath(path), format=fmt, bbox_inches="tight")
    return os.fspath(path)


# ---------------------------------------------------------------- the compiled plan
_OUT = re.compile(r"out=(v\d+|b\d+|r\d+\._data)")
_LINE = re.compile(r"^\s+v(\d+) = ")


def _plan_buffers(plan):
    """{step index: ("reuse", j) | ("arena", None) | ("state", None)} read from plan.source
    (None when the plan has not been specialised yet)."""
    src = getattr(plan, "source", None)
    if not src:
        return None
    out = {}
    for line in src.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        code = line.split("  #", 1)[0]
        o = _OUT.search(code)
        if o is None:
            continue
        t = o.group(1)
        i = int(m.group(1))
        if t.startswith("v"):
            out[i] = ("reuse", int(t[1:]))
        elif t.startswith("b"):
            out[i] = ("arena", None)
        else:
            out[i] = ("state", None)
    return out


def _plan_view(plan):
    steps = getattr(plan, "steps", None)
    if steps is None:
        raise ExportError(f"draw_plan expects a compiled Plan (g.compile(...)), got {type(plan).__name__}")
    buffers = _plan_buffers(plan)
    view = _View()
    view.nodes_in = len(steps)
    index = {s.name: i for i, s in enumerate(steps)}
    reused = 0
    for i, s in enumerate(steps):
        kind = node_kind(s.name, s.op)
        lines = [f"{i}: {s.op.name}", s.name]
        if s.shape is not None:
            lines.append(f"{fmt_shape(s.shape)} {dtype_str(s.dtype)}")
        b = (buffers or {}).get(i)
        if b is not None:
            if b[0] == "reuse":
                lines.append(f"writes into buffer of step {b[1]}")
                reused += 1
            elif b[0] == "arena":
                lines.append("arena buffer")
            else:
                lines.append("writes into variable")
        view.add_item(f"s{i}", "\\n".join(lines), kind, s.name, ())
        for k, a in s.args:
            if k == "node" and a in index:
                view.add_edge(f"s{index[a]}", f"s{i}", None, data=True)
        if b is not None and b[0] == "reuse" and b[1] != i:
            view.add_edge(f"s{b[1]}", f"s{i}", None, data=False,
                          style={"style": "dotted", "color": "#cc3333", "label": "buffer",
                                 "fontcolor": "#cc3333", "constraint": "false"}, tag="buffer")
    for i in range(len(steps) - 1):  # the schedule order, top to bottom
        if (f"s{i}", f"s{i + 1}", "") not in view.edges:
            view.add_edge(f"s{i}", f"s{i + 1}", None, data=True, style={"style": "invis"}, tag="order")
    stats = getattr(plan, "stats", {}) or {}
    title = f"plan: {len(steps)} steps"
    if buffers is None:
        title += " (not specialised yet: buffer reuse is planned at the first run)"
    else:
        title += (f"; buffers reused {stats.get('buffers_reused', reused)}, allocated "
                  f"{stats.get('buffers_allocated', '?')}, peak {stats.get('peak_bytes', '?')} bytes")
    return view, title


def draw_plan(plan, path, *, engine="auto"):
    """Draw a compiled plan (g.compile(...)): its steps in schedule order, data edges, and a red
    dotted edge from a step to the later step that writes into its buffer (buffer reuse), with
    the plan's memory stats in the title. path: .png, .svg or .pdf (.dot: the DOT text)."""
    view, title = _plan_view(plan)
    if os.fspath(path).lower().endswith(".dot"):
        text = _pydot_graph(view, title).to_string()
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            f.write(text)
        return os.fspath(path)
    return _render(view, path, engine, title=title)
