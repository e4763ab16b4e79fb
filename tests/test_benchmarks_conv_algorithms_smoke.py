"""Smoke tests for benchmarks/conv_algorithms.py and benchmarks/conv_input_grad_large.py: their
quick modes run, check that the two forms agree, and print a row per shape. No timing
assertions (the test machine is not the one measured)."""
import importlib.util
import pathlib

_DIR = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, _DIR / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_conv_algorithms_quick(capsys):
    mod = _load("conv_algorithms")
    mod.main(["--quick"])
    out = capsys.readouterr().out
    assert "N32 3->6 32x32 k5 p0" in out and "N32 6->16 14x14 k5 p0" in out
    # the rule functions are put back after each forced run
    from dualgraph.ops import nn_ops as K
    assert K._stacked_weight_grad_wins(6, 3, 5, 5, (1, 1))
    assert not K._stacked_weight_grad_wins(16, 6, 5, 5, (1, 1))


def test_conv_input_grad_large_quick(capsys):
    mod = _load("conv_input_grad_large")
    root = str(_DIR.parent)
    mod.main([root, root, "--quick"])
    out = capsys.readouterr().out
    assert "N1 8->8 56x56 k3 p1" in out and "peak resident MB" in out
