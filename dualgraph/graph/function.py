"""@dg.function (alias dg.jit): trace a Python function into a graph, compile it, cache the
plan, and run the plan on later calls (TensorFlow's tf.function), keeping eager's semantics.

Tensor arguments become placeholders (their shapes, dtypes and requires_grad are part of the
signature; non-tensor arguments by value, or identity if unhashable). Tensors reached through
non-tensor arguments or closures (a module's parameters, an optimizer's state, .grad) are state,
captured *by reference*: the plan reads their memory at every call and its assigns write into
them, in program order, so eager code and the plan share state. Python state read while
tracing is lifted, guarded or refused (guards.py); `fn.explain()` says which is which.
"""
import functools
import inspect
import types
import warnings

import numpy as np

from ..errors import DGTypeError
from ..mode import executing_eagerly, graph_mode
from ..tensor import Tensor, _wrap
from .core import Graph, SymbolicTensor, placeholder
from .compiler import compile_graph
from .guards import Guards, lifting, is_plain_value

RETRACE_WARN_AFTER = 5

_SCALARS = (int, float, bool, str, type(None))


def _flatten(obj, tensors):
    """Replace tensors (and numpy arrays) by markers; return the hashable skeleton (the key
    of the trace cache). Kept lean: it runs at every call of a compiled function."""
    t = type(obj)
    if t in _SCALARS:
        return obj if t is not float else ("f", obj)  # 1 and 1.0 and True trace differently
    if isinstance(obj, Tensor):
        a = obj._data
        tensors.append(obj)
        if obj._rg:
            return ("T", a.shape, a.dtype, True, obj._grad is None)
        return ("T", a.shape, a.dtype)
    if t is np.ndarray:
        tensors.append(obj)
        return ("T", obj.shape, obj.dtype)
    if t is list or t is tuple:
        return (t,) + tuple([_flatten(x, tensors) for x in obj])
    if t is dict:
        return (dict,) + tuple([(k, _flatten(v, tensors)) for k, v in obj.items()])
    try:
        hash(obj)
        return ("V", t, obj)
    except TypeError:
        return ("id", t, id(obj))


def _rebuild(obj, feeds, counter):
    if isinstance(obj, (Tensor, np.ndarray)):
        t = feeds[counter[0]]
        counter[0] += 1
        return t
    if isinstance(obj, (list, tuple)):
        vals = [_rebuild(x, feeds, counter) for x in obj]
        return type(obj)(vals) if not hasattr(obj, "_fields") else type(obj)(*vals)
    if isinstance(obj, dict):
        return {k: _rebuild(v, feeds, counter) for k, v in obj.items()}
    return obj


def _module_cls():
    from ..nn.module import Module
    return Module


def _optimizer_cls():
    from ..optim.optimizer import Optimizer
    return Optimizer


def _roots(fn, args, kwargs, argnames):
    """(name, object) for everything a trace may read Python state from: the arguments, the
    closure, the globals its code names, the bound self."""
    out = []
    for i, a in enumerate(args):
        out.append((argnames[i] if i < len(argnames) else f"arg{i}", a))
    out += list(kwargs.items())
    code = getattr(fn, "__code__", None)
    cells = getattr(fn, "__closure__", None) or ()
    if code is not None:
        for name, c in zip(code.co_freevars, cells):
            try:
                out.append((name, c.cell_contents))
            except ValueError:
                pass
    owner = getattr(fn, "__self__", None)
    if owner is not None:
        out.append(("self", owner))
    glb = getattr(fn, "__globals__", None)
    if code is not None and glb is not None:
        for name in sorted(_code_names(code)):
            v = glb.get(name)
            if v is not None and not isinstance(v, (type, types.ModuleType, types.FunctionType,
                                                    types.BuiltinFunctionType)) and not is_plain_value(v):
                out.append((name, v))
    return out


def _code_names(code):
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _code_names(c)
    return names


class _Trace:
    __slots__ = ("graph", "plan", "out_structure", "post", "arg_grads", "arg_fetch", "lifted", "guards",
                 "reason", "names", "check")


