"""Operator-table records for the indexing ops (ops/indexing.py), the order statistics
(ops/order_stats.py) and the compositions of ops/composites.py. Imported at the end of
tests/opinfo.py, so test_ops.py (gradcheck, gradgradcheck, shape rules, PyTorch's values,
gradients and error wording), test_ops_graph.py (graph == eager), test_layout_independence.py,
test_special_values.py and, for the records of shape ops, test_ops_unknown_dims.py run them.

Index arguments are int64 arrays (tensors when run). Samples with ties in the value-selecting
ops (median, kthvalue, mode, cummax) compare PyTorch's choice of index exactly; their
gradient there is not numerical (numeric=False), only compared with PyTorch's.
"""
from dataclasses import replace

import numpy as np

import dualgraph as dg
from dualgraph.ops import apply

from opinfo import (OpRecord, Sample, ErrorSample, T, add, op, u, ints, bools, F32, F64, I64,
                    _distinct)

I32 = np.int32


def _i(*v, dtype=I64):
    return np.array(v, dtype)


def _z(*s, dt=F32):
    return np.zeros(s, dt)


E = ErrorSample


# ============================================================================ index_select
def _index_select_samples(rng):
    return [
        Sample((u(rng, (3, 4)), _i(2, 0, 2), 1), desc="dim 1, repeated"),
        Sample((u(rng, (3, 4)), _i(1), 0), desc="dim 0"),
        Sample((u(rng, (2, 3, 4)), _i(3, 0), -1), desc="3-d, dim -1"),
        Sample((u(rng, (2, 3, 4)), _i(1, 1, 0, 2), 1), desc="3-d, dim 1"),
        Sample((u(rng, ()), _i(0), 0), desc="0-d"),
        Sample((u(rng, (1, 3)), _i(0, 0), 0), desc="size 1"),
        Sample((u(rng, (0, 3)), _i(1, 2), 1), desc="empty self"),
        Sample((u(rng, (3, 4)), np.zeros(0, I64), 0), desc="empty index"),
        Sample((u(rng, (3, 4)), np.array(2), 1), desc="0-d index"),
        Sample((u(rng, (3, 4)), _i(3, 1, dtype=I32), 1), desc="int32 index"),
        Sample((ints(rng, (3, 4)), _i(0, 2), 0), desc="int64 input"),
    ]


def _index_select_errors():
    return [
        E((_z(2, 3), _i(5), 1), match=r"INDICES element is out of DATA bounds, id=5 axis_dim=3",
          desc="dim 1 out of range"),
        E((_z(2, 3), _i(2), 0), exc=IndexError, match="index out of range in self", desc="dim 0 out of range"),
        E((_z(4), _i(-1), 0), exc=IndexError, match="index out of range in self", desc="negative"),
        E((_z(2, 3, 4), _i(4), 2), exc=IndexError, match="index out of range in self", desc="3-d, dim 2"),
        E((_z(2, 3), _i(1, 5, -3), -1), match=r"id=5 axis_dim=3", desc="first bad"),
        E((_z(0, 3), _i(1), 0), match=r"index_select\(\): self indexing axis dim should be positive",
          desc="empty dim"),
        E((_z(2, 3), np.array([[0]]), 1), exc=IndexError,
          match=r"index_select\(\): Index is supposed to be a vector", desc="2-d index"),
        E((_z(2, 3), np.array([0.0], F32), 1),
          match=r"index_select\(\): Expected dtype int32 or int64 for index", desc="float index"),
        E((_z(), _i(0, 0), 0), match=r"index_select\(\): Index to scalar can have only 1 value, got 2 value\(s\)",
          desc="0-d, two indices"),
        E((_z(), _i(1), 0), exc=IndexError, match="index out of range in self", desc="0-d out of range"),
        E((_z(2, 3), _i(0), 2), exc=IndexError, match=r"Dimension out of range", desc="dim"),
    ]


add(
    OpRecord("index_select", lambda x, idx, dim: dg.index_select(x, dim, idx),
             lambda x, idx, dim: T.index_select(x, dim, idx), _index_select_samples,
             _index_select_errors),
    OpRecord("index_select", lambda x, idx, dim: x.index_select(dim, idx),
             lambda x, idx, dim: x.index_select(dim, idx), lambda rng: _index_select_samples(rng)[:3],
             variant="method"),
)


# ============================================================================ index_add / index_copy
def _index_add_samples(rng):
    return [
        Sample((u(rng, (3, 4)), _i(2, 0, 2), u(rng, (3, 3)), 1), desc="dim 1, repeated"),
        Sample((u(rng, (3, 4)), _i(1, 0), u(rng, (2, 4)), 0), {"alpha": 2.5}, "dim 0, alpha"),
        Sample((u(rng, (2, 3, 4)), _i(3), u(rng, (2, 3, 1)), -1), desc="3-d"),
        Sample((u(rng, ()), _i(0), u(rng, ()), 0), desc="0-d"),
        Sample((u(rng, (1, 3)), _i(0, 0), u(rng, (2, 3)), 0), desc="size 1"),
        Sample((u(rng, (0, 3)), _i(1), u(rng, (0, 1)), 1), desc="empty"),
        Sample((u(rng, (2, 3)), np.zeros(0, I64), u(rng, (2, 0)), 1), desc="no index"),
        Sample((ints(rng, (3, 2)), _i(0, 2), ints(rng, (2, 2)), 0), {"alpha": 3}, "int64"),
        Sample((u(rng, (3,)), np.array(1), u(rng, (1,)), 0), desc="0-d index"),
    ]


def _index_add_errors():
    return [
        E((_z(2, 3), _i(5), _z(2, 1), 1), match="index 5 is out of bounds for dimension 1 with size 3",
          desc="out of range"),
        E((_z(2, 3), _i(-1), _z(2, 1), 1), match="index -1 is out of bounds for dimension 1 with size 3",
          desc="negative"),
        E((_z(2, 3), _i(0), _z(2, 2), 1),
          match=r"index_add_\(\): Number of indices \(1\) should be equal to source.size\(dim\): \(2\), for dim: 1",
          desc="count"),
        E((_z(2, 3), _i(0), _z(2, 1, dt=F64), 1),
          match=r"index_add_\(\): self \(Float\) and source \(Double\) must have the same scalar type",
          desc="dtype"),
        E((_z(2, 3), np.array([0.0], F32), _z(2, 1), 1),
          match=r"index_add_\(\): Expected dtype int32/int64 for index but got: Float", desc="float index"),
        E((_z(2, 3), np.array([[0]]), _z(2, 1), 1), exc=IndexError,
          match=r"index_add_\(\): Index is supposed to be a vector, but got dim: 2 with type: Long and size: \[1, 1\]",
          desc="2-d index"),
        E((_z(2, 3), _i(0), _z(3, 1), 1),
          match=r"source tensor shape must match self tensor shape, excluding the specified dimension. "
                r"Got self.shape = \[2, 3\] source.shape = \[3, 1\]", desc="slices"),
        E((_z(2, 3), _i(0), _z(2), 1),
          match=r"index_add_\(\): Indexing dim 1 is out of bounds of the source tensor with dim 1",
          desc="source rank"),
    ]


def _index_copy_samples(rng):
    return [
        Sample((u(rng, (3, 4)), _i(3, 0, 1), u(rng, (3, 3)), 1), desc="dim 1"),
        Sample((u(rng, (3, 4)), _i(2, 0), u(rng, (2, 4)), 0), desc="dim 0"),
        Sample((u(rng, (2, 3, 4)), _i(1), u(rng, (2, 1, 4)), 1), desc="3-d"),
        Sample((u(rng, ()), _i(0), u(rng, ()), 0), desc="0-d"),
        Sample((u(rng, (3,)), np.array(1), u(rng, ()), 0), desc="0-d source"),
        Sample((u(rng, (1, 3)), _i(0), u(rng, (1, 3)), 0), desc="size 1"),
        Sample((u(rng, (0, 3)), _i(2), u(rng, (0, 1)), 1), desc="empty"),
        Sample((ints(rng, (3, 2)), _i(1), ints(rng, (1, 2)), 0), desc="int64"),
    ]


