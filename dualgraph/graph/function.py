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
import sys
import time
import types
import warnings
import weakref

import numpy as np

from ..errors import DualGraphError, DGRuntimeError, DGTypeError
from ..ops.common import fmt_shape
from ..mode import executing_eagerly
from ..state import _state
from ..tensor import Tensor, _wrap
from ..utils.tree import NODE_TYPES, flatten, unflatten
from .core import Graph, SymbolicTensor, fresh, rebind_stand_in, release_stand_in, state_key
from .builder import graph_mode, placeholder
from .compiler import compile_graph
from . import function_backward
from .guards import Guards, lifting, is_plain_value

RETRACE_WARN_AFTER = 5
MAX_TRACES_PER_SIGNATURE = 8   # traces kept per signature (the oldest go first)
MAX_TRACES_KEPT = 32           # traces explain() and graph_for() can show

_SCALARS = (int, float, bool, str)
_NO_KWARGS = {}
_NO_GRAD = "no_grad"  # the mark of a signature taken under dg.no_grad()
_FLAT_ARGS = {}  # n -> the treedef of n positional arguments, none a container, and no keywords


def _arguments(args, kwargs):
    """The one structure the trace key, the placeholders and the traced call are made from:
    (args, kwargs with their names sorted), so the order keywords are passed in does not matter."""
    return (tuple(args), dict(sorted(kwargs.items())) if kwargs else _NO_KWARGS)


def _leaf_specs(leaves):
    """The hashable spec of each leaf of the arguments, and the tensors (and numpy arrays) among
    them. A tensor by shape, dtype and (if it requires grad) whether it has a .grad; a number or
    string by value (1 and 1.0 trace differently); anything else by value if hashable, else by
    identity. One loop, no call per leaf: it runs at every call of a compiled function."""
    specs, tensors = [], []
    for obj in leaves:
        t = type(obj)
        if t in _SCALARS:
            specs.append(obj if t is not float else ("f", obj))
        elif isinstance(obj, Tensor):
            a = obj._data
            tensors.append(obj)
            specs.append(("T", a.shape, a.dtype, True, obj._grad is None, tuple(obj._hooks.values()) if obj._hooks else None)
                         if obj._rg else ("T", a.shape, a.dtype))  # (its register_hook hooks are traced)
        elif t is np.ndarray:
            tensors.append(obj)
            specs.append(("T", obj.shape, obj.dtype))
        else:
            try:
                hash(obj)
                specs.append(("V", t, obj))
            except TypeError:
                specs.append(("id", t, id(obj)))
    return tuple(specs), tensors


def _is_module(obj):
    """A dg.nn.Module, known by the method it describes its traced state with
    (`Module._trace_key`), so graph/ need not import nn."""
    return getattr(type(obj), "_trace_key", None) is not None


def _is_optimizer(obj):
    """A dg.optim.Optimizer, known by its class flag (`Optimizer._stepped_by_dg_function`), so
    graph/ need not import optim (whose eager steps use dg.function: optim/optimizer.py)."""
    return getattr(type(obj), "_stepped_by_dg_function", False) is True


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
    elif code is None and not isinstance(fn, (types.BuiltinFunctionType, functools.partial)):
        # dg.function(model): the module itself (its training flag, its hooks, ...)
        out.append((type(fn).__name__.lower() if _is_module(fn) else "fn", fn))
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
    __slots__ = ("graph", "plan", "out_def", "out_leaves", "post", "arg_grads", "arg_fetch", "lifted", "guards",
                 "reason", "names", "check", "trace_ms", "rebind", "written", "backward", "layouts")


def _same_layouts(layouts, tensors):
    """Whether the arguments whose memory layout the trace read (is_contiguous(), stride())
    have the strides they had then."""
    for i, strides in layouts:
        t = tensors[i]
        if (t._data if isinstance(t, Tensor) else t).strides != strides:
            return False
    return True


