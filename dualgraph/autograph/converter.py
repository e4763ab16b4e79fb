"""AutoGraph's source transformer: a Python function's `if`, `while` and `for` statements become
calls of the run-time operators (operators.py), which keep them Python or make them `dg.cond` /
`dg.while_loop` depending on the value that decides them (TensorFlow's AutoGraph is the model).

The passes, on the function's AST (`inspect.getsource` + `ast`):
1. returns: `if c: ...; return a` followed by more code is made `if c: ... return a / else: <the
   rest>`, then the returns at the ends of those branches become `retval_ = a` and one
   `return retval_` at the end (a `return` inside a loop, a `try` or a `with` stays, and is
   refused if its statement must become a graph op);
2. break / continue of a loop that can be converted become flags (`break_ = True`), the
   statements after them guarded (`if not break_:`), the loop's test (or a for loop's
   `extra_test`) `not break_ and ...`; a loop's `else` runs `if not break_`;
3. each `if` / `while` / `for` becomes functions of the statement's variables (the names it
   assigns that are live after it, or read in it before they are assigned) and one operator
   call; `and` / `or` / `not` in their tests become `ag__.and_` / `or_` / `not_`, `a if c else b`
   `ag__.if_exp`. A statement holding something a graph op cannot hold (see
   analysis.refusals) stays Python, its test wrapped by `ag__.python_bool` so that a tensor
   there is refused with the line.
4. every call `f(a, *b, k=v)` becomes `ag__.converted_call(f, (a, *b), {'k': v})` (None for no
   keywords; `super()`, `locals()` and the other frame readers stay): when it runs, f is converted
   too if it is the user's code (recursively: the functions and methods the user's code calls, an
   nn.Module's forward), and called as it is otherwise (converted_call, at the end, says which).

The new function is compiled with the original's globals, closure cells, defaults and file name
(line numbers are kept, so tracebacks point at the user's source).
"""
import ast
import copy
import functools
import inspect
import linecache
import re
import sys
import textwrap
import types
import weakref

from ..errors import DGTypeError, DGValueError
from . import analysis as A
from . import operators

AG = "ag__"
_CACHE = weakref.WeakKeyDictionary()  # function -> its converted function, or None (no source)
_CODES = weakref.WeakKeyDictionary()  # code object -> (converted code, its source), or None
_NO_SOURCE = object()
_CONVERTED = weakref.WeakSet()  # code objects made by the converter (never converted again)


# ---------------------------------------------------------------- small AST builders
def _name(n, store=False):
    return ast.Name(id=n, ctx=ast.Store() if store else ast.Load())


def _ag(attr):
    return ast.Attribute(value=_name(AG), attr=attr, ctx=ast.Load())


def _call(fn, args, keywords=()):
    return ast.Call(func=fn, args=list(args), keywords=[ast.keyword(arg=k, value=v) for k, v in keywords])


def _const(v):
    return ast.Constant(value=v)


def _lambda(body):
    return ast.Lambda(args=_arguments([]), body=body)


def _arguments(names):
    return ast.arguments(posonlyargs=[], args=[ast.arg(arg=n) for n in names], vararg=None, kwonlyargs=[],
                         kw_defaults=[], kwarg=None, defaults=[])


def _tuple(elts, store=False):
    return ast.Tuple(elts=list(elts), ctx=ast.Store() if store else ast.Load())


def _def(name, params, body, where):
    fn = ast.FunctionDef(name=name, args=_arguments(params), body=body or [ast.Pass()], decorator_list=[],
                         returns=None, type_comment=None)
    if hasattr(fn, "type_params"):
        fn.type_params = []
    return ast.copy_location(fn, where)


def _assign(name, value, where):
    return ast.copy_location(ast.Assign(targets=[_name(name, True)], value=value), where)


def _not(name):
    return ast.UnaryOp(op=ast.Not(), operand=_name(name))


def _located(nodes, where):
    """The converter's statements take the line where `where` starts (one line: a traceback
    through `ag__.if_stmt(...)` shows the statement's first line)."""
    for n in nodes:
        ast.copy_location(n, where)
        n.end_lineno, n.end_col_offset = n.lineno, n.col_offset
        ast.fix_missing_locations(n)
    return nodes


# ---------------------------------------------------------------- pass 1: returns
def _returns_via_ifs(stmts):
    for s in stmts:
        if isinstance(s, ast.Return):
            return True
        if isinstance(s, ast.If) and (_returns_via_ifs(s.body) or _returns_via_ifs(s.orelse)):
            return True
    return False


