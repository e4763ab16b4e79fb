"""Graphs for TensorBoard: `to_tensorboard(graph, logdir)` writes an event file
(`events.out.tfevents.*`) holding the graph as a TensorFlow GraphDef, so `tensorboard --logdir
LOGDIR` shows it in its Graphs tab. The protobuf definitions and the event-file writer come from
the `tensorboard` package (`pip install 'dualgraph[tensorboard]'`); TensorFlow is not needed.

One NodeDef per dualgraph node, in creation order:
- `name`: the node's name; its `a/b/` scopes (name_scope, `gradients/`) are TensorBoard's name
  scopes, which the graph view folds into boxes;
- `op`: the op's registered name (`matmul`, `placeholder`, `cond`, ...);
- `input`: the names of the nodes whose outputs it reads, in argument order (every dualgraph node
  has one output, so no `:k` suffix), then the control edges `^name` (a read of a variable after a
  write, an assign after the reads of the value it overwrites, random draws in program order:
  networkx_view.py's control edges);
- `attr`: `_output_shapes` (the static shape; an unknown dim is -1), `dtype` (the output dtype;
  the tuple a control-flow op returns is DT_VARIANT), and the op's plain attributes (numbers,
  strings, bools, dtypes and lists of those; others as a short text); a small constant's value as
  a TensorProto; a literal argument (`gt(relu, 0)`) as `_literal_inputs` ("1=0").
A `cond` / `while_loop` is one node; with `subgraphs=True` (the default) the nodes of its
subgraphs are drawn in the scope `<node>/<part>/` (`true_fn`, `false_fn`, `cond`, `body`), each
subgraph placeholder reading the outer tensor that feeds it, and the control-flow node takes a
control edge from each subgraph output, so the box sits between its inputs and its users.
"""
import os

import numpy as np

from .errors import ExportError, require

_MAX_CONST = 64          # constants with at most this many elements carry their value
_MAX_TEXT = 200          # characters of an attribute written as text

_DTYPES = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF",
           "int8": "DT_INT8", "int16": "DT_INT16", "int32": "DT_INT32", "int64": "DT_INT64",
           "uint8": "DT_UINT8", "uint16": "DT_UINT16", "uint32": "DT_UINT32",
           "uint64": "DT_UINT64", "bool": "DT_BOOL", "complex64": "DT_COMPLEX64",
           "complex128": "DT_COMPLEX128"}


def _protos():
    require("tensorboard", "tensorboard", "to_tensorboard")
    from tensorboard.compat.proto import (graph_pb2, node_def_pb2, attr_value_pb2, types_pb2,
                                          tensor_shape_pb2, tensor_pb2, event_pb2, versions_pb2)
    return graph_pb2, node_def_pb2, attr_value_pb2, types_pb2, tensor_shape_pb2, tensor_pb2, event_pb2, versions_pb2


def tf_dtype(types_pb2, dtype):
    """The TensorFlow DataType enum of a numpy dtype (DT_VARIANT for anything else)."""
    name = _DTYPES.get(np.dtype(dtype).name, "DT_VARIANT")
    return types_pb2.DataType.Value(name)


def _same_dtype(v, dt):
    try:
        return np.dtype(v) == np.dtype(dt)
    except TypeError:
        return False


def _subject(graph_or_fn, args):
    from ..graph.core import Graph
    from ..tensor import Tensor
    if isinstance(graph_or_fn, Graph):
        if args:
            raise ExportError("example arguments are for a dg.function, not a Graph")
        return graph_or_fn
    if isinstance(graph_or_fn, Tensor):  # an eager tensor: the tape that made it
        from .tape import tape_graph
        return tape_graph(graph_or_fn)
    if hasattr(graph_or_fn, "graph_for"):
        if args:
            return graph_or_fn.graph_for(*args)
        traces = getattr(graph_or_fn, "_traces", None)
        if not traces:
            raise ExportError("this dg.function has no trace yet: call it once, or pass example "
                              "arguments (to_tensorboard(fn, logdir, x, ...))")
        return traces[-1].graph
    raise ExportError(f"to_tensorboard needs a dg.Graph, a dg.function or an eager tensor, got "
                      f"{type(graph_or_fn).__name__}")


