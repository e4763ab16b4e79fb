"""TensorFlow 1.x's training names in a graph: dg.group, dg.global_variables_initializer,
dg.trainable_variables (Optimizer.minimize lives with the optimizers)."""
from ..ops.registry import Spec
from .core import SymbolicTensor, GROUP, CONSTANT


def _graph():
    from .core import get_default_graph
    return get_default_graph()


def group(*updates, name="group"):
    """One fetchable op running every update given (once per run); it fetches as None.
    Eagerly the updates have already run: returns None."""
    from ..mode import executing_eagerly, current
    flat = []
    for u in updates:
        flat.extend(u if isinstance(u, (list, tuple)) else [u])
    syms = [u for u in flat if isinstance(u, SymbolicTensor)]
    if executing_eagerly() and not syms:
        return None
    g = syms[0].graph if syms else current().graph
    return g.add_node(GROUP, [current().lift(u) if not executing_eagerly() else u for u in syms], {},
                      Spec((), GROUP.infer().dtype), name=name).out


def global_variables_initializer():
    """An op that re-sets every dg.Variable of the default graph to its initial value."""
    from ..mode import executing_eagerly
    g = _graph()
    if executing_eagerly() and not g.nodes:  # no graph was built: eager variables need no init
        return None
    from .builder import graph_mode
    with graph_mode(g):
        ups = []
        for st in list(g._states.values()):
            init = st.handle.node.attrs.get("initial")
            if init is not None:
                c = g.add_node(CONSTANT, (), {"value": init}, Spec(init.shape, init.dtype), name="init").out
                ups.append(g.assign(st.ref, c))
        return group(*ups, name="init")


def trainable_variables():
    """The trainable variables (dg.Variable and captured tensors that require grad) of the
    default graph."""
    return _graph().trainable_variables()


def global_variables():
    return _graph().variables()


# ================================================================ TensorFlow 1.x's op names
# Thin names over the registry's ops (no kernels of their own): the same call builds a node in
# a graph and runs now eagerly.
def _as_input(x):
    from ..tensor_methods import TensorMethods
    if isinstance(x, TensorMethods):
        return x
    import numpy as np
    from ..tensor import tensor
    return tensor(np.asarray(x))


def _axis(axis, reduction_indices):
    if reduction_indices is not None:
        if axis is not None:
            from ..errors import DGValueError
            raise DGValueError("pass either axis= or reduction_indices=, not both")
        axis = reduction_indices
    if isinstance(axis, list):
        axis = tuple(axis)
    return axis


def reduce_sum(input_tensor, axis=None, keepdims=False, name=None, reduction_indices=None):
    """tf.reduce_sum: the sum over `axis` (an int, a list of ints or None: every axis)."""
    from ..ops.reductions import sum as _sum
    return _sum(_as_input(input_tensor), dim=_axis(axis, reduction_indices), keepdim=bool(keepdims))


def reduce_mean(input_tensor, axis=None, keepdims=False, name=None, reduction_indices=None):
    """tf.reduce_mean (floating inputs: an integer mean raises PyTorch's error, unlike TF's
    truncating integer mean)."""
    from ..ops.reductions import mean as _mean
    return _mean(_as_input(input_tensor), dim=_axis(axis, reduction_indices), keepdim=bool(keepdims))


def reduce_max(input_tensor, axis=None, keepdims=False, name=None, reduction_indices=None):
    """tf.reduce_max: the largest value over `axis` (values only: dg.amax)."""
    from ..ops.reductions import amax
    return amax(_as_input(input_tensor), dim=_axis(axis, reduction_indices), keepdim=bool(keepdims))


def reduce_min(input_tensor, axis=None, keepdims=False, name=None, reduction_indices=None):
    """tf.reduce_min (dg.amin)."""
    from ..ops.reductions import amin
    return amin(_as_input(input_tensor), dim=_axis(axis, reduction_indices), keepdim=bool(keepdims))


def square(x, name=None):
    """tf.square and torch.square: x ** 2 (the same bits as x * x; a bool tensor gives int64, as
    PyTorch's)."""
    from ..ops.elementwise_math import square as _square
    return _square(_as_input(x))


def stop_gradient(input, name=None):  # noqa: A002  (TensorFlow's name)
    """tf.stop_gradient: the same value, through which no gradient flows (x.detach())."""
    return _as_input(input).detach()


