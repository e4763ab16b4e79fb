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


# ---------------------------------------------------------------- einsum
from ..linalg import einsum_op, _split_eq  # noqa: E402
from ..shape import unsqueeze_op, expand_to  # noqa: E402


@defvjp(einsum_op)
def _einsum_vjp(g, n):
    """The gradient of operand k is an einsum of g and the other operands, to operand k's
    subscripts: a subscript summed over k alone is broadcast back (expand), a repeated one
    is put back on the diagonal (an einsum with a repeated output subscript), and a size-1
    dim that broadcast in the forward is summed back (unbroadcast)."""
    subs, out = _split_eq(n.attrs["equation"])
    xs = n.inputs
    grads = []
    for k, x in enumerate(xs):
        if not n.needs[k]:
            grads.append(None)
            continue
        sub = subs[k]
        others = [j for j in range(len(xs)) if j != k]
        avail = set(out).union(*(subs[j] for j in others))
        uniq = "".join(dict.fromkeys(sub))
        present = "".join(lab for lab in uniq if lab in avail)
        eq = ",".join([out] + [subs[j] for j in others]) + "->" + present
        r = g if eq == out + "->" + out else apply(einsum_op, g, *(xs[j] for j in others), equation=eq)
        if present != uniq:  # summed over this operand alone: broadcast back
            for i, lab in enumerate(uniq):
                if lab not in avail:
                    r = apply(unsqueeze_op, r, dim=i)
            r = expand_to(r, [[-1] if lab in avail else [(x, sub.index(lab))] for lab in uniq])
        if uniq != sub:  # a repeated subscript: back on the diagonal
            r = apply(einsum_op, r, equation=uniq + "->" + sub)
        # a size-1 subscript of the others that broadcast against x's: expand; one of x's that
        # broadcast against theirs: sum
        grow = [[(x, i)] if rd == 1 and xd != 1 else [-1]
                for i, (rd, xd) in enumerate(zip(r.shape, x.shape))]
        if any(e != [-1] for e in grow):
            r = expand_to(r, grow)
        grads.append(unbroadcast(r, x))
    return tuple(grads)
