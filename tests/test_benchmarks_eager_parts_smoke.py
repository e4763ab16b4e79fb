"""Smoke test for benchmarks/eager_step_parts.py: every part is timed for dualgraph (and torch,
MKL where installed), and the BLAS setting is left as it was. No timing assertions."""
import importlib.util
import pathlib

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "eager_step_parts.py"


def test_eager_parts_benchmark_runs(capsys):
    spec = importlib.util.spec_from_file_location("eager_parts_bench", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    before = mod.dg.get_blas()
    best = mod.main(quick=True, batch=8)
    out = capsys.readouterr().out
    for part in ("forward", "forward+backward", "optimizer step", "relu (autograd)"):
        assert part in best and best[part]["dualgraph"] > 0
        assert any(line.strip().startswith(part) for line in out.splitlines())
    assert mod.dg.get_blas() == before
