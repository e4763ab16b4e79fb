"""`^`, `<<`, `>>` (bitwise_xor, bitwise_left_shift, bitwise_right_shift) and fmod.

Eager against PyTorch over dtypes and edge values (every int8 and uint8 shift pair, negative
shifts, shifts >= the width, Python ints wrapped into the tensor's dtype, bool xor, fmod's signs,
inf, NaN and -0.0, integer division by zero), PyTorch's errors, fmod's gradient; then eager ==
graph mode and dg.function over several calls. The torch tests skip without torch.
"""
import numpy as np
import pytest

import dualgraph as dg
from dualgraph.errors import DualGraphError

INT_DTYPES = ["int8", "uint8", "int16", "int32", "int64"]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _t(lib, arr):
    arr = np.asarray(arr)
    return lib.from_numpy(arr.copy()) if lib is not dg else dg.tensor(arr)


def _same(ours, ref):
    """Same dtype, shape and bits (NaN positions equal, signed zeros compared)."""
    a, b = ours.detach().numpy(), ref.detach().numpy()
    assert str(a.dtype) == str(b.dtype), (a.dtype, b.dtype)
    assert a.shape == b.shape
    if a.dtype.kind == "f":
        nan = np.isnan(a)
        np.testing.assert_array_equal(nan, np.isnan(b))
        np.testing.assert_array_equal(a[~nan], b[~nan])
        np.testing.assert_array_equal(np.signbit(a[~nan]), np.signbit(b[~nan]))
    else:
        np.testing.assert_array_equal(a, b)


def _edges(dtype):
    info = np.iinfo(dtype)
    bits = np.dtype(dtype).itemsize * 8
    vals = {info.min, info.min + 1, -1, 0, 1, 2, 3, 5, 100, info.max - 1, info.max,
            bits - 1, bits, bits + 1, -bits, 2 * bits}
    return np.array(sorted(v for v in vals if info.min <= v <= info.max), dtype)


def _pairs(dtype):
    """Every (value, shift) pair for the 8-bit dtypes; the edge values crossed otherwise."""
    if np.dtype(dtype).itemsize == 1:
        v = np.arange(np.iinfo(dtype).min, np.iinfo(dtype).max + 1).astype(dtype)
    else:
        v = _edges(dtype)
    x, s = np.meshgrid(v, v, indexing="ij")
    return x.ravel(), s.ravel()


# ================================================================ shifts against PyTorch
@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("op", ["<<", ">>"])
def test_shifts_match_torch_on_every_edge(torch, dtype, op):
    x, s = _pairs(getattr(np, dtype))
    fn = (lambda a, b: a << b) if op == "<<" else (lambda a, b: a >> b)
    _same(fn(_t(dg, x), _t(dg, s)), fn(_t(torch, x), _t(torch, s)))


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_shift_by_python_ints_wraps_the_amount_as_torch(torch, dtype):
    """PyTorch casts a Python shift amount to the tensor's dtype (int8 << 300 shifts by 44,
    << 2**40 by 0), where numpy refuses it; both directions and the reflected forms."""
    x = _edges(getattr(np, dtype))
    for k in (-300, -255, -65, -64, -9, -8, -1, 0, 1, 7, 8, 9, 15, 16, 31, 32, 63, 64, 65, 255, 256,
              257, 300, 2 ** 40, 2 ** 62):
        for fn in (lambda a: a << k, lambda a: a >> k, lambda a: dg_or_torch_shift(a, k)):
            _same(fn(_t(dg, x)), fn(_t(torch, x)))
    for k in (0, 1, 3, 255, 256, -1, 2 ** 62):
        small = np.array([0, 1, 7, 8], getattr(np, dtype))
        _same(k << _t(dg, small), k << _t(torch, small))
        _same(k >> _t(dg, small), k >> _t(torch, small))


def dg_or_torch_shift(a, k):
    return a.bitwise_right_shift(k) if k % 2 else a.bitwise_left_shift(k)


@pytest.mark.parametrize("a,b", [("uint8", "int8"), ("int8", "int64"), ("int16", "uint8"),
                                 ("int32", "int8"), ("bool", "int64")])
