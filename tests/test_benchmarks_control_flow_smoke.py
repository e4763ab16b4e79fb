"""Smoke test for benchmarks/control_flow.py: on a tiny configuration every contender runs, they
agree with eager on the first steps (loss, gradients, updated parameters: the script's own check
raises otherwise), the trace counts are the ones the benchmark is about, and every time is
positive and finite. No timing assertions: the machine running the tests is not the one measured."""
import importlib.util
import math
import pathlib

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "control_flow.py"
TINY = dict(B=2, D=3, H=4, O=2, lengths=(1, 4), n_seqs=8, rounds=6, n_check=3, lr=0.1, seed=0)


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("control_flow_bench", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def result(bench):
    return bench.run(dict(TINY))


def test_contenders_agree_and_trace_as_expected(bench, result):
    assert {"a", "b", "c"} <= set(result["times"])
    assert result["max_diff"] < 1e-4
    assert result["traces"]["a"] is None
    assert result["traces"]["b"] == len(result["lengths"])   # one trace per distinct length
    assert result["traces"]["c"] == 1                        # one trace for every length
    assert len(result["first"]["b"]) == len(result["lengths"])
    if bench.torch is not None:
        assert "d" in result["times"]
    else:
        assert "d" in result["notes"]
    if "e" in result["times"]:
        assert result["traces"]["e"] == 1
    else:
        assert "e" in result["notes"]


def test_times_positive_and_finite(bench, result):
    for k, (med, lo, per_t) in result["times"].items():
        for v in (med, lo, per_t):
            assert v > 0 and math.isfinite(v), k
    assert result["first_eager"] > 0
    for k, calls in result["first"].items():
        assert all(dt > 0 and math.isfinite(dt) for _, dt in calls), k
    report = bench.format_report(result)
    assert "(c) dg.function + dg.while_loop" in report and "first calls" in report


def test_main_quick_prints_the_table(bench, capsys):
    res = bench.main(quick=True, cfg=dict(TINY, rounds=2))
    out = capsys.readouterr().out
    assert "agree with eager" in out and "(a) eager dualgraph" in out
    assert res["traces"]["c"] == 1
