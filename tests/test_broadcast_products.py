"""A product's bits do not depend on whether an operand is a broadcast (stride 0) or the same
values laid out in memory. Eagerly the gradient of `y.sum()` is ones broadcast; a compiled
backward fed a zero gradient for another output adds it and hands the product a C-ordered
buffer: numpy's own loop (not BLAS) had read the broadcast, so the two rounded differently
(random seeds 50238, 50395: linear's input gradient one ulp off with the backward outside)."""
import numpy as np
import pytest

import dualgraph as dg
from dualgraph.ops.blas import matmul


@pytest.mark.parametrize("shape_a,shape_b", [((5, 7), (7, 3)), ((2, 1, 4), (4, 2)), ((3, 4, 6), (6, 5))])
def test_matmul_of_a_broadcast_equals_its_copy(shape_a, shape_b):
    rng = np.random.default_rng(1)
    for _ in range(20):
        b = rng.standard_normal(shape_b).astype(np.float32)
        a = np.broadcast_to(np.float32(rng.standard_normal()), shape_a)
        np.testing.assert_array_equal(matmul(a, b), matmul(np.ascontiguousarray(a), b))
        bt = np.broadcast_to(rng.standard_normal(shape_b[-1]).astype(np.float32), shape_b)
        a2 = rng.standard_normal(shape_a).astype(np.float32)
        np.testing.assert_array_equal(matmul(a2, bt), matmul(a2, np.ascontiguousarray(bt)))


def test_outside_backward_of_one_output_equals_eager_bitwise():
    W = dg.tensor([[-0.872, -0.539], [-0.29, 0.759], [-0.068, 0.828], [0.186, -0.195]])
    b = dg.tensor([0.838, 0.809, 0.921, -0.399])

    def fwd(x):
        t = dg.nn.functional.linear(dg.tanh(dg.sin(x) + 1.5), W, b)
        return t.sum(), t.masked_fill(t > 0.06, 2.0)
    f = dg.function(fwd)
    rng = np.random.default_rng(0)
    for x in [np.array([[[1.489, -1.2309]], [[1.2997, -0.4413]]], np.float32)] + [
            rng.uniform(-2, 2, (2, 1, 2)).astype(np.float32) for _ in range(10)]:
        a, c = dg.tensor(x, requires_grad=True), dg.tensor(x, requires_grad=True)
        fwd(a)[0].backward()
        f(c)[0].backward()
        np.testing.assert_array_equal(c.grad.numpy(), a.grad.numpy())