def _index_copy_errors():
    return [
        E((_z(2, 3), _i(5), _z(2, 1), 1), exc=IndexError,
          match=r"index_copy_\(\): index 5 is out of bounds for dimension 1 with size 3", desc="out of range"),
        E((_z(2, 3), _i(-1), _z(2, 1), 1), exc=IndexError,
          match=r"index_copy_\(\): index -1 is out of bounds for dimension 1 with size 3", desc="negative"),
        E((_z(2, 3), _i(0), _z(2, 2), 1), exc=IndexError,
          match=r"index_copy_\(\): Number of indices \(1\) should be equal to source.size\(dim\) \(2\)",
          desc="count"),
        E((_z(2, 3), _i(0), _z(2, 1, dt=F64), 1),
          match=r"index_copy_\(\): self and source expected to have the same dtype, but got \(self\) Float "
                r"and \(source\) Double", desc="dtype"),
        E((_z(2, 3), _i(0, dtype=I32), _z(2, 1), 1),
          match=r"index_copy_\(\): Expected a long tensor for index, but got Int", desc="int32 index"),
        E((_z(2, 3), np.array([[0]]), _z(2, 1), 1), exc=IndexError,
          match=r"index_copy_\(\): Index should have dimension 1 or 0 \(got 2\)", desc="2-d index"),
        E((_z(2, 3, 4), _i(0), _z(2, 1, 5), 1),
          match=r"index_copy_\(\): Source/destination tensor must have same slice shapes. Destination slice "
                r"shape: 2 4 at dimension 1 and source slice shape: 2 5 at dimension 0.", desc="slices"),
        E((_z(2, 3, 4), _i(0), _z(2, 1), 1), exc=IndexError,
          match=r"index_copy_\(\): When source and destination are not scalars, their dimensionality must "
                r"match. Source dimensionality \(2\), destination dimensionality \(3\)", desc="ranks"),
    ]


add(
    OpRecord("index_add", lambda x, idx, src, dim, alpha=1: dg.index_add(x, dim, idx, src, alpha=alpha),
             lambda x, idx, src, dim, alpha=1: T.index_add(x, dim, idx, src, alpha=alpha),
             _index_add_samples, _index_add_errors),
    OpRecord("index_add", lambda x, idx, src, dim, alpha=1: x.index_add(dim, idx, src, alpha=alpha),
             lambda x, idx, src, dim, alpha=1: x.index_add(dim, idx, src, alpha=alpha),
             lambda rng: _index_add_samples(rng)[:2], variant="method"),
    OpRecord("index_add", lambda x, idx, src, dim, alpha=1: (x * 1).index_add_(dim, idx, src, alpha=alpha),
             lambda x, idx, src, dim, alpha=1: (x * 1).index_add_(dim, idx, src, alpha=alpha),
             lambda rng: _index_add_samples(rng)[:2], variant="inplace"),
    OpRecord("index_copy", lambda x, idx, src, dim: dg.index_copy(x, dim, idx, src),
             lambda x, idx, src, dim: T.index_copy(x, dim, idx, src), _index_copy_samples,
             _index_copy_errors),
    OpRecord("index_copy", lambda x, idx, src, dim: (x * 1).index_copy_(dim, idx, src),
             lambda x, idx, src, dim: (x * 1).index_copy_(dim, idx, src),
             lambda rng: _index_copy_samples(rng)[:2], variant="inplace"),
)


# ============================================================================ index_fill
def _index_fill_samples(rng):
    return [
        Sample((u(rng, (3, 4)), _i(2, 0, 2), 1, -1.5), desc="dim 1, repeated"),
        Sample((u(rng, (3, 4)), _i(-1, 0), 0, 2.0), desc="negative index"),
        Sample((u(rng, (2, 3, 4)), _i(3), -1, 0.5), desc="3-d"),
        Sample((u(rng, ()), _i(0), 0, 3.0), desc="0-d"),
        Sample((u(rng, (1, 3)), np.array(0), 0, 1.0), desc="size 1, 0-d index"),
        Sample((u(rng, (0, 3)), _i(2), 1, 1.0), desc="empty"),
        Sample((ints(rng, (3, 2)), _i(1), 0, 2.7), desc="int64 input, float value"),
        Sample((bools(rng, (3, 2)), _i(1), 1, True), desc="bool"),
    ]


def _index_fill_errors():
    return [
        E((_z(2, 3), _i(5), 1, 1.0), exc=IndexError,
          match="index 5 is out of bounds for dimension 1 with size 3", desc="out of range"),
        E((_z(3), _i(-4), 0, 1.0), exc=IndexError,
          match="index -4 is out of bounds for dimension 0 with size 3", desc="negative"),
        E((_z(3), _i(0, dtype=I32), 0, 1.0), exc=IndexError,
          match=r"index_fill_\(\): Expected dtype int64 for index.", desc="int32 index"),
        E((_z(2, 3), np.array([[0]]), 1, 1.0), match="Index has to be a vector/scalar", desc="2-d index"),
        E((_z(2, 3), _i(0), 1, np.array([1.0], F32)),
          match=r"index_fill_ only supports a 0-dimensional value tensor, but got tensor with 1 dimension\(s\).",
          desc="value tensor"),
    ]


add(
    OpRecord("index_fill", lambda x, idx, dim, v: dg.index_fill(x, dim, idx, v),
             lambda x, idx, dim, v: T.index_fill(x, dim, idx, v), _index_fill_samples, _index_fill_errors),
    OpRecord("index_fill", lambda x, idx, dim, v: x.index_fill(dim, idx, v),
             lambda x, idx, dim, v: x.index_fill(dim, idx, v),
             lambda rng: [Sample((u(rng, (3, 4)), _i(0, 0, 2), 1, u(rng, ())), desc="value tensor"),
                          Sample((u(rng, (3, 4)), _i(1), 0, u(rng, (), dtype=F64)), desc="float64 value")],
             variant="tensor_value"),
    OpRecord("index_fill", lambda x, idx, dim, v: (x * 1).index_fill_(dim, idx, v),
             lambda x, idx, dim, v: (x * 1).index_fill_(dim, idx, v),
             lambda rng: [Sample((u(rng, (3, 4)), _i(0, 3), 1, 2.0), desc="scalar"),
                          Sample((u(rng, (3, 4)), _i(1), 0, u(rng, ())), desc="value tensor")],
             variant="inplace"),
)


# ============================================================================ scatter family
def _scatter_index(rng, shape, size, dim):
    return np.asarray(rng.integers(0, size, shape), I64)


def _scatter_samples(rng):
    return [
        Sample((u(rng, (3, 4)), _i(*[0, 2, 1, 0, 2, 1, 0, 1]).reshape(2, 4), u(rng, (2, 4)), 0), desc="dim 0"),
        Sample((u(rng, (3, 4)), _i(*[0, 2, 1, 0, 2, 1, 1, 0]).reshape(2, 4), u(rng, (2, 4)), 0),
               desc="repeated positions", numeric=False),
        Sample((u(rng, (3, 5)), np.array([[4, 0, 2], [1, 3, 0]]), u(rng, (2, 3)), 1), desc="dim 1"),
        Sample((u(rng, (2, 3, 4)), np.array([[[3], [0], [1]], [[2], [2], [0]]]), u(rng, (2, 3, 1)), -1),
               desc="3-d"),
        Sample((u(rng, ()), np.array(0), u(rng, ()), 0), desc="0-d"),
        Sample((u(rng, (1, 3)), np.array([[0, 0, 0]]), u(rng, (1, 3)), 0), desc="size 1"),
        Sample((u(rng, (0, 3)), np.zeros((0, 3), I64), u(rng, (0, 3)), 0), desc="empty"),
        Sample((u(rng, (3, 4)), np.array([[1, 2]]), u(rng, (2, 3)), 1), desc="index smaller than src",
               grad=False),
        Sample((ints(rng, (3, 2)), np.array([[2, 0]]), ints(rng, (1, 2)), 0), desc="int64"),
    ]


def _scatter_value_samples(rng):
    return [
        Sample((u(rng, (3, 4)), np.array([[0, 2, 1, 0]]), 0, 2.5), desc="dim 0"),
        Sample((u(rng, (3, 4)), np.array([[3], [1], [0]]), 1, -1.0), desc="dim 1"),
        Sample((ints(rng, (3, 2)), np.array([[1, 0]]), 0, 2.7), desc="int64, float value"),
        Sample((u(rng, ()), np.array(0), 0, 3.0), desc="0-d"),
    ]


_SCATTER_ERRORS = [
    E((_z(2, 3), np.array([[5]]), _z(1, 1), 1), match="index 5 is out of bounds for dimension 1 with size 3",
      desc="out of range"),
    E((_z(2, 3), np.array([[-1]]), _z(1, 1), 1), match="index -1 is out of bounds for dimension 1 with size 3",
      desc="negative"),
    E((_z(2, 3), np.array([[0.0]], F32), _z(1, 1), 1),
      match=r"scatter\(\): Expected dtype int32/int64 for index", desc="float index"),
    E((_z(2, 3), _i(0), _z(1), 1), match="Index tensor must have the same number of dimensions as self tensor",
      desc="index rank"),
    E((_z(2, 3), np.array([[0, 1, 2, 0]]), _z(2, 3), 1),
      match=r"Expected index \[1, 4\] to be no larger than self \[2, 3\] apart from dimension 1 and to be "
            r"no larger size than src \[2, 3\]", desc="index too large"),
    E((_z(2, 3), np.array([[0]]), _z(1, 1, dt=F64), 1),
      match=r"scatter\(\): Expected self.dtype to be equal to src.dtype", desc="dtype"),
    E((_z(2, 3), np.array([[0, 1]]), _z(1, 1), 1),
      match=r"Expected index \[1, 2\] to be no larger than self \[2, 3\] apart from dimension 1 and to be "
            r"no larger size than src \[1, 1\]", desc="src too small"),
]


