"""Text views of a graph, and the plain-string descriptions the other viewers share.

`print_tabular(graph)` prints one row per node, as torch.fx's `Graph.print_tabular` does:
kind (placeholder, variable, constant, op, gradient, control_flow, assign), name, target op,
args, shape, dtype and attrs. `tabular(graph)` returns that text.

The helpers below turn a node into plain strings and numbers (its kind, its name scope, its
shape as "2x?", its attrs): `dot.py` and `graphml.py` label and encode nodes with them.
"""
import numpy as np

from ..ops.common import fmt_shape
from .errors import ExportError

GRADIENT_SCOPE = "gradients"
SOURCE_KINDS = {"placeholder": "placeholder", "variable": "variable", "constant": "constant"}


def as_graph(obj):
    """The dg.Graph behind obj: a Graph, a compiled Plan (its .graph), a dg.function that has
    been called (its latest trace's graph)."""
    if hasattr(obj, "nodes") and hasattr(obj, "to_networkx"):
        return obj
    g = getattr(obj, "graph", None)
    if g is not None and hasattr(g, "nodes") and hasattr(g, "to_networkx"):
        return g
    traces = getattr(obj, "_traces", None)
    if traces:
        return traces[-1].graph
    if traces is not None:
        raise ExportError("this dg.function has not been traced yet: call it once before exporting its graph")
    raise ExportError(f"expected a dg.Graph (or a Plan, or a called dg.function), got {type(obj).__name__}")


def node_kind(name, op):
    """placeholder | variable | constant | control_flow | assign | gradient | op."""
    k = SOURCE_KINDS.get(op.name)
    if k is not None:
        return k
    if op.subgraphs:
        return "control_flow"
    if op.name == "assign":
        return "assign"
    if name.startswith(GRADIENT_SCOPE + "/") or f"/{GRADIENT_SCOPE}/" in name:
        return "gradient"
    return "op"


def scope_of(name):
    """The name scope of a node name: "a/b/matmul" -> "a/b", "x" -> ""."""
    return name.rpartition("/")[0]


def shape_str(shape, sep="x"):
    """(2, None) -> "2x?"; () -> "" (a scalar); None (unknown rank) -> "?"."""
    if shape is None:
        return "?"
    return fmt_shape(shape, sep, brackets=False)


def dtype_str(dtype):
    if dtype is None:
        return "?"
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype)


def subgraphs_of(attrs):
    """[(label, Graph)] of a control-flow node's attrs (each `_Branch` holds a .graph)."""
    out = []
    for k, v in attrs.items():
        items = v if isinstance(v, (tuple, list)) else (v,)
        for j, b in enumerate(items):
            g = getattr(b, "graph", None)
            if g is not None and hasattr(g, "nodes"):
                name = getattr(g, "name", None) or (f"{k}{j}" if len(items) > 1 else k)
                out.append((name, g))
    return out


def value_str(v, limit=40):
    """A short plain string for an attr or a literal argument (Python objects included)."""
    if isinstance(v, np.ndarray):
        if v.size <= 4:
            s = np.array2string(v, separator=", ", threshold=4)
            return s if len(s) <= limit else f"array[{shape_str(v.shape)}] {v.dtype.name}"
        return f"array[{shape_str(v.shape)}] {v.dtype.name}"
    if isinstance(v, np.dtype) or (isinstance(v, type) and issubclass(v, np.generic)):
        return np.dtype(v).name
    if hasattr(v, "graph") and hasattr(getattr(v, "graph"), "nodes"):
        return f"<subgraph {len(v.graph.nodes)} nodes>"
    if hasattr(v, "_data") and hasattr(v, "shape") and not isinstance(v, (str, bytes)):
        try:
            d = v._data
            return f"tensor[{shape_str(d.shape)}] {d.dtype.name}"
        except Exception:  # noqa: BLE001 - a symbolic tensor has no value
            return f"tensor {getattr(v, 'name', '?')}"
    if isinstance(v, (tuple, list)):
        inner = ", ".join(value_str(x, limit) for x in v)
        s = ("(" + inner + ("," if len(v) == 1 else "") + ")") if isinstance(v, tuple) else "[" + inner + "]"
    elif isinstance(v, float) or isinstance(v, (int, bool, str)) or v is None:
        s = repr(v)
    else:
        s = getattr(v, "name", None) if isinstance(getattr(v, "name", None), str) else None
        s = s or type(v).__name__
    return s if len(s) <= limit else s[:limit - 3] + "..."


def attrs_str(attrs, limit=60):
    """attrs as "k=v, ..." (shape and dtype of sources are their own columns)."""
    s = ", ".join(f"{k}={value_str(v)}" for k, v in attrs.items())
    return s if len(s) <= limit else s[:limit - 3] + "..."


def arg_str(x):
    """A node input: a symbolic tensor by its node's name, a literal by its value."""
    node = getattr(x, "node", None)
    if node is not None and hasattr(node, "name"):
        return node.name
    return value_str(x)


# ---------------------------------------------------------------- the table
_COLUMNS = ("kind", "name", "target", "args", "shape", "dtype", "attrs")


def rows(graph):
    """One tuple of strings per node, in creation order, in the columns of _COLUMNS."""
    graph = as_graph(graph)
    out = []
    for n in graph.nodes:
        shape = tuple(n.out.shape)
        attrs = {k: v for k, v in n.attrs.items()
                 if not (n.op.source and k in ("shape", "dtype"))}
        out.append((node_kind(n.name, n.op), n.name, n.op.name,
                    "(" + ", ".join(arg_str(x) for x in n.inputs) + ")",
                    fmt_shape(shape), dtype_str(n.out._dtype), attrs_str(attrs)))
    return out


def tabular(graph):
    """The table print_tabular prints, as a string."""
    body = rows(graph)
    table = [_COLUMNS] + body
    widths = [max(len(r[i]) for r in table) for i in range(len(_COLUMNS))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    lines = [fmt(_COLUMNS), "  ".join("-" * w for w in widths)] + [fmt(r) for r in body]
    return "\n".join(lines)


def print_tabular(graph):
    """Print the graph as a table (torch.fx's Graph.print_tabular): kind, name, target op,
    args, shape, dtype, attrs; one row per node, in creation order."""
    print(tabular(graph))
