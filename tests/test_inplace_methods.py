"""In-place methods and augmented assignments (x.exp_(), x.eq_(y), x &= m, x //= 2 ...): the
tensor's memory is written, so a view of it sees the new values, as in PyTorch; eagerly, under
dg.function over several calls, and with gradients through the write."""
import numpy as np
import pytest

import dualgraph as dg

F32 = np.array([1.5, -2.25, 3.0], np.float32)
POS = np.abs(F32)
I64 = np.array([1, 2, 3], np.int64)
I32 = np.array([6, -3, 12], np.int32)

# (method, input, extra arguments, differentiable, bitwise equal to torch (libm may differ))
CASES = [
    ("bitwise_and_", I32, (np.array([3, 5, -7], np.int32),), False, True),
    ("bitwise_or_", I32, (np.array([3, 5, -7], np.int32),), False, True),
    ("bitwise_not_", I32, (), False, True),
    ("floor_divide_", F32, (np.array([2.0, -3.0, 0.5], np.float32),), False, True),
    ("remainder_", F32, (np.array([2.0, -3.0, 0.5], np.float32),), True, True),
    ("pow_", F32, (2,), True, True),
    ("abs_", F32, (), True, True),
    ("neg_", F32, (), True, True),
    ("sign_", F32, (), True, True),
    ("exp_", F32, (), True, False),
    ("log_", POS, (), True, False),
    ("log1p_", POS, (), True, False),
    ("sqrt_", POS, (), True, True),
    ("rsqrt_", POS, (), True, False),
    ("sin_", F32, (), True, False),
    ("cos_", F32, (), True, False),
    ("tanh_", F32, (), True, False),
    ("sigmoid_", F32, (), True, False),
    ("erf_", F32, (), True, False),
    ("floor_", F32, (), True, True),
    ("ceil_", F32, (), True, True),
    ("trunc_", F32, (), True, True),
    ("fix_", F32, (), True, True),
    ("round_", F32, (), True, True),
    ("tril_", np.arange(9.0, dtype=np.float32).reshape(3, 3), (), True, True),
    ("triu_", np.arange(9.0, dtype=np.float32).reshape(3, 3), (1,), True, True),
    ("masked_fill_", F32, (np.array([True, False, True]), 7.0), True, True),
    ("cumsum_", F32, (0,), True, True),
    ("cumprod_", F32, (0,), True, True),
    ("eq_", F32, (np.array([1.5, 0.0, 3.0], np.float32),), False, True),
    ("ne_", I64, (2,), False, True),
    ("lt_", F32, (1.0,), False, True),
    ("le_", F32, (0.0,), False, True),
    ("gt_", F32, (0.0,), False, True),
    ("ge_", I64, (2,), False, True),
    ("logical_and_", F32, (np.array([1.0, 0.0, 1.0], np.float32),), False, True),
    ("logical_or_", F32, (np.array([0.0, 0.0, 1.0], np.float32),), False, True),
    ("logical_not_", I64, (), False, True),
]
IDS = [c[0] for c in CASES]


def _args(lib, args):
    return [lib.tensor(a) if isinstance(a, np.ndarray) else a for a in args]


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def _run(x0, name, args):
    """(the written tensor, a view of it taken before the write)."""
    x = x0.clone()
    v = x[:2]
    getattr(x, name)(*args)
    return x, v * 1


@pytest.mark.parametrize("name,x0,args,diff,exact", CASES, ids=IDS)
def test_eager_equals_compiled_through_views(name, x0, args, diff, exact):
    eager = _run(dg.tensor(x0), name, _args(dg, args))
    f = dg.function(lambda x, *a: _run(x, name, a))
    for _ in range(3):
        out = f(dg.tensor(x0), *_args(dg, args))
        for e, c in zip(eager, out):
            assert _same(e.numpy(), c.numpy()), (name, e, c)
    assert not np.array_equal(eager[0].numpy()[:2], x0[:2]) or name in ("tril_", "triu_", "masked_fill_") \
        or np.array_equal(eager[1].numpy(), eager[0].numpy()[:2])
    assert _same(eager[1].numpy(), eager[0].numpy()[:2])  # the view saw the write


