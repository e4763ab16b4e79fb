"""The seed tutorial (../shared/seed/README.md), sections 1-3: every snippet, eagerly.

Each snippet is checked for its values, dtypes, shapes, memory sharing and errors (with
PyTorch's wording). The tests at the end run the same snippets through PyTorch, when it is
installed, and compare the two side by side.
"""
import importlib.util
import itertools
import pathlib

import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]


def arr(t):
    return t.detach().numpy()


# ================================================================ 1. numpy to tensor
def test_floattensor_of_an_int_array_is_float32():
    n_array = np.arange(10).reshape(2, 5)
    t_array = dg.FloatTensor(n_array)
    assert t_array.dtype == dg.float32
    assert t_array.ndim == n_array.ndim == 2
    assert t_array.shape == (2, 5)
    assert isinstance(t_array.shape, dg.Size) and isinstance(t_array.shape, tuple)
    assert repr(t_array.shape) == "dualgraph.Size([2, 5])"
    np.testing.assert_array_equal(arr(t_array), n_array.astype(np.float32))
    n_array[0, 0] = 99  # FloatTensor converted, so it copied
    assert t_array[0, 0].item() == 0.0


def test_from_numpy_shares_memory_both_ways():
    nd_array_ex = np.array([[3, 5, 20], [10, 5, 50], [1, 5, 10]])
    tensor_array = dg.from_numpy(nd_array_ex)
    assert tensor_array.dtype == dg.int64  # numpy's dtype is kept
    assert tensor_array.data_ptr() == nd_array_ex.ctypes.data
    nd_array_ex[0, 0] = 100
    assert tensor_array[0, 0].item() == 100
    tensor_array[2, 2] = -7
    assert nd_array_ex[2, 2] == -7


def test_from_numpy_refuses_a_list():
    with pytest.raises(TypeError, match=r"expected np.ndarray \(got list\)"):
        dg.from_numpy([1, 2])


def test_tensor_copies_its_data():
    source = np.array([[3, 5, 20], [10, 5, 50]])
    t = dg.tensor(source)
    assert t.data_ptr() != source.ctypes.data
    source[0, 0] = 100
    assert t[0, 0].item() == 3


def test_numpy_shares_memory_with_the_tensor():
    t = dg.zeros(3)
    n = t.numpy()
    n[1] = 7.0
    assert t.tolist() == [0.0, 7.0, 0.0]
    t.add_(1)
    assert n.tolist() == [1.0, 8.0, 1.0]


def test_numpy_refuses_a_tensor_that_requires_grad():
    t = dg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError) as e:
        t.numpy()
    assert str(e.value) == ("Can't call numpy() on Tensor that requires grad. "
                            "Use tensor.detach().numpy() instead.")
    assert isinstance(e.value, dg.DualGraphError)
    assert t.detach().numpy().tolist() == [1.0, 1.0]


@pytest.mark.parametrize("data, expected", [
    ([1, 2], "int64"),
    ([1.0, 2.0], "float32"),
    ([1, 2.5], "float32"),
    (3, "int64"),
    (2.5, "float32"),
    (True, "bool"),
    (np.arange(3, dtype=np.int32), "int32"),
    (np.array([1.0, 2.0]), "float64"),
    (np.array([1.0], dtype=np.float32), "float32"),
])
def test_dtype_inference(data, expected):
    assert dg.tensor(data).dtype == getattr(dg, expected)


# ================================================================ 2. numpy-like operations
DATA = [[3, 5, 20], [10, 5, 50], [1, 5, 10]]


def test_slicing_values_and_views():
    x_data = dg.tensor(DATA)
    assert x_data[1:].tolist() == [[10, 5, 50], [1, 5, 10]]
    assert x_data[:2, 1:].tolist() == [[5, 20], [5, 50]]
    corner = x_data[:2, 1:]
    assert corner.data_ptr() == x_data.data_ptr() + 1 * x_data.element_size()
    corner[0, 0] = 0  # basic indexing is a view: the write shows in x_data
    assert x_data[0, 1].item() == 0
    assert x_data._version == corner._version == 1


def test_flatten():
    x_data = dg.tensor(DATA)
    flat = x_data.flatten()
    assert flat.shape == (9,)
    assert flat.tolist() == [3, 5, 20, 10, 5, 50, 1, 5, 10]
    assert flat.dtype == dg.int64


