"""Smoke test for benchmarks/optimizer_step.py: every optimizer is timed on both parameter sets,
the dualgraph contenders agree to the bit, and the fusion setting is left as it was. No timing
assertions."""
import importlib.util
import pathlib

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "optimizer_step.py"


def test_optimizer_step_benchmark_runs(capsys):
    spec = importlib.util.spec_from_file_location("optimizer_step_bench", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.SETS = {"tiny": [(4,), (3, 2)]}   # (small: a smoke run)
    before = mod.dg.get_fusion()
    results = mod.main(quick=True)
    out = capsys.readouterr().out
    assert {o for _, o in results} == set(mod.OPTIMIZERS)
    for (_, name), (best, agree) in results.items():
        assert agree, name
        assert best["dualgraph eager"] > 0 and best["dualgraph compiled"] > 0
        assert any(line.strip().startswith(name) for line in out.splitlines())
    assert mod.dg.get_fusion() == before


def test_optimizer_step_memory_section_runs(capsys):
    spec = importlib.util.spec_from_file_location("optimizer_step_bench_mem", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.memory(quick=True)
    assert set(out) == {"eager opt.step()", "dg.function(opt.step)"}
    assert all(peak > 0 for peak, _ in out.values())
    assert "memory of one training iteration" in capsys.readouterr().out