class TracedFunction:
    def __init__(self, fn, optimize=True, autograph=True):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.optimize = optimize
        self.autograph = autograph  # Python control flow on tensors made dg.cond / dg.while_loop
        self._cache = {}          # signature -> [traces], each valid while its guards hold
        self._last_sig = None
        self._traces = []
        self._bound = {}          # id(instance) -> (a weak reference to it, its _Method)
        self.trace_count = 0
        self.quiet = False        # True: retrace without a warning (an optimizer's own compiled step)
        try:
            self._argnames = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            self._argnames = []

    def __get__(self, obj, objtype=None):
        """Decorating a method: one TracedFunction per instance (its own traces), cached here by the
        instance's id and held weakly both ways (the entry goes when the instance is collected,
        and the _Method and its traces hold the instance weakly), so an instance whose compiled
        method was called is not kept alive by it."""
        if obj is None:
            return self
        entry = self._bound.get(id(obj))
        if entry is not None and entry[0]() is obj:
            return entry[1]
        if not isinstance(self.fn, types.FunctionType):  # another descriptor: bound as it binds
            f = TracedFunction(self.fn.__get__(obj, objtype), self.optimize, self.autograph)
            self._bound[id(obj)] = ((lambda: obj), f)   # holds the instance, as f does
            return f
        key, bound = id(obj), self._bound
        try:
            ref = weakref.ref(obj, lambda r: bound.pop(key) if bound.get(key, (None,))[0] is r else None)
        except TypeError:  # no weak references to it (__slots__ without __weakref__): held
            ref = lambda: obj  # noqa: E731
        f = _Method(self.fn, ref, self.optimize, self.autograph)
        bound[key] = (ref, f)
        return f

    def _signature(self, args, kwargs):
        """The trace key, (treedef of the arguments, the spec of each leaf), and the tensors.

        Fast path, the same key as the walk: positional arguments only and none a container
        (tensors, modules, numbers: the usual call), whose treedef depends only on how many
        they are, so it is looked up instead of walked. Timed alone the walk costs ~0.35 us
        more; inside a compiled call (the SGD step of benchmarks/function_overhead.py) skipping
        it saves ~1.5 us, so it is kept."""
        if not kwargs:
            for a in args:
                if type(a) in NODE_TYPES or isinstance(a, tuple):
                    break
            else:
                treedef = _FLAT_ARGS.get(len(args))
                if treedef is None:
                    treedef = _FLAT_ARGS[len(args)] = flatten(_arguments(args, kwargs))[1]
                specs, tensors = _leaf_specs(args)
                return ((treedef, specs) if _state.grad_enabled else (treedef, specs, _NO_GRAD)), tensors
        leaves, treedef = flatten(_arguments(args, kwargs))
        specs, tensors = _leaf_specs(leaves)
        # (with gradients off the outputs carry no history: a trace of its own, see function_backward.py)
        return ((treedef, specs) if _state.grad_enabled else (treedef, specs, _NO_GRAD)), tensors

    def _lookup(self, sig, tensors):
        for tr in self._cache.get(sig, ()):
            if tr.check() and (tr.layouts is None or _same_layouts(tr.layouts, tensors)):
                return tr
        return None

    def __call__(self, *args, **kwargs):
        if not executing_eagerly():
            return self._traced(self.fn)(*args, **kwargs)  # called while another graph is built: inline it
        sig, tensors = self._signature(args, kwargs)
        tr = self._lookup(sig, tensors)
        if tr is None:
            tr = self._trace(args, kwargs, sig)
        feeds = [t._data if isinstance(t, Tensor) else t for t in tensors]
        for t, stand in tr.rebind:   # .grad read through a stand-in: the .grad of this call
            rebind_stand_in(stand, t._grad)
        if tr.arg_grads:
            feeds += [tensors[i]._grad._data for i, has_old in tr.arg_grads.items() if has_old]
        for _, read, _ in tr.lifted:
            feeds.append(read())
        if tr.rebind:
            try:
                out = tr.plan.run_unchecked(feeds)
                for t in tr.written:
                    t._bump()
            finally:
                for _, stand in tr.rebind:
                    release_stand_in(stand)
        else:
            out = tr.plan.run_unchecked(feeds)
            for t in tr.written:  # as an eager in-place write: a saved tensor's backward sees it
                t._bump()
        for apply_post in tr.post:  # .grad as after the eager code: set, replaced or None
            apply_post()
        if tr.backward is not None:  # the outputs get a compiled backward (grad mode is in sig)
            out = list(out)
            tr.backward.attach(out, tensors)
        if tr.arg_fetch:  # arguments that require grad: their .grad accumulates, as eagerly
            n = len(out) - len(tr.arg_fetch)
            for i, v in zip(tr.arg_fetch, out[n:]):
                t = tensors[i]
                if t._grad is None:
                    t._grad = _wrap(np.array(v))
                else:
                    np.copyto(t._grad._data, v)
                    t._grad._bump()
        if not tr.out_def:  # a single leaf (the usual case: one tensor)
            return _out_leaf(tr.out_leaves[0], out, tensors)
        return _wrap_out(tr.out_def, tr.out_leaves, out, tensors)

    def feeds_for(self, *args, **kwargs):
        """The arrays the plan is called with for these arguments: the tensors, their old
        .grad where it accumulates, then the lifted Python numbers (read now)."""
        sig, tensors = self._signature(args, kwargs)
        tr = self._lookup(sig, tensors) or self._trace(args, kwargs, sig)
        feeds = [t._data if isinstance(t, Tensor) else t for t in tensors]
        feeds += [tensors[i]._grad._data for i, has_old in tr.arg_grads.items() if has_old]
        return feeds + [read() for _, read, _ in tr.lifted]

    def graph_for(self, *args, **kwargs):
        sig, tensors = self._signature(args, kwargs)
        tr = self._lookup(sig, tensors) or self._trace(args, kwargs, sig)
        return tr.graph

    def plan_for(self, *args, **kwargs):
        sig, tensors = self._signature(args, kwargs)
        tr = self._lookup(sig, tensors) or self._trace(args, kwargs, sig)
        return tr.plan

    # ---- tracing
    def _traced(self, fn):
        """What a trace calls: fn rewritten by AutoGraph (converted at the first trace, then
        cached; fn itself where its source cannot be read), or fn when autograph=False."""
        if not self.autograph:
            return fn
        from ..autograph import converted_or_original
        return converted_or_original(fn)

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
            if any(tr.layouts for tr in old):
                return "the memory layout of an argument changed (is_contiguous() or stride() was read)", True
            return "guards no longer hold", True
        return _diff(self._last_sig, sig, self._argnames), False

    def _trace(self, args, kwargs, sig):
        reason, guard_failed = self._why(sig)
        fn = self.fn
        name = getattr(fn, "__name__", "function")
        if not self.quiet and (guard_failed or (self._last_sig is not None
                                                and self.trace_count >= RETRACE_WARN_AFTER)):
            hint = ("" if guard_failed else " Pass tensors (not Python numbers) for values that "
                    "change, and keep shapes fixed.")
            warnings.warn(f"dg.function retraces {name} (trace {self.trace_count + 1}): {reason}.{hint}",
                          UserWarning, stacklevel=3)
        t0 = time.perf_counter()
        g = Graph(name)
        guards = Guards()
        roots = _roots(fn, args, kwargs, self._argnames)
        modules, optimizers, names = _reachable(roots)
        # the guarded Python values before the user's code runs: one it changes (a counter,
        # self.calls += 1) is guarded on its value before, so the next call, which would
        # change it again eagerly, retraces and runs the Python again (a lazy setting made once
        # retraces once)
        before_python = Guards()
        _guard_python_state(fn, roots, modules, optimizers, names, before_python)
        # (the count of module hook changes before the user's code: a hook that removes itself
        # while traced retraces the next call, which then runs without it, as eagerly)
        hooks_changed = next((type(m)._hooks_changed for m, _ in modules
                              if hasattr(type(m), "_hooks_changed")), None)
        hooks_then = hooks_changed[0] if hooks_changed is not None else None
        leaves, treedef = flatten(_arguments(args, kwargs))  # as _signature: the same order
        _, tensors = _leaf_specs(leaves)
        where = [i for i, x in enumerate(leaves) if isinstance(x, (Tensor, np.ndarray))]
        owners = _argument_of_leaves(args, kwargs, self._argnames)
        with graph_mode(g):
            feeds = [placeholder(_arr(t).shape, _arr(t).dtype, name=f"arg{i}") for i, t in enumerate(tensors)]
            for f, i in zip(feeds, where):  # refused targets of writes (builder.py says why)
                f.node.attrs["argument"] = owners[i]
            arg_grads = {}
            for i, (f, t) in enumerate(zip(feeds, tensors)):
                if isinstance(t, Tensor) and t.requires_grad:
                    f.requires_grad_(True)
                    if t._hooks:  # its gradient hooks run on its gradient in the plan, as eagerly
                        f.node.hooks = type(t._hooks)(t._hooks)
                    if t._grad is not None:  # accumulates into it, as eagerly
                        f._grad = placeholder(t._grad._data.shape, t._grad._data.dtype, name=f"arg{i}_grad")
                    arg_grads[i] = t._grad is not None
            grad_feeds = [feeds[i]._grad for i, has in arg_grads.items() if has]
            for f, i in zip(feeds, where):
                leaves[i] = f
            a, k = unflatten(treedef, leaves)
            k = {key: k[key] for key in kwargs}  # in the order they were passed
            before = _module_tensors(modules)
            # (arguments: each placeholder's real array, for layouts asked while tracing; the
            # strides read are checked at each call, _lookup)
            g.trace = types.SimpleNamespace(guards=guards, optimizers=optimizers, names=names,
                                            arguments={f.node: (i, _arr(t)) for i, (f, t)
                                                       in enumerate(zip(feeds, tensors))},
                                            layouts={})
            with lifting(g, guards, list(optimizers)):
                result = self._traced(fn)(*a, **k)
            _refuse_symbolic_attributes(modules, before)
            _refuse_arguments_held_as_state(g, tensors, [owners[i] for i in where])
            flat = []
            ident = set()   # fetches of outputs returned as themselves (kept for exporters)
            out_leaves, out_def = _out_structure(result, flat, g, feeds, ident)
            post = _finish_grads(g, guards, names)
            arg_fetch = [i for i in arg_grads if feeds[i]._grad is not None]
            arg_outs = [feeds[i]._grad for i in arg_fetch]
            backward, extra = None, []
            if not g.freed_by_backward and all(v is None for _, v in g.grads.values()):
                # no backward of its own (at most .grad set to None: zero_grad): outputs that
                # require grad get a compiled one, as eagerly they keep their history
                built = function_backward.build(g, flat, feeds, arg_grads, self.optimize, skip=ident)
                if built is not None:
                    backward, extra = built
                    backward.base = len(flat)
        _, _, after = _reachable(roots)  # names for the state the trace created (optimizer slots)
        for k, v in after.items():
            names.setdefault(k, v)
        _guard_python_state(fn, roots, modules, optimizers, names, guards)
        _expect_values_before(guards, before_python)
        _guard_captured_tensors(g, guards, names)
        if hooks_changed is not None:
            guards.add("whether any module's hooks were registered or removed since the trace",
                       f"{guards.bind(hooks_changed, 'h')}[0]", hooks_then)
        tr = _Trace()
        tr.trace_ms = (time.perf_counter() - t0) * 1e3  # running the Python and building the graph
        tr.graph = g
        tr.guards = guards
        tr.check = guards.compile()
        tr.lifted = list(g.lifted)
        tr.arg_grads = arg_grads
        tr.arg_fetch = arg_fetch
        tr.post = post
        tr.backward = backward
        tr.rebind = [(t, stand) for t, eg, stand in g.grad_reads if stand is not None]
        tr.written = list({id(u.attrs["ref"]): u.attrs["ref"] for u in g.updates}.values())
        # (the graph kept for graph_for keeps no .grad the stand-ins stood for at the trace:
        # that .grad would stay alive, an extra set of gradients, after the caller's zero_grad)
        g.grad_reads = [(t, None if stand is not None else eg, stand) for t, eg, stand in g.grad_reads]
        tr.names = names
        tr.reason = reason
        tr.layouts = tuple(g.trace.layouts.items()) or None
        fetch = flat + extra + arg_outs
        plan_feeds = feeds + grad_feeds + [s for s, _, _ in g.lifted]
        tr.plan = compile_graph(g, fetch, feeds=plan_feeds, optimize=self.optimize, updates=g.updates + g.checks)
        tr.plan.hidden = range(len(flat), len(flat) + len(extra))  # (exporters show the results)
        used = {st.name for st in tr.plan.steps}
        # read only what the plan uses (a number that decided only a Python branch is guarded)
        tr.lifted = [x if x[0].name in used else (x[0], _unused(x[0]), None) for x in g.lifted]
        tr.out_def, tr.out_leaves = out_def, out_leaves
        kept = self._cache.setdefault(sig, [])
        kept.append(tr)
        # (bounded: a value that changes at every call, a counter, would keep every trace)
        del kept[:-MAX_TRACES_PER_SIGNATURE]
        self._traces.append(tr)
        del self._traces[:-MAX_TRACES_KEPT]
        self._last_sig = sig
        self.trace_count += 1
        return tr

    def explain(self, print_it=True, verbose=False):
        """Each trace: why it happened, its inputs, what was lifted (read at every call), what
        is guarded (a change retraces) and which state the plan reads and writes. The guards
        that the held tensors and modules are still the traced ones are counted, not listed,
        unless verbose."""
        lines = [f"dg.function {getattr(self.fn, '__name__', 'function')}: {self.trace_count} trace(s)"]
        for n, tr in enumerate(self._traces, self.trace_count - len(self._traces) + 1):  # (the last kept)
            g = tr.graph
            lines.append(f"trace {n}: {tr.reason}")
            phs = [x for x in tr.plan.feeds if "lifted" not in x.attrs]
            lines.append("  inputs:   " + (", ".join(f"{x.name} {_fmt(x.attrs['shape'])} {x.attrs['dtype']}" for x in phs) or "none"))
            lifted = [f"{w} (now {_short(read().item())})" for _, read, w in tr.lifted if w is not None]
            lines.append("  lifted (read at every call, no retrace): " + (", ".join(lifted) or "none"))
            lines.append(f"  guarded (a change retraces): {len(tr.guards.items)}")
            hidden = 0
            for desc, _, val in tr.guards.items:
                if not verbose and (desc.endswith(" traced") or desc.startswith(
                        ("the keys of", "len(", "the shape, dtype and requires_grad of",
                         "whether any module's hooks"))
                        or "(lifted)" in desc or "['params']" in desc):
                    hidden += 1
                    continue
                lines.append(f"    {desc}: {_short(val)}")
            if hidden:
                lines.append(f"    ... and {hidden} on identities (the tensors, modules and optimizer "
                             "state held are the ones traced), their shapes, dtypes and requires_grad, "
                             "hooks and lifted types: explain(verbose=True)")
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


