"""Operator-table records for the math ops of dualgraph/ops/elementwise_math.py (tan ... atanh,
log2, log10, exp2, expm1, reciprocal, sinc, logit, frac, nan_to_num; atan2, hypot, logaddexp(2),
xlogy, copysign, heaviside, fmax, fmin, nextafter, clamp_min/clamp_max with a tensor bound,
clamp with tensor bounds;
lerp, addcmul, addcdiv) and for the PyTorch names built from other ops (deg2rad, square,
float_power, ldexp, the predicates isnan ... signbit, logical_xor, the aliases arcsin ...,
true_divide, divide, multiply, subtract, greater ...). Imported at the end of tests/opinfo.py,
so test_ops.py, test_ops_graph.py, test_layout_independence.py and test_special_values.py run
them with every other record.

A composition's record names the op it reaches (deg2rad is a `mul`, isnan a `ne`) and is a
variant of that op's record. In-place variants (`x.clone().tan_()`) run the write door in both
modes, gradients included.

Tolerances: the defaults (rtol 1e-5) hold for every record; numpy's and PyTorch's float32
transcendental kernels (SLEEF there, the C library or numpy's SIMD loops here) differ by ulps.
"""
import math
import re

import numpy as np

import dualgraph as dg

from opinfo import (OpRecord, Sample, ErrorSample, T, add, u, away, ints, bools, unary_samples,
                    binary_samples, MISMATCH, F32, F64, I64)

I32 = np.int32
_BOOL_IN = (np.array([True, False]),)
_INT_IN = (np.array([1, 2], I64),)
INF, NAN = np.inf, np.nan


def _between(lo, hi):
    return lambda rng, shape, dtype=F32: u(rng, shape, lo, hi, dtype)


def _pos(rng, shape, dtype=F32):
    return u(rng, shape, 0.5, 2.0, dtype)


def _nz(rng, shape, dtype=F32):
    return away(rng, shape, 0.5, 2.0, dtype)


def _specials(*values, desc="specials"):
    """One sample of special values (no gradient check: finite differences mean nothing there)."""
    return lambda rng: Sample((np.array(values, F32),), desc=desc, numeric=False)


def _not_impl(kernel, dtype_name="Long", args=_INT_IN):
    return ErrorSample(args, exc=RuntimeError,
                       match=f'"{kernel}" not implemented for \'{dtype_name}\'', desc=dtype_name)


def _must_be_tensor(fname, pos, argname, tname):
    return (rf"{fname}\(\): argument '{argname}' \(position {pos}\) must be Tensor, not {tname}")


# ============================================================================ unary float functions
# (name, domain of the samples, special values PyTorch and numpy agree on)
_UNARY = [
    ("tan", _between(-1.2, 1.2), (0.0, -0.0, INF, -INF, NAN, 1e-30)),
    ("sinh", u, (0.0, -0.0, INF, -INF, NAN, 100.0, -100.0)),
    ("cosh", u, (0.0, -0.0, INF, -INF, NAN, 100.0, -100.0)),
    ("asin", _between(-0.9, 0.9), (0.0, -0.0, 1.0, -1.0, 1.5, INF, NAN)),
    ("acos", _between(-0.9, 0.9), (0.0, -0.0, 1.0, -1.0, 1.5, INF, NAN)),
    ("atan", u, (0.0, -0.0, INF, -INF, NAN, 1e30)),
    ("asinh", u, (0.0, -0.0, INF, -INF, NAN, 1e30, -1e30)),
    ("acosh", _between(1.1, 3.0), (1.0, 0.5, INF, -INF, NAN, 1e30)),
    ("atanh", _between(-0.9, 0.9), (0.0, -0.0, 1.0, -1.0, 1.5, INF, NAN)),
    ("log2", _pos, (0.0, -0.0, -1.0, 1.0, INF, NAN, 1e-40)),
    ("log10", _pos, (0.0, -0.0, -1.0, 1.0, INF, NAN, 1e-40)),
    ("exp2", u, (0.0, -0.0, INF, -INF, NAN, 200.0, -200.0)),
    ("expm1", u, (0.0, -0.0, INF, -INF, NAN, 100.0, -100.0, 1e-10)),
    ("reciprocal", _nz, (0.0, -0.0, INF, -INF, NAN, 1e-40)),
    ("sinc", u, (0.0, -0.0, INF, -INF, NAN, 1e-20, 1.0, -3.0)),
]

# PyTorch: "the derivative for 'inplace version of asinh' is not implemented" (asinh_, acosh_,
# atanh_): dualgraph's in-place gradient is the out-of-place one's, checked numerically only
_NO_TORCH_INPLACE_GRAD = {"asinh", "acosh", "atanh"}

for _name, _gen, _sp in _UNARY:
    add(
        OpRecord(_name, (lambda n: lambda x: getattr(dg, n)(x))(_name),
                 (lambda n: lambda x: getattr(T, n)(x))(_name),
                 unary_samples(_gen, extra=[
                     lambda rng: Sample((bools(rng, (3,)),), desc="bool"),
                     lambda rng, g=_gen: Sample((g(rng, (2, 3)).astype(np.float16),),
                                                desc="f16", grad=False),
                     _specials(*_sp)])),
        OpRecord(_name, (lambda n: lambda x: getattr(x, n)())(_name),
                 (lambda n: lambda x: getattr(x, n)())(_name),
                 lambda rng, g=_gen: [Sample((g(rng, (2, 3)),), desc="method"),
                                      Sample((ints(rng, (3,), 1, 4),), desc="int method")],
                 variant="method"),
        OpRecord(_name, (lambda n: lambda x: getattr(x.clone(), n + "_")())(_name),
                 (lambda n: lambda x: getattr(x.clone(), n + "_")())(_name),
                 lambda rng, g=_gen, t=_name not in _NO_TORCH_INPLACE_GRAD: [
                     Sample((g(rng, (2, 3)),), desc="in place", torch_grad=t),
                     Sample((g(rng, (4,), dtype=F64),), desc="f64 in place", torch_grad=t)],
                 lambda: [ErrorSample((np.array([1, 2], I64),), exc=RuntimeError,
                                      match="result type Float can't be cast to the desired output type Long",
                                      desc="int in place")],
                 variant="inplace"),
    )

# the aliases torch spells with "arc"
for _alias, _name in [("arcsin", "asin"), ("arccos", "acos"), ("arctan", "atan"),
                      ("arcsinh", "asinh"), ("arccosh", "acosh"), ("arctanh", "atanh")]:
    _gen = dict((n, g) for n, g, _ in _UNARY)[_name]
    add(OpRecord(_name, (lambda a: lambda x: getattr(dg, a)(x))(_alias),
                 (lambda a: lambda x: getattr(T, a)(x))(_alias),
                 lambda rng, g=_gen: [Sample((g(rng, (2, 3)),), desc="alias"),
                                      Sample((g(rng, (0, 3)),), desc="empty")],
                 variant=_alias),
        OpRecord(_name, (lambda a: lambda x: getattr(x.clone(), a + "_")())(_alias),
                 (lambda a: lambda x: getattr(x.clone(), a + "_")())(_alias),
                 lambda rng, g=_gen, t=_name not in _NO_TORCH_INPLACE_GRAD: [
                     Sample((g(rng, (3,)),), desc="alias in place", torch_grad=t)],
                 variant=_alias + "_"))


