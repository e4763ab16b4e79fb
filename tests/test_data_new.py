"""dg.utils.data as a package laid out like torch.utils.data (dataset, sampler, dataloader),
worker processes (num_workers > 0), SubsetRandomSampler and WeightedRandomSampler.

Worker tests use the default start method ('fork' on Linux: fast, and the datasets defined
in this file need not be picklable); one test runs 'spawn' with a module-level dataset.

dualgraph's generator is numpy's PCG64 (dualgraph/random.py), not torch's Mersenne Twister, so
samplers cannot give torch's permutations for the same seed: they are tested for determinism
and distribution (and the error messages against torch)."""
import random
import time

import numpy as np
import pytest

import dualgraph as dg
from dualgraph.utils import data as D


class Squares(D.Dataset):
    """Map-style: a numpy array, a dg tensor, an int and the worker that made the sample."""

    def __init__(self, n=23):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        info = D.get_worker_info()
        return {"x": np.array([i, i * i], dtype=np.float32), "t": dg.full((2,), float(i)),
                "i": i, "w": -1 if info is None else info.id}


class Noisy(D.Dataset):
    """Draws from the worker's generators: reproducible only if workers are seeded."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return (i, dg.rand(()).item(), float(np.random.rand()), random.random())


class Sharded(D.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = D.get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


class Failing(D.Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 4:
            raise ValueError("bad sample 4")
        return i


class Dies(D.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        import os
        os._exit(3)


class Slow(D.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(3)
        return i


def _plain(batch):
    """A batch as comparable Python data."""
    if isinstance(batch, dg.Tensor):
        return ("T", str(batch.dtype), batch.tolist())
    if isinstance(batch, dict):
        return {k: _plain(v) for k, v in batch.items() if k != "w"}
    if isinstance(batch, (list, tuple)):
        return [_plain(b) for b in batch]
    return batch


def test_package_layout_and_reexports():
    from dualgraph.utils.data.dataloader import default_collate, default_convert, DataLoader, get_worker_info
    from dualgraph.utils.data.dataset import (Dataset, IterableDataset, TensorDataset, ConcatDataset,
                                              Subset, random_split)
    from dualgraph.utils.data.sampler import (Sampler, SequentialSampler, RandomSampler,
                                              SubsetRandomSampler, BatchSampler, WeightedRandomSampler)
    assert D.default_collate is default_collate and D.DataLoader is DataLoader
    assert D.TensorDataset is TensorDataset and D.WeightedRandomSampler is WeightedRandomSampler
    assert dg.utils.data.dataloader.default_convert is default_convert
    assert set(D.__all__) >= {"Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "Subset",
                              "random_split", "Sampler", "SequentialSampler", "RandomSampler",
                              "SubsetRandomSampler", "BatchSampler", "WeightedRandomSampler",
                              "DataLoader", "default_collate", "default_convert", "get_worker_info"}
    assert get_worker_info() is None


@pytest.mark.parametrize("workers,prefetch", [(1, 2), (2, 1), (3, 2)])
def test_workers_give_the_same_batches(workers, prefetch):
    ds = Squares()
    ref = [_plain(b) for b in D.DataLoader(ds, batch_size=4, shuffle=True, seed=7)]
    dl = D.DataLoader(ds, batch_size=4, shuffle=True, seed=7, num_workers=workers,
                      prefetch_factor=prefetch)
    got = list(dl)
    assert [_plain(b) for b in got] == ref
    assert isinstance(got[0]["t"], dg.Tensor) and got[0]["x"].dtype == dg.float32
    assert got[0]["i"].dtype == dg.int64
    assert {int(w) for b in got for w in b["w"].tolist()} == set(range(workers))
    # the global generator: the same seed gives the same epochs with and without workers
    dg.manual_seed(3)
    e0 = [_plain(b) for b in D.DataLoader(ds, batch_size=5, shuffle=True)]
    dg.manual_seed(3)
    e1 = [_plain(b) for b in D.DataLoader(ds, batch_size=5, shuffle=True, num_workers=workers)]
    assert e0 == e1


def test_workers_without_auto_batching_and_drop_last():
    ds = Squares(7)
    assert [_plain(b) for b in D.DataLoader(ds, batch_size=None, num_workers=2)] == \
        [_plain(b) for b in D.DataLoader(ds, batch_size=None)]
    dl = D.DataLoader(ds, batch_size=3, drop_last=True, num_workers=2, collate_fn=lambda b: [s["i"] for s in b])
    assert list(dl) == [[0, 1, 2], [3, 4, 5]]


def test_worker_seeds_worker_init_fn_and_worker_info():
    def run():
        dl = D.DataLoader(Noisy(), batch_size=2, num_workers=2, seed=11,
                          worker_init_fn=lambda wid: np.random.seed(1000 + wid))
        return [_plain(b) for b in dl]

    a, b = run(), run()
    assert a == b                                  # seeded from the loader's generator
    np_draws = [v for batch in a for v in batch[2][2]]
    assert np_draws[0] == np.random.RandomState(1000).rand()  # worker_init_fn ran after seeding
    # two workers have different seeds: their first dg draws differ
    assert a[0][1][2][0] != a[1][1][2][0]
    c = [_plain(x) for x in D.DataLoader(Noisy(), batch_size=2, num_workers=2, seed=12)]
    assert c[0][1] != a[0][1]

    seen = []

    def info_rows(batch):
        info = D.get_worker_info()
        return (info.id, info.num_workers, info.seed, type(info.dataset).__name__)

    dl = D.DataLoader(Squares(8), batch_size=2, num_workers=2, seed=5, collate_fn=info_rows)
    seen = list(dl)
    assert [s[0] for s in seen] == [0, 1, 0, 1]     # batches go round-robin, come back in order
    assert {s[1] for s in seen} == {2} and {s[3] for s in seen} == {"Squares"}
    assert seen[1][2] == seen[0][2] + 1             # worker i has base_seed + i


def test_iterable_dataset_with_workers():
    batches = [b.tolist() for b in D.DataLoader(Sharded(10), batch_size=2, num_workers=2)]
    # PyTorch's order: one batch per worker in turn, each worker over its own shard
    assert batches == [[0, 2], [1, 3], [4, 6], [5, 7], [8], [9]]
    batches = [b.tolist() for b in D.DataLoader(Sharded(9), batch_size=2, num_workers=2, drop_last=True)]
    assert batches == [[0, 2], [1, 3], [4, 6], [5, 7]]
    assert [int(b) for b in D.DataLoader(Sharded(5), batch_size=None, num_workers=3)] == [0, 1, 2, 3, 4]


def test_worker_errors_and_timeout():
    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process"):
        list(D.DataLoader(Failing(), batch_size=2, num_workers=2))
    with pytest.raises(ValueError, match="bad sample 4"):
        list(D.DataLoader(Failing(), batch_size=2, num_workers=2))

    def bad_init(wid):
        raise KeyError("no init")

    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process 0"):
        list(D.DataLoader(Squares(4), batch_size=2, num_workers=1, worker_init_fn=bad_init))
    t0 = time.time()
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.3 seconds"):
        list(D.DataLoader(Slow(), batch_size=1, num_workers=1, timeout=0.3))
    assert time.time() - t0 < 3
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        list(D.DataLoader(Dies(), batch_size=2, num_workers=1))


def test_spawn_context():
    ds = Squares(6)
    got = [_plain(b) for b in D.DataLoader(ds, batch_size=4, num_workers=1, multiprocessing_context="spawn")]
    assert got == [_plain(b) for b in D.DataLoader(ds, batch_size=4)]
    with pytest.raises(RuntimeError, match="must be picklable"):
        list(D.DataLoader(ds, batch_size=4, num_workers=1, multiprocessing_context="spawn",
                          collate_fn=lambda b: b))


def test_worker_option_errors():
    ds = Squares(4)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified in multiprocessing"):
        D.DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        D.DataLoader(ds, persistent_workers=True)
    with pytest.warns(UserWarning, match="persistent_workers=True starts fresh workers"):
        D.DataLoader(ds, num_workers=1, persistent_workers=True)
    with pytest.raises(ValueError, match="multiprocessing_context option should specify a valid start method"):
        iter(D.DataLoader(ds, num_workers=1, multiprocessing_context="nope"))
    assert D.DataLoader(ds, num_workers=2).prefetch_factor == 2


def test_tensor_dataset_ignores_workers_with_a_warning():
    x = dg.arange(12.).reshape(6, 2)
    ds = D.TensorDataset(x, dg.arange(6))
    with pytest.warns(UserWarning, match="num_workers is ignored"):
        dl = D.DataLoader(ds, batch_size=4, shuffle=True, seed=1, num_workers=2)
    ref = D.DataLoader(ds, batch_size=4, shuffle=True, seed=1)
    assert [_plain(b) for b in dl] == [_plain(b) for b in ref]


def test_subset_random_sampler():
    idx = [3, 8, 1, 9, 4]
    s = D.SubsetRandomSampler(idx, generator=0)
    e1, e2 = list(s), list(s)
    assert sorted(e1) == sorted(idx) and sorted(e2) == sorted(idx) and len(s) == 5
    assert list(D.SubsetRandomSampler(idx, generator=0)) == e1
    dg.manual_seed(1)
    g1 = list(D.SubsetRandomSampler(idx))
    dg.manual_seed(1)
    assert list(D.SubsetRandomSampler(idx)) == g1
    ds = Squares(10)
    got = [b["i"].tolist() for b in D.DataLoader(ds, batch_size=2, sampler=D.SubsetRandomSampler(idx, generator=4))]
    assert sorted(sum(got, [])) == sorted(idx)


def test_weighted_random_sampler():
    w = [0.1, 0.0, 0.6, 0.3]
    s = D.WeightedRandomSampler(w, 20000, generator=0)
    draws = np.array(list(s))
    assert len(s) == 20000 and draws.shape == (20000,)
    freq = np.bincount(draws, minlength=4) / 20000
    assert freq[1] == 0 and np.allclose(freq, w, atol=0.02)
    assert list(D.WeightedRandomSampler(w, 50, generator=0)) == list(D.WeightedRandomSampler(w, 50, generator=0))
    nr = list(D.WeightedRandomSampler(dg.tensor(w), 3, replacement=False, generator=1))
    assert sorted(nr) == [0, 2, 3]
    # without replacement the heavy index comes first most often
    firsts = [list(D.WeightedRandomSampler([1., 1., 18.], 2, replacement=False, generator=k))[0]
              for k in range(200)]
    assert 0.8 < firsts.count(2) / 200 < 0.97
    # as PyTorch: once the non-zero weights are used up, zero weights are drawn
    assert sorted(D.WeightedRandomSampler(w, 4, replacement=False, generator=2)) == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size"):
        list(D.WeightedRandomSampler(w, 5, replacement=False))
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        D.WeightedRandomSampler(w, 0)
    with pytest.raises(ValueError, match="replacement should be a boolean value"):
        D.WeightedRandomSampler(w, 2, replacement=0)
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        D.WeightedRandomSampler([[1., 2.]], 2)
    with pytest.raises(RuntimeError, match="probability entry < 0"):
        list(D.WeightedRandomSampler([1., -1.], 2))


def test_weighted_sampler_errors_match_torch():
    torch = pytest.importorskip("torch")
    from torch.utils.data import WeightedRandomSampler as TW
    for args, kw in [(([0.5, 0.5], 0), {}), (([0.5, 0.5], 2), {"replacement": 0}),
                     (([[1., 2.]], 2), {}), (([1., -1.], 2), {})]:
        with pytest.raises(Exception) as te:
            list(TW(*args, **kw))
        with pytest.raises(type(te.value)) as de:
            list(D.WeightedRandomSampler(*args, **kw))
        assert str(de.value).split("(")[0].strip()[:30] == str(te.value).split("(")[0].strip()[:30], \
            (str(de.value), str(te.value))
    # same distribution as torch's (both seeded, different streams): frequencies agree
    g = torch.Generator().manual_seed(0)
    tf = np.bincount(list(TW([1., 2., 7.], 20000, generator=g)), minlength=3) / 20000
    df = np.bincount(list(D.WeightedRandomSampler([1., 2., 7.], 20000, generator=0)), minlength=3) / 20000
    assert np.allclose(tf, df, atol=0.02)
