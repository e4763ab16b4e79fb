"""The built-in workload: an MLP classifier trained with SGD on synthetic data, written once and
run define-by-run (eager) and define-then-run (dg.function), compared side by side."""
import argparse

import numpy as np

import dualgraph as dg
from .runner import compare


def _params(sizes, seed):
    rng = np.random.default_rng(seed)
    ps = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(a)
        ps.append(dg.tensor(rng.uniform(-bound, bound, (a, b)).astype(np.float32), requires_grad=True))
        ps.append(dg.tensor(rng.uniform(-bound, bound, (b,)).astype(np.float32), requires_grad=True))
    return ps


def _step_fn(params, lr):
    def train_step(x, onehot):
        for p in params:
            p.grad = None
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = dg.relu(h)
        loss = -(dg.log_softmax(h, dim=1) * onehot).sum() / x.shape[0]
        loss.backward()
        with dg.no_grad():
            for p in params:
                p.sub_(p.grad * lr)
        return loss
    return train_step


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m dualgraph.compare", description=__doc__)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--sizes", default="784,256,128,10", help="layer sizes")
    ap.add_argument("--steps", type=int, default=20, help="training steps to check the two modes agree")
    ap.add_argument("--lr", type=float, default=0.05)
    args = ap.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    rng = np.random.default_rng(1)
    x = dg.tensor(rng.standard_normal((args.batch, sizes[0])).astype(np.float32))
    onehot = dg.tensor(np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], args.batch)])

    pe, pc = _params(sizes, 0), _params(sizes, 0)
    eager_step, compiled_step = _step_fn(pe, args.lr), dg.function(_step_fn(pc, args.lr))
    print(f"MLP {'-'.join(map(str, sizes))}, batch {args.batch}: {args.steps} SGD steps each way")
    worst = 0.0
    for i in range(args.steps):
        le, lc = eager_step(x, onehot).item(), compiled_step(x, onehot).item()
        worst = max(worst, abs(le - lc))
        if i in (0, args.steps - 1):
            print(f"  step {i:3d}: loss eager {le:.6f}  compiled {lc:.6f}")
    print(f"  largest loss difference over {args.steps} steps: {worst:.2e}; traces: {compiled_step.trace_count}")
    print()
    cmp = compare(None, x, onehot, name="one training step (forward, backward, SGD update)",
                  eager_state=lambda: _step_fn(_params(sizes, 0), args.lr),
                  compiled_state=lambda: _step_fn(_params(sizes, 0), args.lr))
    print(cmp)
    print("\nWhat each mode can express: eager runs any Python (data-dependent if/for, printing "
          "values mid-step); compiled graphs need dg.cond/dg.while_loop for value-dependent "
          "control flow, but are optimised once and run without per-op Python dispatch.")
    return cmp


if __name__ == "__main__":
    main()
