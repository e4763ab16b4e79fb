"""dg.compare(fn, *args): run one function define-by-run (eager) and define-then-run
(dg.function), check that every call's results agree, and measure both.

What is measured, and how:
- steady-state time per call: after `warmup` calls each, `repeat` rounds of `number` calls per
  mode, the modes interleaved round by round (a noisy machine slows both alike); median, quartiles
  and extremes of the per-call times;
- first-call cost: eager's first call against the compiled first call, split into the trace
  (running the Python, building the graph), each compiler pass and the specialisation to the fed
  shapes; and the number of calls after which compiling has paid for itself;
- memory: the peak of what one call allocates (tracemalloc, which numpy reports to), for eager,
  the compiled plan, and a plan compiled without optimisation (no memory planning); and the
  plan's own planned peak of live intermediates;
- the graph through the passes, retraces, and the eager tape's size at each call (it changes
  with the data for dynamic models).

Stateful steps (a model and its optimizer) need separate state per mode: pass `setup`, a
callable returning a fresh step function; it is called once per mode.
"""
import statistics
import time
import tracemalloc

import numpy as np

from ..autograd import tape
from ..random import get_rng_state, set_rng_state
from ..tensor import Tensor
from ..graph.function import Function
from ..utils.tree import flatten
from .comparison import Comparison
from .state import ReachedState, state_differences

PASS_ORDER = ("prune", "constant_fold", "cse", "simplify", "relu_pool_grad", "prune_after")


def _values(out):
    """The tensors, arrays and Python numbers of a result, in tree order, each as (its dtype,
    its values as float64); other leaves are skipped. A number is compared too: a Python value
    the trace froze differs from eager's at the next call."""
    vals = []
    for x in flatten(out)[0]:
        if isinstance(x, Tensor):
            a = x.detach().numpy()
        elif isinstance(x, (np.ndarray, np.generic, bool, int, float)):
            a = np.asarray(x)
        else:
            continue
        vals.append((a.dtype, a.astype(np.float64)))
    return vals


def _agreement(a, b, rtol, atol):
    """(max abs difference, whether the results agree) of two calls' results."""
    va, vb = _values(a), _values(b)
    if len(va) != len(vb):
        return float("inf"), False
    worst, ok = 0.0, True
    for (tx, x), (ty, y) in zip(va, vb):
        if x.shape != y.shape or tx != ty:  # (int64 against float32 is a difference too)
            return float("inf"), False
        if x.size:
            with np.errstate(invalid="ignore"):
                d = np.abs(x - y)
            both_nan = np.isnan(x) & np.isnan(y)
            d = np.where(both_nan | (x == y), 0.0, d)  # (inf and inf: no difference)
            worst = max(worst, float(np.max(d)) if not np.isnan(d).any() else float("inf"))
            ok = ok and bool(np.all(both_nan | np.isclose(x, y, rtol=rtol, atol=atol)))
    return worst, ok


def _tape_nodes(call):
    """Run `call()` and count the tape nodes (and view-history entries) recorded meanwhile."""
    before = tape.next_seq()
    out = call()
    return out, tape.next_seq() - before - 1


def _peak(call):
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _time_rounds(contenders, args_for, repeat, number):
    """Interleaved rounds: each round times `number` calls of every contender in turn."""
    samples = {k: [] for k in contenders}
    for r in range(repeat):
        for k, f in contenders.items():
            args = [args_for(r * number + j) for j in range(number)]
            t0 = time.perf_counter()
            for a in args:
                f(*a)
            samples[k].append((time.perf_counter() - t0) / number * 1e6)
    return samples


def _summary(us):
    q = statistics.quantiles(us, n=4) if len(us) > 1 else [us[0]] * 3
    return {"median_us": statistics.median(us), "min_us": min(us), "max_us": max(us),
            "q1_us": q[0], "q3_us": q[2], "samples_us": list(us)}