def _dtype(dtype):
    from .. import dtypes as _dt
    if dtype is None:
        return _dt.float32
    if isinstance(dtype, _dt.DType):
        return dtype
    from ..errors import DGTypeError
    raise DGTypeError(f"dtype must be a dualgraph dtype (dg.float32, ...), got {dtype!r}")


def _seeded(seed, fn):
    """An op-level seed: eagerly the draw comes from its own generator seeded with `seed` (the
    same numbers every time, as a TF op with a seed in a fresh program). In a graph a random
    op draws from the global generator at every run; a per-op seed would need a generator
    per node, which dualgraph's random ops do not have: refused, not ignored."""
    if seed is None:
        return fn()
    from ..mode import executing_eagerly
    from ..errors import DGValueError
    if not executing_eagerly():
        raise DGValueError(
            "dg.random_normal/random_uniform(seed=...) while a graph is built: dualgraph's random "
            "ops draw from the global generator at every run and have no per-op seed. Call "
            "dg.manual_seed(seed) before running the graph, and build the op without seed=")
    from .. import random as _random
    saved = _random.get_rng_state()
    _random.manual_seed(int(seed))
    try:
        return fn()
    finally:
        _random.set_rng_state(saved)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None, name=None):
    """tf.random_normal (tf.random.normal): normal draws of the given shape."""
    from ..ops.creation import randn
    dt = _dtype(dtype)
    shape = tuple(int(s) for s in (shape if isinstance(shape, (list, tuple)) else [shape]))

    def draw():
        z = randn(*shape, dtype=dt) if shape else randn((), dtype=dt)
        if stddev != 1.0:
            z = z * stddev
        if mean != 0.0:
            z = z + mean
        return z
    return _seeded(seed, draw)


def random_uniform(shape, minval=0, maxval=None, dtype=None, seed=None, name=None):
    """tf.random_uniform (tf.random.uniform): uniform draws in [minval, maxval) (maxval
    defaults to 1 for floats; an integer dtype needs maxval)."""
    from ..ops.creation import rand, randint
    from .. import dtypes as _dt
    from ..errors import DGValueError
    dt = _dtype(dtype)
    shape = tuple(int(s) for s in (shape if isinstance(shape, (list, tuple)) else [shape]))
    if not dt.is_floating_point:
        if maxval is None:
            raise DGValueError(f"Must specify maxval for integer dtype {dt}")

        def draw():
            return randint(int(minval), int(maxval), shape, dtype=dt)
        return _seeded(seed, draw)
    hi = 1.0 if maxval is None else maxval

    def draw():
        u = rand(*shape, dtype=dt) if shape else rand((), dtype=dt)
        if hi - minval != 1:
            u = u * (hi - minval)
        if minval != 0:
            u = u + minval
        return u
    return _seeded(seed, draw)


def print(*inputs, output_stream=None, sep=" ", end="\n", summarize=3, name=None):  # noqa: A001
    """tf.print. Eagerly: prints the inputs now (tensors as their values) and returns None.
    While a graph is built (dg.graph_mode, a Session's graph, dg.function) it raises: a
    print that runs with the graph would need a side-effect op kept in program order, which
    dualgraph's graphs do not have yet (only assigns are kept); print the fetched values, or
    return them from the dg.function."""
    import builtins
    import sys
    from ..mode import executing_eagerly
    from ..errors import DGRuntimeError
    from ..tensor_methods import TensorMethods
    if not executing_eagerly() or any(hasattr(x, "graph") and isinstance(x, TensorMethods) for x in inputs):
        raise DGRuntimeError(
            "dg.print while a graph is built: it would print once, when the graph is traced, "
            "not at each run (dualgraph has no run-time print op). Fetch the values with "
            "Session.run (or return them from the dg.function) and print them in Python")
    parts = []
    for x in inputs:
        if isinstance(x, TensorMethods):
            parts.append(str(x.detach().numpy()) if x.dim() else str(x.item()))
        else:
            parts.append(str(x))
    stream = sys.stderr if output_stream is None else output_stream
    if isinstance(stream, str):
        if stream.startswith("file://"):
            with open(stream[len("file://"):], "a") as f:
                builtins.print(*parts, sep=sep, end=end, file=f)
            return None
        if stream not in ("stdout", "stderr"):
            raise DGRuntimeError(f"dg.print: output_stream must be a file object, 'stdout', "
                                 f"'stderr' or 'file://PATH', got {stream!r}")
        stream = getattr(sys, stream)
    builtins.print(*parts, sep=sep, end=end, file=stream)
    return None
