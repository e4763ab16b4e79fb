"""Shape and view operators: view/reshape, transpose/permute, expand, squeeze/unsqueeze,
indexing (getitem/index_put), repeat, cat/stack, gather, contiguous/clone.

View ops (flag view=True) return numpy views, so eager results share memory with their base
exactly as PyTorch views do; reshape views when numpy can and copies when it must.
"""
import numpy as np

from ..dtypes import result_type
from ..errors import DualGraphError, DGRuntimeError, DGIndexError, DGTypeError
from .common import Spec, Slot, norm_dim, numel, broadcast_shapes, fmt_shape as _fmt
from .dispatch import apply
from .registry import defop


def resolve_shape(shape, n, xshape=None):
    """Fill a -1 in `shape` for an input of n elements (n None = unknown); PyTorch's errors.

    With n unknown (graph mode) and the input's shape `xshape` given, refuse now a shape that
    no size of the unknown dimensions fits: the input has K * U elements (K the product of its
    known dimensions, U that of the unknown ones, any size >= 0), so without a -1 the target's
    T elements need T % K == 0; with a -1 every T > 0 fits (U = T) and T == 0 never does."""
    shape = tuple(shape)
    neg = [i for i, d in enumerate(shape) if d == -1]
    if len(neg) > 1:
        raise DGRuntimeError("only one dimension can be inferred")
    for i, d in enumerate(shape):
        if d is not None and d < -1:
            raise DGRuntimeError(f"invalid shape dimension {d} at index {i} of shape {_fmt(shape)}")
    known = numel(tuple(d for d in shape if d != -1))
    if n is None and xshape is not None and known is not None:
        k = numel(tuple(d for d in xshape if d is not None))
        if k == 0:  # a known zero dimension: the input is empty whatever the unknown ones are
            n = 0
        elif neg and known == 0:
            raise DGRuntimeError(
                f"shape '{_fmt(shape)}' is invalid for input of shape {_fmt(xshape)}: the "
                "unspecified dimension size -1 can be any value and is ambiguous (or the input "
                "is not empty), whatever the unknown dimensions are")
        elif not neg and known % k:
            raise DGRuntimeError(
                f"shape '{_fmt(shape)}' is invalid for input of size {k}*? (shape "
                f"{_fmt(xshape)}): {known} elements is not a multiple of {k}, whatever the "
                "unknown dimensions are")
    if n is None or known is None:
        return tuple(None if d == -1 else d for d in shape)
    if neg:
        if known == 0 and n == 0:
            raise DGRuntimeError(
                f"cannot reshape tensor of 0 elements into shape {_fmt(shape)} because the "
                "unspecified dimension size -1 can be any value and is ambiguous")
        if known == 0 or n % known:
            raise DGRuntimeError(f"shape '{_fmt(shape)}' is invalid for input of size {n}")
        return tuple(n // known if d == -1 else d for d in shape)
    if known != n:
        raise DGRuntimeError(f"shape '{_fmt(shape)}' is invalid for input of size {n}")
    return shape


def _static_target(op, shape):
    """A static target (a reshape's shape, an expand's size) holds no unknown (None) size: a
    size known only at run time goes in a template read from the inputs (`_template`)."""
    if any(d is None for d in shape):
        raise DGRuntimeError(
            f"internal: {op} target {_fmt(shape)} holds a size unknown while the graph is built; "
            "the op needs it as a template read from a tensor's shape at run time (dualgraph bug)")


def _reshape_infer(x, shape):
    _static_target("reshape", shape)
    return Spec(resolve_shape(shape, numel(x.shape), x.shape), x.dtype)


# ---------------------------------------------------------------- run-time target shapes
# A target shape some of whose sizes are known only when the graph runs (unknown dims) is a
# *template*: a tuple of entries, each an int (-1: reshape infers it) or a tuple
# (k, (i, d), (i, d), ...) meaning k times the product of dim d of the op's input i. Kernels
# read those sizes from their inputs' run-time shapes, shape rules from their specs (None
# while unknown; the plan re-runs the rule on the fed shapes, so its checks run then).
def _dims_from(template, shapes):
    out = []
    for e in template:
        if isinstance(e, tuple):
            n = e[0]
            for i, d in e[1:]:
                s = shapes[i][d]
                if s is None:
                    n = None
                    break
                n *= s
            out.append(n)
        else:
            out.append(e)
    return tuple(out)


def _template(entries, first=1):
    """entries: one per target dim, a list of factors (ints, or (tensor, dim) pairs: that dim
    of that tensor). Returns (template, refs, dynamic): the known sizes folded into ints, the
    unknown ones read at run time from refs, the op's inputs from position `first` on."""
    refs, tpl, dynamic = [], [], False
    for factors in entries:
        if list(factors) == [-1]:
            tpl.append(-1)
            continue
        k, pairs = 1, []
        for f in factors:
            if isinstance(f, tuple):
                t, d = f
                size = t.shape[d]
                if size is None:
                    j = next((j for j, r in enumerate(refs) if r is t), None)
                    if j is None:
                        refs.append(t)
                        j = len(refs) - 1
                    pairs.append((first + j, d % len(t.shape)))
                    continue
                f = size
            k *= f
        if pairs and k != 0:
            tpl.append((k,) + tuple(pairs))
            dynamic = True
        else:
            tpl.append(k)
    return tuple(tpl), refs, dynamic


def dims_of(t):
    """The factors list (`_template`) naming every dim of tensor t."""
    return [[(t, i)] for i in range(len(t.shape))]


def reshape_to(x, entries, view=False):
    """x reshaped (view=True: viewed) to a target given as `_template` entries: a static
    reshape when every size is known now, else a reshape_like reading them at run time."""
    tpl, refs, dynamic = _template(entries)
    if not dynamic:
        return apply(view_op if view else reshape_op, x, shape=tpl)
    return apply(reshape_like_op, x, *refs, shape=tpl, view=view)


def expand_to(x, entries):
    """x expanded to a target given as `_template` entries (sizes read at run time when
    unknown now)."""
    tpl, refs, dynamic = _template(entries)
    if not dynamic:
        return apply(expand_op, x, size=tpl)
    return apply(expand_op, x, *refs, size=tpl)


def _reshape_kernel(x, shape):
    if min(shape, default=0) < -1:  # numpy reads any negative size as "infer"; PyTorch refuses
        resolve_shape(shape, x.size)
    return np.reshape(x, shape)


def _view_kernel(x, shape):
    if min(shape, default=0) < -1:
        resolve_shape(shape, x.size)
    try:
        return np.reshape(x, shape, copy=False)
    except ValueError:
        resolve_shape(shape, x.size)  # the size message first, as PyTorch
        raise DGRuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead.") from None


def _reshape_like_target(x, likes, shape):
    if shape is None:  # the first like's shape
        return tuple(likes[0].shape)
    return _dims_from(shape, [x.shape] + [t.shape for t in likes])


def _reshape_like_kernel(x, *likes, shape=None, view=False):
    target = _reshape_like_target(x, likes, shape)
    return _view_kernel(x, target) if view else _reshape_kernel(x, target)


def _reshape_like_infer(x, *likes, shape=None, view=False):
    return Spec(resolve_shape(_reshape_like_target(x, likes, shape), numel(x.shape), x.shape),
                x.dtype)


reshape_op = defop("reshape", _reshape_kernel, _reshape_infer, view=True, saves=(),
                   torch_name="View")
view_op = defop("view", _view_kernel, _reshape_infer, view=True, saves=())
# reshape x to like's shape, or to a template (shape=) of its inputs' dims, read at run time:
# the reshape of graph mode when target sizes are unknown while the graph is built
reshape_like_op = defop("reshape_like", _reshape_like_kernel, _reshape_like_infer, view=True,
                        saves=())


# ---------------------------------------------------------------- transpose / permute
def _transpose_infer(x, dim0, dim1):
    nd = len(x.shape)
    a, b = norm_dim(dim0, nd), norm_dim(dim1, nd)
    s = list(x.shape)
    if nd:
        s[a], s[b] = s[b], s[a]
    return Spec(s, x.dtype)


def _transpose_kernel(x, dim0, dim1):
    return x.swapaxes(dim0, dim1) if x.ndim else x.view()  # (the method: np.swapaxes wraps it)


transpose_op = defop("transpose", _transpose_kernel, _transpose_infer, view=True, saves=())


def _permute_infer(x, dims):
    nd = len(x.shape)
    if len(dims) != nd:
        raise DGRuntimeError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {nd} is not equal "
            f"to len(dims) = {len(dims)}")
    d = [norm_dim(i, nd) for i in dims]
    if len(set(d)) != nd:
        raise DGRuntimeError("permute(): duplicate dims are not allowed.")
    return Spec([x.shape[i] for i in d], x.dtype)


