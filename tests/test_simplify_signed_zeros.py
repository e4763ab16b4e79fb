"""The simplify pass's identities keep eager's signed zeros: x + 0.0 is not x (eagerly
-0.0 + 0.0 is +0.0), x + (-0.0) is; x - 0.0 is x, x - (-0.0) is not. A compiled plan that
dropped x + 0 returned -0.0 where eager returns +0.0 (found by a special-value sweep)."""
import numpy as np
import pytest

import dualgraph as dg

X = np.array([-0.0, 0.0, np.inf, -np.inf, np.nan, 1e-40, -2.5], np.float32)

CASES = {
    "x+0": lambda x: x + 0, "x+0.0": lambda x: x + 0.0, "0+x": lambda x: 0.0 + x,
    "x+(-0.0)": lambda x: x + (-0.0), "x-0.0": lambda x: x - 0.0, "x-(-0.0)": lambda x: x - (-0.0),
    "x+zeros": lambda x: x + dg.zeros(7), "x*1": lambda x: x * 1.0, "x/1": lambda x: x / 1.0,
}


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint32)


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_identity_gives_eagers_bits(name):
    fn = CASES[name]
    want = fn(dg.tensor(X)).numpy()
    f = dg.function(fn)
    for _ in range(3):
        got = f(dg.tensor(X)).numpy()
        assert np.array_equal(_bits(got), _bits(want)), (name, got, want)


@pytest.mark.parametrize("name", ["x-0.0", "x+(-0.0)", "x*1"])
def test_true_identities_are_still_dropped(name):
    with dg.graph_mode() as g:
        x = dg.placeholder([7], name="x")
        y = CASES[name](x * 2.0)
    plan = g.compile([y])
    assert [s.op.name for s in plan.steps if s.op.name not in ("placeholder", "constant")] == ["mul"], plan.steps