def test_shift_and_xor_promotion_as_torch(torch, a, b):
    x = np.array([1, 0, 1, 1]).astype(a)
    y = np.array([3, 1, 0, 2]).astype(b)
    for fn in (lambda p, q: p << q, lambda p, q: p >> q, lambda p, q: p ^ q):
        _same(fn(_t(dg, x), _t(dg, y)), fn(_t(torch, x), _t(torch, y)))
    if a != "bool":  # a 0-d operand of a higher dtype does not widen a tensor (it wraps into it)
        _same(_t(dg, x) << dg.tensor(300), _t(torch, x) << torch.tensor(300))


def test_bool_shifted_by_int_is_int64(torch):
    b = np.array([True, False])
    _same(_t(dg, b) << 1, _t(torch, b) << 1)
    _same(True << dg.tensor([1, 2]), True << torch.tensor([1, 2]))


# ================================================================ xor against PyTorch
@pytest.mark.parametrize("dtype", INT_DTYPES + ["bool"])
def test_xor_matches_torch(torch, dtype):
    if dtype == "bool":
        x, y = np.array([True, True, False, False]), np.array([True, False, True, False])
    else:
        x, y = _pairs(getattr(np, dtype))
    _same(_t(dg, x) ^ _t(dg, y), _t(torch, x) ^ _t(torch, y))
    _same(dg.bitwise_xor(_t(dg, x), _t(dg, y)), torch.bitwise_xor(_t(torch, x), _t(torch, y)))
    _same(_t(dg, x).bitwise_xor(_t(dg, y)), _t(torch, x).bitwise_xor(_t(torch, y)))


@pytest.mark.parametrize("scalar", [True, False, 0, 1, -1, 300, 255, 256, -129, 2 ** 40])
@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int64"])
def test_xor_with_python_scalars_as_torch(torch, dtype, scalar):
    """bool ^ True stays bool (logical xor), bool ^ 1 is int64; a Python int is wrapped into an
    integer tensor's dtype (int8 ^ 300 is int8 ^ 44, uint8 ^ -1 is uint8 ^ 255)."""
    x = np.array([0, 1, 2, 127]).astype(dtype)
    _same(_t(dg, x) ^ scalar, _t(torch, x) ^ scalar)
    _same(scalar ^ _t(dg, x), scalar ^ _t(torch, x))


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
def test_and_or_wrap_python_ints_too(torch, dtype):
    """bitwise_and/or share xor's kernel: uint8 & -1 is uint8 & 255 (it was refused with numpy's
    'Python integer -1 out of bounds for uint8')."""
    x = np.array([0, 1, 7, 100]).astype(dtype)
    for k in (-1, 300, -200):
        _same(_t(dg, x) & k, _t(torch, x) & k)
        _same(_t(dg, x) | k, _t(torch, x) | k)


# ================================================================ fmod against PyTorch
_SPECIAL_A = [5.0, -5.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 5.0, -5.0, 5.0, -5.0, 3.0, -0.0, 1e30, 7.5,
              -7.5, 0.0, -0.0, 4.0, -4.0, 1e-40]
_SPECIAL_B = [3.0, 3.0, 2.0, 2.0, 2.0, 2.0, 2.0, np.inf, -np.inf, 0.0, -0.0, np.nan, -0.0, 3.0, -2.0,
              2.0, -3.0, np.inf, 2.0, -2.0, 3.0]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_fmod_floats_signs_inf_nan_as_torch(torch, dtype):
    """C's fmod: the dividend's sign (fmod(-4, 2) is -0.0, fmod(-5, 3) is -2), x/0 and inf/y are
    NaN, fmod(x, inf) is x."""
    with np.errstate(over="ignore"):  # (1e30 is inf in float16)
        a, b = np.array(_SPECIAL_A, dtype), np.array(_SPECIAL_B, dtype)
    _same(dg.fmod(_t(dg, a), _t(dg, b)), torch.fmod(_t(torch, a), _t(torch, b)))
    _same(_t(dg, a).fmod(_t(dg, b)), _t(torch, a).fmod(_t(torch, b)))
    for k in (2, -2, 2.5, -0.0, 0.0, float("inf"), float("nan"), 1e300):
        _same(dg.fmod(_t(dg, a), k), torch.fmod(_t(torch, a), k))