permute_op = defop("permute", lambda x, dims: np.transpose(x, dims), _permute_infer,
                   view=True, saves=(), check_eager=True)


# ---------------------------------------------------------------- expand / squeeze / unsqueeze
def _expand_shape(xshape, sizes, what=None):
    sizes = tuple(sizes)
    if what is not None and len(sizes) < len(xshape):  # a value put into a smaller result
        lead = len(xshape) - len(sizes)
        if all(d in (1, None) for d in xshape[:lead]):
            xshape = xshape[lead:]
        else:
            raise DGRuntimeError(
                f"shape mismatch: value tensor of shape {_fmt(xshape)} cannot be broadcast to "
                f"indexing result of shape {_fmt(sizes)}")
    if len(sizes) < len(xshape):
        raise DGRuntimeError(
            f"expand(torch.FloatTensor{{{_fmt(xshape)}}}, size={_fmt(sizes)}): the number of sizes "
            "provided (%d) must be greater or equal to the number of dimensions in the tensor (%d)"
            % (len(sizes), len(xshape)))
    lead = len(sizes) - len(xshape)
    out = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s == -1:
                raise DGRuntimeError(
                    f"The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension {i}")
            out.append(s)
            continue
        d = xshape[i - lead]
        if s == -1:
            out.append(d)
        elif s is None:  # known at run time: it must be d unless d is 1 (checked then)
            out.append(None if d == 1 else d)
        elif d == 1 or d is None or d == s:
            out.append(s)
        else:
            raise DGRuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({d}) at "
                f"non-singleton dimension {i}.  Target sizes: {_fmt(sizes)}.  Tensor sizes: {_fmt(xshape)}")
    return tuple(out)


def _expand_kernel(x, *refs, size):
    if refs:  # a template (expand_to): sizes read from the inputs' shapes
        size = _dims_from(size, [x.shape] + [r.shape for r in refs])
    return np.broadcast_to(x, _expand_shape(x.shape, size))


def _expand_infer(x, *refs, size):
    if refs:
        size = _dims_from(size, [x.shape] + [r.shape for r in refs])
    else:
        _static_target("expand", size)
    return Spec(_expand_shape(x.shape, size), x.dtype)


# x.expand(size); with extra inputs (refs), size is a template of their dims (expand_to)
expand_op = defop("expand", _expand_kernel, _expand_infer, view=True, saves=())


def _squeeze_dims(shape, dim):
    nd = len(shape)
    if dim is None:
        return tuple(i for i, d in enumerate(shape) if d == 1)
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    return tuple(i for i in (norm_dim(d, nd) for d in dims) if nd and shape[i] == 1)


def _squeeze_kernel(x, dim=None):
    return np.squeeze(x, axis=_squeeze_dims(x.shape, dim)) if x.ndim else x.view()


def _squeeze_infer(x, dim=None):
    drop = _squeeze_dims(x.shape, dim)
    return Spec([d for i, d in enumerate(x.shape) if i not in drop], x.dtype)


squeeze_op = defop("squeeze", _squeeze_kernel, _squeeze_infer, view=True, saves=())


def _unsqueeze_infer(x, dim):
    d = norm_dim(dim, len(x.shape) + 1)
    s = list(x.shape)
    s.insert(d, 1)
    return Spec(s, x.dtype)


unsqueeze_op = defop("unsqueeze", lambda x, dim: np.expand_dims(x, dim), _unsqueeze_infer,
                     view=True, saves=(), check_eager=True)


# ---------------------------------------------------------------- contiguous / clone
def _contiguous_kernel(x):
    """np.ascontiguousarray returns at least 1-d; a 0-d array is contiguous as it is."""
    return np.ascontiguousarray(x) if x.ndim else np.asarray(x)


contiguous_op = defop("contiguous", _contiguous_kernel, lambda x: Spec(x.shape, x.dtype),
                      saves=(), may_alias=True)
clone_op = defop("clone", np.array, lambda x: Spec(x.shape, x.dtype), saves=())


