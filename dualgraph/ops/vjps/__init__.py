"""The backward rules of the op families, one module per family, attached with `defvjp`.

They sit above the families (a rule may use the ops of any family); no family imports them.
`dualgraph.ops` imports the families, then this package, so every op has its rule before use.
Each op has one rule: `defvjp` refuses a second.
"""
from . import unbroadcast, elementwise, reductions, shape, linalg, nn_ops  # noqa: F401 (attaches)
from . import indexing, order_stats  # noqa: F401 (attaches)
from . import elementwise_math  # noqa: F401 (attaches)
