"""Fixtures shared by test files."""
import pytest

from dualgraph.ops import numba_loops


@pytest.fixture
def no_fusion():
    """The numba backend off for one test, whatever DUALGRAPH_FUSION or an earlier test set (a
    test of plan source text, or of numpy's exact transcendentals), and put back after it."""
    old = numba_loops.BACKEND[0]
    numba_loops.BACKEND[0] = None
    yield
    numba_loops.BACKEND[0] = old


@pytest.fixture
def numba_fusion():
    """The numba backend on for one test (skipped without numba), and put back after it."""
    pytest.importorskip("numba")
    from dualgraph.graph.passes.fuse_elementwise import set_fusion
    old = numba_loops.BACKEND[0]
    set_fusion("numba")
    yield
    set_fusion(old)
