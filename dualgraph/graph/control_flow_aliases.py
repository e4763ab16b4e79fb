"""Which dg.cond / dg.while_loop values eagerly ARE other tensors, and at which runs
(memories.Either says what follows from it).

Eagerly `y = dg.cond(c, lambda: u, lambda: u * 3)` makes y the tensor u itself when c holds: an
in-place write to one shows in the other. A graph's cond result is a value of its own, so such
values are marked when the op is built, with the memories they may be and a flag of the runs
where they are: a branch's result that is an outer tensor (or a view of one), state the branch
wrote, or another result of the same branch (the predicate, or its negation); a loop result that
is its initial value after no iteration (count == 0; never when the cond folds to True on
constant initial values: `i < 10` from 0), or a capture, an initial value or another result the
body returns (count > 0); inside the body and cond, a loop variable at the first iteration (the
tensor passed in: refused when built).
"""
import numpy as np

from ..ops.dispatch import apply
from ..tensor import Tensor
from ..state import _state
from ..ops.registry import OPS
from .builder import _ALIAS_OPS, _aliases, _memory_of
from .core import CONSTANT, PLACEHOLDER, state_key
from ..errors import DGRuntimeError
from .memories import ALIAS_CHECK, Either, both
from .subgraph import _input, building_subgraph, to_literal_tensor


class _BodyState:
    """State a loop variable may be inside the body that traced it: its version there (the body
    writing it makes the variable's first-iteration value stale)."""

    __slots__ = ("sub", "ref", "key")

    def __init__(self, sub, ref):
        self.sub, self.ref, self.key = sub, ref, state_key(ref)

    @property
    def version(self):
        st = self.sub._states.get(self.key)
        return 0 if st is None else st.version


def _mark(x, members, why, inside=None, exact=(), loose=()):
    if members:
        x._alias = Either(members, why, x, inside, exact, loose).alias()


def _base(x):
    """The value x is a view (or detach, contiguous) of, through any chain of such ops."""
    while True:
        n = x.node
        if not ((n.op.view and _aliases(n.op, n.attrs, n.inputs) or n.op in _ALIAS_OPS or n.op is ALIAS_CHECK)
                and n.inputs):
            return x
        x = n.inputs[0]


def _memories(g, x):
    """The memories a write to x (or one x eagerly is) reaches: its own and, for a value that
    eagerly may be others, theirs; none for a dg.Variable's read (TF1: a read is a value)."""
    while x.node.op is ALIAS_CHECK:  # (a read checked at some runs: the value it passes on)
        x = x.node.inputs[0]
    a = x._alias
    m = _memory_of(g, x)
    if a is not None and isinstance(a[0], Either):
        return [m[0], a[0]]
    return [] if m is None else [m[0]]


def _name(g, x):
    return "captured state (a parameter or buffer)" if g.state_of(x) is not None else repr(x.name)


def _chain(x, b):
    """The view ops from b to its view x ((op, extra inputs, attrs), in order), or None where one
    cannot run eagerly on a tensor (a graph-only op, a tensor operand)."""
    steps = []
    while x.node is not b.node:
        n = x.node
        extra = tuple(n.inputs[1:])
        if n.op.graph_only or any(hasattr(e, "node") for e in extra):
            return None
        steps.append((n.op, extra, n.attrs))
        x = n.inputs[0]
    return tuple(reversed(steps))


def _and(a, b):
    """memories.both for flags that must be of one graph (an exact identity must not widen to
    every run, as both() does for a refusal)."""
    if a is not None and b is not None and a.node.graph is not b.node.graph:
        raise DGRuntimeError("dualgraph internal error: control-flow alias flags of two graphs")
    return both(a, b)