class Function:
    def __init__(self, fn, optimize=True):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.optimize = optimize
        self._cache = {}          # signature -> [traces], each valid while its guards hold
        self._last_sig = None
        self._traces = []
        self.trace_count = 0
        try:
            self._argnames = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            self._argnames = []

    def __get__(self, obj, objtype=None):  # decorating methods
        if obj is None:
            return self
        bound = self.__dict__.setdefault("_bound", {})
        f = bound.get(id(obj))
        if f is None:
            f = bound[id(obj)] = Function(self.fn.__get__(obj, objtype), self.optimize)
        return f

    def _signature(self, args, kwargs):
        tensors = []
        sig = _flatten((tuple(args), dict(sorted(kwargs.items())) if kwargs else {}), tensors)
        return sig, tensors

    def _lookup(self, sig):
        for tr in self._cache.get(sig, ()):
            if tr.check():
                return tr
        return None

    def __call__(self, *args, **kwargs):
        if not executing_eagerly():
            return self.fn(*args, **kwargs)  # called while another graph is built: inline it
        sig, tensors = self._signature(args, kwargs)
        tr = self._lookup(sig)
        if tr is None:
            tr = self._trace(args, kwargs, sig)
        feeds = [t._data if isinstance(t, Tensor) else t for t in tensors]
        if tr.arg_grads:
            feeds += [tensors[i]._grad._data for i, has_old in tr.arg_grads.items() if has_old]
        for _, read, _ in tr.lifted:
            feeds.append(read())
        out = tr.plan.run_unchecked(feeds)
        for apply_post in tr.post:  # .grad as after the eager code: set, replaced or None
            apply_post()
        if tr.arg_fetch:  # arguments that require grad: their .grad accumulates, as eagerly
            n = len(out) - len(tr.arg_fetch)
            for i, v in zip(tr.arg_fetch, out[n:]):
                t = tensors[i]
                if t._grad is None:
                    t._grad = _wrap(np.array(v))
                else:
                    np.copyto(t._grad._data, v)
                    t._grad._bump()
        return _wrap_out(tr.out_structure, out)

    def feeds_for(self, *args, **kwargs):
        """The arrays the plan is called with for these arguments: the tensors, their old
        .grad where it accumulates, then the lifted Python numbers (read now)."""
        sig, tensors = self._signature(args, kwargs)
        tr = self._lookup(sig) or self._trace(args, kwargs, sig)
        feeds = [t._data if isinstance(t, Tensor) else t for t in tensors]
        feeds += [tensors[i]._grad._data for i, has_old in tr.arg_grads.items() if has_old]
        return feeds + [read() for _, read, _ in tr.lifted]

    def graph_for(self, *args, **kwargs):
        sig, _ = self._signature(args, kwargs)
        tr = self._lookup(sig) or self._trace(args, kwargs, sig)
        return tr.graph

    def plan_for(self, *args, **kwargs):
        sig, _ = self._signature(args, kwargs)
        tr = self._lookup(sig) or self._trace(args, kwargs, sig)
        return tr.plan

    # ---- tracing
    def _why(self, sig):
        """Why a new trace: the first call, a new signature, or the guard that failed."""
        if not self._traces:
            return "first call", None
        old = self._cache.get(sig)
        if old:
            fail = old[-1].guards.first_failure()
            if fail is not None:
                desc, was, now = fail
                return f"{desc} changed: {_short(was)} -> {_short(now)}", True
            return "guards no longer hold", True
        return _diff(self._last_sig, sig, self._argnames), False

    def _trace(self, args, kwargs, sig):
        reason, guard_failed = self._why(sig)
        name = getattr(self.fn, "__name__", "function")
        if guard_failed or (self._last_sig is not None and self.trace_count >= RETRACE_WARN_AFTER):
            hint = ("" if guard_failed else " Pass tensors (not Python numbers) for values that "
                    "change, and keep shapes fixed.")
            warnings.warn(f"dg.function retraces {name} (trace {self.trace_count + 1}): {reason}.{hint}",
                          UserWarning, stacklevel=3)
        g = Graph(name)
        guards = Guards()
        roots = _roots(self.fn, args, kwargs, self._argnames)
        modules, optimizers, names = _reachable(roots)
        tensors = []
        _flatten((tuple(args), kwargs), tensors)
        with graph_mode(g):
            feeds = [placeholder(_arr(t).shape, _arr(t).dtype, name=f"arg{i}") for i, t in enumerate(tensors)]
            for i, f in enumerate(feeds):  # refused targets of writes (builder.py says why)
                f.node.attrs["argument"] = self._argnames[i] if i < len(self._argnames) else f"#{i}"
            arg_grads = {}
            for i, (f, t) in enumerate(zip(feeds, tensors)):
                if isinstance(t, Tensor) and t.requires_grad:
                    f.requires_grad_(True)
                    if t._grad is not None:  # accumulates into it, as eagerly
                        f._grad = placeholder(t._grad._data.shape, t._grad._data.dtype, name=f"arg{i}_grad")
                    arg_grads[i] = t._grad is not None
            grad_feeds = [feeds[i]._grad for i, has in arg_grads.items() if has]
            a, k = _rebuild((tuple(args), kwargs), feeds, [0])
            before = _module_tensors(modules)
            g.trace = types.SimpleNamespace(guards=guards, optimizers=optimizers)
            with lifting(g, guards, list(optimizers)):
                result = self.fn(*a, **k)
            _refuse_symbolic_attributes(modules, before)
            flat = []
            structure = _out_structure(result, flat, g)
            post = _finish_grads(g, guards, names)
            arg_fetch = [i for i in arg_grads if feeds[i]._grad is not None]
            arg_outs = [feeds[i]._grad for i in arg_fetch]
        _, _, after = _reachable(roots)  # names for the state the trace created (optimizer slots)
        for k, v in after.items():
            names.setdefault(k, v)
        _guard_python_state(self.fn, roots, modules, optimizers, names, guards)
        tr = _Trace()
        tr.graph = g
        tr.guards = guards
        tr.check = guards.compile()
        tr.lifted = list(g.lifted)
        tr.arg_grads = arg_grads
        tr.arg_fetch = arg_fetch
        tr.post = post
        tr.names = names
        tr.reason = reason
        fetch = flat + arg_outs
        plan_feeds = feeds + grad_feeds + [s for s, _, _ in g.lifted]
        tr.plan = compile_graph(g, fetch, feeds=plan_feeds, optimize=self.optimize, updates=g.updates)
        used = {st.name for st in tr.plan.steps}
        # read only what the plan uses (a number that decided only a Python branch is guarded)
        tr.lifted = [x if x[0].name in used else (x[0], _unused, None) for x in g.lifted]
        tr.out_structure = structure
        self._cache.setdefault(sig, []).append(tr)
        self._traces.append(tr)
        self._last_sig = sig
        self.trace_count += 1
        return tr

    def explain(self, print_it=True, verbose=False):
        """Each trace: why it happened, its inputs, what was lifted (read at every call), what
        is guarded (a change retraces) and which state the plan reads and writes. The guards
        that the held tensors and modules are still the traced ones are counted, not listed,
        unless verbose."""
        lines = [f"dg.function {getattr(self.fn, '__name__', 'function')}: {self.trace_count} trace(s)"]
        for n, tr in enumerate(self._traces, 1):
            g = tr.graph
            lines.append(f"trace {n}: {tr.reason}")
            phs = [x for x in tr.plan.feeds if "lifted" not in x.attrs]
            lines.append("  inputs:   " + (", ".join(f"{x.name} {_fmt(x.attrs['shape'])} {x.attrs['dtype']}" for x in phs) or "none"))
            lifted = [f"{w} (now {_short(read().item())})" for _, read, w in tr.lifted if w is not None]
            lines.append("  lifted (read at every call, no retrace): " + (", ".join(lifted) or "none"))
            lines.append(f"  guarded (a change retraces): {len(tr.guards.items)}")
            hidden = 0
            for desc, _, val in tr.guards.items:
                if not verbose and (desc.endswith(" traced") or desc.startswith(("the keys of", "len("))
                                    or "(lifted)" in desc or "['params']" in desc):
                    hidden += 1
                    continue
                lines.append(f"    {desc}: {_short(val)}")
            if hidden:
                lines.append(f"    ... and {hidden} on identities (the tensors, modules and optimizer "
                             "state held are the ones traced) and lifted types: explain(verbose=True)")
            written = {id(u.attrs['ref']) for u in g.updates}
            caps = []
            for st in g._states.values():
                nm = tr.names.get(id(st.ref)) or st.handle.name
                caps.append(nm + (" (written)" if id(st.ref) in written else ""))
            lines.append(f"  captured state ({len(caps)}): " + (", ".join(caps) or "none"))
            lines.append(f"  plan: {tr.plan.stats.get('steps', '?')} steps, {len(g.updates)} writes")
        text = "\n".join(lines)
        if print_it:
            print(text)
        return text


