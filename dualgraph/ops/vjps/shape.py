"""Backward rules of the shape and view ops (ops/shape.py): reshapes, transpose/permute,
expand/squeeze/unsqueeze, contiguous/clone/copy, indexing, repeat, cat/stack, gather."""
import numpy as np

from ..common import Slot, numel
from ..creation import full_op
from ..dispatch import apply
from ..reductions import sum_op
from ..registry import defvjp
from ..shape import (reshape_op, view_op, reshape_like_op, transpose_op, permute_op, expand_op,
                     squeeze_op, unsqueeze_op, contiguous_op, clone_op, copy_op, getitem_op,
                     getitem_grad_op, index_put_op, repeat_op, cat_op, stack_op, gather_op,
                     scatter_add_zeros_op, reshape_to, expand_to,
                     tril_op, triu_op, flip_op, roll_op)
from ..unbroadcast import unbroadcast, like_dtype


# ---------------------------------------------------------------- reshapes and views
def _reshape_like(g, x):
    """Reshape a gradient back to x's shape: a static reshape (with -1 for one unknown dim,
    when the known ones leave no ambiguity) or a reshape_like reading x's shape at run time."""
    xs = tuple(x.shape)
    if tuple(g.shape) == xs and None not in xs:
        return g
    if xs.count(None) <= 1 and numel(tuple(d for d in xs if d is not None)) != 0:
        return apply(reshape_op, g, shape=tuple(-1 if d is None else d for d in xs))
    return apply(reshape_like_op, g, x)


def _reshape_vjp(g, n):
    return (_reshape_like(g, n.inputs[0]),) + (None,) * (len(n.inputs) - 1)


defvjp(reshape_op, _reshape_vjp)
defvjp(view_op, _reshape_vjp)
defvjp(reshape_like_op, _reshape_vjp)
defvjp(squeeze_op, _reshape_vjp)


@defvjp(transpose_op)
def _transpose_vjp(g, n):
    return (apply(transpose_op, g, **n.attrs),)


@defvjp(permute_op)
def _permute_vjp(g, n):
    dims = [d % max(len(n.attrs["dims"]), 1) for d in n.attrs["dims"]]
    return (apply(permute_op, g, dims=tuple(int(i) for i in np.argsort(dims))),)


@defvjp(expand_op)
def _expand_vjp(g, n):
    return (unbroadcast(g, n.inputs[0]),) + (None,) * (len(n.inputs) - 1)


@defvjp(unsqueeze_op)
def _unsqueeze_vjp(g, n):
    return (apply(squeeze_op, g, dim=n.attrs["dim"]),)


def _identity_vjp(g, n):
    return (g,)


defvjp(contiguous_op, _identity_vjp)
defvjp(clone_op, _identity_vjp)


@defvjp(copy_op)
def _copy_vjp(g, n):
    """The gradient goes to src only (the overwritten value gets none), as PyTorch's
    CopyBackwards: cast to src's dtype first, then summed to its shape (as the eager write's
    expand-then-cast path does: float64 sums rounded once more would differ by an ulp)."""
    dst, src = n.inputs
    return None, unbroadcast(like_dtype(g, src), src)


# ---------------------------------------------------------------- indexing
@defvjp(getitem_op)
def _getitem_vjp(g, n):
    x, *idx = n.inputs
    return (apply(getitem_grad_op, g, x, *idx, index=n.attrs["index"]),) + (None,) * len(idx)


@defvjp(getitem_grad_op)
def _getitem_grad_vjp(gg, n):
    return (apply(getitem_op, gg, *n.inputs[2:], index=n.attrs["index"]),) + (None,) * (len(n.inputs) - 1)


@defvjp(index_put_op)
def _index_put_vjp(g, n):
    x, v, *idx = n.inputs
    index = n.attrs["index"]
    gx = apply(index_put_op, g, 0.0, *idx, index=index)
    gv = unbroadcast(apply(getitem_op, g, *idx, index=index), v)
    return (gx, gv) + (None,) * len(idx)


# ---------------------------------------------------------------- repeat / cat / stack
@defvjp(repeat_op)
def _repeat_vjp(g, n):
    x = n.inputs[0]
    sizes = n.attrs["sizes"]
    lead = len(sizes) - x.ndim
    split = []  # (repeats, size) per dim: the size read at run time where unknown now
    for i, s in enumerate(sizes):
        split += [[s], [1] if i < lead else [(x, i - lead)]]
    r = reshape_to(g, split)
    r = apply(sum_op, r, dim=tuple(range(0, 2 * len(sizes), 2)), keepdim=False, dtype=None)
    return (_reshape_like(r, x),)


