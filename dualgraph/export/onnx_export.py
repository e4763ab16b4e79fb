"""`to_onnx`: a dualgraph graph (or a `dg.function`'s trace) as an ONNX model.

Feeds become graph inputs (an unknown dim is a `dim_param`), variables and constants become
initializers, every other node one or a few ONNX nodes (`_CONVERT`, by op name). Where
dualgraph promotes dtypes (an int tensor plus a float one, a mean of ints) a Cast makes the
ONNX inputs the type the node computes in. `cond` becomes If and `while_loop` Loop: their
subgraphs become ONNX subgraphs that read outer values by name. An op with no mapping is an
ExportError naming the node. Needs the `onnx` package (`pip install 'dualgraph[onnx]'`).

onnxruntime gives the numbers dualgraph gives, special values included (bitwise where
dualgraph's numpy kernel is exact): where an ONNX op differs (ReduceMax, ArgMax and MaxPool skip
NaNs, Sign(NaN) is NaN, Clip's missing bound is +-FLT_MAX, ReduceMean of nothing is 0, integer
Pow and Div go through floats, Where drops the sign of an x zero) the converter spells out
numpy's arithmetic (npy_divmod for // and %, sqrt for ** 0.5, ...). What ONNX cannot say (a
run-time error, such as an integer tensor to a negative Python power) is an ExportError.
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

    A dg.function's outputs are the tensors its result holds, in order, one ONNX output each
    (a tensor returned twice is two outputs); a Python value returned is not exported.
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
            order = _leaf_fetches(obj, args, plan)
            if order is None:  # (no output structure to follow: every fetch once)
                order = [i for i in range(len(plan.fetches)) if i not in plan.hidden]
            outs = [graph.get_tensor_by_name(plan.fetches[i]) for i in order]
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


def _leaf_fetches(fn, args, plan):
    """The plan's fetch of each tensor leaf of the function's result, in the result's order,
    then the arguments' gradients it writes back; None where that order cannot be read. The
    plan fetches a tensor returned twice (`return y, y`) once, but the function returns it
    twice: two ONNX outputs. Python values returned (not tensors) have no output."""
    from ..graph import function as _fn
    from ..tensor import Tensor
    try:
        tr = fn._lookup(fn._signature(args, {})[0])
        leaves, hidden = tr.out_leaves, plan.hidden
    except AttributeError:
        return None
    if tr is None or not isinstance(hidden, range):
        return None
    # Replays how the trace appended its fetches (graph/function.py, _out_structure): a
    # tensor (_T) or number (_S) leaf names its fetch; an argument (_A), a view (_W) or a
    # captured tensor (_V) returned took the next one; a leaf seen before is the same object.
    order, first, k = [], {}, 0
    for leaf in leaves:
        kind, x = leaf
        if id(leaf) in first:
            order.append(first[id(leaf)])
            continue
        if kind in (_fn._T, _fn._S):
            if x != k:
                return None
            i = x
        elif kind in (_fn._A, _fn._W) or (kind == _fn._V and isinstance(x, Tensor)):
            i = k
        else:
            continue
        k += 1
        first[id(leaf)] = i
        order.append(i)
    if k != hidden.start:
        return None
    return order + list(range(hidden.stop, len(plan.fetches)))


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

    def where(self, c, x, y, dtype, x_neg0=True, y_neg0=True, name=None):
        """Where(c, x, y) with the sign of a zero kept. onnxruntime's Where gives +0.0 for an
        element taken from x that is a zero of either sign (it merges the two selections on
        x != 0), and its optimizer turns Where(Not(c), x, y) into Where(c, y, x): either side
        may lose a -0.0. Where a side may hold one (`x_neg0`, `y_neg0`: True, or "all" for a
        side that is the number -0.0) on a float dtype, the zeros whose sign is not the chosen
        value's are multiplied by -1 (exact; a multiplier computed at run time, which the
        optimizer's no-op elimination keeps)."""
        r = self.emit("Where", [c, x, y], name=name)
        dt = np.dtype(dtype)
        if dt.kind != "f" or not (x_neg0 or y_neg0):
            return r
        parts = []
        for side, sel, v in ((x_neg0, c, x), (y_neg0, None, y)):
            if side:
                sel = sel or self.emit("Not", [c])
                parts.append(sel if side == "all" else self.emit("And", [sel, self.is_neg_zero(v, dt)]))
        want = parts[0] if len(parts) == 1 else self.emit("Or", parts)
        wrong = self.xor(want, self.is_neg_zero(r, dt))   # (false wherever r is not a zero)
        return self.emit("Mul", [r, self.emit("Where", [wrong, self.const(-1, dt, "minus_one"),
                                                        self.const(1, dt, "one")])])

    def xor(self, a, b):
        """a != b of two bool tensors (Equal and Not: ops dualgraph's importer reads too)."""
        return self.emit("Not", [self.emit("Equal", [a, b])])

    def is_nan(self, x):
        return self.emit("Not", [self.emit("Equal", [x, x])])

    def is_neg_zero(self, x, dtype):
        """x == -0.0 (1 / -0.0 is -inf), elementwise."""
        zero = self.const(0, dtype, "zero")
        inv = self.emit("Div", [self.const(1, dtype, "one"), x])
        return self.emit("And", [self.emit("Equal", [x, zero]), self.emit("Less", [inv, zero])])

    def sign_of(self, m, like, dtype):
        """m (>= 0, or NaN) with the sign bit of `like` (copysign; ONNX has none)."""
        zero = self.const(0, dtype, "zero")
        neg = self.emit("Or", [self.emit("Less", [like, zero]), self.is_neg_zero(like, dtype)])
        return self.emit("Mul", [m, self.emit("Where", [neg, self.const(-1, dtype, "minus_one"),
                                                         self.const(1, dtype, "one")])])

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
                     ("maximum", "Max"), ("minimum", "Min"), ("neg", "Neg"),
                     ("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt"), ("tanh", "Tanh"),
                     ("sigmoid", "Sigmoid"), ("relu", "Relu"), ("abs", "Abs"), ("sin", "Sin"),
                     ("cos", "Cos"), ("matmul", "MatMul"), ("mm", "MatMul"),
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


