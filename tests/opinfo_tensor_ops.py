"""Operator-table records for the tensor ops of issue 13's second part: einsum (ops/linalg.py),
diagonal / diag_embed / diagonal_grad and the composites diag and repeat_interleave
(ops/shape.py). Imported at the end of tests/opinfo.py, so test_ops.py (gradcheck,
gradgradcheck, shape rules also with unknown dims, PyTorch's values, gradients and error
wording), test_ops_graph.py (graph == eager) and test_ops_unknown_dims.py (the shape ops with
placeholders of unknown dims) run them with every other record.

nonzero and unique are not registered ops (their result's shape depends on the data, so a graph
refuses them): tests/test_tensor_ops_extra.py checks them against PyTorch.
"""
import numpy as np

import dualgraph as dg
from dualgraph.ops import apply

from opinfo import OpRecord, Sample, ErrorSample, T, add, op, u, ints, F32, F64


# ---------------------------------------------------------------------------- einsum
def _es(eq, *shapes, desc=None, dtype=F32, rng=None):
    return Sample(tuple(u(rng, s, dtype=dtype) for s in shapes), {"eq": eq}, desc or eq)


def _einsum_samples(rng):
    s = lambda eq, *shapes, desc=None: _es(eq, *shapes, desc=desc, rng=rng)  # noqa: E731
    return [
        s("ij,jk->ik", (2, 3), (3, 4), desc="matmul"),
        s("bij,bjk->bik", (2, 3, 4), (2, 4, 2), desc="batched"),
        s("ij,jk", (2, 3), (3, 4), desc="implicit output"),
        s("ii", (3, 3), desc="trace"),
        s("ii->i", (3, 3), desc="diagonal"),
        s("iji->j", (2, 3, 2), desc="repeated, kept"),
        s("i,j->ij", (2,), (3,), desc="outer"),
        s("ij->", (2, 3), desc="sum"),
        s("ji", (2, 3), desc="implicit transpose"),
        s("...ij,...jk", (5, 2, 3), (3, 4), desc="ellipsis broadcast"),
        s("b...,b...->...", (2, 3, 1), (2, 1, 4), desc="ellipsis sizes 1"),
        s("ij,ij->ij", (2, 1), (2, 4), desc="size-1 subscript broadcasts"),
        s("ij,jk,kl->il", (2, 3), (3, 4), (4, 2), desc="three operands"),
        s("bA,Ab->b", (2, 3), (3, 2), desc="uppercase"),
        s("i j , j k -> i k", (1, 1), (1, 1), desc="spaces, size 1"),
        s("ij,jk->ik", (2, 0), (0, 3), desc="empty contraction"),
        s("ij,jk->ik", (0, 3), (3, 2), desc="empty result"),
        Sample((ints(rng, (2, 3)), ints(rng, (3, 2))), {"eq": "ij,jk->ik"}, "int64"),
        Sample((ints(rng, (2, 3), dtype=np.int32),), {"eq": "ij->j"}, "int32 sum: int64, as torch.sum"),
        Sample((ints(rng, (2, 3), dtype=np.int32),), {"eq": "ji"}, "int32 permute stays int32"),
    ]


def _einsum_errors():
    z = lambda *s, dt=F32: np.zeros(s, dt)  # noqa: E731
    E = ErrorSample
    return [
        E((z(2, 3), z(4, 5)), {"eq": "ij,jk->ik"},
          match=r"einsum\(\): subscript j has size 4 for operand 1 which does not broadcast with "
                r"previously seen size 3", desc="sizes"),
        E((z(2, 3),), {"eq": "ijk->i"},
          match=r"the number of subscripts in the equation \(3\) does not match the number of "
                r"dimensions \(2\) for operand 0 and no ellipsis was given", desc="rank"),
        E((z(2, 3),), {"eq": "ij->k"},
          match="output subscript k does not appear in the equation for any input operand",
          desc="output subscript"),
        E((z(2, 3),), {"eq": "ij,jk"}, match="fewer operands were provided than specified",
          desc="too few operands"),
        E((z(2, 3), z(2, 3)), {"eq": "ij"}, match="more operands were provided than specified",
          desc="too many operands"),
        E((z(2, 3),), {"eq": "i1"},
          match=r"invalid subscript given at index 1 in the equation string, subscripts must be "
                r"in \[a-zA-Z\]", desc="invalid subscript"),
        E((z(2, 3),), {"eq": "ij->ii"}, match="output subscript i appears more than once in the output",
          desc="repeated output"),
        E((z(2, 3),), {"eq": "ii->i"},
          match=r"subscript i is repeated for operand 0 but the sizes don't match, 3 != 2",
          desc="repeated sizes"),
        E((z(2, 3),), {"eq": "i..->"}, match="found '.' for operand 0 that is not part of any ellipsis",
          desc="dots"),
        E((z(2, 3), z(4, 3)), {"eq": "...i,...i"},
          match="dimension 0 covered by ellipsis in operand 1has size 4 which does not broadcast "
                "with previously seen ellipsis with size 2", desc="ellipsis sizes"),
        E((z(2, 3), z(3, 2, dt=F64)), {"eq": "ij,jk->ik"},
          match="expected scalar type Float but found Double", desc="dtypes"),
    ]


