"""conv2d's input gradient on large images (112x112, 224x224: ResNet-sized layers), one
checkout against another: each checkout's own `_conv_input_grad` is timed in a fresh process
(min of 3 after one warm-up call), alternating checkouts round by round, with the peak
resident size of each process.

    python benchmarks/conv_input_grad_large.py OLD NEW [--rounds 2] [--quick]

OLD and NEW are paths of dualgraph checkouts (e.g. a `git worktree` at an older commit). The
LeNet-sized shapes are in conv_algorithms.py; these check that the forms chosen there do not
lose where the working set no longer fits the cache.
"""
import argparse
import os
import subprocess
import sys

SHAPES = [(8, 32, 32, 112, 3, 1), (4, 64, 64, 112, 3, 1), (2, 64, 64, 224, 3, 1),
          (16, 3, 64, 224, 7, 3)]

CHILD = r'''
import os, sys, time, resource
for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[v] = "1"
sys.path.insert(0, sys.argv[1])
import numpy as np
from dualgraph.ops import nn_ops as K
rng = np.random.default_rng(0)
for n, c, o, h, k, p in SHAPES:
    w = rng.standard_normal((o, c, k, k), dtype=np.float32)
    oh = h + 2 * p - k + 1
    g = rng.standard_normal((n, o, oh, oh), dtype=np.float32)
    f = lambda: K._conv_input_grad(g, w, (n, c, h, h), (p,) * 4, (1, 1), (1, 1), 1)
    f()
    best = 1e9
    for _ in range(3):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    print(best * 1e3)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
'''


def run(checkout, shapes):
    src = f"SHAPES = {shapes!r}\n" + CHILD
    r = subprocess.run([sys.executable, "-c", src, os.path.abspath(checkout)],
                       capture_output=True, text=True, check=True)
    vals = [float(v) for v in r.stdout.split()]
    return vals[:-1], vals[-1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="one small shape, one round (smoke run)")
    a = ap.parse_args(argv)
    shapes, rounds = ([(1, 8, 8, 56, 3, 1)], 1) if a.quick else (SHAPES, a.rounds)
    best = {a.old: None, a.new: None}
    rss = {a.old: 0.0, a.new: 0.0}
    for _ in range(rounds):
        for tree in (a.old, a.new):
            t, m = run(tree, shapes)
            best[tree] = t if best[tree] is None else [min(u, v) for u, v in zip(best[tree], t)]
            rss[tree] = max(rss[tree], m)
    print("conv2d input gradient, ms (min), one thread")
    print(f"  {'shape':28s}{'old':>10s}{'new':>10s}{'new/old':>9s}")
    for (n, c, o, h, k, p), u, v in zip(shapes, best[a.old], best[a.new]):
        print(f"  {f'N{n} {c}->{o} {h}x{h} k{k} p{p}':28s}{u:10.1f}{v:10.1f}{v / u:9.2f}")
    print(f"  peak resident MB: old {rss[a.old]:.0f}, new {rss[a.new]:.0f}")


if __name__ == "__main__":
    main()
