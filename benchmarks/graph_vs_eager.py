"""Graph mode vs eager: the 100-op chain and an MLP 784-256-128-10 training step.

Runs, in one process and one thread: dualgraph eager, the compiled plan (dg.function), hand-written
numpy, and torch when installed; also the trace + compile time of the MLP training graph.
Prints microseconds per call and ratios. `--quick` for a smoke run.

    python benchmarks/graph_vs_eager.py
"""
import os
import sys
import time
import timeit

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import dualgraph as dg  # noqa: E402

try:
    import torch  # noqa: E402
    torch.set_num_threads(1)
except ImportError:  # the comparison still runs without torch
    torch = None

CHAIN_N = 16


def best(fn, number, repeat):
    fn()  # warm up (and trace, for dg.function)
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


# ---------------------------------------------------------------- the 100-op chain
def chain_ops(x, tanh, n_ops=100):
    """x*1.01, +0.5, tanh, ... : 100 elementwise ops on a small vector."""
    for i in range(n_ops):
        r = i % 3
        x = x * 1.01 if r == 0 else (x + 0.5 if r == 1 else tanh(x))
    return x


def numpy_chain(x0, n_ops=100):
    """Forward and hand-written backward of chain_ops; returns d(sum)/dx."""
    xs = []
    x = x0
    for i in range(n_ops):
        xs.append(x)
        r = i % 3
        x = x * 1.01 if r == 0 else (x + 0.5 if r == 1 else np.tanh(x))
    g = np.ones_like(x)
    for i in reversed(range(n_ops)):
        r = i % 3
        if r == 0:
            g = g * 1.01
        elif r == 2:
            y = np.tanh(xs[i])
            g = g * (1 - y * y)
    return g


def make_chain_cases():
    x0 = np.random.default_rng(0).standard_normal(CHAIN_N).astype(np.float32) * 0.1
    cases = {"numpy": lambda: numpy_chain(x0)}

    def eager():
        x = dg.tensor(x0, requires_grad=True)
        chain_ops(x, dg.tanh).sum().backward()
        return x.grad

    @dg.function
    def compiled(x):
        x.requires_grad_(True)
        y = chain_ops(x, dg.tanh).sum()
        (g,) = dg.gradients(y, [x])
        return g

    xt = dg.tensor(x0)
    cases["dualgraph eager"] = eager
    cases["dualgraph compiled"] = lambda: compiled(xt)
    if torch is not None:
        def tch():
            x = torch.tensor(x0, requires_grad=True)
            chain_ops(x, torch.tanh).sum().backward()
            return x.grad
        cases["torch eager"] = tch
    return cases


# ---------------------------------------------------------------- MLP training step
SIZES = (784, 256, 128, 10)
LR = 0.01


def init_params(seed=0):
    rng = np.random.default_rng(seed)
    ps = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(a)
        ps.append(rng.uniform(-bound, bound, (a, b)).astype(np.float32))
        ps.append(rng.uniform(-bound, bound, (b,)).astype(np.float32))
    return ps


def data(batch, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], batch)
    onehot = np.eye(SIZES[-1], dtype=np.float32)[y]
    return x, onehot


def numpy_step(ps, x, onehot):
    W1, b1, W2, b2, W3, b3 = ps
    n = x.shape[0]
    h1 = x @ W1 + b1
    a1 = np.maximum(h1, 0)
    h2 = a1 @ W2 + b2
    a2 = np.maximum(h2, 0)
    z = a2 @ W3 + b3
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    logp = z - np.log(s)
    loss = -(logp * onehot).sum() / n
    dz = (e / s - onehot) / n
    gW3 = a2.T @ dz
    gb3 = dz.sum(0)
    da2 = dz @ W3.T
    dh2 = da2 * (h2 > 0)
    gW2 = a1.T @ dh2
    gb2 = dh2.sum(0)
    da1 = dh2 @ W2.T
    dh1 = da1 * (h1 > 0)
    gW1 = x.T @ dh1
    gb1 = dh1.sum(0)
    for p, g in zip(ps, (gW1, gb1, gW2, gb2, gW3, gb3)):
        p -= LR * g
    return loss


