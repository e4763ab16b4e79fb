"""The operator registry (`OPS`, name -> Op), one module per operator family, and their
backward rules (`vjps/`, one module per family), attached once the families are loaded."""
from .registry import OPS, Op, Spec, defop, defvjp
from . import unbroadcast, elementwise, reductions, shape, linalg, creation  # noqa: F401 (registers)
from . import nn_ops  # noqa: F401 (registers conv2d, max_pool2d, constant_pad, ...)
from . import composites, indexing, order_stats  # noqa: F401 (index_select, scatter, median, ...)
from . import elementwise_math  # noqa: F401 (tan ... atan2, lerp, addcmul: the rest of torch's math)
from . import vjps  # noqa: F401 (attaches the rules: after the families)
from .dispatch import apply

__all__ = ["OPS", "Op", "Spec", "defop", "defvjp", "apply"]
