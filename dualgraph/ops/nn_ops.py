"""Neural-network operators: conv2d, max_pool2d, constant padding, and their backward helpers.

Each is an ordinary registry op (numpy kernel, shape rule with None dims allowed; its vjp,
written with dualgraph ops, is in ops/vjps/nn_ops.py). The backward of a convolution is itself
a pair of registry ops (`conv2d_input_grad`, `conv2d_weight_grad`) whose own vjps are
convolutions again, so gradients of any order stay inside the registry; likewise
`max_pool2d_backward` and its adjoint `max_pool2d_select`.

Kernels are vectorised: windows are read with `numpy.lib.stride_tricks.as_strided` (no copy),
contracted with `tensordot`/`einsum` (im2col); the only Python loop is over the kh*kw kernel
offsets when folding gradients back (col2im), never over pixels.

Layout is PyTorch's NCHW; weights are (out_channels, in_channels / groups, kh, kw).
Padding attrs are always 4-tuples (top, bottom, left, right), so 'same' padding with an even
kernel (PyTorch pads the extra row/column at the end) is just another padding.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..dtypes import scalar_name
from ..errors import DGRuntimeError, DGValueError, DGIndexError
from .common import Spec, ctype_name, fmt_shape as _fmt, numel
from .registry import defop, reads_for


def _out_len(size, pad_lo, pad_hi, k, stride, dilation):
    """Output length of a convolution/pooling window sweep; None when size is unknown."""
    if size is None:
        return None
    return (size + pad_lo + pad_hi - dilation * (k - 1) - 1) // stride + 1


def _windows(xp, oh, ow, kh, kw, stride, dilation):
    """(N, C, OH, OW, kh, kw) read-only strided view of a padded NCHW array (no copy)."""
    n, c, hp, wp = xp.shape
    if oh <= 0 or ow <= 0 or min(stride) <= 0 or min(dilation) <= 0 or kh <= 0 or kw <= 0 or (
            (oh - 1) * stride[0] + (kh - 1) * dilation[0] >= hp or
            (ow - 1) * stride[1] + (kw - 1) * dilation[1] >= wp):
        raise ValueError("window geometry out of bounds")  # never let as_strided read outside
    s0, s1, s2, s3 = xp.strides
    sh, sw = stride
    dh, dw = dilation
    return as_strided(xp, (n, c, oh, ow, kh, kw),
                      (s0, s1, s2 * sh, s3 * sw, s2 * dh, s3 * dw), writeable=False)


def _pad(x, padding, value=0):
    pt, pb, pl, pr = padding
    if not (pt or pb or pl or pr):
        return x
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=value)


# ================================================================ conv2d
def _conv_out_hw(h, w, kh, kw, stride, padding, dilation):
    pt, pb, pl, pr = padding
    return (_out_len(h, pt, pb, kh, stride[0], dilation[0]),
            _out_len(w, pl, pr, kw, stride[1], dilation[1]))


def _check_conv_args(stride, padding, dilation, groups):
    if any(s <= 0 for s in stride):
        raise DGRuntimeError("non-positive stride is not supported")
    if any(p < 0 for p in padding):
        raise DGRuntimeError("negative padding is not supported")
    if any(d <= 0 for d in dilation):
        raise DGRuntimeError("dilation should be greater than zero")
    if groups <= 0:
        raise DGRuntimeError("non-positive groups is not supported")


def _conv2d_infer(x, w, *b, stride, padding, dilation, groups):
    _check_conv_args(stride, padding, dilation, groups)
    if len(x.shape) != 4:
        raise DGRuntimeError(
            "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: "
            f"{_fmt(x.shape)}")
    if len(w.shape) != 4:
        raise DGRuntimeError(
            f"Expected 4D weight for conv2d (out_channels, in_channels/groups, kH, kW), but got "
            f"weight of size {_fmt(w.shape)}")
    if x.dtype.kind != "f":
        raise DGRuntimeError(f'"slow_conv2d_cpu" not implemented for \'{scalar_name(x.dtype)}\'')
    if x.dtype != w.dtype:
        raise DGRuntimeError(
            f"expected scalar type {scalar_name(x.dtype)} but found {scalar_name(w.dtype)}")
    o, cg, kh, kw = w.shape
    if o is not None and o % groups:
        raise DGRuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{_fmt(w.shape)}] instead")
    c = x.shape[1]
    if c is not None and cg is not None and c != cg * groups:
        raise DGRuntimeError(
            f"Given groups={groups}, weight of size {_fmt(w.shape)}, expected input"
            f"{_fmt(x.shape)} to have {cg * groups} channels, but got {c} channels instead")
    if b:
        bs = b[0]
        if len(bs.shape) != 1 or (o is not None and bs.shape[0] is not None and bs.shape[0] != o):
            raise DGRuntimeError(
                f"Given weight of size {_fmt(w.shape)}, expected bias to be 1-dimensional with "
                f"{o} elements, but got bias of size {_fmt(bs.shape)} instead")
        if bs.dtype != x.dtype:
            raise DGRuntimeError(
                f"Input type ({ctype_name(x.dtype)}) and bias type ({ctype_name(bs.dtype)}) should be the same")
    pt, pb, pl, pr = padding
    h, wd = x.shape[2], x.shape[3]
    if None not in (h, wd, kh, kw):
        ph, pw = h + pt + pb, wd + pl + pr
        ekh, ekw = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
        if ph < ekh or pw < ekw:
            raise DGRuntimeError(
                f"Calculated padded input size per channel: ({ph} x {pw}). Kernel size: "
                f"({ekh} x {ekw}). Kernel size can't be greater than actual input size")
    oh, ow = (None, None) if kh is None or kw is None else _conv_out_hw(
        h, wd, kh, kw, stride, padding, dilation)
    return Spec((x.shape[0], o, oh, ow), x.dtype)


def _conv2d_kernel(x, w, *b, stride, padding, dilation, groups):
    if x.ndim != 4 or w.ndim != 4 or x.dtype != w.dtype or x.dtype.kind != "f" or (
            b and (b[0].dtype != x.dtype or b[0].shape != (w.shape[0],))):
        raise ValueError("conv2d arguments")
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if c != cg * groups or o % groups:
        raise ValueError("conv2d channels")
    oh, ow = _conv_out_hw(h, wd, kh, kw, stride, padding, dilation)
    if oh <= 0 or ow <= 0:
        raise ValueError("conv2d kernel larger than input")
    win = _windows(_pad(x, padding), oh, ow, kh, kw, stride, dilation)
    if groups == 1:
        out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))      # (N, OH, OW, O)
        out = out.transpose(0, 3, 1, 2)
    else:
        wg = w.reshape(groups, o // groups, cg, kh, kw)
        win = win.reshape(n, groups, cg, oh, ow, kh, kw)
        out = np.einsum("ngcijkl,gockl->ngoij", win, wg, optimize=True).reshape(n, o, oh, ow)
    out = np.ascontiguousarray(out, dtype=x.dtype)
    if b:
        out += b[0].reshape(1, -1, 1, 1)
    return out


# d/dx reads w, d/dw reads x, d/db nothing: the bias is not pinned. x and w are pinned both,
# whichever gradients are asked for (not CROSS): PyTorch's ConvolutionBackward0 saves both
conv2d_op = defop("conv2d", _conv2d_kernel, _conv2d_infer, torch_name="Convolution",
                  check_eager=True, saves=(0, 1),
                  doc="2-D cross-correlation, NCHW, with stride/padding/dilation/groups and optional bias")


# ---------------------------------------------------------------- conv2d backward helpers
def _fold(cols, out_shape, stride, dilation, dtype):
    """col2im: add cols (N, C, OH, OW, kh, kw) back into a padded (N, C, Hp, Wp) array."""
    n, c, oh, ow, kh, kw = cols.shape
    sh, sw = stride
    dh, dw = dilation
    out = np.zeros(out_shape, dtype=dtype)
    for i in range(kh):          # loops over kernel offsets only, never over pixels
        r0 = i * dh
        for j in range(kw):
            c0 = j * dw
            out[:, :, r0:r0 + sh * (oh - 1) + 1:sh, c0:c0 + sw * (ow - 1) + 1:sw] += cols[..., i, j]
    return out


def _conv2d_input_grad_kernel(g, w, like, stride, padding, dilation, groups):
    """J_x^T g for y = conv2d(x, w): a transposed convolution of g with w."""
    n, o, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    h, wd = like.shape[2], like.shape[3]
    if groups == 1:
        cols = np.tensordot(g, w, axes=([1], [0]))             # (N, OH, OW, C, kh, kw)
        cols = cols.transpose(0, 3, 1, 2, 4, 5)
    else:
        gg = g.reshape(n, groups, o // groups, oh, ow)
        wg = w.reshape(groups, o // groups, cg, kh, kw)
        cols = np.einsum("ngoij,gockl->ngcijkl", gg, wg, optimize=True).reshape(
            n, groups * cg, oh, ow, kh, kw)
    pt, pb, pl, pr = padding
    full = _fold(cols, (n, groups * cg, h + pt + pb, wd + pl + pr), stride, dilation, g.dtype)
    return np.ascontiguousarray(full[:, :, pt:pt + h, pl:pl + wd])


def _conv2d_input_grad_infer(g, w, like, stride, padding, dilation, groups):
    return Spec(like.shape, g.dtype)


conv2d_input_grad_op = defop(
    "conv2d_input_grad", _conv2d_input_grad_kernel, _conv2d_input_grad_infer,
    # bilinear in (g, w), yet both pinned as PyTorch's double backward does; `like` gives a shape
    saves=(0, 1), torch_name="ConvolutionBackwardInput",
    doc="gradient of conv2d w.r.t. its input (a transposed convolution); the third input "
        "only gives the input's shape")


def _conv2d_weight_grad_kernel(x, g, kernel_size, stride, padding, dilation, groups):
    """J_w^T g for y = conv2d(x, w)."""
    n, c, h, wd = x.shape
    _, o, oh, ow = g.shape
    kh, kw = kernel_size
    win = _windows(_pad(x, padding), oh, ow, kh, kw, stride, dilation)
    if groups == 1:
        gw = np.tensordot(g, win, axes=([0, 2, 3], [0, 2, 3]))   # (O, C, kh, kw)
    else:
        cg = c // groups
        gg = g.reshape(n, groups, o // groups, oh, ow)
        wg = win.reshape(n, groups, cg, oh, ow, kh, kw)
        gw = np.einsum("ngoij,ngcijkl->gockl", gg, wg, optimize=True).reshape(o, cg, kh, kw)
    return np.ascontiguousarray(gw, dtype=x.dtype)


def _conv2d_weight_grad_infer(x, g, kernel_size, stride, padding, dilation, groups):
    c = x.shape[1]
    return Spec((g.shape[1], None if c is None else c // groups) + tuple(kernel_size), x.dtype)


conv2d_weight_grad_op = defop(
    "conv2d_weight_grad", _conv2d_weight_grad_kernel, _conv2d_weight_grad_infer,
    # bilinear in (x, g), yet both pinned (not CROSS) as PyTorch's double backward does
    saves=(0, 1), torch_name="ConvolutionBackwardWeight",
    doc="gradient of conv2d w.r.t. its weight")


# ================================================================ max_pool2d
def pool_out_len(size, k, stride, pad, dilation, ceil_mode):
    """PyTorch's pooling_output_shape (symmetric padding `pad`)."""
    if size is None:
        return None
    num = size + 2 * pad - dilation * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = num // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_geometry(h, w, kernel_size, stride, padding, dilation, ceil_mode):
    kh, kw = kernel_size
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    oh = pool_out_len(h, kh, sh, ph, dh, ceil_mode)
    ow = pool_out_len(w, kw, sw, pw, dw, ceil_mode)
    # bottom/right padding so that every window lies inside the padded array
    pb = max(ph, (oh - 1) * sh + dh * (kh - 1) + 1 - h - ph)
    pr = max(pw, (ow - 1) * sw + dw * (kw - 1) + 1 - w - pw)
    return oh, ow, (ph, pb, pw, pr)


