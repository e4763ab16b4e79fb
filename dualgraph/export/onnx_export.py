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

This module is the driver: `to_onnx`, `_resolve` (what a graph or a dg.function exports), the
`_Exporter` (names, nodes, initializers, subgraphs, and the special-value helpers every family
uses: `where` keeping a -0.0, `is_nan`, `is_neg_zero`, `sign_of`), and `_CONVERT`, the table of
converters by dualgraph op name. The converters live by the family of their op, as in
dualgraph/ops/, each module filling its own table, which this one merges:
- onnx_ops_elementwise.py: arithmetic, unary math, activations and their backward ops,
  comparisons, logical and bitwise ops, //, % and trunc division, pow, cast, where,
  masked_fill, clamp;
- onnx_ops_linalg.py: matmul, mm, bmm, dot, outer;
- onnx_ops_reductions.py: sum, mean, amax, amin, prod, logsumexp, all, any, var, std, argmax,
  argmin, softmax, log_softmax;
- onnx_ops_nn.py: linear, conv2d, max_pool2d, constant_pad, one_hot, nll_loss, cross_entropy,
  cross_entropy_backward;
- onnx_ops_shape.py: reshape, view, reshape_like, expand, broadcast_to, full_like, transpose,
  permute, squeeze, unsqueeze, cat, stack, repeat, gather, getitem, and the identities
  (identity, check_values, contiguous, clone, stop_gradient);
- onnx_ops_control_flow.py: cond, while_loop, tuple_get.
- onnx_ops_math.py: tan ... atanh, exp2, atan2, hypot, fmax, xlogy, ...; index_select, scatter_add.
- onnx_ops_indexing.py: index_add, index_copy, index_fill, scatter, scatter_reduce, masked_scatter,
  nansum, cummax / cummin, logcumsumexp, median, quantile (kthvalue and mode refused).
Random ops are refused and creation ops of constants folded, here in `_Exporter.convert`.
"""
import numpy as np

from .. import dtypes as _dt
from ..graph.core import Graph, SymbolicTensor, PLACEHOLDER, VARIABLE, CONSTANT
from .errors import ExportError
from .onnx_common import onnx_module, elem_type, ir_version_for
from . import (onnx_ops_elementwise, onnx_ops_linalg, onnx_ops_reductions, onnx_ops_nn,
               onnx_ops_shape, onnx_ops_control_flow, onnx_ops_math, onnx_ops_indexing)

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
        tr = fn._lookup(*fn._signature(args, {}))
        leaves, hidden = tr.out_leaves, plan.hidden
    except AttributeError:
        return None
    if tr is None or not isinstance(hidden, range):
        return None
    # Replays how the trace appended its fetches (graph/function.py, _out_structure): a
    # tensor (_T) or number (_S) leaf names its fetch; an argument (_A), a view (_W) or a
    # captured tensor (_V) returned took the next one; a leaf seen before is the same object;
    # a tensor that eagerly is an argument at some runs (_E) took its flags' fetches too.
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
        elif kind == _fn._E:  # (its value's fetch, then its alternatives': the value is exported)
            _, (_, i), taken = x
            if i != k:
                return None
            k += taken
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

    def nested_scope(self):
        """Write into a new ONNX graph inside the current one (a converter's own Loop body);
        the enclosing scope, which the caller puts back in `self.scope`."""
        saved = self.scope
        self.scope = _Scope(saved)
        return saved

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
for _family in (onnx_ops_elementwise, onnx_ops_linalg, onnx_ops_reductions, onnx_ops_nn,
                onnx_ops_shape, onnx_ops_control_flow, onnx_ops_math, onnx_ops_indexing):
    assert not _CONVERT.keys() & _family.CONVERTERS.keys(), "an op converted by two families"
    _CONVERT.update(_family.CONVERTERS)
del _family
