"""dg.linalg: PyTorch's torch.linalg names over the registry (norms, products)."""
from .ops.reductions import vector_norm, matrix_norm, linalg_norm as norm
from .ops.linalg import matmul

__all__ = ["norm", "vector_norm", "matrix_norm", "matmul"]
