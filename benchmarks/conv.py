"""LeNet-5 training step and the conv / max-pool kernels under it, before and after the
im2col rewrite of issue 14 ("convolutions move data, not arithmetic").

(a) per kernel: the five conv/pool kernels of a LeNet-5 step (conv2d forward, its input and
    weight gradients, max_pool2d forward and backward) at the step's own shapes, the kernels of
    dualgraph/ops/nn_ops.py ("new") against the ones they replaced ("old", kept in this file,
    not in the package), interleaved; each pair is checked to give the same numbers first.
(b) the step: LeNet-5 (3x32x32 -> conv 6@5x5 -> ReLU -> max-pool 2 -> conv 16@5x5 -> ReLU ->
    max-pool 2 -> fc 120 -> ReLU -> fc 84 -> ReLU -> fc 10, cross-entropy, SGD momentum 0.9)
    at batch 4, 32 and 128:
    - dualgraph eager            train_step(model, opt, x, y)
    - dualgraph compiled         dg.function(train_step)
    - the same two with the old kernels swapped into the registry (op.forward), for before/after
      in one process (a compiled plan binds its kernels when it is built, so it is built while
      they are swapped in)
    - torch eager                the same train_step code with F = torch.nn.functional
    all from the same weights and data, in one process on one thread (OMP/MKL/OPENBLAS_NUM_THREADS
    = 1 before numpy is imported, torch.set_num_threads(1)), modes interleaved round by round;
    min and median of the rounds. Before timing, every mode's losses over 3 steps are checked
    to agree.

    python benchmarks/conv.py [--quick] [--kernels-only | --step-only [--new-only]
                              [--modes 'dualgraph eager,torch eager']] [--batches 4,32,128]

    Each step row also gives the minor page faults per step (getrusage): fresh pages that
    malloc had to fault in (see dualgraph/allocator.py).
"""
import argparse
import os
try:
    import resource          # minor page faults per step (POSIX only)
except ImportError:
    resource = None
import sys
import time
import timeit
import types

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import as_strided  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import dualgraph as dg  # noqa: E402
import dualgraph.nn as nn  # noqa: E402
import dualgraph.nn.functional as F  # noqa: E402
from dualgraph.ops import nn_ops as K  # noqa: E402
from dualgraph.ops.nn_ops import _conv_out_hw, _pool_geometry  # noqa: E402,F401

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_step as TS  # noqa: E402  (paired_ratio)

try:
    import torch  # noqa: E402
    torch.set_num_threads(1)
except ImportError:
    torch = None

LR, MOMENTUM = 0.01, 0.9


# ================================================================ the old kernels (before issue 14)
# Verbatim from dualgraph/ops/nn_ops.py at commit 4ccb2f4: windows through tensordot in runs of
# kw floats then a transpose to NCHW; the weight gradient contracting the same strided windows;
# the input gradient folded back with kh*kw strided += passes; max-pool backward through an
# argmax array and kh*kw np.where passes.
def _windows(xp, oh, ow, kh, kw, stride, dilation):
    """(N, C, OH, OW, kh, kw) read-only strided view of a padded NCHW array (no copy)."""
    n, c, hp, wp = xp.shape
    if oh <= 0 or ow <= 0 or min(stride) <= 0 or min(dilation) <= 0 or kh <= 0 or kw <= 0 or (
            (oh - 1) * stride[0] + (kh - 1) * dilation[0] >= hp or
            (ow - 1) * stride[1] + (kw - 1) * dilation[1] >= wp):
        raise ValueError("window geometry out of bounds")  # never let as_strided read outside
    s0, s1, s2, s3 = xp.strides
    sh, sw = stride
    dh, dw = dilation
    return as_strided(xp, (n, c, oh, ow, kh, kw),
                      (s0, s1, s2 * sh, s3 * sw, s2 * dh, s3 * dw), writeable=False)


def _pad(x, padding, value=0):
    pt, pb, pl, pr = padding
    if not (pt or pb or pl or pr):
        return x
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=value)


