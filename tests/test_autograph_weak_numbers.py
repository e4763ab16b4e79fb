"""Python numbers carried through a loop or `if` on a tensor (AutoGraph's dg.while_loop and
dg.cond) are weakly typed 0-d values in the graph: among numbers they compute in float64 and
int64 as Python does, meeting a tensor they take its dtype, and they come back as Python
numbers. Each case runs eagerly and compiled over several inputs and compares bit for bit."""
import numpy as np
import pytest

import dualgraph as dg


def _check(fn, inputs, same_type=True):
    cf = dg.function(fn)
    for args in inputs:
        e, c = fn(*args), cf(*args)
        e, c = (e if isinstance(e, tuple) else (e,)), (c if isinstance(c, tuple) else (c,))
        for a, b in zip(e, c):
            if isinstance(a, dg.Tensor):
                assert isinstance(b, dg.Tensor), (a, b)
                assert a.dtype == b.dtype and np.array_equal(a.numpy(), b.numpy()), (a, b)
            else:
                assert not isinstance(b, dg.Tensor), (a, b)
                assert a == b, (a, b)
                if same_type:
                    assert type(a) is type(b), (a, b)
    assert cf.trace_count == 1
    return cf


def test_float_accumulator_and_int_counter_in_a_while_on_a_tensor():
    def f(x):
        acc, i = 0.0, 0
        while x.sum() > i:
            acc = acc + 0.1        # float64 as in Python: 0.1 * 7 summed is not float32's
            i = i + 1
        return acc, i, acc * 3
    _check(f, [(dg.full((2,), 3.5),), (dg.ones(2),), (dg.full((2,), 5.0),)])


def test_range_of_a_tensor_counter_is_a_python_int():
    def f(x, n):
        total, half = 0, 0.0
        for k in range(n):
            total = total + k * k
            half = half + k * 0.5      # an int times a float: a float, as in Python
        return total, half, x * total
    _check(f, [(dg.ones(2), dg.tensor(4)), (dg.ones(2), dg.tensor(9)), (dg.ones(2), dg.tensor(1))])


def test_number_that_meets_a_tensor_takes_its_dtype():
    def f(x):
        s = 0.0
        for k in range(x.shape[0]):
            if x[k] > 0:              # a tensor if: the sum stays a tensor
                s = s + x[k] * 0.25
        return s
    x32 = dg.tensor([1.0, -2.0, 3.0, 0.1])
    _check(f, [(x32,), (x32 * 3,), (-x32,)])
    _check(f, [(x32.double(),), (x32.double() * 3,)])


def test_float32_tensor_times_a_float64_accumulator_rounds_as_eagerly():
    def f(x):
        scale = 1.0
        while scale < x.abs().max():
            scale = scale * 1.1
        return x / scale, scale
    _check(f, [(dg.tensor([3.0, -7.5]),), (dg.tensor([100.0, 2.0]),), (dg.tensor([1.5, 0.0]),)])
    _check(f, [(dg.tensor([1.5]).double(),), (dg.tensor([9.5]).double(),)])


def test_cond_between_numbers_and_between_a_number_and_a_tensor():
    def numbers(x):
        if x.sum() > 0:
            y = 0.1
        else:
            y = 0.7
        return y * 3

    def mixed(x):
        if x.sum() > 0:
            y = 0.5
        else:
            y = x.sum()
        return y
    _check(numbers, [(dg.ones(2),), (-dg.ones(2),)])
    cm = dg.function(mixed)   # (compiled: a float32 tensor either way, the tensor branch's type)
    for x in (dg.ones(2), -dg.ones(2)):
        e, c = mixed(x), cm(x)
        assert isinstance(c, dg.Tensor) and c.dtype == dg.float32 and float(e) == c.item()


def test_int_or_float_branches_give_the_same_number():
    """Eagerly one branch gives an int, the other a float; compiled both give the float (the
    graph carries one dtype): the same number."""
    def f(x):
        if x.sum() > 0:
            y = 1
        else:
            y = 2.5
        return y
    _check(f, [(dg.ones(2),), (-dg.ones(2),)], same_type=False)


def test_weak_ints_compute_as_python_ints_and_floats():
    """An int counter meeting a float literal or `/` gives a float64 Python float (before:
    float32), bools add to an int."""
    def f(x, n):
        i, flag = 0, True
        for k in range(n):
            i = i + 1
        if x.sum() > 0:
            flag = True
        else:
            flag = False
        return i * 0.1, i / 10, i ** 0.5, i ** -1, flag + flag
    _check(f, [(dg.ones(2), dg.tensor(3)), (-dg.ones(2), dg.tensor(7))])


def test_numbers_stay_numbers_through_nested_loops_and_ifs():
    def count(x, n):
        c, s = 0, 0
        for k in range(n):
            if x[k] > 0:
                c = c + 1
            for j in range(n):
                s = s + 0.5 * j
        return c, s, c / 4

    def from_tensor_start(x, a):
        t = 0
        for k in range(a, 10):
            t = t + k
        return t
    x = dg.tensor([1.0, -2.0, 3.0, 0.5])
    _check(count, [(x, dg.tensor(3)), (x, dg.tensor(4)), (-x, dg.tensor(2))])
    _check(from_tensor_start, [(x, dg.tensor(3)), (x, dg.tensor(7))])


def test_a_graph_number_where_an_op_needs_a_python_number_is_refused_at_trace():
    from dualgraph.errors import DGTypeError, DGValueError

    def clamp(x, n):
        s = 0.5
        for k in range(n):
            s = s + 0.5
        return dg.nn.functional.elu(x, s)

    def huge(x, n):
        s = 0
        for k in range(n):
            s = s + 2 ** 70
        return s
    with pytest.raises(DGTypeError, match="needs a Python number known while the graph is built"):
        dg.function(clamp)(dg.ones(2), dg.tensor(2))
    with pytest.raises(DGValueError, match="does not fit in int64"):
        dg.function(huge)(dg.ones(2), dg.tensor(2))
