"""DataLoader, default_collate, default_convert, get_worker_info (torch.utils.data.dataloader).

num_workers=0 loads in the calling process. num_workers > 0 loads in worker processes, as
PyTorch does: the main process sends each worker batches of indices (at most prefetch_factor
outstanding per worker), each worker fetches and collates them and sends the batch back, and
the main process yields the batches in the sampler's order. Each epoch starts fresh workers
(persistent_workers is not supported). Worker `i` is seeded with `base_seed + i` (Python's
`random`, numpy's legacy global generator and dualgraph's global generator), where `base_seed`
is drawn from the loader's generator (or dualgraph's global one) when an epoch starts, with or
without workers, so the same seed gives the same batches whatever num_workers is.

dualgraph tensors are not picklable (dg.save is the safe format): batches cross the process
boundary as numpy arrays and are wrapped as tensors again in the main process (requires_grad
and autograd history do not cross). The default start method is 'fork' where the platform has
it (Linux; the dataset and collate_fn need not be picklable), else 'spawn'; pass
multiprocessing_context='spawn' (or a context) to choose: then the dataset, collate_fn and
worker_init_fn must be picklable (defined at module level).

A TensorDataset batched with default_collate is one gather per tensor in the main process:
workers would only add copying, so num_workers is ignored for it (with a warning).
"""
import collections.abc as cabc
import itertools
import multiprocessing as _mp
import queue as _queue
import random as _pyrandom
import sys
import traceback
import warnings

import numpy as np

from ... import dtypes as _dt
from ... import random as _random
from ...errors import DGRuntimeError, DGTypeError, DGValueError
from ...tensor_methods import TensorMethods
from .dataset import IterableDataset, TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler
from ._rng import _rng

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info", "WorkerInfo"]


# ================================================================ collation
_COLLATE_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
                "lists; found {}")


def default_convert(data):
    """Without batching: numpy arrays become tensors, containers are converted recursively."""
    from ...tensor import as_tensor
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
    from ...ops.shape import stack
    from ...tensor import tensor, as_tensor
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
        # through numpy: dg.tensor(floats, dtype=float64) would round them to float32 first
        return as_tensor(np.asarray(batch, dtype=np.float64))
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




# ================================================================ worker processes
class WorkerInfo:
    """What get_worker_info() returns inside a worker: id, num_workers, seed, dataset (the
    worker's copy)."""
    __slots__ = ("id", "num_workers", "seed", "dataset")

    def __init__(self, id, num_workers, seed, dataset):  # noqa: A002  (PyTorch's name)
        self.id = id
        self.num_workers = num_workers
        self.seed = seed
        self.dataset = dataset

    def __repr__(self):
        return (f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, "
                f"dataset={self.dataset!r})")


_worker_info = None


def get_worker_info():
    """In a DataLoader worker process: its WorkerInfo. In the main process: None."""
    return _worker_info


class _Wire:
    """A tensor on its way between processes: its numpy array."""
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


