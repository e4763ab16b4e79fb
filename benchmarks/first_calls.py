"""First calls of dg.function (trace, compile, specialise, run) in fresh processes, for one
checkout or two side by side (before and after a change), fusion off, the runs interleaved
(the order alternates each round) so that both see the same machine.

    python benchmarks/first_calls.py                       # this checkout, 10 rounds
    python benchmarks/first_calls.py OLD_ROOT NEW_ROOT     # e.g. a `git worktree` of the old commit
    python benchmarks/first_calls.py --rounds 3

Each round runs benchmarks/fusion.py's FIRST_CALL program once per checkout (import, the
100-op chain's first call, the MLP step's, a second chain plan) and the medians are printed.
"""
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fusion import FIRST_CALL  # noqa: E402

COLUMNS = ("import dg", "set_fusion", "chain", "MLP b64", "2nd chain")


def run(roots, rounds):
    """{root: [(ms per column), ...]}, one row per round."""
    res = {r: [] for r in roots}
    for k in range(rounds):
        for root in (roots if k % 2 == 0 else roots[::-1]):
            code = FIRST_CALL.format(root=root, fused=False, work=None)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout.split()
            res[root].append(tuple(map(float, out)))
    return res


def main(argv):
    rounds = 10
    if "--rounds" in argv:
        i = argv.index("--rounds")
        rounds = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    roots = [os.path.abspath(r) for r in argv] or [os.path.join(HERE, "..")]
    res = run(roots, rounds)
    print(f"first calls, fusion off, ms: median of {rounds} fresh processes (min)")
    print(f"  {'checkout':40s}" + "".join(f"{c:>18s}" for c in COLUMNS))
    for root, rows in res.items():
        cells = "".join(f"{statistics.median(col):>10.1f} ({min(col):5.1f})" for col in zip(*rows))
        print(f"  {root[-40:]:40s}{cells}")


if __name__ == "__main__":
    main(sys.argv[1:])
