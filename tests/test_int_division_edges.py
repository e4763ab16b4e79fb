"""Integer division at the edges, as PyTorch: div(rounding_mode="trunc") at the dtype's minimum
(|a| overflows there, so it is not computed from |a| // |b|), a negative Python divisor of an
unsigned tensor (it wraps into the type), and bool // bool, which PyTorch has no kernel for;
eagerly and under dg.function."""
import numpy as np
import pytest

import dualgraph as dg

INTS = ["int8", "int16", "int32", "int64", "uint8"]


def _grid(dt):
    info = np.iinfo(dt)
    vals = ([info.min, info.min + 1, -7, -1, 0, 1, 7, info.max] if info.min < 0
            else [0, 1, 7, 200, info.max])
    a = np.array([x for x in vals for y in vals if y != 0], dt)
    b = np.array([y for x in vals for y in vals if y != 0], dt)
    # min / -1 overflows: PyTorch dies of SIGFPE there (int32, int64); numpy wraps to min
    keep = ~((a == info.min) & (b == -1)) if info.min < 0 else np.ones(a.shape, bool)
    return a[keep], b[keep]


def _trunc(x, y):
    return dg.div(x, y, rounding_mode="trunc")


def _same(a, b):
    return a.dtype == b.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("dt", INTS)
def test_trunc_division_matches_torch_at_the_extremes(dt):
    torch = pytest.importorskip("torch")
    a, b = _grid(dt)
    want = torch.div(torch.tensor(a), torch.tensor(b), rounding_mode="trunc").numpy()
    assert _same(_trunc(dg.tensor(a), dg.tensor(b)).numpy(), want)
    f = dg.function(_trunc)
    for _ in range(2):
        assert _same(f(dg.tensor(a), dg.tensor(b)).numpy(), want)
    x = dg.tensor(a)
    x.div_(dg.tensor(b), rounding_mode="trunc")
    assert _same(x.numpy(), want)


@pytest.mark.parametrize("dt", INTS)
@pytest.mark.parametrize("s", [3, -3, 1, -1])
def test_trunc_division_by_and_of_python_ints(dt, s):
    torch = pytest.importorskip("torch")
    a, _ = _grid(dt)
    info = np.iinfo(dt)
    if s == -1 and info.min < 0:
        a = a[a != info.min]
    assert _same(_trunc(dg.tensor(a), s).numpy(),
                 torch.div(torch.tensor(a), s, rounding_mode="trunc").numpy())
    nz = a[a != 0]
    assert _same(_trunc(s, dg.tensor(nz)).numpy(),
                 torch.div(s, torch.tensor(nz), rounding_mode="trunc").numpy())
    f = dg.function(lambda x: _trunc(x, s))
    assert _same(f(dg.tensor(a)).numpy(), _trunc(dg.tensor(a), s).numpy())


def test_minimum_by_minus_one_wraps_instead_of_crashing():
    a = dg.tensor(np.array([-128], np.int8))
    assert _trunc(a, -1).numpy().tolist() == [-128]
    assert dg.floor_divide(a, -1).numpy().tolist() == [-128]


@pytest.mark.parametrize("name,fn", [
    ("div_floor_cpu", lambda L, a, b: L.floor_divide(a, b)),
    ("div_floor_cpu", lambda L, a, b: a // b),
    ("remainder_cpu", lambda L, a, b: L.remainder(a, b)),
    ("remainder_cpu", lambda L, a, b: a % b),
    ("div_trunc_cpu", lambda L, a, b: L.div(a, b, rounding_mode="trunc")),
    ("fmod_cpu", lambda L, a, b: L.fmod(a, b)),
])
def test_bool_by_bool_has_no_kernel(name, fn):
    torch = pytest.importorskip("torch")
    msg = f'"{name}" not implemented for \'Bool\''
    with pytest.raises(NotImplementedError, match=msg):
        fn(torch, torch.tensor([True, False]), torch.tensor([True, True]))
    with pytest.raises(dg.errors.DGNotImplementedError, match=msg):
        fn(dg, dg.tensor([True, False]), dg.tensor([True, True]))
    f = dg.function(lambda a, b: fn(dg, a, b))
    with pytest.raises(dg.errors.DGNotImplementedError, match=msg):
        f(dg.tensor([True, False]), dg.tensor([True, True]))
    # a bool tensor by an int is integer division, as PyTorch
    assert _same((dg.tensor([True, False]) // 2).numpy(), (torch.tensor([True, False]) // 2).numpy())
