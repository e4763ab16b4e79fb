"""Autograd: the tape engine (engine.py), grad modes, backward/grad, gradcheck."""
from .functional import backward, grad
from .gradcheck import gradcheck, gradgradcheck, GradcheckError
from .function import Function, FunctionCtx, once_differentiable
from .grad_mode import (no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode,
                        is_inference_mode_enabled)

__all__ = ["backward", "grad", "gradcheck", "gradgradcheck", "GradcheckError", "no_grad",
           "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode",
           "is_inference_mode_enabled", "Function", "FunctionCtx", "once_differentiable"]


def tape_graph(t, backward=False, inputs=None, names=None):
    """The tape that produced eager tensor `t` as a dg.Graph (and its backward if asked)."""
    from ..export.tape import tape_graph as f  # facade: the export layer builds it
    return f(t, backward, inputs, names)
