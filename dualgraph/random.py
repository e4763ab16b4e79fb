"""The global random generator (PyTorch's default CPU generator); `manual_seed` resets it.

Random ops draw from it when they run: every eager call, every run of a compiled plan.
"""
import numpy as np

_gen = [np.random.default_rng(0)]


def manual_seed(seed):
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
    g = np.random.default_rng()
    g.bit_generator.state = state
    _gen[0] = g