# ============================================================================ logit, frac, nan_to_num
def _logit_samples(rng):
    out = unary_samples(_between(0.05, 0.95))(rng)
    x = u(rng, (3, 4), 0.05, 0.95)
    out += [
        Sample((x, 0.1), desc="eps 0.1 (clamped)"),
        Sample((x,), {"eps": 0.25}, desc="eps 0.25 kwarg"),
        Sample((x.astype(F64), 0.2), desc="f64 eps"),
        Sample((np.array([0.0, -0.0, 1.0, 0.5, 2.0, -1.0, NAN, INF], F32),), desc="edges",
               numeric=False),
        Sample((np.array([0.0, -0.0, 1.0, 0.5, 2.0, -1.0, NAN, 0.05], F32), 0.1),
               desc="edges, eps 0.1", numeric=False),
        Sample((np.array([0.0, 1.0, 0.5, 1.5, -0.5], F32), 0.0), desc="eps 0", numeric=False),
        Sample((np.array([0.0, 1.0, 0.3, 1.5, -0.5], F32), -1.0), desc="negative eps (none)",
               numeric=False),
        Sample((ints(rng, (3,), 0, 2),), desc="int"),
        Sample((bools(rng, (3,)),), desc="bool"),
    ]
    return out


def _nan_to_num_samples(rng):
    sp = np.array([NAN, INF, -INF, 1.0, -0.0, 3e38], F32)
    with np.errstate(over="ignore"):
        sp16 = sp.astype(np.float16)
    return [
        Sample((u(rng, (2, 3)),), desc="finite"), Sample((u(rng, (0, 3)),), desc="empty"),
        Sample((u(rng, ()),), desc="0-d"),
        Sample((sp,), desc="defaults", numeric=False),
        Sample((sp, 2.0, 1e3, -1e3), desc="given", numeric=False),
        Sample((sp,), {"nan": -1.5, "neginf": 7.0}, desc="kwargs", numeric=False),
        Sample((sp, 0.0, 1e40), desc="posinf beyond float32 (inf)", numeric=False),
        Sample((sp.astype(F64),), desc="f64", numeric=False),
        Sample((sp16,), desc="f16", grad=False),
        Sample((ints(rng, (3,)), 1.5), desc="int (unchanged)"),
        Sample((bools(rng, (3,)),), desc="bool (unchanged)"),
    ]


add(
    OpRecord("logit", lambda x, *a, **k: dg.logit(x, *a, **k), lambda x, *a, **k: T.logit(x, *a, **k),
             _logit_samples),
    OpRecord("logit", lambda x, *a: x.logit(*a), lambda x, *a: x.logit(*a),
             lambda rng: [Sample((u(rng, (2, 3), 0.05, 0.95), 0.1), desc="method")], variant="method"),
    OpRecord("logit", lambda x, *a: x.clone().logit_(*a), lambda x, *a: x.clone().logit_(*a),
             lambda rng: [Sample((u(rng, (2, 3), 0.05, 0.95),), desc="in place"),
                          Sample((u(rng, (2, 3), 0.05, 0.95), 0.2), desc="in place, eps")],
             variant="inplace"),
    OpRecord("frac", lambda x: dg.frac(x), lambda x: T.frac(x),
             unary_samples(lambda rng, s: u(rng, s, -3.0, 3.0), int_input=False, extra=[
                 _specials(-1.5, 2.25, -0.0, 0.0, INF, -INF, NAN, 3.0, -3.0, 1e30)]),
             lambda: [_not_impl("frac_cpu"), _not_impl("frac_cpu", "Bool", _BOOL_IN)]),
    OpRecord("frac", lambda x: x.clone().frac_(), lambda x: x.clone().frac_(),
             lambda rng: [Sample((u(rng, (2, 3), -3.0, 3.0),), desc="in place")], variant="inplace"),
    OpRecord("nan_to_num", lambda x, *a, **k: dg.nan_to_num(x, *a, **k),
             lambda x, *a, **k: T.nan_to_num(x, *a, **k), _nan_to_num_samples),
    OpRecord("nan_to_num", lambda x, *a: x.clone().nan_to_num_(*a), lambda x, *a: x.clone().nan_to_num_(*a),
             lambda rng: [Sample((np.array([NAN, INF, -INF, 2.0], F32), 1.0), desc="in place", numeric=False),
                          Sample((ints(rng, (3,)),), desc="int in place")],
             variant="inplace"),
    OpRecord("nan_to_num", lambda x: x.nan_to_num(), lambda x: x.nan_to_num(),
             lambda rng: [Sample((np.array([NAN, INF, -INF, 2.0], F32),), desc="method", numeric=False)],
             variant="method"),
)


# ============================================================================ compositions
_DEG = lambda rng, s, dtype=F32: u(rng, s, -360.0, 360.0, dtype)  # noqa: E731
add(
    OpRecord("mul", lambda x: dg.deg2rad(x), lambda x: T.deg2rad(x),
             unary_samples(_DEG, extra=[lambda rng: Sample((bools(rng, (3,)),), desc="bool"),
                                        _specials(180.0, -0.0, INF, NAN)]),
             variant="deg2rad"),
    OpRecord("mul", lambda x: dg.rad2deg(x), lambda x: T.rad2deg(x),
             unary_samples(u, extra=[_specials(math.pi, -0.0, INF, NAN)]), variant="rad2deg"),
    OpRecord("mul", lambda x: x.clone().deg2rad_(), lambda x: x.clone().deg2rad_(),
             lambda rng: [Sample((_DEG(rng, (2, 3)),), desc="in place")],
             lambda: [ErrorSample(_INT_IN, exc=RuntimeError,
                                  match="result type Float can't be cast to the desired output type Long",
                                  desc="int")],
             variant="deg2rad_"),
    OpRecord("mul", lambda x: x.rad2deg(), lambda x: x.rad2deg(),
             lambda rng: [Sample((u(rng, (2, 3)),), desc="method")], variant="rad2deg.method"),
    OpRecord("pow", lambda x: x.square(), lambda x: x.square(),
             unary_samples(u, extra=[lambda rng: Sample((bools(rng, (3,)),), desc="bool (int64)"),
                                     lambda rng: Sample((ints(rng, (3,), dtype=np.int8),), desc="int8")]),
             variant="square"),
    OpRecord("pow", lambda x: x.clone().square_(), lambda x: x.clone().square_(),
             lambda rng: [Sample((u(rng, (2, 3)),), desc="in place"), Sample((ints(rng, (3,)),), desc="int")],
             lambda: [ErrorSample(_BOOL_IN, exc=RuntimeError,
                                  match="result type Long can't be cast to the desired output type Bool",
                                  desc="bool")],
             variant="square_"),
    OpRecord("neg", lambda x: dg.negative(x), lambda x: T.negative(x), unary_samples(u),
             lambda: [ErrorSample(_BOOL_IN, exc=RuntimeError,
                                  match=r"Negation, the `-` operator, on a bool tensor is not supported",
                                  desc="bool")],
             variant="negative"),
    OpRecord("neg", lambda x: x.clone().negative_(), lambda x: x.clone().negative_(),
             lambda rng: [Sample((u(rng, (3,)),), desc="in place")], variant="negative_"),
    OpRecord("abs", lambda x: dg.absolute(x), lambda x: T.absolute(x), unary_samples(away),
             lambda: [ErrorSample(_BOOL_IN, exc=RuntimeError, match="\"abs_cpu\" not implemented for 'Bool'",
                                  desc="bool")],
             variant="absolute"),
    OpRecord("abs", lambda x: x.clone().absolute_(), lambda x: x.clone().absolute_(),
             lambda rng: [Sample((away(rng, (3,)),), desc="in place")], variant="absolute_"),
)


