"""The numba backend's kernels that round differently from numpy's, used in both modes alike.

With `dg.set_fusion("numba")` the compiler fuses elementwise regions and optimizer updates into
numba loops (graph/passes/). Most fused arithmetic gives numpy's bits exactly, but two kinds of
kernel cannot: numba's scalar exp, log, log1p, tanh, sin and cos (libm's) differ in the last bit
from numpy's vectorised ones on about a third of the inputs, and a loop that sums a row one
element at a time rounds otherwise than numpy's pairwise sums. So with the backend on, these
kernels are numba's in eager code too, the way `dg.set_blas` picks one BLAS for both modes:
eager and compiled always compute the same bits, whichever setting is on.

- `unary(ufunc)`: the kernel of exp, log, ... On a float32/float64 array of 1 to SMALL elements
  (the sizes the fusion pass inlines these into its loops), with the backend on, numba's scalar
  function in a loop; otherwise the numpy ufunc. Bigger arrays keep numpy: its SIMD loops are
  ~10x faster per element there, and the fusion pass leaves them unfused.
- `cross_entropy` / `cross_entropy_backward`: the loss over (N, C) float logits at integer
  targets, reduced by mean or sum, one loop each way, which replaces numpy's ten-odd calls
  (~40 us less per MLP training step: benchmarks/train_step.py). None when they do not apply
  or a target is out of range: the caller's numpy kernel then runs (and raises PyTorch's error).
- `max_pool2x2`: max_pool2d's forward over 2x2 windows at stride 2 that tile a float array
  exactly (LeNet's and most CNNs' pool), one pass, PyTorch's pick to the bit; None otherwise.

Also here, as everything numba-compiled needs it: the backend's setting (`BACKEND`, written by
`dg.set_fusion`), numba's start in a background thread, and `compile_kernel` (a kernel's
source compiled once a process, its machine code cached on disk for the next one).
"""
import atexit
import hashlib
import importlib.util
import os
import pathlib
import sys
import threading

import numpy as np

BACKEND = [os.environ.get("DUALGRAPH_FUSION") or None]   # None or "numba" (dg.set_fusion)
SMALL = 64   # elements: numba's scalar libm beats numpy's SIMD loops only on arrays this small
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_KERNELS = {}        # source -> compiled kernel, in this process
_START = []          # the thread starting numba (at most one per process)
_NO_NUMBA = ("elementwise fusion with numba needs the numba package: "
             "pip install 'dualgraph[fast]'")


# ---------------------------------------------------------------- numba's start and the kernel cache
def start_numba():
    if not _START:
        t = threading.Thread(target=_warm_up, name="dualgraph-numba-start", daemon=True)
        _START.append(t)
        t.start()
        atexit.register(t.join)  # (a daemon thread inside LLVM at interpreter exit can crash it)


# a kernel loaded (from the disk cache after the first time) and run once: numba's whole start
_WARM_SOURCE = ('from numba import njit\n\n\n@njit(cache=True, nogil=True, error_model="numpy")\n'
                'def kernel(out):\n    out[0] = out[0] + 1.0\n')


def _warm_up():
    try:
        import numba  # noqa: F401
        _load(_WARM_SOURCE)(np.zeros(1))
    except Exception:  # noqa: BLE001 - compile_kernel reports numba's failures itself
        pass


def _numba():
    if _START:
        _START[0].join()  # (numba's start in the background, if not done yet)
    try:
        import numba
    except ImportError:
        from ..errors import DGRuntimeError
        raise DGRuntimeError(_NO_NUMBA) from None
    return numba


def cache_dir():
    d = os.environ.get("DUALGRAPH_CACHE_DIR")
    return pathlib.Path(d) if d else pathlib.Path.home() / ".cache" / "dualgraph" / "fused"


def compile_kernel(source):
    """The numba kernel of `source`: from this process's table, else from a module written once
    to the cache directory (numba keeps its machine code beside it: a later process loads it)."""
    k = _KERNELS.get(source)
    if k is not None:
        return k
    _numba()
    return _load(source)