def _identities(sub, x, var_of=None):
    """What x, a value of subgraph sub, eagerly IS at some runs: [(flag of sub, None for every
    run; source; exact)]. A source is ("var", j): loop variable j (var_of maps the body's
    placeholders to theirs), ("cap", outer tensor), ("state", ref), or ("view", source, chain,
    grad mode): a view of a capture or state made by eager-runnable view ops. `exact`: a
    dg.function can return that very tensor then; else x only shares its memory (a view in a
    loop body, a view of a view of a nested result)."""
    var_of = var_of or {}
    while x.node.op is ALIAS_CHECK:  # (a read checked at some runs: still that value)
        x = x.node.inputs[0]
    b = _base(x)
    if b.node is not x.node:
        chain = None if var_of else _chain(x, b)
        out = []
        for f, s, ex in _identities(sub, b, var_of):   # (a view of a value: it shares its memory)
            ok = ex and chain is not None and s[0] not in ("view", "value")
            out.append((f, ("view", s, chain, _state.grad_enabled) if ok else s, ok))
        return out
    src = var_of.get(b.node)
    if src is not None:
        return [(None, src, True)]
    for st in sub._states.values():   # (state read here: the eager tensor it was read through)
        if st.cur is st.handle and st.handle.node is b.node:
            return [(None, ("state", st.ref), True)]
    for ox, ph in sub.captures.values():
        if ph.node is b.node:
            return [(None, ("cap", ox), True)]
    for st in sub._states.values():
        if st.version and st.cur.node is b.node:
            return [(None, ("state", st.ref), True)]
    a = b._alias
    if a is None or not isinstance(a[0], Either) or b.node.op is PLACEHOLDER:
        return []
    # a nested dg.cond / dg.while_loop result: what it is at its runs (its flags are sub's)
    out = []
    for (f, t), ex in [(e, True) for e in a[0].exact] + [(e, False) for e in a[0].loose]:
        for f2, s, ex2 in _target_identities(sub, t, var_of):
            out.append((_and(f, f2), s, ex and ex2))
    return out


def _target_identities(sub, t, var_of):
    """_identities of an Either's target t (a tensor of sub, ("state", ref), ("view", ...)); a
    value computed in sub is ("value", its node): results that may be it may be one tensor."""
    if not isinstance(t, tuple):
        b = _base(t)   # (and t itself, a value of sub: at other runs it may be computed here)
        return _identities(sub, t, var_of) + [(None, ("value", b.node), b.node is t.node)]
    if t[0] == "state":
        return [(None, t, True)]
    _, base, chain, grad_mode = t
    out = []
    for f, s, ex in _target_identities(sub, base, var_of):
        ok = ex and not var_of and s[0] not in ("view", "value")
        out.append((f, ("view", s, chain, grad_mode) if ok else s, ok))
    return out


def _outer(src):
    """The target in the enclosing graph of a cond branch's source (_identities)."""
    if src[0] == "cap":
        return src[1]
    if src[0] == "view":
        return ("view", _outer(src[1])) + tuple(src[2:])
    return src


def _target_memories(g, t):
    if isinstance(t, tuple):
        return _target_memories(g, t[1]) if t[0] == "view" else [g._state(t[1])]
    return _memories(g, t)


def _what(g, t):
    if isinstance(t, tuple):
        return "a view of " + _what(g, t[1]) if t[0] == "view" else "captured state (a parameter or buffer)"
    return _name(g, t)


