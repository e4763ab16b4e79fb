"""`from_onnx`: an ONNX model as a dualgraph graph, built with the public functions in graph mode.

Graph inputs become placeholders (a `dim_param` or an unknown dim is None), float initializers
`dg.Variable`s, the other initializers and Constant nodes constants (kept as numpy values while
an op needs them static: a Reshape's shape, a reduction's axes, a Slice's bounds). If becomes
`dg.cond` and Loop `dg.while_loop`, their bodies traced from the ONNX subgraphs. An ONNX op with
no mapping is an ExportError naming it. Needs the `onnx` package (`pip install 'dualgraph[onnx]'`).
"""
import os
import types

import numpy as np

from ..graph import builder as _builder, control_flow as _cf
from ..graph.core import SymbolicTensor
from ..nn import functional as F
from ..ops import elementwise as _E, reductions as _R, shape as S
from .errors import ExportError
from .onnx_common import onnx_module, np_dtype

__all__ = ["from_onnx", "OnnxGraph"]

# the public functions used, from their own modules (this layer may not import `dualgraph`)
dg = types.SimpleNamespace(
    Variable=_builder.Variable, constant=_builder.constant, cond=_cf.cond, while_loop=_cf.while_loop,
    div=_E.div, logical_and=_E.logical_and, logical_or=_E.logical_or, logical_not=_E.logical_not,
    maximum=_E.maximum, minimum=_E.minimum, where=_E.where, cat=S.cat, gather=S.gather,
    logsumexp=_R.logsumexp, remainder=_E.remainder, floor_divide=_E.floor_divide,
    bitwise_and=_E.bitwise_and, bitwise_or=_E.bitwise_or, bitwise_not=_E.bitwise_not)


class OnnxGraph:
    """An imported model: `.graph` (a dg.Graph), `.inputs` (its placeholders, in the model's
    input order), `.outputs` (the fetched tensors), `.input_names` / `.output_names` (the ONNX
    names), and `.run(*arrays)`: the outputs' values, a list."""

    def __init__(self, graph, inputs, outputs, input_names, output_names):
        self.graph, self.inputs, self.outputs = graph, inputs, outputs
        self.input_names, self.output_names = input_names, output_names
        self._session = None

    def run(self, *arrays):
        from ..graph.session import Session
        if len(arrays) != len(self.inputs):
            raise ExportError(f"OnnxGraph.run takes {len(self.inputs)} arrays "
                              f"({', '.join(self.input_names)}), got {len(arrays)}")
        if self._session is None:
            self._session = Session(self.graph)
        out = self._session.run(list(self.outputs), dict(zip(self.inputs, arrays)))
        return [np.asarray(o) for o in out]

    def __repr__(self):
        return f"<OnnxGraph {self.input_names} -> {self.output_names}: {len(self.graph.nodes)} nodes>"


def from_onnx(path_or_bytes):
    """Import an ONNX model (a path, bytes, or a ModelProto) as an `OnnxGraph`."""
    onnx = onnx_module("dg.export.from_onnx")
    model = _load(onnx, path_or_bytes)
    from ..graph.core import Graph
    from ..graph.builder import graph_mode
    opsets = {o.domain: o.version for o in model.opset_import}
    imp = _Importer(onnx, opsets.get("", opsets.get("ai.onnx", 18)))
    g = Graph(model.graph.name or "onnx")
    with graph_mode(g):
        inputs, outputs = imp.main(model.graph)
    return OnnxGraph(g, inputs, outputs, [i.name for i in _real_inputs(model.graph)],
                     [o.name for o in model.graph.output])


def _load(onnx, src):
    if isinstance(src, onnx.ModelProto):
        return src
    try:
        if isinstance(src, (bytes, bytearray, memoryview)):
            return onnx.load_model_from_string(bytes(src))
        if isinstance(src, (str, os.PathLike)):
            return onnx.load(os.fspath(src))
    except Exception as e:  # noqa: BLE001 - a file onnx cannot read is an import error
        raise ExportError(f"from_onnx: not an ONNX model ({type(e).__name__}: {e})") from None
    raise ExportError(f"from_onnx takes a path, bytes or an onnx.ModelProto, got {type(src).__name__}")


def _real_inputs(graph):
    inits = {t.name for t in graph.initializer}
    return [i for i in graph.input if i.name not in inits]


