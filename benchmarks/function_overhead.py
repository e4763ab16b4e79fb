"""Per-call cost of the dg.function machinery (signature, cache lookup, plan call, output wrapping).

Three cases, each a table of contenders timed interleaved (one round times every contender once),
in one process on one thread; min and median microseconds per call over the rounds:

(a) `dg.function(lambda a, b: a + b)` on two 16-float tensors vs `np.add` on the arrays (and the
    eager `a + b`): what the machinery costs around one tiny op.
(b) a tiny training step -- nn.Linear(4, 2), MSE loss, `opt.zero_grad(); loss.backward();
    opt.step()`, batch 8 -- with SGD(lr=0.1, momentum=0.9) and with Adam(lr=1e-3): the compiled
    step vs the same step eagerly vs the same step written by hand in numpy (the floor).
(c) a compiled function reading 10 Python floats from its closure, then also two modules with
    number attributes (Dropout(p=0.0), a Module with `self.scale = 2.0`), vs (a)'s compiled add.
(d) where one compiled call of (b)'s SGD step goes: the argument signature, the guard check,
    reading the lifted numbers, the plan body alone, and the whole call (plain `timeit`, min of
    7 repeats). This part uses dg.function internals (`_signature`, `_traces`, `feeds_for`,
    `plan.run_unchecked`); a row whose internals the measured version lacks prints n/a.

Before timing, each case (a)-(c) checks that its contenders agree on the first call's outputs (and, for
(b), on the parameters after that first step). Only public API is used (dg.function, dg.nn,
dg.optim, dg.tensor, dg.randn, dg.manual_seed) outside (d), so the script runs on any version of dualgraph:
the one on PYTHONPATH (or the installed one) is measured, and its path is printed.

    python benchmarks/function_overhead.py            # full run, ~20 s
    python benchmarks/function_overhead.py --quick    # smoke run, < 5 s
"""
import os
import sys
import time
import timeit

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

try:  # PYTHONPATH (or the installed package) wins: the script can measure another checkout
    import dualgraph as dg  # noqa: E402
except ImportError:
    sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import dualgraph as dg  # noqa: E402
import dualgraph.nn as nn  # noqa: E402
import dualgraph.nn.functional as F  # noqa: E402

N_ADD = 16           # (a), (c): 16-float vectors
IN, OUT, BATCH = 4, 2, 8
SGD_KW = dict(lr=0.1, momentum=0.9)
ADAM_KW = dict(lr=1e-3)
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
CLOSURE_FLOATS = tuple(1.0 + 0.01 * i for i in range(10))   # a0 .. a9 of case (c)


def _np(v):
    """A dualgraph tensor (or numpy array / number) as a numpy array."""
    if hasattr(v, "detach"):
        v = v.detach()
    if hasattr(v, "numpy"):
        v = v.numpy()
    return np.asarray(v)


def _close(name, got, ref, rtol=1e-5, atol=1e-6):
    got, ref = _np(got), _np(ref)
    if got.shape != ref.shape or not np.allclose(got, ref, rtol=rtol, atol=atol):
        raise AssertionError(f"{name}: {got!r} differs from {ref!r}")


# ================================================================ (a) one add
def add_cases():
    """{contender: callable} for case (a) and the compiled function (for trace_count)."""
    dg.manual_seed(0)
    a, b = dg.randn(N_ADD), dg.randn(N_ADD)
    an, bn = _np(a).copy(), _np(b).copy()
    compiled = dg.function(lambda a, b: a + b)
    cases = {
        "numpy np.add": lambda: np.add(an, bn),
        "dualgraph eager a + b": lambda: a + b,
        "dg.function(a + b)": lambda: compiled(a, b),
    }
    return cases, [compiled]


def check_add(cases):
    ref = cases["numpy np.add"]()
    for k, f in cases.items():
        _close(f"(a) {k}", f(), ref)


# ================================================================ (b) a tiny training step
def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = F.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    return loss


