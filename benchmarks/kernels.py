"""Issue 14: the numpy kernels made faster with the same bits, before ("old", the formulas
they replaced, kept in this file) and after ("new", the kernels in dualgraph/ops), one thread
(OMP/OPENBLAS_NUM_THREADS=1 before numpy loads), min over repeats, old and new interleaved.
Each pair is first checked to give the same bits (tests/test_kernel_bits.py does so on salted
inputs: ties, NaN, inf, -0.0, ignored rows), except the rows marked ROUNDS_DIFFERENTLY or
COLUMN_SUMS (a sum taken in another order: the same within float32 rounding).

    python benchmarks/kernels.py [--quick] [--step]

--step also times the compiled and eager train steps of benchmarks/train_step.py (CNN and MLP,
batch 64) with the old kernels swapped into the registry (op.forward / op.out_kernel; a
compiled plan binds its kernels when it is built, so it is built while they are swapped in)
against the new, interleaved (~1 min more).
"""
import os
import sys
import timeit

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from dualgraph.ops import nn_ops as K  # noqa: E402
from dualgraph.ops import elementwise as E  # noqa: E402
from dualgraph.ops import reductions as R  # noqa: E402


# ================================================================ the old kernels
def old_log_softmax(x, dim):
    if x.dtype.kind != "f":
        raise TypeError("log_softmax of integers")
    axis = R._kaxis(dim, x.ndim)
    s = np.subtract(x, np.maximum.reduce(x, axis=axis, keepdims=True, initial=-np.inf),
                    out=np.empty_like(x))
    with np.errstate(divide="ignore"):
        s -= np.log(np.add.reduce(np.exp(s), axis=axis, keepdims=True))
    return s


_ALL_VALID = {}  # n -> the all-True mask (the old code recognised it by identity)


def _all_valid(n):
    if n not in _ALL_VALID:
        _ALL_VALID[n] = np.ones(n, bool)
    return _ALL_VALID[n]


def old_nll_rows(logp, target, ignore_index):
    c = logp.shape[1]
    if target.size and not 0 <= ignore_index < c:
        lo, hi = np.minimum.reduce(target), np.maximum.reduce(target)
        if 0 <= lo and hi < c:
            return _all_valid(target.shape[0]), target
    valid = target != ignore_index
    safe = np.where(valid, target, 0)
    bad = valid & ((safe < 0) | (safe >= c))
    if bad.any():
        raise IndexError(f"Target {int(target[bad][0])} is out of bounds.")
    return valid, safe


def old_nll(logp, target, ignore_index, reduction):
    valid, safe = old_nll_rows(logp, target, ignore_index)
    picked = logp[np.arange(len(safe)), safe]
    if valid is _ALL_VALID.get(len(safe)):
        picked = np.negative(picked, out=picked)
    else:
        picked = np.where(valid, -picked, 0).astype(logp.dtype, copy=False)
    if reduction == "none":
        return picked
    total = np.add.reduce(picked, dtype=logp.dtype)
    if reduction == "sum":
        return np.asarray(total)
    with np.errstate(all="ignore"):
        return np.asarray(total / logp.dtype.type(valid.sum()))


def old_ce(x, target, ignore_index, reduction):
    return old_nll(old_log_softmax(x, 1), target, ignore_index, reduction)


def old_ce_backward(g, x, target, ignore_index, reduction):
    logp = old_log_softmax(x, 1)
    valid, safe = old_nll_rows(logp, target, ignore_index)
    if reduction == "mean":
        with np.errstate(all="ignore"):
            scale = (g / x.dtype.type(valid.sum())) * valid
    else:
        scale = g * valid
    scale = np.asarray(scale, dtype=x.dtype)
    r = np.exp(logp, out=logp)
    r *= scale[:, None]
    r[np.arange(len(safe)), safe] -= scale
    return r


# the kernel before issue 14 is still the general path (every geometry but 2x2/2): itself
old_max_pool2d_backward = K._max_pool2d_backward_general


