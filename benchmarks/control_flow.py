"""A variable-length Elman RNN training step: a Python loop, retracing, a graph loop, PyTorch.

The step (batch B, input D, hidden H, readout O; float32):

    opt.zero_grad()
    h = zeros(B, H)
    for t in range(n):                        # n = this sequence's length
        h = tanh(xs[t] @ W + h @ U + b)       # xs: the padded sequence, (T_max, B, D)
    loss = mse_loss(h @ V, y)                 # a fixed linear readout V, a target y (B, O)
    loss.backward()
    opt.step()                                # SGD on W, U, b (nn.Parameter)

measured five ways, in one process on one thread:

(a) eager dualgraph: the step above, a Python loop over the length;
(b) `dg.function` of the same step with n a Python int (autograph off): the loop is unrolled at
    trace time, so the function retraces once per distinct length (trace counts and the cost of
    the first call at each length are reported);
(c) `dg.function` of the step written with `dg.while_loop` (autograph off), n a 0-d int tensor:
    one trace for every length (the body's plan runs n times; its gradient is a second loop,
    while_v2-style);
(d) PyTorch eager, the same step (skipped, with a note, when torch is not installed);
(e) `dg.function` of the step of (a) -- a plain `for t in range(n):` -- called with n a 0-d int
    tensor: AutoGraph rewrites the loop into a dg.while_loop, one trace (skipped, with a note,
    when `dg.autograph` is missing or fails).

The parameters live in a small nn.Module passed to the step with the optimizer (the house style
of function_overhead.py; passing the three Parameters themselves as arguments of a dg.function
loses the optimizer's in-place updates at the time of writing, see benchmarks/README.md). Every contender starts from the same weights (seeded) and sees the same
sequences (lengths drawn uniformly from a range, padded to T_max). Before timing, the first few
steps are checked: every contender's loss, the gradients of W, U, b and the parameters after
the SGD update must agree with eager (allclose). Then one warm-up pass over every distinct length
(so (b) has traced them all: its first-call costs are recorded there), then the timed rounds:
each round runs every contender once on the same sequence (the order rotated each round), timed
with perf_counter. Reported: per-step median and min in µs, the median per time step, the ratios
to PyTorch eager, trace counts and first-call (trace + compile + run) costs.

    python benchmarks/control_flow.py            # full run, ~15 s
    python benchmarks/control_flow.py --quick    # smoke run, < 5 s (half of it importing torch)
"""
import os
import sys
import time
import warnings

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

try:
    import torch  # noqa: E402
    torch.set_num_threads(1)
except ImportError:  # everything but (d) still runs
    torch = None

FULL = dict(B=16, D=32, H=64, O=8, lengths=(5, 20), n_seqs=64, rounds=2000, n_check=4, lr=0.05, seed=0)
QUICK = dict(B=4, D=8, H=16, O=4, lengths=(2, 5), n_seqs=8, rounds=20, n_check=3, lr=0.05, seed=0)
RTOL, ATOL = 1e-4, 1e-5

NAMES = {
    "a": "(a) eager dualgraph",
    "b": "(b) dg.function, n int (retraces)",
    "c": "(c) dg.function + dg.while_loop",
    "d": "(d) PyTorch eager",
    "e": "(e) dg.function + AutoGraph for",
}


# ================================================================ data and weights
def make_data(B, D, H, O, lengths, n_seqs, seed, **_):
    """Weights and sequences as numpy arrays: {'W', 'U', 'b', 'V'} and a list of (xs, n, y),
    xs of shape (T_max, B, D) zero past the length n, y of shape (B, O)."""
    rng = np.random.default_rng(seed)
    lo, hi = lengths
    w = {"W": rng.normal(size=(D, H)) / np.sqrt(D), "U": rng.normal(size=(H, H)) / np.sqrt(H),
         "b": rng.normal(size=H) * 0.1, "V": rng.normal(size=(H, O)) / np.sqrt(H)}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    seqs = []
    for _ in range(n_seqs):
        n = int(rng.integers(lo, hi + 1))
        xs = np.zeros((hi, B, D), np.float32)
        xs[:n] = rng.normal(size=(n, B, D))
        seqs.append((xs, n, rng.normal(size=(B, O)).astype(np.float32)))
    return w, seqs


class Elman(nn.Module):
    """W, U, b (trained) and the readout V (a buffer, not trained)."""

    def __init__(self, w):
        super().__init__()
        self.W = nn.Parameter(dg.tensor(w["W"].copy()))
        self.U = nn.Parameter(dg.tensor(w["U"].copy()))
        self.b = nn.Parameter(dg.tensor(w["b"].copy()))
        self.register_buffer("V", dg.tensor(w["V"].copy()))