def _scatter_reduce_samples(rng):
    out = []
    idx = np.array([[0, 2, 0, 1], [2, 2, 0, 1]])
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for incl in (True, False):
            v = _distinct(rng, (5, 4))  # (no value of src equal to one of self)
            x, s = v[:3], v[3:]
            out.append(Sample((x, idx, s, 0), {"reduce": reduce, "include_self": incl},
                              f"{reduce}, include_self={incl}"))
    out += [
        Sample((u(rng, ()), np.array(0), u(rng, ()), 0), {"reduce": "prod"}, "0-d"),
        Sample((u(rng, (0, 3)), np.zeros((0, 3), I64), u(rng, (0, 3)), 0), {"reduce": "amax"}, "empty"),
        Sample((np.array([[1.5, 0.0, 2.0]], F32), np.array([[0, 1, 1]]), np.array([[0.0, 3.0, 0.0]], F32), 1),
               {"reduce": "prod"}, "prod, zeros"),
        Sample((ints(rng, (3, 2)), np.array([[1, 0], [1, 1]]), ints(rng, (2, 2)), 0),
               {"reduce": "mean", "include_self": False}, "int64 mean (floor)"),
        Sample((bools(rng, (3, 2)), np.array([[1, 0]]), bools(rng, (1, 2)), 0), {"reduce": "amax"}, "bool"),
    ]
    return out


def _scatter_reduce_errors():
    return [replace(e, kwargs={"reduce": "sum"}) for e in _SCATTER_ERRORS[:2]] + [
        E((_z(2, 3), np.array([[0]]), _z(1, 1), 1), {"reduce": "foo"},
          match="reduce argument must be either sum, prod, mean, amax or amin, got foo", desc="reduce"),
        E((np.zeros((2, 3), bool), np.array([[0]]), np.zeros((1, 1), bool), 1), {"reduce": "mean"},
          exc=RuntimeError, match="\"scatter_gather_tensor_cpu_reduce_mean\" not implemented for 'Bool'",
          desc="bool mean"),
    ]


def _sr(x, idx, src, dim, reduce, include_self=True):
    return dg.scatter_reduce(x, dim, idx, src, reduce, include_self=include_self)


def _sr_t(x, idx, src, dim, reduce, include_self=True):
    return T.scatter_reduce(x, dim, idx, src, reduce, include_self=include_self)


add(
    OpRecord("scatter", lambda x, idx, src, dim: dg.scatter(x, dim, idx, src),
             lambda x, idx, src, dim: T.scatter(x, dim, idx, src), _scatter_samples,
             lambda: _SCATTER_ERRORS),
    OpRecord("scatter", lambda x, idx, dim, v, **k: x.scatter(dim, idx, v, **k),
             lambda x, idx, dim, v, **k: x.scatter(dim, idx, v, **k),
             _scatter_value_samples,
             lambda: [E((_z(2, 3), np.array([[0, 0, 0, 0]]), 0, 1.0),
                        match=r"Expected index \[1, 4\] to be no larger than self \[2, 3\] apart from dimension 0$",
                        desc="index too large"),
                      E((_z(2, 3), np.array([[0]]), 0, 1.0), {"reduce": "mean"},
                        match="reduce argument must be either add or multiply.", desc="reduce")],
             variant="value"),
    OpRecord("scatter", lambda x, idx, dim, v, reduce: x.scatter(dim, idx, v, reduce=reduce),
             lambda x, idx, dim, v, reduce: x.scatter(dim, idx, v, reduce=reduce),
             lambda rng: [Sample((u(rng, (3, 4)), np.array([[0, 2, 0, 0]]), 0, 2.5, "add"), desc="add", grad=False),
                          Sample((u(rng, (3, 4)), np.array([[1, 1], [0, 0]]), 1, 1.5, "multiply"),
                                 desc="multiply", grad=False)],
             variant="value_reduce", notes="no gradient (PyTorch: not implemented)"),
    OpRecord("scatter", lambda x, idx, src, dim: (x * 1).scatter_(dim, idx, src),
             lambda x, idx, src, dim: (x * 1).scatter_(dim, idx, src),
             lambda rng: _scatter_samples(rng)[:2], variant="inplace"),
    OpRecord("scatter_add", lambda x, idx, src, dim: dg.scatter_add(x, dim, idx, src),
             lambda x, idx, src, dim: T.scatter_add(x, dim, idx, src), _scatter_samples,
             lambda: _SCATTER_ERRORS),
    OpRecord("scatter_add", lambda x, idx, src, dim: (x * 1).scatter_add_(dim, idx, src),
             lambda x, idx, src, dim: (x * 1).scatter_add_(dim, idx, src),
             lambda rng: _scatter_samples(rng)[:2], variant="inplace"),
    OpRecord("scatter_reduce", _sr, _sr_t, _scatter_reduce_samples, _scatter_reduce_errors,
             atol=1e-5, rtol=1e-4),
    OpRecord("scatter_reduce",
             lambda x, idx, src, dim, reduce, include_self=True: (x * 1).scatter_reduce_(
                 dim, idx, src, reduce, include_self=include_self),
             lambda x, idx, src, dim, reduce, include_self=True: (x * 1).scatter_reduce_(
                 dim, idx, src, reduce, include_self=include_self),
             lambda rng: _scatter_reduce_samples(rng)[2:4], variant="inplace"),
)


# ============================================================================ take_along_dim
def _tad_samples(rng):
    return [
        Sample((u(rng, (3, 4)), np.array([[0, 3], [1, 1], [2, 0]]), 1), desc="dim 1"),
        Sample((u(rng, (3, 4)), np.array([[2, 0, 1, 1]]), 0), desc="dim 0, broadcast indices"),
        Sample((u(rng, (2, 1, 3)), np.zeros((1, 4, 2), I64) + _i(0, 2), 2), desc="both broadcast"),
        Sample((u(rng, (3, 4)), np.array([[-1], [5], [-6]]), 1), desc="wrapped (PyTorch's modulo)"),
        Sample((u(rng, (1, 3)), np.array([[0]]), 1), desc="size 1"),
        Sample((u(rng, (0, 3)), np.zeros((1, 1), I64), 1), desc="empty"),
        Sample((ints(rng, (3, 2)), np.array([[1], [0], [1]]), -1), desc="int64"),
    ]


def _tad_errors():
    return [
        E((_z(2, 3), _i(0), 1),
          match=r"torch.take_along_dim\(\): input and indices should have the same number of dimensions, "
                r"but got 2 dimensions for input, and 1 dimensions for indices", desc="ranks"),
        E((_z(2, 3), np.array([[0]], I32), 1),
          match=r"torch.take_along_dim\(\): dtype of indices should be Long but got Int", desc="int32"),
        E((_z(2, 3), np.zeros((3, 1), I64), 1),
          match=r"The size of tensor a \(2\) must match the size of tensor b \(3\) at non-singleton dimension 0",
          desc="broadcast"),
        E((_z(2, 0), np.zeros((2, 1), I64), 1), match="ZeroDivisionError", desc="empty dim"),
        E((_z(2, 3), np.zeros((2, 1), I64), 2), exc=IndexError, match="Dimension out of range", desc="dim"),
    ]


def _tad_grad_samples(rng):
    out = []
    for s in _tad_samples(rng):
        x, idx, dim = s.args
        if x.dtype.kind != "f":
            continue
        shape = np.take_along_axis(np.broadcast_to(x, np.broadcast_shapes(
            tuple(idx.shape[i] if i != dim % x.ndim else x.shape[i] for i in range(x.ndim)), x.shape)),
            np.broadcast_to(np.mod(idx, max(x.shape[dim], 1)), np.broadcast_shapes(
                tuple(x.shape[i] if i != dim % x.ndim else idx.shape[i] for i in range(x.ndim)), idx.shape)),
            axis=dim).shape
        out.append(Sample((u(rng, shape), idx, x, dim), desc=s.desc, no_grad_args=(2,)))
    return out