# ============================================================================ predicates (bool results)
_PRED = np.array([0.0, -0.0, 1.5, -2.0, INF, -INF, NAN, -NAN, 1e-40, -3e38], F32)
with np.errstate(over="ignore"):
    _PRED16 = _PRED.astype(np.float16)   # (-3e38 rounds to -inf)


def _pred_samples(rng):
    return [
        Sample((_PRED,), desc="specials"), Sample((_PRED.astype(F64),), desc="f64"),
        Sample((_PRED16,), desc="f16"),
        Sample((u(rng, (2, 3)),), desc="(2, 3)"), Sample((u(rng, (0, 3)),), desc="empty"),
        Sample((u(rng, ()),), desc="0-d"),
        Sample((ints(rng, (2, 3)),), desc="int64"), Sample((np.array([-3, 0, 5], np.int8),), desc="int8"),
        Sample((np.array([0, 250], np.uint8),), desc="uint8"), Sample((bools(rng, (3,)),), desc="bool"),
    ]


for _name, _op in [("isnan", "ne"), ("isinf", "logical_or"), ("isposinf", "eq"), ("isneginf", "eq"),
                   ("isfinite", "lt"), ("signbit", "lt"), ("isreal", "full_like")]:
    add(OpRecord(_op, (lambda n: lambda x: getattr(dg, n)(x))(_name),
                 (lambda n: lambda x: getattr(T, n)(x))(_name), _pred_samples,
                 (lambda n: lambda: [ErrorSample((1.0,), exc=TypeError,
                                                 match=_must_be_tensor(n, 1, "input", "float"),
                                                 desc="a number")])(_name),
                 variant=_name),
        OpRecord(_op, (lambda n: lambda x: getattr(x, n)())(_name),
                 (lambda n: lambda x: getattr(x, n)())(_name),
                 lambda rng: [Sample((_PRED,), desc="method")], variant=_name + ".method"))


def _xor_samples(rng):
    a = np.array([0.0, -0.0, 1.0, NAN, 2.0, 0.0], F32)
    b = np.array([0.0, 1.0, 0.0, 0.0, NAN, -0.0], F32)
    return [
        Sample((a, b), desc="floats, nan is true"), Sample((bools(rng, (2, 3)), bools(rng, (3,))), desc="bools"),
        Sample((ints(rng, (2, 3), -1, 2), u(rng, (2, 3))), desc="int, float"),
        Sample((bools(rng, (3, 1)), ints(rng, (4,), -1, 2)), desc="broadcast"),
        Sample((bools(rng, (0, 3)), bools(rng, (1, 3))), desc="empty"),
        Sample((np.array(2), u(rng, (3,))), desc="0-d"),
    ]


add(
    OpRecord("ne", lambda a, b: dg.logical_xor(a, b), lambda a, b: T.logical_xor(a, b), _xor_samples,
             lambda: [MISMATCH,
                      ErrorSample((np.zeros(2, F32), 1), exc=TypeError,
                                  match=_must_be_tensor("logical_xor", 2, "other", "int"), desc="number")],
             variant="logical_xor"),
    OpRecord("ne", lambda a, b: a.logical_xor(b), lambda a, b: a.logical_xor(b),
             lambda rng: _xor_samples(rng)[:2],
             lambda: [ErrorSample((np.zeros(2, F32), 1), exc=TypeError,
                                  match=_must_be_tensor("logical_xor", 1, "other", "int"), desc="number")],
             variant="logical_xor.method"),
    OpRecord("copy", lambda a, b: a.clone().logical_xor_(b), lambda a, b: a.clone().logical_xor_(b),
             lambda rng: [Sample((np.array([1.0, 0.0, 2.0], F32), np.array([True, True, False])),
                                 desc="float self", grad=False),
                          Sample((np.array([1, 0, 3]), np.array([True, True, False])), desc="int self")],
             variant="logical_xor_"),
)


# ============================================================================ binary functions
def _tensor_only_errors(fname, argname="other"):
    return [ErrorSample((np.zeros(2, F32), 2), exc=TypeError,
                        match=_must_be_tensor(fname, 2, argname, "int"), desc="tensor, int"),
            ErrorSample((2.0, np.zeros(2, F32)), exc=TypeError,
                        match=_must_be_tensor(fname, 1, "input", "float"), desc="float, tensor")]


def _floats_only_errors(fname, kernel):
    return [MISMATCH, *_tensor_only_errors(fname),
            ErrorSample((np.array([1, 2]), np.array([3, 4])), exc=RuntimeError,
                        match=f'"{kernel}" not implemented for \'Long\'', desc="ints"),
            ErrorSample((np.array([True]), np.array([False])), exc=RuntimeError,
                        match=f'"{kernel}" not implemented for \'Bool\'', desc="bools")]


def _float_pairs(gen_a, gen_b, *specials):
    """Broadcast pairs, f64 x f32, f32 x 0-d f64, float x int, then the special pairs."""
    extra = [
        lambda rng: Sample((gen_a(rng, (2, 3)).astype(F64), gen_b(rng, (2, 3))), desc="f64xf32"),
        lambda rng: Sample((gen_a(rng, (2, 3)), np.asarray(gen_b(rng, ()), F64)), desc="f32 x 0-d f64"),
        lambda rng: Sample((gen_a(rng, (2, 3)), ints(rng, (3,), 1, 4)), desc="f32 x i64"),
        lambda rng: Sample((gen_a(rng, (3,)).astype(np.float16), gen_b(rng, (3,)).astype(np.float16)),
                           desc="f16", grad=False),
    ]
    for a, b in specials:
        extra.append((lambda a, b: lambda rng: Sample((np.array(a, F32), np.array(b, F32)),
                                                      desc="specials", numeric=False))(a, b))
    return binary_samples(gen_a, gen_b, dtypes=False, extra=extra)


_SA = [0.0, -0.0, 0.0, -0.0, INF, -INF, INF, NAN, 1.0, -1.0, 1e30, 1e-40]
_SB = [0.0, 0.0, -0.0, -0.0, INF, INF, -INF, 1.0, NAN, -0.0, 1e30, -1e-40]


def _with_int_mix(samples_fn):
    def samples(rng):
        out = samples_fn(rng)
        out += [Sample((ints(rng, (2, 3)), ints(rng, (3,))), desc="i64xi64"),
                Sample((np.array([True, False]), np.array([True, True])), desc="bools"),
                Sample((np.array([1, 2], I32), np.asarray(3, I64)), desc="i32 x 0-d i64")]
        return out
    return samples


