"""The operator registry (`OPS`, name -> Op) and one module per operator family."""
from .registry import OPS, Op, Spec, defop
from . import unbroadcast, elementwise, reductions, shape, linalg, creation  # noqa: F401 (registers)
from . import nn_ops  # noqa: F401 (registers conv2d, max_pool2d, constant_pad, ...)
from .dispatch import apply

__all__ = ["OPS", "Op", "Spec", "defop", "apply"]
