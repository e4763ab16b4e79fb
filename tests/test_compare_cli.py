"""python -m dualgraph.compare: bad arguments are one `error:` line and exit status 2; a run
prints each comparison and a summary; --report writes markdown, HTML and PNGs; --json the
documented keys."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

import dualgraph as dg
from dualgraph.compare.cli import main

TESTS = pathlib.Path(__file__).parent
sys.path.insert(0, str(TESTS))  # compare_user_workload

FAST = ["--repeat", "2", "--steps", "2", "--no-progress"]
JSON_KEYS = {"name", "agree", "max_abs_diff", "diffs", "retraces", "timing", "speedup", "first_call",
             "break_even_calls", "memory", "graph_stats", "graph_sizes", "tape_nodes", "meta"}


@pytest.mark.parametrize("argv", [
    ["--batch", "0"], ["--batch", "-3"], ["--batch", "x"], ["--batch", "8,0"],
    ["--workload", "nope"], ["--workload", "nomodule_xyz:fn"], ["--workload", "compare_user_workload:nothing"],
    ["--sizes", "784"], ["--sizes", "0,3"], ["--sizes", "4,a"], ["--workload", "cnn", "--sizes", "8,2"],
    ["--steps", "0"], ["--repeat", "0"], ["--no-such-flag"],
])
def test_bad_arguments_are_one_error_line(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv + ["--no-progress"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err


def test_bad_argument_from_the_command_line_has_no_traceback():
    r = subprocess.run([sys.executable, "-m", "dualgraph.compare", "--workload", "nope"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr and "chain" in r.stderr  # the built-in names are listed


def test_run_prints_each_comparison_and_a_summary(capsys):
    cmps = main(["--workload", "mlp,chain", "--workload", "compare_user_workload:make",
                 "--batch", "4,8", "--sizes", "12,8,3"] + FAST)
    out = capsys.readouterr().out
    assert [(c.meta["workload"], c.meta["batch"]) for c in cmps] == [
        ("mlp", 4), ("mlp", 8), ("chain", 4), ("chain", 8),
        ("compare_user_workload:make", 4), ("compare_user_workload:make", 8)]
    assert all(c.agree for c in cmps)
    assert all(c.timing[m]["median_us"] > 0 for c in cmps for m in ("eager", "compiled"))
    assert out.count("| mode | median µs/call") == 6
    assert "## summary" in out and "speedup" in out and "compare_user_workload:make" in out
    assert "what each mode can express" in out


def test_report_writes_markdown_html_and_pngs(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    report = tmp_path / "rep"
    main(["--workload", "mlp,chain", "--batch", "2,4", "--sizes", "6,4,2", "--report", str(report)] + FAST)
    capsys.readouterr()
    md, page = (report / "report.md").read_text(), (report / "report.html").read_text()
    pngs = sorted(report.glob("*.png"))
    names = {p.name for p in pngs}
    assert {"time_per_step.png", "cumulative_time.png", "memory_per_step.png", "graph_sizes.png"} <= names
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 100
    for name in ("time_per_step.png", "cumulative_time.png"):
        assert f"({name})" in md and f"src='{name}'" in page  # relative, next to the report
    assert "<html>" in page and "mlp" in page and "<script" not in page


def test_json_to_a_file_has_the_documented_keys(tmp_path, capsys):
    path = tmp_path / "out.json"
    main(["--workload", "rnn", "--batch", "2", "--json", str(path)] + FAST)
    capsys.readouterr()
    data = json.loads(path.read_text())
    assert isinstance(data, list) and len(data) == 1
    d = data[0]
    assert JSON_KEYS <= set(d)
    settings = {"fusion": dg.get_fusion() or "off", "blas": dg.get_blas()}   # (as the run found them)
    assert d["meta"] == {"workload": "rnn", "batch": 2, **settings} and d["agree"] is True
    assert set(d["timing"]) == {"eager", "compiled"}
    documented = (TESTS.parent / "docs" / "compare-json.md").read_text()
    assert all(f"`{k}`" in documented for k in d)  # every key is explained


def test_json_to_stdout_is_only_json(capsys):
    main(["--workload", "chain", "--batch", "4", "--json"] + FAST)
    out = capsys.readouterr().out
    assert json.loads(out)[0]["meta"]["workload"] == "chain"


def test_progress_bar_goes_to_stderr(capsys):
    pytest.importorskip("tqdm")
    main(["--workload", "chain", "--batch", "4", "--repeat", "2", "--steps", "1"])
    captured = capsys.readouterr()
    assert "chain batch 4" in captured.err and "chain batch 4" not in captured.out


def test_fusion_and_blas_options_set_both_modes_and_are_put_back(capsys):
    """--fusion numba (and --blas mkl where installed): every built-in workload still agrees,
    to the bit, over its agreement calls (the numba backend's kernels are eager's too); the
    settings are in each comparison's meta and the summary, and put back after the run."""
    pytest.importorskip("numba")
    before = dg.get_fusion(), dg.get_blas()
    try:
        dg.set_blas(dg.set_blas("mkl"))
        blas = "mkl"
    except dg.errors.DualGraphError:
        blas = "numpy"
    cmps = main(["--fusion", "numba", "--blas", blas, "--repeat", "1", "--steps", "2",
                 "--batch", "4", "--no-progress"])
    out = capsys.readouterr().out
    assert f"compiled plans: fusion numba; matrix products (both modes): {blas}" in out
    for c in cmps:
        assert c.meta["fusion"] == "numba" and c.meta["blas"] == blas
        assert c.agree and c.max_abs_diff == 0.0 and not c.state_differences, c.meta["workload"]
    assert (dg.get_fusion(), dg.get_blas()) == before


def test_a_missing_extra_for_an_option_is_a_one_line_error(monkeypatch, capsys):
    from dualgraph.graph.passes import fuse_elementwise as FE
    monkeypatch.setattr(FE, "_numba_installed", lambda: False)
    before = dg.get_fusion()
    with pytest.raises(SystemExit) as e:
        main(["--workload", "chain", "--fusion", "numba"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "dualgraph[fast]" in err[0]
    assert dg.get_fusion() == before


def test_results_that_differ_exit_with_status_1(monkeypatch, capsys):
    import dualgraph.compare.cli as cli
    real = cli.compare

    def broken(**kw):  # as if the compiled plan had diverged from the eager code
        cmp = real(**kw)
        cmp.agree = False
        return cmp
    monkeypatch.setattr(cli, "compare", broken)
    with pytest.raises(SystemExit) as e:
        main(["--workload", "chain", "--batch", "4"] + FAST)
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("error:") and "DIFFER" in err
