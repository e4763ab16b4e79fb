"""The indexing ops, the order statistics and the compositions (ops/indexing.py,
ops/order_stats.py, ops/composites.py) beyond the op table (tests/opinfo_indexing.py):

- a training loop (SGD with momentum, 5 steps) through index_select, scatter_add, median,
  cummax, take_along_dim and compositions, on parameters: eager and dg.function give the same
  parameters and .grad, bit for bit, at every step (and PyTorch's, to rounding);
- PyTorch's choice of index among equal values (median, nanmedian, kthvalue, mode, cummax,
  cummin; the signed zero median() returns), on many tie-heavy random inputs;
- the in-place methods write the tensor: a view taken before sees the write, as in PyTorch,
  eagerly and under dg.function, with gradients through the write;
- errors: PyTorch's type and wording; an index out of range refused when a graph node is built
  (a constant index) or when it runs (a fed one), never a numpy IndexError.
"""
import numpy as np
import pytest

import dualgraph as dg

torch = pytest.importorskip("torch")

F32 = np.float32


# ============================================================================ training loop
def _init(lib, seed=0):
    rng = np.random.default_rng(seed)
    table = lib.tensor(rng.standard_normal((6, 3)).astype(F32), requires_grad=True)
    w = lib.tensor(rng.standard_normal((3, 3)).astype(F32), requires_grad=True)
    b = lib.tensor(rng.standard_normal((3,)).astype(F32), requires_grad=True)
    return [table, w, b]


def _batch(lib, step):
    rng = np.random.default_rng(100 + step)
    idx = lib.tensor(rng.integers(0, 6, 8))
    seg = lib.tensor(np.repeat(rng.integers(0, 4, (8, 1)), 3, axis=1))
    take = lib.tensor(rng.integers(0, 3, (4, 2)))
    x = lib.tensor(rng.standard_normal((8, 3)).astype(F32))
    return idx, seg, take, x


def _loss(lib, params, idx, seg, take, x):
    table, w, b = params
    emb = table.index_select(0, idx)                         # (8, 3) rows of the table
    h = (emb * x) @ w + b
    agg = lib.zeros(4, 3).scatter_add(0, seg, h)            # summed by segment
    med = agg.median(dim=1).values                           # (4,)
    run = agg.cummax(1).values                               # (4, 3)
    picked = run.take_along_dim(take, 1)                     # (4, 2)
    k = lib.kron(w[:2, :2], b[:2].reshape(2, 1))             # (4, 2)
    d = lib.diff(picked, dim=1)                               # (4, 1)
    t = lib.movedim(lib.tile(med.reshape(4, 1), (1, 2)), 0, 1)  # (2, 4)
    return (picked * k).sum() + (d ** 2).sum() + (t * t).mean() + lib.trace(w) * 0.1


def _train(lib, compiled, steps=5):
    params = _init(lib)
    opt = (dg if lib is dg else torch).optim.SGD(params, lr=0.05, momentum=0.9)

    def step(idx, seg, take, x):
        opt.zero_grad()
        loss = _loss(lib, params, idx, seg, take, x)
        loss.backward()
        opt.step()
        return loss

    fn = dg.function(step) if compiled else step
    history = []
    for i in range(steps):
        loss = fn(*_batch(lib, i))
        history.append((float(loss.detach()), [p.detach().numpy().copy() for p in params],
                        [p.grad.numpy().copy() for p in params]))
    return history


def test_training_loop_eager_equals_compiled_bitwise():
    eager = _train(dg, compiled=False)
    compiled = _train(dg, compiled=True)
    for i, ((le, pe, ge), (lc, pc, gc)) in enumerate(zip(eager, compiled)):
        assert le == lc, f"step {i}: loss {le} vs {lc}"
        for k, (a, b) in enumerate(zip(pe, pc)):
            assert a.tobytes() == b.tobytes(), f"step {i}: parameter {k} differs"
        for k, (a, b) in enumerate(zip(ge, gc)):
            assert a.tobytes() == b.tobytes(), f"step {i}: .grad of parameter {k} differs"


