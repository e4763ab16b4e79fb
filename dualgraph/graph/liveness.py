"""Liveness analysis and buffer reuse on a flat schedule.

For each buffer: the step after which nothing reads it or any view of it (its last use). A value
that owns its memory (not a view, not a feed/variable/constant, not fetched) is released there.
A later op that can write into a given array (`out=`: ufuncs and matmul) and needs the same shape
and dtype takes a released buffer instead of allocating; an elementwise op may even write into an
input that dies at that very step. Released buffers that no later step could use are dropped.
"""
from collections import defaultdict

import numpy as np


def aliases_input(op):
    """Whether op's result may share memory with its first input: a view, or an op flagged
    may_alias (sum_to, contiguous: the input itself when nothing is to be done; assign: the
    state's memory)."""
    return op.view or op.may_alias


def _bytes(shape, dtype):
    if shape is None:  # data-dependent shape: size unknown until run, not counted
        return 0
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def plan_memory(steps, fetch_ids, reuse):
    """steps: the specialised plan.Step records in schedule order; read are name, op, in_ids,
    shape (None: known only at run time), dtype, out_capable, elementwise and writes_into.

    Returns a dict: out (per step: id of the buffer to write into, or None), drop (per step: ids
    whose references are deleted after it), peak_bytes, reused, allocated, fresh.
    """
    n = len(steps)
    by_id = {s.name: s for s in steps}
    root, owned = {}, {}
    for s in steps:
        v = s.name
        if s.op.source:
            root[v], owned[v] = v, False
        elif s.writes_into is not None:  # an update computed straight into a variable
            w = s.writes_into
            root[v], owned[v] = root.get(w, w), False  # (a variable is its own root)
        elif s.in_ids and aliases_input(s.op):
            root[v], owned[v] = root[s.in_ids[0]], False
        elif s.op.no_value:  # (a group, a fused update: no value, no buffer to hand on)
            root[v], owned[v] = v, False
        else:
            root[v], owned[v] = v, True
    last = {}
    for i, s in enumerate(steps):
        last[s.name] = max(last.get(s.name, i), i)
        for v in s.in_ids:
            last[v] = i
            last[root[v]] = max(last.get(root[v], i), i)
    for v in fetch_ids:
        last[v] = last[root[v]] = n
    # which later steps could take a released buffer of a given (shape, dtype)
    demand = defaultdict(list)
    for i, s in enumerate(steps):
        if owned[s.name] and s.out_capable:
            demand[(s.shape, s.dtype)].append(i)

    out = [None] * n
    drop = [[] for _ in range(n)]
    if not reuse:
        total = sum(_bytes(s.shape, s.dtype) for s in steps if owned[s.name])
        return {"out": out, "drop": drop, "peak_bytes": total, "reused": 0,
                "allocated": sum(1 for s in steps if owned[s.name]), "fresh": []}

    dies_at = defaultdict(list)
    for v, i in last.items():
        if i < n:
            dies_at[i].append(v)
    pool = defaultdict(list)
    fetched = set(fetch_ids)
    fresh = []  # steps that allocate: with an arena they write into memory kept across runs
    live = peak = reused = allocated = 0
    held = {}  # buffer id -> bytes, for owned buffers currently allocated
    for i, s in enumerate(steps):
        v = s.name
        key = (s.shape, s.dtype)
        if owned[v]:
            buf = None
            if v in fetched:  # a result handed to the caller: fresh memory, never a reused buffer
                pass
            elif s.out_capable and s.elementwise:
                for x in s.in_ids:
                    r = root[x]
                    if owned.get(r) and last.get(r) == i and r in held and x == r \
                            and (by_id[r].shape, by_id[r].dtype) == key:
                        buf = r
                        break
            if buf is None and s.out_capable and pool[key] and v not in fetched:
                buf = pool[key].pop()
            if buf is not None:
                out[i] = buf
                held[v] = held.pop(buf)
                reused += 1
            else:
                held[v] = _bytes(*key)
                live += held[v]
                allocated += 1
                peak = max(peak, live)
                if s.out_capable and v not in fetched:
                    fresh.append(i)
        for d in dies_at.get(i, ()):
            drop[i].append(d)
            if root.get(d) == d and d in held:
                k = (by_id[d].shape, by_id[d].dtype)
                if any(j > i for j in demand[k]):
                    pool[k].append(d)
                    drop[i].remove(d)
                else:
                    live -= held.pop(d)
    return {"out": out, "drop": drop, "peak_bytes": peak, "reused": reused, "allocated": allocated,
            "fresh": fresh}