def _normalize(stmts, cont):
    """`stmts` then `cont` (a normalized block and whether it always returns), with every
    `return` reached through `if`s at the end of its branch: the statements after an `if`
    holding a return are moved into its branches."""
    out = []
    for i, s in enumerate(stmts):
        if isinstance(s, ast.Return):
            out.append(s)
            return out, True
        if isinstance(s, ast.If) and _returns_via_ifs([s]):
            rest = _normalize(stmts[i + 1:], cont)
            body, b_ret = _normalize(s.body, rest)
            orelse, o_ret = _normalize(s.orelse, rest)
            out.append(ast.copy_location(ast.If(test=s.test, body=body or [ast.Pass()], orelse=orelse), s))
            return out, b_ret and o_ret
        out.append(s)
    block, ret = cont
    return out + copy.deepcopy(block), ret


def _size(stmts):
    return sum(1 for s in stmts for _ in ast.walk(s))


def _tail_returns(stmts, retval):
    last = stmts[-1]
    if isinstance(last, ast.Return):
        stmts[-1] = _assign(retval, last.value if last.value is not None else _const(None), last)
    elif isinstance(last, ast.If):
        _tail_returns(last.body, retval)
        _tail_returns(last.orelse, retval)


def normalize_returns(body, names):
    if not any(isinstance(s, ast.If) and _returns_via_ifs([s]) for s in body):
        return body
    end = ast.copy_location(ast.Return(value=None), body[-1])
    new, _ = _normalize(body, ([end], True))
    if _size(new) > 4 * _size(body) + 64:  # too much code copied into branches: leave them
        return body
    last = new[-1]
    if not (isinstance(last, ast.If) and _returns_via_ifs([last])):
        return new
    retval = names.new("retval_")
    _tail_returns(new, retval)
    new.append(ast.copy_location(ast.Return(value=_name(retval)), last))
    return new


# ---------------------------------------------------------------- pass 2: break / continue
def _has_jump(node, kind):
    """A break/continue (kind) of the loop around `node`: not inside a nested loop or scope."""
    if isinstance(node, kind):
        return True
    if isinstance(node, A.LOOPS):
        return any(_has_jump(s, kind) for s in node.orelse)
    if isinstance(node, A.SCOPES) or not isinstance(node, ast.stmt):
        return False
    children = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)]
    for handler in getattr(node, "handlers", ()):
        children += handler.body
    return any(_has_jump(c, kind) for c in children)


class _Jumps:
    def __init__(self, declared, names):
        self.declared, self.names = declared, names

    def block(self, stmts):
        out = []
        for s in stmts:
            out += self.stmt(s)
        return out

    def stmt(self, s):
        if isinstance(s, (ast.If, ast.With, ast.Try)):
            for f in ("body", "orelse", "finalbody"):
                if hasattr(s, f):
                    setattr(s, f, self.block(getattr(s, f)))
            for h in getattr(s, "handlers", ()):
                h.body = self.block(h.body)
            return [s]
        if not isinstance(s, (ast.While, ast.For)):
            return [s]
        s.body = self.block(s.body)
        s.orelse = self.block(s.orelse)
        if A.refusals(s, self.declared, own_jumps=True):
            return [s]  # stays a Python loop: its break and continue stay too
        brk = self.names.new("break_") if any(_has_jump(b, ast.Break) for b in s.body) else None
        cnt = self.names.new("continue_") if any(_has_jump(b, ast.Continue) for b in s.body) else None
        pre, post = [], list(s.orelse)
        if brk or cnt:
            s.body = self.guard(s.body, brk, cnt)
        if cnt:
            s.body.insert(0, _assign(cnt, _const(False), s))
        if brk:
            pre.append(_assign(brk, _const(False), s))
            if isinstance(s, ast.While):
                s.test = ast.copy_location(ast.BoolOp(op=ast.And(), values=[_not(brk), s.test]), s.test)
            else:
                s.ag_extra_test = _located([_not(brk)], s)[0]
            post = [ast.copy_location(ast.If(test=_not(brk), body=post, orelse=[]), s)] if post else []
        s.orelse = []
        return pre + [s] + _located(post, s)

    def guard(self, stmts, brk, cnt):
        """The block with its break/continue made flag assignments and what follows guarded."""
        out = []
        for i, s in enumerate(stmts):
            if isinstance(s, ast.Break):
                out.append(_assign(brk, _const(True), s))
                return out
            if isinstance(s, ast.Continue):
                out.append(_assign(cnt, _const(True), s))
                return out
            jb, jc = _has_jump(s, ast.Break), _has_jump(s, ast.Continue)
            if not (jb or jc):
                out.append(s)
                continue
            if isinstance(s, ast.If):
                s.body = self.guard(s.body, brk, cnt) or [ast.Pass()]
                s.orelse = self.guard(s.orelse, brk, cnt)
            elif isinstance(s, ast.With):
                s.body = self.guard(s.body, brk, cnt) or [ast.Pass()]
            out.append(s)
            rest = stmts[i + 1:]
            if rest:
                flags = [f for f, used in ((brk, jb), (cnt, jc)) if used]
                test = _not(flags[0]) if len(flags) == 1 else ast.BoolOp(op=ast.And(), values=[_not(f) for f in flags])
                out.append(_located([ast.If(test=test, body=self.guard(rest, brk, cnt), orelse=[])], rest[0])[0])
            return out
        return out


