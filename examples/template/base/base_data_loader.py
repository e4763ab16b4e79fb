"""BaseDataLoader: a dg DataLoader over a fixed training part, with a fixed validation split.

The shuffle order of epoch e is drawn from `seed + e` (a loader made per epoch), so a run
resumed from a checkpoint sees exactly the batches an uninterrupted run sees."""
import numpy as np

import dualgraph as dg
from dualgraph.utils.data import DataLoader, TensorDataset


class BaseDataLoader:
    def __init__(self, x, y, batch_size, shuffle, validation_split, seed=0):
        n_val = int(round(len(x) * validation_split))
        self.train_set = TensorDataset(dg.tensor(x[n_val:]), dg.tensor(y[n_val:]))
        self.valid_set = TensorDataset(dg.tensor(x[:n_val]), dg.tensor(y[:n_val])) if n_val else None
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed

    def epoch(self, e):
        """The training batches of epoch e (1-based), in the order fixed by the seed."""
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=self.shuffle,
                          seed=self.seed * 1000 + e)

    def split_validation(self):
        if self.valid_set is None:
            return None
        return DataLoader(self.valid_set, batch_size=self.batch_size, shuffle=False)

    def __len__(self):
        return int(np.ceil(len(self.train_set) / self.batch_size))
