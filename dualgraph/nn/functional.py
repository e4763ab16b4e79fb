"""dg.nn.functional (as F): the functional forms of layers, activations and losses.

Everything here is composed from registry ops through the one dispatch door (`ops.apply` or
the public op functions), so it runs eagerly and builds graph nodes alike. The only eager-only
code is value checks that PyTorch performs on concrete data (e.g. "Target 7 is out of
bounds."): they run when executing eagerly and are skipped while a graph is being built.
"""
import warnings

from .. import dtypes as _dt
from ..errors import DGIndexError, DGRuntimeError, DGValueError
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
    if _eager() and input.numel():
        lo, hi = int(input.min().item()), int(input.max().item())
        if lo < -n or hi >= n:
            raise DGIndexError("index out of range in self")
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
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({_size_repr(target.shape)}) that is different to the input "
            f"size ({_size_repr(input.shape)}). This will likely lead to incorrect results due "
            "to broadcasting. Please ensure they have the same size.", UserWarning, stacklevel=2)
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    _check_reduction(reduction)
    return _reduce((input - target).abs(), reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise DGValueError(
            f"Using a target size ({_size_repr(target.shape)}) that is different to the input "
            f"size ({_size_repr(input.shape)}) is deprecated. Please ensure they have the same size.")
    # PyTorch clamps the logs at -100 so that 0 * log(0) stays finite
    loss = -(target * input.log().clamp(min=-100) + (1 - target) * (1 - input).log().clamp(min=-100))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
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
    valid = t != ignore_index
    safe = where(valid, t, 0)
    if _eager() and t.numel() and c is not None:
        bad = valid & ((safe < 0) | (safe >= c))
        if bad.sum().item():
            raise DGIndexError(f"Target {int(t[bad][0].item())} is out of bounds.")
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
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise DGRuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.ndim == 1 else 1
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

