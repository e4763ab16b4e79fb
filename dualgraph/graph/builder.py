"""The graph interpreter: in graph mode an op adds a node (shape/dtype inferred now) instead of
computing. Errors from shape rules are raised here, at build time, naming the node."""
import numpy as np

from ..errors import DualGraphError, DGTypeError
from ..ops.registry import Spec
from ..tensor import Tensor
from .core import SymbolicTensor, CONSTANT


def _shape_str(x):
    if isinstance(x, SymbolicTensor):
        return "[" + ", ".join("?" if d is None else str(d) for d in x.shape) + "]"
    return repr(x)


class GraphInterpreter:
    def __init__(self, graph):
        self.graph = graph

    def lift(self, x):
        """Bring an input into this graph: symbolic stays, eager tensors are captured by
        reference, numpy arrays become constants, Python scalars stay literals."""
        if isinstance(x, SymbolicTensor):
            if x.node.graph is not self.graph:
                raise DGTypeError(
                    f"Tensor {x.name!r} must be from the same graph as the tensors it is combined "
                    f"with: it belongs to {x.node.graph!r}, the graph being built is {self.graph!r}.")
            return x
        if isinstance(x, Tensor):
            return self.graph.capture(x)
        if isinstance(x, np.ndarray):
            arr = x.copy()
            arr.flags.writeable = False
            return self.graph.add_node(CONSTANT, (), {"value": arr}, Spec(arr.shape, arr.dtype),
                                       name="Const").out
        if isinstance(x, np.generic):
            return x.item()
        return x

    def apply(self, op, inputs, attrs):
        g = self.graph
        ins = [self.lift(x) for x in inputs]
        specs = [Spec(x._shape, x._dtype) if isinstance(x, SymbolicTensor) else x for x in ins]
        try:
            spec = op.infer(*specs, **attrs)
        except DualGraphError as e:
            shapes = ", ".join(_shape_str(x) for x in ins)
            raise type(e)(f"{e}\n  while building node '{g.unique_name(op.name)}' ({op.name}) "
                          f"with input shapes {shapes}") from None
        out = g.add_node(op, ins, attrs, spec).out
        if not op.differentiable or not any(isinstance(x, SymbolicTensor) and x._rg for x in ins):
            out._rg = False
        return out
