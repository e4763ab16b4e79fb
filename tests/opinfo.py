"""The operator table: one record (or more, as variants) per op of the registry, PyTorch's OpInfo.

Data only, and mode-agnostic. A record says
  op        the registry name (`dualgraph.ops.OPS[op]`) the callable must reach,
  fn        a callable that calls the op through the public dualgraph API; its positional
            arguments are what `Sample.args` holds after numpy arrays become tensors,
  ref       the PyTorch callable taking the same arguments (None: no PyTorch counterpart),
  samples   rng -> list of Sample (numpy arrays + plain Python values), deterministic per seed,
            covering broadcasting, size-1 and size-0 dimensions,
  errors    () -> list of ErrorSample: inputs where PyTorch raises, with the builtin exception
            type PyTorch raises and a regex on PyTorch's wording,
and a few flags (random ops compare only shape and dtype, tolerances, second-order checks).

Nothing here runs an op: tests/op_runners.py turns a (record, sample) pair into numbers in one
mode (eager today; graph mode can add its runner beside it and reuse this table unchanged).
Torch is referenced lazily (the `T` proxy), so this module imports without torch installed.
"""
import importlib
import zlib
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

import dualgraph as dg
from dualgraph.ops import OPS, apply


class _LazyTorch:
    """`T.add(...)` calls `torch.add`, `T.nn.functional.relu(...)` calls torch's relu: the path
    is resolved (and torch imported) only when the call happens, so building the table does not
    need torch."""

    __slots__ = ("_path",)

    def __init__(self, path=()):
        self._path = path

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _LazyTorch(self._path + (name,))

    def resolve(self):
        obj = importlib.import_module("torch")
        for name in self._path:
            obj = getattr(obj, name)
        return obj

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    def __repr__(self):
        return "torch." + ".".join(self._path)


T = _LazyTorch()


# ============================================================================ record types
@dataclass(frozen=True)
class Sample:
    """Positional args (numpy arrays become tensors; anything else is passed as is) + kwargs."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    desc: str = ""
    grad: bool = True            # take part in gradient checks
    numeric: bool = True         # finite differences are meaningful here (gradcheck)
    torch_grad: bool = True      # PyTorch has a derivative to compare with
    no_grad_args: tuple = ()     # float arrays at these positions never require grad


@dataclass(frozen=True)
class ErrorSample:
    args: tuple
    kwargs: dict = field(default_factory=dict)
    exc: type = RuntimeError     # the builtin type PyTorch raises
    match: Optional[str] = None  # regex searched in the message (PyTorch's wording)
    desc: str = ""
    xfail: Optional[str] = None  # known failure outside dualgraph/ops (reason)
    no_grad_args: tuple = ()


@dataclass
class OpRecord:
    op: str
    fn: Callable
    ref: Optional[Callable]
    samples: Callable
    errors: Callable = lambda: []
    variant: str = ""
    random: bool = False          # values are random: compare shape and dtype only
    value_check: Optional[Callable] = None   # (out ndarray, sample) -> bool, for random ops
    gradgrad: bool = True         # run gradgradcheck (differentiable ops only)
    atol: float = 1e-6
    rtol: float = 1e-5
    grad_atol: float = 1e-5
    grad_rtol: float = 1e-4
    notes: str = ""

    @property
    def id(self):
        return self.op + ("." + self.variant if self.variant else "")

    @property
    def opdef(self):
        return OPS[self.op]

    @property
    def differentiable(self):
        return OPS[self.op].differentiable

    def sample_list(self):
        """The samples, generated from a seed derived from the record id (stable across runs)."""
        return list(self.samples(np.random.default_rng(zlib.crc32(self.id.encode()))))

    def error_list(self):
        return list(self.errors())


# ============================================================================ helpers
F32, F64, I64, I32, BOOL = np.float32, np.float64, np.int64, np.int32, np.bool_


def u(rng, shape, lo=-2.0, hi=2.0, dtype=F32):
    return np.asarray(rng.uniform(lo, hi, size=shape), dtype=dtype)


def away(rng, shape, gap=0.2, hi=2.0, dtype=F32):
    """Values in [-hi, -gap] U [gap, hi]: away from kinks at 0 (abs, relu, sign...)."""
    mag = rng.uniform(gap, hi, size=shape)
    sgn = np.where(rng.random(size=shape) < 0.5, -1.0, 1.0)
    return np.asarray(mag * sgn, dtype=dtype)


def ints(rng, shape, lo=-5, hi=6, dtype=I64):
    return np.asarray(rng.integers(lo, hi, size=shape), dtype=dtype)


def bools(rng, shape):
    return np.asarray(rng.random(size=shape) < 0.5)


def dgdt(name):
    return getattr(dg, name)


def tdt(name):
    return getattr(T, name).resolve()


class Arg:
    """In an index key: "the i-th tensor index argument" (keeps keys data-only)."""

    def __init__(self, i):
        self.i = i

    def __repr__(self):
        return f"Arg({self.i})"


def fill_key(key, idx):
    key = key if isinstance(key, tuple) else (key,)
    return tuple(idx[k.i] if isinstance(k, Arg) else k for k in key)


def dg_template(key):
    """A key with Arg marks -> the index template the getitem/getitem_grad ops take as attr."""
    from dualgraph.ops.shape import Slot
    key = key if isinstance(key, tuple) else (key,)
    return tuple(Slot(k.i) if isinstance(k, Arg) else k for k in key)


def np_key(key, idx):
    return fill_key(key, idx)


def op(name):
    return OPS[name]


# shapes every binary elementwise record runs: broadcasting, 0-d, size-1 and size-0 dims
BROADCAST_PAIRS = [
    ((2, 3), (2, 3)), ((3, 1), (1, 4)), ((2, 3), (3,)), ((4, 1, 3), (2, 1)), ((), (2, 3)),
    ((2, 3), ()), ((1, 1), (2, 3)), ((0, 3), (1, 3)), ((2, 0), (2, 1)), ((1,), (0,)), ((), ()),
]
UNARY_SHAPES = [(), (4,), (2, 3), (1, 1), (0, 3), (2, 1, 3)]
MISMATCH = ErrorSample((np.zeros((2, 3), F32), np.zeros((4,), F32)), exc=RuntimeError,
                       match=r"The size of tensor a \(3\) must match the size of tensor b \(4\) "
                             r"at non-singleton dimension 1", desc="broadcast mismatch")


def binary_samples(gen_a, gen_b, *, dtypes=True, extra=()):
    """gen_a/gen_b: (rng, shape) -> array. Broadcast pairs, then dtype mixes, then extras."""
    def samples(rng):
        out = [Sample((gen_a(rng, sa), gen_b(rng, sb)), desc=f"{sa}x{sb}")
               for sa, sb in BROADCAST_PAIRS]
        if dtypes:
            a = gen_a(rng, (2, 3))
            b = gen_b(rng, (2, 3))
            out += [
                Sample((a.astype(F64), b), desc="f64xf32"),
                Sample((np.round(a).astype(I64), b), desc="i64xf32"),
                Sample((np.round(a).astype(I64), np.round(b).astype(I64)), desc="i64xi64"),
                Sample((np.round(a).astype(I32), np.round(b[0]).astype(I64)), desc="i32 x 0-d i64"),
                Sample((a, np.asarray(b[0, 0], dtype=F64)), desc="f32 x 0-d f64"),
            ]
        out += [s(rng) if callable(s) else s for s in extra]
        return out
    return samples


def _no_torch_grad(samples):
    """torch.floor_divide and `//` have no derivative (backward raises); ours is zero, as
    torch.div(rounding_mode='floor')'s."""
    from dataclasses import replace
    return lambda rng: [replace(s, torch_grad=False) for s in samples(rng)]


def scalar_samples(gen):
    """Python scalars on either side (for the operator variants)."""
    def samples(rng):
        a = gen(rng, (2, 3))
        return [
            Sample((a, 2.5), desc="t+float"), Sample((2.5, a), desc="float+t"),
            Sample((a, 3), desc="t+int"), Sample((3, a), desc="int+t"),
            Sample((np.round(a).astype(I64), 2.5), desc="int t+float"),
            Sample((np.round(a).astype(I64), 2), desc="int t+int"),
            Sample((a.astype(F64), 2.5), desc="f64 t+float"),
            Sample((gen(rng, ()), 2.5), desc="0-d t+float"),
            Sample((gen(rng, (0, 2)), 2.5), desc="empty t+float"),
        ]
    return samples


def unary_samples(gen, *, int_input=True, extra=()):
    def samples(rng):
        out = [Sample((gen(rng, s),), desc=str(s)) for s in UNARY_SHAPES]
        out.append(Sample((gen(rng, (2, 3)).astype(F64),), desc="f64"))
        if int_input:
            out.append(Sample((ints(rng, (2, 3), 1, 4),), desc="i64"))
        out += [s(rng) if callable(s) else s for s in extra]
        return out
    return samples


RECORDS = []


def add(*records):
    RECORDS.extend(records)


# ============================================================================ binary arithmetic
def _pos(rng, shape):
    return u(rng, shape, 0.5, 2.0)


def _nz(rng, shape):
    return away(rng, shape, 0.5, 2.0)


add(
    OpRecord("add", lambda a, b, **kw: dg.add(a, b, **kw), lambda a, b, **kw: T.add(a, b, **kw),
             binary_samples(u, u, extra=[
                 lambda rng: Sample((u(rng, (2, 3)), u(rng, (3,))), {"alpha": 2}, "alpha=2"),
                 lambda rng: Sample((bools(rng, (3,)), bools(rng, (3,))), desc="bool+bool"),
                 lambda rng: Sample((ints(rng, (3,), dtype=np.uint8), ints(rng, (3,), dtype=np.int8)),
                                    desc="u8+i8"),
             ]),
             lambda: [MISMATCH]),
    OpRecord("add", lambda a, b: a + b, lambda a, b: a + b, scalar_samples(u), variant="operator"),
    OpRecord("sub", lambda a, b, **kw: dg.sub(a, b, **kw), lambda a, b, **kw: T.sub(a, b, **kw),
             binary_samples(u, u, extra=[
                 lambda rng: Sample((u(rng, (2, 3)), u(rng, (1, 3))), {"alpha": 0.5}, "alpha=0.5")]),
             lambda: [MISMATCH, ErrorSample(
                 (np.array([True]), np.array([False])), exc=RuntimeError,
                 match=r"Subtraction, the `-` operator, with two bool tensors is not supported",
                 desc="bool-bool"), ErrorSample(
                 (np.zeros(2, F32), np.array([True, False])), exc=RuntimeError,
                 match=r"Subtraction, the `-` operator, with a bool tensor is not supported",
                 desc="float-bool"), ErrorSample(
                 (np.zeros(2, F32), True), exc=RuntimeError,
                 match=r"Subtraction, the `-` operator, with a bool tensor is not supported",
                 desc="float-True")]),
    OpRecord("sub", lambda a, b: a - b, lambda a, b: a - b, scalar_samples(u), variant="operator"),
    OpRecord("mul", lambda a, b: dg.mul(a, b), lambda a, b: T.mul(a, b),
             binary_samples(u, u, extra=[
                 lambda rng: Sample((bools(rng, (3,)), u(rng, (3,))), desc="bool*f32")]),
             lambda: [MISMATCH]),
    OpRecord("mul", lambda a, b: a * b, lambda a, b: a * b, scalar_samples(u), variant="operator"),
    OpRecord("div", lambda a, b, **kw: dg.div(a, b, **kw), lambda a, b, **kw: T.div(a, b, **kw),
             binary_samples(u, _nz, extra=[
                 lambda rng: Sample((np.array([1.0, -1.0, 0.0], F32), np.zeros(3, F32)),
                                    desc="x/0", grad=False)]),
             lambda: [MISMATCH]),
    OpRecord("div", lambda a, b: a / b, lambda a, b: a / b, scalar_samples(_nz), variant="operator"),
    OpRecord("pow", lambda a, b: dg.pow(a, b), lambda a, b: T.pow(a, b),
             binary_samples(_pos, u, dtypes=False, extra=[
                 lambda rng: Sample((ints(rng, (2, 3), 1, 4), ints(rng, (2, 3), 0, 3)), desc="i64**i64"),
                 lambda rng: Sample((_pos(rng, (2, 3)), 2), desc="t**2"),
                 lambda rng: Sample((u(rng, (2, 3)), 3), desc="neg t**3"),
                 lambda rng: Sample((_pos(rng, (2, 3)), 0.5), desc="t**0.5"),
                 lambda rng: Sample((_pos(rng, (2, 3)), 0), desc="t**0"),
                 lambda rng: Sample((np.array([0.0, 1.0, 2.0], F32), np.array([0.0, 0.0, 1.0], F32)),
                                    desc="0**0", numeric=False),
                 lambda rng: Sample((ints(rng, (3,), 1, 4), 2.5), desc="int t**float"),
                 lambda rng: Sample((ints(rng, (3,), 1, 4), 2), desc="int t**int"),
                 lambda rng: Sample((np.array([-2, -1, 0, 1, 2, -2, -1, 1]), np.array([-1] * 5 + [-2, -2, -3])),
                                    desc="int t**negative int t"),
             ]),
             lambda: [MISMATCH, ErrorSample((np.array([2, 3]), -1), exc=RuntimeError,
                                            match="Integers to negative integer powers are not allowed",
                                            desc="int**-1")]),
    OpRecord("pow", lambda a, b: a ** b, lambda a, b: a ** b, lambda rng: [
        Sample((_pos(rng, (2, 3)), 2.5), desc="t**float"), Sample((2.5, u(rng, (2, 3))), desc="float**t"),
        Sample((2, u(rng, (2, 3))), desc="int**t"), Sample((_pos(rng, (2, 3)), 2), desc="t**int"),
        Sample((2, ints(rng, (3,), 0, 4)), desc="int**int t"),
        Sample((2.5, ints(rng, (3,), 0, 4)), desc="float**int t"),
        Sample((_pos(rng, ()), 2.0), desc="0-d")], variant="operator"),
)


def _maxmin_extra(rng):
    a = u(rng, (2, 3))
    b = a.copy()
    b[0, 1] += 1.0
    return Sample((a, b), desc="ties", numeric=False)


add(
    OpRecord("maximum", lambda a, b: dg.maximum(a, b), lambda a, b: T.maximum(a, b),
             binary_samples(u, u, extra=[_maxmin_extra]), lambda: [MISMATCH]),
    OpRecord("minimum", lambda a, b: dg.minimum(a, b), lambda a, b: T.minimum(a, b),
             binary_samples(u, u, extra=[_maxmin_extra]), lambda: [MISMATCH]),
    OpRecord("maximum", lambda a, b: dg.max(a, b), lambda a, b: T.max(a, b),
             binary_samples(u, u, dtypes=False), variant="max"),
)


def _fd_den(rng, shape):
    return away(rng, shape, 0.7, 3.0)


