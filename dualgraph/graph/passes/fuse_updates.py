"""State-update fusion: an optimizer's elementwise update of a parameter becomes one pass.

SGD with momentum updates each parameter in four numpy passes (`buf *= m`, `buf += g`,
`t = buf * -lr`, `p += t`), each reading and writing whole arrays. Run on the specialised
schedule after `_updates_in_place` (those writes already go straight into the state's memory),
this pass finds such groups -- same-shape elementwise steps, 0-d scalars allowed as operands,
chained through writes into state -- and emits one numba loop per group that reads each
element once, computes the chain in registers and writes every updated state at the end of
the element (`buf[i] = b; p[i] = p[i] + b * nlr`). The same float operations in the same order
as numpy's passes (no fused multiply-add: numba does not contract without fastmath), so the
same bits (tests/test_fuse_updates.py checks them equal). Half the memory traffic: 0.58x of
numpy's four passes on a 256x784 parameter, 0.46x on 1024x1024 (benchmarks/fusion.py (d)).

The kernel runs at the group's last step. That moves the group's earlier writes later and its
reads of state later, so a group is fused only when nothing outside it can tell:
- every value a member computes is read only by members (or lives on in the state it wrote);
- no step outside the group writes, between the group's first and last step, a state the group
  reads or writes, nor reads a state the group writes;
- a member reads a state the group writes only before the group's first write to it (the
  kernel reads the old element before it writes the new);
- no fetched value is the memory of a written state (a fetch is its value in program order);
- no operand is a view of a written state (element i of a transposed view is another element).

A 0-d operand made from a lifted number by casts to the kernel's dtype and negations (SGD's
`-lr` and its cast) is read from the number itself: the kernel casts it, then negates (the same
bits), and those steps, no longer read, leave the schedule (_scalar_roots, _drop_unread).
"""
from collections import defaultdict

import numpy as np

from ...ops import elementwise as E
from ..core import ASSIGN, VARIABLE
from ..liveness import aliases_input
from .fuse_elementwise import FUSIBLE, TRANSCENDENTAL, SMALL, FUSED_UPDATE, compile_kernel, scalar_code


def _scalar_code(s):
    """The FUSIBLE key of step s: its kernel, or its op's ufunc when the kernel is the op's
    promoting wrapper around it or that ufunc with dtype= (E.SCALAR_CAST_UFUNCS: a 0-d float
    operand of another width, Adam's float64 bias corrections, is cast to the array's dtype);
    None if the loop cannot compute it."""
    if s.kernel in FUSIBLE:
        return s.kernel
    if s.op.ufunc in E.SCALAR_CAST_UFUNCS and (
            s.kernel is s.op.forward or getattr(s.kernel, "func", None) is s.op.ufunc):
        return s.op.ufunc
    return None


def _member(s, shapes):
    """A step the kernel can compute: a fusible ufunc on the group's shape, its operands of
    that shape, 0-d floats (cast to its dtype, as its kernel does) or Python numbers."""
    key = _scalar_code(s)
    if key is None or s.attrs or s.source is not None:
        return False
    if not s.shape or s.dtype not in (np.float32, np.float64):
        return False
    n = int(np.prod(s.shape))
    if n == 0 or (n > SMALL and key in TRANSCENDENTAL):
        return False
    for k, a in s.args:
        if k == "node":
            shape, dtype = shapes[a]
            if shape == ():
                if dtype != s.dtype and (key is s.kernel or dtype.kind != "f"):
                    return False
            elif (shape, dtype) != (s.shape, s.dtype):
                return False
        elif type(a) not in (int, float) or not np.isfinite(a):
            return False
    return True


def _storage(steps):
    """name -> what memory the value is: ("state", id of the ref) for a state read, a write
    into state or an assign; ("view", base) for a view; ("value", name) otherwise."""
    st = {s.name: ("state", id(s.attrs["ref"])) for s in steps if s.op is VARIABLE or s.op is ASSIGN}
    for s in steps:  # (a write may name a state read that comes later in the schedule)
        if s.name in st:
            continue
        if s.writes_into is not None:
            st[s.name] = st.get(s.writes_into, ("value", s.writes_into))
        elif s.in_ids and aliases_input(s.op):
            base = st[s.in_ids[0]]
            st[s.name] = ("view", base[1] if base[0] != "value" else base)
        else:
            st[s.name] = ("value", s.name)
    return st


