"""One optimizer step alone, `opt.step()`, for SGD (momentum), Adam, RMSprop and Adagrad, on two
parameter sets: the MLP 784-256-128-10 of train_step.py (6 tensors, 235k floats: the passes over
memory) and six 16-float tensors (the Python per call). Contenders, interleaved in one process,
one thread, each with its own parameters from the same values and fixed small gradients:

- dualgraph eager:          opt.step()
- dualgraph eager+fused:    opt.step() with dg.set_fusion("numba") around each call (numba
                            installed): from its second call the step runs as its own fused plan
- dualgraph compiled:       dg.function(lambda: opt.step()), traced once (it reads each call's
                            .grad, so new gradient tensors would not retrace it either)
- dualgraph compiled+fused: the same with dg.set_fusion("numba") around each call (numba
                            installed): each parameter's update is one generated loop
- torch eager:              opt.step() (torch installed)

Before timing, three steps of each dualgraph contender from the same start are compared: the
parameters and the optimizer's state tensors must be equal to the bit.

Then the memory of a whole training iteration (zero_grad, forward, backward, step) on the MLP at
batch 64 with each kind of step: tracemalloc's peak over one iteration after warm-up, and what
stays allocated between iterations. A compiled step that held the .grad arrays it read (until
its next call) kept one extra set of gradients alive through the next backward.

    python benchmarks/optimizer_step.py [--quick]
"""
import os
import sys
import timeit

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import dualgraph as dg  # noqa: E402

try:
    import torch  # noqa: E402
    torch.set_num_threads(1)
except ImportError:
    torch = None
try:
    import numba  # noqa: E402,F401
    HAVE_NUMBA = True
except ImportError:
    HAVE_NUMBA = False

SETS = {"mlp": [(256, 784), (256,), (128, 256), (128,), (10, 128), (10,)],
        "tiny": [(16,)] * 6}
OPTIMIZERS = {"SGD momentum": ("SGD", dict(lr=0.01, momentum=0.9)),
              "Adam": ("Adam", dict(lr=1e-3)),
              "RMSprop": ("RMSprop", dict(lr=1e-3)),
              "Adagrad": ("Adagrad", dict(lr=1e-2))}


def _values(shapes, seed=0):
    rng = np.random.default_rng(seed)
    ps = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gs = [(rng.standard_normal(s) * 1e-3).astype(np.float32) for s in shapes]
    return ps, gs


def _dg_opt(name, shapes):
    cls, kw = OPTIMIZERS[name]
    ps, gs = _values(shapes)
    params = [dg.nn.Parameter(dg.tensor(p)) for p in ps]
    for p, g in zip(params, gs):
        p.grad = dg.tensor(g)
    return params, getattr(dg.optim, cls)(params, **kw)


def _fused(fn):
    def run():
        old = dg.get_fusion()
        dg.set_fusion("numba")
        try:
            fn()
        finally:
            dg.set_fusion(old)
    return run


def cases(name, shapes):
    """{contender: step callable}, and whether the dualgraph contenders agree to the bit."""
    made, runs = {}, {}
    for mode in ("dualgraph eager", "dualgraph compiled") + (
            ("dualgraph eager+fused", "dualgraph compiled+fused") if HAVE_NUMBA else ()):
        params, opt = _dg_opt(name, shapes)
        step = opt.step if mode.startswith("dualgraph eager") else dg.function(lambda opt=opt: opt.step())
        if mode.endswith("fused"):
            step = _fused(step)
        made[mode] = (params, opt)
        runs[mode] = step
    for step in runs.values():
        for _ in range(3):
            step()
    ref = None
    agree = True
    for params, opt in made.values():
        vals = [p.detach().numpy().copy() for p in params]
        vals += [v.numpy().copy() for p in params for v in opt.state[p].values()
                 if isinstance(v, dg.Tensor)]
        if ref is None:
            ref = vals
        else:
            agree = agree and len(vals) == len(ref) and all(np.array_equal(a, b) for a, b in zip(vals, ref))
    if torch is not None:
        cls, kw = OPTIMIZERS[name]
        ps, gs = _values(shapes)
        tps = [torch.nn.Parameter(torch.from_numpy(p)) for p in ps]
        for p, g in zip(tps, gs):
            p.grad = torch.from_numpy(g)
        runs["torch eager"] = getattr(torch.optim, cls)(tps, **kw).step
    return runs, agree


def main(quick=False):
    rounds, number = (2, 2) if quick else (15, 10)
    results = {}
    for set_name, shapes in SETS.items():
        numel = sum(int(np.prod(s)) for s in shapes)
        print(f"\nparameters: {set_name} ({len(shapes)} tensors, {numel} floats); us per step, "
              "min over interleaved rounds")
        names = ["dualgraph eager", "dualgraph eager+fused", "dualgraph compiled",
                 "dualgraph compiled+fused", "torch eager"]
        print(f"  {'optimizer':14}" + "".join(f"{n.replace('dualgraph ', 'dg '):>20}" for n in names)
              + f"{'eager x torch':>15}{'e+fused x torch':>16}  bitwise")
        for opt_name in OPTIMIZERS:
            runs, agree = cases(opt_name, shapes)
            best = {k: float("inf") for k in runs}
            for _ in range(rounds):
                for k, f in runs.items():
                    best[k] = min(best[k], timeit.timeit(f, number=number) / number)
            results[(set_name, opt_name)] = (best, agree)
            cells = "".join(f"{best[n] * 1e6:20.1f}" if n in best else f"{'n/a':>20}" for n in names)
            t = best.get("torch eager")
            r1 = f"{best['dualgraph eager'] / t:15.2f}" if t else f"{'':15}"
            f_ = best.get("dualgraph eager+fused")
            r2 = f"{f_ / t:16.2f}" if t and f_ else f"{'':16}"
            print(f"  {opt_name:14}{cells}{r1}{r2}  {'yes' if agree else 'NO'}")
    return results


def memory(quick=False, batch=64):
    """{step kind: (peak bytes during one iteration, bytes still held after it)} for SGD
    momentum on the MLP, the .grad freed by zero_grad() (set_to_none) at each iteration."""
    import tracemalloc
    import dualgraph.nn as nn
    import dualgraph.nn.functional as F
    sys.path.insert(0, HERE)
    import train_step as TS
    x, y = (dg.tensor(a) for a in TS.make_data("mlp", batch, TS.MLP_SIZES))
    out = {}
    for kind in ("eager opt.step()", "dg.function(opt.step)"):
        model = TS.load_dg(TS.mlp_module(nn, TS.MLP_SIZES), TS.mlp_init(TS.MLP_SIZES))
        opt = dg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        step = opt.step if kind.startswith("eager") else dg.function(lambda opt=opt: opt.step())

        def iteration():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            step()

        tracemalloc.start()   # (before the warm-up: what it leaves allocated is traced, and its freeing seen)
        for _ in range(2 if quick else 3):
            iteration()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        iteration()
        now, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[kind] = (peak - before, now - before)
    print(f"\nmemory of one training iteration, MLP batch {batch}, SGD momentum "
          "(tracemalloc, after warm-up; the .grad set to None by zero_grad)")
    for kind, (peak, held) in out.items():
        print(f"  {kind:24} peak {peak / 2**20:7.2f} MiB   held after it {held / 2**20:6.2f} MiB")
    return out


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
    memory(quick="--quick" in sys.argv)