# ================================================================ the steps
def step_python_loop(m, opt, xs, n, y):
    """(a), (b) and (e): a Python loop over the length."""
    opt.zero_grad()
    h = dg.zeros(xs.shape[1], m.U.shape[0])
    for t in range(n):
        h = dg.tanh(xs[t] @ m.W + h @ m.U + m.b)
    loss = F.mse_loss(h @ m.V, y)
    loss.backward()
    opt.step()
    return loss


def step_while_loop(m, opt, xs, n, y):
    """(c): the same step with dg.while_loop; n may be a Python int or a 0-d int tensor."""
    opt.zero_grad()
    W, U, b = m.W, m.U, m.b

    def body(t, h):
        return t + 1, dg.tanh(xs[t] @ W + h @ U + b)
    _, h = dg.while_loop(lambda t, h: t < n, body, (0, dg.zeros(xs.shape[1], U.shape[0])))
    loss = F.mse_loss(h @ m.V, y)
    loss.backward()
    opt.step()
    return loss


def step_torch(m, opt, xs, n, y):
    """(d): the same step in PyTorch."""
    opt.zero_grad()
    h = torch.zeros(xs.shape[1], m.U.shape[0])
    for t in range(n):
        h = torch.tanh(xs[t] @ m.W + h @ m.U + m.b)
    loss = torch.nn.functional.mse_loss(h @ m.V, y)
    loss.backward()
    opt.step()
    return loss


def _function(fn, autograph):
    """dg.function(fn, autograph=...) where the keyword exists (older versions have none)."""
    try:
        return dg.function(fn, autograph=autograph)
    except TypeError:
        if autograph:
            raise
        return dg.function(fn)


class Contender:
    """One way to run the step: call(i) runs it on sequence i; params() gives (W, U, b) as numpy;
    grads() their .grad; traces() the trace count (None for eager modes). Every call's time is
    recorded in `calls` as (sequence index, seconds, traced) until timing starts."""

    def __init__(self, key, run, params, grads, compiled=None):
        self.key, self.name = key, NAMES[key]
        self._run, self.params, self.grads, self.compiled = run, params, grads, compiled
        self.calls = []
        self.optional = False

    def traces(self):
        return None if self.compiled is None else self.compiled.trace_count

    def call(self, i, record=True):
        before = self.traces()
        t0 = time.perf_counter()
        loss = self._run(i)
        dt = time.perf_counter() - t0
        if record:
            self.calls.append((i, dt, self.traces() != before))
        return loss


def _np(v):
    if hasattr(v, "detach"):
        v = v.detach()
    if hasattr(v, "numpy"):
        v = v.numpy()
    return np.asarray(v)


def make_contenders(w, seqs, lr, keys="abcde"):
    """{key: Contender} for the keys asked for; (d) left out without torch and (e) without a
    working AutoGraph (the reason is in the second result: {key: note})."""
    out, notes = {}, {}
    dg_seqs = [(dg.tensor(xs), n, dg.tensor(n), dg.tensor(y)) for xs, n, y in seqs]

    def dg_contender(key, fn, tensor_n, compiled):
        m = Elman(w)
        opt = dg.optim.SGD(m.parameters(), lr=lr)

        def run(i):
            xs, n, nt, y = dg_seqs[i]
            return fn(m, opt, xs, nt if tensor_n else n, y)
        ps = (m.W, m.U, m.b)
        return Contender(key, run, lambda: [_np(p) for p in ps], lambda: [_np(p.grad) for p in ps], compiled)

    if "a" in keys:
        out["a"] = dg_contender("a", step_python_loop, False, None)
    if "b" in keys:
        f = _function(step_python_loop, autograph=False)
        out["b"] = dg_contender("b", f, False, f)
    if "c" in keys:
        f = _function(step_while_loop, autograph=False)
        out["c"] = dg_contender("c", f, True, f)
    if "d" in keys:
        if torch is None:
            notes["d"] = "torch is not installed: (d) skipped, ratios to PyTorch n/a"
        else:
            tm = torch.nn.Module()
            for k in ("W", "U", "b"):
                setattr(tm, k, torch.nn.Parameter(torch.tensor(w[k])))
            tm.register_buffer("V", torch.tensor(w["V"]))
            topt = torch.optim.SGD(tm.parameters(), lr=lr)
            t_seqs = [(torch.from_numpy(xs), n, torch.from_numpy(y)) for xs, n, y in seqs]
            tps = (tm.W, tm.U, tm.b)

            def run_t(i):
                xs, n, y = t_seqs[i]
                return step_torch(tm, topt, xs, n, y)
            out["d"] = Contender("d", run_t, lambda: [p.detach().numpy().copy() for p in tps],
                                 lambda: [p.grad.numpy().copy() for p in tps])
    if "e" in keys:
        if not hasattr(dg, "autograph"):
            notes["e"] = "dg.autograph is not available: (e) skipped"
        else:
            f = _function(step_python_loop, autograph=True)
            out["e"] = dg_contender("e", f, True, f)
            out["e"].optional = True  # if AutoGraph fails on it, check() drops it with a note
    return out, notes


