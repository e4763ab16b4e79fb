"""python -m dualgraph.compare: the built-in workloads (MLP, LeNet-5, a variable-length RNN, the
100-op chain, data-dependent control flow, a small transformer) or your own (module:function),
each a training step written once and run define-by-run (eager) and define-then-run
(dg.function): same results, time and memory per step, first-call cost and break-even, what
the compiler did; optionally a report (markdown, HTML, plots) and JSON."""
import argparse
import json
import sys

import dualgraph as dg
import dualgraph.nn.functional as F
from ..errors import DualGraphError
from .report import SUMMARY_HEADER, summary_rows, write_report
from .runner import compare
from .workloads import MLP_SIZES, WORKLOADS, WorkloadError, get_workload, make_mlp, parse_sizes


# ---- kept for code that imports them from here (examples, tests)
def train_step(model, opt, x, y):
    """The issue's training step: identical code for both modes."""
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def make_model(sizes, seed=0):
    """The MLP of the mlp workload: Linear layers of `sizes` with ReLU between them."""
    return make_mlp(sizes, seed)


# ---- arguments
class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line `error: ...` on stderr and exit status 2 (no usage dump)."""

    def error(self, message):
        sys.stderr.write(f"error: {message}\n")
        sys.exit(2)


def _positive_int(text):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _batches(text):
    return [_positive_int(b.strip()) for b in text.split(",")]


def _parser():
    ap = _Parser(prog="python -m dualgraph.compare", description=__doc__,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", action="append", metavar="NAME|module:function",
                    help=f"repeatable or a comma list (default: all built-ins: {', '.join(WORKLOADS)})")
    ap.add_argument("--batch", type=_batches, metavar="B[,B...]",
                    help="batch sizes, e.g. 32,64,128 (default: each workload's own)")
    ap.add_argument("--steps", type=_positive_int, default=3,
                    help="agreement calls: results and state compared after each (default 3)")
    ap.add_argument("--repeat", type=_positive_int, default=5, help="timing rounds per mode (default 5)")
    ap.add_argument("--sizes", help=f"mlp layer sizes (default {','.join(map(str, MLP_SIZES))})")
    ap.add_argument("--report", metavar="DIR", help="write report.md, report.html and PNG plots into DIR")
    ap.add_argument("--json", nargs="?", const="-", metavar="PATH",
                    help="write the comparisons as JSON (docs/compare-json.md) to PATH, or stdout")
    ap.add_argument("--fusion", choices=("off", "numba"),
                    help="elementwise fusion of the compiled plans (dg.set_fusion; default: as set, "
                         "off unless DUALGRAPH_FUSION says otherwise; numba needs the `fast` extra)")
    ap.add_argument("--blas", choices=("numpy", "mkl"),
                    help="the library of 2-D matrix products in both modes (dg.set_blas; default: "
                         "as set, numpy's unless DUALGRAPH_BLAS says otherwise; mkl needs the `mkl` extra)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return ap


def _settings(args):
    """Apply --fusion and --blas (a missing extra is a DualGraphError); returns a function that
    puts back what was set before, and the settings the run uses."""
    old = dg.get_fusion(), dg.get_blas()
    try:
        if args.fusion is not None:
            dg.set_fusion(None if args.fusion == "off" else args.fusion)
        if args.blas is not None:
            dg.set_blas(args.blas)
    except DualGraphError:
        dg.set_fusion(old[0])
        dg.set_blas(old[1])
        raise

    def restore():
        dg.set_fusion(old[0])
        dg.set_blas(old[1])
    return restore, {"fusion": dg.get_fusion() or "off", "blas": dg.get_blas()}


def _workload_specs(values):
    if not values:
        return list(WORKLOADS)
    specs = [s.strip() for v in values for s in v.split(",")]
    if not all(specs):
        raise WorkloadError(f"empty workload name in {','.join(values)!r}")
    return list(dict.fromkeys(specs))  # each once, in the order given


def _plan_runs(args):
    """[(workload, batch, setup, inputs)], everything built before anything runs so that a bad
    argument fails at once."""
    workloads = [get_workload(s) for s in _workload_specs(args.workload)]
    if args.sizes is not None:
        parse_sizes(args.sizes)
        if not any(w.name == "mlp" for w in workloads):
            raise WorkloadError("--sizes applies to the mlp workload only, which is not selected")
    runs = []
    for w in workloads:
        options = {"sizes": args.sizes} if w.name == "mlp" and args.sizes is not None else {}
        for b in args.batch or [w.default_batch]:
            try:
                setup, inputs = w.build(b, **options)
            except DualGraphError:
                raise
            except Exception as e:  # a user workload's own failure: say whose and what
                raise WorkloadError(f"workload {w.name!r} failed to build at batch {b}: "
                                    f"{type(e).__name__}: {e}") from None
            runs.append((w, b, setup, inputs))
    return runs


def _progress(total, disable):
    """A tqdm bar on stderr, or None (disabled, or tqdm not installed)."""
    if disable:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, file=sys.stderr, unit="run", leave=False)


def _expressiveness():
    """Value-dependent control flow: plain Python eagerly; dg.cond (written, or made by AutoGraph
    from a Python `if`) in a graph; refused at trace time without AutoGraph."""
    def clip_if_large(x):
        return dg.cond(x.abs().max() > 1.0, lambda: x / x.abs().max(), lambda: x)

    def python_if(t):
        if t.max() > 1:
            t = t / t.max()
        return t

    x = dg.tensor([0.5, -3.0, 2.0])
    eager = clip_if_large(x)
    compiled = dg.function(clip_if_large)(x)
    converted = dg.function(python_if)
    converted(x), converted(x / 10)  # both branches
    try:
        dg.function(python_if, autograph=False)(x)
        plain = "accepted"
    except TypeError as e:
        plain = f"refused at trace time: {str(e).split('.')[0]}"
    return eager, compiled, converted.trace_count, plain


def _print_expressiveness(out):
    eager, compiled, traces, plain = _expressiveness()
    print("\nwhat each mode can express (value-dependent control flow):", file=out)
    print(f"  dg.cond, eager:    {eager.numpy()}  (plain Python decides)", file=out)
    print(f"  dg.cond, compiled: {compiled.numpy()}  (both branches in the graph, selected at run time)",
          file=out)
    print(f"  a Python `if` on a tensor inside dg.function: converted by AutoGraph to dg.cond "
          f"({traces} trace for both branches)", file=out)
    print(f"  the same with autograph=False: {plain}", file=out)


def _table(header, rows):
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        runs = _plan_runs(args)
        restore, settings = _settings(args)
    except DualGraphError as e:
        sys.stderr.write(f"error: {' '.join(str(e).split())}\n")  # one line, whatever the message
        sys.exit(2)
    try:
        return _run(args, runs, settings)
    finally:
        restore()


def _run(args, runs, settings):
    # with JSON on stdout, stdout holds only the JSON: the tables go to stderr
    out = sys.stderr if args.json == "-" else sys.stdout
    bar = _progress(len(runs), args.no_progress)
    say = (lambda text: bar.write(text, file=out)) if bar else (lambda text: print(text, file=out))
    comparisons = []
    try:
        for w, b, setup, inputs in runs:
            if bar:
                bar.set_description(f"{w.name} batch {b}")
            try:
                cmp = compare(setup=setup, inputs=inputs, calls=args.steps, repeat=args.repeat,
                              name=f"{w.name}, batch {b}: {w.description}")
            except DualGraphError as e:
                sys.stderr.write(f"error: workload {w.name!r} at batch {b}: {type(e).__name__}: "
                                 f"{str(e).splitlines()[0] if str(e) else ''}\n")
                sys.exit(1)
            cmp.meta.update(workload=w.name, batch=b, **settings)
            comparisons.append(cmp)
            say(cmp.to_markdown())
            if bar:
                bar.update()
    finally:
        if bar:
            bar.close()

    print(f"## summary\n\ncompiled plans: fusion {settings['fusion']}; matrix products (both modes): "
          f"{settings['blas']}\n", file=out)
    print(_table(SUMMARY_HEADER, summary_rows(comparisons)), file=out)
    _print_expressiveness(out)
    if args.report:
        paths = write_report(comparisons, args.report)
        print(f"\nreport: {paths['md']}, {paths['html']}", file=out)
        for note in paths["notes"]:
            print(f"  note: {note}", file=out)
    if args.json:
        text = json.dumps([c.to_dict() for c in comparisons], indent=2)
        if args.json == "-":
            sys.stdout.write(text + "\n")
        else:
            with open(args.json, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            print(f"json: {args.json}", file=out)
    differ = [c for c in comparisons if not c.agree]
    if differ:  # the promise broken is a failure a script or CI must see: exit status 1
        sys.stderr.write(f"error: eager and compiled results DIFFER in {len(differ)} of "
                         f"{len(comparisons)} comparisons: {', '.join(c.name for c in differ)}\n")
        sys.exit(1)
    return comparisons


if __name__ == "__main__":
    main()
