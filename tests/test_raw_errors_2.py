"""Raw Python/numpy failures that reached users, second round: a placeholder fed twice (a
SyntaxError from the plan's generated code), dg.save of a deeply nested object (RecursionError)
and dg.load/dg.save of paths that are no checkpoint (raw OSErrors, some naming a temporary
file), float16 var/std/sum/mean that overflowed or rounded where PyTorch accumulates in
float32/float64, and dg.function refusing the (values, indices) namedtuples of max/min/sort/topk.

Each case runs eagerly and through dg.function (several calls) where it can; the expected
numbers are PyTorch 2.13's (CPU), written out, and the test_*_vs_torch tests check torch
itself when it is installed."""
import io
import os

import numpy as np
import pytest

import dualgraph as dg
from dualgraph import serialization
from dualgraph.errors import CheckpointError, DualGraphError
from dualgraph.utils.tree import flatten


def _nest(kind, depth):
    o = 1
    for _ in range(depth):
        o = [o] if kind == "list" else {"k": o} if kind == "dict" else (o,)
    return o


def _deep_stack(k, fn):
    return fn() if k == 0 else _deep_stack(k - 1, fn)


# ================================================================ 1. a placeholder fed twice
def _doubled_graph():
    with dg.graph_mode() as g:
        x = dg.placeholder([2], name="x")
        y = x * 2
    return g, x, y


@pytest.mark.parametrize("second", ["tensor", "name"])
def test_compile_refuses_a_placeholder_fed_twice(second):
    g, x, y = _doubled_graph()
    with pytest.raises(dg.DualGraphError) as e:
        g.compile(y, feeds=[x, x if second == "tensor" else "x:0"])
    assert isinstance(e.value, ValueError)
    assert "'x' is fed twice (feeds number 0 and 1" in str(e.value)
    assert "feed each placeholder once" in str(e.value)


def test_session_refuses_a_tensor_and_its_name_both_fed():
    g, x, y = _doubled_graph()
    with pytest.raises(dg.DualGraphError, match="'x' is fed twice"):
        dg.Session(g).run(y, {x: np.ones(2, np.float32), "x:0": np.zeros(2, np.float32)})


def test_feeding_each_placeholder_once_still_runs():
    g, x, y = _doubled_graph()
    plan = g.compile(y, feeds=[x])
    for k in range(3):
        np.testing.assert_array_equal(plan(np.full(2, k, np.float32)), np.full(2, 2 * k, np.float32))


def test_dg_function_with_one_tensor_as_two_arguments():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    f = dg.function(lambda a, b: (a * b).sum())
    for _ in range(3):
        loss = f(x, x)
        loss.backward()
        assert loss.item() == 14.0
        np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
        x.grad = None


# ================================================================ 2. dg.save / dg.load
@pytest.mark.parametrize("kind", ["list", "dict", "tuple"])
def test_save_refuses_deep_nesting_with_a_dualgraph_error(kind, tmp_path):
    path = tmp_path / "deep.dg"
    dg.save({"ok": 1}, path)
    with pytest.raises(DualGraphError) as e:
        dg.save(_nest(kind, 5000), path)
    assert isinstance(e.value, RuntimeError)        # torch.save raises RecursionError
    assert not isinstance(e.value, RecursionError)
    assert f"nested more than {serialization.MAX_DEPTH} deep" in str(e.value)
    assert dg.load(path) == {"ok": 1}                # the previous checkpoint untouched
    assert os.listdir(tmp_path) == ["deep.dg"]       # and no temporary file left
    with pytest.raises(DualGraphError, match="nested more than"):
        dg.save(_nest(kind, serialization.MAX_DEPTH + 1), io.BytesIO())


@pytest.mark.parametrize("kind", ["list", "dict", "tuple"])
def test_the_deepest_object_save_takes_loads_back_even_from_deep_in_a_stack(kind):
    obj = _nest(kind, serialization.MAX_DEPTH)

    def round_trip():
        buf = io.BytesIO()
        dg.save(obj, buf)
        buf.seek(0)
        return dg.load(buf)

    assert round_trip() == obj
    assert _deep_stack(300, round_trip) == obj


