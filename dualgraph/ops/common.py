"""Shared pieces of shape/dtype rules: dim normalisation, broadcasting with unknown dims."""
import threading

import numpy as np

from ..dtypes import result_type, F32, BOOL, category, scalar_name
from ..errors import DGIndexError, DGRuntimeError, DGTypeError, ShapeError
from .registry import Spec

SCALARS = (int, float, bool, np.number, np.bool_)


def is_scalar(x):
    """A Python or numpy scalar operand (not a tensor)."""
    return isinstance(x, SCALARS)


def operand(x):
    """What dtypes.result_type wants: (dtype, ndim) for tensors, the scalar itself otherwise."""
    if isinstance(x, Spec):
        return (x.dtype, len(x.shape))
    if not isinstance(x, (int, float, complex, np.generic, np.ndarray)):  # None, a str, an object
        raise DGTypeError(f"unsupported operand type(s): 'Tensor' and '{type(x).__name__}'")
    return x


def norm_dim(dim, ndim):
    """Wrap a negative dim; PyTorch's IndexError when out of range (0-d accepts -1 and 0)."""
    n = max(ndim, 1)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise DGTypeError(f"dim must be an int, got {type(dim).__name__}")
    if dim < -n or dim >= n:
        raise DGIndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def norm_dims(dim, ndim):
    """None -> all dims; int or sequence -> sorted tuple of non-negative dims."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (list, tuple)):
        out = tuple(sorted(norm_dim(d, ndim) for d in dim))
        if len(set(out)) != len(out):
            raise DGRuntimeError(f"dim {out} appears multiple times in the list of dims")
        return out if ndim else ()
    d = norm_dim(dim, ndim)
    return (d,) if ndim else ()


def broadcast_shapes(*shapes):
    """NumPy/PyTorch broadcasting of static shapes; None is an unknown dimension."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(-ndim, 0):
        size = 1
        for s in shapes:
            if len(s) < -i:
                continue
            d = s[i]
            if d == 1:
                continue
            if d is None:
                size = None if size == 1 else size
            elif size == 1 or size is None:
                size = d
            elif size != d:
                raise ShapeError(_broadcast_msg(shapes, i))
        out.append(size)
    return tuple(out)


def _broadcast_msg(shapes, i):
    a, b = [s for s in shapes if len(s) >= -i and s[i] not in (1, None)][:2]
    ndim = max(len(s) for s in shapes)
    return (f"The size of tensor a ({a[i]}) must match the size of tensor b ({b[i]}) "
            f"at non-singleton dimension {ndim + i}")


def shape_of(x):
    return x.shape if isinstance(x, Spec) else ()


def binary_infer(a, b):
    """Elementwise binary arithmetic: broadcast shapes, PyTorch's dtype promotion."""
    return Spec(broadcast_shapes(shape_of(a), shape_of(b)), result_type(operand(a), operand(b)))


def float_binary_infer(a, b):
    """True division and the like: integers promote to the default float."""
    s = binary_infer(a, b)
    if category(s.dtype) < 2:
        s.dtype = F32
    return s


def compare_infer(a, b):
    binary_infer(a, b)  # same broadcasting errors
    return Spec(broadcast_shapes(shape_of(a), shape_of(b)), BOOL)


def same_infer(x, **_):
    return Spec(x.shape, x.dtype)


def float_unary_infer(x, **_):
    """exp, log, sin...: integer inputs give the default float dtype, as in PyTorch."""
    return Spec(x.shape, x.dtype if category(x.dtype) == 2 else F32)


def numel(shape):
    """The number of elements of a shape; None when a dim is unknown (None)."""
    n = 1
    for d in shape:
        if d is None:
            return None
        n *= d
    return n


def fmt_shape(shape, sep=", ", brackets=True):
    """A shape as the messages print it, an unknown (None) dim as "?": "[2, ?]";
    sep="x", brackets=False: "2x?" (PyTorch's "mat1 and mat2 shapes" spelling)."""
    s = sep.join("?" if d is None else str(d) for d in shape)
    return "[" + s + "]" if brackets else s


