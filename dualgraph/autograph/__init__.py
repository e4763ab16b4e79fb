"""AutoGraph: Python `if` / `while` / `for` on tensors, rewritten from a function's source into
`dg.cond` / `dg.while_loop` (TensorFlow's AutoGraph is the model). `dg.function` converts the
functions it traces (`autograph=False` turns it off); `to_code(fn)` shows what it wrote.

- converter.py: the source transformer (returns, break/continue, control flow, calls) and
  compilation; `converted_call`, which converts the user's functions that converted code calls;
- analysis.py: liveness, assigned names, definite assignment, what cannot be converted;
- operators.py: the run-time operators the converted code calls (`ag__.if_stmt`, ...), which stay
  Python unless the deciding value is a graph tensor.
"""
from . import operators
from .converter import convert, converted_call, converted_or_original, to_code
from .operators import Undefined, UndefinedVariableError

__all__ = ["convert", "to_code", "converted_call", "converted_or_original", "operators", "Undefined", "UndefinedVariableError"]