def _rem_num(rng, shape):
    """Numerators away from multiples of the denominators' values (no jumps within eps)."""
    return np.asarray(rng.integers(-4, 5, size=shape) + rng.uniform(0.2, 0.4, size=shape), dtype=F32)


def _rem_den(rng, shape):
    return np.asarray(np.where(rng.random(size=shape) < 0.5, -1.0, 1.0) * rng.choice(
        [1.0, 2.0], size=shape), dtype=F32)


add(
    OpRecord("floor_divide", lambda a, b: dg.floor_divide(a, b), lambda a, b: T.floor_divide(a, b),
             _no_torch_grad(binary_samples(u, _fd_den, extra=[
                 lambda rng: Sample((ints(rng, (6,)), np.array([2, -2, 3, -3, 4, 5])), desc="ints"),
                 lambda rng: Sample((np.array([1.0, -1.0, 0.0], F32), np.zeros(3, F32)), desc="float / 0",
                                    grad=False)])),
             lambda: [MISMATCH, ErrorSample((np.array([5, -5]), np.array([2, 0])), exc=RuntimeError, match="ZeroDivisionError",
                                                desc="int / 0"),
                                    ErrorSample((np.array([5, -5]), 0), exc=RuntimeError, match="ZeroDivisionError",
                                                desc="int / python 0")]),
    OpRecord("floor_divide", lambda a, b: a // b, lambda a, b: a // b, _no_torch_grad(scalar_samples(_fd_den)),
             variant="operator"),
    OpRecord("floor_divide", lambda a, b: dg.div(a, b, rounding_mode="floor"),
             lambda a, b: T.div(a, b, rounding_mode="floor"), binary_samples(u, _fd_den, dtypes=False),
             variant="div_floor"),
    # floats: one op (trunc_divide); integers: exact integer arithmetic (floor_divide, mul, sign)
    OpRecord("trunc_divide", lambda a, b: dg.div(a, b, rounding_mode="trunc"),
             lambda a, b: T.div(a, b, rounding_mode="trunc"),
             binary_samples(lambda rng, s: u(rng, s, -5, 5), _fd_den, extra=[
                 lambda rng: Sample((np.array([7.0, -7.0, 0.5, -0.5, 5.0]), np.array([2.0, 2.0, 0.0, 3.0, -0.0])),
                                    desc="float / 0, zero signs", grad=False),
                 lambda rng: Sample((np.array([7, -7]), 2.0), desc="int / python float")]), variant="div"),
    OpRecord("floor_divide", lambda a, b: dg.div(a, b, rounding_mode="trunc"),
             lambda a, b: T.div(a, b, rounding_mode="trunc"),
             lambda rng: [Sample((np.array([7, -7, 7, -7, 0]), np.array([2, 2, -2, -2, 3])), desc="ints"),
                          Sample((np.array([7, -7], I32), 2), desc="int32 / python int"),
                          Sample((np.array([2 ** 40 + 1, -(2 ** 40) - 1]), np.array([3, 3])),
                                 desc="large ints stay exact")],
             lambda: [ErrorSample((np.array([5, -5]), np.array([2, 0])), exc=RuntimeError, match="ZeroDivisionError",
                                                desc="int / 0"),
                                    ErrorSample((np.array([5, -5]), 0), exc=RuntimeError, match="ZeroDivisionError",
                                                desc="int / python 0")], variant="div_trunc"),
    OpRecord("remainder", lambda a, b: dg.remainder(a, b), lambda a, b: T.remainder(a, b),
             binary_samples(_rem_num, _rem_den, dtypes=False, extra=[
                 lambda rng: Sample((_rem_num(rng, (2, 3)).astype(F64), _rem_den(rng, (3,))), desc="f64xf32"),
                 lambda rng: Sample((ints(rng, (6,)), np.array([2, -2, 3, -3, 4, 5])), desc="ints")]),
             lambda: [MISMATCH, ErrorSample((np.array([5, -5]), np.array([2, 0])), exc=RuntimeError, match="ZeroDivisionError",
                                                desc="int / 0"),
                                    ErrorSample((np.array([5, -5]), 0), exc=RuntimeError, match="ZeroDivisionError",
                                                desc="int / python 0")]),
    OpRecord("remainder", lambda a, b: a % b, lambda a, b: a % b,
             lambda rng: [s if isinstance(s.args[0], np.ndarray) else
                          Sample(s.args, s.kwargs, s.desc, torch_grad=False, numeric=False)
                          for s in scalar_samples(_rem_num)(rng)],
             variant="operator", notes="PyTorch has no derivative for scalar % tensor"),
)

# ============================================================================ comparisons
_CMP = {"eq": ("__eq__", "eq"), "ne": ("__ne__", "ne"), "lt": ("__lt__", "lt"),
        "le": ("__le__", "le"), "gt": ("__gt__", "gt"), "ge": ("__ge__", "ge")}


def _cmp_pair(rng, shape):
    return np.asarray(rng.integers(-2, 3, size=shape), dtype=F32)   # small ints: many ties


def _cmp_record(name):
    f = getattr(dg, name)
    return [
        OpRecord(name, lambda a, b, f=f: f(a, b), lambda a, b, n=name: getattr(T, n)(a, b),
                 binary_samples(_cmp_pair, _cmp_pair), lambda: [MISMATCH]),
        OpRecord(name, lambda a, b, m=_CMP[name][0]: getattr(a, m)(b),
                 lambda a, b, m=_CMP[name][0]: getattr(a, m)(b),
                 lambda rng: [Sample((_cmp_pair(rng, (2, 3)), 1.0), desc="t,float"),
                              Sample((ints(rng, (2, 3), -2, 3), 0.5), desc="int t,float"),
                              Sample((_cmp_pair(rng, (0, 3)), 1), desc="empty")],
                 variant="operator"),
    ]


for _n in _CMP:
    add(*_cmp_record(_n))

add(
    OpRecord("logical_and", lambda a, b: dg.logical_and(a, b), lambda a, b: T.logical_and(a, b),
             binary_samples(_cmp_pair, _cmp_pair, extra=[
                 lambda rng: Sample((bools(rng, (2, 3)), bools(rng, (3,))), desc="bools")]),
             lambda: [MISMATCH]),
    OpRecord("bitwise_and", lambda a, b: a & b, lambda a, b: a & b,
             lambda rng: [Sample((bools(rng, (2, 3)), bools(rng, (1, 3))), desc="bools"),
                          Sample((ints(rng, (2, 3)), ints(rng, (3,))), desc="ints"),
                          Sample((ints(rng, (2, 3), dtype=I32), ints(rng, (2, 3))), desc="int32 & int64"),
                          Sample((ints(rng, (0, 3)), 6), desc="empty, int scalar")],
             lambda: [ErrorSample((np.ones(2, F32), np.ones(2, F32)), match="not implemented for 'Float'",
                                  desc="floats")],
             variant="operator"),
    OpRecord("bitwise_and", lambda a, b: dg.bitwise_and(a, b), lambda a, b: T.bitwise_and(a, b),
             lambda rng: [Sample((ints(rng, (2, 3)), ints(rng, (2, 1))), desc="ints broadcast"),
                          Sample((ints(rng, (0, 1)), ints(rng, (3,))), desc="empty x size-1")]),
    OpRecord("logical_or", lambda a, b: dg.logical_or(a, b), lambda a, b: T.logical_or(a, b),
             binary_samples(_cmp_pair, _cmp_pair), lambda: [MISMATCH]),
    OpRecord("bitwise_or", lambda a, b: a | b, lambda a, b: a | b,
             lambda rng: [Sample((bools(rng, (2, 3)), bools(rng, (1, 3))), desc="bools"),
                          Sample((ints(rng, (2, 3)), ints(rng, (3,))), desc="ints")],
             lambda: [ErrorSample((np.ones(2, F32), np.ones(2, F32)), match="not implemented for 'Float'",
                                  desc="floats")],
             variant="operator"),
    OpRecord("bitwise_or", lambda a, b: dg.bitwise_or(a, b), lambda a, b: T.bitwise_or(a, b),
             lambda rng: [Sample((ints(rng, (2, 3)), ints(rng, (2, 1))), desc="ints broadcast"),
                          Sample((ints(rng, (0, 1)), ints(rng, (3,))), desc="empty x size-1")]),
    OpRecord("logical_not", lambda a: dg.logical_not(a), lambda a: T.logical_not(a),
             unary_samples(_cmp_pair, extra=[lambda rng: Sample((bools(rng, (2, 3)),), desc="bool")])),
    OpRecord("bitwise_not", lambda a: ~a, lambda a: ~a,
             lambda rng: [Sample((bools(rng, (2, 3)),), desc="bool"), Sample((bools(rng, (0,)),), desc="empty"),
                          Sample((ints(rng, (2, 3)),), desc="ints")],
             lambda: [ErrorSample((np.ones(2, F32),), exc=TypeError, match="only implemented on integer and Boolean",
                                  desc="floats")],
             variant="operator"),
    OpRecord("bitwise_not", lambda a: dg.bitwise_not(a), lambda a: T.bitwise_not(a),
             lambda rng: [Sample((ints(rng, (2, 3), dtype=I32),), desc="int32"),
                          Sample((ints(rng, (0, 1)),), desc="empty, size-1")]),
)


# ^, <<, >>: bool (xor only) and integer dtypes, a Python int wrapped into the tensor's dtype
I8, U8 = np.int8, np.uint8


def _shift_amounts(rng, shape, dtype=I64):
    """Shift amounts with the edges: negative, 0, the width of int8 and of int64, beyond."""
    return np.asarray(rng.choice([-65, -1, 0, 1, 3, 7, 8, 9, 63, 64, 100], size=shape), dtype=dtype)


def _int8_edges():
    return np.array([-128, -127, -1, 0, 1, 2, 64, 127], I8)


_FLOATS_2 = (np.ones(2, F32), np.ones(2, F32))


def _bitwise_float_errors(kernel):
    return lambda: [
        ErrorSample(_FLOATS_2, exc=RuntimeError, match=f'"{kernel}" not implemented for \'Float\'',
                    desc="floats"),
        ErrorSample((np.array([1, 2]), 1.5), exc=RuntimeError,
                    match=f'"{kernel}" not implemented for \'Float\'', desc="int tensor, python float"),
        ErrorSample((np.array([1, 2]), np.array(1.0)), exc=RuntimeError,
                    match=f'"{kernel}" not implemented for \'Double\'', desc="int tensor, 0-d f64"),
        ErrorSample((np.zeros((2, 3), I64), np.zeros((4,), I64)), exc=RuntimeError,
                    match=r"The size of tensor a \(3\) must match the size of tensor b \(4\)",
                    desc="broadcast mismatch")]


def _shift_errors(kernel):
    return lambda: _bitwise_float_errors(kernel)() + [
        ErrorSample((np.array([True]), np.array([True])), exc=RuntimeError,
                    match=f'"{kernel}" not implemented for \'Bool\'', desc="bools")]


add(
    OpRecord("bitwise_xor", lambda a, b: a ^ b, lambda a, b: a ^ b,
             lambda rng: [Sample((bools(rng, (2, 3)), bools(rng, (1, 3))), desc="bools (logical xor)"),
                          Sample((bools(rng, (3,)), True), desc="bool ^ True stays bool"),
                          Sample((bools(rng, (3,)), 1), desc="bool ^ 1 is int64"),
                          Sample((ints(rng, (2, 3)), ints(rng, (3,))), desc="ints"),
                          Sample((ints(rng, (2, 3), dtype=I32), ints(rng, (2, 3))), desc="int32 ^ int64"),
                          Sample((ints(rng, (3,), dtype=U8), ints(rng, (3,), dtype=I8)), desc="u8 ^ i8 -> i16"),
                          Sample((_int8_edges(), 300), desc="int8 ^ 300 (wraps to 44)"),
                          Sample((np.array([0, 1, 255], U8), -1), desc="uint8 ^ -1 (wraps to 255)"),
                          Sample((5, ints(rng, (2, 3))), desc="int ^ t"),
                          Sample((ints(rng, (0, 3)), 6), desc="empty, int scalar")],
             _bitwise_float_errors("bitwise_xor_cpu"), variant="operator"),
    OpRecord("bitwise_xor", lambda a, b: dg.bitwise_xor(a, b), lambda a, b: T.bitwise_xor(a, b),
             lambda rng: [Sample((ints(rng, (2, 3)), ints(rng, (2, 1))), desc="ints broadcast"),
                          Sample((ints(rng, (0, 1)), ints(rng, (3,))), desc="empty x size-1"),
                          Sample((ints(rng, (2, 3), dtype=I8), np.array(-3)), desc="int8 x 0-d int64")]),
    OpRecord("bitwise_xor", lambda a, b: a.bitwise_xor(b), lambda a, b: a.bitwise_xor(b),
             lambda rng: [Sample((ints(rng, (2, 3), dtype=I32), 7), desc="int32 t.bitwise_xor(int)")],
             variant="method"),
    OpRecord("bitwise_left_shift", lambda a, b: a << b, lambda a, b: a << b,
             lambda rng: [Sample((ints(rng, (2, 3)), _shift_amounts(rng, (2, 3))), desc="edge shifts"),
                          Sample((_int8_edges(), _shift_amounts(rng, (8,), dtype=I8)), desc="int8 edge shifts"),
                          Sample((np.array([1, 3, 255, 128], U8), np.array([7, 1, 1, 200], U8)),
                                 desc="uint8 wraps, shift 200"),
                          Sample((_int8_edges(), 7), desc="int8 << 7 wraps"),
                          Sample((_int8_edges(), 300), desc="int8 << 300 (wraps to 44)"),
                          Sample((np.array([1, -1], I8), -255), desc="int8 << -255 (wraps to 1)"),
                          Sample((1, _shift_amounts(rng, (2, 3))), desc="1 << t"),
                          Sample((1, np.array([0, 6, 7, 8], I8)), desc="1 << int8 t"),
                          Sample((bools(rng, (3,)), 1), desc="bool << 1 is int64"),
                          Sample((np.array([3], U8), np.array([3], I8)), desc="u8 << i8 -> i16"),
                          Sample((ints(rng, (0, 3)), 2), desc="empty")],
             _shift_errors("lshift_cpu"), variant="operator"),
    OpRecord("bitwise_left_shift", lambda a, b: dg.bitwise_left_shift(a, b),
             lambda a, b: T.bitwise_left_shift(a, b),
             lambda rng: [Sample((ints(rng, (2, 3)), ints(rng, (2, 1), 0, 5)), desc="ints broadcast"),
                          Sample((ints(rng, (0, 1)), ints(rng, (3,), 0, 5)), desc="empty x size-1"),
                          Sample((ints(rng, (3,), dtype=I8), np.array(300)), desc="int8 x 0-d int64 300")]),
    OpRecord("bitwise_left_shift", lambda a, b: a.bitwise_left_shift(b), lambda a, b: a.bitwise_left_shift(b),
             lambda rng: [Sample((ints(rng, (2, 3), dtype=I32), 31), desc="int32 << 31")], variant="method"),
    OpRecord("bitwise_right_shift", lambda a, b: a >> b, lambda a, b: a >> b,
             lambda rng: [Sample((ints(rng, (2, 3)), _shift_amounts(rng, (2, 3))), desc="edge shifts"),
                          Sample((_int8_edges(), _shift_amounts(rng, (8,), dtype=I8)), desc="int8 edge shifts"),
                          Sample((np.array([255, 128, 7, 200], U8), np.array([7, 8, 1, 200], U8)),
                                 desc="uint8, shift 8 and 200"),
                          Sample((_int8_edges(), 300), desc="int8 >> 300 (wraps to 44)"),
                          Sample((np.array([-5, 5, -1]), -1), desc="negative shift: sign fill"),
                          Sample((256, _shift_amounts(rng, (2, 3))), desc="256 >> t"),
                          Sample((bools(rng, (3,)), 1), desc="bool >> 1 is int64"),
                          Sample((ints(rng, (0, 3)), 2), desc="empty")],
             _shift_errors("rshift_cpu"), variant="operator"),
    OpRecord("bitwise_right_shift", lambda a, b: dg.bitwise_right_shift(a, b),
             lambda a, b: T.bitwise_right_shift(a, b),
             lambda rng: [Sample((ints(rng, (2, 3), -100, 100), ints(rng, (2, 1), 0, 5)), desc="ints broadcast"),
                          Sample((ints(rng, (0, 1)), ints(rng, (3,), 0, 5)), desc="empty x size-1")]),
    OpRecord("bitwise_right_shift", lambda a, b: a.bitwise_right_shift(b), lambda a, b: a.bitwise_right_shift(b),
             lambda rng: [Sample((ints(rng, (2, 3), dtype=I32), 31), desc="int32 >> 31")], variant="method"),
)