add(
    OpRecord("atan2", lambda a, b: dg.atan2(a, b), lambda a, b: T.atan2(a, b),
             _with_int_mix(_float_pairs(u, _nz, (_SA, _SB))),
             lambda: [MISMATCH, *_tensor_only_errors("atan2")]),
    OpRecord("atan2", lambda a, b: dg.arctan2(a, b), lambda a, b: T.arctan2(a, b),
             lambda rng: [Sample((u(rng, (2, 3)), _nz(rng, (3,))), desc="alias")], variant="arctan2"),
    OpRecord("atan2", lambda a, b: a.atan2(b), lambda a, b: a.atan2(b),
             lambda rng: [Sample((u(rng, (2, 3)), _nz(rng, (3,))), desc="method")],
             lambda: [ErrorSample((np.zeros(2, F32), 2), exc=TypeError,
                                  match=_must_be_tensor("atan2", 1, "other", "int"), desc="number")],
             variant="method"),
    OpRecord("atan2", lambda a, b: a.clone().atan2_(b), lambda a, b: a.clone().atan2_(b),
             lambda rng: [Sample((u(rng, (2, 3)), _nz(rng, (3,))), desc="in place"),
                          Sample((u(rng, (4,)), np.asarray(1.5, F32)), desc="0-d other")],
             lambda: [ErrorSample((np.array([1, 2]), np.array([1, 2])), exc=RuntimeError,
                                  match="result type Float can't be cast to the desired output type Long",
                                  desc="int self"),
                      ErrorSample((np.zeros(2, F32), 2), exc=TypeError,
                                  match=_must_be_tensor("atan2_", 1, "other", "int"), desc="number")],
             variant="inplace"),
    OpRecord("atan2", lambda a, b: a.clone().arctan2_(b), lambda a, b: a.clone().arctan2_(b),
             lambda rng: [Sample((u(rng, (3,)), _nz(rng, (3,))), desc="alias in place")], variant="arctan2_"),
    OpRecord("hypot", lambda a, b: dg.hypot(a, b), lambda a, b: T.hypot(a, b),
             _float_pairs(_nz, _nz, (_SA, _SB), ([INF, NAN, -INF], [NAN, -INF, NAN])),
             lambda: _floats_only_errors("hypot", "hypot_cpu")),
    OpRecord("hypot", lambda a, b: a.clone().hypot_(b), lambda a, b: a.clone().hypot_(b),
             lambda rng: [Sample((_nz(rng, (2, 3)), _nz(rng, (3,))), desc="in place")], variant="inplace"),
    OpRecord("logaddexp", lambda a, b: dg.logaddexp(a, b), lambda a, b: T.logaddexp(a, b),
             _float_pairs(u, u, (_SA, _SB), ([INF, -INF, INF, 1e30, -100.0], [INF, -INF, -INF, 1e30, -100.0])),
             lambda: _floats_only_errors("logaddexp", "logaddexp_cpu")),
    OpRecord("logaddexp", lambda a, b: a.logaddexp(b), lambda a, b: a.logaddexp(b),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), desc="method")], variant="method"),
    OpRecord("logaddexp2", lambda a, b: dg.logaddexp2(a, b), lambda a, b: T.logaddexp2(a, b),
             _float_pairs(u, u, (_SA, _SB), ([INF, -INF, INF, 1e30, -100.0], [INF, -INF, -INF, 1e30, -100.0])),
             lambda: _floats_only_errors("logaddexp2", "logaddexp2_cpu")),
    OpRecord("logaddexp2", lambda a, b: a.logaddexp2(b), lambda a, b: a.logaddexp2(b),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), desc="method")], variant="method"),
)


def _nextafter_samples(rng):
    from dataclasses import replace
    base = _float_pairs(u, u, ([0.0, -0.0, 1.0, 1.0, INF, -INF, NAN, 3e38, 1e-45],
                               [1.0, -1.0, 1.0, 0.0, 0.0, INF, 1.0, INF, 0.0]))(rng)
    return [replace(s, torch_grad=False) for s in base]   # (torch: no derivative)


def _xlogy_samples(rng):
    out = binary_samples(u, _pos, dtypes=True)(rng)
    out += [
        Sample((np.array([0.0, 0.0, 1.0, 0.0, -0.0, 2.0, NAN, 0.0, 1.0], F32),
                np.array([NAN, 0.0, 0.0, INF, -1.0, -1.0, 1.0, -0.0, INF], F32)),
               desc="zeros and nan", numeric=False),
        Sample((u(rng, (2, 3)), 2.5), desc="t, float"), Sample((2.0, _pos(rng, (3,))), desc="float, t"),
        Sample((0.0, _pos(rng, (3,))), desc="0, t"), Sample((u(rng, (3,)), 0.0), desc="t, 0 (grad masked)", numeric=False),
        Sample((ints(rng, (3,)), 2), desc="int t, int"), Sample((2, ints(rng, (3,), 1, 4)), desc="int, int t"),
        Sample((np.array([True, False]), np.array([True, False])), desc="bools"),
        Sample((u(rng, (3,)), True), desc="t, True"),
    ]
    return out


def _copysign_samples(rng):
    out = binary_samples(away, away, dtypes=True)(rng)
    out += [
        Sample((np.array([1.0, 2.0, -3.0, 0.0, -0.0, INF, NAN, 5.0, 1.0], F32),
                np.array([-0.0, 0.0, -NAN, -1.0, 1.0, -2.0, -1.0, NAN, -INF], F32)),
               desc="zeros, nan signs", numeric=False),
        Sample((away(rng, (2, 3)), -2.5), desc="t, float"), Sample((away(rng, (3,)), 2), desc="t, int"),
        Sample((ints(rng, (3,)), -1), desc="int t, int"), Sample((away(rng, (3,)), True), desc="t, True"),
        Sample((np.array([True, False]), np.array([True, False])), desc="bools"),
    ]
    return out


def _copysign_errors():
    return [MISMATCH, ErrorSample((2.0, np.ones(2, F32)), exc=TypeError,
                                  match=r"copysign\(\) received an invalid combination of arguments - got \(float, Tensor\)",
                                  desc="number, tensor")]


def _heaviside_samples(rng):
    from dataclasses import replace
    out = binary_samples(away, u, dtypes=False, extra=[
        lambda rng: Sample((np.array([-0.0, 0.0, NAN, -1.0, INF, -INF, 2.0], F32), np.array([7.0], F32)),
                           desc="zeros and nan", numeric=False),
        lambda rng: Sample((ints(rng, (2, 3)), np.asarray(1, I64)), desc="int, 0-d int"),
        lambda rng: Sample((np.array([True, False]), np.array([False, True])), desc="bools"),
        lambda rng: Sample((away(rng, (3,), dtype=F64), u(rng, (), dtype=F64)), desc="f64"),
    ])(rng)
    return [replace(s, torch_grad=False) for s in out]   # (torch: no derivative)


def _heaviside_errors():
    return [MISMATCH,
            ErrorSample((np.zeros(2, F32), np.zeros(2, F64)), exc=RuntimeError,
                        match="heaviside is not yet implemented for tensors with different dtypes",
                        desc="f32, f64"),
            ErrorSample((np.zeros(2, F32), np.asarray(1.0, F64)), exc=RuntimeError,
                        match="heaviside is not yet implemented for tensors with different dtypes",
                        desc="f32, 0-d f64"),
            ErrorSample((np.zeros(2, F32), 1.0), exc=TypeError,
                        match=_must_be_tensor("heaviside", 2, "values", "float"), desc="number")]


_TIE_A = [-0.0, 0.0, NAN, 1.0, NAN, 2.0, -INF, 3.0, -0.0]
_TIE_B = [0.0, -0.0, 2.0, NAN, NAN, 2.0, INF, -1.0, -1.0]

