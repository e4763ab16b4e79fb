"""`to_onnx`: a dualgraph graph (or a `dg.function`'s trace) as an ONNX model.

Feeds become graph inputs (an unknown dim is a `dim_param`), variables and constants become
initializers, every other node one or a few ONNX nodes (`_CONVERT`, by op name). Where
dualgraph promotes dtypes (an int tensor plus a float one, a mean of ints) a Cast makes the
ONNX inputs the type the node computes in. `cond` becomes If and `while_loop` Loop: their
subgraphs become ONNX subgraphs that read outer values by name. An op with no mapping is an
ExportError naming the node. Needs the `onnx` package (`pip install 'dualgraph[onnx]'`).
"""
import numpy as np

from .. import dtypes as _dt
from ..graph.core import Graph, SymbolicTensor, PLACEHOLDER, VARIABLE, CONSTANT
from ..ops.common import Slot
from .errors import ExportError
from .onnx_common import onnx_module, elem_type, ir_version_for

__all__ = ["to_onnx"]

_RANDOM = {"rand", "randn", "randint", "rand_like", "randn_like", "normal_like", "uniform_like",
           "bernoulli_keep"}
_CREATION = {"arange", "eye", "full", "empty", "linspace"}


def to_onnx(graph_or_fn, path=None, opset=18, *, inputs=None, outputs=None, example_args=None,
            check=True):
    """An ONNX ModelProto of a graph (its placeholders, or `inputs`, fed; `outputs` fetched) or
    of a `dg.function` traced for `example_args`; written to `path` when given.

    A trace has the example's static shapes. For a dim left open (a None batch), call the
    function while building a graph on a placeholder with that dim None, and export that graph.
    Variables are written with their values now; the graph's updates (assigns) are not exported.
    `check=False` skips `onnx.checker.check_model(model, full_check=True)`."""
    onnx = onnx_module("dg.export.to_onnx")
    graph, ins, outs, fixed = _resolve(graph_or_fn, inputs, outputs, example_args)
    ex = _Exporter(onnx, int(opset))
    gp = ex.main_graph(graph, ins, outs, fixed)
    model = onnx.helper.make_model(gp, opset_imports=[onnx.helper.make_opsetid("", int(opset))],
                                   producer_name="dualgraph", ir_version=ir_version_for(int(opset)))
    if check:
        try:
            onnx.checker.check_model(model, full_check=True)
        except Exception as e:  # noqa: BLE001 - a model onnx refuses is an export error
            raise ExportError(f"the exported ONNX model does not pass onnx.checker: {e}") from None
    if path is not None:
        onnx.save(model, str(path))
    return model


def _resolve(obj, inputs, outputs, example_args):
    """(graph, feed tensors, fetch tensors, {placeholder node id: fixed value})."""
    from ..graph.function import Function
    fixed = {}
    if isinstance(obj, Function) or hasattr(obj, "plan_for") and hasattr(obj, "graph_for"):
        if example_args is None:
            raise ExportError("to_onnx of a dg.function needs example_args to trace it with")
        args = tuple(example_args) if isinstance(example_args, (list, tuple)) else (example_args,)
        graph = obj.graph_for(*args)
        plan = obj.plan_for(*args)
        feeds = [graph.get_tensor_by_name(f.name) for f in plan.feeds]
        for s, read, _ in graph.lifted:  # Python numbers read at each call: their value now
            fixed[id(s.node)] = np.asarray(read())
        ins = [f for f in feeds if id(f.node) not in fixed and not f.name.endswith("_grad")]
        if outputs is None:
            outs = [graph.get_tensor_by_name(n) for i, n in enumerate(plan.fetches) if i not in plan.hidden]
        else:
            outs = _tensors(graph, outputs, "outputs")
        if inputs is not None:
            ins = _tensors(graph, inputs, "inputs")
        return graph, ins, outs, fixed
    if not isinstance(obj, Graph):
        raise ExportError(f"to_onnx takes a dg.Graph or a dg.function, got {type(obj).__name__}")
    if outputs is None:
        raise ExportError("to_onnx of a graph needs outputs= (the tensors to fetch)")
    outs = _tensors(obj, outputs, "outputs")
    if inputs is None:
        lifted = {id(s.node) for s, _, _ in obj.lifted}
        ins = [n.out for n in obj.nodes if n.op is PLACEHOLDER and id(n) not in lifted]
    else:
        ins = _tensors(obj, inputs, "inputs")
    for s, read, _ in obj.lifted:
        fixed[id(s.node)] = np.asarray(read())
    return obj, ins, outs, fixed


