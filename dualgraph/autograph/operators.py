"""AutoGraph's run-time operators: what converted code calls, as `ag__.if_stmt(...)` and friends.

Each operator looks at the value that decides the statement *when the statement runs*:
- a graph-mode tensor (a `SymbolicTensor`, not a lifted Python number): the statement becomes
  `dg.cond` / `dg.while_loop`, the statement's variables its branch outputs / loop variables;
- anything else (a Python value, an eager tensor, a lifted number whose use is guarded): plain
  Python, so control flow on Python values is unrolled while tracing, as before conversion.

The branch and loop functions the converter writes take the statement's variables as arguments
and return them (a tuple), so one protocol serves both paths:
    if_stmt(cond, if_body, else_body, state, names)       -> the variables after the `if`
    while_stmt(loop_test, loop_body, state, names)        -> the variables after the loop
    for_stmt(iterable, loop_body, state, names, extra_test=None)
(`ag__.converted_call`, what converted code calls functions through, is converter.py's: it
converts them, and is set on this module when converter.py is imported.)
`names` are the variables' names (for error messages), `line` the statement's line; the file is
the converted function's own (its code keeps the user's file name and line numbers).
"""
import operator
import sys
from collections import OrderedDict

import numpy as np

from ..dtypes import from_np
from ..errors import DGNotImplementedError, DGRuntimeError, DGTypeError, DGValueError, DualGraphError
from ..graph.control_flow import cond as _cond, while_loop as _while_loop
from ..graph.core import SymbolicTensor, owned_alias
from ..graph.guards import Lifted
from ..ops.elementwise import logical_and, logical_not, logical_or
from ..tensor import tensor as _tensor
from ..tensor_methods import TensorMethods
from ..utils.tree import flatten, unflatten

__all__ = ["if_stmt", "while_stmt", "for_stmt", "if_exp", "range_", "and_", "or_", "not_", "aug_assign",
           "Undefined", "UndefinedVariableError", "ld", "python_bool", "python_iter"]


# ---------------------------------------------------------------- undefined variables
class UndefinedVariableError(DGValueError, UnboundLocalError):
    """A variable read before it is assigned (what Python raises as UnboundLocalError)."""


def _undefined_use(self, *args, **kwargs):
    raise UndefinedVariableError(f"local variable {self.name!r} is used before it is assigned")


class Undefined:
    """The value of a variable the converted statement passes on before it is assigned (Python
    would have no binding yet). Using it raises; a tensor branch leaving it undefined is refused."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<undefined {self.name}>"

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        _undefined_use(self)


for _m in ("add radd sub rsub mul rmul truediv rtruediv floordiv rfloordiv mod rmod pow rpow matmul "
           "rmatmul neg pos abs invert and rand or ror xor rxor lt le gt ge getitem setitem iter len "
           "call bool float int index contains").split():
    setattr(Undefined, f"__{_m}__", _undefined_use)
del _m


def ld(read, name):
    """The value of a local that may or may not be assigned yet: `read` is `lambda: name`."""
    try:
        return read()
    except NameError:
        return Undefined(name)


def _is_undefined(v):
    return type(v) is Undefined


# ---------------------------------------------------------------- helpers
def _symbolic(x):
    """A graph value whose truth is known only at run time (a lifted Python number is not: used
    as a Python value it answers, and guards what it answered)."""
    return isinstance(x, SymbolicTensor) and not isinstance(x, Lifted)


def _loc(line, depth=2):
    """`file:line` of the statement: the file of the converted code that called the operator."""
    try:
        f = sys._getframe(depth).f_code.co_filename
    except ValueError:  # pragma: no cover
        f = "<unknown>"
    return f"{f}:{line}" if line is not None else f


def _np_dtype(t):
    return t._np_dtype()


def _is_number(v):
    return isinstance(v, (bool, int, float, np.bool_, np.number)) and not isinstance(v, TensorMethods)


def _number_dtype(v):
    if isinstance(v, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(v, (int, np.integer)):
        return np.dtype(np.int64)
    if isinstance(v, np.floating):
        return np.dtype(v.dtype)
    return np.dtype(np.float64)  # a Python float: a double, weakly typed (see _number_tensor)


def _is_weak(v):
    """A Python number (not a numpy scalar): carried through a graph op as a weakly typed 0-d
    tensor, so it computes as Python does (in float64 / int64 among numbers) and takes a
    tensor's dtype where it meets one (float32 * 0.5 stays float32), as eagerly."""
    return isinstance(v, (bool, int, float)) and not isinstance(v, np.generic)