def test_load_of_a_directory_is_torchs_is_a_directory_error(tmp_path):
    with pytest.raises(DualGraphError) as e:
        dg.load(tmp_path)
    assert isinstance(e.value, IsADirectoryError)
    assert str(e.value) == f"[Errno 21] Is a directory: '{tmp_path}'"   # open()'s, as torch.load
    assert e.value.filename == str(tmp_path)


def test_load_of_an_unreadable_file_is_a_dualgraph_permission_error(tmp_path, monkeypatch):
    path = tmp_path / "ck.dg"
    dg.save({"a": 1}, path)

    def denied(p, mode="r", *a, **k):
        raise PermissionError(13, "Permission denied", os.fspath(p))

    monkeypatch.setattr(serialization, "open", denied, raising=False)
    with pytest.raises(DualGraphError) as e:
        dg.load(path)
    assert isinstance(e.value, PermissionError)
    assert str(e.value) == f"[Errno 13] Permission denied: '{path}'"


@pytest.mark.parametrize("content, msg", [
    (b"hello world\n", "is not a dualgraph checkpoint (unknown header b'hell')"),
    (b"", "is empty: not a dualgraph checkpoint"),
])
def test_load_of_a_text_or_empty_file_names_it(tmp_path, content, msg):
    path = tmp_path / "f.txt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as e:
        dg.load(path)
    assert isinstance(e.value, DualGraphError)
    assert str(e.value).startswith(repr(str(path)))
    assert msg in str(e.value)


def test_load_of_a_truncated_file_names_it(tmp_path):
    buf = io.BytesIO()
    dg.save({"w": dg.ones(3), "b": [1, 2.5]}, buf)
    data = buf.getvalue()
    path = tmp_path / "cut.dg"
    for n in sorted({1, 2, 3, 4, 5, 30, 64, len(data) // 3, len(data) // 2, len(data) - 22,
                     len(data) - 1}):
        path.write_bytes(data[:n])
        with pytest.raises(CheckpointError) as e:
            dg.load(path)
        assert str(e.value).startswith(repr(str(path))), (n, str(e.value))


def test_save_into_a_missing_directory_names_it_not_the_temporary_file(tmp_path):
    target = tmp_path / "nope" / "ck.dg"
    with pytest.raises(DualGraphError) as e:
        dg.save({"a": 1}, target)
    assert isinstance(e.value, RuntimeError)                       # torch.save's type
    assert str(e.value) == f"Parent directory {tmp_path / 'nope'} does not exist."   # and words
    assert ".tmp" not in str(e.value)