add(
    OpRecord("take_along_dim", lambda x, idx, dim: dg.take_along_dim(x, idx, dim),
             lambda x, idx, dim: T.take_along_dim(x, idx, dim), _tad_samples, _tad_errors),
    OpRecord("take_along_dim", lambda x, idx, dim: x.take_along_dim(idx, dim),
             lambda x, idx, dim: x.take_along_dim(idx, dim), lambda rng: _tad_samples(rng)[:2],
             variant="method"),
    OpRecord("gather", lambda x, idx: dg.take_along_dim(x, idx), lambda x, idx: T.take_along_dim(x, idx),
             lambda rng: [Sample((u(rng, (3, 4)), np.array([[0, 11], [5, 5]])), desc="flattened"),
                          Sample((u(rng, (2, 3)), _i(4)), desc="1-d indices")],
             lambda: [E((_z(2, 3), np.array([[7]])), match="index 7 is out of bounds for dimension 0 with size 6",
                        desc="out of range"),
                      E((_z(2, 3), np.array([[-1]])), match="index -1 is out of bounds for dimension 0 with size 6",
                        desc="negative")],
             variant="take_along_dim_flat"),
    OpRecord("take_along_dim_grad",
             lambda g, idx, x, dim: apply(op("take_along_dim_grad"), g, idx, x, dim=dim), None,
             _tad_grad_samples),
)


# ============================================================================ masked_select / masked_scatter
def _ms_samples(rng):
    return [
        Sample((u(rng, (2, 3)), bools(rng, (2, 3))), desc="same shape"),
        Sample((u(rng, (2, 3)), np.array([True, False, True])), desc="mask broadcast"),
        Sample((u(rng, (3,)), bools(rng, (2, 3))), desc="input broadcast"),
        Sample((u(rng, ()), np.array([True, False])), desc="0-d input"),
        Sample((u(rng, (0, 3)), np.array([True, True, False])), desc="empty"),
        Sample((ints(rng, (2, 2)), bools(rng, (2, 2))), desc="int64"),
    ]


def _masked_scatter_samples(rng):
    return [
        Sample((u(rng, (2, 3)), np.array([True, False, True]), u(rng, (10,))), desc="mask broadcast"),
        Sample((u(rng, (2, 3)), bools(rng, (2, 3)), u(rng, (2, 3))), desc="same shape"),
        Sample((u(rng, (3,)), bools(rng, (2, 3)), u(rng, (2, 4))), desc="input broadcast, 2-d source"),
        Sample((u(rng, ()), np.array(True), u(rng, (1,))), desc="0-d"),
        Sample((u(rng, (0, 3)), np.array([True, False, True]), u(rng, (0,))), desc="empty"),
    ]


def _masked_scatter_grad_samples(rng):
    out = []
    for s in _masked_scatter_samples(rng):
        x, m, src = s.args
        shape = np.broadcast_shapes(x.shape, m.shape)
        out.append(Sample((u(rng, shape), m, src), desc=s.desc, no_grad_args=(2,)))
    return out


add(
    OpRecord("getitem", lambda x, m: dg.masked_select(x, m), lambda x, m: T.masked_select(x, m), _ms_samples,
             lambda: [E((_z(2, 3), np.array([1, 0, 1])), match="masked_select: expected BoolTensor for mask",
                        desc="int mask"),
                      E((_z(2, 3), np.array([True, False])),
                        match=r"The size of tensor a \(2\) must match the size of tensor b \(3\) at non-singleton "
                              r"dimension 1", desc="broadcast")],
             variant="masked_select"),
    OpRecord("getitem", lambda x, m: x.masked_select(m), lambda x, m: x.masked_select(m),
             lambda rng: _ms_samples(rng)[:2], variant="masked_select_method"),
    OpRecord("masked_scatter", lambda x, m, s: dg.masked_scatter(x, m, s), lambda x, m, s: T.masked_scatter(x, m, s),
             _masked_scatter_samples,
             lambda: [E((_z(2, 3), np.array([True, False, True]), _z(3)),
                        match="Number of elements of source < number of ones in mask", desc="source too small"),
                      E((_z(2, 3), np.array([1, 0, 1]), _z(10)),
                        match="masked_scatter_ only supports boolean masks, but got mask with dtype Long",
                        desc="int mask"),
                      E((_z(2, 3), np.array([True, False, True]), _z(10, dt=F64)),
                        match="masked_scatter: expected self and source to have same dtypes but gotFloat and Double",
                        desc="dtype")]),
    OpRecord("masked_scatter", lambda x, m, s: (x * 1).masked_scatter_(m, s),
             lambda x, m, s: (x * 1).masked_scatter_(m, s), lambda rng: _masked_scatter_samples(rng)[:2],
             lambda: [E((_z(3), np.ones((2, 3), bool), _z(10)),
                        match=r"expand\(CPUBoolType\{\[2, 3\]\}, size=\[3\]\): the number of sizes provided \(1\) "
                              r"must be greater or equal to the number of dimensions in the tensor \(2\)",
                        desc="mask larger than self")],
             variant="inplace"),
    OpRecord("masked_scatter_grad", lambda g, m, s: apply(op("masked_scatter_grad"), g, m, s), None,
             _masked_scatter_grad_samples),
)


# ============================================================================ median / nanmedian
NAN = np.nan


def _ties(rng, shape, k=3):
    return np.asarray(rng.integers(0, k, shape), F32)


def _median_all_samples(rng):
    return [
        Sample((_distinct(rng, (3, 4)),), desc="distinct"),
        Sample((_distinct(rng, (5,)),), desc="odd"),
        Sample((_ties(rng, (4, 5)),), desc="ties", numeric=False),
        Sample((np.array([1.0, NAN, 2.0, NAN], F32),), desc="NaN", numeric=False),
        Sample((np.array([0.0, -0.0, 0.0, -0.0, 1.0], F32),), desc="signed zeros", numeric=False),
        Sample((u(rng, ()),), desc="0-d"),
        Sample((u(rng, (1, 1)),), desc="size 1"),
        Sample((u(rng, (0, 3)),), desc="empty: NaN"),
        Sample((ints(rng, (3, 3)),), desc="int64"),
    ]


def _median_dim_samples(rng):
    return [
        Sample((_distinct(rng, (3, 4)), 1), desc="dim 1"),
        Sample((_distinct(rng, (3, 4)), 0), {"keepdim": True}, "dim 0, keepdim"),
        Sample((_ties(rng, (4, 9)), 1), desc="ties", numeric=False),
        Sample((_ties(rng, (9, 3), 2), 0), desc="ties dim 0", numeric=False),
        Sample((np.array([[1.0, NAN, 2.0, NAN], [3.0, 1.0, 2.0, 0.0]], F32), 1), desc="NaN", numeric=False),
        Sample((u(rng, ()), 0), desc="0-d"),
        Sample((u(rng, (1, 3)), 0), desc="size 1"),
        Sample((u(rng, (0, 3)), 1), desc="empty"),
        Sample((ints(rng, (3, 4)), -1), desc="int64"),
    ]


def _nanmedian_dim_samples(rng):
    return [
        Sample((_distinct(rng, (3, 4)), 1), desc="dim 1"),
        Sample((np.array([[1.0, NAN, 2.0, NAN], [NAN, NAN, NAN, NAN], [3.0, 1.0, NAN, 0.0]], F32), 1),
               desc="NaN", numeric=False),
        Sample((np.full((2, 30), NAN, F32), 1), desc="all NaN, long", numeric=False),
        Sample((_ties(rng, (3, 8)), 1), desc="ties", numeric=False),
        Sample((u(rng, (0, 3)), 1), desc="empty"),
    ]


def _median_errors(name, dim):
    name = "median"  # (nanmedian's messages are median's, as PyTorch's)
    out = [E((np.zeros(3, bool),) + ((0,) if dim else ()), exc=RuntimeError,
             match=f"\"{name}{'_out' if dim else '_cpu'}\" not implemented for 'Bool'", desc="bool")]
    if dim:
        out += [E((_z(0, 3), 0), exc=IndexError,
                  match=rf"{name}\(\): Expected reduction dim 0 to have non-zero size.", desc="empty dim"),
                E((_z(2, 3), 2), exc=IndexError, match="Dimension out of range", desc="dim")]
    return lambda: out


