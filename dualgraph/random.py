"""The global random generator (PyTorch's default CPU generator); `manual_seed` resets it.

Random ops draw from it when they run: every eager call, every run of a compiled plan.
"""
import numpy as np

from .errors import DGRuntimeError
from .state import _default_mode, _state

_gen = [np.random.default_rng(0)]


def _refuse_while_building(what):
    """Seeding while a graph is built (a dg.function trace) would run once, at the trace, not
    at each call as the eager code does: the plan's draws would silently differ. Refused."""
    if _state.mode is not _default_mode[0]:
        raise DGRuntimeError(
            f"dg.{what}() was called while a graph is being built (inside a function compiled by "
            f"dg.function, say): it would run once, now, not each time the compiled code runs, so "
            f"its random numbers would differ from the eager code's. Call dg.{what}() before "
            f"calling the compiled function: its random ops draw from the same generator")


def manual_seed(seed):
    _refuse_while_building("manual_seed")
    _gen[0] = np.random.default_rng(int(seed))
    return _gen[0]


def seed():
    """Seed the generator from the OS's entropy; returns the seed (an int, as torch.seed())."""
    s = int(np.random.SeedSequence().entropy % (2 ** 63))
    manual_seed(s)
    return s


def generator():
    return _gen[0]


def get_rng_state():
    return _gen[0].bit_generator.state


def set_rng_state(state):
    _refuse_while_building("set_rng_state")
    g = np.random.default_rng()
    g.bit_generator.state = state
    _gen[0] = g
