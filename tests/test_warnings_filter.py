"""numpy's RuntimeWarnings from inside dualgraph's kernels ("overflow encountered in exp") do not
reach a user's pytest run (dualgraph_pytest.py, a pytest11 plugin: pytest resets the filter
`import dualgraph` installs), while the user's own numpy calls still warn."""
import pathlib
import warnings

import numpy as np

import dualgraph as dg
import dualgraph_pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _recorded(fn):
    """The warnings fn raises under the filters pytest set for this test (pytest's recwarn
    would turn every filter to "always")."""
    with warnings.catch_warnings(record=True) as log:
        fn()
    return [str(w.message) for w in log if issubclass(w.category, RuntimeWarning)]


def test_dualgraph_kernels_do_not_warn_in_a_test():
    def run():
        x = dg.tensor([1000.0, np.inf, -np.inf, 1e30], requires_grad=True)
        y = x.exp() + x.half().float() + (x - x) + x * x
        y.sum().backward()
        dg.tensor([np.nan, 1e30]).int()
        dg.function(lambda t: t.exp().sum())(dg.tensor([1000.0]))
    assert _recorded(run) == []


def test_the_users_numpy_still_warns():
    got = _recorded(lambda: np.exp(np.array([1000.0], np.float32)))
    assert any("overflow encountered in exp" in m for m in got)


def test_the_plugin_and_the_import_install_the_same_filter():
    src = (ROOT / "dualgraph" / "__init__.py").read_text()
    assert f'r"{dualgraph_pytest.MESSAGE}"' in src and f'r"{dualgraph_pytest.MODULE}"' in src
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.filterwarnings("ignore", dualgraph_pytest.MESSAGE, RuntimeWarning, dualgraph_pytest.MODULE)
        filt = warnings.filters[0]
    assert filt[3].match("dualgraph.ops.elementwise") and not filt[3].match("dualgraphx")