def _conv2d_kernel(x, w, *b, stride, padding, dilation, groups):
    if x.ndim != 4 or w.ndim != 4 or x.dtype != w.dtype or x.dtype.kind != "f" or (
            b and (b[0].dtype != x.dtype or b[0].shape != (w.shape[0],))):
        raise ValueError("conv2d arguments")
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if c != cg * groups or o % groups:
        raise ValueError("conv2d channels")
    oh, ow = _conv_out_hw(h, wd, kh, kw, stride, padding, dilation)
    if oh <= 0 or ow <= 0:
        raise ValueError("conv2d kernel larger than input")
    win = _windows(_pad(x, padding), oh, ow, kh, kw, stride, dilation)
    if groups == 1:
        out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))      # (N, OH, OW, O)
        out = out.transpose(0, 3, 1, 2)
    else:
        wg = w.reshape(groups, o // groups, cg, kh, kw)
        win = win.reshape(n, groups, cg, oh, ow, kh, kw)
        out = np.einsum("ngcijkl,gockl->ngoij", win, wg, optimize=True).reshape(n, o, oh, ow)
    out = np.ascontiguousarray(out, dtype=x.dtype)
    if b:
        out += b[0].reshape(1, -1, 1, 1)
    return out


def _fold(cols, out_shape, stride, dilation, dtype):
    """col2im: add cols (N, C, OH, OW, kh, kw) back into a padded (N, C, Hp, Wp) array."""
    n, c, oh, ow, kh, kw = cols.shape
    sh, sw = stride
    dh, dw = dilation
    out = np.zeros(out_shape, dtype=dtype)
    for i in range(kh):          # loops over kernel offsets only, never over pixels
        r0 = i * dh
        for j in range(kw):
            c0 = j * dw
            out[:, :, r0:r0 + sh * (oh - 1) + 1:sh, c0:c0 + sw * (ow - 1) + 1:sw] += cols[..., i, j]
    return out


def _conv2d_input_grad_kernel(g, w, like, stride, padding, dilation, groups):
    """J_x^T g for y = conv2d(x, w): a transposed convolution of g with w."""
    n, o, oh, ow = g.shape
    _, cg, kh, kw = w.shape
    h, wd = like.shape[2], like.shape[3]
    if groups == 1:
        cols = np.tensordot(g, w, axes=([1], [0]))             # (N, OH, OW, C, kh, kw)
        cols = cols.transpose(0, 3, 1, 2, 4, 5)
    else:
        gg = g.reshape(n, groups, o // groups, oh, ow)
        wg = w.reshape(groups, o // groups, cg, kh, kw)
        cols = np.einsum("ngoij,gockl->ngcijkl", gg, wg, optimize=True).reshape(
            n, groups * cg, oh, ow, kh, kw)
    pt, pb, pl, pr = padding
    full = _fold(cols, (n, groups * cg, h + pt + pb, wd + pl + pr), stride, dilation, g.dtype)
    return np.ascontiguousarray(full[:, :, pt:pt + h, pl:pl + wd])


def _conv2d_weight_grad_kernel(x, g, kernel_size, stride, padding, dilation, groups):
    """J_w^T g for y = conv2d(x, w)."""
    n, c, h, wd = x.shape
    _, o, oh, ow = g.shape
    kh, kw = kernel_size
    win = _windows(_pad(x, padding), oh, ow, kh, kw, stride, dilation)
    if groups == 1:
        gw = np.tensordot(g, win, axes=([0, 2, 3], [0, 2, 3]))   # (O, C, kh, kw)
    else:
        cg = c // groups
        gg = g.reshape(n, groups, o // groups, oh, ow)
        wg = win.reshape(n, groups, cg, oh, ow, kh, kw)
        gw = np.einsum("ngoij,ngcijkl->gockl", gg, wg, optimize=True).reshape(o, cg, kh, kw)
    return np.ascontiguousarray(gw, dtype=x.dtype)


def _pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode):
    n, c, h, w = x.shape
    oh, ow, pads = _pool_geometry(h, w, kernel_size, stride, padding, dilation, ceil_mode)
    if oh <= 0 or ow <= 0:
        raise ValueError("output too small")
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = _pad(x, pads, value=low)
    return _windows(xp, oh, ow, *kernel_size, stride, dilation), xp.shape, pads


def _max_pool2d_kernel(x, kernel_size, stride, padding, dilation, ceil_mode):
    if x.ndim != 4 or x.dtype.kind not in "fiu":
        raise ValueError("max_pool2d input")
    win, _, _ = _pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode)
    # one np.maximum per kernel offset (kh*kw passes over contiguous-ish slices) is ~30x faster
    # than reducing the strided 6-d window view; NaN propagates as in PyTorch
    kh, kw = win.shape[4:]
    out = np.array(win[..., 0, 0])
    for i in range(kh):
        for j in range(kw):
            if i or j:
                np.maximum(out, win[..., i, j], out=out)
    return out


def _window_argmax(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Index (k = i*kw + j) of each window's maximum: the first one on ties, a NaN counting as
    the maximum, as PyTorch. Loops over the kernel offsets only, each a whole-array op."""
    win, pshape, pads = _pool_windows(x, kernel_size, stride, padding, dilation, ceil_mode)
    kh, kw = win.shape[4:]
    best = np.array(win[..., 0, 0])
    for i in range(kh):
        for j in range(kw):
            if i or j:
                np.maximum(best, win[..., i, j], out=best)
    nan = best.dtype.kind == "f" and np.isnan(best).any()
    a = np.full(best.shape, kh * kw - 1, dtype=np.int64)
    for k in range(kh * kw - 2, -1, -1):  # backwards, so the first maximum wins
        v = win[..., k // kw, k % kw]
        hit = v == best
        if nan:
            hit |= np.isnan(v)
        a = np.where(hit, k, a)
    return a, win.shape, pshape, pads


def _max_pool2d_backward_kernel(g, x, kernel_size, stride, padding, dilation, ceil_mode):
    a, (n, c, oh, ow, kh, kw), pshape, pads = _window_argmax(
        x, kernel_size, stride, padding, dilation, ceil_mode)
    gxp = np.zeros(pshape, dtype=g.dtype)
    s0, s1, s2, s3 = gxp.strides
    for k in range(kh * kw):
        i, j = divmod(k, kw)
        # for one kernel offset, distinct windows hit distinct pixels: += through a strided
        # view is exact even when windows overlap
        dst = as_strided(gxp[:, :, i * dilation[0]:, j * dilation[1]:], (n, c, oh, ow),
                         (s0, s1, s2 * stride[0], s3 * stride[1]))
        dst += np.where(a == k, g, 0)
    h, w = x.shape[2:]
    return np.ascontiguousarray(gxp[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w])


OLD_KERNELS = {"conv2d": _conv2d_kernel, "conv2d_input_grad": _conv2d_input_grad_kernel,
               "conv2d_weight_grad": _conv2d_weight_grad_kernel, "max_pool2d": _max_pool2d_kernel,
               "max_pool2d_backward": _max_pool2d_backward_kernel}
NEW_KERNELS = {"conv2d": K._conv2d_kernel, "conv2d_input_grad": K._conv2d_input_grad_kernel,
               "conv2d_weight_grad": K._conv2d_weight_grad_kernel,
               "max_pool2d": K._max_pool2d_kernel,
               "max_pool2d_backward": K._max_pool2d_backward_kernel}
_OPS = {"conv2d": K.conv2d_op, "conv2d_input_grad": K.conv2d_input_grad_op,
        "conv2d_weight_grad": K.conv2d_weight_grad_op, "max_pool2d": K.max_pool2d_op,
        "max_pool2d_backward": K.max_pool2d_backward_op}


class old_kernels:
    """Context manager: the registry's conv/pool ops run the old kernels inside it."""

    def __enter__(self):
        for k, op in _OPS.items():
            op.forward = OLD_KERNELS[k]

    def __exit__(self, *exc):
        for k, op in _OPS.items():
            op.forward = NEW_KERNELS[k]


# ================================================================ (a) per-kernel timings
CONV = dict(stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1)
POOL = dict(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=False)


def kernel_cases(batch, seed=0):
    """[(name, old call, new call)] at the shapes of a LeNet-5 step (conv1's input gradient is
    not needed by the step, so not listed)."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    x1 = rng.standard_normal((batch, 3, 32, 32)).astype(f32)
    w1 = rng.standard_normal((6, 3, 5, 5)).astype(f32)
    g1 = rng.standard_normal((batch, 6, 28, 28)).astype(f32)
    p1 = rng.standard_normal((batch, 6, 28, 28)).astype(f32)
    q1 = rng.standard_normal((batch, 6, 14, 14)).astype(f32)
    x2 = rng.standard_normal((batch, 6, 14, 14)).astype(f32)
    w2 = rng.standard_normal((16, 6, 5, 5)).astype(f32)
    g2 = rng.standard_normal((batch, 16, 10, 10)).astype(f32)
    p2 = rng.standard_normal((batch, 16, 10, 10)).astype(f32)
    q2 = rng.standard_normal((batch, 16, 5, 5)).astype(f32)
    p1[:, :, ::4, ::4] = p1[:, :, 1::4, 1::4]    # some tied windows
    cases = []
    for name, key, args, attrs in (
            ("conv1 forward  3->6 @32x32", "conv2d", (x1, w1), CONV),
            ("conv1 weight grad", "conv2d_weight_grad", (x1, g1), dict(kernel_size=(5, 5), **CONV)),
            ("pool1 forward  6@28x28", "max_pool2d", (p1,), POOL),
            ("pool1 backward", "max_pool2d_backward", (q1, p1), POOL),
            ("conv2 forward  6->16 @14x14", "conv2d", (x2, w2), CONV),
            ("conv2 input grad", "conv2d_input_grad", (g2, w2, x2), CONV),
            ("conv2 weight grad", "conv2d_weight_grad", (x2, g2), dict(kernel_size=(5, 5), **CONV)),
            ("pool2 forward  16@10x10", "max_pool2d", (p2,), POOL),
            ("pool2 backward", "max_pool2d_backward", (q2, p2), POOL)):
        old, new = OLD_KERNELS[key], NEW_KERNELS[key]
        cases.append((name, (lambda f=old, a=args, k=attrs: f(*a, **k)),
                      (lambda f=new, a=args, k=attrs: f(*a, **k))))
    return cases


def check_kernels(batch):
    for name, old, new in kernel_cases(batch):
        a, b = old(), new()
        assert a.shape == b.shape and a.dtype == b.dtype, name
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(a).max())),
                                   err_msg=name)
        if "pool" in name:
            assert np.array_equal(a, b), name      # pooling is exact


def _number(f, budget):
    t0 = time.perf_counter()
    f()
    return max(1, int(budget / max(time.perf_counter() - t0, 1e-9)))


def _minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource else 0


def time_interleaved(fns, repeat=7, budget=0.05, faults=None, samples=None):
    """{name: (min, median) seconds per call}, one timing of every function per round. With a
    dict `faults`, it gets {name: minor page faults per call} (the median over the rounds);
    with a dict `samples`, each name's per-round times (train_step.paired_ratio)."""
    timers, numbers = {}, {}
    for k, f in fns.items():
        f()
        numbers[k] = _number(f, budget)
        timers[k] = timeit.Timer(f)
    samples = {} if samples is None else samples
    samples.update({k: [] for k in fns})
    flt = {k: [] for k in fns}
    for _ in range(repeat):
        for k, t in timers.items():
            f0 = _minor_faults()
            samples[k].append(t.timeit(numbers[k]) / numbers[k])
            flt[k].append((_minor_faults() - f0) / numbers[k])
    if faults is not None:
        faults.update({k: float(np.median(v)) for k, v in flt.items()})
    return {k: (min(samples[k]), float(np.median(samples[k]))) for k in fns}


def bench_kernels(batch, repeat=7, budget=0.05):
    """[(name, old (min, median), new (min, median))] in seconds."""
    check_kernels(batch)
    rows = []
    for name, old, new in kernel_cases(batch):
        t = time_interleaved({"old": old, "new": new}, repeat, budget)
        rows.append((name, t["old"], t["new"]))
    return rows


def column_rebuild(batch, repeat=7, budget=0.05):
    """What keeping the forward's columns for the weight gradient could save: the time of the
    columns the weight-gradient kernel rebuilds, next to the whole kernel, for both convs.
    [(name, columns (min, median), weight grad (min, median))] in seconds."""
    rng = np.random.default_rng(0)
    rows = []
    for name, (c, hw, o) in (("conv1", (3, 32, 6)), ("conv2", (6, 14, 16))):
        x = rng.standard_normal((batch, c, hw, hw)).astype(np.float32)
        g = rng.standard_normal((batch, o, hw - 4, hw - 4)).astype(np.float32)
        oh = hw - 4
        shared = K._rows_shared(c, o, 5, 5, hw, oh, oh, 1)
        build = K._cols_rows_shared if shared else K._cols_full
        t = time_interleaved({
            "cols": lambda: [build(x[s:e], oh, oh, 5, 5, (1, 1), (1, 1), 1)
                             for s, e in K._chunks(batch, 4 * (c * 5 * hw * oh + o * oh * oh))],
            "wgrad": lambda: K._conv2d_weight_grad_kernel(x, g, (5, 5), **CONV)}, repeat, budget)
        rows.append((name, t["cols"], t["wgrad"]))
    return rows


# ================================================================ (b) the LeNet-5 step
def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def with_functional(fn, functional):
    g = dict(fn.__globals__)
    g["F"] = functional
    return types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)


def lenet(L):
    return L.Sequential(L.Conv2d(3, 6, 5), L.ReLU(), L.MaxPool2d(2), L.Conv2d(6, 16, 5), L.ReLU(),
                        L.MaxPool2d(2), L.Flatten(), L.Linear(16 * 5 * 5, 120), L.ReLU(),
                        L.Linear(120, 84), L.ReLU(), L.Linear(84, 10))


def lenet_init(seed=0):
    """Parameters in module order, PyTorch's default ranges (U(-1/sqrt(fan_in), +))."""
    rng = np.random.default_rng(seed)
    ps = []
    for shape in ((6, 3, 5, 5), (16, 6, 5, 5), (120, 400), (84, 120), (10, 84)):
        bound = 1 / np.sqrt(np.prod(shape[1:]))
        ps.append(rng.uniform(-bound, bound, shape).astype(np.float32))
        ps.append(rng.uniform(-bound, bound, shape[:1]).astype(np.float32))
    return ps


def dg_model():
    """The dualgraph LeNet from lenet_init's weights, and its SGD-momentum optimizer."""
    m = lenet(nn)
    with dg.no_grad():
        for p, a in zip(m.parameters(), lenet_init()):
            p.copy_(dg.tensor(a))
    return m, dg.optim.SGD(m.parameters(), lr=LR, momentum=MOMENTUM)


def make_data(batch, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, 3, 32, 32)).astype(np.float32),
            rng.integers(0, 10, batch).astype(np.int64))