add(
    OpRecord("median", lambda x: dg.median(x), lambda x: T.median(x), _median_all_samples,
             _median_errors("median", False)),
    OpRecord("median", lambda x: dg.nanmedian(x), lambda x: T.nanmedian(x),
             lambda rng: _median_all_samples(rng)[:5] + [
                 Sample((np.full((3,), NAN, F32),), desc="all NaN", numeric=False),
                 Sample((np.array([-0.0, NAN, 0.0, 0.0, -0.0, NAN], F32),), desc="zeros and NaN", numeric=False)],
             _median_errors("nanmedian", False), variant="nanmedian"),
    OpRecord("median", lambda x: x.median(), lambda x: x.median(), lambda rng: _median_all_samples(rng)[:2],
             variant="method"),
    OpRecord("median_indices", lambda x, dim, keepdim=False: dg.median(x, dim, keepdim),
             lambda x, dim, keepdim=False: T.median(x, dim, keepdim), _median_dim_samples,
             _median_errors("median", True)),
    OpRecord("median_indices", lambda x, dim, keepdim=False: dg.nanmedian(x, dim, keepdim),
             lambda x, dim, keepdim=False: T.nanmedian(x, dim, keepdim), _nanmedian_dim_samples,
             _median_errors("nanmedian", True), variant="nanmedian"),
    OpRecord("median_indices", lambda x, dim, keepdim=False: x.median(dim, keepdim),
             lambda x, dim, keepdim=False: x.median(dim, keepdim), lambda rng: _median_dim_samples(rng)[:2],
             variant="method"),
)


# ============================================================================ kthvalue / mode
def _kth_samples(rng):
    return [
        Sample((_distinct(rng, (3, 5)), 2), desc="k=2"),
        Sample((_distinct(rng, (4, 3)), 4, 0), {"keepdim": True}, "dim 0, keepdim"),
        Sample((_ties(rng, (5, 9)), 3), desc="ties", numeric=False),
        Sample((_ties(rng, (6, 40), 4), 17), desc="ties, long rows", numeric=False),
        Sample((np.array([[2.0, 2.0, 2.0, 2.0], [1.0, NAN, 0.0, NAN]], F32), 3), desc="equal, NaN", numeric=False),
        Sample((u(rng, ()), 1), desc="0-d"),
        Sample((u(rng, (1, 3)), 1, 0), desc="size 1"),
        Sample((u(rng, (0, 3)), 1, 1), desc="empty"),
        Sample((ints(rng, (3, 4)), 2), desc="int64"),
    ]


def _kth_errors():
    return [
        E((_z(2, 3), 4), match=r"kthvalue\(\): selected number k out of range for dimension 1", desc="k large"),
        E((_z(2, 3), 0), match=r"kthvalue\(\): selected number k out of range for dimension 1", desc="k 0"),
        E((_z(2, 0), 1), exc=IndexError, match=r"kthvalue\(\): Expected reduction dim 1 to have non-zero size.",
          desc="empty dim"),
        E((_z(2, 3), 1.5), exc=TypeError, match=r"kthvalue\(\): argument 'k' \(position 2\) must be int, not float",
          desc="float k"),
        E((np.zeros(3, bool), 1), match="\"kthvalue_cpu\" not implemented for 'Bool'", desc="bool"),
    ]


def _mode_samples(rng):
    return [
        Sample((_ties(rng, (3, 7)),), desc="last dim", numeric=False),
        Sample((_ties(rng, (6, 3), 2), 0), {"keepdim": True}, "dim 0, keepdim", numeric=False),
        Sample((_ties(rng, (4, 40), 5),), desc="long rows (introsort)", numeric=False),
        Sample((np.array([[NAN, NAN, 2.0, 1.0, 1.0], [0.0, -0.0, 0.0, 3.0, 3.0]], F32),), desc="NaN, zeros",
               numeric=False),
        Sample((_distinct(rng, (2, 4)),), desc="distinct"),
        Sample((u(rng, ()),), desc="0-d"),
        Sample((u(rng, (1, 3)), 0), desc="size 1"),
        Sample((u(rng, (0, 3)), 1), desc="empty"),
        Sample((ints(rng, (3, 6), 0, 3),), desc="int64"),
        Sample((bools(rng, (2, 5)),), desc="bool"),
    ]


add(
    OpRecord("kthvalue_indices", lambda x, k, dim=-1, keepdim=False: dg.kthvalue(x, k, dim, keepdim),
             lambda x, k, dim=-1, keepdim=False: T.kthvalue(x, k, dim, keepdim), _kth_samples, _kth_errors),
    OpRecord("kthvalue_indices", lambda x, k, dim=-1, keepdim=False: x.kthvalue(k, dim, keepdim),
             lambda x, k, dim=-1, keepdim=False: x.kthvalue(k, dim, keepdim), lambda rng: _kth_samples(rng)[:2],
             variant="method"),
    OpRecord("mode_indices", lambda x, dim=-1, keepdim=False: x.mode(dim, keepdim),
             lambda x, dim=-1, keepdim=False: x.mode(dim, keepdim), _mode_samples,
             lambda: [E((_z(2, 0),), exc=IndexError, match=r"mode\(\): Expected reduction dim 1 to have non-zero size.",
                        desc="empty dim")],
             notes="the method only: dg.mode is the module dualgraph.mode"),
)


# ============================================================================ cummax / cummin
def _cum_samples(rng):
    return [
        Sample((_distinct(rng, (3, 5)), 1), desc="dim 1"),
        Sample((_distinct(rng, (4, 3)), 0), desc="dim 0"),
        Sample((_ties(rng, (3, 8)), 1), desc="ties", numeric=False),
        Sample((np.array([[1.0, 3.0, 3.0, 2.0, NAN, 5.0, NAN], [-0.0, 0.0, -0.0, 0.0, -1.0, -1.0, 2.0]], F32), -1),
               desc="NaN, zeros", numeric=False),
        Sample((u(rng, ()), 0), desc="0-d"),
        Sample((u(rng, (1, 3)), 0), desc="size 1"),
        Sample((u(rng, (0, 3)), 0), desc="empty"),
        Sample((ints(rng, (2, 5)), 1), desc="int64"),
        Sample((bools(rng, (2, 5)), 1), desc="bool"),
    ]


_CUM_ERRORS = lambda: [E((_z(2, 3), 2), exc=IndexError, match="Dimension out of range", desc="dim")]  # noqa: E731

add(
    OpRecord("cummax_indices", lambda x, dim: dg.cummax(x, dim), lambda x, dim: T.cummax(x, dim), _cum_samples,
             _CUM_ERRORS),
    OpRecord("cummax_indices", lambda x, dim: dg.cummin(x, dim), lambda x, dim: T.cummin(x, dim), _cum_samples,
             _CUM_ERRORS, variant="cummin"),
    OpRecord("cummax_indices", lambda x, dim: x.cummax(dim), lambda x, dim: x.cummax(dim),
             lambda rng: _cum_samples(rng)[:2], variant="method"),
    OpRecord("cummax_indices", lambda x, dim: x.cummin(dim), lambda x, dim: x.cummin(dim),
             lambda rng: _cum_samples(rng)[:2], variant="cummin_method"),
)


# ============================================================================ logcumsumexp
add(
    OpRecord("logcumsumexp", lambda x, dim: dg.logcumsumexp(x, dim), lambda x, dim: T.logcumsumexp(x, dim),
             lambda rng: [Sample((u(rng, (3, 5)), 1), desc="dim 1"), Sample((u(rng, (4, 3)), 0), desc="dim 0"),
                          Sample((np.array([[3.0, -np.inf, 1.0], [-np.inf, -np.inf, 2.0]], F32), 1),
                                 desc="-inf", numeric=False),
                          Sample((u(rng, ()), 0), desc="0-d"), Sample((u(rng, (1, 3)), 0), desc="size 1"),
                          Sample((u(rng, (0, 3)), 1), desc="empty"),
                          Sample((u(rng, (2, 3), dtype=F64), -1), desc="float64")],
             lambda: [E((np.zeros(3, I64), 0), match="\"logcumsumexp_out_cpu\" not implemented for 'Long'",
                        desc="int64"),
                      E((_z(2, 3), 2), exc=IndexError, match="Dimension out of range", desc="dim")],
             atol=1e-5, rtol=1e-5),
    OpRecord("logcumsumexp", lambda x, dim: x.logcumsumexp(dim), lambda x, dim: x.logcumsumexp(dim),
             lambda rng: [Sample((u(rng, (3, 5)), 1), desc="dim 1")], variant="method", atol=1e-5, rtol=1e-5),
)


# ============================================================================ quantile / nanquantile
def _quantile_samples(rng):
    return [
        Sample((_distinct(rng, (3, 5)), 0.3), desc="all elements"),
        Sample((_distinct(rng, (3, 5)), 0.4, 1), desc="dim 1"),
        Sample((_distinct(rng, (4, 3)), 0.5, 0), {"keepdim": True}, "dim 0, keepdim"),
        Sample((_distinct(rng, (3, 4)), np.array([0.1, 0.5, 1.0], F32), 1), desc="q tensor",
               no_grad_args=(1,)),   # (q = 1.0: a numeric step past it is out of range)
        Sample((_distinct(rng, (3, 4)), np.array([0.25, 0.75], F32), None), {"keepdim": True},
               "q tensor, all, keepdim"),
        Sample((_ties(rng, (3, 6)), 0.45, 1), desc="ties", numeric=False),
        Sample((np.array([[1.0, NAN, 3.0, 4.0], [3.0, 1.0, 2.0, 0.0]], F32), 0.5, 1), desc="NaN", numeric=False),
        Sample((u(rng, ()), 0.5, 0), desc="0-d"),
        Sample((u(rng, (1, 3)), 0.7, 0), desc="size 1"),
        Sample((u(rng, (3, 4)), np.zeros(0, F32), 1), desc="empty q", no_grad_args=(1,)),
        Sample((_distinct(rng, (2, 5), F64), 0.6, 1), desc="float64"),
    ]