def dg_loss(params, x, onehot):
    """The same model written once with dualgraph ops (runs eagerly or traced)."""
    W1, b1, W2, b2, W3, b3 = params
    h = dg.relu(x @ W1 + b1)
    h = dg.relu(h @ W2 + b2)
    logits = h @ W3 + b3
    return -(dg.log_softmax(logits, dim=1) * onehot).sum() / x.shape[0]


def dg_step(params, x, onehot):
    for p in params:
        p.grad = None
    loss = dg_loss(params, x, onehot)
    loss.backward()
    with dg.no_grad():
        for p in params:
            p.sub_(p.grad * LR)
    return loss


def make_mlp_cases(batch):
    x, onehot = data(batch)
    cases = {}
    np_params = init_params()
    cases["numpy"] = lambda: numpy_step(np_params, x, onehot)
    eager_params = [dg.tensor(p, requires_grad=True) for p in init_params()]
    xt, yt = dg.tensor(x), dg.tensor(onehot)
    cases["dualgraph eager"] = lambda: dg_step(eager_params, xt, yt)
    comp_params = [dg.tensor(p, requires_grad=True) for p in init_params()]
    compiled = dg.function(lambda x, y: dg_step(comp_params, x, y))
    cases["dualgraph compiled"] = lambda: compiled(xt, yt)
    if torch is not None:
        tp = [torch.tensor(p, requires_grad=True) for p in init_params()]
        tx, ty = torch.tensor(x), torch.tensor(onehot)

        def tstep():
            for p in tp:
                p.grad = None
            W1, b1, W2, b2, W3, b3 = tp
            h = torch.relu(tx @ W1 + b1)
            h = torch.relu(h @ W2 + b2)
            loss = -(torch.log_softmax(h @ W3 + b3, dim=1) * ty).sum() / tx.shape[0]
            loss.backward()
            with torch.no_grad():
                for p in tp:
                    p.sub_(p.grad * LR)
            return loss
        cases["torch eager"] = tstep
    return cases, (eager_params, comp_params, xt, yt)


def compile_time(batch):
    """Wall time of the first call of a fresh dg.function (trace + compile + specialise + run)."""
    x, onehot = data(batch)
    params = [dg.tensor(p, requires_grad=True) for p in init_params()]
    xt, yt = dg.tensor(x), dg.tensor(onehot)
    fn = dg.function(lambda x, y: dg_step(params, x, y))
    t0 = time.perf_counter()
    fn(xt, yt)
    first = time.perf_counter() - t0
    return first, fn.plan_for(xt, yt).stats


def report(title, cases, number, repeat, base="numpy"):
    # rounds interleave the modes, so a slow moment of the (shared) machine hits all of them
    for f in cases.values():
        f()  # warm up (and trace, for dg.function)
    times = {k: float("inf") for k in cases}
    for _ in range(repeat):
        for k, f in cases.items():
            times[k] = min(times[k], timeit.timeit(f, number=number) / number)
    print(f"\n{title}")
    print(f"  {'':22}{'us/call':>10}{'x numpy':>10}")
    for k, t in times.items():
        print(f"  {k:22}{t * 1e6:10.1f}{t / times[base]:10.2f}")
    return times


def main(quick=False):
    number, repeat = (5, 2) if quick else (200, 7)
    print(f"dualgraph {dg.__version__}, numpy {np.__version__}, torch {torch.__version__ if torch else 'n/a'}")
    results = {}
    t = report("100-op chain, forward + backward (16 floats)", make_chain_cases(), number, repeat)
    results["chain"] = t
    print(f"  compiled vs eager: {t['dualgraph eager'] / t['dualgraph compiled']:.1f}x faster")
    for batch in (64, 512):
        cases, _ = make_mlp_cases(batch)
        n = max(1, number // (4 if batch == 64 else 20))
        results[f"mlp{batch}"] = report(f"MLP 784-256-128-10 SGD step, batch {batch}", cases, n, repeat)
    first, stats = compile_time(64)
    print(f"\ntrace + compile + first run of the MLP training step: {first * 1e3:.1f} ms "
          f"(passes {stats['compile_ms']:.1f} ms; {stats['nodes_in']} nodes -> {stats['steps']} steps)")
    results["compile_s"] = first
    return results


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