class _Builder:
    def __init__(self, subgraphs):
        (self.graph_pb2, self.node_def_pb2, self.attr_value_pb2, self.types_pb2,
         self.tensor_shape_pb2, self.tensor_pb2, _, self.versions_pb2) = _protos()
        self.subgraphs = subgraphs
        self.gd = self.graph_pb2.GraphDef()
        self.gd.versions.producer = 1

    # ---- attributes
    def shape_proto(self, shape):
        sp = self.tensor_shape_pb2.TensorShapeProto()
        for d in shape:
            sp.dim.add(size=-1 if d is None else int(d))
        return sp

    def attr(self, v):
        """An AttrValue for a plain attribute value, or None to write it as text."""
        A = self.attr_value_pb2.AttrValue
        if isinstance(v, (bool, np.bool_)):
            return A(b=bool(v))
        if isinstance(v, (int, np.integer)) and -(1 << 63) <= int(v) < (1 << 63):
            return A(i=int(v))
        if isinstance(v, (float, np.floating)):
            return A(f=float(v))
        if isinstance(v, str):
            return A(s=v[:_MAX_TEXT].encode())
        if isinstance(v, np.dtype) or (isinstance(v, type) and issubclass(v, np.generic)):
            return A(type=tf_dtype(self.types_pb2, v))
        if isinstance(v, (tuple, list)) and v:
            if all(isinstance(x, (bool, np.bool_)) for x in v):
                return A(list=A.ListValue(b=[bool(x) for x in v]))
            if all(isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)) for x in v):
                return A(list=A.ListValue(i=[int(x) for x in v]))
            if all(isinstance(x, (float, np.floating, int, np.integer)) for x in v):
                return A(list=A.ListValue(f=[float(x) for x in v]))
            if all(isinstance(x, str) for x in v):
                return A(list=A.ListValue(s=[x[:_MAX_TEXT].encode() for x in v]))
        if isinstance(v, tuple) and all(d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool)) for d in v):
            return A(shape=self.shape_proto(v))  # a shape with unknown dims (a placeholder's)
        if v is None or isinstance(v, (tuple, list)):
            return A(s=repr(v)[:_MAX_TEXT].encode())
        return None

    def text(self, v):
        name = getattr(v, "name", None)
        if hasattr(v, "shape") and hasattr(v, "dtype"):
            s = f"<{type(v).__name__} {list(np.shape(v))} {getattr(v.dtype, 'name', v.dtype)}>"
        elif isinstance(name, str):
            s = f"<{type(v).__name__} {name}>"
        else:
            s = repr(v)
        return self.attr_value_pb2.AttrValue(s=s[:_MAX_TEXT].encode())

    def tensor(self, arr):
        arr = np.ascontiguousarray(arr)
        t = self.tensor_pb2.TensorProto(dtype=tf_dtype(self.types_pb2, arr.dtype),
                                        tensor_shape=self.shape_proto(arr.shape))
        t.tensor_content = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        return t

    # ---- nodes
    def graph(self, g, prefix="", feeds=None, order_after=None):
        """Add g's nodes under `prefix`; feeds maps a subgraph placeholder to the outer input
        name it reads. Returns {node: written name}."""
        from ..graph.core import SymbolicTensor, CONSTANT
        from ..graph.networkx_view import to_networkx
        G = to_networkx(g, control=True)
        names = {n: prefix + n.name for n in g.nodes}
        by_name = {n.name: n for n in g.nodes}
        for n in g.nodes:
            nd = self.gd.node.add(name=names[n], op=n.op.name)
            literals = []
            for i, x in enumerate(n.inputs):
                if isinstance(x, SymbolicTensor):
                    nd.input.append(names[x.node])
                else:
                    literals.append(f"{i}={x!r}"[:_MAX_TEXT])
            if feeds is not None and n in feeds:
                nd.input.append(feeds[n])
            for u, _, control in G.in_edges(n.name, data="control", default=False):
                if control:
                    nd.input.append("^" + prefix + by_name[u].name)
            if order_after and n in order_after:
                nd.input.extend("^" + s for s in order_after[n])
            A = self.attr_value_pb2.AttrValue
            nd.attr["_output_shapes"].CopyFrom(A(list=A.ListValue(shape=[self.shape_proto(n.out.shape)])))
            nd.attr["dtype"].CopyFrom(A(type=tf_dtype(self.types_pb2, n.out._dtype)))
            if literals:
                nd.attr["_literal_inputs"].CopyFrom(A(list=A.ListValue(s=[s.encode() for s in literals])))
            for k, v in n.attrs.items():
                key = k
                if k == "dtype":  # the output dtype is written above; another one apart
                    if v is None or _same_dtype(v, n.out._dtype):
                        continue
                    key = "attr_dtype"
                if n.op is CONSTANT and k == "value":
                    arr = np.asarray(v)
                    if arr.size <= _MAX_CONST and arr.dtype.name in _DTYPES:
                        nd.attr["value"].tensor.CopyFrom(self.tensor(arr))
                    else:
                        nd.attr["value"].CopyFrom(self.text(arr))
                    continue
                if n.op.subgraphs and k in ("branches", "cond", "body"):
                    continue
                a = self.attr(v)
                if k == "shape" and a is not None and a.HasField("list") and isinstance(v, tuple):
                    a = A(shape=self.shape_proto(v))
                nd.attr[key].CopyFrom(a if a is not None else self.text(v))
            if n.op.subgraphs and self.subgraphs:
                self.control_flow(n, names)
        return names

    def control_flow(self, n, names):
        a = n.attrs
        if "branches" in a:  # cond: frame = the inputs after the predicate
            parts = list(zip(("true_fn", "false_fn"), a["branches"]))
            frame = [x for x in n.inputs[1:]]
        else:                # while_loop: frame = the loop variables, then the captures
            parts = [("cond", a["cond"]), ("body", a["body"])]
            frame = list(n.inputs[:a["n_vars"] + a["n_caps"]])
        outs = []
        for part, b in parts:
            sub = b.graph
            feeds = {}
            for ph, k in zip(sub.feeds(), b.index):
                x = frame[k] if k < len(frame) else None
                if x is not None and hasattr(x, "node") and x.node in names:
                    feeds[ph.node] = names[x.node]
            prefix = f"{names[n]}/{part}/"
            sub_names = self.graph(sub, prefix, feeds)
            outs += [sub_names[o.node] for o in b.outputs if o.node in sub_names]
        node = next(nd for nd in reversed(self.gd.node) if nd.name == names[n])
        for o in dict.fromkeys(outs):
            node.input.append("^" + o)