add(
    OpRecord("nextafter", lambda a, b: dg.nextafter(a, b), lambda a, b: T.nextafter(a, b),
             _nextafter_samples, lambda: _floats_only_errors("nextafter", "nextafter_cpu")),
    OpRecord("nextafter", lambda a, b: a.clone().nextafter_(b), lambda a, b: a.clone().nextafter_(b),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), desc="in place", torch_grad=False)],
             variant="inplace"),
    OpRecord("xlogy", lambda a, b: dg.xlogy(a, b), lambda a, b: T.xlogy(a, b), _xlogy_samples,
             lambda: [MISMATCH]),
    OpRecord("xlogy", lambda a, b: a.clone().xlogy_(b), lambda a, b: a.clone().xlogy_(b),
             lambda rng: [Sample((u(rng, (2, 3)), _pos(rng, (3,))), desc="in place"),
                          Sample((u(rng, (2, 3)), 3.0), desc="in place, float")],
             lambda: [ErrorSample((np.array([1, 2]), np.array([1, 2])), exc=RuntimeError,
                                  match="result type Float can't be cast to the desired output type Long",
                                  desc="int self")],
             variant="inplace"),
    OpRecord("copysign", lambda a, b: dg.copysign(a, b), lambda a, b: T.copysign(a, b),
             _copysign_samples, _copysign_errors),
    OpRecord("copysign", lambda a, b: a.clone().copysign_(b), lambda a, b: a.clone().copysign_(b),
             lambda rng: [Sample((away(rng, (2, 3)), away(rng, (3,))), desc="in place"),
                          Sample((away(rng, (2, 3)), -1.0), desc="in place, float")],
             variant="inplace"),
    OpRecord("heaviside", lambda a, b: dg.heaviside(a, b), lambda a, b: T.heaviside(a, b),
             _heaviside_samples, _heaviside_errors),
    OpRecord("heaviside", lambda a, b: a.clone().heaviside_(b), lambda a, b: a.clone().heaviside_(b),
             lambda rng: [Sample((away(rng, (2, 3)), u(rng, (3,))), desc="in place", torch_grad=False)],
             variant="inplace"),
    OpRecord("fmax", lambda a, b: dg.fmax(a, b), lambda a, b: T.fmax(a, b),
             binary_samples(u, u, extra=[
                 lambda rng: Sample((np.array(_TIE_A, F32), np.array(_TIE_B, F32)),
                                    desc="ties and nan", numeric=False),
                 lambda rng: Sample((np.array([True, False]), np.array([False, False])), desc="bools"),
                 lambda rng: Sample((ints(rng, (3,)), np.asarray(1.5, F32)), desc="int, 0-d float")]),
             lambda: [MISMATCH, *_tensor_only_errors("fmax")]),
    OpRecord("fmax", lambda a, b: a.fmax(b), lambda a, b: a.fmax(b),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), desc="method")], variant="method"),
    OpRecord("fmin", lambda a, b: dg.fmin(a, b), lambda a, b: T.fmin(a, b),
             binary_samples(u, u, extra=[
                 lambda rng: Sample((np.array(_TIE_A, F32), np.array(_TIE_B, F32)),
                                    desc="ties and nan", numeric=False),
                 lambda rng: Sample((ints(rng, (3,)), np.asarray(1.5, F32)), desc="int, 0-d float")]),
             lambda: [MISMATCH, *_tensor_only_errors("fmin")]),
    OpRecord("fmin", lambda a, b: a.fmin(b), lambda a, b: a.fmin(b),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), desc="method")], variant="method"),
)


# ============================================================================ clamp_min / clamp_max
def _bound_samples(rng):
    out = binary_samples(u, u, extra=[
        lambda rng: Sample((np.array([NAN, 1.0, NAN, 2.0, -0.0, 0.0], F32),
                            np.array([0.0, NAN, NAN, 2.0, 0.0, -0.0], F32)), desc="nan and ties", numeric=False),
        lambda rng: Sample((ints(rng, (3,)), np.asarray(1.5, F32)), desc="int, 0-d float"),
        lambda rng: Sample((np.array([True, False]), np.array([False, False])), desc="bools"),
    ])(rng)
    return out


def _bound_scalar_samples(rng):
    return [Sample((u(rng, (2, 3)), 0.25), desc="float bound"), Sample((u(rng, (0, 3)), 0.25), desc="empty"),
            Sample((ints(rng, (4,)), 1.5), desc="int, float bound"), Sample((ints(rng, (4,)), 1), desc="int, int"),
            Sample((np.array([True, False]), 1), desc="bool, int"),
            Sample((np.array([NAN, -0.0, 0.0, INF], F32), 0.0), desc="nan, zeros", numeric=False),
            Sample((np.array([NAN, -0.0, 0.0, 1.0], F32), -0.0), desc="-0.0 bound", numeric=False),
            Sample((u(rng, (3,)), NAN), desc="nan bound", numeric=False)]


for _name in ("clamp_min", "clamp_max"):
    add(
        OpRecord(_name, (lambda n: lambda a, b: getattr(dg, n)(a, b))(_name),
                 (lambda n: lambda a, b: getattr(T, n)(a, b))(_name), _bound_samples,
                 lambda: [MISMATCH]),
        OpRecord(_name, (lambda n: lambda a, b: getattr(dg, n)(a, b))(_name),
                 (lambda n: lambda a, b: getattr(T, n)(a, b))(_name), _bound_scalar_samples,
                 variant="number"),
        OpRecord(_name, (lambda n: lambda a, b: getattr(a, n)(b))(_name),
                 (lambda n: lambda a, b: getattr(a, n)(b))(_name),
                 lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), desc="method")], variant="method"),
        OpRecord(_name, (lambda n: lambda a, b: getattr(a.clone(), n + "_")(b))(_name),
                 (lambda n: lambda a, b: getattr(a.clone(), n + "_")(b))(_name),
                 lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), desc="in place")],
                 lambda: [ErrorSample((np.array([1, 2]), np.array([1.5, 0.5], F32)), exc=RuntimeError,
                                      match="result type Float can't be cast to the desired output type Long",
                                      desc="int self, float bound")],
                 variant="inplace"),
        OpRecord(_name, (lambda n: lambda a, b: getattr(a.clone(), n + "_")(b))(_name),
                 (lambda n: lambda a, b: getattr(a.clone(), n + "_")(b))(_name),
                 lambda rng: [Sample((u(rng, (2, 3)), 0.25), desc="in place, number")],
                 lambda: [ErrorSample((np.array([1, 2]), 1.5), exc=RuntimeError,
                                      match="result type Float can't be cast to the desired output type long int",
                                      desc="int self, float")],
                 variant="number_inplace"),
    )


# ============================================================================ clamp with tensor bounds
def _clamp_tensor_samples(rng):
    return [
        Sample((u(rng, (2, 3)), u(rng, (3,), -1.0, -0.3), u(rng, (2, 1), 0.3, 1.0)), desc="broadcast"),
        Sample((u(rng, (0, 3)), u(rng, (3,), -1.0, -0.3), u(rng, (1, 3), 0.3, 1.0)), desc="empty"),
        Sample((u(rng, ()), u(rng, (), -1.0, -0.3), u(rng, (), 0.3, 1.0)), desc="0-d"),
        Sample((u(rng, (1, 1)), u(rng, (1,), -1.0, -0.3), u(rng, (), 0.3, 1.0)), desc="size 1"),
        # ties (x kept, its zero's sign too), min == max, min > max (max wins; NaN stays NaN),
        # NaN in x and in either bound: PyTorch's values, and its masks for the gradients
        Sample((np.array([-0.0, 0.0, 2.0, 0.5, -1.0, NAN, 1.0, 3.0], F32),
                np.array([0.0, -0.0, 2.0, 0.5, 0.5, 0.0, NAN, 2.0], F32),
                np.array([1.0, 0.0, 3.0, 0.5, 0.5, 1.0, 2.0, 1.0], F32)), desc="ties and NaN", numeric=False),
        Sample((ints(rng, (4,)), u(rng, (4,)), u(rng, (4,), 1.0, 2.0)), desc="int x, float bounds"),
        Sample((u(rng, (2, 3), dtype=F64), u(rng, (3,), -1.0, -0.3), u(rng, (3,), 0.3, 1.0)), desc="f64"),
    ]


