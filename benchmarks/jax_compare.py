"""dualgraph against JAX jit (issue 14), in one process on one thread, contenders interleaved.

(a) `a + b` on two 16-float float32 arrays: np.add, `dg.function(lambda a, b: a + b)` on dualgraph
    tensors, `jax.jit(lambda a, b: a + b)` on jax arrays (with `.block_until_ready()`), and torch's
    `a + b` when torch is importable: what one call of each compiled-function machinery costs.
(b) the 100-op chain (x*1.01, +0.5, tanh, ...) forward and backward on 16 and on 65536 floats:
    hand-written numpy (benchmarks/graph_vs_eager.py's numpy_chain), dg.function unfused and
    fused with numba (benchmarks/fusion.py's chain_step / compiled, specialised as fusion.py does),
    and `jax.jit(jax.grad(lambda x: chain_ops(x, jnp.tanh).sum()))`. All are first checked to
    agree with numpy (allclose, rtol 1e-4).
(c) the MLP 784-256-128-10 training step, SGD(lr=0.01, momentum=0.9), batch 64 and 512:
    benchmarks/train_step.py's "numpy", "dualgraph compiled", "dualgraph compiled+fused" (with
    numba) and "dualgraph compiled+fused, mkl" (also with the mkl extra) modes, and the same step in JAX: params and momentum buffers as lists, mean softmax
    cross-entropy via jax.nn.log_softmax, jax.grad, PyTorch's SGD momentum (buf = m*buf + g;
    p = p - lr*buf), the whole step under jax.jit with params and buffers donated (dualgraph
    updates in place too), from train_step.mlp_init's weights and train_step.make_data's data.
    The JAX losses of the first 3 steps are first checked against dualgraph eager's (within 1e-4).

Steady-state times exclude compilation (every contender is warmed up first); each contender's
first call (trace, compile, run) is printed in ms. Min and median over interleaved rounds (one round
times every contender once); ratios are of the min times.

One thread: OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS=1, XLA_FLAGS="--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1" (set before numpy and jax are imported), torch.set_num_threads(1).
Without jax the script prints a note and exits 0.

    python benchmarks/jax_compare.py [--quick]
"""
import os
import sys
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

try:
    _t0 = time.perf_counter()
    import jax  # noqa: E402
    import jax.numpy as jnp  # noqa: E402
    JAX_IMPORT_MS = (time.perf_counter() - _t0) * 1e3
except ImportError:
    jax = None

import dualgraph as dg  # noqa: E402
from fusion import FE, chain_step, compiled, interleaved  # noqa: E402
from graph_vs_eager import chain_ops, numpy_chain  # noqa: E402
import train_step as TS  # noqa: E402

try:
    import torch  # noqa: E402
    torch.set_num_threads(1)
except ImportError:
    torch = None
try:
    import numba  # noqa: E402
except ImportError:
    numba = None


def first(fn):
    """Call fn once; (result, ms)."""
    t0 = time.perf_counter()
    r = fn()
    return r, (time.perf_counter() - t0) * 1e3


# ================================================================ (a) a + b on 16 floats
def add_cases(n=16):
    rng = np.random.default_rng(0)
    an = rng.standard_normal(n).astype(np.float32)
    bn = rng.standard_normal(n).astype(np.float32)
    ref = an + bn
    cases, firsts = {}, {}

    cases["numpy np.add"] = lambda: np.add(an, bn)
    got, firsts["numpy np.add"] = first(cases["numpy np.add"])

    a, b = dg.tensor(an), dg.tensor(bn)
    f = dg.function(lambda a, b: a + b)
    cases["dg.function(a + b)"] = lambda: f(a, b)
    got, firsts["dg.function(a + b)"] = first(cases["dg.function(a + b)"])
    np.testing.assert_array_equal(got.numpy(), ref)

    ja, jb = jnp.asarray(an), jnp.asarray(bn)
    jf = jax.jit(lambda a, b: a + b)
    cases["jax.jit(a + b)"] = lambda: jf(ja, jb).block_until_ready()
    got, firsts["jax.jit(a + b)"] = first(cases["jax.jit(a + b)"])
    np.testing.assert_array_equal(np.asarray(got), ref)

    if torch is not None:
        ta, tb = torch.from_numpy(an), torch.from_numpy(bn)
        cases["torch a + b"] = lambda: ta + tb
        got, firsts["torch a + b"] = first(cases["torch a + b"])
        np.testing.assert_array_equal(got.numpy(), ref)
    return cases, firsts


