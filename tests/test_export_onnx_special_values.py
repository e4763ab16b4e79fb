"""dg.export.to_onnx gives the numbers dualgraph gives, special values included: NaN, +-inf,
-0.0, large int64s and empty dims, each op run eagerly, compiled (dg.function, several calls)
and through onnxruntime. Bitwise (a zero's sign too) where dualgraph's numpy kernel is exact,
to float32 rounding otherwise; what ONNX cannot say is an ExportError at export time."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dualgraph as dg
import dualgraph.nn.functional as F
from dualgraph.errors import DGRuntimeError
from dualgraph.export import ExportError, to_onnx
from dualgraph.utils.tree import flatten
from special_value_checks import assert_same_values

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

nan, inf = np.nan, np.inf
f32 = np.float32
I64_MAX = np.iinfo(np.int64).max

SPECIAL = np.array([nan, inf, -inf, -0.0, 0.0, 0.25, -0.25, 0.5, -1.5, 2.5, 3.0, -7.0, 1e-30,
                    -1e-30, 3e38, -3e38, 1e-45], f32)
# every special dividend by every special divisor (zeros of both signs, inf, NaN, tiny, huge)
DIVISORS = np.array([nan, inf, -inf, -0.0, 0.0, 3.0, -3.0, 0.5, -0.75, 1e-30, 7e37], f32)
A, B = [g.ravel() for g in np.meshgrid(SPECIAL, DIVISORS)]
# integers beyond float64's 53 bits, of both signs, by divisors of both signs (no zero here)
BIG = np.array([2**62 + 1, -(2**62) - 1, 2**53 + 1, -(2**53) - 1, I64_MAX, -I64_MAX, -7, 7, 0, 1, -1],
               np.int64)
BIG_DIVISORS = np.array([3, -3, 7, -7, 1, -1, 2**31 + 1, -(2**40) - 3, 2**62 + 7], np.int64)
IA, IB = [g.ravel() for g in np.meshgrid(BIG, BIG_DIVISORS)]
# rows for the max / min family: a NaN first, in the middle, last, none; all -inf
ROWS = np.array([[1, nan, 3, 2], [nan, 1, 2, 0], [1, 2, 3, nan], [-inf, -inf, -inf, -inf],
                 [inf, -0.0, nan, -inf], [0.5, -2, 7, 7]], f32)

# an image for max pooling: NaNs in two windows, -inf and -0.0 in others
POOL = np.arange(25, dtype=f32).reshape(1, 1, 5, 5)
POOL[0, 0, 0, 1], POOL[0, 0, 2, 0], POOL[0, 0, 4, 4], POOL[0, 0, 3, 3] = nan, nan, -inf, -0.0


def _leaves(r):
    return [np.asarray(t.detach().numpy() if hasattr(t, "detach") else t)
            for t in (r if isinstance(r, (tuple, list)) else [r])]


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


_same = assert_same_values


def _three_ways(fn, arrays, rtol=None, calls=3):
    """fn eagerly, as a dg.function over several calls, and its export in onnxruntime: the
    same numbers (rtol None: bitwise)."""
    tensors = [dg.tensor(a) for a in arrays]
    eager = _leaves(fn(*tensors))
    f = dg.function(fn)
    for k in range(calls):
        compiled = _leaves(f(*tensors))
        assert len(compiled) == len(eager)
        for c, e in zip(compiled, eager):
            _same(c, e, None, f"compiled call {k}")
    model = to_onnx(f, example_args=tuple(tensors))
    sess = _session(model)
    names = [i.name for i in sess.get_inputs()]
    assert len(names) == len(arrays)
    got = sess.run(None, dict(zip(names, arrays)))
    assert len(got) == len(eager)
    for i, (o, e) in enumerate(zip(got, eager)):
        _same(o, e, rtol, f"onnxruntime output {i}")
    return model


EXACT, CLOSE = None, 2e-6   # bitwise; float32 rounding (a few ulps)


def _x(v=SPECIAL):
    return (v,)


CASES = [
    # ---- elementwise, one operand
    ("neg", lambda x: -x, _x(), EXACT),
    ("abs", lambda x: x.abs(), _x(), EXACT),
    ("sign", lambda x: x.sign(), _x(), EXACT),               # sign(nan) is 0
    ("sqrt", lambda x: x.sqrt(), _x(), EXACT),
    ("rsqrt", lambda x: dg.rsqrt(x), _x(), EXACT),
    ("relu", lambda x: x.relu(), _x(), EXACT),
    ("exp", lambda x: x.exp(), _x(), CLOSE),
    ("log", lambda x: x.log(), _x(), CLOSE),
    ("log1p", lambda x: dg.log1p(x), _x(), CLOSE),            # log1p(-0.0) is -0.0, tiny x kept
    ("tanh", lambda x: x.tanh(), _x(), CLOSE),
    ("sigmoid", lambda x: x.sigmoid(), _x(), CLOSE),
    # ---- clamp: one bound keeps +-inf; min > max; a NaN bound; zeros keep or take the bound's sign
    ("clamp_min", lambda x: x.clamp(min=0), _x(), EXACT),
    ("clamp_max", lambda x: x.clamp(max=0), _x(), EXACT),
    ("clamp_min_neg0", lambda x: x.clamp(min=-0.0), _x(), EXACT),
    ("clamp_max_inf", lambda x: x.clamp(max=inf), _x(), EXACT),
    ("clamp_both", lambda x: x.clamp(-1, 1), _x(), EXACT),
    ("clamp_zero_zero", lambda x: x.clamp(0.0, 0.0), _x(), EXACT),
    ("clamp_min_above_max", lambda x: x.clamp(2, 1), _x(), EXACT),
    ("clamp_nan_min", lambda x: x.clamp(min=nan), _x(), EXACT),
    ("clamp_nan_bound", lambda x: x.clamp(nan, 1), _x(), EXACT),
    ("clamp_int_min", lambda x: x.clamp(min=-5), (BIG,), EXACT),
    ("clamp_int_max", lambda x: x.clamp(max=2**62), (BIG,), EXACT),
    # ---- division and remainder, every special dividend by every special divisor
    ("floor_divide", lambda a, b: a // b, (A, B), EXACT),     # inf // 2 is NaN, -5 // inf is -1
    ("floor_divide_scalar", lambda x: x // 2, _x(), EXACT),
    ("floor_divide_by_neg0", lambda x: x // -0.0, _x(), EXACT),
    ("floor_divide_f64", lambda a, b: a.double() // b.double(), (A, B), EXACT),
    ("floor_divide_f16", lambda a, b: a.half() // b.half(), (A, B), EXACT),
    ("remainder", lambda a, b: dg.remainder(a, b), (A, B), EXACT),
    ("remainder_op", lambda a, b: a % b, (A, B), EXACT),
    ("remainder_scalar", lambda x: x % -2, _x(), EXACT),      # -4 % 2 is -0.0 (the dividend's)
    ("remainder_f64", lambda a, b: dg.remainder(a.double(), b.double()), (A, B), EXACT),
    ("trunc_divide", lambda a, b: dg.div(a, b, rounding_mode="trunc"), (A, B), EXACT),
    ("true_divide", lambda a, b: a / b, (A, B), EXACT),
    ("maximum", lambda a, b: dg.maximum(a, b), (A, B), EXACT),
    ("minimum", lambda a, b: dg.minimum(a, b), (A, B), EXACT),
    # ---- int64 beyond 2**53: exact
    ("int_floor_divide", lambda a, b: a // b, (IA, IB), EXACT),
    ("int_floor_divide_scalar", lambda x: x // 3, (BIG,), EXACT),
    ("int_trunc_divide", lambda a, b: dg.div(a, b, rounding_mode="trunc"), (IA, IB), EXACT),
    ("int_remainder", lambda a, b: dg.remainder(a, b), (IA, IB), EXACT),
    ("int32_floor_divide", lambda a, b: a.int() // b.int(), (IA % 2**31, IB % 2**31 + 1), EXACT),
    ("int8_floor_divide", lambda a, b: a // b,
     (np.array([-128, 127, -7, 7, 0, -128], np.int8), np.array([-1, -1, 2, -2, 5, 3], np.int8)), EXACT),
    ("uint8_floor_divide", lambda a, b: a // b,
     (np.array([255, 7, 0, 200], np.uint8), np.array([2, 255, 3, 7], np.uint8)), EXACT),
    # ---- powers: numpy's sqrt / reciprocal / square for a one-element exponent
    ("pow_half", lambda x: x ** 0.5, _x(), EXACT),           # (-inf) ** 0.5 is NaN, (-0.0) ** 0.5 -0.0
    ("pow_minus_one", lambda x: x ** -1, _x(), EXACT),
    ("pow_two", lambda x: x ** 2, _x(), EXACT),
    ("pow_zero", lambda x: x ** 0, _x(), EXACT),
    ("pow_three", lambda x: x ** 3, _x(), CLOSE),
    ("pow_half_f64", lambda x: x.double() ** 0.5, _x(), EXACT),
    ("pow_0d_tensor", lambda x, e: x ** e, (SPECIAL, np.array(0.5, f32)), EXACT),
    ("pow_0d_tensor_other", lambda x, e: x ** e, (SPECIAL, np.array(-1.5, f32)), CLOSE),
    ("pow_expanded_0d", lambda x, e: (x ** e.expand(SPECIAL.size), x ** e.reshape(1).expand_as(x)),
     (SPECIAL, np.array(0.5, f32)), EXACT),
    ("pow_tensors", lambda a, b: a ** b, (A, B), CLOSE),
    ("int_pow_const", lambda x: x ** 39, (BIG,), EXACT),
    ("int_pow_tensor", lambda x, e: x ** e,
     (np.array([3, -3, 2, 7, 1, -1, 0, 5, -1, 3], np.int64),
      np.array([39, 40, 63, 30, -1, -3, -2, 0, 4, 2**62], np.int64)), EXACT),
    ("int_pow_python_base", lambda e: 3 ** e, (np.array([0, 1, 39, 40, -2, 2**62 + 1], np.int64),), EXACT),
    ("int32_pow_wraps", lambda x: x.int() ** 21, (np.array([3, -3, 7, 0, 1, -1], np.int64),), EXACT),
    # ---- max / min family: NaN propagates (its index for argmax / argmin)
    ("amax", lambda x: x.amax(dim=1), (ROWS,), EXACT),
    ("amin", lambda x: x.amin(dim=1), (ROWS,), EXACT),
    ("amax_all", lambda x: x.amax(), (ROWS[2:],), EXACT),
    ("max_all", lambda x: x.max(), (ROWS[2:3],), EXACT),
    ("min_all", lambda x: x.min(), (ROWS[1:2],), EXACT),
    ("max_dim", lambda x: tuple(x.max(dim=1)), (ROWS,), EXACT),
    ("min_dim_keepdim", lambda x: tuple(x.min(dim=1, keepdim=True)), (ROWS,), EXACT),
    ("argmax", lambda x: x.argmax(dim=1), (ROWS,), EXACT),
    ("argmin", lambda x: x.argmin(dim=1), (ROWS,), EXACT),
    ("argmax_flat", lambda x: x.argmax(), (ROWS,), EXACT),
    ("argmin_flat_keepdim", lambda x: x.argmin(keepdim=True), (ROWS[3:],), EXACT),
    ("argmax_dim0", lambda x: x.argmax(dim=0), (ROWS,), EXACT),
    # ---- reductions over empty dims, and truth of floats
    ("mean_empty_dim", lambda x: x.mean(dim=1), (np.zeros((3, 0), f32),), EXACT),
    ("mean_empty", lambda x: x.mean(), (np.zeros((0,), f32),), EXACT),
    ("mean_keepdim_empty", lambda x: x.mean(dim=0, keepdim=True), (np.zeros((0, 2), f32),), EXACT),
    ("sum_prod_empty", lambda x: (x.sum(dim=1), x.prod(dim=1)), (np.zeros((3, 0), f32),), EXACT),
    ("var_std_empty", lambda x: (x.var(dim=1), x.std(dim=0)), (np.zeros((3, 0), f32),), EXACT),
    ("var_one_element", lambda x: (x.var(dim=1), x.var(dim=1, correction=2)), (np.ones((2, 1), f32),), EXACT),
    ("var_huge", lambda x: (x.var(dim=1), x.std(dim=1)),
     (np.array([[1.5e19, -1.5e19, 0], [1e-20, 3e-20, 2e-20], [inf, 1, 2], [nan, 1, 2]], f32),), CLOSE),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2), (POOL,), EXACT),
    ("max_pool2d_padded", lambda x: F.max_pool2d(x, 3, stride=1, padding=1, ceil_mode=True), (POOL,), EXACT),
    ("reduce_0d", lambda x: (x.sum(dim=0), x.mean(dim=-1, keepdim=True), x.amax(dim=0),
                             x.var(dim=0, correction=0), x.any(dim=0), dg.logsumexp(x, dim=0)),
     (np.array(nan, f32),), EXACT),
    ("max_dim_0d", lambda x: (*x.max(dim=0), x.argmin(dim=0, keepdim=True)), (np.array(-0.0, f32),), EXACT),
    ("logsumexp", lambda x: dg.logsumexp(x, dim=1), (ROWS,), CLOSE),
    ("logsumexp_inf", lambda x: dg.logsumexp(x, dim=1),
     (np.array([[inf, 1, 2], [-inf, -inf, 0], [-inf, -inf, -inf]], f32),), CLOSE),
    ("logsumexp_empty", lambda x: dg.logsumexp(x, dim=1), (np.zeros((2, 0), f32),), EXACT),
    ("softmax", lambda x: F.softmax(x, dim=1), (ROWS,), CLOSE),
    ("any_all", lambda x: (x.any(dim=1), x.all(dim=1), x.any(), x.all()),
     (np.array([[0.5, 0, 0], [nan, 1, 2], [0, -0.0, 0], [1e-45, 3, -1]], f32),), EXACT),
    ("any_all_empty", lambda x: (x.any(dim=1), x.all(dim=1), x.any(), x.all()),
     (np.zeros((2, 0), f32),), EXACT),
    ("any_all_uint8", lambda x: (x.any(dim=1), x.all(dim=1)), (np.array([[0, 2], [3, 4]], np.uint8),), EXACT),
    # ---- selects keep a -0.0 from either side
    ("where", lambda c, x, y: dg.where(c, x, y),
     (np.array([1, 0, 1, 0, 1, 0], bool), np.array([-0.0, nan, 0.0, 1, -0.0, 2], f32),
      np.array([nan, -0.0, 5, inf, 0.0, -0.0], f32)), EXACT),
    ("where_scalar", lambda c, y: dg.where(c, -0.0, y),
     (np.array([1, 0, 1], bool), np.array([1, -0.0, 2], f32)), EXACT),
    ("masked_fill_neg0", lambda x, m: x.masked_fill(m, -0.0), (SPECIAL, SPECIAL > 0), EXACT),
]


@pytest.mark.parametrize("fn, arrays, rtol", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_special_values_three_ways(fn, arrays, rtol):
    _three_ways(fn, arrays, rtol)


def test_dynamic_shapes_count_at_run_time():
    """A graph with unknown dims: mean, var and any/all count their elements at run time (an
    empty slice: NaN, NaN, False / True), and a one-element exponent read at run time."""
    with dg.graph_mode() as g:
        x = dg.placeholder((None, None), dg.float32, name="x")
        e = dg.placeholder((), dg.float32, name="e")
        outs = [x.mean(dim=1), x.var(dim=1), x.std(dim=0), x.any(dim=1), x.all(dim=1), x.mean(),
                x ** e]
    model = to_onnx(g, inputs=[x, e], outputs=outs)
    sess = _session(model)
    for arr in (np.zeros((3, 0), f32), np.zeros((0, 2), f32), np.array([[-0.0, nan], [inf, 2]], f32),
                np.ones((2, 1), f32)):
        for ev in (0.5, -1.0, 2.0, 3.0):
            feeds = [arr, np.array(ev, f32)]
            want = dg.Session(g).run(outs, dict(zip([x, e], feeds)))
            got = sess.run(None, {"x": feeds[0], "e": feeds[1]})
            for i, (o, w) in enumerate(zip(got, want)):
                _same(o, w, None if i != 6 or ev != 3.0 else CLOSE, f"output {i} at {arr.shape}, e={ev}")


def test_int_division_by_zero_fails_in_both():
    """dualgraph raises on an integer zero divisor; onnxruntime fails the run likewise."""
    x, y = np.array([7, -7], np.int64), np.array([2, 0], np.int64)
    with pytest.raises(DGRuntimeError):
        dg.tensor(x) // dg.tensor(y)
    for fn in (lambda a, b: a // b, lambda a, b: dg.remainder(a, b)):
        f = dg.function(fn)
        ok = (dg.tensor(x), dg.tensor(np.array([2, 3], np.int64)))
        sess = _session(to_onnx(f, example_args=ok))
        names = [i.name for i in sess.get_inputs()]
        with pytest.raises(Exception, match="by zero"):
            sess.run(None, dict(zip(names, (x, y))))


def test_int64_min_by_minus_one_wraps_without_a_trap():
    """INT64_MIN // -1 is INT64_MIN in numpy (it wraps); onnxruntime's Div traps there
    (SIGFPE), so the export divides by 1 and negates. Run in a child: a trap would kill it."""
    code = textwrap.dedent("""
        import numpy as np, dualgraph as dg, onnxruntime as ort
        from dualgraph.export import to_onnx
        a = np.array([np.iinfo(np.int64).min, -7, np.iinfo(np.int64).min], np.int64)
        b = np.array([-1, -1, 3], np.int64)
        for fn in (lambda a, b: a // b, lambda a, b: dg.remainder(a, b),
                   lambda a, b: dg.div(a, b, rounding_mode="trunc")):
            want = fn(dg.tensor(a), dg.tensor(b)).numpy()
            m = to_onnx(dg.function(fn), example_args=(dg.tensor(a), dg.tensor(b)))
            s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
            got = s.run(None, dict(zip([i.name for i in s.get_inputs()], (a, b))))[0]
            assert got.dtype == want.dtype and (got == want).all(), (got, want)
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stdout, r.stderr[-2000:])


