"""The exporter's converters of dualgraph's control flow (graph/control_flow.py): cond (If, its
branches ONNX subgraphs reading outer values by name), while_loop (Loop: the first test inlined
before it, the body's outputs reordered to ONNX's), tuple_get (an output of either)."""
import numpy as np

from .errors import ExportError
from .onnx_ops_common import registrar

CONVERTERS = {}
_conv = registrar(CONVERTERS)


@_conv("tuple_get")
def _tuple_get(ex, n):
    names = ex.scope.lookup(n.inputs[0].node)
    i = int(n.attrs["index"])
    if not isinstance(names, list) or i >= len(names):
        raise ExportError(f"to_onnx: node {n.name} reads output {i} of {n.inputs[0].name}, which "
                          "has no ONNX counterpart (a while_loop's kept iterations)")
    return names[i]


@_conv("cond")
def _cond(ex, n):
    pred = ex.value(n.inputs[0], np.bool_)
    if len(n.inputs[0].shape):
        pred = ex.emit("Reshape", [pred, ex.ints([])])
    outer = [ex.value(x) for x in n.inputs[1:]]
    graphs = []
    for br, label in zip(n.attrs["branches"], ("then", "else")):
        feeds = [outer[i] for i in br.index]
        graphs.append(ex.subgraph(br.graph, list(br.outputs), feeds, f"{n.name}_{label}"))
    n_out = len(n.attrs["branches"][0].outputs)
    res = ex.emit("If", [pred], n_out=n_out, then_branch=graphs[0], else_branch=graphs[1])
    return res if isinstance(res, list) else [res]


@_conv("while_loop")
def _while(ex, n):
    a = n.attrs
    nv, nc = a["n_vars"], a["n_caps"]
    body, condb = a["body"], a["cond"]
    frame = [ex.value(x) for x in n.inputs[:nv + nc]]
    specs = list(a["specs"])
    # the first test, in the enclosing graph
    (c0,) = ex.inline(condb.graph, list(condb.outputs), [frame[i] for i in condb.index])
    c0 = ex.emit("Reshape", [ex.cast(c0, condb.outputs[0]._dtype, np.bool_), ex.ints([])])
    if len(n.inputs) > nv + nc:
        m = ex.emit("Reshape", [ex.value(n.inputs[-1], np.int64), ex.ints([])])
    elif a["maximum_iterations"] is not None:
        m = ex.const(np.int64(a["maximum_iterations"]), name="max_iterations")
    else:
        m = ""
    it, cin = ex.fresh(f"{n.name}_iter"), ex.fresh(f"{n.name}_cond_in")
    carried = [ex.fresh(f"{n.name}_v{i}") for i in range(nv)]
    count = ex.fresh(f"{n.name}_count")
    body_in = ([ex.h.make_tensor_value_info(it, ex.onnx.TensorProto.INT64, []),
                ex.h.make_tensor_value_info(cin, ex.onnx.TensorProto.BOOL, [])]
               + [ex.value_info(c, s, d) for c, (s, d) in zip(carried, specs[:nv])]
               + [ex.h.make_tensor_value_info(count, ex.onnx.TensorProto.INT64, [])])
    body_frame = carried + frame[nv:]

    def extra(out_names):
        cf = out_names + frame[nv:]
        (c,) = ex.inline(condb.graph, list(condb.outputs), [cf[i] for i in condb.index])
        c = ex.emit("Reshape", [ex.cast(c, condb.outputs[0]._dtype, np.bool_), ex.ints([])])
        k = ex.emit("Add", [count, ex.const(np.int64(1), name="one")])
        return [(c, ((), np.bool_)), (k, ((), np.int64))]

    g = ex.subgraph(body.graph, list(body.outputs), [body_frame[i] for i in body.index],
                    f"{n.name}_body", body_in, extra)
    # ONNX's body outputs are (cond, carried..., ); ours came out (carried..., cond, count)
    outs = list(g.output)
    cond_out, count_out = outs[nv], outs[nv + 1]
    del g.output[:]
    g.output.extend([cond_out] + outs[:nv] + [count_out])
    res = ex.emit("Loop", [m, c0] + frame[:nv] + [ex.const(np.int64(0), name="zero")], n_out=nv + 1, body=g)
    return list(res) if isinstance(res, list) else [res]