def _components(steps, cand):
    """Connected groups of candidate steps (edges: one reads the other's value)."""
    parent = {i: i for i in cand}

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pos = {s.name: i for i, s in enumerate(steps)}
    for i in cand:
        for a in steps[i].in_ids:
            j = pos[a]
            if j in parent:
                parent[find(i)] = find(j)
    comps = {}
    for i in sorted(cand):
        comps.setdefault(find(i), []).append(i)
    return list(comps.values())


def plan_update_groups(steps, fetches):
    """[(members in schedule order, external operands, {state key: [storage step name, last
    writer]}, {member name read after the group: a VARIABLE step of its state})] for the groups
    this pass may fuse (the conditions of the module's docstring)."""
    shapes = {s.name: (s.shape, s.dtype) for s in steps}
    pos = {s.name: i for i, s in enumerate(steps)}
    member = {i for i, s in enumerate(steps) if _member(s, shapes)}
    # an assign of a member's value already written into the state's memory: a name only
    for i, s in enumerate(steps):
        if s.op is ASSIGN and s.args[1][0] == "node":
            j = pos[s.args[1][1]]
            if j in member and steps[j].writes_into == s.args[0][1]:
                member.add(i)
    if not member:
        return []
    storage = _storage(steps)
    readers = {}
    for i, s in enumerate(steps):
        for a in s.in_ids:
            readers.setdefault(a, []).append(i)
    fetched = set(fetches)
    fetched_storage = {storage[f] for f in fetches if f in storage}
    reads_of = defaultdict(lambda: None)  # state key -> a step reading it (VARIABLE)
    for s in steps:
        if s.op is VARIABLE:
            reads_of[storage[s.name]] = s
    groups = []
    for comp in _components(steps, member):
        g = _check(steps, comp, pos, storage, readers, fetched, fetched_storage, reads_of)
        if g is not None:
            groups.append(g)
    return groups


def _check(steps, comp, pos, storage, readers, fetched, fetched_storage, reads_of):
    inside = set(comp)
    compute = [i for i in comp if steps[i].op is not ASSIGN]
    writes = [i for i in compute if steps[i].writes_into is not None]
    if not writes or len(compute) < 2:
        return None
    first, last = comp[0], comp[-1]
    shape = steps[writes[0]].shape
    if any(steps[i].shape != shape or steps[i].dtype != steps[writes[0]].dtype for i in compute):
        return None
    # the states written: key -> (the step naming its memory before the group, its last writer)
    states = {}
    first_write = {}
    for i in writes:
        key = storage[steps[i].name]
        if key[0] != "state":
            return None
        if key not in states:
            cur = steps[i].writes_into
            if pos[cur] >= last:  # (its memory is named only later in the schedule)
                return None
            states[key] = [cur, i]
            first_write[key] = i
        states[key][1] = i
    if any(k in fetched_storage for k in states):
        return None
    # a member's value read after the group must be a state's final value: that name is bound
    # again, after the kernel, to the state's memory (`p.add_(u); return p.sum()`)
    final = {steps[w].name: key for key, (_, w) in states.items()}
    for i in comp:
        s = steps[i]
        if s.op is ASSIGN and s.args[1][1] in final:
            final[s.name] = final[s.args[1][1]]
    rebound = {}
    for i in comp:
        name = steps[i].name
        if name in fetched:
            return None
        if any(r not in inside for r in readers.get(name, ())):
            if name not in final or reads_of[final[name]] is None:
                return None
            rebound[name] = reads_of[final[name]]
    ext = []
    first_read = {}  # state read by the group -> the first member reading it
    for i in comp:
        if steps[i].op is ASSIGN:
            continue
        for a in steps[i].in_ids:
            if pos[a] in inside:
                continue
            key = storage[a]
            if key[0] == "view" and ("state", key[1]) in states:
                return None
            if key in states and i > first_write[key]:
                return None  # it would read the new element where the member read the old one
            if key[0] == "state" or (key[0] == "view" and not isinstance(key[1], tuple)):
                first_read.setdefault(("state", key[1]), i)  # (a view reads its state's memory)
            if a not in ext:
                ext.append(a)
    # nothing outside the group may see or make the moved writes and reads: no write to a state
    # the group writes, after its first step, or to a state it reads, after a member read it;
    # no read of a state it writes, after its first write there
    for j in range(first + 1, last):
        if j in inside:
            continue
        s = steps[j]
        if s.op is ASSIGN or s.writes_into is not None:
            k = storage.get(s.name)
            if k in states or (k in first_read and j > first_read[k]):
                return None
        for a in s.in_ids:
            k = storage[a]
            if k[0] == "view":
                k = ("state", k[1])
            if k in states and j > first_write[k]:
                return None
    return comp, ext, states, rebound


