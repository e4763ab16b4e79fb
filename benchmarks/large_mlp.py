"""The large MLP (784-1024-1024-10, batch 256, SGD momentum; benchmarks/train_step.py's step):
first compiled call, and hand-written numpy / dualgraph eager / dg.function (unfused, and fused
when numba is installed; each also with 2-D products on MKL when the mkl extra is installed) /
torch eager (when installed) per step, one thread, interleaved, min
of 5 rounds of 3 steps. Run it from two checkouts to compare versions:

    python benchmarks/large_mlp.py            # this checkout
    python /other/checkout/benchmarks/large_mlp.py
"""
import os
import sys
import time
import timeit

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import train_step as T  # noqa: E402


def main():
    cases, _ = T.make_cases("mlp", 256, shape=(784, 1024, 1024, 10))
    t = time.perf_counter()
    cases["dualgraph compiled"]()
    first = (time.perf_counter() - t) * 1e3
    names = [k for k in ("numpy", "dualgraph eager", "dualgraph compiled", "dualgraph compiled+fused",
                         "dualgraph eager, mkl", "dualgraph compiled, mkl",
                         "dualgraph compiled+fused, mkl", "torch eager") if k in cases]
    res = {k: [] for k in names}
    for _ in range(5):
        for k in names:
            res[k].append(timeit.timeit(cases[k], number=3) / 3 * 1e6)
    m = {k: min(v) for k, v in res.items()}
    print(f"first compiled call {first:.1f} ms; us per step: " +
          ", ".join(f"{k} {m[k]:.0f}" for k in names))
    print(f"compiled / numpy {m['dualgraph compiled'] / m['numpy']:.3f}, "
          f"eager / numpy {m['dualgraph eager'] / m['numpy']:.3f}"
          + (f", compiled+fused / numpy {m['dualgraph compiled+fused'] / m['numpy']:.3f}"
             if "dualgraph compiled+fused" in m else "")
          + (f", compiled+fused, mkl / numpy {m['dualgraph compiled+fused, mkl'] / m['numpy']:.3f}"
             if "dualgraph compiled+fused, mkl" in m else "")
          + (f"; eager, mkl / torch eager {m['dualgraph eager, mkl'] / m['torch eager']:.3f}"
             if "dualgraph eager, mkl" in m and "torch eager" in m else "")
          + (f"; eager / torch eager {m['dualgraph eager'] / m['torch eager']:.3f}"
             if "torch eager" in m else ""))


if __name__ == "__main__":
    main()
