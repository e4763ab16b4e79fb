"""compare(fn, *args): run one function eagerly and compiled (dg.function), check the results
agree, and measure time per call, memory allocated per call (tracemalloc) and graph statistics."""
import time
import tracemalloc

import numpy as np

from ..tensor import Tensor
from ..graph.function import Function
from ..utils.tree import flatten


class Comparison:
    def __init__(self, name):
        self.name = name
        self.rows = {}
        self.max_abs_diff = None
        self.graph_stats = None

    def __str__(self):
        lines = [f"{self.name}",
                 f"  {'mode':<12}{'us/call':>12}{'KiB/call':>12}"]
        for mode, r in self.rows.items():
            lines.append(f"  {mode:<12}{r['us']:12.1f}{r['kib']:12.1f}")
        e, c = self.rows.get("eager"), self.rows.get("compiled")
        if e and c:
            lines.append(f"  compiled is {e['us'] / c['us']:.2f}x the speed of eager; "
                         f"results agree to {self.max_abs_diff:.2e}")
        if self.graph_stats:
            s = self.graph_stats
            lines.append(f"  graph: {s['nodes_in']} nodes -> {s['steps']} steps; folded "
                         f"{s.get('constant_fold', {}).get('folded', 0)}, merged {s.get('cse', {}).get('merged', 0)}, "
                         f"simplified {s.get('simplify', {}).get('removed', 0)}; buffers reused "
                         f"{s.get('buffers_reused', 0)}; peak live intermediates {s.get('peak_bytes', 0) / 1024:.1f} KiB; "
                         f"compile {s['compile_ms']:.1f} ms")
        return "\n".join(lines)


def _values(out):
    """The tensors of a result, in tree order, as float64 arrays (other leaves are skipped)."""
    return [x.detach().numpy().astype(np.float64) for x in flatten(out)[0] if isinstance(x, Tensor)]


def _measure(fn, args, repeat):
    fn(*args)  # warm up (traces the compiled one)
    t = min(_time(fn, args) for _ in range(repeat))
    tracemalloc.start()
    fn(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return t, peak


def _time(fn, args, n=5):
    t0 = time.perf_counter()
    for _ in range(n):
        fn(*args)
    return (time.perf_counter() - t0) / n


def compare(fn, *args, name=None, repeat=5, eager_state=None, compiled_state=None):
    """Run `fn` both ways. For stateful steps (training), pass two callables that build the
    function with separate state: fn(state) -> step; otherwise `fn` itself is used twice."""
    cmp = Comparison(name or getattr(fn, "__name__", "function"))
    eager = fn if eager_state is None else eager_state()
    compiled = Function(fn if compiled_state is None else compiled_state())
    out_e = eager(*args)
    out_c = compiled(*args)
    diffs = [np.max(np.abs(a - b)) if a.size else 0.0 for a, b in zip(_values(out_e), _values(out_c))]
    cmp.max_abs_diff = float(max(diffs, default=0.0))
    for mode, f in (("eager", eager), ("compiled", compiled)):
        t, peak = _measure(f, args, repeat)
        cmp.rows[mode] = {"us": t * 1e6, "kib": peak / 1024}
    cmp.graph_stats = compiled.plan_for(*args).stats
    return cmp
