"""Runners: turn an (OpRecord, Sample) pair from tests/opinfo.py into numbers in one mode.

Each runner takes the record's callable and the sample's numpy inputs and returns numpy
results, so the same table can be run by another mode: `run_graph` (build a graph with
placeholders for the array arguments, compile, run, `dg.gradients` for the grads) only has to
return the same `Result` as `run_eager` below, and every table-driven comparison works unchanged.

Conventions shared by all runners
- numpy arrays in `sample.args` become tensors; anything else (Python scalars, tuples) passes
  through untouched;
- float arrays require grad (unless listed in `sample.no_grad_args`);
- outputs are flattened (tuples such as max's (values, indices) or split's pieces);
- gradients are vector-Jacobian products with fixed pseudo-random cotangents (`cotangents`),
  one per float output, so two modes or two libraries are fed identical seeds.
"""
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

import dualgraph as dg
from dualgraph.ops.registry import Spec


@dataclass
class Result:
    outputs: List[np.ndarray]                 # flattened outputs, as numpy copies
    grads: Optional[List[Optional[np.ndarray]]] = None   # one per sample arg (None: no grad)


# ---------------------------------------------------------------------------- shared helpers
def grad_positions(sample):
    """Indices of the args that take part in differentiation (float arrays)."""
    return [i for i, a in enumerate(sample.args)
            if isinstance(a, np.ndarray) and a.dtype.kind == "f" and i not in sample.no_grad_args]


def with_float64(sample):
    """The sample with every float array (grad or not) converted to float64 (for gradcheck)."""
    from dataclasses import replace
    args = tuple(a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
                 for a in sample.args)
    return replace(sample, args=args)


def flatten(out):
    if isinstance(out, (tuple, list)):
        r = []
        for o in out:
            r.extend(flatten(o))
        return r
    return [out]


