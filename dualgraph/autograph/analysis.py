"""The static analyses the converter needs, on a function's own scope (nested functions, lambdas,
classes and comprehensions are scopes of their own):

- `reads(node)`: the names an expression or statement reads;
- `binds(stmts)`: the names a block assigns (the variables a converted statement may modify);
- `Liveness`: the names live after each statement (a statement's outputs are the names it
  modifies that are live after it), conservative: a statement it does not model keeps every
  name live and kills none, so an output is never missed;
- `definitely_bound(stmt)`: the names a statement assigns on every path (forward);
- `refusals(stmt)`: the constructs that keep a statement from becoming a graph op.
"""
import ast

SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
LOOPS = (ast.For, ast.While, ast.AsyncFor)


def target_names(t):
    """The names an assignment target binds (not the bases of attributes or subscripts)."""
    if isinstance(t, ast.Name):
        return {t.id}
    if isinstance(t, (ast.Tuple, ast.List)):
        out = set()
        for e in t.elts:
            out |= target_names(e)
        return out
    if isinstance(t, ast.Starred):
        return target_names(t.value)
    return set()


def _target_reads(t):
    """What an assignment target reads: the bases and indices of attributes and subscripts."""
    if isinstance(t, ast.Name):
        return set()
    if isinstance(t, (ast.Tuple, ast.List)):
        out = set()
        for e in t.elts:
            out |= _target_reads(e)
        return out
    if isinstance(t, ast.Starred):
        return _target_reads(t.value)
    return reads(t)


def _args_names(args):
    a = args.posonlyargs + args.args + args.kwonlyargs
    out = {x.arg for x in a}
    if args.vararg:
        out.add(args.vararg.arg)
    if args.kwarg:
        out.add(args.kwarg.arg)
    return out


class _Reads(ast.NodeVisitor):
    def __init__(self):
        self.names = set()

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load):
            self.names.add(node.id)

    def visit_Lambda(self, node):
        for d in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            self.visit(d)
        self.names |= reads(node.body) - _args_names(node.args)

    def _comp(self, node):
        bound = set()
        for g in node.generators:
            bound |= target_names(g.target)
        inner = set()
        for g in node.generators:
            inner |= reads(g.iter) | reads(list(g.ifs))
        parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        for p in parts:
            inner |= reads(p)
        # the first iterable is read in the enclosing scope; the rest may read the targets
        self.names |= reads(node.generators[0].iter) | (inner - bound)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comp

    def visit_FunctionDef(self, node):
        for d in node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            self.visit(d)
        self.names |= free_reads(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        for d in node.decorator_list + node.bases + [k.value for k in node.keywords]:
            self.visit(d)
        for s in node.body:
            self.visit(s)


def reads(node):
    """The names `node` (an expression, a statement or a list of them) reads in this scope."""
    v = _Reads()
    for n in node if isinstance(node, list) else [node]:
        if n is not None:
            v.visit(n)
    return v.names


def free_reads(fn):
    """The names a nested function reads from outside (approximately: what it reads and does
    not bind itself)."""
    inner = reads(fn.body)
    return inner - binds(fn.body) - _args_names(fn.args)


def closure_reads(body):
    """Names that nested functions and lambdas anywhere in `body` read: a value they may read
    later, when called, so the converter keeps them live everywhere."""
    out = set()

    class V(ast.NodeVisitor):
        def visit_FunctionDef(self, node):
            out.update(free_reads(node))
            self.generic_visit(node)

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_Lambda(self, node):
            out.update(reads(node.body) - _args_names(node.args))
            self.generic_visit(node)

    for s in body:
        V().visit(s)
    return out


class _Binds(ast.NodeVisitor):
    def __init__(self):
        self.names = set()

    def visit_Name(self, node):
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.names.add(node.id)

    def visit_NamedExpr(self, node):
        self.names |= target_names(node.target)
        self.visit(node.value)

    def visit_FunctionDef(self, node):
        self.names.add(node.name)
        for d in node.decorator_list + node.args.defaults:
            self.visit(d)

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def visit_Lambda(self, node):
        pass

    def _comp(self, node):  # own scope (but a := inside binds in this one)
        for n in ast.walk(node):
            if isinstance(n, ast.NamedExpr):
                self.names |= target_names(n.target)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comp

    def visit_Import(self, node):
        for a in node.names:
            self.names.add((a.asname or a.name).split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node):
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node):
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node):
        if node.name:
            self.names.add(node.name)

    def visit_MatchMapping(self, node):
        if node.rest:
            self.names.add(node.rest)
        self.generic_visit(node)


