"""The memory a graph value names, for builder.py's views and writes.

A graph value is functional; eager tensors share memory. `_Memory` is what a plain value and its
views share (a write bumps its version: stale views are made again; a write whose reach depends
on the memory layout poisons it). `Either` is the memory of a control-flow value that eagerly IS
another tensor at some runs (control_flow_aliases.py marks them). Where a graph cannot keep
eager's sharing, the run is refused: when built if eagerly it always happens, else by an
`alias_check` node at the calls where it does (the flags: a dg.cond's predicate, a dg.while_loop's
iteration count).
"""
from ..errors import DGRuntimeError
from ..ops.registry import OPS, Spec, defop
from ..state import _state
from .core import _State, state_key

LAYOUT_REASON = ("Eagerly such a write reaches the base or not depending on the memory layout "
                 "(reshape copies a non-contiguous tensor; detach() always shares), which a graph "
                 "does not know when it is built. Write the base itself (or through indexing: "
                 "x[i].add_(...)), or clone() the view before writing it.")
_SHARED_REASON = ("Eagerly that write changes it at such a run, which a graph does not do (its "
                  "values are tensors of their own); clone() one of them before writing it in place.")


def passes_unless_refused(x, ok, message):
    """The kernel of a check that refuses a run (this one's, gradients.grad_reached's)."""
    if not bool(ok):
        raise DGRuntimeError(message)
    return x


def passes_unless_refused_spec(x, ok, message):
    return Spec(x.shape, x.dtype)


ALIAS_CHECK = defop("alias_check", passes_unless_refused, passes_unless_refused_spec,
                    lambda gg, n: (gg, None), graph_only=True, saves=(), may_alias=True,
                    doc="passes a value on; refuses a run where eagerly it is another tensor "
                        "written in place (graph/memories.py)")


def _node(g, op, ins, attrs=None):
    attrs = attrs or {}
    spec = op.infer(*[Spec(x._shape, x._dtype) for x in ins], **attrs)
    out = g.add_node(op, tuple(ins), attrs, spec).out
    out._rg = False
    return out


def any_of(flags):
    """The runs where one of `flags` (booleans of one graph; None: every run) holds."""
    if any(f is None for f in flags) or len({f.node.graph for f in flags}) > 1:
        return None
    out = flags[0]
    for f in flags[1:]:
        out = _node(out.node.graph, OPS["logical_or"], (out, f))
    return out


def both(a, b):
    if a is None or b is None:
        return b if a is None else a
    return _node(a.node.graph, OPS["logical_and"], (a, b)) if a.node.graph is b.node.graph else None


def refuse_at(x, flag, message, always=False):
    """x passed on through a check refusing the runs where `flag` holds (built in x's graph);
    `flag` None (every run, or not known there): refused now. `always`: the check runs whether
    or not the value is read (a write that eagerly changes another tensor: Graph.checks)."""
    if flag is None or flag.node.graph is not x.node.graph:
        raise DGRuntimeError(message)
    g = x.node.graph
    ok = _node(g, OPS["logical_not"], (flag,))
    out = _node(g, ALIAS_CHECK, (x, ok), {"message": "at this call " + message})
    out._rg = x._rg
    if always:
        g.checks.append(out.node)
    return out