def _as_pred(c, where, what):
    """The predicate of a graph cond/loop: a bool tensor (a number is true when not 0)."""
    if isinstance(c, TensorMethods):
        if _np_dtype(c) != np.bool_:
            c = c != 0
        return c
    if _is_undefined(c):
        _undefined_use(c)
    return _tensor(bool(c))


def _same_static(a, b):
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an array, an object without a plain ==
        return False


def _a(word):
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _describe(kind, meta):
    if kind == "S":
        return f"the Python value {meta!r}"
    name = np.dtype(meta[0]).name
    return _a(f"{name} tensor") if kind == "T" else f"a Python number ({name})"


class _Retry(Exception):
    """A Python number met a tensor it must become like (a loop variable starting as 0 that the
    body makes a float vector; `0` in one branch, `1.5` in the other): trace again, the number
    made a tensor of that dtype and shape from the start."""

    def __init__(self, key, like):
        super().__init__(key, like)
        self.key, self.like = key, like


def _weak_value(x):
    """A Python number carried through an earlier graph op: a weakly typed 0-d graph value."""
    return getattr(x, "_weak", False) and isinstance(x, SymbolicTensor) and not x.shape


def _number_tensor(x, dtype, shape, weak=False):
    if isinstance(x, TensorMethods):  # a weak value already: of the dtype asked for
        if _np_dtype(x) != np.dtype(dtype) or shape:
            x = x.to(_dg_dtype(dtype))
            if shape:
                x = x.expand(*shape).contiguous()
        if weak and not shape:
            x._weak = True
        return x
    if isinstance(x, int) and np.dtype(dtype).kind in "iu" and not -2 ** 63 <= x < 2 ** 63:
        raise DGValueError(
            f"the Python int {x} does not fit in int64, the dtype a graph carries a Python int in "
            "through a loop or `if` on a tensor (eagerly Python ints have no bound)")
    if shape:
        return _tensor(np.full(shape, x, dtype=dtype))
    t = _tensor(x, dtype=_dg_dtype(dtype))
    if weak and hasattr(t, "_weak"):
        t._weak = True
    return t


def _like(x):
    """How a Python number (or a weak value) is carried: (dtype, shape, weakly typed)."""
    if isinstance(x, TensorMethods):
        return (_np_dtype(x), (), True)
    return (_number_dtype(x), (), _is_weak(x))


class _Layout:
    """How a tuple of variables is carried through a graph op: per variable None (undefined) or
    its treedef and, per leaf, ("T", (dtype, shape)) a tensor, ("N", (dtype, shape)) a Python
    number, ("S", value) a Python value that stays outside the graph op. A number is made a
    tensor when `hints` (from a _Retry) or `numbers` say so; else it stays a number, for dg.cond
    to type like the other branch (a Python number is weakly typed)."""

    def __init__(self, vals, names, hints, numbers=False):
        self.vars, self.dynamic = [], []
        for i, v in enumerate(vals):
            if _is_undefined(v):
                self.vars.append(None)
                continue
            leaves, treedef = flatten(v)
            metas = []
            for j, x in enumerate(leaves):
                if isinstance(x, TensorMethods) and not _weak_value(x):
                    metas.append(("T", (_np_dtype(x), tuple(x.shape))))
                    self.dynamic.append(x)
                elif _is_number(x) or _weak_value(x):  # (a weak value: a number carried before)
                    like = hints.get((i, j))
                    if like is None:
                        like = _like(x)
                    metas.append(("N", like))
                    self.dynamic.append(_number_tensor(x, *like) if numbers or (i, j) in hints else x)
                else:
                    metas.append(("S", x))
            self.vars.append((treedef, metas))

    def rebuild(self, dynamic, names):
        it = iter(dynamic)
        out = []
        for name, var in zip(names, self.vars):
            if var is None:
                out.append(Undefined(name))
                continue
            treedef, metas = var
            out.append(unflatten(treedef, [_weakened(next(it), m) if k == "N" else next(it) if k != "S" else m
                                           for k, m in metas]))
        return tuple(out)


