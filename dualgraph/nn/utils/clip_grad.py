"""clip_grad_norm_, clip_grad_value_ (torch.nn.utils.clip_grad).

Written with dualgraph ops and in-place writes to `.grad` (`g.mul_`, `g.clamp_`): eagerly they
change the gradient tensors now; inside a dg.function (or a graph) the same calls build the
nodes, and the clipped gradients are what the optimizer's step reads and what is written back
to `.grad` after each call.
"""
import math
import warnings

from ...errors import DGRuntimeError, DGTypeError
from ...tensor_methods import TensorMethods

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
           "clip_grads_with_norm_"]


def _params(parameters):
    if isinstance(parameters, TensorMethods):
        return [parameters]
    return list(parameters)


def _norm_type(norm_type):
    try:
        return float(norm_type)
    except (TypeError, ValueError):
        raise DGTypeError(f"norm_type must be a number or 'inf', got {norm_type!r}") from None


def _vector_norm(x, p):
    """torch.linalg.vector_norm(x, p) over every element, with dualgraph ops."""
    from ...ops.reductions import amax, amin, sum as _sum
    a = x.abs()
    if p == math.inf:
        return amax(a)
    if p == -math.inf:
        return amin(a)
    if p == 0:
        return _sum((a != 0).to(x.dtype))
    if p == 1:
        return _sum(a)
    if p == 2:
        return _sum(a * a).sqrt()
    return _sum(a ** p) ** (1.0 / p)


def _is_symbolic(t):
    return hasattr(t, "graph") and hasattr(t, "node")


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the norms of `tensors` (as if they were concatenated into one vector)."""
    from ...ops.shape import stack
    from ...tensor import tensor
    tensors = _params(tensors)
    p = _norm_type(norm_type)
    if not tensors:
        return tensor(0.0)
    norms = [_vector_norm(t, p) for t in tensors]
    first = norms[0].dtype
    total = _vector_norm(stack([n.to(first) for n in norms]), p)
    if error_if_nonfinite:
        if _is_symbolic(total):
            raise DGRuntimeError(
                "clip_grad_norm_(error_if_nonfinite=True) while a graph is built: the norm is "
                "known only when the graph runs, so the error cannot be raised then. Pass "
                "error_if_nonfinite=False (the default) inside dg.function, or check the returned "
                "norm after the call")
        if not math.isfinite(float(total.item())):
            raise DGRuntimeError(
                f"The total norm of order {p} for gradients from `parameters` is non-finite, so it "
                "cannot be clipped. To disable this error and scale the gradients by the "
                "non-finite norm anyway, set `error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients by min(1, max_norm / (total_norm + 1e-6)), in place."""
    from ...ops.elementwise import clamp
    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    if not grads:
        return
    coef = clamp(float(max_norm) / (total_norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef.to(g.dtype))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Clip the gradients of `parameters` (a tensor or an iterable of them) so that their
    total norm (of order norm_type, 'inf' for the largest absolute value) is at most max_norm.
    The gradients are changed in place; returns the total norm before clipping (a tensor)."""
    params = _params(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    if grads:
        clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated name of clip_grad_norm_ (as PyTorch)."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of `parameters` into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    for p in _params(parameters):
        if p.grad is not None:
            p.grad.clamp_(-clip_value, clip_value)