def _copy_infer(dst, src):
    if isinstance(src, Spec):
        ds, ss = tuple(dst.shape), tuple(src.shape)
        if len(ss) > len(ds) or any(s not in (1, d) and None not in (s, d)
                                    for s, d in zip(ss[::-1], ds[::-1])):
            bad = next((i for i, (s, d) in enumerate(zip(ss[::-1], ds[::-1])) if s not in (1, d)), 0)
            a = ds[-1 - bad] if ds else 1
            b = ss[-1 - bad] if ss else 1
            raise DGRuntimeError(
                f"The size of tensor a ({a}) must match the size of tensor b ({b}) at "
                f"non-singleton dimension {max(len(ds) - 1 - bad, 0)}")
    return Spec(dst.shape, dst.dtype)


def _copy_kernel(dst, src):
    return np.array(np.broadcast_to(src, dst.shape), dtype=dst.dtype)


# dst.copy_(src) as a value: src broadcast and cast to dst's shape and dtype; the gradient goes
# to src only (the overwritten value gets none), as PyTorch's CopyBackwards
copy_op = defop("copy", _copy_kernel, _copy_infer, saves=(), torch_name="Copy",
                doc="the value dst.copy_(src) writes: src broadcast/cast to dst")


# ---------------------------------------------------------------- indexing
# (an index template holds a `Slot` (ops/common.py) where the i-th tensor input goes)
def _slot_slice(k):
    """A slice with a bound given by a tensor (x[i:i + 2] with i a graph value, a loop index)."""
    return isinstance(k, slice) and any(isinstance(v, Slot) for v in (k.start, k.stop, k.step))


def _bound(v, idx):
    return int(idx[v.i]) if isinstance(v, Slot) else v


def _key(index, idx):
    return tuple(idx[k.i] if isinstance(k, Slot) else
                 slice(_bound(k.start, idx), _bound(k.stop, idx), _bound(k.step, idx))
                 if _slot_slice(k) else k for k in index)


def _is_basic(index):
    """No advanced (tensor) index: the result is a view (slices with tensor bounds included)."""
    return not any(isinstance(k, Slot) for k in index)


def _static(index):
    return _is_basic(index) and not any(_slot_slice(k) for k in index)


def _getitem_kernel(x, *idx, index, check=None):
    if _static(index):
        try:
            return x[index + (Ellipsis,)] if Ellipsis not in index else x[index]
        except IndexError as e:
            raise DGIndexError(str(e)) from None
    key = _key(index, idx)
    for k in idx:
        if k.dtype.kind not in "biu":
            raise DGIndexError("tensors used as indices must be long, int, byte or bool tensors")
    try:
        return x[key]
    except IndexError as e:
        raise DGIndexError(str(e).replace(" for axis ", " for dimension ")) from None


def _getitem_infer(x, *idx, index, check=None):
    if check is not None:  # narrow/split along a dim of unknown size (_sized_slice)
        return _sized_slice_infer(x, index, check)
    shape = list(x.shape)
    out, pos = [], 0
    adv_shapes, adv_at = [], None
    n_consumed = sum(1 if not isinstance(k, Slot) or idx[k.i].dtype.kind != "b" else len(idx[k.i].shape)
                     for k in index if k is not None and k is not Ellipsis)
    if n_consumed > len(shape):
        raise DGIndexError(f"too many indices for tensor of dimension {len(shape)}")
    for k in index:
        if k is Ellipsis:
            skip = len(shape) - n_consumed
            out.extend(shape[pos:pos + skip])
            pos += skip
        elif k is None:
            out.append(1)
        elif isinstance(k, slice):
            d = shape[pos]
            out.append(None if d is None or _slot_slice(k) else len(range(*k.indices(d))))
            pos += 1
        elif isinstance(k, Slot):
            s = idx[k.i]
            if s.dtype.kind == "b":
                for j, (m, d) in enumerate(zip(s.shape, shape[pos:])):
                    if m is not None and d is not None and m != d:
                        raise DGIndexError(
                            f"The shape of the mask {_fmt(s.shape)} at index {j} does not match "
                            f"the shape of the indexed tensor {_fmt(shape)} at index {pos + j}")
                adv_shapes.append((None,))
                pos += len(s.shape)
            else:
                if s.dtype.kind not in "iu":
                    raise DGIndexError("tensors used as indices must be long, int, byte or bool tensors")
                adv_shapes.append(s.shape)
                pos += 1
            if adv_at is None:
                adv_at = len(out)
            out.append("ADV")
        else:
            d = shape[pos]
            if d is not None and not -d <= k < d:
                raise DGIndexError(f"index {k} is out of bounds for dimension {pos} with size {d}")
            pos += 1
    out.extend(shape[pos:])
    if adv_shapes:
        adv = list(broadcast_shapes(*adv_shapes))
        marks = [i for i, v in enumerate(out) if v == "ADV"]
        contiguous = marks == list(range(marks[0], marks[0] + len(marks)))
        rest = [v for v in out if v != "ADV"]
        at = marks[0] if contiguous else 0
        out = rest[:at] + adv + rest[at:]
    return Spec(out, x.dtype)


def _getitem_grad_kernel(g, x, *idx, index):
    z = np.zeros(x.shape, dtype=g.dtype)
    if _is_basic(index):
        z[_key(index, idx)] = g
    else:
        np.add.at(z, _key(index, idx), g)
    return z


def _index_tensors_from(first):
    """A `saves` rule: the backward reads the index tensors (inputs first, first+1, ...), as
    PyTorch's IndexBackward0 / IndexPutBackward0 save the indices (modifying one in place
    before backward is refused); basic indexing has none and pins nothing."""
    def saves(inputs, needs):
        return tuple(range(first, len(inputs)))
    return saves


getitem_op = defop("getitem", _getitem_kernel, _getitem_infer, view=True,
                   saves=_index_tensors_from(1), torch_name="Select")
getitem_grad_op = defop(
    "getitem_grad", _getitem_grad_kernel, lambda g, x, *idx, index: Spec(x.shape, g.dtype),
    saves=_index_tensors_from(2), doc="scatter a gradient back into the indexed positions (backward of getitem)")


def _index_put_kernel(x, v, *idx, index):
    r = x.copy()
    key = _key(index, idx)
    try:
        r[key] = v
    except (ValueError, IndexError) as e:
        raise ValueError(f"index_put: {e}") from None   # the shape rule explains
    return r


