"""0-d values in compiled plans are what eager mode makes them: 0-d numpy arrays.

numpy kernels return numpy scalars (np.float32(...)) for 0-d results, and np.float64 is a
subclass of Python float, so a kernel that meets one promotes it like a weak Python number.
Eager mode wraps every kernel result in a 0-d array (EagerInterpreter.apply); a plan does the
same for every step whose shape is () (graph/plan.py). Checked here over the whole op table
(tests/opinfo.py): every sample whose arguments or outputs include a 0-d array runs in a plan
with its 0-d arguments first made by a plan step (`p + 0`: a kernel result, not a feed), and
every output must have the type, dtype, shape and value eager gives; plus the three ways a
plan's results reach the caller (plan(...), Session.run, dg.function).
"""
import re
import warnings

import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F

import op_runners as R
import op_runners_graph as GR
from opinfo import RECORDS


def _step(p):
    """A 0-d value made by a plan step (a kernel's result) with p's dtype and value."""
    return p | False if p.dtype == dg.bool else p + 0


def _has_0d(record, sample):
    if any(isinstance(a, np.ndarray) and a.ndim == 0 for a in sample.args):
        return True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outs = R.run_eager(record, sample, grad=False).outputs
    except Exception:  # noqa: BLE001 - not this test's business
        return False
    return any(o.ndim == 0 for o in outs)


def _params():
    out = []
    for r in RECORDS:
        for i, s in enumerate(r.sample_list()):
            if _has_0d(r, s):
                desc = re.sub(r"[^A-Za-z0-9_.=,+*()<>-]+", "_", s.desc)
                out.append(pytest.param(r, s, id=f"{r.id}[{i}:{desc}]"))
    return out


PARAMS = _params()


def test_the_table_has_0d_cases():
    assert len(PARAMS) >= 100, len(PARAMS)
    assert len({r.op for r, _ in (p.values for p in PARAMS)}) >= 40


def _eager_outputs(record, sample):
    if record.random:
        dg.manual_seed(0)
    xs = R.dg_inputs(sample, requires_grad=False)
    return [o._data if isinstance(o, dg.Tensor) else o for o in R.flatten(record.fn(*xs, **sample.kwargs))]


def _plan_outputs(record, sample, optimize):
    with dg.graph_mode() as g:
        feeds, arrays, inputs = GR.placeholders(sample)
        inputs = [_step(x) if isinstance(x, dg.SymbolicTensor) and x.ndim == 0 else x for x in inputs]
        outs = R.flatten(record.fn(*inputs, **sample.kwargs))
        outs = [o if isinstance(o, dg.SymbolicTensor) else dg.constant(np.asarray(o)) for o in outs]
    if record.random:
        dg.manual_seed(0)
    return g.compile(outs, feeds=feeds, optimize=optimize)(*arrays)


@pytest.mark.parametrize("optimize", [False, True], ids=["graph", "graph-optimized"])
@pytest.mark.parametrize("record,sample", PARAMS)
def test_0d_in_a_plan_as_eager(record, sample, optimize):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = _eager_outputs(record, sample)
        got = _plan_outputs(record, sample, optimize)
    assert len(got) == len(eager)
    for k, (a, b) in enumerate(zip(got, eager)):
        what = f"{record.id} output {k}"
        assert type(a) is np.ndarray, f"{what}: {type(a).__name__} (eager: {type(b).__name__})"
        assert a.shape == b.shape, f"{what}: shape {a.shape} vs eager {b.shape}"
        assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} vs eager {b.dtype}"
        if not record.random:
            np.testing.assert_array_equal(a, b, err_msg=what)


# ---------------------------------------------------------------- programs mixing 0-d values
def _s32(p):
    return p.sum()


def _s64(p):
    return p.double().sum()


def _inplace_add(p):
    t = (_s32(p) + 1.5).double()
    t.add_(_s32(p))
    return t


def _inplace_mul_f32(p):
    t = _s32(p) * 1.0
    t.mul_(_s64(p))       # float64 operand: computed in float64, written back as float32
    return t


def _setitem_mask(p):
    s = _s32(p)
    s[s > 0] = 0.0
    return s


def _setitem_all(p):
    s = _s64(p) * 2
    s[...] = 5.0
    return s * 1


PROGRAMS = {
    "add f32 + f64": lambda p: _s32(p) + _s64(p),
    "mul f64 * f32": lambda p: _s64(p) * _s32(p),
    "div f32 / f64": lambda p: _s32(p) / _s64(p),
    "maximum f32 f64": lambda p: dg.maximum(_s32(p), _s64(p)),
    "pow f32 ** f64": lambda p: _s32(p) ** _s64(p),
    "add int 0-d + f32 0-d": lambda p: p.argmax() + _s32(p),
    "where f64 0-d": lambda p: (lambda s: dg.where(s > 0, s, s))(_s64(p)),
    "where 1-d mask, f64 0-d, number": lambda p: dg.where(p > 0, _s64(p), 1.0),
    "where f32 0-d vs f64 0-d": lambda p: dg.where(_s32(p) > 0, _s32(p), _s64(p)),
    "leaky_relu f64 0-d": lambda p: F.leaky_relu(_s64(p), 0.1),
    "masked_fill f64 0-d": lambda p: (lambda s: s.masked_fill(s > 0, 2.0))(_s64(p)),
    "masked_fill 1-d by f64 0-d": lambda p: p.masked_fill(p > 0, _s64(p)),
    "in-place add_ f32 into f64": _inplace_add,
    "in-place mul_ f64 into f32": _inplace_mul_f32,
    "setitem mask on 0-d": _setitem_mask,
    "setitem ... on 0-d": _setitem_all,
    "contiguous 0-d": lambda p: _s32(p).contiguous() + 1,
    "0-d f64 times 1-d f32": lambda p: _s64(p) * p,
    "lerp of 0-d values": lambda p: _s32(p) + (_s64(p) - _s32(p)) * 0.5,
}