def _tensors(graph, xs, what):
    if isinstance(xs, (SymbolicTensor, str)):
        xs = [xs]
    out = []
    for x in xs:
        if isinstance(x, str):
            try:
                x = graph.get_tensor_by_name(x)
            except Exception:  # noqa: BLE001
                raise ExportError(f"to_onnx {what}: no tensor named {x!r} in the graph") from None
        if not isinstance(x, SymbolicTensor):
            raise ExportError(f"to_onnx {what} must be symbolic tensors or their names, got {type(x).__name__}")
        out.append(x)
    return out


def _needed(outs, stop=()):
    """The nodes the outputs depend on, in creation (topological) order."""
    seen, stack = {}, [o.node for o in outs]
    stop = set(stop)
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen[id(n)] = n
        if id(n) in stop:
            continue
        ins = n.inputs[:1] if n.op.name == "tuple_get" else n.inputs
        stack += [x.node for x in ins if isinstance(x, SymbolicTensor)]
    return sorted(seen.values(), key=lambda n: n.seq)


class _Scope:
    """One ONNX graph being written: its nodes, and the ONNX name of each dualgraph node."""

    def __init__(self, parent=None):
        self.parent = parent
        self.nodes = []
        self.names = {}

    def lookup(self, node):
        s = self
        while s is not None:
            if id(node) in s.names:
                return s.names[id(node)]
            s = s.parent
        return None