# ---------------------------------------------------------------- pass 3: control flow
class _Names:
    """Fresh names for the converter's variables, none a name of the user's code."""

    def __init__(self, taken):
        self.taken = set(taken)

    def new(self, base):
        n, k = base, 0
        while n in self.taken:
            k += 1
            n = f"{base}{k}"
        self.taken.add(n)
        return n

    def helper(self, base):  # a helper function's name: reused by every statement
        n = base
        while n in self.taken:
            n += "_"
        return n


def _all_names(node):
    out = {AG}
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
    return out


_FRAME_BUILTINS = {"super", "locals", "globals", "vars", "dir", "eval", "exec", "breakpoint"}


def _converted_call(node):
    """`f(a, *b, k=v, **kw)` as `ag__.converted_call(f, (a, *b), {'k': v, **kw})` (`None` for no
    keywords): f is converted when the call runs, if it is the user's (converted_call says)."""
    args = _tuple(node.args)
    if node.keywords:
        kw = ast.Dict(keys=[None if k.arg is None else _const(k.arg) for k in node.keywords],
                      values=[k.value for k in node.keywords])
    else:
        kw = _const(None)
    return _call(_ag("converted_call"), [node.func, args, kw])


class _Expr(ast.NodeTransformer):
    """The expression rewrites: `a if c else b`, and `super()` inside a method."""

    def __init__(self, fc):
        self.fc = fc

    def visit_IfExp(self, node):
        self.generic_visit(node)
        return ast.copy_location(_call(_ag("if_exp"), [self.fc.test(node.test, transformed=True), _lambda(node.body),
                                                        _lambda(node.orelse)], [("line", _const(node.lineno))]), node)

    def visit_Call(self, node):
        self.generic_visit(node)
        if (self.fc.super_args and isinstance(node.func, ast.Name) and node.func.id == "super"
                and not node.args and not node.keywords):
            node.args = [_name("__class__"), _name(self.fc.super_args)]
        if isinstance(node.func, ast.Name) and node.func.id in _FRAME_BUILTINS:
            return node  # reads the caller's frame: called where it is
        return ast.copy_location(_converted_call(node), node)

    def visit_FunctionDef(self, node):  # a nested function is converted as a statement
        return node

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef


