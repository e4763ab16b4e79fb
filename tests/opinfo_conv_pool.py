"""Operator-table records for the convolution, pooling and resizing ops of dualgraph/ops/nn_ops.py
added with conv1d / conv_transpose2d / avg_pool2d / adaptive_avg_pool2d / interpolate (and their
backward ops). Imported at the end of tests/opinfo.py, so test_ops.py runs them with every other
record: gradcheck, gradgradcheck, shape rules, PyTorch values, gradients and error wording.

conv1d and conv_transpose2d are no new ops: they are variants of the records of `conv2d` and
`conv2d_input_grad` (the transposed convolution).
"""
import numpy as np

import dualgraph as dg
from dualgraph.ops import apply

from opinfo import OpRecord, Sample, ErrorSample, T, add, op, u, F32, F64, I64, I32

F = dg.nn.functional


def _tf():
    return T.nn.functional


def _torch_vjp(forward):
    """What torch's autograd hands the input of `forward(x, **attrs)` for the cotangent g (with
    create_graph, so the backward ops' own gradients compare too)."""
    def ref(g, like, **attrs):
        x = like.detach().clone().requires_grad_(True)
        y = forward(x, **attrs)
        (gx,) = T.autograd.grad(y, x, g, create_graph=True)
        return gx
    return ref


# ---------------------------------------------------------------------------- conv1d
_CONV1D_CASES = [
    ((2, 3, 8), (4, 3, 3), True, {}, "basic+bias"),
    ((2, 4, 9), (6, 2, 2), False, dict(stride=2, padding=1, dilation=2, groups=2),
     "stride,pad,dilation,groups"),
    ((2, 2, 6), (3, 2, 4), True, dict(padding="same"), "same, even kernel"),
    ((2, 2, 6), (3, 2, 3), True, dict(padding="valid"), "valid"),
    ((3, 7), (2, 3, 3), True, dict(stride=(2,)), "unbatched"),
    ((0, 3, 5), (2, 3, 3), True, dict(padding=1), "empty batch"),
    ((1, 1, 1), (1, 1, 1), True, {}, "1x1"),
]


def _conv1d_samples(rng):
    out = []
    for xs, ws, bias, kw, desc in _CONV1D_CASES:
        args = (u(rng, xs), u(rng, ws)) + ((u(rng, (ws[0],)),) if bias else ())
        out.append(Sample(args, kw, desc))
    out.append(Sample((u(rng, (1, 2, 5), dtype=F64), u(rng, (3, 2, 2), dtype=F64),
                       u(rng, (3,), dtype=F64)), {"padding": 1}, "f64"))
    return out


def _conv1d_errors():
    z = np.zeros
    return [
        ErrorSample((z((2, 4, 8), F32), z((8, 3, 3), F32)),
                    match=r"Given groups=1, weight of size \[8, 3, 3\], expected input\[2, 4, 8\] to "
                          r"have 3 channels, but got 4 channels instead", desc="channels"),
        ErrorSample((z((2, 3, 2), F32), z((8, 3, 3), F32)),
                    match=r"Calculated padded input size per channel: \(2\). Kernel size: \(3\). "
                          r"Kernel size can't be greater than actual input size", desc="kernel too big"),
        ErrorSample((z((2, 3, 8), F32), z((8, 3, 3, 3), F32)),
                    match=r"Expected 4-dimensional input for 4-dimensional weight \[8, 3, 3, 3\], but "
                          r"got 3-dimensional input of size \[2, 3, 8\] instead", desc="4-D weight"),
        ErrorSample((z((2, 3, 8), F32), z((8, 3, 3), F32)), {"stride": 0},
                    match="non-positive stride is not supported", desc="stride 0"),
        ErrorSample((z((2, 3, 8), F32), z((8, 3, 3), F32)), {"stride": 2, "padding": "same"},
                    match="padding='same' is not supported for strided convolutions", desc="same+stride"),
        ErrorSample((z((2, 3, 8), F32), z((8, 3, 3), F32)), {"padding": "foo"},
                    match="Invalid padding string: 'foo'", desc="padding string"),
        ErrorSample((z((2, 3, 8), F32), z((8, 3, 3), F32), z((7,), F32)),
                    match=r"Given weight of size \[8, 3, 3\], expected bias to be 1-dimensional with 8 "
                          r"elements, but got bias of size \[7\] instead", desc="bias size"),
        ErrorSample((z((2, 4, 8), F32), z((8, 2, 3), F32)), {"groups": 3},
                    match=r"Given groups=3, expected weight to be divisible by 3 at dimension 0, but "
                          r"got weight of size \[\[8, 2, 3\]\] instead", desc="groups"),
        ErrorSample((z((2, 3, 8), F64), z((8, 3, 3), F32)),
                    match="expected scalar type Double but found Float", desc="dtype"),
    ]


