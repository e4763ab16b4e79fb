"""Backward rules of the neural-network ops (ops/nn_ops.py). The backward of a convolution is a
pair of registry ops whose own rules are convolutions again, so gradients of any order stay
inside the registry; likewise max_pool2d_backward and its adjoint max_pool2d_select, and
nll_loss_backward with nll_loss."""
from ..dispatch import apply
from ..linalg import matmul_op
from ..nn_ops import (conv2d_op, conv2d_input_grad_op, conv2d_weight_grad_op, max_pool2d_op,
                      max_pool2d_backward_op, max_pool2d_select_op, constant_pad_op, identity_op, check_values_op,
                      linear_op, nll_loss_op, nll_loss_backward_op)
from ..registry import defvjp
from ..unbroadcast import unbroadcast
from .shape import _identity_vjp


# ================================================================ conv2d
def _conv_attrs(node):
    a = node.attrs
    return dict(stride=a["stride"], padding=a["padding"], dilation=a["dilation"],
                groups=a["groups"])


@defvjp(conv2d_op)
def _conv2d_vjp(g, node):
    x, w = node.inputs[:2]
    attrs = _conv_attrs(node)
    gx = apply(conv2d_input_grad_op, g, w, x, **attrs) if node.needs[0] else None
    gw = apply(conv2d_weight_grad_op, x, g, kernel_size=tuple(w.shape[2:]), **attrs) \
        if node.needs[1] else None
    out = (gx, gw)
    if len(node.inputs) == 3:
        gb = g.sum(dim=(0, 2, 3)) if node.needs[2] else None
        out = out + (gb,)
    return out


def _crop_like(t, ref):
    """conv2d's output cropped to ref's height and width. The same as conv2d itself, except
    after conv_transpose2d with output_padding >= stride (< dilation): the convolution then sees
    output rows that no input position reached, and they are dropped."""
    if t is None:
        return t
    rh, rw, th, tw = ref.shape[2], ref.shape[3], t.shape[2], t.shape[3]
    if None not in (rh, rw, th, tw) and (th > rh or tw > rw):
        return t[:, :, :rh, :rw]
    return t


@defvjp(conv2d_input_grad_op)
def _conv2d_input_grad_vjp(gg, node):
    g, w, like = node.inputs
    attrs = _conv_attrs(node)
    # input_grad(g, w) is bilinear: <gg, B(g, w)> = <conv2d(gg, w), g>
    dg_ = apply(conv2d_op, gg, w, **attrs) if node.needs[0] else None
    dg_ = _crop_like(dg_, g)
    dw = apply(conv2d_weight_grad_op, gg, g, kernel_size=tuple(w.shape[2:]), **attrs) \
        if node.needs[1] else None
    return dg_, dw, None


@defvjp(conv2d_weight_grad_op)
def _conv2d_weight_grad_vjp(gg, node):
    x, g = node.inputs
    attrs = _conv_attrs(node)
    # <gg, Wgrad(x, g)> = <conv2d(x, gg), g>
    dx = apply(conv2d_input_grad_op, g, gg, x, **attrs) if node.needs[0] else None
    dg_ = _crop_like(apply(conv2d_op, x, gg, **attrs) if node.needs[1] else None, g)
    return dx, dg_


# ================================================================ max_pool2d
def _pool_attrs(node):
    a = node.attrs
    return dict(kernel_size=a["kernel_size"], stride=a["stride"], padding=a["padding"],
                dilation=a["dilation"], ceil_mode=a["ceil_mode"])


@defvjp(max_pool2d_op)
def _max_pool2d_vjp(g, node):
    return (apply(max_pool2d_backward_op, g, node.inputs[0], **_pool_attrs(node)),)


@defvjp(max_pool2d_backward_op)
def _max_pool2d_backward_vjp(gg, node):
    return (apply(max_pool2d_select_op, gg, node.inputs[1], **_pool_attrs(node)), None)


@defvjp(max_pool2d_select_op)
def _max_pool2d_select_vjp(g, node):
    return (apply(max_pool2d_backward_op, g, node.inputs[1], **_pool_attrs(node)), None)


