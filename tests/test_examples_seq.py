"""The sequence-model examples run end to end as scripts (each well under a minute): a
character-level LSTM language model and a tiny transformer classifier, each trained eagerly and
compiled by dg.function with equal losses ("losses equal")."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(script, *args):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], cwd=str(ROOT),
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("script,marks", [
    ("char_lstm.py", ["char-LSTM", "traced 1 time(s)", "sample:"]),
    ("tiny_transformer.py", ["tiny transformer", "traced 1 time(s)", "held-out accuracy"]),
])
def test_sequence_example_runs_and_losses_are_equal(script, marks):
    res = _run(script)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert "losses equal" in lines, res.stdout
    for m in marks:
        assert m in res.stdout, (m, res.stdout)


def test_char_lstm_plot_option(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "curves.png"
    res = _run("char_lstm.py", "--steps", "6", "--plot", str(png))
    assert res.returncode == 0, res.stdout + res.stderr
    assert png.exists() and png.stat().st_size > 0
