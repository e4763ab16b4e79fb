"""parameters_to_vector, vector_to_parameters (torch.nn.utils.convert_parameters)."""
from ...errors import DGTypeError
from ...tensor_methods import TensorMethods

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """One 1-D tensor: every parameter flattened, concatenated in order (differentiable)."""
    from ...ops.shape import cat
    if isinstance(parameters, TensorMethods):
        parameters = [parameters]
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D tensor `vec` into `parameters` (their values are
    replaced; autograd does not see the copy, as PyTorch's `param.data = ...`)."""
    if not isinstance(vec, TensorMethods):
        raise DGTypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    from ...autograd import no_grad
    if isinstance(parameters, TensorMethods):
        parameters = [parameters]
    parameters = list(parameters)
    need = sum(p.numel() for p in parameters)
    if vec.dim() != 1 or vec.numel() != need:
        from ...errors import DGRuntimeError
        raise DGRuntimeError(f"vector_to_parameters: expected a 1-D vector of {need} elements "
                             f"(the parameters' total size), got shape {list(vec.shape)}")
    pointer = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(vec[pointer:pointer + n].reshape(tuple(p.shape)))
            pointer += n