def _weakened(x, like):
    """A graph op's value for a variable carried as a weakly typed number: weakly typed too."""
    if like[2] and hasattr(x, "_weak") and not x.shape:
        x._weak = True
    return x


def _fits(natural, dtype, weak=False):
    """A Python number of dtype `natural` may be made a tensor of `dtype` (an int a float; a
    weakly typed float any float, as 0.5 * a float32 tensor is float32)."""
    natural, dtype = np.dtype(natural), np.dtype(dtype)
    return natural == dtype or (dtype.kind == "f" and natural.kind in "iub") or (
        dtype.kind in "iu" and natural.kind in "iub") or (weak and dtype.kind in "fc" and natural.kind in "fc")


def _dg_dtype(np_dtype):
    return from_np(np.dtype(np_dtype))


def _check_arity(out, names, fn, where):
    if not isinstance(out, tuple) or len(out) != len(names):
        raise DGTypeError(f"{where}: AutoGraph's {getattr(fn, '__name__', 'function')} returned {out!r}, "
                          f"expected a tuple of {len(names)} values ({', '.join(names)})")
    return out


# ---------------------------------------------------------------- if
def if_stmt(cond, if_body, else_body=None, state=(), names=(), line=None):
    """`if cond:` with the statement's variables `state` (named `names`): returns them after it."""
    state = tuple(state)
    if _symbolic(cond):
        return _tensor_if(cond, if_body, else_body, state, tuple(names), _loc(line), "if statement")
    if cond:
        return if_body(*state)
    return else_body(*state) if else_body is not None else state


def if_exp(cond, if_true, if_false, line=None):
    """`a if cond else b`: `if_true`/`if_false` are `lambda: a` / `lambda: b`."""
    if _symbolic(cond):
        out = _tensor_if(cond, lambda: (if_true(),), lambda: (if_false(),), (),
                         ("the conditional expression",), _loc(line), "conditional expression")
        return out[0]
    return if_true() if cond else if_false()


_CODING_ERRORS = (AttributeError, NameError, TypeError, ImportError, NotImplementedError,
                  RecursionError)


def _tensor_if(pred, if_body, else_body, state, names, where, what):
    pred = _as_pred(pred, where, what)
    hints = {}
    for _ in range(2 + len(flatten(state)[0])):
        seen = []  # the first branch's layout (dg.cond may trace either branch first)

        def branch(fn, label):
            def run():
                try:
                    out = state if fn is None else fn(*state)
                except (DualGraphError, _Retry) + _CODING_ERRORS:
                    raise   # (a mistake in the branch's code: its own traceback says it best)
                except Exception as e:  # noqa: BLE001 - the user's own raise, say
                    raise DGRuntimeError(
                        f"{where}: the {label} branch of this {what} on a tensor raised "
                        f"{type(e).__name__}({e}) while it was traced. Both branches of an `if` on "
                        "a tensor are traced, whichever one a call takes, so a `raise` (input "
                        "validation) would fire at every call: check the condition eagerly "
                        "before calling the compiled function, or with a Python value") from e
                out = state if fn is None else _check_arity(out, names, fn, where)
                lay = _Layout(out, names, hints)
                if not seen:
                    seen.append((lay, label))
                else:
                    _match_branches(seen[0][0], seen[0][1], lay, label, names, where, what, hints)
                return list(lay.dynamic)
            return run

        try:
            flat = _cond(pred, branch(if_body, "true"), branch(else_body, "false"))
        except _Retry as r:
            hints[r.key] = r.like
            continue
        return seen[0][0].rebuild(list(flat), names)
    raise DGTypeError(  # pragma: no cover - each retry fixes one number
        f"{where}: the branches of this {what} disagree on the dtypes of their variables")