def make_cases(batch, modes=None, warm=None):
    """{mode: step callable}, every mode from the same weights and data. A compiled mode with
    the old kernels has taken one step already (its plan is built then); its loss goes into
    `warm` (a dict) when given."""
    x, y = make_data(batch)
    xt, yt = dg.tensor(x), dg.tensor(y)
    modes = modes or ("dualgraph eager", "dualgraph compiled", "dualgraph eager, old kernels",
                      "dualgraph compiled, old kernels", "torch eager")
    cases = {}
    for mode in modes:
        if mode.startswith("dualgraph"):
            m, o = dg_model()
            old = mode.endswith("old kernels")
            if "compiled" in mode:
                fn = dg.function(train_step)
                if old:
                    with old_kernels():      # the plan binds the kernels it is built with
                        loss = fn(m, o, xt, yt)
                    if warm is not None:
                        warm[mode] = [_loss(loss)]
                cases[mode] = (lambda fn=fn, m=m, o=o: fn(m, o, xt, yt))
            elif old:
                def step(m=m, o=o):
                    with old_kernels():
                        return train_step(m, o, xt, yt)
                cases[mode] = step
            else:
                cases[mode] = (lambda m=m, o=o: train_step(m, o, xt, yt))
        elif mode == "torch eager" and torch is not None:
            m = lenet(torch.nn)
            with torch.no_grad():
                for p, a in zip(m.parameters(), lenet_init()):
                    p.copy_(torch.from_numpy(a))
            o = torch.optim.SGD(m.parameters(), lr=LR, momentum=MOMENTUM)
            ts = with_functional(train_step, torch.nn.functional)
            tx, ty = torch.from_numpy(x), torch.from_numpy(y)
            cases[mode] = (lambda m=m, o=o: ts(m, o, tx, ty))
    return cases


