"""Elementwise fusion (dualgraph/graph/passes/fuse_elementwise.py): the compiled plan with and
without fused kernels, next to hand-written numpy and numexpr, in one process on one thread.

(a) the 100-op chain (x*1.01, +0.5, tanh, ...) forward and backward, on 16 and 65536 floats:
    hand-written numpy (benchmarks/graph_vs_eager.py's), dg.function unfused, dg.function fused
    with numba; and, for the backend choice, one numexpr call evaluating the forward alone.
(b) the MLP 784-256-128-10 SGD step at batch 64: unfused and fused (its elementwise steps are
    single ops; what fuses is each parameter's SGD-momentum update, fuse_updates.py).
(d) one SGD-momentum update of a 256x784 and a 1024x1024 parameter: numpy's four in-place
    passes by hand, dg.function unfused, and fused (one pass: fuse_updates.py).
(c) first-call cost of the chain plan and of the MLP step's plan in a fresh process: fusion
    off; on with an empty kernel cache (numba compiles); on with the cache filled by the
    previous process (numba loads).

Contenders are timed interleaved (one round times each once), min and median over rounds.

    python benchmarks/fusion.py [--quick]
"""
import os
import subprocess
import sys
import tempfile
import time
import timeit

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import dualgraph as dg  # noqa: E402
import dualgraph.nn.functional as F  # noqa: E402
from dualgraph.graph.passes import fuse_elementwise as FE  # noqa: E402
from graph_vs_eager import chain_ops, numpy_chain  # noqa: E402


def interleaved(cases, number, rounds):
    for fn in cases.values():
        fn()
    times = {k: [] for k in cases}
    for _ in range(rounds):
        for k, fn in cases.items():
            times[k].append(timeit.timeit(fn, number=number) / number * 1e6)
    return {k: (min(v), float(np.median(v))) for k, v in times.items()}


def chain_step(x):
    x.requires_grad_(True)
    y = chain_ops(x, dg.tanh).sum()
    (g,) = dg.gradients(y, [x])
    return g


class compiled:
    """dg.function(fn) called with the numba backend set to `fusion` around every call (a plan
    is specialised for the setting it runs under, and again when that changes)."""

    def __init__(self, fn, fusion):
        self.f, self.fusion = dg.function(fn), fusion

    def __call__(self, *args):
        old = FE.get_fusion()
        FE.set_fusion(self.fusion)
        try:
            return self.f(*args)
        finally:
            FE.set_fusion(old)

    @property
    def _traces(self):
        return self.f._traces


def chain_cases(n):
    x0 = np.random.default_rng(0).standard_normal(n).astype(np.float32) * 0.1
    xt = dg.tensor(x0)
    plain = compiled(chain_step, None)
    plain(xt)                                   # specialised unfused
    fused = compiled(chain_step, "numba")
    got = fused(xt)                             # specialised fused
    FE.set_fusion(None)
    ref = numpy_chain(x0)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-4, atol=1e-30)  # 100 float32 ops
    np.testing.assert_allclose(plain(xt).numpy(), ref, rtol=1e-4, atol=1e-30)
    cases = {"numpy, hand-written": lambda: numpy_chain(x0),
             "dg.function": lambda: plain(xt),
             "dg.function, fused (numba)": lambda: fused(xt)}
    try:
        import numexpr
        expr = "x"
        for i in range(100):
            r = i % 3
            expr = f"({expr}) * 1.01" if r == 0 else (f"({expr}) + 0.5" if r == 1 else f"tanh({expr})")
        out = np.empty_like(x0)
        numexpr.evaluate(expr, local_dict={"x": x0}, out=out)
        cases["numexpr, forward only (one call)"] = lambda: numexpr.evaluate(expr, local_dict={"x": x0}, out=out)
    except ImportError:
        pass
    return cases, fused


def mlp_cases(batch):
    rng = np.random.default_rng(0)
    x = dg.tensor(rng.standard_normal((batch, 784)).astype(np.float32))
    y = dg.tensor(rng.integers(0, 10, batch))

    def make():
        dg.manual_seed(0)
        model = dg.nn.Sequential(dg.nn.Linear(784, 256), dg.nn.ReLU(), dg.nn.Linear(256, 128),
                                 dg.nn.ReLU(), dg.nn.Linear(128, 10))
        opt = dg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step
    plain = compiled(make(), None)
    plain(x, y)
    fused = compiled(make(), "numba")
    fused(x, y)
    FE.set_fusion(None)
    np.testing.assert_allclose(float(fused(x, y)), float(plain(x, y)), rtol=1e-5)
    return {"dg.function": lambda: plain(x, y), "dg.function, fused (numba)": lambda: fused(x, y)}, fused


FIRST_CALL = r"""
import os, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
import numpy as np, dualgraph as dg
from dualgraph.graph.passes import fuse_elementwise as FE
t1 = time.perf_counter()
if {fused!r}:
    FE.set_fusion("numba")      # (starts numba in a background thread)
t2 = time.perf_counter()
if {work!r} == "sleep":         # the program's other work before its first plan: I/O ...
    time.sleep(0.5)
elif {work!r} == "python":      # ... or Python holding the GIL (numba's start competes for it)
    end = time.perf_counter() + 0.5
    while time.perf_counter() < end:
        sum(range(1000))


def chain_step(x):
    x.requires_grad_(True)
    y = x
    for i in range(100):
        y = y * 1.01 if i % 3 == 0 else (y + 0.5 if i % 3 == 1 else dg.tanh(y))
    (g,) = dg.gradients(y.sum(), [x])
    return g


def mlp():
    dg.manual_seed(0)
    model = dg.nn.Sequential(dg.nn.Linear(784, 256), dg.nn.ReLU(), dg.nn.Linear(256, 128),
                             dg.nn.ReLU(), dg.nn.Linear(128, 10))
    opt = dg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = dg.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return dg.function(step)


x = dg.tensor(np.ones(16, np.float32) * 0.1)
f = dg.function(chain_step)
t3 = time.perf_counter(); f(x); t4 = time.perf_counter()
rng = np.random.default_rng(0)
xb = dg.tensor(rng.standard_normal((64, 784)).astype(np.float32)); yb = dg.tensor(rng.integers(0, 10, 64))
m = mlp()
t5 = time.perf_counter(); m(xb, yb); t6 = time.perf_counter()
g = dg.function(chain_step); y = dg.tensor(np.ones(32, np.float32) * 0.1)
t7 = time.perf_counter(); g(y); t8 = time.perf_counter()
print("%.1f %.1f %.1f %.1f %.1f" % ((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t4 - t3) * 1e3, (t6 - t5) * 1e3,
                                     (t8 - t7) * 1e3))
"""


