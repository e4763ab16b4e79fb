"""The exporter's converters of dualgraph's shape ops (ops/shape.py, and broadcast_to of
ops/unbroadcast.py): reshape view reshape_like, expand broadcast_to full_like (the shape of
another tensor, read at run time where a dim is unknown), transpose permute, squeeze unsqueeze,
cat stack repeat, gather, getitem (basic slicing); and the ops that are the identity in ONNX:
identity check_values contiguous clone stop_gradient."""
import numpy as np

from ..ops.common import Slot
from .errors import ExportError
from .onnx_common import elem_type
from .onnx_ops_common import registrar, simple

CONVERTERS = {}
_conv = registrar(CONVERTERS)

for _name in ("identity", "check_values", "contiguous", "clone", "stop_gradient"):
    CONVERTERS[_name] = simple("Identity")


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
