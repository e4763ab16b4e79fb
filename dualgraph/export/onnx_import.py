"""`from_onnx`: an ONNX model as a dualgraph graph, built with the public functions in graph mode.

Graph inputs become placeholders (a `dim_param` or an unknown dim is None), float initializers
`dg.Variable`s, the other initializers and Constant nodes constants (kept as numpy values while
an op needs them static: a Reshape's shape, a reduction's axes, a Slice's bounds). If becomes
`dg.cond` and Loop `dg.while_loop`, their bodies traced from the ONNX subgraphs. An ONNX op with
no mapping is an ExportError naming it. Needs the `onnx` package (`pip install 'dualgraph[onnx]'`).

The imported graph gives onnxruntime's numbers, special values included (NaN, +-inf, -0.0,
int64 beyond 2**53, empty dims: tests/test_onnx_import_special_values.py): Floor and Ceil keep
+-inf, Mod(fmod=1) is C's fmod, Sign(NaN) is NaN, Pow is C's pow, Clip's missing bound is the
dtype's finite range, ReduceMax / ReduceMin of nothing is -inf / +inf, OneHot and
GatherElements take negative indices, integer Div rounds toward zero exactly. Where
onnxruntime's answer depends on its kernels' loop order or contradicts the ONNX specification,
the import keeps numpy's: NaN propagates through ReduceMax, ArgMax and MaxPool, Where keeps a
-0.0, integer ReduceSum and Pow are exact (onnxruntime goes through doubles), ReduceMean of
nothing is NaN (the specification leaves it undefined).
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
    logical_and=_E.logical_and, logical_or=_E.logical_or, logical_not=_E.logical_not,
    maximum=_E.maximum, minimum=_E.minimum, where=_E.where, cat=S.cat, gather=S.gather,
    logsumexp=_R.logsumexp, remainder=_E.remainder, floor_divide=_E.floor_divide,
    floor=_E.floor, ceil=_E.ceil, abs=_E.abs, fmod=_E.fmod,
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
        # toward zero, from the floor quotient, one up where the remainder is not zero and
        # the signs differ: exact at the dtype's minimum, whose |a| wraps (int8 -128 / 3 is -42)
        up = (dg.remainder(a, b) != 0) & ((a < 0) != (b < 0))
        q = dg.floor_divide(a, b)
        return q + _to(up, q._dtype)
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


@_imp("Pow")
def _pow(im, nd, attrs):
    a, b = im.ins(nd)
    if a._dtype.kind in "iu" and b._dtype.kind == "f":
        # the base's type, from a pow of doubles (onnxruntime), not PyTorch's float result
        return _to(_to(a, np.float64) ** _to(b, np.float64), a._dtype)
    r = _to(a ** b, a._dtype)
    if r._dtype.kind != "f":
        return r
    # C's pow: pow(-inf, 0.5) is inf, pow(-0.0, 0.5) is 0.0; numpy computes a one-element
    # exponent of 0.5 as sqrt, which gives NaN and -0.0 there
    e = im.value(nd.input[1])
    if not isinstance(e, SymbolicTensor) and not (np.asarray(e) == 0.5).any():
        return r
    fix = (b == 0.5) & ((a == 0) | (a == -np.inf))
    return dg.where(fix, dg.abs(a), r)


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
               ("Log", "log"), ("Sqrt", "sqrt"), ("Abs", "abs"), ("Sin", "sin"), ("Cos", "cos")]:
    _IMPORT[_t] = _unary((lambda m: lambda x: getattr(x, m)())(_m))


@_imp("Sign")
def _sign(im, nd, attrs):
    (x,) = im.ins(nd)
    s = x.sign()   # (0 at NaN, as PyTorch; ONNX's Sign gives NaN)
    return dg.where(x != x, x, s) if x._dtype.kind == "f" else s


_IMPORT["Neg"] = _unary(lambda x: -x)
_IMPORT["Reciprocal"] = _unary(lambda x: 1.0 / x)
_IMPORT["Not"] = _unary(_lazy("logical_not"))
_IMPORT["BitwiseNot"] = _unary(_lazy("bitwise_not"))
_IMPORT["Floor"] = _unary(lambda x: dg.floor(x))   # (x // 1 would make +-inf NaN)
_IMPORT["Ceil"] = _unary(lambda x: dg.ceil(x))


@_imp("Mod")
def _mod(im, nd, attrs):
    a, b = im.ins(nd)
    if not attrs.get("fmod", 0):
        return dg.remainder(a, b)     # the sign of the divisor, as Python and torch.remainder
    # C's fmod, the sign of the dividend, exact (a - trunc(a / b) * b rounds, and is NaN at
    # b = +-inf)
    return dg.fmod(a, b)


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
    # onnxruntime's order of operations, x * a + b per channel (its rounding, and the sign of
    # a zero: (x - mean) / std * scale + bias gives -0.0 where it gives 0.0)
    a = 1.0 / (var + float(attrs.get("epsilon", 1e-5))).sqrt() * scale
    b = bias - mean * a
    return x * a.reshape(*shape) + b.reshape(*shape)


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
    if m in ("amax", "amin") and len(x.shape):
        x = _with_identity(x, dims, m == "amax")
    if m == "logsumexp":
        return dg.logsumexp(x, dim=dims, keepdim=keep)
    if m == "prod":
        for d in sorted(dims, reverse=True):
            x = x.prod(dim=d, keepdim=keep)
        return x
    return getattr(x, m)(dim=dims, keepdim=keep)


def _with_identity(x, dims, is_max):
    """x and one more element, -inf for a max (+inf for a min; the dtype's lowest or highest
    integer), along each reduced dim that may be empty: ONNX's ReduceMax of nothing is -inf,
    and the extra element changes no other max (a -0.0 or a NaN stays)."""
    grow = [d for d in dims if x.shape[d] is None or x.shape[d] == 0]
    if not grow:
        return x
    dt = x._dtype
    if dt.kind == "b":
        fill = not is_max
    elif dt.kind == "f":
        fill = -np.inf if is_max else np.inf
    else:
        fill = int(np.iinfo(dt).min if is_max else np.iinfo(dt).max)
    flat = []
    for d in range(len(x.shape) - 1, min(grow) - 1, -1):  # F.pad: last dim first
        flat += [0, 1 if d in grow else 0]
    return F.pad(x, tuple(flat), value=fill)


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
    """onnxruntime's Clip: below min becomes min, then above max becomes max. So a NaN stays
    NaN, a NaN bound changes nothing, min > max gives max, and a zero equal to a zero bound
    keeps its own sign. A missing bound is the dtype's finite range (ONNX: inf becomes
    FLT_MAX). A bound read at run time (a float initializer) is a tensor."""
    x = im.tensor(nd.input[0])
    dt = x._dtype
    info = np.finfo(dt) if dt.kind == "f" else np.iinfo(dt)
    bounds = []
    for i, key, default in ((1, "min", info.min), (2, "max", info.max)):
        name = im.opt(nd, i)
        v = im.value(name) if name is not None else attrs.get(key, default)  # (attributes: opset < 11)
        if isinstance(v, (SymbolicTensor, _Dims)):
            bounds.append(im.tensor(name).reshape(()))
        else:
            bounds.append(np.asarray(v).astype(dt).reshape(()).item())
    lo, hi = bounds
    if not any(isinstance(v, SymbolicTensor) for v in bounds) and (
            dt.kind != "f" or (lo <= hi and lo != 0 and hi != 0)):
        return x.clamp(min=lo, max=hi)   # (numpy's clip is the same there)
    y = dg.where(x < lo, lo, x)
    return dg.where(y > hi, hi, y)


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
    """indices in [-depth, depth - 1] (a negative one counts from the end), others all off;
    the on and off values are selected, not computed (a -0.0, inf or NaN value stays)."""
    x = _to(im.tensor(nd.input[0]), np.int64)   # (other index types are cast to int64: ONNX)
    depth = int(im.static(nd.input[1], "OneHot's depth").reshape(-1)[0])
    values = im.static(nd.input[2], "OneHot's values").reshape(-1)
    r = len(x.shape)
    axis = int(attrs.get("axis", -1))
    if not -r - 1 <= axis <= r:
        raise ExportError(f"from_onnx: OneHot node {nd.name!r} has axis {axis} for {r}-D indices")
    axis %= r + 1
    x = dg.where(x < 0, x + depth, x)
    classes = np.arange(depth, dtype=np.int64).reshape([depth if k == axis else 1 for k in range(r + 1)])
    hot = x.unsqueeze(axis) == dg.constant(classes)
    return dg.where(hot, dg.constant(values[1:2].reshape(())), dg.constant(values[0:1].reshape(())))


@_imp("GatherElements")
def _gather_elements(im, nd, attrs):
    x, idx = im.ins(nd)
    axis = int(attrs.get("axis", 0)) % max(len(x.shape), 1)
    idx = _to(idx, np.int64)
    n = x.shape[axis]
    if n is None:  # (the dim's size at run time: the sum of that many ones)
        n = S.expand_to(dg.constant(np.ones(1, np.int64)), [[(x, axis)]]).sum()
    # ONNX counts a negative index from the end (dualgraph's gather, as PyTorch's, refuses it)
    return dg.gather(x, axis, dg.where(idx < 0, idx + n, idx))


@_imp("NegativeLogLikelihoodLoss")
def _nll(im, nd, attrs):
    if im.opt(nd, 2):
        raise ExportError(f"from_onnx: NegativeLogLikelihoodLoss node {nd.name!r} with weights is not supported")
    x, t = im.tensor(nd.input[0]), im.tensor(nd.input[1])
    red = attrs.get("reduction", b"mean")
    red = red.decode() if isinstance(red, bytes) else red
    # no ignore_index: every target counts (PyTorch's default of -100 would skip targets of
    # -100, which onnxruntime refuses as out of range); INT64_MIN stands for none
    ignore = int(attrs.get("ignore_index", np.iinfo(np.int64).min))
    loss = F.nll_loss(x, t.long(), ignore_index=ignore, reduction=red)
    if red == "none" and "ignore_index" in attrs:
        # ONNX's function body gives an ignored element -(0.0) * 0, which is -0.0
        loss = dg.where(t == ignore, -0.0, loss)
    return loss


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
