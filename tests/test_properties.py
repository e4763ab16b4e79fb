"""Property tests (hypothesis): random shapes through broadcasting, reductions, views and the
shape rules, checked against numpy's rules and, where installed, PyTorch.

Example counts stay modest (max_examples=50) and no test has a deadline.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import dualgraph as dg

import op_runners as R

SETTINGS = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
INFER_RULES = dict(data_dependent={"getitem", "getitem_grad", "index_put", "one_hot"},
                   rank_needs_sizes={"squeeze"}, unknown_may_refuse={"cat"})

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
nonempty_shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
seeds = st.integers(0, 2 ** 31 - 1)


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _array(seed, shape, dtype=np.float32, lo=-2.0, hi=2.0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return np.asarray(rng.uniform(lo, hi, size=shape), dtype=dtype)
    if np.dtype(dtype).kind == "b":
        return np.asarray(rng.random(size=shape) < 0.5)
    return np.asarray(rng.integers(-3, 4, size=shape), dtype=dtype)


def _t(a, requires_grad=False):
    t = dg.tensor(a)
    return t.requires_grad_() if requires_grad else t


# ============================================================================ broadcasting
# name -> (dualgraph function, numpy reference, torch name); values of b kept away from 0
BINARY = {
    "add": (dg.add, np.add, "add"),
    "sub": (dg.sub, np.subtract, "sub"),
    "mul": (dg.mul, np.multiply, "mul"),
    "div": (dg.div, np.true_divide, "div"),
    "maximum": (dg.maximum, np.maximum, "maximum"),
    "minimum": (dg.minimum, np.minimum, "minimum"),
    "eq": (dg.eq, np.equal, "eq"),
    "lt": (dg.lt, np.less, "lt"),
    "ge": (dg.ge, np.greater_equal, "ge"),
    "logical_and": (dg.logical_and, np.logical_and, "logical_and"),
}
DTYPES = [np.float32, np.float64, np.int64, np.int32, np.bool_]


def _operand(seed, shape, dtype, name, second):
    a = _array(seed, shape, dtype, 0.5, 2.0) if (second and name == "div") else _array(seed, shape, dtype)
    if second and name == "div" and a.dtype.kind != "f":
        a = np.where(a == 0, 1, a).astype(a.dtype)
    return a


@SETTINGS
@given(name=st.sampled_from(sorted(BINARY)),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0, max_side=4),
       dtypes=st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES)), seed=seeds)
def test_binary_broadcasting_matches_numpy(name, shapes, dtypes, seed):
    fn, ref, _ = BINARY[name]
    (sa, sb), expected = shapes.input_shapes, shapes.result_shape
    if name == "sub":   # PyTorch refuses bool operands of `-` (checked against torch below)
        dtypes = tuple(np.int64 if d is np.bool_ else d for d in dtypes)
    a = _operand(seed, sa, dtypes[0], name, False)
    b = _operand(seed + 1, sb, dtypes[1], name, True)
    out = fn(_t(a), _t(b))
    assert tuple(out.shape) == expected == np.broadcast_shapes(sa, sb)
    want = ref(a.astype(np.float64), b.astype(np.float64))
    got = out.numpy()
    if got.dtype.kind == "b":   # bool results: comparisons, and bool (+ * max) bool
        assert np.array_equal(got, want.astype(bool))
    else:
        assert np.allclose(got.astype(np.float64), want, rtol=1e-5, atol=1e-6)


@SETTINGS
@given(name=st.sampled_from(sorted(BINARY)),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3),
       dtypes=st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES)), seed=seeds,
       scalar=st.sampled_from([None, 0, 1, 2.5, True]))
def test_binary_matches_torch(name, shapes, dtypes, seed, scalar):
    """Shape, dtype (PyTorch's promotion, 0-d and Python scalars included) and values; where
    PyTorch refuses the call, dualgraph raises the same builtin exception type."""
    torch = _torch()
    if torch is None:
        pytest.skip("torch not installed")
    fn, _, tname = BINARY[name]
    sa, sb = shapes.input_shapes
    a = _operand(seed, sa, dtypes[0], name, False)
    b = _operand(seed + 1, sb, dtypes[1], name, True)
    tf = getattr(torch, tname)
    if scalar is not None:
        assume(not (name == "div" and scalar == 0))
        assume(name not in ("logical_and", "maximum", "minimum"))   # torch takes no scalar there
        ours, oe = _attempt(lambda: fn(_t(a), scalar))
        theirs, te = _attempt(lambda: tf(torch.from_numpy(a), scalar))
    else:
        ours, oe = _attempt(lambda: fn(_t(a), _t(b)))
        theirs, te = _attempt(lambda: tf(torch.from_numpy(a), torch.from_numpy(b)))
    if te is not None:
        assert isinstance(oe, R.builtin_type(te)) and isinstance(oe, dg.DualGraphError), (
            f"torch raises {te!r}; dualgraph gives {oe!r}")
        return
    assert oe is None, f"dualgraph raises {oe!r} where torch computes"
    got, want = ours.numpy(), theirs.numpy()
    assert got.shape == want.shape and got.dtype == want.dtype
    if got.dtype.kind == "f":
        assert np.allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True)
    else:
        assert np.array_equal(got, want)


def _attempt(f):
    try:
        return f(), None
    except Exception as e:  # noqa: BLE001 - compared by the caller
        return None, e


@SETTINGS
@given(sa=shapes, sb=shapes, name=st.sampled_from(["add", "mul", "maximum", "eq"]))
def test_broadcast_errors_iff_numpy_refuses(sa, sb, name):
    fn = BINARY[name][0]
    try:
        expected = np.broadcast_shapes(sa, sb)
    except ValueError:
        expected = None
    a, b = _t(np.ones(sa, np.float32)), _t(np.ones(sb, np.float32))
    if expected is None:
        with pytest.raises(RuntimeError) as info:
            fn(a, b)
        assert isinstance(info.value, dg.DualGraphError)
        assert "must match the size of tensor b" in str(info.value)
    else:
        assert tuple(fn(a, b).shape) == expected


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3),
       name=st.sampled_from(["add", "sub", "mul", "div", "maximum"]), seed=seeds)
def test_binary_gradients_unbroadcast(shapes, name, seed):
    """Each input's gradient has that input's shape and equals the summed cotangent rule."""
    fn = BINARY[name][0]
    sa, sb = shapes.input_shapes
    a = _t(_operand(seed, sa, np.float64, name, False), True)
    b = _t(_operand(seed + 1, sb, np.float64, name, True), True)
    out, log = R.trace_call(lambda: _backward_sum(fn(a, b), a, b))
    ga, gb = out
    assert tuple(ga.shape) == sa and tuple(gb.shape) == sb
    if name in ("add", "sub"):   # d/da of sum(a op b) is the count of b's broadcast copies
        n = int(np.prod(shapes.result_shape)) // max(int(np.prod(sa)), 1) if np.prod(sa) else 0
        assert np.allclose(ga.numpy(), n)
    R.check_infer(log, **INFER_RULES)


def _backward_sum(y, *xs):
    return dg.autograd.grad(y.sum(), xs, allow_unused=True)


# ============================================================================ reductions
@st.composite
def reduction_case(draw, shape_strategy=shapes, allow_tuple=True):
    shape = draw(shape_strategy)
    n = len(shape)
    kinds = ["none", "int"] + (["tuple"] if allow_tuple and n else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        dim = None
    elif kind == "int":
        dim = draw(st.integers(-max(n, 1), max(n, 1) - 1))
    else:
        picked = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
        dim = tuple(d - n if draw(st.booleans()) else d for d in picked)
    return shape, dim, draw(st.booleans())


def _np_axis(dim, ndim):
    if dim is None or ndim == 0:
        return None
    return dim


REDUCTIONS = {"sum": (dg.sum, np.sum), "mean": (dg.mean, np.mean), "amax": (dg.amax, np.amax),
              "prod": (dg.prod, np.prod), "logsumexp": (dg.logsumexp, None),
              "var": (dg.var, None)}


@SETTINGS
@given(case=reduction_case(), name=st.sampled_from(sorted(REDUCTIONS)), seed=seeds)
def test_reduction_shapes_match_numpy(case, name, seed):
    shape, dim, keepdim = case
    fn, ref = REDUCTIONS[name]
    if name == "prod" and isinstance(dim, tuple):
        dim = dim[0]                 # PyTorch's prod takes one dim
    if name == "logsumexp" and dim is None:
        dim = tuple(range(len(shape))) or 0
    x = _array(seed, shape, np.float64)
    expected = np.sum(x, axis=_np_axis(dim, x.ndim), keepdims=keepdim).shape
    reduced = () if dim is None else (dim if isinstance(dim, tuple) else (dim,))
    if name == "amax" and x.ndim and (x.size == 0 and dim is None or
                                      any(shape[d] == 0 for d in reduced)):
        with pytest.raises((IndexError, RuntimeError)) as info:
            fn(_t(x), dim=dim, keepdim=keepdim)
        assert isinstance(info.value, dg.DualGraphError)
        return
    kw = {"keepdim": keepdim}
    out = fn(_t(x), dim, **kw) if name in ("prod", "logsumexp") else fn(_t(x), dim=dim, **kw)
    assert tuple(out.shape) == expected
    if ref is not None:
        with np.errstate(all="ignore"):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = ref(x, axis=_np_axis(dim, x.ndim), keepdims=keepdim)
        assert np.allclose(out.numpy(), want, rtol=1e-7, atol=1e-9, equal_nan=True)


@SETTINGS
@given(case=reduction_case(nonempty_shapes), name=st.sampled_from(["sum", "mean", "amax", "var"]), seed=seeds)
def test_reduction_gradient_shapes_and_rules(case, name, seed):
    shape, dim, keepdim = case
    fn = REDUCTIONS[name][0]
    x = _t(_array(seed, shape, np.float64), True)
    (g,), log = R.trace_call(lambda: dg.autograd.grad(fn(x, dim=dim, keepdim=keepdim).sum(), [x]))
    assert tuple(g.shape) == shape
    if name == "sum":
        assert np.all(g.numpy() == 1)
    if name == "mean":
        n = x.numel() // max(fn(x, dim=dim, keepdim=keepdim).numel(), 1)
        assert np.allclose(g.numpy(), 1.0 / n)
    R.check_infer(log, **INFER_RULES)


@SETTINGS
@given(case=reduction_case(nonempty_shapes, allow_tuple=False), seed=seeds,
       which=st.sampled_from(["argmax", "argmin"]))
def test_arg_reductions_match_numpy(case, seed, which):
    shape, dim, keepdim = case
    x = _array(seed, shape, np.float32)
    out = getattr(dg, which)(_t(x), dim=dim, keepdim=keepdim)
    ref = getattr(np, which)
    if dim is None:
        want = np.asarray(ref(x)).reshape((1,) * x.ndim if keepdim else ())
    elif x.ndim == 0:
        want = np.asarray(0)
    else:
        want = ref(x, axis=dim, keepdims=keepdim)
    assert out.dtype == dg.int64 and out.numpy().shape == want.shape
    assert np.array_equal(out.numpy(), want)


# ============================================================================ views
@st.composite
def view_case(draw):
    shape = draw(shapes)
    n = len(shape)
    kind = draw(st.sampled_from(["reshape", "view", "permute", "transpose", "squeeze",
                                 "unsqueeze", "flatten", "T"]))
    if kind in ("reshape", "view"):
        size = int(np.prod(shape))
        # a random factorisation of size, possibly with -1 in one place
        dims = []
        rest = size
        for _ in range(draw(st.integers(0, 3))):
            divs = [d for d in range(1, 5) if rest % d == 0] if rest else [0, 1, 2]
            d = draw(st.sampled_from(divs))
            dims.append(d)
            rest = rest // d if d else rest
        if size and rest != 1 or not size and 0 not in dims:
            dims.append(rest if size else 0)
        if size and dims and draw(st.booleans()):
            dims[draw(st.integers(0, len(dims) - 1))] = -1
        arg = tuple(dims)
    elif kind == "permute":
        arg = tuple(draw(st.permutations(range(n))))
    elif kind == "transpose":
        m = max(n, 1)
        arg = (draw(st.integers(-m, m - 1)), draw(st.integers(-m, m - 1)))
    elif kind == "squeeze":
        arg = None if draw(st.booleans()) or not n else draw(st.integers(-n, n - 1))
    elif kind == "unsqueeze":
        arg = draw(st.integers(-n - 1, n))
    elif kind == "flatten":
        m = max(n, 1)
        a, b = sorted([draw(st.integers(0, m - 1)), draw(st.integers(0, m - 1))])
        arg = (a, b)
    else:
        assume(n == 2)
        arg = None
    return shape, kind, arg


def _apply_view(lib, x, kind, arg):
    if kind == "reshape":
        return x.reshape(arg)
    if kind == "view":
        return x.view(arg)
    if kind == "permute":
        return x.permute(*arg)
    if kind == "transpose":
        return x.transpose(*arg)
    if kind == "squeeze":
        return x.squeeze() if arg is None else x.squeeze(arg)
    if kind == "unsqueeze":
        return x.unsqueeze(arg)
    if kind == "flatten":
        return x.flatten(*arg)
    return x.T


def _numpy_view(a, kind, arg):
    if kind in ("reshape", "view"):
        return a.reshape(arg)
    if kind == "permute":
        return np.transpose(a, arg)
    if kind == "transpose":
        return np.swapaxes(a, *arg) if a.ndim else a
    if kind == "squeeze":
        if arg is None:
            return np.squeeze(a)
        return np.squeeze(a, axis=arg) if a.ndim and a.shape[arg] == 1 else a
    if kind == "unsqueeze":
        return np.expand_dims(a, arg)
    if kind == "flatten":
        if a.ndim == 0:
            return a.reshape(1)
        s, e = arg
        return a.reshape(a.shape[:s] + (int(np.prod(a.shape[s:e + 1])),) + a.shape[e + 1:])
    return a.T


@SETTINGS
@given(case=view_case(), seed=seeds)
def test_view_shapes_match_numpy_and_torch(case, seed):
    shape, kind, arg = case
    a = _array(seed, shape)
    out = _apply_view(dg, _t(a), kind, arg)
    want = _numpy_view(a, kind, arg)
    assert tuple(out.shape) == want.shape
    assert np.array_equal(out.numpy(), want)
    torch = _torch()
    if torch is not None:
        tw = _apply_view(torch, torch.from_numpy(a.copy()), kind, arg)
        assert tuple(tw.shape) == tuple(out.shape)
        assert np.array_equal(tw.numpy(), out.numpy())


@SETTINGS
@given(case=view_case(), seed=seeds)
def test_view_gradients_and_rules(case, seed):
    """The gradient of a view is the cotangent moved back to the input's shape; every shape
    rule met on the way agrees with eager."""
    shape, kind, arg = case
    x = _t(_array(seed, shape, np.float64), True)
    y = _apply_view(dg, x, kind, arg)
    v = _array(seed + 1, tuple(y.shape), np.float64)
    (g,), log = R.trace_call(lambda: dg.autograd.grad(_apply_view(dg, x, kind, arg), [x], [dg.tensor(v)]))
    assert tuple(g.shape) == shape
    # each element of the view is one element of x: the gradient is v's entries put back
    idx = _numpy_view(np.arange(int(np.prod(shape))).reshape(shape), kind, arg)
    want = np.zeros(int(np.prod(shape)))
    np.add.at(want, idx.reshape(-1), v.reshape(-1))
    assert np.allclose(g.numpy().reshape(-1), want)
    R.check_infer(log, **INFER_RULES)


# ============================================================================ shape rules
@st.composite
def matmul_case(draw):
    k = draw(st.integers(0, 3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, min_side=1, max_side=3))
    ba, bb = batch.input_shapes
    a_vec, b_vec = draw(st.booleans()), draw(st.booleans())
    sa = (k,) if a_vec else ba + (draw(st.integers(0, 3)), k)
    sb = (k,) if b_vec else bb + (k, draw(st.integers(0, 3)))
    return sa, sb


@SETTINGS
@given(case=matmul_case(), seed=seeds)
def test_matmul_infer_and_values(case, seed):
    sa, sb = case
    a, b = _array(seed, sa, np.float64), _array(seed + 1, sb, np.float64)
    x, y = _t(a, True), _t(b, True)
    out, log = R.trace_call(lambda: dg.matmul(x, y))
    assert out.detach().numpy().shape == np.matmul(a, b).shape
    assert np.allclose(out.detach().numpy(), np.matmul(a, b))
    grads, glog = R.trace_call(lambda: dg.autograd.grad(out.sum(), [x, y]))
    assert tuple(grads[0].shape) == sa and tuple(grads[1].shape) == sb
    R.check_infer(log + glog, **INFER_RULES)


@st.composite
def getitem_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    key = []
    for d in shape:
        kind = draw(st.sampled_from(["slice", "int", "full", "none"] if d else ["slice", "full", "none"]))
        if kind == "slice":
            lo, hi = draw(st.integers(-d - 1, d + 1)), draw(st.integers(-d - 1, d + 1))
            key.append(slice(lo, hi, draw(st.integers(1, 3))))
        elif kind == "int":
            key.append(draw(st.integers(-d, d - 1)))
        elif kind == "none":
            key.append(None)
            key.append(slice(None))
        else:
            key.append(slice(None))
    if draw(st.booleans()) and key:
        key[draw(st.integers(0, len(key) - 1))] = Ellipsis
        if key.count(Ellipsis) > 1:
            key = [k for k in key if k is not Ellipsis] + [Ellipsis]
    return shape, tuple(key)


@SETTINGS
@given(case=getitem_case(), seed=seeds)
def test_basic_indexing_matches_numpy(case, seed):
    shape, key = case
    a = _array(seed, shape, np.float64)
    try:
        want = a[key]
    except IndexError:
        with pytest.raises(IndexError):
            _t(a)[key]
        return
    x = _t(a, True)
    out, log = R.trace_call(lambda: x[key])
    assert out.detach().numpy().shape == want.shape and np.array_equal(out.detach().numpy(), want)
    (g,), glog = R.trace_call(lambda: dg.autograd.grad(out.sum(), [x]))
    mask = np.zeros(shape)
    mask[key] = 1
    assert np.array_equal(g.numpy(), mask)
    R.check_infer(log + glog, **INFER_RULES)


@SETTINGS
@given(base=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3), seed=seeds,
       n=st.integers(1, 3), dim=st.integers(-3, 2), stack=st.booleans())
def test_cat_stack_infer_and_values(base, seed, n, dim, stack):
    nd = len(base) + (1 if stack else 0)
    assume(-nd <= dim < nd)
    rng = np.random.default_rng(seed)
    arrays = []
    for _ in range(n):
        s = list(base)
        if not stack:
            s[dim] = int(rng.integers(0, 3))
        arrays.append(_array(int(rng.integers(0, 2 ** 31)), tuple(s), np.float64))
    xs = [_t(a, True) for a in arrays]
    fn = dg.stack if stack else dg.cat
    out, log = R.trace_call(lambda: fn(xs, dim))
    want = (np.stack if stack else np.concatenate)(arrays, axis=dim)
    assert np.array_equal(out.detach().numpy(), want)
    grads, glog = R.trace_call(lambda: dg.autograd.grad(out.sum(), xs, allow_unused=True))
    for a, g in zip(arrays, grads):
        assert g is None and a.size == 0 or np.all(g.numpy() == 1) and g.numpy().shape == a.shape
    R.check_infer(log + glog, **INFER_RULES)


@SETTINGS
@given(shape=shapes, seed=seeds,
       name=st.sampled_from(["exp", "tanh", "sigmoid", "relu", "abs", "neg", "sqrt", "log1p"]),
       dtype=st.sampled_from([np.float32, np.float64, np.int64]))
def test_unary_infer_dtype_and_torch(shape, seed, name, dtype):
    a = _array(seed, shape, dtype, 0.0, 2.0) if dtype != np.int64 else np.asarray(np.abs(_array(seed, shape, dtype)))
    x = _t(a, a.dtype.kind == "f")
    out, log = R.trace_call(lambda: getattr(dg, name)(x))
    if x.requires_grad:
        _, glog = R.trace_call(lambda: dg.autograd.grad(out.sum(), [x]))
        log = log + glog
    R.check_infer(log, **INFER_RULES)
    torch = _torch()
    if torch is not None:
        want = getattr(torch, name)(torch.from_numpy(a)).numpy()
        got = out.detach().numpy()
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.allclose(got, want, rtol=1e-5, atol=1e-6)
