"""The GEMM forms of a convolution's gradients, side by side, over common CNN shapes: where the
shape rules of dualgraph/ops/nn_ops.py (`_stacked_weight_grad_wins`,
`_stacked_input_grad_wins`) come from.

For each shape (batch, in -> out channels, image size, kernel, padding; float32, unit stride)
the weight gradient and the input gradient are timed with the stacked form forced on and
forced off (the rule functions patched), interleaved call by call, min of the rounds, after a
warm-up pass over every shape (glibc serves large blocks from fresh pages, page faults and all,
until it has seen them freed); the two forms are checked to agree first. The last column says which form the rule picks, so a row
where the rule picks the slower form stands out.

    python benchmarks/conv_algorithms.py [--rounds 7] [--quick]

A rule on shapes, never a timing: two algorithms round differently, and a choice made by timing
would make a result depend on the process (see linear's `_layouts_agree`).
"""
import argparse
import os
import sys
import time

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from dualgraph.ops import nn_ops as K  # noqa: E402

SHAPES = [  # batch, c, o, size, kernel, padding
    (32, 3, 6, 32, 5, 0), (32, 6, 16, 14, 5, 0),                  # LeNet-5
    (4, 3, 6, 32, 5, 0), (128, 3, 6, 32, 5, 0), (128, 6, 16, 14, 5, 0),
    (32, 1, 6, 28, 5, 2), (32, 1, 8, 28, 3, 0), (32, 8, 16, 28, 3, 1),   # MNIST-sized
    (32, 3, 16, 32, 3, 1), (32, 3, 32, 32, 3, 1), (32, 3, 64, 32, 3, 1), (32, 3, 16, 32, 5, 0),
    (32, 3, 6, 64, 5, 0), (32, 16, 32, 32, 3, 1), (32, 32, 64, 16, 3, 1), (32, 64, 64, 8, 3, 1),
    (32, 16, 16, 16, 5, 2),
]
STRIDE = DIL = (1, 1)


class _forced:
    """Force the stacked forms on or off (the rule functions patched) inside the block."""

    def __init__(self, on):
        self.on = on

    def __enter__(self):
        self.saved = K._stacked_weight_grad_wins, K._stacked_input_grad_wins
        on = self.on
        K._stacked_weight_grad_wins = lambda og, cg, kh, kw, stride: on and stride[0] == 1
        K._stacked_input_grad_wins = lambda og, cg, kh, kw, stride: on and tuple(stride) == (1, 1)

    def __exit__(self, *exc):
        K._stacked_weight_grad_wins, K._stacked_input_grad_wins = self.saved


def _calls(n, c, o, size, k, p, rng):
    x = rng.standard_normal((n, c, size, size), dtype=np.float32)
    w = rng.standard_normal((o, c, k, k), dtype=np.float32)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh = size + 2 * p - k + 1
    g = rng.standard_normal((n, o, oh, oh), dtype=np.float32)
    wgrad = lambda: K._conv_weight_grad(xp, g, k, k, STRIDE, DIL, 1)  # noqa: E731
    igrad = lambda: K._conv_input_grad(g, w, x.shape, (p,) * 4, STRIDE, DIL, 1)  # noqa: E731
    return wgrad, igrad


def _timed(fn, on):
    with _forced(on):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0


def compare(fn, rounds):
    """(stacked, unstacked) min seconds, interleaved; the two forms checked to agree."""
    with _forced(True):
        a = fn()
    with _forced(False):
        b = fn()
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * float(np.abs(b).max()))
    best = [np.inf, np.inf]
    for _ in range(rounds):
        for i, on in enumerate((True, False)):
            best[i] = min(best[i], _timed(fn, on))
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="two shapes, two rounds (smoke run)")
    a = ap.parse_args(argv)
    shapes, rounds = (SHAPES[:2], 2) if a.quick else (SHAPES, a.rounds)
    import platform
    print(f"numpy {np.__version__}; {platform.machine()} {platform.processor()}, one thread; "
          f"us per call, min of {rounds} interleaved rounds")
    print(f"  {'shape':30s}{'wgrad stacked':>14s}{'other':>8s}{'ratio':>7s}{'rule':>9s}"
          f"{'igrad stacked':>15s}{'other':>8s}{'ratio':>7s}{'rule':>9s}")
    rng = np.random.default_rng(0)
    calls = [_calls(*shape, rng) for shape in shapes]
    for fns in calls:       # warm up: the allocator keeps large blocks once it has seen them
        for fn in fns:
            for on in (True, False, True, False):
                _timed(fn, on)
    for (n, c, o, size, k, p), (wgrad, igrad) in zip(shapes, calls):
        ws, wo = compare(wgrad, rounds)
        is_, io = compare(igrad, rounds)
        wr = "stacked" if K._stacked_weight_grad_wins(o, c, k, k, STRIDE) else "other"
        ir = "stacked" if K._stacked_input_grad_wins(o, c, k, k, STRIDE) else "other"
        name = f"N{n} {c}->{o} {size}x{size} k{k} p{p}"
        print(f"  {name:30s}{ws * 1e6:14.0f}{wo * 1e6:8.0f}{ws / wo:7.2f}{wr:>9s}"
              f"{is_ * 1e6:15.0f}{io * 1e6:8.0f}{is_ / io:7.2f}{ir:>9s}", flush=True)


if __name__ == "__main__":
    main()
