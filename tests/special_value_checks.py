"""What the special-value tests share (tests/test_special_values*.py): the values they salt
inputs with, and their comparisons (eager against compiled: the same bits; against PyTorch: the
same NaNs and infinities, finite values within rounding)."""
import numpy as np

# inf, NaN, signed zeros, huge and subnormal float32 values
SPECIALS = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, 1e30, -1e30, 1e-40, -1e-40], np.float32)


def salted(rng, shape, specials=SPECIALS, frac=0.2):
    """Standard normal float32 values, about `frac` of them replaced by `specials`."""
    x = rng.standard_normal(shape).astype(np.float32)
    m = rng.random(shape) < frac
    x[m] = rng.choice(specials, size=int(m.sum()))
    return x


def bits(a):
    """A float array as unsigned integers of its width (signed zeros and NaN payloads differ)."""
    a = np.ascontiguousarray(a)
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.kind == "f" else a


def same_bits(a, b):
    """The same shape, dtype and NaN positions and, elsewhere, the same bits (signed zeros
    included; the sign and payload of a NaN are not compared)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind != "f":
        return np.array_equal(a, b)
    nan = np.isnan(a)
    return np.array_equal(nan, np.isnan(b)) and a[~nan].tobytes() == b[~nan].tobytes()


def assert_values(got, want, what, atol=0.0, rtol=2e-6):
    """NaN where `want` has NaN, the same infinities, finite values within float32 rounding
    (integers exactly, as int64); zero signs are not compared."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    if want.dtype.kind != "f":
        assert got.dtype == np.int64 and np.array_equal(got, want), (what, got, want)
        return
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (what, got, want)
    ok = ~np.isnan(want)
    assert np.allclose(got[ok], want[ok], rtol=rtol, atol=atol), (what, got, want)


def check_eager_and_compiled(name, step, feeds, want):
    """step(*feeds()) gives `want` eagerly (assert_values, result by result), and
    dg.function(step)'s results are the same bits as eager's over three calls (fresh feeds
    each time)."""
    import dualgraph as dg
    eager = [numpy_of(t) for t in step(*feeds())]
    assert len(eager) == len(want), (name, eager)
    for k, (a, b) in enumerate(zip(eager, want)):
        assert_values(a, b, f"{name}: result {k}")
    compiled = dg.function(step, autograph=False)
    for _ in range(3):
        got = [numpy_of(t) for t in compiled(*feeds())]
        for k, (a, b) in enumerate(zip(got, eager)):
            assert a.dtype == b.dtype and np.array_equal(bits(a), bits(b)), (name, k, a, b)


def numpy_of(t):
    """A dualgraph tensor's value as a numpy array."""
    return np.asarray(t.detach().numpy())


def assert_same_values(got, want, rtol, what):
    """got equals want (one dtype and shape): exactly (NaNs at the same places) when rtol is
    None or the values are not floats, else within rtol; a zero of want that got also gives
    has want's sign either way. Used where another runtime (onnxruntime) is compared."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, \
        f"{what}: {got.dtype}{got.shape} != {want.dtype}{want.shape}"
    if rtol is None or want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)   # (NaNs at the same places)
    else:
        # (atol: onnxruntime's tanh gives 0 for a float32 subnormal such as 1e-45)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-44, equal_nan=True, err_msg=what)
    if want.dtype.kind == "f":
        zero = (want == 0) & (got == 0)
        np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]),
                                      err_msg=f"{what}: the sign of a zero")
