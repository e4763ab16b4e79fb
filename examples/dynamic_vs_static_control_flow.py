"""Dynamic vs static control flow: the same program as an eager tape and as one graph.

    python examples/dynamic_vs_static_control_flow.py

The program: if the sum of x is positive, y = sum(x * x), else y = sum(exp(x)); then halve y
while it is above 1. Which branch runs and how many times the loop turns depend on the data.

1. Eager (define-by-run, PyTorch's way): Python runs the `if` and the `while`, and the tape
   records only the ops that ran. Two inputs give two different tapes: a different branch, a
   different number of iterations. Backprop walks whichever tape this input made.
2. Static (TensorFlow's way): one graph, built before any data is seen, must serve every input,
   so the branch and the loop are ops of the graph: `dg.cond` holds both branches as subgraphs
   and runs the one the predicate picks; `dg.while_loop` holds the loop's cond and body and runs
   the body until the cond says stop. The same graph (and its gradient, also a graph) gives the
   eager values for both inputs.
3. AutoGraph: `dg.function` rewrites the Python `if` / `while` on tensors into dg.cond /
   dg.while_loop from the function's source, so the eager code of step 1 compiles to the graph
   of step 2 with one trace. `dg.autograph.to_code(fn)` shows the code it wrote.
"""
import numpy as np

import dualgraph as dg

INPUTS = {"a": [1.0, 2.0, 3.0], "b": [-1.0, 0.5, -2.0]}


def program(x):
    """Plain Python control flow on tensor values: eager only (and AutoGraph's input)."""
    if x.sum() > 0:
        y = (x * x).sum()
    else:
        y = dg.exp(x).sum()
    while y > 1.0:
        y = y * 0.5
    return y


def program_static(x):
    """The same program with graph control flow: works eagerly and in a graph."""
    y = dg.cond(x.sum() > 0, lambda: (x * x).sum(), lambda: dg.exp(x).sum())
    return dg.while_loop(lambda y: y > 1.0, lambda y: y * 0.5, y)


def _vec(a):
    return "[" + ", ".join(f"{v:.4f}" for v in np.asarray(a).ravel()) + "]"


def tape(y):
    """The eager tape behind y, from y.grad_fn back to the leaves (depth-first, each node
    once): a list of (depth, name)."""
    out, seen = [], set()

    def walk(node, depth):
        if node is None:
            return
        key = id(getattr(node, "variable", node))  # a leaf's AccumulateGrad is made per call
        if key in seen:
            return
        seen.add(key)
        out.append((depth, node.name()))
        for child, _ in getattr(node, "next_functions", ()):
            walk(child, depth + 1)
    walk(y.grad_fn, 0)
    return out


def graph_ops(g):
    """The op names of a graph in creation order, and those of each control-flow op's
    subgraphs: [(owner, [op names])]."""
    rows = [("graph", [n.op.name for n in g.nodes])]
    for n in g.nodes:
        subs = []
        if n.op.name == "cond":
            subs = list(n.attrs["branches"])
        elif n.op.name == "while_loop":
            subs = [n.attrs["cond"], n.attrs["body"]]
        for b in subs:
            rows.append((f"  {b.graph.name}", [m.op.name for m in b.graph.nodes]))
    return rows