def _shape_of(vi):
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        raise ExportError(f"from_onnx: input {vi.name} has no shape (its rank is needed)")
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)


class _Env:
    """Values by ONNX name: symbolic tensors, or numpy arrays while they are static. A
    subgraph's environment reads its enclosing one's names."""

    def __init__(self, parent=None):
        self.parent, self.values = parent, {}

    def get(self, name):
        e = self
        while e is not None:
            if name in e.values:
                return e.values[name]
            e = e.parent
        raise ExportError(f"from_onnx: value {name!r} is used but never defined")


class _Importer:
    def __init__(self, onnx, opset):
        self.onnx, self.opset = onnx, opset
        self.env = _Env()

    def main(self, graph):
        from ..graph.builder import placeholder
        for t in graph.initializer:
            arr = self.onnx.numpy_helper.to_array(t).copy()
            if arr.dtype.kind == "f":
                self.env.values[t.name] = dg.Variable(arr, name=_safe(t.name))
            else:
                self.env.values[t.name] = arr
        inputs = []
        for vi in _real_inputs(graph):
            dt = np_dtype(self.onnx, vi.type.tensor_type.elem_type)
            ph = placeholder(_shape_of(vi), dt, name=_safe(vi.name))
            self.env.values[vi.name] = ph
            inputs.append(ph)
        self.nodes(graph.node)
        return inputs, [self.tensor(o.name) for o in graph.output]

    def nodes(self, nodes):
        for nd in nodes:
            fn = _IMPORT.get(nd.op_type) if nd.domain in ("", "ai.onnx") else None
            if fn is None:
                raise ExportError(f"from_onnx: ONNX op {nd.op_type!r} (node {nd.name or nd.output[0]!r}"
                                  f"{', domain ' + nd.domain if nd.domain else ''}) has no dualgraph mapping")
            attrs = {a.name: self.onnx.helper.get_attribute_value(a) for a in nd.attribute}
            try:
                out = fn(self, nd, attrs)
            except ExportError:
                raise
            except Exception as e:  # noqa: BLE001 - name the node that failed
                raise ExportError(f"from_onnx: node {nd.name or nd.output[0]!r} ({nd.op_type}) "
                                  f"failed: {type(e).__name__}: {e}") from None
            if not isinstance(out, (list, tuple)):
                out = [out]
            for name, v in zip(nd.output, out):
                if name:
                    self.env.values[name] = v

    # ---- reading inputs
    def value(self, name):
        return self.env.get(name)

    def tensor(self, name):
        v = self.env.get(name)
        if isinstance(v, SymbolicTensor):
            return v
        if isinstance(v, _Dims):
            raise ExportError(f"from_onnx: {name!r} is shape arithmetic known only at run time, used "
                              "as data; dualgraph imports it only as a Reshape, Expand or "
                              "ConstantOfShape target")
        return dg.constant(np.asarray(v))

    def static(self, name, what):
        v = self.env.get(name)
        if isinstance(v, (SymbolicTensor, _Dims)):
            raise ExportError(f"from_onnx: {what} ({name!r}) must be known while importing; it is "
                              "computed at run time")
        return np.asarray(v)

    def ins(self, nd):
        return [self.tensor(n) if n else None for n in nd.input]

    def opt(self, nd, i):
        return nd.input[i] if len(nd.input) > i and nd.input[i] else None

    # ---- subgraphs
    def run_subgraph(self, graph, bind):
        saved = self.env
        self.env = _Env(saved)
        try:
            for vi, v in zip(graph.input, bind):
                self.env.values[vi.name] = v
            for t in graph.initializer:
                self.env.values[t.name] = self.onnx.numpy_helper.to_array(t).copy()
            self.nodes(graph.node)
            return [self.tensor(o.name) for o in graph.output]
        finally:
            self.env = saved


def _to(x, dtype):
    from ..dtypes import from_np
    return x if x._dtype == np.dtype(dtype) else x.to(from_np(np.dtype(dtype)))


def _safe(name):
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in name) or "t"


# ==================================================================== importers, by op type
_IMPORT = {}


def _imp(*names):
    def deco(fn):
        for n in names:
            _IMPORT[n] = fn
        return fn
    return deco


def _binary(fn):
    def f(im, nd, attrs):
        a, b = im.ins(nd)
        return fn(a, b)
    return f