# fmod: C's fmod (the dividend's sign), differentiable as PyTorch: g, and -g * trunc(a / b)
def _fmod_errors():
    return [MISMATCH,
            ErrorSample((np.array([5, -5]), np.array([2, 0])), exc=RuntimeError, match="ZeroDivisionError",
                        desc="int / 0"),
            ErrorSample((np.array([5, -5]), 0), exc=RuntimeError, match="ZeroDivisionError", desc="int / python 0"),
            ErrorSample((np.array([5, -5], I8), 256), exc=RuntimeError, match="ZeroDivisionError",
                        desc="int8 / 256 (wraps to 0)"),
            ErrorSample((np.array([True]), np.array([True])), exc=RuntimeError,
                        match='"fmod_cpu" not implemented for \'Bool\'', desc="bools"),
            ErrorSample((2.0, np.ones(2, F32)), exc=TypeError,
                        match=r"fmod\(\) received an invalid combination of arguments - got \(float, Tensor\)",
                        desc="number, tensor")]


_FMOD_SPECIALS = (np.array([5.0, -5.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 5.0, -5.0, 5.0, 3.0, -0.0, 1e30, 7.5], F32),
                  np.array([3.0, 3.0, 2.0, 2.0, 2.0, 2.0, 2.0, np.inf, -np.inf, 0.0, np.nan, -0.0, 3.0, -2.0], F32))

add(
    OpRecord("fmod", lambda a, b: dg.fmod(a, b), lambda a, b: T.fmod(a, b),
             binary_samples(_rem_num, _rem_den, dtypes=False, extra=[
                 lambda rng: Sample((_rem_num(rng, (2, 3)).astype(F64), _rem_den(rng, (3,))), desc="f64xf32"),
                 lambda rng: Sample(_FMOD_SPECIALS, desc="inf, nan, -0.0, x/0", grad=False),
                 lambda rng: Sample((_rem_num(rng, (2, 3)), -1.5), desc="t, python float"),
                 lambda rng: Sample((ints(rng, (6,)), np.array([2, -2, 3, -3, 4, 5])), desc="ints"),
                 lambda rng: Sample((ints(rng, (6,)), 1.5), desc="int t, python float"),
                 lambda rng: Sample((np.array([-128, 127, -7, 7], I8), np.array([-1, 3, 2, -2], I8)),
                                    desc="int8, -128 % -1"),
                 lambda rng: Sample((np.array([7, 200], U8), np.array([-2, 3], I8)), desc="u8, i8 -> i16"),
                 lambda rng: Sample((np.array([7, 200], U8), -3), desc="uint8, -3 wraps to 253"),
                 lambda rng: Sample((np.array([True, False]), 2), desc="bool, int")]),
             _fmod_errors),
    OpRecord("fmod", lambda a, b: a.fmod(b), lambda a, b: a.fmod(b),
             lambda rng: [Sample((_rem_num(rng, (2, 3)), _rem_den(rng, (2, 3))), desc="t.fmod(t)"),
                          Sample((_rem_num(rng, (2, 3)), 2), desc="t.fmod(int)"),
                          Sample((ints(rng, (2, 3)), -2), desc="int t.fmod(int)")],
             variant="method"),
)

# ============================================================================ unary math
_BOOL_IN = (np.array([True, False]),)
add(
    OpRecord("neg", lambda x: dg.neg(x), lambda x: T.neg(x), unary_samples(u),
             lambda: [ErrorSample(_BOOL_IN, exc=RuntimeError,
                                  match=r"Negation, the `-` operator, on a bool tensor is not supported",
                                  desc="bool")]),
    OpRecord("neg", lambda x: -x, lambda x: -x, unary_samples(u), variant="operator"),
    OpRecord("abs", lambda x: dg.abs(x), lambda x: T.abs(x), unary_samples(away),
             lambda: [ErrorSample(_BOOL_IN, exc=RuntimeError, match=r"not implemented for 'Bool'",
                                  desc="bool")]),
    OpRecord("sign", lambda x: dg.sign(x), lambda x: T.sign(x), unary_samples(away, extra=[
        lambda rng: Sample((np.array([0.0, -0.0, 1.5, -2.0], F32),), desc="zeros", numeric=False)])),
    OpRecord("exp", lambda x: dg.exp(x), lambda x: T.exp(x), unary_samples(u, extra=[
        lambda rng: Sample((bools(rng, (3,)),), desc="bool")])),
    OpRecord("log", lambda x: dg.log(x), lambda x: T.log(x), unary_samples(_pos, extra=[
        lambda rng: Sample((np.array([0.0, -1.0, 1.0], F32),), desc="log(0), log(-1)", grad=False)])),
    OpRecord("log1p", lambda x: dg.log1p(x), lambda x: T.log1p(x),
             unary_samples(lambda rng, s: u(rng, s, -0.5, 2.0))),
    OpRecord("sqrt", lambda x: dg.sqrt(x), lambda x: T.sqrt(x), unary_samples(_pos)),
    OpRecord("rsqrt", lambda x: dg.rsqrt(x), lambda x: T.rsqrt(x), unary_samples(_pos),
             rtol=2e-5),
    OpRecord("sin", lambda x: dg.sin(x), lambda x: T.sin(x), unary_samples(u)),
    OpRecord("cos", lambda x: dg.cos(x), lambda x: T.cos(x), unary_samples(u)),
    OpRecord("tanh", lambda x: dg.tanh(x), lambda x: T.tanh(x), unary_samples(u)),
    OpRecord("sigmoid", lambda x: dg.sigmoid(x), lambda x: T.sigmoid(x), unary_samples(u, extra=[
        lambda rng: Sample((np.array([-100.0, 100.0, 0.0], F32),), desc="saturated")])),
    OpRecord("relu", lambda x: dg.relu(x), lambda x: T.relu(x), unary_samples(away),
             lambda: [ErrorSample(_BOOL_IN, exc=RuntimeError,
                                  match="Boolean inputs not supported for relu", desc="bool")]),
    OpRecord("relu", lambda x: dg.nn.functional.relu(x), lambda x: T.nn.functional.relu(x),
             unary_samples(away, int_input=False), variant="F"),
)


# ============================================================================ clamp / where / masked_fill / cast
def _clamp_samples(rng):
    # values kept away from the bounds (-0.5, 0.7) so finite differences do not straddle them
    def x(shape):
        v = u(rng, shape, -2, 2)
        return np.where(np.abs(v + 0.5) < 0.1, v - 0.3, np.where(np.abs(v - 0.7) < 0.1, v + 0.3, v)
                        ).astype(F32)
    return [
        Sample((x((2, 3)),), {"min": -0.5, "max": 0.7}, "both"),
        Sample((x((4,)),), {"min": -0.5}, "min"),
        Sample((x((4,)),), {"max": 0.7}, "max"),
        Sample((x(()),), {"min": -0.5, "max": 0.7}, "0-d"),
        Sample((x((0, 3)),), {"min": -0.5}, "empty"),
        Sample((x((1, 1)),), {"min": -0.5, "max": 0.7}, "1x1"),
        Sample((ints(rng, (5,)),), {"min": -1, "max": 2}, "int, int bounds"),
        Sample((ints(rng, (5,)),), {"min": 0.5}, "int, float bound"),
        Sample((x((2, 3)).astype(F64),), {"min": -0.5, "max": 0.7}, "f64"),
        Sample((np.arange(5, dtype=F32),), {"min": 3, "max": 1}, "min>max", grad=False),
    ]


def _where_samples(rng):
    return [
        Sample((bools(rng, (2, 3)), u(rng, (2, 3)), u(rng, (2, 3))), desc="same"),
        Sample((bools(rng, (2, 1)), u(rng, (1, 3)), u(rng, ())), desc="broadcast"),
        Sample((bools(rng, (2, 3)), u(rng, (2, 3)), 0.0), desc="scalar other"),
        Sample((bools(rng, (3,)), 1.0, u(rng, (3,))), desc="scalar input"),
        Sample((bools(rng, (0, 3)), u(rng, (1, 3)), u(rng, (0, 1))), desc="empty"),
        Sample((bools(rng, (3,)), ints(rng, (3,)), u(rng, (3,))), desc="int, f32"),
        Sample((bools(rng, (3,)), ints(rng, (3,)), 0.5), desc="int, float"),
        Sample((bools(rng, (3,)), u(rng, (3,)).astype(F64), u(rng, (3,))), desc="f64, f32"),
        Sample((bools(rng, ()), u(rng, ()), u(rng, ())), desc="0-d"),
    ]


def _masked_fill_samples(rng):
    return [
        Sample((u(rng, (2, 3)), bools(rng, (2, 3)), 1.5), desc="same"),
        Sample((u(rng, (2, 3)), bools(rng, (1, 3)), -2.0), desc="broadcast mask"),
        Sample((u(rng, (2, 3)), bools(rng, (3,)), u(rng, ())), desc="0-d value tensor"),
        Sample((u(rng, (3,)), bools(rng, (2, 3)), 1.0), desc="mask larger than input"),
        Sample((u(rng, (0, 3)), bools(rng, (1, 3)), 1.0), desc="empty"),
        Sample((ints(rng, (4,)), bools(rng, (4,)), 1.5), desc="int input, float value"),
        Sample((u(rng, ()), bools(rng, ()), 3.0), desc="0-d"),
    ]


add(
    OpRecord("clamp", lambda x, **kw: dg.clamp(x, **kw), lambda x, **kw: T.clamp(x, **kw),
             _clamp_samples,
             lambda: [ErrorSample((np.zeros(3, F32),), exc=RuntimeError,
                                  match="At least one of 'min' or 'max' must not be None", desc="no bounds")]),
    OpRecord("clamp", lambda x, **kw: x.clip(**kw), lambda x, **kw: x.clip(**kw),
             lambda rng: _clamp_samples(rng)[:3], variant="clip"),
    OpRecord("where", lambda c, x, y: dg.where(c, x, y), lambda c, x, y: T.where(c, x, y),
             _where_samples,
             lambda: [ErrorSample((np.ones(2, bool), np.zeros(3, F32), 0.0), exc=RuntimeError,
                                  match=r"The size of tensor a \(2\) must match the size of tensor b \(3\)",
                                  desc="mismatch"),
                      ErrorSample((np.ones(2, F32), np.zeros(2, F32), 0.0), exc=RuntimeError,
                                  match="where expected condition to be a boolean tensor, but got a "
                                        "tensor with dtype Float", desc="float condition")]),
    OpRecord("where", lambda c, x, y: x.where(c, y), lambda c, x, y: x.where(c, y),
             lambda rng: _where_samples(rng)[:2], variant="method"),
    OpRecord("masked_fill", lambda x, m, v: dg.masked_fill(x, m, v),
             lambda x, m, v: T.masked_fill(x, m, v), _masked_fill_samples,
             lambda: [ErrorSample((np.zeros(3, F32), np.ones(3, I64), 1.0), exc=RuntimeError,
                                  match="masked_fill_ only supports boolean masks, but got mask with dtype",
                                  desc="int mask"),
                      ErrorSample((np.zeros(3, F32), np.ones(3, bool), np.ones(1, F32)), exc=RuntimeError,
                                  match="only supports a 0-dimensional value tensor, but got tensor with 1 dimension",
                                  desc="1-d value"),
                      ErrorSample((np.zeros(3, F32), np.ones(4, bool), 1.0), exc=RuntimeError,
                                  match=r"The size of tensor a \(4\) must match the size of tensor b \(3\)",
                                  desc="mismatch")]),
    OpRecord("cast", lambda x, dtype: x.to(dgdt(dtype)), lambda x, dtype: x.to(tdt(dtype)),
             lambda rng: [
                 Sample((u(rng, (2, 3)),), {"dtype": "float64"}, "f32->f64"),
                 Sample((u(rng, (2, 3)).astype(F64),), {"dtype": "float32"}, "f64->f32", numeric=False),
                 Sample((u(rng, (2, 3), -3, 3),), {"dtype": "int64"}, "f32->i64 (truncates)", grad=False),
                 Sample((ints(rng, (4,)),), {"dtype": "float32"}, "i64->f32"),
                 Sample((np.array([0.0, 0.5, -1.0], F32),), {"dtype": "bool"}, "f32->bool", grad=False),
                 Sample((bools(rng, (3,)),), {"dtype": "float32"}, "bool->f32"),
                 Sample((u(rng, (0, 2)),), {"dtype": "float64"}, "empty"),
                 Sample((u(rng, ()),), {"dtype": "float16"}, "0-d f32->f16", numeric=False),
             ], gradgrad=True),
    OpRecord("cast", lambda x: x.double(), lambda x: x.double(),
             lambda rng: [Sample((u(rng, (3,)),), desc="double()")], variant="double"),
)


