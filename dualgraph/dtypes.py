"""dtypes as PyTorch names them, and PyTorch's type-promotion rules.

Internally every kernel and shape rule works with numpy dtypes; `DType` objects exist only at
the user-facing boundary (`t.dtype`, `dtype=` arguments).
"""
import builtins as _builtins

import numpy as np

from .errors import DGTypeError, DGOverflowError, DGRuntimeError

# the Python types, under names this module does not shadow (it defines float, int: PyTorch's aliases)
_py_float, _py_int, _py_bool = _builtins.float, _builtins.int, _builtins.bool


class DType:
    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize")

    def __init__(self, name, npdtype):
        self.name = name
        self.np = np.dtype(npdtype)
        self.is_floating_point = self.np.kind == "f"
        self.is_signed = self.np.kind in "fi"
        self.itemsize = self.np.itemsize

    def __repr__(self):
        return f"dualgraph.{self.name}"

    def __reduce__(self):
        return (to_dtype, (self.name,))


float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
float16 = DType("float16", np.float16)
int64 = DType("int64", np.int64)
int32 = DType("int32", np.int32)
int16 = DType("int16", np.int16)
int8 = DType("int8", np.int8)
uint8 = DType("uint8", np.uint8)
bool_ = DType("bool", np.bool_)
float = float32  # noqa: A001  (PyTorch's aliases)
double = float64
half = float16
long = int64
int = int32  # noqa: A001

ALL = (float32, float64, float16, int64, int32, int16, int8, uint8, bool_)
_FROM_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update({"float": float32, "double": float64, "half": float16, "long": int64, "int": int32})

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
I64 = np.dtype(np.int64)
BOOL = np.dtype(np.bool_)
DEFAULT_FLOAT = F32


def from_np(npdtype):
    """numpy dtype -> DType."""
    try:
        return _FROM_NP[npdtype]
    except KeyError:
        raise DGTypeError(f"dualgraph has no dtype for numpy's {npdtype}") from None


def to_np(dtype):
    """Anything a user may pass as dtype= (DType, numpy dtype, Python type, name) -> numpy dtype."""
    if dtype is None:
        return None
    if isinstance(dtype, DType):
        return dtype.np
    if dtype is _py_float:
        return F64  # torch: dtype=float means float64
    if dtype is _py_int:
        return I64
    if dtype is _py_bool:
        return BOOL
    if isinstance(dtype, str) and dtype in _BY_NAME:
        return _BY_NAME[dtype].np
    try:
        npd = np.dtype(dtype)
    except TypeError:
        raise DGTypeError(f"unknown dtype {dtype!r}") from None
    from_np(npd)  # refuse dtypes dualgraph does not support
    return npd


def to_dtype(dtype):
    return from_np(to_np(dtype))


def category(npdtype):
    """0 bool, 1 integer, 2 floating: PyTorch promotes across categories by category first."""
    k = npdtype.kind
    return 2 if k == "f" else (0 if k == "b" else 1)


_DEFAULT_FOR = {0: BOOL, 1: I64, 2: DEFAULT_FLOAT}


# a Python int PyTorch takes as a scalar: int64's range, or up to uint64's maximum (it wraps)
_INT_MIN, _UINT_MAX = -2 ** 63, 2 ** 64 - 1


def check_int_scalar(x):
    """A Python int operand beyond 64 bits: PyTorch's OverflowError (numpy's "Python int too
    large to convert to C long", or a float result where PyTorch refuses)."""
    if type(x) is _py_int and not _INT_MIN <= x <= _UINT_MAX:
        # (PyTorch tries int64, then uint64)
        raise DGOverflowError("int too big to convert" if x > 0 else "can't convert negative int to unsigned")