def _unused(lifted):
    """The feed of a lifted number the plan pruned away: a 0 of its placeholder's dtype (a plan
    specialised again, after dg.set_fusion changed, checks its feeds)."""
    zero = np.zeros((), lifted._dtype)
    return lambda: zero


_fmt = fmt_shape


def _short(v):
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _reachable(roots):
    """Modules and optimizers reachable from the roots (two container levels deep), and a
    name for every tensor they hold (for guard messages and explain())."""
    modules, optimizers, names = [], [], {}
    seen = set()

    def visit(name, obj, depth=0):
        if id(obj) in seen:
            return
        if _is_module(obj):
            seen.add(id(obj))
            modules.append((obj, name))
            for mname, _, stores in obj._trace_key():
                pre = f"{name}.{mname}" if mname else name
                for _, store, kind in stores:
                    if kind == "tensor":
                        for pn, p in store.items():
                            if p is not None:
                                names.setdefault(id(p), f"{pre}.{pn}")
        elif _is_optimizer(obj):
            seen.add(id(obj))
            optimizers.append((obj, name))
        elif depth < 2 and isinstance(obj, (list, tuple)):
            for i, x in enumerate(obj):
                visit(f"{name}[{i}]", x, depth + 1)
        elif depth < 2 and isinstance(obj, dict):
            for key, x in obj.items():
                visit(f"{name}[{key!r}]", x, depth + 1)
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
        for _, _, stores in mod._trace_key():
            for _, store, kind in stores:
                if kind != "module":
                    out += [(store, k, v) for k, v in store.items() if isinstance(v, (Tensor, SymbolicTensor))]
    return out


