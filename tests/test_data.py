"""dg.utils.data: datasets, samplers, DataLoader batching and reproducible shuffling,
default_collate (compared with PyTorch's where installed)."""
from collections import namedtuple

import numpy as np
import pytest

import dualgraph as dg
from dualgraph.utils import data as D


def _torch():
    return pytest.importorskip("torch")


def make_ds(n=10):
    x = dg.arange(n * 3, dtype=dg.float32).reshape(n, 3)
    y = dg.arange(n)
    return D.TensorDataset(x, y), x, y


def test_reachable_as_dg_utils_data():
    assert dg.utils.data is D
    assert dg.utils.data.DataLoader is D.DataLoader


def test_tensor_dataset():
    ds, x, y = make_ds()
    assert len(ds) == 10
    a, b = ds[3]
    assert a.tolist() == [9.0, 10.0, 11.0] and b.item() == 3
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        D.TensorDataset(dg.ones(3), dg.ones(4))


def test_loader_batches_in_order():
    ds, x, y = make_ds()
    dl = D.DataLoader(ds, batch_size=4)
    assert len(dl) == 3
    batches = list(dl)
    assert [tuple(b[0].shape) for b in batches] == [(4, 3), (4, 3), (2, 3)]
    assert isinstance(batches[0], list)                    # tuples collate to lists, as PyTorch
    assert np.array_equal(np.concatenate([b[1].numpy() for b in batches]), np.arange(10))
    assert batches[0][1].dtype == dg.int64 and batches[0][0].dtype == dg.float32
    dl = D.DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and [len(b[1]) for b in dl] == [4, 4]
    assert len(list(D.DataLoader(ds))) == 10                 # batch_size=1 by default


def test_shuffle_is_reproducible_and_a_permutation():
    ds, x, y = make_ds(20)

    def order(dl):
        return np.concatenate([b[1].numpy() for b in dl]).tolist()

    dg.manual_seed(0)
    dl = D.DataLoader(ds, batch_size=6, shuffle=True)
    e1, e2 = order(dl), order(dl)
    assert sorted(e1) == list(range(20)) and sorted(e2) == list(range(20))
    assert e1 != list(range(20)) and e1 != e2                 # a new order each epoch
    dg.manual_seed(0)
    dl2 = D.DataLoader(ds, batch_size=6, shuffle=True)
    assert order(dl2) == e1 and order(dl2) == e2              # the global seed reproduces both
    a = D.DataLoader(ds, batch_size=5, shuffle=True, seed=123)
    b = D.DataLoader(ds, batch_size=5, shuffle=True, generator=np.random.default_rng(123))
    dg.manual_seed(99)
    oa = order(a)
    dg.manual_seed(5)
    assert order(b) == oa                                    # own generator: global seed irrelevant
    assert order(D.DataLoader(ds, batch_size=5, shuffle=True, seed=124)) != oa
    # pairs stay aligned under shuffling
    for xb, yb in D.DataLoader(ds, batch_size=7, shuffle=True):
        assert np.array_equal(xb[:, 0].numpy(), (yb * 3).float().numpy())


