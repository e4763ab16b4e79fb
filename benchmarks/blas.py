"""2-D products on numpy's BLAS (OpenBLAS in numpy's wheels), on Intel MKL through dualgraph's
door (dualgraph/ops/blas.py, `dg.set_blas("mkl")`) and in PyTorch (`torch.mm`, MKL inside), for
the products of the MLP training steps of the other benchmarks (forward x W^T, weight gradient
g^T x, input gradient g W) and a few small ones that show where MKL stops paying. One thread,
contenders interleaved, min of 7 rounds. "MKL" is MKL's gemm called bare (through cffi, the
pointers taken beforehand); "door" is `blas.matmul` with `set_blas("mkl")` on, what an op kernel
pays (its checks and pointers included), and the last column the library the door runs the
product on (numpy below `_MKL_FROM` multiply-adds).

    python benchmarks/blas.py [--quick]

Without the mkl extra (`pip install 'dualgraph[mkl]'`) the MKL column reads n/a; without torch
the torch column does.
"""
import os
import sys
import timeit

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import dualgraph as dg  # noqa: E402
from dualgraph.ops import blas  # noqa: E402

try:
    import torch  # noqa: E402
    torch.set_num_threads(1)
except ImportError:
    torch = None

# (name, m, k, n, a transposed?, b transposed?): out (m, n) = op(a) op(b) as the MLP step runs them
PRODUCTS = [
    ("fwd  64x784 W1^T", 64, 784, 256, False, True),
    ("wgrad g1^T x (b64)", 256, 64, 784, True, False),
    ("fwd  64x256 W2^T", 64, 256, 128, False, True),
    ("igrad g2 W2 (b64)", 64, 128, 256, False, False),
    ("fwd  512x784 W1^T", 512, 784, 256, False, True),
    ("wgrad g1^T x (b512)", 256, 512, 784, True, False),
    ("fwd  256x784 W1^T", 256, 784, 1024, False, True),
    ("fwd  256x1024 W2^T", 256, 1024, 1024, False, True),
    ("wgrad g2^T h1 (b256)", 1024, 256, 1024, True, False),
    ("small 64x128x10", 64, 128, 10, False, True),
    ("small 64x64x64", 64, 64, 64, False, False),
    ("mid 16x784x64", 16, 784, 64, False, True),
    # LeNet's convolutions at batch 32 as single GEMMs over columns laid out (C*kh*kw, N*OH*OW)
    ("conv1 fwd w cols (b32)", 6, 75, 25088, False, False),
    ("conv1 wgrad g cols^T", 6, 25088, 75, False, True),
    ("conv2 fwd w cols (b32)", 16, 150, 3200, False, False),
    ("conv2 wgrad g cols^T", 16, 3200, 150, False, True),
]


def _mkl_available():
    try:
        dg.set_blas(dg.set_blas("mkl"))
        return True
    except dg.errors.DualGraphError:
        return False


def operands(rng, m, k, n, ta, tb):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    return (a.T if ta else a), (b.T if tb else b)


def main(quick=False):
    rounds = 2 if quick else 7
    have_mkl = _mkl_available()
    print(f"numpy {np.__version__}, torch {torch.__version__ if torch else 'n/a'}, "
          f"MKL {'yes' if have_mkl else 'n/a'}; one thread; us per product (min of {rounds} rounds)")
    print(f"  {'product':22}{'m,k,n':>16}{'numpy':>9}{'MKL':>9}{'door':>9}{'torch':>9}"
          f"{'MKL/np':>8}  door runs")
    rng = np.random.default_rng(0)
    for name, m, k, n, ta, tb in PRODUCTS:
        a, b = operands(rng, m, k, n, ta, tb)
        out = np.empty((m, n), np.float32)
        number = max(3, int(2e7 / (m * k * n))) if not quick else 2
        cases = {"numpy": lambda: np.matmul(a, b, out=out)}
        if have_mkl:   # MKL's gemm called as the door calls it (whatever the door would pick)
            old = dg.set_blas("mkl")
            got = blas.matmul(a, b).copy()
            g = blas._state["gemm"][np.dtype(np.float32)]
            dg.set_blas(old)
            assert np.allclose(got, a @ b, rtol=1e-4, atol=1e-3), name
            buffer = blas._MKL["buffer"]
            la, lb, lo = blas._operand(a, buffer), blas._operand(b, buffer), buffer(out)
            cases["MKL"] = lambda g=g, la=la, lb=lb, lo=lo: g(
                blas._ROW_MAJOR, la[1], lb[1], m, n, k, 1.0, la[0], la[2], lb[0], lb[2], 0.0, lo, n)
            cases["door"] = lambda a=a, b=b: blas.matmul(a, b, out=out)   # (timed on MKL)
        if torch is not None:
            tx = torch.from_numpy(np.ascontiguousarray(a.T)).T if ta else torch.from_numpy(a)
            ty = torch.from_numpy(np.ascontiguousarray(b.T)).T if tb else torch.from_numpy(b)
            cases["torch"] = lambda tx=tx, ty=ty: torch.mm(tx, ty)
        best = {c: float("inf") for c in cases}
        for _ in range(rounds):
            for c, f in cases.items():
                old = dg.set_blas("mkl") if c == "door" else None
                try:
                    f()
                    best[c] = min(best[c], timeit.timeit(f, number=number) / number)
                finally:
                    if old is not None:
                        dg.set_blas(old)
        mkl_direct = best.get("MKL")
        door = ("MKL" if m * n * k >= blas._MKL_FROM else "numpy") if have_mkl else "numpy"
        mk = f"{mkl_direct * 1e6:9.1f}" if mkl_direct else f"{'n/a':>9}"
        mk += f"{best['door'] * 1e6:9.1f}" if "door" in best else f"{'n/a':>9}"
        tt = f"{best['torch'] * 1e6:9.1f}" if "torch" in best else f"{'n/a':>9}"
        ratio = f"{mkl_direct / best['numpy']:8.2f}" if mkl_direct else f"{'':8}"
        print(f"  {name:22}{f'{m},{k},{n}':>16}{best['numpy'] * 1e6:9.1f}{mk}{tt}{ratio}  {door}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