def test_save_onto_a_directory_is_refused_and_leaves_it_alone(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(DualGraphError) as e:
        dg.save({"a": 1}, tmp_path / "d")
    assert isinstance(e.value, RuntimeError)
    assert str(e.value) == f"File {tmp_path / 'd'} cannot be opened: it is a directory."
    assert sorted(os.listdir(tmp_path)) == ["d"] and os.listdir(tmp_path / "d") == []


def test_save_whose_temporary_file_cannot_be_created(tmp_path, monkeypatch):
    real = serialization.os.open

    def denied(p, *a, **k):
        if os.fspath(p).endswith(".tmp"):
            raise PermissionError(13, "Permission denied", p)
        return real(p, *a, **k)

    monkeypatch.setattr(serialization.os, "open", denied)
    with pytest.raises(DualGraphError) as e:
        dg.save({"a": 1}, tmp_path / "ck.dg")
    assert isinstance(e.value, RuntimeError)
    assert str(e.value).startswith(f"File {tmp_path / 'ck.dg'} cannot be opened: Permission denied")


# ================================================================ 3. float16 reductions
H = np.float16


def _h(*rows):
    return np.array(rows, H)


# name -> (fn, input, PyTorch 2.13's result)
F16_CASES = {
    "var: the mean of 3 x 60000 overflowed": (lambda x: x.var(), _h(60000, 60000, 60000), _h(0)),
    "std: 0 for equal values": (lambda x: x.std(), _h(60000, 60000, 60000), _h(0)),
    "std: sqrt taken before rounding (var is inf)": (
        lambda x: x.std(), _h(30000, 40000, 50000, 60000), _h(12904)),
    "var: inf where the float16 variance is": (
        lambda x: x.var(), _h(30000, 40000, 50000, 60000), _h(np.inf)),
    "mean": (lambda x: x.mean(), _h(30000, 40000, 50000, 60000), _h(44992)),
    "sum over dim 0: one rounding": (
        lambda x: x.sum(0), _h([2048, 1], [1, 1], [1, 2048]), _h(2050, 2050)),
    "mean over dim 0": (lambda x: x.mean(0), _h([2048, 1], [1, 1], [1, 2048]), _h(683.5, 683.5)),
    "std over dim 1": (lambda x: x.std(1), _h([2048, 1], [1, 1], [1, 2048]), _h(1447, 0, 1447)),
    "std keepdim": (lambda x: x.std(1, keepdim=True), _h([60000, 60000], [1, 3]),
                    _h([0], [1.414])),
    "small values: var": (lambda x: x.var(), _h(0.001, 0.002, 0.003, 0.004), _h(1.6689300537109375e-06)),
    "small values: std": (lambda x: x.std(), _h(0.001, 0.002, 0.003, 0.004), _h(0.0012912750244140625)),
    "mean(dtype=float16) of float32": (
        lambda x: x.float().mean(0, dtype=dg.float16), _h([60000], [60000]), _h(60000)),
    "sum(dtype=float16) of float64: through float32": (
        lambda x: x.double().sum(dtype=dg.float16), _h(1, 2), _h(3)),
}


@pytest.mark.parametrize("name", sorted(F16_CASES))
def test_float16_reductions_match_torch_eagerly_and_compiled(name):
    fn, x, want = F16_CASES[name]
    got = fn(dg.tensor(x)).numpy()
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, want)
    compiled = dg.function(fn)
    for k in range(3):
        xs = x + H(0)                        # a fresh array each call
        np.testing.assert_array_equal(compiled(dg.tensor(xs)).numpy(), want)


def _grads(fn, x, cot):
    xd = dg.tensor(x.copy(), requires_grad=True)
    out = fn(xd)
    (g,) = dg.autograd.grad([out], [xd], [dg.tensor(cot)])
    return out, g


@pytest.mark.parametrize("op", ["var", "std", "mean", "sum"])
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_float16_gradients_eager_and_compiled_agree(op, dim):
    rng = np.random.default_rng(5)
    # (float16's own sums of these overflow: the old mean, var and std were inf or NaN)
    x = (rng.standard_normal((4, 6)) * 100 + 30000).astype(H)
    fn = (lambda t: getattr(t, op)()) if dim is None else (lambda t: getattr(t, op)(dim))
    cot = np.asarray(rng.standard_normal(() if dim is None else (x.shape[1 - dim],)), H)

    def step(t, c):
        out = fn(t)
        return [out] + list(dg.autograd.grad([out], [t], [c]))

    eager = [v.detach().numpy() for v in step(dg.tensor(x.copy(), requires_grad=True), dg.tensor(cot))]
    assert all(np.isfinite(v).all() for v in eager[op == "sum":]), eager   # (the sums are inf)
    compiled = dg.function(step)
    for _ in range(3):
        got = compiled(dg.tensor(x.copy(), requires_grad=True), dg.tensor(cot))
        for a, b in zip(got, eager):
            a = a.detach().numpy()
            assert a.dtype == b.dtype and np.array_equal(a.view(np.uint16), b.view(np.uint16))


@pytest.mark.parametrize("op", ["var", "std", "mean", "sum"])
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_float16_reductions_vs_torch(op, dim):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    for trial in range(40):
        shape = (int(rng.integers(1, 7)), int(rng.integers(2, 9)))
        x = np.clip(rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 4.5)
                    + rng.choice([0, 1000, 30000, 60000]), -65504, 65504).astype(H)
        fn = (lambda t: getattr(t, op)()) if dim is None else (lambda t: getattr(t, op)(dim))
        osh = () if dim is None else (shape[1 - dim],)
        cot = np.asarray(rng.standard_normal(osh), H)
        out, g = _grads(fn, x, cot)
        xt = torch.tensor(x.copy(), requires_grad=True)
        with __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore")   # torch: no degree of freedom left
            ot = fn(xt)
        (gt,) = torch.autograd.grad([ot], [xt], [torch.tensor(cot)])
        np.testing.assert_array_equal(out.detach().numpy(), ot.detach().numpy(), err_msg=f"{x}")
        # the gradients are float16 arithmetic in another order than torch's: a few ulps
        np.testing.assert_allclose(g.numpy().astype(np.float32), gt.numpy().astype(np.float32),
                                   rtol=4e-3, atol=1e-3, err_msg=f"{x}")