def _int_div(a, b):
    if a._dtype.kind in "iu" and b._dtype.kind in "iu":
        return dg.div(a, b, rounding_mode="trunc")
    return a / b


_IMPORT["Add"] = _binary(lambda a, b: a + b)
_IMPORT["Sub"] = _binary(lambda a, b: a - b)


@_imp("Mul")
def _mul(im, nd, attrs):
    a, b = im.value(nd.input[0]), im.value(nd.input[1])
    if _is_dims(a, b):
        return _dims_mul(a, b)
    return im.tensor(nd.input[0]) * im.tensor(nd.input[1])


_IMPORT["Div"] = _binary(_int_div)
_IMPORT["Pow"] = _binary(lambda a, b: a ** b)
_IMPORT["MatMul"] = _binary(lambda a, b: a.matmul(b))
_IMPORT["Equal"] = _binary(lambda a, b: a == b)
_IMPORT["Less"] = _binary(lambda a, b: a < b)
_IMPORT["LessOrEqual"] = _binary(lambda a, b: a <= b)
_IMPORT["Greater"] = _binary(lambda a, b: a > b)
_IMPORT["GreaterOrEqual"] = _binary(lambda a, b: a >= b)


def _lazy(name):
    def f(*a):
        return getattr(dg, name)(*a)
    return f


_IMPORT["And"] = _binary(_lazy("logical_and"))
_IMPORT["BitwiseAnd"] = _binary(_lazy("bitwise_and"))
_IMPORT["BitwiseOr"] = _binary(_lazy("bitwise_or"))
_IMPORT["Or"] = _binary(_lazy("logical_or"))


def _unary(fn):
    def f(im, nd, attrs):
        (x,) = im.ins(nd)[:1]
        return fn(x)
    return f


for _t, _m in [("Relu", "relu"), ("Sigmoid", "sigmoid"), ("Tanh", "tanh"), ("Exp", "exp"),
               ("Log", "log"), ("Sqrt", "sqrt"), ("Abs", "abs"), ("Sin", "sin"), ("Cos", "cos"),
               ("Sign", "sign")]:
    _IMPORT[_t] = _unary((lambda m: lambda x: getattr(x, m)())(_m))
_IMPORT["Neg"] = _unary(lambda x: -x)
_IMPORT["Reciprocal"] = _unary(lambda x: 1.0 / x)
_IMPORT["Not"] = _unary(_lazy("logical_not"))
_IMPORT["BitwiseNot"] = _unary(_lazy("bitwise_not"))
_IMPORT["Floor"] = _unary(lambda x: dg.floor_divide(x, 1))
_IMPORT["Ceil"] = _unary(lambda x: -dg.floor_divide(-x, 1))


@_imp("Mod")
def _mod(im, nd, attrs):
    a, b = im.ins(nd)
    if not attrs.get("fmod", 0):
        return dg.remainder(a, b)     # the sign of the divisor, as Python and torch.remainder
    if a._dtype.kind == "f" or b._dtype.kind == "f":
        q = a / b                     # C's fmod: the sign of the dividend
        return a - dg.where(q < 0, -dg.floor_divide(-q, 1), dg.floor_divide(q, 1)) * b
    return a - dg.div(a, b, rounding_mode="trunc") * b


@_imp("Identity")
def _identity(im, nd, attrs):
    return im.value(nd.input[0])


@_imp("Dropout")
def _dropout(im, nd, attrs):
    if len(nd.output) > 1 and nd.output[1]:
        raise ExportError(f"from_onnx: Dropout node {nd.name!r} returns its mask; not supported")
    return im.value(nd.input[0])  # inference: the identity


@_imp("LeakyRelu")
def _leaky_relu(im, nd, attrs):
    x = im.tensor(nd.input[0])
    return dg.where(x >= 0, x, x * float(attrs.get("alpha", 0.01)))


@_imp("BatchNormalization")
def _batch_norm(im, nd, attrs):
    if attrs.get("training_mode", 0) or (len(nd.output) > 1 and any(nd.output[1:])):
        raise ExportError(f"from_onnx: BatchNormalization node {nd.name!r} in training mode is not supported")
    x, scale, bias, mean, var = im.ins(nd)[:5]
    shape = (1, -1) + (1,) * (len(x.shape) - 2)
    inv = (var.reshape(*shape) + float(attrs.get("epsilon", 1e-5))).sqrt()
    return (x - mean.reshape(*shape)) / inv * scale.reshape(*shape) + bias.reshape(*shape)


