"""dg.nn.functional (as F): the functional forms of layers, activations and losses.

Everything here is composed from registry ops through the one dispatch door (`ops.apply` or
the public op functions), so it runs eagerly and builds graph nodes alike. The only eager-only
code is value checks that PyTorch performs on concrete data (e.g. "Target 7 is out of
bounds."): they run when executing eagerly and are skipped while a graph is being built.
"""
import warnings

from .. import dtypes as _dt
from ..errors import DGIndexError, DGNotImplementedError, DGRuntimeError, DGValueError
from ..ops import nn_ops as _nn
from ..ops.common import fmt_shape
from ..ops.creation import one_hot, bernoulli_keep_op  # noqa: F401 (one_hot is public)
from ..ops.dispatch import apply
from ..ops.elementwise import relu as _relu, relu_op, where, rsqrt
from ..ops.elementwise import sigmoid, tanh  # noqa: F401 (public in F)
from ..ops.reductions import softmax as _softmax, log_softmax as _log_softmax
from ..tensor_methods import TensorMethods

__all__ = [
    "relu", "relu_", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax", "one_hot",
    "linear", "dropout", "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "conv2d",
    "max_pool2d", "layer_norm", "batch_norm", "embedding", "pad", "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]


def _eager():
    from ..mode import executing_eagerly
    return executing_eagerly()


def _is_tensor(x):
    return isinstance(x, TensorMethods)


def _pair(v):
    return _nn._pair(v)


_fmt = fmt_shape


def _size_repr(shape):
    return f"dualgraph.Size({list(shape)})"


def _check_reduction(reduction):
    if reduction not in ("mean", "sum", "none"):
        raise DGValueError(f"{reduction} is not a valid value for reduction")


def _reduce(loss, reduction):
    _check_reduction(reduction)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


# ================================================================ activations
def relu(input, inplace=False):
    if inplace:
        return input.relu_()
    return _relu(input)


def relu_(input):
    return relu(input, inplace=True)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    out = where(input > 0, input, input * negative_slope)
    if inplace:
        return input.copy_(out)
    return out


def _softmax_dim(ndim):
    warnings.warn("Implicit dimension choice for softmax has been deprecated. Change the call to "
                  "include dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim(input.ndim)
    return _softmax(input, dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim(input.ndim)
    return _log_softmax(input, dim, dtype=dtype)


# ================================================================ linear / dropout / embedding
def linear(input, weight, bias=None):
    """y = x W^T + b (weight is (out_features, in_features), as PyTorch)."""
    if bias is None:
        return apply(_nn.linear_op, input, weight)
    return apply(_nn.linear_op, input, weight, bias)


def dropout(input, p=0.5, training=True, inplace=False):
    if p < 0.0 or p > 1.0:
        raise DGValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        mask = input * 0.0
        return input.mul_(0.0) if inplace else mask
    mask = apply(bernoulli_keep_op, input.detach(), p=p) * (1.0 / (1.0 - p))
    return input.mul_(mask) if inplace else input * mask


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of `weight` picked by integer `input` (an advanced-indexing getitem, so the backward
    scatters into the picked rows). `padding_idx` rows get no gradient, as in PyTorch."""
    if input.dtype.np.kind not in "iu":
        raise DGRuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
            f"Long, Int; but got dualgraph.{_dt.torch_name(input.dtype.np)} instead (while "
            "checking arguments for embedding)")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise DGRuntimeError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    n = weight.shape[0]
    if padding_idx is not None:
        if padding_idx < 0:
            padding_idx += n if n is not None else 0
    if n is not None:  # (checked where the indices are: at the call, or at each run of a plan)
        input = apply(_nn.check_values_op, input, kind="index", message="index out of range in self", bound=n)
    out = weight[input]
    if padding_idx is not None:
        keep = (input != padding_idx).unsqueeze(-1)
        out = where(keep, out, out.detach())
    return out


# ================================================================ convolution / pooling / pad
def _conv_padding(padding, weight, stride, dilation):
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise DGRuntimeError("padding='same' is not supported for strided convolutions")
            kh, kw = weight.shape[2], weight.shape[3]
            th, tw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        raise DGRuntimeError(f"Invalid padding string: '{padding}'")
    ph, pw = _pair(padding)
    return (ph, ph, pw, pw)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation over NCHW (or unbatched CHW) input, as torch.nn.functional.conv2d."""
    stride, dilation = _pair(stride), _pair(dilation)
    pads = _conv_padding(padding, weight, stride, dilation)
    unbatched = input.ndim == 3
    if unbatched:
        input = input.unsqueeze(0)
    args = (input, weight) if bias is None else (input, weight, bias)
    out = apply(_nn.conv2d_op, *args, stride=stride, padding=pads, dilation=dilation,
                groups=int(groups))
    return out.squeeze(0) if unbatched else out


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    k = _pair(kernel_size)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else _pair(stride)
    attrs = dict(kernel_size=k, stride=s, padding=_pair(padding), dilation=_pair(dilation),
                 ceil_mode=bool(ceil_mode))
    unbatched = input.ndim == 3
    if unbatched:
        input = input.unsqueeze(0)
    out = apply(_nn.max_pool2d_op, input, **attrs)
    if unbatched:
        out = out.squeeze(0)
    if not return_indices:
        return out
    idx = apply(_nn.max_pool2d_indices_op, input, **attrs)
    return out, (idx.squeeze(0) if unbatched else idx)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def pad(input, pad, mode="constant", value=None):
    """torch.nn.functional.pad, constant mode: pad (or crop, if negative) the last dims."""
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise DGRuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise DGRuntimeError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {input.ndim}")
    if mode != "constant":
        raise DGRuntimeError(f"pad: mode {mode!r} is not supported (only 'constant')")
    pairs = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        pairs[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return apply(_nn.constant_pad_op, input, pads=tuple(pairs), value=0 if value is None else value)


# ================================================================ normalisation
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(int(d) for d in normalized_shape)
    k = len(normalized_shape)
    tail = tuple(input.shape[input.ndim - k:]) if k <= input.ndim else None
    if tail is None or any(a is not None and a != b for a, b in zip(tail, normalized_shape)):
        raise DGRuntimeError(
            f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
            f"[*, {', '.join(str(d) for d in normalized_shape)}], but got input of size"
            f"{_fmt(input.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != normalized_shape:
            raise DGRuntimeError(
                f"Expected {name} to be of same shape as normalized_shape, but got {name} of "
                f"shape {_fmt(t.shape)} and normalized_shape = {list(normalized_shape)}")
    dims = tuple(range(-k, 0))
    mean = input.mean(dim=dims, keepdim=True)
    var = input.var(dim=dims, keepdim=True, unbiased=False)
    out = (input - mean) * rsqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over (N, C, *) input, composed from mean/var/rsqrt so it
    differentiates and stages into graphs like any other ops. In training mode the running
    statistics are updated in place (under no_grad) with the unbiased batch variance."""
    from ..autograd import no_grad
    if input.ndim < 2:
        raise DGValueError(f"expected 2D or 3D input (got {input.ndim}D input)")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and c is not None and t.numel() != c:
            raise DGRuntimeError(f"{name} should contain {c} elements not {t.numel()}")
    dims = (0,) + tuple(range(2, input.ndim))
    shape = (1, -1) + (1,) * (input.ndim - 2)
    if training:
        count = 1
        for d in dims:
            count = None if count is None or input.shape[d] is None else count * input.shape[d]
        if count is not None and count <= 1:
            raise DGValueError(
                "Expected more than 1 value per channel when training, got input size "
                f"{_size_repr(input.shape)}")
        mean = input.mean(dim=dims)
        var = input.var(dim=dims, unbiased=False)
        if running_mean is not None or running_var is not None:
            with no_grad():
                if running_mean is not None:
                    running_mean.mul_(1 - momentum).add_(mean.detach() * momentum)
                if running_var is not None:
                    if count is not None:
                        unbiased = var.detach() * (count / max(count - 1, 1))
                    else:  # a graph with dims known only when it runs
                        unbiased = input.detach().var(dim=dims, unbiased=True)
                    running_var.mul_(1 - momentum).add_(unbiased * momentum)
    else:
        if running_mean is None or running_var is None:
            raise DGRuntimeError("running_mean and running_var must be defined in evaluation mode")
        mean, var = running_mean, running_var
    out = (input - mean.reshape(shape)) * rsqrt(var.reshape(shape) + eps)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


# ================================================================ losses
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({_size_repr(target.shape)}) that is different to the input "
            f"size ({_size_repr(input.shape)}). This will likely lead to incorrect results due "
            "to broadcasting. Please ensure they have the same size.", UserWarning, stacklevel=2)
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy(size_average, reduce, reduction)
    _check_reduction(reduction)
    return _reduce((input - target).abs(), reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    reduction = _legacy(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise DGValueError(
            f"Using a target size ({_size_repr(target.shape)}) that is different to the input "
            f"size ({_size_repr(input.shape)}) is deprecated. Please ensure they have the same size.")
    input = apply(_nn.check_values_op, input, kind="unit_interval",  # (nan fails too)
                  message="all elements of input should be between 0 and 1")
    # PyTorch clamps the logs at -100 so that 0 * log(0) stays finite
    loss = -(target * input.log().clamp(min=-100) + (1 - target) * (1 - input).log().clamp(min=-100))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    reduction = _legacy(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise DGValueError(
            f"Target size ({_size_repr(target.shape)}) must be the same as input size "
            f"({_size_repr(input.shape)})")
    # log(1 + exp(-|x|)) + max(-x, 0): finite for any logits
    log_sig_neg = -((-input.abs()).exp().log1p() + (-input).clamp(min=0))    # log(sigmoid(x))
    log_one_minus = log_sig_neg - input                                   # log(1 - sigmoid(x))
    if pos_weight is not None:
        loss = -(pos_weight * target * log_sig_neg + (1 - target) * log_one_minus)
    else:
        loss = -(target * log_sig_neg + (1 - target) * log_one_minus)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _check_nll_args(input, target, weight):
    nd = input.ndim
    if nd < 1:
        raise DGValueError(f"Expected 1 or more dimensions (got {nd})")
    if nd <= 2 and target.ndim != nd - 1:
        raise DGRuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if nd >= 2 and target.ndim >= 1 and None not in (input.shape[0], target.shape[0]) \
            and input.shape[0] != target.shape[0]:
        raise DGValueError(
            f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
            f"({target.shape[0]}).")
    if nd > 2:
        want = (input.shape[0],) + tuple(input.shape[2:])
        if tuple(target.shape) != want:
            raise DGRuntimeError(f"Expected target size {_fmt(want)}, got {_fmt(target.shape)}")
    kind = target.dtype.np
    if kind not in (_dt.I64, _dt.uint8.np):
        raise DGRuntimeError(
            f"expected target dtype to be Long or Byte, but got {_dt.scalar_name(kind)}")
    c = input.shape[1] if nd >= 2 else input.shape[0]
    if weight is not None and c is not None and (weight.ndim != 1 or weight.shape[0] != c):
        raise DGRuntimeError(
            f"weight tensor should be defined either for all {c} classes or no classes but got "
            f"weight tensor of shape: {_fmt(weight.shape)}")
    return c


def _classes_last(input):
    """(N, C, d1, ...) -> (N * d1 * ..., C); (N, C) and (C,) pass through (as 2-D)."""
    if input.ndim == 1:
        return input.unsqueeze(0)
    if input.ndim == 2:
        return input
    perm = (0,) + tuple(range(2, input.ndim)) + (1,)
    return input.permute(*perm).reshape(-1, input.shape[1])


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of class-index targets given log-probabilities, as PyTorch
    (class dim 1; weight, ignore_index and the weighted mean)."""
    reduction = _legacy(size_average, reduce, reduction)
    _check_reduction(reduction)
    c = _check_nll_args(input, target, weight)
    if target.dtype.np != _dt.I64:
        target = target.long()
    if weight is None and input.ndim == 2 and target.ndim == 1:
        # the common case as one op (the kernel checks the targets' range)
        return apply(_nn.nll_loss_op, input, target, ignore_index=ignore_index, reduction=reduction)
    tshape = tuple(target.shape)
    logp = _classes_last(input)                    # (M, C)
    t = target.reshape(-1)                         # (M,)
    if c is not None:
        t = apply(_nn.check_values_op, t, kind="index", message="Target {value} is out of bounds.",
                  bound=c, ignore=ignore_index)
    valid = t != ignore_index
    safe = where(valid, t, 0)
    picked = logp.gather(1, safe.unsqueeze(1)).squeeze(1)
    w = valid.to(input.dtype) if weight is None else weight[safe] * valid
    loss = -(picked * w)
    if reduction == "none":
        if input.ndim == 1:
            return loss.reshape(())
        # in a graph the batch size may be unknown (None) until it runs: let reshape infer it
        return loss.reshape(tuple(-1 if d is None else d for d in tshape))
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w.sum()


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """log_softmax over dim 1 followed by nll_loss, or, for a floating target shaped like the
    input, the cross entropy with class probabilities. Finite for huge logits."""
    reduction = _legacy(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise DGRuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.ndim == 1 else 1
    if (weight is None and label_smoothing <= 0 and input.ndim == 2 and target.ndim == 1
            and target.dtype.np.kind in "iu" and input.dtype.np.kind == "f"):
        # the common case as one op, forward and backward (the same numbers as the two ops)
        _check_nll_args(input, target, weight)
        if target.dtype.np != _dt.I64:
            target = target.long()
        return apply(_nn.cross_entropy_op, input, target, ignore_index=ignore_index,
                     reduction=reduction)
    logp = _log_softmax(input, class_dim)
    c = input.shape[class_dim]
    wshape = (-1,) + (1,) * (input.ndim - class_dim - 1)
    if target.dtype.np.kind == "f" and tuple(target.shape) == tuple(input.shape):
        if weight is not None and (weight.ndim != 1 or weight.shape[0] != c):
            raise DGRuntimeError(
                f"weight tensor should be defined either for all {c} classes or no classes but "
                f"got weight tensor of shape: {_fmt(weight.shape)}")
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / c
        prod = logp * target
        if weight is not None:
            prod = prod * weight.reshape(wshape)
        loss = -prod.sum(dim=class_dim)
        if reduction == "mean":
            n = input.numel() // c if None not in tuple(input.shape) else None
            return loss.sum() / n if n is not None else loss.mean()
        return _reduce(loss, reduction)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing <= 0:
        return nll
    ignore = target == ignore_index
    if weight is not None:
        smooth = -(logp * weight.reshape(wshape)).sum(dim=class_dim)
    else:
        smooth = -logp.sum(dim=class_dim)
    smooth = where(ignore, 0.0, smooth)
    if reduction == "mean":
        if weight is not None:
            safe = where(ignore, 0, target.long())
            denom = (weight[safe] * (~ignore)).sum()
        else:
            denom = (~ignore).sum()
        ret = smooth.sum() / denom
    elif reduction == "sum":
        ret = smooth.sum()
    else:
        ret = smooth
    return nll * (1 - label_smoothing) + ret * (label_smoothing / c)


# PyTorch keeps these names in F as well
def identity(input):
    return input



# ================================================================ conv1d, conv_transpose2d,
# avg/adaptive pooling, group_norm, dropout2d, interpolate
def _single(v, name="value"):
    if isinstance(v, (list, tuple)):
        if len(v) != 1:
            raise DGRuntimeError(
                f"expected {name} to be a single integer value or a list of 1 values to match "
                f"the convolution dimensions, but got {name}={list(v)}")
        return int(v[0])
    return int(v)


def _check_conv_nd(input, weight, bias, groups, k, fname, transposed=False):
    """PyTorch's convolution argument checks for a k-spatial-dim conv (unbatched input already
    given its batch dim), with PyTorch's wording for that rank."""
    if weight.ndim != k + 2:
        raise DGRuntimeError(
            f"Expected {weight.ndim}-dimensional input for {weight.ndim}-dimensional weight "
            f"{_fmt(weight.shape)}, but got {input.ndim}-dimensional input of size "
            f"{_fmt(input.shape)} instead")
    if input.dtype != weight.dtype:
        raise DGRuntimeError(f"expected scalar type {_dt.scalar_name(input.dtype.np)} but found "
                             f"{_dt.scalar_name(weight.dtype.np)}")
    if groups <= 0:
        raise DGRuntimeError("non-positive groups is not supported")
    w0, w1 = weight.shape[0], weight.shape[1]
    if w0 is not None and w0 % groups:
        raise DGRuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{_fmt(weight.shape)}] instead")
    c = input.shape[1]
    want = w0 if transposed else (None if w1 is None else w1 * groups)
    if c is not None and want is not None and c != want:
        t = "transposed=1, " if transposed else f"groups={groups}, "
        raise DGRuntimeError(
            f"Given {t}weight of size {_fmt(weight.shape)}, expected input{_fmt(input.shape)} "
            f"to have {want} channels, but got {c} channels instead")
    if bias is not None:
        nb = (None if w1 is None else w1 * groups) if transposed else w0
        if bias.ndim != 1 or (nb is not None and bias.shape[0] is not None and bias.shape[0] != nb):
            t = "transposed=1, " if transposed else ""
            raise DGRuntimeError(
                f"Given {t}weight of size {_fmt(weight.shape)}, expected bias to be 1-dimensional "
                f"with {nb} elements, but got bias of size {_fmt(bias.shape)} instead")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation over (N, C, L) (or unbatched (C, L)) input, as
    torch.nn.functional.conv1d: the conv2d op with a unit height."""
    if input.ndim not in (2, 3):
        raise DGRuntimeError(
            "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: "
            f"{_fmt(input.shape)}")
    unbatched = input.ndim == 2
    if unbatched:
        input = input.unsqueeze(0)
    groups = int(groups)
    s, d = _single(stride, "stride"), _single(dilation, "dilation")
    if s <= 0:
        raise DGRuntimeError("non-positive stride is not supported")
    if d <= 0:
        raise DGRuntimeError("dilation should be greater than zero")
    _check_conv_nd(input, weight, bias, groups, 1, "conv1d")
    k = weight.shape[2]
    if isinstance(padding, str):
        if padding == "valid":
            pl = pr = 0
        elif padding == "same":
            if s != 1:
                raise DGRuntimeError("padding='same' is not supported for strided convolutions")
            total = d * (k - 1)
            pl, pr = total // 2, total - total // 2
        else:
            raise DGRuntimeError(f"Invalid padding string: '{padding}'")
    else:
        pl = pr = _single(padding, "padding")
        if pl < 0:
            raise DGRuntimeError("negative padding is not supported")
    length = input.shape[2]
    if length is not None and k is not None and length + pl + pr < d * (k - 1) + 1:
        raise DGRuntimeError(
            f"Calculated padded input size per channel: ({length + pl + pr}). Kernel size: "
            f"({d * (k - 1) + 1}). Kernel size can't be greater than actual input size")
    args = (input.unsqueeze(2), weight.unsqueeze(2)) + (() if bias is None else (bias,))
    out = apply(_nn.conv2d_op, *args, stride=(1, s), padding=(0, 0, pl, pr), dilation=(1, d),
                groups=groups).squeeze(2)
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution, as torch.nn.functional.conv_transpose2d: the adjoint of
    conv2d, i.e. the registry's conv2d input-gradient op (weight (C_in, C_out / groups, kh, kw))."""
    if input.ndim not in (3, 4):
        raise DGRuntimeError(
            "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of "
            f"size: {_fmt(input.shape)}")
    unbatched = input.ndim == 3
    if unbatched:
        input = input.unsqueeze(0)
    groups = int(groups)
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    output_padding = _pair(output_padding)
    if weight.ndim == 4:
        pass
    else:
        raise DGRuntimeError(
            "expected stride to be a single integer value or a list of "
            f"{weight.ndim - 2} values to match the convolution dimensions, but got "
            f"stride={list(stride)}")
    if any(s <= 0 for s in stride):
        raise DGRuntimeError("non-positive stride is not supported")
    if any(p < 0 for p in padding):
        raise DGRuntimeError("negative padding is not supported")
    if any(d <= 0 for d in dilation):
        raise DGRuntimeError("dilation should be greater than zero")
    _check_conv_nd(input, weight, bias, groups, 2, "conv_transpose2d", transposed=True)
    if any(op_ >= s and op_ >= d for op_, s, d in zip(output_padding, stride, dilation)):
        raise DGRuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding_height: {output_padding[0]} output_padding_width: "
            f"{output_padding[1]} stride_height: {stride[0]} stride_width: {stride[1]} "
            f"dilation_height: {dilation[0]} dilation_width: {dilation[1]}")
    kh, kw = weight.shape[2], weight.shape[3]
    out_hw = []
    for i, (size, k) in enumerate(((input.shape[2], kh), (input.shape[3], kw))):
        out_hw.append(None if size is None or k is None else
                      (size - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k - 1)
                      + output_padding[i] + 1)
    if any(o is not None and o <= 0 for o in out_hw):
        raise DGRuntimeError(
            f"Given input size per channel: ({input.shape[2]} x {input.shape[3]}). Calculated "
            f"output size per channel: ({out_hw[0]} x {out_hw[1]}). Output size is too small")
    if None in out_hw:
        raise DGRuntimeError("conv_transpose2d: the input's spatial sizes must be known")
    c_out = weight.shape[1] * groups
    # a zero-copy stand-in of the output's shape: the op reads only its shape
    like = input.detach()[:, :1, :1, :1].expand(-1, c_out, out_hw[0], out_hw[1])
    out = apply(_nn.conv2d_input_grad_op, input, weight, like, stride=stride,
                padding=(padding[0], padding[0], padding[1], padding[1]), dilation=dilation,
                groups=groups)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out.squeeze(0) if unbatched else out


def _pool_dims_check(input, fname):
    if input.ndim < 3:
        raise DGIndexError(
            "Dimension out of range (expected to be in range of "
            f"[{-max(input.ndim, 1)}, {max(input.ndim, 1) - 1}], but got -3)")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling, as torch.nn.functional.avg_pool2d (NCHW or unbatched CHW)."""
    k = _pair(kernel_size)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) \
        else _pair(stride)
    attrs = dict(kernel_size=k, stride=s, padding=_pair(padding), ceil_mode=bool(ceil_mode),
                 count_include_pad=bool(count_include_pad),
                 divisor_override=None if divisor_override is None else int(divisor_override))
    _pool_dims_check(input, "avg_pool2d")
    unbatched = input.ndim == 3
    if unbatched:
        input = input.unsqueeze(0)
    out = apply(_nn.avg_pool2d_op, input, **attrs)
    return out.squeeze(0) if unbatched else out


def _adaptive_size(output_size):
    if isinstance(output_size, (list, tuple)):
        if len(output_size) != 2:
            raise DGRuntimeError("adaptive_avg_pool2d: output_size must be 2")
        return tuple(None if o is None else int(o) for o in output_size)
    return (None, None) if output_size is None else (int(output_size),) * 2


def adaptive_avg_pool2d(input, output_size):
    """Adaptive 2-D average pooling, as torch.nn.functional.adaptive_avg_pool2d; a None entry of
    output_size keeps that input size."""
    if input.ndim not in (3, 4):
        raise DGRuntimeError(
            f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {_fmt(input.shape)}")
    size = _adaptive_size(output_size)
    unbatched = input.ndim == 3
    if unbatched:
        for d in range(3):
            if input.shape[d] == 0:
                raise DGRuntimeError(
                    "adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch "
                    f"dimensions, but input has sizes {_fmt(input.shape)} with dimension {d} "
                    "being empty")
        input = input.unsqueeze(0)
    out = apply(_nn.adaptive_avg_pool2d_op, input, output_size=size)
    return out.squeeze(0) if unbatched else out


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation over (N, C, *) input, as torch.nn.functional.group_norm: statistics
    per sample over each group of C / num_groups channels (biased variance), then a per-channel
    affine map. Composed from mean/var/rsqrt, so it differentiates and stages like any ops."""
    if input.ndim < 2:
        raise DGRuntimeError(
            f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    shape = tuple(input.shape)
    c = shape[1]
    if c is not None and c % num_groups:
        raise DGRuntimeError(
            "Expected number of channels in input to be divisible by num_groups, but got input "
            f"of shape {_fmt(shape)} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and c is not None and (t.ndim != 1 or t.shape[0] != c):
            raise DGRuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in "
                f"input, but got {name} of shape {_fmt(t.shape)} and input of shape {_fmt(shape)}")
    rest = shape[1:]
    if None not in rest:
        per = 1
        for d in rest:
            per *= d
        grouped = input.reshape(-1, num_groups, per // num_groups if num_groups else 0)
    else:
        grouped = input.reshape(shape[0], num_groups, -1)
    mean = grouped.mean(dim=2, keepdim=True)
    var = grouped.var(dim=2, keepdim=True, unbiased=False)
    out = ((grouped - mean) * rsqrt(var + eps)).reshape(*[-1 if d is None else d for d in shape]) \
        if shape.count(None) <= 1 else ((grouped - mean) * rsqrt(var + eps)).reshape_as(input)
    pshape = (1, -1) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(pshape)
    if bias is not None:
        out = out + bias.reshape(pshape)
    return out


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels (input[i, j]) with probability p, scale the rest by 1/(1-p), as
    torch.nn.functional.dropout2d (a 3-D input is taken as (N, C, L), as PyTorch does today).
    The mask comes from the random `bernoulli_keep` op, so a graph draws a new one each run."""
    if p < 0.0 or p > 1.0:
        raise DGValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    nd = input.ndim
    if nd not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {nd}-D input to dropout2d, which is deprecated and will "
            "result in an error in a future release. To retain the behavior and silence this "
            "warning, please use dropout instead. Note that dropout2d exists to provide "
            "channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, and "
            "an optional batch dimension (i.e. 3D or 4D inputs).", UserWarning, stacklevel=2)
    if nd == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            UserWarning, stacklevel=2)
    if nd < 2:
        raise DGRuntimeError("Feature dropout requires at least 2 dimensions in the input")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input.mul_(0.0) if inplace else input * 0.0
    # one draw per (sample, channel): a (N, C, 1, ...) view of the input as the mask's template
    template = input.detach()[(slice(None), slice(None)) + (slice(0, 1),) * (nd - 2)]
    mask = apply(bernoulli_keep_op, template, p=p) * (1.0 / (1.0 - p))
    return input.mul_(mask) if inplace else input * mask


_INTERP_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "lanczos", "area",
                 "nearest-exact")


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize (N, C, H, W) input, as torch.nn.functional.interpolate: modes 'nearest' and
    'bilinear' (align_corners True/False) with PyTorch's output sizes and source indices, and
    'area' (adaptive average pooling); (N, C, L) input in modes 'nearest' and 'linear'."""
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise DGValueError(
                "align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.ndim - 2
    spatial = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise DGValueError("only one of size or scale_factor should be defined")
    if size is not None:
        scales = None
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise DGValueError(
                    "Input and output must have the same number of spatial dimensions, but got "
                    f"input with spatial dimensions of {spatial} and output size of {size}. "
                    "Please provide input tensor in (N, C, d1, d2, ...,dK) format and output "
                    "size in (o1, o2, ...,oK) format.")
            out_size = [int(s) for s in size]
        else:
            out_size = [int(size)] * dim
    elif scale_factor is not None:
        out_size = None
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise DGValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, but "
                    f"got input with spatial dimensions of {spatial} and scale_factor of shape "
                    f"{scale_factor}. Please provide input tensor in (N, C, d1, d2, ...,dK) "
                    "format and scale_factor in (s1, s2, ...,sK) format.")
            scales = [float(s) for s in scale_factor]
        else:
            scales = [float(scale_factor)] * dim
    else:
        raise DGValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise DGValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and out_size is None:     # PyTorch: area always works from a size
        recompute_scale_factor = True
    if recompute_scale_factor:
        if None in spatial:
            raise DGRuntimeError("interpolate: recompute_scale_factor needs known spatial sizes")
        out_size = [int(d * s) for d, s in zip(spatial, scales)]
        scales = None
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
        raise DGValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and "
            "requires a 4-D tensor as input")
    if mode not in _INTERP_MODES:
        raise DGNotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the "
            "modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
            f"nearest-exact (got {mode})")
    for m, nd in (("linear", 3), ("bilinear", 4), ("trilinear", 5)):
        if mode == m and input.ndim != nd:
            raise DGNotImplementedError(f"Got {input.ndim}D input, but {m} mode needs {nd}D input")
    if mode == "area" and input.ndim == 4:
        return adaptive_avg_pool2d(input, out_size)
    supported = (mode == "nearest" and input.ndim in (3, 4)) or mode in ("linear", "bilinear")
    if not supported or antialias:
        raise DGNotImplementedError(
            "interpolate: dualgraph supports modes 'nearest' (3-D and 4-D input), 'linear', "
            f"'bilinear' and 'area' (4-D), without antialias; got {input.ndim}-D input and mode "
            f"{mode!r}")
    one_d = input.ndim == 3          # (N, C, L): a unit-height image (that axis is kept as is)
    if one_d:
        if input.dtype.np.kind != "f":
            raise DGNotImplementedError(
                f'"compute_indices_weights_{mode}" not implemented for '
                f"'{_dt.scalar_name(input.dtype.np)}'")
        length = spatial[0]
        out_len = out_size[0] if out_size is not None else (
            None if length is None else int(length * scales[0]))
        if (length is not None and length <= 0) or (out_len is not None and out_len <= 0):
            raise DGRuntimeError(
                "Input and output sizes should be greater than 0, but got input "
                f"(W: {length}) and output (W: {out_len})")
        input = input.unsqueeze(2)
        out_size = None if out_size is None else [1] + list(out_size)
        scales = None if scales is None else [None] + list(scales)
        if scales is not None:
            out_size = [1, None]
    attrs = dict(size=(None, None) if out_size is None else tuple(out_size),
                 scales=(None, None) if scales is None else tuple(scales),
                 mode=("nearest1d" if one_d else "nearest") if mode == "nearest" else (
                     "linear1d" if one_d else "bilinear"),
                 align_corners=None if mode == "nearest" else bool(align_corners))
    out = apply(_nn.interpolate_op, input, **attrs)
    return out.squeeze(2) if one_d else out


__all__ += ["conv1d", "conv_transpose2d", "avg_pool2d", "adaptive_avg_pool2d", "group_norm",
            "dropout2d", "interpolate"]


# ================================================================ attention
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                  is_causal=False, scale=None, enable_gqa=False):
    """F.scaled_dot_product_attention (PyTorch's math kernel): softmax(q k^T * scale + mask) v,
    a bool mask saying which positions take part, a float mask added; a fully masked row gives
    zeros (and zero gradients), not NaN."""
    import math
    from ..ops.creation import ones_like
    if enable_gqa:
        raise DGRuntimeError("scaled_dot_product_attention: enable_gqa is not supported")
    if is_causal and attn_mask is not None:
        raise DGRuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set "
                             "when is_causal=True")
    e = query.shape[-1]
    if scale is None:
        if e is None:
            raise DGRuntimeError("scaled_dot_product_attention: the last dimension of query must "
                                 "be known while the graph is built (or pass scale=)")
        scale = 1.0 / math.sqrt(e)
    sq = math.sqrt(scale)
    scores = (query * sq) @ (key * sq).transpose(-2, -1)
    allowed = None
    if is_causal:
        allowed = ones_like(scores[..., :, :], dtype=bool).tril()
    elif attn_mask is not None:
        if attn_mask.dtype.np.kind == "b":
            allowed = attn_mask
        else:
            scores = scores + attn_mask
    if allowed is not None:
        scores = where(allowed, scores, float("-inf"))
    dead = (scores == float("-inf")).all(dim=-1, keepdim=True)
    w = _softmax(where(dead, 0.0, scores), -1)
    w = where(dead, 0.0, w)
    if dropout_p > 0.0:
        w = dropout(w, p=dropout_p, training=True)
    return w @ value


__all__ += ["scaled_dot_product_attention"]


# ================================================================ smooth activations, distances, more losses
# (GELU, SiLU, ELU, Softplus; normalize, cosine_similarity; kl_div, smooth_l1_loss, huber_loss)
from ..ops import elementwise as _E  # noqa: E402
from ..ops.common import broadcast_shapes as _broadcast_shapes  # noqa: E402
from ..ops.dispatch import apply_inplace as _apply_inplace  # noqa: E402
from ..ops.reductions import vector_norm as _vector_norm  # noqa: E402


def gelu(input, *, approximate="none"):
    """x * Phi(x) (approximate='tanh': PyTorch's tanh approximation)."""
    return apply(_E.gelu_op, input, approximate=approximate)


def silu(input, inplace=False):
    if inplace:
        return _apply_inplace(input, _E.silu_op)
    return apply(_E.silu_op, input)


def elu(input, alpha=1.0, inplace=False):
    if inplace:
        return _apply_inplace(input, _E.elu_op, alpha=alpha)
    return apply(_E.elu_op, input, alpha=alpha)


def softplus(input, beta=1, threshold=20):
    """log(1 + exp(beta * x)) / beta, linear (x) where beta * x > threshold."""
    return apply(_E.softplus_op, input, beta=beta, threshold=threshold)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p over dim, eps), as PyTorch (the clamp masks the norm's gradient)."""
    denom = input.norm(p, dim, keepdim=True).clamp(min=eps)
    return _E.div(input, denom, out=out)


def _dtype_of(x):
    return (_dt.to_np(x.dtype), x.ndim) if _is_tensor(x) else x


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum over dim of (x1 / max(||x1||, eps)) * (x2 / max(||x2||, eps)), PyTorch's formula: the
    inputs broadcast first, and the clamp of the norms happens outside autograd (the gradient flows
    through the norms as if unclamped, as PyTorch's clamp_min_ under NoGradGuard)."""
    common = _dt.result_type(_dtype_of(x1), _dtype_of(x2))
    if common.kind != "f":
        raise DGRuntimeError(
            "expected common dtype to be floating point, yet common dtype is "
            f"{_dt.scalar_name(common)}")
    x1 = x1 if _dt.to_np(x1.dtype) == common else x1.to(_dt.from_np(common))
    x2 = x2 if _dt.to_np(x2.dtype) == common else x2.to(_dt.from_np(common))
    s1, s2 = tuple(x1.shape), tuple(x2.shape)
    if s1 != s2:
        shape = _broadcast_shapes(s1, s2)
        if None not in shape:
            x1 = x1 if s1 == shape else x1.expand(*shape)
            x2 = x2 if s2 == shape else x2.expand(*shape)
    n1 = _vector_norm(x1, 2, dim, True)
    n2 = _vector_norm(x2, 2, dim, True)
    n1 = n1 + (n1.detach().clamp(min=eps) - n1.detach())
    n2 = n2 + (n2.detach().clamp(min=eps) - n2.detach())
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def _legacy(size_average, reduce, reduction):
    """`reduction`, or what the deprecated size_average / reduce ask for (with PyTorch's warning)."""
    if size_average is None and reduce is None:
        return reduction
    return _legacy_reduction(size_average, reduce)


def _legacy_reduction(size_average, reduce):
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "none" if not reduce else "mean" if size_average else "sum"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}' "
                  "instead.", UserWarning, stacklevel=3)
    return ret


def _warn_target_size(input, target):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({_size_repr(target.shape)}) that is different to the input "
            f"size ({_size_repr(input.shape)}). This will likely lead to incorrect results due "
            "to broadcasting. Please ensure they have the same size.", UserWarning, stacklevel=3)


