"""The built-in workloads of `python -m dualgraph.compare`, and user workloads by `module:function`.

Each workload is a training step written once (zero_grad, forward, loss, backward, opt.step,
return loss). `Workload.build(batch, seed)` returns `(setup, inputs)`: `setup()` makes a fresh
step with its own model and optimizer (dg.compare calls it once per mode, so the modes never
share state) and `inputs(i)` gives call i's arguments (the same sequence for both modes).
"""
import collections
import importlib

import numpy as np

import dualgraph as dg
import dualgraph.nn.functional as F
from ..errors import DGValueError

nn = dg.nn


class WorkloadError(DGValueError):
    """A workload that cannot be built: an unknown name, a bad `module:function`, bad sizes."""


class Workload:
    """One comparable training step: `make(batch, seed, **options) -> (setup, args or inputs)`."""

    def __init__(self, name, description, default_batch, make):
        self.name, self.description, self.default_batch = name, description, default_batch
        self._make = make

    def build(self, batch, seed=0, **options):
        if not isinstance(batch, (int, np.integer)) or isinstance(batch, bool) or batch <= 0:
            raise WorkloadError(f"workload {self.name!r}: batch must be a positive integer, got {batch!r}")
        made = self._make(int(batch), seed, **options)
        if not (isinstance(made, tuple) and len(made) == 2 and callable(made[0])):
            raise WorkloadError(f"workload {self.name!r} must return (setup, args) or (setup, inputs), "
                                f"with setup() -> a step function; got {type(made).__name__}")
        return made[0], as_inputs(self.name, made[1])

    def __repr__(self):
        return f"<Workload {self.name}: {self.description}>"


def as_inputs(name, data):
    """A workload's second value as `inputs(i) -> args`: a callable is kept, a tuple (the same
    arguments at every call) is wrapped."""
    if callable(data):
        return data
    if isinstance(data, tuple):
        return lambda i: data
    raise WorkloadError(f"workload {name!r} must return (setup, args) with args a tuple or "
                        f"(setup, inputs) with inputs(i) -> args; got {type(data).__name__}")


def train_step(model, opt, loss_fn, *batch):
    """The one training step every built-in runs: the last argument is the target."""
    opt.zero_grad()
    loss = loss_fn(model(*batch[:-1]), batch[-1])
    loss.backward()
    opt.step()
    return loss


def _bind(model, opt, loss_fn):
    # a def, not a lambda: AutoGraph converts code it can read, and reaches forward through it
    def step(*batch):
        return train_step(model, opt, loss_fn, *batch)
    return step


def _rng(seed, i):
    return np.random.default_rng([seed, i])


def _classes(rng, batch, n):
    return dg.tensor(rng.integers(0, n, batch))


# ---------------------------------------------------------------- mlp
MLP_SIZES = (784, 256, 128, 10)


def parse_sizes(sizes):
    """'784,256,10' or a sequence -> a tuple of layer sizes, or WorkloadError if it makes no MLP."""
    if isinstance(sizes, str):
        parts = [s.strip() for s in sizes.split(",")]
    else:
        parts = list(sizes)
    try:
        out = tuple(int(p) for p in parts)
        if any(isinstance(p, float) and p != int(p) for p in parts):
            raise ValueError
    except (TypeError, ValueError):
        raise WorkloadError(f"--sizes must be integers separated by commas, got {sizes!r}") from None
    if len(out) < 2:
        raise WorkloadError(f"--sizes needs at least 2 sizes (input and output), got {sizes!r}")
    if any(s <= 0 for s in out):
        raise WorkloadError(f"--sizes must all be positive, got {sizes!r}")
    return out


def make_mlp(sizes, seed=0):
    dg.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i + 2 < len(sizes):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _mlp(batch, seed, sizes=MLP_SIZES, lr=0.05):
    sizes = parse_sizes(sizes)

    def setup():
        model = make_mlp(sizes, seed)
        return _bind(model, dg.optim.SGD(model.parameters(), lr=lr, momentum=0.9), F.cross_entropy)

    def inputs(i):
        rng = _rng(seed, i)
        x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
        return dg.tensor(x), _classes(rng, batch, sizes[-1])
    return setup, inputs


# ---------------------------------------------------------------- cnn
def lenet5(classes=10):
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),    # 3x32x32 -> 6x28x28 -> 6x14x14
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),   # -> 16x10x10 -> 16x5x5
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, classes))