def _match_branches(a, la, b, lb, names, where, what, hints):
    for i, name in enumerate(names):
        va, vb = a.vars[i], b.vars[i]
        if va is None and vb is None:
            continue
        if va is None or vb is None:
            which, other = (lb, la) if va is None else (la, lb)
            raise DGValueError(
                f"{where}: {name!r} must be defined in both branches of the {what} (its condition is a "
                f"tensor, so dg.cond needs a value from each branch): it is assigned in the {which} "
                f"branch but not in the {other} branch, and not before the statement. Assign it "
                f"before the {what.split()[0]} or in both branches.")
        (ta, ma), (tb, mb) = va, vb
        if ta != tb:
            raise DGValueError(
                f"{where}: {name!r} has a different structure in the two branches of the {what}: "
                f"{_show_tree(ta)} in the {la} branch, {_show_tree(tb)} in the {lb} branch; dg.cond "
                "needs the same structure from both")
        for j, ((ka, xa), (kb, xb)) in enumerate(zip(ma, mb)):
            both = f"{where}: {name!r} is {_describe(ka, xa)} in the {la} branch and {_describe(kb, xb)} " \
                   f"in the {lb} branch of the {what}"
            if ka == "S" and kb == "S":
                if not _same_static(xa, xb):
                    raise DGValueError(f"{both}; a condition on a tensor can only choose between tensors "
                                       "(or numbers), not between other Python values")
                continue
            if ka == "S" or kb == "S":
                raise DGValueError(f"{both}; dg.cond needs a tensor from both branches")
            da, db = np.dtype(xa[0]), np.dtype(xb[0])
            if da == db:
                if ka == kb == "N" and xa[2] and xb[2] and (i, j) not in hints:
                    raise _Retry((i, j), (da, (), True))  # a number from each: a weak one out
                continue
            if ka == "N" and kb == "N":  # 0 and 1.5: the first becomes a float like the second
                if _fits(da, db):
                    raise _Retry((i, j), (db, (), xa[2] and xb[2]))
            elif ka == "N" and _fits(da, db, xa[2]) or kb == "N" and _fits(db, da, xb[2]):
                if ka == "N":  # (the result is the other branch's tensor: strongly typed)
                    ma[j] = ("N", (xa[0], xa[1], False))
                continue  # a number takes the tensor's dtype (dg.cond types it like the other branch)
            raise DGTypeError(f"{both}; dg.cond needs the same dtype from both")


def _show_tree(treedef):
    """A structure in words: 'a tensor or number', 'a tuple of 2', 'None', ..."""
    if not treedef:
        return "a tensor (or number)"
    t, n = treedef[0], len(treedef) - 1
    if t is type(None):
        return "None"
    if t in (dict, OrderedDict):
        return f"a dict with keys {list(treedef[1])}"
    kind = t.__name__ if t in (tuple, list) else f"{t.__name__} (a namedtuple)"
    return f"{_a(kind)} of {n}"


# ---------------------------------------------------------------- augmented assignment
_BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
           "//": operator.floordiv, "%": operator.mod, "**": operator.pow, "@": operator.matmul,
           "&": operator.and_, "|": operator.or_, "^": operator.xor, "<<": operator.lshift,
           ">>": operator.rshift}
_INPLACE = {"+": operator.iadd, "-": operator.isub, "*": operator.imul, "/": operator.itruediv,
            "//": operator.ifloordiv, "%": operator.imod, "**": operator.ipow, "@": operator.imatmul,
            "&": operator.iand, "|": operator.ior, "^": operator.ixor, "<<": operator.ilshift,
            ">>": operator.irshift}


def aug_assign(target, op, value):
    """`target op= value` inside a branch or loop function: on a graph value (a branch or loop
    variable, which dg.cond / dg.while_loop thread through, and do not let be written in place)
    `target op value`; on anything else (a Python value, an eager tensor, a Variable) Python's
    in-place operator, as written."""
    if _symbolic(target) and target.node.op.name != "variable":
        return _BINARY[op](target, value)
    return _INPLACE[op](target, value)


# ---------------------------------------------------------------- logical operators
def and_(a, b):
    """`a and b`, with `a`, `b` as `lambda: a`, `lambda: b`: Python's when `a` is not a graph
    tensor, else dg.logical_and (b is then always evaluated)."""
    x = a()
    if _symbolic(x):
        return logical_and(_as_pred(x, None, None), _as_pred(b(), None, None))
    if not x:
        return x
    y = b()
    return y


