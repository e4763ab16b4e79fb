"""GraphML through networkx: `to_graphml(graph, path)`.

`g.to_networkx()` holds Python objects (the `Op` records, attrs holding tensors and compiled
subgraphs), which networkx's GraphML writer refuses. This writes a copy whose attributes are
plain strings and numbers, so `networkx.read_graphml(path)` (or yEd, Gephi, Cytoscape) reads the
same nodes and edges back:

- node (key: the node's name): `op` (the op name), `shape` ("2x?": "x"-joined, "?" for an
  unknown dim, "" for a scalar), `rank` (int), `dtype` (the numpy name), `seq` (creation order,
  int), `scope` (the name scope, "" at the top), `kind` (placeholder, variable, constant, op,
  gradient, assign, control_flow), `args` (the inputs: node names and literals, as text),
  `attrs` (the op's attributes, as text), `label` ("op name", for viewers);
  for a control-flow op also `subgraphs` ("true_fn:2,false_fn:2": name and node count);
- edge: `control` (bool: an ordering edge, no data), `shape` (the tensor on a data edge);
- graph: `name`, `dualgraph_format` ("graphml-1").
"""
import os

import networkx as nx

from .errors import ExportError
from .text import (as_graph, attrs_str, dtype_str, node_kind, scope_of, shape_str, subgraphs_of,
                   value_str)

FORMAT = "graphml-1"


def to_plain_networkx(graph):
    """A networkx DiGraph of the graph with only str / int / bool attributes."""
    g = as_graph(graph)
    G = g.to_networkx()
    H = nx.DiGraph(name=str(G.graph.get("name") or "graph"), dualgraph_format=FORMAT)
    for n, d in G.nodes(data=True):
        op = d["op"]
        shape = d["shape"]
        attrs = {k: v for k, v in d["attrs"].items() if not (op.source and k in ("shape", "dtype"))}
        data = dict(
            op=op.name, shape=shape_str(shape), rank=-1 if shape is None else len(shape),
            dtype=dtype_str(d["dtype"]), seq=int(d["seq"]), scope=scope_of(n),
            kind=node_kind(n, op),
            args=", ".join(a if k == "node" else value_str(a) for k, a in d["args"]),
            attrs=attrs_str(attrs, limit=400), label=f"{op.name} {n}")
        if op.subgraphs:
            data["subgraphs"] = ",".join(f"{lab}:{len(sg.nodes)}" for lab, sg in subgraphs_of(d["attrs"]))
        H.add_node(str(n), **data)
    for u, v, ed in G.edges(data=True):
        control = bool(ed.get("control"))
        du = G.nodes[u]
        H.add_edge(str(u), str(v), control=control,
                   shape="" if control else shape_str(du["shape"]))
    return H


def to_graphml(graph, path):
    """Write the graph as GraphML to path (a file name or a binary file object); returns the
    plain networkx graph that was written."""
    H = to_plain_networkx(graph)
    try:
        nx.write_graphml(H, path if hasattr(path, "write") else os.fspath(path))
    except (nx.NetworkXError, ValueError, TypeError) as e:  # pragma: no cover - all attrs are plain
        raise ExportError(f"cannot write GraphML: {e}") from None
    return H