class _Function:
    """Converts one function's body (a nested function gets its own)."""

    def __init__(self, node, names, shadowed, super_args=None):
        self.node = node
        self.names = names
        self.shadowed = shadowed
        self.super_args = super_args
        self.declared = {}
        for n in _own_scope_walk(node.body):
            if isinstance(n, (ast.Global, ast.Nonlocal)):
                for x in n.names:
                    self.declared[x] = "global" if isinstance(n, ast.Global) else "nonlocal"
        self.live = A.Liveness()
        self.depth = 0  # inside how many branch / loop functions

    def convert(self):
        node = self.node
        body = normalize_returns(node.body, self.names)
        body = _Jumps(self.declared, self.names).block(body)
        for s in body:  # the names the passes wrote take their statement's line
            ast.fix_missing_locations(s)
        self.closure = A.closure_reads(body)
        self.positions = A.binding_positions(body)
        self.local = A.binds(body) | A._args_names(node.args)
        params = A._args_names(node.args)
        new = copy.copy(node)
        new.body = self.block(body, set(), params, set(), None) or [ast.Pass()]
        return new

    # ---- expressions
    def expr(self, e):
        if e is None:
            return None
        return _Expr(self).visit(e)

    def test(self, e, transformed=False):
        """A test: `and`/`or`/`not` (and chained comparisons of simple operands) as operators."""
        if isinstance(e, ast.BoolOp):
            fn = "and_" if isinstance(e.op, ast.And) else "or_"
            vals = [self.test(v, transformed) for v in e.values]
            out = vals[-1]
            for v in reversed(vals[:-1]):
                out = _call(_ag(fn), [_lambda(v), _lambda(out)])
            return ast.copy_location(out, e)
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Not):
            return ast.copy_location(_call(_ag("not_"), [self.test(e.operand, transformed)]), e)
        if isinstance(e, ast.Compare) and len(e.ops) > 1 and all(
                isinstance(c, (ast.Name, ast.Constant)) for c in e.comparators[:-1]):
            left, parts = e.left, []
            for op, right in zip(e.ops, e.comparators):
                parts.append(ast.copy_location(ast.Compare(left=left, ops=[op], comparators=[right]), e))
                left = right
            return self.test(ast.copy_location(ast.BoolOp(op=ast.And(), values=parts), e), transformed)
        return e if transformed else self.expr(e)

    def stmt_exprs(self, s):
        """A statement that stays as it is, with its expressions rewritten."""
        return _Expr(self).visit(s)

    # ---- statements
    def block(self, stmts, out, defined, loop_binds, loop):
        afters, _ = self.live.after_each(stmts, out, loop)
        new = []
        defined = set(defined)
        for s, after in zip(stmts, afters):
            new += self.stmt(s, after | self.closure, defined, loop_binds, loop)
            defined |= A.definitely_bound(s)
        return new

    def helper_block(self, stmts, out, defined, loop_binds):
        """The body of a branch or loop function (where `x += v` threads values, see stmt)."""
        self.depth += 1
        try:
            return self.block(stmts, out, defined, loop_binds, None)
        finally:
            self.depth -= 1

    def stmt(self, s, after, defined, loop_binds, loop):
        if isinstance(s, ast.AugAssign) and isinstance(s.target, ast.Name) and self.depth:
            # `s += i` on a branch or loop variable: `s = s + i` (a graph value is threaded, not
            # written in place); Python's in-place operator on anything else (aug_assign says)
            call = _call(_ag("aug_assign"), [_name(s.target.id), _const(_AUG[type(s.op)]), self.expr(s.value)])
            return [ast.copy_location(ast.Assign(targets=[_name(s.target.id, True)], value=call), s)]
        if isinstance(s, ast.If):
            return self.if_(s, after, defined, loop_binds, loop)
        if isinstance(s, ast.While):
            return self.while_(s, after, defined, loop_binds, loop)
        if isinstance(s, ast.For):
            return self.for_(s, after, defined, loop_binds, loop)
        if isinstance(s, ast.FunctionDef):
            inner = _Function(s, self.names, self.shadowed, _first_param(s) if self.super_args else None)
            new = inner.convert()
            new.decorator_list = [self.expr(d) for d in s.decorator_list]
            return [new]
        if isinstance(s, ast.With):
            s.items = [ast.withitem(context_expr=self.expr(i.context_expr), optional_vars=i.optional_vars)
                       for i in s.items]
            s.body = self.block(s.body, after, defined, loop_binds, loop)
            return [s]
        if isinstance(s, ast.Try):
            keep = after | A._all_reads(s)  # an exception may leave the block anywhere
            s.body = self.block(s.body, keep, defined, loop_binds, loop)
            for h in s.handlers:
                h.body = self.block(h.body, keep, defined, loop_binds, loop)
            s.orelse = self.block(s.orelse, keep, defined, loop_binds, loop)
            s.finalbody = self.block(s.finalbody, after, defined, loop_binds, loop)
            return [s]
        return [self.stmt_exprs(s)]

    def _refused(self, s):
        why = A.refusals(s, self.declared, own_jumps=False)
        if not why:
            return None
        what, line = why[0]
        return f"{what} (line {line})" if line is not None else what

    def _state(self, s, names, defined, loop_binds):
        """The values passed in: a name, `ag__.Undefined('y')` if it cannot be assigned yet, or
        `ag__.ld(lambda: y, 'y')` if it may be."""
        here = (s.lineno, s.col_offset)
        out = []
        for n in names:
            if n in defined:
                out.append(_name(n))
            elif n in loop_binds or any(p[2] == n and p[:2] < here for p in self.positions):
                out.append(_call(_ag("ld"), [_lambda(_name(n)), _const(n)]))
            else:
                out.append(_call(_ag("Undefined"), [_const(n)]))
        return out

    def _order(self, names, stmts):
        first = {}
        for line, col, n in A.binding_positions(stmts):
            first.setdefault(n, (line, col))
            first[n] = min(first[n], (line, col))
        return sorted(names, key=lambda n: (first.get(n, (1 << 30, 0)), n))

    def _call_stmt(self, s, fn, args, state, defined, loop_binds, keywords=()):
        s = _Line(s)
        kw = list(keywords) + [("line", _const(s.lineno))]
        args = list(args)
        if state:
            args += [_tuple(self._state(s, state, defined, loop_binds)), _tuple([_const(n) for n in state])]
        call = _call(_ag(fn), args, kw)
        if state:
            return ast.copy_location(ast.Assign(targets=[_tuple([_name(n, True) for n in state], True)], value=call), s)
        return ast.copy_location(ast.Expr(value=call), s)

    def if_(self, s, after, defined, loop_binds, loop):
        why = self._refused(s)
        test = self.test(s.test)
        if why:
            test = _call(_ag("python_bool"), [test, _const("if"), _const(why)], [("line", _const(s.lineno))])
            new = ast.If(test=test, body=self.block(s.body, after, defined, loop_binds, loop),
                         orelse=self.block(s.orelse, after, defined, loop_binds, loop))
            return _located([new], s)
        mods = A.binds(s.body + s.orelse)
        live = after | self.live.block(s.body, after) | self.live.block(s.orelse, after)
        state = self._order(mods & live, s.body + s.orelse)
        ret = ast.Return(value=_tuple([_name(n) for n in state]))
        body = _def(self.names.helper("if_body"), state,
                    self.helper_block(s.body, set(state) | self.closure, set(state), loop_binds) + [ret], s)
        out = [body]
        orelse = _const(None)
        if s.orelse:
            out.append(_def(self.names.helper("else_body"), state,
                            self.helper_block(s.orelse, set(state) | self.closure, set(state), loop_binds)
                            + [copy.deepcopy(ret)], s.orelse[0]))
            orelse = _name(out[-1].name)
        out.append(self._call_stmt(s, "if_stmt", [test, _name(body.name), orelse], state, defined, loop_binds))
        return _located(out, s)

    def while_(self, s, after, defined, loop_binds, loop):
        why = self._refused(s)
        head = self.live.loop_head(s, after, loop)
        mods = A.binds(s.body) | A.binds(s.test)
        if why:
            test = _call(_ag("python_bool"), [self.test(s.test), _const("while"), _const(why)],
                         [("line", _const(s.lineno))])
            new = ast.While(test=test, body=self.block(s.body, head, defined, loop_binds | mods, (after, head)),
                            orelse=self.block(s.orelse, after, defined, loop_binds, loop))
            return _located([new], s)
        state = self._order(mods & (head | self.closure), s.body)
        ret = ast.Return(value=_tuple([_name(n) for n in state]))
        test = _def(self.names.helper("loop_test"), state, [ast.Return(value=self.test(s.test))], s)
        body = _def(self.names.helper("loop_body"), state,
                    self.helper_block(s.body, set(state) | self.closure, set(state), loop_binds | mods) + [ret], s)
        call = self._call_stmt(s, "while_stmt", [_name(test.name), _name(body.name)], state, defined, loop_binds)
        return _located([test, body, call], s)

    def _iter(self, e):
        if (isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == "range"
                and "range" not in self.shadowed and "range" not in self.local and not e.keywords
                and not any(isinstance(a, ast.Starred) for a in e.args)):
            return ast.copy_location(_call(_ag("range_"), [self.expr(a) for a in e.args]), e)
        return self.expr(e)

    def for_(self, s, after, defined, loop_binds, loop):
        why = self._refused(s)
        head = self.live.loop_head(s, after, loop)
        tnames = A.target_names(s.target)
        mods = A.binds(s.body) | tnames
        it = self._iter(s.iter)
        if why:
            it = _call(_ag("python_iter"), [it, _const(why)], [("line", _const(s.lineno))])
            new = ast.For(target=s.target, iter=it,
                          body=self.block(s.body, head, defined | tnames, loop_binds | mods, (after, head)),
                          orelse=self.block(s.orelse, after, defined, loop_binds, loop), type_comment=None)
            return _located([new], s)
        state = self._order(mods & (head | self.closure), s.body)
        if isinstance(s.target, ast.Name) and s.target.id not in state:
            params, pre = [s.target.id] + state, []
        else:
            item = self.names.new("itr")
            params = [item] + state
            pre = [ast.copy_location(ast.Assign(targets=[s.target], value=_name(item)), s)]
        ret = ast.Return(value=_tuple([_name(n) for n in state]))
        inner = self.helper_block(s.body, set(state) | self.closure, set(params) | tnames, loop_binds | mods)
        body = _def(self.names.helper("loop_body"), params, pre + inner + [ret], s)
        out = [body]
        kw = []
        extra = getattr(s, "ag_extra_test", None)
        if extra is not None:
            out.insert(0, _def(self.names.helper("extra_test"), state, [ast.Return(value=self.test(extra))], s))
            kw.append(("extra_test", _name(out[0].name)))
        out.append(self._call_stmt(s, "for_stmt", [it, _name(body.name)], state, defined, loop_binds, kw))
        return _located(out, s)


