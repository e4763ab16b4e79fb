"""PyTorch functions that are plain compositions of the op families' public ops: broadcasting
(broadcast_to, broadcast_tensors), shape moves (tile, ravel, movedim/moveaxis,
swapdims/swapaxes, unflatten, rot90, fliplr, flipud), splits (tensor_split, hsplit, vsplit,
dsplit), differences (diff) and products (trace, kron, inner, mv, addmm, addmv, baddbmm,
addbmm, vdot, cross, dist).

No kernel and no backward rule here: each function calls ops that have both, so a gradient is
the chain of their rules, in both modes. PyTorch's checks and messages come first, where the
ops underneath would word them otherwise.
"""
import numpy as np

from ..dtypes import scalar_name
from ..errors import DGNotImplementedError, DGRuntimeError, DGTypeError
from .common import broadcast_shapes, fmt_shape as _fmt, norm_dim, numel
from .creation import full_like_op
from .dispatch import apply
from . import elementwise as E
from . import elementwise_math as M
from . import linalg as L
from . import reductions as R
from . import shape as S


def _np_dtype(t):
    return t._np_dtype()


def _known(shape):
    return None not in tuple(shape)


# ---------------------------------------------------------------- broadcasting
def broadcast_to(input, size):
    """torch.broadcast_to: input.expand(size) (a view; -1 keeps a dim)."""
    return apply(S.expand_op, input, size=S._shape_args((size,)))


def broadcast_tensors(*tensors):
    """torch.broadcast_tensors: each tensor expanded to the broadcast shape of all (views).
    While a graph is built with sizes unknown until it runs, a tensor is broadcast by an exact
    elementwise op against ones of the others' shapes instead (x * 1, x & True: the same
    values, and a gradient summed back to its shape as expand's)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    shapes = [tuple(t.shape) for t in tensors]
    target = broadcast_shapes(*shapes)
    if _known(target) and all(_known(s) for s in shapes):
        return tuple(t if s == target else apply(S.expand_op, t, size=target)
                     for t, s in zip(tensors, shapes))
    out = []
    for i, t in enumerate(tensors):
        r = t
        dt = _np_dtype(t)
        for j, o in enumerate(tensors):
            if j == i:
                continue
            if dt.kind == "b":
                r = E.logical_and(r, apply(full_like_op, o, fill_value=True, dtype=dt))
            else:
                r = r * apply(full_like_op, o, fill_value=1, dtype=dt)
        out.append(r)
    return tuple(out)


# ---------------------------------------------------------------- shape moves
def tile(input, dims):
    """torch.tile: repeat, with dims padded by leading 1s to the input's rank."""
    dims = S._shape_args((dims,)) if not isinstance(dims, (int, np.integer)) else (int(dims),)
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + tuple(dims)
    return apply(S.repeat_op, input, sizes=tuple(dims))


def ravel(input):
    """torch.ravel: the flattened input (a view where the layout allows; never input itself)."""
    return S.reshape(input, -1)


def _dim_list(v):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return [int(v)]
    return [int(d) for d in v]


def movedim(input, source, destination):
    """torch.movedim: the dims in `source` moved to `destination`, the others in order."""
    src, dst = _dim_list(source), _dim_list(destination)
    if len(src) != len(dst):
        raise DGRuntimeError(
            f"movedim: Invalid source or destination dims: source ({src} dims) should contain "
            f"the same number of dims as destination ({dst} dims)")
    nd = input.ndim
    s = [norm_dim(d, nd) for d in src]
    t = [norm_dim(d, nd) for d in dst]
    if len(set(s)) != len(s):
        raise DGRuntimeError(f"movedim: repeated dim in `source` ({src})")
    if len(set(t)) != len(t):
        raise DGRuntimeError(f"movedim: repeated dim in `destination` ({dst})")
    if nd == 0:
        return input
    order = [-1] * nd
    for a, b in zip(s, t):
        order[b] = a
    rest = iter(d for d in range(nd) if d not in s)
    order = [next(rest) if o == -1 else o for o in order]
    return apply(S.permute_op, input, dims=tuple(order))


moveaxis = movedim


def swapdims(input, dim0, dim1):
    return S.transpose(input, dim0, dim1)


swapaxes = swapdims