class NumpyStep:
    """The same step by hand: y_hat = x W^T + b, mean squared error, its gradient, and
    PyTorch's SGD-with-momentum (buf = m buf + g from a zero buffer; p -= lr buf) or Adam."""

    def __init__(self, W, b, x, y, opt, kw):
        self.W, self.b, self.x, self.y = W.copy(), b.copy(), x, y
        self.opt, self.lr = opt, kw["lr"]
        self.momentum = kw.get("momentum", 0.0)
        self.bufs = [np.zeros_like(self.W), np.zeros_like(self.b)]      # momentum / exp_avg
        self.sq = [np.zeros_like(self.W), np.zeros_like(self.b)]        # exp_avg_sq
        self.t = 0
        self.scale = np.float32(2.0 / y.size)

    def __call__(self):
        W, b, x = self.W, self.b, self.x
        d = x @ W.T
        d += b
        d -= self.y
        loss = np.mean(d * d)
        d *= self.scale                      # dloss/dy_hat
        grads = (d.T @ x, d.sum(0))
        if self.opt == "sgd":
            for p, buf, g in zip((W, b), self.bufs, grads):
                buf *= self.momentum
                buf += g
                p -= self.lr * buf
        else:
            b1, b2 = ADAM_BETAS
            self.t += 1
            c1, c2 = 1 - b1 ** self.t, np.sqrt(1 - b2 ** self.t)
            for p, m, v, g in zip((W, b), self.bufs, self.sq, grads):
                m += (g - m) * (1 - b1)
                v *= b2
                v += g * g * (1 - b2)
                p -= m / (np.sqrt(v) / c2 + ADAM_EPS) * (self.lr / c1)
        return loss


def step_cases(opt_name):
    """{contender: callable} for case (b) with one optimizer, every contender from the same
    weights and data; also the compiled function and a params getter per contender."""
    Opt, kw = (dg.optim.SGD, SGD_KW) if opt_name == "sgd" else (dg.optim.Adam, ADAM_KW)
    dg.manual_seed(1)
    x, y = dg.randn(BATCH, IN), dg.randn(BATCH, OUT)
    models = []
    for _ in range(2):
        dg.manual_seed(2)                    # the same initial weights in both models
        models.append(nn.Linear(IN, OUT))
    m_e, m_c = models
    o_e, o_c = Opt(m_e.parameters(), **kw), Opt(m_c.parameters(), **kw)
    compiled = dg.function(train_step)
    np_step = NumpyStep(_np(m_e.weight), _np(m_e.bias), _np(x).copy(), _np(y).copy(), opt_name, kw)
    cases = {
        "numpy by hand": np_step,
        "dualgraph eager": lambda: train_step(m_e, o_e, x, y),
        "dg.function step": lambda: compiled(m_c, o_c, x, y),
    }
    params = {
        "numpy by hand": lambda: (np_step.W, np_step.b),
        "dualgraph eager": lambda: (m_e.weight, m_e.bias),
        "dg.function step": lambda: (m_c.weight, m_c.bias),
    }
    return cases, [compiled], params


def check_step(cases, params, opt_name):
    """Only the first call is compared (the old compiled SGD could drift later after a
    learning-rate change; nothing here changes it, but the check stays minimal)."""
    losses = {k: f() for k, f in cases.items()}
    ref = "dualgraph eager"
    for k in cases:
        _close(f"(b, {opt_name}) {k} loss", losses[k], losses[ref])
        for i, (p, q) in enumerate(zip(params[k](), params[ref]())):
            _close(f"(b, {opt_name}) {k} param {i} after the first step", p, q)


# ================================================================ (c) Python numbers in the closure
class Scale(nn.Module):
    def __init__(self, scale=2.0):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


def closure_cases():
    a0, a1, a2, a3, a4, a5, a6, a7, a8, a9 = CLOSURE_FLOATS
    drop, scale = nn.Dropout(p=0.0), Scale(2.0)

    def floats(x):
        return ((((x * a0 + a1) * a2 + a3) * a4 + a5) * a6 + a7) * a8 + a9

    def floats_modules(x):
        return scale(drop(floats(x)))

    def floats_np(x):
        return ((((x * a0 + a1) * a2 + a3) * a4 + a5) * a6 + a7) * a8 + a9

    dg.manual_seed(0)
    a, b = dg.randn(N_ADD), dg.randn(N_ADD)
    xn = _np(a).copy()
    c_add = dg.function(lambda a, b: a + b)
    c_floats, c_mods = dg.function(floats), dg.function(floats_modules)
    cases = {
        "numpy, same arithmetic": lambda: floats_np(xn) * 2.0,
        "dualgraph eager, floats + modules": lambda: floats_modules(a),
        "dg.function(a + b)  [as (a)]": lambda: c_add(a, b),
        "dg.function, 10 closure floats": lambda: c_floats(a),
        "dg.function, floats + 2 modules": lambda: c_mods(a),
    }
    return cases, [c_add, c_floats, c_mods], (a, b, floats_np)