def test_training_loop_matches_torch():
    ours = _train(dg, compiled=False)
    ref = _train(torch, compiled=False)
    for i, ((lo, po, go), (lr, pr, gr)) in enumerate(zip(ours, ref)):
        assert np.isclose(lo, lr, rtol=1e-4), f"step {i}: loss {lo} vs torch {lr}"
        for a, b in zip(po + go, pr + gr):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# ============================================================================ ties vs PyTorch
def _tie_inputs(seed):
    rng = np.random.default_rng(seed)
    out = []
    for trial in range(40):
        n = int(rng.integers(1, 70))
        x = rng.integers(0, int(rng.integers(1, 5)), (int(rng.integers(1, 4)), n)).astype(F32)
        if trial % 3 == 0:
            x[rng.random(x.shape) < 0.3] = np.nan
        if trial % 4 == 0:
            x = x * (trial % 8 == 0) + np.where(rng.random(x.shape) < 0.5, -0.0, 0.0).astype(F32)
        if trial % 10 == 9:
            x[0] = np.nan
        out.append(x)
    return out


_SELECTING = {
    "median": lambda t, k: t.median(1), "nanmedian": lambda t, k: t.nanmedian(1),
    "kthvalue": lambda t, k: t.kthvalue(k, 1), "mode": lambda t, k: t.mode(1),
    "cummax": lambda t, k: t.cummax(1), "cummin": lambda t, k: t.cummin(1),
    "median_dim0": lambda t, k: t.t().median(0), "kthvalue_dim0": lambda t, k: t.t().kthvalue(k, 0),
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(_SELECTING))
def test_ties_pick_torchs_index(name, seed):
    fn = _SELECTING[name]
    for x in _tie_inputs(seed):
        k = 1 + (seed * 7) % x.shape[1]
        a, b = fn(dg.tensor(x), k), fn(torch.tensor(x), k)
        np.testing.assert_array_equal(a.indices.numpy(), b.indices.numpy(), err_msg=f"{name} of {x.tolist()}")
        va, vb = a.values.numpy(), b.values.numpy()
        assert np.array_equal(va, vb, equal_nan=True) and np.array_equal(np.signbit(va), np.signbit(vb))


@pytest.mark.parametrize("name", ["median", "nanmedian"])
def test_median_of_all_elements_matches_torch_on_ties(name):
    for x in _tie_inputs(5):
        a = getattr(dg.tensor(x), name)().numpy()
        b = getattr(torch.tensor(x), name)().numpy()
        assert np.array_equal(a, b, equal_nan=True) and np.signbit(a) == np.signbit(b), x.tolist()


def test_tie_gradients_go_to_torchs_index():
    x = np.array([[2.0, 1.0, 2.0, 2.0, 0.0, 2.0], [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]], F32)
    for name in ("median", "kthvalue", "mode", "cummax"):
        grads = []
        for lib in (dg, torch):
            t = lib.tensor(x, requires_grad=True)
            r = {"median": lambda: t.median(1).values, "kthvalue": lambda: t.kthvalue(3, 1).values,
                 "mode": lambda: t.mode(1).values, "cummax": lambda: t.cummax(1).values}[name]()
            (r * lib.arange(1, r.numel() + 1, dtype=lib.float32).reshape(r.shape)).sum().backward()
            grads.append(t.grad.numpy())
        np.testing.assert_array_equal(grads[0], grads[1], err_msg=name)
    # median() with no dim shares the gradient among the equal elements, as torch
    grads = []
    for lib in (dg, torch):
        t = lib.tensor(np.array([3.0, 1.0, 3.0, 5.0, 3.0], F32), requires_grad=True)
        t.median().backward()
        grads.append(t.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])


# ============================================================================ in-place through views
def _ix(lib, *v):
    return lib.tensor(np.array(v, np.int64))