# ---------------------------------------------------------------------------- conv_transpose2d
_CONVT_CASES = [
    ((2, 4, 5, 4), (4, 3, 3, 2), True, {}, "basic+bias"),
    ((2, 4, 4, 5), (4, 2, 3, 3), False,
     dict(stride=2, padding=1, output_padding=1), "stride,pad,output_padding"),
    ((1, 4, 4, 4), (4, 3, 2, 3), True, dict(stride=(2, 1), groups=2, dilation=(1, 2)),
     "groups,dilation"),
    ((1, 2, 3, 4), (2, 2, 3, 3), False, dict(dilation=2, output_padding=1),
     "output_padding < dilation, >= stride"),
    ((3, 4, 4), (3, 2, 3, 3), True, dict(stride=2), "unbatched"),
    ((0, 2, 3, 3), (2, 3, 3, 3), True, dict(padding=1), "empty batch"),
    ((1, 1, 1, 1), (1, 1, 1, 1), True, {}, "1x1"),
]


def _convt_samples(rng):
    out = []
    for xs, ws, bias, kw, desc in _CONVT_CASES:
        groups = kw.get("groups", 1)
        args = (u(rng, xs), u(rng, ws)) + ((u(rng, (ws[1] * groups,)),) if bias else ())
        out.append(Sample(args, kw, desc))
    out.append(Sample((u(rng, (1, 2, 3, 3), dtype=F64), u(rng, (2, 2, 2, 2), dtype=F64),
                       u(rng, (2,), dtype=F64)), dict(stride=2), "f64"))
    return out


def _convt_errors():
    z = np.zeros
    return [
        ErrorSample((z((2, 5, 8, 8), F32), z((4, 3, 3, 3), F32)),
                    match=r"Given transposed=1, weight of size \[4, 3, 3, 3\], expected input"
                          r"\[2, 5, 8, 8\] to have 4 channels, but got 5 channels instead", desc="channels"),
        ErrorSample((z((2, 4, 8, 8), F32), z((4, 3, 3, 3), F32)), {"output_padding": 1},
                    match=r"output padding must be smaller than either stride or dilation, but got "
                          r"output_padding_height: 1 output_padding_width: 1 stride_height: 1 "
                          r"stride_width: 1 dilation_height: 1 dilation_width: 1", desc="output_padding"),
        ErrorSample((z((2, 4), F32), z((4, 3, 3, 3), F32)),
                    match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv_transpose2d, but "
                          r"got input of size: \[2, 4\]", desc="2-D input"),
        ErrorSample((z((2, 4, 8, 8), F32), z((4, 3, 3, 3), F32), z((4,), F32)),
                    match=r"Given transposed=1, weight of size \[4, 3, 3, 3\], expected bias to be "
                          r"1-dimensional with 3 elements, but got bias of size \[4\] instead",
                    desc="bias size"),
        ErrorSample((z((2, 4, 8, 8), F32), z((4, 3, 3, 3), F32)), {"groups": 3},
                    match=r"Given groups=3, expected weight to be divisible by 3 at dimension 0, but "
                          r"got weight of size \[\[4, 3, 3, 3\]\] instead", desc="groups"),
        ErrorSample((z((2, 4, 8, 8), F32), z((4, 3, 3, 3), F32)), {"stride": 0},
                    match="non-positive stride is not supported", desc="stride 0"),
        ErrorSample((z((2, 4, 8, 8), F32), z((4, 3, 3, 3), F32)), {"padding": -1},
                    match="negative padding is not supported", desc="negative padding"),
        ErrorSample((z((2, 4, 8, 8), F64), z((4, 3, 3, 3), F32)),
                    match="expected scalar type Double but found Float", desc="dtype"),
    ]


