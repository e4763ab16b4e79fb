"""Every ```python block of README.md runs as pasted (in order, one namespace, as a reader
pasting them into one session would)."""
import pathlib
import re
import warnings

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _blocks():
    """Each block, padded with newlines so that its lines are the README's (the source of a
    function defined in it can be read back: AutoGraph converts from the source)."""
    text = README.read_text()
    return ["\n" * text.count("\n", 0, m.start(1)) + m.group(1)
            for m in re.finditer(r"```python\n(.*?)```", text, flags=re.S)]


def test_readme_python_blocks_run(capsys):
    blocks = _blocks()
    assert len(blocks) >= 4
    ns = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for code in blocks:
            exec(compile(code, str(README), "exec"), ns)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    assert "trace 1: first call" in out and "opt.param_groups[0]['lr']" in out
    W, b = ns["sess"].run([ns["W"], ns["b"]])
    np.testing.assert_allclose(W, [[2.0]], atol=0.05)   # the TF1 regression trained
    np.testing.assert_allclose(b, [1.0], atol=0.1)
