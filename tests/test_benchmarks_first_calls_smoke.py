"""Smoke test for benchmarks/first_calls.py: one round in a fresh process gives positive
times for each column. No timing assertions (the test machine is not the one measured)."""
import importlib.util
import pathlib

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "first_calls.py"


def test_one_round_of_first_calls():
    spec = importlib.util.spec_from_file_location("first_calls", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    root = str(_PATH.parents[1])
    res = mod.run([root], rounds=1)
    (row,) = res[root]
    assert len(row) == len(mod.COLUMNS)
    assert all(v >= 0 for v in row) and row[2] > 0 and row[3] > 0