def _interp_samples(rng):
    out = []
    for mode in ("lower", "higher", "midpoint", "nearest"):
        out.append(Sample((_distinct(rng, (3, 5)), 0.4, 1), {"interpolation": mode}, mode))
    return out


def _quantile_errors():
    return [
        E((_z(3), 1.3), match=r"quantile\(\) q must be in the range \[0, 1\] but got 1.3", desc="q range"),
        E((_z(3), np.array([0.3, 1.3], F32)), match=r"quantile\(\) q values must be in the range \[0, 1\]",
          desc="q values"),
        E((_z(3), np.array([0.3], F64)), match=r"quantile\(\) q tensor must be same dtype as the input tensor",
          desc="q dtype"),
        E((np.zeros(3, I64), 0.5), match=r"quantile\(\) input tensor must be either float or double dtype",
          desc="int64 input"),
        E((_z(0), 0.5), match=r"quantile\(\) input tensor must be non-empty", desc="empty"),
        E((_z(2, 3), np.zeros((2, 2), F32)), match=r"quantile\(\) q must be a scalar or 1D tensor", desc="2-d q"),
        E((_z(2, 3), 0.5), {"interpolation": "foo"},
          match=r"quantile\(\) interpolation must be one of linear, lower, higher, midpoint or nearest, but got foo",
          desc="interpolation"),
    ]


def _q(fn):
    def call(x, q, dim=None, keepdim=False, interpolation="linear"):
        return fn(x, q, dim, keepdim, interpolation=interpolation)
    return call


add(
    OpRecord("quantile", _q(dg.quantile), _q(lambda *a, **k: T.quantile(*a, **k)), _quantile_samples,
             _quantile_errors, atol=1e-5, rtol=1e-5,
             notes="q gets PyTorch's gradient (linear interpolation's weights); q = 1.0 is left "
                   "out of the numeric check (a step past it is refused)"),
    OpRecord("quantile", _q(dg.nanquantile), _q(lambda *a, **k: T.nanquantile(*a, **k)),
             lambda rng: _quantile_samples(rng)[:3] + [
                 Sample((np.array([[1.0, NAN, 3.0, 4.0], [NAN, NAN, NAN, NAN], [NAN, 1.0, 2.0, 0.0]], F32), 0.5, 1),
                        desc="NaN", numeric=False),
                 Sample((np.array([[1.0, NAN, 3.0, 4.0]], F32), np.array([0.0, 0.3, 1.0], F32)), desc="NaN, all",
                        numeric=False)],
             variant="nanquantile", atol=1e-5, rtol=1e-5),
    OpRecord("quantile", _q(dg.quantile), _q(lambda *a, **k: T.quantile(*a, **k)), _interp_samples,
             variant="interpolation", atol=1e-5, rtol=1e-5),
    OpRecord("quantile", lambda x, q, dim=None: x.quantile(q, dim), lambda x, q, dim=None: x.quantile(q, dim),
             lambda rng: _quantile_samples(rng)[:2], variant="method", atol=1e-5, rtol=1e-5),
)


# ============================================================================ compositions of reductions
def _aminmax(x, dim=None, keepdim=False):
    return tuple(dg.aminmax(x, dim=dim, keepdim=keepdim))


def _aminmax_t(x, dim=None, keepdim=False):
    return tuple(T.aminmax(x, dim=dim, keepdim=keepdim))


add(
    OpRecord("amin", _aminmax, _aminmax_t,
             lambda rng: [Sample((_distinct(rng, (3, 4)),), desc="all"),
                          Sample((_distinct(rng, (3, 4)),), {"dim": 1}, "dim 1"),
                          Sample((_distinct(rng, (3, 4)),), {"dim": 0, "keepdim": True}, "dim 0, keepdim"),
                          Sample((_distinct(rng, (3, 4)),), {"keepdim": True}, "all, keepdim"),
                          Sample((ints(rng, (3, 4)),), desc="int64")],
             lambda: [E((_z(0),), match=r"aminmax\(\): cannot compute aminmax over an empty dimension as the "
                                        r"operation has no identity.", desc="empty"),
                      E((_z(0, 3),), {"dim": 0}, exc=IndexError,
                        match="aminmax: Expected reduction dim 0 to have non-zero size.", desc="empty dim")],
             variant="aminmax"),
    OpRecord("nansum", lambda x, dim=None, keepdim=False: dg.nansum(x, dim, keepdim),
             lambda x, dim=None, keepdim=False: T.nansum(x, dim, keepdim),
             lambda rng: [Sample((np.array([[1.0, NAN, 2.0], [NAN, NAN, 0.5]], F32),), desc="all"),
                          Sample((np.array([[1.0, NAN, 2.0], [NAN, NAN, 0.5]], F32), 1), desc="dim 1"),
                          Sample((u(rng, (3, 4)), 0, True), desc="no NaN, keepdim"),
                          Sample((u(rng, ()),), desc="0-d"), Sample((u(rng, (0, 3)), 1), desc="empty"),
                          Sample((ints(rng, (3, 4)),), desc="int64")]),
    OpRecord("nansum", lambda x, dim=None, keepdim=False: x.nansum(dim, keepdim),
             lambda x, dim=None, keepdim=False: x.nansum(dim, keepdim),
             lambda rng: [Sample((np.array([[1.0, NAN, 2.0], [NAN, NAN, 0.5]], F32), (0, 1)), desc="dims")],
             variant="method"),
    OpRecord("nansum", lambda x, dim=None, keepdim=False: dg.nanmean(x, dim, keepdim),
             lambda x, dim=None, keepdim=False: T.nanmean(x, dim, keepdim),
             lambda rng: [Sample((np.array([[1.0, NAN, 2.0], [NAN, NAN, 0.5]], F32),), desc="all"),
                          Sample((np.array([[1.0, NAN, 2.0], [NAN, NAN, NAN]], F32), 1), desc="dim 1, all NaN row",
                                 numeric=False),
                          Sample((u(rng, (3, 4)), 0, True), desc="no NaN, keepdim")],
             lambda: [E((np.zeros(3, I64),),
                        match=r"nanmean\(\): expected input to have floating point or complex dtype but got Long",
                        desc="int64")],
             variant="nanmean"),
    OpRecord("sum", lambda x, dim=None: dg.count_nonzero(x, dim), lambda x, dim=None: T.count_nonzero(x, dim),
             lambda rng: [Sample((np.array([[1.0, 0.0], [NAN, -0.0]], F32),), desc="all", grad=False),
                          Sample((np.array([[1.0, 0.0], [NAN, -0.0]], F32), 0), desc="dim 0", grad=False),
                          Sample((ints(rng, (3, 4), -1, 2), (0, 1)), desc="dims"),
                          Sample((u(rng, ()),), desc="0-d", grad=False)],
             lambda: [E((_z(2, 3), [0, 0]), match="dim 0 appears multiple times in the list of dims",
                        desc="repeated dim")],
             variant="count_nonzero"),
)


# ============================================================================ compositions: shapes
def _bt(*xs):
    return dg.broadcast_tensors(*xs)