def test_fmod_differs_from_remainder_in_sign():
    a = dg.tensor([-5.0, 5.0, -4.0])
    assert dg.fmod(a, 3).tolist() == [-2.0, 2.0, -1.0]
    assert dg.remainder(a, 3).tolist() == [1.0, 2.0, 2.0]


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_fmod_ints_as_torch(torch, dtype):
    info = np.iinfo(dtype)
    a = np.array([7, -7, 7, -7, 0, info.min, info.max, info.min, 1]).clip(info.min, info.max).astype(dtype)
    b = np.array([2, 2, -2, -2, 3, -1, 7, 3, info.max]).clip(info.min, info.max).astype(dtype)
    b[b == 0] = 1
    _same(dg.fmod(_t(dg, a), _t(dg, b)), torch.fmod(_t(torch, a), _t(torch, b)))
    for k in (3, -3, 300, 1.5, -2.5):
        _same(dg.fmod(_t(dg, a), k), torch.fmod(_t(torch, a), k))


@pytest.mark.parametrize("a,b", [("uint8", "int8"), ("bool", "int64"), ("int32", "float32"),
                                 ("float32", "float64"), ("int8", "float16")])
def test_fmod_promotion_as_torch(torch, a, b):
    x = np.array([7, 1, 0, 5]).astype(a)
    y = np.array([-2, 3, 5, 2]).astype(b)
    _same(dg.fmod(_t(dg, x), _t(dg, y)), torch.fmod(_t(torch, x), _t(torch, y)))


def test_fmod_gradient_as_torch(torch):
    """PyTorch's rule: g for the dividend, -g * trunc(a / b) for the divisor (-inf at b == 0),
    summed over a broadcast dim."""
    a = np.array([[5.0, -5.0, 7.5], [1.0, -0.5, 9.25]], np.float64)
    b = np.array([3.0, -2.0, 0.0], np.float64)
    g = np.array([[1.0, 2.0, 1.0], [0.5, 3.0, 1.0]])
    da, db = dg.tensor(a, requires_grad=True), dg.tensor(b, requires_grad=True)
    dg.fmod(da, db).backward(dg.tensor(g))
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    torch.fmod(ta, tb).backward(torch.tensor(g))
    _same(da.grad, ta.grad)
    _same(db.grad, tb.grad)
    x = dg.tensor([5.0, -5.0], requires_grad=True)
    r = x.fmod(2)
    assert r.grad_fn.name() == "FmodBackward0"
    r.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_fmod_gradcheck():
    a = dg.tensor(np.array([0.3, -1.7, 2.2, -3.4]), requires_grad=True)
    b = dg.tensor(np.array([1.0, 2.0, -1.5, 1.1]), requires_grad=True)
    assert dg.autograd.gradcheck(lambda x, y: dg.fmod(x, y), (a, b))


# ================================================================ in place
def _in_place(lib):
    x = lib.tensor([1, -2, 3, 100], dtype=lib.int8)
    same = x
    x ^= 5
    x <<= 2
    x >>= 1
    x.bitwise_xor_(lib.tensor([1, 1, 1, 1]))
    x.bitwise_left_shift_(1)
    x.bitwise_right_shift_(lib.tensor(1))
    x <<= lib.tensor([9])   # computed in int64, then cast into int8, as torch
    x.fmod_(3)
    assert x is same
    return x


def test_in_place_operators_as_torch(torch):
    _same(_in_place(dg), _in_place(torch))
    y = dg.tensor([7.0, -7.0, -0.0])
    assert y.fmod_(2.0) is y
    _same(y, torch.tensor([7.0, -7.0, -0.0]).fmod_(2.0))


def test_in_place_refuses_what_torch_refuses():
    with pytest.raises(RuntimeError, match="result type Long can't be cast to the desired output type Bool"):
        b = dg.tensor([True])
        b ^= dg.tensor([1])
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        dg.tensor([7, -7]).fmod_(2.5)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        dg.tensor([7, -7]).fmod_(0)


