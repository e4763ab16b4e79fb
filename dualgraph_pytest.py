"""dualgraph's pytest plugin (registered as a `pytest11` entry point, so it loads wherever
dualgraph is installed): pytest resets the warning filters for every test, dropping the one
`import dualgraph` installs, so numpy's "overflow encountered in exp" from inside dualgraph's
kernels (PyTorch computes inf and NaN silently) would reach the user's test reports, and fail
tests run with warnings as errors. This adds the same filter to pytest's own list. The user's
numpy calls still warn: the filter matches dualgraph's modules only.

A top-level module, not part of the package: importing it must not import dualgraph (a
pytest run that never uses dualgraph would pay for it).
"""

# (dualgraph/__init__.py installs the same filter; tests/test_warnings_filter.py checks they agree)
MESSAGE = r"(invalid value|overflow|divide by zero|underflow) encountered"
MODULE = r"dualgraph(\.|$)"


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", f"ignore:{MESSAGE}:RuntimeWarning:{MODULE}")
