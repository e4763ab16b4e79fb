"""benchmarks/jax_compare.py runs: its --quick mode where jax is installed (the `bench` extra),
else its one-line note. No timing assertions: the script checks that every contender computes
the same numbers before it times them."""
import importlib.util
import os
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "jax_compare.py")


def test_jax_compare_runs():
    r = subprocess.run([sys.executable, SCRIPT, "--quick"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    if importlib.util.find_spec("jax") is None:
        assert "jax is not importable" in r.stdout
    else:
        assert "dg.function(a + b) / jax.jit dispatch" in r.stdout, r.stdout[-2000:]