# ================================================================ 4. namedtuple results
NAMED = {
    "max(dim)": lambda x: x.max(1),
    "min(dim, keepdim)": lambda x: x.min(0, keepdim=True),
    "dg.max(x, dim)": lambda x: dg.max(x, 0),
    "sort": lambda x: x.sort(1, descending=True),
    "dg.sort": lambda x: dg.sort(x, 0),
    "topk": lambda x: x.topk(2),
    "nested": lambda x: {"m": x.max(1), "pair": (x.topk(1, dim=0), x.sum())},
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_dg_function_returns_the_namedtuples_of_eager(name):
    fn = NAMED[name]
    compiled = dg.function(fn)
    rng = np.random.default_rng(11)
    for _ in range(3):
        xv = rng.standard_normal((3, 4)).astype(np.float32)
        x1 = dg.tensor(xv.copy(), requires_grad=True)
        x2 = dg.tensor(xv.copy(), requires_grad=True)
        e, c = fn(x1), compiled(x2)
        le, te = flatten(e)
        lc, tc = flatten(c)
        assert te == tc                          # the same namedtuple classes at the same places
        for a, b in zip(le, lc):
            assert type(a) is type(b) and a.dtype == b.dtype
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        sum(v.float().sum() for v in le if v.dtype == dg.float32).backward()
        sum(v.float().sum() for v in lc if v.dtype == dg.float32).backward()
        np.testing.assert_array_equal(x1.grad.numpy(), x2.grad.numpy())


def test_dg_function_namedtuple_fields():
    compiled = dg.function(lambda x: x.max(1))
    for _ in range(2):
        x = dg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
        r = compiled(x)
        assert type(r) is type(x.max(1)) and r._fields == ("values", "indices")
        values, indices = r
        np.testing.assert_array_equal(r.values.numpy(), [5.0, 7.0])
        np.testing.assert_array_equal(indices.numpy(), [1, 0])
        assert values is r.values and repr(r).startswith("return_types(values=")
    s = dg.function(lambda x: x.topk(2))(dg.tensor([3.0, 1.0, 2.0]))
    assert type(s) is type(dg.tensor([0.0]).topk(1))
    np.testing.assert_array_equal(s.indices.numpy(), [0, 2])


def test_session_fetches_a_namedtuple():
    with dg.graph_mode() as g:
        p = dg.placeholder([2, 3], name="p")
        r = p.max(1)
    got = dg.Session(g).run(r, {p: np.arange(6, dtype=np.float32).reshape(2, 3)})
    assert type(got) is type(r)
    np.testing.assert_array_equal(got.values, [2.0, 5.0])
    np.testing.assert_array_equal(got.indices, [2, 2])


def test_namedtuples_vs_torch():
    torch = pytest.importorskip("torch")
    xv = np.random.default_rng(3).standard_normal((3, 5)).astype(np.float32)
    for op in ("max", "min", "sort", "topk"):
        args = (2,) if op == "topk" else (1,)
        tr = getattr(torch.tensor(xv), op)(*args)
        dr = dg.function(lambda x: getattr(x, op)(*args))(dg.tensor(xv))
        np.testing.assert_array_equal(dr.values.numpy(), tr.values.numpy())
        np.testing.assert_array_equal(dr.indices.numpy(), tr.indices.numpy())


def test_save_on_a_full_disk_is_a_dualgraph_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    import errno
    import os
    path = tmp_path / "ckpt.dg"
    dg.save({"w": dg.ones(2)}, path)
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(dg.errors.DGRuntimeError, match="could not be written: No space left on device"):
        dg.save({"w": dg.zeros(3)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.dg"]   # no temporary file left
    with open("/dev/full", "wb", buffering=0) as fh:
        with pytest.raises(dg.errors.DGRuntimeError, match="could not write to '/dev/full'"):
            dg.save({"w": dg.ones(2000)}, fh)
