"""The generator argument of the samplers, random_split and DataLoader."""
import numpy as np

from ... import random as _random
from ...errors import DGTypeError


def _rng(generator):
    """numpy Generator for a generator argument: None -> dualgraph's global generator."""
    if generator is None:
        return _random.generator()
    if isinstance(generator, (int, np.integer)):
        return np.random.default_rng(int(generator))
    if isinstance(generator, np.random.Generator):
        return generator
    raise DGTypeError(
        f"generator must be None, an int seed or a numpy.random.Generator, got {type(generator).__name__}")
