"""dg.compare on an MLP classifier's training step: eager against dg.function, side by side.

    MPLBACKEND=Agg python examples/compare_mlp.py [--out DIR]

The step (zero_grad, forward, cross-entropy, backward, SGD with momentum) is written once and
run both ways on a new minibatch each call. dg.compare checks that losses, parameters, .grad
and momentum buffers agree after each call, then times both modes (steady state and first
call), measures the memory one call allocates and shows the graph through the compiler passes.
"""
import argparse
import pathlib
import tempfile

import numpy as np

import dualgraph as dg
import dualgraph.nn.functional as F

SIZES = (64, 128, 64, 10)  # input, hidden, hidden, classes
BATCH, N_BATCHES = 32, 8


def train_step(model, opt, x, y):
    """One training step, written once: both modes run this code."""
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def make_model():
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(dg.nn.Linear(a, b))
        if i + 2 < len(SIZES):
            layers.append(dg.nn.ReLU())
    return dg.nn.Sequential(*layers)


def setup():
    """A fresh model and optimizer per mode, from the same seed (so the same initial weights),
    and the step bound to them: each mode trains its own copy along the same trajectory."""
    dg.manual_seed(0)
    model = make_model()
    opt = dg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step(x, y):
        return train_step(model, opt, x, y)
    return step


def make_batches():
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((N_BATCHES, BATCH, SIZES[0])).astype(np.float32)
    ys = rng.integers(0, SIZES[-1], (N_BATCHES, BATCH))
    return [(dg.tensor(x), dg.tensor(y)) for x, y in zip(xs, ys)]


def main(out_dir=None):
    out_dir = pathlib.Path(out_dir or tempfile.gettempdir())
    out_dir.mkdir(parents=True, exist_ok=True)
    batches = make_batches()
    cmp = dg.compare(setup=setup, inputs=lambda i: batches[i % len(batches)], calls=4, repeat=5,
                     name=f"MLP {'-'.join(map(str, SIZES))} training step (SGD momentum, batch {BATCH})")

    t = cmp.timing
    print(f"MLP {'-'.join(map(str, SIZES))}, cross-entropy, SGD(momentum 0.9), batch {BATCH}\n")
    print(f"agree: {cmp.agree}: the losses of {len(cmp.diffs)} steps and {cmp.state_compared} state "
          "values (parameters, .grad, momentum buffers) matched after every step")
    print(f"time per step: eager {t['eager']['median_us']:.0f} µs, compiled "
          f"{t['compiled']['median_us']:.0f} µs (medians of {len(t['eager']['samples_us'])} rounds of "
          f"{cmp.number} calls): {cmp.speedup:.2f}x. Eager runs the Python and records a tape at every "
          "step; the compiled plan is a flat list of kernels")
    f = cmp.first_call
    be = cmp.break_even_calls
    print(f"first step: eager {f['eager_ms']:.1f} ms, compiled {f['compiled_ms']:.1f} ms (tracing and "
          f"compiling once); compiling pays off after {be if be else 'no number of'} calls")
    print("memory: the peak one step allocates (tracemalloc); the planned plan reuses buffers, the "
          "'unplanned' one is compiled without optimisation\n")
    print(cmp.to_markdown())
    path = out_dir / "compare_mlp.png"
    cmp.plot(str(path))
    cmp.meta["plot"] = str(path)
    print(f"plot: {path}")
    return cmp


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="folder for the plot (default: the temp folder)")
    main(ap.parse_args().out)