add(
    OpRecord("expand", lambda x, size: dg.broadcast_to(x, size), lambda x, size: T.broadcast_to(x, size),
             lambda rng: [Sample((u(rng, (3,)), (2, 3)), desc="lead"), Sample((u(rng, (2, 1)), (2, -1, 4)), desc="-1"),
                          Sample((u(rng, (1, 3)), (0, 3)), desc="to empty")],
             lambda: [E((_z(3), (2, 4)), match=r"The expanded size of the tensor \(4\) must match the existing size "
                                              r"\(3\) at non-singleton dimension 1", desc="size")],
             variant="broadcast_to"),
    OpRecord("expand", _bt, lambda *xs: T.broadcast_tensors(*xs),
             lambda rng: [Sample((u(rng, (2, 1)), u(rng, (4,))), desc="two"),
                          Sample((u(rng, (3,)), u(rng, (2, 1, 1)), u(rng, (1, 3))), desc="three")],
             lambda: [E((_z(2, 3), _z(4)), match=r"The size of tensor a \(3\) must match the size of tensor b \(4\)",
                        desc="mismatch")],
             variant="broadcast_tensors"),
    OpRecord("repeat", lambda x, dims: dg.tile(x, dims), lambda x, dims: T.tile(x, dims),
             lambda rng: [Sample((u(rng, (2, 3)), (2,)), desc="fewer dims"), Sample((u(rng, (3,)), (2, 2)), desc="more"),
                          Sample((u(rng, (2, 3)), ()), desc="none")],
             variant="tile"),
    OpRecord("repeat", lambda x: x.tile(2, 1), lambda x: x.tile(2, 1),
             lambda rng: [Sample((u(rng, (2, 3)),), desc="method")], variant="tile_method"),
    OpRecord("reshape", lambda x: dg.ravel(x), lambda x: T.ravel(x),
             lambda rng: [Sample((u(rng, (2, 3)),), desc="2-d"), Sample((u(rng, ()),), desc="0-d")], variant="ravel"),
    OpRecord("permute", lambda x, s, d: dg.movedim(x, s, d), lambda x, s, d: T.movedim(x, s, d),
             lambda rng: [Sample((u(rng, (2, 3, 4)), 0, 2), desc="one"),
                          Sample((u(rng, (2, 3, 4)), (0, -1), (2, 0)), desc="two")],
             lambda: [E((_z(2, 3), (0, 0), (1, 0)), match=r"movedim: repeated dim in `source` \(\[0, 0\]\)",
                        desc="repeated"),
                      E((_z(2, 3), (0, 1), (1,)),
                        match=r"movedim: Invalid source or destination dims: source \(\[0, 1\] dims\) should contain "
                              r"the same number of dims as destination \(\[1\] dims\)", desc="lengths"),
                      E((_z(2, 3), 0, 2), exc=IndexError, match="Dimension out of range", desc="dim")],
             variant="movedim"),
    OpRecord("permute", lambda x, s, d: dg.moveaxis(x, s, d), lambda x, s, d: T.moveaxis(x, s, d),
             lambda rng: [Sample((u(rng, (2, 3, 4)), -1, 0), desc="one")], variant="moveaxis"),
    OpRecord("transpose", lambda x, a, b: dg.swapdims(x, a, b), lambda x, a, b: T.swapdims(x, a, b),
             lambda rng: [Sample((u(rng, (2, 3, 4)), 0, 2), desc="swapdims")], variant="swapdims"),
    OpRecord("transpose", lambda x, a, b: x.swapdims(a, b), lambda x, a, b: x.swapdims(a, b),
             lambda rng: [Sample((u(rng, (2, 3)), 0, 1), desc="swapdims")], variant="swapdims_method"),
    OpRecord("reshape", lambda x, dim, sizes: dg.unflatten(x, dim, sizes), lambda x, dim, sizes: T.unflatten(x, dim, sizes),
             lambda rng: [Sample((u(rng, (2, 6)), 1, (2, 3)), desc="dim 1"),
                          Sample((u(rng, (6, 2)), 0, (-1, 2)), desc="-1"),
                          Sample((u(rng, (2, 3)), -1, (3,)), desc="one size")],
             lambda: [E((_z(2, 3), 1, (2, 2)),
                        match=r"unflatten: Provided sizes \[2, 2\] don't multiply up to the size of dim 1 \(3\) in "
                              r"the input tensor", desc="sizes"),
                      E((_z(2, 3), 1, ()), match="unflatten: sizes must be non-empty", desc="empty sizes")],
             variant="unflatten"),
    OpRecord("flip", lambda x, k=1, dims=(0, 1): dg.rot90(x, k, dims), lambda x, k=1, dims=(0, 1): T.rot90(x, k, dims),
             lambda rng: [Sample((u(rng, (2, 3)),), desc="k=1"), Sample((u(rng, (2, 3)), 2), desc="k=2"),
                          Sample((u(rng, (2, 3, 4)), -1, (2, 0)), desc="k=-1, dims"),
                          Sample((u(rng, (2, 3)), 4), desc="k=4")],
             lambda: [E((_z(2, 3), 1, (0,)), match="expected total rotation dims == 2, but got dims = 1", desc="dims"),
                      E((_z(3), 1, (0, 1)), match="expected total dims >= 2, but got total dims = 1", desc="1-d"),
                      E((_z(2, 3), 1, (0, -2)),
                        match="expected rotation dims to be different, but got dim0 = 0 and dim1 = -2", desc="same")],
             variant="rot90"),
    OpRecord("flip", lambda x: dg.fliplr(x), lambda x: T.fliplr(x),
             lambda rng: [Sample((u(rng, (2, 3)),), desc="2-d")],
             lambda: [E((_z(3),), match=r"Input must be >= 2-d.", desc="1-d")], variant="fliplr"),
    OpRecord("flip", lambda x: dg.flipud(x), lambda x: T.flipud(x),
             lambda rng: [Sample((u(rng, (2, 3)),), desc="2-d")],
             lambda: [E((_z(),), match=r"Input must be >= 1-d.", desc="0-d")], variant="flipud"),
)


# ============================================================================ compositions: splits and differences
add(
    OpRecord("getitem", lambda x, s, dim=0: dg.tensor_split(x, s, dim), lambda x, s, dim=0: T.tensor_split(x, s, dim),
             lambda rng: [Sample((u(rng, (2, 7)), 3, 1), desc="sections"),
                          Sample((u(rng, (5, 2)), 2), desc="sections, dim 0"),
                          Sample((u(rng, (2, 3)), [2, 1], 1), desc="indices, backwards"),
                          Sample((u(rng, (2, 3)), [-1, 5], 1), desc="indices, negative and past the end")],
             lambda: [E((_z(2, 3), 0, 1), match="number of sections must be larger than 0, got 0", desc="zero"),
                      E((_z(), 2), match="tensor_split expected at least a 1-dimensional tensor, but got a tensor "
                                         "with 0 dims", desc="0-d")],
             variant="tensor_split"),
    OpRecord("getitem", lambda x, s: dg.hsplit(x, s), lambda x, s: T.hsplit(x, s),
             lambda rng: [Sample((u(rng, (2, 4)), 2), desc="sections"), Sample((u(rng, (4,)), [1, 3]), desc="1-d")],
             lambda: [E((_z(2, 3), 2), match=r"torch.hsplit attempted to split along dimension 1, but the size of the "
                                             r"dimension 3 is not divisible by the split_size 2!", desc="divisible"),
                      E((_z(), 2), match=r"torch.hsplit requires a tensor with at least 1 dimension, but got a tensor "
                                         r"with 0 dimensions!", desc="0-d")],
             variant="hsplit"),
    OpRecord("getitem", lambda x, s: dg.vsplit(x, s), lambda x, s: T.vsplit(x, s),
             lambda rng: [Sample((u(rng, (4, 2)), 2), desc="sections"), Sample((u(rng, (3, 2)), [1]), desc="indices")],
             lambda: [E((_z(4), 2), match=r"torch.vsplit requires a tensor with at least 2 dimension, but got a tensor "
                                          r"with 1 dimensions!", desc="1-d")],
             variant="vsplit"),
    OpRecord("getitem", lambda x, s: dg.dsplit(x, s), lambda x, s: T.dsplit(x, s),
             lambda rng: [Sample((u(rng, (2, 2, 4)), 2), desc="sections")],
             lambda: [E((_z(2, 2, 4), 3), match=r"torch.dsplit attempted to split along dimension 2, but the size of "
                                                r"the dimension 4 is not divisible by the split_size 3!",
                        desc="divisible")],
             variant="dsplit"),
    OpRecord("getitem", lambda x, s, dim=0: x.tensor_split(s, dim), lambda x, s, dim=0: x.tensor_split(s, dim),
             lambda rng: [Sample((u(rng, (2, 7)), 3, 1), desc="sections")], variant="tensor_split_method"),
    OpRecord("getitem", lambda x, n=1, dim=-1: dg.diff(x, n, dim), lambda x, n=1, dim=-1: T.diff(x, n, dim),
             lambda rng: [Sample((u(rng, (2, 5)),), desc="last dim"), Sample((u(rng, (4, 3)), 2, 0), desc="n=2, dim 0"),
                          Sample((u(rng, (2, 3)), 5), desc="n past the size"),
                          Sample((ints(rng, (2, 4)),), desc="int64"),
                          Sample((bools(rng, (5,)),), desc="bool")],
             lambda: [E((_z(),), match="diff expects input to be at least one-dimensional", desc="0-d"),
                      E((_z(2, 3), -1), match="order must be non-negative but got -1", desc="negative n")],
             variant="diff"),
    OpRecord("getitem", lambda x, p, a: dg.diff(x, 1, -1, p, a), lambda x, p, a: T.diff(x, 1, -1, p, a),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (2, 1)), u(rng, (2, 2))), desc="prepend, append"),
                          Sample((u(rng, (2, 3)), u(rng, (2, 2), dtype=F64), u(rng, (2, 1))), desc="promoted")],
             lambda: [E((_z(2, 3), _z(3), _z(2, 1)),
                        match="diff expects prepend or append to be the same dimension as input", desc="ranks")],
             variant="diff_prepend_append"),
)