def _refuse_arguments_held_as_state(g, tensors, owners):
    """A tensor argument is a placeholder: the plan reads the array passed at each call. If
    the trace also reached the same tensor as state (an optimizer or module holding it writes it
    in place, or reads its .grad), the two would part: eagerly they are one tensor."""
    for t, owner in zip(tensors, owners):
        if isinstance(t, Tensor) and (state_key(t) in g._states or id(t) in g.grads
                                      or any(x is t for x, _, _ in g.grad_reads)):
            raise DGRuntimeError(
                f"argument {owner!r} of a function traced by dg.function is a tensor that the "
                "function also reaches as state (an optimizer or module holding it updates it "
                "in place or reads its .grad): a compiled plan reads arguments as fresh inputs "
                "at each call, so those updates would not reach it. Do not pass it: keep it in "
                "the module or optimizer the function uses (or in a closure).")


def _refuse_symbolic_attributes(modules, before):
    """`self.h = h` inside a traced forward: a Python assignment the plan cannot replay."""
    for mod, mname in modules:
        for sub, _, stores in mod._trace_key():
            for _, store, kind in stores:
                for k, v in store.items() if kind != "module" else ():
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
    seen = set()
    _guard_globals_and_closure(fn, guards, "", seen)
    owner = getattr(fn, "__self__", None)
    # the methods of the user's classes the trace reached (a model's forward and what it calls,
    # a custom optimizer's step): the globals they read
    classes = {type(o) for o in [owner] + [m for mod, _ in modules for _, m, _ in mod._trace_key()]
               + [o for o, _ in optimizers] if o is not None}
    for cls in sorted(classes, key=lambda c: c.__qualname__):
        for klass in cls.__mro__:
            if not _is_user_function(klass):
                continue
            for attr, f in sorted(vars(klass).items()):
                f = getattr(f, "__func__", f)   # (a staticmethod, a classmethod)
                if isinstance(f, types.FunctionType):
                    _guard_globals_and_closure(f, guards, f"{klass.__qualname__}.{attr}", seen, 1)
    bind = _binder(guards, owner)
    if owner is not None and not _is_module(owner) and hasattr(owner, "__dict__"):
        o = bind(owner)
        for k, v in vars(owner).items():
            _guard_value(guards, f"attribute {k!r} of self", f"{o}.__dict__[{k!r}]", v, depth=1)
    for mod, mname in modules:
        for sub_name, m, stores in mod._trace_key():
            where = f"{mname}.{sub_name}" if sub_name else mname
            b = bind(m, "m")
            for attr, store, kind in stores:
                # an entry added since (Sequential.append, register_buffer of a new name, an
                # attribute a hasattr or getattr default read) retraces, as eager code sees it
                if kind == "value":
                    guards.add(f"the number of attributes of {where} ({type(m).__name__})",
                               f"len({b}.{attr})", len(store))
                    for k, v in store.items():
                        if k.startswith("_"):
                            continue
                        if isinstance(v, (types.FunctionType, types.BuiltinFunctionType)):
                            # a function chosen by config (self.act = F.relu): by identity
                            guards.add(f"whether attribute {k!r} of {where} is the function traced",
                                       f"{b}.{attr}.get({k!r}) is {guards.bind(v, 'x')}", True)
                        else:
                            _guard_value(guards, f"attribute {k!r} of {where} ({type(m).__name__})",
                                         f"{b}.{attr}[{k!r}]", v, depth=1)
                    continue
                # (a name removed or replaced fails the identity guards below; an added one, this)
                guards.add(f"the number of entries of {where}.{attr}", f"len({b}.{attr})", len(store))
                for k, v in store.items():
                    guards.add(f"whether {where}.{k} is the {kind} traced",
                               f"{b}.{attr}.get({k!r}) is {guards.bind(v, 'x')}", True)
    for opt, oname in optimizers:
        if id(opt) not in guards.used_optimizers:
            continue  # not stepped (nor read) in this trace: its state does not matter to the plan
        o = guards.bind(opt)
        for gi, group in enumerate(opt.param_groups):
            guards.add(f"{oname}.param_groups[{gi}]['params']", f"len({o}.param_groups[{gi}]['params'])", len(group["params"]))
            for key, v in group.items():   # (a tensor lr, say: read by reference, held by identity)
                if isinstance(v, Tensor):
                    guards.add(f"whether {oname}.param_groups[{gi}][{key!r}] is the tensor traced",
                               f"{o}.param_groups[{gi}][{key!r}] is {guards.bind(v, 'x')}", True)
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


_GUARDED_ITEMS = 16   # the longest list, tuple or dict whose items are guarded one by one
_HELPER_DEPTH = 3     # user functions called from the traced one whose globals are guarded too
_LIBRARIES = frozenset({"dualgraph", "numpy", "torch", "networkx", "scipy"}) | frozenset(
    getattr(sys, "stdlib_module_names", ()))


def _guard_globals_and_closure(fn, guards, owner, seen, depth=0):
    """The globals fn's code names and its closure variables, guarded (_guard_value); and, for
    each user function among them (a helper the traced code calls: `act(x) * SCALE` in a
    helper), its globals and closure too, a few calls deep: eagerly a helper reads them at
    every call, so rebinding one retraces. Library functions are guarded by identity only."""
    code = getattr(fn, "__code__", None)
    if code is None or id(code) in seen:
        return
    seen.add(id(code))
    of = f" of {owner}" if owner else ""
    helpers = []
    cells = getattr(fn, "__closure__", None) or ()
    for name, c in zip(code.co_freevars, cells):
        try:
            v = c.cell_contents
        except ValueError:
            continue
        _guard_value(guards, f"closure variable {name!r}{of}", f"{guards.bind(c, 'c')}.cell_contents", v)
        helpers.append(v)
    glb = getattr(fn, "__globals__", {})
    gname = guards.bind(glb, "G")
    for name in sorted(_code_names(code)):
        if name in glb:
            _guard_value(guards, f"global {name!r}{of}", f"{gname}[{name!r}]", glb[name])
            helpers.append(glb[name])
    if depth >= _HELPER_DEPTH:
        return
    for h in helpers:
        if isinstance(h, types.FunctionType) and _is_user_function(h):
            _guard_globals_and_closure(h, guards, f"function {h.__qualname__!r}", seen, depth + 1)


def _is_user_function(f):
    return (getattr(f, "__module__", None) or "").split(".")[0] not in _LIBRARIES