def cond_identities(subs, branch_outs, n, raw):
    """What each branch's first n outputs eagerly are (_identities; `raw`: the leaves the
    branches returned: an eager tensor is itself, whichever alias of its memory was read
    first), by branch. The flags of nested control flow they name are appended to the
    branches' outputs (False in the other branch): returns (identities, result pairs that may
    be one value, {(branch, id(flag)): output index})."""
    idents = [[[(None, ("state", r[i]), True)] if isinstance(r[i], Tensor) else _identities(s, outs[i])
               for i in range(n)] for s, outs, r in zip(subs, branch_outs, raw)]
    # results i > j that may be one value of the branch: (branch, i, j, flag of sub, exact)
    pairs = []
    for b, outs in enumerate(branch_outs):
        values = [[(None, o.node, True)] + ([(None, _base(o).node, False)] if _base(o).node is not o.node else [])
                  + [(f, s[1], ex) for f, s, ex in idents[b][i] if s[0] == "value"] for i, o in enumerate(outs[:n])]
        for i in range(n):
            for j in range(i):
                for fi, ni, ei in values[i]:
                    for fj, nj, ej in values[j]:
                        if ni is nj and not any(p[:3] == (b, i, j) and p[3] is None and p[4] for p in pairs):
                            pairs.append((b, i, j, _and(fi, fj), ei and ej))
        idents[b] = [[e for e in entries if e[1][0] != "value"] for entries in idents[b]]
    lifted = {}
    flags = [(b, f) for b, per in enumerate(idents) for entries in per for f, _, _ in entries]
    for b, f in flags + [(b, f) for b, _, _, f, _ in pairs]:
        if f is None or (b, id(f)) in lifted:
            continue
        lifted[(b, id(f))] = len(branch_outs[b])
        for c, (s, outs) in enumerate(zip(subs, branch_outs)):
            with building_subgraph(s):
                outs.append(f.reshape(()) if c == b else to_literal_tensor(False))
    return idents, pairs, lifted


def mark_cond_results(g, pred, results, idents, pairs, lifted):
    """results[i] is what branch b's i-th output is (idents[b][i]: flags lifted to the op's
    outputs, `lifted`: {(b, id(flag)): its result}) at the runs taking b; or, where that
    branch may return one value as two results (`pairs`), the other result."""
    taken = None
    for i, y in enumerate(results):
        members, why, exact, loose = [], [], [], []
        for b, side in enumerate(("true_fn", "false_fn")):
            entries = idents[b][i]
            same = [(j, f, ex) for b2, i2, j, f, ex in pairs if b2 == b and i2 == i]
            if not entries and not same:
                continue
            if taken is None:
                t = pred if pred._dtype == np.bool_ else apply(OPS["ne"], pred, 0)
                taken = (t.reshape(()), apply(OPS["logical_not"], t).reshape(()))
            for j, f, ex in same:   # (first: that very output where both are returned)
                flag = taken[b] if f is None else lifted[(b, id(f))]
                members += [(mem, flag) for mem in _memories(g, results[j])]
                why.append(f"{side} returns one value as results {j} and {i}")
                (exact if ex else loose).append((flag, results[j]))
            for f, src, ex in entries:
                t = _outer(src)
                flag = taken[b] if f is None else lifted[(b, id(f))]
                members += [(mem, flag) for mem in _target_memories(g, t)]
                (exact if ex else loose).append((flag, t))
                why.append(f"{side} returns {_what(g, t)} as result {i}"
                           + ("" if f is None else " (at some runs of a nested dg.cond / dg.while_loop)"))
        _mark(y, members, "dg.cond: " + "; ".join(why), exact=exact, loose=loose)


def mark_loop_inputs(g, init, python):
    """The body's (or cond's) prepare hook: loop variable k is init[k] at the first iteration."""
    def prepare(sub, ins):
        for k, (ph, x) in enumerate(zip(ins, init)):
            mems = [] if python[k] else _flat_members(sub, [(m, None) for m in _memories(g, x)])
            # (state: its value in this body)
            mems = [(m if hasattr(m, "root") else _BodyState(sub, m.ref), f) for m, f in mems]
            _mark(ph, mems, f"loop variable {k} is {_name(g, x)} at the first iteration of dg.while_loop", sub)
    return prepare


def _flat_members(sub, members):
    """(memory, flag in sub) of what the initial value may be: the members of a value that
    eagerly is other tensors at some runs (a cond result that is a buffer the body writes), at
    those runs (the flags captured into the body: its checks refuse exactly those)."""
    out = []
    for m, f in members:
        if isinstance(m, Either):
            out += _flat_members(sub, [(k, _and_lifted(sub, f, fk)) for k, fk in m.members])
        out.append((m, f))
    return out