@pytest.mark.parametrize("optimize", [False, True], ids=["graph", "graph-optimized"])
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_of_0d_values_as_eager(name, optimize):
    fn = PROGRAMS[name]
    a = np.array([0.5, -1.0, 2.0], np.float32)
    want = fn(dg.tensor(a))._data
    with dg.graph_mode() as g:
        p = dg.placeholder([3])
        y = fn(p)
    assert tuple(y.shape) == want.shape and y._dtype == want.dtype, "static shape/dtype"
    plan = g.compile([y], feeds=[p], optimize=optimize)
    for _ in range(2):                      # a plan keeps its buffers between runs
        (got,) = plan(a)
        assert type(got) is np.ndarray and got.shape == want.shape and got.dtype == want.dtype, \
            (type(got), got.shape, got.dtype, want.dtype)
        np.testing.assert_array_equal(got, want)
    (got,) = dg.Session(g, optimize=optimize).run([y], {p: a})
    assert type(got) is np.ndarray and got.dtype == want.dtype
    f = dg.function(fn)
    for _ in range(2):
        t = f(dg.tensor(a))
        assert isinstance(t, dg.Tensor) and type(t._data) is np.ndarray
        assert t.shape == want.shape and t._data.dtype == want.dtype
        np.testing.assert_array_equal(t._data, want)


@pytest.mark.parametrize("optimize", [False, True], ids=["graph", "graph-optimized"])
def test_contiguous_of_a_0d_placeholder(optimize):
    with dg.graph_mode() as g:
        p = dg.placeholder([])
        y = p.contiguous()
        z = y + 1
    plan = g.compile([y, z], feeds=[p], optimize=optimize)
    x = np.array(2.0, np.float32)
    for _ in range(2):
        y_v, z_v = plan(x)
        assert type(y_v) is np.ndarray and y_v.shape == () and float(y_v) == 2.0
        assert y_v is not x and not np.shares_memory(y_v, x)    # a fetch never aliases a feed
        assert z_v.shape == () and float(z_v) == 3.0


def test_0d_results_reach_the_caller_as_eager():
    """plan(...), Session.run and dg.function return a 0-d result as eager holds it: a 0-d
    array (a Tensor over one, from dg.function); fresh at every call, never a numpy scalar."""
    a = np.array([1.0, 2.0], np.float32)
    with dg.graph_mode() as g:
        p = dg.placeholder([2])
        s, m = p.sum(), p.double().mean()
    plan = g.compile([s, m], feeds=[p])
    r1, r2 = plan(a), plan(a)
    for v, dt in zip(r1, (np.float32, np.float64)):
        assert type(v) is np.ndarray and v.shape == () and v.dtype == dt
    assert r1[0] is not r2[0] and float(r1[0]) == float(r2[0]) == 3.0
    r = dg.Session(g).run({"s": s, "m": [m]}, {p: a})
    assert type(r["s"]) is np.ndarray and r["s"].dtype == np.float32 and r["m"][0].dtype == np.float64
    eager = (dg.tensor(a).sum(), dg.tensor(a).double().mean())
    got = dg.function(lambda x: (x.sum(), x.double().mean()))(dg.tensor(a))
    for t, e in zip(got, eager):
        assert type(t._data) is np.ndarray and t._data.dtype == e._data.dtype and t.shape == ()


def test_generated_code_wraps_only_0d_steps():
    """Only steps whose shape is () and that write into no buffer are wrapped (the common,
    non-0-d path is untouched)."""
    with dg.graph_mode() as g:
        p = dg.placeholder([4])
        y = (p * 2.0 + 1.0).tanh()
        s = y.sum() * 3.0
        z = y * s
    plan = g.compile([y, s, z], feeds=[p])
    plan(np.ones(4, np.float32))
    # the sum and the fetched `* 3.0` (a result: fresh memory, not the arena)
    assert plan.source.count("_asarray(") == 2, plan.source
    plan = g.compile([z], feeds=[p])
    (v,) = plan(np.ones(4, np.float32))
    # the sum only: `* 3.0` writes into the sum's 0-d array (out=), which dies there
    assert plan.source.count("_asarray(") == 1 and "3.0, out=v" in plan.source, plan.source
    np.testing.assert_array_equal(v, np.tanh(np.float32(3.0)) * (np.tanh(np.float32(3.0)) * 4 * 3))