def _guard_value(guards, desc, expr, v, depth=0):
    """Guard what the trace may have read through the Python value v (at `expr`): a number or
    string (numpy's scalars too) by value; a tensor, module or optimizer by identity (the plan
    holds that one: a name rebound to a fresh model must retrace); a short list, tuple or dict
    item by item (a config dict, a list of weights; two levels deep); at the top, a plain
    object's (a SimpleNamespace of hyperparameters) public attributes by value. Anything else
    (functions, classes, big containers) is not guarded."""
    if is_plain_value(v) or isinstance(v, np.generic):
        guards.add(desc, expr, v)
    elif isinstance(v, Tensor) or _is_module(v) or _is_optimizer(v):
        guards.add(f"whether {desc} is the object traced", f"{expr} is {guards.bind(v, 'x')}", True)
    elif isinstance(v, (types.FunctionType, types.BuiltinFunctionType, functools.partial)):
        # (a function chosen by a name, `act = dg.relu`: the trace ran that one)
        guards.add(f"whether {desc} is the function traced", f"{expr} is {guards.bind(v, 'x')}", True)
    elif depth < 2 and type(v) in (list, tuple, dict) and len(v) <= _GUARDED_ITEMS:
        items = list(v.items()) if type(v) is dict else list(enumerate(v))
        if any(not is_plain_value(k) for k, _ in items):
            return
        guards.add(f"the length of {desc}", f"len({expr})", len(v))
        for k, x in items:
            _guard_value(guards, f"{desc}[{k!r}]", f"{expr}[{k!r}]", x, depth + 1)
    elif depth == 0 and not callable(v) and not isinstance(v, types.ModuleType) \
            and type(getattr(v, "__dict__", None)) is dict:
        for k, x in list(vars(v).items())[:_GUARDED_ITEMS * 4]:
            if not k.startswith("_") and (is_plain_value(x) or isinstance(x, np.generic)):
                guards.add(f"attribute {k!r} of {desc}", f"{expr}.__dict__[{k!r}]", x)


def _expect_values_before(guards, before):
    """Guards whose value the trace itself changed expect the value from before it."""
    was = {expr: val for _, expr, val in before.items}
    for k, (desc, expr, val) in enumerate(guards.items):
        if expr in was and not _same_value(was[expr], val):
            guards.items[k] = (desc + " (changed by the traced function)", expr, was[expr])


def _same_value(a, b):
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # noqa: BLE001 - a value without a plain ==
        return a is b


def _guard_captured_tensors(g, guards, names):
    """The plan reads each captured tensor's memory at every call, as it was traced for: its
    shape, its dtype and whether it requires grad (what the backward computes for it and which
    .grad it leaves; the trainable alias of a state too). A change (`p.requires_grad_(False)`
    to freeze a layer, `buf.data = ...` of another shape or dtype) retraces, as eager code sees
    it at once. The .grad stand-ins, rebound at each call, are guarded by _finish_grads."""
    stand_ins = {id(s) for s in g.grad_stand_ins.values()}
    for st in g._states.values():
        node = st.handle.node
        shape, dtype = tuple(st.handle.shape), st.handle._dtype
        for t in (st.ref,) if st.trained is None or st.trained is st.ref else (st.ref, st.trained):
            if id(t) in stand_ins:
                continue
            tn = guards.bind(t, "t")
            nm = names.get(id(t), "a captured tensor")
            if t is not st.ref:
                rg = True   # the trainable alias
            else:           # (a detached alias read first: its own flag, False)
                rg = bool(node.attrs.get("trainable")) if st.trained is None or st.trained is st.ref else False
            guards.add(f"the shape, dtype and requires_grad of {nm}",
                       f"({tn}._data.shape, {tn}._data.dtype, {tn}._rg)", (shape, dtype, rg))
            if not rg:    # (no hooks on it: register_hook refuses, and rg is guarded above)
                continue
            if t._hooks:  # traced into its backward: these hooks, in this order
                guards.add(f"the gradient hooks of {nm} (register_hook)",
                           f"tuple({tn}._hooks.values()) if {tn}._hooks else ()", tuple(t._hooks.values()))
            else:         # (the common case, one cheap test)
                guards.add(f"whether {nm} has no gradient hooks (register_hook)", f"not {tn}._hooks", True)


def _binder(guards, owner):
    """guards.bind, except that the instance of a compiled method is bound through a weak proxy:
    its traces must not keep it alive (TracedFunction.__get__). A dead proxy fails its guard."""
    try:
        proxy = weakref.proxy(owner) if owner is not None else None
    except TypeError:  # no weak references to it: held, as its _Method holds it
        proxy = None
    if proxy is None:
        return guards.bind
    return lambda obj, prefix="o": guards.bind(proxy if obj is owner else obj, prefix)


def _finish_grads(g, guards, names):
    """After the user's code: each .grad the trace set is written into a gradient store, and
    a post-call action makes the eager .grad what the eager code would have left."""
    post = []
    read = {id(t): (eg, stand) for t, eg, stand in g.grad_reads}
    stood = {id(st): t for t, _, st in g.grad_reads if st is not None}   # stand-in -> its tensor
    if stood:
        fits = guards.bind(_GradFits([st.ref for st in g._states.values() if id(st.ref) not in stood]), "f")
    for t, eg, stand in g.grad_reads:  # the trace depended on whether (and which) .grad existed
        tn = guards.bind(t, "t")
        nm = names.get(id(t), "a captured tensor")
        if eg is None:
            guards.add(f"whether {nm}.grad is None", f"{tn}._grad is None", True)
        elif stand is None:
            guards.add(f"whether {nm}.grad is the tensor traced", f"{tn}._grad is {guards.bind(eg, 'x')}", True)
        else:   # read through a stand-in (rebound at each call): any .grad of the same kind
            a = eg._data
            guards.add(f"whether {nm}.grad is a tensor of the traced shape and dtype",
                       f"{fits}.kind({tn}._grad, {tuple(a.shape)!r}, {a.dtype.str!r})", True)
    if stood:   # (a .grad sharing memory with other state or another .grad: one state eagerly)
        grads = ", ".join(guards.bind(t, "t") + "._grad" for t in stood.values())
        guards.add("whether the .grad tensors read have memory of their own (no other captured "
                   "state's, not one another's)", f"{fits}.own_memory({grads})", True)
    for key, (t, final) in list(g.grads.items()):
        if final is None:
            post.append(functools.partial(setattr, t, "_grad", None))
            continue
        eg = t._grad
        if eg is not None and id(t) in read:
            stand = read[id(t)][1]
            ref = eg if stand is None else stand   # (the stand-in: the .grad of the call)
            st = g.state_of(final) if isinstance(final, SymbolicTensor) else None
            if st is None or st.ref is not ref:
                g.assign(ref, final)   # accumulate into the existing .grad, in place
            if stand is None:
                post.append(functools.partial(setattr, t, "_grad", eg))
            continue
        store = _wrap(np.zeros(t._data.shape, t._data.dtype))
        names[id(store)] = names.get(id(t), "a captured tensor") + ".grad"
        g.assign(store, final)
        post.append(functools.partial(setattr, t, "_grad", store))
    return post