@pytest.mark.parametrize("name,x0,args,diff,exact", CASES, ids=IDS)
def test_matches_torch(name, x0, args, diff, exact):
    torch = pytest.importorskip("torch")
    t = torch.tensor(x0)
    tv = t[:2]
    getattr(t, name)(*_args(torch, args))
    d, dv = _run(dg.tensor(x0), name, _args(dg, args))
    if exact:
        assert _same(d.numpy(), t.numpy()) and _same(dv.numpy(), tv.numpy())
    else:
        assert d.numpy().dtype == t.numpy().dtype
        np.testing.assert_allclose(d.numpy(), t.numpy(), rtol=1e-6)
        np.testing.assert_allclose(dv.numpy(), tv.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name,x0,args,diff,exact", [c for c in CASES if c[3]],
                         ids=[c[0] for c in CASES if c[3]])
def test_gradient_through_the_write(name, x0, args, diff, exact):
    torch = pytest.importorskip("torch")
    w = np.linspace(0.5, 1.5, x0.size, dtype=np.float32).reshape(x0.shape)

    def step(lib, p, grad_of):
        y = p * 1.0
        getattr(y, name)(*_args(lib, args))
        (y * lib.tensor(w)).sum().backward()
        return grad_of(p)

    tp = torch.tensor(x0, requires_grad=True)
    tg = step(torch, tp, lambda p: p.grad.numpy())
    p = dg.tensor(x0, requires_grad=True)
    eg = step(dg, p, lambda p: p.grad.numpy().copy())
    np.testing.assert_allclose(eg, tg, rtol=1e-5, atol=1e-6)

    q = dg.tensor(x0, requires_grad=True)

    @dg.function
    def compiled():
        y = q * 1.0
        getattr(y, name)(*_args(dg, args))
        (y * dg.tensor(w)).sum().backward()

    for _ in range(3):
        q.grad = None
        compiled()
        assert _same(q.grad.numpy(), eg), name


@pytest.mark.parametrize("op,x0,o", [("&=", I32, 5), ("|=", I32, 5), ("^=", I32, 5),
                                     ("//=", F32, 2.0), ("%=", I64, 2), ("**=", F32, 2),
                                     ("<<=", I64, 2), (">>=", I32, 1)])
def test_augmented_assignment_writes_in_place(op, x0, o):
    torch = pytest.importorskip("torch")
    ns = {}

    def run(lib):
        x = lib.tensor(x0)
        v = x[:2]
        ns.update(x=x, o=o)
        exec(f"x {op} o", ns)
        return ns["x"] is x, ns["x"].numpy().copy(), v.numpy().copy()

    same_t, t, tv = run(torch)
    same_d, d, dv = run(dg)
    assert same_t and same_d  # the name still binds the tensor that was written
    assert _same(d, t) and _same(dv, tv)


def test_buffer_updated_with_augmented_assignment_in_a_compiled_step():
    class Counter(dg.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("flags", dg.tensor([1, 2, 4, 8]))

        def forward(self, x):
            f = self.flags
            f |= (x > 0).long()
            f //= 2
            return x * self.flags

    eager, compiled = Counter(), Counter()
    step = dg.function(compiled)
    xs = [[1, -1, 2, 0], [-1, 3, 0, 5], [2, 2, -2, 1]]
    flags = np.array([1, 2, 4, 8])  # what PyTorch's buffer holds: written, not rebound
    for x in xs:
        x = np.array(x)
        flags = (flags | (x > 0)) // 2
        assert _same(eager(dg.tensor(x)).numpy(), step(dg.tensor(x)).numpy())
        assert _same(eager.flags.numpy(), flags) and _same(compiled.flags.numpy(), flags)


def test_inplace_on_int_refuses_a_float_result():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        torch.tensor([1, 2]).exp_()
    with pytest.raises(dg.errors.DGRuntimeError,
                       match="result type Float can't be cast to the desired output type Long"):
        dg.tensor([1, 2]).exp_()