_AUG = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
        ast.Pow: "**", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
        ast.LShift: "<<", ast.RShift: ">>"}


class _Line:
    """The first line of a statement, as a location."""

    def __init__(self, s):
        self.lineno, self.col_offset = s.lineno, s.col_offset
        self.end_lineno, self.end_col_offset = s.lineno, s.col_offset
        self._attributes = ("lineno", "col_offset", "end_lineno", "end_col_offset")


def _own_scope_walk(body):
    stack = list(body)
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, A.SCOPES):
            continue
        stack.extend(ast.iter_child_nodes(n))


def _first_param(fn):
    a = fn.args.posonlyargs + fn.args.args
    return a[0].arg if a else None


# ---------------------------------------------------------------- from a function to its conversion
LAMBDA_NAME = "__ag_lambda__"  # the name a converted lambda's def is compiled under
CONVERTED_NAME = "__ag_converted__"  # the name every converted def is compiled under


# the line a def, a lambda or a decorator starts on (inspect.findsource's search, Python 3.11)
_DEF_LINE = re.compile(r"^(\s*def\s)|(\s*async\s+def\s)|(.*(?<!\w)lambda(:|\s))|^(\s*@)")


def _source_lines(code, module_globals):
    """inspect.getsourcelines(code) without inspect.getmodule, which walks every module in
    sys.modules (realpath of each file: tens of ms of a first dg.function call): the file's
    lines from linecache (which reads a notebook cell or a zip import too), then the block
    from the code's first line. None where there is no source."""
    filename = code.co_filename
    linecache.checkcache(filename)   # (a file edited since: its new lines, as inspect)
    lines = linecache.getlines(filename, module_globals)
    lnum = code.co_firstlineno - 1
    if not lines or not 0 <= lnum < len(lines):
        return None
    while lnum > 0 and not _DEF_LINE.match(lines[lnum]):
        lnum -= 1
    try:
        return inspect.getblock(lines[lnum:]), lnum + 1
    except (SyntaxError, IndexError):   # (tokenize's errors on a broken file)
        return None