def _max_pool2d_infer(x, kernel_size, stride, padding, dilation, ceil_mode):
    kh, kw = kernel_size
    if kh <= 0 or kw <= 0:
        raise DGRuntimeError(f"kernel size should be greater than zero, but got kH: {kh} kW: {kw}")
    if stride[0] <= 0 or stride[1] <= 0:
        raise DGRuntimeError("stride should not be zero")
    if dilation[0] <= 0 or dilation[1] <= 0:
        raise DGRuntimeError(
            f"dilation should be greater than zero, but got dilationH: {dilation[0]} "
            f"dilationW: {dilation[1]}")
    if padding[0] < 0 or padding[1] < 0:
        raise DGRuntimeError(f"pad must be non-negative, but got pad: {min(padding)}")
    if padding[0] > kh // 2 or padding[1] > kw // 2:
        p, k = (padding[0], kh) if padding[0] > kh // 2 else (padding[1], kw)
        raise DGRuntimeError(
            f"pad should be at most half of effective kernel size, but got pad={p}, "
            f"kernel_size={k} and dilation={dilation[0]}")
    if len(x.shape) != 4 or 0 in x.shape[1:]:
        raise DGRuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    if x.dtype.kind not in "fiu":
        raise DGRuntimeError(f'"max_pool2d" not implemented for \'{scalar_name(x.dtype)}\'')
    n, c, h, w = x.shape
    oh = pool_out_len(h, kh, stride[0], padding[0], dilation[0], ceil_mode)
    ow = pool_out_len(w, kw, stride[1], padding[1], dilation[1], ceil_mode)
    if (oh is not None and oh < 1) or (ow is not None and ow < 1):
        raise DGRuntimeError(
            f"Given input size: ({_fmt((c, h, w), 'x', brackets=False)}). "
            f"Calculated output size: ({_fmt((c, oh, ow), 'x', brackets=False)}). "
            "Output size is too small")
    return Spec((n, c, oh, ow), x.dtype)