def check_fill_value(value, dtype):
    """full / fill_ of a Python number into dtype, refused as PyTorch refuses it: beyond 64 bits
    an OverflowError; out of an integer dtype's range (or a finite float beyond a float dtype's
    largest value) "value cannot be converted to type int8_t without overflow"."""
    t = type(value)
    if t is not _py_int and t is not _py_float:
        if isinstance(value, _py_bool) or not isinstance(value, (_py_int, _py_float)):
            return
    limits = _FILL_LIMITS.get(dtype)
    if limits is None:
        limits = _FILL_LIMITS[dtype] = _fill_limits(np.dtype(dtype))
    check_int_scalar(value)
    lo, hi, name, floating = limits
    if lo <= value <= hi:
        return
    if name is None or (floating and (value != value or abs(value) == _INF)):
        return   # (a float dtype takes NaN and +-inf, an integer one neither)
    raise DGRuntimeError(f"value cannot be converted to type {name} without overflow")


_INF = _py_float("inf")
# dtype -> (the lowest and highest finite value a fill may take, c10's name, a float dtype)
_FILL_LIMITS = {}


def _fill_limits(dtype):
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return _py_int(info.min), _py_int(info.max), "int" if dtype == np.int32 else f"{dtype.name}_t", False
    if dtype.kind == "f":
        big = _py_float(np.finfo(dtype).max)
        return -big, big, {2: "c10::Half", 4: "float", 8: "double"}[dtype.itemsize], True
    return -_INF, _INF, None, False


def promote_types(a, b):
    """PyTorch's promote_types: a float beats any int (int64 + float32 -> float32)."""
    if a is b or a == b:
        return a
    ca, cb = category(a), category(b)
    if ca == cb:
        return np.promote_types(a, b)
    return a if ca > cb else b


def result_type(*operands):
    """PyTorch's result_type over operands given as (dtype, ndim) pairs or Python scalars.

    Dimensioned tensors decide first, then 0-d tensors if of a higher category, then Python
    scalars if of a higher category still (taking the default dtype of that category).
    """
    dim_r = zero_r = None
    scal_cat = -1
    for x in operands:
        if isinstance(x, tuple):
            dt, ndim = x
            if ndim:
                dim_r = dt if dim_r is None else promote_types(dim_r, dt)
            else:
                zero_r = dt if zero_r is None else promote_types(zero_r, dt)
        elif isinstance(x, _py_bool) or isinstance(x, np.bool_):
            scal_cat = max(scal_cat, 0)
        elif isinstance(x, (_py_int, np.integer)):
            if type(x) is _py_int and not _INT_MIN <= x <= _UINT_MAX:
                check_int_scalar(x)
            scal_cat = max(scal_cat, 1)
        else:
            scal_cat = max(scal_cat, 2)
    r = dim_r
    if zero_r is not None and (r is None or category(zero_r) > category(r)):
        r = zero_r
    if scal_cat >= 0 and (r is None or scal_cat > category(r)):
        r = _DEFAULT_FOR[scal_cat]
    return r


def torch_name(npdtype):
    """PyTorch's legacy type name, used in autograd error messages ("torch.FloatTensor")."""
    return {
        F32: "FloatTensor", F64: "DoubleTensor", np.dtype(np.float16): "HalfTensor", I64: "LongTensor",
        np.dtype(np.int32): "IntTensor", np.dtype(np.int16): "ShortTensor", np.dtype(np.int8): "CharTensor",
        np.dtype(np.uint8): "ByteTensor", BOOL: "BoolTensor",
    }[npdtype]


def scalar_name(npdtype):
    """PyTorch's scalar-type name used in messages ("Float", "Long")."""
    return torch_name(npdtype)[:-6]


# ---------------------------------------------------------------- the default float dtype
def default_float():
    """The numpy dtype Python floats and the float creation ops take (dg.set_default_dtype)."""
    return _DEFAULT_FOR[2]


def set_default_dtype(d):
    """torch.set_default_dtype: float32 or float64 for Python floats (dg.tensor, dg.Tensor) and
    the float creation ops (zeros, ones, rand, arange of floats...) and for a Python float
    combined with an integer tensor. Ops that turn integers into floats (exp(int), int / int)
    still give float32."""
    try:
        npd = to_np(d)
    except DGTypeError:
        npd = None
    if npd not in (F32, F64):
        raise DGTypeError("only floating-point types are supported as the default type")
    _DEFAULT_FOR[2] = npd


def get_default_dtype():
    return from_np(_DEFAULT_FOR[2])