def _auto_number(f, args, budget_s=0.01):
    """Calls per timing round so that a round takes about `budget_s`."""
    t0 = time.perf_counter()
    f(*args)
    dt = max(time.perf_counter() - t0, 1e-7)
    return int(min(max(1, budget_s // dt), 1000))


def _graph_sizes(stats):
    sizes = [("traced", stats["nodes_in"])]
    for p in PASS_ORDER:
        if p in stats.get("nodes_after", {}):
            sizes.append((p, stats["nodes_after"][p]))
    sizes.append(("steps", stats["steps"]))
    return sizes


def split_arguments(who, fn, args, setup):
    """With setup= the positional arguments are all inputs (dg.compare(x, y, setup=make));
    an old-style leading None is dropped."""
    if setup is None:
        if fn is None or not callable(fn):
            raise TypeError(f"{who}() needs a function to compare (or setup=, a callable returning one)")
        return fn, args
    if fn is None:
        return None, args
    if callable(fn) and not hasattr(fn, "_data"):
        raise TypeError(f"{who}(): pass either a function or setup=, not both (with setup= the "
                        "positional arguments are the inputs)")
    return None, (fn,) + tuple(args)


def compare(fn=None, *args, setup=None, inputs=None, name=None, calls=3, warmup=2, repeat=7,
            number=None, rtol=1e-5, atol=1e-6, memory=True, eager_state=None, compiled_state=None):
    """Run `fn` eagerly and compiled with `dg.function` and compare them; returns a Comparison.

    `setup()` -> a fresh step function with its own state (called once per mode; `fn` is then
    unused); `inputs(i)` -> the arguments of call i (the same sequence for both modes), instead
    of the fixed `*args`. `calls` results are compared (every output of every call, within
    `rtol`/`atol`); then `warmup` calls and `repeat` interleaved timing rounds of `number` calls
    (chosen to take ~10 ms when None). `eager_state`/`compiled_state` are the older spelling of
    `setup` (one factory per mode)."""
    fn, args = split_arguments("dg.compare", fn, args, setup or eager_state)
    if calls < 1 or repeat < 1 or warmup < 0:
        raise ValueError("dg.compare(): calls and repeat must be at least 1, warmup at least 0")
    make_e = eager_state or setup
    make_c = compiled_state or setup
    eager = make_e() if make_e else fn
    compiled = Function(make_c() if make_c else fn)
    args_for = inputs if inputs is not None else (lambda i: args)
    label = name or getattr(fn if fn is not None else eager, "__name__", "function")
    cmp = Comparison(label)

    # agreement calls, which are also the first calls (their cost) and the tape sizes. The
    # state each mode reaches is compared after every call too; on shared state (no setup)
    # each pair of calls starts from the same state (saved, then restored for the compiled call)
    shared = make_e is None
    st_e = ReachedState(eager, args_for(0))
    st_c = st_e if shared else ReachedState(compiled.fn, args_for(0))
    diffs, agree, tape_nodes, state_diffs = [], True, [], []
    for i in range(calls):
        a = args_for(i)
        saved = st_e.save() if shared else None
        rng = get_rng_state()   # (both calls draw the same random numbers: dropout, randn)
        t0 = time.perf_counter()
        out_e, n = _tape_nodes(lambda: eager(*a))
        te = time.perf_counter() - t0
        after_e = st_e.values()
        rng_e = get_rng_state()
        if shared:
            st_e.restore(saved)
        set_rng_state(rng)
        t0 = time.perf_counter()
        out_c = compiled(*a)
        tc = time.perf_counter() - t0
        if get_rng_state() != rng_e:
            state_diffs.append((i, "the random number generator", "advanced differently"))
            agree = False
        if i == 0:
            first_e, first_c = te, tc
        tape_nodes.append(n)
        d, ok = _agreement(out_e, out_c, rtol, atol)
        diffs.append(d)
        bad = state_differences(after_e, st_c.values(), rtol, atol)
        state_diffs += [(i, name, what) for name, what in bad]
        agree = agree and ok and not bad
    tr = compiled._traces[0]
    plan = tr.plan
    stats = plan.stats
    cmp.agree, cmp.diffs, cmp.max_abs_diff = agree, diffs, max(diffs)
    cmp.state_differences = state_diffs
    cmp.state_compared = len(after_e)
    cmp.tape_nodes = tape_nodes
    cmp.graph, cmp.plan = tr.graph, plan
    cmp.graph_stats = stats
    cmp.graph_sizes = _graph_sizes(stats)
    cmp.first_call = {"eager_ms": first_e * 1e3, "compiled_ms": first_c * 1e3, "trace_ms": tr.trace_ms,
                      "compile_ms": stats.get("compile_ms", 0.0),
                      "passes_ms": dict(stats.get("pass_ms", {})),
                      "specialise_ms": stats.get("specialise_ms", 0.0)}

    # steady state
    base = calls
    for i in range(warmup):
        a = args_for(base + i)
        eager(*a)
        compiled(*a)
    base += warmup
    if number is None:
        a = args_for(base)
        number = max(1, min(_auto_number(eager, a), _auto_number(compiled, a)))
        base += 1
    samples = _time_rounds({"eager": eager, "compiled": compiled},
                           lambda i: args_for(base + i), repeat, number)
    base += repeat * number
    cmp.number = number
    cmp.timing = {k: _summary(v) for k, v in samples.items()}
    te_us, tc_us = cmp.timing["eager"]["median_us"], cmp.timing["compiled"]["median_us"]
    cmp.speedup = te_us / tc_us if tc_us > 0 else float("inf")
    extra = cmp.first_call["compiled_ms"] * 1e3 - cmp.first_call["eager_ms"] * 1e3  # in us
    if extra <= 0:
        cmp.break_even_calls = 1
    elif te_us > tc_us:
        cmp.break_even_calls = int(np.ceil(1 + extra / (te_us - tc_us)))
    else:
        cmp.break_even_calls = None  # the compiled call is not cheaper: it never pays off

    if memory:
        a = args_for(base)
        cmp.memory = {"eager_peak_bytes": _peak(lambda: eager(*a)),
                      "compiled_peak_bytes": _peak(lambda: compiled(*a)),
                      "planned_peak_bytes": stats.get("peak_bytes", 0)}
        unplanned = Function(make_c() if make_c else fn, optimize=False)
        unplanned(*a)  # trace and specialise outside the measurement
        cmp.memory["unplanned_peak_bytes"] = _peak(lambda: unplanned(*a))
    cmp.retraces = compiled.trace_count - 1
    cmp.rows = {"eager": {"us": te_us, "kib": cmp.memory.get("eager_peak_bytes", 0) / 1024},
                "compiled": {"us": tc_us, "kib": cmp.memory.get("compiled_peak_bytes", 0) / 1024}}
    return cmp