# ================================================================ check, warm up, time
def check(contenders, n_check, notes):
    """Run the first n_check steps on every contender; each one's loss, gradients and updated
    parameters must equal eager's (allclose). An optional contender ((e)) that raises is dropped
    from `contenders`, the reason put in `notes`. Returns the largest absolute difference seen."""
    ref = contenders["a"]
    worst = 0.0
    for i in range(n_check):
        results = {}
        for k, c in list(contenders.items()):
            try:
                results[k] = (_np(c.call(i)), c.grads(), c.params())
            except Exception as e:  # noqa: BLE001 -- any failure of an optional contender: skip it
                if not c.optional:
                    raise
                del contenders[k]
                notes[k] = f"{c.name} failed ({type(e).__name__}: {e}): skipped"
        rl, rg, rp = results["a"]
        for k, (l, g, p) in results.items():
            for what, got, want in [("loss", [l], [rl]), ("grad", g, rg), ("param", p, rp)]:
                for j, (x, y) in enumerate(zip(got, want)):
                    if x.shape != y.shape or not np.allclose(x, y, rtol=RTOL, atol=ATOL):
                        raise AssertionError(f"step {i}: {contenders[k].name} {what} {j} differs from "
                                             f"{ref.name}: {x!r} vs {y!r}")
                    worst = max(worst, float(np.max(np.abs(x - y))) if x.size else 0.0)
    return worst


def warm_up(contenders, seqs):
    """One call per distinct length not yet seen (so (b) has traced every length)."""
    seen = {seqs[i][1] for i in range(len(contenders["a"].calls))}
    for i, (_, n, _) in enumerate(seqs):
        if n not in seen:
            seen.add(n)
            for c in contenders.values():
                c.call(i)


def time_rounds(contenders, seqs, rounds):
    """{key: [seconds per step]} and the lengths, over `rounds` rounds; round r runs every
    contender once on sequence r mod len(seqs), starting with contender r mod k."""
    keys = list(contenders)
    samples = {k: [] for k in keys}
    lengths = []
    for r in range(rounds):
        i = r % len(seqs)
        lengths.append(seqs[i][1])
        for j in range(len(keys)):
            k = keys[(r + j) % len(keys)]
            run = contenders[k]._run
            t0 = time.perf_counter()
            run(i)
            samples[k].append(time.perf_counter() - t0)
    return samples, lengths


def warm_compiler():
    """Compile and run, once, a tiny step with a Python loop and one with a while_loop (other
    functions than the contenders', other sizes), so that the first contender to trace does not
    also pay the process's one-time costs (first imports, cold code paths)."""
    w, seqs = make_data(B=2, D=3, H=4, O=2, lengths=(2, 2), n_seqs=1, seed=1)
    xs, n, y = seqs[0]
    for fn, nn_ in ((lambda *a: step_python_loop(*a), n), (lambda *a: step_while_loop(*a), dg.tensor(n))):
        m = Elman(w)
        _function(fn, autograph=False)(m, dg.optim.SGD(m.parameters(), lr=0.1), dg.tensor(xs), nn_, dg.tensor(y))


def run(cfg):
    """Build, check, warm up and time every contender for one configuration. Returns a dict:
    'times' {key: (median s, min s, median s per time step)}, 'traces' {key: n or None},
    'first' {key: [(length, seconds) of each call that traced, in order]}, 'first_eager' (eager's first call, s),
    'max_diff', 'notes', 'names', 'lengths' (the distinct lengths), 'cfg'."""
    warm_compiler()
    w, seqs = make_data(**cfg)
    contenders, notes = make_contenders(w, seqs, cfg["lr"])
    with warnings.catch_warnings():  # (b) retracing per length is what it measures: no warning
        warnings.filterwarnings("ignore", message="dg.function retraces", category=UserWarning)
        max_diff = check(contenders, min(cfg["n_check"], len(seqs)), notes)
        warm_up(contenders, seqs)
    first = {k: [(seqs[i][1], dt) for i, dt, traced in c.calls if traced] for k, c in contenders.items()}
    samples, lengths = time_rounds(contenders, seqs, cfg["rounds"])
    per_t = np.asarray(lengths, float)
    times = {k: (float(np.median(v)), float(np.min(v)), float(np.median(np.asarray(v) / per_t)))
             for k, v in samples.items()}
    traces = {k: c.traces() for k, c in contenders.items()}
    for k in ("c", "e"):
        if k in traces:
            assert traces[k] == 1, f"{NAMES[k]} traced {traces[k]} times (expected once)"
    return {"times": times, "traces": traces, "first": first, "first_eager": contenders["a"].calls[0][1],
            "max_diff": max_diff, "notes": notes, "names": {k: c.name for k, c in contenders.items()},
            "lengths": sorted({n for _, n, _ in seqs}), "cfg": cfg}