def or_(a, b):
    x = a()
    if _symbolic(x):
        return logical_or(_as_pred(x, None, None), _as_pred(b(), None, None))
    if x:
        return x
    return b()


def not_(a):
    if _symbolic(a):
        return logical_not(_as_pred(a, None, None))
    return not a


# ---------------------------------------------------------------- loops
def while_stmt(loop_test, loop_body, state=(), names=(), line=None):
    """`while test:`: Python iterations while the test is a Python value; once it is a graph
    tensor, the rest of the loop is one dg.while_loop over the statement's variables."""
    state = tuple(state)
    names = tuple(names)
    while True:
        c = loop_test(*state)
        if _symbolic(c):
            where = _loc(line)
            return _graph_loop(lambda vals: loop_test(*vals), lambda vals: loop_body(*vals),
                               [], state, names, where, "while loop", loop_body)
        if not c:
            return state
        state = loop_body(*state)


class _SymbolicRange:
    """`range(start, stop, step)` with a graph tensor among its arguments."""

    __slots__ = ("start", "stop", "step")

    def __init__(self, start, stop, step):
        self.start, self.stop, self.step = start, stop, step

    def __repr__(self):
        return f"range_({self.start!r}, {self.stop!r}, {self.step!r})"

    def __iter__(self):
        raise DGTypeError("range() over a graph tensor has no Python iteration: its length is "
                          "known only when the graph runs")


def range_(*args):
    """`range(...)` in a converted `for`: Python's range unless an argument is a graph tensor."""
    if not any(_symbolic(a) for a in args):
        return range(*args)
    if len(args) == 1:
        start, stop, step = 0, args[0], 1
    elif len(args) == 2:
        (start, stop), step = args, 1
    elif len(args) == 3:
        start, stop, step = args
    else:
        raise DGTypeError(f"range expected at most 3 arguments, got {len(args)}")
    for a in (start, stop, step):
        if isinstance(a, TensorMethods) and _np_dtype(a).kind not in "iu":
            raise DGTypeError(f"range() needs integer tensors, got {a!r}")
        elif not isinstance(a, TensorMethods) and not isinstance(a, (int, np.integer)):
            raise DGTypeError(f"range() needs integers, got {a!r}")
    if not isinstance(step, TensorMethods) and step == 0:
        raise DGValueError("range() arg 3 must not be zero")
    return _SymbolicRange(start, stop, step)


def for_stmt(iterable, loop_body, state=(), names=(), extra_test=None, line=None):
    """`for target in iterable:`; `loop_body(item, *state)`; `extra_test(*state)` (the loop's
    `break` flag) stops it early. A range over a graph tensor, or a graph tensor's rows, is one
    dg.while_loop; anything else is iterated in Python."""
    state = tuple(state)
    names = tuple(names)
    if isinstance(iterable, _SymbolicRange):
        return _range_loop(iterable, loop_body, state, names, extra_test, _loc(line))
    if _symbolic(iterable):
        return _rows_loop(iterable, loop_body, state, names, extra_test, _loc(line))
    where = None
    for item in iterable:
        if extra_test is not None:
            t = extra_test(*state)
            if _symbolic(t):  # a Python loop whose break depends on a tensor: guard each iteration
                where = where or _loc(line)
                state = _tensor_if(t, lambda *s, item=item: loop_body(item, *s), None, state, names,
                                   where, "for loop's break condition")
                continue
            if not t:
                break
        state = loop_body(item, *state)
    return state


