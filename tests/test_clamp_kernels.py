"""The clamp_min / clamp_max kernel (ops/elementwise_math.py's `_clamp_tensor_kernel`, which
x.clamp(min=...), x.clamp(max=...), dg.clamp_min and dg.clamp_max run) and clamp with tensor
min and max (`_clamp_bounds_kernel`) against PyTorch, bit for bit: the same dtype and shape,
NaN at the same places and, elsewhere, the same bits (so the sign of every zero); the sign and
payload of a NaN are not compared. Each case three ways: the kernel called on arrays, the public
function eagerly, and as a dg.function called twice.

The rules: the input is kept on a tie (clamp(-0.0, min=0.0) is -0.0, clamp(0.0, min=-0.0) is
0.0), a NaN input or bound gives NaN, integer dtypes and PyTorch's promotion (an int tensor with
a float number: float32; a 0-d tensor bound does not widen a float tensor), tensor bounds
broadcast either way. The sizes cover both of the kernel's ways (a broadcast bound of 4096
elements and more is copied into the output first, smaller ones are not) and 0-d tensors.

Number bounds are compared with PyTorch's whole-tensor result. With a tensor bound, PyTorch's
vectorised CPU loop (16 float32 / 8 float64 elements at a time, more with AVX-512) returns the
bound's zero on a +-0.0 tie, where its scalar loop, which handles the rest, keeps x as
dualgraph does (tests/test_torch_parity_small.py); so tensor bounds are compared with PyTorch
run 4 elements at a time (each operand broadcast to the result's shape and cut into pieces; a
0-d tensor stays 0-d, which keeps PyTorch's promotion), which is its scalar loop everywhere.
`test_the_cases_tell_a_tie_from_its_bound` checks that the data would catch a kernel that took
the bound's zero on a tie.
"""
import numpy as np
import pytest

import dualgraph as dg
from dualgraph.ops import elementwise_math as M

torch = pytest.importorskip("torch")

nan, inf = np.nan, np.inf

FLOATS = np.array([-0.0, 0.0, inf, -inf, nan, 1.0, -1.0, 0.5, -0.5, 2.5, -3.0, 1e-40, -1e-40,
                   1e30, -1e30])
INTS = np.array([-3, 0, 1, 7, -1, 2, 0, -100, 5])

DTYPES = ["float32", "float64", "int32", "int64"]
NUMBERS = [0.0, -0.0, 0.5, -1.0, 2, 0, nan, inf, -inf, 1e-40]

# (x's shape, the bound's shape): 0-d, equal, broadcast either way, large enough for the
# kernel's filled-buffer way (a broadcast bound, 4096 elements or more)
SHAPES = [((), ()), ((9,), ()), ((), (9,)), ((9,), (9,)), ((3, 4), (4,)), ((3, 4), (3, 1)),
          ((4,), (3, 4)), ((3, 1), (1, 5)), ((5000,), ()), ((80, 64), (64,)), ((80, 64), (80, 1)),
          ((64,), (80, 64)), ((0,), ()), ((2, 0), (1,))]


def _data(dtype, shape, seed):
    """Values of `dtype` drawn from the special values (their infinities and NaN included) and
    a few ordinary ones, half of them zeros (-0.0 and 0.0 alike: ties with both signs)."""
    rng = np.random.default_rng(seed)
    pool = FLOATS if np.dtype(dtype).kind == "f" else INTS
    p = np.where(pool == 0, 1.0, 1.0 / len(pool))
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(rng.choice(pool, size=shape, p=p / p.sum())).astype(dtype)


def _tt(a):
    return torch.from_numpy(np.array(a, copy=True))


def _np(t):
    return np.asarray(t.detach().numpy() if hasattr(t, "detach") else t)


def _same(got, want, what):
    """The same dtype and shape, NaN at the same places, the same bits elsewhere."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, \
        f"{what}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}"
    if want.dtype.kind == "f":
        nan_g, nan_w = np.isnan(got), np.isnan(want)
        assert np.array_equal(nan_g, nan_w), f"{what}: NaN at other places\n{got!r}\n{want!r}"
        u = f"u{want.dtype.itemsize}"
        g, w = got[~nan_g].view(u), want[~nan_w].view(u)   # (zero signs are bits too)
        assert np.array_equal(g, w), f"{what}: other bits\n{got[~nan_g]!r}\n{want[~nan_w]!r}"
    else:
        assert np.array_equal(got, want), f"{what}\n{got!r}\n{want!r}"


def _torch_scalar_loop(fn, *operands):
    """fn(*torch tensors) as PyTorch's scalar loop computes it: the operands broadcast to the
    result's shape, 4 elements at a time (0-d ones whole: PyTorch's promotion is kept)."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in operands))
    n = int(np.prod(shape))
    if n == 0 or shape == ():
        return _np(fn(*(_tt(a) for a in operands)))
    full = [a if np.ndim(a) == 0 else np.broadcast_to(a, shape).reshape(-1) for a in operands]
    parts = [_np(fn(*(_tt(a if np.ndim(a) == 0 else a[i:i + 4]) for a in full)))
             for i in range(0, n, 4)]
    return np.concatenate(parts).reshape(shape)