def _scalar_roots(steps, ext, dtype, pos):
    """{0-d operand: (the value its chain of 0-d casts to `dtype` and negations starts from,
    whether the chain negates)}: the kernel casts a 0-d operand to its dtype anyway, and a
    negation is exact in any precision (-cast(x) is cast(-x)), so the kernel can read the
    chain's start (the lifted lr, not its `neg` and `cast` steps, which then need not run)."""
    alias = {}
    for e in ext:
        root, neg = e, False
        while True:
            s = steps[pos[root]]
            if s.shape != () or s.source is not None or len(s.in_ids) != 1 or s.attrs.keys() - {"dtype"}:
                break
            src = steps[pos[s.in_ids[0]]]
            if src.shape != () or src.dtype.kind != "f" or s.dtype.kind != "f":
                break
            if s.op is E.neg_op and not s.attrs:
                neg = not neg
            elif not (s.op is E.cast_op and s.dtype == dtype):
                break
            root = src.name
        if root != e:
            alias[e] = (root, neg)
    return alias


def update_kernel_source(steps, members, ext, states, storage, dtype, alias=None):
    """numba source of one group: `kernel(arrays..., scalars..., states...)`, flat arrays (a
    0-d scalar as a 1-element array), each state's memory read and written once per element.
    `ext` lists the group's operands with each 0-d operand of `alias` replaced by its chain's
    start (_scalar_roots); the members read it through the chain."""
    alias = alias or {}
    tname = np.dtype(dtype).name
    shape = {s.name: s.shape for s in steps}
    arrays = [e for e in ext if storage[e] not in states and shape[e] != ()]
    scalars = [e for e in ext if storage[e] not in states and shape[e] == ()]
    keys = list(states)
    names = {}
    head, body = [], []
    for j, e in enumerate(scalars):
        names[e] = f"s{j}"
        head.append(f"    s{j} = np.{tname}(b{j}[0])")  # (a float64 0-d operand: cast, as eagerly)
    for k, (e, (root, neg)) in enumerate(alias.items()):
        if neg:
            head.append(f"    n{k} = -{names[root]}")
        names[e] = f"n{k}" if neg else names[root]
    for j, e in enumerate(arrays):
        names[e] = f"x{j}"
        body.append(f"        x{j} = a{j}[i]")
    for k, key in enumerate(keys):
        body.append(f"        y{k} = o{k}[i]")
    for e in ext:
        if e not in names:
            names[e] = f"y{keys.index(storage[e])}"
    consts = {}
    for k, m in enumerate(members):
        s = steps[m]
        if s.op is ASSIGN:
            names[s.name] = names[s.args[1][1]]
            continue
        operands = []
        for kind, a in s.args:
            if kind == "node":
                operands.append(names[a])
            else:
                operands.append(consts.setdefault(repr(float(a)), f"c{len(consts)}"))
        names[s.name] = f"t{k}"
        body.append(f"        t{k} = " + scalar_code(_scalar_code(s), operands, consts))
    for k, key in enumerate(keys):
        body.append(f"        o{k}[i] = {names[steps[states[key][1]].name]}")
    params = ", ".join([f"a{j}" for j in range(len(arrays))] + [f"b{j}" for j in range(len(scalars))]
                       + [f"o{k}" for k in range(len(keys))])
    top = ["import numpy as np", "from numba import njit", ""]
    top += [f"{c} = np.{tname}({v})" for v, c in consts.items()]
    src = top + ["", "", '@njit(cache=True, nogil=True, error_model="numpy")', f"def kernel({params}):"] + head + [
        "    for i in range(o0.shape[0]):"] + body
    return "\n".join(src) + "\n", arrays, scalars, [states[k][0] for k in keys]