def binds(node):
    """The names a statement or block (or expression) assigns in this scope."""
    v = _Binds()
    for n in node if isinstance(node, list) else [node]:
        v.visit(n)
    return v.names


def binding_positions(body):
    """(lineno, col, name) of every binding in the function's own scope, for "was it possibly
    assigned before this point"."""
    out = []

    def add(node, names):
        for n in names:
            out.append((getattr(node, "lineno", 0), getattr(node, "col_offset", 0), n))

    class V(_Binds):
        def visit_Name(self, node):
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                add(node, [node.id])

        def visit_NamedExpr(self, node):
            add(node, target_names(node.target))
            self.visit(node.value)

        def visit_FunctionDef(self, node):
            add(node, [node.name])

        visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

        def _comp(self, node):
            for n in ast.walk(node):
                if isinstance(n, ast.NamedExpr):
                    add(n, target_names(n.target))

        visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comp

        def visit_Import(self, node):
            add(node, [(a.asname or a.name).split(".")[0] for a in node.names])

        visit_ImportFrom = visit_Import

        def visit_ExceptHandler(self, node):
            if node.name:
                add(node, [node.name])
            self.generic_visit(node)

    for s in body:
        V().visit(s)
    return out


# ---------------------------------------------------------------- liveness
class Liveness:
    """Backward liveness over a block; `loop` is (live after the loop, live at its head) for
    the innermost enclosing loop (break and continue)."""

    def block(self, stmts, out, loop=None):
        live = set(out)
        for s in reversed(stmts):
            live = self.stmt(s, live, loop)
        return live

    def after_each(self, stmts, out, loop=None):
        """[live after stmts[i]] for each i, and the live set before the block."""
        live = set(out)
        afters = [None] * len(stmts)
        for i in range(len(stmts) - 1, -1, -1):
            afters[i] = live
            live = self.stmt(stmts[i], live, loop)
        return afters, live

    def loop_head(self, s, out, loop=None):
        """The names live at the head of loop `s` (tested, or the target assigned, there)."""
        if isinstance(s, ast.While):
            head = set(out) | reads(s.test) | self.block(s.orelse, out, loop)
            while True:
                new = head | self.block(s.body, head, (out, head))
                if new == head:
                    return head
                head = new
        tnames = target_names(s.target)
        head = set(out) | self.block(s.orelse, out, loop)
        while True:
            new = head | (self.block(s.body, head, (out, head)) - tnames) | _target_reads(s.target)
            if new == head:
                return head
            head = new

    def stmt(self, s, out, loop):
        if isinstance(s, ast.Assign):
            kill = set().union(*[target_names(t) for t in s.targets])
            return (out - kill) | reads(s.value) | set().union(*[_target_reads(t) for t in s.targets])
        if isinstance(s, ast.AnnAssign):
            if s.value is None:
                return set(out)
            return (out - target_names(s.target)) | reads(s.value) | _target_reads(s.target)
        if isinstance(s, ast.AugAssign):
            return out | reads(s.value) | _target_reads(s.target) | target_names(s.target)
        if isinstance(s, ast.If):
            return reads(s.test) | self.block(s.body, out, loop) | self.block(s.orelse, out, loop)
        if isinstance(s, ast.While):
            return self.loop_head(s, out, loop)
        if isinstance(s, ast.For):
            return reads(s.iter) | self.loop_head(s, out, loop)
        if isinstance(s, ast.Break):
            return out | (loop[0] if loop else set())
        if isinstance(s, ast.Continue):
            return out | (loop[1] if loop else set())
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return (out - {s.name}) | reads(s)
        if isinstance(s, ast.ClassDef):
            return (out - {s.name}) | reads(s)
        if isinstance(s, (ast.Import, ast.ImportFrom)):
            return out - binds(s)
        if isinstance(s, ast.With):
            return self.block(s.body, out, loop) | reads([i.context_expr for i in s.items]) | \
                set().union(*[_target_reads(i.optional_vars) for i in s.items if i.optional_vars])
        if isinstance(s, (ast.Expr, ast.Return, ast.Raise, ast.Assert, ast.Delete, ast.Pass,
                          ast.Global, ast.Nonlocal)):
            return out | reads(s)
        # try, match, async statements ...: every name they read stays live, none is killed
        return out | _all_reads(s) | (loop[0] | loop[1] if loop else set())