def main():
    res = {}

    # ---------------------------------------------------------------- 1. eager: two tapes
    print("1. EAGER (define-by-run): Python runs the if and the while; the tape records what ran")
    eager, tapes = {}, {}
    for k, v in INPUTS.items():
        x = dg.tensor(v, requires_grad=True)
        y = program(x)
        y.backward()
        eager[k] = (float(y), x.grad.numpy().copy())
        tapes[k] = tape(y)
        print(f"\n  x = {v}: y = {float(y):.4f}, dy/dx = {_vec(eager[k][1])}")
        print("  tape (y.grad_fn, then next_functions, down to the leaf x):")
        for depth, name in tapes[k]:
            print("    " + "  " * depth + name)
        turns = next(i for i, (_, n) in enumerate(tapes[k]) if n != "MulBackward0")
        branch = "sum(x * x)" if tapes[k][turns + 1][1] == "MulBackward0" else "sum(exp(x))"
        print(f"  read from the top: {turns} x MulBackward0 = {turns} turns of the loop (y * 0.5), "
              f"then SumBackward0 over the branch {branch}, then the leaf x")
    names = {k: [n for _, n in t] for k, t in tapes.items()}
    res["tapes"] = names
    res["tapes_differ"] = names["a"] != names["b"]
    print(f"\n  the two tapes differ: {res['tapes_differ']} ({len(names['a'])} vs {len(names['b'])} "
          "nodes: another branch, another number of iterations)")

    # ---------------------------------------------------------------- 2. one static graph
    print("\n2. STATIC (one graph for every input): the branch and the loop are ops of the graph")
    g = dg.Graph()
    with g.as_default():
        x = dg.placeholder((3,), "float32", name="x")
        y = program_static(x)
        (gx,) = dg.gradients(y, [x])
    print("\n  " + g.summary().replace("\n", "\n  "))
    print("\n  ops in creation order (and in each subgraph; the gradient adds its own cond and loop):")
    rows = graph_ops(g)
    for owner, ops in rows:
        print(f"    {owner}: {', '.join(ops)}")
    res["graph_ops"] = rows
    sess = dg.Session(g)
    res["graph"], res["eager"] = {}, eager
    for k, v in INPUTS.items():
        yv, gv = sess.run([y, gx], {x: v})
        res["graph"][k] = (float(yv), np.asarray(gv))
        print(f"  run on x = {v}: y = {float(yv):.4f}, dy/dx = {_vec(gv)}")
    res["graph_equals_eager"] = all(
        np.isclose(res["graph"][k][0], eager[k][0], rtol=1e-5)
        and np.allclose(res["graph"][k][1], eager[k][1], rtol=1e-5, atol=1e-6) for k in INPUTS)
    print(f"  the same graph gives the eager values and gradients for both inputs: "
          f"{res['graph_equals_eager']}")

    # ---------------------------------------------------------------- 3. AutoGraph
    print("\n3. AUTOGRAPH: dg.function converts the Python if/while of step 1 into cond/while_loop")
    res["autograph_code"] = None
    if not hasattr(dg, "autograph"):
        print("  (dg.autograph is not available in this version: skipped)")
        return res
    try:
        code = dg.autograph.to_code(program)
    except Exception as e:  # noqa: BLE001 -- an unfinished AutoGraph: say so and stop here
        print(f"  (dg.autograph.to_code failed: {type(e).__name__}: {e}: skipped)")
        return res
    res["autograph_code"] = code
    print("  dg.autograph.to_code(program):\n")
    print("    " + code.strip().replace("\n", "\n    "))

    f = dg.function(program)  # autograph is on by default
    print()
    res["autograph_values"] = {}
    for k, v in INPUTS.items():
        res["autograph_values"][k] = float(f(dg.tensor(v)))
        print(f"  dg.function(program) on x = {v}: y = {res['autograph_values'][k]:.4f}")
    # dg.function converts the function it is given, not the ones it calls: a compiled step that
    # calls `program` and takes the gradient calls the converted function itself
    converted = dg.autograph.convert(program)

    def value_and_grad(x):
        y = converted(x)
        y.backward()
        return y
    fg = dg.function(value_and_grad)
    res["autograph"] = {}
    for k, v in INPUTS.items():
        x = dg.tensor(v, requires_grad=True)
        yv = fg(x)
        res["autograph"][k] = (float(yv), x.grad.numpy().copy())
        print(f"  dg.function(value_and_grad) on x = {v}: y = {float(yv):.4f}, "
              f"dy/dx = {_vec(x.grad.numpy())}")
    res["autograph_trace_count"] = (f.trace_count, fg.trace_count)
    res["autograph_equals_eager"] = all(
        np.isclose(res["autograph"][k][0], eager[k][0], rtol=1e-5)
        and np.isclose(res["autograph_values"][k], eager[k][0], rtol=1e-5)
        and np.allclose(res["autograph"][k][1], eager[k][1], rtol=1e-5, atol=1e-6) for k in INPUTS)
    print(f"  traces: {f.trace_count} and {fg.trace_count}, each serving both inputs; "
          f"values and gradients equal to eager: {res['autograph_equals_eager']}")
    return res


if __name__ == "__main__":
    main()
