"""A compiled forward with the loss, backward and step outside it (the torch.compile way of using
dg.function), against the same step eagerly, the whole step compiled, and PyTorch eagerly.

MLP 784-256-128-10, cross-entropy, SGD(lr=0.01, momentum=0.9); batch 64 (and 512). Contenders:
  eager        model(x); loss; loss.backward(); opt.step()      all eager
  cfwd         dg.function(model)(x); the rest eager              forward plan + compiled backward
  cstep        the whole step in one dg.function                  one plan
  torch        the eager step in PyTorch (when installed)
and the forward alone under no_grad, eager and compiled. Timed interleaved (one round times each
contender once), one thread, in one process; the median of the rounds, in microseconds per step.
Before timing, eager, cfwd and cstep are checked to give the same parameters after 3 steps.

    python benchmarks/compiled_forward.py            # ~30 s
    python benchmarks/compiled_forward.py --quick    # smoke run
"""
import os
import sys
import time

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

try:
    import dualgraph as dg  # noqa: E402
except ImportError:
    sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import dualgraph as dg  # noqa: E402
import dualgraph.nn.functional as F  # noqa: E402

try:
    import torch  # noqa: E402
    torch.set_num_threads(1)
except ImportError:
    torch = None


def _model():
    dg.manual_seed(0)
    return dg.nn.Sequential(dg.nn.Linear(784, 256), dg.nn.ReLU(), dg.nn.Linear(256, 128), dg.nn.ReLU(),
                            dg.nn.Linear(128, 10))


def _contenders(batch):
    rng = np.random.default_rng(0)
    x = dg.tensor(rng.standard_normal((batch, 784), dtype=np.float32))
    y = dg.tensor(rng.integers(0, 10, batch))
    out = {}
    models = {}
    for name in ("eager", "cfwd", "cstep"):
        m = _model()
        opt = dg.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        fwd = dg.function(m) if name == "cfwd" else m

        def step(m=m, opt=opt, fwd=fwd):
            opt.zero_grad()
            loss = F.cross_entropy(fwd(x), y)
            loss.backward()
            opt.step()
            return loss
        out[name] = dg.function(step) if name == "cstep" else step
        models[name] = m
    for _ in range(3):
        for f in out.values():
            f()
    ref = [p.detach().numpy() for p in models["eager"].parameters()]
    for name in ("cfwd", "cstep"):
        for a, b in zip(ref, models[name].parameters()):
            assert np.array_equal(a, b.detach().numpy()), name
    m = models["eager"]
    cm = dg.function(m)

    def eager_infer():
        with dg.no_grad():
            return m(x)

    def compiled_infer():
        with dg.no_grad():
            return cm(x)
    out["infer eager"], out["infer compiled"] = eager_infer, compiled_infer
    if torch is not None:
        tm = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                 torch.nn.ReLU(), torch.nn.Linear(128, 10))
        topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
        tx, ty = torch.from_numpy(x.numpy()), torch.from_numpy(y.numpy())

        def tstep():
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tm(tx), ty)
            loss.backward()
            topt.step()
        out["torch"] = tstep
    return out


def main(quick=False):
    print(f"dualgraph {dg.__file__}; numpy {np.__version__}; torch {getattr(torch, '__version__', 'absent')}")
    for batch in (64, 512):
        cs = _contenders(batch)
        for f in cs.values():
            f()
        times = {k: [] for k in cs}
        rounds = 20 if quick else 200 if batch == 64 else 60
        for _ in range(rounds):
            for k, f in cs.items():
                t = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t)
        med = {k: float(np.median(v)) * 1e6 for k, v in times.items()}
        print(f"batch {batch} ({rounds} rounds), median us per step:")
        for k, v in med.items():
            extra = f"  ({v / med['torch']:.2f}x torch)" if "torch" in med and not k.startswith("infer") else ""
            print(f"  {k:16} {v:9.1f}{extra}")
        print(f"  cfwd / eager {med['cfwd'] / med['eager']:.2f}x; cfwd / cstep {med['cfwd'] / med['cstep']:.2f}x;"
              f" compiled / eager inference {med['infer compiled'] / med['infer eager']:.2f}x")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
