"""dg.utils.data: datasets, samplers, DataLoader and default_collate, laid out as
torch.utils.data (dataset.py, sampler.py, dataloader.py); every name is re-exported here.

Shuffling draws from dualgraph's global generator (so `dg.manual_seed` makes an epoch order
reproducible) unless a generator (a numpy Generator or an int seed) is given.
"""
from .dataset import (Dataset, IterableDataset, TensorDataset, ConcatDataset, Subset,
                      random_split)
from .sampler import (Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler,
                      BatchSampler, WeightedRandomSampler)
from .dataloader import (DataLoader, default_collate, default_convert, get_worker_info,
                         WorkerInfo)
from . import dataset, sampler, dataloader  # noqa: F401

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "Subset", "random_split",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "BatchSampler",
    "WeightedRandomSampler", "DataLoader", "default_collate", "default_convert",
    "get_worker_info", "WorkerInfo",
]
