"""Operator-table records for dualgraph/ops/nn_ops.py (conv2d, max_pool2d, constant_pad, their
backward helpers, identity). Imported at the end of tests/opinfo.py, so test_ops.py runs them
with every other record: gradcheck, gradgradcheck, shape rules with unknown dims, PyTorch values,
gradients and error wording.
"""
import numpy as np

import dualgraph as dg
from dualgraph.ops import apply
from dualgraph.ops.nn_ops import pool_out_len

from opinfo import OpRecord, Sample, ErrorSample, T, add, op, u, F32, F64, I64

F = dg.nn.functional


def _tf():
    return T.nn.functional


# ---------------------------------------------------------------------------- conv2d
def _conv_out(x_shape, w_shape, stride, pads, dilation):
    h, w = x_shape[-2:]
    kh, kw = w_shape[2:]
    return ((h + pads[0] + pads[1] - dilation[0] * (kh - 1) - 1) // stride[0] + 1,
            (w + pads[2] + pads[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1)


# (x shape, w shape, with bias, kwargs)
_CONV_CASES = [
    ((2, 3, 5, 4), (4, 3, 3, 2), True, {}, "basic+bias"),
    ((2, 4, 7, 6), (6, 2, 3, 2), False,
     dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2), "stride,pad,dilation,groups"),
    ((1, 1, 4, 4), (1, 1, 1, 1), True, {}, "1x1"),
    ((0, 3, 5, 5), (2, 3, 3, 3), True, dict(padding=1), "empty batch"),
    ((2, 2, 5, 5), (3, 2, 2, 2), True, dict(padding="same"), "same, even kernel"),
    ((3, 5, 5), (2, 3, 3, 3), True, dict(stride=2), "unbatched"),
    ((2, 3, 6, 6), (3, 1, 3, 3), False, dict(groups=3, padding="valid"), "depthwise, valid"),
]


def _conv_samples(rng):
    out = []
    for xs, ws, bias, kw, desc in _CONV_CASES:
        args = (u(rng, xs), u(rng, ws)) + ((u(rng, (ws[0],)),) if bias else ())
        out.append(Sample(args, kw, desc))
    x, w = u(rng, (1, 2, 4, 4), dtype=F64), u(rng, (2, 2, 3, 3), dtype=F64)
    out.append(Sample((x, w, u(rng, (2,), dtype=F64)), {"padding": 1}, "f64"))
    return out


def _conv_errors():
    z = np.zeros
    return [
        ErrorSample((z((2, 4, 8, 8), F32), z((8, 3, 3, 3), F32)),
                    match=r"Given groups=1, weight of size \[8, 3, 3, 3\], expected input\[2, 4, 8, 8\] "
                          r"to have 3 channels, but got 4 channels instead", desc="channels"),
        ErrorSample((z((2, 3), F32), z((8, 3, 3, 3), F32)),
                    match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input "
                          r"of size: \[2, 3\]", desc="2-D input"),
        ErrorSample((z((2, 3, 2, 2), F32), z((8, 3, 3, 3), F32)),
                    match=r"Calculated padded input size per channel: \(2 x 2\). Kernel size: \(3 x 3\). "
                          r"Kernel size can't be greater than actual input size", desc="kernel too big"),
        ErrorSample((z((2, 3, 8, 8), F64), z((8, 3, 3, 3), F32)),
                    match="expected scalar type Double but found Float", desc="dtype"),
        ErrorSample((z((2, 3, 8, 8), F32), z((8, 3, 3, 3), F32), z((8,), F64)),
                    match=r"Input type \(float\) and bias type \(double\) should be the same",
                    desc="bias dtype"),
        ErrorSample((z((2, 3, 8, 8), F32), z((8, 3, 3, 3), F32)), {"stride": 0},
                    match="non-positive stride is not supported", desc="stride 0"),
        ErrorSample((z((2, 3, 8, 8), F32), z((8, 3, 3, 3), F32)), {"padding": -1},
                    match="negative padding is not supported", desc="negative padding"),
        ErrorSample((z((2, 3, 8, 8), F32), z((8, 3, 3, 3), F32), z((7,), F32)),
                    match=r"Given weight of size \[8, 3, 3, 3\], expected bias to be 1-dimensional with "
                          r"8 elements, but got bias of size \[7\] instead", desc="bias size"),
        ErrorSample((z((2, 4, 8, 8), F32), z((8, 2, 3, 3), F32)), {"groups": 3},
                    match=r"Given groups=3, expected weight to be divisible by 3 at dimension 0, but "
                          r"got weight of size \[\[8, 2, 3, 3\]\] instead", desc="groups"),
        ErrorSample((z((2, 3, 8, 8), F32), z((8, 3, 3, 3), F32)), {"stride": 2, "padding": "same"},
                    match="padding='same' is not supported for strided convolutions",
                    desc="same + stride"),
        ErrorSample((z((2, 3, 8, 8), F32), z((8, 3, 3, 3), F32)), {"padding": "foo"},
                    match="Invalid padding string: 'foo'", desc="padding string"),
    ]


def _norm_conv_kw(x_shape, w_shape, kw):
    """F.conv2d's keyword arguments -> the conv2d op's attributes (symmetric padding only)."""
    def pair(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    stride, dilation = pair(kw.get("stride", 1)), pair(kw.get("dilation", 1))
    ph, pw = pair(kw.get("padding", 0))
    return dict(stride=stride, padding=(ph, ph, pw, pw), dilation=dilation,
                groups=kw.get("groups", 1))


def _grad_op_samples(rng, kind):
    out = []
    for xs, ws, _, kw, desc in _CONV_CASES:
        if isinstance(kw.get("padding"), str) or len(xs) == 3:
            continue
        a = _norm_conv_kw(xs, ws, kw)
        oh, ow = _conv_out(xs, ws, a["stride"], a["padding"], a["dilation"])
        g = u(rng, (xs[0], ws[0], oh, ow))
        if kind == "input":
            out.append(Sample((g, u(rng, ws), u(rng, xs)), a, desc, no_grad_args=(2,)))
        else:
            out.append(Sample((u(rng, xs), g), dict(a, kernel_size=tuple(ws[2:])), desc))
    return out


def _torch_conv_input(g, w, x, stride, padding, dilation, groups):
    return T.nn.grad.conv2d_input(tuple(x.shape), w, g, stride, (padding[0], padding[2]),
                                  dilation, groups)


def _torch_conv_weight(x, g, kernel_size, stride, padding, dilation, groups):
    w_shape = (g.shape[1], x.shape[1] // groups) + tuple(kernel_size)
    return T.nn.grad.conv2d_weight(x, w_shape, g, stride, (padding[0], padding[2]), dilation, groups)


add(
    OpRecord("conv2d", lambda x, w, *b, **kw: F.conv2d(x, w, *b, **kw),
             lambda x, w, *b, **kw: _tf().conv2d(x, w, *b, **kw), _conv_samples, _conv_errors,
             atol=1e-5, rtol=1e-4, grad_atol=1e-4, grad_rtol=1e-4),
    OpRecord("conv2d_input_grad", lambda g, w, x, **kw: apply(op("conv2d_input_grad"), g, w, x, **kw),
             _torch_conv_input, lambda rng: _grad_op_samples(rng, "input"),
             atol=1e-5, rtol=1e-4, grad_atol=1e-4, grad_rtol=1e-4),
    OpRecord("conv2d_weight_grad", lambda x, g, **kw: apply(op("conv2d_weight_grad"), x, g, **kw),
             _torch_conv_weight, lambda rng: _grad_op_samples(rng, "weight"),
             atol=1e-5, rtol=1e-4, grad_atol=1e-4, grad_rtol=1e-4),
)


# ---------------------------------------------------------------------------- max_pool2d
_POOL_CASES = [
    ((2, 3, 6, 5), dict(kernel_size=2), "basic"),
    ((1, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1), "stride, padding"),
    ((2, 1, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1)), "dilation"),
    ((1, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), "ceil_mode"),
    ((0, 2, 4, 4), dict(kernel_size=2), "empty batch"),
    ((2, 3, 1, 1), dict(kernel_size=1), "1x1"),
    ((2, 4, 4), dict(kernel_size=2), "unbatched"),
]


def _pool_samples(rng):
    out = [Sample((u(rng, xs),), kw, desc) for xs, kw, desc in _POOL_CASES]
    out.append(Sample((u(rng, (1, 2, 4, 4), dtype=F64),), dict(kernel_size=2, stride=1), "f64, overlapping"))
    out.append(Sample((rng.integers(-9, 9, size=(1, 2, 5, 5)).astype(I64),), dict(kernel_size=2), "i64"))
    return out


def _pool_errors():
    z = np.zeros
    return [
        ErrorSample((z((2, 3, 8, 8), F32),), dict(kernel_size=3, padding=2),
                    match=r"pad should be at most half of effective kernel size, but got pad=2, "
                          r"kernel_size=3 and dilation=1", desc="pad > k/2"),
        ErrorSample((z((2, 3), F32),), dict(kernel_size=3),
                    match=r"non-empty 3D or 4D \(batch mode\) tensor expected for input", desc="2-D"),
        ErrorSample((z((2, 3, 2, 2), F32),), dict(kernel_size=3),
                    match=r"Given input size: \(3x2x2\). Calculated output size: \(3x0x0\). Output "
                          r"size is too small", desc="too small"),
        ErrorSample((z((2, 3, 8, 8), F32),), dict(kernel_size=3, stride=0),
                    match="stride should not be zero", desc="stride 0"),
        ErrorSample((z((2, 3, 8, 8), F32),), dict(kernel_size=3, padding=-1),
                    match="pad must be non-negative, but got pad: -1", desc="negative pad"),
    ]


def _pool_attrs(kw):
    def pair(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    k = pair(kw["kernel_size"])
    return dict(kernel_size=k, stride=pair(kw.get("stride", k)), padding=pair(kw.get("padding", 0)),
                dilation=pair(kw.get("dilation", 1)), ceil_mode=kw.get("ceil_mode", False))


def _pool_out_shape(xs, a):
    return tuple(xs[:2]) + tuple(
        pool_out_len(xs[2 + i], a["kernel_size"][i], a["stride"][i], a["padding"][i],
                     a["dilation"][i], a["ceil_mode"]) for i in range(2))


def _pool_grad_samples(rng, kind):
    out = []
    for xs, kw, desc in _POOL_CASES:
        if len(xs) == 3:
            continue
        a = _pool_attrs(kw)
        x = u(rng, xs)
        g = u(rng, _pool_out_shape(xs, a)) if kind == "backward" else u(rng, xs)
        out.append(Sample((g, x), a, desc, no_grad_args=(1,)))
    return out


def _t_indices(x, a):
    return _tf().max_pool2d(x.detach(), a["kernel_size"], a["stride"], a["padding"], a["dilation"],
                            a["ceil_mode"], return_indices=True)[1]


def _torch_pool_backward(g, x, **a):
    return T.ops.aten.max_pool2d_with_indices_backward(
        g, x, a["kernel_size"], a["stride"], a["padding"], a["dilation"], a["ceil_mode"],
        _t_indices(x, a))


def _torch_pool_select(gg, x, **a):
    idx = _t_indices(x, a)
    return gg.flatten(2).gather(2, idx.flatten(2)).reshape(idx.shape)


add(
    OpRecord("max_pool2d", lambda x, **kw: F.max_pool2d(x, **kw),
             lambda x, **kw: _tf().max_pool2d(x, **kw), _pool_samples, _pool_errors),
    OpRecord("max_pool2d", lambda x: dg.nn.MaxPool2d(2)(x), lambda x: T.nn.MaxPool2d(2)(x),
             lambda rng: [Sample((u(rng, (1, 2, 4, 6)),), desc="module")], variant="module"),
    OpRecord("max_pool2d_indices", lambda x, **kw: F.max_pool2d(x, return_indices=True, **kw)[1],
             lambda x, **kw: _tf().max_pool2d(x, return_indices=True, **kw)[1],
             lambda rng: [s for s in _pool_samples(rng) if s.desc != "i64"]),
    OpRecord("max_pool2d_backward",
             lambda g, x, **kw: apply(op("max_pool2d_backward"), g, x, **kw),
             _torch_pool_backward, lambda rng: _pool_grad_samples(rng, "backward")),
    OpRecord("max_pool2d_select",
             lambda gg, x, **kw: apply(op("max_pool2d_select"), gg, x, **kw),
             _torch_pool_select, lambda rng: _pool_grad_samples(rng, "select")),
)


# ---------------------------------------------------------------------------- pad / identity
def _pad_samples(rng):
    return [
        Sample((u(rng, (2, 3)),), dict(pad=(1, 2)), "last dim"),
        Sample((u(rng, (2, 3, 4)),), dict(pad=(1, 0, -1, 2)), "crop and pad"),
        Sample((u(rng, (0, 3)),), dict(pad=(1, 1)), "size 0"),
        Sample((u(rng, (1, 1)),), dict(pad=(0, 0, 2, 1), value=1.5), "1x1, value"),
        Sample((rng.integers(0, 5, size=(2, 2)).astype(I64),), dict(pad=(1, 1), value=3), "i64"),
        Sample((u(rng, (2, 2), dtype=F64),), dict(pad=(1, 1, 1, 1)), "f64"),
    ]


add(
    OpRecord("constant_pad", lambda x, **kw: F.pad(x, **kw), lambda x, **kw: _tf().pad(x, **kw),
             _pad_samples, lambda: [
                 ErrorSample((np.zeros((2, 3), F32),), dict(pad=(1, 2, 3)),
                             match="Padding length must be divisible by 2", desc="odd"),
                 ErrorSample((np.zeros((2, 3), F32),), dict(pad=(1, 1, 1, 1, 1, 1)),
                             match="Padding length should be less than or equal to two times the "
                                   "input dimension but got padding length 6 and input of dimension 2",
                             desc="too long"),
                 ErrorSample((np.zeros((2, 3), F32),), dict(pad=(-2, -2)),
                             match=r"narrow\(\): length must be non-negative", desc="negative size"),
             ]),
    OpRecord("identity", lambda x: apply(op("identity"), x), lambda x: x.view_as(x),
             lambda rng: [Sample((u(rng, s),), desc=str(s)) for s in [(), (3,), (2, 3), (0, 2)]]),
    OpRecord("check_values", lambda x: apply(op("check_values"), x, kind="unit_interval", message=_UNIT),
             lambda x: (_tf().binary_cross_entropy(x.detach(), x.detach().nan_to_num().clamp(0, 1)), x.view_as(x))[1],
             lambda rng: [Sample((rng.uniform(0.1, 0.9, s).astype(F32),), desc=str(s))
                          for s in [(), (3,), (2, 3), (0, 2)]],
             lambda: [ErrorSample((np.array([0.5, 1.5], F32),), match=_UNIT, desc="above 1"),
                      ErrorSample((np.array([np.nan], F32),), match=_UNIT, desc="nan")]),
    OpRecord("check_values", lambda x: apply(op("check_values"), x, kind="index", message="Target {value} is "
                                             "out of bounds.", bound=4, ignore=-100),
             lambda x: (_tf().nll_loss(T.zeros(len(x), 4), x, ignore_index=-100), x.view_as(x))[1],
             lambda rng: [Sample((np.array([0, 3, -100, 2]),), desc="with ignored"),
                          Sample((np.zeros((0,), I64),), desc="empty")],
             lambda: [ErrorSample((np.array([0, 4]),), exc=IndexError, match="Target 4 is out of bounds",
                                  desc="above"),
                      ErrorSample((np.array([-1, 0]),), exc=IndexError, match="Target -1 is out of bounds",
                                  desc="negative")],
             variant="index"),
)

_UNIT = "all elements of input should be between 0 and 1"


# ---------------------------------------------------------------------------- linear, nll_loss
def _linear_samples(rng):
    return [
        Sample((u(rng, (4, 3)), u(rng, (5, 3)), u(rng, (5,))), desc="2-D + bias"),
        Sample((u(rng, (2, 4, 3)), u(rng, (5, 3))), desc="3-D, no bias"),
        Sample((u(rng, (3,)), u(rng, (2, 3)), u(rng, (2,))), desc="1-D input"),
        Sample((u(rng, (0, 3)), u(rng, (1, 3)), u(rng, (1,))), desc="empty batch, 1 output"),
        Sample((u(rng, (2, 3), dtype=F64), u(rng, (4, 3), dtype=F64), u(rng, (4,), dtype=F64)), desc="f64"),
    ]


def _logp(rng, n, c, dtype=F32):
    z = u(rng, (n, c), dtype=dtype)
    return (z - np.log(np.exp(z).sum(1, keepdims=True))).astype(dtype)


def _nll_samples(rng):
    out = []
    for red in ("mean", "sum", "none"):
        out.append(Sample((_logp(rng, 4, 3), np.array([0, 2, 1, 2])), dict(reduction=red), red))
    out.append(Sample((_logp(rng, 5, 4), np.array([0, -100, 3, 1, -100])), {}, "ignore_index"))
    out.append(Sample((_logp(rng, 1, 1), np.array([0])), dict(reduction="sum"), "1x1"))
    out.append(Sample((_logp(rng, 0, 3), np.zeros(0, I64)), dict(reduction="sum"), "empty"))
    out.append(Sample((_logp(rng, 3, 5, F64), np.array([4, 0, 2])), dict(ignore_index=2), "f64, ignore 2"))
    return out


def _nll_backward_samples(rng):
    out = []
    for red in ("mean", "sum", "none"):
        g = u(rng, (4,) if red == "none" else ())
        out.append(Sample((g, np.array([0, 2, -100, 2]), _logp(rng, 4, 3)),
                          dict(ignore_index=-100, reduction=red), red, no_grad_args=(2,)))
    out.append(Sample((u(rng, ()), np.array([0]), _logp(rng, 1, 1)),
                      dict(ignore_index=-100, reduction="sum"), "1x1", no_grad_args=(2,)))
    out.append(Sample((u(rng, ()), np.zeros(0, I64), _logp(rng, 0, 3)),
                      dict(ignore_index=-100, reduction="sum"), "empty", no_grad_args=(2,)))
    return out


def _torch_nll_backward(g, target, like, ignore_index, reduction):
    """What torch's autograd hands the log-probabilities for the cotangent g."""
    x = like.detach().clone().requires_grad_(True)
    y = _tf().nll_loss(x, target, ignore_index=ignore_index, reduction=reduction)
    (gx,) = T.autograd.grad(y, x, g, create_graph=True)
    return gx


add(
    OpRecord("linear", lambda x, w, *b: F.linear(x, w, *b), lambda x, w, *b: _tf().linear(x, w, *b),
             _linear_samples, lambda: [
                 ErrorSample((np.zeros((2, 3), F32), np.zeros((4, 5), F32)),
                             match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 5x4\)",
                             desc="features"),
                 ErrorSample((np.zeros((2, 3), F32), np.zeros((4, 3), F64)),
                             match="same dtype", desc="dtypes"),
             ]),
    OpRecord("nll_loss", lambda x, t, **kw: F.nll_loss(x, t, **kw),
             lambda x, t, **kw: _tf().nll_loss(x, t, **kw), _nll_samples, lambda: [
                 ErrorSample((np.zeros((2, 3), F32), np.array([0, 3])), exc=IndexError,
                             match="Target 3 is out of bounds", desc="target range"),
                 ErrorSample((np.zeros((2, 3), F32), np.array([0, 1, 2])), exc=ValueError,
                             match=r"Expected input batch_size \(2\) to match target batch_size \(3\)",
                             desc="batch"),
             ]),
    OpRecord("nll_loss_backward",
             lambda g, t, like, **kw: apply(op("nll_loss_backward"), g, t, like, **kw),
             _torch_nll_backward, _nll_backward_samples),
)
