"""How to compare your own function with dg.compare: eager against dg.function.

    MPLBACKEND=Agg python examples/compare_your_function.py [--out DIR]

1. A plain function of tensors (no state): `dg.compare(fn, x, y)` calls it both ways on the
   same arguments, checks every output agrees and measures both modes.
2. A stateful training step (a model and its optimizer): `dg.compare(setup=make_step, ...)`,
   where `make_step()` builds a fresh model and optimizer and returns the step bound to them,
   so each mode trains its own copy (why: see the comments in main).
"""
import argparse
import math
import pathlib
import tempfile

import numpy as np

import dualgraph as dg
import dualgraph.nn.functional as F


# ---------------------------------------------------------------- 1. a plain function
def attention(q, k, v):
    """Scaled dot-product attention: a pure function of its tensor arguments."""
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    return F.softmax(scores, dim=-1) @ v


# ---------------------------------------------------------------- 2. a training step
def train_step(model, opt, x, y):
    """One training step, written once: both modes run this code."""
    opt.zero_grad()
    loss = F.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    return loss


def make_step():
    """What `setup=` wants: a callable that builds fresh state and returns the step using it.
    Seed first so that every copy starts from the same weights."""
    dg.manual_seed(0)
    model = dg.nn.Sequential(dg.nn.Linear(16, 32), dg.nn.Tanh(), dg.nn.Linear(32, 1))
    opt = dg.optim.Adam(model.parameters(), lr=1e-2)

    # a def rather than a lambda: dg.function's AutoGraph converts code it has the source of,
    # which matters as soon as the step has an `if`/`for`/`while` on tensors
    def step(x, y):
        return train_step(model, opt, x, y)
    return step


def main(out_dir=None):
    out_dir = pathlib.Path(out_dir or tempfile.gettempdir())
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    res = {}

    # 1. Pass the function and its arguments. It holds no state, so both modes can call the
    #    very same function on the very same tensors. (Nothing here requires grad, so the eager
    #    tape stays empty: the tape-nodes line reads 0.)
    q, k, v = (dg.tensor(rng.standard_normal((4, 10, 16)).astype(np.float32)) for _ in range(3))
    res["plain"] = dg.compare(attention, q, k, v, repeat=5, name="attention(q, k, v)")

    # 2. A training step changes state at every call: the weights, their .grad, Adam's moments
    #    and step count. Passed as it is (`dg.compare(step, x, y)`), both modes would share one
    #    model: dg.compare then saves the state it can reach before each eager agreement call
    #    and restores it before the compiled one, so each pair still starts equal, but the
    #    timing rounds interleave the two modes' updates on one model and the results no longer
    #    follow one training run. With `setup=`, dg.compare calls make_step() once per mode:
    #    two models, two optimizers, the same initial weights (the seed). Each mode then trains
    #    independently along the same trajectory, and "agree" means: call i of the compiled
    #    step gives the loss, weights, .grad and optimizer state of call i of the eager one.
    #    `inputs=` gives call i its own batch (the same sequence for both modes).
    xs = rng.standard_normal((8, 32, 16)).astype(np.float32)
    ys = np.sin(xs.sum(-1, keepdims=True)).astype(np.float32)
    batches = [(dg.tensor(x), dg.tensor(y)) for x, y in zip(xs, ys)]
    res["training"] = dg.compare(setup=make_step, inputs=lambda i: batches[i % len(batches)],
                                 calls=5, repeat=5, name="training step (MLP, Adam), setup=make_step")

    for key, cmp in res.items():
        t = cmp.timing
        print(f"== {cmp.name}")
        print(f"agree: {cmp.agree} over {len(cmp.diffs)} calls ({cmp.state_compared} state values "
              f"compared after each); eager {t['eager']['median_us']:.0f} µs/call, compiled "
              f"{t['compiled']['median_us']:.0f} µs/call ({cmp.speedup:.2f}x); the first compiled "
              f"call (trace + compile) took {cmp.first_call['compiled_ms']:.1f} ms\n")
        print(cmp.to_markdown())
        path = out_dir / f"compare_your_function_{key}.png"
        cmp.plot(str(path))
        cmp.meta["plot"] = str(path)
        print(f"plot: {path}\n")
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="folder for the plots (default: the temp folder)")
    main(ap.parse_args().out)