class _Exporter:
    def __init__(self, onnx, opset):
        self.onnx, self.h, self.opset = onnx, onnx.helper, opset
        self.inits = []
        self.var_names = {}
        self.used = set()
        self.scope = None
        self.node = None

    # ---------------------------------------------------------------- names and nodes
    def fresh(self, base):
        base = str(base).replace(":", "_") or "t"
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    def emit(self, op_type, inputs, n_out=1, name=None, **attrs):
        base = name or (self.node.name if self.node is not None else op_type)
        outs = [self.fresh(base if n_out == 1 else f"{base}_{i}") for i in range(n_out)]
        self.scope.nodes.append(self.h.make_node(op_type, list(inputs), outs,
                                                 name=self.fresh(f"{base}/{op_type}"), **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, value, dtype=None, name="const"):
        arr = np.asarray(value, dtype=dtype)
        return self.emit("Constant", [], name=name, value=self.h.make_tensor(
            self.fresh(name + "_value"), elem_type(self.onnx, arr.dtype), arr.shape,
            arr.flatten().tolist()))

    def ints(self, values, name="shape"):
        return self.const(np.asarray(list(values), np.int64), name=name)

    def init(self, arr, name):
        arr = np.array(arr, order="C")
        if arr.dtype == np.bool_:
            t = self.h.make_tensor(name, self.onnx.TensorProto.BOOL, arr.shape, arr.flatten().tolist())
        else:
            t = self.onnx.numpy_helper.from_array(arr, name)
        self.inits.append(t)
        return name

    def cast(self, name, src, dst):
        if np.dtype(src) == np.dtype(dst):
            return name
        return self.emit("Cast", [name], to=elem_type(self.onnx, dst))

    def value_info(self, name, shape, dtype, dim_params=False):
        dims = [(f"{name}_dim{i}" if dim_params else None) if d is None else int(d)
                for i, d in enumerate(shape)]
        return self.h.make_tensor_value_info(name, elem_type(self.onnx, dtype), dims)

    # ---------------------------------------------------------------- graphs
    def main_graph(self, graph, ins, outs, fixed):
        self.scope = _Scope()
        in_vi = []
        for x in ins:
            name = self.fresh(x.name)
            self.scope.names[id(x.node)] = name
            in_vi.append(self.value_info(name, x.shape, x._dtype, dim_params=True))
        for nid, value in fixed.items():
            self.scope.names.setdefault(nid, self.init(value, self.fresh("lifted")))
        self.convert_nodes(_needed(outs, [id(x.node) for x in ins]))
        out_vi = []
        for o in outs:
            name = self.fresh(o.name + "_out")
            self.scope.nodes.append(self.h.make_node("Identity", [self.value(o)], [name],
                                                     name=self.fresh(name + "/Identity")))
            out_vi.append(self.value_info(name, o.shape, o._dtype, dim_params=True))
        return self.h.make_graph(self.scope.nodes, graph.name or "dualgraph", in_vi, out_vi,
                                 initializer=self.inits)

    def convert_nodes(self, nodes):
        for n in nodes:
            if self.scope.lookup(n) is not None:
                continue
            self.node = n
            self.scope.names[id(n)] = self.convert(n)
        self.node = None

    def _enter(self, sub, outputs, feed_names):
        """Open a scope for a subgraph whose placeholders read `feed_names`, convert the nodes
        the outputs need; the outputs' names (the caller restores the scope)."""
        self.scope = _Scope(self.scope)
        for ph, nm in zip(sub.feeds(), feed_names):
            self.scope.names[id(ph.node)] = nm
        self.convert_nodes(_needed(outputs, [id(ph.node) for ph in sub.feeds()]))
        return [self.value(o) for o in outputs]

    def subgraph(self, sub, outputs, feed_names, name, extra_in=(), extra_out=None):
        """A dualgraph SubGraph as an ONNX GraphProto: its placeholders read `feed_names` (outer
        names, or the body's own inputs); `extra_out(scope)` adds outputs after its own."""
        parent, saved_node = self.scope, self.node
        out_names = self._enter(sub, outputs, feed_names)
        more = extra_out(out_names) if extra_out is not None else []
        out_vi = []
        for nm, (shape, dtype) in list(zip(out_names, [(o.shape, o._dtype) for o in outputs])) + more:
            o = self.fresh(f"{name}_out")
            self.scope.nodes.append(self.h.make_node("Identity", [nm], [o], name=self.fresh(o + "/Identity")))
            out_vi.append(self.value_info(o, shape, dtype))
        g = self.h.make_graph(self.scope.nodes, self.fresh(name), list(extra_in), out_vi)
        self.scope, self.node = parent, saved_node
        return g

    def inline(self, sub, outputs, feed_names):
        """A subgraph's nodes written into the current ONNX graph; the names of its outputs."""
        parent, saved_node = self.scope, self.node
        names = self._enter(sub, outputs, feed_names)
        parent.nodes += self.scope.nodes
        self.scope, self.node = parent, saved_node
        return names

    # ---------------------------------------------------------------- inputs of a node
    def value(self, x, dtype=None):
        """The ONNX name of a node input (a Python number becomes a constant), cast to dtype."""
        if isinstance(x, SymbolicTensor):
            name = self.scope.lookup(x.node)
            if name is None:
                raise ExportError(f"to_onnx: {x.name} is used before it is defined (not an input of the export)")
            if isinstance(name, list):
                raise ExportError(f"to_onnx: {x.name} is a tuple, used without tuple_get")
            return self.cast(name, x._dtype, dtype) if dtype is not None else name
        arr = np.asarray(x)
        if dtype is None:
            dtype = _dt.result_type(x) if isinstance(x, (bool, int, float)) else arr.dtype
        return self.const(arr.astype(dtype), name=f"{self.node.name}_scalar" if self.node else "scalar")

    def ins(self, n, dtype=None):
        return [self.value(x, dtype) for x in n.inputs]

    # ---------------------------------------------------------------- one node
    def convert(self, n):
        name = n.op.name
        if n.op is VARIABLE:
            ref = n.attrs["ref"]
            key = id(ref)
            if key not in self.var_names:
                self.var_names[key] = self.init(np.array(ref._data), self.fresh(n.name))
            return self.var_names[key]
        if n.op is CONSTANT:
            return self.init(np.array(n.attrs["value"]), self.fresh(n.name))
        if n.op is PLACEHOLDER:
            raise ExportError(f"to_onnx: placeholder {n.name} is needed by the outputs but is not "
                              "an input; pass it in inputs=")
        if name in _RANDOM:
            raise ExportError(f"to_onnx: node {n.name} (op {name}) draws random numbers; ONNX "
                              "export supports deterministic graphs only")
        if name in _CREATION and not any(isinstance(x, SymbolicTensor) for x in n.inputs):
            return self.init(np.asarray(n.op.forward(*n.inputs, **n.attrs)), self.fresh(n.name))
        fn = _CONVERT.get(name)
        if fn is None:
            raise ExportError(f"to_onnx: node {n.name} has op {name!r}, which has no ONNX mapping")
        return fn(self, n)

    def out_dtype(self, n):
        return n.out._dtype

    def rank(self, x):
        return len(x.shape) if isinstance(x, SymbolicTensor) else np.ndim(x)

    def axes(self, op_type, x, axes, keepdims):
        """A reduction with the opset's form of axes (an input since 13 for ReduceSum, since
        18 for the others; an attribute before)."""
        since = 13 if op_type == "ReduceSum" else 18
        if axes is None:
            return self.emit(op_type, [x], keepdims=int(keepdims))
        axes = [int(a) for a in axes]
        if self.opset >= since:
            return self.emit(op_type, [x, self.ints(axes, "axes")], keepdims=int(keepdims))
        return self.emit(op_type, [x], axes=axes, keepdims=int(keepdims))

    def squeeze(self, op_type, x, axes):
        axes = [int(a) for a in axes]
        if self.opset >= 13:
            return self.emit(op_type, [x, self.ints(axes, "axes")])
        return self.emit(op_type, [x], axes=axes)

    def shape_of(self, x):
        if isinstance(x, SymbolicTensor) and all(d is not None for d in x.shape):
            return self.ints(x.shape)
        return self.emit("Shape", [self.value(x)])

    def dim_of(self, x, d):
        """A 1-element int64 tensor: dim d of x (static when known)."""
        size = x.shape[d]
        if size is not None:
            return self.ints([size], "dim")
        return self.emit("Gather", [self.shape_of(x), self.ints([d % len(x.shape)], "index")], axis=0)

    def template_shape(self, n, tpl):
        """A 1-D int64 shape tensor from a `_template` of reshape_like / expand: ints, -1, and
        (k, (input position, dim), ...) products of the node's inputs' dims, read at run time."""
        if all(isinstance(e, (int, np.integer)) for e in tpl):
            return self.ints(tpl)
        parts = []
        for e in tpl:
            if isinstance(e, (int, np.integer)):
                parts.append(self.ints([e]))
                continue
            cur = None
            for pos, d in e[1:]:
                v = self.dim_of(n.inputs[pos], d)
                cur = v if cur is None else self.emit("Mul", [cur, v])
            if e[0] != 1:
                cur = self.emit("Mul", [cur, self.ints([e[0]])])
            parts.append(cur)
        return self.emit("Concat", parts, axis=0)


# ==================================================================== converters, by op name
_CONVERT = {}


def _conv(*names):
    def deco(fn):
        for nm in names:
            _CONVERT[nm] = fn
        return fn
    return deco


def _simple(op_type, same_dtype=True):
    def fn(ex, n):
        return ex.emit(op_type, ex.ins(n, ex.out_dtype(n) if same_dtype else None))
    return fn


for _name, _type in [("add", "Add"), ("sub", "Sub"), ("mul", "Mul"), ("div", "Div"),
                     ("pow", "Pow"), ("maximum", "Max"), ("minimum", "Min"), ("neg", "Neg"),
                     ("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt"), ("tanh", "Tanh"),
                     ("sigmoid", "Sigmoid"), ("relu", "Relu"), ("abs", "Abs"), ("sin", "Sin"),
                     ("cos", "Cos"), ("sign", "Sign"), ("matmul", "MatMul"), ("mm", "MatMul"),
                     ("bmm", "MatMul"), ("dot", "MatMul")]:
    _CONVERT[_name] = _simple(_type)
for _name in ("identity", "check_values", "contiguous", "clone", "stop_gradient"):
    _CONVERT[_name] = _simple("Identity")


@_conv("tanh_backward", "sigmoid_backward", "relu_backward")
def _activation_backward(ex, n):
    """g * (1 - y*y), g * y * (1 - y), and g where y > 0 (else 0): the ops the rules of tanh,
    sigmoid and relu build, spelt out."""
    dt = ex.out_dtype(n)
    g, y = ex.ins(n, dt)
    base = n.name
    if n.op.name == "relu_backward":
        off = ex.emit("LessOrEqual", [y, ex.const(0, dt, "zero")], name=f"{base}/off")
        return ex.emit("Where", [off, ex.const(0, dt, "zero"), g])
    one = ex.const(1, dt, "one")
    if n.op.name == "tanh_backward":
        yy = ex.emit("Mul", [y, y], name=f"{base}/yy")
        return ex.emit("Mul", [g, ex.emit("Sub", [one, yy], name=f"{base}/1-yy")])
    gy = ex.emit("Mul", [g, y], name=f"{base}/gy")
    return ex.emit("Mul", [gy, ex.emit("Sub", [one, y], name=f"{base}/1-y")])


@_conv("log1p")
def _log1p(ex, n):
    (x,) = ex.ins(n, ex.out_dtype(n))
    return ex.emit("Log", [ex.emit("Add", [x, ex.const(1, ex.out_dtype(n))])])


@_conv("rsqrt")
def _rsqrt(ex, n):
    (x,) = ex.ins(n, ex.out_dtype(n))
    return ex.emit("Reciprocal", [ex.emit("Sqrt", [x])])


def _compute_dtype(n):
    ops = [(x._dtype, len(x.shape)) if isinstance(x, SymbolicTensor) else x for x in n.inputs]
    return _dt.result_type(*ops)


_COMPARE = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual"}


@_conv(*_COMPARE, "ne")
def _compare(ex, n):
    ins = ex.ins(n, _compute_dtype(n))
    if n.op.name == "ne":
        return ex.emit("Not", [ex.emit("Equal", ins)])
    return ex.emit(_COMPARE[n.op.name], ins)


@_conv("logical_and", "logical_or", "logical_not")
def _logical(ex, n):
    kind = {"logical_and": "And", "logical_or": "Or", "logical_not": "Not"}[n.op.name]
    return ex.emit(kind, ex.ins(n, np.bool_))


@_conv("bitwise_and", "bitwise_or", "bitwise_not")
def _bitwise(ex, n):
    dt = ex.out_dtype(n)
    op = n.op.name.split("_")[1]  # and, or, not
    if dt == np.bool_:  # on bools, the logical ops
        return ex.emit(op.capitalize(), ex.ins(n, np.bool_))
    return ex.emit("Bitwise" + op.capitalize(), ex.ins(n, dt))


@_conv("floor_divide")
def _floor_divide(ex, n):
    dt = ex.out_dtype(n)
    if np.dtype(dt).kind == "f":
        a, b = ex.ins(n, dt)
        return ex.emit("Floor", [ex.emit("Div", [a, b])])
    a, b = ex.ins(n, np.float64)
    return ex.cast(ex.emit("Floor", [ex.emit("Div", [a, b])]), np.float64, dt)


@_conv("trunc_divide")
def _trunc_divide(ex, n):
    """trunc(a / b) of floats (ONNX has no Trunc): Ceil below zero, Floor otherwise (-0.0, inf
    and NaN kept)."""
    dt = ex.out_dtype(n)
    q = ex.emit("Div", ex.ins(n, dt))
    neg = ex.emit("Less", [q, ex.const(0, dt, "zero")])
    return ex.emit("Where", [neg, ex.emit("Ceil", [q]), ex.emit("Floor", [q])])


@_conv("remainder")
def _remainder(ex, n):
    dt = ex.out_dtype(n)
    a, b = ex.ins(n, dt)
    if np.dtype(dt).kind in "iu":
        return ex.emit("Mod", [a, b], fmod=0)
    q = ex.emit("Floor", [ex.emit("Div", [a, b])])
    return ex.emit("Sub", [a, ex.emit("Mul", [q, b])])


@_conv("cast")
def _cast(ex, n):
    return ex.cast(ex.value(n.inputs[0]), n.inputs[0]._dtype, ex.out_dtype(n)) \
        if isinstance(n.inputs[0], SymbolicTensor) else ex.value(n.inputs[0], ex.out_dtype(n))


@_conv("where")
def _where(ex, n):
    dt = ex.out_dtype(n)
    c, x, y = n.inputs
    return ex.emit("Where", [ex.value(c, np.bool_), ex.value(x, dt), ex.value(y, dt)])


@_conv("masked_fill")
def _masked_fill(ex, n):
    dt = ex.out_dtype(n)
    x, mask, v = n.inputs
    return ex.emit("Where", [ex.value(mask, np.bool_), ex.value(v, dt), ex.value(x, dt)])


@_conv("clamp")
def _clamp(ex, n):
    dt = ex.out_dtype(n)
    lo, hi = n.attrs.get("min"), n.attrs.get("max")
    args = [ex.value(n.inputs[0], dt), "" if lo is None else ex.const(lo, dt, "min"),
            "" if hi is None else ex.const(hi, dt, "max")]
    while args[-1] == "":
        args.pop()
    return ex.emit("Clip", args)


@_conv("outer")
def _outer(ex, n):
    a, b = ex.ins(n, ex.out_dtype(n))
    return ex.emit("Mul", [ex.squeeze("Unsqueeze", a, [1]), ex.squeeze("Unsqueeze", b, [0])])


@_conv("linear")
def _linear(ex, n):
    dt = ex.out_dtype(n)
    ins = ex.ins(n, dt)
    x = n.inputs[0]
    if len(x.shape) == 2:
        return ex.emit("Gemm", ins, transB=1)
    y = ex.emit("MatMul", [ins[0], ex.emit("Transpose", [ins[1]], perm=[1, 0])])
    return ex.emit("Add", [y, ins[2]]) if len(ins) > 2 else y


@_conv("conv2d")
def _conv2d(ex, n):
    a = n.attrs
    pt, pb, pl, pr = a["padding"]
    w = n.inputs[1]
    return ex.emit("Conv", ex.ins(n, ex.out_dtype(n)), kernel_shape=list(w.shape[2:]),
                   strides=list(a["stride"]), pads=[pt, pl, pb, pr], dilations=list(a["dilation"]),
                   group=int(a["groups"]))


@_conv("max_pool2d")
def _max_pool2d(ex, n):
    a = n.attrs
    ph, pw = a["padding"]
    return ex.emit("MaxPool", ex.ins(n), kernel_shape=list(a["kernel_size"]),
                   strides=list(a["stride"]), pads=[ph, pw, ph, pw],
                   dilations=list(a["dilation"]), ceil_mode=int(bool(a["ceil_mode"])))


@_conv("softmax", "log_softmax")
def _softmax(ex, n):
    kind = "Softmax" if n.op.name == "softmax" else "LogSoftmax"
    return ex.emit(kind, ex.ins(n, ex.out_dtype(n)), axis=int(n.attrs["dim"]))


def _dims_attr(n):
    d = n.attrs.get("dim")
    if d is None:
        return None
    return [d] if isinstance(d, (int, np.integer)) else list(d)


_REDUCE = {"sum": "ReduceSum", "mean": "ReduceMean", "amax": "ReduceMax", "amin": "ReduceMin",
           "prod": "ReduceProd", "logsumexp": "ReduceLogSumExp"}


@_conv(*_REDUCE)
def _reduce(ex, n):
    dt = ex.out_dtype(n)
    x = ex.value(n.inputs[0], dt)
    dims = _dims_attr(n)
    if dims is not None and not dims:
        dims = None
    return ex.axes(_REDUCE[n.op.name], x, dims, n.attrs.get("keepdim", False))


@_conv("all", "any")
def _all_any(ex, n):
    x = ex.value(n.inputs[0], np.int32)
    dims = _dims_attr(n) or None
    r = ex.axes("ReduceMin" if n.op.name == "all" else "ReduceMax", x, dims, n.attrs.get("keepdim", False))
    return ex.cast(r, np.int32, np.bool_)


@_conv("var", "std")
def _var(ex, n):
    dt = ex.out_dtype(n)
    x = ex.value(n.inputs[0], dt)
    dims = _dims_attr(n) or None
    keep = n.attrs.get("keepdim", False)
    mean = ex.axes("ReduceMean", x, dims, True)
    d = ex.emit("Sub", [x, mean])
    ss = ex.axes("ReduceSum", ex.emit("Mul", [d, d]), dims, keep)
    corr = n.attrs.get("correction", 1)
    shape = n.inputs[0].shape
    red = range(len(shape)) if dims is None else [d % len(shape) for d in dims]
    if all(shape[d] is not None for d in red):
        denom = ex.const(int(np.prod([shape[d] for d in red])) - corr, dt, "count")
    else:
        ones = ex.emit("ConstantOfShape", [ex.shape_of(n.inputs[0])],
                       value=ex.h.make_tensor(ex.fresh("one"), elem_type(ex.onnx, dt), [1], [1]))
        count = ex.axes("ReduceSum", ones, dims, keep)  # the reduced size, known at run time
        denom = ex.emit("Sub", [count, ex.const(corr, dt, "correction")])
    v = ex.emit("Div", [ss, denom])
    return v if n.op.name == "var" else ex.emit("Sqrt", [v])


@_conv("argmax", "argmin")
def _argmax(ex, n):
    x = ex.value(n.inputs[0])
    kind = "ArgMax" if n.op.name == "argmax" else "ArgMin"
    d = n.attrs.get("dim")
    if d is None:
        r = ex.emit(kind, [ex.emit("Reshape", [x, ex.ints([-1])])], axis=0, keepdims=0)
        if n.attrs.get("keepdim"):
            r = ex.emit("Reshape", [r, ex.ints([1] * len(n.inputs[0].shape))])
        return r
    return ex.emit(kind, [x], axis=int(d), keepdims=int(bool(n.attrs.get("keepdim"))))


def _static_target(shape):
    """A Reshape target from a spec: its sizes, -1 for (at most one) unknown."""
    if sum(d is None for d in shape) > 1:
        return None
    return [-1 if d is None else int(d) for d in shape]


@_conv("reshape", "view")
def _reshape(ex, n):
    shape = list(n.attrs["shape"])
    tgt = _static_target(n.out.shape)
    if tgt is not None and 0 not in tgt:
        shape = tgt
    return ex.emit("Reshape", [ex.value(n.inputs[0]), ex.ints(shape)], allowzero=int(0 in shape and -1 not in shape))


@_conv("reshape_like")
def _reshape_like(ex, n):
    x = n.inputs[0]
    tgt = _static_target(n.out.shape)
    if tgt is not None and 0 not in tgt:
        return ex.emit("Reshape", [ex.value(x), ex.ints(tgt)])
    if n.attrs.get("shape") is None:
        return ex.emit("Reshape", [ex.value(x), ex.shape_of(n.inputs[1])])
    return ex.emit("Reshape", [ex.value(x), ex.template_shape(n, n.attrs["shape"])])


@_conv("expand")
def _expand(ex, n):
    x = n.inputs[0]
    if all(d is not None for d in n.out.shape):
        return ex.emit("Expand", [ex.value(x), ex.ints(n.out.shape)])
    size = list(n.attrs["size"])
    lead = len(size) - len(x.shape)
    parts = []
    for i, e in enumerate(size):
        if isinstance(e, (int, np.integer)) and e == -1:
            parts.append(ex.dim_of(x, i - lead))
        elif isinstance(e, (int, np.integer)):
            parts.append(ex.ints([e]))
        else:
            parts.append(ex.template_shape(n, [e]))
    return ex.emit("Expand", [ex.value(x), ex.emit("Concat", parts, axis=0)])


@_conv("broadcast_to")
def _broadcast_to(ex, n):
    x = n.inputs[0]
    if all(d is not None for d in n.out.shape):
        return ex.emit("Expand", [ex.value(x), ex.ints(n.out.shape)])
    like = n.inputs[1] if len(n.inputs) > 1 else None
    if like is None:
        raise ExportError(f"to_onnx: node {n.name} (broadcast_to) has an unknown target shape")
    return ex.emit("Expand", [ex.value(x), ex.shape_of(like)])


@_conv("full_like")
def _full_like(ex, n):
    dt = ex.out_dtype(n)
    value = ex.h.make_tensor(ex.fresh("fill"), elem_type(ex.onnx, dt), [1],
                             [np.asarray(n.attrs["fill_value"]).astype(dt).item()])
    return ex.emit("ConstantOfShape", [ex.shape_of(n.inputs[0])], value=value)


@_conv("transpose")
def _transpose(ex, n):
    r = len(n.inputs[0].shape)
    perm = list(range(r))
    a, b = n.attrs["dim0"] % max(r, 1), n.attrs["dim1"] % max(r, 1)
    perm[a], perm[b] = perm[b], perm[a]
    return ex.emit("Transpose", ex.ins(n), perm=perm)


@_conv("permute")
def _permute(ex, n):
    r = len(n.inputs[0].shape)
    return ex.emit("Transpose", ex.ins(n), perm=[int(d) % r for d in n.attrs["dims"]])


@_conv("squeeze")
def _squeeze(ex, n):
    x = n.inputs[0]
    tgt = _static_target(n.out.shape)
    if tgt is not None:
        return ex.emit("Reshape", [ex.value(x), ex.ints(tgt)])
    d = n.attrs.get("dim")
    if d is None:
        return ex.emit("Squeeze", [ex.value(x)])
    dims = [d] if isinstance(d, (int, np.integer)) else list(d)
    r = len(x.shape)
    dims = [int(k) % r for k in dims if x.shape[int(k) % r] in (1, None)]
    return ex.squeeze("Squeeze", ex.value(x), dims)


@_conv("unsqueeze")
def _unsqueeze(ex, n):
    r = len(n.out.shape)
    return ex.squeeze("Unsqueeze", ex.value(n.inputs[0]), [int(n.attrs["dim"]) % r])


@_conv("cat")
def _cat(ex, n):
    return ex.emit("Concat", ex.ins(n, ex.out_dtype(n)), axis=int(n.attrs["dim"]))


@_conv("stack")
def _stack(ex, n):
    d = int(n.attrs["dim"]) % len(n.out.shape)
    parts = [ex.squeeze("Unsqueeze", v, [d]) for v in ex.ins(n, ex.out_dtype(n))]
    return ex.emit("Concat", parts, axis=d)


@_conv("repeat")
def _repeat(ex, n):
    x = n.inputs[0]
    sizes = list(n.attrs["sizes"])
    v = ex.value(x)
    lead = len(sizes) - len(x.shape)
    if lead > 0:
        v = ex.squeeze("Unsqueeze", v, list(range(lead)))
    return ex.emit("Tile", [v, ex.ints(sizes)])


@_conv("gather")
def _gather(ex, n):
    x, idx = n.inputs
    return ex.emit("GatherElements", [ex.value(x), ex.value(idx, np.int64)], axis=int(n.attrs["dim"]))


@_conv("one_hot")
def _one_hot(ex, n):
    x = ex.value(n.inputs[0], np.int64)
    depth = n.out.shape[-1]
    if depth is None:
        raise ExportError(f"to_onnx: node {n.name} (one_hot) has a number of classes known only at run time")
    return ex.emit("OneHot", [x, ex.ints([depth], "depth"), ex.const(np.array([0, 1], np.int64), name="values")],
                   axis=-1)


@_conv("nll_loss")
def _nll_loss(ex, n):
    logp, target = n.inputs
    red = n.attrs["reduction"]
    return ex.emit("NegativeLogLikelihoodLoss", [ex.value(logp), ex.value(target, np.int64)],
                   reduction=red, ignore_index=int(n.attrs["ignore_index"]))


@_conv("cross_entropy")
def _cross_entropy(ex, n):
    """log_softmax over the classes, then NegativeLogLikelihoodLoss (what the fused op fuses)."""
    x, target = n.inputs
    logp = ex.emit("LogSoftmax", [ex.value(x)], name=f"{n.name}/log_softmax", axis=1)
    return ex.emit("NegativeLogLikelihoodLoss", [logp, ex.value(target, np.int64)],
                   reduction=n.attrs["reduction"], ignore_index=int(n.attrs["ignore_index"]))


@_conv("cross_entropy_backward")
def _cross_entropy_backward(ex, n):
    """(softmax(x) - onehot(target)) * scale, scale = g (/ the count of valid rows for 'mean')
    on rows whose target is not ignore_index."""
    g, x, target = n.inputs
    c = x.shape[1]
    if c is None:
        raise ExportError(f"to_onnx: node {n.name} (cross_entropy_backward) has a number of classes "
                          "known only at run time")
    dt = ex.out_dtype(n)
    base = n.name
    t = ex.value(target, np.int64)
    soft = ex.emit("Softmax", [ex.value(x, dt)], name=f"{base}/softmax", axis=1)
    ignored = ex.emit("Equal", [t, ex.const(int(n.attrs["ignore_index"]), np.int64, "ignore_index")],
                      name=f"{base}/ignored")
    valid = ex.emit("Not", [ignored], name=f"{base}/valid")
    safe = ex.emit("Where", [valid, t, ex.const(0, np.int64, "zero")], name=f"{base}/safe")
    onehot = ex.emit("OneHot", [safe, ex.ints([c], "depth"), ex.const(np.array([0, 1], dt), name="values")],
                     name=f"{base}/onehot", axis=-1)
    validf = ex.emit("Cast", [valid], name=f"{base}/validf", to=elem_type(ex.onnx, np.dtype(dt)))
    scale = ex.value(g, dt)
    if n.attrs["reduction"] == "mean":
        count = ex.emit("ReduceSum", [validf], name=f"{base}/count", keepdims=0)
        scale = ex.emit("Div", [scale, count], name=f"{base}/per_row")
    scale = ex.emit("Mul", [scale, validf], name=f"{base}/scale")
    scale = ex.emit("Unsqueeze", [scale, ex.ints([1], "axes")], name=f"{base}/scale_col")
    diff = ex.emit("Sub", [soft, onehot], name=f"{base}/diff")
    return ex.emit("Mul", [diff, scale])


@_conv("constant_pad")
def _constant_pad(ex, n):
    x = n.inputs[0]
    pairs = [tuple(p) for p in n.attrs["pads"]]  # one (before, after) per dim; negative crops
    begins, ends = [int(p[0]) for p in pairs], [int(p[1]) for p in pairs]
    dt = ex.out_dtype(n)
    return ex.emit("Pad", [ex.value(x), ex.ints(begins + ends, "pads"),
                           ex.const(n.attrs["value"], dt, "pad_value")], mode="constant")


@_conv("getitem")
def _getitem(ex, n):
    x = n.inputs[0]
    index = tuple(n.attrs["index"])
    if Ellipsis in index:
        i = index.index(Ellipsis)
        used = sum(1 for k in index if k is not None and k is not Ellipsis)
        index = index[:i] + (slice(None),) * (len(x.shape) - used) + index[i + 1:]
    slots = [j for j, k in enumerate(index) if isinstance(k, Slot)]
    if len(slots) == 1 and len(n.inputs) == 2 and None not in index and all(
            k == slice(None) for j, k in enumerate(index) if j != slots[0]) \
            and n.inputs[1]._dtype.kind in "iu":  # x[:, idx]: one integer tensor index
        return ex.emit("Gather", [ex.value(x), ex.value(n.inputs[1], np.int64)], axis=slots[0])
    if any(isinstance(k, Slot) for k in index) or any(isinstance(k, slice) and any(
            isinstance(v, Slot) for v in (k.start, k.stop, k.step)) for k in index):
        raise ExportError(f"to_onnx: node {n.name} (getitem) uses tensor indices; only basic "
                          "slicing (ints, slices, None, ...) has an ONNX mapping")
    starts, ends, axes, steps, squeeze, unsq = [], [], [], [], [], []
    d = 0       # input dim
    od = 0      # dim in the result before squeezing ints
    for k in index:
        if k is None:
            unsq.append(od)
            od += 1
            continue
        if isinstance(k, slice):
            st, sp, step = k.start, k.stop, k.step if k.step is not None else 1
            if not (st is None and sp is None and step == 1):
                starts.append(0 if st is None else int(st))
                ends.append(np.iinfo(np.int64).max if sp is None else int(sp))
                axes.append(d)
                steps.append(int(step))
        else:
            k = int(k)
            starts.append(k)
            ends.append(k + 1 if k != -1 else np.iinfo(np.int64).max)
            axes.append(d)
            steps.append(1)
            squeeze.append(d)
        d += 1
        od += 1
    v = ex.value(x)
    if axes:
        v = ex.emit("Slice", [v, ex.ints(starts, "starts"), ex.ints(ends, "ends"),
                              ex.ints(axes, "axes"), ex.ints(steps, "steps")])
    if squeeze:
        v = ex.squeeze("Squeeze", v, squeeze)
    if unsq:
        # where each new axis lands in the result: after the kept dims and new axes before it
        final, pos = [], 0
        for k in index:
            if k is None:
                final.append(pos)
                pos += 1
            elif isinstance(k, slice):
                pos += 1
        v = ex.squeeze("Unsqueeze", v, final)
    if not axes and not squeeze and not unsq:
        v = ex.emit("Identity", [v])
    return v


# ---------------------------------------------------------------- control flow
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