def _index_put_infer(x, v, *idx, index):
    if isinstance(v, Spec):
        target = _getitem_infer(x, *idx, index=index).shape
        _expand_shape(v.shape, target, what="tensor")
    return Spec(x.shape, x.dtype)


index_put_op = defop("index_put", _index_put_kernel, _index_put_infer,
                     saves=_index_tensors_from(2), torch_name="IndexPut")


def split_index(key, is_tensor):
    """A user's index -> (template with Slots, list of tensor/array indices)."""
    if not isinstance(key, tuple):
        key = (key,)
    index, tensors = [], []
    for k in key:
        if isinstance(k, (list, np.ndarray)) or is_tensor(k):
            index.append(Slot(len(tensors)))
            tensors.append(k)
        elif isinstance(k, (bool, np.bool_)):
            raise DGIndexError("indexing with a Python bool is not supported")
        elif isinstance(k, (int, np.integer)):
            index.append(int(k))
        elif isinstance(k, slice):
            bounds = []
            for v in (k.start, k.stop, k.step):
                if v is not None and is_tensor(v):
                    try:
                        v = int(v)  # an eager tensor: its value
                    except DualGraphError:  # a graph value: an input of the node
                        bounds.append(Slot(len(tensors)))
                        tensors.append(v)
                        continue
                bounds.append(None if v is None else int(v))
            index.append(slice(*bounds))
            if isinstance(bounds[2], int) and bounds[2] <= 0:
                raise DGValueError("step must be greater than zero")
        elif k is None or k is Ellipsis:
            index.append(k)
        else:
            raise DGIndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
                f"are valid indices (got {type(k).__name__})")
    return tuple(index), tensors


from ..errors import DGValueError  # noqa: E402


# ---------------------------------------------------------------- repeat / cat / stack
def _repeat_infer(x, sizes):
    if len(sizes) < len(x.shape):
        raise DGRuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    lead = len(sizes) - len(x.shape)
    xs = (1,) * lead + tuple(x.shape)
    out = [None if d is None else d * s for d, s in zip(xs, sizes)]
    if any(s < 0 for s in sizes):
        bad = next(("?" if d is None else d * s) for d, s in zip(xs, sizes) if s < 0)
        raise DGRuntimeError(
            f"Trying to create tensor with negative dimension {bad}: {_fmt(out)}")
    return Spec(out, x.dtype)


def _repeat_kernel(x, sizes):
    if len(sizes) < x.ndim:
        raise ValueError("repeat dims")
    return np.tile(x, sizes)


repeat_op = defop("repeat", _repeat_kernel, _repeat_infer, saves=())


def _cat_infer(*xs, dim):
    for i, x in enumerate(xs):
        if not len(x.shape):
            raise DGRuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    dtype = result_type(*((x.dtype, len(x.shape)) for x in xs))  # (legacy empties count)
    rest = [x for x in xs if not (len(x.shape) == 1 and x.shape[0] == 0)]
    if any(len(x.shape) != 1 for x in rest):
        # an n-d cat: a 1-d input of unknown size can only be a legacy empty one (checked when
        # the plan runs on the fed shapes, as this rule runs again then)
        rest = [x for x in rest if not (len(x.shape) == 1 and x.shape[0] is None)]
    xs = rest or list(xs[:1])
    ref = xs[0]
    d = norm_dim(dim, len(ref.shape))
    total, known = 0, list(ref.shape)
    for i, x in enumerate(xs):
        if len(x.shape) != len(ref.shape):
            raise DGRuntimeError(
                f"Tensors must have same number of dimensions: got {len(ref.shape)} and {len(x.shape)}")
        for j, (a, b) in enumerate(zip(known, x.shape)):  # known: the sizes known so far
            if j != d and a is not None and b is not None and a != b:
                raise DGRuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size {a} but "
                    f"got size {b} for tensor number {i} in the list.")
        total = None if total is None or x.shape[d] is None else total + x.shape[d]
        known = [b if a is None else a for a, b in zip(known, x.shape)]
    s = known  # a size unknown in one input may be known in another
    s[d] = total
    return Spec(s, dtype)


def _cat_kernel(*xs, dim):
    want = result_type(*((x.dtype, x.ndim) for x in xs))
    xs = [x for x in xs if not (x.ndim == 1 and x.shape[0] == 0)] or xs[:1]
    return np.concatenate(xs, axis=dim, dtype=want)


cat_op = defop("cat", _cat_kernel, _cat_infer, saves=(), check_eager=True)


def _stack_infer(*xs, dim):
    ref = xs[0]
    known = list(ref.shape)  # an unknown size may agree with any (checked when fed)
    for i, x in enumerate(xs):
        if len(x.shape) != len(known) or any(
                a is not None and b is not None and a != b for a, b in zip(known, x.shape)):
            j = next(j for j, y in enumerate(xs) if len(y.shape) != len(x.shape) or any(
                a is not None and b is not None and a != b for a, b in zip(y.shape, x.shape)))
            raise DGRuntimeError(
                f"stack expects each tensor to be equal size, but got {_fmt(xs[j].shape)} at "
                f"entry {j} and {_fmt(x.shape)} at entry {i}")
        known = [b if a is None else a for a, b in zip(known, x.shape)]
    d = norm_dim(dim, len(ref.shape) + 1)
    s = known
    s.insert(d, len(xs))
    return Spec(s, result_type(*((x.dtype, len(x.shape)) for x in xs)))


def _stack_kernel(*xs, dim):
    want = result_type(*((x.dtype, x.ndim) for x in xs))
    return np.stack(xs, axis=dim, dtype=want)


stack_op = defop("stack", _stack_kernel, _stack_infer, saves=(), check_eager=True)


# ---------------------------------------------------------------- gather
def _gather_infer(x, index, dim):
    d = norm_dim(dim, len(x.shape))
    if index.dtype.kind != "i" or index.dtype.itemsize not in (4, 8):
        raise DGRuntimeError("gather(): Expected dtype int32/int64 for index")
    if len(index.shape) != len(x.shape):
        raise DGRuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for i, (a, b) in enumerate(zip(index.shape, x.shape)):
        if i != d and a is not None and b is not None and a > b:
            raise DGRuntimeError(
                f"Size does not match at dimension {i} expected index {_fmt(index.shape)} to be "
                f"no larger than self {_fmt(x.shape)} apart from dimension {d}")
    return Spec(index.shape, x.dtype)