def unflatten(input, dim, sizes):
    """torch.unflatten: dim split into `sizes` (one of them may be -1)."""
    sizes = list(S._shape_args((sizes,)))
    if not sizes:
        raise DGRuntimeError("unflatten: sizes must be non-empty")
    if input.ndim == 0 or sizes.count(-1) > 1:
        raise DGRuntimeError(
            "unflatten got an unexpected error:\n"
            + ("only one dimension can be inferred" if sizes.count(-1) > 1 else
               "Dimension specified as 0 but tensor has no dimensions"))
    d = norm_dim(dim, input.ndim)
    size = input.shape[d]
    known = numel([s for s in sizes if s != -1])
    if size is not None:
        if -1 in sizes:
            ok = known != 0 and size % known == 0
        else:
            ok = known == size
        if not ok:
            raise DGRuntimeError(
                f"unflatten: Provided sizes {sizes} don't multiply up to the size of dim {d} "
                f"({size}) in the input tensor")
        sizes = [size // known if s == -1 else s for s in sizes]
    dims = S.dims_of(input)
    entries = dims[:d] + [[s] for s in sizes] + dims[d + 1:]
    return S.reshape_to(input, entries, view=False)


def rot90(input, k=1, dims=(0, 1)):
    dims = list(dims)
    if len(dims) != 2:
        raise DGRuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    nd = input.ndim
    if nd < 2:
        raise DGRuntimeError(f"expected total dims >= 2, but got total dims = {nd}")
    d0, d1 = norm_dim(dims[0], nd), norm_dim(dims[1], nd)
    if d0 == d1:
        raise DGRuntimeError(
            f"expected rotation dims to be different, but got dim0 = {dims[0]} and dim1 = {dims[1]}")
    k = int(k) % 4
    if k == 1:
        return S.transpose(S.flip(input, (d1,)), d0, d1)
    if k == 2:
        return S.flip(input, (d0, d1))
    if k == 3:
        return S.transpose(S.flip(input, (d0,)), d0, d1)
    return apply(S.clone_op, input)


def fliplr(input):
    if input.ndim < 2:
        raise DGRuntimeError("Input must be >= 2-d.")
    return S.flip(input, (1,))


def flipud(input):
    if input.ndim < 1:
        raise DGRuntimeError("Input must be >= 1-d.")
    return S.flip(input, (0,))


# ---------------------------------------------------------------- splits
def _dim_size_tensor(x, d):
    """The size of dim d of x as a 0-d int64 value read when the graph runs: a one per
    position along d, summed (whatever the sizes of the other dims, 0 included)."""
    moved = movedim(x, d, 0)
    flat = S.reshape_to(moved, [[(moved, 0)], [f for i in range(1, moved.ndim) for f in [(moved, i)]] or [1]])
    per_row = apply(R.sum_op, apply(full_like_op, flat, fill_value=1, dtype=np.dtype(np.int64)),
                    dim=1, keepdim=False, dtype=None)
    ones = apply(full_like_op, per_row, fill_value=1, dtype=np.dtype(np.int64))
    return apply(R.sum_op, ones, dim=None, keepdim=False, dtype=None)


def _sections_bounds(size, n):
    """tensor_split's n sections of a dim of `size`: the first size % n get one more."""
    q, r = divmod(size, n)
    out, start = [], 0
    for i in range(n):
        stop = start + q + (1 if i < r else 0)
        out.append((start, stop))
        start = stop
    return out


def _piece(input, d, start, stop):
    return input[(slice(None),) * d + (slice(start, stop),)]


def _split_sections(input, n, d):
    size = input.shape[d]
    if size is not None:
        return tuple(_piece(input, d, a, b) for a, b in _sections_bounds(size, n))
    # a size known only when the graph runs: each piece's bounds are graph values
    total = _dim_size_tensor(input, d)
    q, r = E.floor_divide(total, n), E.remainder(total, n)
    out = []
    for i in range(n):
        start = q * i + E.minimum(r, apply(full_like_op, r, fill_value=i, dtype=None))
        stop = start + q + E.gt(r, i).long()
        out.append(_piece(input, d, start, stop))
    return tuple(out)


def _split_indices(input, indices, d):
    out, prev = [], 0
    for i in indices:
        out.append(_piece(input, d, prev, i))
        prev = i
    out.append(_piece(input, d, prev, None))
    return tuple(out)


def _tensor_values(t, what):
    from .shape import _constant_values
    return _constant_values(t, what)


def tensor_split(input, indices_or_sections, dim=0):
    """torch.tensor_split: n sections (the first size % n one element longer) or pieces
    between the given indices (Python slicing: clamped, negative from the end); views."""
    s = indices_or_sections
    if input.ndim == 0:
        raise DGRuntimeError(
            "tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    if hasattr(s, "shape") and hasattr(s, "dtype") and not isinstance(s, np.ndarray):
        if len(s.shape) > 1:
            raise DGRuntimeError(
                "tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
                f"one-dimensional tensor, but got a tensor with {len(s.shape)} dims")
        if _np_dtype(s) != np.int64:
            raise DGRuntimeError(
                "tensor_split expected tensor_indices_or_sections to have dtype of long, but got "
                f"{scalar_name(_np_dtype(s))}")
        v = _tensor_values(s, "tensor_split")
        s = int(v) if v.ndim == 0 else [int(i) for i in v]
    d = norm_dim(dim, input.ndim)
    if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
        if s <= 0:
            raise DGRuntimeError(f"number of sections must be larger than 0, got {int(s)}")
        return _split_sections(input, int(s), d)
    if isinstance(s, (list, tuple)) and all(isinstance(i, (int, np.integer)) and not isinstance(i, bool)
                                            for i in s):
        return _split_indices(input, [int(i) for i in s], d)
    raise DGTypeError(
        f"tensor_split() received an invalid combination of arguments - got (Tensor, "
        f"{type(s).__name__}, {type(dim).__name__}), but expected one of: (Tensor input, "
        "tuple of ints indices, int dim = 0), (Tensor input, Tensor tensor_indices_or_sections, "
        "int dim = 0), (Tensor input, int sections, int dim = 0)")


def _hvd_split(name, input, s, d, need):
    if input.ndim < need:
        raise DGRuntimeError(
            f"torch.{name} requires a tensor with at least {need} dimension, but got a tensor with "
            f"{input.ndim} dimensions!")
    if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
        size = input.shape[d]
        if s > 0 and size is not None and size % int(s):
            raise DGRuntimeError(
                f"torch.{name} attempted to split along dimension {d}, but the size of the "
                f"dimension {size} is not divisible by the split_size {int(s)}!")
        if s > 0 and size is None:
            # a size known only when the graph runs: dim d viewed as (s, size / s), which
            # refuses a size s does not divide when it runs, then the s pieces
            dims = S.dims_of(input)
            r = S.reshape_to(input, dims[:d] + [[int(s)], [-1]] + dims[d + 1:])
            return tuple(r[(slice(None),) * d + (i,)] for i in range(int(s)))
    return tensor_split(input, s, d)


def hsplit(input, indices_or_sections):
    return _hvd_split("hsplit", input, indices_or_sections, 1 if input.ndim > 1 else 0, 1)


def vsplit(input, indices_or_sections):
    return _hvd_split("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input, indices_or_sections):
    return _hvd_split("dsplit", input, indices_or_sections, 2, 3)


# ---------------------------------------------------------------- differences
def diff(input, n=1, dim=-1, prepend=None, append=None):
    """torch.diff: the n-th forward difference along dim (x[1:] - x[:-1]; != for bools),
    prepend/append concatenated first."""
    if input.ndim == 0:
        raise DGRuntimeError("diff expects input to be at least one-dimensional")
    n = int(n)
    if n < 0:
        raise DGRuntimeError(f"order must be non-negative but got {n}")
    d = norm_dim(dim, input.ndim)
    for t in (prepend, append):
        if t is not None and t.ndim != input.ndim:
            raise DGRuntimeError("diff expects prepend or append to be the same dimension as input")
    if n == 0:
        return input
    x = input
    if prepend is not None or append is not None:
        x = S.cat([t for t in (prepend, input, append) if t is not None], dim=d)
    lo = (slice(None),) * d + (slice(None, -1),)
    hi = (slice(None),) * d + (slice(1, None),)
    for _ in range(n):
        if _np_dtype(x).kind == "b":
            x = E.ne(x[hi], x[lo])
        else:
            x = x[hi] - x[lo]
    return x


# ---------------------------------------------------------------- products
def trace(input):
    if input.ndim != 2:
        raise DGRuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    if _np_dtype(input).kind == "b":
        raise DGNotImplementedError("\"trace\" not implemented for 'Bool'")
    return R.sum(S.diagonal(input))


def kron(input, other):
    """torch.kron: every product input[i] * other[j] at index i * other.shape + j."""
    nd = max(input.ndim, other.ndim)
    a = S.reshape_to(input, [[1]] * (nd - input.ndim) + S.dims_of(input))
    b = S.reshape_to(other, [[1]] * (nd - other.ndim) + S.dims_of(other))
    ar = S.reshape_to(a, [e for i in range(nd) for e in ([(a, i)], [1])])
    br = S.reshape_to(b, [e for i in range(nd) for e in ([1], [(b, i)])])
    p = ar * br
    return S.reshape_to(p, [[(a, i), (b, i)] for i in range(nd)])


def inner(input, other):
    """torch.inner: the sum over the last dims (a product with a 0-d input)."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    ka, kb = input.shape[-1], other.shape[-1]
    if ka is not None and kb is not None and ka != kb:
        raise DGRuntimeError(
            "inner() the last dimension must match on both input tensors but got shapes "
            f"{_fmt(input.shape)} and {_fmt(other.shape)}")
    if _np_dtype(input) != _np_dtype(other):
        raise DGRuntimeError("both inputs should have same dtype")
    a2 = S.reshape_to(input, [[(input, i) for i in range(input.ndim - 1)] or [1], [(input, -1)]])
    b2 = S.reshape_to(other, [[(other, i) for i in range(other.ndim - 1)] or [1], [(other, -1)]])
    m = L.mm(a2, S.t(b2))
    return S.reshape_to(m, S.dims_of(input)[:-1] + S.dims_of(other)[:-1])


def _mat_dims(m):
    return fmt_shape_x(m.shape)


def fmt_shape_x(shape):
    return _fmt(shape, "x", brackets=False)


def mv(input, vec):
    if input.ndim != 2 or vec.ndim != 1:
        raise DGRuntimeError(f"vector + matrix @ vector expected, got 1, {input.ndim}, {vec.ndim}")
    k, v = input.shape[1], vec.shape[0]
    if k is not None and v is not None and k != v:
        raise DGRuntimeError(
            f"size mismatch, got input ({input.shape[0]}), mat ({_mat_dims(input)}), vec ({v})")
    return L.matmul(input, vec)


def _scaled_sum(input, product, beta, alpha, target):
    """beta * input + alpha * product, input broadcast to the product's shape (not read when
    beta is 0, as PyTorch's gemm: its NaNs do not propagate; its gradient is still PyTorch's
    beta * grad, which is NaN where grad is inf or NaN)."""
    inp = broadcast_to(input, target) if _known(target) and tuple(input.shape) != tuple(target) else input
    out = product if alpha == 1 else product * alpha
    if beta == 0:
        return out - _unread(inp) if _np_dtype(inp).kind == "f" else out
    return (inp if beta == 1 else inp * beta) + out


def _unread(t):
    """+0.0 in t's shape, for addmm's beta=0: x - 0.0 is x for every x (-0.0 too), t's NaN and
    inf do not reach it, and t's gradient is PyTorch's beta * grad = 0 * grad bit for bit (NaN
    where grad is inf or NaN, grad's zero sign): u - u.detach() is +0.0 with gradient 1 to u,
    and u = nan_to_num(t * -0.0) passes -grad on as -grad * -0.0 (no division: its own
    gradient is clean too)."""
    u = M.nan_to_num(t * -0.0)
    return u - u.detach()


def _same_dtype_self(input, other):
    if _np_dtype(input) != _np_dtype(other):
        raise DGRuntimeError(
            f"self and mat2 must have the same dtype, but got {scalar_name(_np_dtype(input))} and "
            f"{scalar_name(_np_dtype(other))}")


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    for name, m in (("mat1", mat1), ("mat2", mat2)):
        if m.ndim != 2:
            raise DGRuntimeError(f"{name} must be a matrix, got {m.ndim}-D tensor")
    k1, k2 = mat1.shape[1], mat2.shape[0]
    if k1 is not None and k2 is not None and k1 != k2:
        raise DGRuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_mat_dims(mat1)} and {_mat_dims(mat2)})")
    target = (mat1.shape[0], mat2.shape[1])
    if _known(target):
        broadcast_to(input, target)  # (PyTorch's expand error first)
    _same_dtype_self(input, mat2)
    return _scaled_sum(input, L.mm(mat1, mat2), beta, alpha, target)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    if mat.ndim != 2 or vec.ndim != 1 or input.ndim > 1:
        raise DGRuntimeError(
            f"vector + matrix @ vector expected, got {input.ndim}, {mat.ndim}, {vec.ndim}")
    m, k, v = mat.shape[0], mat.shape[1], vec.shape[0]
    n_in = input.shape[0] if input.ndim else 1
    if (k is not None and v is not None and k != v) or (
            n_in not in (1, None) and m is not None and n_in != m):
        raise DGRuntimeError(
            f"size mismatch, got input ({n_in if input.ndim else m}), mat ({_mat_dims(mat)}), vec ({v})")
    return _scaled_sum(input, L.matmul(mat, vec), beta, alpha, (m,))


def _check_batches(b1, b2):
    for name, b in (("batch1", b1), ("batch2", b2)):
        if b.ndim != 3:
            raise DGRuntimeError(f"{name} must be a 3D tensor")


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    _check_batches(batch1, batch2)
    target = (batch1.shape[0], batch1.shape[1], batch2.shape[2])
    prod = L.bmm(batch1, batch2)
    if _known(target):
        broadcast_to(input, target)
    return _scaled_sum(input, prod, beta, alpha, target)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    _check_batches(batch1, batch2)
    n1, n2 = batch1.shape[0], batch2.shape[0]
    if n1 is not None and n2 is not None and n1 != n2:
        raise DGRuntimeError(f"batch1 and batch2 must have same number of batches, got {n1} and {n2}")
    k1, k2 = batch1.shape[2], batch2.shape[1]
    if k1 is not None and k2 is not None and k1 != k2:
        raise DGRuntimeError(
            f"Incompatible matrix sizes for bmm ({fmt_shape_x(batch1.shape[1:])} and "
            f"{fmt_shape_x(batch2.shape[1:])})")
    target = (batch1.shape[1], batch2.shape[2])
    if _known(target):
        broadcast_to(input, target)
    prod = R.sum(L.bmm(batch1, batch2), 0)
    return _scaled_sum(input, prod, beta, alpha, target)


def vdot(input, other):
    """torch.vdot on real tensors: dot (no conjugation to do)."""
    return L.dot(input, other)


def cross(input, other, dim=None):
    """torch.cross: the cross product along dim (None: the first dim of size 3, PyTorch's
    deprecated default; torch.linalg.cross's is -1), the other dims broadcast."""
    if dim is None:
        shape = tuple(input.shape)
        d = next((i for i, s in enumerate(shape) if s == 3 or s is None), None)
        if d is None:
            raise DGRuntimeError("no dimension of size 3 in input")
        if shape[d] is None:
            raise DGRuntimeError(
                f"cross(): without dim, the dim is the first of size 3, and the size of dimension "
                f"{d} (shape {_fmt(shape)}) is unknown while the graph is built; pass dim")
        dim = d
    if input.ndim != other.ndim:
        raise DGRuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    d = norm_dim(dim, input.ndim)
    a3, b3 = input.shape[d], other.shape[d]
    if a3 not in (3, None) or b3 not in (3, None):
        raise DGRuntimeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. Got {a3} and {b3}")
    if _np_dtype(input) != _np_dtype(other):
        raise DGRuntimeError(
            f"expected scalar type {scalar_name(_np_dtype(input))} but found {scalar_name(_np_dtype(other))}")
    if a3 is None or b3 is None:
        # a size known only when the graph runs: made 3 by a reshape, which refuses another
        # size then
        input, other = (S.reshape_to(t, S.dims_of(t)[:d] + [[3]] + S.dims_of(t)[d + 1:])
                        for t in (input, other))
    a, b = broadcast_tensors(input, other)
    at = lambda t, i: t[(slice(None),) * d + (i,)]  # noqa: E731
    a0, a1, a2 = at(a, 0), at(a, 1), at(a, 2)
    b0, b1, b2 = at(b, 0), at(b, 1), at(b, 2)
    return S.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dim=d)


def dist(input, other, p=2):
    """torch.dist: the p-norm of input - other (broadcast)."""
    diff_ = input - other
    if _np_dtype(diff_).kind != "f":
        raise DGRuntimeError(
            "norm(): input dtype should be either floating point or complex. Got "
            f"{scalar_name(_np_dtype(diff_))} instead.")
    return R.vector_norm(diff_, p)


__all__ = ["broadcast_to", "broadcast_tensors", "tile", "ravel", "movedim",
           "moveaxis", "swapdims", "swapaxes", "unflatten", "rot90", "fliplr", "flipud",
           "tensor_split", "hsplit", "vsplit", "dsplit", "diff", "trace", "kron", "inner", "mv",
           "addmm", "addmv", "baddbmm", "addbmm", "vdot", "cross", "dist"]
