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
from ..state import _state
from ..ops.registry import OPS
from .builder import _ALIAS_OPS, _aliases, _memory_of
from .core import CONSTANT, PLACEHOLDER, state_key
from .memories import ALIAS_CHECK, Either


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


def _mark(x, members, why, inside=None, exact=()):
    if members:
        x._alias = Either(members, why, x, inside, exact).alias()


def _base(x):
    """The value x is a view (or detach, contiguous) of, through any chain of such ops."""
    while True:
        n = x.node
        if not ((n.op.view and _aliases(n.op, n.attrs) or n.op in _ALIAS_OPS or n.op is ALIAS_CHECK)
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


def _outer_of(g, sub, x):
    """(memories in graph g, what, the tensor itself) that sub's value x eagerly is: a captured
    outer tensor or state the subgraph wrote (the tensor, or ("view", it, view chain, grad mode)
    where x is a view of it; None where that cannot be made eagerly); None for a value computed
    in sub."""
    b = _base(x)
    exact = b.node is x.node
    chain = None if exact else _chain(x, b)

    def it(t):
        return t if exact else None if chain is None else ("view", t, chain, _state.grad_enabled)
    a = b._alias
    if a is not None and isinstance(a[0], Either) and b.node.op is not PLACEHOLDER:
        # a nested dg.cond / dg.while_loop result that eagerly may be an outer tensor: it may
        # be so here (at the runs of this branch: the nested flags are the subgraph's)
        mems = _lifted(g, sub, a[0])
        return (mems, "a value of a nested dg.cond / dg.while_loop that may be one", None) if mems else None
    for ox, ph in sub.captures.values():
        if ph.node is b.node:
            return _memories(g, ox), _name(g, ox), it(ox)
    for st in sub._states.values():
        if st.version and st.cur.node is b.node:
            return ([g._state(st.ref)], "captured state (a parameter or buffer) it writes", it(("state", st.ref)))
    return None


def _lifted(g, sub, either):
    """The memories in g (enclosing sub) of sub's Either members: state by its tensor, captures
    by their outer values (a value made in sub has none outside)."""
    out = []
    for m, _ in either.members:
        if isinstance(m, Either):
            out += _lifted(g, sub, m)
        elif not hasattr(m, "root"):   # (a _State, or a _BodyState)
            out.append(g._state(m.ref))
        else:
            root = m.root
            for ox, ph in sub.captures.values():
                if ph.node is root.node:
                    out += _memories(g, ox)
    return out


def mark_cond_results(g, pred, subs, branch_outs, results):
    """results[i] may be what branch s's i-th output is, at the runs taking s."""
    taken = None
    for i, y in enumerate(results):
        members, why, exact = [], [], []
        for s, outs, side in zip(subs, branch_outs, ("true_fn", "false_fn")):
            m = _outer_of(g, s, outs[i])
            j = next((j for j in range(i) if _base(outs[j]).node is _base(outs[i]).node), None)
            if m is None and j is None:
                continue
            if taken is None:
                t = pred if pred._dtype == np.bool_ else apply(OPS["ne"], pred, 0)
                taken = (t.reshape(()), apply(OPS["logical_not"], t).reshape(()))
            flag = taken[side == "false_fn"]
            if m is not None:
                members += [(mem, flag) for mem in m[0]]
                why.append(f"{side} returns {m[1]} as result {i}")
                if m[2] is not None:
                    exact.append((flag, m[2]))
            else:
                members += [(mem, flag) for mem in _memories(g, results[j])]
                why.append(f"{side} returns one value as results {j} and {i}")
        _mark(y, members, "dg.cond: " + "; ".join(why), exact=exact)


def mark_loop_inputs(g, init, python):
    """The body's (or cond's) prepare hook: loop variable k is init[k] at the first iteration."""
    def prepare(sub, ins):
        for k, (ph, x) in enumerate(zip(ins, init)):
            mems = [] if python[k] else _memories(g, x)
            # (state: its value in this body)
            mems = [m if hasattr(m, "root") else _BodyState(sub, m.ref) for m in mems]
            _mark(ph, [(m, None) for m in mems],
                  f"loop variable {k} is {_name(g, x)} at the first iteration of dg.while_loop", sub)
    return prepare


def mark_loop_results(g, count, bsub, outs, init, python, results, once):
    """results[k] may be init[k] (no iteration, or always where the body passes it on) and what
    the body's k-th output is (after an iteration); `count()` builds the iteration count; `once`:
    the loop surely runs."""
    ins = [ph.node for ph in bsub.inputs[:len(results)]]
    flags = {}

    def runs(some):
        if some not in flags:
            flags[some] = apply(OPS["gt" if some else "eq"], count(), 0)
        return flags[some]

    for k, y in enumerate(results):
        members, why, exact = [], [], []
        b = _base(outs[k])
        mems = [] if python[k] else _memories(g, init[k])
        if mems and b.node is ins[k]:
            members += [(m, None) for m in mems]
            why.append(f"its initial value {_name(g, init[k])}, which the body passes on")
            exact.append((None, init[k]) if outs[k].node is b.node else (None, None))
        elif mems and not once:
            members += [(m, runs(False)) for m in mems]
            why.append(f"its initial value {_name(g, init[k])} after no iteration")
            exact.append((runs(False), init[k]))
        if b.node in ins and b.node is not ins[k]:
            j = ins.index(b.node)
            mems = [] if python[j] else _memories(g, init[j])
            members += [(m, runs(True)) for m in mems]
            if mems:
                why.append(f"the initial value {_name(g, init[j])} of loop variable {j}")
        m = _outer_of(g, bsub, outs[k])
        if m is not None:
            members += [(mem, runs(True)) for mem in m[0]]
            why.append(f"{m[1]}, which the body returns")
            if m[2] is not None:
                exact.append((runs(True), m[2]))
        j = next((j for j in range(k) if _base(outs[j]).node is b.node), None)
        if j is not None:
            members += [(m, runs(True)) for m in _memories(g, results[j])]
            why.append(f"result {j}: the body returns one value as both")
        _mark(y, members, f"dg.while_loop result {k} may be " + "; ".join(why),
              exact=[e for e in exact if e[1] is not None])


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