def _check_gather_index(index, size, d):
    if index.size:
        lo, hi = index.min(), index.max()
        if lo < 0 or hi >= size:
            bad = lo if lo < 0 else hi
            raise DGRuntimeError(f"index {bad} is out of bounds for dimension {d} with size {size}")


def _gather_kernel(x, index, dim):
    if index.dtype.kind != "i" or index.ndim != x.ndim:
        raise TypeError("gather index")
    if x.ndim == 0:
        _check_gather_index(index, 1, 0)
        return x.copy()
    d = dim % x.ndim
    _check_gather_index(index, x.shape[d], d)
    sub = tuple(slice(None) if i == d else slice(0, s) for i, s in enumerate(index.shape))
    return np.take_along_axis(x[sub], index, axis=d)


def _scatter_add_zeros(g, index, like, dim):
    if like.ndim == 0:
        return np.array(g, dtype=g.dtype)
    d = dim % like.ndim
    z = np.zeros(like.shape, dtype=g.dtype)
    grids = np.indices(index.shape, sparse=True)
    key = tuple(index if i == d else grids[i] for i in range(like.ndim))
    np.add.at(z, key, g)
    return z


gather_op = defop("gather", _gather_kernel, _gather_infer, saves=(1,), check_eager=True)
scatter_add_zeros_op = defop(
    "scatter_add_zeros", _scatter_add_zeros, lambda g, index, like, dim: Spec(like.shape, g.dtype),
    saves=(1,), doc="backward of gather: add g into zeros at the gathered positions")


# ---------------------------------------------------------------- tril / triu / flip / roll
def _tri_infer(name):
    def infer(x, diagonal=0):
        if len(x.shape) < 2:
            raise DGRuntimeError(f"{name}: input tensor must have at least 2 dimensions")
        return Spec(x.shape, x.dtype)
    return infer


def _tri_kernel(fn):
    def kernel(x, diagonal=0):
        if x.ndim < 2:
            raise TypeError("tri of < 2-d")
        return fn(x, k=diagonal).astype(x.dtype, copy=False)
    return kernel


tril_op = defop("tril", _tri_kernel(np.tril), _tri_infer("tril"), saves=())
triu_op = defop("triu", _tri_kernel(np.triu), _tri_infer("triu"), saves=())


def _flip_infer(x, dims):
    nd = len(x.shape)
    seen = [norm_dim(d, nd) for d in dims]
    if len(set(seen)) != len(seen):
        raise DGRuntimeError(f"dims has duplicates, original flip dims size={len(dims)}, but unique flip dims size={len(set(seen))}")
    return Spec(x.shape, x.dtype)


def _flip_kernel(x, dims):
    if x.ndim == 0:
        return x.copy()
    return np.flip(x, axis=tuple(d % x.ndim for d in dims)).copy()


flip_op = defop("flip", _flip_kernel, _flip_infer, saves=())


def _roll_infer(x, shifts, dims=None):
    if dims is None:
        if len(shifts) != 1:
            raise DGRuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0")
    else:
        if len(shifts) != len(dims):
            raise DGRuntimeError(
                f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
        for d in dims:
            norm_dim(d, len(x.shape))
    return Spec(x.shape, x.dtype)


def _roll_kernel(x, shifts, dims=None):
    if x.ndim == 0:
        return x.copy()
    if dims is None:
        return np.roll(x.reshape(-1), shifts[0]).reshape(x.shape)
    return np.roll(x, shifts, axis=tuple(d % x.ndim for d in dims))


roll_op = defop("roll", _roll_kernel, _roll_infer, saves=(), check_eager=True)


# ---------------------------------------------------------------- public functions
def reshape(input, *shape):
    return apply(reshape_op, input, shape=_shape_args(shape))


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    if len(shape) == 1 and hasattr(shape[0], "__iter__"):
        shape = tuple(shape[0])
    out = []
    for d in shape:
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
            raise DGTypeError(f"shape must be a sequence of ints, got {type(d).__name__}")
        out.append(int(d))
    return tuple(out)


def transpose(input, dim0, dim1):
    return apply(transpose_op, input, dim0=dim0, dim1=dim1)


def permute(input, *dims):
    return apply(permute_op, input, dims=_shape_args(dims))


def _check_squeeze(x, dim):
    """Refuse, while a graph is built, to squeeze a dim of unknown size: PyTorch drops a dim
    only when its size is 1, so the result's rank would depend on the value fed. (The shape
    rule itself keeps such a dim: every squeeze of graph mode comes through here.)"""
    shape = tuple(x.shape)
    nd = len(shape)
    dims = range(nd) if dim is None else [
        norm_dim(d, nd) for d in (dim if isinstance(dim, tuple) else (dim,))]
    unknown = sorted({d for d in dims if nd and shape[d] is None})
    if unknown:
        call = "squeeze()" if dim is None else f"squeeze({dim})"
        raise DGRuntimeError(
            f"{call}: the size of dimension{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(str, unknown))} of the input (shape {_fmt(shape)}) is unknown while "
            "the graph is built, and squeeze drops a dimension only when its size is 1, so the "
            "result's rank would depend on the fed value. Say what you mean instead: "
            "x.reshape(...) or indexing (x[0]) when the size is always 1, no squeeze when it is "
            "not, or give that dimension a static size (a placeholder with it known).")


def squeeze(input, dim=None):
    dim = tuple(dim) if isinstance(dim, list) else dim
    if None in tuple(input.shape):
        try:
            _check_squeeze(input, dim)
        except DualGraphError as e:
            _named(e, "squeeze", input)
    return apply(squeeze_op, input, dim=dim)


def unsqueeze(input, dim):
    return apply(unsqueeze_op, input, dim=dim)


def flatten(input, start_dim=0, end_dim=-1):
    nd = input.ndim
    if nd == 0:
        return apply(reshape_op, input, shape=(1,))
    s, e = norm_dim(start_dim, nd), norm_dim(end_dim, nd)
    if s > e:
        raise DGRuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:  # (PyTorch returns input itself)
        return input
    shape = tuple(input.shape)
    mid = numel(shape[s:e + 1])
    new = shape[:s] + (-1 if mid is None else mid,) + shape[e + 1:]
    if new.count(None) + new.count(-1) <= 1 and numel(tuple(d for d in new if d not in (None, -1))):
        return apply(reshape_op, input, shape=tuple(-1 if d is None else d for d in new))
    # several sizes unknown now (or a -1 a known 0 would make ambiguous): read them at run time
    dims = dims_of(input)
    return reshape_to(input, dims[:s] + [[f for fs in dims[s:e + 1] for f in fs]] + dims[e + 1:])


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise DGValueError("torch.cat(): expected a non-empty list of Tensors")
    return apply(cat_op, *tensors, dim=dim)


concat = concatenate = cat


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise DGRuntimeError("stack expects a non-empty TensorList")
    return apply(stack_op, *tensors, dim=dim)


def gather(input, dim, index):
    return apply(gather_op, input, index, dim=dim)


def _named(e, opname, x):
    """Re-raise e; while a graph is built, naming the node being built (as the builder does)."""
    if hasattr(x, "node"):  # a graph-mode (symbolic) tensor
        raise type(e)(f"{e}\n  while building node '{opname}' ({opname}) with input shapes "
                      f"{_fmt(x.shape)}") from None
    raise e


def _int_like(x):
    """An int, numpy integer or one-element integer tensor as an int; None otherwise."""
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, np.integer)):
        return int(x)
    if hasattr(x, "_np_dtype") and x._np_dtype().kind in "iu" and x.ndim == 0:
        return int(x.item())
    return None


