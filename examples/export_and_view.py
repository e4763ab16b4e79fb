"""Export a small CNN's graph in every format dg.export has, and look at it.

    python examples/export_and_view.py [OUTDIR [PICTURE.png]]

Builds LeNet (dg.nn Conv2d / MaxPool2d / Linear, each layer in its own name scope) in graph
mode on a placeholder with an open batch dim, then writes what the installed packages allow:
JSON, DOT, a PNG picture (Graphviz `dot`, or matplotlib when it is missing), the compiled
plan's picture, GraphML, ONNX and a TensorBoard event file, and says how to open each. A format
whose optional package is missing is skipped with the `pip install` line that adds it.
"""
import os
import sys
import tempfile

import numpy as np

import dualgraph as dg

nn = dg.nn


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        with dg.name_scope("conv1"):
            x = self.pool(self.conv1(x).relu())
        with dg.name_scope("conv2"):
            x = self.pool(self.conv2(x).relu())
        x = x.flatten(1)
        with dg.name_scope("fc1"):
            x = self.fc1(x).relu()
        with dg.name_scope("fc2"):
            x = self.fc2(x).relu()
        with dg.name_scope("fc3"):
            return self.fc3(x)


def build():
    dg.manual_seed(0)
    model = LeNet()
    with dg.graph_mode() as g:
        images = dg.placeholder(dg.float32, [None, 1, 28, 28], name="images")
        logits = model(images)
    return g, images, logits


def main(outdir=None, picture=None):
    """Export into outdir (a temporary folder by default); picture: also draw the PNG there
    (the README's docs/images/cnn_graph.png: `python examples/export_and_view.py OUTDIR
    docs/images/cnn_graph.png`)."""
    outdir = outdir or os.path.join(tempfile.gettempdir(), "dualgraph_export")
    os.makedirs(outdir, exist_ok=True)
    g, images, logits = build()
    ex = dg.export
    written, skipped, failed = {}, {}, {}

    def attempt(key, name, fn, how):
        if not hasattr(ex, name):
            skipped[key] = f"dg.export.{name} is not available in this version"
            return
        try:
            path = fn(getattr(ex, name))
        except ex.ExportError as e:  # an optional package is missing
            skipped[key] = str(e)
            return
        except Exception as e:  # noqa: BLE001 - report it, export the other formats
            failed[key] = f"{type(e).__name__}: {e}"
            return
        written[key] = (path, how.format(path=path))

    def to_file(path, text):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    p = os.path.join
    attempt("json", "to_json", lambda f: to_file(p(outdir, "lenet.json"), f(g)),
            "any text editor; dg.export.from_json(open('{path}').read()) reads it back")
    attempt("dot", "to_dot", lambda f: (f(g, p(outdir, "lenet.dot")), p(outdir, "lenet.dot"))[1],
            "dot -Tsvg {path} -o lenet.svg, or xdot {path}")
    attempt("png", "draw", lambda f: f(g, p(outdir, "lenet.png")), "any image viewer")
    if picture is not None:
        attempt("picture", "draw", lambda f: f(g, picture), "any image viewer")
    attempt("svg", "draw", lambda f: f(g, p(outdir, "lenet.svg")), "a web browser (node names as tooltips)")
    plan = g.compile(logits, feeds=[images])
    plan(np.zeros((2, 1, 28, 28), np.float32))  # specialised for batch 2: buffer reuse is planned
    attempt("plan_png", "draw_plan", lambda f: f(plan, p(outdir, "lenet_plan.png")), "any image viewer")
    attempt("graphml", "to_graphml", lambda f: (f(g, p(outdir, "lenet.graphml")), p(outdir, "lenet.graphml"))[1],
            "yEd, Gephi or Cytoscape; networkx.read_graphml('{path}')")
    attempt("onnx", "to_onnx",
            lambda f: (f(g, p(outdir, "lenet.onnx"), inputs=[images], outputs=[logits]), p(outdir, "lenet.onnx"))[1],
            "Netron (netron {path}), or onnxruntime.InferenceSession('{path}')")
    tb = p(outdir, "tensorboard")
    attempt("tensorboard", "to_tensorboard", lambda f: f(g, tb),
            f"tensorboard --logdir {tb}  (then the Graphs tab)")

    print(f"LeNet graph: {len(g.nodes)} nodes; exported to {outdir}\n")
    g.print_tabular()
    print("\nplan source (first lines):")
    print("\n".join(plan.source.splitlines()[:6]))
    print("\nwritten:")
    for key, (path, how) in written.items():
        print(f"  {key:<12} {path}\n  {'':<12} open with: {how}")
    for key, why in skipped.items():
        print(f"  skipped {key}: {why}")
    for key, why in failed.items():
        print(f"  FAILED {key}: {why}")
    return {"outdir": outdir, "nodes": len(g.nodes), "written": {k: v[0] for k, v in written.items()},
            "skipped": skipped, "failed": failed, "plan_source": plan.source}


if __name__ == "__main__":
    main(*(sys.argv[1:3]))