# ================================================================ constant padding, identity
@defvjp(constant_pad_op)
def _constant_pad_vjp(g, node):
    """The opposite crop (or pad)."""
    return (apply(constant_pad_op, g, pads=tuple((-lo, -hi) for lo, hi in node.attrs["pads"]),
                  value=0),)


defvjp(identity_op, _identity_vjp)
defvjp(check_values_op, _identity_vjp)


# ================================================================ linear
@defvjp(linear_op)
def _linear_vjp(g, node):
    x, w, *b = node.inputs
    out_f, in_f = w.shape
    gx = apply(matmul_op, g, w) if node.needs[0] else None
    g2 = g if g.ndim == 2 else g.reshape(-1, out_f)
    x2 = x if x.ndim == 2 else x.reshape(-1, in_f)
    # g^T x comes out contiguous in W's own layout (out, in): no transposed gradient to copy
    gw = apply(matmul_op, g2.mT, x2) if node.needs[1] else None
    if not b:
        return gx, gw
    gb = g2.sum(0) if node.needs[2] else None
    if gb is not None and tuple(b[0].shape) != (out_f,):
        gb = unbroadcast(gb, b[0])   # (a bias of shape (1,) or () broadcast over the features)
    return gx, gw, gb


# ================================================================ nll_loss
def _nll_attrs(node):
    return dict(ignore_index=node.attrs["ignore_index"], reduction=node.attrs["reduction"])


@defvjp(nll_loss_op)
def _nll_loss_vjp(g, node):
    return (apply(nll_loss_backward_op, g, node.inputs[1], node.inputs[0], **_nll_attrs(node)), None)


@defvjp(nll_loss_backward_op)
def _nll_loss_backward_vjp(gg, node):
    """Linear in g; its adjoint picks the same entries again: nll_loss itself."""
    return (apply(nll_loss_op, gg, node.inputs[1], **_nll_attrs(node)), None, None)


# ================================================================ cross_entropy (fused)
from ..nn_ops import cross_entropy_op, cross_entropy_backward_op  # noqa: E402


@defvjp(cross_entropy_op)
def _cross_entropy_vjp(g, node):
    x, target = node.inputs
    return (apply(cross_entropy_backward_op, g, x, target, **_nll_attrs(node)), None)


@defvjp(cross_entropy_backward_op)
def _cross_entropy_backward_vjp(gg, node):
    """The backward is (softmax(x) - onehot) * scale, scale = g / count on valid rows: linear in
    g (its adjoint sums gg against the backward at g = 1), and in x the softmax's Jacobian
    (s * v - s * sum(s * v)) applied to gg, row by row, times the scale."""
    g, x, target = node.inputs
    attrs = _nll_attrs(node)
    gg_g = gx = None
    if node.needs[0]:
        unit = apply(cross_entropy_backward_op, g * 0 + 1, x, target, **attrs)
        gg_g = (gg * unit).sum(1) if attrs["reduction"] == "none" else (gg * unit).sum()
    if node.needs[1]:
        valid = (target != attrs["ignore_index"]).to(x.dtype)
        scale = g / valid.sum() if attrs["reduction"] == "mean" else g
        scale = scale * valid
        s = x.softmax(1)
        sv = s * gg
        gx = (sv - s * sv.sum(1, keepdim=True)) * scale.unsqueeze(1)
    return gg_g, gx, None


# ================================================================ avg_pool2d, adaptive_avg_pool2d,
# interpolate: each is linear in its input, so its backward op is its adjoint, and the
# backward op's own rule is the forward op again (gradients of any order stay in the registry)
from ..nn_ops import (avg_pool2d_op, avg_pool2d_backward_op, adaptive_avg_pool2d_op,  # noqa: E402
                      adaptive_avg_pool2d_backward_op, interpolate_op, interpolate_backward_op)


def _linear_pair(forward_op, backward_op):
    @defvjp(forward_op)
    def _forward_vjp(g, node):
        return (apply(backward_op, g, node.inputs[0], **node.attrs),)

    @defvjp(backward_op)
    def _backward_vjp(gg, node):
        return (apply(forward_op, gg, **node.attrs), None)


_linear_pair(avg_pool2d_op, avg_pool2d_backward_op)
_linear_pair(adaptive_avg_pool2d_op, adaptive_avg_pool2d_backward_op)
_linear_pair(interpolate_op, interpolate_backward_op)
