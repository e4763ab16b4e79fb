"""sum over the batch and the trailing axes (a conv bias's gradient) takes the batch first
(ops/reductions.py, _batch_then_trailing): the same sums as one reduce within float32
rounding, every other axis set left to one reduce (the same bits as np.add.reduce), keepdim
and negative dims as PyTorch, and eager == compiled to the bit."""
import numpy as np
import pytest

import dualgraph as dg
from dualgraph.ops import reductions as R

from special_value_checks import bits, salted


@pytest.mark.parametrize("shape, dim", [
    ((32, 6, 28, 28), [0, 2, 3]), ((32, 6, 28, 28), [0, 3]), ((8, 4, 8, 8, 8), [0, 2, 3, 4]),
    ((8, 4, 8, 8, 8), [0, 4]), ((32, 6, 28, 28), [0, -1, -2]), ((64, 300, 9), [0, 2])])
@pytest.mark.parametrize("keepdim", [False, True])
def test_batch_first_sums(shape, dim, keepdim):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    assert R._batch_then_trailing(tuple(dim), len(shape)) is not None
    got = R._sum_kernel(x, dim, keepdim)
    want = np.add.reduce(x.astype(np.float64), axis=tuple(dim), keepdims=keepdim)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("shape, dim", [
    ((32, 6, 28, 28), [0, 1]), ((32, 6, 28, 28), [0, 2]), ((32, 6, 28, 28), [2, 3]),
    ((32, 6, 28, 28), [0, 1, 2, 3]), ((32, 600), [0]), ((4, 6, 8, 8), [0, 2, 3])])  # (small)
def test_other_axis_sets_are_one_reduce(shape, dim):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    got = R._sum_kernel(x, dim)
    assert np.array_equal(bits(got), bits(np.add.reduce(x, axis=tuple(dim))))


def test_special_values_and_non_contiguous_input():
    rng = np.random.default_rng(2)
    x = salted(rng, (32, 6, 12, 12))
    got = R._sum_kernel(x, [0, 2, 3])
    want = np.add.reduce(x.astype(np.float64), axis=(0, 2, 3)).astype(np.float32)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    assert np.array_equal(got[~finite], want[~finite], equal_nan=True)
    t = np.random.default_rng(3).standard_normal((6, 32, 12, 12)).astype(np.float32)
    t = t.transpose(1, 0, 2, 3)            # not contiguous: summed as its C-ordered copy (the
    #                                        layout never changes the bits: ops/common.c_order)
    want = R._sum_kernel(np.ascontiguousarray(t), [0, 2, 3])
    assert np.array_equal(bits(R._sum_kernel(t, [0, 2, 3])), bits(want))


def test_conv_bias_gradient_eager_equals_compiled():
    rng = np.random.default_rng(4)
    conv = dg.nn.Conv2d(3, 6, 5)
    xs = [dg.tensor(rng.standard_normal((32, 3, 12, 12)).astype(np.float32)) for _ in range(3)]

    def grads(x):
        conv.zero_grad()
        (conv(x) ** 2).sum().backward()
        return conv.bias.grad * 1.0, conv.weight.grad * 1.0

    fast = dg.function(grads)
    for x in xs:
        for e, c in zip(grads(x), fast(x)):
            assert np.array_equal(bits(e.numpy()), bits(c.numpy()))
