"""The seed tutorial (../shared/seed/tutorial-ko.txt), sections 1-3, run with dualgraph eagerly.

Every snippet of the note, in order, with PyTorch's semantics: the same values, dtypes, shapes,
memory sharing and errors. One function per section, so that another pass (graph mode) can run
the same sections.

    python examples/seed_tutorial.py
"""
import itertools

import numpy as np

import dualgraph as dg
import dualgraph.nn.functional as F


def heading(title):
    print(f"\n--- {title}")


def show(label, value):
    text = repr(value)
    print(f"{label}:" + ("\n" if "\n" in text else " ") + text)


def show_error(label, fn):
    """Run fn, which must fail, and print the error the way PyTorch users would see it."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - printing whichever error the snippet raises
        print(f"{label}: {type(e).__name__}: {e}")
        return e
    raise AssertionError(f"{label}: expected an error")


# ---------------------------------------------------------------- 1. numpy to tensor
def section1():
    print("\n===== 1. numpy to tensor =====")

    heading("a numpy array and its tensor (FloatTensor -> float32)")
    n_array = np.arange(10).reshape(2, 5)
    print(n_array)
    print("ndim :", n_array.ndim, "shape :", n_array.shape)
    t_array = dg.FloatTensor(n_array)
    print(t_array)
    print("ndim :", t_array.ndim, "shape :", t_array.shape, "dtype :", t_array.dtype)

    heading("from_numpy shares memory with the array")
    data = [[3, 5, 20], [10, 5, 50], [1, 5, 10]]
    nd_array_ex = np.array(data)
    tensor_array = dg.from_numpy(nd_array_ex)
    show("tensor_array", tensor_array)
    nd_array_ex[0, 0] = 100
    show("after nd_array_ex[0, 0] = 100, tensor_array[0, 0]", tensor_array[0, 0])
    tensor_array[0, 1] = -1
    show("after tensor_array[0, 1] = -1, nd_array_ex[0, 1]", int(nd_array_ex[0, 1]))

    heading("dg.tensor copies; t.numpy() shares memory")
    source = np.array(data)
    copied = dg.tensor(source)
    source[0, 0] = 100
    show("dg.tensor(source) after source[0, 0] = 100, [0, 0]", copied[0, 0])
    t = dg.zeros(3)
    view = t.numpy()
    view[1] = 7.0
    show("t after t.numpy()[1] = 7", t)
    show_error("numpy() of a tensor that requires grad",
               lambda: dg.ones(2, requires_grad=True).numpy())

    heading("dtype inference, as PyTorch")
    show("dg.tensor([1, 2]).dtype", dg.tensor([1, 2]).dtype)
    show("dg.tensor([1., 2.]).dtype", dg.tensor([1.0, 2.0]).dtype)
    show("dg.tensor([1, 2.5]).dtype", dg.tensor([1, 2.5]).dtype)
    show("dg.tensor(np.arange(3, dtype=np.int32)).dtype", dg.tensor(np.arange(3, dtype=np.int32)).dtype)
    show("dg.tensor(np.array([1., 2.])).dtype (numpy float64 kept)", dg.tensor(np.array([1.0, 2.0])).dtype)


# ---------------------------------------------------------------- 2. numpy-like operations
def section2():
    print("\n===== 2. numpy-like operations =====")
    dg.manual_seed(0)

    heading("array to tensor, slicing (basic indexing is a view)")
    data = [[3, 5, 20], [10, 5, 50], [1, 5, 10]]
    x_data = dg.tensor(data)
    show("x_data", x_data)
    show("x_data[1:]", x_data[1:])
    show("x_data[:2, 1:]", x_data[:2, 1:])
    corner = x_data[:2, 1:]
    corner[0, 0] = 0
    show("x_data after x_data[:2, 1:][0, 0] = 0", x_data)
    x_data[0, 1] = 5

    heading("flatten, ones_like, numpy, shape, dtype")
    show("x_data.flatten()", x_data.flatten())
    show("dg.ones_like(x_data)", dg.ones_like(x_data))
    show("x_data.numpy()", x_data.numpy())
    show("x_data.shape", x_data.shape)
    show("x_data.dtype", x_data.dtype)

    heading("device: CPU only, and it says so")
    show("x_data.device", x_data.device)
    show("dg.cuda.is_available()", dg.cuda.is_available())
    if dg.cuda.is_available():
        x_data_cuda = x_data.to("cuda")
        show("x_data_cuda.device", x_data_cuda.device)
    else:
        show_error("x_data.to('cuda')", lambda: x_data.to("cuda"))

    heading("rand(size=...), view and reshape")
    tensor_ex = dg.rand(size=(2, 3, 2))
    show("tensor_ex", tensor_ex)
    show("tensor_ex.view([-1, 6])", tensor_ex.view([-1, 6]))
    show("tensor_ex.reshape([-1, 6])", tensor_ex.reshape([-1, 6]))

    heading("view shares memory")
    a = dg.zeros(3, 2)
    b = a.view(2, 3)
    a.fill_(1)
    show("a", a)
    show("b", b)

    heading("reshape of a non-contiguous tensor copies")
    a = dg.zeros(3, 2)
    b = a.t().reshape(6)
    a.fill_(1)
    show("a", a)
    show("b", b)
    show("a.t().is_contiguous()", a.t().is_contiguous())
    show_error("a.t().view(6)", lambda: a.t().view(6))

    heading("squeeze / unsqueeze")
    tensor_ex = dg.rand(size=(2, 1, 2))
    show("rand(2, 1, 2).squeeze().shape", tensor_ex.squeeze().shape)
    tensor_ex = dg.rand(size=(2, 2))
    show("unsqueeze(0).shape", tensor_ex.unsqueeze(0).shape)
    show("unsqueeze(1).shape", tensor_ex.unsqueeze(1).shape)
    show("unsqueeze(2).shape", tensor_ex.unsqueeze(2).shape)

    heading("t1 + t1, t1 - t1")
    n1 = np.arange(10).reshape(2, 5)
    n2 = np.arange(10).reshape(5, 2)
    t1 = dg.FloatTensor(n1)
    t2 = dg.FloatTensor(n2)
    show("t1 + t1", t1 + t1)
    show("t1 - t1", t1 - t1)

    heading("matrix product: mm and matmul, not dot")
    show("t1.mm(t2)", t1.mm(t2))
    show("t1.matmul(t2)", t1.matmul(t2))
    show_error("t1.dot(t2)", lambda: t1.dot(t2))

    heading("dot is for vectors")
    a = dg.rand(10)
    b = dg.rand(10)
    show("a.dot(b)", a.dot(b))
    show("a", a)

    heading("mm is not for vectors")
    show_error("a.mm(b) on vectors", lambda: a.mm(b))

    heading("mm does not broadcast")
    a = dg.rand(5, 2, 3)
    b = dg.rand(5)
    show_error("rand(5, 2, 3).mm(rand(5))", lambda: a.mm(b))

    heading("matmul broadcasts")
    a = dg.rand(5, 2, 3)
    b = dg.rand(3)
    c = a.matmul(b)
    show("rand(5, 2, 3).matmul(rand(3))", c)
    show("shape", c.shape)

    heading("matmul is a per-batch mm")
    for i in range(5):
        row = a[i].mm(dg.unsqueeze(b, 1)).squeeze()
        show(f"a[{i}].mm(b.unsqueeze(1)).squeeze()", row)
    show("equal to matmul", all(dg.allclose(a[i].mm(b.unsqueeze(1)).squeeze(), c[i]) for i in range(5)))

    heading("softmax")
    tensor = dg.FloatTensor([0.5, 0.7, 0.1])
    h_tensor = F.softmax(tensor, dim=0)
    show("F.softmax([0.5, 0.7, 0.1], dim=0)", h_tensor)
    show("sum", h_tensor.sum())

    heading("randint, argmax, one_hot")
    y = dg.randint(5, (10, 5))
    y_label = y.argmax(dim=1)
    show("y", y)
    show("y_label", y_label)
    show("F.one_hot(y_label)", F.one_hot(y_label))

    heading("cartesian_prod (itertools.product order)")
    a = [1, 2, 3]
    b = [4, 5]
    show("list(itertools.product(a, b))", list(itertools.product(a, b)))
    tensor_a = dg.tensor(a)
    tensor_b = dg.tensor(b)
    show("dg.cartesian_prod(tensor_a, tensor_b)", dg.cartesian_prod(tensor_a, tensor_b))


# ---------------------------------------------------------------- 3. autograd
def section3():
    print("\n===== 3. autograd =====")

    heading("backward: z = 10 w^2 + 50, dz/dw = 20 w")
    w = dg.tensor(2.0, requires_grad=True)
    y = w ** 2
    z = 10 * y + 50
    show("z", z)
    z.backward()
    show("w.grad", w.grad)

    heading("a non-scalar output needs `gradient`: Q = 3a^3 - b^2")
    a = dg.tensor([2.0, 3.0], requires_grad=True)
    b = dg.tensor([6.0, 4.0], requires_grad=True)
    Q = 3 * a ** 3 - b ** 2
    show("Q", Q)
    show_error("Q.backward() without gradient", lambda: Q.backward())
    external_grad = dg.tensor([1.0, 1.0])
    Q.backward(gradient=external_grad)
    show("a.grad (9 a^2)", a.grad)
    show("b.grad (-2 b)", b.grad)
    show("a.grad equals 9*a**2", dg.equal(a.grad, 9 * a.detach() ** 2))
    show("b.grad equals -2*b", dg.equal(b.grad, -2 * b.detach()))


# ---------------------------------------------------------------- the same, define-then-run
def graph_pass():
    """Sections 1-3 again in graph mode: the snippets build a graph (shapes known at build time,
    errors raised when a node is built), then one Session run gives the values, which equal the
    eager ones. Returns {name: (graph value, eager value)} so tests can compare them."""
    print("\n===== sections 1-3 in graph mode (define-then-run) =====")
    rng = np.random.default_rng(0)
    arr = np.arange(10).reshape(2, 5)
    t3 = rng.random((2, 3, 2)).astype(np.float32)
    m1, m2 = rng.random((2, 3)).astype(np.float32), rng.random((3, 2)).astype(np.float32)
    b3, v3 = rng.random((5, 2, 3)).astype(np.float32), rng.random(3).astype(np.float32)
    labels = np.array([0, 3, 1, 4, 1])
    eager = {
        "FloatTensor": dg.FloatTensor(arr), "slice": dg.FloatTensor(arr)[:2, 1:],
        "flatten": dg.FloatTensor(arr).flatten(), "view": dg.from_numpy(t3).view([-1, 6]),
        "reshape_T": dg.from_numpy(m1).t().reshape(6), "unsqueeze": dg.from_numpy(v3).unsqueeze(1),
        "add": dg.from_numpy(m1) + dg.from_numpy(m1), "mm": dg.from_numpy(m1).mm(dg.from_numpy(m2)),
        "matmul": dg.from_numpy(b3).matmul(dg.from_numpy(v3)),
        "softmax": F.softmax(dg.from_numpy(m1), dim=0), "one_hot": F.one_hot(dg.from_numpy(labels)),
        "cartesian": dg.cartesian_prod(dg.tensor([1, 2, 3]), dg.tensor([4, 5])),
    }
    with dg.graph_mode() as g:
        heading("build: every result is a symbolic tensor with a static shape")
        x = dg.placeholder([None, 5], dg.float32, name="x")  # the batch size is known only when run
        sym = {
            "FloatTensor": x * 1, "slice": x[:2, 1:], "flatten": x.flatten(),
            "view": dg.constant(t3).view([-1, 6]), "reshape_T": dg.constant(m1).t().reshape(6),
            "unsqueeze": dg.constant(v3).unsqueeze(1), "add": dg.constant(m1) + dg.constant(m1),
            "mm": dg.constant(m1).mm(dg.constant(m2)),
            "matmul": dg.constant(b3).matmul(dg.constant(v3)),
            "softmax": F.softmax(dg.constant(m1), dim=0), "one_hot": F.one_hot(dg.constant(labels)),
            "cartesian": dg.cartesian_prod(dg.constant([1, 2, 3]), dg.constant([4, 5])),
        }
        for k in ("slice", "flatten", "matmul", "one_hot"):
            show(k, sym[k])
        heading("the product errors are raised while building, naming the node")
        show_error("mm of vectors", lambda: dg.constant(v3).mm(dg.constant(v3)))
        show_error("dot of matrices", lambda: dg.constant(m1).dot(dg.constant(m1)))
        heading("a symbolic value is not a Python value until the graph runs")
        show_error("bool(x.sum() > 0)", lambda: bool(x.sum() > 0))
        show_error("x.numpy()", lambda: x.numpy())

        heading("autograd in graph mode: dg.gradients adds the backward nodes (same rules)")
        w = dg.Variable(2.0, name="w")
        z = 10 * w ** 2 + 50
        (dz_dw,) = dg.gradients(z, [w])
        a = dg.Variable([2.0, 3.0], name="a")
        b = dg.Variable([6.0, 4.0], name="b")
        Q = 3 * a ** 3 - b ** 2
        dQ_da, dQ_db = dg.gradients(Q, [a, b], grad_ys=[dg.constant([1.0, 1.0])])
    print(g.summary())
    values = dg.Session(g).run({"sym": sym, "grads": [dz_dw, dQ_da, dQ_db]}, {x: arr.astype(np.float32)})
    heading("run once: the graph's values equal eager mode's")
    out = {}
    for k, v in values["sym"].items():
        e = eager[k].detach().numpy()
        same = v.shape == e.shape and np.allclose(v, e)
        print(f"{k:12} graph == eager: {same}")
        out[k] = (v, e)
    show("dz/dw (eager: 40)", values["grads"][0])
    show("dQ/da (9 a^2)", values["grads"][1])
    show("dQ/db (-2 b)", values["grads"][2])
    out["grads"] = (values["grads"], [40.0, [36.0, 81.0], [-12.0, -8.0]])
    print("(graph mode has no memory sharing to show: a graph's values are produced by the plan "
          "and never alias the caller's arrays)")
    return out


def main():
    section1()
    section2()
    section3()
    graph_pass()


if __name__ == "__main__":
    main()