def test_custom_dataset_and_default_collate():
    class Squares(D.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": np.array([i, i * i], dtype=np.float32), "i": i, "w": 0.5 * i, "name": f"s{i}"}

    batches = list(D.DataLoader(Squares(), batch_size=2))
    b = batches[0]
    assert set(b) == {"x", "i", "w", "name"}
    assert b["x"].tolist() == [[0.0, 0.0], [1.0, 1.0]] and b["x"].dtype == dg.float32
    assert b["i"].dtype == dg.int64 and b["w"].dtype == dg.float64
    assert b["name"] == ["s0", "s1"]
    assert len(batches) == 3 and b is not batches[1]


def test_default_collate_matches_torch():
    torch = _torch()
    from torch.utils.data import default_collate as tcollate
    Point = namedtuple("Point", "x y")
    samples = [
        [(np.ones(2, np.float32) * i, i, 1.5 * i, True) for i in range(3)],
        [{"a": [i, i + 1], "b": np.float64(i)} for i in range(3)],
        [Point(np.arange(2) + i, float(i)) for i in range(2)],
    ]

    def norm(v):
        if isinstance(v, (dg.Tensor, torch.Tensor)):
            a = v.numpy()
            return ("T", a.dtype.str, a.tolist())
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return (type(v).__name__, [norm(x) for x in v])
        return v

    for batch in samples:
        assert norm(D.default_collate(batch)) == norm(tcollate(batch))
    t = [dg.ones(2) * i for i in range(3)]
    assert D.default_collate(t).tolist() == [[0, 0], [1, 1], [2, 2]]
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        D.default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        D.default_collate([object(), object()])


def test_samplers_subset_concat_random_split():
    ds, x, y = make_ds(10)
    assert list(D.SequentialSampler(ds)) == list(range(10))
    rs = D.RandomSampler(ds, generator=3)
    assert sorted(rs) == list(range(10)) and len(rs) == 10
    rr = list(D.RandomSampler(ds, replacement=True, num_samples=25, generator=1))
    assert len(rr) == 25 and all(0 <= i < 10 for i in rr)
    bs = D.BatchSampler(D.SequentialSampler(ds), 4, drop_last=False)
    assert list(bs) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and len(bs) == 3
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        D.BatchSampler(D.SequentialSampler(ds), 0, False)
    a, b = D.random_split(ds, [7, 3], generator=0)
    ia = [int(a[i][1]) for i in range(len(a))]
    ib = [int(b[i][1]) for i in range(len(b))]
    assert sorted(ia + ib) == list(range(10)) and len(ia) == 7
    a2, _ = D.random_split(ds, [0.7, 0.3], generator=0)
    assert [int(a2[i][1]) for i in range(len(a2))] == ia
    cat = ds + D.Subset(ds, [0, 1])
    assert len(cat) == 12 and int(cat[11][1]) == 1 and int(cat[-1][1]) == 1
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        D.random_split(ds, [3, 3])


def test_loader_options_and_errors():
    ds, x, y = make_ds(6)
    dl = D.DataLoader(ds, batch_sampler=D.BatchSampler(D.SequentialSampler(ds), 4, False))
    assert [len(b[1]) for b in dl] == [4, 2]
    dl = D.DataLoader(ds, batch_size=None)
    first = next(iter(dl))
    assert tuple(first[0].shape) == (3,) and len(dl) == 6
    dl = D.DataLoader(ds, batch_size=3, collate_fn=lambda b: len(b))
    assert list(dl) == [3, 3]
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        D.DataLoader(ds, sampler=D.SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        D.DataLoader(ds, batch_size=2, batch_sampler=[[0]])
    with pytest.raises(ValueError, match="batch_size=None option disables auto-batching"):
        D.DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.warns(UserWarning, match="num_workers is ignored"):
        assert len(list(D.DataLoader(ds, batch_size=2, num_workers=2))) == 3


def test_iterable_dataset():
    class Count(D.IterableDataset):
        def __iter__(self):
            return iter(range(7))

    assert [b.tolist() for b in D.DataLoader(Count(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in D.DataLoader(Count(), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        D.DataLoader(Count(), shuffle=True)


def test_training_loop_with_loader():
    dg.manual_seed(0)
    x = dg.randn(64, 4)
    y = (x[:, 0] > 0).long()
    model = dg.nn.Sequential(dg.nn.Linear(4, 8), dg.nn.ReLU(), dg.nn.Linear(8, 2))
    opt = dg.optim.SGD(model.parameters(), lr=0.5)
    dl = D.DataLoader(D.TensorDataset(x, y), batch_size=16, shuffle=True)
    first = None
    for epoch in range(15):
        for xb, yb in dl:
            opt.zero_grad()
            loss = dg.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            first = loss.item() if first is None else first
    acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc > 0.9 and loss.item() < first
