"""dg.nn.Parameter: a leaf tensor that a Module registers when it is assigned as an attribute."""
from ..errors import DGTypeError
from ..tensor import Tensor, _init
from ..tensor_methods import TensorMethods


class Parameter(Tensor):
    """Parameter(data=None, requires_grad=True): shares memory with `data` (as PyTorch) and is
    always a leaf; `Parameter()` is an empty float32 tensor."""

    def __new__(cls, data=None, requires_grad=True):
        return object.__new__(cls)

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            from ..ops.creation import empty
            data = empty(0)
        if not isinstance(data, Tensor):
            if isinstance(data, TensorMethods):
                raise DGTypeError(
                    "dg.nn.Parameter needs an eager tensor; in graph mode use dg.Variable")
            raise DGTypeError(
                f"Parameter(): argument 'data' must be a Tensor, not {type(data).__name__}")
        src = data.detach()          # a leaf view of the same memory and version counter
        _init(self, src._data)
        self._vc = src._vc
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, proto):
        return Tensor.__reduce_ex__(self, proto)


def is_parameter(x):
    return isinstance(x, Parameter)