def _parse(fn):
    """The function's FunctionDef, its file and first line, or None when its source cannot be
    read (a lambda, a builtin, code made by exec, an async function)."""
    code = getattr(fn, "__code__", None)
    if code is None or not isinstance(fn, types.FunctionType):
        return None
    if code.co_flags & (inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR):
        return None
    found = _source_lines(code, fn.__globals__)  # its own code: a wrapper is not unwrapped
    if found is None:
        return None
    lines, start = found
    src = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return None
    ast.increment_lineno(tree, start - 1)
    if code.co_name == "<lambda>":
        node = _lambda_def(tree, code)
        return None if node is None else (node, code.co_filename)
    if not tree.body or not isinstance(tree.body[0], ast.FunctionDef) or tree.body[0].name != code.co_name:
        return None
    return tree.body[0], code.co_filename


def _lambda_def(tree, code):
    """The lambda of `code` as a def returning its body (`dg.function(lambda x: model(x))`), when
    it is the only lambda on its line with its parameters; else None (converted as it is)."""
    params = list(code.co_varnames[:code.co_argcount + code.co_kwonlyargcount])
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda) and n.lineno == code.co_firstlineno
             and [a.arg for a in n.args.posonlyargs + n.args.args + n.args.kwonlyargs] == params]
    if len(found) != 1:
        return None
    lam = found[0]
    node = ast.FunctionDef(name=LAMBDA_NAME, args=lam.args, body=[ast.Return(value=lam.body)],
                           decorator_list=[], returns=None, type_comment=None)
    if hasattr(node, "type_params"):
        node.type_params = []
    return ast.copy_location(node, lam)


def _transform(fn):
    parsed = _parse(fn)
    if parsed is None:
        return None
    node, filename = parsed
    node.decorator_list = []
    code = fn.__code__
    shadowed = set()
    if "range" in fn.__globals__ or "range" in code.co_freevars:
        shadowed.add("range")
    names = _Names(_all_names(node))
    super_args = _first_param(node) if "__class__" in code.co_freevars else None
    new = _Function(node, names, shadowed, super_args).convert()
    ast.fix_missing_locations(new)
    return new, filename