def _range_loop(r, loop_body, state, names, extra_test, where):
    start, stop, step = r.start, r.stop, r.step
    idt = next((_np_dtype(a) for a in (stop, start, step) if isinstance(a, TensorMethods)), np.dtype(np.int64))
    # (the counter is the Python int range() gives eagerly: weakly typed, see _is_weak)
    if isinstance(start, SymbolicTensor) and not start.shape:
        counter = owned_alias(start)  # (another object for its value: weak, start itself stays)
        counter._weak = True
    else:
        counter = start if isinstance(start, TensorMethods) else _number_tensor(int(start), idt, (), True)
    carried = [counter]  # stop and a tensor step travel as loop variables (read in cond and body)
    sym_stop = isinstance(stop, TensorMethods)
    sym_step = isinstance(step, TensorMethods)
    if sym_stop:
        carried.append(stop)
    if sym_step:
        carried.append(step)

    weak = getattr(counter, "_weak", False)

    def unpack(extra):
        if weak:
            _weakened(extra[0], (None, (), True))  # (the body's counter: the Python int)
        k = 1
        s_stop = extra[k] if sym_stop else stop
        k += sym_stop
        s_step = extra[k] if sym_step else step
        return extra[0], s_stop, s_step

    def test(extra, vals):
        i, s_stop, s_step = unpack(extra)
        if sym_step:
            going = logical_or(logical_and(s_step > 0, i < s_stop), logical_and(s_step < 0, i > s_stop))
        else:
            going = i < s_stop if s_step > 0 else i > s_stop
        if extra_test is not None:
            going = logical_and(_as_pred(going, where, None), _as_pred(extra_test(*vals), where, None))
        return going

    def body(extra, vals):
        i, s_stop, s_step = unpack(extra)
        out = loop_body(i, *vals)
        return [i + s_step] + list(extra[1:]), out

    return _graph_loop(test, body, carried, state, names, where, "for loop", loop_body, split=True)


def _rows_loop(x, loop_body, state, names, extra_test, where):
    if not x.shape:
        raise DGTypeError(f"{where}: iteration over a 0-d tensor")
    n = x.shape[0]
    if n is None:
        raise DGNotImplementedError(
            f"{where}: a for loop over the rows of {x!r}, whose first dimension is unknown until the "
            "graph runs; loop over range(n) with the length passed as a tensor instead")
    counter = _tensor(0)

    def test(extra, vals):
        going = extra[0] < n
        if extra_test is not None:
            going = logical_and(_as_pred(going, where, None), _as_pred(extra_test(*vals), where, None))
        return going

    def body(extra, vals):
        i = extra[0]
        out = loop_body(x[i], *vals)
        return [i + 1], out

    return _graph_loop(test, body, [counter], state, names, where, "for loop", loop_body, split=True)


def _graph_loop(test, body, carried, state, names, where, what, user_body, split=False):
    """dg.while_loop over `carried` (the operator's own tensors: a for loop's counter) and the
    statement's variables. `test(carried, vals)` / `body(carried, vals) -> (carried, vals)` when
    split, else `test(vals)` / `body(vals) -> vals`."""
    for name, v in zip(names, state):
        if _is_undefined(v):
            raise DGValueError(
                f"{where}: {name!r} must be defined before the {what}: its condition is a tensor, so the "
                f"loop becomes a dg.while_loop and {name!r} one of its loop variables (it is assigned in "
                "the loop and used after it or in the next iteration). Give it a value before the loop.")
    hints = {}
    nc = len(carried)
    for _ in range(2 + len(flatten(state)[0])):
        lay = _Layout(state, names, hints, numbers=True)

        def cond_fn(*flat):
            extra, vals = list(flat[:nc]), lay.rebuild(flat[nc:], names)
            c = test(extra, vals) if split else test(vals)
            return _as_pred(c, where, what)

        def body_fn(*flat):
            extra, vals = list(flat[:nc]), lay.rebuild(flat[nc:], names)
            if split:
                extra, out = body(extra, vals)
            else:
                out = body(vals)
            out = _check_arity(out, names, user_body, where)
            return list(extra) + _loop_outputs(lay, out, names, where, what)

        try:
            res = _while_loop(cond_fn, body_fn, list(carried) + list(lay.dynamic))
        except _Retry as r:
            hints[r.key] = r.like
            continue
        return lay.rebuild(list(res)[nc:], names)
    raise DGTypeError(f"{where}: the loop variables of this {what} keep changing dtype")  # pragma: no cover