def _load(source):
    digest = hashlib.sha1(source.encode()).hexdigest()[:20]
    d = cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"dg_fused_{digest}.py"
    if not path.exists() or path.read_text() != source:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(f"dg_fused_{digest}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # (numba's cache finds the kernel's globals by module name)
    spec.loader.exec_module(mod)
    k = _KERNELS[source] = mod.kernel
    return k


# ---------------------------------------------------------------- exp, log, ... on small arrays
_UNARY = '''import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def kernel(a, out):
    for i in range(out.shape[0]):
        out[i] = np.{name}(a[i])
'''


def takes_small(shape, dtype):
    """Whether a transcendental ufunc's result of this shape and dtype is numba's (with the
    backend on): a float32/float64 array of 1 to SMALL elements. The fusion pass inlines
    these ufuncs on exactly these arrays, so a fused kernel and this one agree."""
    if not shape or dtype not in _FLOATS:
        return False
    n = 1
    for d in shape:
        n *= d
    return 0 < n <= SMALL


def unary(ufunc):
    """The kernel k(x, out=None) of a transcendental ufunc (see the module docstring)."""
    source = _UNARY.format(name=ufunc.__name__)

    def kernel(x, out=None):
        if BACKEND[0] is not None and type(x) is np.ndarray and takes_small(x.shape, x.dtype) \
                and (out is None or (out.dtype == x.dtype and out.shape == x.shape)):
            k = compile_kernel(source)
            a = np.ascontiguousarray(x).reshape(-1)
            if out is None:
                r = np.empty(x.shape, x.dtype)
                k(a, r.reshape(-1))
                return r
            if out.flags.c_contiguous:
                k(a, out.reshape(-1))
            else:
                flat = np.empty(out.size, out.dtype)
                k(a, flat)
                out[...] = flat.reshape(out.shape)
            return out
        return ufunc(x) if out is None else ufunc(x, out=out)
    kernel.__name__ = ufunc.__name__
    kernel.ufunc = ufunc
    return kernel


# ---------------------------------------------------------------- cross_entropy
# what both loops do per row: the targets' check, the row's maximum (NaN wins, as np.max's)
_ROWS = '''import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def _count(t, c, ignore_index):
    """How many rows count; -1 when a target is out of range (and not ignored)."""
    count = 0
    for i in range(t.shape[0]):
        ti = t[i]
        if ti == ignore_index:
            continue
        if ti < 0 or ti >= c:
            return -1
        count += 1
    return count


@njit(cache=True, nogil=True, error_model="numpy")
def _row_max(x, i):
    m = x[i, 0]
    for j in range(1, x.shape[1]):
        v = x[i, j]
        if v > m or v != v:
            m = v
    return m
'''

_CE_FORWARD = _ROWS + '''

@njit(cache=True, nogil=True, error_model="numpy")
def kernel(x, t, ignore_index, mean, res):
    """res[0] = the loss; returns False when a target is out of range (and not ignored)."""
    n, c = x.shape
    count = _count(t, c, ignore_index)
    if count < 0:
        return False
    total = x.dtype.type(0)
    for i in range(n):
        ti = t[i]
        if ti == ignore_index:
            continue
        m = _row_max(x, i)
        s = x.dtype.type(0)
        for j in range(c):
            s += np.exp(x[i, j] - m)
        total += np.log(s) - (x[i, ti] - m)
    res[0] = total / x.dtype.type(count) if mean else total
    return True
'''

_CE_BACKWARD = _ROWS + '''

@njit(cache=True, nogil=True, error_model="numpy")
def kernel(g, x, t, ignore_index, mean, out):
    """out = d loss / d x for the upstream gradient g (a 0-d array); False as the forward."""
    n, c = x.shape
    count = _count(t, c, ignore_index)
    if count < 0:
        return False
    scale = g[()] / x.dtype.type(count) if mean else g[()]
    zero = x.dtype.type(0)   # an ignored row's scale, as numpy's kernel has it (a select)
    for i in range(n):
        ti = t[i]
        row = scale
        if ti == ignore_index:   # (the numpy kernel's safe target for it: class 0)
            ti = 0
            row = zero
        m = _row_max(x, i)
        s = x.dtype.type(0)
        for j in range(c):
            e = np.exp(x[i, j] - m)
            out[i, j] = e
            s += e
        for j in range(c):
            out[i, j] = out[i, j] / s * row
        out[i, ti] -= row
    return True
'''


def _ce_applies(x, target, ignore_index, reduction):
    return (BACKEND[0] is not None and reduction in ("mean", "sum") and type(ignore_index) is int
            and type(x) is np.ndarray and x.ndim == 2 and x.dtype in _FLOATS
            and x.flags.c_contiguous and type(target) is np.ndarray and target.ndim == 1
            and target.dtype.kind in "iu" and len(target) == x.shape[0])


def cross_entropy(x, target, ignore_index, reduction):
    """The loss as a 0-d array, or None (see the module docstring)."""
    if not _ce_applies(x, target, ignore_index, reduction):
        return None
    res = np.empty(1, x.dtype)
    if compile_kernel(_CE_FORWARD)(x, target, ignore_index, reduction == "mean", res):
        return res.reshape(())
    return None


def cross_entropy_backward(g, x, target, ignore_index, reduction):
    """d loss / d x for the upstream gradient g (a number or 0-d array), or None."""
    if not _ce_applies(x, target, ignore_index, reduction) or np.ndim(g) != 0:
        return None
    out = np.empty(x.shape, x.dtype)
    gg = np.asarray(g, x.dtype)
    if compile_kernel(_CE_BACKWARD)(gg, x, target, ignore_index, reduction == "mean", out):
        return out
    return None


# ---------------------------------------------------------------- max_pool2d, 2x2 windows at stride 2
# PyTorch's rule per window, in row-major order: keep a value that is > the max so far or NaN
# (so the last NaN, else the first maximum, wins), the value it picks to the bit (numpy's
# np.maximum passes may give another NaN of the window). One pass with selects that vectorise,
# 2.8-4x faster than numpy's four strided passes (benchmarks/kernels.py). Not the backward: a
# loop that also writes the four gradients did not vectorise and ran slower than numpy's.
_POOL_FORWARD = '''import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def kernel(x, out):
    p, h, w = x.shape
    for k in range(p):
        for i in range(h // 2):
            r0 = x[k, 2 * i]
            r1 = x[k, 2 * i + 1]
            o = out[k, i]
            for j in range(w // 2):
                m = r0[2 * j]
                v = r0[2 * j + 1]
                m = v if (v > m) | (v != v) else m
                v = r1[2 * j]
                m = v if (v > m) | (v != v) else m
                v = r1[2 * j + 1]
                o[j] = v if (v > m) | (v != v) else m
'''


def _pool_applies(x, kernel_size, stride, padding, dilation):
    return (BACKEND[0] is not None and type(x) is np.ndarray and x.ndim == 4
            and x.dtype in _FLOATS and x.flags.c_contiguous and x.size
            and x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0
            and tuple(kernel_size) == (2, 2) and tuple(stride) == (2, 2)
            and not any(padding) and tuple(dilation) == (1, 1))


def max_pool2x2(x, kernel_size, stride, padding, dilation):
    """max_pool2d of 2x2 windows at stride 2 tiling x exactly, or None (see above)."""
    if not _pool_applies(x, kernel_size, stride, padding, dilation):
        return None
    n, c, h, w = x.shape
    out = np.empty((n, c, h // 2, w // 2), x.dtype)
    compile_kernel(_POOL_FORWARD)(x.reshape(n * c, h, w), out.reshape(n * c, h // 2, w // 2))
    return out
