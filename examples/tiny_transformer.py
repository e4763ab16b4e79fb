"""A tiny transformer classifier: is a sequence of tokens sorted? Trained eagerly and compiled.

    MPLBACKEND=Agg python examples/tiny_transformer.py [--steps 100] [--plot PATH]

Token and position embeddings, a 2-layer nn.TransformerEncoder (nn.TransformerEncoderLayer with
multi-head self-attention, batch_first, pre-norm), mean pooling and a linear head. The same
training step runs eagerly and under dg.function (traced once), from the same initial weights and
on the same batches; both loss curves are printed and agree to float32 rounding.
"""
import argparse
import time

import numpy as np

import dualgraph as dg
import dualgraph.nn.functional as F
from dualgraph import nn

VOCAB, SEQ, D_MODEL, HEADS, D_FF, BATCH = 10, 8, 32, 4, 64, 64


def make_batch(rng, n=BATCH):
    """Half the rows sorted (label 1), half shuffled until they are not (label 0)."""
    x = rng.integers(0, VOCAB, (n, SEQ))
    y = rng.integers(0, 2, n)
    for i in range(n):
        if y[i]:
            x[i] = np.sort(x[i])
        else:
            while np.all(np.diff(x[i]) >= 0):
                x[i] = rng.permutation(x[i]) if len(set(x[i])) > 1 else rng.integers(0, VOCAB, SEQ)
    return dg.tensor(x.astype(np.int64)), dg.tensor(y.astype(np.int64))


class TinyTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, D_MODEL)
        self.pos = nn.Parameter(dg.randn(SEQ, D_MODEL) * 0.1)
        layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, D_FF, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D_MODEL))
        self.head = nn.Linear(D_MODEL, 2)

    def forward(self, x):
        h = self.encoder(self.tok(x) + self.pos)      # (batch, seq, d_model)
        return self.head(h.mean(1))


def train_step(model, opt, x, y):
    """One step, written once: both modes run this code."""
    opt.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    opt.step()
    return loss, (logits.argmax(1) == y).float().mean()


def train(steps, compiled):
    dg.manual_seed(0)
    model = TinyTransformer()
    opt = dg.optim.Adam(model.parameters(), lr=3e-3)
    step = dg.function(train_step) if compiled else train_step
    rng = np.random.default_rng(0)
    losses, accs = [], []
    t0 = time.perf_counter()
    for _ in range(steps):
        loss, acc = step(model, opt, *make_batch(rng))
        losses.append(float(loss))
        accs.append(float(acc))
    return model, losses, accs, time.perf_counter() - t0, step


def evaluate(model, n=512):
    x, y = make_batch(np.random.default_rng(123), n)
    with dg.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def main(steps=100, plot=None):
    print(f"tiny transformer: is the sequence sorted? vocab {VOCAB}, seq {SEQ}, d_model {D_MODEL}, "
          f"{HEADS} heads, 2 layers, batch {BATCH}, {steps} Adam steps")
    model_e, eager, acc_e, te, _ = train(steps, compiled=False)
    model_c, comp, acc_c, tc, fn = train(steps, compiled=True)
    print(f"{'step':>4} {'eager':>9} {'compiled':>9} {'batch acc':>9}")
    for i, (a, b, c) in enumerate(zip(eager, comp, acc_e)):
        if i % 10 == 0 or i == steps - 1:
            print(f"{i:4d} {a:9.4f} {b:9.4f} {c:9.2f}")
    diff = float(np.max(np.abs(np.array(eager) - np.array(comp))))
    equal = np.allclose(eager, comp, rtol=1e-4, atol=1e-5)
    acc_eager, acc_comp = evaluate(model_e), evaluate(model_c)
    print(f"eager {te:.2f}s, compiled {tc:.2f}s (traced {fn.trace_count} time(s)); "
          f"max |loss difference| {diff:.2e}")
    print(f"held-out accuracy: eager model {acc_eager:.3f}, compiled model {acc_comp:.3f}")
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
    if not equal or fn.trace_count != 1 or not eager[-1] < eager[0]:
        raise SystemExit("eager and compiled losses differ (or training did not progress)")
    print("losses equal")
    return eager, comp


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--plot", default=None, help="save both loss curves to this PNG")
    a = ap.parse_args()
    main(a.steps, a.plot)