class _GradFits:
    """The guards of .grad reads through stand-ins: each call's .grad has the traced shape and
    dtype, and their memory is their own: no two share it, and none shares the current memory
    of the other state the trace captured, so the plan's picture (distinct states) holds."""

    def __init__(self, others):
        self.others = others   # the captured tensors that are not stand-ins

    @staticmethod
    def kind(grad, shape, dtype):
        return grad is not None and grad._data.shape == shape and grad._data.dtype.str == dtype

    def own_memory(self, *grads):
        if any(g is None for g in grads):
            return False
        roots = {id(_root(g._data)) for g in grads}
        return len(roots) == len(grads) and not any(id(_root(t._data)) in roots for t in self.others)


def _root(a):
    return a if a.base is None else a.base


def _arr(t):
    return t._data if isinstance(t, Tensor) else np.asarray(t)


_T, _S, _V, _A, _W, _E = 0, 1, 2, 3, 4, 5  # how a call makes an output leaf: a tensor, a Python
#   number, a constant (a captured tensor itself), an argument itself, a view of either, and
#   one of those or a tensor by the run (a dg.cond result that eagerly is an argument at some)


def _view_of_input(obj, feeds, stand_ins):
    """(base, i or tensor, chain, grad mode) when graph tensor obj is a view of a tensor
    argument or of captured state made by view ops with no tensor operands (w.t(), x[:, :1],
    p.reshape(-1)): eagerly it is a view of that very tensor, sharing its memory (a later
    write shows in it) and its history, so the call makes it again on the eager tensor."""
    from .builder import _Memory
    from .core import _State
    a = _replayable_alias(obj)
    if a is None:
        return None
    mem = a[0]
    if isinstance(mem, _State):
        ref = _eager_alias(mem, obj._rg or not a[3])
        if id(ref) in stand_ins or not isinstance(ref, Tensor):
            return None
        return ("state", ref, a[1], a[3])
    if isinstance(mem, _Memory):
        root = getattr(mem.root, "node", None)
        for i, f in enumerate(feeds):
            if f.node is root:
                return ("arg", i, a[1], a[3])
    return None


def _eager_alias(st, with_grad):
    """The eager tensor a value of state st was read through: the alias requiring grad (p, read
    after a p.detach() was) where the value carries a gradient or was made under no_grad."""
    return st.trained if with_grad and st.trained is not None else st.ref


def _view_of_output(obj, seen):
    """("out", i, chain, grad mode) when obj is such a view of an output returned before it
    (`return h, h[0]`: eagerly h[0] is a view of h, a write to h shows in it)."""
    from .builder import _Memory
    a = _replayable_alias(obj)
    if a is None or not isinstance(a[0], _Memory):
        return None
    base = seen.get(id(a[0].root))
    if base is None or base[0] is not _T:
        return None
    return ("out", base[1], a[1], a[3])


def _replayable_alias(obj):
    """obj's view record (builder.py: memory, chain of view ops, ...) when eager code can make
    the chain again: ops that run eagerly, no tensor operands."""
    a = obj._alias
    if a is None or not a[1] or any(op.graph_only or any(isinstance(e, SymbolicTensor) for e in extra)
                                    for op, extra, _ in a[1]):
        return None
    return a


def _remake_view(spec, args, base_value=None):
    from ..autograd.grad_mode import set_grad_enabled
    from ..ops.dispatch import apply
    kind, base, chain, grad_mode = spec
    v = base if kind == "state" else base_value if kind in ("out", "leaf") else args[base]
    from ..ops.shape import contiguous_op
    with set_grad_enabled(grad_mode):
        for op, extra, attrs in chain:
            # (Tensor.contiguous: the tensor itself when it is, as eagerly)
            v = v.contiguous() if op is contiguous_op else apply(op, v, *extra, **attrs)
    return v


def _out_structure(result, flat, g, feeds, ident):
    """The result's leaves as (_T, i): a tensor from the plan's i-th fetch; (_S, i): a Python
    number from it (a lifted Python number, or arithmetic on such, comes back as a Python number,
    as eagerly); (_V, value): a constant, or a captured tensor itself (a parameter returned is
    the parameter, as eagerly); (_A, i): argument i itself. And the result's treedef. Appends the
    fetches to flat (those of outputs returned as themselves too, their indices in `ident`: an
    exporter shows every output)."""
    leaves, treedef = flatten(result)
    out = []
    stand_ins = {id(s) for s in g.grad_stand_ins.values()}
    seen = {}  # id(graph tensor) -> its leaf: one tensor returned twice is one tensor, as eagerly
    later = {id(x) for x in leaves}
    pending = []  # (leaf, id of its base, its own fetch): views of outputs returned after them
    others = []   # _E leaves whose alternatives may name another output: resolved at the end
    made = {}     # id(Either target) -> its leaf (two results eagerly one tensor: one leaf)
    made_from = []  # [graph tensor]: views made from another output, which gets its leaf below
    for obj in leaves:
        if id(obj) in seen:
            out.append(seen[id(obj)])
            continue
        first = obj
        if isinstance(obj, Tensor):
            if id(obj) not in stand_ins:  # (a .grad read: its value now, as before)
                out.append((_V, obj))
                seen[id(first)] = out[-1]
                _fetched_too(flat, ident, g.capture(obj), g)
                continue
            obj = g.capture(obj)
        if isinstance(obj, SymbolicTensor):
            i = next((i for i, f in enumerate(feeds) if f is obj), None)
            if i is not None:  # an argument returned as it came
                out.append((_A, i))
                seen[id(first)] = out[-1]
                _fetched_too(flat, ident, obj, g)
                continue
            view = (_view_of_returned(obj, later) or _view_of_input(obj, feeds, stand_ins)
                    or _view_of_output(obj, seen))
            if view is not None and view[0] == "leaf":
                view[1].append(len(flat))   # (its own fetch: the fallback)
                made_from.append(view[1])
            if view is None:
                a = _replayable_alias(obj)
                root = None if a is None else getattr(a[0], "root", None)
                if root is not None and id(root) in later and root is not obj:
                    # (`return h[0], h`: a view of an output returned after it; the base's
                    # fetch is known once it is reached, below)
                    view = ("out", None, a[1], a[3])
                    pending.append(((_W, view), id(root), len(flat)))
                    out.append(pending[-1][0])
                    seen[id(first)] = out[-1]
                    _fetched_too(flat, ident, obj, g)
                    continue
            if view is not None:  # a view of an argument, of state or of another output: made
                #                   again on it, a view of it
                out.append((_W, view))
                seen[id(first)] = out[-1]
                _fetched_too(flat, ident, obj, g)
                continue
            if obj.node.op.name == "variable":
                obj = g.state_of(obj).cur
            same = _always_another(obj, seen)
            if same is not None:   # (eagerly at every call the tensor returned before it)
                out.append(same)
                seen[id(first)] = same
                continue
            flat.append(fresh(obj))
            out.append((_S if obj._weak else _T, len(flat) - 1))
            n0 = len(flat)
            alts = _exact_alternatives(obj, feeds, g, stand_ins, flat, made)
            if alts and alts[0][0] is None and alts[0][1][0] != "out":
                out[-1] = alts[0][1]
            elif alts:   # (and how many fetches its alternatives took: exporters replay them)
                out[-1] = (_E, ([a for a in alts if a[0] is not None], out[-1], len(flat) - n0))
                others.append(out[-1])
            seen[id(first)] = out[-1]
            continue
        if isinstance(obj, (list, tuple, dict)) and any(
                isinstance(v, (Tensor, SymbolicTensor)) for v in (obj.values() if isinstance(obj, dict) else obj)):
            raise DGTypeError(
                f"dg.function: the traced function returned a {type(obj).__name__} holding tensors; "
                "results may nest tensors in tuples, lists, dicts, OrderedDicts and namedtuples only")
        out.append((_V, obj))
    for leaf, root, own in pending:
        base = seen.get(root)
        if base is not None and base[0] is _T:
            new = (_W, ("out", base[1]) + leaf[1][2:])
        else:  # (its base is no fetched tensor: the view comes back as a value of its own)
            new = (_T, own)
            ident.discard(own)
        out = [new if e is leaf else e for e in out]
    returned = {id(e) for e in out}
    for holder in made_from:
        holder[0] = seen.get(id(holder[0]))   # (None: not made of a leaf after all: its own value)
    for leaf in others:   # ("out", x): the very tensor returned for x; None (skipped) if x is not
        alts = leaf[1][0]
        for k, (fi, alt) in enumerate(alts):
            if alt[0] == "out":
                other = seen.get(id(alt[1]))
                alts[k] = (fi, other if other is not None and id(other) in returned else None)
    return out, treedef