def _three_ways(kernel, dg_fn, want, x, *bounds):
    """The kernel on the arrays, dg_fn eagerly on tensors (number bounds as they are), and as
    a dg.function called twice: each the bits of `want` (kernel None: no one kernel runs)."""
    if kernel is not None:
        _same(kernel(x, *bounds), want, "kernel")
    wrap = [dg.tensor(b) if isinstance(b, np.ndarray) else b for b in bounds]
    _same(_np(dg_fn(dg.tensor(x), *wrap)), want, "eager")
    tensor_pos = [i for i, b in enumerate(wrap) if not isinstance(b, (int, float))]

    def body(x, *ts):
        args = list(wrap)
        for i, t in zip(tensor_pos, ts):
            args[i] = t
        return dg_fn(x, *args)

    f = dg.function(body)
    for call in range(2):
        ts = [dg.tensor(bounds[i]) for i in tensor_pos]
        _same(_np(f(dg.tensor(x), *ts)), want, f"dg.function, call {call + 1}")


_KERNELS = {"min": M.clamp_min_op.forward, "max": M.clamp_max_op.forward}
_TORCH = {"min": torch.clamp_min, "max": torch.clamp_max}
_DG = {"min": dg.clamp_min, "max": dg.clamp_max}
_METHOD = {"min": lambda x, b: x.clamp(min=b), "max": lambda x, b: x.clamp(max=b)}