def test_ones_like_keeps_dtype_and_shape():
    x_data = dg.tensor(DATA)
    o = dg.ones_like(x_data)
    assert o.dtype == dg.int64 and o.shape == (3, 3)
    assert o.tolist() == [[1] * 3] * 3


def test_numpy_shape_dtype():
    x_data = dg.tensor(DATA)
    n = x_data.numpy()
    assert isinstance(n, np.ndarray) and n.dtype == np.int64
    np.testing.assert_array_equal(n, np.array(DATA))
    assert x_data.shape == (3, 3)
    assert x_data.dtype == dg.int64


def test_device_is_cpu_and_cuda_is_honest():
    x_data = dg.tensor(DATA)
    assert x_data.device == dg.device("cpu")
    assert str(x_data.device) == "cpu"
    assert repr(x_data.device) == "device(type='cpu')"
    assert dg.cuda.is_available() is False
    assert x_data.to("cpu") is x_data


@pytest.mark.parametrize("move", [lambda t: t.to("cuda"), lambda t: t.to("cuda:0"),
                                  lambda t: t.to(dg.device("cuda")), lambda t: t.cuda(),
                                  lambda t: dg.tensor([1.0], device="cuda")])
def test_cuda_raises_a_clear_error(move):
    x_data = dg.tensor(DATA)
    with pytest.raises(RuntimeError, match="Torch not compiled with CUDA enabled") as e:
        move(x_data)
    # PyTorch without CUDA raises AssertionError; both spellings are caught
    assert isinstance(e.value, AssertionError)
    assert "dg.cuda.is_available() is False" in str(e.value)


def test_rand_size_keyword():
    dg.manual_seed(0)
    tensor_ex = dg.rand(size=(2, 3, 2))
    assert tensor_ex.shape == (2, 3, 2) and tensor_ex.dtype == dg.float32
    values = arr(tensor_ex)
    assert ((values >= 0) & (values < 1)).all()
    assert dg.rand(2, 3, 2).shape == dg.rand((2, 3, 2)).shape == (2, 3, 2)


def test_view_and_reshape_with_minus_one():
    tensor_ex = dg.rand(size=(2, 3, 2))
    v = tensor_ex.view([-1, 6])
    r = tensor_ex.reshape([-1, 6])
    assert v.shape == r.shape == (2, 6)
    np.testing.assert_array_equal(arr(v), arr(tensor_ex).reshape(2, 6))
    np.testing.assert_array_equal(arr(r), arr(tensor_ex).reshape(2, 6))
    assert v.data_ptr() == r.data_ptr() == tensor_ex.data_ptr()  # contiguous: both are views


def test_view_shares_memory():
    a = dg.zeros(3, 2)
    b = a.view(2, 3)
    a.fill_(1)
    assert a.tolist() == [[1.0, 1.0]] * 3
    assert b.tolist() == [[1.0, 1.0, 1.0]] * 2
    assert b.data_ptr() == a.data_ptr()


def test_reshape_of_a_non_contiguous_tensor_copies():
    a = dg.zeros(3, 2)
    assert not a.t().is_contiguous()
    b = a.t().reshape(6)
    a.fill_(1)
    assert a.tolist() == [[1.0, 1.0]] * 3
    assert b.tolist() == [0.0] * 6
    assert b.data_ptr() != a.data_ptr()


def test_view_of_a_non_contiguous_tensor_raises():
    a = dg.zeros(3, 2)
    with pytest.raises(RuntimeError) as e:
        a.t().view(6)
    assert str(e.value) == (
        "view size is not compatible with input tensor's size and stride (at least one dimension "
        "spans across two contiguous subspaces). Use .reshape(...) instead.")


def test_squeeze_unsqueeze_shapes():
    assert dg.rand(size=(2, 1, 2)).squeeze().shape == (2, 2)
    tensor_ex = dg.rand(size=(2, 2))
    assert tensor_ex.unsqueeze(0).shape == (1, 2, 2)
    assert tensor_ex.unsqueeze(1).shape == (2, 1, 2)
    assert tensor_ex.unsqueeze(2).shape == (2, 2, 1)


def _t1_t2():
    return (dg.FloatTensor(np.arange(10).reshape(2, 5)), dg.FloatTensor(np.arange(10).reshape(5, 2)))