# ================================================================ (b) the 100-op chain
def chain_cases(n):
    x0 = np.random.default_rng(0).standard_normal(n).astype(np.float32) * 0.1
    ref = numpy_chain(x0)
    cases, firsts, outs = {}, {}, {}
    cases["numpy, hand-written"] = lambda: numpy_chain(x0)
    outs["numpy, hand-written"], firsts["numpy, hand-written"] = first(cases["numpy, hand-written"])

    xt = dg.tensor(x0)
    plain = compiled(chain_step, None)
    outs["dg.function"], firsts["dg.function"] = first(lambda: plain(xt))   # specialised unfused
    cases["dg.function"] = lambda: plain(xt)
    fused = None
    if numba is not None:
        fused = compiled(chain_step, "numba")
        outs["dg.function, fused (numba)"], firsts["dg.function, fused (numba)"] = \
            first(lambda: fused(xt))                                        # specialised fused
        FE.set_fusion(None)
        cases["dg.function, fused (numba)"] = lambda: fused(xt)

    xj = jnp.asarray(x0)
    jg = jax.jit(jax.grad(lambda x: chain_ops(x, jnp.tanh).sum()))
    cases["jax.jit(jax.grad(chain))"] = lambda: jg(xj).block_until_ready()
    outs["jax.jit(jax.grad(chain))"], firsts["jax.jit(jax.grad(chain))"] = \
        first(cases["jax.jit(jax.grad(chain))"])

    for k, v in outs.items():
        v = v.numpy() if hasattr(v, "numpy") else np.asarray(v)
        np.testing.assert_allclose(v, ref, rtol=1e-4, atol=1e-30, err_msg=k)  # 100 float32 ops
    nk = fused._traces[-1].plan.stats.get("fused_kernels") if fused is not None else None
    return cases, firsts, nk


# ================================================================ (c) the MLP step
def jax_mlp(batch, sizes=TS.MLP_SIZES, lr=TS.LR, momentum=TS.MOMENTUM):
    """A callable running one jitted JAX training step (returns the loss, blocked on), its state
    starting from train_step.mlp_init's weights and train_step.make_data's data."""
    ps = [jnp.asarray(p) for p in TS.mlp_init(sizes)]
    bufs = [jnp.zeros_like(p) for p in ps]
    x, y = TS.make_data("mlp", batch, sizes)
    x, y = jnp.asarray(x), jnp.asarray(y.astype(np.int32))

    def loss_fn(ps, x, y):
        a = x
        L = len(ps) // 2
        for i in range(L):
            a = a @ ps[2 * i].T + ps[2 * i + 1]
            if i < L - 1:
                a = jax.nn.relu(a)
        lp = jax.nn.log_softmax(a, axis=1)
        return -jnp.mean(jnp.take_along_axis(lp, y[:, None], axis=1))

    def step(ps, bufs, x, y):
        loss, gs = jax.value_and_grad(loss_fn)(ps, x, y)
        bufs = [momentum * b + g for b, g in zip(bufs, gs)]
        ps = [p - lr * b for p, b in zip(ps, bufs)]
        return ps, bufs, loss

    jstep = jax.jit(step, donate_argnums=(0, 1))
    state = [ps, bufs]

    def run():
        state[0], state[1], loss = jstep(state[0], state[1], x, y)
        return loss.block_until_ready()
    return run


def mlp_cases(batch, steps=3):
    # JAX's first losses against dualgraph eager's (and the compiled modes', for good measure)
    check, _ = TS.make_cases("mlp", batch, modes=("dualgraph eager", "dualgraph compiled",
                                                  "dualgraph compiled+fused"))
    check["jax.jit step"] = jax_mlp(batch)
    ls = {k: [TS.loss_value(f()) for _ in range(steps)] for k, f in check.items()}
    ref = ls["dualgraph eager"]
    for k, v in ls.items():
        err = max(abs(a - b) for a, b in zip(v, ref))
        if err > 1e-4:
            raise AssertionError(f"MLP batch {batch}: {k} losses {v} differ from eager {ref}")
    # the timed contenders, fresh from the same start
    made, comp = TS.make_cases("mlp", batch, modes=("numpy", "dualgraph compiled",
                                                    "dualgraph compiled+fused",
                                                    "dualgraph compiled+fused, mkl"))
    cases = dict(made)
    cases["jax.jit step"] = jax_mlp(batch)
    firsts = {}
    for k, f in cases.items():
        _, firsts[k] = first(f)
    return cases, firsts, ls