def _known_size(input, d, what):
    size = input.shape[d]
    if size is None:
        raise DGRuntimeError(
            f"{what}: the size of dimension {d} is unknown while the graph is built "
            f"(shape {_fmt(input.shape)}), and the number of pieces depends on it; give that "
            "dimension a static size (or split with explicit sizes)")
    return size


def narrow(input, dim, start, length):
    try:
        return _narrow(input, dim, start, length)
    except DualGraphError as e:
        _named(e, "narrow", input)


def _narrow(input, dim, start, length):
    """PyTorch's narrow: start in [-size, size] (negative counts from the end), length >= 0,
    start + length <= size; its errors, in its order."""
    st, ln = _int_like(start), _int_like(length)
    if st is None or ln is None:
        if hasattr(start, "_np_dtype") and st is None and ln is not None:
            raise DGRuntimeError("start must be an 0-dim integral Tensor.")
        names = ", ".join(type(v).__name__ for v in (dim, start, length))
        raise DGTypeError(
            f"narrow() received an invalid combination of arguments - got ({names}), but "
            "expected one of: (int dim, Tensor start, int length), (int dim, int start, int length)")
    if input.ndim == 0:
        raise DGRuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    if ln < 0:
        raise DGRuntimeError("narrow(): length must be non-negative.")
    d = norm_dim(dim, input.ndim)
    size = input.shape[d]
    if size is not None:
        if not -size <= st <= size:
            raise DGIndexError(
                f"start out of range (expected to be in range of [{-size}, {size}], but got {st})")
        if st < 0:
            st += size
        if st > size - ln:
            raise DGRuntimeError(f"start ({st}) + length ({ln}) exceeds dimension size ({size}).")
        stop = st + ln
    else:  # unknown size: a negative start counts from the end, whatever the size turns out
        stop = st + ln
        if st < 0 < stop:
            raise DGRuntimeError(
                f"start ({st}) + length ({ln}) exceeds dimension size (whatever the size of "
                f"dimension {d}, unknown while the graph is built: {_fmt(input.shape)}).")
        if st < 0 and stop == 0:
            stop = None
    return _sized_slice(input, d, slice(st, stop), ln, ("narrow", start, length))


def _sized_slice(x, d, sl, length, check):
    """x[..., sl] along dim d, which PyTorch promises has `length` elements (narrow, split with
    sizes) or raises: when the size of d is unknown while the graph is built, the getitem
    carries `check`, so its shape rule says `length` and checks it on the fed shapes."""
    index = (slice(None),) * d + (sl,)
    if x.shape[d] is not None:
        return apply(getitem_op, x, index=index)
    return apply(getitem_op, x, index=index, check=(d, length) + check)


def _sized_slice_infer(x, index, check):
    d, length, what, *args = check
    size = x.shape[d]
    if size is not None:  # the fed size: PyTorch's checks, in its words
        if what == "narrow":
            st, ln = args
            if not -size <= st <= size:
                raise DGIndexError(
                    f"start out of range (expected to be in range of [{-size}, {size}], but got {st})")
            st = st + size if st < 0 else st
            if st > size - ln:
                raise DGRuntimeError(f"start ({st}) + length ({ln}) exceeds dimension size ({size}).")
        else:
            sizes, dim = args
            if sum(sizes) != size:
                raise DGRuntimeError(
                    f"split_with_sizes expects split_sizes to sum exactly to {size} (input "
                    f"tensor's size at dimension {dim}), but got split_sizes={list(sizes)}")
    out = list(x.shape)
    out[d] = length
    return Spec(out, x.dtype)


def split(tensor, split_size_or_sections, dim=0):
    try:
        return _split(tensor, split_size_or_sections, dim)
    except DualGraphError as e:
        _named(e, "split", tensor)


def _split(tensor, split_size_or_sections, dim=0):
    """PyTorch's split (an int size: equal pieces, the last smaller) and split_with_sizes (a
    sequence of sizes summing to the dimension), with PyTorch's checks and errors."""
    s = split_size_or_sections
    step = _int_like(s)
    if step is None and isinstance(s, bool):
        raise DGTypeError(
            f"split() received an invalid combination of arguments - got (Tensor, bool, "
            f"{type(dim).__name__}), but expected one of: (Tensor input, int split_size, int dim = 0)")
    if step is None:  # the argument checks come first, as PyTorch's parser
        if not isinstance(s, (list, tuple)):
            raise DGTypeError(
                "split_with_sizes(): argument 'split_sizes' (position 2) must be tuple of ints, "
                f"not {type(s).__name__}")
        sizes = []
        for i, v in enumerate(s):
            iv = int(v) if isinstance(v, (bool, np.bool_)) else _int_like(v)
            if iv is None:
                raise DGTypeError(
                    "split_with_sizes(): argument 'split_sizes' (position 2) must be tuple of "
                    f"ints, but found element of type {type(v).__name__} at pos {i}")
            sizes.append(iv)
    if tensor.ndim == 0:
        raise DGRuntimeError("split expects at least a 1-dimensional tensor")
    if step is not None:
        if step < 0:
            raise DGRuntimeError(f"split expects split_size be non-negative, but got split_size={step}")
        d = norm_dim(dim, tensor.ndim)
        size = _known_size(tensor, d, "split")
        if step == 0 and size != 0:
            raise DGRuntimeError(
                f"split_size can only be 0 if dimension size is 0, but got dimension size of {size}")
        sizes = [min(step, size - st) for st in range(0, size, step)] if step else []
        sizes = sizes or [0]
    else:
        d = norm_dim(dim, tensor.ndim)
        size = tensor.shape[d]
        if any(v < 0 for v in sizes):
            raise DGRuntimeError(
                "split_with_sizes expects split_sizes have only non-negative entries, but got "
                f"split_sizes={sizes}")
        if size is not None and sum(sizes) != size:
            raise DGRuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's "
                f"size at dimension {dim}), but got split_sizes={sizes}")
    out, start = [], 0
    for n in sizes:
        out.append(_sized_slice(tensor, d, slice(start, start + n), n, ("split", tuple(sizes), dim)))
        start += n
    return tuple(out)