def _all_reads(s):
    out = set()
    for n in ast.walk(s):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            out.add(n.id)
    return out


# ---------------------------------------------------------------- definite assignment
def definitely_bound(s):
    """The names statement `s` assigns on every path through it."""
    if isinstance(s, (ast.Assign,)):
        return set().union(*[target_names(t) for t in s.targets])
    if isinstance(s, ast.AnnAssign):
        return target_names(s.target) if s.value is not None else set()
    if isinstance(s, ast.AugAssign):
        return target_names(s.target)
    if isinstance(s, ast.If):
        return block_definitely_bound(s.body) & block_definitely_bound(s.orelse) if s.orelse else set()
    if isinstance(s, ast.With):
        return block_definitely_bound(s.body) | set().union(
            *[target_names(i.optional_vars) for i in s.items if i.optional_vars])
    if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {s.name}
    if isinstance(s, (ast.Import, ast.ImportFrom)):
        return binds(s)
    if isinstance(s, ast.Try):
        return block_definitely_bound(s.finalbody)
    return set()


def block_definitely_bound(stmts):
    out = set()
    for s in stmts:
        out |= definitely_bound(s)
    return out


# ---------------------------------------------------------------- what cannot be converted
def refusals(s, declared, own_jumps):
    """[(what, line)] for the constructs inside compound statement `s` that keep it from
    becoming a graph op: return, yield, await, try, match, global/nonlocal names written, del of
    a name, :=, async statements, and break/continue of a loop outside `s` (or of `s` itself
    unless `own_jumps`: a loop whose own break/continue the converter rewrites)."""
    out = []

    def visit(node, loop_depth):
        for child in ast.iter_child_nodes(node):
            walk(child, loop_depth)

    def walk(n, loop_depth):
        if isinstance(n, SCOPES):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name in declared:
                out.append((f"an assignment to the {declared[n.name]} name {n.name!r}", n.lineno))
            return
        line = getattr(n, "lineno", None)
        if isinstance(n, ast.Return):
            out.append(("a `return`", line))
        elif isinstance(n, (ast.Yield, ast.YieldFrom)):
            out.append(("a `yield`", line))
        elif isinstance(n, ast.Await):
            out.append(("an `await`", line))
        elif isinstance(n, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            out.append(("a `try` statement", line))
        elif isinstance(n, getattr(ast, "Match", ())):
            out.append(("a `match` statement", line))
        elif isinstance(n, (ast.AsyncFor, ast.AsyncWith)):
            out.append(("an async statement", line))
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            out.append((f"a `{'global' if isinstance(n, ast.Global) else 'nonlocal'}` declaration", line))
        elif isinstance(n, ast.Delete) and any(isinstance(t, ast.Name) for t in n.targets):
            out.append(("a `del` of a variable", line))
        elif isinstance(n, ast.NamedExpr):
            out.append(("an assignment expression (:=)", line))
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id in declared:
            out.append((f"an assignment to the {declared[n.id]} name {n.id!r}", line))
        elif isinstance(n, (ast.Break, ast.Continue)) and loop_depth == 0:
            word = "break" if isinstance(n, ast.Break) else "continue"
            out.append((f"a `{word}` of a loop that AutoGraph leaves as Python", line))
        if isinstance(n, COMPREHENSIONS):
            for sub in ast.walk(n):
                if isinstance(sub, (ast.Yield, ast.YieldFrom, ast.Await, ast.NamedExpr)):
                    walk(sub, loop_depth)
            return
        if isinstance(n, LOOPS):
            for f in ("target", "iter", "test"):
                if getattr(n, f, None) is not None:
                    walk(getattr(n, f), loop_depth)
            for b in n.body:
                walk(b, loop_depth + 1)
            for b in n.orelse:
                walk(b, loop_depth)
            return
        visit(n, loop_depth)

    if isinstance(s, LOOPS):
        for f in ("target", "iter", "test"):
            if getattr(s, f, None) is not None:
                walk(getattr(s, f), 0)
        for b in s.body:
            walk(b, 0 if not own_jumps else 1)
        for b in s.orelse:
            walk(b, 0)
    else:
        visit(s, 0)
    return out
