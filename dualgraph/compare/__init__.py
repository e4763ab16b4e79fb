"""Side-by-side comparison of the two modes: same results, measured speed and memory.

`dg.compare(fn, *args)` is this package called as a function (runner.compare): the package
keeps its name so that `python -m dualgraph.compare` runs the workload suite, and the module
is made callable so that `dg.compare` is both (an attribute `dg.compare` could not be the
function and the package at once: importing a submodule rebinds it to the package).
"""
import sys
import types

from .runner import compare
from .comparison import Comparison

__all__ = ["compare", "Comparison"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
