"""Where a compiled step's time goes, kernel by kernel: the LeNet-5 step of benchmarks/conv.py
compiled by dg.function, each kernel of its generated plan timed where it runs (inside the
step, caches as the step leaves them), summed per op; next to it, torch's profiler
over the same step in PyTorch (self CPU time per aten op), one thread.

Each statement of the plan's generated code is timed by train_step.profile_plan (a timed copy
of plan.source in the same namespace; per statement the min over rounds of its mean, less an
empty timer's cost).

    python benchmarks/plan_profile.py [--batch 32] [--steps 30] [--mlp]

--mlp profiles the MLP step of benchmarks/train_step.py (784-256-128-10, SGD momentum) instead.
"""
import argparse
import os
import sys
import time
from collections import defaultdict

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import dualgraph as dg  # noqa: E402
import conv as C  # noqa: E402
import train_step as TS  # noqa: E402

torch = C.torch


def lenet_compiled(batch):
    """The compiled LeNet step of conv.py (its weights, data and optimizer), with .args set for
    train_step.profile_plan; and the torch step beside it."""
    x, y = C.make_data(batch)
    m, o = C.dg_model()
    compiled = dg.function(C.train_step)
    compiled.args = (m, o, dg.tensor(x), dg.tensor(y))
    compiled(*compiled.args)
    cases = C.make_cases(batch, modes=("torch eager",))
    return compiled, cases.get("torch eager")


def profile_torch(step, steps):
    """{aten op: us per step} (self CPU time, averaged over steps) and the step's min (us)."""
    from torch.profiler import profile, ProfilerActivity
    for _ in range(3):
        step()
    total = float("inf")
    for _ in range(steps):
        t = time.perf_counter()
        step()
        total = min(total, time.perf_counter() - t)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    out = {e.key: e.self_cpu_time_total / steps for e in prof.key_averages()
           if e.self_cpu_time_total > 0}
    return out, total * 1e6


def report(rows, total, call, title):
    by_op = defaultdict(float)
    for _, op, _, sec in rows:
        by_op[op] += sec * 1e6
    print(f"\n{title}: {call * 1e6:.0f} us per call of the dg.function (min); its statements, "
          f"timed one by one, sum to {total * 1e6:.0f} us")
    print(f"  {'op':30s} {'us':>8s}  share")
    for op, v in sorted(by_op.items(), key=lambda kv: -kv[1]):
        if v >= 1:
            print(f"  {op:30s} {v:8.1f}  {v / (total * 1e6):5.1%}")
    print("\n  the 12 slowest statements:")
    for _, op, node, sec in sorted(rows, key=lambda r: -r[3])[:12]:
        print(f"  {op:30s} {sec * 1e6:8.1f}  {node}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--mlp", action="store_true")
    a = ap.parse_args(argv)
    if torch is not None:
        torch.set_num_threads(1)
    if a.mlp:
        cases, compiled = TS.make_cases("mlp", a.batch, modes=("dualgraph compiled", "torch eager"))
        tstep = cases.get("torch eager")
        what = "MLP 784-256-128-10"
    else:
        compiled, tstep = lenet_compiled(a.batch)
        what = "LeNet-5"
    rows, total, _, call = TS.profile_plan(compiled, calls=a.steps)
    report(rows, total, call, f"dualgraph compiled, {what}, batch {a.batch}")
    if tstep is not None:
        theirs, ttotal = profile_torch(tstep, a.steps)
        print(f"\ntorch eager: {ttotal:.0f} us per step (unprofiled, min); self CPU per aten op "
              f"(profiled, mean):")
        for k, v in sorted(theirs.items(), key=lambda kv: -kv[1])[:14]:
            print(f"  {k:36s} {v:8.1f}")


if __name__ == "__main__":
    main()