def test_negative_python_exponent_of_integers_is_refused():
    """x ** -2 on an integer tensor raises in dualgraph at run time; ONNX cannot raise, so the
    export refuses, naming the node and why."""
    with dg.graph_mode() as g:
        k = dg.placeholder((3,), dg.int64, name="k")
        y = k ** -2
    with pytest.raises(DGRuntimeError, match="negative integer powers"):
        dg.tensor(np.array([1, 2, 3])) ** -2
    with pytest.raises(ExportError, match=r"pow.*negative"):
        to_onnx(g, inputs=[k], outputs=[y])


# ---------------------------------------------------------------- outputs: one per returned leaf
def _outputs(fn, *arrays):
    f = dg.function(fn)
    ts = [dg.tensor(a) for a in arrays]
    model = to_onnx(f, example_args=tuple(ts))
    sess = _session(model)
    got = sess.run(None, dict(zip([i.name for i in sess.get_inputs()], arrays)))
    for _ in range(2):  # (the second call runs the plan)
        leaves = flatten(f(*ts))[0]
    return model, got, [np.asarray(v.detach().numpy()) for v in leaves if hasattr(v, "detach")]


def test_a_tensor_returned_twice_is_two_outputs():
    def twice(x):
        y = x * 2
        return y, y

    x = np.array([1.0, -0.0, nan], f32)
    model, got, want = _outputs(twice, x)
    assert len(model.graph.output) == 2 and len({o.name for o in model.graph.output}) == 2
    assert len(got) == len(want) == 2
    for o, w in zip(got, want):
        _same(o, w, None, "twice")


def test_every_leaf_of_a_nested_result_is_an_output():
    w = dg.nn.Parameter(dg.ones(3))

    def nested(x):
        y = x + 1
        return {"a": y, "b": (y, x * 3, x)}, y[1:], w, 7

    x = np.array([1.0, 2.0, -inf], f32)
    model, got, want = _outputs(nested, x)
    # y, y, x * 3, x (the argument), y[1:] (a view), w (a parameter); 7 is no tensor
    assert len(model.graph.output) == 6 and len(got) == len(want) == 6
    for o, v in zip(got, want):
        _same(o, v, None, "nested")