@_conv("sign")
def _sign(ex, n):
    """Sign, but 0 at NaN (dualgraph and PyTorch; ONNX's Sign gives NaN)."""
    dt = ex.out_dtype(n)
    (x,) = ex.ins(n, dt)
    s = ex.emit("Sign", [x])
    if np.dtype(dt).kind != "f":
        return s
    return ex.emit("Where", [ex.is_nan(x), ex.const(0, dt, "zero"), s])


@_conv("log1p")
def _log1p(ex, n):
    """log1p (ONNX has none) as log(u) * (x / (u - 1)), u = 1 + x: accurate to a few ulps where
    Log(1 + x) loses every digit of a small x; x itself where u is 1 (a tiny x, or -0.0,
    whose sign is kept), inf at inf."""
    out = ex.out_dtype(n)
    dt = _divmod_dtype(out)  # (float16: numpy computes it in float32)
    x = ex.cast(ex.value(n.inputs[0], out), out, dt)
    one = ex.const(1, dt, "one")
    u = ex.emit("Add", [x, one])
    # (x / (u - 1) is near 1: no overflow of log(u) * x at a huge x)
    r = ex.emit("Mul", [ex.emit("Log", [u]), ex.emit("Div", [x, ex.emit("Sub", [u, one])])])
    r = ex.emit("Where", [ex.emit("Equal", [u, ex.const(np.inf, dt, "inf")]), u, r])
    # (r is never a zero where u != 1)
    return ex.cast(ex.where(ex.emit("Equal", [u, one]), x, r, dt, y_neg0=False), dt, out)


# numpy's power with a one-element exponent (a Python number, a 0-d tensor) on float32 and
# float64: sqrt for 0.5 ((-inf) ** 0.5 is NaN, (-0.0) ** 0.5 is -0.0, where pow gives inf and
# 0.0), 1 / x for -1, x * x for 2 (onnxruntime's Pow by a scalar 2 is x * x too); its pow
# otherwise (float16 always).
_POW_FAST = (0.5, -1.0)