# ---------------------------------------------------------------- number bounds
@pytest.mark.parametrize("side", ["min", "max"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (9,), (3, 4), (5000,), (70, 80), (0,)])
def test_number_bound(side, dtype, shape):
    x = _data(dtype, shape, seed=len(shape) + 7 * sum(shape))
    for b in NUMBERS:
        want = _np(_TORCH[side](_tt(x), b))
        for fn in (_DG[side], _METHOD[side]):
            _three_ways(_KERNELS[side], fn, want, x, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_number_bounds_of_torch_clamp(dtype):
    """torch.clamp / clip with both numbers (min > max included: every element max, NaN too) and
    the one-bound forms."""
    x = _data(dtype, (5000,), seed=3)
    for lo, hi in [(0.0, 1.0), (-0.0, 0.0), (0.0, -0.0), (1.0, -1.0), (nan, 1.0), (0.0, nan),
                   (-inf, inf), (0.5, None), (None, -0.0), (None, 0.0), (-0.0, None)]:
        want = _np(torch.clamp(_tt(x), lo, hi))
        _three_ways(None, lambda t: dg.clamp(t, lo, hi), want, x)
        _three_ways(None, lambda t: t.clip(lo, hi), want, x)


def test_number_bound_sizes_at_the_kernels_switch():
    """Both ways of the kernel (a 0-d x, 1, 4095, 4096 and 4097 elements) give torch's bits."""
    for shape in ((), (1,), (4095,), (4096,), (4097,)):
        x = _data("float32", shape, seed=sum(shape))
        x.reshape(-1)[:2] = [-0.0, 0.0][:x.size]
        for b in (0.0, -0.0, 0.5, nan):
            for side in ("min", "max"):
                _same(_KERNELS[side](x, b), _np(_TORCH[side](_tt(x), b)), f"{side} {shape} {b}")


# ---------------------------------------------------------------- tensor bounds
@pytest.mark.parametrize("side", ["min", "max"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_tensor_bound(side, dtype, shapes):
    xs, bs = shapes
    x = _data(dtype, xs, seed=1 + len(xs))
    b = _data(dtype, bs, seed=2 + len(bs) + sum(bs))
    want = _torch_scalar_loop(_TORCH[side], x, b)
    _three_ways(_KERNELS[side], _DG[side], want, x, b)
    _three_ways(_KERNELS[side], _METHOD[side], want, x, b)


@pytest.mark.parametrize("side", ["min", "max"])
@pytest.mark.parametrize("xd,bd", [("float32", "float64"), ("int32", "float32"), ("int32", "int64"),
                                   ("int64", "float64"), ("float64", "int32")])
@pytest.mark.parametrize("bshape", [(), (9,)])
def test_tensor_bound_promotion(side, xd, bd, bshape):
    """Mixed dtypes: a 0-d bound widens within its kind only (float32 x, float64 0-d bound:
    float32), a dimensioned one as torch.result_type."""
    x = _data(xd, (9,), seed=5)
    b = _data(bd, bshape, seed=6)
    want = _torch_scalar_loop(_TORCH[side], x, b)
    _three_ways(_KERNELS[side], _DG[side], want, x, b)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("shapes", [((9,), (9,), (9,)), ((), (), ()), ((3, 4), (4,), (3, 1)),
                                    ((4,), (3, 1), ()), ((80, 64), (64,), (80, 1))], ids=str)
def test_clamp_with_tensor_min_and_max(dtype, shapes):
    """torch.clamp(x, min_tensor, max_tensor) (the clamp_tensor op): x kept on a tie of either
    bound, max where min > max, NaN from x or either bound."""
    xs, ls, hs = shapes
    x, lo, hi = (_data(dtype, s, seed=10 + i) for i, s in enumerate(shapes))
    want = _torch_scalar_loop(torch.clamp, x, lo, hi)
    _three_ways(M.clamp_tensor_op.forward, dg.clamp, want, x, lo, hi)
    if dtype != "int64":   # (both bounds the same tensor: every element a tie or the bound)
        _same(M.clamp_tensor_op.forward(x, lo, lo), _torch_scalar_loop(torch.clamp, x, lo, lo), "lo, lo")


# ---------------------------------------------------------------- the ties themselves
_ZEROS = np.array([-0.0, 0.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 4096])
def test_zero_ties_keep_x(dtype, n):
    """Every pair of zeros, in a 0-d-bound, a number-bound and an equal-shaped tensor-bound
    call, small and large: the input's zero each time."""
    for xz in _ZEROS:
        for bz in _ZEROS:
            x = np.full(n, xz, dtype)
            for side in ("min", "max"):
                k = _KERNELS[side]
                for b in (float(bz), np.array(bz, dtype), np.full(n, bz, dtype)):
                    got = k(x, b)
                    assert got.dtype == np.dtype(dtype)
                    assert np.array_equal(np.signbit(got), np.signbit(x)), (side, xz, bz, type(b))
    x = np.array([-0.0, 0.0, -0.0, 0.0], dtype)
    assert np.signbit(_np(dg.tensor(x).clamp(min=0.0))).tolist() == [True, False, True, False]
    assert np.signbit(_np(dg.tensor(x).clamp(max=-0.0))).tolist() == [True, False, True, False]


def test_the_cases_tell_a_tie_from_its_bound():
    """The data above hold zero ties whose two zeros differ in sign, in the small and in the
    filled-buffer sizes, with number and tensor bounds: a kernel that took the bound's zero on
    a tie would not give torch's bits (numpy's maximum / minimum alone, without the kernel's
    fix-up, takes either zero, by loop: the bound's in this numpy's vectorised loops)."""
    def bound_on_tie(x, m, lower):   # the tie rule broken: the bound's zero
        r = np.asarray(np.maximum(x, m) if lower else np.minimum(x, m))
        tie = np.equal(x, m)
        np.copyto(r, np.broadcast_to(m, r.shape), where=tie)
        return r

    caught = []
    for xs, bs in SHAPES:
        for b in [_data("float32", bs, seed=2 + len(bs) + sum(bs))] + ([0.0, -0.0] if bs == () else []):
            x = _data("float32", xs, seed=1 + len(xs))
            want = _torch_scalar_loop(torch.clamp_min, x, b)
            bad = bound_on_tie(x, np.asarray(b, np.float32), True)
            if not np.array_equal(np.signbit(bad), np.signbit(want)):
                caught.append((xs, bs))
    nonempty = {(xs, bs) for xs, bs in SHAPES if np.prod(np.broadcast_shapes(xs, bs)) > 0}
    assert set(caught) == nonempty


def test_fresh_result():
    """The result is a new array, never the input (nor a view of it), whichever way it ran."""
    for n in (5, 5000):
        x = _data("float32", (n,), seed=0)
        for b in (0.0, 0.5, -inf, x.copy(), np.array(0.0, np.float32)):
            for k in _KERNELS.values():
                r = k(x, b)
                assert not np.shares_memory(r, x)
                assert r.flags.writeable
