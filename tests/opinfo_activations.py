"""Operator-table records for erf and the smooth activations of dualgraph/ops/elementwise.py
(erf, gelu, silu, elu, softplus). Imported at the end of tests/opinfo.py, so test_ops.py runs them
with every other record: gradcheck, gradgradcheck, shape rules with unknown dims, eager == graph,
PyTorch values, gradients and error wording.
"""
import numpy as np

import dualgraph as dg

from opinfo import OpRecord, Sample, ErrorSample, T, add, u, away, unary_samples, F32, F64, I64

F = dg.nn.functional


def _tf():
    return T.nn.functional


_INT_IN = (np.array([1, 2], I64),)
_BOOL_IN = (np.array([True, False]),)


def _not_implemented(kernel):
    """PyTorch's activation kernels refuse integer and bool tensors (its NotImplementedError
    there is a RuntimeError too; dualgraph raises a DGRuntimeError, as for abs)."""
    return lambda: [
        ErrorSample(_INT_IN, exc=RuntimeError,
                    match=f'"{kernel}" not implemented for \'Long\'', desc="int64"),
        ErrorSample(_BOOL_IN, exc=RuntimeError,
                    match=f'"{kernel}" not implemented for \'Bool\'', desc="bool"),
    ]


def _wide(rng, shape, dtype=F32):
    """Values over [-6, 6]: erf's and GELU's tails and their steep middle."""
    return u(rng, shape, -6.0, 6.0, dtype)


def _erf_extremes(rng):
    return Sample((np.array([0.0, -0.0, 1e-30, -1e-8, 0.5, -3.5, 7.0, -40.0], F32),),
                  desc="tiny and saturated", numeric=False)


def _erf_special(rng):
    return Sample((np.array([np.inf, -np.inf, np.nan], F32),), desc="inf, nan", grad=False)


def _big(rng):
    return Sample((np.array([-90.0, -30.0, 30.0, 90.0], F32),), desc="large |x|", numeric=False)


def _softplus_samples(rng):
    out = unary_samples(u, int_input=False)(rng)
    x = away(rng, (3, 4), gap=0.3, hi=3.0)
    out += [
        Sample((x, 2.0, 1.0), desc="beta 2, threshold 1 (both branches)"),
        Sample((x.astype(F64), 0.5, 1.0), desc="f64 beta 0.5"),
        Sample((x,), {"beta": 3, "threshold": 5}, desc="kwargs, int beta"),
        Sample((np.array([-200.0, -20.0, 19.0, 25.0, 200.0], F32),), desc="saturated",
               numeric=False),
    ]
    return out


def _elu_samples(rng):
    out = unary_samples(away, int_input=False)(rng)
    x = away(rng, (3, 4))
    out += [
        Sample((x, 0.5), desc="alpha 0.5"),
        Sample((x.astype(F64), 2.0), desc="f64 alpha 2"),
        Sample((x,), {"alpha": -0.7}, desc="negative alpha"),
        Sample((np.array([-100.0, -10.0, 50.0, 100.0], F32),), desc="large |x|", numeric=False),
    ]
    return out


def _gelu_samples(approximate):
    def samples(rng):
        out = [Sample((s.args[0],), {"approximate": approximate}, s.desc)
               for s in unary_samples(_wide, int_input=False)(rng)]
        out.append(Sample((np.array([-40.0, -8.0, 0.0, 8.0, 40.0], F32),),
                          {"approximate": approximate}, "saturated", numeric=False))
        return out
    return samples


add(
    OpRecord("erf", lambda x: dg.erf(x), lambda x: T.erf(x),
             unary_samples(_wide, extra=[_erf_extremes, _erf_special,
                                         lambda rng: Sample((np.array([True, False]),),
                                                            desc="bool")])),
    OpRecord("gelu", lambda x, **kw: F.gelu(x, **kw), lambda x, **kw: _tf().gelu(x, **kw),
             _gelu_samples("none"),
             lambda: [ErrorSample((np.zeros(3, F32),), {"approximate": "sigmoid"},
                                  match="approximate argument must be either none or tanh.",
                                  desc="approximate")] + _not_implemented("GeluKernelImpl")()),
    OpRecord("gelu", lambda x, **kw: F.gelu(x, **kw), lambda x, **kw: _tf().gelu(x, **kw),
             _gelu_samples("tanh"), variant="tanh"),
    OpRecord("gelu", lambda x: dg.nn.GELU()(x), lambda x: T.nn.GELU()(x),
             unary_samples(_wide, int_input=False), variant="module"),
    OpRecord("silu", lambda x: F.silu(x), lambda x: _tf().silu(x),
             unary_samples(lambda rng, s: u(rng, s, -5.0, 5.0), int_input=False, extra=[_big]),
             _not_implemented("silu_cpu")),
    OpRecord("elu", lambda x, *a, **kw: F.elu(x, *a, **kw),
             lambda x, *a, **kw: _tf().elu(x, *a, **kw), _elu_samples, _not_implemented("elu_cpu")),
    OpRecord("softplus", lambda x, *a, **kw: F.softplus(x, *a, **kw),
             lambda x, *a, **kw: _tf().softplus(x, *a, **kw), _softplus_samples,
             _not_implemented("softplus_cpu")),
)


# ---------------------------------------------------------------- tanh_backward, sigmoid_backward
def _grad_out_samples(lo, hi):
    """(g, y): y an output of tanh (in (-1, 1)) or sigmoid (in (0, 1))."""
    return lambda rng: [Sample((u(rng, s), u(rng, s, lo, hi)), desc=str(s))
                        for s in [(2, 3), (4,), (), (1, 1), (0, 3)]] + [
        Sample((u(rng, (2, 3), dtype=F64), u(rng, (2, 3), lo, hi, dtype=F64)), desc="f64")]


add(
    OpRecord("tanh_backward", lambda g, y: dg.ops.apply(dg.ops.elementwise.tanh_backward_op, g, y),
             lambda g, y: T.ops.aten.tanh_backward(g, y), _grad_out_samples(-0.9, 0.9),
             notes="the rule of tanh (one op, as PyTorch's)"),
    OpRecord("sigmoid_backward", lambda g, y: dg.ops.apply(dg.ops.elementwise.sigmoid_backward_op, g, y),
             lambda g, y: T.ops.aten.sigmoid_backward(g, y), _grad_out_samples(0.1, 0.9),
             notes="the rule of sigmoid (one op, as PyTorch's)"),
)


def _relu_grad_samples(rng):
    """(g, y): y an output of relu (zeros included: the mask's edge)."""
    def y(shape, dtype=F32):   # away from the mask's edge at 0 (finite differences jump there)
        a = u(rng, shape, dtype=dtype)
        return np.where(a < 0, a - 0.1, a + 0.1).astype(dtype)
    return [Sample((u(rng, s), y(s)), desc=str(s)) for s in [(2, 3), (4,), (), (1, 1), (0, 3)]] + [
        Sample((u(rng, (2, 3), dtype=F64), y((2, 3), F64)), desc="f64"),
        Sample((u(rng, (3,)), np.array([np.nan, 0.0, 1.0], F32)), desc="nan and zero output", grad=False)]


add(
    OpRecord("relu_backward", lambda g, y: dg.ops.apply(dg.ops.elementwise.relu_backward_op, g, y),
             lambda g, y: T.ops.aten.threshold_backward(g, y, 0), _relu_grad_samples,
             notes="the rule of relu (one op, PyTorch's threshold_backward)"),
)
