"""What the Python around a compiled training step costs where it really runs: right after the
plan, whose matrix products have evicted the interpreter's code and data from the caches.

The MLP step of benchmarks/train_step.py (784-256-128-10, SGD momentum, batch 64; fused and
on MKL when numba and the mkl extra are installed) as a dg.function. Two parts:
(a) the dg.function call against its generated code called directly with the same arrays,
    interleaved (min and median over rounds of 10 calls);
(b) each piece of the call's own work (the trace-key signature, the guard check, the .grad
    post-actions, the loss's Tensor) timed once hot, in a loop of its own, and once right after
    a run of the plan (medians over 300 of each).
One thread.

    python benchmarks/call_overhead_in_situ.py [--quick]
"""
import os
import random
import sys
import time
import timeit

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import dualgraph as dg  # noqa: E402
import dualgraph.nn as nn  # noqa: E402
from dualgraph.graph.function import _out_leaf  # noqa: E402
import train_step as TS  # noqa: E402


def make(batch, sizes):
    model = TS.load_dg(TS.mlp_module(nn, sizes), TS.mlp_init(sizes))
    opt = dg.optim.SGD(model.parameters(), lr=TS.LR, momentum=TS.MOMENTUM)
    x, y = TS.make_data("mlp", batch, sizes)
    f = dg.function(TS.train_step)
    args = (model, opt, dg.tensor(x), dg.tensor(y))
    f(*args)
    feeds = f.feeds_for(*args)
    run = f.plan_for(*args)._compiled[tuple(np.shape(a) for a in feeds)]
    return f, args, run, feeds


def main(quick=False, batch=64, sizes=TS.MLP_SIZES):
    old = dg.get_fusion(), dg.get_blas()
    if TS.HAVE_NUMBA:
        dg.set_fusion("numba")
    if TS.HAVE_MKL:
        dg.set_blas("mkl")
    try:
        _measure(quick, batch, sizes)
    finally:
        dg.set_fusion(old[0])
        dg.set_blas(old[1])


def _measure(quick, batch, sizes):
    f, args, run, feeds = make(batch, sizes)

    def generated():
        with np.errstate(all="ignore"):
            return run(*feeds)
    cases = {"dg.function call": lambda: f(*args), "its generated code": generated}
    rounds, n = (3, 20) if quick else (40, 300)
    res = {k: [] for k in cases}
    keys = list(cases)
    for _ in range(rounds):
        random.shuffle(keys)
        for k in keys:
            res[k].append(timeit.timeit(cases[k], number=10) / 10)
    print(f"MLP {'-'.join(map(str, sizes))} SGD-momentum step, batch {batch} (fusion "
          f"{dg.get_fusion()}, BLAS {dg.get_blas()}), us per call")
    print(f"  {'(a)':26}{'min':>10}{'median':>10}")
    for k, v in res.items():
        print(f"  {k:26}{min(v) * 1e6:10.1f}{np.median(v) * 1e6:10.1f}")

    sig, tensors = f._signature(args, {})
    tr = f._lookup(sig, tensors)
    pieces = {"signature (trace key)": lambda: f._signature(args, {}),
              "guard check": tr.check,
              ".grad post-actions": lambda: [p() for p in tr.post],
              "loss Tensor": lambda: _out_leaf(tr.out_leaves[0], [np.float32(1.0)], ())}
    pc = time.perf_counter
    print(f"  {'(b) median us':26}{'hot':>10}{'after plan':>12}")
    for name, fn in pieces.items():
        fn()
        hot, cold = [], []
        for _ in range(n):
            t0 = pc()
            fn()
            hot.append(pc() - t0)
        with np.errstate(all="ignore"):
            for _ in range(n):
                run(*feeds)
                t0 = pc()
                fn()
                cold.append(pc() - t0)
        print(f"  {name:26}{np.median(hot) * 1e6:10.1f}{np.median(cold) * 1e6:12.1f}")
    print(f"  ({len(tr.guards.items)} guards)")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
