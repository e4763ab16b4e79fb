"""Python numbers that do not fit: an int beyond 64 bits as an operand raises PyTorch's
OverflowError (numpy computed a float result, compared it, or failed with its own wording), and
full / fill_ of a value out of the dtype's range raise PyTorch's "value cannot be converted";
eagerly, in dg.function (at trace time) and in graph mode."""
import re

import numpy as np
import pytest

import dualgraph as dg

BIG, NEG = 2 ** 70, -2 ** 64

CASES = [  # (id, fn(lib, x) where x is [1., 2.] as float32 or [1, 2] as int64, float input)
    ("float_add_big", lambda L, x: x + BIG, True),
    ("big_mul_float", lambda L, x: BIG * x, True),
    ("int_xor_big", lambda L, x: x ^ BIG, False),
    ("int_and_big", lambda L, x: x & BIG, False),
    ("int_shift_big", lambda L, x: x << BIG, False),
    ("float_eq_big", lambda L, x: x == BIG, True),
    ("int_lt_neg", lambda L, x: x < NEG, False),
    ("where_big", lambda L, x: L.where(x > 0, x, BIG), True),
    ("add_inplace", lambda L, x: x.clone().add_(BIG), False),
    ("int_add_uint64_max", lambda L, x: x + (2 ** 64 - 1), False),   # wraps, as PyTorch
    ("float_mul_2_63", lambda L, x: x * 2 ** 63, True),
    ("int_add_2_63", lambda L, x: x + 2 ** 63, False),
    ("full_int8_300", lambda L, x: L.full((2,), 300, dtype=L.int8), True),
    ("full_big", lambda L, x: L.full((2,), BIG), True),
    ("full_like_big", lambda L, x: L.full_like(x, BIG), True),
    ("fill_int8_300", lambda L, x: L.zeros(2, dtype=L.int8).fill_(300), True),
    ("fill_int32_nan", lambda L, x: L.zeros(2, dtype=L.int32).fill_(float("nan")), True),
    ("fill_int64_2_63", lambda L, x: L.zeros(2, dtype=L.int64).fill_(2 ** 63), True),
    ("fill_half_1e10", lambda L, x: L.zeros(2, dtype=L.float16).fill_(1e10), True),
    ("fill_float_1e300", lambda L, x: L.zeros(2).fill_(1e300), True),
    ("fill_float_inf", lambda L, x: L.zeros(2, dtype=L.float16).fill_(float("inf")), True),
    ("fill_int8_trunc", lambda L, x: L.zeros(2, dtype=L.int8).fill_(-128.7), True),
    ("fill_uint64_max_float", lambda L, x: L.zeros(2).fill_(2 ** 64 - 1), True),
]


def _x(L, floating):
    return L.tensor([1.0, 2.0]) if floating else L.tensor([1, 2])


def _kind(exc_type):
    return OverflowError if issubclass(exc_type, OverflowError) else RuntimeError


@pytest.mark.parametrize("name,fn,floating", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_eagerly_and_compiled(name, fn, floating):
    torch = pytest.importorskip("torch")
    try:
        want = ("value", fn(torch, _x(torch, floating)).numpy())
    except (OverflowError, RuntimeError) as e:
        want = (_kind(type(e)), str(e))
    compiled = dg.function(lambda x: fn(dg, x))
    for run in (lambda: fn(dg, _x(dg, floating)), lambda: compiled(_x(dg, floating)),
                lambda: compiled(_x(dg, floating))):
        if want[0] == "value":
            got = run().numpy()
            assert got.dtype == want[1].dtype and np.array_equal(got, want[1]), name
        else:
            # (graph mode adds the node being built on a second line)
            with pytest.raises(want[0], match="^" + re.escape(want[1]) + "($|\n)") as info:
                run()
            assert isinstance(info.value, dg.DualGraphError)


def test_graph_mode_refuses_when_the_node_is_built():
    g = dg.Graph()
    with dg.graph_mode(g):
        p = dg.placeholder((2,))
        with pytest.raises(dg.errors.DGOverflowError, match="int too big to convert"):
            p + BIG
        with pytest.raises(dg.errors.DGOverflowError, match="int too big to convert"):
            p == BIG