def graph_def(graph_or_fn, *args, subgraphs=True):
    """The graph as a TensorFlow `GraphDef` protobuf (from the tensorboard package)."""
    b = _Builder(subgraphs)
    b.graph(_subject(graph_or_fn, args))
    return b.gd


def to_tensorboard(graph_or_fn, logdir, *args, subgraphs=True):
    """Write the graph (a dg.Graph; a dg.function's latest trace, or its trace for the example
    arguments `args`; an eager tensor's tape) to a new event file in `logdir` (created if
    needed) and return the file's path. View it with `tensorboard --logdir LOGDIR` (Graphs)."""
    gd = graph_def(graph_or_fn, *args, subgraphs=subgraphs)
    _, _, _, _, _, _, event_pb2, _ = _protos()
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    logdir = os.fspath(logdir)
    os.makedirs(logdir, exist_ok=True)
    w = EventFileWriter(logdir)
    try:
        import time
        w.add_event(event_pb2.Event(wall_time=time.time(), step=0, graph_def=gd.SerializeToString()))
        w.flush()
    finally:
        w.close()
    path = getattr(w, "_file_name", None)
    if path is None:  # (a writer that does not say: the newest event file there)
        files = [os.path.join(logdir, f) for f in os.listdir(logdir) if f.startswith("events.out.tfevents.")]
        path = max(files, key=os.path.getmtime)
    return path