def _one_number(t):
    """Whether numpy's power sees the exponent t as one number: one element, or a broadcast
    view of one (expand / broadcast_to: every stride 0)."""
    while True:
        if all(d is not None for d in t.shape) and int(np.prod(t.shape)) == 1:
            return True
        if t.node.op.name not in ("expand", "broadcast_to") or not isinstance(t.node.inputs[0], SymbolicTensor):
            return False
        t = t.node.inputs[0]


def _pow_fast(ex, x, e, dt):
    if e == 0.5:
        return ex.emit("Sqrt", [x])
    return ex.emit("Div", [ex.const(1, dt, "one"), x])


@_conv("pow")
def _pow(ex, n):
    dt = np.dtype(ex.out_dtype(n))
    a, b = n.inputs
    if dt.kind in "iu":
        return _int_pow(ex, n, dt)
    x = ex.value(a, dt)
    fast = dt in (np.float32, np.float64)
    e = _number(b)
    if e is not None:
        e = float(np.asarray(e).astype(dt))
        if fast and e in _POW_FAST:
            return _pow_fast(ex, x, e, dt)
        return ex.emit("Pow", [x, ex.const(e, dt, "exponent")])
    y = ex.value(b, dt)
    r = ex.emit("Pow", [x, y])
    if not fast or not _one_number(b):
        return r
    # a one-element exponent read at run time: which of numpy's paths, decided then
    for v in _POW_FAST:
        hit = ex.emit("Equal", [y, ex.const(v, dt, "exponent")])
        r = ex.where(hit, _pow_fast(ex, x, v, dt), r, dt)
    return r


def _int_pow(ex, n, dt):
    """Integer powers, exact (onnxruntime's integer Pow goes through double and saturates):
    square and multiply in int64, wrapping as numpy does, then cast to dt (the same bits mod
    2**8, 2**16, 2**32). A negative exponent gives 1 / a ** |b| truncated (dualgraph)."""
    a, b = n.inputs
    wide = np.dtype(np.int64)
    x = ex.cast(ex.value(a, dt), dt, wide)
    e = _number(b)
    if e is not None:
        e = int(np.asarray(e).astype(dt))   # (a Python int beyond dt wraps, as in the kernel)
        if e < 0:
            raise ExportError(f"to_onnx: node {n.name} (pow) raises an integer tensor to the negative "
                              f"power {e}, which dualgraph refuses at run time (integers to negative "
                              "integer powers are not allowed)")
        return ex.cast(_int_pow_const(ex, x, e, wide), wide, dt)
    y = ex.cast(ex.value(b, dt), dt, wide)
    zero, one = ex.const(0, wide, "zero"), ex.const(1, wide, "one")
    # both broadcast to the result's shape (a Python number base: 2 ** k)
    xb = ex.emit("Add", [x, ex.emit("Mul", [y, zero])])
    yb = ex.emit("Add", [y, ex.emit("Mul", [x, zero])])
    pos = ex.emit("Max", [yb, zero])
    r = _int_pow_loop(ex, xb, pos, wide)
    # b < 0: 1 for a == 1, +-1 (by the parity of b) for a == -1, else 0
    odd = ex.emit("Equal", [ex.emit("Mod", [yb, ex.const(2, wide, "two")], fmod=0), one])
    minus1 = ex.const(-1, wide, "minus_one")
    at_minus1 = ex.emit("Where", [odd, minus1, one])
    neg = ex.emit("Where", [ex.emit("Equal", [xb, one]), one,
                            ex.emit("Where", [ex.emit("Equal", [xb, minus1]), at_minus1, zero])])
    r = ex.emit("Where", [ex.emit("Less", [yb, zero]), neg, r])
    return ex.cast(r, wide, dt)


def _int_pow_const(ex, x, e, dt):
    if e == 0:
        return ex.emit("Add", [ex.emit("Mul", [x, ex.const(0, dt, "zero")]), ex.const(1, dt, "one")])
    r, sq = None, x
    while True:
        if e & 1:
            r = sq if r is None else ex.emit("Mul", [r, sq])
        e >>= 1
        if not e:
            return r
        sq = ex.emit("Mul", [sq, sq])


