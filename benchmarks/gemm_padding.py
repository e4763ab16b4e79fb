"""Why the convolutions pad their GEMMs' result width (dualgraph/ops/nn_ops.py, _padded_width):
the float32 product (m, K) x (K, n), the shape of a convolution's weight gradient (m = output
channels x kernel rows, n = input channels x kernel columns, K = the batch's positions), timed
at n columns and at the next multiple of 8 (the extra operand rows zeros), interleaved, min of
the rounds, on numpy's BLAS, one thread.

    python benchmarks/gemm_padding.py [--quick]

The "rule" column is what _padded_width does: pad where n % 8 >= 5.
"""
import os
import sys
import timeit

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from dualgraph.ops.nn_ops import _padded_width  # noqa: E402


def product_times(m, k, n, repeat=5, number=5):
    """(us at n columns, us at the next multiple of 8) for (m, k) x (k, n), interleaved."""
    rng = np.random.default_rng(0)
    wide = n + (-n) % 8
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = np.zeros((wide, k), np.float32)
    b[:n] = rng.standard_normal((n, k))
    outs = {n: np.empty((m, n), np.float32), wide: np.empty((m, wide), np.float32)}
    fns = {w: (lambda w=w: np.matmul(a, b[:w].T, out=outs[w])) for w in (n, wide)}
    best = {w: float("inf") for w in fns}
    for f in fns.values():
        f()
    for _ in range(repeat):
        for w, f in fns.items():
            best[w] = min(best[w], timeit.timeit(f, number=number) / number * 1e6)
    return best[n], best[wide]


def main(argv=None):
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    shapes = [(30, 4096)] if quick else [(18, 28672), (30, 28672), (48, 8192), (30, 4096)]
    widths = [5, 15] if quick else list(range(1, 34))
    print("numpy %s, one thread; us per product (min of interleaved rounds)" % np.__version__)
    print("%4s %6s %4s %10s %10s %7s %6s" % ("m", "K", "n", "n cols", "to x8", "ratio", "rule"))
    for m, k in shapes:
        for n in widths:
            if n % 8 == 0:
                continue
            t, tp = product_times(m, k, n, repeat=2 if quick else 5, number=1 if quick else 5)
            rule = "pad" if _padded_width(n) != n else "-"
            print("%4d %6d %4d %10.0f %10.0f %7.2f %6s" % (m, k, n, t, tp, tp / t, rule))


if __name__ == "__main__":
    main()