def _always_another(obj, seen):
    """The leaf of an output returned before obj that eagerly obj is at every call (a loop that
    surely runs, returning one value as two results), or None."""
    from .memories import Either
    a = obj._alias
    if a is None or not isinstance(a[0], Either) or a[1]:
        return None
    for flag, x in a[0].exact:
        if flag is None and isinstance(x, SymbolicTensor) and id(x) in seen:
            return seen[id(x)]
    return None


def _view_of_returned(obj, returned):
    """("leaf", [that tensor], chain, grad mode) when obj was made by view ops (no tensor
    operands) from a tensor the function returns too (`y = x.contiguous(); return x, y`): made
    again on that very tensor, as eagerly (where eagerly the op returns its input itself, so
    does the call). `returned`: ids of the returned objects (the holder gets x's leaf later)."""
    from .builder import _ALIAS_OPS, _aliases
    x, steps = obj, []
    while True:
        n = x.node
        if not n.inputs or not (n.op.view and _aliases(n.op, n.attrs, n.inputs) or n.op in _ALIAS_OPS) \
                or n.op.graph_only or any(isinstance(e, SymbolicTensor) for e in n.inputs[1:]):
            return None
        steps.append((n.op, tuple(n.inputs[1:]), n.attrs))
        x = n.inputs[0]
        if id(x) in returned and not x._weak:
            a = obj._alias
            return ("leaf", [x], tuple(reversed(steps)), a[3] if a is not None else not obj.node.no_grad)


def _exact_alternatives(obj, feeds, g, stand_ins, flat, made):
    """[(fetch of the flag or None: every run, leaf)] of a control-flow result that eagerly IS an
    argument, captured state or another value at the runs where the flag holds (graph/memories.py
    Either.exact): the call returns that very tensor then, as eagerly (a later in-place write to
    it shows). A leaf ("out", x) names another value x: the tensor returned for it, if it is."""
    from .memories import Either
    out = []
    a = obj._alias
    either = None if a is None else a[0] if isinstance(a[0], Either) else getattr(a[0], "either", None)
    if either is not None and a[1]:
        # a view of such a result (`y = dg.cond(c, lambda: p, ...)[:]`): that view of what the
        # result is, made again on it (eagerly a view of p: an optimizer step shows in it)
        r = _replayable_alias(obj)
        if r is not None:
            base = []
            _alternatives(a[0].root, None, feeds, g, stand_ins, flat, base, made)   # (the result)
            out = [(fi, (_W, ("leaf", [leaf, None], r[1], r[3]))) for fi, leaf in base
                   if leaf[0] != "out"]
    else:
        _alternatives(obj, None, feeds, g, stand_ins, flat, out, made)
    always = [e for e in out if e[0] is None and e[1][0] != "out"]
    return always[:1] or out


def _alternatives(obj, outer, feeds, g, stand_ins, flat, out, made):
    """Appends obj's: (flag fetch, leaf), or (flag fetch, ("out", x)) where eagerly obj is
    another value x of the graph (an output, if returned) and then what x eagerly is (its flags
    and-ed with this one's)."""
    from .memories import Either, both
    a = obj._alias
    if a is None or not isinstance(a[0], Either) or a[1]:
        return
    for flag, x in a[0].exact:
        f = both(outer, flag)
        if isinstance(x, SymbolicTensor):   # (first: if x is returned too, that very tensor)
            out.append((None if f is None else _fetch(flat, f), ("out", x)))
        if id(x) not in made:
            made[id(x)] = _exact_leaf(x, feeds, g, stand_ins)
        leaf = made[id(x)]
        if leaf is not None:
            out.append((None if f is None else _fetch(flat, f), leaf))
        elif isinstance(x, SymbolicTensor) and not x._weak:
            _alternatives(x, f, feeds, g, stand_ins, flat, out, made)   # (what x is at some runs)
            # else x's own value, fetched once: two outputs that eagerly are x are one tensor
            key = ("value", id(x))
            if key not in made:
                try:
                    made[key] = (_T, _fetch(flat, fresh(x)))
                except DualGraphError:   # (x may not be read now: no such tensor)
                    made[key] = None
            if made[key] is not None:
                out.append((None if f is None else _fetch(flat, f), made[key]))


def _exact_leaf(x, feeds, g, stand_ins):
    """The output leaf making the tensor Either.exact names: an argument (_A), captured state
    (_V), or a view of either made again on it (_W); None if it is none of those."""
    chain, grad_mode = (), None
    if isinstance(x, tuple) and x[0] == "view":
        _, x, chain, grad_mode = x
    if isinstance(x, tuple):      # ("state", eager tensor): state a branch wrote
        base = ("state", x[1])
    else:
        i = next((i for i, f in enumerate(feeds) if f is x), None)
        st = g.state_of(x) if i is None and x.node.graph is g else None
        if i is not None:
            base = ("arg", i)
        elif st is not None:
            base = ("state", _eager_alias(st, x._rg))
        else:   # (a view of an argument or of state made outside: its chain first)
            v = _view_of_input(x, feeds, stand_ins)
            if v is None:
                return None
            base, chain, grad_mode = v[:2], v[2] + chain, v[3] if grad_mode is None else grad_mode
    if base[0] == "state" and (not isinstance(base[1], Tensor) or id(base[1]) in stand_ins):
        return None
    if not chain:
        return (_A, base[1]) if base[0] == "arg" else (_V, base[1])
    return (_W, base + (chain, grad_mode))