def test_add_and_sub():
    t1, _ = _t1_t2()
    np.testing.assert_array_equal(arr(t1 + t1), 2 * np.arange(10.0).reshape(2, 5))
    np.testing.assert_array_equal(arr(t1 - t1), np.zeros((2, 5)))
    assert (t1 + t1).dtype == dg.float32


def test_mm_and_matmul_of_matrices():
    t1, t2 = _t1_t2()
    expected = [[60.0, 70.0], [160.0, 195.0]]
    assert t1.mm(t2).tolist() == expected
    assert t1.matmul(t2).tolist() == expected
    assert (t1 @ t2).tolist() == expected


def test_dot_refuses_matrices():
    t1, t2 = _t1_t2()
    with pytest.raises(RuntimeError, match=r"^1D tensors expected, but got 2D and 2D tensors$"):
        t1.dot(t2)


def test_dot_of_vectors():
    a = dg.rand(10)
    b = dg.rand(10)
    d = a.dot(b)
    assert d.shape == () and d.dtype == dg.float32
    assert np.isclose(d.item(), np.dot(arr(a), arr(b)), rtol=1e-6)


def test_mm_refuses_vectors():
    with pytest.raises(RuntimeError, match=r"^self must be a matrix$"):
        dg.rand(10).mm(dg.rand(10))


def test_mm_does_not_broadcast():
    with pytest.raises(RuntimeError, match=r"^self must be a matrix$"):
        dg.rand(5, 2, 3).mm(dg.rand(5))
    with pytest.raises(RuntimeError, match=r"^mat2 must be a matrix$"):
        dg.rand(2, 3).mm(dg.rand(5, 3, 2))


def test_matmul_broadcasts_like_per_batch_mm():
    a = dg.rand(5, 2, 3)
    b = dg.rand(3)
    c = a.matmul(b)
    assert c.shape == (5, 2)
    for i in range(5):
        row = a[i].mm(dg.unsqueeze(b, 1)).squeeze()
        assert row.shape == (2,)
        np.testing.assert_allclose(arr(row), arr(c[i]), rtol=1e-6)
        assert a[i].mm(dg.unsqueeze(b, 1)).shape == (2, 1)
    np.testing.assert_allclose(arr(c), arr(a) @ arr(b), rtol=1e-6)


def test_softmax():
    tensor = dg.FloatTensor([0.5, 0.7, 0.1])
    h = F.softmax(tensor, dim=0)
    e = np.exp(np.array([0.5, 0.7, 0.1]))
    np.testing.assert_allclose(arr(h), e / e.sum(), rtol=1e-6)
    assert h.dtype == dg.float32
    assert np.isclose(h.sum().item(), 1.0)


def test_randint_argmax_one_hot():
    dg.manual_seed(3)
    y = dg.randint(5, (10, 5))
    assert y.shape == (10, 5) and y.dtype == dg.int64
    values = arr(y)
    assert values.min() >= 0 and values.max() < 5
    y_label = y.argmax(dim=1)
    assert y_label.dtype == dg.int64 and y_label.shape == (10,)
    np.testing.assert_array_equal(arr(y_label), values.argmax(axis=1))
    oh = F.one_hot(y_label)
    n_classes = int(values.argmax(axis=1).max()) + 1  # inferred from the labels
    assert oh.shape == (10, n_classes) and oh.dtype == dg.int64
    np.testing.assert_array_equal(arr(oh), np.eye(n_classes, dtype=np.int64)[arr(y_label)])


def test_one_hot_infers_num_classes():
    assert F.one_hot(dg.tensor([0, 2, 1])).tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert F.one_hot(dg.tensor([1]), num_classes=4).tolist() == [[0, 1, 0, 0]]


def test_cartesian_prod_matches_itertools_product():
    a, b = [1, 2, 3], [4, 5]
    cp = dg.cartesian_prod(dg.tensor(a), dg.tensor(b))
    assert cp.shape == (6, 2) and cp.dtype == dg.int64
    assert [tuple(r) for r in cp.tolist()] == list(itertools.product(a, b))


# ================================================================ 3. autograd
def test_backward_of_10_w_squared_plus_50():
    w = dg.tensor(2.0, requires_grad=True)
    y = w ** 2
    z = 10 * y + 50
    assert z.item() == 90.0
    assert repr(z) == "tensor(90., grad_fn=<AddBackward0>)"
    assert w.is_leaf and not z.is_leaf
    z.backward()
    assert w.grad.item() == 40.0
    assert repr(w.grad) == "tensor(40.)"
    assert w.grad.dtype == dg.float32 and w.grad.shape == ()