def old_relu_backward(g, y, out=None):
    """0 where y <= 0, else g (PyTorch's threshold_backward: a NaN output passes its gradient,
    a zeroed one is +0.0): one mask, g copied through it."""
    if np.ndim(g) == 0 or np.ndim(y) == 0:  # (numpy scalars: no out= to write into)
        r = np.asarray(np.where(np.less_equal(y, 0), 0, g), dtype=np.result_type(g, y))
        if out is None:
            return r
        out[...] = r
        return out
    keep = np.less_equal(y, 0)
    np.logical_not(keep, out=keep)   # (not y <= 0: a NaN output keeps its gradient)
    out = np.multiply(g, keep, out=out)
    return np.add(out, 0.0, out=out)  # -0.0 (a negative g masked) -> +0.0; nothing else changes
    # (np.where / copyto(where=) would do it in one call, at 8x the time of these four passes)


def old_relu(x):
    """relu against the scalar 0 (numpy's slower scalar-operand loop for maximum)."""
    return np.maximum(0, x, dtype=x.dtype)


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        u = np.dtype(f"u{a.dtype.itemsize}")
        a, b = np.ascontiguousarray(a).view(u), np.ascontiguousarray(b).view(u)
    return np.array_equal(a, b)


def us(fn, number, repeat):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def cases():
    rng = np.random.default_rng(0)
    out = []
    for n, c in [(64, 10), (512, 10), (256, 100)]:
        x = rng.standard_normal((n, c)).astype(np.float32)
        t = rng.integers(0, c, n)
        g = np.asarray(1.0, np.float32)
        cols = f" {COLUMN_SUMS}" if R._lse_by_columns(x, 1) else ""
        out += [
            (f"log_softmax ({n}, {c}){cols}", lambda x=x: old_log_softmax(x, 1),
             lambda x=x: R._log_softmax_kernel(x, 1)),
            (f"cross_entropy ({n}, {c}){cols}", lambda x=x, t=t: old_ce(x, t, -100, "mean"),
             lambda x=x, t=t: K._ce_kernel(x, t, -100, "mean")),
            (f"cross_entropy_backward ({n}, {c}){cols}",
             lambda x=x, t=t, g=g: old_ce_backward(g, x, t, -100, "mean"),
             lambda x=x, t=t, g=g: K._ce_backward_kernel(g, x, t, -100, "mean")),
        ]
    for shape in [(64, 256), (512, 256), (32, 6, 28, 28), (32, 16, 10, 10), (64, 64, 32, 32)]:
        x = rng.standard_normal(shape).astype(np.float32)     # (the last: in 1M slices)
        out.append((f"relu {shape}", lambda x=x: old_relu(x), lambda x=x: E._relu(x)))
    for shape in [(64, 256), (512, 256), (64, 8, 28, 28)]:
        g = rng.standard_normal(shape).astype(np.float32)
        y = np.maximum(rng.standard_normal(shape), 0).astype(np.float32)
        out.append((f"relu_backward {shape}", lambda g=g, y=y: old_relu_backward(g, y),
                    lambda g=g, y=y: E._relu_backward(g, y)))
    attrs = dict(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=False)
    for shape in [(64, 8, 28, 28), (32, 6, 28, 28), (32, 16, 10, 10)]:
        x = rng.standard_normal(shape).astype(np.float32)
        g = rng.standard_normal(shape[:2] + (shape[2] // 2, shape[3] // 2)).astype(np.float32)
        out.append((f"max_pool2d_backward 2x2/2 {shape}",
                    lambda g=g, x=x: old_max_pool2d_backward(g, x, **attrs),
                    lambda g=g, x=x: K._max_pool2d_backward_kernel(g, x, **attrs)))
    try:
        import numba  # noqa: F401
    except ImportError:
        numba = None
    if numba is not None:   # the numba backend's one-pass forward against numpy's passes
        from dualgraph.ops import numba_loops as L

        def with_backend(name, f):
            def run():
                saved, L.BACKEND[0] = L.BACKEND[0], name
                try:
                    return f()
                finally:
                    L.BACKEND[0] = saved
            return run
        for shape in [(32, 6, 28, 28), (32, 16, 10, 10)]:
            x = rng.standard_normal(shape).astype(np.float32)
            f = (lambda x=x: K._max_pool2d_kernel(x, **attrs))
            out.append((f"max_pool2d 2x2/2 {shape}: numpy vs numba",
                        with_backend(None, f), with_backend("numba", f)))
    for shape in [(64, 8, 28, 28), (32, 6, 28, 28), (32, 16, 10, 10)]:   # a conv bias's grad
        x = rng.standard_normal(shape).astype(np.float32)
        out.append((f"sum {shape} over (0, 2, 3) {ROUNDS_DIFFERENTLY}",
                    lambda x=x: np.add.reduce(x, axis=(0, 2, 3)),
                    lambda x=x: R._sum_kernel(x, [0, 2, 3])))
    return out


# a kernel whose new form adds in another order: checked within float32 rounding, not bits
ROUNDS_DIFFERENTLY = "(batch first)"
COLUMN_SUMS = "(class sums in order)"   # log_softmax over few classes: R._lse_by_columns


def main():
    quick = "--quick" in sys.argv
    print(f"numpy {np.__version__}, one thread; min over repeats, us per call")
    print(f"{'kernel':<52} {'old':>9} {'new':>9} {'new/old':>8}")
    for name, old, new in cases():
        if ROUNDS_DIFFERENTLY in name or COLUMN_SUMS in name:
            assert np.allclose(old(), new(), rtol=1e-5, atol=1e-3), name
        else:
            assert same_bits(old(), new()), name
        t0 = old()
        number = 20 if t0 is not None and np.asarray(t0).size > 50000 else 2000
        if quick:
            number = max(1, number // 10)
        a = b = float("inf")
        for _ in range(3):   # interleaved
            a = min(a, us(old, number, 3))
            b = min(b, us(new, number, 3))
        print(f"{name:<52} {a:9.1f} {b:9.1f} {b / a:8.2f}")


def step():
    import train_step as TS
    ops = {K.cross_entropy_op: (old_ce, None), K.cross_entropy_backward_op: (old_ce_backward, None),
           K.max_pool2d_backward_op: (old_max_pool2d_backward, None),
           E.relu_backward_op: (old_relu_backward, old_relu_backward),
           R.log_softmax_op: (old_log_softmax, None)}
    new = {op: (op.forward, op.out_kernel) for op in ops}

    def swap(old):
        for op, (f, o) in ops.items():
            if old:
                op.forward = f
                op.out_kernel = o if o is not None else op.out_kernel
            else:
                op.forward, op.out_kernel = new[op]

    modes = ("dualgraph eager", "dualgraph compiled")
    print("\ntrain_step.py steps, old kernels vs new: min us per step")
    for kind, batch in (("cnn", 64), ("mlp", 64)):
        runs = {}
        for tag in ("old", "new"):
            swap(tag == "old")
            cases, _ = TS.make_cases(kind, batch, modes=modes)
            for m, f in cases.items():
                f()
                f()
                runs[(tag, m)] = f
        best = dict.fromkeys(runs, float("inf"))
        try:
            for _ in range(5):
                for (tag, m), f in runs.items():
                    swap(tag == "old")
                    best[(tag, m)] = min(best[(tag, m)], us(f, 10, 3))
        finally:
            swap(False)
        for m in modes:
            a, b = best[("old", m)], best[("new", m)]
            print(f"  {kind} batch {batch} {m:<20} old {a:8.0f}  new {b:8.0f}  new/old {b / a:.2f}")


if __name__ == "__main__":
    main()
    if "--step" in sys.argv:
        step()