def _loss(v):
    v = v.detach() if hasattr(v, "detach") else v
    return float(v.numpy() if hasattr(v, "numpy") else v)


def check_losses(batch, steps=3):
    """Every mode's losses over `steps` steps from the same start; they must agree."""
    warm = {}
    cases = make_cases(batch, warm=warm)
    out = {k: (warm.get(k, []) + [_loss(f()) for _ in range(steps)])[:steps]
           for k, f in cases.items()}
    ref = out["dualgraph eager"]
    for k, v in out.items():
        np.testing.assert_allclose(v, ref, rtol=2e-4, atol=2e-5, err_msg=k)
    return out


NEW_MODES = ("dualgraph eager", "dualgraph compiled", "torch eager")


def bench_step(batch, repeat=7, budget=0.2, faults=None, modes=None, samples=None):
    if modes is None:
        check_losses(batch)
    return time_interleaved(make_cases(batch, modes), repeat, budget, faults, samples)


# ================================================================ report
def _us(v):
    return "n/a" if v is None else f"{v * 1e6:10.1f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (3 rounds, short budgets)")
    ap.add_argument("--kernels-only", action="store_true")
    ap.add_argument("--step-only", action="store_true")
    ap.add_argument("--batches", default="4,32,128")
    ap.add_argument("--new-only", action="store_true",
                    help="the step without the old kernels' modes (whose large temporaries "
                         "change glibc's malloc thresholds for the whole process): what a user's "
                         "fresh process gets; with DUALGRAPH_MALLOC_TUNING=0, before allocator.py")
    ap.add_argument("--modes", default="",
                    help="comma-separated step modes to run, alone in this process (e.g. "
                         "'dualgraph eager': a user's process that trains one model)")
    ap.add_argument("--repeat", type=int, default=None, help="rounds (default 7; 3 with --quick)")
    a = ap.parse_args(argv)
    batches = [int(b) for b in a.batches.split(",")]
    repeat, kb, sb = (3, 0.01, 0.02) if a.quick else (7, 0.05, 0.2)
    repeat = a.repeat or repeat
    import platform
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch else 'n/a'}; {platform.machine()}, "
          f"{os.cpu_count()} CPUs visible, one thread; malloc tuning: "
          f"{getattr(getattr(dg, 'allocator', None), 'STATUS', ['n/a (before allocator.py)'])[0]}")
    if not a.step_only:
        for b in batches:
            print(f"\n(a) kernels at LeNet-5 shapes, batch {b}, us per call (min / median)")
            print(f"  {'':30s}{'old min':>10s}{'old med':>10s}{'new min':>10s}{'new med':>10s}"
                  f"{'old/new':>9s}")
            tot_o = tot_n = 0.0
            for name, (omin, omed), (nmin, nmed) in bench_kernels(b, repeat, kb):
                tot_o, tot_n = tot_o + omin, tot_n + nmin
                print(f"  {name:30s}{_us(omin)}{_us(omed)}{_us(nmin)}{_us(nmed)}"
                      f"{omin / nmin:8.2f}x")
            print(f"  {'all nine (sum of min)':30s}{_us(tot_o)}{'':10s}{_us(tot_n)}{'':10s}"
                  f"{tot_o / tot_n:8.2f}x")
            for name, (cmin, _), (wmin, _) in column_rebuild(b, repeat, kb):
                print(f"  {name} weight grad: rebuilding its columns {_us(cmin).strip()} us "
                      f"of {_us(wmin).strip()} us ({cmin / wmin:.0%})")
    if not a.kernels_only:
        for b in batches:
            print(f"\n(b) LeNet-5 SGD-momentum step, batch {b}, us per step (min / median); the ratio "
                  f"of minima to torch's, and the median [quartiles] over rounds of the ratio "
                  f"within a round (train_step.paired_ratio)")
            flt, samples = {}, {}
            modes = (a.modes.split(",") if a.modes else NEW_MODES) if a.new_only or a.modes \
                else None
            res = bench_step(b, repeat, sb, flt, modes, samples)
            t = res.get("torch eager")
            for k, (lo, med) in res.items():
                rt = ""
                if t:
                    pm, p25, p75 = TS.paired_ratio(samples, k, "torch eager")
                    rt = f"{lo / t[0]:6.2f}x torch, paired {pm:.2f}x [{p25:.2f}-{p75:.2f}]"
                print(f"  {k:34s}{_us(lo)}{_us(med)}   {rt}   {flt[k]:6.0f} page faults/step")
            if modes is not None:
                continue
            e, c = res["dualgraph eager"][0], res["dualgraph compiled"][0]
            eo = res["dualgraph eager, old kernels"][0]
            co = res["dualgraph compiled, old kernels"][0]
            print(f"  speed-up from the new kernels: eager {eo / e:.2f}x, compiled {co / c:.2f}x")


if __name__ == "__main__":
    main()