def _q():
    a = dg.tensor([2.0, 3.0], requires_grad=True)
    b = dg.tensor([6.0, 4.0], requires_grad=True)
    return a, b, 3 * a ** 3 - b ** 2


def test_partial_derivatives_with_external_gradient():
    a, b, Q = _q()
    assert Q.tolist() == [-12.0, 65.0]
    Q.backward(gradient=dg.tensor([1.0, 1.0]))
    np.testing.assert_allclose(arr(a.grad), 9 * arr(a) ** 2)
    np.testing.assert_allclose(arr(b.grad), -2 * arr(b))
    assert a.grad.tolist() == [36.0, 81.0] and b.grad.tolist() == [-12.0, -8.0]


def test_non_scalar_backward_needs_a_gradient():
    a, b, Q = _q()
    with pytest.raises(RuntimeError, match=r"^grad can be implicitly created only for scalar outputs$"):
        Q.backward()
    assert a.grad is None and b.grad is None


# ================================================================ the example script
def test_example_script_runs(capsys):
    spec = importlib.util.spec_from_file_location("seed_tutorial", ROOT / "examples" / "seed_tutorial.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in ("section1", "section2", "section3", "main"):
        assert callable(getattr(mod, name))
    mod.main()
    out = capsys.readouterr().out
    for line in ("w.grad: tensor(40.)", "a.grad (9 a^2): tensor([36., 81.])",
                 "b.grad (-2 b): tensor([-12.,  -8.])", "b: tensor([0., 0., 0., 0., 0., 0.])",
                 "dg.cuda.is_available(): False", "equal to matmul: True"):
        assert line in out
    assert "grad can be implicitly created only for scalar outputs" in out


# ================================================================ side by side with PyTorch
def _same(d, t):
    """A dualgraph result and a torch result agree: values, dtype, shape (recursively)."""
    import torch
    if isinstance(t, torch.Tensor):
        assert isinstance(d, dg.Tensor), (d, t)
        assert str(d.dtype).replace("dualgraph.", "") == str(t.dtype).replace("torch.", "")
        assert tuple(d.shape) == tuple(t.shape)
        np.testing.assert_allclose(arr(d), t.detach().numpy(), rtol=1e-5, atol=1e-6)
    elif isinstance(t, (tuple, list)):
        assert len(d) == len(t)
        for x, y in zip(d, t):
            _same(x, y)
    else:
        assert d == t


SECTION_1_2 = {
    "FloatTensor": lambda m: m.FloatTensor(np.arange(10).reshape(2, 5)),
    "from_numpy": lambda m: m.from_numpy(np.array(DATA)),
    "tensor(list)": lambda m: m.tensor(DATA),
    "tensor(floats)": lambda m: m.tensor([1.5, 2.0]),
    "tensor(np float64)": lambda m: m.tensor(np.array([1.0, 2.0])),
    "x[1:]": lambda m: m.tensor(DATA)[1:],
    "x[:2, 1:]": lambda m: m.tensor(DATA)[:2, 1:],
    "flatten": lambda m: m.tensor(DATA).flatten(),
    "ones_like": lambda m: m.ones_like(m.tensor(DATA)),
    "view([-1, 6])": lambda m: m.arange(12.0).reshape(2, 3, 2).view([-1, 6]),
    "reshape([-1, 6])": lambda m: m.arange(12.0).reshape(2, 3, 2).reshape([-1, 6]),
    "squeeze": lambda m: m.zeros(2, 1, 2).squeeze(),
    "unsqueeze(0)": lambda m: m.zeros(2, 2).unsqueeze(0),
    "unsqueeze(1)": lambda m: m.zeros(2, 2).unsqueeze(1),
    "unsqueeze(2)": lambda m: m.zeros(2, 2).unsqueeze(2),
    "t1 + t1": lambda m: m.FloatTensor(np.arange(10).reshape(2, 5)) + m.FloatTensor(np.arange(10).reshape(2, 5)),
    "t1 - t1": lambda m: m.FloatTensor(np.arange(10).reshape(2, 5)) - m.FloatTensor(np.arange(10).reshape(2, 5)),
    "mm": lambda m: m.FloatTensor(np.arange(10).reshape(2, 5)).mm(m.FloatTensor(np.arange(10).reshape(5, 2))),
    "matmul": lambda m: m.FloatTensor(np.arange(10).reshape(2, 5)).matmul(m.FloatTensor(np.arange(10).reshape(5, 2))),
    "dot": lambda m: m.arange(10.0).dot(m.arange(10.0) / 10),
    "matmul broadcast": lambda m: (m.arange(30.0).reshape(5, 2, 3) / 7).matmul(m.tensor([1.0, -2.0, 0.5])),
    "softmax": lambda m: m.nn.functional.softmax(m.FloatTensor([0.5, 0.7, 0.1]), dim=0),
    "argmax": lambda m: m.tensor([[1, 3, 2], [4, 0, 4], [0, 0, 1]]).argmax(dim=1),
    "one_hot": lambda m: m.nn.functional.one_hot(m.tensor([2, 0, 1, 2])),
    "cartesian_prod": lambda m: m.cartesian_prod(m.tensor([1, 2, 3]), m.tensor([4, 5])),
    "shape": lambda m: tuple(m.tensor(DATA).shape),
    "device": lambda m: str(m.tensor(DATA).device),
    "cuda.is_available": lambda m: m.cuda.is_available(),
}


@pytest.mark.parametrize("name", list(SECTION_1_2))
def test_snippet_matches_torch(name):
    torch = pytest.importorskip("torch")
    _same(SECTION_1_2[name](dg), SECTION_1_2[name](torch))


ERRORS = {
    "t1.dot(t2)": lambda m: m.ones(2, 5).dot(m.ones(5, 2)),
    "vector mm": lambda m: m.ones(10).mm(m.ones(10)),
    "3-D mm": lambda m: m.ones(5, 2, 3).mm(m.ones(5)),
    "view of a transpose": lambda m: m.zeros(3, 2).t().view(6),
    "numpy of requires_grad": lambda m: m.ones(2, requires_grad=True).numpy(),
    "Q.backward()": lambda m: (3 * m.tensor([2.0, 3.0], requires_grad=True) ** 3).backward(),
    "to cuda": lambda m: m.ones(2).to("cuda"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_snippet_error_matches_torch(name):
    torch = pytest.importorskip("torch")
    fn = ERRORS[name]
    with pytest.raises(Exception) as t_err:
        fn(torch)
    with pytest.raises(type(t_err.value)) as d_err:  # also an instance of torch's type
        fn(dg)
    assert isinstance(d_err.value, dg.DualGraphError)
    assert str(d_err.value).startswith(str(t_err.value))


def test_memory_sharing_matches_torch():
    torch = pytest.importorskip("torch")
    for m in (dg, torch):
        a = m.zeros(3, 2)
        b = a.view(2, 3)
        c = a.t().reshape(6)
        a.fill_(1)
        assert b.sum().item() == 6.0 and c.sum().item() == 0.0, m.__name__
        n = np.array(DATA)
        t = m.from_numpy(n)
        n[0, 0] = 42
        assert t[0, 0].item() == 42, m.__name__


def test_autograd_snippets_match_torch():
    torch = pytest.importorskip("torch")
    results = {}
    for m in (dg, torch):
        w = m.tensor(2.0, requires_grad=True)
        (10 * w ** 2 + 50).backward()
        a = m.tensor([2.0, 3.0], requires_grad=True)
        b = m.tensor([6.0, 4.0], requires_grad=True)
        Q = 3 * a ** 3 - b ** 2
        Q.backward(gradient=m.tensor([1.0, 1.0]))
        results[m] = (w.grad, a.grad, b.grad, Q.detach())
    _same(results[dg], results[torch])


def test_graph_mode_pass_equals_eager():
    """Issue 3: the tutorial's sections 1-3 run in graph mode give the eager values."""
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "seed_tutorial.py"
    spec = importlib.util.spec_from_file_location("seed_tutorial_graph", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.graph_pass()
    grads, expected = out.pop("grads")
    assert len(out) >= 12
    for name, (graph_value, eager_value) in out.items():
        assert graph_value.shape == eager_value.shape, name
        np.testing.assert_allclose(graph_value, eager_value, rtol=1e-6, err_msg=name)
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g, e)