@defvjp(cat_op)
def _cat_vjp(g, n):
    dim = n.attrs["dim"] % g.ndim
    sizes = [x.shape[dim] if x.ndim == g.ndim else 0 for x in n.inputs]  # (legacy empty 1-d: 0)
    unknown = [i for i, size in enumerate(sizes) if size is None]
    if len(unknown) > 1:
        return _cat_vjp_masked(g, n, dim, sizes)
    # static slices: offsets from the start up to the piece of unknown size (if any), from the
    # end after it
    u = unknown[0] if unknown else len(sizes)
    out, start = [], 0
    for i, (x, size) in enumerate(zip(n.inputs, sizes)):
        if size == 0:
            sl = slice(0, 0)
        elif i < u:
            sl = slice(start, start + size)
            start += size
        else:
            tail = sum(sizes[i + 1:])  # what follows piece i
            stop = -tail or None
            sl = slice(start, stop) if i == u else slice(-(tail + size), stop)
        idx = (slice(None),) * dim + (sl,)
        # (a legacy empty 1-d input gets no gradient; a size-0 piece an empty one, as PyTorch)
        out.append(like_dtype(apply(getitem_op, g, index=idx), x) if x.ndim == g.ndim else None)
    return tuple(out)


def _cat_vjp_masked(g, n, dim, sizes):
    """cat's gradient when several inputs have sizes along dim unknown until run time: piece i
    is g[..., mask_i] for a boolean mask along dim, true over input i's rows, made of a
    True/False per input expanded to its run-time size."""
    out = []
    for i, (x, size) in enumerate(zip(n.inputs, sizes)):
        if x.ndim != g.ndim:  # a legacy empty 1-d input
            out.append(None)
            continue
        parts = []
        for j, (y, sz) in enumerate(zip(n.inputs, sizes)):
            if sz == 0:
                continue
            flag = apply(full_op, shape=(1,), fill_value=i == j, dtype=np.dtype(bool))
            parts.append(expand_to(flag, [[(y, dim)]]))
        mask = apply(cat_op, *parts, dim=0) if len(parts) > 1 else parts[0]
        idx = (slice(None),) * dim + (Slot(0),)
        piece = apply(getitem_op, g, mask, index=idx)
        # (a mask's result has a data-dependent size even when fed: x's shape says what it is)
        out.append(like_dtype(apply(reshape_like_op, piece, x), x))
    return tuple(out)


@defvjp(stack_op)
def _stack_vjp(g, n):
    dim = n.attrs["dim"] % g.ndim
    return tuple(like_dtype(apply(getitem_op, g, index=(slice(None),) * dim + (i,)), x)
                 for i, x in enumerate(n.inputs))


# ---------------------------------------------------------------- gather
@defvjp(gather_op)
def _gather_vjp(g, n):
    x, index = n.inputs
    return apply(scatter_add_zeros_op, g, index, x, dim=n.attrs["dim"]), None


@defvjp(scatter_add_zeros_op)
def _scatter_add_zeros_vjp(gg, n):
    return (apply(gather_op, gg, n.inputs[1], dim=n.attrs["dim"]), None, None)



# ---------------------------------------------------------------- tril / triu / flip / roll
defvjp(tril_op, lambda g, n: (apply(tril_op, g, diagonal=n.attrs.get("diagonal", 0)),))
defvjp(triu_op, lambda g, n: (apply(triu_op, g, diagonal=n.attrs.get("diagonal", 0)),))
defvjp(flip_op, lambda g, n: (apply(flip_op, g, dims=n.attrs["dims"]),))
defvjp(roll_op, lambda g, n: (apply(roll_op, g, shifts=tuple(-v for v in n.attrs["shifts"]),
                                    dims=n.attrs.get("dims")),))


# ---------------------------------------------------------------- diagonal / diag_embed
from ..shape import diagonal_op, diag_embed_op, diagonal_grad_op  # noqa: E402


@defvjp(diagonal_op)
def _diagonal_vjp(g, n):
    return (apply(diagonal_grad_op, g, n.inputs[0], **n.attrs),)


@defvjp(diag_embed_op)
def _diag_embed_vjp(g, n):
    return (apply(diagonal_op, g, **n.attrs),)


@defvjp(diagonal_grad_op)
def _diagonal_grad_vjp(gg, n):
    return (apply(diagonal_op, gg, **n.attrs), None)
