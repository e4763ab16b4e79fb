"""dg.compare on a model with data-dependent control flow: a Python `if` and a bounded `while`
on tensor values, inside a training step.

    MPLBACKEND=Agg python examples/compare_control_flow.py [--out DIR]

The branch depends on the batch (its mean's sign), the loop on the activations. Eagerly Python
takes one branch and turns the loop some number of times per call; under dg.function AutoGraph
makes them a dg.cond and a dg.while_loop, so one trace serves both branches: the batches
alternate branches, the compiled step never retraces, and both modes agree call after call.
"""
import argparse
import pathlib
import tempfile

import numpy as np

import dualgraph as dg
import dualgraph.nn.functional as F

BATCH, D_IN, D_HIDDEN, MAX_HALVINGS = 16, 8, 16, 4


class GatedNet(dg.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = dg.nn.Linear(D_IN, D_HIDDEN)
        self.mix = dg.nn.Linear(D_HIDDEN, D_HIDDEN)
        self.head = dg.nn.Linear(D_HIDDEN, 1)

    def forward(self, x):
        h = self.enc(x).tanh()
        # both branches use self.mix: a parameter only one branch used would have no gradient
        # when the other is taken (eagerly its .grad stays None), which a compiled step refuses
        if x.mean() > 0:
            h = self.mix(h).relu()
            branch = dg.tensor(1)
        else:
            h = -self.mix(h).tanh()
            branch = dg.tensor(0)
        halvings = dg.tensor(0)
        while h.abs().max() > 0.25 and halvings < MAX_HALVINGS:  # bounded: at most 4 turns
            h = h * 0.5
            halvings += 1
        return self.head(h), branch, halvings


def train_step(model, opt, x, y):
    """One training step, written once; it returns which branch ran and how often the loop
    turned, so both modes' control-flow decisions are compared as results too."""
    opt.zero_grad()
    out, branch, halvings = model(x)
    loss = F.mse_loss(out, y)
    loss.backward()
    opt.step()
    return loss, branch, halvings


def setup():
    """A fresh model and optimizer per mode (same seed) and the step bound to them (a `def`:
    AutoGraph converts what it has the source of, and reaches forward through it)."""
    dg.manual_seed(0)
    model = GatedNet()
    opt = dg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step(x, y):
        return train_step(model, opt, x, y)
    return step


def inputs(i):
    """Call i's batch: shifted up on even calls (the `if` branch), down on odd ones (`else`)."""
    rng = np.random.default_rng(i)
    shift = 0.5 if i % 2 == 0 else -0.5
    x = (2 * rng.standard_normal((BATCH, D_IN)) + shift).astype(np.float32)
    return dg.tensor(x), dg.tensor(rng.standard_normal((BATCH, 1)).astype(np.float32))


def expected_branch(i):
    """The branch call i must take, read from its input alone."""
    return int(inputs(i)[0].mean().item() > 0)


def main(out_dir=None):
    out_dir = pathlib.Path(out_dir or tempfile.gettempdir())
    out_dir.mkdir(parents=True, exist_ok=True)
    calls = 4
    cmp = dg.compare(setup=setup, inputs=inputs, calls=calls, repeat=5,
                     name="training step with a data-dependent if and a bounded while")

    # the same calls once more, by hand, to read the decisions each mode made (dg.compare has
    # already checked that every output, branch and loop count included, agrees)
    eager, compiled = setup(), dg.function(setup())
    rows = []
    for i in range(calls):
        a = inputs(i)
        _, be, he = eager(*a)
        _, bc, hc = compiled(*a)
        rows.append((i, expected_branch(i), int(be.item()), int(bc.item()), int(he.item()), int(hc.item())))
    cmp.meta.update(
        expected_branches=[r[1] for r in rows], branches=[r[3] for r in rows],
        eager_branches=[r[2] for r in rows], halvings=[r[5] for r in rows],
        eager_halvings=[r[4] for r in rows], trace_count=compiled.trace_count,
        control_ops=[n.op.name for n in cmp.graph.nodes if n.op.name in ("cond", "while_loop")])

    print("GatedNet: `if x.mean() > 0` picks a branch, `while h.abs().max() > 0.25 and "
          f"halvings < {MAX_HALVINGS}` halves h\n")
    print("call  input says  eager branch  compiled branch  eager halvings  compiled halvings")
    for i, want, be, bc, he, hc in rows:
        print(f"{i:4d}  {'if' if want else 'else':>10}  {'if' if be else 'else':>12}  "
              f"{'if' if bc else 'else':>15}  {he:14d}  {hc:17d}")
    print(f"\nthe compiled step traced {compiled.trace_count} time(s) for both branches (retraces in "
          f"dg.compare: {cmp.retraces}); its graph holds {', '.join(cmp.meta['control_ops'])} "
          "(the forward cond and loop, and their gradients)")
    print(f"eager tape nodes per call: {cmp.tape_nodes}: each call's tape holds only the branch "
          "taken and the loop turns made")
    print(f"agree: {cmp.agree} (losses, branch, loop count, parameters, .grad, momentum buffers); "
          f"compiled runs at {cmp.speedup:.2f}x eager's speed once traced\n")
    print(cmp.to_markdown())
    path = out_dir / "compare_control_flow.png"
    cmp.plot(str(path))
    cmp.meta["plot"] = str(path)
    print(f"plot: {path}")
    return cmp


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="folder for the plot (default: the temp folder)")
    main(ap.parse_args().out)