_ZERO = np.float64(0.0)


def _unused():
    return _ZERO  # the feed of a lifted number the plan pruned away


def _fmt(shape):
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _short(v):
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _reachable(roots):
    """Modules and optimizers reachable from the roots (one container level deep), and a
    name for every tensor they hold (for guard messages and explain())."""
    Module, Optimizer = _module_cls(), _optimizer_cls()
    modules, optimizers, names = [], [], {}
    seen = set()

    def visit(name, obj, depth=0):
        if id(obj) in seen:
            return
        if isinstance(obj, Module):
            seen.add(id(obj))
            modules.append((obj, name))
            for mname, m in obj.named_modules():
                pre = f"{name}.{mname}" if mname else name
                for pn, p in m._parameters.items():
                    if p is not None:
                        names.setdefault(id(p), f"{pre}.{pn}")
                for bn, b in m._buffers.items():
                    if b is not None:
                        names.setdefault(id(b), f"{pre}.{bn}")
        elif isinstance(obj, Optimizer):
            seen.add(id(obj))
            optimizers.append((obj, name))
        elif depth == 0 and isinstance(obj, (list, tuple)):
            for i, x in enumerate(obj):
                visit(f"{name}[{i}]", x, 1)
        elif depth == 0 and isinstance(obj, dict):
            for key, x in obj.items():
                visit(f"{name}[{key!r}]", x, 1)
        elif depth == 0 and isinstance(obj, Tensor):
            names.setdefault(id(obj), name)
        elif depth == 0 and hasattr(obj, "__dict__") and not isinstance(obj, (type, types.ModuleType, types.FunctionType)):
            seen.add(id(obj))
            for key, x in list(vars(obj).items()):
                visit(f"{name}.{key}", x, 1)

    for name, obj in roots:
        visit(name, obj)
    for opt, oname in optimizers:
        for gi, group in enumerate(opt.param_groups):
            for pi, p in enumerate(group["params"]):
                pn = names.setdefault(id(p), f"{oname}.param_groups[{gi}]['params'][{pi}]")
                for k, v in opt.state.get(p, {}).items() if hasattr(opt.state, "get") else ():
                    if isinstance(v, Tensor):
                        names.setdefault(id(v), f"{oname}.state[{pn}][{k!r}]")
    return modules, optimizers, names


