"""Samplers: Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler, BatchSampler,
WeightedRandomSampler (torch.utils.data.sampler).

A sampler with generator=None draws from dualgraph's global generator when it is iterated
(so `dg.manual_seed` makes an epoch order reproducible); an int seed or a numpy Generator
gives it its own stream.
"""
import itertools

import numpy as np

from ... import random as _random
from ...errors import DGRuntimeError, DGTypeError, DGValueError
from ._rng import _rng

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "BatchSampler",
           "WeightedRandomSampler"]


# ================================================================ samplers
class Sampler:
    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh permutation per epoch (or num_samples draws with replacement)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        self._gen = None if generator is None else _rng(generator)
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise DGValueError(
                f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        gen = self._gen if self._gen is not None else _random.generator()
        n = len(self.data_source)
        if self.replacement:
            return iter(gen.integers(0, n, size=self.num_samples).tolist())
        out = []
        for _ in range(self.num_samples // n):
            out.extend(gen.permutation(n).tolist())
        out.extend(gen.permutation(n).tolist()[: self.num_samples % n])
        return iter(out)

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    def __init__(self, sampler, batch_size, drop_last):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise DGValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise DGValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        it = iter(self.sampler)
        while True:
            batch = list(itertools.islice(it, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class SubsetRandomSampler(Sampler):
    """The given indices in a random order (a fresh permutation per epoch), without replacement."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator
        self._gen = None if generator is None else _rng(generator)

    def __iter__(self):
        gen = self._gen if self._gen is not None else _random.generator()
        for i in gen.permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


def _as_weights(weights):
    if hasattr(weights, "numpy") and callable(weights.numpy):
        weights = weights.detach().numpy() if hasattr(weights, "detach") else weights.numpy()
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise DGTypeError(f"weights should be a sequence of numbers, got {type(weights).__name__}") from None
    if w.ndim != 1:
        raise DGValueError(f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}")
    return w


class WeightedRandomSampler(Sampler):
    """num_samples indices drawn from [0, len(weights)) with probabilities proportional to
    weights, with or without replacement."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
            raise DGValueError(
                f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise DGValueError(
                f"replacement should be a boolean value, but got replacement={replacement}")
        self.weights = _as_weights(weights)
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator
        self._gen = None if generator is None else _rng(generator)

    def __iter__(self):
        w = self.weights
        if not np.all(np.isfinite(w)):
            raise DGRuntimeError("invalid multinomial distribution (encountering probability entry "
                                 "infinity or NaN)")
        if np.any(w < 0):
            raise DGRuntimeError("invalid multinomial distribution (encountering probability entry < 0)")
        total = w.sum()
        if total <= 0:
            raise DGRuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not self.replacement and self.num_samples > len(w):
            raise DGRuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
        gen = self._gen if self._gen is not None else _random.generator()
        if self.replacement:
            return iter(gen.choice(len(w), size=self.num_samples, p=w / total).tolist())
        k = min(self.num_samples, int(np.count_nonzero(w)))
        out = gen.choice(len(w), size=k, replace=False, p=w / total).tolist()
        if k < self.num_samples:  # as torch.multinomial: then the zero-weight categories
            zeros = np.flatnonzero(w == 0)
            out += zeros[gen.permutation(len(zeros))[: self.num_samples - k]].tolist()
        return iter(out)

    def __len__(self):
        return self.num_samples