def _int_pow_loop(ex, x, e, dt):
    """x ** e (e >= 0, both of x's shape), a Loop over e's bits: at most 63 turns (int64),
    fewer where every exponent's bits run out sooner."""
    h, T = ex.h, ex.onnx.TensorProto
    et = elem_type(ex.onnx, dt)
    it, cin, r, sq, k = (ex.fresh(f"{ex.node.name}_pow_{v}") for v in ("iter", "cond", "r", "sq", "e"))
    saved = ex.scope
    ex.scope = _Scope(saved)
    zero, one, two = (ex.const(v, dt, nm) for v, nm in ((0, "zero"), (1, "one"), (2, "two")))
    bit = ex.emit("Equal", [ex.emit("Mod", [k, two], fmod=0), one])
    r2 = ex.emit("Where", [bit, ex.emit("Mul", [r, sq]), r])
    sq2 = ex.emit("Mul", [sq, sq])
    k2 = ex.emit("Div", [k, two])
    more = ex.emit("Greater", [ex.emit("ReduceMax", [k2], keepdims=0), zero])
    outs = [(more, T.BOOL), (r2, et), (sq2, et), (k2, et)]
    names = [ex.fresh(f"{ex.node.name}_pow_out") for _ in outs]
    for (src, _), o in zip(outs, names):
        ex.scope.nodes.append(h.make_node("Identity", [src], [o], name=ex.fresh(o + "/Identity")))
    body = h.make_graph(ex.scope.nodes, ex.fresh(f"{ex.node.name}_pow_body"),
                        [h.make_tensor_value_info(it, T.INT64, []), h.make_tensor_value_info(cin, T.BOOL, []),
                         h.make_tensor_value_info(r, et, None), h.make_tensor_value_info(sq, et, None),
                         h.make_tensor_value_info(k, et, None)],
                        [h.make_tensor_value_info(o, t, [] if t == T.BOOL else None)
                         for o, (_, t) in zip(names, outs)])
    ex.scope = saved
    r0 = ex.emit("Add", [ex.emit("Mul", [x, ex.const(0, dt, "zero")]), ex.const(1, dt, "one")])
    go = ex.emit("Greater", [ex.emit("ReduceMax", [e], keepdims=0), ex.const(0, dt, "zero")])
    res = ex.emit("Loop", [ex.const(np.int64(64), name="max_turns"), go, r0, x, e], n_out=3, body=body)
    return res[0]


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


def _divmod_dtype(dt):
    """The dtype a float floor division / remainder is computed in: numpy's float16 loops
    compute in float32 and round the result."""
    return np.dtype(np.float32) if np.dtype(dt) == np.float16 else np.dtype(dt)


def _float_fmod_adjust(ex, a, b, dt):
    """(C's fmod(a, b), where numpy's divmod moves it by b): the remainder nonzero (NaN too)
    and of the other sign than b."""
    zero = ex.const(0, dt, "zero")
    mod = ex.emit("Mod", [a, b], fmod=1)   # exact, the dividend's sign (a zero too); NaN at b == 0
    nonzero = ex.emit("Not", [ex.emit("Equal", [mod, zero])])
    other = ex.xor(ex.emit("Less", [b, zero]), ex.emit("Less", [mod, zero]))
    return mod, ex.emit("And", [nonzero, other])


