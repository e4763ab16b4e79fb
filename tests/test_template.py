"""examples/template: the pytorch-template-shaped project trains on scikit-learn's digits in both
modes with the same loss curve, reaches 95% test accuracy, and resumes exactly."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "examples" / "template"


def _run(script, *args, tmp):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    out = tmp / f"{script}-{len(list(tmp.iterdir()))}.json"
    proc = subprocess.run([sys.executable, script, *args, "--json-out", str(out)], cwd=TEMPLATE,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("template")
    save = str(tmp / "saved")
    res = {}
    for mode in ("eager", "graph"):
        res[mode] = _run("train.py", "-c", "config.json", "--mode", mode, "--save-dir", save,
                         "--run-id", mode, "--no-progress", tmp=tmp)
        ckpt = pathlib.Path(res[mode]["save_dir"]) / "checkpoint-epoch10.pth"
        res[mode + "_resumed"] = _run("train.py", "-c", "config.json", "--mode", mode, "-r", str(ckpt),
                                      "--save-dir", save, "--run-id", mode + "-resumed", "--no-progress",
                                      tmp=tmp)
        best = pathlib.Path(res[mode]["save_dir"]) / "model_best.pth"
        res[mode + "_test"] = _run("test.py", "-r", str(best), tmp=tmp)
    return res


def test_same_loss_curve_in_both_modes(runs):
    e, g = runs["eager"], runs["graph"]
    assert e["epochs"] == g["epochs"] == list(range(1, 21))
    np.testing.assert_allclose(e["train_loss"], g["train_loss"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(e["val_loss"], g["val_loss"], rtol=1e-5, atol=1e-7)
    for k in e["params"]:
        np.testing.assert_allclose(e["params"][k], g["params"][k], rtol=1e-5, atol=1e-6)
    assert e["train_loss"][-1] < 0.2 * e["train_loss"][0]      # it learned


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_test_accuracy_at_least_95_percent(runs, mode):
    assert runs[mode + "_test"]["accuracy"] >= 0.95, runs[mode + "_test"]


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_resume_continues_exactly(runs, mode):
    full, resumed = runs[mode], runs[mode + "_resumed"]
    assert resumed["epochs"] == list(range(11, 21))
    assert resumed["train_loss"] == full["train_loss"][10:]     # bit for bit
    assert resumed["val_loss"] == full["val_loss"][10:]
    assert resumed["params"] == full["params"]


def test_bad_arguments_are_one_line_errors(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for args in (["train.py", "-c", "config.json", "--epochs", "0"],
                 ["train.py", "-c", "no-such.json"],
                 ["test.py", "-r", str(tmp_path / "missing.pth")]):
        proc = subprocess.run([sys.executable, *args], cwd=TEMPLATE, env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr, proc.stderr
