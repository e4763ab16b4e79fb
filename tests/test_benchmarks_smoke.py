"""Smoke test for benchmarks/eager_overhead.py: it runs, returns positive times, and its
versions of the 100-op chain compute the same gradient (so it compares like with like).
No timing assertions: the machine running the tests is not the one being measured."""
import importlib.util
import math
import pathlib

import numpy as np
import pytest

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "eager_overhead.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("eager_overhead", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check_times(results):
    assert results
    for name, v in results.items():
        if v is None:  # an optional library that is not installed
            continue
        lo, med = v
        assert lo > 0 and med > 0 and math.isfinite(lo) and math.isfinite(med), name


def test_per_op_times_positive(bench):
    res = bench.bench_per_op(number=20, repeat=2)
    _check_times(res)
    assert res["numpy np.add"] is not None
    assert res["dualgraph, autograd on (a requires grad)"] is not None


def test_chain_times_positive(bench):
    res = bench.bench_chain(number=1, repeat=2, n_ops=10)
    _check_times(res)
    assert res["dualgraph eager fwd+bwd"] is not None


@pytest.mark.parametrize("n_ops", [1, 3, 10, 100])
def test_chain_gradient_matches_handwritten_numpy(bench, n_ops, no_fusion):
    # (no_fusion: numpy's tanh: the numba backend's differs by an ulp, which 100 ops amplify past rtol)
    x0 = np.random.default_rng(3).standard_normal(bench.CHAIN_SIZE).astype(np.float32)
    ref = bench.chain_numpy(x0, n_ops)
    got = bench.chain_dualgraph(x0, n_ops)
    assert got.dtype == ref.dtype == np.float32
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)
    if bench.torch is not None:
        np.testing.assert_allclose(bench.chain_torch(x0, n_ops), ref, rtol=1e-5, atol=1e-7)


def test_report_and_agreement(bench):
    per_op = bench.bench_per_op(number=5, repeat=1)
    chain = bench.bench_chain(number=1, repeat=1, n_ops=4)
    text = bench.format_report(per_op, chain, n_ops=4)
    assert "dualgraph / torch" in text and "targets" in text
    bench.check_agreement()
