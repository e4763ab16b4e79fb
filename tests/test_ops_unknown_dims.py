"""The shape and view ops of the op table (tests/opinfo.py) in graph mode with placeholders of
unknown dims: every array argument a placeholder whose dims are all None ("all") or whose
first dim is None ("lead"), the plan specialised on the fed shapes.

Forward values and dtypes, and the gradients from dg.gradients (cotangents fed through
placeholders of unknown dims), must equal eager's bitwise, as for static shapes
(tests/test_ops_graph.py): every kernel and gradient rule of these ops takes its target shape
from the run-time values (a template of their dims, a `like` input), not from the build-time
spec. Where the result's rank would depend on the fed sizes (squeeze of a dim of unknown size)
or the number of pieces would (split/chunk/unbind along an unknown dim), the build refuses, with
a DualGraphError saying so (UNKNOWN_REFUSES). Error inputs must still raise the dualgraph error
of PyTorch's builtin type, at build time or when the plan runs.
"""
import re

import numpy as np
import pytest

import dualgraph as dg
from dualgraph.ops import shape as S, unbroadcast as U
from dualgraph.ops.registry import Op

import op_runners as R
import op_runners_graph as GR
from opinfo import RECORDS

# the registry's shape and view ops: those defined in ops/shape.py and ops/unbroadcast.py
SHAPE_OPS = {v.name for m in (S, U) for v in vars(m).values() if isinstance(v, Op)}

# (record id, sample desc) -> (the refusal expected: a regex of its message, the modes it
# happens in): a squeeze of a dim of unknown size (the rank would depend on the fed value),
# split/chunk/unbind along a dim of unknown size (the number of pieces would)
BOTH, ALL = ("all", "lead"), ("all",)
UNKNOWN_REFUSES = {
    ("squeeze", "all"): (r"squeeze\(\): the size of dimensions? .* unknown while the graph is built", BOTH),
    ("squeeze", "dim=0"): (r"squeeze\(0\): the size of dimension 0 .* unknown while the graph is built", BOTH),
    ("squeeze", "non-1 dim kept"): (r"squeeze\(1\): the size of dimension 1 .* unknown", ALL),
    ("squeeze", "tuple"): (r"squeeze\(\(0, -1\)\): the size of dimensions? .* unknown", BOTH),
    ("squeeze", "empty"): (r"squeeze\(\): the size of dimension", BOTH),
    ("getitem.split", "uneven"): (r"split: the size of dimension 0 is unknown", BOTH),
    ("getitem.chunk", "2 chunks"): (r"chunk: the size of dimension 0 is unknown", BOTH),
    ("getitem.chunk", "even"): (r"chunk: the size of dimension 0 is unknown", BOTH),
    ("getitem.unbind", "dim 0"): (r"unbind: the size of dimension 0 is unknown", BOTH),
    ("getitem.unbind", "dim -1"): (r"unbind: the size of dimension 1 is unknown", ALL),
}

MODES = ("all", "lead")


def _unknown(shape, mode):
    if mode == "all":
        return [None] * len(shape)
    return [None] + list(shape[1:]) if shape else []


def _records():
    return [r for r in RECORDS if r.op in SHAPE_OPS]


def _sid(i, desc):
    return f"{i}:{re.sub(r'[^A-Za-z0-9_.=,+*()<>-]+', '_', desc)}"


def _params():
    return [pytest.param(r, s, mode, id=f"{r.id}[{_sid(i, s.desc)}]-{mode}")
            for r in _records() for i, s in enumerate(r.sample_list()) for mode in MODES
            if any(isinstance(a, np.ndarray) and a.ndim for a in s.args)]


def _err_params():
    return [pytest.param(r, e, mode, id=f"{r.id}[{_sid(i, e.desc)}]-{mode}")
            for r in _records() for i, e in enumerate(r.error_list()) for mode in MODES
            if not e.xfail and any(isinstance(a, np.ndarray) and a.ndim for a in e.args)]


def _refusal(record, sample, mode):
    match, modes = UNKNOWN_REFUSES.get((record.id, sample.desc), (None, ()))
    return match if mode in modes else None


