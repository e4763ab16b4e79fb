"""The operator registry (`OPS`, name -> Op) and one module per operator family."""
from .registry import OPS, Op, Spec, defop
from . import unbroadcast, elementwise, reductions, shape, linalg, creation  # noqa: F401 (registers)
from .dispatch import apply

__all__ = ["OPS", "Op", "Spec", "defop", "apply"]