# ============================================================================ reductions
def _red_samples(*, dtype_kw=False, empty_ok=True, tuple_dims=True, none_dim=True, gen=u,
                 ints_ok=False):
    def samples(rng):
        x3 = gen(rng, (2, 3, 4))
        out = [
            Sample((x3,), {"dim": 1}, "dim=1"),
            Sample((x3,), {"dim": -1, "keepdim": True}, "dim=-1 keepdim"),
            Sample((gen(rng, (5,)),), {"dim": 0}, "1-d"),
            Sample((gen(rng, ()),), {"dim": 0}, "0-d dim=0"),
            Sample((gen(rng, ()),), {"dim": -1, "keepdim": True}, "0-d dim=-1 keepdim"),
            Sample((gen(rng, (1, 1)),), {"dim": 0}, "1x1"),
            Sample((gen(rng, (2, 3)).astype(F64),), {"dim": 0}, "f64"),
        ]
        if none_dim:
            out += [Sample((gen(rng, (2, 3)),), {}, "all"),
                    Sample((gen(rng, (2, 3)),), {"dim": None, "keepdim": True}, "all keepdim")]
        if tuple_dims:
            out += [Sample((x3,), {"dim": (0, 2)}, "dim=(0,2)"),
                    Sample((x3,), {"dim": (-1, 0), "keepdim": True}, "dim=(-1,0) keepdim")]
        if empty_ok:
            out += [Sample((gen(rng, (0, 3)),), {"dim": 0}, "reduce size-0 dim"),
                    Sample((gen(rng, (0, 3)),), {"dim": 1, "keepdim": True}, "keep size-0 dim")]
        else:
            out += [Sample((gen(rng, (0, 3)),), {"dim": 1}, "keep size-0 dim")]
        if ints_ok:
            out += [Sample((ints(rng, (2, 3)),), {"dim": 1}, "i64"),
                    Sample((ints(rng, (2, 3), dtype=I32),), {}, "i32"),
                    Sample((bools(rng, (2, 3)),), {"dim": 0}, "bool")]
        if dtype_kw:
            out += [Sample((ints(rng, (2, 3)),), {"dim": 1, "dtype": "float64"}, "dtype=f64"),
                    Sample((gen(rng, (2, 3)),), {"dtype": "float64"}, "f32 dtype=f64")]
        return out
    return samples


def _kw_dtype(kw, conv):
    kw = dict(kw)
    if "dtype" in kw:
        kw["dtype"] = conv(kw["dtype"])
    return kw


def _dim_oob(n=3):
    return ErrorSample((np.zeros((2, 3), F32),), {"dim": n}, exc=IndexError,
                       match=rf"Dimension out of range \(expected to be in range of \[-2, 1\], but got {n}\)",
                       desc="dim out of range")


def _red(name, dgf, tf, **kw):
    return OpRecord(name, lambda x, **k: dgf(x, **_kw_dtype(k, dgdt)),
                    lambda x, **k: tf(x, **_kw_dtype(k, tdt)), **kw)


def _prod_samples(rng):
    x = u(rng, (2, 3, 4), 0.5, 1.5)
    return [
        Sample((x,), {"dim": 1}, "dim=1"),
        Sample((x,), {"dim": -1, "keepdim": True}, "keepdim"),
        Sample((u(rng, (2, 3), 0.5, 1.5),), {}, "all"),
        Sample((u(rng, ()),), {"dim": 0}, "0-d"),
        Sample((u(rng, (0, 3)),), {"dim": 0}, "empty"),
        Sample((np.array([[0.0, 2.0, 3.0], [1.5, 0.0, 0.0]], F32),), {"dim": 1}, "zeros"),
        Sample((np.array([0.0, 2.0, 3.0], F32),), {}, "one zero, all"),
        Sample((ints(rng, (2, 3), dtype=I32),), {}, "i32"),
        Sample((ints(rng, (2, 3)),), {"dim": 0, "dtype": "float64"}, "dtype=f64"),
    ]


def _ties(rng):
    # a max shared by several elements is not differentiable: compare with PyTorch's subgradient
    return Sample((np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], F32),), {"dim": 1}, "ties", numeric=False)


def _ext_samples(rng):
    s = _red_samples(empty_ok=False)(rng)
    return s + [_ties(rng), Sample((np.array([[1.0, 3.0, 3.0], [3.0, 2.0, 0.0]], F32),), {}, "ties, all", numeric=False),
                Sample((ints(rng, (2, 3)),), {"dim": 0}, "i64")]


def _ext_errors(name):
    return lambda: [_dim_oob(), ErrorSample((np.zeros((0, 3), F32),), {"dim": 0}, exc=IndexError,
                                            match=rf"{name}\(\): Expected reduction dim 0 to have non-zero size",
                                            desc="empty dim"),
                    ErrorSample((np.zeros((0, 3), F32),), {}, exc=RuntimeError,
                                match=rf"{name}\(\): Expected reduction dim to be specified for "
                                      r"input.numel\(\) == 0", desc="empty, all")]


def _arg_samples(rng):
    x = u(rng, (2, 3, 4))
    return [
        Sample((x,), {"dim": 1}, "dim=1"), Sample((x,), {"dim": -1, "keepdim": True}, "keepdim"),
        Sample((x,), {}, "all"), Sample((x,), {"dim": None, "keepdim": True}, "all keepdim"),
        Sample((u(rng, ()),), {"dim": 0}, "0-d"), Sample((u(rng, ()),), {}, "0-d all"),
        Sample((u(rng, (0, 3)),), {"dim": 1}, "empty kept"), _ties(rng),
        Sample((ints(rng, (2, 3)),), {"dim": 0}, "i64"),
    ]


def _arg_errors(name):
    return lambda: [_dim_oob(),
                    ErrorSample((np.zeros((0, 3), F32),), {"dim": 0}, exc=IndexError,
                                match=rf"{name}\(\): Expected reduction dim 0 to have non-zero size",
                                desc="empty dim"),
                    ErrorSample((np.zeros((0, 3), F32),), {}, exc=IndexError,
                                match=rf"{name}\(\): Expected reduction dim to be specified for "
                                      r"input.numel\(\) == 0", desc="empty, all")]


def _var_samples(rng):
    base = _red_samples(empty_ok=False)(rng)
    # a single-element reduction with correction=1 is nan (0/0): no finite differences there
    base = [s if "0-d" not in s.desc and "1x1" not in s.desc else Sample(s.args, s.kwargs, s.desc, numeric=False)
            for s in base]
    return base + [
        Sample((u(rng, (3, 4)),), {"dim": 1, "correction": 0}, "correction=0"),
        Sample((u(rng, (3, 4)),), {"dim": 0, "correction": 2}, "correction=2"),
        Sample((u(rng, (3, 4)),), {"dim": 1, "unbiased": False}, "unbiased=False"),
    ]


_FLOAT_ONLY_VAR = [ErrorSample((np.arange(3),), {}, exc=RuntimeError,
                               match="std and var only support floating point and complex dtypes",
                               desc="int input")]


def _softmax_samples(rng):
    return [
        Sample((u(rng, (2, 3)),), {"dim": 1}, "dim=1"),
        Sample((u(rng, (2, 3, 4)),), {"dim": 0}, "dim=0"),
        Sample((u(rng, (2, 3, 4)),), {"dim": -2}, "dim=-2"),
        Sample((u(rng, ()),), {"dim": 0}, "0-d"),
        Sample((u(rng, (1, 1)),), {"dim": -1}, "1x1"),
        Sample((u(rng, (0, 3)),), {"dim": 1}, "empty rows"),
        Sample((u(rng, (2, 0)),), {"dim": 1}, "empty softmax dim"),
        Sample((u(rng, (2, 3)).astype(F64),), {"dim": 1}, "f64"),
        Sample((np.array([[1e4, 0.0, -1e4]], F32),), {"dim": 1}, "large", grad=False),
    ]


def _softmax_errors(name):
    return lambda: [_dim_oob(), ErrorSample((np.arange(3),), {"dim": 0}, exc=RuntimeError,
                                            match=rf"\"{name}_lastdim_kernel_impl\" not implemented for 'Long'",
                                            desc="int input")]


def _lse_samples(rng):
    s = _red_samples(none_dim=False)(rng)
    return s + [Sample((ints(rng, (2, 3)),), {"dim": 1}, "int input"),
                Sample((np.array([[-np.inf, -np.inf], [0.0, 1e4]], F32),), {"dim": 1}, "infinite, large",
                       grad=False)]


add(
    _red("sum", dg.sum, T.sum, samples=_red_samples(dtype_kw=True, ints_ok=True),
         errors=lambda: [_dim_oob()]),
    OpRecord("sum", lambda x, **k: x.sum(**k), lambda x, **k: x.sum(**k),
             lambda rng: [Sample((u(rng, (2, 3)),), {"dim": ()}, "dim=() means all"),
                          Sample((u(rng, (2, 3)),), {"dim": [0, 1]}, "dim list"),
                          Sample((u(rng, (2, 3)),), {}, "all")], variant="method"),
    _red("mean", dg.mean, T.mean, samples=lambda rng: _red_samples()(rng) + [
        Sample((u(rng, (2, 3)),), {"dim": 1, "dtype": "float64"}, "f32, dtype=f64"),
        Sample((ints(rng, (2, 3)),), {"dtype": "float32"}, "int, dtype=f32")],
         errors=lambda: [_dim_oob(), ErrorSample(
             (np.arange(3),), {}, exc=RuntimeError,
             match=r"mean\(\): could not infer output dtype. Input dtype must be either a floating "
                   r"point or complex dtype. Got: Long", desc="int input")]),
    _red("prod", dg.prod, T.prod, samples=_prod_samples, errors=lambda: [_dim_oob()]),
    _red("amax", dg.amax, T.amax, samples=_ext_samples, errors=_ext_errors("amax")),
    _red("amin", dg.amin, T.amin, samples=_ext_samples, errors=_ext_errors("amin")),
    OpRecord("amax", lambda x: dg.max(x), lambda x: T.max(x),
             lambda rng: [Sample((u(rng, (2, 3)),), desc="all"),
                          Sample((np.array([[1.0, 3.0, 3.0]], F32),), desc="ties", numeric=False)],
             lambda: [ErrorSample((np.zeros((0, 3), F32),), exc=RuntimeError,
                                  match=r"max\(\): Expected reduction dim to be specified",
                                  desc="empty")], variant="max_all"),
    OpRecord("argmax", lambda x, dim, keepdim=False: dg.max(x, dim, keepdim),
             lambda x, dim, keepdim=False: T.max(x, dim, keepdim),
             lambda rng: [Sample((u(rng, (2, 3)),), {"dim": 1}, "dim=1"),
                          Sample((u(rng, (2, 3, 2)),), {"dim": 0, "keepdim": True}, "keepdim"),
                          _ties(rng), Sample((u(rng, ()),), {"dim": 0}, "0-d"),
                          Sample((u(rng, (0, 3)),), {"dim": 1}, "empty kept")],
             lambda: [ErrorSample((np.zeros((0, 3), F32),), {"dim": 0}, exc=IndexError,
                                  match=r"max\(\): Expected reduction dim 0 to have non-zero size",
                                  desc="empty dim", xfail=None)],
             variant="max_dim",
             notes="(values, indices); PyTorch sends the gradient to the index only"),
    OpRecord("argmin", lambda x, dim, keepdim=False: dg.min(x, dim, keepdim),
             lambda x, dim, keepdim=False: T.min(x, dim, keepdim),
             lambda rng: [Sample((u(rng, (2, 3)),), {"dim": 1}, "dim=1"), _ties(rng)],
             variant="min_dim"),
    _red("all", dg.all, T.all, samples=lambda rng: _red_samples(gen=lambda r, s: bools(r, s))(rng) + [
        Sample((ints(rng, (2, 3)),), {"dim": 1}, "i64"), Sample((u(rng, (2, 3)),), {}, "f32")],
         errors=lambda: [_dim_oob()]),
    _red("any", dg.any, T.any, samples=lambda rng: _red_samples(gen=lambda r, s: bools(r, s))(rng) + [
        Sample((ints(rng, (2, 3)),), {"dim": 1}, "i64"), Sample((u(rng, (2, 3)),), {}, "f32")],
         errors=lambda: [_dim_oob()]),
    OpRecord("all", lambda a, b: (a == b).all(), lambda a, b: (a == b).all(),
             lambda rng: [Sample((ints(rng, (2, 3)), ints(rng, (3,))), desc="(a == b).all()")],
             variant="method"),
    _red("argmax", dg.argmax, T.argmax, samples=_arg_samples, errors=_arg_errors("argmax")),
    _red("argmin", dg.argmin, T.argmin, samples=_arg_samples, errors=_arg_errors("argmin")),
    _red("var", dg.var, T.var, samples=_var_samples, errors=lambda: [_dim_oob()] + _FLOAT_ONLY_VAR,
         rtol=1e-4, atol=1e-5),
    _red("std", dg.std, T.std, samples=_var_samples, errors=lambda: [_dim_oob()] + _FLOAT_ONLY_VAR,
         rtol=1e-4, atol=1e-5),
    _red("logsumexp", dg.logsumexp, T.logsumexp, samples=_lse_samples, errors=lambda: [_dim_oob()],
         rtol=1e-5, atol=1e-5),
    _red("softmax", dg.softmax, T.softmax, samples=_softmax_samples, errors=_softmax_errors("softmax")),
    _red("log_softmax", dg.log_softmax, T.log_softmax, samples=_softmax_samples,
         errors=_softmax_errors("log_softmax"), atol=1e-5),
    OpRecord("softmax", lambda x, dim: dg.nn.functional.softmax(x, dim),
             lambda x, dim: T.nn.functional.softmax(x, dim),
             lambda rng: [Sample((u(rng, (2, 3)),), {"dim": -1}, "F")], variant="F"),
    OpRecord("count_ratio", lambda x, out: apply(op("count_ratio"), x, out), None,
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (2,))), desc="6/2"),
                          Sample((u(rng, (2, 3)), u(rng, ())), desc="6/1"),
                          Sample((u(rng, (0, 3)), u(rng, (0,))), desc="empty"),
                          Sample((u(rng, (4,)), u(rng, (4,))), desc="same")],
             value_check=lambda out, s: out.shape == () and out.dtype == F32 and float(out) == (
                 s.args[0].size // max(s.args[1].size, 1))),
)


# ============================================================================ linear algebra
def _mats(*shapes):
    def samples(rng):
        out = [Sample(tuple(u(rng, s) for s in ss), desc="x".join(map(str, ss))) for ss in shapes]
        a, b = shapes[0]
        out.append(Sample((u(rng, a).astype(F64), u(rng, b).astype(F64)), desc="f64"))
        out.append(Sample((ints(rng, a), ints(rng, b)), desc="i64"))
        return out
    return samples


