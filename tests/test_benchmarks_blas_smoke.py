"""Smoke test for benchmarks/blas.py: every product is timed in every available library and
checked against numpy first (MKL within float32 rounding); no timing assertions."""
import importlib.util
import pathlib

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "blas.py"


def test_blas_benchmark_runs(capsys):
    spec = importlib.util.spec_from_file_location("blas_bench", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    before = mod.dg.get_blas()
    mod.main(quick=True)
    out = capsys.readouterr().out
    for name, *_ in mod.PRODUCTS:
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(name))
        assert line.split()[-1] in ("MKL", "numpy"), line
    assert mod.dg.get_blas() == before       # the benchmark leaves the library as it found it
