"""A character-level LSTM language model on a short built-in text, trained eagerly and compiled.

    MPLBACKEND=Agg python examples/char_lstm.py [--steps 60] [--plot PATH]

nn.Embedding -> nn.LSTM -> nn.Linear predicts the next character. The same training step runs
eagerly (a Python loop over the time steps, recorded on the tape) and under dg.function (traced
once: the LSTM's time loop is one dg.while_loop in the graph), from the same initial weights and
on the same batches. Both loss curves are printed; they agree to float32 rounding.
"""
import argparse
import time

import numpy as np

import dualgraph as dg
import dualgraph.nn.functional as F
from dualgraph import nn

TEXT = (
    "the quick brown fox jumps over the lazy dog. "
    "a stitch in time saves nine. "
    "all that glitters is not gold. "
    "the early bird catches the worm. "
    "where there is a will there is a way. "
    "actions speak louder than words. "
) * 3

SEQ, BATCH, EMBED, HIDDEN = 24, 16, 16, 48


class CharLSTM(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.embed = nn.Embedding(vocab, EMBED)
        self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, vocab)

    def forward(self, idx):
        out, _ = self.lstm(self.embed(idx))          # (batch, seq, hidden)
        return self.head(out)                        # (batch, seq, vocab)


def train_step(model, opt, x, y):
    """One step, written once: both modes run this code."""
    opt.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    loss.backward()
    opt.step()
    return loss


def batches(data, steps, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        starts = rng.integers(0, len(data) - SEQ - 1, BATCH)
        x = np.stack([data[s:s + SEQ] for s in starts])
        y = np.stack([data[s + 1:s + SEQ + 1] for s in starts])
        yield dg.tensor(x), dg.tensor(y)


def train(vocab, data, steps, compiled):
    dg.manual_seed(0)
    model = CharLSTM(vocab)
    opt = dg.optim.Adam(model.parameters(), lr=1e-2)
    step = dg.function(train_step) if compiled else train_step
    losses = []
    t0 = time.perf_counter()
    for x, y in batches(data, steps):
        losses.append(float(step(model, opt, x, y)))
    return model, opt, losses, time.perf_counter() - t0, step


def sample(model, chars, stoi, start="the ", n=60):
    """Greedy continuation, eagerly (the model is a plain module after training)."""
    idx = [stoi[c] for c in start]
    with dg.no_grad():
        for _ in range(n):
            logits = model(dg.tensor(np.array([idx[-SEQ:]])))
            idx.append(int(logits[0, -1].argmax().item()))
    return "".join(chars[i] for i in idx)


def main(steps=60, plot=None):
    chars = sorted(set(TEXT))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in TEXT], dtype=np.int64)
    vocab = len(chars)
    print(f"char-LSTM: {len(TEXT)} characters, vocabulary {vocab}, seq {SEQ}, batch {BATCH}, "
          f"hidden {HIDDEN}, {steps} Adam steps")
    model_e, _, eager, te, _ = train(vocab, data, steps, compiled=False)
    model_c, opt_c, comp, tc, fn = train(vocab, data, steps, compiled=True)
    traces = fn.trace_count
    graph = fn.graph_for(model_c, opt_c, *next(batches(data, 1)))
    loops = sum(n.op.name == "while_loop" for n in graph.nodes)
    print(f"{'step':>4} {'eager':>9} {'compiled':>9}")
    for i, (a, b) in enumerate(zip(eager, comp)):
        if i % 5 == 0 or i == steps - 1:
            print(f"{i:4d} {a:9.4f} {b:9.4f}")
    diff = float(np.max(np.abs(np.array(eager) - np.array(comp))))
    equal = np.allclose(eager, comp, rtol=1e-4, atol=1e-5)
    print(f"eager {te:.2f}s, compiled {tc:.2f}s (traced {traces} time(s); the graph holds {loops} "
          f"while_loop(s): the LSTM's time loop and its gradient); max |loss difference| {diff:.2e}")
    print(f"loss {eager[0]:.3f} -> {eager[-1]:.3f}")
    print(f"sample: {sample(model_e, chars, stoi)!r}")
    if plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.plot(eager, label="eager")
        plt.plot(comp, "--", label="dg.function")
        plt.xlabel("step")
        plt.ylabel("cross-entropy")
        plt.legend()
        plt.savefig(plot)
        print(f"plot: {plot}")
    if not equal or traces != 1 or not eager[-1] < eager[0]:
        raise SystemExit("eager and compiled losses differ (or training did not progress)")
    print("losses equal")
    return eager, comp


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--plot", default=None, help="save both loss curves to this PNG")
    a = ap.parse_args()
    main(a.steps, a.plot)
