"""The examples run end to end (imported from examples/, their main() called)."""
import importlib.util
import pathlib

import pytest

import dualgraph as dg

_EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", _EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_modules_example_runs(capsys):
    res = _load("modules").main()
    out = capsys.readouterr().out
    assert "in graph mode" in out
    # containers: direct children vs every module, self first, dotted names
    assert res["children"] == ["a", "head"]
    assert res["modules"][:3] == ["", "a", "a.b"] and "a.c.linear" in res["modules"]
    # Parameter / buffer / plain tensor
    assert res["params"] == ["scale", "linear.weight", "linear.bias"]
    assert res["buffers"] == ["calls", "mask"]
    assert res["state_dict"] == ["scale", "calls", "linear.weight", "linear.bias"]
    # hooks fired eagerly (pre-hook, then the backward hook)
    assert res["hook_log"][0] == ("pre a.b", (6, 4))
    assert ("backward head", (6, 8), (6, 3)) in res["hook_log"]
    # apply: children first, the module itself last
    assert res["apply_order"][-1] == "Net" and res["apply_order"][:2] == ["Linear", "ReLU"]
    # graph mode: every parameter is a trainable variable, buffers/plain tensors are not
    trainable = {owner for _, owner, t in res["variables"] if t}
    assert trainable == {"a.b.scale", "a.b.linear.weight", "a.b.linear.bias", "a.c.scale",
                         "a.c.linear.weight", "a.c.linear.bias", "head.weight", "head.bias"}
    # forward hooks ran once, at trace time, over three calls
    assert res["trace_count"] == 1 and res["trace_hook_calls"] == 1
    assert res["graph_backward_hook"] == [("SymbolicTensor", (None, 3))]
    # alternating eager and compiled steps on one model == eager-only training
    assert res["train_trace_count"] == 1
    assert res["losses"] == pytest.approx(res["losses_eager_only"], abs=1e-5)
    assert res["max_param_diff"] < 1e-5
    assert res["losses"][-1] < res["losses"][0]


def test_compare_main_job_runs_and_modes_agree(capsys):
    """`python -m dualgraph.compare` (the README's main job) on a small MLP workload."""
    from dualgraph.compare.cli import main
    (cmp,) = main(["--workload", "mlp", "--batch", "8", "--sizes", "12,8,3", "--steps", "3",
                   "--repeat", "2", "--no-progress"])
    out = capsys.readouterr().out
    assert "results agree over 3 calls (largest difference 0.00e+00" in out
    assert "retraces: 0" in out and "## summary" in out
    assert cmp.max_abs_diff == 0.0 and cmp.retraces == 0
    assert cmp.meta == {"workload": "mlp", "batch": 8, "fusion": dg.get_fusion() or "off",
                        "blas": dg.get_blas()}
    assert set(cmp.rows) == {"eager", "compiled"} and all(r["us"] > 0 for r in cmp.rows.values())
    assert "refused at trace time" in out  # a Python `if` on a tensor with autograph=False


def test_dynamic_vs_static_control_flow_example(capsys):
    """Two inputs make two different eager tapes; one graph with cond/while_loop serves both
    (values and gradients equal eager); AutoGraph's code, where present, compiles once."""
    res = _load("dynamic_vs_static_control_flow").main()
    out = capsys.readouterr().out
    assert "EAGER" in out and "STATIC" in out and "AUTOGRAPH" in out
    a, b = res["tapes"]["a"], res["tapes"]["b"]
    assert res["tapes_differ"] and a != b
    assert a[:4] == ["MulBackward0"] * 4 and "ExpBackward0" not in a     # 4 turns, x * x
    assert b[:2] == ["MulBackward0"] * 2 and "ExpBackward0" in b         # 2 turns, exp(x)
    ops = dict(res["graph_ops"])["graph"]
    assert ops.count("cond") == 2 and ops.count("while_loop") == 2       # forward + gradient
    assert res["graph_equals_eager"]
    for k in ("a", "b"):
        assert res["graph"][k][0] == pytest.approx(res["eager"][k][0], rel=1e-5)
    if res["autograph_code"] is not None:
        assert "ag__.if_stmt" in res["autograph_code"] and "ag__.while_stmt" in res["autograph_code"]
        assert res["autograph_trace_count"] == (1, 1)
        assert res["autograph_equals_eager"]


def test_export_and_view_example(tmp_path, capsys):
    """LeNet exported in every format dg.export has (DOT, PNG, GraphML and the plan's picture
    at least; JSON, ONNX, TensorBoard when their modules and packages are there)."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("pydot")
    res = _load("export_and_view").main(str(tmp_path))
    out = capsys.readouterr().out
    for key in ("dot", "png", "svg", "plan_png", "graphml"):
        assert key in res["written"], (key, res["skipped"], res["failed"])
        assert pathlib.Path(res["written"][key]).stat().st_size > 0
    assert set(res["written"]) | set(res["skipped"]) | set(res["failed"]) >= {
        "json", "dot", "png", "graphml", "onnx", "tensorboard"}
    assert not res["failed"], res["failed"]
    assert "open with" in out and "kind" in out and "conv1/conv2d" in out
    if "tensorboard" in res["written"]:
        assert "tensorboard --logdir" in out
    assert "# conv2d 'conv1/conv2d' [2, 6, 28, 28] float32" in res["plan_source"]