def _cnn(batch, seed):
    def setup():
        dg.manual_seed(seed)
        model = lenet5()
        return _bind(model, dg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9), F.cross_entropy)

    def inputs(i):
        rng = _rng(seed, i)
        x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
        return dg.tensor(x), _classes(rng, batch, 10)
    return setup, inputs


# ---------------------------------------------------------------- rnn
# The data-dependent loops of rnn and control_flow are written in the step itself, not in a
# forward: AutoGraph converts the function dg.function is given and the user's code it calls,
# but never dualgraph's own modules (this file is one), so a forward here would stay Python.
RNN_T_MAX, RNN_D_IN, RNN_HIDDEN = 8, 8, 16


class ElmanRNN(nn.Module):
    """h_t = tanh(W_ih x_t + b + W_hh h_{t-1}); a linear read-out of the last state."""

    def __init__(self, d_in, d_hidden, d_out):
        super().__init__()
        self.ih = nn.Linear(d_in, d_hidden)
        self.hh = nn.Linear(d_hidden, d_hidden, bias=False)
        self.out = nn.Linear(d_hidden, d_out)
        self.d_hidden = d_hidden


def rnn_length(i):
    """The sequence length at call i: it changes every call (one trace serves them all)."""
    return 3 + (i % 5)


def _rnn(batch, seed):
    def setup():
        dg.manual_seed(seed)
        model = ElmanRNN(RNN_D_IN, RNN_HIDDEN, 1)
        opt = dg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def step(x, n, y):
            # x: [T_max, batch, d_in], padded; n: a 0-d int tensor. Eagerly Python turns n times
            # (the tape grows with n); compiled, AutoGraph makes one dg.while_loop for every n
            opt.zero_grad()
            h = dg.zeros(x.shape[1], model.d_hidden)
            for t in range(n):
                h = (model.ih(x[t]) + model.hh(h)).tanh()
            loss = F.mse_loss(model.out(h), y)
            loss.backward()
            opt.step()
            return loss
        return step

    def inputs(i):
        rng = _rng(seed, i)
        x = rng.standard_normal((RNN_T_MAX, batch, RNN_D_IN)).astype(np.float32)
        y = rng.standard_normal((batch, 1)).astype(np.float32)
        return dg.tensor(x), dg.tensor(rnn_length(i)), dg.tensor(y)
    return setup, inputs


# ---------------------------------------------------------------- chain
CHAIN_N, CHAIN_OPS = 16, 100


def chain_ops(x, n_ops=CHAIN_OPS):
    """x*1.01, +0.5, tanh, ...: the 100 elementwise ops of benchmarks/graph_vs_eager.py."""
    for i in range(n_ops):
        r = i % 3
        x = x * 1.01 if r == 0 else (x + 0.5 if r == 1 else x.tanh())
    return x


def chain_step(x):
    """Forward and backward, no optimizer: the loss and d loss / d x."""
    loss = chain_ops(x).sum()
    (g,) = dg.autograd.grad(loss, [x])
    return loss, g


def _chain(batch, seed):
    # batch is the vector's length here; the step has no state, so setup returns the function
    def inputs(i):
        x = (_rng(seed, i).standard_normal(batch) * 0.1).astype(np.float32)
        return (dg.tensor(x, requires_grad=True),)
    return (lambda: chain_step), inputs


# ---------------------------------------------------------------- control_flow
CF_D_IN, CF_HIDDEN, CF_THRESHOLD, CF_RMS, CF_MAX_TURNS = 8, 16, 0.5, 0.15, 4