def check_closure(cases, extra):
    a, b, floats_np = extra
    xn = _np(a)
    _close("(c) dg.function(a + b)", cases["dg.function(a + b)  [as (a)]"](), _np(a) + _np(b))
    _close("(c) 10 closure floats", cases["dg.function, 10 closure floats"](), floats_np(xn))
    ref = floats_np(xn) * 2.0
    for k in ("numpy, same arithmetic", "dualgraph eager, floats + modules",
              "dg.function, floats + 2 modules"):
        _close(f"(c) {k}", cases[k](), ref)


# ================================================================ (d) where a compiled call's time goes
BREAKDOWN_ROWS = ("signature", "guard check", "lifted reads", "plan body", "whole call")


def call_breakdown(quick=False):
    """Per-call cost of the parts of one compiled call of the SGD step of (b): nn.Linear(4, 2),
    SGD(lr=0.1, momentum=0.9), batch 8 (seed 0). Returns {'us': {row: us or None}, 'guards': n or
    None, 'lifted': n or None}; None where the measured dualgraph lacks the internals (older
    versions have no `_traces`, `feeds_for` or `plan.run_unchecked`)."""
    dg.manual_seed(0)
    m = nn.Linear(IN, OUT)
    opt = dg.optim.SGD(m.parameters(), **SGD_KW)
    x, y = dg.randn(BATCH, IN), dg.randn(BATCH, OUT)
    f = dg.function(train_step)
    for _ in range(3):
        f(m, opt, x, y)
    scale, repeat = (0.02, 3) if quick else (1.0, 7)

    def t(fn, n=20000):
        n = max(1, int(n * scale))
        return min(timeit.repeat(fn, number=n, repeat=repeat)) / n * 1e6

    us = dict.fromkeys(BREAKDOWN_ROWS)
    res = {"us": us, "guards": None, "lifted": None}
    tr = f._traces[-1] if getattr(f, "_traces", None) else None
    if hasattr(f, "_signature"):
        us["signature"] = t(lambda: f._signature((m, opt, x, y), {}))
    if tr is not None and hasattr(tr, "guards") and hasattr(tr, "check"):
        res["guards"] = len(tr.guards.items)
        us["guard check"] = t(tr.check)
    if tr is not None and hasattr(tr, "lifted"):
        res["lifted"] = len(tr.lifted)
        us["lifted reads"] = t(lambda: [r() for _, r, _ in tr.lifted])
    if tr is not None and hasattr(f, "feeds_for") and hasattr(tr.plan, "run_unchecked"):
        feeds = f.feeds_for(m, opt, x, y)
        us["plan body"] = t(lambda: tr.plan.run_unchecked(feeds), 5000)
    us["whole call"] = t(lambda: f(m, opt, x, y), 5000)
    return res


def format_breakdown(res):
    n = lambda v: "n/a" if v is None else str(v)  # noqa: E731
    lines = [f"(d) where a compiled call's time goes: the SGD step of (b), us per call "
             f"({n(res['guards'])} guards, {n(res['lifted'])} lifted numbers)"]
    whole = res["us"]["whole call"]
    for k in BREAKDOWN_ROWS:
        v = res["us"][k]
        share = "" if v is None or not whole else f"{v / whole * 100:8.0f}%"
        lines.append(f"  {k:36}{'n/a' if v is None else f'{v:.2f}':>9}{share}")
    return "\n".join(lines)


# ================================================================ measurement
def time_cases(cases, repeat=7, budget=0.2, number=None):
    """{contender: (min, median) seconds per call}. Rounds interleave the contenders (one round =
    one timing of each), so a slow phase of a noisy machine hits all of them alike. `number`
    calls per timing; None: as many as fit in about `budget` seconds."""
    timers, numbers = {}, {}
    for k, f in cases.items():
        f()  # warm up (and trace, for dg.function)
        if number is None:
            t0 = time.perf_counter()
            for _ in range(10):
                f()
            one = (time.perf_counter() - t0) / 10
            numbers[k] = max(1, int(budget / max(one, 1e-9)))
        else:
            numbers[k] = number
        timers[k] = timeit.Timer(f)
    samples = {k: [] for k in cases}
    for _ in range(repeat):
        for k, t in timers.items():
            samples[k].append(t.timeit(numbers[k]) / numbers[k])
    return {k: (min(v), float(np.median(v))) for k, v in samples.items()}


