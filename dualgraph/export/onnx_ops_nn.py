"""The exporter's converters of dualgraph's layer ops (ops/nn_ops.py and nn.functional):
linear, conv2d, max_pool2d (NaN propagates through a window), constant_pad, one_hot, and the
losses nll_loss, cross_entropy and cross_entropy_backward."""
import numpy as np

from .errors import ExportError
from .onnx_common import elem_type
from .onnx_ops_common import registrar

CONVERTERS = {}
_conv = registrar(CONVERTERS)


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