class GatedMLP(nn.Module):
    """The layers of the control_flow step (which adds an extra layer when the activations are
    large and halves them until their RMS is small, at most CF_MAX_TURNS times)."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(CF_D_IN, CF_HIDDEN)
        self.extra = nn.Linear(CF_HIDDEN, CF_HIDDEN)
        self.head = nn.Linear(CF_HIDDEN, 2)


def _control_flow(batch, seed):
    def setup():
        dg.manual_seed(seed)
        model = GatedMLP()
        opt = dg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            h = model.enc(x).tanh()
            # both branches use model.extra: a parameter used by one branch only would have no
            # .grad when the other runs (eagerly None), which a compiled step refuses
            if h.abs().mean() > CF_THRESHOLD:
                h = model.extra(h).relu()
            else:
                h = h + 0.1 * model.extra(h).tanh()
            turns = dg.tensor(0)
            while (h * h).mean().sqrt() > CF_RMS and turns < CF_MAX_TURNS:  # refine, bounded
                h = h * 0.5
                turns += 1
            loss = F.cross_entropy(model.head(h), y)
            loss.backward()
            opt.step()
            return loss, turns
        return step

    def inputs(i):
        # alternately large and small inputs, so both branches and different loop counts run
        rng = _rng(seed, i)
        scale = 3.0 if i % 2 == 0 else 0.2
        x = (scale * rng.standard_normal((batch, CF_D_IN))).astype(np.float32)
        return dg.tensor(x), _classes(rng, batch, 2)
    return setup, inputs


# ---------------------------------------------------------------- transformer
TF_SEQ, TF_D_MODEL, TF_D_FF, TF_CLASSES = 8, 32, 64, 4


class TransformerBlock(nn.Module):
    """A pre-norm single-head self-attention block and a 2-layer MLP, each with a residual."""

    def __init__(self, d_model=TF_D_MODEL, d_ff=TF_D_FF):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.q, self.k, self.v = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.scale = 1.0 / float(np.sqrt(d_model))

    def forward(self, x):
        h = self.norm1(x)
        q, k, v = self.q(h), self.k(h), self.v(h)                  # [batch, seq, d_model]
        att = F.softmax((q @ k.transpose(1, 2)) * self.scale, dim=-1)
        x = x + self.proj(att @ v)
        return x + self.ff(self.norm2(x))


class TinyTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = TransformerBlock()
        self.head = nn.Linear(TF_D_MODEL, TF_CLASSES)

    def forward(self, x):
        return self.head(self.block(x).mean(1))  # mean-pooled over the sequence


def _transformer(batch, seed):
    def setup():
        dg.manual_seed(seed)
        model = TinyTransformer()
        return _bind(model, dg.optim.Adam(model.parameters(), lr=1e-3), F.cross_entropy)

    def inputs(i):
        rng = _rng(seed, i)
        x = rng.standard_normal((batch, TF_SEQ, TF_D_MODEL)).astype(np.float32)
        return dg.tensor(x), _classes(rng, batch, TF_CLASSES)
    return setup, inputs


# ---------------------------------------------------------------- the registry
WORKLOADS = collections.OrderedDict((w.name, w) for w in [
    Workload("mlp", "MLP 784-256-128-10, cross-entropy, SGD momentum", 64, _mlp),
    Workload("cnn", "LeNet-5 on 3x32x32, cross-entropy, SGD momentum", 16, _cnn),
    Workload("rnn", f"Elman RNN, length 3..7 of {RNN_T_MAX} changing per call (one while_loop), "
                    "MSE, SGD momentum", 16, _rnn),
    Workload("chain", f"{CHAIN_OPS}-op elementwise chain, forward + backward (batch = vector length)",
             CHAIN_N, _chain),
    Workload("control_flow", "MLP with a data-dependent if and a bounded while, SGD momentum", 32,
             _control_flow),
    Workload("transformer", f"single-head self-attention block, seq {TF_SEQ}, d_model {TF_D_MODEL}, "
                            "mean-pooled head, Adam", 16, _transformer),
])


def _user_workload(spec):
    mod_name, _, fn_name = spec.partition(":")
    if not mod_name or not fn_name:
        raise WorkloadError(f"bad workload {spec!r}: write module:function ({_known()})")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise WorkloadError(f"cannot import module {mod_name!r} of workload {spec!r}: {e} ({_known()})") from None
    make = getattr(mod, fn_name, None)
    if not callable(make):
        raise WorkloadError(f"module {mod_name!r} has no function {fn_name!r} ({_known()})")
    doc = (make.__doc__ or "").strip().splitlines()
    return Workload(spec, doc[0] if doc else f"{spec} (user workload)",
                    getattr(make, "default_batch", 32), lambda batch, seed: make(batch))


def _known():
    return "built-in workloads: " + ", ".join(WORKLOADS)


def get_workload(spec):
    """A built-in workload by name, or `module:function`, whose function takes `batch` and returns
    `(setup, args)` or `(setup, inputs)`."""
    if not isinstance(spec, str) or not spec.strip():
        raise WorkloadError(f"bad workload {spec!r} ({_known()})")
    spec = spec.strip()
    if spec in WORKLOADS:
        return WORKLOADS[spec]
    if ":" in spec:
        return _user_workload(spec)
    raise WorkloadError(f"unknown workload {spec!r} ({_known()}, or module:function)")