def _and_lifted(sub, f, fk):
    if fk is None:
        return f
    with building_subgraph(sub):
        fk = sub.lift(fk)
    return _and(f, fk)


def _source_key(s):
    return ("cap", s[1].node) if s[0] == "cap" else ("state", state_key(s[1])) if s[0] == "state" else s


class LoopIdentities:
    """Which tensor each dg.while_loop result eagerly is, tracked through the iterations: for
    each (result k, source s) that can be (s: ("init", j) the initial value of variable j, a
    capture, state), its `form`: "self" (the body passes variable k on: it keeps its initial
    answer), "false" / "true" (no longer / surely after an iteration), or "var": a boolean loop
    variable the body computes (its initial value: s is ("init", k)), where the body returns a
    nested dg.cond / dg.while_loop result that is something at some runs only, or another
    variable that may be s. `exact`: a dg.function can return that very tensor."""

    def __init__(self, bsub, csub, out, python, bound):
        n = len(python)
        ins = bsub.inputs
        var_of = {ins[j].node: ("var", j) for j in range(n)}
        var_of.update({ins[n + i].node: ("state", ref) for i, ref in enumerate(bound)})
        entries = [[e for e in _identities(bsub, out[k], var_of) if e[1][0] != "value"] for k in range(n)]
        self.source = {("init", k): ("init", k) for k in range(n) if not python[k]}
        can = [{("init", k)} if not python[k] else set() for k in range(n)]
        grew = True
        while grew:
            grew = False
            for k in range(n):
                for _, s, _ in entries[k]:
                    if s[0] == "var":
                        new = can[s[1]]
                    else:
                        new = {_source_key(s)}
                        self.source[_source_key(s)] = s
                    if not new <= can[k]:
                        can[k] |= new
                        grew = True
        self.can = can
        terms = {}   # (k, s) -> [(flag, j or None, exact)]: s after an iteration (j: var j is s)
        for k in range(n):
            for s in sorted(can[k], key=str):
                terms[(k, s)] = [(f, e[1] if e[0] == "var" else None, ex) for f, e, ex in entries[k]
                                 if (s in can[e[1]] if e[0] == "var" else _source_key(e) == s)]
        form = {}
        for p, ts in terms.items():
            form[p] = ("false" if not ts else "true" if any(f is None and j is None for f, j, _ in ts)
                       else "self" if len(ts) == 1 and ts[0][0] is None and ts[0][1] == p[0] else "var")
        grew = True
        while grew:   # (a variable's value at an iteration is read: it is a variable too)
            grew = False
            for (k, s), ts in terms.items():
                for _, j, _ in ts if form[(k, s)] == "var" else ():
                    if j is not None and form[(j, s)] in ("false", "true"):
                        form[(j, s)] = "var"
                        grew = True
        exact = dict.fromkeys(terms, True)
        grew = True
        while grew:
            grew = False
            for p, ts in terms.items():
                if exact[p] and any(not ex or (j is not None and not exact[(j, p[1])]) for _, j, ex in ts):
                    exact[p] = False
                    grew = True
        self.form, self.exact, self.pos = form, exact, {}
        pairs = [p for p in terms if form[p] == "var"]
        self.initial = [p[1] == ("init", p[0]) for p in pairs]
        phs = {}
        for p in pairs:
            phs[p] = _input(bsub, (), np.dtype(np.bool_), f"{bsub.name}/is")
            bsub.inputs = list(bsub.inputs) + [phs[p]]
            csub.inputs = list(csub.inputs) + [_input(csub, (), np.dtype(np.bool_), f"{csub.name}/is")]
        with building_subgraph(bsub):
            for p in pairs:
                out.append(self._update(terms[p], p[1], phs))
                self.pos[p] = len(out) - 1

    def _update(self, terms, s, phs):
        acc = None
        for f, j, _ in terms:
            v = None
            if j is not None:
                if self.form[(j, s)] == "var":
                    v = phs[(j, s)]
                elif s != ("init", j):     # ("self": its initial answer, False)
                    continue
            v = _and(f, v)
            if v is None:
                return to_literal_tensor(True)
            acc = v if acc is None else apply(OPS["logical_or"], acc, v)
        return to_literal_tensor(False) if acc is None else acc

    def flags(self, k, once, runs, var):
        """[(flag or None, source, exact)] of result k (`var(pos)`: a loop variable's result)."""
        out = []
        for s in sorted(self.can[k], key=str):
            form, initial = self.form[(k, s)], s == ("init", k)
            if form == "var":
                flag = var(self.pos[(k, s)])
            elif form == "self" or (form == "true" and initial):
                if not initial:
                    continue
                flag = None
            elif form == "false":
                if not initial or once:
                    continue
                flag = runs(False)
            else:
                flag = None if once else runs(True)
            out.append((flag, self.source[s], self.exact[(k, s)]))
        return out