def _module_tensors(modules):
    """(store, key, value) of every tensor attribute of the modules (restored on a refusal)."""
    out = []
    for mod, _ in modules:
        for m in mod.modules():
            for store in (m.__dict__, m._parameters, m._buffers):
                out += [(store, k, v) for k, v in store.items() if isinstance(v, (Tensor, SymbolicTensor))]
    return out


def _refuse_symbolic_attributes(modules, before):
    """`self.h = h` inside a traced forward: a Python assignment the plan cannot replay."""
    for mod, mname in modules:
        for sub, m in mod.named_modules():
            for store in (m.__dict__, m._parameters, m._buffers):
                for k, v in store.items():
                    if isinstance(v, SymbolicTensor):
                        where = f"{mname}.{sub}.{k}" if sub else f"{mname}.{k}"
                        for st, key, old in before:  # leave the modules as they were
                            st[key] = old
                        raise DGTypeError(
                            f"{where} was assigned a new tensor inside a function traced by "
                            "dg.function; the compiled plan cannot replay a Python assignment. "
                            f"Write into the tensor instead ({where}.copy_(value), under "
                            "dg.no_grad() for a state such as an RNN's hidden state), or keep the "
                            "value out of the module and return it.")


def _guard_python_state(fn, roots, modules, optimizers, names, guards):
    """Guards on the Python values the trace may have depended on."""
    code = getattr(fn, "__code__", None)
    cells = getattr(fn, "__closure__", None) or ()
    if code is not None:
        for name, c in zip(code.co_freevars, cells):
            try:
                v = c.cell_contents
            except ValueError:
                continue
            if is_plain_value(v):
                guards.add(f"closure variable {name!r}", f"{guards.bind(c, 'c')}.cell_contents", v)
        glb = getattr(fn, "__globals__", {})
        gname = guards.bind(glb, "G")
        for name in sorted(_code_names(code)):
            if name in glb and is_plain_value(glb[name]):
                guards.add(f"global {name!r}", f"{gname}[{name!r}]", glb[name])
    owner = getattr(fn, "__self__", None)
    if owner is not None and not isinstance(owner, _module_cls()) and hasattr(owner, "__dict__"):
        o = guards.bind(owner)
        for k, v in vars(owner).items():
            if is_plain_value(v):
                guards.add(f"attribute {k!r} of self", f"{o}.__dict__[{k!r}]", v)
    for mod, mname in modules:
        for sub_name, m in mod.named_modules():
            where = f"{mname}.{sub_name}" if sub_name else mname
            b = guards.bind(m, "m")
            for k, v in vars(m).items():
                if not k.startswith("_") and is_plain_value(v):
                    guards.add(f"attribute {k!r} of {where} ({type(m).__name__})", f"{b}.__dict__[{k!r}]", v)
            for kind in ("_parameters", "_buffers", "_modules"):
                for k, v in getattr(m, kind).items():
                    guards.add(f"whether {where}.{k} is the {'module' if kind == '_modules' else 'tensor'} traced",
                               f"{b}.{kind}.get({k!r}) is {guards.bind(v, 'x')}", True)
    for opt, oname in optimizers:
        if id(opt) not in guards.used_optimizers:
            continue  # not stepped (nor read) in this trace: its state does not matter to the plan
        o = guards.bind(opt)
        for gi, group in enumerate(opt.param_groups):
            guards.add(f"{oname}.param_groups[{gi}]['params']", f"len({o}.param_groups[{gi}]['params'])", len(group["params"]))
            for pi, p in enumerate(group["params"]):
                guards.add(f"whether {oname}.param_groups[{gi}]['params'][{pi}] is the tensor traced",
                           f"{o}.param_groups[{gi}]['params'][{pi}] is {guards.bind(p, 'x')}", True)
                st = opt.state.get(p) if hasattr(opt.state, "get") else None
                pn = guards.bind(p, "x")
                keys = tuple(sorted(st)) if st else ()
                guards.add(f"the keys of {oname}.state[{names.get(id(p), pn)}]",
                           f"tuple(sorted({o}.state.get({pn}, ())))", keys)
                for key in keys:
                    v = st[key]
                    if isinstance(v, Tensor):
                        guards.add(f"whether {oname}.state[{names.get(id(p), pn)}][{key!r}] is the tensor traced",
                                   f"{o}.state[{pn}][{key!r}] is {guards.bind(v, 'x')}", True)