add(
    OpRecord("mm", lambda a, b: dg.mm(a, b), lambda a, b: T.mm(a, b),
             _mats(((2, 3), (3, 4)), ((1, 1), (1, 5)), ((0, 3), (3, 2)), ((2, 0), (0, 3)), ((3, 2), (2, 0))),
             lambda: [
                 ErrorSample((np.zeros((2, 3), F32), np.zeros((4, 2), F32)), exc=RuntimeError,
                             match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x2\)", desc="k"),
                 ErrorSample((np.zeros(3, F32), np.zeros((3, 2), F32)), match="self must be a matrix",
                             desc="1-d self"),
                 ErrorSample((np.zeros((2, 3), F32), np.zeros(3, F32)), match="mat2 must be a matrix",
                             desc="1-d mat2"),
                 ErrorSample((np.zeros((2, 3), F32), np.zeros((3, 2), F64)),
                             match="expected m1 and m2 to have the same dtype, but got: float != double",
                             desc="dtype"),
             ], atol=1e-5),
    OpRecord("bmm", lambda a, b: dg.bmm(a, b), lambda a, b: T.bmm(a, b),
             _mats(((2, 2, 3), (2, 3, 4)), ((1, 1, 1), (1, 1, 3)), ((0, 2, 3), (0, 3, 1)), ((2, 2, 0), (2, 0, 3))),
             lambda: [
                 ErrorSample((np.zeros((2, 2, 3), F32), np.zeros((2, 4, 2), F32)),
                             match=r"Expected size for first two dimensions of batch2 tensor to be: "
                                   r"\[2, 3\] but got: \[2, 4\]\.", desc="k"),
                 ErrorSample((np.zeros((2, 2, 3), F32), np.zeros((3, 3, 2), F32)),
                             match=r"Expected size for first two dimensions of batch2 tensor to be: "
                                   r"\[2, 3\] but got: \[3, 3\]\.", desc="batch"),
                 ErrorSample((np.zeros((2, 3), F32), np.zeros((2, 3, 2), F32)),
                             match="batch1 must be a 3D tensor", desc="2-d"),
                 ErrorSample((np.zeros((2, 2, 3), F32), np.zeros((2, 3, 2), F64)),
                             match="expected scalar type Float but found Double", desc="dtype"),
             ], atol=1e-5),
    OpRecord("dot", lambda a, b: dg.dot(a, b), lambda a, b: T.dot(a, b),
             _mats(((3,), (3,)), ((1,), (1,)), ((0,), (0,))),
             lambda: [
                 ErrorSample((np.zeros((2, 3), F32), np.zeros(2, F32)),
                             match="1D tensors expected, but got 2D and 1D tensors", desc="2-d"),
                 ErrorSample((np.zeros(3, F32), np.zeros(2, F32)),
                             match=r"inconsistent tensor size, expected tensor \[3\] and src \[2\] to have "
                                   r"the same number of elements, but got 3 and 2 elements respectively",
                             desc="size"),
                 ErrorSample((np.zeros(3, F32), np.zeros(3, F64)),
                             match="dot : expected both vectors to have same dtype, but found Float and Double",
                             desc="dtype"),
             ], atol=1e-5),
    OpRecord("matmul", lambda a, b: dg.matmul(a, b), lambda a, b: T.matmul(a, b),
             _mats(((2, 3), (3, 4)), ((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 2, 3), (3,)),
                   ((3,), (2, 3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((2, 2, 3), (3, 4)), ((0, 2, 3), (3, 1)),
                   ((2, 0), (0, 3)), ((1, 2, 3), (5, 3, 1))),
             lambda: [
                 ErrorSample((np.zeros((2, 3), F32), np.asarray(1.0, F32)),
                             match="both arguments to matmul need to be at least 1D, but they are 2D and 0D",
                             desc="0-d"),
                 ErrorSample((np.zeros((2, 2, 3), F32), np.zeros((2, 4, 2), F32)),
                             match=r"Expected size for first two dimensions of batch2 tensor to be: "
                                   r"\[2, 3\] but got: \[2, 4\]\.", desc="batched k"),
                 ErrorSample((np.zeros((2, 3), F32), np.zeros(4, F32)),
                             match=r"size mismatch, got input \(2\), mat \(2x3\), vec \(4\)", desc="mat-vec"),
                 ErrorSample((np.zeros(4, F32), np.zeros((3, 2), F32)),
                             match=r"mat1 and mat2 shapes cannot be multiplied \(1x4 and 3x2\)", desc="vec-mat"),
                 ErrorSample((np.zeros((2, 3), F32), np.zeros((4, 2), F32)),
                             match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x2\)", desc="mat-mat"),
                 ErrorSample((np.zeros((2, 3), F32), np.zeros((3, 2), F64)),
                             match="expected m1 and m2 to have the same dtype, but got: float != double",
                             desc="dtype"),
                 ErrorSample((np.zeros((2, 2, 3), F32), np.zeros((2, 3, 2), F64)),
                             match="expected scalar type Float but found Double", desc="dtype batched"),
                 ErrorSample((np.zeros((2, 2, 3), F32), np.zeros(3, F64)), desc="dtype mat-vec"),
             ], atol=1e-5),
    OpRecord("matmul", lambda a, b: a @ b, lambda a, b: a @ b,
             _mats(((2, 3), (3, 4)), ((4, 1, 2, 3), (3,))), variant="operator", atol=1e-5),
    OpRecord("outer", lambda a, b: dg.outer(a, b), lambda a, b: T.outer(a, b),
             lambda rng: [Sample((u(rng, (3,)), u(rng, (4,))), desc="3x4"),
                          Sample((u(rng, (1,)), u(rng, (0,))), desc="1x0"),
                          Sample((u(rng, (2,)), ints(rng, (3,))), desc="f32 x i64"),
                          Sample((ints(rng, (2,), dtype=I32), ints(rng, (3,))), desc="i32 x i64"),
                          Sample((u(rng, (2,)).astype(F64), u(rng, (2,))), desc="f64 x f32")],
             lambda: [ErrorSample((np.zeros((2, 3), F32), np.zeros(2, F32)),
                                  match="outer: Expected 1-D argument self, but got 2-D", desc="2-d self"),
                      ErrorSample((np.zeros(2, F32), np.zeros((2, 3), F32)),
                                  match="outer: Expected 1-D argument vec2, but got 2-D", desc="2-d vec2")]),
)


# ============================================================================ shape and views
def _reshape_samples(rng):
    return [
        Sample((u(rng, (2, 3)),), {"shape": (3, 2)}, "2x3->3x2"),
        Sample((u(rng, (2, 3)),), {"shape": (-1,)}, "flatten"),
        Sample((u(rng, (6,)),), {"shape": (1, 2, -1)}, "-1 last"),
        Sample((u(rng, ()),), {"shape": (1, 1)}, "0-d->1x1"),
        Sample((u(rng, (1,)),), {"shape": ()}, "1->0-d"),
        Sample((u(rng, (0, 3)),), {"shape": (3, 0)}, "empty"),
        Sample((u(rng, (0, 3)),), {"shape": (-1, 3)}, "empty -1"),
        Sample((ints(rng, (2, 3)),), {"shape": (6, 1)}, "int"),
    ]


_RESHAPE_ERRORS = [
    ErrorSample((np.zeros(6, F32),), {"shape": (4, 2)}, match=r"shape '\[4, 2\]' is invalid for input of size 6",
                desc="size"),
    ErrorSample((np.zeros(6, F32),), {"shape": (-1, -1)}, match="only one dimension can be inferred",
                desc="two -1"),
    ErrorSample((np.zeros(6, F32),), {"shape": (-2, 3)}, match="invalid shape dimension -2", desc="-2"),
    ErrorSample((np.zeros((0, 3), F32),), {"shape": (-1, 0)},
                match=r"cannot reshape tensor of 0 elements into shape \[-1, 0\] because the unspecified "
                      "dimension size -1 can be any value and is ambiguous", desc="0 elements, -1"),
]


def _transpose_samples(rng):
    return [
        Sample((u(rng, (2, 3)),), {"dim0": 0, "dim1": 1}, "2-d"),
        Sample((u(rng, (2, 3, 4)),), {"dim0": -1, "dim1": 0}, "3-d negative"),
        Sample((u(rng, (2, 3)),), {"dim0": 1, "dim1": 1}, "same dim"),
        Sample((u(rng, ()),), {"dim0": 0, "dim1": -1}, "0-d"),
        Sample((u(rng, (0, 3)),), {"dim0": 0, "dim1": 1}, "empty"),
    ]


def _permute_samples(rng):
    return [
        Sample((u(rng, (2, 3, 4)),), {"dims": (2, 0, 1)}, "3-d"),
        Sample((u(rng, (2, 3)),), {"dims": (-1, 0)}, "negative"),
        Sample((u(rng, ()),), {"dims": ()}, "0-d"),
        Sample((u(rng, (1, 0, 2)),), {"dims": (1, 2, 0)}, "empty"),
    ]


def _expand_samples(rng):
    return [
        Sample((u(rng, (3, 1)),), {"size": (3, 4)}, "3x1->3x4"),
        Sample((u(rng, (1,)),), {"size": (2, 3)}, "lead dims"),
        Sample((u(rng, ()),), {"size": (2,)}, "0-d"),
        Sample((u(rng, (3, 1)),), {"size": (-1, 4)}, "-1 keeps"),
        Sample((u(rng, (1, 3)),), {"size": (0, 3)}, "to size 0"),
        Sample((u(rng, (2, 3)),), {"size": (2, 3)}, "same"),
        Sample((u(rng, (0, 1)),), {"size": (2, 0, 3)}, "size-0 input"),
    ]


def _squeeze_samples(rng):
    return [
        Sample((u(rng, (1, 3, 1)),), {}, "all"),
        Sample((u(rng, (1, 3, 1)),), {"dim": 0}, "dim=0"),
        Sample((u(rng, (1, 3, 1)),), {"dim": 1}, "non-1 dim kept"),
        Sample((u(rng, (1, 3, 1)),), {"dim": (0, -1)}, "tuple"),
        Sample((u(rng, ()),), {"dim": 0}, "0-d"),
        Sample((u(rng, (1, 0)),), {}, "empty"),
    ]


def _unsqueeze_samples(rng):
    return [Sample((u(rng, (2, 3)),), {"dim": d}, f"dim={d}") for d in (0, 1, 2, -1, -3)] + [
        Sample((u(rng, ()),), {"dim": 0}, "0-d"), Sample((u(rng, (0,)),), {"dim": -1}, "empty")]


def _sq_err(n):
    return [ErrorSample((np.zeros((2, 3), F32),), {"dim": n}, exc=IndexError,
                        match=r"Dimension out of range \(expected to be in range of ", desc="dim")]


add(
    OpRecord("reshape", lambda x, shape: dg.reshape(x, shape), lambda x, shape: T.reshape(x, shape),
             _reshape_samples, lambda: _RESHAPE_ERRORS),
    OpRecord("reshape", lambda x, shape: x.reshape(*shape), lambda x, shape: x.reshape(*shape),
             lambda rng: _reshape_samples(rng)[:3], variant="method"),
    OpRecord("reshape", lambda x, start_dim=0, end_dim=-1: dg.flatten(x, start_dim, end_dim),
             lambda x, start_dim=0, end_dim=-1: T.flatten(x, start_dim, end_dim),
             lambda rng: [Sample((u(rng, (2, 3, 4)),), {}, "all"),
                          Sample((u(rng, (2, 3, 4)),), {"start_dim": 1}, "from 1"),
                          Sample((u(rng, (2, 3, 4)),), {"end_dim": -2}, "to -2"),
                          Sample((u(rng, ()),), {}, "0-d"),
                          Sample((u(rng, (2, 0, 4)),), {"start_dim": 1}, "empty")],
             lambda: [ErrorSample((np.zeros((2, 3, 4), F32),), {"start_dim": 2, "end_dim": 1},
                                  match="flatten\\(\\) has invalid args: start_dim cannot come after end_dim",
                                  desc="start>end")],
             variant="flatten"),
    OpRecord("view", lambda x, shape: x.view(shape), lambda x, shape: x.view(shape), _reshape_samples,
             lambda: _RESHAPE_ERRORS),
    OpRecord("view", lambda x, shape: x.transpose(0, 1).view(shape),
             lambda x, shape: x.transpose(0, 1).view(shape),
             lambda rng: [Sample((u(rng, (2, 1)),), {"shape": (2,)}, "transposed, still viewable"),
                          Sample((u(rng, (3, 4)),), {"shape": (4, 1, 3)}, "insert a size-1 dim")],
             lambda: [ErrorSample((np.zeros((2, 3), F32),), {"shape": (6,)},
                                  match="view size is not compatible with input tensor's size and stride",
                                  desc="non-contiguous")],
             variant="noncontiguous"),
    OpRecord("reshape_like", lambda x, like: apply(op("reshape_like"), x, like), None,
             lambda rng: [Sample((u(rng, (2, 3)), ints(rng, (3, 2))), desc="2x3 like 3x2"),
                          Sample((u(rng, (4,)), ints(rng, (1, 4, 1))), desc="insert 1s"),
                          Sample((u(rng, (0, 2)), ints(rng, (2, 0))), desc="empty")]),
    OpRecord("transpose", lambda x, dim0, dim1: dg.transpose(x, dim0, dim1),
             lambda x, dim0, dim1: T.transpose(x, dim0, dim1), _transpose_samples,
             lambda: [ErrorSample((np.zeros((2, 3), F32),), {"dim0": 0, "dim1": 2}, exc=IndexError,
                                  match=r"Dimension out of range \(expected to be in range of \[-2, 1\], "
                                        r"but got 2\)", desc="dim")]),
    OpRecord("transpose", lambda x: x.t(), lambda x: x.t(),
             lambda rng: [Sample((u(rng, (2, 3)),), desc="2-d"), Sample((u(rng, (0, 3)),), desc="empty")],
             lambda: [ErrorSample((np.zeros((2, 3, 4), F32),),
                                  match="t\\(\\) expects a tensor with <= 2 dimensions, but self is 3D",
                                  desc="3-d")],
             variant="t"),
    OpRecord("transpose", lambda x: x.mT, lambda x: x.mT,
             lambda rng: [Sample((u(rng, (2, 3, 4)),), desc="3-d")], variant="mT"),
    OpRecord("permute", lambda x, dims: dg.permute(x, dims), lambda x, dims: T.permute(x, dims),
             _permute_samples,
             lambda: [ErrorSample((np.zeros((2, 3), F32),), {"dims": (0, 1, 2)},
                                  match="number of dimensions in the tensor input does not match the length "
                                        r"of the desired ordering of dimensions i.e. input.dim\(\) = 2 is not "
                                        r"equal to len\(dims\) = 3", desc="length"),
                      ErrorSample((np.zeros((2, 3), F32),), {"dims": (0, 0)},
                                  match=r"permute\(\): duplicate dims are not allowed.", desc="duplicate"),
                      ErrorSample((np.zeros((2, 3), F32),), {"dims": (0, 2)}, exc=IndexError,
                                  match=r"Dimension out of range", desc="out of range")]),
    OpRecord("permute", lambda x: x.T, lambda x: x.T,
             lambda rng: [Sample((u(rng, (2, 3)),), desc="2-d"), Sample((u(rng, (1, 0)),), desc="empty")],
             variant="T"),
    OpRecord("expand", lambda x, size: x.expand(*size), lambda x, size: x.expand(*size), _expand_samples,
             lambda: [
                 ErrorSample((np.zeros((2, 3), F32),), {"size": (2, 4)},
                             match=r"The expanded size of the tensor \(4\) must match the existing size \(3\) at "
                                   r"non-singleton dimension 1.  Target sizes: \[2, 4\].  Tensor sizes: \[2, 3\]",
                             desc="mismatch"),
                 ErrorSample((np.zeros((2, 3), F32),), {"size": (3,)},
                             match=r"the number of sizes provided \(1\) must be greater or equal to the number "
                                   r"of dimensions in the tensor \(2\)", desc="too few"),
                 ErrorSample((np.zeros((2, 3), F32),), {"size": (-1, 2, 3)},
                             match=r"The expanded size of the tensor \(-1\) isn't allowed in a leading, "
                                   "non-existing dimension 0", desc="-1 leading"),
             ]),
    OpRecord("expand", lambda x, y: x.expand_as(y), lambda x, y: x.expand_as(y),
             lambda rng: [Sample((u(rng, (3, 1)), u(rng, (2, 3, 4))), desc="expand_as", no_grad_args=(1,))],
             variant="expand_as"),
    OpRecord("squeeze", lambda x, **kw: dg.squeeze(x, **kw), lambda x, **kw: T.squeeze(x, **kw),
             _squeeze_samples, lambda: _sq_err(2)),
    OpRecord("unsqueeze", lambda x, dim: dg.unsqueeze(x, dim), lambda x, dim: T.unsqueeze(x, dim),
             _unsqueeze_samples, lambda: _sq_err(3)),
    OpRecord("contiguous", lambda x: x.transpose(0, -1).contiguous(),
             lambda x: x.transpose(0, -1).contiguous(),
             lambda rng: [Sample((u(rng, (2, 3)),), desc="2-d"), Sample((u(rng, (2, 3, 4)),), desc="3-d"),
                          Sample((ints(rng, (3, 2)),), desc="int"), Sample((u(rng, (0, 2)),), desc="empty"),
                          Sample((u(rng, (1, 3)),), desc="1x3")]),
    OpRecord("clone", lambda x: x.clone(), lambda x: x.clone(), unary_samples(u)),
    OpRecord("copy", lambda x, y: (x * 1).copy_(y), lambda x, y: (x * 1).copy_(y),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (2, 3))), desc="same shape"),
                          Sample((u(rng, (2, 3)), u(rng, (3,))), desc="broadcast source"),
                          Sample((u(rng, (2, 3)), u(rng, ())), desc="0-d source"),
                          Sample((u(rng, ()), u(rng, ())), desc="0-d"),
                          Sample((u(rng, (0, 3)), u(rng, (3,))), desc="empty")]),
)