def make_update_caller(kernel, n_arrays, n_scalars, n_states, size):
    """The plan's call: k(arrays..., scalars..., states...) -> None. The states' memory is
    written through flat views; a state numpy laid out otherwise is written through a flat
    copy, then back; a state whose size changed since the plan was made is refused (the kernel
    does not check bounds)."""
    a = [f"a{j}" for j in range(n_arrays)]
    b = [f"b{j}" for j in range(n_scalars)]
    o = [f"o{k}" for k in range(n_states)]
    flat = [f"{x}.reshape(-1)" for x in a + b]
    ok = " and ".join(f"{x}.flags.c_contiguous" for x in o)
    sizes = " or ".join(f"{x}.size != {size}" for x in a + o)
    src = (f"def call({', '.join(a + b + o)}):\n"
           f"    if {sizes}:\n"
           f"        raise _error('a state updated by a fused kernel changed size since the plan was made')\n"
           f"    if {ok}:\n"
           f"        kernel({', '.join(flat + [f'{x}.reshape(-1)' for x in o])})\n"
           f"        return None\n"
           + "".join(f"    f{k} = np.ascontiguousarray({x}).reshape(-1)\n" for k, x in enumerate(o))
           + f"    kernel({', '.join(flat + [f'f{k}' for k in range(n_states)])})\n"
           + "".join(f"    {x}[...] = f{k}.reshape({x}.shape)\n" for k, x in enumerate(o))
           + "    return None\n")
    from ...errors import DGRuntimeError
    ns = {"kernel": kernel, "np": np, "_error": DGRuntimeError}
    exec(compile(src, "<dualgraph fused update>", "exec"), ns)  # noqa: S102 - our own code
    return ns["call"]


def fuse_updates(steps, fetches):
    """The schedule with each update group replaced by one FUSED_UPDATE step at the group's
    last step; (steps, number of groups)."""
    groups = plan_update_groups(steps, fetches)
    if not groups:
        return steps, 0
    storage = _storage(steps)
    pos = {s.name: i for i, s in enumerate(steps)}
    gone, fused, after, chains = set(), {}, {}, set()
    for members, ext, states, rebound in groups:
        last = steps[members[-1]]
        alias = {e: r for e, r in _scalar_roots(steps, ext, last.dtype, pos).items()
                 if storage[r[0]][0] == "value"}
        if alias:
            chains.update(alias)
            ext = list(dict.fromkeys(alias.get(e, (e,))[0] for e in ext))
        src, arrays, scalars, outs = update_kernel_source(steps, members, ext, states, storage,
                                                          last.dtype, alias)
        size = int(np.prod(steps[[i for i in members if steps[i].op is not ASSIGN][0]].shape))
        call = make_update_caller(compile_kernel(src), len(arrays), len(scalars), len(outs), size)
        f = last.specialised((), last.dtype, call, False, False)
        args = arrays + scalars + outs
        f.op, f.args, f.in_ids, f.attrs = FUSED_UPDATE, tuple(("node", e) for e in args), tuple(args), {}
        f.name = f"{last.name}/fused_update"  # (the last member's name may be bound again below)
        f.elementwise = False
        fused[members[-1]] = f
        gone.update(members[:-1])
        after[members[-1]] = [_read_as(v, name) for name, v in rebound.items()]
    out = []
    for i, s in enumerate(steps):
        if i in fused:
            out.append(fused[i])
            out.extend(after[i])
        elif i not in gone:
            out.append(s)
    return _drop_unread(out, chains, fetches), len(groups)


def _drop_unread(steps, candidates, fetches):
    """steps without the 0-d casts and negations of `candidates` (and the chains below them)
    that no step and no fetch reads any more (the kernels read the chains' starts)."""
    candidates = set(candidates)
    while True:
        read = set(fetches)
        for s in steps:
            read.update(s.in_ids)
        dead = {s.name for s in steps if s.name in candidates and s.name not in read
                and s.source is None and s.shape == () and s.op in (E.cast_op, E.neg_op)}
        if not dead:
            return steps
        for s in steps:
            if s.name in dead:
                candidates.update(s.in_ids)
        steps = [s for s in steps if s.name not in dead]


def _read_as(var, name):
    """A read of var's state (a VARIABLE step) under another step's name."""
    r = var.specialised(var.shape, var.dtype, var.kernel, var.takes_out, False)
    r.name = name
    return r