def _finish_grads(g, guards, names):
    """After the user's code: each .grad the trace set is written into a gradient store, and
    a post-call action makes the eager .grad what the eager code would have left."""
    post = []
    read = {id(t): eg for t, eg in g.grad_reads}
    for t, eg in g.grad_reads:  # the trace depended on whether (and which) .grad existed
        tn = guards.bind(t, "t")
        nm = names.get(id(t), "a captured tensor")
        if eg is None:
            guards.add(f"whether {nm}.grad is None", f"{tn}._grad is None", True)
        else:
            guards.add(f"whether {nm}.grad is the tensor traced", f"{tn}._grad is {guards.bind(eg, 'x')}", True)
    for key, (t, final) in list(g.grads.items()):
        if final is None:
            post.append(functools.partial(setattr, t, "_grad", None))
            continue
        eg = t._grad
        if eg is not None and id(t) in read:
            st = g.state_of(final) if isinstance(final, SymbolicTensor) else None
            if st is None or st.ref is not eg:
                g.assign(eg, final)   # accumulate into the existing .grad, in place
            post.append(functools.partial(setattr, t, "_grad", eg))
            continue
        store = _wrap(np.zeros(t._data.shape, t._data.dtype))
        names[id(store)] = names.get(id(t), "a captured tensor") + ".grad"
        g.assign(store, final)
        post.append(functools.partial(setattr, t, "_grad", store))
    return post