def _loop_outputs(lay, out, names, where, what):
    """The body's values as loop variables: the structure and Python values they entered with;
    a variable that entered as a Python number and comes back a tensor of another dtype or
    shape makes the loop start again with it made such a tensor."""
    flat = []
    for i, (name, v) in enumerate(zip(names, out)):
        treedef, metas = lay.vars[i]
        if _is_undefined(v):
            _undefined_use(v)
        leaves, td = flatten(v)
        if td != treedef:
            raise DGValueError(
                f"{where}: loop variable {name!r} of the {what} changes structure in the loop: "
                f"{_show_tree(treedef)} before it, {_show_tree(td)} after an iteration")
        for j, (x, (kind, meta)) in enumerate(zip(leaves, metas)):
            before = f"{where}: loop variable {name!r} of the {what} is {_describe(kind, meta)} before the loop"
            if kind == "S":
                if isinstance(x, TensorMethods) or not _same_static(x, meta):
                    raise DGValueError(
                        f"{before} and the loop changes it to {x!r}; the loop runs in the graph (its "
                        "condition is a tensor), so its loop variables must be tensors or numbers")
                flat.append(None)
                continue
            if _is_number(x):
                nd = _number_dtype(x)
                if not _fits(nd, meta[0]):
                    if kind == "N":
                        raise _Retry((i, j), (nd, meta[1], meta[2] and _is_weak(x)))
                    raise DGTypeError(f"{before} and the Python number {x!r} after an iteration; a loop "
                                      "variable keeps its dtype")
                x = _number_tensor(x, meta[0], meta[1], kind == "N" and meta[2] and _is_weak(x))
            elif not isinstance(x, TensorMethods):
                raise DGValueError(f"{before} and {x!r} after an iteration; it must stay a tensor")
            elif kind == "N" and ((_np_dtype(x), tuple(x.shape)) != (np.dtype(meta[0]), tuple(meta[1]))
                                  or meta[2] and not getattr(x, "_weak", False)) \
                    and _fits(meta[0], _np_dtype(x), meta[2]) and None not in tuple(x.shape):
                raise _Retry((i, j), (_np_dtype(x), tuple(x.shape), meta[2] and _weak_value(x)))  # start it as the body makes it
            elif _np_dtype(x) != np.dtype(meta[0]):
                raise DGTypeError(f"{before} and {_a(_np_dtype(x).name)} tensor after an iteration; a "
                                  "loop variable keeps its dtype (cast it before the loop)")
            flat.append(x)
    return [x for x in flat if x is not None]


# ---------------------------------------------------------------- refusals
def python_bool(cond, kind, reason, line=None):
    """The test of a statement AutoGraph left as Python (`reason` says why): fine on Python
    values; a graph tensor is refused with the statement's line."""
    if _symbolic(cond):
        _refuse(kind, reason, _loc(line))
    return cond


def python_iter(iterable, reason, line=None):
    """The iterable of a `for` AutoGraph left as Python: a range over a graph tensor is refused
    with the line; a graph tensor of known length is unrolled over its rows, as without AutoGraph."""
    if isinstance(iterable, _SymbolicRange) or (
            _symbolic(iterable) and (not iterable.shape or iterable.shape[0] is None)):
        _refuse("for", reason, _loc(line))
    return iterable


_HINTS = {
    "return": "assign the result to a variable and return it after the statement",
    "try": "move the `try` out of the block (a `try` around the whole statement stays Python)",
    "global": "return the value instead of writing the global",
    "nonlocal": "return the value instead of writing the enclosing function's variable",
    "break": "the loop it leaves is Python (it holds something AutoGraph cannot convert): fix that first",
    "continue": "the loop it leaves is Python (it holds something AutoGraph cannot convert): fix that first",
}


def _refuse(kind, reason, where):
    op = "dg.cond" if kind == "if" else "dg.while_loop"
    hint = next((h for k, h in _HINTS.items() if f"`{k}" in reason or f" {k} name" in reason),
                "move it out of the statement")
    raise DGNotImplementedError(
        f"{where}: this `{kind}` statement depends on a graph tensor, so AutoGraph must make it a "
        f"{op}, but it contains {reason}, which AutoGraph does not convert: {hint}, or decide the "
        "statement on a Python value (dg.function(fn, autograph=False) turns AutoGraph off).")