class _Memory:
    """The memory a plain graph value names, once a view of it exists: `root` is the Python
    object owning it (rebound at each write), `version` counts the writes. `poisoned`: (where,
    why) of the write after which reading it is refused; `shared`: (where, why, flag) of writes
    to a value that eagerly is this memory at the runs where flag holds (each read is checked:
    refused at those runs; at the others the memory was not written); `either`: the Either of a
    root that eagerly may be other tensors (its views are checked as it is)."""

    __slots__ = ("root", "version", "poisoned", "shared", "either")

    def __init__(self, root):
        self.root = root
        self.version = 0
        self.poisoned = self.shared = self.either = None

    def poison(self, where, reason=LAYOUT_REASON, flag=None):
        if flag is not None and self.shared is not None:
            flag = any_of([flag, self.shared[2]])
        if flag is None:
            self.poisoned = (where, reason)
            self.version += 1  # every alias is stale: its next read comes here
        else:
            self.shared = (where, reason, flag)

    def refuse_if_poisoned(self, x):
        if self.poisoned:
            where, reason = self.poisoned
            raise DGRuntimeError(f"{x.name!r} is read after {where}. {reason}")

    def check(self, value, x):
        """`value`: x (the root or a view) read now (core.fresh): refused, or checked at the runs
        where eagerly it shows a write a graph does not make."""
        self.refuse_if_poisoned(x)
        if self.shared:
            where, reason, flag = self.shared
            value = _of_memory(refuse_at(value, flag, f"{x.name!r} is read after {where}. {reason}"), x)
        if self.either is not None and x is not self.root:
            value = self.either.checked(value, x)
        return value


def _of_memory(checked, x):
    """The checked value of x names x's memory: a view made of it, and a write through that
    view, are of x, as eagerly (not of the check's own value)."""
    checked._alias = x._alias
    checked._storage = x._storage if x._storage is not None or (
        x._alias is not None and not isinstance(x._alias[0], Either)) else own_memory(x)
    return checked


def own_memory(x):
    """The _Memory plain value x owns (made the first time it is asked for)."""
    if x._storage is None:
        x._storage = _Memory(x)
    return x._storage


class Either:
    """The memory of a control-flow value that eagerly IS one of several tensors, by the run: a
    dg.cond result that a branch returns an outer tensor (or one value twice) for, a
    dg.while_loop result after no iteration (its initial value), a loop variable at the first
    iteration (the tensor passed in). `members`: (memory, flag: the runs where eagerly the value
    is it, None for all). A graph's value is a tensor of its own, so what would show the
    sharing is refused at those runs: reading the value after a write to a member (`checked`;
    the version is the members' summed), and writing the value (`written`: a member that is
    state or an argument is refused, any other poisoned: reading it later is refused). `root`:
    the value (named in errors); `inside`: the loop body whose variable it is (a write to it
    while the body reads what it may be is refused: eagerly the next iteration reads the write)."""

    __slots__ = ("members", "base", "poisons", "why", "root", "inside", "exact", "loose")

    def __init__(self, members, why, root, inside=None, exact=(), loose=()):
        self.members = tuple(members)
        self.base = tuple(m.version for m, _ in self.members)
        # (the poisons its members carry now: a write to this value itself poisons them, and
        # reading it after its own write is fine; only a later poison is another value's write)
        self.poisons = _poison_records(self)  # (held, not ids: compared by identity)
        self.why, self.root, self.inside = why, root, inside
        # (flag, tensor): the runs where eagerly the value is that very tensor (an outer value,
        # or ("state", eager tensor)): a dg.function returning it returns that tensor then
        self.exact = tuple(exact)
        # (flag, tensor): the runs where eagerly the value is that tensor or shares its memory
        # in a way a call cannot make again (a view a loop passes on): a member, never returned
        self.loose = tuple(loose)

    @property
    def version(self):
        return sum(m.version for m, _ in self.members)

    def rebound(self, root):
        """The `_alias` record of `root` written in place: eagerly still the tensors it may be
        (their later writes show), its exact alternatives gone (it is a value of its own now)."""
        return Either(self.members, self.why, root, self.inside).alias()

    def alias(self):
        """The `_alias` record of the value it was made for (core.fresh calls _regenerate)."""
        return (self, (), self.version, _state.grad_enabled, self)

    def _regenerate(self, x):
        return self.checked(x, x)

    def checked(self, value, x):
        """`value`: x (the value, or a view of it) read now: checked at the runs where eagerly
        it is a member written since it was made."""
        written = [f for (m, f), v in zip(self.members, self.base) if m.version != v]
        return _of_memory(refuse_at(value, any_of(written), self._message(x)), x) if written else value

    def check(self, value, x):
        """`value`: x read now (core.fresh): refused at the runs where eagerly it is a plain
        tensor that a write through another value written since poisoned (two loop results
        that are both the initial value after no iteration: writing one shows in the other)."""
        for rec, where, reason, flags in _poisons(self, ()):
            if not any(rec is p for p in self.poisons):
                flag = None
                for f in flags:    # (built only for a poison that is new: nodes of the graph)
                    flag = both(flag, f)
                value = _of_memory(refuse_at(value, flag, f"{x.name!r} is read after {where}. {reason}"), x)
        return value

    def _message(self, x):
        return (f"{x.name!r} is read after an in-place write to a tensor it eagerly is at such a run "
                f"({self.why}): eagerly the write shows in it, a graph keeps it a tensor of its own. "
                "clone() one of them before writing it in place.")

    def check_inside(self, sub, x):
        """x read inside a cond branch or loop body `sub` that writes (or carries from an earlier
        iteration) state x may be: eagerly x shows that write (refused when built)."""
        for m, _ in self.members:
            if isinstance(m, Either):
                m.check_inside(sub, x)
            elif isinstance(m, _State):
                st = sub._states.get(state_key(m.ref))
                if st is not None and (st.version or any(h is st.handle for h in sub.inputs)):
                    raise DGRuntimeError(self._message(x))

    def written(self, x, op):
        """x is written in place: poisons the plain tensors it may be; returns (the flags of the
        runs to refuse: where eagerly x is state or an argument, the reason)."""
        where = f"an in-place {op.name} on {x.name!r}, which eagerly is it at such a run ({self.why})"
        refuse, whats = [], []
        for m, f in self.members:
            _written_through(m, f, self, where, refuse, whats)
        self.poisons = _poison_records(self)   # (this write's own: x reads it fine)
        why = (f"in-place {op.name} on {x.name!r}, which eagerly is {' or '.join(whats)} at such a "
               f"run ({self.why}): eagerly the write changes that tensor, which a graph does not "
               "do. Write a clone() (x = x.clone()) or use the out-of-place op.")
        if any(f is None for f in refuse):
            raise DGRuntimeError(why)
        return refuse, why