_MIXED = ("clamp() received an invalid combination of arguments - got (Tensor, Tensor, float), but "
          "expected one of:")
add(
    OpRecord("clamp_tensor", lambda x, lo, hi: dg.clamp(x, lo, hi), lambda x, lo, hi: T.clamp(x, lo, hi),
             _clamp_tensor_samples,
             lambda: [ErrorSample((np.zeros(3, F32), np.zeros(4, F32), np.zeros(3, F32)), exc=RuntimeError,
                                  match=r"The size of tensor a \(3\) must match the size of tensor b \(4\)",
                                  desc="shapes"),
                      ErrorSample((np.zeros(3, F32), np.zeros(3, F32), 1.0), exc=TypeError,
                                  match=re.escape(_MIXED), desc="tensor and number")]),
    OpRecord("clamp_tensor", lambda x, lo, hi: x.clip(min=lo, max=hi), lambda x, lo, hi: x.clip(min=lo, max=hi),
             lambda rng: _clamp_tensor_samples(rng)[:1], variant="clip"),
    OpRecord("clamp_tensor", lambda x, lo, hi: x.clone().clamp_(lo, hi), lambda x, lo, hi: x.clone().clamp_(lo, hi),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,), -1.0, -0.3), u(rng, (2, 3), 0.3, 1.0)),
                                 desc="in place")],
             lambda: [ErrorSample((np.array([1, 2]), np.array([1.5, 0.5], F32), np.array([3.0], F32)),
                                  exc=RuntimeError, desc="int self, float bounds",
                                  match="result type Float can't be cast to the desired output type Long")],
             variant="inplace"),
)


# ============================================================================ float_power, ldexp
def _float_power_samples(rng):
    return [
        Sample((_pos(rng, (2, 3)), u(rng, (3,))), desc="f32 x f32 (float64)"),
        Sample((_pos(rng, (2, 3)), 2), desc="t, int"), Sample((_pos(rng, (2, 3)), 2.5), desc="t, float"),
        Sample((2.0, u(rng, (3,))), desc="float, t"), Sample((ints(rng, (3,), 1, 4), 2), desc="int t, int"),
        Sample((2, ints(rng, (3,))), desc="int, int t"), Sample((_pos(rng, (0, 3)), 2.0), desc="empty"),
        Sample((_pos(rng, ()), u(rng, (1, 3))), desc="0-d"),
        Sample((_pos(rng, (3,)).astype(F64), ints(rng, (3,))), desc="f64, int t"),
        # (exponent 2.5: PyTorch's pow takes x ** -0.5 as rsqrt, so the gradient of x ** 0.5 at
        # -0.0 is -inf there and +inf here, a difference of pow's, not of float_power's)
        Sample((np.array([-2.0, 0.0, -0.0, INF, NAN], F32), 2.5), desc="specials", numeric=False),
    ]


def _ldexp_samples(rng):
    """PyTorch's own ldexp backward computes 2 ** other in other's dtype: for an integer
    exponent 2 ** -1 is 0 there, so its gradient of input is 0 at every negative exponent
    (torch.ldexp(x, tensor([-1])) has x-gradient 0, not 0.5). dualgraph's is input * 2.0 **
    other's, the true one (and PyTorch's own for a float exponent): those samples are not
    compared with torch's gradient (torch_grad=False)."""
    from dataclasses import replace
    return [s if s.args[1].dtype.kind == "f" else replace(s, torch_grad=False) for s in _ldexp_samples_all(rng)]


def _ldexp_samples_all(rng):
    return [
        Sample((u(rng, (2, 3)), ints(rng, (3,))), desc="f32 x i64"),
        Sample((u(rng, (2, 3)), u(rng, (2, 3))), desc="f32 x f32 (2**other)"),
        Sample((ints(rng, (3,)), ints(rng, (3,))), desc="ints (float32)"),
        Sample((u(rng, (0, 3)), ints(rng, (1, 3))), desc="empty"), Sample((u(rng, ()), ints(rng, ())), desc="0-d"),
        Sample((u(rng, (3,), dtype=F64), ints(rng, (3,))), desc="f64"),
        Sample((np.array([True]), np.array([True])), desc="bools"),
        Sample((np.array([1.0, -0.0, INF, NAN, 3e38], F32), np.array([200, 3, -1, 1, 2])), desc="specials",
               numeric=False),
    ]


add(
    OpRecord("pow", lambda a, b: dg.float_power(a, b), lambda a, b: T.float_power(a, b),
             _float_power_samples, variant="float_power"),
    OpRecord("pow", lambda a, b: a.float_power(b), lambda a, b: a.float_power(b),
             lambda rng: [Sample((_pos(rng, (2, 3)), 1.5), desc="method")], variant="float_power.method"),
    OpRecord("pow", lambda a, b: a.clone().float_power_(b), lambda a, b: a.clone().float_power_(b),
             lambda rng: [Sample((_pos(rng, (2, 3), F64), 1.5), desc="f64 in place"),
                          Sample((_pos(rng, (2, 3), F64), u(rng, (3,))), desc="f64 in place, f32 t")],
             lambda: [ErrorSample((np.ones(2, F32), 2), exc=RuntimeError,
                                  match="the base given to float_power_ has dtype Float but the operation's "
                                        "result requires dtype Double", desc="f32"),
                      ErrorSample((np.ones(2, I64), 2), exc=RuntimeError,
                                  match="the base given to float_power_ has dtype Long", desc="int")],
             variant="float_power_"),
    OpRecord("mul", lambda a, b: dg.ldexp(a, b), lambda a, b: T.ldexp(a, b), _ldexp_samples,
             lambda: [MISMATCH, *_tensor_only_errors("ldexp")], variant="ldexp"),
    OpRecord("mul", lambda a, b: a.clone().ldexp_(b), lambda a, b: a.clone().ldexp_(b),
             lambda rng: [Sample((u(rng, (2, 3)), ints(rng, (3,))), desc="in place", torch_grad=False),
                          Sample((u(rng, (2, 3)), u(rng, (3,))), desc="in place, float exponent")],
             lambda: [ErrorSample((np.ones(2, I64), np.ones(2, I64)), exc=RuntimeError,
                                  match="ldexp can't be cast to the desired output type Long", desc="int")],
             variant="ldexp_"),
)


# ============================================================================ lerp, addcmul, addcdiv
def _lerp_samples(rng):
    w = lambda s, dtype=F32: u(rng, s, -0.2, 1.2, dtype)  # noqa: E731  (both formulas)
    return [
        Sample((u(rng, (2, 3)), u(rng, (2, 3)), 0.3), desc="weight 0.3"),
        Sample((u(rng, (2, 3)), u(rng, (3,)), 0.7), desc="weight 0.7, broadcast end"),
        Sample((u(rng, (2, 3)), u(rng, (2, 3)), w((2, 3))), desc="tensor weight"),
        Sample((u(rng, (3,)), u(rng, (2, 1)), w((2, 3))), desc="all broadcast"),
        Sample((u(rng, (2, 3)), u(rng, (2, 3)), np.asarray(0.6, F64)), desc="0-d f64 weight"),
        Sample((u(rng, ()), u(rng, ()), w(())), desc="0-d"),
        Sample((u(rng, (0, 3)), u(rng, (1, 3)), 0.5), desc="empty"),
        Sample((u(rng, (1, 1)), u(rng, (2, 3)), w((1, 3))), desc="size 1"),
        Sample((u(rng, (3,), dtype=F64), u(rng, (3,), dtype=F64), w((3,), F64)), desc="f64"),
        Sample((u(rng, (3,)), u(rng, (3,)), 2), desc="int weight"),
        Sample((u(rng, (3,)), u(rng, (3,)), True), desc="bool weight"),
        Sample((np.array([0.0, INF, NAN, 1.0, -INF, 1e30], F32), np.array([1.0, INF, 1.0, NAN, INF, -1e30], F32),
                np.array([0.25, 0.75, 0.5, 0.1, 0.5, 0.6], F32)), desc="specials", numeric=False),
    ]