def _build(record, sample, mode, grad, out_shapes):
    """Placeholders of unknown dims for the array args; outputs and dg.gradients with
    cotangents fed through placeholders of unknown dims. Returns (plan, arrays, n_outputs,
    grad positions, grads)."""
    pos = R.grad_positions(sample) if grad else []
    with dg.graph_mode() as g:
        feeds, arrays, inputs = GR.placeholders(sample, lambda a: _unknown(a.shape, mode))
        outs = R.flatten(record.fn(*inputs, **sample.kwargs))
        outs = [o if isinstance(o, dg.SymbolicTensor) else dg.constant(np.asarray(o)) for o in outs]
        grads = []
        if pos:
            at = [k for k, o in enumerate(outs) if o.dtype.is_floating_point]
            diff = [outs[k] for k in at]
            if diff:
                cots = R.cotangents([(out_shapes[k], np.dtype(outs[k]._dtype)) for k in at])
                seeds = []
                for o, c in zip(diff, cots):
                    p = dg.placeholder(_unknown(c.shape, mode), c.dtype)
                    feeds.append(p)
                    arrays.append(c)
                    seeds.append(p)
                grads = dg.gradients(diff, [inputs[i] for i in pos], grad_ys=seeds)
            else:
                grads = [None] * len(pos)
    fetch = outs + [gr for gr in grads if gr is not None]
    return g.compile(fetch, feeds=feeds), arrays, len(outs), pos, grads


def _same(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs eager {b.shape}"
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} vs eager {b.dtype}"
    assert np.array_equal(a, b, equal_nan=True), f"{what}: values differ from eager"


@pytest.mark.parametrize("record,sample,mode", _params())
def test_unknown_dims_equal_eager(record, sample, mode):
    grad = record.differentiable and sample.grad and not record.random
    eager = R.run_eager(record, sample, grad=grad)
    refusal = _refusal(record, sample, mode)
    if refusal is not None:
        with pytest.raises(dg.DualGraphError, match=refusal):
            _build(record, sample, mode, grad, [o.shape for o in eager.outputs])
        return
    plan, arrays, n_out, pos, grads = _build(record, sample, mode, grad,
                                             [o.shape for o in eager.outputs])
    for call in (1, 2):  # a plan keeps its buffers between runs
        values = plan(*arrays)
        for k, (a, b) in enumerate(zip(values[:n_out], eager.outputs)):
            _same(a, b, f"{record.id} output {k} (call {call})")
        it = iter(values[n_out:])
        for i, gr in zip(pos, grads):
            want = eager.grads[i]
            if gr is None:
                assert not np.any(want), f"{record.id}: no gradient for arg {i}, eager has one"
                continue
            _same(next(it), want, f"{record.id} grad of arg {i} (call {call})")


@pytest.mark.parametrize("record,err,mode", _err_params())
def test_unknown_dims_error_inputs(record, err, mode):
    """Inputs PyTorch refuses are refused with unknown dims too: at build time when the known
    sizes decide it, else when the plan runs on the fed shapes."""
    e = None
    try:
        feeds, arrays, inputs = [], [], []
        with dg.graph_mode() as g:
            for i, a in enumerate(err.args):
                if isinstance(a, np.ndarray):
                    p = dg.placeholder(_unknown(a.shape, mode), a.dtype, name=f"arg{i}")
                    feeds.append(p)
                    arrays.append(a)
                    inputs.append(p)
                else:
                    inputs.append(a)
            outs = [o for o in R.flatten(record.fn(*inputs, **err.kwargs))
                    if isinstance(o, dg.SymbolicTensor)]
        if outs:
            g.compile(outs, feeds=feeds)(*arrays)
    except Exception as exc:  # noqa: BLE001 - inspected below
        e = exc
    assert e is not None, f"{record.id}: unknown dims accepted inputs PyTorch refuses ({err.desc})"
    assert isinstance(e, dg.DualGraphError), f"{record.id}: {type(e).__name__}: {e}"
    assert isinstance(e, err.exc), f"{record.id}: expected {err.exc.__name__}, got {type(e).__name__}: {e}"


