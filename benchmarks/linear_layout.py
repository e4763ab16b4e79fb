"""The two BLAS layouts linear chooses between (dualgraph/ops/nn_ops.py `_transposed_faster`):
x W^T into the output, or W x^T into a scratch buffer and a transposed copy; for the MLP shapes
of the other benchmarks, one thread, interleaved, min of 7 rounds. Also which one linear picked.

    python benchmarks/linear_layout.py
"""
import os
import sys
import timeit

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dualgraph.ops import nn_ops as N  # noqa: E402

SHAPES = [(64, 784, 256), (64, 256, 128), (64, 128, 10), (512, 784, 256), (512, 256, 128),
          (256, 784, 1024), (256, 1024, 10)]


def main():
    rng = np.random.default_rng(0)
    print(f"{'n, in, out':>18} {'x W^T us':>10} {'(W x^T)^T us':>13} {'ratio':>6}  linear picks")
    for n, i, o in SHAPES:
        x = rng.standard_normal((n, i)).astype(np.float32)
        w = rng.standard_normal((o, i)).astype(np.float32)
        out = np.empty((n, o), np.float32)
        number = max(3, int(2e7 / (n * i * o)))
        plain, trans = [], []
        for _ in range(7):
            plain.append(timeit.timeit(lambda: N._plain_product(x, w, out), number=number) / number)
            trans.append(timeit.timeit(lambda: N._transposed_product(x, w, out), number=number) / number)
        a, b = min(plain) * 1e6, min(trans) * 1e6
        pick = "(W x^T)^T" if N._transposed_faster(x, w) else "x W^T"
        print(f"{str((n, i, o)):>18} {a:10.1f} {b:13.1f} {b / a:6.2f}  {pick}")


if __name__ == "__main__":
    main()