add(
    OpRecord("conv2d", lambda x, w, *b, **kw: F.conv1d(x, w, *b, **kw),
             lambda x, w, *b, **kw: _tf().conv1d(x, w, *b, **kw), _conv1d_samples, _conv1d_errors,
             variant="conv1d", atol=1e-5, rtol=1e-4, grad_atol=1e-4, grad_rtol=1e-4),
    OpRecord("conv2d_input_grad", lambda x, w, *b, **kw: F.conv_transpose2d(x, w, *b, **kw),
             lambda x, w, *b, **kw: _tf().conv_transpose2d(x, w, *b, **kw), _convt_samples,
             _convt_errors, variant="conv_transpose2d",
             atol=1e-5, rtol=1e-4, grad_atol=1e-4, grad_rtol=1e-4),
    OpRecord("conv2d", lambda x: _DG_MODULES["conv1d"](x), lambda x: _conv1d_module(_torch())(x),
             lambda rng: [Sample((u(rng, (2, 3, 7)),), desc="module", numeric=False)],
             variant="Conv1d module",
             atol=1e-5, rtol=1e-4, grad_atol=1e-4, grad_rtol=1e-4),
    OpRecord("conv2d_input_grad", lambda x: _DG_MODULES["convt"](x),
             lambda x: _convt_module(_torch())(x),
             lambda rng: [Sample((u(rng, (2, 3, 4, 5)),), desc="module", numeric=False)],
             variant="ConvTranspose2d module", atol=1e-5, rtol=1e-4, grad_atol=1e-4, grad_rtol=1e-4),
)


def _fixed(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype(F32)


def _torch():
    import torch
    return torch


def _conv1d_module(L):
    return _load(L.nn.Conv1d(3, 4, 3, stride=2, padding=1), L,
                 {"weight": _fixed((4, 3, 3), 1), "bias": _fixed((4,), 2)})


def _convt_module(L):
    return _load(L.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), L,
                 {"weight": _fixed((3, 2, 3, 3), 3), "bias": _fixed((2,), 4)})


def _load(m, L, state):
    m.load_state_dict({k: L.tensor(v) for k, v in state.items()})
    return m


# built eagerly, once (a graph captures their parameters as variables)
_DG_MODULES = {"conv1d": _conv1d_module(dg), "convt": _convt_module(dg)}


# ---------------------------------------------------------------------------- avg_pool2d
_AVG_CASES = [
    ((2, 3, 6, 5), dict(kernel_size=2), "basic"),
    ((1, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1), "stride, padding"),
    ((1, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), "ceil_mode"),
    ((1, 2, 6, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True,
                        count_include_pad=False), "no pad count, ceil"),
    ((2, 1, 5, 5), dict(kernel_size=2, stride=1, divisor_override=3), "divisor_override"),
    ((0, 2, 4, 4), dict(kernel_size=2), "empty batch"),
    ((2, 3, 1, 1), dict(kernel_size=1), "1x1"),
    ((2, 4, 4), dict(kernel_size=2), "unbatched"),
]


def _avg_samples(rng):
    out = [Sample((u(rng, xs),), kw, desc) for xs, kw, desc in _AVG_CASES]
    out.append(Sample((u(rng, (1, 2, 5, 5), dtype=F64),), dict(kernel_size=3, stride=1, padding=1),
                      "f64, overlapping"))
    out.append(Sample((rng.integers(-9, 9, size=(1, 2, 5, 5)).astype(I64),),
                      dict(kernel_size=2, padding=1), "i64"))
    return out


def _avg_errors():
    z = np.zeros
    return [
        ErrorSample((z((2, 3, 8, 8), F32),), dict(kernel_size=3, padding=2),
                    match=r"pad should be at most half of effective kernel size, but got pad=2, "
                          r"kernel_size=3 and dilation=1", desc="pad > k/2"),
        ErrorSample((z((2, 3), F32),), dict(kernel_size=3), exc=IndexError,
                    match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got -3\)",
                    desc="2-D"),
        ErrorSample((z((2, 3, 2, 2), F32),), dict(kernel_size=3),
                    match=r"Given input size: \(3x2x2\). Calculated output size: \(3x0x0\). Output "
                          r"size is too small", desc="too small"),
        ErrorSample((z((2, 3, 8, 8), F32),), dict(kernel_size=3, stride=0),
                    match="stride should not be zero", desc="stride 0"),
        ErrorSample((z((2, 3, 8, 8), F32),), dict(kernel_size=3, padding=-1),
                    match="pad must be non-negative, but got pad: -1", desc="negative pad"),
        ErrorSample((z((2, 3, 8, 8), F32),), dict(kernel_size=3, divisor_override=0),
                    match="divisor must be not zero", desc="divisor 0"),
        ErrorSample((z((2, 0, 8, 8), F32),), dict(kernel_size=2),
                    match=r"Expected 3D or 4D \(batch mode\) tensor with optional 0 dim batch size "
                          r"for input, but got:\[2, 0, 8, 8\]", desc="empty channels"),
        ErrorSample((z((2, 3, 8, 8), I32),), dict(kernel_size=2), exc=RuntimeError,
                    match="\"avg_pool2d\" not implemented for 'Int'", desc="int32"),
    ]