def _float_pair(input, target, kernel):
    """The promoted dtype of a pointwise loss: PyTorch's kernels refuse integer and bool ones."""
    common = _dt.result_type(_dtype_of(input), _dtype_of(target))
    if common.kind != "f":
        raise DGRuntimeError(f'"{kernel}" not implemented for \'{_dt.scalar_name(common)}\'')
    _broadcast_shapes(tuple(input.shape), tuple(target.shape))   # PyTorch's broadcast error


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Pointwise KL divergence target * (log target - input) (input holds log-probabilities);
    reduction='mean' is the mean over every element (PyTorch warns), 'batchmean' the sum over
    the batch size."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    else:
        if reduction == "mean":
            warnings.warn(
                "reduction: 'mean' divides the total loss by both the batch size and the support "
                "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
                "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
                "major release.", UserWarning, stacklevel=2)
        if reduction != "batchmean":
            _check_reduction(reduction)
    if any(_dt.to_np(t.dtype).kind != "f" for t in (input, target) if _is_tensor(t)):
        raise DGRuntimeError("kl_div: Integral inputs not supported.")
    _broadcast_shapes(tuple(target.shape), tuple(input.shape))   # PyTorch's order in the message
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # xlogy(target, target): 0 where target == 0, computed on a safe log (no 0 * -inf); the
        # target's gradient there is 0 where PyTorch's is nan (d(t log t)/dt at t = 0)
        loss = target * where(target == 0, 1.0, target).log() - target * input
    if reduction == "batchmean":
        total = loss.sum()
        if input.ndim == 0:
            return total
        n = input.shape[0]
        if n is None:   # a graph whose batch size is known only when it runs
            return loss.sum(dim=tuple(range(1, loss.ndim))).mean() if loss.ndim > 1 else loss.mean()
        return total / n
    return _reduce(loss, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 * d**2 / beta where |d| < beta, |d| - 0.5 * beta elsewhere (d = input - target);
    beta=0 is the L1 loss."""
    _warn_target_size(input, target)
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    _broadcast_shapes(tuple(input.shape), tuple(target.shape))
    _check_reduction(reduction)
    if beta == 0.0:
        return l1_loss(input, target, reduction=reduction)
    if beta < 0:
        raise DGRuntimeError("smooth_l1_loss does not support negative values for beta.")
    _float_pair(input, target, "smooth_l1_cpu")
    z = (input - target).abs()
    loss = where(z < beta, z * 0.5 * z / beta, z - 0.5 * beta)
    return _reduce(loss, reduction)


def _huber(input, target, delta):
    if delta <= 0:
        raise DGRuntimeError("huber_loss does not support non-positive values for delta.")
    _float_pair(input, target, "huber_cpu")
    z = (input - target).abs()
    return where(z < delta, z * 0.5 * z, (z - 0.5 * delta) * delta)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 * d**2 where |d| < delta, delta * (|d| - 0.5 * delta) elsewhere, optionally weighted."""
    _warn_target_size(input, target)
    _broadcast_shapes(tuple(input.shape), tuple(target.shape))
    if weight is None:
        _check_reduction(reduction)
        return _reduce(_huber(input, target, delta), reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise DGValueError("Weights and input must have the same size.")
    loss = _huber(input, target, delta) * weight
    if reduction not in ("none", "sum", "mean"):
        raise DGValueError(
            f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")
    return _reduce(loss, reduction)


__all__ += ["gelu", "silu", "elu", "softplus", "normalize", "cosine_similarity", "kl_div",
            "smooth_l1_loss", "huber_loss"]