def _lerp_errors():
    return [
        ErrorSample((np.zeros(3, F32), np.zeros(3, F64), 0.5), exc=RuntimeError,
                    match="expected dtype float for `end` but got dtype double", desc="end dtype"),
        ErrorSample((np.zeros(3, F32), np.zeros(3, F32), np.zeros(3, F64)), exc=RuntimeError,
                    match="expected dtype float for `weight` but got dtype double", desc="weight dtype"),
        ErrorSample((np.zeros(3, F32), np.zeros(3, F32), np.zeros(3, I64)), exc=RuntimeError,
                    match="expected dtype float for `weight` but got dtype long int", desc="int weight tensor"),
        ErrorSample((np.zeros(3, I64), np.zeros(3, I64), 0.5), exc=RuntimeError,
                    match="\"lerp_kernel_scalar\" not implemented for 'Long'", desc="ints"),
        ErrorSample((np.zeros(3, I64), np.zeros(3, I64), np.zeros(3, I64)), exc=RuntimeError,
                    match="\"lerp_kernel_tensor\" not implemented for 'Long'", desc="ints, tensor weight"),
        ErrorSample((np.zeros(3, F32), np.zeros(4, F32), 0.5), exc=RuntimeError,
                    match=r"The size of tensor a \(3\) must match the size of tensor b \(4\)", desc="mismatch"),
        ErrorSample((np.zeros(3, F32), 2.0, 0.5), exc=TypeError,
                    match=r"lerp\(\) received an invalid combination of arguments", desc="number end"),
    ]


def _addc_samples(div):
    gen2 = _nz if div else u

    def samples(rng):
        return [
            Sample((u(rng, (2, 3)), u(rng, (2, 3)), gen2(rng, (2, 3))), desc="same"),
            Sample((u(rng, (2, 3)), u(rng, (3,)), gen2(rng, (2, 1))), {"value": 0.5}, desc="broadcast, value"),
            Sample((u(rng, (3,)), u(rng, (2, 1)), gen2(rng, (1, 3))), {"value": -2}, desc="self broadcast"),
            Sample((u(rng, ()), u(rng, ()), gen2(rng, ())), desc="0-d"),
            Sample((u(rng, (0, 3)), u(rng, (1, 3)), gen2(rng, (0, 1))), desc="empty"),
            Sample((u(rng, (1, 1)), u(rng, (2, 3)), gen2(rng, (2, 3))), {"value": True}, desc="size 1, value True"),
            Sample((u(rng, (3,), dtype=F64), u(rng, (3,)), gen2(rng, (3,))), desc="f64 self"),
            Sample((ints(rng, (3,)), u(rng, (3,)), gen2(rng, (3,))), desc="int self"),
            Sample((u(rng, (3,)), ints(rng, (3,)), gen2(rng, (3,))), desc="int tensor1"),
            Sample((np.array([0.0, INF, NAN, 1e30], F32), np.array([INF, 0.0, 1.0, 1e30], F32),
                    np.array([0.0, 2.0, INF, 1e30], F32)), desc="specials", numeric=False),
        ] + ([] if div else [
            Sample((ints(rng, (3,)), ints(rng, (3,)), ints(rng, (3,))), {"value": 2}, desc="ints"),
            Sample((ints(rng, (3,)), ints(rng, (3,)), ints(rng, (3,))), {"value": 2.5}, desc="ints, float value"),
            Sample((np.array([3, 200], np.uint8), np.array([2, 1], np.uint8), np.array([1, 1], np.uint8)),
                   {"value": -1}, desc="uint8, value -1 wraps"),
        ]) + ([Sample((ints(rng, (3,)), ints(rng, (3,)), _nz(rng, (3,))), desc="int, int, float")] if div else [])
    return samples


def _addc_errors(name):
    out = [
        ErrorSample((np.zeros(3, F32), np.zeros(3, F32), np.zeros(4, F32)), exc=RuntimeError,
                    match=r"The size of tensor a \(3\) must match the size of tensor b \(4\)", desc="mismatch"),
        ErrorSample((np.zeros(3, F32), np.zeros(3, F32), 3.0), exc=TypeError,
                    match=_must_be_tensor(name, 3, "tensor2", "float"), desc="number tensor2"),
    ]
    if name == "addcmul":
        out.append(ErrorSample((np.array([True]), np.array([True]), np.array([True])), exc=RuntimeError,
                               match="\"addcmul_cpu_out\" not implemented for 'Bool'", desc="bools"))
    else:
        out.append(ErrorSample((np.zeros(3, F32), np.ones(3, I64), np.ones(3, I64)), exc=RuntimeError,
                               match="Integer division with addcdiv is no longer supported", desc="int / int"))
    return out


add(
    OpRecord("lerp", lambda a, e, w: dg.lerp(a, e, w), lambda a, e, w: T.lerp(a, e, w), _lerp_samples,
             _lerp_errors),
    OpRecord("lerp", lambda a, e, w: a.lerp(e, w), lambda a, e, w: a.lerp(e, w),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,)), 0.4), desc="method")], variant="method"),
    OpRecord("lerp", lambda a, e, w: a.clone().lerp_(e, w), lambda a, e, w: a.clone().lerp_(e, w),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,)), 0.4), desc="in place"),
                          Sample((u(rng, (2, 3)), u(rng, (2, 3)), u(rng, (3,), 0.0, 1.0)), desc="in place, tensor w")],
             variant="inplace"),
    OpRecord("addcmul", lambda a, b, c, **k: dg.addcmul(a, b, c, **k), lambda a, b, c, **k: T.addcmul(a, b, c, **k),
             _addc_samples(False), lambda: _addc_errors("addcmul")),
    OpRecord("addcmul", lambda a, b, c, **k: a.addcmul(b, c, **k), lambda a, b, c, **k: a.addcmul(b, c, **k),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,)), u(rng, (2, 3))), {"value": 3}, desc="method")],
             variant="method"),
    OpRecord("addcmul", lambda a, b, c, **k: a.clone().addcmul_(b, c, **k),
             lambda a, b, c, **k: a.clone().addcmul_(b, c, **k),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,)), u(rng, (2, 3))), {"value": 0.5}, desc="in place")],
             lambda: [ErrorSample((np.ones(3, I64), np.ones(3, F32), np.ones(3, F32)), exc=RuntimeError,
                                  match="result type Float can't be cast to the desired output type Long",
                                  desc="int self")],
             variant="inplace"),
    OpRecord("addcdiv", lambda a, b, c, **k: dg.addcdiv(a, b, c, **k), lambda a, b, c, **k: T.addcdiv(a, b, c, **k),
             _addc_samples(True), lambda: _addc_errors("addcdiv")),
    OpRecord("addcdiv", lambda a, b, c, **k: a.addcdiv(b, c, **k), lambda a, b, c, **k: a.addcdiv(b, c, **k),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,)), _nz(rng, (2, 3))), {"value": -1.5}, desc="method")],
             variant="method"),
    OpRecord("addcdiv", lambda a, b, c, **k: a.clone().addcdiv_(b, c, **k),
             lambda a, b, c, **k: a.clone().addcdiv_(b, c, **k),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,)), _nz(rng, (2, 3))), {"value": 0.5}, desc="in place")],
             variant="inplace"),
)