@_imp("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(im, nd, attrs):
    x = im.tensor(nd.input[0])
    dims = tuple(range(2, len(x.shape)))
    return x.mean(dim=dims, keepdim=True) if nd.op_type == "GlobalAveragePool" else x.amax(dim=dims, keepdim=True)


@_imp("Sum")
def _sum(im, nd, attrs):
    xs = im.ins(nd)
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


@_imp("Max", "Min")
def _maxmin(im, nd, attrs):
    xs = im.ins(nd)
    f = dg.maximum if nd.op_type == "Max" else dg.minimum
    out = xs[0]
    for x in xs[1:]:
        out = f(out, x)
    return out


@_imp("Constant")
def _constant(im, nd, attrs):
    if "value" in attrs:
        return im.onnx.numpy_helper.to_array(attrs["value"]).copy()
    for k, dt in (("value_float", np.float32), ("value_int", np.int64), ("value_floats", np.float32),
                  ("value_ints", np.int64)):
        if k in attrs:
            return np.asarray(attrs[k], dt)
    raise ExportError(f"from_onnx: Constant node {nd.name!r} with attributes {sorted(attrs)} is not supported")


@_imp("Cast")
def _cast(im, nd, attrs):
    dt = np_dtype(im.onnx, attrs["to"])
    v = im.value(nd.input[0])
    if isinstance(v, _Dims) and dt.kind in "iu":
        return v
    if not isinstance(v, SymbolicTensor):
        return np.asarray(v).astype(dt)
    return _to(v, dt)


@_imp("Gemm")
def _gemm(im, nd, attrs):
    a, b = im.tensor(nd.input[0]), im.tensor(nd.input[1])
    if attrs.get("transA", 0):
        a = a.t()
    if attrs.get("transB", 0):
        b = b.t()
    y = a.matmul(b)
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    if alpha != 1.0:
        y = y * alpha
    c = im.opt(nd, 2)
    if c is not None:
        ct = im.tensor(c)
        y = y + (ct if beta == 1.0 else ct * beta)
    return y


def _sym_pads(nd, attrs, k):
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise ExportError(f"from_onnx: node {nd.name!r} ({nd.op_type}) uses auto_pad={attrs['auto_pad']!r}; "
                          "only explicit pads are supported")
    pads = list(attrs.get("pads", [0] * (2 * k)))
    return pads[:k], pads[k:]


@_imp("Conv")
def _conv(im, nd, attrs):
    from ..ops.dispatch import apply
    from ..ops.nn_ops import conv2d_op
    x, w = im.tensor(nd.input[0]), im.tensor(nd.input[1])
    if len(w.shape) != 4:
        raise ExportError(f"from_onnx: Conv node {nd.name!r} is {len(w.shape) - 2}-D; only 2-D convolutions are supported")
    b = im.tensor(nd.input[2]) if im.opt(nd, 2) else None
    begin, end = _sym_pads(nd, attrs, 2)
    stride = tuple(attrs.get("strides", [1, 1]))
    dilation = tuple(attrs.get("dilations", [1, 1]))
    groups = int(attrs.get("group", 1))
    if begin == end:
        return F.conv2d(x, w, b, stride=stride, padding=tuple(begin), dilation=dilation, groups=groups)
    args = (x, w) if b is None else (x, w, b)  # asymmetric pads: the op takes (top, bottom, left, right)
    return apply(conv2d_op, *args, stride=stride, padding=(begin[0], end[0], begin[1], end[1]),
                 dilation=dilation, groups=groups)


@_imp("MaxPool")
def _maxpool(im, nd, attrs):
    if len(nd.output) > 1 and nd.output[1]:
        raise ExportError(f"from_onnx: MaxPool node {nd.name!r} returns indices; not supported")
    k = list(attrs["kernel_shape"])
    if len(k) != 2:
        raise ExportError(f"from_onnx: MaxPool node {nd.name!r} is {len(k)}-D; only 2-D pooling is supported")
    begin, end = _sym_pads(nd, attrs, 2)
    if begin != end:
        raise ExportError(f"from_onnx: MaxPool node {nd.name!r} has asymmetric pads {attrs.get('pads')}")
    return F.max_pool2d(im.tensor(nd.input[0]), tuple(k), stride=tuple(attrs.get("strides", [1, 1])),
                        padding=tuple(begin), dilation=tuple(attrs.get("dilations", [1, 1])),
                        ceil_mode=bool(attrs.get("ceil_mode", 0)))


@_imp("Softmax", "LogSoftmax")
def _softmax(im, nd, attrs):
    x = im.tensor(nd.input[0])
    axis = attrs.get("axis", -1 if im.opset >= 13 else 1)
    if im.opset < 13 and axis % len(x.shape) != len(x.shape) - 1:
        raise ExportError(f"from_onnx: {nd.op_type} node {nd.name!r} of opset {im.opset} flattens from axis {axis}")
    return (F.softmax if nd.op_type == "Softmax" else F.log_softmax)(x, dim=axis)


@_imp("Flatten")
def _flatten(im, nd, attrs):
    x = im.tensor(nd.input[0])
    r = len(x.shape)
    a = attrs.get("axis", 1) % (r + 1) if r else 0
    if a == 0:
        return x.reshape(1, -1)
    if a == r:
        return x.flatten().reshape(-1, 1) if r == 1 else x.flatten(0, r - 1).reshape(-1, 1)
    y = x.flatten(a) if a < r - 1 else x
    return y.flatten(0, a - 1) if a > 1 else y


@_imp("Reshape")
def _reshape(im, nd, attrs):
    x = im.tensor(nd.input[0])
    sv = im.value(nd.input[1])
    if isinstance(sv, _Dims):
        entries = _dims_entries(sv)
        for i, e in enumerate(entries):
            if e == [0] and not attrs.get("allowzero", 0):
                entries[i] = [(x, i)]
        return S.reshape_to(x, entries)
    shape = [int(d) for d in im.static(nd.input[1], "a Reshape's shape")]
    if not attrs.get("allowzero", 0):
        for i, d in enumerate(shape):
            if d == 0:
                if i >= len(x.shape):
                    raise ExportError(f"from_onnx: Reshape node {nd.name!r}: 0 at position {i} copies no dim")
                shape[i] = x.shape[i] if x.shape[i] is not None else -1
    if shape.count(-1) > 1:
        raise ExportError(f"from_onnx: Reshape node {nd.name!r} needs several sizes known only at run time")
    return x.reshape(*shape) if shape else x.reshape(())


@_imp("Transpose")
def _transpose(im, nd, attrs):
    x = im.tensor(nd.input[0])
    perm = attrs.get("perm", list(range(len(x.shape)))[::-1])
    return x.permute(*[int(p) for p in perm])


@_imp("Concat")
def _concat(im, nd, attrs):
    vals = [im.value(n) for n in nd.input]
    if _is_dims(*vals):
        return _Dims([e for v in vals for e in _dims_entries(v)])
    if not any(isinstance(v, SymbolicTensor) for v in vals):
        return np.concatenate([np.asarray(v) for v in vals], axis=attrs["axis"])
    return dg.cat([im.tensor(n) for n in nd.input], dim=int(attrs["axis"]))


def _axes(im, nd, attrs, pos):
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    name = im.opt(nd, pos)
    if name is None:
        return None
    return [int(a) for a in im.static(name, f"{nd.op_type}'s axes").reshape(-1)]


@_imp("Unsqueeze")
def _unsqueeze(im, nd, attrs):
    v = im.value(nd.input[0])
    axes = _axes(im, nd, attrs, 1)
    if isinstance(v, _Dims):
        if not v.scalar or len(axes) != 1:
            raise ExportError(f"from_onnx: Unsqueeze node {nd.name!r} of a run-time shape")
        return _Dims(v.entries)
    r = np.ndim(v) if not isinstance(v, SymbolicTensor) else len(v.shape)
    axes = sorted(a % (r + len(axes)) for a in axes)
    if not isinstance(v, SymbolicTensor):
        return np.expand_dims(np.asarray(v), tuple(axes))
    for a in axes:
        v = v.unsqueeze(a)
    return v


@_imp("Squeeze")
def _squeeze(im, nd, attrs):
    x = im.tensor(nd.input[0])
    axes = _axes(im, nd, attrs, 1)
    r = len(x.shape)
    if axes is None:
        if any(d is None for d in x.shape):
            raise ExportError(f"from_onnx: Squeeze node {nd.name!r} without axes on a shape known only at run time")
        return x.reshape(*[d for d in x.shape if d != 1]) if any(d != 1 for d in x.shape) else x.reshape(())
    keep = [d for i, d in enumerate(x.shape) if i not in {a % r for a in axes}]
    if sum(d is None for d in keep) <= 1:
        return x.reshape(*[-1 if d is None else d for d in keep]) if keep else x.reshape(())
    for a in sorted((a % r for a in axes), reverse=True):
        x = x.squeeze(a)
    return x


_REDUCE = {"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "amax", "ReduceMin": "amin",
           "ReduceProd": "prod", "ReduceLogSumExp": "logsumexp"}


@_imp(*_REDUCE)
def _reduce(im, nd, attrs):
    x = im.tensor(nd.input[0])
    axes = _axes(im, nd, attrs, 1)
    keep = bool(attrs.get("keepdims", 1))
    if not axes:
        if attrs.get("noop_with_empty_axes", 0):
            return x
        axes = list(range(len(x.shape)))
    dims = tuple(a % max(len(x.shape), 1) for a in axes)
    m = _REDUCE[nd.op_type]
    if m == "logsumexp":
        return dg.logsumexp(x, dim=dims, keepdim=keep)
    if m == "prod":
        for d in sorted(dims, reverse=True):
            x = x.prod(dim=d, keepdim=keep)
        return x
    return getattr(x, m)(dim=dims, keepdim=keep)


@_imp("ArgMax", "ArgMin")
def _argmax(im, nd, attrs):
    if attrs.get("select_last_index", 0):
        raise ExportError(f"from_onnx: {nd.op_type} node {nd.name!r} with select_last_index=1 is not supported")
    x = im.tensor(nd.input[0])
    f = x.argmax if nd.op_type == "ArgMax" else x.argmin
    return f(dim=int(attrs.get("axis", 0)), keepdim=bool(attrs.get("keepdims", 1)))


@_imp("Where")
def _where(im, nd, attrs):
    c, x, y = im.ins(nd)
    return dg.where(c, x, y)


@_imp("Clip")
def _clip(im, nd, attrs):
    x = im.tensor(nd.input[0])
    lo = im.opt(nd, 1)
    hi = im.opt(nd, 2)
    lo = attrs.get("min") if lo is None else im.static(lo, "Clip's min").item()
    hi = attrs.get("max") if hi is None else im.static(hi, "Clip's max").item()
    return x.clamp(min=lo, max=hi)


@_imp("Slice")
def _slice(im, nd, attrs):
    x = im.value(nd.input[0])
    r = np.ndim(x) if not isinstance(x, SymbolicTensor) else len(x.shape)
    starts = im.static(nd.input[1], "Slice's starts").tolist()
    ends = im.static(nd.input[2], "Slice's ends").tolist()
    axes = im.static(nd.input[3], "Slice's axes").tolist() if im.opt(nd, 3) else list(range(len(starts)))
    steps = im.static(nd.input[4], "Slice's steps").tolist() if im.opt(nd, 4) else [1] * len(starts)
    big = 2 ** 62
    idx = [slice(None)] * r
    for s, e, a, st in zip(starts, ends, axes, steps):
        if st < 0:
            raise ExportError(f"from_onnx: Slice node {nd.name!r} has a negative step")
        idx[int(a) % r] = slice(None if s == 0 else int(s), None if e >= big else int(e), None if st == 1 else int(st))
    return x[tuple(idx)]


@_imp("Gather")
def _gather(im, nd, attrs):
    x = im.value(nd.input[0])
    ind = im.value(nd.input[1])
    axis = int(attrs.get("axis", 0))
    if isinstance(x, _Dims):
        out = _dims_gather(x, ind, axis)
        if out is None:
            raise ExportError(f"from_onnx: Gather node {nd.name!r} indexes a run-time shape with a tensor")
        return out
    if not isinstance(x, SymbolicTensor) and not isinstance(ind, SymbolicTensor):
        return np.take(np.asarray(x), np.asarray(ind), axis=axis)
    x = x if isinstance(x, SymbolicTensor) else im.tensor(nd.input[0])
    r = len(x.shape)
    key = (slice(None),) * (axis % r)
    if not isinstance(ind, SymbolicTensor) and np.ndim(ind) == 0:
        return x[key + (int(ind),)]
    return x[key + (im.tensor(nd.input[1]),)]


class _Dims:
    """Shape arithmetic known only at run time (torch's `x.view(x.size(0), -1)`, a Shape read
    by ConstantOfShape): a 1-D int64 value (or 0-D when `scalar`), each element a list of
    factors, ints and (tensor, dim) pairs, whose product it is (`ops.shape._template` entries)."""

    __slots__ = ("entries", "scalar")

    def __init__(self, entries, scalar=False):
        self.entries, self.scalar = [list(e) for e in entries], scalar


def _dims_entries(v):
    """A 1-D shape value as template entries (a _Dims, or static ints)."""
    if isinstance(v, _Dims):
        return [list(e) for e in v.entries] if not v.scalar else [list(v.entries[0])]
    return [[int(d)] for d in np.asarray(v).reshape(-1)]


def _is_dims(*vs):
    return any(isinstance(v, _Dims) for v in vs)


@_imp("Shape")
def _shape(im, nd, attrs):
    x = im.value(nd.input[0])
    shape = np.shape(x) if not isinstance(x, SymbolicTensor) else tuple(x.shape)
    s, e = attrs.get("start", 0), attrs.get("end")
    if all(d is not None for d in shape):
        return np.asarray(shape, np.int64)[s:e]
    entries = [[(x, i)] if d is None else [d] for i, d in enumerate(shape)]
    return _Dims(entries[s:e])


@_imp("Size")
def _size(im, nd, attrs):
    x = im.value(nd.input[0])
    shape = np.shape(x) if not isinstance(x, SymbolicTensor) else tuple(x.shape)
    if all(d is not None for d in shape):
        return np.asarray(int(np.prod(shape)), np.int64)
    return _Dims([[(x, i) if d is None else d for i, d in enumerate(shape)]], scalar=True)


def _dims_gather(v, ind, axis):
    if axis != 0 or isinstance(ind, SymbolicTensor):
        return None
    ind = np.asarray(ind)
    picked = [v.entries[int(i)] for i in ind.reshape(-1)]
    return _Dims(picked, scalar=ind.ndim == 0)


def _dims_mul(a, b):
    fa = a.entries[0] if isinstance(a, _Dims) else [int(np.asarray(a).reshape(-1)[0])]
    fb = b.entries[0] if isinstance(b, _Dims) else [int(np.asarray(b).reshape(-1)[0])]
    scalar = (a.scalar if isinstance(a, _Dims) else np.ndim(a) == 0) and \
        (b.scalar if isinstance(b, _Dims) else np.ndim(b) == 0)
    return _Dims([fa + fb], scalar=scalar)


@_imp("Expand")
def _expand(im, nd, attrs):
    x = im.tensor(nd.input[0])
    sv = im.value(nd.input[1])
    if isinstance(sv, _Dims):
        entries = _dims_entries(sv)
        lead = len(entries) - len(x.shape)
        for i, e in enumerate(entries):
            if e == [1] and i >= lead and x.shape[i - lead] != 1:
                entries[i] = [-1]
        return S.expand_to(x, entries)
    shape = [int(d) for d in im.static(nd.input[1], "Expand's shape")]
    r = max(len(shape), len(x.shape))
    shape = [1] * (r - len(shape)) + shape
    xs = [1] * (r - len(x.shape)) + list(x.shape)
    tgt = [-1 if d == 1 and xd != 1 else d for d, xd in zip(shape, xs)]
    return x.expand(*tgt)


@_imp("Tile")
def _tile(im, nd, attrs):
    x = im.tensor(nd.input[0])
    return x.repeat(*[int(d) for d in im.static(nd.input[1], "Tile's repeats")])


@_imp("ConstantOfShape")
def _constant_of_shape(im, nd, attrs):
    v = im.onnx.numpy_helper.to_array(attrs["value"]) if "value" in attrs else np.zeros(1, np.float32)
    sv = im.value(nd.input[0])
    if isinstance(sv, _Dims):
        entries = _dims_entries(sv)
        one = dg.constant(v.reshape(-1)[:1].reshape((1,) * len(entries)))
        return S.expand_to(one, entries).contiguous()
    shape = im.static(nd.input[0], "ConstantOfShape's shape")
    return np.full(tuple(int(d) for d in shape), v.reshape(-1)[0], v.dtype)


@_imp("OneHot")
def _one_hot(im, nd, attrs):
    x = im.tensor(nd.input[0])
    depth = int(im.static(nd.input[1], "OneHot's depth").reshape(-1)[0])
    values = im.static(nd.input[2], "OneHot's values")
    if attrs.get("axis", -1) not in (-1, len(x.shape)):
        raise ExportError(f"from_onnx: OneHot node {nd.name!r} with axis {attrs['axis']} is not supported")
    oh = F.one_hot(x.long(), depth)
    if values.tolist() != [0, 1]:
        oh = oh * float(values[1] - values[0]) + float(values[0])
    return _to(oh, values.dtype)


@_imp("GatherElements")
def _gather_elements(im, nd, attrs):
    x, idx = im.ins(nd)
    return dg.gather(x, int(attrs.get("axis", 0)), idx.long())


@_imp("NegativeLogLikelihoodLoss")
def _nll(im, nd, attrs):
    if im.opt(nd, 2):
        raise ExportError(f"from_onnx: NegativeLogLikelihoodLoss node {nd.name!r} with weights is not supported")
    x, t = im.tensor(nd.input[0]), im.tensor(nd.input[1])
    red = attrs.get("reduction", b"mean")
    red = red.decode() if isinstance(red, bytes) else red
    return F.nll_loss(x, t.long(), ignore_index=int(attrs.get("ignore_index", -100)), reduction=red)


@_imp("Pad")
def _pad(im, nd, attrs):
    mode = attrs.get("mode", b"constant")
    if mode not in (b"constant", "constant") or im.opt(nd, 3):
        raise ExportError(f"from_onnx: Pad node {nd.name!r}: only constant padding of all axes is supported")
    x = im.tensor(nd.input[0])
    pads = [int(p) for p in im.static(nd.input[1], "Pad's pads")]
    value = im.static(nd.input[2], "Pad's value").item() if im.opt(nd, 2) else 0
    r = len(x.shape)
    flat = []
    for d in range(r - 1, -1, -1):  # F.pad: last dim first
        flat += [pads[d], pads[d + r]]
    while len(flat) > 2 and flat[-2:] == [0, 0]:
        flat = flat[:-2]
    return F.pad(x, tuple(flat), value=value)


# ---------------------------------------------------------------- control flow
@_imp("If")
def _if(im, nd, attrs):
    pred = im.tensor(nd.input[0])
    if len(pred.shape):
        pred = pred.reshape(())
    then_g, else_g = attrs["then_branch"], attrs["else_branch"]
    out = dg.cond(pred, lambda: tuple(im.run_subgraph(then_g, [])),
                  lambda: tuple(im.run_subgraph(else_g, [])))
    return list(out)


@_imp("Loop")
def _loop(im, nd, attrs):
    body = attrs["body"]
    n_carried = len(nd.input) - 2
    if len(body.output) != 1 + n_carried:
        raise ExportError(f"from_onnx: Loop node {nd.name!r} has scan outputs; not supported")
    m = im.opt(nd, 0)
    c = im.opt(nd, 1)
    m = im.tensor(m).reshape(()).long() if m is not None else None
    c0 = im.tensor(c).reshape(()).bool() if c is not None else dg.constant(True)
    carried = [im.tensor(n) for n in nd.input[2:]]
    it0 = dg.constant(np.int64(0))

    def cond_fn(i, c, *vs):
        return c if m is None else dg.logical_and(c, i < m)

    def body_fn(i, c, *vs):
        outs = im.run_subgraph(body, [i, c] + list(vs))
        return (i + 1, outs[0].reshape(()).bool()) + tuple(
            _to(o, v._dtype) for o, v in zip(outs[1:], vs))

    res = dg.while_loop(cond_fn, body_fn, (it0, c0) + tuple(carried),
                        shape_invariants=[(), ()] + [_invariant(v, vi) for v, vi in zip(carried, body.input[2:])])
    return list(res[2:])


def _invariant(v, vi):
    """A loop variable's shape: its dims the body declares (dim_value), None for the others."""
    t = vi.type.tensor_type
    dims = list(t.shape.dim) if t.HasField("shape") else []
    if len(dims) != len(v.shape):
        return tuple(None for _ in v.shape)
    return tuple(s if d.HasField("dim_value") else None for s, d in zip(v.shape, dims))
