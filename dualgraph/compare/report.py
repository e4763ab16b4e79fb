"""write_report(comparisons, directory): the suite's results as report.md and report.html with
PNG plots beside them (time per step by batch, cumulative time and break-even, memory per step,
graph size through the passes, and each workload's graph as dg.export.draw draws it).

matplotlib is imported only here, lazily, on the Agg backend; without it the report is written
without plots and says so. Each comparison's `meta` names its workload and batch.
"""
import html
import os

from ..export.errors import ExportError

COLORS = {"eager": "#d95f02", "compiled": "#1b9e77", "unplanned": "#7570b3"}
MODES = ("eager", "compiled")


def _label(cmp):
    m = cmp.meta or {}
    return m.get("workload", cmp.name), m.get("batch")


def _by_workload(comparisons):
    """{workload: [comparison, ...] in batch order}, workloads in first-seen order."""
    out = {}
    for c in comparisons:
        out.setdefault(_label(c)[0], []).append(c)
    for cs in out.values():
        cs.sort(key=lambda c: _label(c)[1] or 0)
    return out


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def _grid(plt, n, w=4.2, h=3.4):
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    flat = [a for row in axes for a in row]
    for a in flat[n:]:
        a.set_visible(False)
    return fig, flat[:n]


def _save(plt, fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _plot_time(plt, groups, path):
    """(a) median µs per step against batch, one panel per workload, q1–q3 as error bars."""
    fig, axes = _grid(plt, len(groups))
    for ax, (wl, cs) in zip(axes, groups.items()):
        xs = [_label(c)[1] for c in cs]
        for mode in MODES:
            med = [c.timing[mode]["median_us"] for c in cs]
            err = [[m - c.timing[mode]["q1_us"] for m, c in zip(med, cs)],
                   [c.timing[mode]["q3_us"] - m for m, c in zip(med, cs)]]
            ax.errorbar(xs, med, yerr=err, marker="o", capsize=3, label=mode, color=COLORS[mode])
        ax.set_title(wl)
        ax.set_xlabel("batch")
        ax.set_ylabel("µs per step (median, q1–q3)")
        if len(set(xs)) > 1:
            ax.set_xscale("log", base=2)
        ax.set_xticks(xs)
        ax.set_xticklabels([str(x) for x in xs])
        ax.minorticks_off()
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    return _save(plt, fig, path)


def _cumulative_ms(cmp, n, mode):
    return cmp.first_call[f"{mode}_ms"] + (n - 1) * cmp.timing[mode]["median_us"] / 1e3


def _plot_cumulative(plt, comparisons, path):
    """(b) first-call cost + n steady steps in each mode, the break-even marked."""
    fig, axes = _grid(plt, len(comparisons))
    for ax, c in zip(axes, comparisons):
        be = c.break_even_calls
        ns = list(range(1, max(10, 3 * be if be else 100) + 1))
        for mode in MODES:
            ax.plot(ns, [_cumulative_ms(c, n, mode) for n in ns], label=mode, color=COLORS[mode])
        if be:
            ax.axvline(be, color="gray", linestyle="--", linewidth=1)
            ax.annotate(f"break-even: {be} calls", (be, _cumulative_ms(c, be, "compiled")),
                        textcoords="offset points", xytext=(5, -12), fontsize=8)
        wl, b = _label(c)
        ax.set_title(f"{wl}, batch {b}" if b is not None else wl)
        ax.set_xlabel("number of calls")
        ax.set_ylabel("cumulative ms")
        ax.legend(fontsize=8)
    return _save(plt, fig, path)


def _plot_memory(plt, comparisons, path):
    """(c) peak KiB allocated per step: eager, the compiled plan, a plan without memory planning."""
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(comparisons) + 2), 3.8))
    kinds = (("eager", "eager_peak_bytes"), ("compiled", "compiled_peak_bytes"),
             ("unplanned", "unplanned_peak_bytes"))
    width = 0.8 / len(kinds)
    for k, (kind, key) in enumerate(kinds):
        xs = [i + (k - 1) * width for i in range(len(comparisons))]
        ax.bar(xs, [c.memory.get(key, 0) / 1024 for c in comparisons], width, label=kind, color=COLORS[kind])
    ax.set_xticks(range(len(comparisons)))
    ax.set_xticklabels([f"{w}\nbatch {b}" for w, b in map(_label, comparisons)], fontsize=8)
    ax.set_ylabel("KiB allocated per step (peak)")
    ax.set_title("memory per step")
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def _plot_graph_sizes(plt, groups, path):
    """(d) nodes through the compiler passes, one line per workload (its first batch)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    stages = []
    for wl, cs in groups.items():
        sizes = cs[0].graph_sizes
        stages = stages if len(stages) >= len(sizes) else [s for s, _ in sizes]
        ax.plot(range(len(sizes)), [n for _, n in sizes], marker="o", label=wl)
    ax.set_xticks(range(len(stages)))
    ax.set_xticklabels(stages, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("nodes (steps for the plan)")
    ax.set_yscale("log")
    ax.set_title("graph size through the passes")
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def _draw_graphs(groups, directory, notes):
    """(e) each workload's traced graph, drawn by dg.export.draw (Graphviz, else matplotlib)."""
    from .. import export
    out = {}
    for wl, cs in groups.items():
        if cs[0].graph is None:
            continue
        path = os.path.join(directory, f"graph_{_file_name(wl)}.png")
        try:
            export.draw(cs[0].graph, path)
            out[wl] = path
        except ExportError as e:
            notes.append(f"graph of {wl} not drawn: {e}")
    return out