@_conv("floor_divide")
def _floor_divide(ex, n):
    dt = ex.out_dtype(n)
    if np.dtype(dt).kind == "f":
        return _float_floor_divide(ex, n, dt)
    if np.dtype(dt).kind not in "iu":
        raise ExportError(f"to_onnx: node {n.name} (floor_divide) on {np.dtype(dt).name} has no ONNX mapping")
    # exact integer arithmetic (a float64 quotient loses large int64s): the narrower integers
    # in int64 (no overflow there), cast back with numpy's wrap (int8: -128 // -1 is -128)
    wide = np.dtype(np.int64)
    a, b = [ex.value(x, dt) for x in n.inputs]
    a, b = ex.cast(a, dt, wide), ex.cast(b, dt, wide)
    base = n.name
    one = ex.const(1, wide, "one")
    zero = ex.const(0, wide, "zero")
    minus1 = ex.emit("Equal", [b, ex.const(-1, wide, "minus_one")], name=f"{base}/by_minus_one")
    # INT64_MIN / -1 traps (SIGFPE) in onnxruntime's Div: divide by 1 there and negate (numpy
    # wraps it to INT64_MIN); a zero divisor stays, onnxruntime fails the run as dualgraph raises
    safe = ex.emit("Where", [minus1, one, b], name=f"{base}/divisor")
    q = ex.emit("Div", [a, safe], name=f"{base}/trunc")           # rounds toward zero
    q = ex.emit("Mul", [q, ex.emit("Where", [minus1, ex.const(-1, wide, "minus_one"), one])])
    r = ex.emit("Sub", [a, ex.emit("Mul", [q, b])], name=f"{base}/rem")   # exact, wraps
    down = ex.emit("And", [ex.emit("Not", [ex.emit("Equal", [r, zero])]),
                           ex.xor(ex.emit("Less", [r, zero]), ex.emit("Less", [b, zero]))],
                   name=f"{base}/round_down")
    q = ex.emit("Sub", [q, ex.emit("Cast", [down], to=elem_type(ex.onnx, wide))])
    return ex.cast(q, wide, dt)


def _float_floor_divide(ex, n, dt):
    """numpy's float floor division (npy_divmod): (a - fmod(a, b)) / b moved down by one where
    the remainder had the other sign than b, then floored and snapped to the nearest integer;
    a zero quotient takes the sign of a / b; a / b itself at b == 0. So inf // 2 is NaN and
    -5 // inf is -1, as in dualgraph (and PyTorch)."""
    wt = _divmod_dtype(dt)
    a, b = [ex.cast(ex.value(x, dt), dt, wt) for x in n.inputs]
    zero, one = ex.const(0, wt, "zero"), ex.const(1, wt, "one")
    mod, adjust = _float_fmod_adjust(ex, a, b, wt)
    div = ex.emit("Div", [ex.emit("Sub", [a, mod]), b])
    div = ex.emit("Where", [adjust, ex.emit("Sub", [div, one]), div])   # (a zero is handled below)
    fl = ex.emit("Floor", [div])
    up = ex.emit("Greater", [ex.emit("Sub", [div, fl]), ex.const(0.5, wt, "half")])
    fl = ex.emit("Where", [up, ex.emit("Add", [fl, one]), fl])
    # (fl is never -0.0, nor is a / 0: plain Wheres)
    q = ex.emit("Where", [ex.emit("Equal", [b, zero]), ex.emit("Div", [a, b]), fl])
    # 0 * (a / b): the signed zero (a / b is finite wherever div is 0)
    signed0 = ex.emit("Mul", [ex.emit("Div", [a, b]), zero])
    q = ex.where(ex.emit("Equal", [div, zero]), signed0, q, wt, y_neg0=False)
    return ex.cast(q, wt, dt)


@_conv("trunc_divide")
def _trunc_divide(ex, n):
    """trunc(a / b) of floats (ONNX has no Trunc): floor(|q|) with q's sign (-0.0 for
    -0.25, NaN and inf kept)."""
    dt = ex.out_dtype(n)
    q = ex.emit("Div", ex.ins(n, dt))
    return ex.sign_of(ex.emit("Floor", [ex.emit("Abs", [q])]), q, dt)


@_conv("remainder")
def _remainder(ex, n):
    dt = ex.out_dtype(n)
    if np.dtype(dt).kind in "iu":
        # Python's modulo (exact); a zero divisor fails the run in onnxruntime, as dualgraph raises
        return ex.emit("Mod", ex.ins(n, dt), fmod=0)
    # numpy's remainder: fmod moved by b where it has the other sign (NaN at b == 0, inf - x
    # NaN); a zero remainder has the dividend's sign in dualgraph, as fmod's zero has
    wt = _divmod_dtype(dt)
    a, b = [ex.cast(ex.value(x, dt), dt, wt) for x in n.inputs]
    mod, adjust = _float_fmod_adjust(ex, a, b, wt)
    # (mod + b is never a zero: |mod| < |b|)
    r = ex.where(adjust, ex.emit("Add", [mod, b]), mod, wt, x_neg0=False)
    return ex.cast(r, wt, dt)