# ---------------------------------------------------------------------------- indexing
def _getitem_samples(rng):
    x = u(rng, (3, 4, 2))
    return [
        Sample((x,), {"key": 1}, "int"),
        Sample((x,), {"key": -1}, "negative int"),
        Sample((x,), {"key": (slice(0, 2), 1)}, "slice, int"),
        Sample((x,), {"key": (slice(None, None, 2), Ellipsis, 0)}, "step, ellipsis"),
        Sample((x,), {"key": (None, 0, slice(1, 3))}, "None"),
        Sample((x,), {"key": (slice(5, 9),)}, "empty slice"),
        Sample((x, np.array([0, 2, 0])), {"key": Arg(0)}, "int tensor (repeated)"),
        Sample((x, np.array([[0, 1], [2, 2]])), {"key": (slice(None), Arg(0))}, "2-d int tensor, dim 1"),
        Sample((x, np.array([0, 2]), np.array([1, 3])), {"key": (Arg(0), Arg(1))}, "two int tensors"),
        Sample((x, np.array([0, 2]), np.array([1, 0])), {"key": (Arg(0), slice(None), Arg(1))},
               "separated advanced indices"),
        Sample((x, bools(rng, (3, 4))), {"key": Arg(0)}, "bool mask"),
        Sample((x, np.array([True, False, True])), {"key": (Arg(0), 1)}, "bool mask + int"),
        Sample((u(rng, ()),), {"key": (None,)}, "0-d, None"),
        Sample((u(rng, ()),), {"key": Ellipsis}, "0-d, ..."),
        Sample((u(rng, (0, 3)),), {"key": (slice(None), 1)}, "empty"),
        Sample((x, np.array([], I64)), {"key": Arg(0)}, "empty int tensor"),
        Sample((ints(rng, (4,)),), {"key": slice(1, 3)}, "int input"),
    ]


def _getitem_errors():
    x = np.zeros(3, F32)
    return [
        ErrorSample((x,), {"key": 5}, exc=IndexError,
                    match="index 5 is out of bounds for dimension 0 with size 3", desc="int oob"),
        ErrorSample((x,), {"key": (0, 0)}, exc=IndexError,
                    match="too many indices for tensor of dimension 1", desc="too many"),
        ErrorSample((x, np.array([0.0], F32)), {"key": Arg(0)}, exc=IndexError,
                    match="tensors used as indices must be long, int, byte or bool tensors", desc="float index"),
        ErrorSample((x, np.array([5])), {"key": Arg(0)}, exc=IndexError,
                    match="index 5 is out of bounds for dimension 0 with size 3", desc="tensor oob"),
        ErrorSample((x,), {"key": slice(None, None, -1)}, exc=ValueError,
                    match="step must be greater than zero", desc="negative step"),
        ErrorSample((x, np.array([True, False])), {"key": Arg(0)}, exc=IndexError,
                    match=r"The shape of the mask \[2\] at index 0 does not match the shape of the indexed "
                          r"tensor \[3\] at index 0", desc="mask shape"),
    ]


def _getitem_grad_samples(rng):
    out = []
    for s in _getitem_samples(rng):
        x, *idx = s.args
        if x.dtype.kind != "f":
            continue
        g = u(rng, x[np_key(s.kwargs["key"], idx)].shape)
        out.append(Sample((g, x) + tuple(idx), s.kwargs, s.desc, no_grad_args=(1,)))
    return out


def _setitem(x, v, *idx, key):
    y = x.clone()
    y[fill_key(key, idx)] = v
    return y


def _setitem_samples(rng):
    x = u(rng, (3, 4))
    return [
        Sample((x, u(rng, (4,))), {"key": 1}, "row"),
        Sample((x, u(rng, (3, 1))), {"key": (slice(None), slice(1, 3))}, "broadcast value"),
        Sample((x, u(rng, ())), {"key": (0, 0)}, "element, 0-d value"),
        Sample((x, 2.5), {"key": (slice(None), 0)}, "python scalar"),
        Sample((x, u(rng, (2, 4)), np.array([2, 0])), {"key": Arg(0)}, "int tensor"),
        Sample((x, u(rng, ()), bools(rng, (3, 4))), {"key": Arg(0)}, "bool mask"),
        Sample((x, np.arange(5, dtype=F32), np.array([[True, False, True, False]] * 2 + [[False, True, False, False]])),
               {"key": Arg(0)}, "bool mask, one value per selected element"),
        Sample((x, u(rng, (3,)), np.array([True, False, True])), {"key": (Arg(0), slice(1, 4))},
               "bool rows, broadcast value"),
        Sample((x, u(rng, (0, 4))), {"key": slice(3, 3)}, "empty"),
    ]


add(
    OpRecord("getitem", lambda x, *idx, key: x[fill_key(key, idx)],
             lambda x, *idx, key: x[fill_key(key, idx)], _getitem_samples, _getitem_errors),
    OpRecord("getitem", lambda x, dim, start, length: dg.narrow(x, dim, start, length),
             lambda x, dim, start, length: T.narrow(x, dim, start, length),
             lambda rng: [Sample((u(rng, (4, 3)), 0, 1, 2), desc="dim 0"),
                          Sample((u(rng, (4, 3)), -1, 0, 0), desc="length 0")], variant="narrow"),
    OpRecord("getitem", lambda x, n, dim: dg.split(x, n, dim), lambda x, n, dim: T.split(x, n, dim),
             lambda rng: [Sample((u(rng, (5, 3)), 2, 0), desc="uneven"),
                          Sample((u(rng, (5, 4)), [1, 3], 1), desc="sections")], variant="split"),
    OpRecord("getitem", lambda x, n, dim: dg.chunk(x, n, dim), lambda x, n, dim: T.chunk(x, n, dim),
             lambda rng: [Sample((u(rng, (5, 3)), 2, 0), desc="2 chunks"),
                          Sample((u(rng, (6, 3)), 3, 0), desc="even")], variant="chunk"),
    OpRecord("getitem", lambda x, dim: dg.unbind(x, dim), lambda x, dim: T.unbind(x, dim),
             lambda rng: [Sample((u(rng, (3, 2)), 0), desc="dim 0"), Sample((u(rng, (3, 2)), -1), desc="dim -1")],
             variant="unbind"),
    OpRecord("getitem_grad",
             lambda g, x, *idx, key: apply(op("getitem_grad"), g, x, *idx, index=dg_template(key)), None,
             _getitem_grad_samples),
    OpRecord("index_put", _setitem, _setitem, _setitem_samples,
             lambda: [ErrorSample((np.zeros((3, 3), F32), np.ones(5, F32)), {"key": 0}, exc=RuntimeError,
                                  match=r"(shape mismatch|The expanded size of the tensor)",
                                  desc="value shape")]),
)


# ---------------------------------------------------------------------------- repeat / cat / stack / gather
def _cat_samples(rng):
    return [
        Sample((u(rng, (2, 3)), u(rng, (1, 3))), {"dim": 0}, "dim 0"),
        Sample((u(rng, (2, 3)), u(rng, (2, 1)), u(rng, (2, 2))), {"dim": -1}, "three, dim -1"),
        Sample((u(rng, (2, 3)), u(rng, (0, 3))), {"dim": 0}, "size-0 part"),
        Sample((u(rng, (2, 3)), np.zeros((0,), F32)), {"dim": 0}, "legacy empty 1-d"),
        Sample((u(rng, (3,)),), {"dim": 0}, "single"),
        Sample((ints(rng, (2, 2)), u(rng, (2, 2))), {"dim": 1}, "int + float"),
        Sample((u(rng, (2, 2)).astype(F64), u(rng, (1, 2))), {"dim": 0}, "f64 + f32"),
    ]


def _stack_samples(rng):
    return [
        Sample((u(rng, (2, 3)), u(rng, (2, 3))), {"dim": 0}, "dim 0"),
        Sample((u(rng, (2, 3)), u(rng, (2, 3)), u(rng, (2, 3))), {"dim": -1}, "dim -1"),
        Sample((u(rng, ()), u(rng, ())), {"dim": 0}, "0-d"),
        Sample((u(rng, (0, 3)), u(rng, (0, 3))), {"dim": 1}, "empty"),
        Sample((ints(rng, (2,)), u(rng, (2,))), {"dim": 0}, "int + float"),
    ]


def _gather_samples(rng):
    return [
        Sample((u(rng, (3, 4)), rng.integers(0, 3, size=(2, 4))), {"dim": 0}, "dim 0"),
        Sample((u(rng, (3, 4)), rng.integers(0, 4, size=(3, 2))), {"dim": 1}, "dim 1"),
        Sample((u(rng, (3, 4)), rng.integers(0, 4, size=(2, 5))), {"dim": -1}, "index larger on dim"),
        Sample((u(rng, (3, 4)), np.array([[0, 0], [0, 0]])), {"dim": 1}, "repeated"),
        Sample((u(rng, (4,)), np.array([3, 0])), {"dim": 0}, "1-d"),
        Sample((u(rng, ()), np.array(0)), {"dim": 0}, "0-d"),
        Sample((u(rng, (3, 4)), np.zeros((0, 4), I64)), {"dim": 0}, "empty index"),
    ]


add(
    OpRecord("repeat", lambda x, sizes: x.repeat(*sizes), lambda x, sizes: x.repeat(*sizes),
             lambda rng: [Sample((u(rng, (2, 3)),), {"sizes": (2, 1)}, "2,1"),
                          Sample((u(rng, (2, 3)),), {"sizes": (3, 2, 2)}, "lead"),
                          Sample((u(rng, ()),), {"sizes": (3,)}, "0-d"),
                          Sample((u(rng, (2,)),), {"sizes": (0,)}, "0 times"),
                          Sample((u(rng, (0, 2)),), {"sizes": (2, 2)}, "empty"),
                          Sample((ints(rng, (2,)),), {"sizes": (2,)}, "int")],
             lambda: [ErrorSample((np.zeros((2, 3), F32),), {"sizes": (2,)},
                                  match="Number of dimensions of repeat dims can not be smaller than number "
                                        "of dimensions of tensor", desc="too few"),
                      ErrorSample((np.zeros((2, 3), F32),), {"sizes": (2, -1)},
                                  match="Trying to create tensor with negative dimension -3: \\[4, -3\\]",
                                  desc="negative")]),
    OpRecord("cat", lambda *xs, dim: dg.cat(xs, dim), lambda *xs, dim: T.cat(xs, dim), _cat_samples,
             lambda: [
                 ErrorSample((np.zeros((2, 2), F32), np.zeros((3, 3), F32)), {"dim": 1},
                             match="Sizes of tensors must match except in dimension 1. Expected size 2 but "
                                   "got size 3 for tensor number 1 in the list.", desc="sizes"),
                 ErrorSample((np.zeros((2, 2), F32), np.zeros(3, F32)), {"dim": 0},
                             match="Tensors must have same number of dimensions: got 2 and 1", desc="ndim"),
                 ErrorSample((np.asarray(1.0, F32), np.asarray(2.0, F32)), {"dim": 0},
                             match=r"zero-dimensional tensor \(at position 0\) cannot be concatenated",
                             desc="0-d"),
                 ErrorSample((np.zeros((2, 2), F32), np.zeros((2, 2), F32)), {"dim": 2}, exc=IndexError,
                             match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)",
                             desc="dim"),
                 ErrorSample((), {"dim": 0}, exc=ValueError, match=r"expected a non-empty list of Tensors",
                             desc="no tensors"),
             ]),
    OpRecord("stack", lambda *xs, dim: dg.stack(xs, dim), lambda *xs, dim: T.stack(xs, dim), _stack_samples,
             lambda: [
                 ErrorSample((np.zeros((2, 3), F32), np.zeros(3, F32)), {"dim": 0},
                             match=r"stack expects each tensor to be equal size, but got \[2, 3\] at entry 0 "
                                   r"and \[3\] at entry 1", desc="sizes"),
                 ErrorSample((np.zeros((2, 3), F32), np.zeros((2, 3), F32)), {"dim": 3}, exc=IndexError,
                             match=r"Dimension out of range \(expected to be in range of \[-3, 2\], but got 3\)",
                             desc="dim"),
                 ErrorSample((), {"dim": 0}, match=r"stack expects a non-empty TensorList", desc="no tensors"),
             ]),
    OpRecord("stack", lambda a, b: dg.cartesian_prod(a, b), lambda a, b: T.cartesian_prod(a, b),
             lambda rng: [Sample((u(rng, (3,)), u(rng, (2,))), desc="3x2"),
                          Sample((u(rng, (3,)), u(rng, (0,))), desc="empty")],
             variant="cartesian_prod"),
    OpRecord("gather", lambda x, index, dim: dg.gather(x, dim, index),
             lambda x, index, dim: T.gather(x, dim, index), _gather_samples,
             lambda: [
                 ErrorSample((np.zeros(3, F32), np.array([5])), {"dim": 0},
                             match="index 5 is out of bounds for dimension 0 with size 3", desc="oob"),
                 ErrorSample((np.zeros(3, F32), np.array([-1])), {"dim": 0},
                             match="index -1 is out of bounds for dimension 0 with size 3", desc="negative"),
                 ErrorSample((np.zeros((3, 2), F32), np.array([1])), {"dim": 0},
                             match="Index tensor must have the same number of dimensions as input tensor",
                             desc="ndim"),
                 ErrorSample((np.zeros((3, 2), F32), np.array([[1, 1, 1]])), {"dim": 0},
                             match=r"Size does not match at dimension 1 expected index \[1, 3\] to be no "
                                   r"larger than self \[3, 2\] apart from dimension 0", desc="size"),
                 ErrorSample((np.zeros((3, 2), F32), np.array([[1, 1]])), {"dim": 2}, exc=IndexError,
                             match=r"Dimension out of range", desc="dim"),
             ]),
    OpRecord("gather", lambda x, index, dim: x.gather(dim, index), lambda x, index, dim: x.gather(dim, index),
             lambda rng: [Sample((u(rng, (3, 4)), rng.integers(0, 3, size=(2, 4)).astype(I32)), {"dim": 0},
                                 "int32 index")], variant="method_int32_index"),
    OpRecord("scatter_add_zeros",
             lambda g, index, like, dim: apply(op("scatter_add_zeros"), g, index, like, dim=dim), None,
             lambda rng: [Sample((u(rng, s.args[1].shape), s.args[1], s.args[0]), s.kwargs, s.desc,
                                 no_grad_args=(2,)) for s in _gather_samples(rng)]),
)


