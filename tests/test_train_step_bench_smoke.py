"""Smoke test for benchmarks/train_step.py: with tiny models and few repeats, every mode runs,
returns positive times and memory, the compiled step is traced once, and the modes compute the
same losses (compiled vs eager within 1e-5). No timing assertions."""
import importlib.util
import math
import pathlib

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "train_step.py"

TINY_MLP = (12, 8, 6, 4)
TINY_CNN = dict(in_ch=1, hw=6, ch=2, classes=3)


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("train_step_bench", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check(res, bench, kind):
    modes = res["modes"]
    assert "dualgraph eager" in modes and "dualgraph compiled" in modes
    if kind == "mlp":
        assert "numpy" in modes
    if bench.torch is not None:
        assert "torch eager" in modes
    if bench.HAVE_MKL:
        assert "dualgraph eager, mkl" in modes and "dualgraph compiled, mkl" in modes
    for k in modes:
        lo, med = res["times"][k]
        assert lo > 0 and med > 0 and math.isfinite(lo) and math.isfinite(med), k
        mem = res["memory"][k]
        if k == "torch eager":
            assert mem is None          # tracemalloc cannot see torch's allocator
        else:
            assert mem > 0, k
    assert res["trace_count"] == 1
    assert res["plan_steps"] > 0


@pytest.mark.parametrize("kind,shape", [("mlp", TINY_MLP), ("cnn", TINY_CNN)])
def test_measure_runs_and_traces_once(bench, kind, shape):
    res = bench.measure(kind, batch=4, shape=shape, number=2, repeat=2)
    _check(res, bench, kind)


@pytest.mark.parametrize("kind,shape", [("mlp", TINY_MLP), ("cnn", TINY_CNN)])
def test_compiled_and_eager_losses_agree(bench, kind, shape):
    ls, compiled = bench.losses(kind, batch=5, shape=shape, steps=4)
    eager, comp = ls["dualgraph eager"], ls["dualgraph compiled"]
    assert len(eager) == len(comp) == 4
    for a, b in zip(eager, comp):
        assert abs(a - b) <= 1e-5, (eager, comp)
    assert compiled.trace_count == 1
    # the other modes compute the same thing too (float32 everywhere, looser tolerance)
    for k, v in ls.items():
        for a, b in zip(v, eager):
            assert abs(a - b) <= 1e-4, (k, v, eager)
    # and the loss moves: the optimizer really updates the parameters in every mode
    for k, v in ls.items():
        assert v[0] != v[-1], k


def test_check_losses_and_report_print(bench, capsys):
    bench.check_losses("mlp", 3, TINY_MLP)
    res = {"mlp64": bench.measure("mlp", 3, TINY_MLP, number=1, repeat=1)}
    bench.report("tiny", res["mlp64"])
    lines = bench.targets(res)
    out = capsys.readouterr().out
    assert "dualgraph compiled" in out and "<= 1.00x hand-written numpy" in out
    assert all(q > 0 and lo <= med <= hi for _, q, _, (med, lo, hi) in lines)
    assert "paired" in out


def test_profile_plan_times_every_statement(bench):
    cases, compiled = bench.make_cases("mlp", 4, TINY_MLP, modes=("dualgraph compiled",))
    cases["dualgraph compiled"]()
    rows, total, raw, call = bench.profile_plan(compiled, calls=2, rounds=1)
    plan = compiled.plan_for(*compiled.args)
    assert {r[1] for r in rows} >= {"matmul", "assign"}
    assert len(rows) <= len(plan.steps)
    assert total >= 0 and raw > 0 and call > 0
    assert compiled.trace_count == 1


def test_what_if_rewrites_keep_the_eager_losses(bench):
    # what_if checks each rewritten copy of the plan against the eager step (1e-5) itself
    res = bench.what_if(calls=1, rounds=1, batch=4, shape=TINY_MLP)
    assert set(res) == {"plan as generated", "+ weight grads in (out, in) layout",
                        "+ momentum add in place", "numpy"}
    assert all(t > 0 for t, _ in res.values())
