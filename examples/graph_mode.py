"""Graph mode in four steps: build -> gradients -> compile (see what the passes did) -> run.

    python examples/graph_mode.py
"""
import numpy as np

import dualgraph as dg


def main():
    rng = np.random.default_rng(0)

    # 1. build: nothing is computed, shapes are inferred (None = known only at run time)
    with dg.graph_mode() as g:
        x = dg.placeholder([None, 4], name="x")
        y = dg.placeholder([None, 1], name="y")
        with dg.name_scope("model"):
            W = dg.Variable(rng.standard_normal((4, 1)).astype(np.float32) * 0.1, name="W")
            b = dg.Variable(np.zeros(1, np.float32), name="b")
            pred = x @ W + b
        loss = ((pred - y) ** 2).mean()
        print("built:", loss, "\n" + g.summary())

        # 2. gradients: the same backward rules eager backward() uses, added as graph nodes
        gW, gb = dg.gradients(loss, [W, b])
        train = [W.assign(W - 0.1 * gW), b.assign(b - 0.1 * gb)]

        # a shape error is raised here, at build time, naming the node
        try:
            x.mm(dg.placeholder([3, 2]))
        except RuntimeError as e:
            print("\nbuild-time error:", str(e).splitlines()[0], "/", str(e).splitlines()[1].strip())

    # 3. compile: prune, constant folding, CSE, simplification, schedule, liveness + buffer reuse
    step = g.compile(loss, feeds=[x, y], updates=train)
    plain = g.compile(loss, feeds=[x, y], optimize=False)
    xs = rng.standard_normal((32, 4)).astype(np.float32)
    ys = xs @ np.array([[1.0], [-2.0], [0.5], [3.0]], np.float32) + 0.25
    print("\nunoptimised:", plain(xs, ys), {k: plain.stats[k] for k in ("steps", "peak_bytes")})
    print("optimised plan stats:")
    for k, v in step.stats.items():
        print(f"  {k}: {v}")

    # 4. run many times: the assigns update W and b between runs
    for i in range(201):
        value = step(xs, ys)
        if i % 50 == 0:
            print(f"step {i:3d}  loss {float(value):.5f}")
    print("learned W:", dg.Session(g).run(W).ravel(), "b:", dg.Session(g).run(b))
    print("\nthe generated code of the training plan:\n" + step.source)


if __name__ == "__main__":
    main()