_INPLACE = {
    "index_add_": lambda lib, x: x.index_add_(1, _ix(lib, 2, 0, 2), lib.ones(3, 3), alpha=2),
    "index_copy_": lambda lib, x: x.index_copy_(0, _ix(lib, 2, 0), lib.full((2, 4), 7.0)),
    "index_fill_": lambda lib, x: x.index_fill_(1, _ix(lib, 1, -1), -3.0),
    "scatter_": lambda lib, x: x.scatter_(0, lib.tensor(np.array([[2, 0, 1, 0]])), lib.full((1, 4), 9.0)),
    "scatter_value_": lambda lib, x: x.scatter_(1, lib.tensor(np.array([[3], [0], [1]])), 5.0),
    "scatter_add_": lambda lib, x: x.scatter_add_(0, lib.tensor(np.array([[0, 0, 1, 2]])), lib.ones(1, 4)),
    "scatter_reduce_": lambda lib, x: x.scatter_reduce_(1, lib.tensor(np.array([[0, 0], [1, 1], [3, 3]])),
                                                        lib.full((3, 2), 2.0), "amax", include_self=False),
    "masked_scatter_": lambda lib, x: x.masked_scatter_(lib.tensor(np.array([True, False, True, False])),
                                                        lib.arange(6.0)),
}


def _write_through_view(lib, name, x0):
    x = lib.tensor(x0)
    v = x[:2]                      # a view taken before the write
    _INPLACE[name](lib, x)
    return x * 1, v * 1


X0 = np.arange(12.0, dtype=F32).reshape(3, 4) / 4 - 1


@pytest.mark.parametrize("name", sorted(_INPLACE))
def test_inplace_methods_write_through_views(name):
    want = [t.numpy() for t in _write_through_view(torch, name, X0)]
    got = [t.numpy() for t in _write_through_view(dg, name, X0)]
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    f = dg.function(lambda x: _inplace_in_function(name, x))
    for _ in range(3):
        outs = f(dg.tensor(X0))
        for a, b in zip(outs, want):
            np.testing.assert_array_equal(a.numpy(), b)


def _inplace_in_function(name, x):
    x = x * 1
    v = x[:2]
    _INPLACE[name](dg, x)
    return x * 1, v * 1


@pytest.mark.parametrize("name", ["index_add_", "index_copy_", "index_fill_", "scatter_", "scatter_add_",
                                  "masked_scatter_"])
def test_gradients_through_inplace_writes_match_torch(name):
    grads = []
    for lib in (dg, torch):
        w = lib.tensor(X0, requires_grad=True)
        y = w * 2
        _INPLACE[name](lib, y)
        (y * lib.tensor(X0 + 3)).sum().backward()
        grads.append(w.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])


# ============================================================================ errors
def test_out_of_range_index_refused_when_the_node_is_built_with_a_constant_index():
    with dg.graph_mode():
        p = dg.placeholder([2, 3])
        with pytest.raises(dg.DualGraphError, match="index out of range in self") as e:
            p.index_select(0, dg.tensor([5]))
        assert isinstance(e.value, IndexError)
        with pytest.raises(dg.DualGraphError, match="index 7 is out of bounds for dimension 1 with size 3"):
            p.scatter_add(1, dg.tensor([[7]]), dg.ones(1, 1))
        with pytest.raises(IndexError, match=r"index_copy_\(\): index -1 is out of bounds"):
            p.index_copy(1, dg.tensor([-1]), dg.ones(2, 1))


def test_out_of_range_index_refused_when_it_runs():
    with dg.graph_mode() as g:
        p = dg.placeholder([2, 3])
        i = dg.placeholder([1], dg.int64)
        y = p.index_select(1, i)
    plan = g.compile([y], feeds=[p, i])
    assert plan(np.ones((2, 3), F32), np.array([2]))[0].shape == (2, 1)
    with pytest.raises(dg.DualGraphError, match=r"INDICES element is out of DATA bounds, id=3 axis_dim=3"):
        plan(np.ones((2, 3), F32), np.array([3]))
    f = dg.function(lambda x, idx: x.index_add(0, idx, dg.ones(1, 3)))
    f(dg.zeros(2, 3), dg.tensor([1]))
    with pytest.raises(dg.DualGraphError, match="index 2 is out of bounds for dimension 0 with size 2"):
        f(dg.zeros(2, 3), dg.tensor([2]))