@_conv("cast")
def _cast(ex, n):
    return ex.cast(ex.value(n.inputs[0]), n.inputs[0]._dtype, ex.out_dtype(n)) \
        if isinstance(n.inputs[0], SymbolicTensor) else ex.value(n.inputs[0], ex.out_dtype(n))


def _number(x):
    """x as a Python number where it is one (a literal operand), else None."""
    return x if isinstance(x, (bool, int, float, np.number)) and not isinstance(x, SymbolicTensor) else None


def _may_be_neg0(x):
    """Whether an operand may hold -0.0 (ex.where's x_neg0): a tensor may; a number is one
    ("all") or not."""
    v = _number(x)
    if v is None:
        return True
    return "all" if v == 0 and np.signbit(v) else False


@_conv("where")
def _where(ex, n):
    dt = ex.out_dtype(n)
    c, x, y = n.inputs
    return ex.where(ex.value(c, np.bool_), ex.value(x, dt), ex.value(y, dt), dt,
                    x_neg0=_may_be_neg0(x), y_neg0=_may_be_neg0(y))


@_conv("masked_fill")
def _masked_fill(ex, n):
    dt = ex.out_dtype(n)
    x, mask, v = n.inputs
    return ex.where(ex.value(mask, np.bool_), ex.value(v, dt), ex.value(x, dt), dt,
                    x_neg0=_may_be_neg0(v), y_neg0=_may_be_neg0(x))


@_conv("clamp")
def _clamp(ex, n):
    """numpy's clip, as dualgraph computes it: min > max makes every element max; a NaN bound
    makes every element NaN; one bound alone is maximum / minimum (Max / Min, which keep
    +-inf and propagate NaN: Clip's missing bound is the dtype's finite range, which maps
    -inf to -FLT_MAX); both bounds are Clip (a NaN input stays NaN, a zero keeps its sign)."""
    dt = np.dtype(ex.out_dtype(n))
    lo, hi = n.attrs.get("min"), n.attrs.get("max")
    x = ex.value(n.inputs[0], dt)
    bounds = [v for v in (lo, hi) if v is not None]
    fill = None
    if lo is not None and hi is not None and lo > hi:
        fill = hi
    elif dt.kind == "f" and any(np.isnan(v) for v in bounds):
        fill = np.nan
    if fill is not None:
        value = ex.h.make_tensor(ex.fresh("fill"), elem_type(ex.onnx, dt), [1],
                                 [np.asarray(fill).astype(dt).item()])
        return ex.emit("ConstantOfShape", [ex.shape_of(n.inputs[0])], value=value)
    if dt.kind == "f" and (lo is None or hi is None):
        return ex.emit("Max" if hi is None else "Min", [x, ex.const(bounds[0], dt, "bound")])
    # (integers: the missing bound is the dtype's range, exact)
    args = [x, "" if lo is None else ex.const(lo, dt, "min"), "" if hi is None else ex.const(hi, dt, "max")]
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
    """MaxPool, NaN where the window holds a NaN (onnxruntime's MaxPool skips NaNs; dualgraph
    propagates them, as PyTorch): the NaN mask pooled with the same windows, as extra channels
    of the one MaxPool."""
    a = n.attrs
    ph, pw = a["padding"]
    attrs = dict(kernel_shape=list(a["kernel_size"]), strides=list(a["stride"]), pads=[ph, pw, ph, pw],
                 dilations=list(a["dilation"]), ceil_mode=int(bool(a["ceil_mode"])))
    (x,) = ex.ins(n)
    dt = np.dtype(n.inputs[0]._dtype)
    if dt.kind != "f":
        return ex.emit("MaxPool", [x], **attrs)
    nan = ex.emit("Cast", [ex.is_nan(x)], to=elem_type(ex.onnx, dt))
    pooled = ex.emit("MaxPool", [ex.emit("Concat", [x, nan], axis=1)], **attrs)
    c, axis = ex.dim_of(n.inputs[0], 1), ex.ints([1], "axes")
    r = ex.emit("Slice", [pooled, ex.ints([0], "starts"), c, axis])
    has = ex.emit("Slice", [pooled, c, ex.ints([np.iinfo(np.int64).max], "ends"), axis])
    has = ex.emit("Greater", [has, ex.const(0, dt, "zero")])
    return ex.where(has, ex.const(np.nan, dt, "nan"), r, dt, x_neg0=False)