add(
    OpRecord("einsum", lambda *xs, eq: dg.einsum(eq, *xs), lambda *xs, eq: T.einsum(eq, *xs),
             _einsum_samples, _einsum_errors, atol=1e-5, rtol=1e-4),
    OpRecord("einsum", lambda *xs, eq: dg.einsum(eq, list(xs)), lambda *xs, eq: T.einsum(eq, list(xs)),
             lambda rng: [_es("i,j", (2,), (3,), rng=rng, desc="list, outer"),
                          _es("bij,bkj->bik", (2, 3, 4), (2, 2, 4), rng=rng, desc="list, batched")],
             variant="operand_list", atol=1e-5, rtol=1e-4),
)


# ---------------------------------------------------------------------------- diagonal / diag_embed
def _diagonal_samples(rng):
    return [
        Sample((u(rng, (3, 4)),), desc="3x4"),
        Sample((u(rng, (3, 4)), 1), desc="offset 1"),
        Sample((u(rng, (3, 4)), -2), desc="offset -2"),
        Sample((u(rng, (2, 3, 4)), 1, 2, 0), desc="3-d, dims (2, 0)"),
        Sample((u(rng, (2, 3, 4)), -1, -1, 1), desc="3-d, negative dims"),
        Sample((u(rng, (3, 2)), 5), desc="offset past the end"),
        Sample((u(rng, (1, 1)),), desc="1x1"),
        Sample((u(rng, (0, 3)),), desc="empty"),
    ]


def _diag_dims_errors(fn_rank):
    return lambda: [
        ErrorSample((np.zeros((3, 2) if fn_rank == 2 else (3,), F32), 0, 0, 0),
                    match="diagonal dimensions cannot be identical 0, 0", desc="same dims"),
        ErrorSample((np.zeros((3,) if fn_rank == 2 else (3,), F32), 0, 0, 5 if fn_rank == 1 else 1),
                    exc=IndexError, match=r"Dimension out of range", desc="dim range"),
    ]


def _diag_embed_samples(rng):
    return [
        Sample((u(rng, (2, 3)),), desc="batch"),
        Sample((u(rng, (3,)), 1), desc="offset 1"),
        Sample((u(rng, (3,)), -2), desc="offset -2"),
        Sample((u(rng, (2, 3)), 1, 0, 2), desc="dims (0, 2)"),
        Sample((u(rng, (2, 3)), 0, -1, 0), desc="dims (-1, 0)"),
        Sample((u(rng, (1,)),), desc="size 1"),
        Sample((u(rng, (2, 0)),), desc="empty"),
    ]


def _diagonal_grad_samples(rng):
    return [
        Sample((u(rng, (3,)), u(rng, (3, 4))), desc="3x4", no_grad_args=(1,)),
        Sample((u(rng, (2,)), u(rng, (3, 4))), {"offset": -1}, "offset -1", no_grad_args=(1,)),
        Sample((u(rng, (3, 1)), u(rng, (2, 3, 4))), {"offset": 1, "dim1": 2, "dim2": 0},
               "3-d", no_grad_args=(1,)),
        Sample((u(rng, (1,)), u(rng, (1, 1))), desc="1x1", no_grad_args=(1,)),
        Sample((u(rng, (0,)), u(rng, (0, 3))), desc="empty", no_grad_args=(1,)),
    ]