# ---------------------------------------------------------------------------- internal: broadcasting
def _sum_to_samples(rng):
    return [
        Sample((u(rng, (2, 3)),), {"shape": (1, 3)}, "keep dims"),
        Sample((u(rng, (4, 2, 3)),), {"shape": (3,)}, "lead dims"),
        Sample((u(rng, (4, 2, 3)),), {"shape": (2, 1)}, "mixed"),
        Sample((u(rng, (2, 3)),), {"shape": ()}, "to 0-d"),
        Sample((u(rng, (0, 3)),), {"shape": (1, 3)}, "from size 0"),
        Sample((u(rng, (2, 3)),), {"shape": (2, 3)}, "same"),
        Sample((u(rng, (1, 1)),), {"shape": (1,)}, "1x1"),
    ]


add(
    OpRecord("sum_to", lambda g, shape: apply(op("sum_to"), g, shape=shape),
             lambda g, shape: g.sum_to_size(*shape) if shape else g.sum(), _sum_to_samples),
    OpRecord("broadcast_to", lambda x, shape: apply(op("broadcast_to"), x, shape=shape),
             lambda x, shape: T.broadcast_to(x, shape),
             lambda rng: [Sample((u(rng, (1, 3)),), {"shape": (2, 3)}, "1->2"),
                          Sample((u(rng, (3,)),), {"shape": (4, 2, 3)}, "lead"),
                          Sample((u(rng, ()),), {"shape": (2, 2)}, "0-d"),
                          Sample((u(rng, (1, 3)),), {"shape": (0, 3)}, "to size 0"),
                          Sample((u(rng, (0, 1)),), {"shape": (2, 0, 3)}, "from size 0")]),
)


# ============================================================================ creation and random
def _full_samples(rng):
    return [
        Sample(((2, 3), 1.5), desc="float fill"), Sample(((2, 3), 7), desc="int fill"),
        Sample(((3,), True), desc="bool fill"), Sample(((0, 2), 1.0), desc="empty"),
        Sample(((), 2.0), desc="0-d"), Sample(((2,), 1), {"dtype": "float64"}, "dtype"),
    ]


def _size_samples(rng):
    return [Sample(((2, 3),), desc="2x3"), Sample(((0,),), desc="empty"), Sample(((),), desc="0-d"),
            Sample(((2, 1),), {"dtype": "float64"}, desc="f64")]


_NEG_SIZE = ErrorSample(((-1, 2),), match=r"Trying to create tensor with negative dimension -1: \[-1, 2\]",
                        desc="negative size")


def _creation(name, dgf, tf, samples, errors=lambda: [], **kw):
    return OpRecord(name, lambda *a, **k: dgf(*a, **_kw_dtype(k, dgdt)),
                    lambda *a, **k: tf(*a, **_kw_dtype(k, tdt)), samples, errors, **kw)


def _like_samples(rng):
    return [Sample((u(rng, (2, 3)),), desc="f32"), Sample((ints(rng, (3,)),), desc="i64"),
            Sample((u(rng, (0, 2)),), desc="empty"), Sample((u(rng, ()),), {"dtype": "float64"}, "dtype")]


def _in01(out, s):
    return bool(np.all((out >= 0) & (out < 1)))


add(
    _creation("full", lambda size, fill, **k: dg.full(size, fill, **k),
              lambda size, fill, **k: T.full(size, fill, **k), _full_samples,
              lambda: [ErrorSample(((-1, 2), 1.0), match=_NEG_SIZE.match, desc="negative size")]),
    _creation("full", lambda size, **k: dg.zeros(size, **k), lambda size, **k: T.zeros(size, **k),
              _size_samples, lambda: [ErrorSample(((-1, 2),), match="zeros: Dimension size must be non-negative",
                                                  desc="negative size")], variant="zeros"),
    _creation("full", lambda size, **k: dg.ones(*size, **k), lambda size, **k: T.ones(size, **k),
              _size_samples, lambda: [_NEG_SIZE], variant="ones"),
    _creation("empty", lambda size, **k: dg.empty(size, **k), lambda size, **k: T.empty(size, **k),
              _size_samples, lambda: [_NEG_SIZE], random=True),
    _creation("arange", lambda *a, **k: dg.arange(*a, **k), lambda *a, **k: T.arange(*a, **k),
              lambda rng: [Sample((5,), desc="int end"), Sample((1, 7, 2), desc="int start/end/step"),
                           Sample((0.0, 1.0, 0.1), desc="float step"), Sample((3, 3), desc="empty"),
                           Sample((5, 0, -1), desc="negative step"), Sample((2.5,), desc="float end"),
                           Sample((4,), {"dtype": "float64"}, "dtype")],
              lambda: [ErrorSample((0, 3, 0), match="step must be nonzero", desc="step 0"),
                       ErrorSample((0, 3, -1), match="upper bound and lower bound inconsistent with step sign",
                                   desc="sign")]),
    _creation("linspace", lambda *a, **k: dg.linspace(*a, **k), lambda *a, **k: T.linspace(*a, **k),
              lambda rng: [Sample((0.0, 1.0, 5), desc="5 steps"), Sample((-2, 3, 1), desc="1 step"),
                           Sample((0.0, 1.0, 0), desc="0 steps"), Sample((1.0, -1.0, 4), desc="decreasing"),
                           Sample((0, 1, 3), {"dtype": "float64"}, "dtype")],
              lambda: [ErrorSample((0.0, 1.0, -1), match="number of steps must be non-negative",
                                   desc="negative")]),
    _creation("eye", lambda *a, **k: dg.eye(*a, **k), lambda *a, **k: T.eye(*a, **k),
              lambda rng: [Sample((3,), desc="3"), Sample((2, 4), desc="2x4"), Sample((0,), desc="0"),
                           Sample((2,), {"dtype": "int64"}, "int")],
              lambda: [ErrorSample((-1,), match="n must be greater or equal to 0, got -1", desc="n<0"),
                       ErrorSample((2, -1), match="m must be greater or equal to 0, got -1", desc="m<0")]),
    _creation("full_like", lambda x, **k: dg.full_like(x, 2.5, **k), lambda x, **k: T.full_like(x, 2.5, **k),
              _like_samples),
    _creation("full_like", lambda x, **k: dg.zeros_like(x, **k), lambda x, **k: T.zeros_like(x, **k),
              _like_samples, variant="zeros_like"),
    _creation("full_like", lambda x, **k: dg.ones_like(x, **k), lambda x, **k: T.ones_like(x, **k),
              _like_samples, variant="ones_like"),
    _creation("rand", lambda size, **k: dg.rand(size, **k), lambda size, **k: T.rand(size, **k),
              _size_samples, lambda: [_NEG_SIZE], random=True, value_check=_in01),
    _creation("randn", lambda size, **k: dg.randn(*size, **k), lambda size, **k: T.randn(size, **k),
              _size_samples, lambda: [_NEG_SIZE], random=True,
              value_check=lambda out, s: bool(np.all(np.isfinite(out)))),
    _creation("randint", lambda *a, **k: dg.randint(*a, **k), lambda *a, **k: T.randint(*a, **k),
              lambda rng: [Sample((5, (2, 3)), desc="high, size"), Sample((-2, 3, (4,)), desc="low, high"),
                           Sample((0, 3, (0,)), desc="empty"), Sample((3, (2,)), {"dtype": "int32"}, "int32")],
              lambda: [ErrorSample((5, 5, (2,)), match="random_ expects 'from' to be less than 'to', but got "
                                                       "from=5 >= to=5", desc="empty range"),
                       ErrorSample((0, 5, (-2,)), match=r"Trying to create tensor with negative dimension -2",
                                   desc="negative size")],
              random=True,
              value_check=lambda out, s: bool(np.all((out >= (s.args[0] if len(s.args) == 3 else 0))
                                                     & (out < s.args[-2])))),
    _creation("rand_like", lambda x, **k: dg.rand_like(x, **k), lambda x, **k: T.rand_like(x, **k),
              lambda rng: [s for s in _like_samples(rng) if s.args[0].dtype.kind == "f"], random=True,
              value_check=_in01),
    _creation("randn_like", lambda x, **k: dg.randn_like(x, **k), lambda x, **k: T.randn_like(x, **k),
              lambda rng: [s for s in _like_samples(rng) if s.args[0].dtype.kind == "f"], random=True),
    OpRecord("bernoulli_keep", lambda x, p: apply(op("bernoulli_keep"), x, p=p),
             lambda x, p: T.bernoulli(T.full_like(x, 1 - p)),
             lambda rng: [Sample((u(rng, (4, 5)), 0.3), desc="p=0.3"), Sample((u(rng, (0, 2)), 0.5), desc="empty"),
                          Sample((u(rng, ()), 0.5), desc="0-d"),
                          Sample((u(rng, (50,)), 0.0), desc="p=0 keeps all"),
                          Sample((u(rng, (50,)), 1.0), desc="p=1 drops all")],
             random=True,
             value_check=lambda out, s: bool(np.all((out == 0) | (out == 1))) and (
                 s.args[1] not in (0.0, 1.0) or bool(np.all(out == 1 - s.args[1])))),
    OpRecord("uniform_like", lambda x, lo, hi: apply(op("uniform_like"), x, low=lo, high=hi),
             lambda x, lo, hi: T.empty_like(x).uniform_(lo, hi),
             lambda rng: [Sample((u(rng, (3, 4)), -1.0, 2.0), desc="[-1, 2)"),
                          Sample((u(rng, (3,)).astype(F64), 0.0, 1.0), desc="f64"),
                          Sample((u(rng, (0,)), 0.0, 1.0), desc="empty"), Sample((u(rng, (1, 1)), 0.0, 1.0), desc="1x1")],
             random=True, value_check=lambda out, s: bool(np.all((out >= s.args[1]) & (out <= s.args[2])))),
    OpRecord("uniform_like", lambda x, lo, hi: x.clone().uniform_(lo, hi),
             lambda x, lo, hi: x.clone().uniform_(lo, hi),
             lambda rng: [Sample((u(rng, (3, 4)), -1.0, 2.0), desc="[-1, 2)", grad=False)],
             random=True, variant="uniform_",
             value_check=lambda out, s: bool(np.all((out >= s.args[1]) & (out <= s.args[2])))),
    OpRecord("normal_like", lambda x, m, s: apply(op("normal_like"), x, mean=m, std=s),
             lambda x, m, s: T.empty_like(x).normal_(m, s),
             lambda rng: [Sample((u(rng, (3, 4)), 1.0, 0.5), desc="N(1, .5)"),
                          Sample((u(rng, (2,)).astype(F64), 0.0, 1.0), desc="f64"),
                          Sample((u(rng, (0,)), 0.0, 1.0), desc="empty"),
                          Sample((u(rng, (3, 1)), 5.0, 0.0), desc="std 0")],
             random=True,
             value_check=lambda out, s: bool(np.all(np.isfinite(out))) and (
                 s.args[2] != 0 or bool(np.all(out == s.args[1])))),
    OpRecord("one_hot", lambda x, n=-1: dg.nn.functional.one_hot(x, n),
             lambda x, n=-1: T.nn.functional.one_hot(x, n),
             lambda rng: [Sample((np.array([0, 2, 1]), 3), desc="3 classes"),
                          Sample((np.array([[0, 2], [1, 1]]),), desc="inferred"),
                          Sample((np.array(1), 2), desc="0-d"),
                          Sample((np.zeros(0, I64), 3), desc="empty")],
             lambda: [ErrorSample((np.array([1], I32), 3),
                                  match="one_hot is only applicable to index tensor of type LongTensor", desc="int32"),
                      ErrorSample((np.zeros(2, F32), 3),
                                  match="one_hot is only applicable to index tensor of type LongTensor", desc="float"),
                      ErrorSample((np.array([-1]), 3), match="Class values must be non-negative", desc="negative"),
                      ErrorSample((np.array([3]), 3), match="Class values must be smaller than num_classes",
                                  desc="too big"),
                      ErrorSample((np.zeros(0, I64),),
                                  match="Can not infer total number of classes from empty tensor", desc="empty, -1")]),
)


def records_for(name):
    return [r for r in RECORDS if r.op == name]


