"""Comparison: what dg.compare measured, as a dict (JSON), a markdown table, text and a plot.

The shape of `to_dict()` is documented in docs/compare-json.md.
"""
import math


def _kib(b):
    return f"{b / 1024:.1f}"


def _us(t):
    return f"{t:.1f}"


def _clean(x):
    """JSON has no inf/nan: they become None."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):  # numpy scalars
        return _clean(x.item())
    return x


class Comparison:
    """One function run both ways. Built by dg.compare (see runner.py for what each field is)."""

    def __init__(self, name):
        self.name = name
        self.agree = None
        self.max_abs_diff = None
        self.diffs = []
        self.retraces = 0
        self.timing = {}
        self.speedup = None
        self.number = None
        self.first_call = {}
        self.break_even_calls = None
        self.memory = {}
        self.graph_stats = None
        self.graph_sizes = []
        self.tape_nodes = []
        self.state_differences = []  # (call, state name, what differs) after each agreement call
        self.state_compared = 0      # how many state values (tensors, .grad, slots) were compared
        self.graph = None
        self.plan = None
        self.rows = {}
        self.meta = {}

    # ---- export
    def to_dict(self):
        stats = {k: v for k, v in (self.graph_stats or {}).items()}
        return _clean({
            "name": self.name, "agree": self.agree, "max_abs_diff": self.max_abs_diff,
            "diffs": self.diffs, "retraces": self.retraces, "timing": self.timing,
            "speedup": self.speedup, "calls_per_round": self.number, "first_call": self.first_call,
            "break_even_calls": self.break_even_calls, "memory": self.memory, "graph_stats": stats,
            "graph_sizes": [list(s) for s in self.graph_sizes], "tape_nodes": self.tape_nodes,
            "state_compared": self.state_compared,
            "state_differences": [list(d) for d in self.state_differences],
            "meta": self.meta})

    def _timing_rows(self):
        for mode in ("eager", "compiled"):
            t = self.timing.get(mode)
            if t:
                yield mode, t

    def to_markdown(self):
        m, f = self.memory, self.first_call
        lines = [f"### {self.name}", "",
                 "| mode | median µs/call | spread (q1–q3) µs | first call ms | peak KiB/call |",
                 "|---|---:|---:|---:|---:|"]
        firsts = {"eager": f.get("eager_ms"), "compiled": f.get("compiled_ms")}
        peaks = {"eager": m.get("eager_peak_bytes"), "compiled": m.get("compiled_peak_bytes")}
        for mode, t in self._timing_rows():
            peak = peaks[mode]
            lines.append(f"| {mode} | {_us(t['median_us'])} | {_us(t['q1_us'])}–{_us(t['q3_us'])} | "
                         f"{firsts[mode]:.2f} | {_kib(peak) if peak is not None else '—'} |")
        lines.append("")
        lines.extend(f"- {line}" for line in self._findings())
        return "\n".join(lines) + "\n"

    def _findings(self):
        out = []
        agree = "agree" if self.agree else "DIFFER"
        out.append(f"results {agree} over {len(self.diffs)} calls (largest difference "
                   f"{self.max_abs_diff:.2e}; {self.state_compared} state values compared after "
                   f"each call); retraces: {self.retraces}")
        for call, name, what in self.state_differences[:5]:
            out.append(f"state differs after call {call}: {name}: {what}")
        if self.speedup is not None:
            out.append(f"compiled runs at {self.speedup:.2f}x the speed of eager")
        f = self.first_call
        if f:
            passes = ", ".join(f"{k} {v:.2f}" for k, v in f.get("passes_ms", {}).items())
            out.append(f"first compiled call {f['compiled_ms']:.1f} ms: trace {f['trace_ms']:.1f} ms, "
                       f"compile {f['compile_ms']:.1f} ms ({passes}), specialise "
                       f"{f['specialise_ms']:.1f} ms")
        be = self.break_even_calls
        out.append("compiling pays off after " + (f"{be} calls" if be is not None else
                                                    "no number of calls (the compiled call is not cheaper)"))
        if self.graph_sizes:
            out.append("graph: " + " → ".join(f"{k} {n}" for k, n in self.graph_sizes))
        s = self.graph_stats or {}
        m = self.memory
        if m:
            out.append(f"memory per call: eager {_kib(m['eager_peak_bytes'])} KiB, compiled "
                       f"{_kib(m['compiled_peak_bytes'])} KiB, unplanned plan "
                       f"{_kib(m['unplanned_peak_bytes'])} KiB; planned peak of intermediates "
                       f"{_kib(m['planned_peak_bytes'])} KiB ({s.get('buffers_reused', 0)} buffers reused)")
        if self.tape_nodes:
            kind = "the same" if len(set(self.tape_nodes)) == 1 else "changing"
            out.append(f"eager tape nodes per call: {self.tape_nodes} ({kind})")
        return out

    def __str__(self):
        lines = [self.name, f"  {'mode':<10}{'median us':>12}{'q1-q3 us':>20}{'first ms':>10}{'KiB/call':>10}"]
        m, f = self.memory, self.first_call
        for mode, t in self._timing_rows():
            spread = f"{t['q1_us']:.1f}-{t['q3_us']:.1f}"
            peak = m.get(f"{mode}_peak_bytes", 0)
            lines.append(f"  {mode:<10}{t['median_us']:12.1f}{spread:>20}{f[f'{mode}_ms']:10.2f}{peak / 1024:10.1f}")
        lines.extend(f"  {line}" for line in self._findings())
        return "\n".join(lines)

    def __repr__(self):
        return f"<Comparison {self.name!r}: agree={self.agree}, speedup={self.speedup}>"

    # ---- plot
    def plot(self, path):
        """One PNG: time per call by mode (median, quartiles), cumulative time against the number
        of calls (where compiling pays off), memory per call and the graph through the passes."""
        from .plotting import plot_comparison
        return plot_comparison(self, path)