def _file_name(name):
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def summary_rows(comparisons):
    """(workload, batch, eager µs, compiled µs, speedup, agree) per comparison."""
    rows = []
    for c in comparisons:
        wl, b = _label(c)
        rows.append((wl, "" if b is None else str(b), f"{c.timing['eager']['median_us']:.1f}",
                     f"{c.timing['compiled']['median_us']:.1f}",
                     "—" if c.speedup is None else f"{c.speedup:.2f}x",
                     "yes" if c.agree else "NO"))
    return rows


SUMMARY_HEADER = ("workload", "batch", "eager µs/step", "compiled µs/step", "speedup", "agree")


def _md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


PLOT_TITLES = {"time": "Time per step by batch (median; bars: q1–q3)",
               "cumulative": "Cumulative time against the number of calls (first call + steady state)",
               "memory": "Memory per step",
               "graph_sizes": "Graph size through the compiler passes"}


def write_report(comparisons, directory, title="dualgraph: eager vs compiled"):
    """Write report.md, report.html and the PNGs into `directory` (created); returns
    {"md": path, "html": path, "plots": {kind: path}, "graphs": {workload: path}, "notes": [...]}."""
    comparisons = list(comparisons)
    os.makedirs(directory, exist_ok=True)
    groups = _by_workload(comparisons)
    notes, plots, graphs = [], {}, {}
    plt = _pyplot()
    if plt is None:
        notes.append("plots not drawn: matplotlib is not installed (pip install 'dualgraph[viz]')")
    elif comparisons:
        j = lambda f: os.path.join(directory, f)  # noqa: E731
        plots["time"] = _plot_time(plt, groups, j("time_per_step.png"))
        plots["cumulative"] = _plot_cumulative(plt, comparisons, j("cumulative_time.png"))
        plots["memory"] = _plot_memory(plt, comparisons, j("memory_per_step.png"))
        plots["graph_sizes"] = _plot_graph_sizes(plt, groups, j("graph_sizes.png"))
    graphs = _draw_graphs(groups, directory, notes)
    paths = {"md": os.path.join(directory, "report.md"), "html": os.path.join(directory, "report.html"),
             "plots": plots, "graphs": graphs, "notes": notes}
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write(_markdown(comparisons, title, plots, graphs, notes))
    with open(paths["html"], "w", encoding="utf-8") as f:
        f.write(_html(comparisons, title, plots, graphs, notes))
    return paths


def _rel(path):
    return os.path.basename(path)


def _markdown(comparisons, title, plots, graphs, notes):
    parts = [f"# {title}", "", _md_table(SUMMARY_HEADER, summary_rows(comparisons)), ""]
    parts += [f"> {n}" for n in notes] + ([""] if notes else [])
    for kind, path in plots.items():
        parts += [f"## {PLOT_TITLES[kind]}", "", f"![{kind}]({_rel(path)})", ""]
    parts += ["## Each comparison", ""]
    for c in comparisons:
        parts.append(c.to_markdown())
    if graphs:
        parts += ["## The graphs (dg.export.draw)", ""]
        for wl, path in graphs.items():
            parts += [f"### {wl}", "", f"![graph of {wl}]({_rel(path)})", ""]
    return "\n".join(parts) + "\n"


def _html_table(header, rows):
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _comparison_html(c):
    e = html.escape
    rows = []
    for mode in MODES:
        t = c.timing.get(mode)
        if t:
            peak = c.memory.get(f"{mode}_peak_bytes")
            rows.append((mode, f"{t['median_us']:.1f}", f"{t['q1_us']:.1f}–{t['q3_us']:.1f}",
                         f"{c.first_call.get(f'{mode}_ms', 0.0):.2f}",
                         "—" if peak is None else f"{peak / 1024:.1f}"))
    table = _html_table(("mode", "median µs/call", "spread (q1–q3) µs", "first call ms", "peak KiB/call"), rows)
    # the findings are to_markdown()'s bullet lines (a "- " prefix each)
    lines = [ln[2:] for ln in c.to_markdown().splitlines() if ln.startswith("- ")]
    findings = "".join(f"<li>{e(line)}</li>" for line in lines)
    return f"<h3>{e(c.name)}</h3>{table}<ul>{findings}</ul>"


_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}"
        ".note{background:#fff3cd;padding:.5em}")


def _html(comparisons, title, plots, graphs, notes):
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>",
             _html_table(SUMMARY_HEADER, summary_rows(comparisons))]
    parts += [f"<p class='note'>{e(n)}</p>" for n in notes]
    for kind, path in plots.items():
        parts.append(f"<h2>{e(PLOT_TITLES[kind])}</h2><img src='{e(_rel(path))}' alt='{e(kind)}'>")
    parts.append("<h2>Each comparison</h2>")
    parts += [_comparison_html(c) for c in comparisons]
    if graphs:
        parts.append("<h2>The graphs (dg.export.draw)</h2>")
        for wl, path in graphs.items():
            parts.append(f"<h3>{e(wl)}</h3><img src='{e(_rel(path))}' alt='graph of {e(wl)}'>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
