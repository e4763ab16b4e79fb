"""Smoke test for benchmarks/function_overhead.py: its --quick path runs, every measurement is a
positive time, every dg.function is traced once, and the contenders of each case compute the
same thing on the first call (compiled vs eager vs hand-written numpy). No timing assertions:
the machine running the tests is not the one being measured."""
import importlib.util
import math
import pathlib

import numpy as np
import pytest

# tests/ -> ../benchmarks
_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "function_overhead.py"

CASES = ("add", "sgd", "adam", "closure")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("function_overhead", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check_times(res):
    assert res["modes"]
    assert set(res["times"]) == set(res["modes"])
    for k, (lo, med) in res["times"].items():
        assert lo > 0 and med > 0 and math.isfinite(lo) and math.isfinite(med), k
        assert lo <= med, k
    assert res["trace_counts"] and all(n == 1 for n in res["trace_counts"])


def test_quick_main_runs(bench, capsys):
    results = bench.main(quick=True)
    assert set(results) == set(CASES) | {"breakdown"}
    for name in CASES:
        _check_times(results[name])
    out = capsys.readouterr().out
    assert "summary" in out and "dg.function step" in out
    assert "(d) where a compiled call's time goes" in out


@pytest.mark.parametrize("name", CASES)
def test_run_case_times_positive(bench, name):
    res = bench.run_case(name, repeat=2, budget=0.002)
    _check_times(res)
    assert bench.BASES[name] in res["modes"]
    assert "x " in bench.format_table(name, res)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_step_first_call_agrees(bench, opt):
    cases, compiled, params = bench.step_cases(opt)
    losses = {k: bench._np(f()) for k, f in cases.items()}
    ref = losses["dualgraph eager"]
    for k, v in losses.items():
        np.testing.assert_allclose(v, ref, rtol=1e-5, atol=1e-6, err_msg=k)
        for p, q in zip(params[k](), params["dualgraph eager"]()):
            np.testing.assert_allclose(bench._np(p), bench._np(q), rtol=1e-5, atol=1e-6, err_msg=k)
    assert compiled[0].trace_count == 1


def test_add_and_closure_agree(bench):
    cases, _ = bench.add_cases()
    bench.check_add(cases)
    cases, compiled, extra = bench.closure_cases()
    bench.check_closure(cases, extra)
    assert all(c.trace_count == 1 for c in compiled)


def test_check_catches_a_mismatch(bench):
    with pytest.raises(AssertionError):
        bench._close("mismatch", np.ones(3, np.float32), np.zeros(3, np.float32))


def test_call_breakdown(bench):
    """(d) on this checkout's dualgraph, which has the internals: every row is measured."""
    res = bench.call_breakdown(quick=True)
    assert set(res["us"]) == set(bench.BREAKDOWN_ROWS)
    for k, v in res["us"].items():
        assert v is not None and v > 0 and math.isfinite(v), k
    assert res["guards"] > 0 and res["lifted"] > 0
    text = bench.format_breakdown(res)
    assert all(k in text for k in bench.BREAKDOWN_ROWS) and "n/a" not in text


def test_breakdown_prints_na_for_missing_internals(bench):
    """An older dualgraph (no _traces / feeds_for) gets n/a rows, not an error."""
    res = {"us": dict.fromkeys(bench.BREAKDOWN_ROWS), "guards": None, "lifted": None}
    res["us"]["whole call"] = 30.0
    text = bench.format_breakdown(res)
    assert text.count("n/a") == 6 and "30.00" in text