def mark_loop_results(g, count, outs, init, results, once, ids, var):
    """results[k] may be what LoopIdentities `ids` says; or, where the body returns one value as
    two results, the other result (after an iteration); `count()` builds the iteration count,
    `var(pos)` a loop variable's result; `once`: the loop surely runs."""
    flags = {}

    def runs(some):
        if some not in flags:
            flags[some] = apply(OPS["gt" if some else "eq"], count(), 0)
        return flags[some]

    for k, y in enumerate(results):
        members, why, exact, loose = [], [], [], []
        b = _base(outs[k])
        j = next((j for j in range(k) if _base(outs[j]).node is b.node), None)
        if j is not None:   # (first: that very output where both are returned)
            members += [(m, runs(True)) for m in _memories(g, results[j])]
            why.append(f"result {j}: the body returns one value as both")
            (exact if outs[j].node is outs[k].node else loose).append((runs(True), results[j]))
        for flag, s, ex in ids.flags(k, once, runs, var):
            t = init[s[1]] if s[0] == "init" else s[1] if s[0] == "cap" else s
            members += [(m, flag) for m in _target_memories(g, t)]
            (exact if ex else loose).append((flag, t))
            why.append(f"{_what(g, t)}" + (" (the initial value)" if s == ("init", k) else "")
                       + ("" if flag is None else " at some runs"))
        _mark(y, members, f"dg.while_loop result {k} may be " + "; ".join(why), exact=exact, loose=loose)


def runs_at_least_once(condb, init, n_vars, n_caps, maximum_iterations, max_input):
    """Whether the loop's cond is True on its initial values, known when built: it reads only
    loop variables that start as constants (a Python counter: `i < 10` from 0)."""
    if max_input is not None or (maximum_iterations is not None and maximum_iterations < 1):
        return False
    pos = {f.node: i for f, i in zip(condb.graph.feeds(), condb.index)}
    seen, todo = set(), [o.node for o in condb.outputs]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.op is PLACEHOLDER:
            k = pos.get(node)
            if k is None or k >= len(init) or init[k].node.op is not CONSTANT:
                return False
        elif node.op.stateful or node.op.random or node.op.subgraphs:
            return False
        todo += [x.node for x in node.inputs if hasattr(x, "node")]
    frame = [None] * (n_vars + n_caps)
    for f, k in zip(condb.graph.feeds(), condb.index):   # (the others are not read: zeros)
        frame[k] = (init[k].node.attrs["value"] if k < len(init) and init[k].node.op is CONSTANT
                    else np.zeros([d or 0 for d in f.shape], f._dtype))
    try:
        return bool(condb.run(frame)[0])
    except Exception:  # noqa: BLE001 - unknown: the loop may run no iteration
        return False
