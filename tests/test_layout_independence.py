"""Every kernel's numbers depend on its inputs' values, never on their memory layout.

Eagerly a value is often a view (a transpose, a slice) or laid out as numpy's K order made it;
a compiled plan writes the same value into a C-ordered buffer of its own. numpy walks a
reduction in memory order and rounds along that walk, so a kernel that reduces a non-C input
as it lies gives other bits than on a C copy, and the two modes diverge (TransformerEncoderLayer
(norm_first, batch_first): norm1.bias.grad differed by an ulp compiled). Here the op table (products aside: PRODUCT_OPS) runs
eagerly on each sample laid out in C order, in Fortran order and as a strided view of a larger
array (the cotangents likewise), and the outputs and gradients must be bitwise equal."""
import re

import numpy as np
import pytest

import dualgraph as dg

import op_runners as R
from opinfo import RECORDS

# ops whose meaning is the memory layout itself (PyTorch's too): a view of a non-contiguous
# tensor is refused, as_strided reads the storage
LAYOUT_OPS = {"view", "as_strided"}
# products round by their operands' layout (BLAS reads a column-major operand transposed, gemv
# and small products take other loops); copying every operand to C order would cost the
# transposes of every backward rule a copy. A plan gives them eager's layouts instead
# (tests/test_plan_layouts.py), so the two modes read the same layouts.
PRODUCT_OPS = {"matmul", "mm", "bmm", "dot", "outer", "linear", "conv2d", "conv1d",
               "conv_transpose2d", "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward"}


def _fortran(a):
    return np.asfortranarray(a) if a.ndim >= 2 else a


def _strided(a):
    if a.ndim == 0 or a.size == 0:
        return a
    big = np.empty(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    v = big[..., ::2]
    v[...] = a
    return v


LAYOUTS = {"fortran": _fortran, "strided": _strided}


def _params():
    out = []
    for r in RECORDS:
        if r.random or r.op in LAYOUT_OPS or r.op in PRODUCT_OPS:
            continue
        for i, s in enumerate(r.sample_list()):
            if any(isinstance(a, np.ndarray) and a.ndim >= 1 and a.size > 1 for a in s.args):
                desc = re.sub(r"[^A-Za-z0-9_.=,+*()<>-]+", "_", s.desc)
                out.append(pytest.param(r, s, id=f"{r.id}[{i}:{desc}]"))
    return out


def _run(record, sample, relayout):
    grad = record.differentiable and sample.grad
    pos = set(R.grad_positions(sample)) if grad else set()
    inputs = []
    for i, a in enumerate(sample.args):
        if isinstance(a, np.ndarray):
            t = dg.from_numpy(relayout(np.array(a)))
            inputs.append(t.requires_grad_(True) if i in pos else t)
        else:
            inputs.append(a)
    return R._run(record.fn, inputs, sample, grad=grad, tensor_type=dg.Tensor, to_np=R._dg_np,
                  grad_fn=dg.autograd.grad, from_numpy=lambda c: dg.from_numpy(relayout(c)))


@pytest.mark.parametrize("record,sample", _params())
def test_results_do_not_depend_on_the_inputs_layout(record, sample):
    ref = _run(record, sample, lambda a: np.array(a, order="C"))
    for name, relayout in LAYOUTS.items():
        got = _run(record, sample, relayout)
        for k, (a, b) in enumerate(zip(got.outputs, ref.outputs)):
            np.testing.assert_array_equal(a, b, err_msg=f"{record.id} output {k}, {name} inputs")
        for k, (a, b) in enumerate(zip(got.grads or (), ref.grads or ())):
            if b is not None:
                np.testing.assert_array_equal(a, b, err_msg=f"{record.id} grad {k}, {name} inputs")
