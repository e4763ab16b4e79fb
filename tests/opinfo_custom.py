"""Operator-table records for dg.autograd.Function (the `custom_function` op that joins a custom
forward to its inputs; its backward rule is the user's): the table gradchecks a custom Function,
checks eager == graph and compares with the same Function written for torch.autograd.
"""
import dualgraph as dg

from opinfo import OpRecord, Sample, add, u, F64


def _sin_mul(Base):
    """y = sin(x) * w * scale, the scale a Python number (a non-tensor argument); the same class
    body for dg.autograd.Function and torch.autograd.Function."""
    class SinMul(Base):
        @staticmethod
        def forward(ctx, x, w, scale):
            ctx.save_for_backward(x, w)
            ctx.scale = scale
            return x.sin() * w * scale

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            gx = g * x.cos() * w * ctx.scale if ctx.needs_input_grad[0] else None
            gw = (g * x.sin() * ctx.scale).sum_to_size(w.shape) if ctx.needs_input_grad[1] else None
            return gx, gw, None
    return SinMul


_SinMul = _sin_mul(dg.autograd.Function)


def _torch_sin_mul():
    import torch
    return _sin_mul(torch.autograd.Function).apply


add(
    OpRecord("custom_function", lambda x, w, scale=2.0: _SinMul.apply(x, w, scale),
             lambda x, w, scale=2.0: _torch_sin_mul()(x, w, scale),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (2, 3))), desc="2x3"),
                          Sample((u(rng, (2, 3)), u(rng, (3,))), desc="broadcast weight"),
                          Sample((u(rng, (4,), dtype=F64), u(rng, (4,), dtype=F64), 0.5), desc="f64"),
                          Sample((u(rng, ()), u(rng, ())), desc="0-d"),
                          Sample((u(rng, (0, 3)), u(rng, (3,))), desc="empty")],
             notes="a dg.autograd.Function: its backward is the node's rule"),
)
