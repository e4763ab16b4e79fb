"""Products: mm (2-D only), bmm (3-D only), dot (1-D only), matmul (broadcasting), outer.

The three products differ on purpose, as in PyTorch; each rule raises PyTorch's error.
"""
import numpy as np

from ..dtypes import scalar_name, result_type
from ..errors import DGRuntimeError
from .common import Spec, broadcast_shapes, ctype_name, fmt_shape, numel
from .dispatch import apply
from .registry import defop, CROSS


def _dims(s):
    return fmt_shape(s, "x", brackets=False)


def _same_dtype(name, a, b):
    if a.dtype != b.dtype:
        raise DGRuntimeError(
            f"expected {name} to have the same dtype, but got: {scalar_name(a.dtype)} != {scalar_name(b.dtype)}")


def _compatible(k1, k2):
    return k1 is None or k2 is None or k1 == k2


def _mm_infer(a, b):
    if len(a.shape) != 2:
        raise DGRuntimeError("self must be a matrix")
    if len(b.shape) != 2:
        raise DGRuntimeError("mat2 must be a matrix")
    if not _compatible(a.shape[1], b.shape[0]):
        raise DGRuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_dims(a.shape)} and {_dims(b.shape)})")
    if a.dtype != b.dtype:
        raise DGRuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {ctype_name(a.dtype)} != "
            f"{ctype_name(b.dtype)}")
    return Spec((a.shape[0], b.shape[1]), a.dtype)


def _mm_kernel(a, b):
    if a.ndim != 2 or b.ndim != 2 or a.dtype is not b.dtype:
        raise ValueError("mm")
    return np.matmul(a, b)


# bilinear (here and below): each gradient reads only the other operand (CROSS), so the
# version check pins only that one
mm_op = defop("mm", _mm_kernel, _mm_infer, saves=CROSS, out_kernel=np.matmul)


def _bmm_infer(a, b):
    if len(a.shape) != 3:
        raise DGRuntimeError("batch1 must be a 3D tensor")
    if len(b.shape) != 3:
        raise DGRuntimeError("batch2 must be a 3D tensor")
    if not (_compatible(a.shape[0], b.shape[0]) and _compatible(a.shape[2], b.shape[1])):
        raise DGRuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{a.shape[0]}, "
            f"{a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}].")
    _scalar_type(a, b)
    return Spec((a.shape[0], a.shape[1], b.shape[2]), a.dtype)


def _scalar_type(a, b):
    if a.dtype != b.dtype:
        raise DGRuntimeError(
            f"expected scalar type {scalar_name(a.dtype)} but found {scalar_name(b.dtype)}")


def _bmm_kernel(a, b):
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.dtype is not b.dtype:
        raise ValueError("bmm")
    return np.matmul(a, b)


bmm_op = defop("bmm", _bmm_kernel, _bmm_infer, saves=CROSS, out_kernel=np.matmul)


def _dot_infer(a, b):
    if len(a.shape) != 1 or len(b.shape) != 1:
        raise DGRuntimeError(
            f"1D tensors expected, but got {len(a.shape)}D and {len(b.shape)}D tensors")
    if not _compatible(a.shape[0], b.shape[0]):
        raise DGRuntimeError(
            f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to "
            f"have the same number of elements, but got {a.shape[0]} and {b.shape[0]} elements respectively")
    if a.dtype != b.dtype:
        raise DGRuntimeError(
            f"dot : expected both vectors to have same dtype, but found {scalar_name(a.dtype)} and {scalar_name(b.dtype)}")
    return Spec((), a.dtype)


def _dot_kernel(a, b):
    if a.ndim != 1 or b.ndim != 1 or a.dtype is not b.dtype:
        raise ValueError("dot")
    return np.asarray(np.dot(a, b))


dot_op = defop("dot", _dot_kernel, _dot_infer, saves=CROSS)


def _matmul_infer(a, b):
    sa, sb = tuple(a.shape), tuple(b.shape)
    if not sa or not sb:
        raise DGRuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {len(sa)}D and {len(sb)}D")
    if len(sa) == 1 and len(sb) == 1:
        return _dot_infer(a, b)
    if len(sa) == 2 and len(sb) == 2:
        return _mm_infer(a, b)
    if len(sa) == 1 and len(sb) == 2:   # PyTorch runs (1, k) @ (k, m)
        return Spec((_mm_infer(Spec((1,) + sa, a.dtype), b).shape[1],), a.dtype)
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if not _compatible(ka, kb):
        if len(sb) == 1:
            raise DGRuntimeError(
                f"size mismatch, got input ({sa[-2] if len(sa) > 1 else 1}), mat "
                f"({_dims(sa)}), vec ({sb[0]})")
        raise DGRuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{_bat(sa)}, {ka}] "
            f"but got: [{_bat(sb)}, {kb}].")
    if a.dtype != b.dtype:
        if len(sa) > 2 or len(sb) > 2:
            _scalar_type(a, b)
        _same_dtype("both arguments", a, b)
    batch = broadcast_shapes(sa[:-2], sb[:-2]) if len(sa) > 1 and len(sb) > 1 else (
        sa[:-2] if len(sb) == 1 else sb[:-2])
    out = batch + ((sa[-2],) if len(sa) > 1 else ()) + ((sb[-1],) if len(sb) > 1 else ())
    return Spec(out, a.dtype)


def _bat(s):
    return numel(s[:-2])


def _matmul_kernel(a, b):
    if a.dtype is not b.dtype:
        raise ValueError("matmul dtypes")
    return np.matmul(a, b)


matmul_op = defop("matmul", _matmul_kernel, _matmul_infer, saves=CROSS, torch_name="Mm",
                  out_kernel=np.matmul)


def _outer_infer(a, b):
    if len(a.shape) != 1 or len(b.shape) != 1:
        raise DGRuntimeError(
            f"outer: Expected 1-D argument self, but got {len(a.shape)}-D" if len(a.shape) != 1
            else f"outer: Expected 1-D argument vec2, but got {len(b.shape)}-D")
    return Spec((a.shape[0], b.shape[0]), result_type((a.dtype, 1), (b.dtype, 1)))


def _outer_kernel(a, b):
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError("outer")
    return np.multiply.outer(a, b).astype(result_type((a.dtype, 1), (b.dtype, 1)), copy=False)


outer_op = defop("outer", _outer_kernel, _outer_infer, saves=CROSS)


def mm(input, mat2):
    return apply(mm_op, input, mat2)


def bmm(input, mat2):
    return apply(bmm_op, input, mat2)


def dot(input, other):
    return apply(dot_op, input, other)


def matmul(input, other):
    return apply(matmul_op, input, other)


def outer(input, vec2):
    return apply(outer_op, input, vec2)


ger = outer