def _compile(fn, new, filename):
    """The code object of the converted def, compiled inside a factory whose locals are the
    original's free variables (so that they stay free variables, to be given the original's
    cells), and its source."""
    free = list(fn.__code__.co_freevars)
    source = ast.unparse(new)
    new = _signature_only(copy.deepcopy(new))
    # compiled under a name of its own: under the def's name, a recursive call would become a
    # free variable of the factory, not the global (or closure cell) the original reads
    new.name = CONVERTED_NAME
    factory = ast.FunctionDef(
        name="__ag_factory__", args=_arguments([]), decorator_list=[], returns=None, type_comment=None,
        body=[ast.Assign(targets=[_name(n, True)], value=_const(None)) for n in [AG] + free]
        + [new, ast.Return(value=_name(new.name))])
    if hasattr(factory, "type_params"):
        factory.type_params = []
    mod = ast.Module(body=[factory], type_ignores=[])
    _located([factory], new)
    ast.fix_missing_locations(mod)
    ns = {}
    exec(compile(mod, filename, "exec"), ns)  # noqa: S102 - the user's own code, rewritten
    inner = next(c for c in ns["__ag_factory__"].__code__.co_consts
                 if isinstance(c, types.CodeType) and c.co_name == new.name)
    code = fn.__code__  # tracebacks name the user's function
    names = {"co_name": code.co_name}
    if hasattr(code, "co_qualname"):  # Python 3.11+
        names["co_qualname"] = code.co_qualname
    inner = inner.replace(**names)
    return inner, source


def _build(fn, inner, source):
    """The converted function: the new code with the original's globals, closure cells and
    defaults (it holds no reference to `fn`, so the cache does not keep `fn` alive)."""
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
    closure = tuple(types.CellType(operators) if n == AG else cells[n] for n in inner.co_freevars)
    out = types.FunctionType(inner, fn.__globals__, fn.__name__, fn.__defaults__, closure)
    out.__kwdefaults__ = copy.copy(fn.__kwdefaults__)
    functools.update_wrapper(out, fn)
    del out.__wrapped__
    out.__autograph_source__ = source
    return out


def _signature_only(fn):
    """The def without what its header evaluates (defaults, annotations): the factory's
    namespace is empty, and the original's defaults are given to the new function."""
    a = fn.args
    a.defaults = [_const(None) for _ in a.defaults]
    a.kw_defaults = [None if d is None else _const(None) for d in a.kw_defaults]
    for x in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg]:
        if x is not None:
            x.annotation = None
    fn.returns = None
    return fn


def _conversion(fn):
    """fn converted, or None where its source cannot be read: transformed and compiled once
    per code object, made a function once per function object."""
    if not isinstance(fn, types.FunctionType):
        return None
    hit = _CACHE.get(fn, _NO_SOURCE)
    if hit is not _NO_SOURCE:
        return hit
    code = fn.__code__
    compiled = _CODES.get(code, _NO_SOURCE)
    if compiled is _NO_SOURCE:
        try:
            got = _transform(fn)
            compiled = _compile(fn, *got) if got is not None else None
        except Exception:  # noqa: BLE001 - what the converter cannot handle runs as it is
            compiled = None
        _CODES[code] = compiled
        if compiled is not None:
            _mark_converted(compiled[0])
    out = _CACHE[fn] = _build(fn, *compiled) if compiled is not None else None
    return out


def _mark_converted(code):
    """Remember the converted code and the code of the functions it defines (nested functions,
    branch and loop bodies): converted_call calls them as they are."""
    _CONVERTED.add(code)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _mark_converted(c)


def converted_or_original(fn):
    """`fn` converted (once; cached), or `fn` itself when its source cannot be read. A bound
    method is converted through its function and bound again; another callable (an nn.Module,
    a functools.partial, an object with a `__call__`) is called through converted_call."""
    if isinstance(fn, types.MethodType):
        conv = _conversion(fn.__func__)
        return fn if conv is None else types.MethodType(conv, fn.__self__)
    if isinstance(fn, types.FunctionType):
        conv = _conversion(fn)
        return fn if conv is None else conv
    if isinstance(fn, type) or not callable(fn):
        return fn
    return _Calling(fn)