# ================================================================ errors
def _torch_error(torch, fn):
    try:
        fn(torch)
    except Exception as e:  # noqa: BLE001
        return e
    return None


ERRORS = {
    "float ^ float": lambda L: L.tensor([1.5]) ^ L.tensor([1.5]),
    "int ^ 1.5": lambda L: L.tensor([1]) ^ 1.5,
    "1.5 ^ int": lambda L: 1.5 ^ L.tensor([1]),
    "int ^ 0-d double": lambda L: L.tensor([1]) ^ L.tensor(1.0, dtype=L.float64),
    "0-d float & half": lambda L: L.tensor(1.0) & L.tensor([1.0], dtype=L.float16),
    "float << 1": lambda L: L.tensor([1.5]) << 1,
    "1 << float": lambda L: 1 << L.tensor([1.5]),
    "int >> 1.5": lambda L: L.tensor([1]) >> 1.5,
    "bool << bool": lambda L: L.tensor([True]) << L.tensor([True]),
    "bool >> bool": lambda L: L.tensor([True]) >> L.tensor([False]),
    "shift_fn floats": lambda L: L.bitwise_left_shift(L.tensor([1.0]), L.tensor([1.0])),
    "xor shape": lambda L: L.zeros(2, 3, dtype=L.int64) ^ L.zeros(4, dtype=L.int64),
    "float shift shape": lambda L: L.zeros(2, 3) << L.zeros(4),
    "fmod int / 0": lambda L: L.fmod(L.tensor([5, -5]), L.tensor([2, 0])),
    "fmod int / python 0": lambda L: L.fmod(L.tensor([5, -5]), 0),
    "fmod int8 / 256": lambda L: L.fmod(L.tensor([5], dtype=L.int8), 256),
    "fmod int8 / 0-d 256": lambda L: L.fmod(L.tensor([5], dtype=L.int8), L.tensor(256)),
    "remainder int8 / 256": lambda L: L.tensor([5], dtype=L.int8) % 256,
    "remainder int8 / np.int64(256)": lambda L: L.tensor([5], dtype=L.int8) % np.int64(256),
    "floor_divide int8 / 256": lambda L: L.tensor([5], dtype=L.int8) // 256,
    "fmod bools": lambda L: L.fmod(L.tensor([True]), L.tensor([True])),
    "fmod number, tensor": lambda L: L.fmod(2, L.tensor([1.5])),
    "fmod tensor, None": lambda L: L.fmod(L.tensor([1.5]), None),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_are_torchs(torch, name):
    """A dualgraph error, of the builtin class torch raises, with torch's message (the
    operand-type message of ^/<< with a wrong operand apart: Python words torch's)."""
    fn = ERRORS[name]
    te = _torch_error(torch, fn)
    assert te is not None, f"torch does not raise for {name}"
    with pytest.raises(DualGraphError) as info:
        fn(dg)
    e = info.value
    builtin = next(k for k in type(te).__mro__ if k.__module__ == "builtins")
    assert isinstance(e, builtin), (type(e).__mro__, builtin)
    assert str(e).split("\n  while")[0] == str(te), (str(e), str(te))


def test_wrong_operand_types_are_type_errors():
    x = dg.tensor([1, 2])
    for fn in (lambda: x ^ None, lambda: x << "a", lambda: None >> x, lambda: x & None):
        with pytest.raises(TypeError, match="unsupported operand type"):
            fn()


# ================================================================ graph mode and dg.function
def _program(a, b, c, d):
    """Every new op, operator, reflected form and in-place form in one function."""
    out = [a ^ b, a << 2, a >> b, 1 << b, 300 >> b, 5 ^ a, a.bitwise_xor(3), dg.bitwise_xor(a, b),
           dg.bitwise_left_shift(a, b), dg.bitwise_right_shift(a, -1), a.bitwise_left_shift(9),
           a.bitwise_right_shift(b), (a > 0) ^ (b > 0), (a > 0) ^ True,
           dg.fmod(c, d), c.fmod(-1.5), dg.fmod(a, b.abs() + 1), dg.fmod(a, 2.5)]
    e = a.clone()
    e ^= b
    e <<= 1
    e >>= b
    e.bitwise_xor_(7)
    e.bitwise_left_shift_(b)
    e.bitwise_right_shift_(1)
    e.fmod_(5)
    f = c.clone()
    f.fmod_(d)
    return out + [e, f]


def _inputs(rng, dtype):
    a = rng.integers(-128, 128, size=(3, 4)).astype(dtype)
    b = rng.integers(-3, 10, size=(4,)).astype(dtype)
    c = (rng.standard_normal((3, 4)) * 10).astype(np.float32)
    c[0, :] = [np.inf, -0.0, np.nan, 0.0]
    d = rng.choice([-2.0, -0.0, 0.0, 1.5, 3.0, np.inf], size=(4,)).astype(np.float32)
    return a, b, c, d


@pytest.mark.parametrize("dtype", ["int8", "int64", "int16"])
def test_eager_equals_dg_function_over_calls(dtype):
    f = dg.function(_program)
    rng = np.random.default_rng(0)
    for _ in range(4):
        arrays = _inputs(rng, dtype)
        eager = _program(*[dg.tensor(x) for x in arrays])
        compiled = f(*[dg.tensor(x) for x in arrays])
        assert len(eager) == len(compiled)
        for k, (e, c) in enumerate(zip(eager, compiled)):
            assert e.dtype == c.dtype, k
            _same(c, e)


def test_graph_mode_symbolic_operators():
    a_v = np.array([1, -2, 3, 100], np.int8)
    b_v = np.array([1, 7, 8, -1], np.int8)
    with dg.graph_mode() as g:
        a = dg.placeholder([None], dg.int8)
        b = dg.placeholder([None], dg.int8)
        outs = [a ^ b, a << b, a >> b, 3 ^ a, 1 << b, 64 >> b, dg.fmod(a, b)]
    got = dg.Session(g).run(outs, feed_dict={a: a_v, b: b_v})
    eager = [(lambda x, y: x ^ y), (lambda x, y: x << y), (lambda x, y: x >> y), (lambda x, y: 3 ^ x),
             (lambda x, y: 1 << y), (lambda x, y: 64 >> y), (lambda x, y: dg.fmod(x, y))]
    for k, (fn, r) in enumerate(zip(eager, got)):
        want = fn(dg.tensor(a_v), dg.tensor(b_v)).numpy()
        assert np.asarray(r).dtype == want.dtype, k
        np.testing.assert_array_equal(r, want)


def test_fmod_gradient_eager_equals_dg_function():
    def step(x, y):
        z = dg.fmod(x * 3, y)
        (z * z).sum().backward()
        return z, x.grad, y.grad

    f = dg.function(step)
    rng = np.random.default_rng(1)
    for _ in range(3):
        xa = rng.standard_normal((2, 3)).astype(np.float32)
        ya = rng.choice([-2.0, 1.5, 3.0, 0.7], size=(3,)).astype(np.float32)
        ours = step(dg.tensor(xa, requires_grad=True), dg.tensor(ya, requires_grad=True))
        comp = f(dg.tensor(xa, requires_grad=True), dg.tensor(ya, requires_grad=True))
        for e, c in zip(ours, comp):
            _same(c, e)


def test_dg_function_refuses_at_trace_time():
    @dg.function
    def xor_float(x):
        return x ^ 1.5

    @dg.function
    def shift_bool(x):
        return x << x

    @dg.function
    def fmod_bool(x):
        return dg.fmod(x, x)

    with pytest.raises(NotImplementedError, match='"bitwise_xor_cpu" not implemented for \'Float\''):
        xor_float(dg.tensor([1, 2]))
    with pytest.raises(NotImplementedError, match='"lshift_cpu" not implemented for \'Bool\''):
        shift_bool(dg.tensor([True]))
    with pytest.raises(NotImplementedError, match='"fmod_cpu" not implemented for \'Bool\''):
        fmod_bool(dg.tensor([True]))


def test_dg_function_int_fmod_by_zero_raises_as_eager():
    f = dg.function(lambda x, y: dg.fmod(x, y))
    assert f(dg.tensor([5, -5]), dg.tensor([3, 3])).tolist() == [2, -2]
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        f(dg.tensor([5, -5]), dg.tensor([3, 0]))