@_conv("softmax", "log_softmax")
def _softmax(ex, n):
    kind = "Softmax" if n.op.name == "softmax" else "LogSoftmax"
    return ex.emit(kind, ex.ins(n, ex.out_dtype(n)), axis=int(n.attrs["dim"]))


def _dims_attr(n):
    d = n.attrs.get("dim")
    if d is None or not n.inputs[0].shape:  # (dim 0 / -1 of a 0-d input is all of it: PyTorch)
        return None
    return [d] if isinstance(d, (int, np.integer)) else list(d)


_REDUCE = {"sum": "ReduceSum", "mean": "ReduceMean", "amax": "ReduceMax", "amin": "ReduceMin",
           "prod": "ReduceProd", "logsumexp": "ReduceLogSumExp"}


def _reduced_count(ex, n, dims, keep, dt):
    """How many elements each result of a reduction over dims reduces: a Python int where the
    shape says it, else a tensor of dt computed at run time."""
    shape = n.inputs[0].shape
    red = range(len(shape)) if dims is None else [d % len(shape) for d in dims]
    if all(shape[d] is not None for d in red):
        return int(np.prod([shape[d] for d in red]))
    ones = ex.emit("ConstantOfShape", [ex.shape_of(n.inputs[0])],
                   value=ex.h.make_tensor(ex.fresh("one"), elem_type(ex.onnx, dt), [1], [1]))
    return ex.axes("ReduceSum", ones, dims, keep)


def _nan_where(ex, x, r, dims, keep, dt):
    """r, NaN where the reduced slice of x holds a NaN (onnxruntime's ReduceMax and ReduceMin
    skip NaNs, or not, by position; dualgraph's amax / amin propagate them, as PyTorch)."""
    nan = ex.emit("Cast", [ex.is_nan(x)], to=elem_type(ex.onnx, np.int32))
    has = ex.emit("Cast", [ex.axes("ReduceMax", nan, dims, keep)], to=ex.onnx.TensorProto.BOOL)
    return ex.where(has, ex.const(np.nan, dt, "nan"), r, dt, x_neg0=False)


@_conv(*_REDUCE)
def _reduce(ex, n):
    dt = ex.out_dtype(n)
    x = ex.value(n.inputs[0], dt)
    dims = _dims_attr(n)
    if dims is not None and not dims:
        dims = None
    keep = n.attrs.get("keepdim", False)
    name = n.op.name
    if name == "mean" and np.dtype(dt).kind == "f":
        count = _reduced_count(ex, n, dims, keep, dt)
        if isinstance(count, int):
            if count == 0:  # 0 / 0: NaN, as numpy's mean of nothing (ReduceMean gives 0)
                return ex.emit("Div", [ex.axes("ReduceSum", x, dims, keep), ex.const(0, dt, "count")])
            return ex.axes("ReduceMean", x, dims, keep)
        empty = ex.emit("Equal", [count, ex.const(0, dt, "zero")])
        return ex.where(empty, ex.const(np.nan, dt, "nan"), ex.axes("ReduceMean", x, dims, keep), dt,
                        x_neg0=False)
    r = ex.axes(_REDUCE[name], x, dims, keep)
    if name in ("amax", "amin") and np.dtype(dt).kind == "f":
        r = _nan_where(ex, x, r, dims, keep, dt)
    return r