def chunk(input, chunks, dim=0):
    try:
        return _chunk(input, chunks, dim)
    except DualGraphError as e:
        _named(e, "chunk", input)


def _chunk(input, chunks, dim=0):
    n = _int_like(chunks)
    if n is None:
        raise DGTypeError(
            f"chunk(): argument 'chunks' (position 1) must be int, not {type(chunks).__name__}")
    if input.ndim == 0:
        raise DGRuntimeError("chunk expects at least a 1-dimensional tensor")
    if n <= 0:
        raise DGRuntimeError("chunk expects `chunks` to be greater than 0, got: %d" % n)
    d = norm_dim(dim, input.ndim)
    size = _known_size(input, d, "chunk")
    step = -(-size // n)
    if size == 0:  # as PyTorch: `chunks` empty pieces (split would give one)
        return split(input, [0] * n, d)
    return split(input, step, d)


def unbind(input, dim=0):
    try:
        return _unbind(input, dim)
    except DualGraphError as e:
        _named(e, "unbind", input)


def _unbind(input, dim=0):
    d = norm_dim(dim, input.ndim)
    if input.ndim == 0:
        raise DGIndexError(f"Dimension specified as {d} but tensor has no dimensions")
    size = _known_size(input, d, "unbind")
    return tuple(apply(getitem_op, input, index=(slice(None),) * d + (i,))
                 for i in range(size))


def t(input):
    if input.ndim > 2:
        raise DGRuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    if input.ndim < 2:  # (a view of its own, as PyTorch's: not input itself)
        return apply(permute_op, input, dims=tuple(range(input.ndim)))
    return apply(transpose_op, input, dim0=0, dim1=1)


def cartesian_prod(*tensors):
    """Rows in itertools.product order, built from differentiable view ops."""
    for x in tensors:
        if x.ndim != 1:
            raise DGRuntimeError(f"Expect a 1D vector, but got shape {list(x.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    grid = [[(x, 0)] for x in tensors]  # the sizes, read at run time where unknown now
    cols = []
    for i, x in enumerate(tensors):
        shape = [1] * len(tensors)
        shape[i] = -1 if x.shape[0] is None else x.shape[0]
        g = apply(reshape_op, x, shape=tuple(shape))
        g = expand_to(g, grid)
        cols.append(apply(reshape_op, g, shape=(-1,)))
    return stack(cols, dim=1)


def reshape_as(input, other):
    """input.reshape(other.shape); other's sizes read at run time where unknown now."""
    return reshape_to(input, dims_of(other))


def view_as(input, other):
    return reshape_to(input, dims_of(other), view=True)


def expand_as(input, other):
    return expand_to(input, dims_of(other))



def tril(input, diagonal=0):
    return apply(tril_op, input, diagonal=int(diagonal))


def triu(input, diagonal=0):
    return apply(triu_op, input, diagonal=int(diagonal))


def flip(input, dims):
    if isinstance(dims, (int, np.integer)):
        dims = (int(dims),)
    return apply(flip_op, input, dims=tuple(int(d) for d in dims))


def roll(input, shifts, dims=None):
    if isinstance(shifts, (int, np.integer)):
        shifts = (int(shifts),)
    if isinstance(dims, (int, np.integer)):
        dims = (int(dims),)
    return apply(roll_op, input, shifts=tuple(int(v) for v in shifts),
                 dims=None if dims is None else tuple(int(d) for d in dims))


# ---------------------------------------------------------------- diagonal / diag_embed / diag
def _diag_dims(ndim, offset, dim1, dim2):
    d1, d2 = norm_dim(dim1, ndim), norm_dim(dim2, ndim)
    if d1 == d2:
        raise DGRuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return d1, d2


def _diag_len(n1, n2, offset):
    if n1 is None or n2 is None:
        return None
    return max(0, min(n1 + min(offset, 0), n2 - max(offset, 0)))


def _diag_view(a, offset, d1, d2):
    """The writable strided view of a's diagonal (PyTorch's layout: the other dims in order,
    then the diagonal), numpy's np.diagonal being read-only."""
    n = _diag_len(a.shape[d1], a.shape[d2], offset)
    if n:
        start = [0] * a.ndim
        start[d2 if offset >= 0 else d1] = abs(offset)
        a = a[tuple(slice(s, None) for s in start)]
    keep = [i for i in range(a.ndim) if i not in (d1, d2)]
    shape = tuple(a.shape[i] for i in keep) + (n,)
    strides = tuple(a.strides[i] for i in keep) + (a.strides[d1] + a.strides[d2],)
    return np.lib.stride_tricks.as_strided(a, shape, strides)


def _diagonal_infer(x, offset=0, dim1=0, dim2=1):
    d1, d2 = _diag_dims(len(x.shape), offset, dim1, dim2)
    keep = [d for i, d in enumerate(x.shape) if i not in (d1, d2)]
    return Spec(keep + [_diag_len(x.shape[d1], x.shape[d2], offset)], x.dtype)


def _diagonal_kernel(x, offset=0, dim1=0, dim2=1):
    if x.ndim < 2:
        raise ValueError("diagonal")
    return _diag_view(x, offset, dim1 % x.ndim, dim2 % x.ndim)


diagonal_op = defop("diagonal", _diagonal_kernel, _diagonal_infer, view=True, saves=(),
                    check_eager=True)


def _diag_embed_infer(x, offset=0, dim1=-2, dim2=-1):
    nd = len(x.shape) + 1
    d1, d2 = _diag_dims(nd, offset, dim1, dim2)
    n = x.shape[-1] if x.shape else 1
    size = None if n is None else n + abs(offset)
    rest = iter(x.shape[:-1])
    return Spec([size if i in (d1, d2) else next(rest) for i in range(nd)], x.dtype)


def _diag_embed_kernel(x, offset=0, dim1=-2, dim2=-1):
    spec = _diag_embed_infer(Spec(x.shape, x.dtype), offset, dim1, dim2)
    z = np.zeros(spec.shape, x.dtype)
    _diag_view(z, offset, dim1 % z.ndim, dim2 % z.ndim)[...] = x
    return z


diag_embed_op = defop("diag_embed", _diag_embed_kernel, _diag_embed_infer, saves=(),
                      check_eager=True)


def _diagonal_grad_kernel(g, like, offset=0, dim1=0, dim2=1):
    z = np.zeros(like.shape, g.dtype)
    _diag_view(z, offset, dim1 % z.ndim, dim2 % z.ndim)[...] = g
    return z


diagonal_grad_op = defop(
    "diagonal_grad", _diagonal_grad_kernel,
    lambda g, like, offset=0, dim1=0, dim2=1: Spec(like.shape, g.dtype), saves=(),
    doc="zeros of like's shape with g on the diagonal (backward of diagonal)")


def diagonal(input, offset=0, dim1=0, dim2=1):
    return apply(diagonal_op, input, offset=int(offset), dim1=int(dim1), dim2=int(dim2))


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    return apply(diag_embed_op, input, offset=int(offset), dim1=int(dim1), dim2=int(dim2))


def diag(input, diagonal=0):
    """torch.diag: a 1-D input as the (diagonal-th) diagonal of a square matrix, a 2-D input's
    diagonal-th diagonal as a 1-D tensor."""
    if input.ndim == 1:
        return apply(diag_embed_op, input, offset=int(diagonal), dim1=0, dim2=1)
    if input.ndim == 2:
        return apply(diagonal_op, input, offset=int(diagonal), dim1=0, dim2=1)
    raise DGRuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


# ---------------------------------------------------------------- repeat_interleave
def _constant_values(t, what):
    """The values of a tensor argument whose values decide the result's shape: an eager
    tensor's, a graph constant's; a graph value known only at run time is refused."""
    node = getattr(t, "node", None)  # a graph value (only those have a node)
    if node is None:
        return np.asarray(t._data)
    if node.op.name == "constant":
        return np.asarray(node.attrs["value"])
    raise DGRuntimeError(
        f"{what}: the repeats tensor's values decide the result's shape, and in a graph (graph "
        "mode or dg.function) they are known only when it runs, so it cannot be compiled. Pass "
        "repeats as a Python int or a constant (dg.constant / a list turned into one while the "
        "graph is built), or call repeat_interleave eagerly (outside the graph) and feed its "
        "result.")


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """torch.repeat_interleave: each element (each slice along dim; of the flattened input when
    dim is None) repeated `repeats` times: an int, or a 1-D integer tensor of one count per
    slice (its values must be known: eagerly, or a graph constant). repeat_interleave(r): the
    indices 0.. each repeated r[i] times."""
    if repeats is None:  # repeat_interleave(repeats_tensor)
        r = _repeat_counts(input, "repeat_interleave")
        if r.ndim != 1:
            raise DGRuntimeError("repeats must be 0-dim or 1-dim tensor")
        return input._index_tensor(np.repeat(np.arange(r.shape[0]), r))
    if _is_int(repeats):
        return _repeat_interleave_int(input, int(repeats), dim)
    if not hasattr(repeats, "shape") or not hasattr(repeats, "dtype"):
        raise DGTypeError(
            f"repeat_interleave() received an invalid combination of arguments - got (Tensor, "
            f"{type(repeats).__name__}{', dim=int' if dim is not None else ''}), but expected one "
            "of: (Tensor input, Tensor repeats, int dim = None, *, int output_size = None), "
            "(Tensor input, int repeats, int dim = None, *, int output_size = None)")
    r = _repeat_counts(repeats, "repeat_interleave")
    if r.ndim > 1:
        raise DGRuntimeError("repeats must be 0-dim or 1-dim tensor")
    if r.size == 1:  # one count for every slice
        return _repeat_interleave_int(input, int(r.reshape(-1)[0]), dim, tensor=True)
    x, d = _interleave_input(input, dim)
    size = x.shape[d]
    if size is not None and r.shape[0] != size:
        raise DGRuntimeError(
            "repeats must have the same size as input along dim, but got repeats.size(0) = "
            f"{r.shape[0]} and input.size({d}) = {size}")
    if (r < 0).any():
        raise DGRuntimeError("repeats can not be negative")
    idx = np.repeat(np.arange(r.shape[0]), r)
    return x[(slice(None),) * d + (idx,)]


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _repeat_counts(t, what):
    from ..errors import DGNotImplementedError
    from ..dtypes import scalar_name
    dt = np.dtype(t._np_dtype()) if hasattr(t, "_np_dtype") else np.dtype(getattr(t, "_dtype", "f4"))
    if dt.kind not in "iu":
        raise DGNotImplementedError(f"\"repeat_interleave_cpu\" not implemented for '{scalar_name(dt)}'")
    return _constant_values(t, what)


def _interleave_input(input, dim):
    if dim is None:
        return flatten(input), 0
    return input, norm_dim(dim, input.ndim)


def _repeat_interleave_int(input, r, dim, tensor=False):
    if r < 0:
        raise DGRuntimeError("repeats can not be negative" if tensor else "Repeats must be non-negative")
    if input.ndim == 0 and dim is not None:  # (PyTorch inserts the repeat dim after dim)
        norm_dim(dim, 1)
        raise DGIndexError(
            f"Dimension out of range (expected to be in range of [-1, 0], but got {norm_dim(dim, 1) + 1})")
    x, d = _interleave_input(input, dim)
    y = apply(unsqueeze_op, x, dim=d + 1)
    y = expand_to(y, [[r] if i == d + 1 else [-1] for i in range(x.ndim + 1)])
    dims = dims_of(x)
    dims[d] = dims[d] + [r]
    return reshape_to(y, dims)