# ============================================================================ aliases of torch's namespace
def _pair(gen_b=u):
    return lambda rng: [Sample((u(rng, (2, 3)), gen_b(rng, (3,))), desc="t, t"),
                        Sample((ints(rng, (2, 3)), gen_b(rng, (3,))), desc="int, float"),
                        Sample((u(rng, (0, 3)), 2.0), desc="empty, number")]


add(
    OpRecord("div", lambda a, b: dg.true_divide(a, b), lambda a, b: T.true_divide(a, b), _pair(_nz),
             variant="true_divide"),
    OpRecord("div", lambda a, b: a.clone().true_divide_(b), lambda a, b: a.clone().true_divide_(b),
             lambda rng: [Sample((u(rng, (2, 3)), _nz(rng, (3,))), desc="in place")], variant="true_divide_"),
    OpRecord("div", lambda a, b, **k: dg.divide(a, b, **k), lambda a, b, **k: T.divide(a, b, **k),
             lambda rng: _pair(_nz)(rng) + [
                 Sample((u(rng, (2, 3), -5, 5), _nz(rng, (3,))), {"rounding_mode": None}, desc="None")],
             variant="divide"),
    OpRecord("floor_divide", lambda a, b, **k: dg.divide(a, b, **k), lambda a, b, **k: T.divide(a, b, **k),
             lambda rng: [Sample((ints(rng, (2, 3)), np.array([2, -3, 4])), {"rounding_mode": "floor"}, desc="floor"),
                          Sample((u(rng, (2, 3), -5, 5), _nz(rng, (3,))), {"rounding_mode": "floor"}, desc="float floor",
                                 torch_grad=False)],
             variant="divide"),
    OpRecord("trunc_divide", lambda a, b, **k: dg.divide(a, b, **k), lambda a, b, **k: T.divide(a, b, **k),
             lambda rng: [Sample((u(rng, (2, 3), -5, 5), _nz(rng, (3,))), {"rounding_mode": "trunc"}, desc="trunc")],
             variant="divide"),
    OpRecord("div", lambda a, b: a.clone().divide_(b), lambda a, b: a.clone().divide_(b),
             lambda rng: [Sample((u(rng, (2, 3)), _nz(rng, (3,))), desc="in place")], variant="divide_"),
    OpRecord("mul", lambda a, b: dg.multiply(a, b), lambda a, b: T.multiply(a, b), _pair(), variant="multiply"),
    OpRecord("mul", lambda a, b: a.clone().multiply_(b), lambda a, b: a.clone().multiply_(b),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), desc="in place")], variant="multiply_"),
    OpRecord("sub", lambda a, b, **k: dg.subtract(a, b, **k), lambda a, b, **k: T.subtract(a, b, **k),
             lambda rng: _pair()(rng) + [Sample((u(rng, (2, 3)), u(rng, (3,))), {"alpha": 2.5}, desc="alpha")],
             lambda: [ErrorSample((np.ones(2, I64), np.ones(2, I64)), {"alpha": 1.5}, exc=RuntimeError,
                                  match="For integral input tensors, argument alpha must not be a floating point number",
                                  desc="int, float alpha")],
             variant="subtract"),
    OpRecord("sub", lambda a, b, **k: a.clone().subtract_(b, **k), lambda a, b, **k: a.clone().subtract_(b, **k),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), {"alpha": -1}, desc="in place")],
             variant="subtract_"),
)
for _alias, _op in [("greater", "gt"), ("greater_equal", "ge"), ("less", "lt"), ("less_equal", "le"),
                    ("not_equal", "ne")]:
    add(OpRecord(_op, (lambda n: lambda a, b: getattr(dg, n)(a, b))(_alias),
                 (lambda n: lambda a, b: getattr(T, n)(a, b))(_alias),
                 lambda rng: [Sample((ints(rng, (2, 3), -2, 3).astype(F32), ints(rng, (3,), -2, 3).astype(F32)),
                                     desc="t, t (ties)"),
                              Sample((ints(rng, (2, 3), -2, 3), 0.5), desc="int, number"),
                              Sample((u(rng, (0, 3)), u(rng, (1, 3))), desc="empty")],
                 variant=_alias),
        OpRecord("copy", (lambda n: lambda a, b: getattr(a.clone(), n + "_")(b))(_alias),
                 (lambda n: lambda a, b: getattr(a.clone(), n + "_")(b))(_alias),
                 lambda rng: [Sample((ints(rng, (2, 3), -2, 3), 0), desc="int in place")],
                 variant=_alias + "_"),
        OpRecord(_op, (lambda n: lambda a, b: getattr(a, n)(b))(_alias),
                 (lambda n: lambda a, b: getattr(a, n)(b))(_alias),
                 lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), desc="method")],
                 variant=_alias + ".method"))

add(
    OpRecord("div", lambda a, b: a.true_divide(b), lambda a, b: a.true_divide(b),
             lambda rng: [Sample((u(rng, (2, 3)), _nz(rng, (3,))), desc="method")], variant="true_divide.method"),
    OpRecord("div", lambda a, b: a.divide(b), lambda a, b: a.divide(b),
             lambda rng: [Sample((u(rng, (2, 3)), _nz(rng, (3,))), desc="method")], variant="divide.method"),
    OpRecord("mul", lambda a, b: a.multiply(b), lambda a, b: a.multiply(b),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), desc="method")], variant="multiply.method"),
    OpRecord("sub", lambda a, b: a.subtract(b, alpha=2), lambda a, b: a.subtract(b, alpha=2),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), desc="method")], variant="subtract.method"),
    OpRecord("neg", lambda x: x.negative(), lambda x: x.negative(),
             lambda rng: [Sample((u(rng, (2, 3)),), desc="method")], variant="negative.method"),
    OpRecord("abs", lambda x: x.absolute(), lambda x: x.absolute(),
             lambda rng: [Sample((away(rng, (2, 3)),), desc="method")], variant="absolute.method"),
    OpRecord("copysign", lambda a, b: a.copysign(b), lambda a, b: a.copysign(b),
             lambda rng: [Sample((away(rng, (2, 3)), away(rng, (3,))), desc="method")], variant="method"),
    OpRecord("xlogy", lambda a, b: a.xlogy(b), lambda a, b: a.xlogy(b),
             lambda rng: [Sample((u(rng, (2, 3)), _pos(rng, (3,))), desc="method")], variant="method"),
    OpRecord("hypot", lambda a, b: a.hypot(b), lambda a, b: a.hypot(b),
             lambda rng: [Sample((_nz(rng, (2, 3)), _nz(rng, (3,))), desc="method")], variant="method"),
    OpRecord("heaviside", lambda a, b: a.heaviside(b), lambda a, b: a.heaviside(b),
             lambda rng: [Sample((away(rng, (2, 3)), u(rng, (3,))), desc="method", torch_grad=False)],
             variant="method"),
    OpRecord("nextafter", lambda a, b: a.nextafter(b), lambda a, b: a.nextafter(b),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), desc="method", torch_grad=False)],
             variant="method"),
    OpRecord("mul", lambda a, b: a.ldexp(b), lambda a, b: a.ldexp(b),
             lambda rng: [Sample((u(rng, (2, 3)), u(rng, (3,))), desc="method")], variant="ldexp.method"),
)