# ================================================================ report
def report(title, res, firsts, base, jax_key):
    print(f"\n{title}: us per call")
    print(f"  {'':34s} {'min':>10s} {'median':>10s} {'x numpy':>8s} {'x JAX':>8s} "
          f"{'1st call ms':>12s}")
    b, j = res[base][0], res[jax_key][0]
    for k, (mn, md) in res.items():
        print(f"  {k:34s} {mn:10.1f} {md:10.1f} {mn / b:8.2f} {mn / j:8.2f} {firsts[k]:12.1f}")


def main(quick=False):
    if jax is None:
        print("jax_compare.py: jax is not importable; nothing to compare (pip install jax)")
        return 0
    tv = torch.__version__ if torch is not None else "n/a"
    nv = numba.__version__ if numba is not None else "n/a (no fused rows)"
    print(f"python {sys.version.split()[0]}, dualgraph {getattr(dg, '__version__', '?')}, "
          f"numpy {np.__version__}, jax {jax.__version__} ({jax.default_backend()}, "
          f"import {JAX_IMPORT_MS:.0f} ms), numba {nv}, torch {tv}")
    print(f"{os.uname().machine}, {os.cpu_count()} CPUs visible; one thread (XLA_FLAGS="
          f"{os.environ['XLA_FLAGS']!r}" + (f", torch threads {torch.get_num_threads()}" if torch else "")
          + ")")
    rounds = 3 if quick else 21
    out = {}

    cases, firsts = add_cases()
    out["add"] = interleaved(cases, 200 if quick else 2000, rounds)
    report("(a) a + b, two 16-float float32 arrays", out["add"], firsts, "numpy np.add", "jax.jit(a + b)")

    for n, number in ((16, 200), (65536, 10)):
        cases, firsts, nk = chain_cases(n)
        out[f"chain{n}"] = interleaved(cases, number if not quick else 3, rounds)
        report(f"(b) 100-op chain fwd+bwd, {n} floats (dg fused plan: {nk} fused kernels)",
               out[f"chain{n}"], firsts, "numpy, hand-written", "jax.jit(jax.grad(chain))")

    for batch, number in ((64, 20), (512, 4)):
        cases, firsts, ls = mlp_cases(batch)
        out[f"mlp{batch}"] = interleaved(cases, number if not quick else 2, rounds)
        report(f"(c) MLP 784-256-128-10 SGD(lr={TS.LR}, momentum={TS.MOMENTUM}) step, batch {batch}"
               f" (first 3 losses agree within 1e-4: JAX {ls['jax.jit step'][0]:.6f}, "
               f"dg eager {ls['dualgraph eager'][0]:.6f}, ...)",
               out[f"mlp{batch}"], firsts, "numpy", "jax.jit step")

    print("\nissue 14 (ratios of min times; < 1: dualgraph faster)")
    a = out["add"]
    print(f"  dg.function(a + b) / jax.jit dispatch: "
          f"{a['dg.function(a + b)'][0] / a['jax.jit(a + b)'][0]:.2f}x (target <= 1.00x)")
    for key, label in (("chain16", "chain, 16 floats"), ("chain65536", "chain, 65536 floats")):
        r = out[key]
        best = min((v[0], k) for k, v in r.items() if k.startswith("dg.function"))
        print(f"  {label}: best dualgraph ({best[1]}) {best[0] / r['numpy, hand-written'][0]:.2f}x numpy,"
              f" {best[0] / r['jax.jit(jax.grad(chain))'][0]:.2f}x JAX; JAX "
              f"{r['jax.jit(jax.grad(chain))'][0] / r['numpy, hand-written'][0]:.2f}x numpy")
    for key, label in (("mlp64", "MLP step, batch 64"), ("mlp512", "MLP step, batch 512")):
        r = out[key]
        best = min((v[0], k) for k, v in r.items() if k.startswith("dualgraph"))
        print(f"  {label}: best dualgraph ({best[1]}) {best[0] / r['numpy'][0]:.2f}x numpy,"
              f" {best[0] / r['jax.jit step'][0]:.2f}x JAX; JAX "
              f"{r['jax.jit step'][0] / r['numpy'][0]:.2f}x numpy")
    return 0


if __name__ == "__main__":
    sys.exit(main(quick="--quick" in sys.argv))