# ============================================================================ dtype promotion cases
@dataclass(frozen=True)
class PromotionCase:
    desc: str
    fn: Callable          # same callable for both libraries: (lib, *tensors) -> tensor
    args: tuple           # numpy arrays (tensors) and Python scalars
    expected: str         # dtype name


def _P(desc, fn, args, expected):
    return PromotionCase(desc, fn, args, expected)


_f32 = np.ones((2, 3), F32)
_f64 = np.ones((2, 3), F64)
_f16 = np.ones((2, 3), np.float16)
_i64 = np.ones((2, 3), I64)
_i32 = np.ones((2, 3), I32)
_i8 = np.ones((2, 3), np.int8)
_u8 = np.ones((2, 3), np.uint8)
_b = np.ones((2, 3), bool)
_f64_0d = np.array(2.0, F64)
_f32_0d = np.array(2.0, F32)
_i64_0d = np.array(2, I64)

PROMOTION_CASES = [
    _P("int64 + float32 tensor -> float32", lambda L, a, b: a + b, (_i64, _f32), "float32"),
    _P("float32 * 2.5 stays float32", lambda L, a, b: a * b, (_f32, 2.5), "float32"),
    _P("float16 * 2.5 stays float16", lambda L, a, b: a * b, (_f16, 2.5), "float16"),
    _P("int / int -> float32", lambda L, a, b: a / b, (_i64, _i64), "float32"),
    _P("int / python int -> float32", lambda L, a, b: a / b, (_i32, 2), "float32"),
    _P("int64 tensor + float scalar -> float32", lambda L, a, b: a + b, (_i64, 2.5), "float32"),
    _P("int32 tensor + python int stays int32", lambda L, a, b: a + b, (_i32, 7), "int32"),
    _P("bool tensor + python int -> int64", lambda L, a, b: a + b, (_b, 1), "int64"),
    _P("bool tensor + python float -> float32", lambda L, a, b: a + b, (_b, 1.5), "float32"),
    _P("bool + bool stays bool", lambda L, a, b: a + b, (_b, _b), "bool"),
    _P("uint8 + int8 -> int16", lambda L, a, b: a + b, (_u8, _i8), "int16"),
    _P("int8 + True stays int8", lambda L, a, b: a + b, (_i8, True), "int8"),
    _P("float32 dim + float64 0-d -> float32", lambda L, a, b: a + b, (_f32, _f64_0d), "float32"),
    _P("int32 dim + int64 0-d -> int32", lambda L, a, b: a * b, (_i32, _i64_0d), "int32"),
    _P("int64 dim + float32 0-d -> float32", lambda L, a, b: a + b, (_i64, _f32_0d), "float32"),
    _P("int32 dim - float64 0-d -> float64 (0-d of a higher category wins)", lambda L, a, b: a - b,
       (_i32, _f64_0d), "float64"),
    _P("float16 dim / float64 0-d -> float16", lambda L, a, b: a / b, (_f16, _f64_0d), "float16"),
    _P("0-d float64 + 0-d float32 -> float64", lambda L, a, b: a + b, (_f64_0d, _f32_0d), "float64"),
    _P("0-d int64 + 2.5 -> float32", lambda L, a, b: a + b, (_i64_0d, 2.5), "float32"),
    _P("float32 + float64 tensors -> float64", lambda L, a, b: a + b, (_f32, _f64), "float64"),
    _P("int ** 2 stays int64", lambda L, a, b: a ** b, (_i64, 2), "int64"),
    _P("int ** 2.5 -> float32", lambda L, a, b: a ** b, (_i64, 2.5), "float32"),
    _P("2 ** int tensor stays int64", lambda L, a, b: a ** b, (2, _i64), "int64"),
    _P("2.5 ** int tensor -> float32", lambda L, a, b: a ** b, (2.5, _i64), "float32"),
    _P("int < float -> bool", lambda L, a, b: a < b, (_i64, _f32), "bool"),
    _P("where(c, int, float scalar) -> float32", lambda L, c, a, b: L.where(c, a, b), (_b, _i64, 0.5),
       "float32"),
    _P("where(c, f32, f64) -> float64", lambda L, c, a, b: L.where(c, a, b), (_b, _f32, _f64), "float64"),
    _P("maximum(int, float32) -> float32", lambda L, a, b: L.maximum(a, b), (_i32, _f32), "float32"),
    _P("sum(bool) -> int64", lambda L, a: L.sum(a), (_b,), "int64"),
    _P("sum(int32) -> int64", lambda L, a: L.sum(a), (_i32,), "int64"),
    _P("prod(uint8) -> int64", lambda L, a: L.prod(a), (_u8,), "int64"),
    _P("exp(int) -> float32", lambda L, a: L.exp(a), (_i64,), "float32"),
    _P("sqrt(bool) -> float32", lambda L, a: L.sqrt(a), (_b,), "float32"),
    _P("cat(int, float32) -> float32", lambda L, a, b: L.cat([a, b]), (_i64, _f32), "float32"),
    _P("stack(f16, f32) -> float32", lambda L, a, b: L.stack([a, b]), (_f16, _f32), "float32"),
    _P("outer(i32, f64) -> float64", lambda L, a, b: L.outer(a[0], b[0]), (_i32, _f64), "float64"),
    _P("clamp(int, min=0.5) -> float32", lambda L, a: L.clamp(a, min=0.5), (_i64,), "float32"),
    _P("abs(int8) stays int8", lambda L, a: L.abs(a), (_i8,), "int8"),
    _P("floor_divide(int, 2.0) -> float32", lambda L, a, b: a // b, (_i64, 2.0), "float32"),
    _P("remainder(int32, int64 0-d) -> int32", lambda L, a, b: a % b, (_i32, _i64_0d), "int32"),
]


# records of dualgraph/ops/nn_ops.py live beside them (they add to RECORDS when imported)
import opinfo_nn  # noqa: E402,F401
import opinfo_custom  # noqa: E402,F401


# ============================================================================ issue 13: more tensor ops
def _distinct(rng, shape, dtype=F32):
    """Values with no ties (sort order and topk are then unique) and away from 0."""
    n = int(np.prod(shape)) if shape else 1
    vals = (rng.permutation(n) + 1) * 0.37 * np.where(rng.random(n) < 0.5, -1, 1)
    return vals.reshape(shape).astype(dtype)


def _off_integers(rng, shape, dtype=F32):
    """Values whose floor/ceil/round/trunc are stable under a numerical-gradient step."""
    return np.asarray(rng.integers(-4, 5, shape) + rng.uniform(0.1, 0.4, shape) * np.where(
        rng.random(shape) < 0.5, -1, 1)).astype(dtype)


add(
    OpRecord("floor", lambda x: dg.floor(x), lambda x: T.floor(x), unary_samples(_off_integers)),
    OpRecord("ceil", lambda x: dg.ceil(x), lambda x: T.ceil(x), unary_samples(_off_integers)),
    OpRecord("trunc", lambda x: dg.trunc(x), lambda x: T.trunc(x), unary_samples(_off_integers)),
    OpRecord("round", lambda x: dg.round(x), lambda x: T.round(x), unary_samples(_off_integers, extra=[
        lambda rng: Sample((np.array([0.5, 1.5, 2.5, -0.5], F32),), desc="half to even", grad=False)])),
    OpRecord("cumsum", lambda x, dim: dg.cumsum(x, dim), lambda x, dim: T.cumsum(x, dim),
             lambda rng: [Sample((u(rng, (2, 3)), 1), desc="dim=1"), Sample((u(rng, (2, 3)), 0), desc="dim=0"),
                          Sample((u(rng, (4,)), -1), desc="dim=-1"), Sample((u(rng, (0, 3)), 1), desc="empty"),
                          Sample((u(rng, (1, 3)), 0), desc="size 1"),
                          Sample((ints(rng, (2, 3)), 1), desc="i64")]),
    OpRecord("cumprod", lambda x, dim: dg.cumprod(x, dim), lambda x, dim: T.cumprod(x, dim),
             lambda rng: [Sample((u(rng, (2, 3)), 1), desc="dim=1"), Sample((u(rng, (3, 2)), 0), desc="dim=0"),
                          Sample((u(rng, (0, 3)), 1), desc="empty"), Sample((u(rng, (1, 3)), 1), desc="size 1")]),
    OpRecord("cumprod", lambda x, dim: dg.cumprod(x, dim), lambda x, dim: T.cumprod(x, dim),
             lambda rng: [Sample((np.array([[1.5, 0.0, 2.0, -1.0], [0.0, 0.0, 3.0, 0.5]], F32), 1), desc="zeros"),
                          Sample((np.zeros((1, 0), F32), 1), desc="empty")],
             variant="zeros", gradgrad=False,
             notes="first order exact with zeros (PyTorch's formula); its second order there is not (a known gap)"),
    OpRecord("argsort", lambda x, dim=-1, descending=False: dg.argsort(x, dim=dim, descending=descending),
             lambda x, dim=-1, descending=False: T.argsort(x, dim=dim, descending=descending),
             lambda rng: [Sample((_distinct(rng, (2, 5)),), desc="last dim"),
                          Sample((_distinct(rng, (4, 3)),), {"dim": 0, "descending": True}, "dim=0 descending"),
                          Sample((_distinct(rng, (1, 4)),), desc="size 1"), Sample((u(rng, (0, 3)),), desc="empty")]),
    OpRecord("argsort", lambda x, dim=-1, descending=False: dg.sort(x, dim=dim, descending=descending),
             lambda x, dim=-1, descending=False: T.sort(x, dim=dim, descending=descending),
             lambda rng: [Sample((_distinct(rng, (2, 5)),), desc="last dim"),
                          Sample((_distinct(rng, (4, 3)),), {"dim": 0, "descending": True}, "dim=0 descending"),
                          Sample((_distinct(rng, (1, 4)),), desc="size 1"), Sample((u(rng, (0, 3)),), desc="empty")],
             variant="sort", notes="(values, indices): values gathered, the gradient goes to the index"),
    OpRecord("topk", lambda x, k, dim=-1, largest=True: dg.topk(x, k, dim=dim, largest=largest),
             lambda x, k, dim=-1, largest=True: T.topk(x, k, dim=dim, largest=largest),
             lambda rng: [Sample((_distinct(rng, (2, 6)), 3), desc="k=3"),
                          Sample((_distinct(rng, (5, 2)), 2), {"dim": 0, "largest": False}, "smallest dim=0"),
                          Sample((_distinct(rng, (1, 4)), 2), desc="size 1"), Sample((u(rng, (0, 3)), 0), desc="empty")]),
    OpRecord("norm", lambda x, p=2, dim=None, keepdim=False: dg.norm(x, p, dim, keepdim),
             lambda x, p=2, dim=None, keepdim=False: T.norm(x, p, dim, keepdim),
             lambda rng: [Sample((_distinct(rng, (2, 3)),), desc="2-norm"),
                          Sample((_distinct(rng, (2, 3)), 1), {"dim": 1}, "1-norm dim=1"),
                          Sample((_distinct(rng, (2, 3)), 3), {"dim": 0, "keepdim": True}, "3-norm keepdim"),
                          Sample((_distinct(rng, (2, 3)), float("inf")), {"dim": 1}, "inf-norm"),
                          Sample((_distinct(rng, (1, 3)),), desc="size 1"), Sample((u(rng, (0, 3)), 2), {"dim": 1}, "empty")]),
    OpRecord("norm", lambda x, ord=2, dim=None, keepdim=False: dg.linalg.vector_norm(x, ord, dim, keepdim),
             lambda x, ord=2, dim=None, keepdim=False: T.linalg.vector_norm(x, ord, dim, keepdim),
             lambda rng: [Sample((_distinct(rng, (3, 2)),), desc="2"),
                          Sample((_distinct(rng, (3, 2)), 1), {"dim": 0}, "1 dim=0"),
                          Sample((_distinct(rng, (1, 2)),), desc="size 1"), Sample((u(rng, (0, 3)), 2), {"dim": 1}, "empty")],
             variant="linalg.vector_norm"),
    OpRecord("tril", lambda x, diagonal=0: dg.tril(x, diagonal), lambda x, diagonal=0: T.tril(x, diagonal),
             lambda rng: [Sample((u(rng, (3, 4)),), desc="3x4"), Sample((u(rng, (2, 3, 3)), -1), desc="batch, -1"),
                          Sample((u(rng, (3, 3)), 1), desc="+1"),
                          Sample((u(rng, (1, 1)),), desc="1x1"), Sample((u(rng, (0, 3)),), desc="empty")]),
    OpRecord("triu", lambda x, diagonal=0: dg.triu(x, diagonal), lambda x, diagonal=0: T.triu(x, diagonal),
             lambda rng: [Sample((u(rng, (3, 4)),), desc="3x4"), Sample((u(rng, (2, 3, 3)), 1), desc="batch, +1"),
                          Sample((u(rng, (4, 2)), -2), desc="-2"),
                          Sample((u(rng, (1, 1)),), desc="1x1"), Sample((u(rng, (0, 3)),), desc="empty")]),
    OpRecord("flip", lambda x, dims: dg.flip(x, dims), lambda x, dims: T.flip(x, dims),
             lambda rng: [Sample((u(rng, (2, 3)), [0]), desc="dim 0"), Sample((u(rng, (2, 3, 2)), [0, 2]), desc="two dims"),
                          Sample((u(rng, (4,)), [-1]), desc="-1"),
                          Sample((u(rng, (1, 1)), [0],), desc="1x1"), Sample((u(rng, (0, 3)), [0],), desc="empty")]),
    OpRecord("roll", lambda x, shifts, dims=None: dg.roll(x, shifts, dims), lambda x, shifts, dims=None: T.roll(x, shifts, dims),
             lambda rng: [Sample((u(rng, (2, 3)), 1, 1), desc="dim 1"), Sample((u(rng, (2, 3)), 2), desc="flat"),
                          Sample((u(rng, (2, 3, 2)), (1, -1), (0, 2)), desc="two dims"),
                          Sample((u(rng, (4,)), -5, 0), desc="wraps"),
                          Sample((u(rng, (1, 3)), 1, 1), desc="size 1"), Sample((u(rng, (0, 3)), 1, 1), desc="empty")]),
)
import opinfo_conv_pool  # noqa: E402,F401


# records of erf and the smooth activations (gelu, silu, elu, softplus) of ops/elementwise.py
import opinfo_activations  # noqa: E402,F401


# records of the tensor ops of issue 13's second part (einsum, diagonal/diag_embed/diag,
# repeat_interleave) live beside them (they add to RECORDS when imported)
import opinfo_tensor_ops  # noqa: E402,F401


# records of the indexing ops, the order statistics and the compositions of ops/composites.py
import opinfo_indexing  # noqa: E402,F401


# records of the math ops of ops/elementwise_math.py (tan ... atan2, lerp, addcmul) and the
# PyTorch names composed of other ops (deg2rad, isnan, logical_xor, true_divide, ...)
import opinfo_math  # noqa: E402,F401