def _avg_attrs(kw):
    def pair(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    k = pair(kw["kernel_size"])
    return dict(kernel_size=k, stride=pair(kw.get("stride", k)), padding=pair(kw.get("padding", 0)),
                ceil_mode=kw.get("ceil_mode", False),
                count_include_pad=kw.get("count_include_pad", True),
                divisor_override=kw.get("divisor_override"))


def _backward_samples(rng, cases, attrs_of, forward):
    """(g, x) samples for a backward op: g shaped like the forward's output."""
    out = []
    for xs, kw, desc in cases:
        if len(xs) == 3:
            continue
        a = attrs_of(kw)
        x = u(rng, xs)
        y = forward(dg.tensor(x), **a)
        out.append(Sample((u(rng, tuple(y.shape)), x), a, desc, no_grad_args=(1,)))
    return out


def _avg_forward(x, **a):
    return apply(op("avg_pool2d"), x, **a)


add(
    OpRecord("avg_pool2d", lambda x, **kw: F.avg_pool2d(x, **kw),
             lambda x, **kw: _tf().avg_pool2d(x, **kw), _avg_samples, _avg_errors),
    OpRecord("avg_pool2d", lambda x: dg.nn.AvgPool2d(3, 2, 1, ceil_mode=True)(x),
             lambda x: T.nn.AvgPool2d(3, 2, 1, ceil_mode=True)(x),
             lambda rng: [Sample((u(rng, (1, 2, 6, 7)),), desc="module")], variant="module"),
    OpRecord("avg_pool2d_backward",
             lambda g, x, **kw: apply(op("avg_pool2d_backward"), g, x, **kw),
             _torch_vjp(lambda x, **a: _tf().avg_pool2d(x, **a)),
             lambda rng: _backward_samples(rng, _AVG_CASES, _avg_attrs, _avg_forward)),
)


# ---------------------------------------------------------------------------- adaptive_avg_pool2d
_ADAPT_CASES = [
    ((2, 3, 6, 8), dict(output_size=(3, 4)), "divisible"),
    ((2, 3, 7, 5), dict(output_size=(3, 2)), "non-divisible"),
    ((1, 2, 5, 5), dict(output_size=(None, 3)), "None entry"),
    ((2, 2, 5, 3), dict(output_size=1), "global"),
    ((1, 2, 3, 3), dict(output_size=(5, 4)), "larger than input"),
    ((0, 2, 4, 4), dict(output_size=2), "empty batch"),
    ((2, 0, 4, 4), dict(output_size=2), "no channels"),
    ((2, 3, 4, 4), dict(output_size=0), "empty output"),
    ((3, 5, 5), dict(output_size=2), "unbatched"),
]


_TORCH_NO_GRAD = ("no channels", "empty output")


def _adapt_samples(rng):
    # PyTorch's backward refuses an empty channel dim or output (ours gives the zero gradient)
    out = [Sample((u(rng, xs),), kw, desc, torch_grad=desc not in _TORCH_NO_GRAD)
           for xs, kw, desc in _ADAPT_CASES]
    out.append(Sample((u(rng, (1, 2, 7, 6), dtype=F64),), dict(output_size=(4, 4)), "f64"))
    return out


def _adapt_errors():
    z = np.zeros
    return [
        ErrorSample((z((2, 3), F32),), dict(output_size=2),
                    match=r"adaptive_avg_pool2d\(\): Expected 3D or 4D tensor, but got \[2, 3\]",
                    desc="2-D"),
        ErrorSample((z((2, 3, 4, 4), F32),), dict(output_size=(-1, 2)),
                    match=r"adaptive_avg_pool2d: elements of output_size must be greater than or "
                          r"equal to 0 but received \{-1, 2\}", desc="negative"),
        ErrorSample((z((2, 3, 0, 4), F32),), dict(output_size=2),
                    match=r"adaptive_avg_pool2d\(\): Expected input to have non-zero size for "
                          r"non-batch dimensions, but input has sizes \[2, 3, 0, 4\] with dimension "
                          r"2 being empty", desc="empty height"),
        ErrorSample((z((2, 3, 4, 4), F32),), dict(output_size=(2, 3, 4)),
                    match="adaptive_avg_pool2d: output_size must be 2", desc="3 sizes"),
        ErrorSample((z((2, 3, 4, 4), I64),), dict(output_size=2), exc=RuntimeError,
                    match="\"adaptive_avg_pool2d\" not implemented for 'Long'", desc="int64"),
    ]


def _adapt_attrs(kw):
    o = kw["output_size"]
    return dict(output_size=tuple(o) if isinstance(o, tuple) else (o, o))


add(
    OpRecord("adaptive_avg_pool2d", lambda x, **kw: F.adaptive_avg_pool2d(x, **kw),
             lambda x, **kw: _tf().adaptive_avg_pool2d(x, **kw), _adapt_samples, _adapt_errors),
    OpRecord("adaptive_avg_pool2d", lambda x: dg.nn.AdaptiveAvgPool2d((3, None))(x),
             lambda x: T.nn.AdaptiveAvgPool2d((3, None))(x),
             lambda rng: [Sample((u(rng, (2, 2, 7, 5)),), desc="module")], variant="module"),
    OpRecord("adaptive_avg_pool2d_backward",
             lambda g, x, **kw: apply(op("adaptive_avg_pool2d_backward"), g, x, **kw),
             _torch_vjp(lambda x, output_size: _tf().adaptive_avg_pool2d(x, output_size)),
             lambda rng: _backward_samples(
                 rng, [c for c in _ADAPT_CASES if c[2] not in _TORCH_NO_GRAD], _adapt_attrs,
                 lambda x, **a: apply(op("adaptive_avg_pool2d"), x, **a))),
)


# ---------------------------------------------------------------------------- interpolate
_INTERP_CASES = [
    ((2, 3, 4, 5), dict(size=(7, 3)), "nearest size"),
    ((1, 2, 3, 4), dict(scale_factor=2), "nearest x2"),
    ((1, 2, 5, 3), dict(scale_factor=1.7), "nearest x1.7"),
    ((1, 2, 6, 5), dict(scale_factor=(0.5, 0.4)), "nearest down"),
    ((2, 2, 4, 5), dict(size=(6, 9), mode="bilinear"), "bilinear"),
    ((1, 2, 4, 5), dict(size=(3, 7), mode="bilinear", align_corners=True), "bilinear corners"),
    ((1, 2, 6, 7), dict(scale_factor=0.6, mode="bilinear"), "bilinear down x0.6"),
    ((1, 2, 3, 3), dict(scale_factor=1.5, mode="bilinear", recompute_scale_factor=True),
     "bilinear recompute"),
    ((1, 2, 4, 3), dict(size=(1, 5), mode="bilinear", align_corners=True), "bilinear to 1 row"),
    ((0, 2, 3, 3), dict(size=4, mode="bilinear"), "empty batch"),
    ((2, 3, 1, 1), dict(size=(3, 2), mode="bilinear"), "1x1 input"),
]


def _interp_samples(rng):
    out = [Sample((u(rng, xs),), kw, desc) for xs, kw, desc in _INTERP_CASES]
    out.append(Sample((u(rng, (1, 2, 4, 3), dtype=F64),), dict(scale_factor=2.5, mode="bilinear"),
                      "f64 bilinear"))
    out.append(Sample((u(rng, (1, 2, 4, 3), dtype=F64),), dict(size=(5, 7)), "f64 nearest"))
    return out


def _interp_errors():
    z = np.zeros
    return [
        ErrorSample((z((1, 2, 4, 4), F32),), {}, exc=ValueError,
                    match="either size or scale_factor should be defined", desc="neither"),
        ErrorSample((z((1, 2, 4, 4), F32),), dict(size=3, scale_factor=2), exc=ValueError,
                    match="only one of size or scale_factor should be defined", desc="both"),
        ErrorSample((z((1, 2, 4, 4), F32),), dict(size=(3,)), exc=ValueError,
                    match=r"Input and output must have the same number of spatial dimensions, but "
                          r"got input with spatial dimensions of \[4, 4\] and output size of \(3,\)",
                    desc="size length"),
        ErrorSample((z((1, 2, 4, 4), F32),), dict(size=3, align_corners=True), exc=ValueError,
                    match="align_corners option can only be set with the interpolating modes: "
                          "linear | bilinear | bicubic | trilinear", desc="align_corners nearest"),
        ErrorSample((z((1, 2, 4), F32),), dict(size=3, mode="bilinear"), exc=RuntimeError,
                    match="Got 3D input, but bilinear mode needs 4D input", desc="3-D bilinear"),
        ErrorSample((z((1, 2, 4, 4), F32),), dict(size=3, mode="foo"), exc=RuntimeError,
                    match=r"Input Error: Only 3D, 4D and 5D input Tensors supported \(got 4D\)",
                    desc="unknown mode"),
        ErrorSample((z((1, 2, 4, 4), F32),), dict(size=0),
                    match=r"Input and output sizes should be greater than 0, but got input \(H: 4, "
                          r"W: 4\) output \(H: 0, W: 0\)", desc="size 0"),
        ErrorSample((z((1, 0, 4, 4), F32),), dict(size=3, mode="bilinear"),
                    match=r"Non-empty 4D data tensor expected but got a tensor with sizes "
                          r"\[1, 0, 4, 4\]", desc="no channels"),
        ErrorSample((z((1, 2, 4, 4), I64),), dict(size=3), exc=RuntimeError,
                    match="\"upsample_nearest2d_channels_last\" not implemented for 'Long'",
                    desc="int64"),
        ErrorSample((z((1, 2, 4, 4), F32),), dict(size=3, recompute_scale_factor=True),
                    exc=ValueError, match="recompute_scale_factor is not meaningful with an "
                                          "explicit size.", desc="recompute with size"),
    ]


def _interp_attrs(kw):
    """F.interpolate's keywords -> the interpolate op's attributes (no recompute)."""
    def pair(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    mode = kw.get("mode", "nearest")
    size = pair(kw["size"]) if "size" in kw else (None, None)
    scales = tuple(float(s) for s in pair(kw["scale_factor"])) if "scale_factor" in kw \
        else (None, None)
    return dict(size=size, scales=scales, mode=mode,
                align_corners=bool(kw.get("align_corners", False)) if mode == "bilinear" else None)


def _torch_interp(x, size, scales, mode, align_corners):
    if scales[0] is not None:
        return _tf().interpolate(x, scale_factor=scales, mode=mode, align_corners=align_corners)
    return _tf().interpolate(x, size=size, mode=mode, align_corners=align_corners)


add(
    OpRecord("interpolate", lambda x, **kw: F.interpolate(x, **kw),
             lambda x, **kw: _tf().interpolate(x, **kw), _interp_samples, _interp_errors,
             atol=1e-5, rtol=1e-5),
    OpRecord("interpolate", lambda x: dg.nn.Upsample(scale_factor=2, mode="bilinear")(x),
             lambda x: T.nn.Upsample(scale_factor=2, mode="bilinear")(x),
             lambda rng: [Sample((u(rng, (1, 2, 3, 4)),), desc="module")], variant="Upsample module",
             atol=1e-5, rtol=1e-5),
    OpRecord("interpolate_backward",
             lambda g, x, **kw: apply(op("interpolate_backward"), g, x, **kw),
             _torch_vjp(_torch_interp),
             lambda rng: _backward_samples(
                 rng, [(xs, _interp_attrs(kw), d) for xs, kw, d in _INTERP_CASES
                       if not kw.get("recompute_scale_factor")],
                 lambda a: a, lambda x, **a: apply(op("interpolate"), x, **a)),
             atol=1e-5, rtol=1e-5),
)


# ---------------------------------------------------------------------------- interpolate: 1-D, area
def _interp1d_samples(rng):
    return [
        Sample((u(rng, (2, 3, 4)),), dict(size=7, mode="linear"), "linear size"),
        Sample((u(rng, (2, 3, 5)),), dict(scale_factor=1.7, mode="linear", align_corners=True),
               "linear corners"),
        Sample((u(rng, (1, 2, 6)),), dict(scale_factor=0.5, mode="linear"), "linear down"),
        Sample((u(rng, (2, 3, 3)),), dict(size=7), "nearest size"),
        # PyTorch's upsample_nearest1d backward takes the 2-D kernel's shortcuts, its forward
        # does not: its gradient is not the forward's adjoint here (torch's own gradcheck
        # fails); ours is the adjoint (gradcheck), and the forward values agree
        Sample((u(rng, (2, 3, 3)),), dict(scale_factor=2.101), "nearest x2.101", torch_grad=False),
        Sample((u(rng, (0, 2, 3)),), dict(size=4, mode="linear"), "empty batch"),
        Sample((u(rng, (2, 2, 1)),), dict(size=3, mode="linear"), "length 1"),
    ]


add(
    OpRecord("interpolate", lambda x, **kw: F.interpolate(x, **kw),
             lambda x, **kw: _tf().interpolate(x, **kw), _interp1d_samples, lambda: [
                 ErrorSample((np.zeros((1, 2, 4, 4), F32),), dict(size=3, mode="linear"),
                             exc=RuntimeError, match="Got 4D input, but linear mode needs 3D input",
                             desc="linear 4-D"),
                 ErrorSample((np.zeros((1, 2, 4), I64),), dict(size=3), exc=RuntimeError,
                             match="\"compute_indices_weights_nearest\" not implemented for 'Long'",
                             desc="int64"),
                 ErrorSample((np.zeros((1, 2, 4), F32),), dict(size=0, mode="linear"),
                             match=r"Input and output sizes should be greater than 0, but got input "
                                   r"\(W: 4\) and output \(W: 0\)", desc="size 0"),
             ], variant="1-D", atol=1e-5, rtol=1e-5),
    OpRecord("adaptive_avg_pool2d", lambda x, **kw: F.interpolate(x, mode="area", **kw),
             lambda x, **kw: _tf().interpolate(x, mode="area", **kw),
             lambda rng: [Sample((u(rng, (2, 3, 7, 5)),), dict(size=(3, 4)), "size"),
                          Sample((u(rng, (1, 2, 5, 6)),), dict(scale_factor=0.6), "scale"),
                          Sample((u(rng, (0, 2, 4, 4)),), dict(size=2), "empty batch")],
             variant="interpolate area"),
)


# ---------------------------------------------------------------- cross_entropy (fused), its backward
def _ce_samples(rng):
    def t(n, c, ignore=()):
        a = rng.integers(0, c, n)
        a[list(ignore)] = -100
        return a
    return [Sample((u(rng, (4, 3)), t(4, 3)), desc="mean"),
            Sample((u(rng, (5, 4)), t(5, 4, [1, 3])), {"reduction": "sum"}, desc="sum, ignored rows"),
            Sample((u(rng, (3, 2)), t(3, 2, [0])), {"reduction": "none"}, desc="none"),
            Sample((u(rng, (2, 5), dtype=F64), t(2, 5)), desc="f64"),
            Sample((u(rng, (1, 1)), t(1, 1)), desc="1x1"),
            Sample((u(rng, (0, 3)), t(0, 3)), {"reduction": "sum"}, desc="empty")]


def _ce_errors():
    z = np.zeros
    return [ErrorSample((z((2, 3), F32), np.array([0, 3])), exc=IndexError,
                        match="Target 3 is out of bounds.", desc="range"),
            ErrorSample((z((2, 3), F32), np.array([0, 1, 2])), exc=ValueError,
                        match=r"Expected input batch_size \(2\) to match target batch_size \(3\)\.", desc="batch")]


add(
    OpRecord("cross_entropy", lambda x, t, **kw: F.cross_entropy(x, t, **kw),
             lambda x, t, **kw: _tf().cross_entropy(x, t, **kw), _ce_samples, _ce_errors,
             notes="log_softmax + nll_loss fused (F.cross_entropy's common case)"),
    OpRecord("cross_entropy_backward",
             lambda g, x, t, reduction="mean": apply(op("cross_entropy_backward"), g, x, t,
                                                      ignore_index=-100, reduction=reduction),
             None,
             lambda rng: [Sample((u(rng, ()), u(rng, (4, 3)), rng.integers(0, 3, 4)), desc="mean"),
                          Sample((u(rng, (3,)), u(rng, (3, 2)), np.array([1, -100, 0])),
                                 {"reduction": "none"}, desc="none, ignored"),
                          Sample((u(rng, (), dtype=F64), u(rng, (2, 4), dtype=F64), np.array([3, 0])),
                                 {"reduction": "sum"}, desc="f64 sum"),
                          Sample((u(rng, ()), u(rng, (0, 3)), np.zeros(0, np.int64)), {"reduction": "sum"},
                                 desc="empty")],
             notes="its rule (double backward) is checked by gradgradcheck of cross_entropy too"),
)
