"""Comparison.plot: matplotlib figures of one comparison (imported only when a plot is asked for)."""
from ..export.errors import require

COLORS = {"eager": "#d95f02", "compiled": "#1b9e77", "unplanned": "#7570b3"}


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no screen), or a clear error."""
    mpl = require("matplotlib", "viz", "plotting a comparison")
    mpl.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def cumulative(cmp, n):
    """Total ms of the first n calls in each mode: the first call, then steady-state calls."""
    f, t = cmp.first_call, cmp.timing
    return {mode: f[f"{mode}_ms"] + (n - 1) * t[mode]["median_us"] / 1e3 for mode in ("eager", "compiled")}


def plot_comparison(cmp, path):
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    modes = ["eager", "compiled"]

    ax = axes[0]
    med = [cmp.timing[m]["median_us"] for m in modes]
    err = [[med[i] - cmp.timing[m]["q1_us"] for i, m in enumerate(modes)],
           [cmp.timing[m]["q3_us"] - med[i] for i, m in enumerate(modes)]]
    ax.bar(modes, med, yerr=err, color=[COLORS[m] for m in modes], capsize=4)
    ax.set_ylabel("µs per call (median, q1–q3)")
    ax.set_title("time per call")

    ax = axes[1]
    be = cmp.break_even_calls
    last = max(10, 3 * be if be else 100)
    ns = list(range(1, last + 1))
    for m in modes:
        ax.plot(ns, [cumulative(cmp, n)[m] for n in ns], label=m, color=COLORS[m])
    if be:
        ax.axvline(be, color="gray", linestyle="--", linewidth=1)
        ax.annotate(f"pays off after {be} calls", (be, cumulative(cmp, be)["compiled"]),
                    textcoords="offset points", xytext=(5, -12), fontsize=8)
    ax.set_xlabel("number of calls")
    ax.set_ylabel("cumulative ms")
    ax.set_title("first call + steady state")
    ax.legend(fontsize=8)

    ax = axes[2]
    m = cmp.memory
    if m:
        labels = ["eager", "compiled", "unplanned"]
        vals = [m["eager_peak_bytes"] / 1024, m["compiled_peak_bytes"] / 1024, m["unplanned_peak_bytes"] / 1024]
        ax.bar(labels, vals, color=[COLORS[k] for k in labels])
    ax.set_ylabel("KiB allocated per call (peak)")
    ax.set_title("memory per call")

    ax = axes[3]
    stages = [s for s, _ in cmp.graph_sizes]
    ax.plot(range(len(stages)), [n for _, n in cmp.graph_sizes], marker="o", color=COLORS["compiled"])
    ax.set_xticks(range(len(stages)))
    ax.set_xticklabels(stages, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("nodes")
    ax.set_title("graph through the passes")

    fig.suptitle(cmp.name)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
