"""Backward rules of the products (ops/linalg.py): mm, bmm, dot, matmul, outer. Each gradient
reads only the other operand (their `saves` is CROSS)."""
from ..dispatch import apply
from ..elementwise import cast_op
from ..linalg import mm_op, bmm_op, dot_op, matmul_op, outer_op
from ..registry import defvjp
from ..unbroadcast import unbroadcast, like_dtype
from ...dtypes import to_np


@defvjp(mm_op)
def _mm_vjp(g, n):
    a, b = n.inputs
    return (apply(mm_op, g, b.mT) if n.needs[0] else None,
            apply(mm_op, a.mT, g) if n.needs[1] else None)


@defvjp(bmm_op)
def _bmm_vjp(g, n):
    a, b = n.inputs
    return (apply(bmm_op, g, b.mT) if n.needs[0] else None,
            apply(bmm_op, a.mT, g) if n.needs[1] else None)


@defvjp(dot_op)
def _dot_vjp(g, n):
    return (g * n.inputs[1] if n.needs[0] else None,
            g * n.inputs[0] if n.needs[1] else None)


@defvjp(matmul_op)
def _matmul_vjp(g, n):
    a, b = n.inputs
    ga = gb = None
    if a.ndim == 1 and b.ndim == 1:
        return (g * b if n.needs[0] else None, g * a if n.needs[1] else None)
    if b.ndim == 1:          # (..., m, k) @ (k,) -> (..., m)
        if n.needs[0]:
            ga = g.unsqueeze(-1) * b
        if n.needs[1]:
            gb = unbroadcast(apply(matmul_op, a.mT, g.unsqueeze(-1)).squeeze(-1), b)
        return ga, gb
    if a.ndim == 1:          # (k,) @ (..., k, m) -> (..., m)
        if n.needs[0]:
            ga = unbroadcast(apply(matmul_op, b, g.unsqueeze(-1)).squeeze(-1), a)
        if n.needs[1]:
            gb = unbroadcast(a.unsqueeze(-1) * g.unsqueeze(-2), b)
        return ga, gb
    if n.needs[0]:
        ga = unbroadcast(apply(matmul_op, g, b.mT), a)
    if n.needs[1]:
        gb = unbroadcast(apply(matmul_op, a.mT, g), b)
    return ga, gb


@defvjp(outer_op)
def _outer_vjp(g, n):
    a, b = n.inputs
    return (like_dtype(apply(matmul_op, g, _as(b, g)), a) if n.needs[0] else None,
            like_dtype(apply(matmul_op, _as(a, g), g), b) if n.needs[1] else None)


def _as(x, like):
    """x in like's dtype (outer promotes; matmul wants one dtype)."""
    xd, ld = to_np(x.dtype), to_np(like.dtype)
    return x if xd == ld else apply(cast_op, x, dtype=ld)