# ================================================================ report
def format_report(res):
    t, cfg = res["times"], res["cfg"]
    lo, hi = cfg["lengths"]
    base = t.get("d")
    lines = [f"Elman RNN SGD step: batch {cfg['B']}, input {cfg['D']}, hidden {cfg['H']}, readout "
             f"{cfg['O']}, float32; {cfg['n_seqs']} sequences, lengths {lo}..{hi} "
             f"({len(res['lengths'])} distinct), T_max {hi}; {cfg['rounds']} interleaved rounds",
             f"  {'':36}{'median us':>11}{'min us':>10}{'us/t-step':>11}{'x torch':>9}"
             f"{'x torch':>9}{'traces':>8}",
             f"  {'':36}{'':>11}{'':>10}{'(median)':>11}{'(median)':>9}{'(min)':>9}"]
    for k, name in res["names"].items():
        md, mn, pt = t[k]
        r_md = f"{md / base[0]:9.2f}" if base else f"{'n/a':>9}"
        r_mn = f"{mn / base[1]:9.2f}" if base else f"{'n/a':>9}"
        tr = res["traces"][k]
        lines.append(f"  {name:36}{md * 1e6:11.1f}{mn * 1e6:10.1f}{pt * 1e6:11.1f}{r_md}{r_mn}"
                     f"{'-' if tr is None else tr:>8}")
    lines.append("")
    lines.append("first calls (trace + compile + one run), ms")
    lines.append(f"  {NAMES['a']:36}{res['first_eager'] * 1e3:9.1f}   (its first step, no trace)")
    for k in ("b", "c", "e"):
        if k not in res["first"]:
            continue
        f = [dt for _, dt in res["first"][k]]
        if k == "b":
            by_n = dict(res["first"][k])
            lines.append(f"  {NAMES[k]:36}{np.median(f) * 1e3:9.1f}   median of {len(f)} traces, one per "
                         f"length, {sum(f) * 1e3:.0f} ms in all")
            if lo in by_n and hi in by_n:
                lines.append(f"  {'':36}{'':9}   (length {lo}: {by_n[lo] * 1e3:.1f}, length {hi}: "
                             f"{by_n[hi] * 1e3:.1f}; the first, length {res['first'][k][0][0]}: "
                             f"{f[0] * 1e3:.1f})")
        else:
            lines.append(f"  {NAMES[k]:36}{sum(f) * 1e3:9.1f}   ({len(f)} trace for every length)")
    if "b" in t:
        saved = t["a"][0] - t["b"][0]
        if saved > 0:
            lines.append(f"  (b)'s traces pay for themselves after ~{sum(dt for _, dt in res['first']['b']) / saved:.0f} "
                         f"steps against eager (median step saving {saved * 1e6:.0f} us)")
    for k in ("c", "e"):
        if k in t:
            saved = t["a"][0] - t[k][0]
            if saved > 0:
                lines.append(f"  ({k})'s one trace pays for itself after ~{sum(dt for _, dt in res['first'][k]) / saved:.0f} "
                             f"steps against eager (median step saving {saved * 1e6:.0f} us)")
    for note in res["notes"].values():
        lines.append("note: " + note)
    return "\n".join(lines)


def main(quick=False, cfg=None):
    cfg = dict(QUICK if quick else FULL, **(cfg or {}))
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch is not None else 'n/a'}, dualgraph "
          f"{getattr(dg, '__version__', '?')} from {os.path.dirname(os.path.abspath(dg.__file__))}")
    print(f"{os.uname().machine}, {os.cpu_count()} CPUs visible, one thread"
          + (" (--quick: few rounds, ratios unreliable)" if quick else ""))
    res = run(cfg)
    print(f"first {cfg['n_check']} steps agree with eager (loss, grads of W U b, updated params; "
          f"rtol {RTOL}, atol {ATOL}): largest difference {res['max_diff']:.2e}")
    print()
    print(format_report(res))
    return res


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