def cotangents(shapes_dtypes, seed=1234):
    """One fixed cotangent per float output: shared by every runner for identical seeds."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(d) for s, d in shapes_dtypes]


def _is_float(a):
    return a.dtype.kind == "f"


# ---------------------------------------------------------------------------- eager (dualgraph)
def dg_inputs(sample, *, requires_grad=True):
    pos = set(grad_positions(sample)) if requires_grad else set()
    out = []
    for i, a in enumerate(sample.args):
        if isinstance(a, np.ndarray):
            t = dg.tensor(np.array(a))
            if i in pos:
                t.requires_grad_(True)
            out.append(t)
        else:
            out.append(a)
    return out


def _dg_np(t):
    if isinstance(t, dg.Tensor):
        return np.array(t.detach().numpy())
    return np.asarray(t)


def _run(fn, inputs, sample, *, grad, tensor_type, to_np, grad_fn, from_numpy):
    """Outputs and vector-Jacobian products, the same way for dualgraph and for torch."""
    outs = flatten(fn(*inputs, **sample.kwargs))
    result = Result([to_np(o) for o in outs])
    if not grad:
        return result
    pos = grad_positions(sample)
    diff = [o for o in outs if isinstance(o, tensor_type) and o.requires_grad]
    result.grads = [None] * len(sample.args)
    if not pos:
        return result
    xs = [inputs[i] for i in pos]
    if diff:
        cots = cotangents([(tuple(o.shape), o.detach().numpy().dtype) for o in diff])
        gs = grad_fn(diff, xs, [from_numpy(c) for c in cots], allow_unused=True)
    else:
        gs = [None] * len(xs)
    for i, x, g in zip(pos, xs, gs):
        result.grads[i] = np.zeros(tuple(x.shape), x.detach().numpy().dtype) if g is None else to_np(g)
    return result


def run_eager(record, sample, *, grad=True):
    """Outputs (numpy) and, when grad, d(sum_k <cot_k, out_k>)/d(arg) for every float arg."""
    return _run(record.fn, dg_inputs(sample, requires_grad=grad), sample, grad=grad,
                tensor_type=dg.Tensor, to_np=_dg_np, grad_fn=dg.autograd.grad, from_numpy=dg.tensor)


def gradcheck_eager(record, sample, **tol):
    """dg.autograd.gradcheck of the record's callable in float64 at the sample's point."""
    s = with_float64(sample)
    inputs = dg_inputs(s)
    return dg.autograd.gradcheck(lambda *a: record.fn(*a, **s.kwargs), inputs, **tol)


def gradgradcheck_eager(record, sample, **tol):
    """dg.autograd.gradgradcheck (second order) of the callable in float64 at the sample."""
    s = with_float64(sample)
    inputs = dg_inputs(s)
    return dg.autograd.gradgradcheck(lambda *a: record.fn(*a, **s.kwargs), inputs, **tol)


def error_eager(record, err, *, requires_grad=False):
    """The exception the call raises (None when it does not raise)."""
    try:
        inputs = dg_inputs(err, requires_grad=requires_grad)
        record.fn(*inputs, **err.kwargs)
    except Exception as e:  # noqa: BLE001 - the caller inspects it
        return e
    return None


# ---------------------------------------------------------------------------- op tracing
class _Recording:
    """A mode that forwards every op to eager execution and remembers the application."""

    def __init__(self, inner):
        self.inner = inner
        self.log = []

    def apply(self, op, inputs, attrs):
        out = self.inner.apply(op, inputs, attrs)
        self.log.append((op, tuple(inputs), dict(attrs), out))
        return out

    def write(self, target, op, inputs, attrs):
        from dualgraph.tensor import _wrap
        before = _wrap(target._data.copy())
        out = self.inner.write(target, op, inputs, attrs)
        self.log.append((op, (before,) + tuple(inputs), dict(attrs), _wrap(target._data.copy())))
        return out

    def get_grad(self, t):
        return self.inner.get_grad(t)

    def set_grad(self, t, value):
        return self.inner.set_grad(t, value)

    def read_layout(self, t):
        return self.inner.read_layout(t)


def trace_call(fn, *args, **kwargs):
    """Run fn eagerly, recording every op application: (fn's result, log of (op, inputs,
    attrs, out))."""
    from dualgraph.eager import EAGER
    from dualgraph.mode import push
    rec = _Recording(EAGER)
    with push(rec):
        out = fn(*args, **kwargs)
    return out, rec.log


def check_infer(log, *, unknown_dims=True, data_dependent=(), rank_needs_sizes=(),
                unknown_may_refuse=()):
    """Assert that each logged application's shape rule gives the shape and dtype eager made;
    with unknown_dims, also that the rule answers for inputs whose dims are all None, and every
    dim it names matches. Returns the number of applications checked."""
    for op, inputs, attrs, out in log:
        got = out._data
        spec = op.infer(*[spec_of(x) for x in inputs], **attrs)
        assert _dims_ok(tuple(spec.shape), got.shape, op.name in data_dependent), (
            f"{op.name}: infer {spec} but eager made {got.shape}")
        assert np.dtype(spec.dtype) == got.dtype, f"{op.name}: infer {spec} but eager made {got.dtype}"
        if not unknown_dims or not any(isinstance(x, dg.Tensor) and x.ndim for x in inputs):
            continue
        try:
            spec = op.infer(*[spec_of(x, unknown=range(64)) for x in inputs], **attrs)
        except dg.DualGraphError:
            if op.name in unknown_may_refuse:
                continue
            raise
        assert np.dtype(spec.dtype) == got.dtype
        if op.name not in rank_needs_sizes:
            assert _dims_ok(tuple(spec.shape), got.shape, True), (
                f"{op.name} with unknown dims: infer {spec} but eager made {got.shape}")
    return len(log)


def _dims_ok(spec_shape, got_shape, allow_none):
    return len(spec_shape) == len(got_shape) and all(
        d == g or (allow_none and d is None) for d, g in zip(spec_shape, got_shape))


def trace_eager(record, sample, *, grad=True):
    """Every op application the callable makes (forward and, with grad, backward).

    Returns (result, log) with log a list of (op, inputs, attrs, out)."""
    from dualgraph.eager import EAGER
    from dualgraph.mode import push
    rec = _Recording(EAGER)
    with push(rec):
        result = run_eager(record, sample, grad=grad)
    return result, rec.log


def spec_of(x, unknown=()):
    """A tensor as the Spec a shape rule sees (dims listed in `unknown` become None);
    non-tensors pass through."""
    if isinstance(x, dg.Tensor):
        a = x._data
        return Spec(tuple(None if i in unknown else d for i, d in enumerate(a.shape)), a.dtype)
    return x


# ---------------------------------------------------------------------------- torch reference
def torch_inputs(sample, *, requires_grad=True):
    import torch
    pos = set(grad_positions(sample)) if requires_grad else set()
    out = []
    for i, a in enumerate(sample.args):
        if isinstance(a, np.ndarray):
            t = torch.from_numpy(np.array(a))
            if i in pos:
                t.requires_grad_(True)
            out.append(t)
        else:
            out.append(a)
    return out


def _t_np(t):
    import torch
    if isinstance(t, torch.Tensor):
        return np.array(t.detach().numpy())
    return np.asarray(t)


def run_torch(record, sample, *, grad=True):
    import torch
    return _run(record.ref, torch_inputs(sample, requires_grad=grad), sample, grad=grad,
                tensor_type=torch.Tensor, to_np=_t_np, grad_fn=torch.autograd.grad,
                from_numpy=torch.from_numpy)


def error_torch(record, err):
    try:
        inputs = torch_inputs(err, requires_grad=False)
        record.ref(*inputs, **err.kwargs)
    except Exception as e:  # noqa: BLE001
        return e
    return None


BUILTIN_ERRORS = (IndexError, TypeError, ValueError, RuntimeError)


def builtin_type(exc):
    """The builtin class PyTorch's exception is (NotImplementedError counts as RuntimeError,
    its base: `except RuntimeError` code written for PyTorch catches both)."""
    for k in type(exc).__mro__:
        if k in BUILTIN_ERRORS:
            return k
    return type(exc)