# ---------------------------------------------------------------------------- beyond the table
def _plan(fn, *specs):
    """(plan, outputs, gradients of (out * out).sum() for each input) with placeholders of
    the given (unknown-dim) shapes."""
    with dg.graph_mode() as g:
        phs = [dg.placeholder(s) for s in specs]
        out = fn(*phs)
        grads = dg.gradients((out * out).sum(), phs)
    return g.compile([out] + [gr for gr in grads if gr is not None], feeds=phs)


def _eager(fn, *arrays):
    xs = [dg.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    (out * out).sum().backward()
    return [out.detach().numpy()] + [x.grad.numpy() for x in xs if x.grad is not None]


def test_cat_of_an_empty_input_gives_it_an_empty_gradient():
    """As PyTorch: a size-0 piece of cat gets a gradient of its shape (a legacy empty 1-d
    input none)."""
    a, b = dg.zeros(0, 2, requires_grad=True), dg.ones(3, 2, requires_grad=True)
    dg.cat([a, b]).sum().backward()
    assert a.grad is not None and a.grad.shape == (0, 2)


F32 = np.float32


def _a(*shape):
    return np.arange(np.prod(shape, dtype=int), dtype=F32).reshape(shape) / 4 - 1


CASES = [
    # (id, fn, placeholder shapes, arrays)
    ("cartesian_prod", lambda p, q: dg.cartesian_prod(p, q), [[None], [None]], [_a(3), _a(2)]),
    ("cartesian_prod3", lambda p: dg.cartesian_prod(p, p[:2], p), [[None]], [_a(3)]),
    ("cartesian_prod_empty", lambda p, q: dg.cartesian_prod(p, q), [[None], [None]], [_a(3), _a(0)]),
    ("repeat", lambda p: p.repeat(2), [[None]], [_a(3)]),
    ("repeat_lead", lambda p: p.repeat(2, 1, 3), [[None, None]], [_a(2, 3)]),
    ("repeat_empty", lambda p: p.repeat(2, 2), [[None, 0]], [_a(2, 0)]),
    ("reshape_as", lambda p, q: p.reshape_as(q), [[None, None], [None, None]], [_a(2, 3), _a(3, 2)]),
    ("view_as", lambda p, q: (p * 1).view_as(q), [[None, None], [None]], [_a(2, 3), _a(6)]),
    ("expand_as", lambda p, q: p.expand_as(q), [[None, 1], [None, None, None]], [_a(3, 1), _a(2, 3, 4)]),
    ("expand_as_lead", lambda p, q: p[:1].expand_as(q), [[None, 3], [None, 3]], [_a(2, 3), _a(4, 3)]),
    ("flatten", lambda p: p.flatten(), [[None, None, 2]], [_a(2, 3, 2)]),
    ("flatten_mid", lambda p: p.flatten(1, 2), [[None, None, None, None]], [_a(2, 3, 2, 1)]),
    ("flatten_zero", lambda p: p.flatten(1), [[None, 0, 3]], [_a(2, 0, 3)]),
    ("flatten_same", lambda p: p.flatten(1, 1) * 1, [[None, 0]], [_a(3, 0)]),
    ("stack_known_unknown", lambda p: dg.stack([p, dg.ones(2), p], 1), [[None]], [_a(2)]),
    ("cat_known_unknown", lambda p: dg.cat([p, dg.ones(1, 3)]), [[None, None]], [_a(2, 3)]),
    ("cat_one_unknown", lambda p: dg.cat([dg.ones(1, 2), p, dg.ones(2, 2) * 3], 0), [[None, 2]], [_a(3, 2)]),
    ("cat_unknowns", lambda p: dg.cat([p, p[1:], p * 2], 0), [[None, None]], [_a(3, 2)]),
    ("cat_unknowns_dim1", lambda p, q: dg.cat([q, p, dg.ones(2, 1), p], 1), [[2, None], [None, None]],
     [_a(2, 3), _a(2, 2)]),
    ("cat_unknowns_empty", lambda p, q: dg.cat([p, q], 0), [[None, 2], [None, 2]], [_a(0, 2), _a(3, 2)]),
    ("cat_zero_tail", lambda p: dg.cat([dg.ones(1, 2), p, dg.ones(0, 2)], 0), [[None, 2]], [_a(3, 2)]),
    ("cat_maybe_legacy_empty", lambda p, v: dg.cat([p, v], 0), [[None, 2], [None]],
     [_a(3, 2), np.zeros(0, F32)]),
    ("unsqueeze_squeeze", lambda p: p.unsqueeze(1).squeeze(1), [[None, None]], [_a(2, 3)]),
]


@pytest.mark.parametrize("fn,specs,arrays", [pytest.param(f, s, a, id=i) for i, f, s, a in CASES])
def test_unknown_dims_programs_equal_eager(fn, specs, arrays):
    plan = _plan(fn, *specs)
    want = _eager(fn, *arrays)
    for call in (1, 2):
        got = plan(*arrays)
        assert len(got) == len(want)
        for k, (a, b) in enumerate(zip(got, want)):
            _same(a, b, f"value {k} (call {call})")


def test_unknown_dims_mismatches_are_checked_when_fed():
    """Sizes that can agree while building (one unknown) are checked on the fed shapes."""
    cases = [
        (lambda p: dg.stack([p, dg.ones(2)]), r"stack expects each tensor to be equal size"),
        (lambda p: dg.cat([p.reshape(-1, 1), dg.ones(2, 2)], 1), r"Sizes of tensors must match"),
        (lambda p: p.reshape(1, -1).expand_as(dg.ones(2, 2)), r"The expanded size of the tensor"),
        (lambda p: p.reshape_as(dg.ones(2, 2)), r"shape '\[2, 2\]' is invalid for input of size 3"),
    ]
    for fn, match in cases:
        with dg.graph_mode() as g:
            p = dg.placeholder([None])
            y = fn(p)
        plan = g.compile([y], feeds=[p])
        with pytest.raises(dg.DualGraphError, match=match):
            plan(np.ones(3, F32))


def test_unknown_dims_narrow_and_split_sizes_are_checked_when_fed():
    """narrow/split with sizes promise their pieces' lengths (static now) and PyTorch's errors
    when the fed size does not allow them, instead of shorter pieces."""
    with dg.graph_mode() as g:
        p = dg.placeholder([None, 2])
        a = p.narrow(0, 1, 2)
        b, c = dg.split(p, [1, 3])
        assert tuple(a.shape) == (2, 2) and tuple(b.shape) == (1, 2) and tuple(c.shape) == (3, 2)
        (gp,) = dg.gradients(a.sum() + c.sum(), [p])
    plan = g.compile([a, c, gp], feeds=[p])
    _, _, grad = plan(np.ones((4, 2), F32))
    assert grad.tolist() == [[0.0, 0.0], [2.0, 2.0], [2.0, 2.0], [1.0, 1.0]]
    with pytest.raises(dg.DualGraphError, match=r"start \(1\) \+ length \(2\) exceeds dimension size \(2\)"):
        plan(np.ones((2, 2), F32))
    with pytest.raises(dg.DualGraphError, match=r"split_with_sizes expects split_sizes to sum exactly to 5"):
        plan(np.ones((5, 2), F32))


def test_data_dependent_sizes_in_an_optimised_plan():
    """A boolean mask's result has no size even when the plan is specialised: no buffer is
    planned for what is computed from it."""
    with dg.graph_mode() as g:
        p = dg.placeholder([None])
        y = (p[p > 0] * 2) + 1
    assert g.compile([y])(np.array([1, -1, 2, 3], F32))[0].tolist() == [3.0, 5.0, 7.0]


def test_unknown_dims_refusals_say_what_to_do():
    with dg.graph_mode():
        p = dg.placeholder([None, 3])
        with pytest.raises(dg.DualGraphError, match=r"zeros_like"):
            dg.zeros(p.shape)
        with pytest.raises(dg.DualGraphError, match=r"(?s)squeeze\(0\).*reshape.*static size"):
            p.squeeze(0)