def _pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode):
    n, c, h, w = x.shape
    oh, ow, pads = _pool_geometry(h, w, kernel_size, stride, padding, dilation, ceil_mode)
    if oh <= 0 or ow <= 0:
        raise ValueError("output too small")
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = _pad(x, pads, value=low)
    return _windows(xp, oh, ow, *kernel_size, stride, dilation), xp.shape, pads


def _max_pool2d_kernel(x, kernel_size, stride, padding, dilation, ceil_mode):
    if x.ndim != 4 or x.dtype.kind not in "fiu":
        raise ValueError("max_pool2d input")
    win, _, _ = _pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode)
    # one np.maximum per kernel offset (kh*kw passes over contiguous-ish slices) is ~30x faster
    # than reducing the strided 6-d window view; NaN propagates as in PyTorch
    kh, kw = win.shape[4:]
    out = np.array(win[..., 0, 0])
    for i in range(kh):
        for j in range(kw):
            if i or j:
                np.maximum(out, win[..., i, j], out=out)
    return out


def _window_argmax(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Index (k = i*kw + j) of each window's maximum: the first one on ties, a NaN counting as
    the maximum, as PyTorch. Loops over the kernel offsets only, each a whole-array op."""
    win, pshape, pads = _pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode)
    kh, kw = win.shape[4:]
    best = np.array(win[..., 0, 0])
    for i in range(kh):
        for j in range(kw):
            if i or j:
                np.maximum(best, win[..., i, j], out=best)
    nan = best.dtype.kind == "f" and np.isnan(best).any()
    a = np.full(best.shape, kh * kw - 1, dtype=np.int64)
    for k in range(kh * kw - 2, -1, -1):  # backwards, so the first maximum wins
        v = win[..., k // kw, k % kw]
        hit = v == best
        if nan:
            hit |= np.isnan(v)
        a = np.where(hit, k, a)
    return a, win.shape, pshape, pads


def _argmax_positions(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Row and column (in padded coordinates) of each window's maximum, plus the padded shape
    and the padding."""
    a, (n, c, oh, ow, kh, kw), pshape, pads = _window_argmax(
        x, kernel_size, stride, padding, dilation, ceil_mode)
    rows = np.arange(oh).reshape(oh, 1) * stride[0] + (a // kw) * dilation[0]
    cols = np.arange(ow) * stride[1] + (a % kw) * dilation[1]
    return rows, cols, pshape, pads


def _flat_index(rows, cols, pshape):
    n, c, hp, wp = pshape
    base = (np.arange(n * c).reshape(n, c, 1, 1) * hp) * wp
    return base + rows * wp + cols


max_pool2d_op = defop(
    "max_pool2d", _max_pool2d_kernel, _max_pool2d_infer, torch_name="MaxPool2DWithIndices", check_eager=True,
    doc="2-D max pooling over NCHW windows (kernel, stride, symmetric padding, dilation, ceil_mode)")


def _max_pool2d_backward_kernel(g, x, kernel_size, stride, padding, dilation, ceil_mode):
    a, (n, c, oh, ow, kh, kw), pshape, pads = _window_argmax(
        x, kernel_size, stride, padding, dilation, ceil_mode)
    gxp = np.zeros(pshape, dtype=g.dtype)
    s0, s1, s2, s3 = gxp.strides
    for k in range(kh * kw):
        i, j = divmod(k, kw)
        # for one kernel offset, distinct windows hit distinct pixels: += through a strided
        # view is exact even when windows overlap
        dst = as_strided(gxp[:, :, i * dilation[0]:, j * dilation[1]:], (n, c, oh, ow),
                         (s0, s1, s2 * stride[0], s3 * stride[1]))
        dst += np.where(a == k, g, 0)
    h, w = x.shape[2:]
    return np.ascontiguousarray(gxp[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w])


def _max_pool2d_select_kernel(gg, x, kernel_size, stride, padding, dilation, ceil_mode):
    rows, cols, pshape, pads = _argmax_positions(x, kernel_size, stride, padding, dilation,
                                                 ceil_mode)
    ggp = _pad(gg, pads, value=0).reshape(-1)
    return ggp[_flat_index(rows, cols, pshape)]


def _max_pool2d_select_infer(gg, x, **attrs):
    return Spec(_max_pool2d_infer(x, **attrs).shape, gg.dtype)


max_pool2d_backward_op = defop(
    "max_pool2d_backward", _max_pool2d_backward_kernel,
    lambda g, x, **attrs: Spec(x.shape, g.dtype),
    saves=(1,), torch_name="MaxPool2DWithIndicesBackward",
    doc="scatter the pooled gradient to each window's argmax (backward of max_pool2d)")
max_pool2d_select_op = defop(
    "max_pool2d_select", _max_pool2d_select_kernel, _max_pool2d_select_infer,
    saves=(1,), doc="gather each window's argmax entry of a tensor shaped like the pooled input "
                    "(the adjoint of max_pool2d_backward)")


def _max_pool2d_indices_kernel(x, kernel_size, stride, padding, dilation, ceil_mode):
    rows, cols, _, pads = _argmax_positions(x, kernel_size, stride, padding, dilation, ceil_mode)
    w = x.shape[3]
    return ((rows - pads[0]) * w + (cols - pads[2])).astype(np.int64)


max_pool2d_indices_op = defop(
    "max_pool2d_indices", _max_pool2d_indices_kernel,
    lambda x, **attrs: Spec(_max_pool2d_infer(x, **attrs).shape, np.dtype(np.int64)), check_eager=True,
    doc="flat (h * W + w) index of each window's maximum, as max_pool2d(return_indices=True)")


# ================================================================ constant padding
def _pad_infer(x, pads, value):
    if len(pads) != len(x.shape):
        raise DGRuntimeError("constant_pad: one (before, after) pair per dimension expected")
    out = []
    for d, (lo, hi) in zip(x.shape, pads):
        if d is None:
            out.append(None)
            continue
        n = d + lo + hi
        if n < 0:
            raise DGRuntimeError(
                f"narrow(): length must be non-negative. (pad: the input size {d}, plus padding "
                f"{lo} and {hi}, gives a negative output size)")
        out.append(n)
    return Spec(out, x.dtype)


def _pad_kernel(x, pads, value):
    grow = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
    if any(lo or hi for lo, hi in grow):
        x = np.pad(x, grow, constant_values=value)
    crop = tuple(slice(-lo if lo < 0 else 0, x.shape[i] + hi if hi < 0 else None)
                 for i, (lo, hi) in enumerate(pads))
    return np.array(x[crop])


constant_pad_op = defop(
    "constant_pad", _pad_kernel, _pad_infer, check_eager=True, saves=(), torch_name="ConstantPadNd",
    doc="pad (or, with negative amounts, crop) each dim with a constant; the gradient is the "
        "opposite crop")


# ================================================================ identity (module boundaries)
identity_op = defop(
    "identity", lambda x: x.view(), lambda x: Spec(x.shape, x.dtype), view=True, saves=(), torch_name="BackwardHookFunction",
    doc="the identity as a view; marks a module boundary so backward hooks can see gradients")


def _pair(v, name="value"):
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            return (int(v[0]),) * 2
        if len(v) != 2:
            raise DGValueError(f"{name} must be an int or a pair of ints, got {v!r}")
        return (int(v[0]), int(v[1]))
    return (int(v), int(v))


# ================================================================ linear
def _linear_infer(x, w, *b):
    if len(w.shape) != 2:
        raise DGRuntimeError(f"linear: weight must be 2-D (out_features, in_features), got {len(w.shape)}-D")
    if len(x.shape) == 0:
        raise DGRuntimeError("both arguments to linear need to be at least 1D, but they are 0D and 2D")
    k, (out, kw) = x.shape[-1], w.shape
    if k is not None and kw is not None and k != kw:
        rows = numel(x.shape[:-1])
        raise DGRuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({'?' if rows is None else rows}x{k} and {kw}x{out})")
    if x.dtype != w.dtype:
        raise DGRuntimeError(
            f"mat1 and mat2 must have the same dtype, but got {scalar_name(x.dtype)} and {scalar_name(w.dtype)}")
    if b:
        if len(b[0].shape) > 1 or (b[0].shape and b[0].shape[0] not in (None, 1, out)):
            raise DGRuntimeError(
                f"The size of tensor a ({out}) must match the size of tensor b ({b[0].shape[-1]}) at "
                f"non-singleton dimension {len(x.shape) - 1}")
    return Spec(tuple(x.shape[:-1]) + (out,), x.dtype)


def _linear_kernel(x, w, *b):
    if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1] or x.dtype != w.dtype:
        raise ValueError("linear shapes")
    if x.ndim == 2:
        # (W x^T)^T: OpenBLAS runs this non-transposed product faster than x W^T here
        # (benchmarks/train_step.py); copied back to row-major, as PyTorch's result is
        y = np.ascontiguousarray(np.matmul(w, x.T).T)
    else:
        y = np.matmul(x, w.T)
    if b:
        y += b[0]
    return y


# d/dx reads w, d/dw reads x, d/db nothing (its shape only)
linear_op = defop("linear", _linear_kernel, _linear_infer, torch_name="Addmm",
                  saves=reads_for((1,), (0,), ()),
                  doc="y = x W^T + b, PyTorch's F.linear (weight stored (out, in))")


# ================================================================ nll_loss (class indices)
def _nll_rows(logp, target, ignore_index):
    valid = target != ignore_index
    safe = np.where(valid, target, 0)
    c = logp.shape[1]
    bad = valid & ((safe < 0) | (safe >= c))
    if bad.any():
        raise DGIndexError(f"Target {int(target[bad][0])} is out of bounds.")
    return valid, safe


def _nll_kernel(logp, target, ignore_index, reduction):
    if logp.ndim != 2 or target.ndim != 1 or logp.shape[0] != target.shape[0] or target.dtype.kind not in "iu":
        raise ValueError("nll_loss shapes")
    valid, safe = _nll_rows(logp, target, ignore_index)
    picked = logp[np.arange(len(safe)), safe]
    picked = np.where(valid, -picked, 0).astype(logp.dtype, copy=False)
    if reduction == "none":
        return picked
    total = picked.sum(dtype=logp.dtype)
    if reduction == "sum":
        return np.asarray(total)
    with np.errstate(all="ignore"):
        return np.asarray(total / logp.dtype.type(valid.sum()))


def _nll_infer(logp, target, ignore_index, reduction):
    if len(logp.shape) != 2 or len(target.shape) != 1:
        raise DGRuntimeError(
            f"nll_loss (fused): expected 2-D input and 1-D target, got {len(logp.shape)}-D and {len(target.shape)}-D")
    n, m = logp.shape[0], target.shape[0]
    if n is not None and m is not None and n != m:
        raise DGValueError(f"Expected input batch_size ({n}) to match target batch_size ({m}).")
    if target.dtype.kind not in "iu":
        raise DGRuntimeError(f"expected scalar type Long but found {scalar_name(target.dtype)}")
    return Spec((n,) if reduction == "none" else (), logp.dtype)


def _nll_backward_kernel(g, target, like, ignore_index, reduction):
    valid, safe = _nll_rows(like, target, ignore_index)
    z = np.zeros(like.shape, dtype=like.dtype)
    if reduction == "none":
        scale = -g * valid
    elif reduction == "sum":
        scale = -g * valid
    else:
        with np.errstate(all="ignore"):
            scale = (-g / like.dtype.type(valid.sum())) * valid
    z[np.arange(len(safe)), safe] = scale
    return z


nll_loss_op = defop(
    "nll_loss", _nll_kernel, _nll_infer, saves=(1,), torch_name="NllLoss",
    doc="negative log-likelihood of (N, C) log-probabilities at class indices (no class weights)")
nll_loss_backward_op = defop(
    "nll_loss_backward", _nll_backward_kernel,
    lambda g, target, like, ignore_index, reduction: Spec(like.shape, like.dtype),
    saves=(1,), torch_name="NllLossBackward",
    doc="the gradient of nll_loss: -g (over the count of kept rows) at each row's target")
