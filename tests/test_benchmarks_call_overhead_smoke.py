"""Smoke test for benchmarks/call_overhead_in_situ.py on a tiny MLP: both parts run and print,
and the fusion and BLAS settings are left as they were. No timing assertions."""
import importlib.util
import pathlib

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "call_overhead_in_situ.py"


def test_call_overhead_benchmark_runs(capsys):
    spec = importlib.util.spec_from_file_location("call_overhead_bench", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    before = mod.dg.get_fusion(), mod.dg.get_blas()
    mod.main(quick=True, batch=4, sizes=(12, 8, 6, 4))
    out = capsys.readouterr().out
    for row in ("dg.function call", "its generated code", "guard check", "signature (trace key)"):
        assert row in out
    assert (mod.dg.get_fusion(), mod.dg.get_blas()) == before