def first_call():
    """Rows (label, import dg, set_fusion, chain's first call, MLP's first call, a second chain
    plan), ms, each from a fresh process: fusion off, then on with an empty kernel cache, then
    on with the cache the previous process filled -- right after set_fusion, and after 0.5 s
    of other work (numba starts in the background meanwhile)."""
    root = os.path.join(HERE, "..")
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, DUALGRAPH_CACHE_DIR=d)
        rows = []
        for label, fused, work in (
                ("fusion off", False, None), ("fusion on, empty kernel cache", True, None),
                ("fusion on, cache filled by the run before", True, None),
                ("  the same, 0.5 s of I/O (a sleep) first", True, "sleep"),
                ("  the same, 0.5 s of Python first", True, "python")):
            code = FIRST_CALL.format(root=root, fused=fused, work=work)
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                 check=True).stdout.split()
            rows.append((label, *map(float, out)))
    return rows


def report(title, res, base):
    print(f"\n{title}: us per call")
    print(f"  {'':40s} {'min':>9s} {'median':>9s} {'x ' + base[:12]:>14s}")
    b = res[base][0]
    for k, (mn, md) in res.items():
        print(f"  {k:40s} {mn:9.1f} {md:9.1f} {mn / b:14.2f}")


def update_cases(shape):
    """(d) one SGD-momentum update of a parameter (buf = m*buf + g; p -= lr*buf): numpy's four
    in-place passes by hand, and the same code under dg.function unfused and fused (one pass,
    fuse_updates.py); after the timing, the fused and unfused states are checked bit-equal."""
    rng = np.random.default_rng(0)
    g = rng.standard_normal(shape).astype(np.float32)
    m, nlr = np.float32(0.9), np.float32(-0.01)
    p0 = rng.standard_normal(shape).astype(np.float32)
    pn, bn, tmp = p0.copy(), np.zeros(shape, np.float32), np.empty(shape, np.float32)

    def by_hand():
        bn.__imul__(m)
        bn.__iadd__(g)
        np.multiply(bn, nlr, out=tmp)
        pn.__iadd__(tmp)
    out = {"numpy, 4 passes by hand": by_hand}
    states = {}
    for label, backend in (("dg.function", None), ("dg.function, fused (numba)", "numba")):
        p, buf = dg.tensor(p0.copy()), dg.zeros(*shape)
        gt, mt, lt = dg.tensor(g), dg.tensor(m), dg.tensor(nlr)

        def upd(g, m, nlr, p=p, buf=buf):
            buf.mul_(m).add_(g)
            p.add_(buf * nlr)
        f = compiled(upd, backend)
        f(gt, mt, lt)
        FE.set_fusion(None)
        out[label] = (lambda f=f, gt=gt, mt=mt, lt=lt: f(gt, mt, lt))
        states[label] = (p, buf, f)
    return out, states


def main(quick=False):
    import numba
    print(f"dualgraph {dg.__version__}, numpy {np.__version__}, numba {numba.__version__}")
    rounds = 3 if quick else 15
    for n, number in ((16, 200), (65536, 20)):
        cases, fused = chain_cases(n)
        report(f"(a) 100-op chain fwd+bwd, {n} floats ({fused._traces[-1].plan.stats.get('fused_kernels')} "
               f"fused kernels)", interleaved(cases, number if not quick else 5, rounds), "numpy, hand-written")
    cases, fused = mlp_cases(64)
    st = fused._traces[-1].plan.stats
    report(f"(b) MLP 784-256-128-10 SGD step, batch 64 ({st.get('fused_kernels')} fused kernels, "
           f"{st.get('fused_updates')} fused updates)", interleaved(cases, 20 if not quick else 2, rounds),
           "dg.function")
    for shape in ((256, 784), (1024, 1024)):
        cases, states = update_cases(shape)
        res = interleaved(cases, 50 if not quick else 2, rounds)
        (p1, b1, _), (p2, b2, f2) = states.values()
        assert np.array_equal(p1.numpy(), p2.numpy()) and np.array_equal(b1.numpy(), b2.numpy())
        assert f2._traces[-1].plan.stats.get("fused_updates") == 1
        report(f"(d) one SGD-momentum update of a {shape[0]}x{shape[1]} parameter (fused == unfused, "
               "bit for bit, after every call)", res, "numpy, 4 passes by hand")
    print("\n(c) first calls (trace, compile, specialise, run) in a fresh process, ms")
    print(f"  {'':42s} {'import dg':>10s} {'set_fusion':>11s} {'chain':>7s} {'MLP b64':>8s} "
          f"{'2nd chain':>10s}")
    for label, a, b, c, d, e in first_call():
        print(f"  {label:42s} {a:10.1f} {b:11.1f} {c:7.1f} {d:8.1f} {e:10.1f}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