_CTYPES = {"f4": "float", "f8": "double", "f2": "c10::Half", "i8": "long int", "i4": "int",
           "i2": "short int", "i1": "signed char", "u1": "unsigned char", "b1": "bool"}


def ctype_name(npdtype):
    """PyTorch's C++ spelling of a dtype, as some of its messages use ("float", "long int")."""
    d = np.dtype(npdtype)
    return _CTYPES.get(f"{d.kind}{d.itemsize}", d.name)


# ---------------------------------------------------------------- in-place dtype rules
def can_cast(from_dtype, to_dtype):
    """PyTorch's can_cast: any cast within a category or into a higher one; no float into an
    integer or bool tensor and no integer into a bool tensor."""
    return category(from_dtype) <= category(to_dtype)


def check_inplace_result(op, result_dtype, dest_dtype):
    """An in-place op computes in the promoted dtype, then casts into the destination: PyTorch
    refuses a cast can_cast refuses (copy_, fill_ and x[i] = v cast freely: not checked)."""
    if category(result_dtype) > category(dest_dtype):
        to = ctype_name(dest_dtype) if op.name == "clamp" else scalar_name(dest_dtype)
        raise DGRuntimeError(
            f"result type {scalar_name(result_dtype)} can't be cast to the desired output type {to}")


_SAMPLE_KERNEL = {"normal_like": "normal_kernel_cpu", "uniform_like": "check_uniform_bounds"}


def check_sample_dtype(op, dtype):
    """normal_ / uniform_ fill floating tensors only (PyTorch raises NotImplementedError for
    integer and bool tensors: its kernel has no such dtype)."""
    if dtype.kind != "f":
        from ..errors import DGNotImplementedError
        raise DGNotImplementedError(
            f"\"{_SAMPLE_KERNEL.get(op.name, op.name)}\" not implemented for '{scalar_name(dtype)}'")


class Slot:
    """Stands in an index for the i-th tensor input (keeps attrs free of tensors)."""

    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i

    def __repr__(self):
        return f"Slot({self.i})"

    def __eq__(self, other):
        return isinstance(other, Slot) and other.i == self.i

    def __hash__(self):
        return hash(("slot", self.i))


def check_index_put_dtype(dest_dtype, value_dtype, index, idx_dtypes, value_numel):
    """x[advanced index] = value tensor: PyTorch's index_put_ wants the value in x's dtype. A
    lone bool mask with a one-element value is a masked_fill (which casts); basic indexing
    is a copy_ (which casts)."""
    if value_dtype == dest_dtype or not any(isinstance(k, Slot) for k in index):
        return
    if len(index) == 1 and idx_dtypes[index[0].i].kind == "b" and value_numel in (1, None):
        return
    raise DGRuntimeError(
        "Index put requires the source and destination dtypes match, got "
        f"{scalar_name(dest_dtype)} for the destination and {scalar_name(value_dtype)} for the source.")


def c_order(x):
    """x, or a C-ordered copy of it. numpy walks a reduction in memory order, and its rounding
    follows that walk: the same values laid out otherwise (an eager transpose view, a plan's C
    buffer) sum to other bits. Every kernel that adds or multiplies many values reads them
    through this, so its result depends on the values only, in both modes."""
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


_SCRATCH = threading.local()  # per thread: {(shape, dtype): array}


def scratch(shape, dtype):
    """A work array of this shape and dtype, allocated once per thread and reused by every
    call (a kernel's temporary inside a plan step: no allocation per run). Its contents are
    the last user's: a kernel writes it before reading it, and never hands it out."""
    d = getattr(_SCRATCH, "d", None)
    if d is None:
        d = _SCRATCH.d = {}
    a = d.get((shape, dtype))
    if a is None:
        a = d[(shape, dtype)] = np.empty(shape, dtype)
    return a