def _to_wire(data):
    if isinstance(data, TensorMethods):
        return _Wire(np.ascontiguousarray(data.detach().numpy()))
    if isinstance(data, dict):
        return type(data)((k, _to_wire(v)) for k, v in data.items()) if type(data) is not dict \
            else {k: _to_wire(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(_to_wire(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(_to_wire(d) for d in data)
    return data


def _from_wire(data):
    if isinstance(data, _Wire):
        from ...tensor import from_numpy
        return from_numpy(data.array)
    if isinstance(data, dict):
        return type(data)((k, _from_wire(v)) for k, v in data.items()) if type(data) is not dict \
            else {k: _from_wire(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(_from_wire(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(_from_wire(d) for d in data)
    return data


class _ExceptionWrapper:
    """An exception raised in a worker, carried to the main process and raised there."""

    def __init__(self, where):
        exc_type, exc, _ = sys.exc_info()
        self.exc_type = exc_type
        self.msg = "".join(traceback.format_exception(*sys.exc_info()))
        self.where = where

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.msg}"
        try:
            exc = self.exc_type(msg)
        except Exception:
            raise DGRuntimeError(msg) from None
        raise exc


class _IterableEnd:
    """A worker's IterableDataset copy is exhausted."""

    def __init__(self, worker_id):
        self.worker_id = worker_id


def _fetch_map(dataset, collate_fn, auto_collation, indices):
    if auto_collation:
        if hasattr(dataset, "__getitems__"):
            return collate_fn(dataset.__getitems__(indices))
        return collate_fn([dataset[i] for i in indices])
    return collate_fn(dataset[indices])


def _fetch_iterable(it, collate_fn, auto_collation, batch_size, drop_last):
    """The next batch of an iterator; StopIteration at its end."""
    if not auto_collation:
        return collate_fn(next(it))
    batch = list(itertools.islice(it, batch_size))
    if not batch or (drop_last and len(batch) < batch_size):
        raise StopIteration
    return collate_fn(batch)


def _worker_loop(dataset, iterable, index_queue, result_queue, collate_fn, auto_collation,
                 batch_size, drop_last, seed, worker_init_fn, worker_id, num_workers):
    global _worker_info
    try:
        _pyrandom.seed(seed)
        _random.manual_seed(seed)
        np.random.seed(seed % (2 ** 32))
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        init_error = None
        it = None
        try:
            if worker_init_fn is not None:
                worker_init_fn(worker_id)
            if iterable:
                it = iter(dataset)
        except Exception:
            init_error = _ExceptionWrapper(f"in DataLoader worker process {worker_id}")
        ended = False
        while True:
            task = index_queue.get()
            if task is None:
                break
            idx, indices = task
            if ended:
                continue
            if init_error is not None:
                result_queue.put((idx, init_error))
                continue
            try:
                if iterable:
                    try:
                        batch = _fetch_iterable(it, collate_fn, auto_collation, batch_size, drop_last)
                    except StopIteration:
                        ended = True
                        result_queue.put((idx, _IterableEnd(worker_id)))
                        continue
                else:
                    batch = _fetch_map(dataset, collate_fn, auto_collation, indices)
                out = (idx, _to_wire(batch))
            except Exception:
                out = (idx, _ExceptionWrapper(f"in DataLoader worker process {worker_id}"))
            result_queue.put(out)
    except KeyboardInterrupt:
        pass
    finally:
        result_queue.cancel_join_thread()


# ================================================================ DataLoader
class DataLoader:
    """Iterate over a dataset in batches (PyTorch's DataLoader).

    DataLoader(dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
    num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
    worker_init_fn=None, multiprocessing_context=None, generator=None, *, prefetch_factor=None,
    persistent_workers=False, seed=None).
    `generator` is a numpy Generator or an int seed; `seed=` is a shorthand for an int
    generator. Without either, shuffling draws from dualgraph's global generator. See the
    module's doc for num_workers > 0.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, seed=None):
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise DGValueError("num_workers option should be non-negative; use num_workers=0 to "
                               "disable multiprocessing.")
        if timeout < 0:
            raise DGValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise DGValueError("prefetch_factor option could only be specified in multiprocessing."
                               "let num_workers > 0 to enable multiprocessing, otherwise set "
                               "prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and (not isinstance(prefetch_factor, int) or prefetch_factor < 0):
            raise DGValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise DGValueError("persistent_workers option needs num_workers > 0")
        if persistent_workers:
            warnings.warn("dualgraph's DataLoader does not keep workers between epochs: "
                          "persistent_workers=True starts fresh workers every epoch", UserWarning,
                          stacklevel=2)
        if seed is not None:
            if generator is not None:
                raise DGValueError("pass either generator= or seed=, not both")
            generator = int(seed)
        self.dataset = dataset
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers = persistent_workers
        self.generator = generator
        # one stream for the shuffling and the workers' base seed, as PyTorch's generator=
        self._gen = None if generator is None else _rng(generator)
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
            sampler = RandomSampler(dataset, generator=self._gen) if shuffle else SequentialSampler(dataset)
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
        if self.num_workers > 0 and self._gather_path():
            warnings.warn("dualgraph's DataLoader batches a TensorDataset with one gather per "
                          "tensor in the main process; num_workers is ignored", UserWarning,
                          stacklevel=2)

    def _gather_path(self):
        return type(self.dataset) is TensorDataset and self.collate_fn is default_collate \
            and self.batch_sampler is not None

    def _fetch(self, indices):
        ds = self.dataset
        if self._gather_path():
            # one advanced-indexing gather per tensor instead of stacking sample by sample
            from ...tensor import tensor
            idx = tensor(np.asarray(indices, dtype=np.int64))
            return [t[idx] for t in ds.tensors]
        return _fetch_map(ds, self.collate_fn, True, indices)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def _base_seed(self):
        gen = self._gen if self._gen is not None else _random.generator()
        return int(gen.integers(0, 2 ** 63 - 1))

    def __iter__(self):
        from ...mode import executing_eagerly
        if not executing_eagerly():
            raise DGRuntimeError(
                f"iterating {type(self).__name__} {self!r} while a graph is built (inside "
                "dg.function, or a dg.graph_mode block): its batches would be frozen into the "
                "graph as constants, the same data at every call. Iterate the DataLoader "
                "outside and pass each batch as an argument to the compiled function (or feed "
                "it to a placeholder).")
        base_seed = self._base_seed()
        if self.num_workers > 0 and not self._gather_path():
            return _MultiProcessingIter(self, base_seed)
        return self._iter()

    def _iter(self):
        if self._iterable:
            it = iter(self.dataset)
            while True:
                try:
                    batch = _fetch_iterable(it, self.collate_fn, self._auto_collation,
                                            self.batch_size, self.drop_last)
                except StopIteration:
                    return
                yield batch
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


def _context(spec):
    if spec is None:
        methods = _mp.get_all_start_methods()
        return _mp.get_context("fork" if "fork" in methods else "spawn")
    if isinstance(spec, str):
        try:
            return _mp.get_context(spec)
        except ValueError:
            raise DGValueError(
                f"multiprocessing_context option should specify a valid start method in "
                f"{_mp.get_all_start_methods()!r}, but got multiprocessing_context={spec!r}") from None
    if hasattr(spec, "Process") and hasattr(spec, "Queue"):
        return spec
    raise DGTypeError("multiprocessing_context option should be a valid context object or a "
                      f"string specifying the start method, but got multiprocessing_context={spec!r}")


_POLL_S = 1.0


class _MultiProcessingIter:
    """One epoch over worker processes: batches come back in the sampler's order."""

    def __init__(self, loader, base_seed):
        ctx = _context(loader.multiprocessing_context)
        self._loader = loader
        self._timeout = loader.timeout
        self._iterable = loader._iterable
        self._sampler_iter = None if self._iterable else iter(loader._index_sampler)
        n = loader.num_workers
        self._result_queue = ctx.Queue()
        self._index_queues, self._workers = [], []
        self._shutdown_done = False
        for i in range(n):
            q = ctx.Queue()
            q.cancel_join_thread()
            w = ctx.Process(
                target=_worker_loop,
                args=(loader.dataset, self._iterable, q, self._result_queue, loader.collate_fn,
                      loader._auto_collation, loader.batch_size, loader.drop_last, base_seed + i,
                      loader.worker_init_fn, i, n),
                daemon=True)
            self._workers.append(w)
            self._index_queues.append(q)
            try:
                w.start()
            except Exception as e:  # spawn/forkserver pickle the dataset and the functions
                self._shutdown(force=True)
                raise DGRuntimeError(
                    f"DataLoader could not start worker process {i} with the "
                    f"{ctx.get_start_method()!r} start method: {type(e).__name__}: {e}. With "
                    "'spawn' or 'forkserver' the dataset, collate_fn and worker_init_fn must be "
                    "picklable (defined at module level, no lambdas); 'fork' has no such need") from None
        self._active = [True] * n
        self._cycle = itertools.cycle(range(n))
        self._send_idx = 0
        self._rcvd_idx = 0
        self._tasks = {}                      # idx -> [worker] or [worker, data]
        for _ in range(loader.prefetch_factor * n):
            self._put_index()

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def _put_index(self):
        if not any(self._active):
            return
        if self._iterable:
            indices = None
        else:
            try:
                indices = next(self._sampler_iter)
            except StopIteration:
                return
        while True:
            w = next(self._cycle)
            if self._active[w]:
                break
        self._index_queues[w].put((self._send_idx, indices))
        self._tasks[self._send_idx] = [w]
        self._send_idx += 1

    def _get(self):
        if self._timeout > 0:
            try:
                return self._result_queue.get(timeout=self._timeout)
            except _queue.Empty:
                self._shutdown(force=True)
                raise DGRuntimeError(f"DataLoader timed out after {self._timeout} seconds") from None
        while True:
            try:
                return self._result_queue.get(timeout=_POLL_S)
            except _queue.Empty:
                dead = [w for w, ok in zip(self._workers, self._active) if ok and not w.is_alive()]
                if dead:
                    pids = ", ".join(str(w.pid) for w in dead)
                    self._shutdown()
                    raise DGRuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly") from None

    def _deliver(self, data):
        self._rcvd_idx += 1
        self._put_index()
        if isinstance(data, _ExceptionWrapper):
            self._shutdown()
            data.reraise()
        return _from_wire(data)

    def __next__(self):
        while True:
            # drop the tasks of exhausted workers (IterableDataset) that will get no answer
            while self._rcvd_idx < self._send_idx:
                task = self._tasks[self._rcvd_idx]
                if len(task) == 2 or self._active[task[0]]:
                    break
                del self._tasks[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                self._shutdown()
                raise StopIteration
            task = self._tasks[self._rcvd_idx]
            if len(task) == 2:
                del self._tasks[self._rcvd_idx]
                return self._deliver(task[1])
            if self._shutdown_done:
                raise StopIteration
            idx, data = self._get()
            if isinstance(data, _IterableEnd):
                self._active[data.worker_id] = False     # its tasks are dropped above
                self._put_index()
                continue
            if idx != self._rcvd_idx:
                self._tasks[idx].append(data)
                continue
            del self._tasks[idx]
            return self._deliver(data)

    def _shutdown(self, force=False):
        if self._shutdown_done:
            return
        self._shutdown_done = True
        for q in self._index_queues:
            try:
                q.put(None)
            except Exception:
                pass
        for w in self._workers:
            if w.pid is None:      # never started
                continue
            if force:
                w.terminate()
            w.join(timeout=2.0)
            if w.is_alive():
                w.terminate()
                w.join(timeout=1.0)
        for q in self._index_queues + [self._result_queue]:
            q.cancel_join_thread()
            q.close()

    def __del__(self):
        try:
            self._shutdown()
        except Exception:
            pass