def _poison_records(m):
    """The poison records (_Memory.poisoned / .shared) of the plain tensors Either m may be."""
    return tuple(rec for rec, *_ in _poisons(m, ()))


def _poisons(m, flags):
    """(record, where, reason, the flags whose conjunction is the runs) of each write that
    poisoned a plain tensor Either m may be, at the runs where all of `flags` hold (None: all)."""
    if isinstance(m, Either):
        for k, f in m.members:
            yield from _poisons(k, flags + (f,))
    elif isinstance(m, _Memory):
        if m.poisoned:
            yield (m.poisoned, *m.poisoned, flags)
        elif m.shared:
            where, reason, f = m.shared
            yield m.shared, where, reason, flags + (f,)


def _written_through(m, flag, either, where, refuse, whats):
    """Member m (at the runs of flag) of `either` at a write to its value: see Either.written."""
    if isinstance(m, Either):
        for k, f in m.members:
            _written_through(k, both(flag, f), either, where, refuse, whats)
        return
    attrs = m.root.node.attrs if isinstance(m, _Memory) else {}
    if isinstance(m, _Memory) and "argument" not in attrs and "captured" not in attrs:
        body = either.inside
        if body is None or not any(ox._storage is m or ox._alias is not None and ox._alias[0] is m
                                   for ox, _ in body.captures.values()):
            m.poison(where, _SHARED_REASON, flag)
            return
        whats.append(f"{m.root.name!r}, which {body.what} reads too")
        flag = None
    elif "captured" in attrs:   # (a tensor from outside the branch or body: it cannot be written)
        whats.append(f"{attrs['captured']!r} from outside {m.root.node.graph.what}")
    elif isinstance(m, _Memory):
        whats.append(f"argument {attrs['argument']!r} of the traced function")
    else:
        whats.append("captured state")
    refuse.append(flag)

