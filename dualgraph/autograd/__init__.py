"""Autograd: the tape engine (engine.py), grad modes, backward/grad, gradcheck."""
from .functional import backward, grad
from .gradcheck import gradcheck, gradgradcheck, GradcheckError
from .grad_mode import no_grad, enable_grad, set_grad_enabled, is_grad_enabled

__all__ = ["backward", "grad", "gradcheck", "gradgradcheck", "GradcheckError", "no_grad",
           "enable_grad", "set_grad_enabled", "is_grad_enabled"]
