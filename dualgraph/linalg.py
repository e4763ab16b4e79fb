"""dg.linalg: PyTorch's torch.linalg names over the registry (norms, products, diagonal)."""
from .ops.reductions import vector_norm, matrix_norm, linalg_norm as norm
from .ops.linalg import matmul
from .ops.shape import diagonal as _diagonal


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """torch.linalg.diagonal: torch.diagonal with the last two dims as the default."""
    return _diagonal(A, offset, dim1, dim2)


__all__ = ["norm", "vector_norm", "matrix_norm", "matmul", "diagonal"]