def _fetch(flat, x):
    flat.append(x)
    return len(flat) - 1


def _fetched_too(flat, ident, obj, g):
    if obj.node.op.name == "variable":
        obj = g.state_of(obj).cur
    flat.append(fresh(obj))
    ident.add(len(flat) - 1)


def _wrap_out(treedef, leaves, vals, args):
    # one tensor per fetch, view leaf and _E leaf (returned at two places, or eagerly another
    # output at this call: one tensor, as eagerly)
    memo, made = {}, {}
    out = []
    for x in leaves:
        kind = x[0]
        if kind is _T:
            v = memo.get(x[1])
            if v is None:
                v = memo[x[1]] = _out_leaf(x, vals, args)
        elif kind is _W or kind is _E:
            v = _made_leaf(x, vals, args, memo, made)
        else:
            v = _out_leaf(x, vals, args)
        out.append(v)
    return unflatten(treedef, out)


def _made_leaf(x, vals, args, memo, made):
    """A view or _E leaf's tensor at this call (made once per call: `made`, by leaf)."""
    v = made.get(id(x))
    if v is not None:
        return v
    kind, spec = x
    if kind is _W and spec[0] == "out":  # a view of another output: of that very tensor
        i = spec[1]
        if i not in memo:
            memo[i] = _out_leaf((_T, i), vals, args)
        v = _remake_view(spec, args, memo[i])
    elif kind is _W and spec[0] == "leaf":
        base, own = spec[1]
        v = (_out_leaf((_T, own), vals, args) if base is None
             else _remake_view(spec, args, _any_leaf(base, vals, args, memo, made)))
    elif kind is _W:
        v = _out_leaf(x, vals, args)
    else:
        v = _any_leaf(_picked(spec, vals), vals, args, memo, made)
    made[id(x)] = v
    return v


def _any_leaf(x, vals, args, memo, made):
    if x[0] is _T:
        if x[1] not in memo:
            memo[x[1]] = _out_leaf(x, vals, args)
        return memo[x[1]]
    if x[0] is _W or x[0] is _E:
        return _made_leaf(x, vals, args, memo, made)
    return _out_leaf(x, vals, args)


def _picked(spec, vals):
    """An _E leaf's leaf at this call: the first alternative whose flag holds, else its own."""
    alts, own = spec[:2]
    for fi, alt in alts:
        if alt is not None:
            v = vals[fi]
            if bool(np.asarray(v.numpy() if isinstance(v, Tensor) else v)):
                return alt
    return own


def _out_leaf(leaf, vals, args):
    kind, x = leaf
    if kind is _A:
        return args[x]
    if kind is _W:
        return _remake_view(x, args)
    if kind is _T:
        v = vals[x]
        if type(v) is np.ndarray:
            return _wrap(v)
        return v if isinstance(v, Tensor) else _wrap(np.asarray(v))  # (a Tensor: with its backward)
    if kind is _S:
        return np.asarray(vals[x]).item()
    if kind is _E:  # (the tensor eagerly it is at this call, if a flag says so)
        return _out_leaf(_picked(x, vals), vals, args)
    return x


def _argument_of_leaves(args, kwargs, argnames):
    """For each leaf of _arguments(args, kwargs): the name of the argument it is in."""
    out = []
    for i, a in enumerate(args):
        out += [argnames[i] if i < len(argnames) else f"#{i}"] * len(flatten(a)[0])
    for k, v in sorted(kwargs.items()):
        out += [k] * len(flatten(v)[0])
    return out


def _diff(old, new, names):
    """Say which argument changed between two signatures, and how."""
    if len(old) != len(new):
        return "gradients were enabled, now they are not" if len(new) > len(old) else \
            "gradients were disabled (dg.no_grad), now they are enabled"
    oargs, okw = unflatten(old[0], [_Shown(x) for x in old[1]])
    nargs, nkw = unflatten(new[0], [_Shown(x) for x in new[1]])
    for i, (a, b) in enumerate(zip(oargs, nargs)):
        if a != b:
            name = names[i] if i < len(names) else f"#{i}"
            return f"argument {i} ({name!r}) changed: {a!r} -> {b!r}"
    if len(oargs) != len(nargs):
        return f"the number of arguments changed: {len(oargs)} -> {len(nargs)}"
    for k in sorted(set(okw) | set(nkw)):
        if okw.get(k, _MISSING) != nkw.get(k, _MISSING):
            return f"keyword argument {k!r} changed: {okw.get(k, _MISSING)!r} -> {nkw.get(k, _MISSING)!r}"
    return "the arguments changed"


class _Shown:
    """A leaf spec of a signature, shown in words (for _diff)."""

    __slots__ = ("spec",)

    def __init__(self, spec):
        self.spec = spec

    def __eq__(self, other):
        return isinstance(other, _Shown) and self.spec == other.spec

    __hash__ = None

    def __repr__(self):
        return _show(self.spec)


class _Missing:
    def __repr__(self):
        return "not passed"


_MISSING = _Missing()


def _show(s):
    if isinstance(s, tuple) and s[0] == "T":
        extra = "" if len(s) == 3 else f", requires_grad{', .grad None' if s[4] else ', with a .grad'}"
        return f"tensor of shape {tuple(s[1])} and dtype {np.dtype(s[2])}{extra}"
    if isinstance(s, tuple) and s[0] == "f":
        return f"float {s[1]!r}"
    if isinstance(s, tuple):  # ("V", type, value) or ("id", type, id)
        kind = getattr(s[1], "__name__", s[1])
        return f"{kind} {s[2]!r}" if s[0] == "V" else f"a different {kind} object"
    return repr(s)


class _Method(TracedFunction):
    """The TracedFunction of one instance's compiled method (made by TracedFunction.__get__). It holds the
    instance weakly, so that the instance, and with it this TracedFunction and its traces, can be
    collected; `fn` is the method bound afresh."""

    def __init__(self, func, ref, optimize, autograph=True):
        self._ref = ref
        super().__init__(func, optimize, autograph)
        self._argnames = self._argnames[1:]  # without self

    @property
    def fn(self):
        obj = self._ref()
        if obj is None:
            raise DGRuntimeError(f"the instance of {self._func.__qualname__} was collected")
        return types.MethodType(self._func, obj)

    @fn.setter
    def fn(self, func):
        self._func = func


def function(fn=None, *, optimize=True, autograph=True):
    """Decorator: `@dg.function` or `@dg.function(optimize=False)`. With autograph (the
    default) Python `if`/`while`/`for` on tensors become dg.cond / dg.while_loop (dg.autograph)."""
    if fn is None:
        return lambda f: TracedFunction(f, optimize=optimize, autograph=autograph)
    if isinstance(fn, TracedFunction):
        return fn
    if not callable(fn):
        raise DGTypeError("dg.function expects a callable")
    return TracedFunction(fn, optimize=optimize, autograph=autograph)


jit = function


Function = TracedFunction  # the former name, kept for internal imports (dg.Function warns)