def run_case(name, quick=False, repeat=None, budget=None):
    """Build, check and time one case: 'add', 'sgd', 'adam' or 'closure'. Returns
    {'times': {contender: (min s, median s)}, 'trace_counts': [...], 'modes': [...]}."""
    if repeat is None:
        repeat = 3 if quick else 7
    if budget is None:
        budget = 0.01 if quick else 0.2
    if name == "add":
        cases, compiled = add_cases()
        check_add(cases)
    elif name in ("sgd", "adam"):
        cases, compiled, params = step_cases(name)
        check_step(cases, params, name)
    elif name == "closure":
        cases, compiled, extra = closure_cases()
        check_closure(cases, extra)
    else:
        raise ValueError(name)
    times = time_cases(cases, repeat=repeat, budget=budget)
    counts = [c.trace_count for c in compiled]
    assert all(n == 1 for n in counts), f"{name}: traced {counts} times (expected once each)"
    return {"times": times, "trace_counts": counts, "modes": list(cases)}


TITLES = {
    "add": "(a) a + b on two 16-float tensors: us per call",
    "sgd": f"(b) Linear({IN},{OUT}) + MSE step, SGD(lr={SGD_KW['lr']}, momentum={SGD_KW['momentum']}), "
           f"batch {BATCH}: us per step",
    "adam": f"(b) Linear({IN},{OUT}) + MSE step, Adam(lr={ADAM_KW['lr']}), batch {BATCH}: us per step",
    "closure": "(c) 10 closure floats (+ Dropout(p=0.0) and a Module with scale = 2.0): us per call",
}
BASES = {"add": "numpy np.add", "sgd": "numpy by hand", "adam": "numpy by hand",
         "closure": "dg.function(a + b)  [as (a)]"}


def format_table(name, res):
    t = res["times"]
    base = BASES[name]
    col = "x numpy" if base.startswith("numpy") else "x (a)"
    lines = [TITLES[name],
             f"  {'':36}{'min us':>9}{'median':>9}{col:>9}{'- base us':>11}"]
    for k in res["modes"]:
        mn, md = t[k]
        lines.append(f"  {k:36}{mn * 1e6:9.2f}{md * 1e6:9.2f}{mn / t[base][0]:9.2f}"
                     f"{(mn - t[base][0]) * 1e6:11.2f}")
    return "\n".join(lines)


def main(quick=False):
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, dualgraph "
          f"{getattr(dg, '__version__', '?')} from {os.path.dirname(os.path.abspath(dg.__file__))}")
    print(f"{os.uname().machine}, {os.cpu_count()} CPUs visible, one thread"
          + (" (--quick: few repeats, ratios unreliable)" if quick else ""))
    results = {}
    for name in ("add", "sgd", "adam", "closure"):
        results[name] = run_case(name, quick=quick)
    print("first-call outputs agree (compiled vs eager vs numpy; (b) also the parameters); "
          "every dg.function traced once")
    for name, res in results.items():
        print()
        print(format_table(name, res))
    results["breakdown"] = call_breakdown(quick=quick)
    print()
    print(format_breakdown(results["breakdown"]))
    t = {k: {m: v[0] for m, v in r["times"].items()} for k, r in results.items() if k != "breakdown"}
    print("\nsummary (min times, us per call)")
    print(f"  dg.function(a + b) - np.add                       "
          f"{(t['add']['dg.function(a + b)'] - t['add']['numpy np.add']) * 1e6:8.2f}")
    for o in ("sgd", "adam"):
        print(f"  {o:4} step: compiled - numpy by hand                "
              f"{(t[o]['dg.function step'] - t[o]['numpy by hand']) * 1e6:8.2f}"
              f"   (compiled {t[o]['dg.function step'] / t[o]['numpy by hand']:.2f}x numpy, "
              f"eager {t[o]['dualgraph eager'] / t[o]['dg.function step']:.2f}x compiled)")
    c = t["closure"]
    base = c["dg.function(a + b)  [as (a)]"]
    print(f"  10 closure floats - (a)                           {(c['dg.function, 10 closure floats'] - base) * 1e6:8.2f}")
    print(f"  floats + 2 modules - (a)                          {(c['dg.function, floats + 2 modules'] - base) * 1e6:8.2f}")
    return results


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