add(
    OpRecord("diagonal", lambda x, *a: dg.diagonal(x, *a), lambda x, *a: T.diagonal(x, *a),
             _diagonal_samples, _diag_dims_errors(2)),
    OpRecord("diagonal", lambda x, *a: x.diagonal(*a), lambda x, *a: x.diagonal(*a),
             lambda rng: _diagonal_samples(rng)[:2], variant="method"),
    OpRecord("diagonal", lambda x, *a: dg.diag(x, *a), lambda x, *a: T.diag(x, *a),
             lambda rng: [Sample((u(rng, (3, 4)),), desc="2-d"), Sample((u(rng, (3, 4)), 1), desc="+1"),
                          Sample((u(rng, (4, 3)), -2), desc="-2"), Sample((u(rng, (1, 1)),), desc="1x1"),
                          Sample((u(rng, (0, 2)),), desc="empty")],
             lambda: [ErrorSample((np.zeros((2, 3, 4), F32),),
                                  match=r"diag\(\): Supports 1D or 2D tensors. Got 3D", desc="3-d"),
                      ErrorSample((np.zeros((), F32),),
                                  match=r"diag\(\): Supports 1D or 2D tensors. Got 0D", desc="0-d")],
             variant="diag"),
    OpRecord("diag_embed", lambda x, *a: dg.diag_embed(x, *a), lambda x, *a: T.diag_embed(x, *a),
             _diag_embed_samples, _diag_dims_errors(1)),
    OpRecord("diag_embed", lambda x, *a: dg.diag(x, *a), lambda x, *a: T.diag(x, *a),
             lambda rng: [Sample((u(rng, (3,)),), desc="1-d"), Sample((u(rng, (3,)), 1), desc="+1"),
                          Sample((u(rng, (2,)), -2), desc="-2"), Sample((u(rng, (1,)),), desc="size 1"),
                          Sample((u(rng, (0,)),), desc="empty")],
             variant="diag"),
    OpRecord("diagonal_grad",
             lambda g, x, **kw: apply(op("diagonal_grad"), g, x, offset=kw.get("offset", 0),
                                      dim1=kw.get("dim1", 0), dim2=kw.get("dim2", 1)),
             None, _diagonal_grad_samples),
)


# ---------------------------------------------------------------------------- repeat_interleave
def _ri_int_samples(rng):
    return [
        Sample((u(rng, (2, 3)), 2), desc="flattened"),
        Sample((u(rng, (2, 3)), 3, 1), desc="dim 1"),
        Sample((u(rng, (2, 3)), 2, -2), desc="dim -2"),
        Sample((u(rng, (2, 3)), 0, 0), desc="zero repeats"),
        Sample((u(rng, (1, 3)), 2, 0), desc="size 1"),
        Sample((u(rng, (0, 3)), 2, 0), desc="empty"),
        Sample((u(rng, ()), 3), desc="0-d"),
    ]


def _ri_tensor(x, reps, dim=None):
    return dg.repeat_interleave(x, dg.tensor(reps), dim)


def _ri_tensor_torch(x, reps, dim=None):
    return T.repeat_interleave(x, T.tensor(reps), dim)


add(
    OpRecord("expand", lambda x, r, dim=None: dg.repeat_interleave(x, r, dim),
             lambda x, r, dim=None: T.repeat_interleave(x, r, dim), _ri_int_samples,
             lambda: [ErrorSample((np.zeros((2, 3), F32), -1), match="Repeats must be non-negative",
                                  desc="negative"),
                      ErrorSample((np.zeros((2, 3), F32), 2, 2), exc=IndexError,
                                  match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)",
                                  desc="dim range")],
             variant="repeat_interleave"),
    OpRecord("expand", lambda x, r, dim=None: x.repeat_interleave(r, dim),
             lambda x, r, dim=None: x.repeat_interleave(r, dim),
             lambda rng: _ri_int_samples(rng)[1:3], variant="repeat_interleave_method"),
    OpRecord("getitem", _ri_tensor, _ri_tensor_torch,
             lambda rng: [Sample((u(rng, (2, 3)), (1, 2), 0), desc="dim 0"),
                          Sample((u(rng, (2, 3)), (2, 0, 1), 1), desc="dim 1, a zero"),
                          Sample((u(rng, (2, 2)), (1, 2, 0, 3)), desc="flattened"),
                          Sample((u(rng, (3, 2)), (2,), 0), desc="one count"),
                          Sample((u(rng, (1, 2)), (0,), 0), desc="size 1, zero"),
                          Sample((u(rng, (0, 2)), (1, 2), 1), desc="empty")],
             lambda: [ErrorSample((np.zeros((2, 3), F32), (1, -2), 0), match="repeats can not be negative",
                                  desc="negative"),
                      ErrorSample((np.zeros((2, 3), F32), ((1, 2),), 0),
                                  match="repeats must be 0-dim or 1-dim tensor", desc="2-d repeats"),
                      ErrorSample((np.zeros((2, 3), F32), (1.0, 2.0), 0),
                                  match="\"repeat_interleave_cpu\" not implemented for 'Float'",
                                  desc="float repeats")],
             variant="repeat_interleave_tensor"),
)