@_conv("all", "any")
def _all_any(ex, n):
    """A count of the elements that are not zero (NaN is not: numpy's truth): all when none
    is zero, any when some is not (0.5 is true; Cast to an integer would make it 0, and an
    empty ReduceMax is the dtype's lowest, not 0)."""
    src = n.inputs[0]
    x = ex.value(src)
    nonzero = x if src._dtype == np.bool_ else \
        ex.emit("Not", [ex.emit("Equal", [x, ex.const(0, src._dtype, "zero")])])
    dims = _dims_attr(n) or None
    keep = n.attrs.get("keepdim", False)
    i64 = np.dtype(np.int64)
    if n.op.name == "all":
        zeros = ex.emit("Cast", [ex.emit("Not", [nonzero])], to=elem_type(ex.onnx, i64))
        r = ex.emit("Equal", [ex.axes("ReduceSum", zeros, dims, keep), ex.const(0, i64, "zero")])
    else:
        ones = ex.emit("Cast", [nonzero], to=elem_type(ex.onnx, i64))
        r = ex.emit("Greater", [ex.axes("ReduceSum", ones, dims, keep), ex.const(0, i64, "zero")])
    return ex.cast(r, np.bool_, ex.out_dtype(n))  # (uint8 in, uint8 out: PyTorch)


@_conv("var", "std")
def _var(ex, n):
    """sum((x - mean)**2) / max(N - correction, 0) (numpy's divisor: NaN, never negative, at
    N <= correction); float32 in float64, where dualgraph takes a float32 variance whose squares
    could overflow or underflow (PyTorch accumulates in double on CPU)."""
    out = ex.out_dtype(n)
    dt = np.dtype(np.float64) if np.dtype(out) == np.float32 else np.dtype(out)
    x = ex.cast(ex.value(n.inputs[0], out), out, dt)
    dims = _dims_attr(n) or None
    keep = n.attrs.get("keepdim", False)
    mean = ex.axes("ReduceMean", x, dims, True)
    d = ex.emit("Sub", [x, mean])
    ss = ex.axes("ReduceSum", ex.emit("Mul", [d, d]), dims, keep)
    corr = n.attrs.get("correction", 1)
    count = _reduced_count(ex, n, dims, keep, dt)
    if isinstance(count, int):
        denom = ex.const(max(count - corr, 0), dt, "count")
    else:
        denom = ex.emit("Max", [ex.emit("Sub", [count, ex.const(corr, dt, "correction")]),
                                ex.const(0, dt, "zero")])
    v = ex.emit("Div", [ss, denom])
    if n.op.name == "std":
        v = ex.emit("Sqrt", [v])
    return ex.cast(v, dt, out)


@_conv("argmax", "argmin")
def _argmax(ex, n):
    """ArgMax / ArgMin (the first of equal values, as numpy), but the first NaN's index where
    the slice holds one (numpy and PyTorch; onnxruntime's compares skip NaNs)."""
    src = n.inputs[0]
    x = ex.value(src)
    kind = "ArgMax" if n.op.name == "argmax" else "ArgMin"
    d = n.attrs.get("dim")
    keep = bool(n.attrs.get("keepdim"))
    if not src.shape:  # (a 0-d input: index 0, a 0-d result, keepdim or not)
        d, keep = None, False
    if d is None:
        x = ex.emit("Reshape", [x, ex.ints([-1])])
        axis, k = 0, False
    else:
        axis, k = int(d), keep
    r = ex.emit(kind, [x], axis=axis, keepdims=int(k))
    if np.dtype(src._dtype).kind == "f":
        nan = ex.emit("Cast", [ex.is_nan(x)], to=elem_type(ex.onnx, np.int32))
        first = ex.emit("ArgMax", [nan], axis=axis, keepdims=int(k))
        has = ex.emit("Cast", [ex.axes("ReduceMax", nan, [axis], k)], to=ex.onnx.TensorProto.BOOL)
        r = ex.emit("Where", [has, first, r])
    if d is None and keep:
        r = ex.emit("Reshape", [r, ex.ints([1] * len(src.shape))])
    return r


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
    if not x.shape:  # (0-d: index 0 is the only one, x itself; GatherElements needs rank >= 1)
        return ex.emit("Identity", [ex.value(x)])
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
