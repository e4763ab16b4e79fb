"""dg.utils.data: Dataset, TensorDataset, samplers, DataLoader and default_collate.

Shuffling draws from dualgraph's global generator (so `dg.manual_seed` makes an epoch order
reproducible) unless a generator (a numpy Generator or an int seed) is given.
"""
import bisect
import collections.abc as cabc
import itertools
import math
import warnings

import numpy as np

from .. import dtypes as _dt
from .. import random as _random
from ..errors import DGRuntimeError, DGTypeError, DGValueError
from ..tensor_methods import TensorMethods

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "Subset", "random_split",
    "Sampler", "SequentialSampler", "RandomSampler", "BatchSampler", "DataLoader",
    "default_collate", "default_convert",
]


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


# ================================================================ datasets
class Dataset:
    """A map-style dataset: __getitem__(index) and (usually) __len__."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is iterated over (no indexing)."""

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")


class TensorDataset(Dataset):
    """Samples are (t0[i], t1[i], ...) over tensors sharing their first dimension."""

    def __init__(self, *tensors):
        if not tensors:
            raise DGValueError("TensorDataset needs at least one tensor")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise AssertionError("Size mismatch between tensors")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class ConcatDataset(Dataset):
    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise DGValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        prev = self.cumulative_sizes[d - 1] if d > 0 else 0
        return self.datasets[d][idx - prev]


class Subset(Dataset):
    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = list(indices)

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None):
    """Split into non-overlapping Subsets of the given lengths (or fractions summing to 1)."""
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if sum(lengths) != n:
        raise DGValueError("Sum of input lengths does not equal the length of the input dataset!")
    perm = _rng(generator).permutation(n).tolist()
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[start:start + length]))
        start += length
    return out


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


# ================================================================ collation
_COLLATE_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
                "lists; found {}")


def default_convert(data):
    """Without batching: numpy arrays become tensors, containers are converted recursively."""
    from ..tensor import as_tensor
    if isinstance(data, TensorMethods):
        return data
    if isinstance(data, np.ndarray) and data.dtype.kind not in "USOV":
        return as_tensor(data)
    if isinstance(data, np.generic) and data.dtype.kind not in "USOV":
        return as_tensor(np.asarray(data))
    if isinstance(data, cabc.Mapping):
        out = {k: default_convert(v) for k, v in data.items()}
        try:
            return out if type(data) is dict else type(data)(out)
        except TypeError:
            return out
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, cabc.Sequence) and not isinstance(data, (str, bytes)):
        return [default_convert(d) for d in data]
    return data


def default_collate(batch):
    """Stack tensors and numpy arrays along a new first dim, turn numbers into tensors (float
    -> float64, int -> int64, bool -> bool, as PyTorch) and recurse into dicts, namedtuples and
    sequences (tuples come back as lists, as PyTorch)."""
    from ..ops.shape import stack
    from ..tensor import tensor, as_tensor
    elem = batch[0]
    if isinstance(elem, TensorMethods):
        return stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "USOV":
            raise DGTypeError(_COLLATE_ERR.format(elem.dtype))
        return stack([as_tensor(b) for b in batch], 0)
    if isinstance(elem, np.generic):
        return tensor(np.asarray(batch))
    if isinstance(elem, bool):
        return tensor(batch, dtype=_dt.bool_)
    if isinstance(elem, float):
        return tensor(batch, dtype=_dt.float64)
    if isinstance(elem, int):
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, cabc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(out) if type(elem) is not dict else out
        except TypeError:
            return out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, cabc.Sequence):
        it = iter(batch)
        size = len(next(it))
        if not all(len(e) == size for e in it):
            raise DGRuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [default_collate(s) for s in transposed]
        try:
            return type(elem)([default_collate(s) for s in transposed])
        except TypeError:
            return [default_collate(s) for s in transposed]
    raise DGTypeError(_COLLATE_ERR.format(type(elem)))


# ================================================================ DataLoader
class DataLoader:
    """Iterate over a dataset in batches (PyTorch's DataLoader, in-process).

    DataLoader(dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
    num_workers=0, collate_fn=None, drop_last=False, generator=None, seed=None).
    `generator` is a numpy Generator or an int seed; `seed=` is a shorthand for an int
    generator. Without either, shuffling draws from dualgraph's global generator.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, generator=None, *, prefetch_factor=None,
                 persistent_workers=False, seed=None):
        if num_workers < 0:
            raise DGValueError("num_workers option should be non-negative; use num_workers=0 to "
                               "disable multiprocessing.")
        if num_workers > 0:
            warnings.warn("dualgraph's DataLoader loads in the main process; num_workers is "
                          "ignored", UserWarning, stacklevel=2)
        if seed is not None:
            if generator is not None:
                raise DGValueError("pass either generator= or seed=, not both")
            generator = int(seed)
        self.dataset = dataset
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (False, None):
                raise DGValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}")
            if sampler is not None or batch_sampler is not None:
                raise DGValueError("DataLoader with IterableDataset: expected unspecified sampler "
                                   "or batch_sampler option")
        if sampler is not None and shuffle:
            raise DGValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise DGValueError("batch_sampler option is mutually exclusive with batch_size, "
                                   "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise DGValueError("batch_size=None option disables auto-batching and is mutually "
                               "exclusive with drop_last")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self._auto_collation = batch_sampler is not None or (self._iterable and batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    def _fetch(self, indices):
        ds = self.dataset
        if type(ds) is TensorDataset and self.collate_fn is default_collate:
            # one advanced-indexing gather per tensor instead of stacking sample by sample
            from ..tensor import tensor
            idx = tensor(np.asarray(indices, dtype=np.int64))
            return [t[idx] for t in ds.tensors]
        if hasattr(ds, "__getitems__"):
            return self.collate_fn(ds.__getitems__(indices))
        return self.collate_fn([ds[i] for i in indices])

    def __iter__(self):
        from ..mode import executing_eagerly
        if not executing_eagerly():
            raise DGRuntimeError(
                f"iterating {type(self).__name__} {self!r} while a graph is built (inside "
                "dg.function, or a dg.graph_mode block): its batches would be frozen into the "
                "graph as constants, the same data at every call. Iterate the DataLoader "
                "outside and pass each batch as an argument to the compiled function (or feed "
                "it to a placeholder).")
        return self._iter()

    def _iter(self):
        if self._iterable:
            it = iter(self.dataset)
            if self.batch_size is None:
                for x in it:
                    yield self.collate_fn(x)
                return
            while True:
                batch = list(itertools.islice(it, self.batch_size))
                if not batch or (self.drop_last and len(batch) < self.batch_size):
                    return
                yield self.collate_fn(batch)
        if self.batch_sampler is not None:
            for indices in self.batch_sampler:
                yield self._fetch(indices)
        else:
            for i in self.sampler:
                yield self.collate_fn(self.dataset[i])

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)
