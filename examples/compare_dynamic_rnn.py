"""dg.compare on a dynamic model: an Elman RNN over sequences whose length changes every call.

    MPLBACKEND=Agg python examples/compare_dynamic_rnn.py [--out DIR]

The loop `for t in range(n)` runs over `n`, a 0-d int tensor. Eagerly Python runs it n times and
the tape records every step, so the tape grows with the sequence; under dg.function AutoGraph
turns it into one dg.while_loop, so a single trace (one graph, one plan) serves every length.
`cmp.tape_nodes` shows the eager tape per call, `cmp.retraces` that the compiled step never
retraced; the two modes' losses and parameters agree call after call.
"""
import argparse
import pathlib
import tempfile

import numpy as np

import dualgraph as dg
import dualgraph.nn.functional as F

T_MAX, BATCH, D_IN, D_HIDDEN = 12, 4, 8, 16
LENGTHS = [3, 7, 12, 5, 9]  # the length of the sequence at call i (cycled)


class ElmanRNN(dg.nn.Module):
    """h_t = tanh(W_ih x_t + b + W_hh h_{t-1}); a linear read-out of the last state."""

    def __init__(self, d_in, d_hidden, d_out):
        super().__init__()
        self.ih = dg.nn.Linear(d_in, d_hidden)
        self.hh = dg.nn.Linear(d_hidden, d_hidden, bias=False)
        self.out = dg.nn.Linear(d_hidden, d_out)
        self.d_hidden = d_hidden

    def forward(self, x, n):
        # x: [T_MAX, batch, d_in] padded; n: a 0-d int tensor, the steps that count
        h = dg.zeros(x.shape[1], self.d_hidden)
        for t in range(n):  # eagerly: n Python turns; compiled: one dg.while_loop
            h = (self.ih(x[t]) + self.hh(h)).tanh()
        return self.out(h)


def train_step(model, opt, x, n, y):
    """One training step, written once: both modes run this code."""
    opt.zero_grad()
    loss = F.mse_loss(model(x, n), y)
    loss.backward()
    opt.step()
    return loss


def setup():
    """A fresh model and optimizer (seeded: both modes start from the same weights) and the step
    bound to them. A `def`, not a lambda: AutoGraph converts code it can read the source of, and
    it reaches train_step and forward through this function."""
    dg.manual_seed(0)
    model = ElmanRNN(D_IN, D_HIDDEN, 1)
    opt = dg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step(x, n, y):
        return train_step(model, opt, x, n, y)
    return step


def inputs(i):
    """The arguments of call i: a new padded batch and a new length (same shapes every call, so
    the compiled step's input signature never changes; only the value of n does)."""
    rng = np.random.default_rng(i)
    x = rng.standard_normal((T_MAX, BATCH, D_IN)).astype(np.float32)
    y = rng.standard_normal((BATCH, 1)).astype(np.float32)
    return dg.tensor(x), dg.tensor(LENGTHS[i % len(LENGTHS)]), dg.tensor(y)


def main(out_dir=None):
    out_dir = pathlib.Path(out_dir or tempfile.gettempdir())
    out_dir.mkdir(parents=True, exist_ok=True)
    calls = len(LENGTHS)
    cmp = dg.compare(setup=setup, inputs=inputs, calls=calls, repeat=5, name="Elman RNN training step, "
                     f"sequence length changing per call (T_max {T_MAX}, batch {BATCH}, hidden {D_HIDDEN})")
    lengths = [int(inputs(i)[1].item()) for i in range(calls)]
    loops = [n.name for n in cmp.graph.nodes if n.op.name == "while_loop"]
    forward = [name for name in loops if not name.startswith("gradients/")]
    cmp.meta.update(lengths=lengths, while_loops=loops, forward_while_loops=len(forward))

    print(f"Elman RNN, SGD(momentum): {calls} training steps compared, lengths {lengths}\n")
    print("eager: the tape records what ran, so its size follows the length of the sequence:")
    for n, nodes in zip(lengths, cmp.tape_nodes):
        print(f"  length {n:2d}: {nodes:3d} tape nodes")
    if len(set(lengths)) > 1:
        per_step = (cmp.tape_nodes[1] - cmp.tape_nodes[0]) / (lengths[1] - lengths[0])
        print(f"  ({per_step:g} nodes per time step: a backward graph rebuilt on every call)")
    print(f"compiled: traced once, retraces {cmp.retraces}; the graph holds {len(forward)} while_loop "
          f"for the forward loop and {len(loops) - len(forward)} for its gradient, each run for n "
          "turns at each call")
    print(f"results agree: {cmp.agree} (every loss, parameter, .grad and momentum buffer after each "
          f"call; largest difference {cmp.max_abs_diff:.1e})")
    print("median µs/call is the steady state; 'first call' includes tracing and compiling, which "
          "the compiled step pays back after break_even_calls calls\n")
    print(cmp.to_markdown())
    path = out_dir / "compare_dynamic_rnn.png"
    cmp.plot(str(path))
    cmp.meta["plot"] = str(path)
    print(f"plot: {path}")
    return cmp


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="folder for the plot (default: the temp folder)")
    main(ap.parse_args().out)