@pytest.mark.parametrize("call", [
    lambda lib, x: x.index_select(0, lib.tensor([-1])),
    lambda lib, x: x.gather(1, lib.tensor([[3]])),
    lambda lib, x: x.scatter(0, lib.tensor([[2, 0]]), lib.ones(1, 2)),
    lambda lib, x: x.index_fill(1, lib.tensor([3]), 0.0),
    lambda lib, x: x.take_along_dim(lib.tensor([[6]])),
    lambda lib, x: x.kthvalue(4, 1),
    lambda lib, x: x.median(2),
    lambda lib, x: lib.quantile(x, 2.0),
    lambda lib, x: x.masked_select(lib.tensor([1, 0, 1])),
    lambda lib, x: lib.movedim(x, (0, 0), (0, 1)),
    lambda lib, x: lib.tensor_split(x, 0, 1),
], ids=["index_select", "gather", "scatter", "index_fill", "take_along_dim", "kthvalue", "median",
        "quantile", "masked_select", "movedim", "tensor_split"])
def test_errors_are_torchs(call):
    x = np.zeros((2, 3), F32)
    with pytest.raises(Exception) as te:
        call(torch, torch.tensor(x))
    with pytest.raises(dg.DualGraphError) as de:
        call(dg, dg.tensor(x))
    kind = next(k for k in type(te.value).__mro__ if k in (IndexError, TypeError, ValueError, RuntimeError))
    assert isinstance(de.value, kind), f"{type(de.value).__mro__} vs torch {type(te.value).__mro__}"
    assert str(te.value).split("\n")[0] in str(de.value), f"{de.value} vs torch {te.value}"


def test_scatter_src_gradient_refused_as_torch_when_index_is_smaller():
    msgs = []
    for lib in (dg, torch):
        src = lib.ones(2, 3, requires_grad=True)
        y = lib.zeros(2, 3).scatter_add(1, lib.tensor([[0, 1]]), src)
        with pytest.raises(RuntimeError) as e:
            y.sum().backward()
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


def test_non_tensor_index_refused():
    with pytest.raises(TypeError, match=r"index_select\(\): argument 'index' \(position 3\) must be Tensor, not list"):
        dg.zeros(2, 3).index_select(0, [0])


# ============================================================================ data-dependent and unknown sizes
def test_masked_select_compiled_equals_eager_with_gradients():
    def fn(x, m):
        y = x.masked_select(m)
        return y, dg.autograd.grad((y * y).sum(), [x])[0]
    f = dg.function(fn)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = dg.tensor(rng.standard_normal((3, 4)).astype(F32), requires_grad=True)
        m = dg.tensor(rng.random(4) < 0.5)
        a, b = fn(x, m), f(x, m)
        for p, q in zip(a, b):
            assert p.detach().numpy().tobytes() == q.detach().numpy().tobytes()


def test_splits_along_a_dim_of_unknown_size():
    with dg.graph_mode() as g:
        p = dg.placeholder([2, None])
        pieces = dg.tensor_split(p, 3, 1)
        halves = dg.hsplit(p, 2)
    plan = g.compile(list(pieces) + list(halves), feeds=[p])
    x = np.arange(16, dtype=F32).reshape(2, 8)
    got = plan(x)
    want = [t.numpy() for t in torch.tensor_split(torch.tensor(x), 3, 1) + torch.hsplit(torch.tensor(x), 2)]
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(dg.DualGraphError):
        plan(np.zeros((2, 7), F32))   # hsplit: 7 is not divisible by 2


def test_cross_default_dim_refused_while_its_size_is_unknown():
    with dg.graph_mode():
        p = dg.placeholder([None, 3])
        with pytest.raises(dg.DualGraphError, match=r"cross\(\): without dim.* pass dim"):
            dg.cross(p, p)
        assert tuple(dg.cross(p, p, dim=1).shape) == (None, 3)