class _Calling:
    """A callable object, called through converted_call (what dg.function traces for it)."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args, **kwargs):
        return converted_call(self.fn, args, kwargs)


# ---------------------------------------------------------------- calls in converted code
# What converted_call never converts: code of these top-level packages (dualgraph itself, numpy,
# and the standard library, below) and of installed packages (site-packages).
_LIBRARIES = {"dualgraph", "numpy", "scipy", "networkx", "pytest", "_pytest", "pluggy"}
_STDLIB = set(getattr(sys, "stdlib_module_names", ())) | {"builtins", "__future__"}
_MODULE = "dualgraph.nn.module"  # nn.Module, recognized without importing nn (layering)


# dualgraph's own code that calls the user's (the modules of a Sequential): converted like it
_CALLS_USERS = {("dualgraph.nn.layers.container", "Sequential.forward")}
# dualgraph's modules written as a user's code (the comparison's built-in workloads): converted
# when reached from converted code, as they are when given to dg.function directly
_WRITTEN_AS_USERS = {"dualgraph.compare.workloads"}


def _users(fn):
    """Whether fn (a Python function) is the user's: neither a library's nor converted code."""
    code = fn.__code__
    if code in _CONVERTED:
        return False
    mod = fn.__module__ or fn.__globals__.get("__name__") or ""
    if (mod, fn.__qualname__) in _CALLS_USERS or mod in _WRITTEN_AS_USERS:
        return True
    top = mod.partition(".")[0]
    if top in _LIBRARIES or top in _STDLIB:
        return False
    path = code.co_filename
    return not ("site-packages" in path or "dist-packages" in path)


def _call_converted(fn, args, kwargs):
    conv = _conversion(fn) if _users(fn) else None
    return (conv or fn)(*args, **kwargs)


def _module_class(cls):
    for c in cls.__mro__:
        if c.__name__ == "Module" and c.__module__ == _MODULE:
            return c
    return None


def _call_module(m, base, args, kwargs):
    """m(*args, **kwargs) with the forward of m's class converted, through Module.__call__ (its
    hooks run as they do for the original forward): the converted forward is m's own attribute
    `forward` for the call (what Module.__call__ calls), then removed."""
    fwd = type(m).forward
    if ("forward" in m.__dict__ or not isinstance(fwd, types.FunctionType) or fwd is base.forward
            or not _users(fwd)):
        return m(*args, **kwargs)
    conv = _conversion(fwd)
    if conv is None:
        return m(*args, **kwargs)
    m.__dict__["forward"] = types.MethodType(conv, m)
    try:
        return m(*args, **kwargs)
    finally:
        m.__dict__.pop("forward", None)


def converted_call(f, args, kwargs=None):
    """What converted code calls for `f(*args, **kwargs)` (TensorFlow's `converted_call`): f
    converted when it is the user's Python code (once per code object, cached), else f as it is.

    Converted: Python functions of the user (not dualgraph's, numpy's, the standard library's or an
    installed package's), a bound method's function (bound again), a functools.partial's function,
    an nn.Module's `forward` (a user subclass's: see _call_module), the `__call__` of an object of a
    user class. As they are: builtins and C functions, classes (constructors), dualgraph's own
    functions and methods, lambdas and code made by exec (no source), converted code, and
    anything the converter fails on."""
    if kwargs is None:
        kwargs = {}
    if isinstance(f, types.FunctionType):
        return _call_converted(f, args, kwargs)
    if isinstance(f, types.MethodType):
        fn = f.__func__
        if isinstance(fn, types.FunctionType) and _users(fn):
            conv = _conversion(fn)
            if conv is not None:
                return conv(f.__self__, *args, **kwargs)
        return f(*args, **kwargs)
    if isinstance(f, functools.partial):
        return converted_call(f.func, f.args + tuple(args), {**f.keywords, **kwargs})
    if isinstance(f, (type, types.BuiltinFunctionType, types.BuiltinMethodType)):
        return f(*args, **kwargs)
    cls = type(f)
    base = _module_class(cls)
    if base is not None and cls.__call__ is base.__call__:
        return _call_module(f, base, args, kwargs)
    call = getattr(cls, "__call__", None)
    if isinstance(call, types.FunctionType) and _users(call):
        conv = _conversion(call)
        if conv is not None:
            return conv(f, *args, **kwargs)
    return f(*args, **kwargs)


operators.converted_call = converted_call  # converted code reaches it as `ag__.converted_call`


def convert(fn):
    """`dg.autograph.convert(fn)`: the converted function (usable as a decorator; a method is
    converted through its function). Raises if the source of `fn` cannot be read."""
    target = _target(fn)
    conv = _conversion(target)
    if conv is None:
        raise DGValueError(f"dg.autograph cannot convert {fn!r}: its source is not available "
                           "(a lambda, a builtin, or code made by exec)")
    return types.MethodType(conv, fn.__self__) if isinstance(fn, types.MethodType) else conv


def _target(fn):
    """The Python function behind fn: itself, a method's function, a dg.function's function."""
    if isinstance(fn, types.MethodType):
        return fn.__func__
    if isinstance(fn, types.FunctionType):
        return fn
    inner = getattr(fn, "_func", None) or getattr(fn, "fn", None)  # a dg.function (or its method)
    return fn if inner is None else _target(inner)


def to_code(fn):
    """The converted source of `fn` (a function, a method or a `dg.function`), as a string."""
    if not callable(fn):
        raise DGTypeError(f"dg.autograph.to_code expects a function, got {type(fn).__name__}")
    return convert(_target(fn)).__autograph_source__