# ============================================================================ compositions: products
def _z3():
    return _z(3)


add(
    OpRecord("diagonal", lambda x: dg.trace(x), lambda x: T.trace(x),
             lambda rng: [Sample((u(rng, (3, 3)),), desc="square"), Sample((u(rng, (2, 4)),), desc="wide"),
                          Sample((ints(rng, (3, 2)),), desc="int64"), Sample((u(rng, (0, 3)),), desc="empty")],
             lambda: [E((_z(3),), match="trace: expected a matrix, but got tensor with dim 1", desc="1-d"),
                      E((np.zeros((2, 2), bool),), match="\"trace\" not implemented for 'Bool'", desc="bool")],
             variant="trace"),
    OpRecord("mul", lambda a, b: dg.kron(a, b), lambda a, b: T.kron(a, b),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3, 2))), desc="2-d"),
                          Sample((u(rng, (2,)), u(rng, (2, 1, 3))), desc="ranks"),
                          Sample((u(rng, ()), u(rng, (2,))), desc="0-d"),
                          Sample((ints(rng, (2,)), u(rng, (3,))), desc="promoted")],
             variant="kron"),
    OpRecord("mm", lambda a, b: dg.inner(a, b), lambda a, b: T.inner(a, b),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (4, 3))), desc="2-d"),
                          Sample((u(rng, (3,)), u(rng, (2, 2, 3))), desc="1-d, 3-d"),
                          Sample((u(rng, (2, 0)), u(rng, (3, 0))), desc="empty sum")],
             lambda: [E((_z(2, 3), _z(4)), match=r"inner\(\) the last dimension must match on both input tensors but "
                                                 r"got shapes \[2, 3\] and \[4\]", desc="sizes")],
             variant="inner", atol=1e-5, rtol=1e-4),
    OpRecord("mul", lambda a, b: dg.inner(a, b), lambda a, b: T.inner(a, b),
             lambda rng: [Sample((u(rng, ()), u(rng, (2, 3))), desc="0-d")], variant="inner_scalar"),
    OpRecord("matmul", lambda m, v: dg.mv(m, v), lambda m, v: T.mv(m, v),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), desc="mv")],
             lambda: [E((_z(2, 3), _z(4)), match=r"size mismatch, got input \(2\), mat \(2x3\), vec \(4\)", desc="size"),
                      E((_z(3), _z(3)), match=r"vector \+ matrix @ vector expected, got 1, 1, 1", desc="ranks")],
             variant="mv", atol=1e-5, rtol=1e-4),
    OpRecord("mm", lambda i, a, b, beta=1, alpha=1: dg.addmm(i, a, b, beta=beta, alpha=alpha),
             lambda i, a, b, beta=1, alpha=1: T.addmm(i, a, b, beta=beta, alpha=alpha),
             lambda rng: [Sample((u(rng, (2, 2)), u(rng, (2, 3)), u(rng, (3, 2))), desc="plain"),
                          Sample((u(rng, (2,)), u(rng, (2, 3)), u(rng, (3, 2))), {"beta": 0.5, "alpha": 2.0},
                                 "broadcast, scaled"),
                          Sample((u(rng, (2, 2)), u(rng, (2, 3)), u(rng, (3, 2))), {"beta": 0}, "beta 0")],
             lambda: [E((_z(2, 2), _z(2, 3), _z(4, 2)),
                        match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x2\)", desc="shapes"),
                      E((_z(2, 2), _z(3), _z(3, 2)), match="mat1 must be a matrix, got 1-D tensor", desc="1-d"),
                      E((_z(3, 2), _z(2, 3), _z(3, 2)),
                        match=r"The expanded size of the tensor \(2\) must match the existing size \(3\) at "
                              r"non-singleton dimension 0", desc="input")],
             variant="addmm", atol=1e-5, rtol=1e-4,
             notes="beta=0: the input is not read, and its gradient is PyTorch's beta * g "
                   "(NaN where g is inf)"),
    OpRecord("matmul", lambda i, a, b, beta=1, alpha=1: dg.addmv(i, a, b, beta=beta, alpha=alpha),
             lambda i, a, b, beta=1, alpha=1: T.addmv(i, a, b, beta=beta, alpha=alpha),
             lambda rng: [Sample((u(rng, (2,)), u(rng, (2, 3)), u(rng, (3,))), {"alpha": 0.5}, "addmv")],
             lambda: [E((_z(3), _z(2, 3), _z(3)), match=r"size mismatch, got input \(3\), mat \(2x3\), vec \(3\)",
                        desc="size")],
             variant="addmv", atol=1e-5, rtol=1e-4),
    OpRecord("bmm", lambda i, a, b, beta=1, alpha=1: dg.baddbmm(i, a, b, beta=beta, alpha=alpha),
             lambda i, a, b, beta=1, alpha=1: T.baddbmm(i, a, b, beta=beta, alpha=alpha),
             lambda rng: [Sample((u(rng, (2, 2, 2)), u(rng, (2, 2, 3)), u(rng, (2, 3, 2))), {"beta": 2.0}, "baddbmm")],
             lambda: [E((_z(2, 2, 2), _z(2, 2, 3), _z(2, 4, 2)),
                        match=r"Expected size for first two dimensions of batch2 tensor to be: \[2, 3\] but got: "
                              r"\[2, 4\].", desc="sizes")],
             variant="baddbmm", atol=1e-5, rtol=1e-4),
    OpRecord("bmm", lambda i, a, b, beta=1, alpha=1: dg.addbmm(i, a, b, beta=beta, alpha=alpha),
             lambda i, a, b, beta=1, alpha=1: T.addbmm(i, a, b, beta=beta, alpha=alpha),
             lambda rng: [Sample((u(rng, (2, 2)), u(rng, (3, 2, 3)), u(rng, (3, 3, 2))), {"alpha": -1.0}, "addbmm")],
             lambda: [E((_z(2, 2), _z(2, 2, 3), _z(3, 3, 2)),
                        match="batch1 and batch2 must have same number of batches, got 2 and 3", desc="batches"),
                      E((_z(2, 2), _z(2, 2, 3), _z(2, 4, 2)),
                        match=r"Incompatible matrix sizes for bmm \(2x3 and 4x2\)", desc="sizes")],
             variant="addbmm", atol=1e-5, rtol=1e-4),
    OpRecord("dot", lambda a, b: dg.vdot(a, b), lambda a, b: T.vdot(a, b),
             lambda rng: [Sample((u(rng, (4,)), u(rng, (4,))), desc="vdot")],
             lambda: [E((_z(2, 3), _z(3)), match="1D tensors expected, but got 2D and 1D tensors", desc="ranks")],
             variant="vdot", atol=1e-5),
    OpRecord("stack", lambda a, b, dim=None: dg.cross(a, b, dim), lambda a, b, dim=None: T.cross(a, b, dim=dim),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (2, 3)), 1), desc="dim 1"),
                          Sample((u(rng, (3, 2)), u(rng, (3, 1)), 0), desc="dim 0, broadcast")],
             lambda: [E((_z(2, 4), _z(2, 4), -1),
                        match=r"linalg.cross: inputs dimension -1 must have length 3. Got 4 and 4", desc="size"),
                      E((_z(2, 3), _z(3), 1), match="linalg.cross: inputs must have the same number of dimensions.",
                        desc="ranks"),
                      E((_z(2, 4), _z(2, 4)), match="no dimension of size 3 in input", desc="no size 3")],
             variant="cross"),
    OpRecord("mul", lambda a, b: a.cross(b), lambda a, b: a.cross(b),
             lambda rng: [Sample((u(rng, (4, 3)), u(rng, (4, 3))), desc="default dim")],
             variant="cross_default_dim",
             notes="the first dim of size 3 (PyTorch's deprecated default; a graph refuses it while "
                   "sizes are unknown)"),
    OpRecord("norm", lambda a, b, p=2: dg.dist(a, b, p), lambda a, b, p=2: T.dist(a, b, p),
             lambda rng: [Sample((_distinct(rng, (2, 3)), _distinct(rng, (3,))), desc="2, broadcast"),
                          Sample((_distinct(rng, (4,)), _distinct(rng, (4,)), 3), desc="p=3"),
                          Sample((_distinct(rng, (4,)), _distinct(rng, (4,)), 1), desc="p=1")],
             lambda: [E((_z(3), _z(2)), match=r"The size of tensor a \(3\) must match the size of tensor b \(2\)",
                        desc="broadcast")],
             variant="dist", atol=1e-5, rtol=1e-4),
)