def _arr(t):
    return t._data if isinstance(t, Tensor) else np.asarray(t)


def _out_structure(obj, flat, g):
    if isinstance(obj, Tensor):
        obj = g.capture(obj)
    if isinstance(obj, SymbolicTensor):
        if obj.node.op.name == "variable":
            obj = g.state_of(obj).cur
        flat.append(obj)
        # a lifted Python number (or arithmetic on such) comes back as a Python number, as eagerly
        return ("S" if obj._weak else "T", len(flat) - 1)
    if isinstance(obj, (list, tuple)):
        return (type(obj),) + tuple(_out_structure(x, flat, g) for x in obj)
    if isinstance(obj, dict):
        return (dict,) + tuple((k, _out_structure(v, flat, g)) for k, v in obj.items())
    return ("V", obj)


def _wrap_out(st, vals):
    tag = st[0]
    if tag == "T":
        v = vals[st[1]]
        return _wrap(v if type(v) is np.ndarray else np.asarray(v))
    if tag == "V":
        return st[1]
    if tag == "S":
        return np.asarray(vals[st[1]]).item()
    if tag is dict:
        return {k: _wrap_out(v, vals) for k, v in st[1:]}
    items = [_wrap_out(x, vals) for x in st[1:]]
    return tag(items) if tag in (list, tuple) else tag(*items)


def _diff(old, new, names):
    """Say which argument changed between two signatures, and how."""
    oargs, okw = old[1], old[2]
    nargs, nkw = new[1], new[2]
    for i, (a, b) in enumerate(zip(oargs[1:], nargs[1:])):
        if a != b:
            name = names[i] if i < len(names) else f"#{i}"
            return f"argument {i} ({name!r}) changed: {_show(a)} -> {_show(b)}"
    if okw != nkw:
        return f"keyword arguments changed: {okw[1:]} -> {nkw[1:]}"
    return "the number of arguments changed"


def _show(s):
    if isinstance(s, tuple) and s and s[0] == "T":
        extra = "" if len(s) == 3 else f", requires_grad{', .grad None' if s[4] else ', with a .grad'}"
        return f"tensor of shape {tuple(s[1])} and dtype {np.dtype(s[2])}{extra}"
    if isinstance(s, tuple) and s and s[0] == "f":
        return f"float {s[1]!r}"
    if isinstance(s, tuple) and s and s[0] in ("V", "id"):
        kind = getattr(s[1], "__name__", s[1])
        return f"{kind} {s[2]!r}" if s[0] == "V" else f"a different {kind} object"
    return repr(s)


def function(fn=None, *, optimize=True):
    """Decorator: `@dg.function` or `@dg.function(optimize=False)`."""
    if fn is None:
        return lambda f: Function(f, optimize=optimize)
    if isinstance(fn, Function):
        return fn
    if not callable(fn):
        raise DGTypeError("dg.function expects a callable")
    return Function(fn, optimize=optimize)


jit = function
