"""Where an eager training step's time goes, against PyTorch: the MLP step of train_step.py
(784-256-128-10, SGD momentum) split into its parts, each timed on its own, dualgraph (numpy's
BLAS and, with the mkl extra, MKL) and torch interleaved in one process, one thread:

- forward:           F.cross_entropy(model(x), y), the tape recorded (autograd on)
- forward+backward:  opt.zero_grad(); the forward; loss.backward()
- optimizer step:    opt.step() alone (on gradients scaled down, so the weights barely move)
- relu (autograd):   F.relu of a 64x256 tensor that requires grad, the result dropped at once:
                     what recording an op that saves its output costs, with timeit's garbage
                     collector off (as in every timing here)

Each part's min over interleaved rounds, µs. `--quick` for a smoke run.

    python benchmarks/eager_step_parts.py [--quick] [--batch N]
"""
import os
import sys
import timeit

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import dualgraph as dg  # noqa: E402
import dualgraph.nn as nn  # noqa: E402
import dualgraph.nn.functional as F  # noqa: E402
import train_step as TS  # noqa: E402

torch = TS.torch


def _framework_parts(model, opt, functional, x, y, no_grad):
    def forward():
        functional.cross_entropy(model(x), y)

    def forward_backward():
        opt.zero_grad()
        functional.cross_entropy(model(x), y).backward()

    forward_backward()
    opt.step()
    with no_grad():   # tiny gradients: the step can be repeated without the weights running off
        for p in model.parameters():
            p.grad.mul_(1e-6)
    return {"forward": forward, "forward+backward": forward_backward, "optimizer step": opt.step}


def _on_blas(fn, name):
    def run():
        old = dg.set_blas(name)
        try:
            fn()
        finally:
            dg.set_blas(old)
    return run


def cases(batch=64):
    """{part: {contender: callable}}, each contender with its own model from the same weights."""
    x, y = TS.make_data("mlp", batch, TS.MLP_SIZES)
    rows = {}
    libraries = ["numpy"] + (["mkl"] if TS.HAVE_MKL else [])
    for lib in libraries:
        model = TS.load_dg(TS.mlp_module(nn, TS.MLP_SIZES), TS.mlp_init())
        opt = dg.optim.SGD(model.parameters(), lr=TS.LR, momentum=TS.MOMENTUM)
        parts = _framework_parts(model, opt, F, dg.tensor(x), dg.tensor(y), dg.no_grad)
        name = "dualgraph" if lib == "numpy" else "dualgraph, mkl"
        for part, f in parts.items():
            rows.setdefault(part, {})[name] = f if lib == "numpy" else _on_blas(f, lib)
    a = np.random.default_rng(2).standard_normal((64, 256)).astype(np.float32)
    leaf = dg.tensor(a, requires_grad=True)
    rows["relu (autograd)"] = {"dualgraph": lambda: F.relu(leaf)}
    if torch is not None:
        model = TS.load_torch(TS.mlp_module(torch.nn, TS.MLP_SIZES), TS.mlp_init())
        opt = torch.optim.SGD(model.parameters(), lr=TS.LR, momentum=TS.MOMENTUM)
        parts = _framework_parts(model, opt, torch.nn.functional, torch.from_numpy(x),
                                 torch.from_numpy(y), torch.no_grad)
        for part, f in parts.items():
            rows[part]["torch"] = f
        tleaf = torch.tensor(a, requires_grad=True)
        rows["relu (autograd)"]["torch"] = lambda: torch.nn.functional.relu(tleaf)
    return rows


def measure(rows, rounds=15, number=20):
    best = {part: {k: float("inf") for k in fs} for part, fs in rows.items()}
    for _ in range(rounds):
        for part, fs in rows.items():
            for k, f in fs.items():
                n = number * 10 if part == "relu (autograd)" else number
                best[part][k] = min(best[part][k], timeit.timeit(f, number=n) / n)
    return best


def main(quick=False, batch=64):
    rows = cases(batch)
    best = measure(rows, rounds=2 if quick else 15, number=2 if quick else 20)
    names = ["dualgraph", "dualgraph, mkl", "torch"]
    print(f"MLP {'-'.join(map(str, TS.MLP_SIZES))} SGD-momentum step at batch {batch}, its parts, "
          f"us (min over interleaved rounds; one thread)")
    print(f"  {'part':20}" + "".join(f"{n:>16}" for n in names) + f"{'x torch':>10}{'mkl x torch':>13}")
    for part, got in best.items():
        cells = "".join(f"{got[n] * 1e6:16.1f}" if n in got else f"{'n/a':>16}" for n in names)
        t = got.get("torch")
        r1 = f"{got['dualgraph'] / t:10.2f}" if t else f"{'':10}"
        r2 = f"{got['dualgraph, mkl'] / t:13.2f}" if t and "dualgraph, mkl" in got else f"{'':13}"
        print(f"  {part:20}{cells}{r1}{r2}")
    return best


if __name__ == "__main__":
    b = int(sys.argv[sys.argv.index("--batch") + 1]) if "--batch" in sys.argv else 64
    main(quick="--quick" in sys.argv, batch=b)
