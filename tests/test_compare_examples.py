"""The dg.compare examples (examples/compare_*.py) run end to end: the two modes agree, both are
timed, the plot is a PNG, and the dynamic ones show what they claim (one trace over changing
sequence lengths; one trace over both branches of an `if`)."""
import importlib.util
import pathlib

import pytest

pytest.importorskip("matplotlib")

_EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(autouse=True)
def _agg(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib
    matplotlib.use("Agg")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", _EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check(cmp, tmp_path):
    assert cmp.agree, (cmp.max_abs_diff, cmp.state_differences)
    assert not cmp.state_differences
    for mode in ("eager", "compiled"):
        assert cmp.timing[mode]["median_us"] > 0 and cmp.timing[mode]["min_us"] > 0
    assert cmp.first_call["eager_ms"] > 0 and cmp.first_call["compiled_ms"] > 0
    path = pathlib.Path(cmp.meta["plot"])
    assert path.parent == tmp_path and path.suffix == ".png"
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("name", ["compare_mlp", "compare_cnn"])
def test_static_examples(name, tmp_path, capsys):
    cmp = _load(name).main(out_dir=tmp_path)
    out = capsys.readouterr().out
    _check(cmp, tmp_path)
    assert cmp.retraces == 0
    assert cmp.state_compared > 0                      # parameters, .grad, momentum buffers
    assert len(set(cmp.tape_nodes)) == 1               # a static model: the same tape each call
    assert "| eager |" in out and "| compiled |" in out and f"plot: {cmp.meta['plot']}" in out


def test_dynamic_rnn_example(tmp_path, capsys):
    cmp = _load("compare_dynamic_rnn").main(out_dir=tmp_path)
    out = capsys.readouterr().out
    _check(cmp, tmp_path)
    assert cmp.retraces == 0
    lengths = cmp.meta["lengths"]
    assert len(set(lengths)) == len(lengths) == len(cmp.tape_nodes)
    assert len(set(cmp.tape_nodes)) == len(cmp.tape_nodes)          # tape size differs per call
    # the tape grows with the length: ordered the same way
    assert sorted(range(len(lengths)), key=lengths.__getitem__) == \
        sorted(range(len(lengths)), key=cmp.tape_nodes.__getitem__)
    assert cmp.meta["forward_while_loops"] == 1                     # AutoGraph: one while_loop
    assert "(changing)" in out and "retraces 0" in out


def test_control_flow_example(tmp_path, capsys):
    cmp = _load("compare_control_flow").main(out_dir=tmp_path)
    out = capsys.readouterr().out
    _check(cmp, tmp_path)
    m = cmp.meta
    assert m["trace_count"] == 1 and cmp.retraces == 0              # one trace ...
    assert set(m["branches"]) == {0, 1}                             # ... serves both branches
    assert m["branches"] == m["eager_branches"] == m["expected_branches"]
    assert m["halvings"] == m["eager_halvings"]
    assert all(0 <= h <= 4 for h in m["halvings"])                  # the loop is bounded
    assert "cond" in m["control_ops"] and "while_loop" in m["control_ops"]
    assert len(set(cmp.tape_nodes)) > 1                             # eager tapes differ by branch
    assert "traced 1 time(s) for both branches" in out


def test_your_function_example(tmp_path, capsys):
    res = _load("compare_your_function").main(out_dir=tmp_path)
    capsys.readouterr()
    assert set(res) == {"plain", "training"}
    for cmp in res.values():
        _check(cmp, tmp_path)
        assert cmp.retraces == 0
    assert res["plain"].state_compared == 0                         # a pure function: no state
    assert res["training"].state_compared > 0                       # weights, .grad, Adam slots
    assert len(res["training"].diffs) == 5
